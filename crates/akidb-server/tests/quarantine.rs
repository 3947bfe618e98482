//! A damaged collection is quarantined by the real server: it starts and is ready, the other
//! collections serve, the damaged one answers 503 `collection_damaged` (gRPC UNAVAILABLE) with
//! the reason, is listed with `"status":"damaged"` and counted by `akidb_collections_damaged`,
//! can be deleted, and `POST …/restore` from S3 (SeaweedFS) repairs it. Needs
//! `AKIDB_TEST_WEED` (provisioned by `cargo xtask test`).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use akidb_core::{CollectionConfig, CollectionStatus, Metric, Payload, Point, PointId};
use akidb_proto::v1 as pb;
use common::{s3_env, start_weed, Server};
use serde_json::{json, Value};

fn point(i: u64) -> Point {
    let v: Vec<f32> = (0..8)
        .map(|d| ((i * 31 + d * 7) % 17) as f32 + 0.5)
        .collect();
    let mut p = Payload::new();
    p.insert("i".into(), json!(i));
    Point::new(i, v, p)
}

fn wal_file(data: &Path, name: &str) -> PathBuf {
    let dir = data.join("collections").join(name).join("wal");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 1, "{files:?}");
    files.remove(0)
}

fn damaged_gauge(metrics: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("akidb_collections_damaged "))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_collection_is_quarantined_and_restored_from_s3() {
    let weed = start_weed().await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let env = s3_env(&weed.endpoint(), &weed, Duration::from_secs(3));
    let mut server = Server::spawn(&data, env.clone());
    server.wait_ready().await;
    let client = server.client();
    for name in ["good", "bad", "gone"] {
        client
            .create_collection(&CollectionConfig::new(name, 8, Metric::L2))
            .await
            .unwrap();
        let points: Vec<Point> = (0..50).map(point).collect();
        client.upsert(name, &points).await.unwrap();
    }
    let snap = client.snapshot("bad").await.unwrap();
    assert!(snap.remote, "with S3 the snapshot is uploaded: {snap:?}");
    // Acknowledged after the snapshot: only in the WAL, which is about to be damaged.
    for i in 50..60 {
        client.upsert("bad", &[point(i)]).await.unwrap();
    }
    assert_eq!(damaged_gauge(&client.metrics().await.unwrap()), Some(0.0));

    server.kill9();
    let wal = wal_file(&data, "bad");
    let mut bytes = std::fs::read(&wal).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&wal, bytes).unwrap();
    std::fs::write(data.join("collections/gone/config.json"), b"{\"name\":").unwrap();

    let mut server = Server::spawn(&data, env.clone());
    server.wait_ready().await;
    let client = server.client();
    assert!(client.ready().await.unwrap());

    // The healthy collection serves.
    assert_eq!(
        client.get("good", &PointId::Num(7)).await.unwrap().payload,
        point(7).payload
    );
    // The damaged one answers 503 collection_damaged naming the reason.
    let wal_name = wal.file_name().unwrap().to_string_lossy().to_string();
    let err = client.get("bad", &PointId::Num(1)).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    assert_eq!(err.code(), Some("collection_damaged"), "{err}");
    assert!(err.to_string().contains(&wal_name), "{err}");
    let err = client
        .search("bad", &akidb_core::SearchRequest::new(point(1).vector, 3))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("collection_damaged"), "{err}");

    // Listed with its status (exact JSON) and reason.
    let http = reqwest::Client::new();
    let listed: Value = http
        .get(format!("{}/api/v1/collections", server.rest))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status_of = |name: &str| {
        listed["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {listed}"))
            .clone()
    };
    assert_eq!(status_of("good")["status"], "green", "{listed}");
    assert_eq!(status_of("bad")["status"], "damaged", "{listed}");
    assert!(
        status_of("bad")["reason"]
            .as_str()
            .unwrap()
            .contains(&wal_name),
        "{listed}"
    );
    assert_eq!(status_of("gone")["status"], "damaged", "{listed}");
    assert_eq!(damaged_gauge(&client.metrics().await.unwrap()), Some(2.0));

    // gRPC maps it to UNAVAILABLE with the code in the metadata.
    let channel = tonic::transport::Endpoint::from_shared(server.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    // Listed over gRPC with the same status and reason.
    let got = pb::collections_client::CollectionsClient::new(channel.clone())
        .get(pb::CollectionName { name: "bad".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.status, "damaged", "{got:?}");
    assert!(!got.reason.is_empty(), "{got:?}");
    let mut points = pb::points_client::PointsClient::new(channel);
    let status = points
        .get(pb::PointRequest {
            collection: "bad".into(),
            id: Some(pb::PointId {
                kind: Some(pb::point_id::Kind::Num(1)),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(
        status.metadata().get("akidb-error-code").unwrap(),
        "collection_damaged"
    );

    // A damaged collection can be deleted.
    client.drop_collection("gone").await.unwrap();
    assert!(!data.join("collections/gone").exists());
    assert_eq!(damaged_gauge(&client.metrics().await.unwrap()), Some(1.0));

    // Restore from S3 repairs it: the snapshot's points serve again.
    let restored = client.restore("bad", "latest", true).await.unwrap();
    assert_eq!(restored.status, CollectionStatus::Green, "{restored:?}");
    assert_eq!(restored.points, 50);
    for i in 0..50 {
        let got = client.get("bad", &PointId::Num(i)).await.unwrap();
        assert_eq!(got.payload, point(i).payload, "point {i}");
    }
    assert_eq!(damaged_gauge(&client.metrics().await.unwrap()), Some(0.0));
    client.upsert("bad", &[point(1000)]).await.unwrap();

    // The repair is durable.
    server.restart().await;
    let client = server.client();
    let info = client.collection("bad").await.unwrap();
    assert_eq!(info.status, CollectionStatus::Green, "{info:?}");
    assert_eq!(info.points, 51);
    assert_eq!(damaged_gauge(&client.metrics().await.unwrap()), Some(0.0));
}
