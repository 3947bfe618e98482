//! Tiering against a real S3 server (SeaweedFS started by the test via
//! `akidb_storage::testing::SeaweedFs`; `cargo xtask test` provides the `weed` binary).

use std::sync::Arc;
use std::time::Duration;

use akidb_core::{CollectionConfig, Metric, Payload, Point, PointId, SearchRequest, Tier};
use akidb_engine::{Database, EngineConfig};
use akidb_storage::testing::SeaweedFs;
use akidb_storage::{ObjectStore, S3Store};

fn pt(i: u64) -> Point {
    let v: Vec<f32> = (0..16)
        .map(|d| ((i * 7 + d * 3) % 13) as f32 - 6.0 + d as f32 * 0.01)
        .collect();
    let mut p = Payload::new();
    p.insert("i".into(), i.into());
    Point::new(i, v, p)
}

struct Env {
    rt: tokio::runtime::Runtime,
    weed: SeaweedFs,
    store: Arc<dyn ObjectStore>,
}

fn env() -> Env {
    let weed = SeaweedFs::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(rt.block_on(S3Store::connect(weed.s3_config())).unwrap());
    Env { rt, weed, store }
}

fn config(dir: &std::path::Path, env: &Env) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.segment_max_points = 300;
    c.object_store = Some(env.store.clone());
    c.runtime = Some(env.rt.handle().clone());
    c.breaker.consecutive_failures = 1;
    c.breaker.cool_down = Duration::from_millis(200);
    c
}

#[test]
fn s3_cold_round_trip() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(config(dir.path(), &env)).unwrap();
    db.create_collection(CollectionConfig::new("s3c", 16, Metric::Cosine))
        .unwrap();
    db.upsert("s3c", (0..1000).map(pt).collect()).unwrap();
    assert!(db.wait_indexed("s3c", Duration::from_secs(60)).unwrap());
    let q = SearchRequest::new(pt(3).vector, 10);
    let before = db.search("s3c", &q).unwrap();
    assert_eq!(db.demote("s3c", Tier::Cold).unwrap().tier, Tier::Cold);
    let objects = env
        .rt
        .block_on(env.store.list("collections/s3c/snapshots/"))
        .unwrap();
    assert!(
        objects.iter().any(|o| o.key.ends_with("/manifest.json")),
        "{objects:?}"
    );
    assert!(
        objects.iter().any(|o| o.key.ends_with("/points.parquet")),
        "{objects:?}"
    );
    let snaps = dir.path().join("collections/s3c/snapshots");
    assert_eq!(
        std::fs::read_dir(&snaps).unwrap().count(),
        0,
        "local snapshot files removed"
    );
    assert_eq!(db.search("s3c", &q).unwrap(), before);
    assert_eq!(db.tier("s3c").unwrap().tier, Tier::Hot);
}

#[test]
fn s3_outage_degrades_then_dlq_drains() {
    let mut env = env();
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(config(dir.path(), &env)).unwrap();
    db.create_collection(CollectionConfig::new("o", 16, Metric::L2))
        .unwrap();
    db.create_collection(CollectionConfig::new("frozen", 16, Metric::L2))
        .unwrap();
    db.upsert("o", (0..200).map(pt).collect()).unwrap();
    db.upsert("frozen", (0..50).map(pt).collect()).unwrap();
    db.demote("frozen", Tier::Cold).unwrap();

    env.weed.kill();
    // Writes keep being acknowledged and searchable while the store is down.
    db.upsert("o", vec![pt(5000)]).unwrap();
    let hits = db
        .search("o", &SearchRequest::new(pt(5000).vector, 50))
        .unwrap();
    assert!(hits.iter().any(|h| h.id == PointId::Num(5000)));
    // The snapshot is durable locally; its upload lands in the dead-letter queue.
    let snap = db.snapshot("o").unwrap();
    assert!(!db.dlq().is_empty());
    assert!(db.dlq().iter().all(|e| e.key.contains(&snap.snapshot_id)));
    assert_eq!(db.stats().breaker_state, 1, "breaker open");
    // Demotion to cold waits; promotion of a cold collection fails clearly.
    let err = db.demote("o", Tier::Cold).unwrap_err();
    assert_eq!(err.code(), "object_store_unavailable", "{err}");
    assert_ne!(db.tier("o").unwrap().tier, Tier::Cold);
    let err = db
        .search("frozen", &SearchRequest::new(pt(1).vector, 1))
        .unwrap_err();
    assert_eq!(err.code(), "object_store_unavailable", "{err}");
    assert_eq!(db.tier("frozen").unwrap().tier, Tier::Cold);
    let queued = db.dlq().len();

    // The queue survives a restart.
    drop(db);
    let db = Database::open_with(config(dir.path(), &env)).unwrap();
    assert_eq!(db.dlq().len(), queued);
    assert_eq!(
        db.get("o", &PointId::Num(5000)).unwrap().id,
        PointId::Num(5000)
    );

    env.weed.restart();
    std::thread::sleep(Duration::from_millis(300));
    let mut report = db.dlq_retry_all();
    if report.remaining > 0 {
        // The first call may only be the half-open probe.
        std::thread::sleep(Duration::from_millis(300));
        report = db.dlq_retry_all();
    }
    assert_eq!(report.remaining, 0, "{report:?}");
    assert!(db.dlq().is_empty());
    let key = format!("collections/o/snapshots/{}/manifest.json", snap.snapshot_id);
    assert!(env.rt.block_on(env.store.head(&key)).unwrap().is_some());
    // The cold collection comes back once the store is reachable.
    let hits = db
        .search("frozen", &SearchRequest::new(pt(1).vector, 1))
        .unwrap();
    assert_eq!(hits[0].id, PointId::Num(1));
}
