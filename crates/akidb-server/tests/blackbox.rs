//! Black-box tests: the real `akidb` binary on free ports, driven over REST (via
//! `akidb-client`) and gRPC (the generated `akidb.v1` client).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use akidb_client::{Client, ClientError};
use akidb_core::{CollectionConfig, Filter, Metric, Payload, Point, PointId, SearchRequest, Tier};
use akidb_proto::v1 as pb;
use akidb_server::metrics::METRIC_NAMES;
use common::{command, Server};
use reqwest::Method;
use serde_json::{json, Value};

fn payload(v: Value) -> Payload {
    v.as_object().cloned().unwrap()
}

fn vec_for(i: u64, dim: usize) -> Vec<f32> {
    (0..dim)
        .map(|d| (((i * 31 + d as u64 * 17) % 97) as f32 / 97.0) - 0.5)
        .collect()
}

fn points(range: std::ops::Range<u64>, dim: usize) -> Vec<Point> {
    range
        .map(|i| {
            let section = if i % 3 == 0 { "faq" } else { "library" };
            Point::new(
                i,
                vec_for(i, dim),
                payload(json!({"section": section, "n": i})),
            )
        })
        .collect()
}

/// Minimal Prometheus / OpenMetrics text parser: returns sample name → count and
/// fails on any line that is not a comment, a blank line or `name{labels} value`.
fn parse_prometheus(text: &str) -> (BTreeMap<String, usize>, HashSet<String>) {
    let mut samples = BTreeMap::new();
    let mut declared = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let ctx = || format!("line {}: {line:?}", n + 1);
        if line.is_empty() || line == "# EOF" {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().unwrap_or_else(|| panic!("{}", ctx()));
            assert!(matches!(kind, "HELP" | "TYPE" | "UNIT"), "{}", ctx());
            if kind == "TYPE" {
                let t = parts.next().unwrap_or_else(|| panic!("{}", ctx()));
                assert!(
                    [
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "info",
                        "stateset",
                        "unknown",
                        "untyped",
                        "gaugehistogram"
                    ]
                    .contains(&t),
                    "{}",
                    ctx()
                );
                declared.insert(name.to_string());
            }
            continue;
        }
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or_else(|| panic!("{}", ctx()));
        let name = &line[..name_end];
        assert!(
            !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()),
            "{}",
            ctx()
        );
        let mut rest = &line[name_end..];
        if let Some(labels) = rest.strip_prefix('{') {
            // Label values are quoted and may contain `}` or `,` (routes like
            // `/collections/{name}`), so walk them rather than split.
            let bytes = labels.as_bytes();
            let mut i = 0;
            loop {
                if bytes.get(i) == Some(&b'}') {
                    i += 1;
                    break;
                }
                let eq = labels[i..].find('=').unwrap_or_else(|| panic!("{}", ctx())) + i;
                let key = &labels[i..eq];
                assert!(
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{}",
                    ctx()
                );
                assert_eq!(bytes.get(eq + 1), Some(&b'"'), "{}", ctx());
                let mut j = eq + 2;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                assert!(j < bytes.len(), "unterminated label value: {}", ctx());
                i = j + 1;
                if bytes.get(i) == Some(&b',') {
                    i += 1;
                }
            }
            rest = &labels[i..];
        }
        let value = rest
            .trim()
            .split(' ')
            .next()
            .unwrap_or_else(|| panic!("{}", ctx()));
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "{}",
            ctx()
        );
        *samples.entry(name.to_string()).or_insert(0) += 1;
    }
    (samples, declared)
}

