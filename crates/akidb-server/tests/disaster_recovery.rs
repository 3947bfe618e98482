//! Disaster recovery through the real server and a real S3 (SeaweedFS): the data directory
//! is lost after a `kill -9`, and the collection comes back from the bucket over REST with
//! every acknowledged point; a damaged object in the bucket is refused by name and creates
//! nothing. Needs `AKIDB_TEST_WEED` (provisioned by `cargo xtask test`).

mod common;

use std::time::Duration;

use akidb_core::{CollectionConfig, Metric, Payload, Point, PointId};
use akidb_storage::ObjectStore;
use common::{bucket_store, s3_env, start_weed, Server};
use serde_json::json;

fn point(i: u64) -> Point {
    let v: Vec<f32> = (0..16)
        .map(|d| ((i * 31 + d * 7) % 17) as f32 + 0.5)
        .collect();
    let mut p = Payload::new();
    p.insert("i".into(), json!(i));
    p.insert("tag".into(), json!(format!("t{}", i % 5)));
    Point::new(i, v, p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_data_dir_is_restored_from_s3_over_rest() {
    let weed = start_weed().await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let env = s3_env(&weed.endpoint(), &weed, Duration::from_secs(3));
    let mut server = Server::spawn(&data, env.clone());
    server.wait_ready().await;
    let client = server.client();

    client
        .create_collection(&CollectionConfig::new("dr", 16, Metric::Cosine))
        .await
        .unwrap();
    let mut acknowledged = Vec::new();
    for batch in 0..10u64 {
        let points: Vec<Point> = (batch * 100..(batch + 1) * 100).map(point).collect();
        client.upsert("dr", &points).await.unwrap();
        acknowledged.extend(batch * 100..(batch + 1) * 100);
    }
    client.delete("dr", &PointId::Num(42)).await.unwrap();
    acknowledged.retain(|&i| i != 42);
    let snap = client.snapshot("dr").await.unwrap();
    assert!(snap.remote, "with S3 the snapshot is uploaded: {snap:?}");

    // The machine dies and its disk with it.
    server.kill9();
    std::fs::remove_dir_all(&data).unwrap();
    let mut server = Server::spawn(&data, env.clone());
    server.wait_ready().await;
    let client = server.client();
    assert!(client.list_collections().await.unwrap().is_empty());
    let listed = client.list_snapshots("dr").await.unwrap();
    assert!(
        listed
            .iter()
            .any(|s| s.snapshot_id == snap.snapshot_id && s.remote && !s.local),
        "{listed:?}"
    );
    let restored = client.restore("dr", "latest", true).await.unwrap();
    assert_eq!(restored.points, acknowledged.len() as u64);
    for &i in &acknowledged {
        let got = client.get("dr", &PointId::Num(i)).await.unwrap();
        assert_eq!(got.payload, point(i).payload, "point {i}");
    }
    let missing = client.get("dr", &PointId::Num(42)).await.unwrap_err();
    assert_eq!(missing.status(), Some(404));

    // A byte flipped in the bucket: the restore names the file and creates nothing.
    let bucket = bucket_store(&weed).await;
    let key = format!(
        "collections/dr/snapshots/{}/points.parquet",
        snap.snapshot_id
    );
    let mut bytes = bucket.get(&key).await.unwrap().to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    bucket.put(&key, bytes.into()).await.unwrap();
    server.kill9();
    std::fs::remove_dir_all(&data).unwrap();
    let mut server = Server::spawn(&data, env);
    server.wait_ready().await;
    let client = server.client();
    let err = client
        .restore("dr", &snap.snapshot_id, true)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("data_corruption"), "{err}");
    assert!(err.to_string().contains("points.parquet"), "{err}");
    assert_eq!(
        client.collection("dr").await.unwrap_err().status(),
        Some(404)
    );
    // Unknown everywhere: 404 collection_not_found.
    let err = client.restore("nowhere", "latest", true).await.unwrap_err();
    assert_eq!(err.code(), Some("collection_not_found"), "{err}");
}