async fn grpc_channel(server: &Server) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(server.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn with_key<T>(msg: T, key: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Some(k) = key {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {k}").parse().unwrap());
    }
    r
}

fn pid(n: u64) -> Option<pb::PointId> {
    Some(pb::PointId {
        kind: Some(pb::point_id::Kind::Num(n)),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_lifecycle_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &[]).await;
    let c = server.client();
    c.health().await.unwrap();

    let mut cfg = CollectionConfig::new("docs", 8, Metric::Cosine);
    cfg.index.m = 8;
    let created = c.create_collection(&cfg).await.unwrap();
    assert_eq!(
        (created.name.as_str(), created.dimension, created.points),
        ("docs", 8, 0)
    );
    assert_eq!(created.index.m, 8);
    let l2 = c
        .create_collection(&CollectionConfig::new("euclid", 2, Metric::L2))
        .await
        .unwrap();
    assert_eq!(l2.metric, Metric::L2);
    let names: Vec<_> = c
        .list_collections()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["docs", "euclid"]);

    assert_eq!(c.upsert("docs", &points(0..300, 8)).await.unwrap(), 300);
    let mut named = Point::new(
        0,
        vec_for(1000, 8),
        payload(json!({"section": "tutorial", "tags": ["a", "b"]})),
    );
    named.id = PointId::string("doc/α 1").unwrap();
    c.upsert("docs", &[named.clone()]).await.unwrap();
    assert_eq!(c.collection("docs").await.unwrap().points, 301);

    let got = c.get("docs", &named.id).await.unwrap();
    assert_eq!(got.payload, named.payload);
    let p7 = c.get("docs", &PointId::Num(7)).await.unwrap();
    assert_eq!(p7.payload["n"], json!(7));

    // Search: the point itself is the best hit (cosine score ~1), payload included.
    let hits = c
        .search("docs", &SearchRequest::new(vec_for(42, 8), 5))
        .await
        .unwrap();
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[0].id, PointId::Num(42));
    assert!((hits[0].score - 1.0).abs() < 1e-4, "{}", hits[0].score);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(hits[0].payload.is_some() && hits[0].vector.is_none());

    // Filtered search: every hit satisfies the filter.
    let mut req = SearchRequest::new(vec_for(42, 8), 20);
    req.filter = Some(
        Filter::from_json(&json!({"must":[{"key":"section","match":{"value":"faq"}}]})).unwrap(),
    );
    req.with_vector = true;
    let hits = c.search("docs", &req).await.unwrap();
    assert_eq!(hits.len(), 20);
    for h in &hits {
        assert_eq!(h.payload.as_ref().unwrap()["section"], json!("faq"));
        assert_eq!(h.vector.as_ref().unwrap().len(), 8);
    }

    // L2 scores are distances, ascending.
    c.upsert(
        "euclid",
        &[
            Point::new(1, vec![0.0, 0.0], Payload::new()),
            Point::new(2, vec![3.0, 4.0], Payload::new()),
        ],
    )
    .await
    .unwrap();
    let hits = c
        .search("euclid", &SearchRequest::new(vec![0.0, 0.0], 2))
        .await
        .unwrap();
    assert_eq!(hits[0].id, PointId::Num(1));
    assert!((hits[1].score - 5.0).abs() < 1e-4);

    // Batch search answers in order.
    let batch = c
        .search_batch(
            "docs",
            &[
                SearchRequest::new(vec_for(3, 8), 1),
                SearchRequest::new(vec_for(9, 8), 1),
            ],
        )
        .await
        .unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch[0][0].id, PointId::Num(3));
    assert_eq!(batch[1][0].id, PointId::Num(9));

    // Deletes: one, by ids, by filter.
    assert_eq!(c.delete("docs", &PointId::Num(1)).await.unwrap(), 1);
    assert_eq!(c.delete("docs", &PointId::Num(1)).await.unwrap(), 0);
    assert_eq!(
        c.delete_ids(
            "docs",
            &[PointId::Num(2), PointId::Num(4), PointId::Num(100_000)]
        )
        .await
        .unwrap(),
        2
    );
    let faq = Filter::from_json(
        &json!({"must":[{"key":"section","match":{"value":"faq"}},{"key":"n","range":{"lt":30}}]}),
    )
    .unwrap();
    assert_eq!(c.delete_by_filter("docs", &faq).await.unwrap(), 10);
    let e = c.get("docs", &PointId::Num(3)).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("point_not_found")));
    assert_eq!(c.collection("docs").await.unwrap().points, 301 - 13);

    let report = c.compact("docs").await.unwrap();
    assert_eq!(report.live_points, 288);

    // OpenAPI is served and describes the routes.
    let doc = c.openapi().await.unwrap();
    assert!(doc["paths"]["/api/v1/collections/{name}/search"]["post"].is_object());

    // Tiers over REST: cold and back, transparently and with identical answers.
    let query = SearchRequest::new(vec_for(7, 8), 5);
    let before = c.search("docs", &query).await.unwrap();
    assert_eq!(c.tier("docs").await.unwrap().tier, Tier::Hot);
    let cold = c.demote("docs", Tier::Cold).await.unwrap();
    assert_eq!((cold.tier, cold.bytes_in_memory), (Tier::Cold, 0));
    // Metadata reads never promote.
    assert_eq!(c.collection("docs").await.unwrap().tier, Tier::Cold);
    assert_eq!(c.tier("docs").await.unwrap().tier, Tier::Cold);
    assert_eq!(c.search("docs", &query).await.unwrap(), before);
    assert_eq!(c.tier("docs").await.unwrap().tier, Tier::Hot);
    assert!(c.pin("docs").await.unwrap().pinned);
    let e = c.demote("docs", Tier::Warm).await.unwrap_err();
    assert_eq!(e.code(), Some("collection_pinned"), "{e}");
    assert!(!c.unpin("docs").await.unwrap().pinned);
    assert_eq!(c.demote("docs", Tier::Warm).await.unwrap().tier, Tier::Warm);
    assert_eq!(c.promote("docs").await.unwrap().tier, Tier::Hot);

    // Snapshots and restore through the admin API.
    let snap = c.snapshot("docs").await.unwrap();
    assert_eq!(snap.rows, 288);
    assert!(c
        .list_snapshots("docs")
        .await
        .unwrap()
        .iter()
        .any(|s| s.snapshot_id == snap.snapshot_id));
    let victim = before[0].id.clone();
    c.delete("docs", &victim).await.unwrap();
    let restored = c.restore("docs", &snap.snapshot_id, true).await.unwrap();
    assert_eq!(restored.points, 288);
    c.get("docs", &victim).await.unwrap();
    let e = c
        .restore("docs", "no-such-snapshot", true)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    let dlq = c.dlq().await.unwrap();
    assert!(dlq.is_object() || dlq.is_array(), "{dlq}");

    // Graceful shutdown: SIGTERM → exit 0 well within 10 s.
    let (status, took) = server.terminate(Duration::from_secs(10));
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        server.log_text()
    );
    assert!(took < Duration::from_secs(10), "{took:?}");

    // Restart: everything is still there.
    server.restart().await;
    let c = server.client();
    let info = c.collection("docs").await.unwrap();
    assert_eq!(info.points, 288);
    assert_eq!(info.index.m, 8);
    assert_eq!(
        c.get("docs", &named.id).await.unwrap().payload,
        named.payload
    );
    assert_eq!(
        c.get("docs", &PointId::Num(7)).await.unwrap().payload["n"],
        json!(7)
    );
    let hits = c
        .search("docs", &SearchRequest::new(vec_for(42, 8), 1))
        .await
        .unwrap();
    assert_eq!(hits[0].id, PointId::Num(42));

    c.drop_collection("euclid").await.unwrap();
    let e = c.collection("euclid").await.unwrap_err();
    assert_eq!(e.code(), Some("collection_not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_lifecycle_mirrors_rest() {
    use pb::collections_client::CollectionsClient;
    use pb::points_client::PointsClient;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]).await;
    let ch = grpc_channel(&server).await;
    let mut cols = CollectionsClient::new(ch.clone());
    let mut pts = PointsClient::new(ch.clone());

    let c = cols
        .create(pb::CreateCollectionRequest {
            name: "g".into(),
            dimension: 4,
            metric: "dot".into(),
            index: None,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            c.name.as_str(),
            c.dimension,
            c.metric.as_str(),
            c.tier.as_str()
        ),
        ("g", 4, "dot", "hot")
    );
    assert_eq!(c.index.unwrap().m, 16);

    let dup = cols
        .create(pb::CreateCollectionRequest {
            name: "g".into(),
            dimension: 4,
            metric: "dot".into(),
            index: None,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), tonic::Code::AlreadyExists);
    assert_eq!(
        dup.metadata().get("akidb-error-code").unwrap(),
        "collection_already_exists"
    );

    let points: Vec<pb::Point> = (1..=50u64)
        .map(|i| pb::Point {
            id: pid(i),
            vector: vec![i as f32, 1.0, 0.0, (i % 2) as f32],
            payload_json: json!({"odd": i % 2 == 1, "i": i}).to_string(),
        })
        .collect();
    let up = pts
        .upsert(pb::UpsertRequest {
            collection: "g".into(),
            points,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(up.upserted, 50);
    let p = pts
        .get(pb::PointRequest {
            collection: "g".into(),
            id: pid(7),
        })
        .await
        .unwrap()
        .into_inner();
    let pl: Value = serde_json::from_str(&p.payload_json).unwrap();
    assert_eq!(pl["i"], json!(7));

    // Dot product: the largest first component wins; the filter keeps odd ids only.
    let res = pts
        .search(pb::SearchRequest {
            collection: "g".into(),
            vector: vec![1.0, 0.0, 0.0, 0.0],
            k: Some(3),
            filter_json: json!({"must":[{"key":"odd","match":{"value":true}}]}).to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = res
        .hits
        .iter()
        .map(|h| h.id.clone().unwrap().kind.unwrap())
        .collect();
    assert_eq!(ids, [49u64, 47, 45].map(pb::point_id::Kind::Num).to_vec(),);
    assert!(res.hits[0].payload_json.is_some());

    let batch = pts
        .search_batch(pb::SearchBatchRequest {
            collection: "g".into(),
            searches: vec![
                pb::SearchRequest {
                    vector: vec![1.0, 0.0, 0.0, 0.0],
                    k: Some(1),
                    ..Default::default()
                },
                pb::SearchRequest {
                    vector: vec![-1.0, 0.0, 0.0, 0.0],
                    k: Some(1),
                    with_vector: true,
                    ..Default::default()
                },
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.results.len(), 2);
    assert_eq!(batch.results[1].hits[0].id, pid(1));
    assert!(batch.results[1].hits[0].has_vector);

    let del = pts
        .delete_many(pb::DeleteManyRequest {
            collection: "g".into(),
            ids: vec![],
            filter_json: json!({"must":[{"key":"i","range":{"gt":40}}]}).to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(del.deleted, 10);
    let del = pts
        .delete(pb::PointRequest {
            collection: "g".into(),
            id: pid(1),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(del.deleted, 1);
    let info = cols
        .get(pb::CollectionName { name: "g".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.points, 39);

    // The same engine answers REST.
    assert_eq!(server.client().collection("g").await.unwrap().points, 39);

    // Errors carry the AkiDB code.
    let e = pts
        .search(pb::SearchRequest {
            collection: "g".into(),
            vector: vec![1.0],
            k: Some(1),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        e.metadata().get("akidb-error-code").unwrap(),
        "dimension_mismatch"
    );
    let e = pts
        .search(pb::SearchRequest {
            collection: "g".into(),
            vector: vec![1.0; 4],
            k: Some(0),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.metadata().get("akidb-error-code").unwrap(), "invalid_k");
    let e = pts
        .get(pb::PointRequest {
            collection: "nope".into(),
            id: pid(1),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);

    let list = cols
        .list(pb::ListCollectionsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.collections.len(), 1);
    let d = cols
        .delete(pb::CollectionName { name: "g".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(d.deleted);
    assert!(cols
        .list(pb::ListCollectionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .collections
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_concurrent_writes_loses_no_acknowledged_point() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &[]).await;
    let c = server.client();
    c.create_collection(&CollectionConfig::new("crash", 16, Metric::L2))
        .await
        .unwrap();
    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let c = c.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            for batch in 0u64.. {
                let start = w * 1_000_000 + batch * 25;
                let pts = points(start..start + 25, 16);
                match c.upsert("crash", &pts).await {
                    Ok(25) => acked.lock().unwrap().extend(start..start + 25),
                    Ok(n) => panic!("upserted {n} of 25"),
                    Err(_) => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while acked.lock().unwrap().len() < 2_000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 500,
        "only {} points acknowledged before the kill",
        acked.len()
    );

    server.restart().await;
    let c = server.client();
    let info = c.collection("crash").await.unwrap();
    assert!(
        info.points >= acked.len() as u64,
        "{} points after restart, {} acknowledged",
        info.points,
        acked.len()
    );
    // Every acknowledged point is readable with its exact vector.
    let mut missing = Vec::new();
    for chunk in acked.chunks(64) {
        let futs: Vec<_> = chunk
            .iter()
            .map(|&id| {
                let c = c.clone();
                async move { (id, c.get("crash", &PointId::Num(id)).await) }
            })
            .collect();
        for (id, r) in futures_join_all(futs).await {
            match r {
                Ok(p) => assert_eq!(p.vector, vec_for(id, 16)),
                Err(e) => missing.push((id, e.to_string())),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} acknowledged points lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(futs: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

const FULL: &str = "full-key-0123";
const RO: &str = "read-only-key-4567";

/// One row of the bad-input table.
struct Case {
    what: &'static str,
    method: Method,
    path: &'static str,
    body: Option<Vec<u8>>,
    key: Option<&'static str>,
    status: u16,
    code: &'static str,
}

fn case(
    what: &'static str,
    method: Method,
    path: &'static str,
    body: Value,
    status: u16,
    code: &'static str,
) -> Case {
    let body = if body.is_null() {
        None
    } else {
        Some(serde_json::to_vec(&body).unwrap())
    };
    Case {
        what,
        method,
        path,
        body,
        key: Some(FULL),
        status,
        code,
    }
}

fn raw_case(
    what: &'static str,
    method: Method,
    path: &'static str,
    body: &str,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        what,
        method,
        path,
        body: Some(body.as_bytes().to_vec()),
        key: Some(FULL),
        status,
        code,
    }
}

async fn send(server: &Server, c: &Case) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut req = http.request(c.method.clone(), format!("{}{}", server.rest, c.path));
    if let Some(k) = c.key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = &c.body {
        req = req
            .header("content-type", "application/json")
            .body(b.clone());
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", c.what));
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_clear_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &[
            ("AKIDB_API_KEY", FULL),
            ("AKIDB_READ_ONLY_API_KEY", RO),
            ("AKIDB_MAX_BODY_BYTES", "256KiB"),
            ("AKIDB_MAX_PAYLOAD_BYTES", "1KiB"),
            ("AKIDB_MAX_BATCH_POINTS", "100"),
            ("AKIDB_MAX_BATCH_SEARCHES", "5"),
        ],
    )
    .await;
    let c = server.client().with_api_key(FULL);
    c.create_collection(&CollectionConfig::new("t", 3, Metric::Cosine))
        .await
        .unwrap();
    c.upsert("t", &points(0..20, 3)).await.unwrap();
    let before: Vec<Point> = {
        let mut v = Vec::new();
        for i in 0..20 {
            v.push(c.get("t", &PointId::Num(i)).await.unwrap());
        }
        v
    };

    let big_payload =
        json!({"points":[{"id":1000,"vector":[1,2,3],"payload":{"blob":"x".repeat(2000)}}]});
    let too_many: Vec<Value> = (0..101)
        .map(|i| json!({"id": 5000 + i, "vector":[1,2,3]}))
        .collect();
    let huge_body = format!(
        "{{\"points\":[{{\"id\":9999,\"vector\":[1,2,3],\"payload\":{{\"b\":\"{}\"}}}}]}}",
        "y".repeat(300 * 1024)
    );
    let searches: Vec<Value> = (0..6).map(|_| json!({"vector":[1,0,0]})).collect();
    let mut table = vec![
        case(
            "wrong dimension (upsert)",
            Method::PUT,
            "/api/v1/collections/t/points",
            json!({"points":[{"id":1,"vector":[1,2]}]}),
            400,
            "dimension_mismatch",
        ),
        case(
            "wrong dimension (search)",
            Method::POST,
            "/api/v1/collections/t/search",
            json!({"vector":[1,2,3,4]}),
            400,
            "dimension_mismatch",
        ),
        case(
            "empty vector",
            Method::PUT,
            "/api/v1/collections/t/points",
            json!({"points":[{"id":1,"vector":[]}]}),
            400,
            "dimension_mismatch",
        ),
        case(
            "empty query vector",
            Method::POST,
            "/api/v1/collections/t/search",
            json!({"vector":[]}),
            400,
            "dimension_mismatch",
        ),
        raw_case(
            "infinite component (1e39 overflows f32)",
            Method::PUT,
            "/api/v1/collections/t/points",
            r#"{"points":[{"id":1,"vector":[1e39,0,0]}]}"#,
            400,
            "invalid_vector",
        ),
        raw_case(
            "infinite query component",
            Method::POST,
            "/api/v1/collections/t/search",
            r#"{"vector":[-1e39,0,0]}"#,
            400,
            "invalid_vector",
        ),
        raw_case(
            "1e999 is not a JSON number we accept",
            Method::PUT,
            "/api/v1/collections/t/points",
            r#"{"points":[{"id":1,"vector":[1e999,0,0]}]}"#,
            400,
            "invalid_json",
        ),
        raw_case(
            "NaN as a string",
            Method::PUT,
            "/api/v1/collections/t/points",
            r#"{"points":[{"id":1,"vector":["NaN",0,0]}]}"#,
            400,
            "invalid_json",
        ),
        raw_case(
            "bare NaN token",
            Method::POST,
            "/api/v1/collections/t/search",
            r#"{"vector":[NaN,0,0]}"#,
            400,
            "invalid_json",
        ),
        case(
            "unknown collection (search)",
            Method::POST,
            "/api/v1/collections/nope/search",
            json!({"vector":[1,0,0]}),
            404,
            "collection_not_found",
        ),
        case(
            "unknown collection (get)",
            Method::GET,
            "/api/v1/collections/nope",
            Value::Null,
            404,
            "collection_not_found",
        ),
        case(
            "unknown collection (upsert)",
            Method::PUT,
            "/api/v1/collections/nope/points",
            json!({"points":[{"id":1,"vector":[1,0,0]}]}),
            404,
            "collection_not_found",
        ),
        case(
            "unknown point",
            Method::GET,
            "/api/v1/collections/t/points/424242",
            Value::Null,
            404,
            "point_not_found",
        ),
        case(
            "duplicate collection",
            Method::POST,
            "/api/v1/collections",
            json!({"name":"t","dimension":3,"metric":"cosine"}),
            409,
            "collection_already_exists",
        ),
        case(
            "invalid name",
            Method::POST,
            "/api/v1/collections",
            json!({"name":"bad name!","dimension":3,"metric":"cosine"}),
            400,
            "invalid_collection_name",
        ),
        case(
            "name too long",
            Method::POST,
            "/api/v1/collections",
            json!({"name":"x".repeat(65),"dimension":3,"metric":"cosine"}),
            400,
            "invalid_collection_name",
        ),
        case(
            "dimension 0",
            Method::POST,
            "/api/v1/collections",
            json!({"name":"d0","dimension":0,"metric":"cosine"}),
            400,
            "invalid_dimension",
        ),
        case(
            "unknown metric",
            Method::POST,
            "/api/v1/collections",
            json!({"name":"m","dimension":3,"metric":"hamming"}),
            400,
            "invalid_json",
        ),
        case(
            "bad index params",
            Method::POST,
            "/api/v1/collections",
            json!({"name":"m","dimension":3,"metric":"l2","index":{"m":1}}),
            400,
            "invalid_index_params",
        ),
        case(
            "k = 0",
            Method::POST,
            "/api/v1/collections/t/search",
            json!({"vector":[1,0,0],"k":0}),
            400,
            "invalid_k",
        ),
        case(
            "huge k",
            Method::POST,
            "/api/v1/collections/t/search",
            json!({"vector":[1,0,0],"k":10001}),
            400,
            "invalid_k",
        ),
        case(
            "negative k",
            Method::POST,
            "/api/v1/collections/t/search",
            json!({"vector":[1,0,0],"k":-1}),
            400,
            "invalid_json",
        ),
        raw_case(
            "malformed JSON",
            Method::PUT,
            "/api/v1/collections/t/points",
            r#"{"points":[{"id":1,"vector":[1,0,0]}"#,
            400,
            "invalid_json",
        ),
        raw_case(
            "not JSON at all",
            Method::POST,
            "/api/v1/collections",
            "name=x",
            400,
            "invalid_json",
        ),
        case(
            "wrong type: vector is a string",
            Method::PUT,
            "/api/v1/collections/t/points",
            json!({"points":[{"id":1,"vector":"1,0,0"}]}),
            400,
            "invalid_json",
        ),
        case(
            "wrong type: dimension is a string",
            Method::POST,
            "/api/v1/collections",
            json!({"name":"w","dimension":"3","metric":"l2"}),
            400,
            "invalid_json",
        ),
        case(
            "unknown field",
            Method::POST,
            "/api/v1/collections/t/search",
            json!({"vector":[1,0,0],"topk":3}),
            400,
            "invalid_json",
        ),
        case(
            "payload not an object",
            Method::PUT,
            "/api/v1/collections/t/points",
            json!({"points":[{"id":1,"vector":[1,0,0],"payload":[1]}]}),
            400,
            "invalid_payload",
        ),
        case(
            "invalid id: negative",
            Method::PUT,
            "/api/v1/collections/t/points",
            json!({"points":[{"id":-5,"vector":[1,0,0]}]}),
            400,
            "invalid_id",
        ),
        case(
            "invalid id: all-digit string",
            Method::PUT,
            "/api/v1/collections/t/points",
            json!({"points":[{"id":"123","vector":[1,0,0]}]}),
            400,
            "invalid_id",
        ),
        case(
            "bad filter: unknown clause",
            Method::POST,
            "/api/v1/collections/t/search",
            json!({"vector":[1,0,0],"filter":{"maybe":[]}}),
            400,
            "invalid_filter",
        ),
        case(
            "bad filter: not an object",
            Method::POST,
            "/api/v1/collections/t/search",
            json!({"vector":[1,0,0],"filter":[1]}),
            400,
            "invalid_filter",
        ),
        case(
            "bad filter on delete",
            Method::POST,
            "/api/v1/collections/t/points/delete",
            json!({"filter":{"must":[{"key":"a","range":{}}]}}),
            400,
            "invalid_filter",
        ),
        case(
            "delete with neither ids nor filter",
            Method::POST,
            "/api/v1/collections/t/points/delete",
            json!({}),
            400,
            "invalid_request",
        ),
        case(
            "oversize payload",
            Method::PUT,
            "/api/v1/collections/t/points",
            big_payload,
            413,
            "payload_too_large",
        ),
        case(
            "too many points in one upsert",
            Method::PUT,
            "/api/v1/collections/t/points",
            json!({"points": too_many}),
            413,
            "batch_too_large",
        ),
        case(
            "too many searches in one batch",
            Method::POST,
            "/api/v1/collections/t/search/batch",
            json!({"searches": searches}),
            413,
            "batch_too_large",
        ),
        raw_case(
            "body over max_body_bytes",
            Method::PUT,
            "/api/v1/collections/t/points",
            &huge_body,
            413,
            "payload_too_large",
        ),
        case(
            "demote to a bad tier",
            Method::POST,
            "/api/v1/admin/collections/t/demote",
            json!({"to":"lukewarm"}),
            400,
            "invalid_tier",
        ),
        case(
            "unknown route",
            Method::GET,
            "/api/v1/nothing",
            Value::Null,
            404,
            "route_not_found",
        ),
    ];
    let mut k = case(
        "missing API key",
        Method::GET,
        "/api/v1/collections",
        Value::Null,
        401,
        "unauthorized",
    );
    k.key = None;
    table.push(k);
    let mut k = case(
        "invalid API key",
        Method::POST,
        "/api/v1/collections/t/search",
        json!({"vector":[1,0,0]}),
        401,
        "unauthorized",
    );
    k.key = Some("guess");
    table.push(k);
    let mut k = case(
        "read-only key writing points",
        Method::PUT,
        "/api/v1/collections/t/points",
        json!({"points":[{"id":1,"vector":[9,9,9]}]}),
        403,
        "forbidden",
    );
    k.key = Some(RO);
    table.push(k);
    let mut k = case(
        "read-only key deleting",
        Method::POST,
        "/api/v1/collections/t/points/delete",
        json!({"ids":[1,2,3]}),
        403,
        "forbidden",
    );
    k.key = Some(RO);
    table.push(k);
    let mut k = case(
        "read-only key dropping the collection",
        Method::DELETE,
        "/api/v1/collections/t",
        Value::Null,
        403,
        "forbidden",
    );
    k.key = Some(RO);
    table.push(k);
    let mut k = case(
        "read-only key creating",
        Method::POST,
        "/api/v1/collections",
        json!({"name":"ro","dimension":3,"metric":"l2"}),
        403,
        "forbidden",
    );
    k.key = Some(RO);
    table.push(k);

    let mut failures = Vec::new();
    for c in &table {
        let (status, body) = send(&server, c).await;
        let code = body["error"]["code"].as_str().unwrap_or("<no error body>");
        let message = body["error"]["message"].as_str().unwrap_or("");
        if status != c.status || code != c.code || message.is_empty() {
            failures.push(format!(
                "{}: expected {} {}, got {} {} ({})",
                c.what, c.status, c.code, status, code, body
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "bad-input table mismatches:\n{}",
        failures.join("\n")
    );

    // The server still answers, and no stored point changed.
    c.health().await.unwrap();
    assert_eq!(c.collection("t").await.unwrap().points, 20);
    assert_eq!(c.list_collections().await.unwrap().len(), 1);
    for p in &before {
        assert_eq!(&c.get("t", &p.id).await.unwrap(), p);
    }
    let hits = c
        .search("t", &SearchRequest::new(vec_for(5, 3), 1))
        .await
        .unwrap();
    assert_eq!(hits[0].id, PointId::Num(5));

    // Read-only key reads and searches; health, ready and metrics need no key.
    let ro = server.client().with_api_key(RO);
    assert_eq!(ro.collection("t").await.unwrap().points, 20);
    assert_eq!(
        ro.search("t", &SearchRequest::new(vec_for(5, 3), 2))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        ro.search_batch("t", &[SearchRequest::new(vec_for(5, 3), 2)])
            .await
            .unwrap()
            .len(),
        1
    );
    let open = server.client();
    open.health().await.unwrap();
    assert!(open.ready().await.unwrap());
    open.metrics().await.unwrap();
    let e = open.list_collections().await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(401), Some("unauthorized")));

    // gRPC: the same keys, as `authorization: Bearer` or `api-key` metadata.
    let ch = grpc_channel(&server).await;
    let mut cols = pb::collections_client::CollectionsClient::new(ch.clone());
    let mut pts = pb::points_client::PointsClient::new(ch);
    let e = cols.list(pb::ListCollectionsRequest {}).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    let e = cols
        .list(with_key(pb::ListCollectionsRequest {}, Some("guess")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    cols.list(with_key(pb::ListCollectionsRequest {}, Some(RO)))
        .await
        .unwrap();
    let mut r = tonic::Request::new(pb::ListCollectionsRequest {});
    r.metadata_mut().insert("api-key", FULL.parse().unwrap());
    assert_eq!(
        cols.list(r).await.unwrap().into_inner().collections.len(),
        1
    );
    let write = pb::UpsertRequest {
        collection: "t".into(),
        points: vec![pb::Point {
            id: pid(1),
            vector: vec![9.0, 9.0, 9.0],
            payload_json: String::new(),
        }],
    };
    let e = pts
        .upsert(with_key(write.clone(), Some(RO)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    assert_eq!(e.metadata().get("akidb-error-code").unwrap(), "forbidden");
    let e = pts
        .search(with_key(
            pb::SearchRequest {
                collection: "t".into(),
                vector: vec![1.0, 0.0, 0.0],
                filter_json: "{\"bad\":1}".into(),
                ..Default::default()
            },
            Some(RO),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        e.metadata().get("akidb-error-code").unwrap(),
        "invalid_filter"
    );
    let e = pts
        .upsert(with_key(
            pb::UpsertRequest {
                collection: "t".into(),
                points: vec![pb::Point {
                    id: pid(1),
                    vector: vec![1.0, 0.0, 0.0],
                    payload_json: "[1]".into(),
                }],
            },
            Some(FULL),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        e.metadata().get("akidb-error-code").unwrap(),
        "invalid_payload"
    );
    for p in &before {
        assert_eq!(&c.get("t", &p.id).await.unwrap(), p);
    }
    let hits = pts
        .search(with_key(
            pb::SearchRequest {
                collection: "t".into(),
                vector: vec_for(5, 3),
                k: Some(1),
                ..Default::default()
            },
            Some(RO),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hits.hits[0].id, pid(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_name_every_design_metric() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]).await;
    let c = server.client();
    c.create_collection(&CollectionConfig::new("m", 4, Metric::L2))
        .await
        .unwrap();
    c.upsert("m", &points(0..50, 4)).await.unwrap();
    c.search("m", &SearchRequest::new(vec_for(1, 4), 3))
        .await
        .unwrap();
    let _ = c.get("m", &PointId::Num(999)).await;
    c.snapshot("m").await.unwrap();
    // A round trip through the cold tier exercises the object store and the tier metrics.
    c.demote("m", Tier::Cold).await.unwrap();
    c.promote("m").await.unwrap();
    // Replacing points after the snapshot leaves WAL bytes behind without changing the count.
    c.upsert("m", &points(0..5, 4)).await.unwrap();
    let mut pts = pb::points_client::PointsClient::new(grpc_channel(&server).await);
    pts.search(pb::SearchRequest {
        collection: "m".into(),
        vector: vec_for(1, 4),
        k: Some(2),
        ..Default::default()
    })
    .await
    .unwrap();

    let text = c.metrics().await.unwrap();
    let (samples, declared) = parse_prometheus(&text);
    // A single node has no replicated collections; tests/replication.rs checks those.
    for name in METRIC_NAMES
        .iter()
        .filter(|n| !akidb_server::metrics::REPLICATION_METRIC_NAMES.contains(n))
    {
        let base = name.strip_suffix("_total").unwrap_or(name);
        let has = samples
            .keys()
            .any(|s| s == name || s.starts_with(&format!("{name}_")))
            || declared.contains(*name)
            || declared.contains(base);
        assert!(has, "/metrics lacks {name}:\n{text}");
    }
    // Really updated, not just declared.
    for line in [
        "akidb_points{collection=\"m\"} 50",
        "akidb_collections{tier=\"hot\"} 1",
        "akidb_collections_damaged 0",
        "akidb_search_duration_seconds_count{tier=\"hot\"} 2",
        "akidb_http_requests_total{method=\"PUT\",route=\"/api/v1/collections/{name}/points\",status=\"200\"} 2",
        "akidb_http_requests_total{method=\"GET\",route=\"/api/v1/collections/{name}/points/{id}\",status=\"404\"} 1",
        "akidb_grpc_requests_total{service=\"Points\",method=\"Search\",code=\"Ok\"} 1",
        "akidb_circuit_breaker_state 0",
        "akidb_dlq_size 0",
    ] {
        assert!(text.contains(line), "/metrics lacks `{line}`:\n{text}");
    }
    let build = format!(
        "akidb_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&build), "/metrics lacks `{build}`:\n{text}");
    let fsyncs = text
        .lines()
        .find_map(|l| l.strip_prefix("akidb_wal_fsync_duration_seconds_count "))
        .unwrap();
    assert!(
        fsyncs.parse::<f64>().unwrap() >= 1.0,
        "no fsync observed:\n{text}"
    );
    let wal: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("akidb_wal_bytes "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(wal > 0.0);

    // Every metric the dashboards and alert rules use is served after this workload.
    let served: HashSet<&str> = samples
        .keys()
        .map(|n| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suf| n.strip_suffix(suf))
                .unwrap_or(n)
        })
        .collect();
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let mut files: Vec<_> = std::fs::read_dir(deploy.join("grafana"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(deploy.join("prometheus/alerts.yml"));
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for (i, _) in source.match_indices("akidb_") {
            let name: String = source[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suf| name.strip_suffix(suf))
                .unwrap_or(&name);
            // Names of rules, alerts and dashboards start with `akidb_` too but are no metric.
            let is_metric = METRIC_NAMES.contains(&base) || served.contains(base);
            let single_node = !akidb_server::metrics::REPLICATION_METRIC_NAMES
                .iter()
                .any(|r| r.strip_suffix("_total").unwrap_or(r) == base || *r == base);
            if is_metric && single_node {
                assert!(
                    served.contains(base),
                    "{} uses {name}, which /metrics does not serve",
                    file.display()
                );
            }
        }
    }

    // Request ids are echoed and logged.
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/collections", server.rest))
        .header("x-request-id", "test-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "test-req-42");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        server.log_text().contains("test-req-42"),
        "request id not in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_stop_startup_and_unknown_env_only_warns() {
    let out = command().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = command().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--config"));

    let out = command()
        .env("AKIDB_MAX_K", "0")
        .arg("--check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AKIDB_MAX_K"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("akidb.toml");
    std::fs::write(
        &file,
        "[server]\nrest_addr = \"127.0.0.1:1\"\nlisten = \"x\"\n",
    )
    .unwrap();
    let out = command().arg("--config").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.listen"), "{err}");
    std::fs::write(&file, "[storage]\nwal_sync = \"sometimes\"\n").unwrap();
    let out = command().env("AKIDB_CONFIG", &file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("storage.wal_sync"));

    // Kubernetes service links are only warned about; a config file is honoured.
    let port = common::free_port();
    std::fs::write(
        &file,
        format!("[limits]\nmax_k = 7\n[server]\nrest_addr = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let mut server = common::Server::spawn(
        &dir.path().join("data"),
        vec![
            ("AKIDB_SERVICE_HOST".into(), "10.0.0.1".into()),
            ("AKIDB_PORT".into(), "tcp://10.0.0.1:8080".into()),
            ("AKIDB_CONFIG".into(), file.display().to_string()),
            ("AKIDB_LOG_FORMAT".into(), "json".into()),
        ],
    );
    // The file's rest_addr is overridden by the harness's AKIDB_REST_ADDR.
    server.wait_ready().await;
    let c = server.client();
    c.create_collection(&CollectionConfig::new("k", 2, Metric::L2))
        .await
        .unwrap();
    let e = c
        .search("k", &SearchRequest::new(vec![0.0, 0.0], 8))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("invalid_k"));
    let log = server.log_text();
    assert!(
        log.contains("AKIDB_SERVICE_HOST") && log.contains("AKIDB_PORT"),
        "{log}"
    );
    let first = log.lines().next().unwrap();
    assert!(
        serde_json::from_str::<Value>(first).is_ok(),
        "not a JSON log line: {first}"
    );
    let (status, _) = server.terminate(Duration::from_secs(10));
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reports_status_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]).await;
    let c: Client = server.client();
    let e: ClientError = c.collection("missing").await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert_eq!(e.code(), Some("collection_not_found"));
    assert!(e.to_string().contains("missing"));
}
