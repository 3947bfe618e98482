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
    assert!(snap.local && !snap.remote, "not uploaded: {snap:?}");
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

#[test]
fn s3_restore_after_the_data_dir_is_wiped() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged = Vec::new();
    {
        let db = Database::open_with(config(dir.path(), &env)).unwrap();
        let mut cc = CollectionConfig::new("wiped", 16, Metric::Dot);
        cc.index.ef_search = 77;
        db.create_collection(cc).unwrap();
        for batch in 0..4u64 {
            let points: Vec<Point> = (batch * 250..(batch + 1) * 250).map(pt).collect();
            acknowledged.extend(points.iter().map(|p| p.id.clone()));
            db.upsert("wiped", points).unwrap();
        }
        db.delete("wiped", &[PointId::Num(7)]).unwrap();
        acknowledged.retain(|id| *id != PointId::Num(7));
        // With S3 configured every snapshot is uploaded as it is written.
        let snap = db.snapshot("wiped").unwrap();
        assert!(snap.local && snap.remote, "{snap:?}");
        let listed = db.list_snapshots("wiped").unwrap();
        let newest = listed.last().unwrap();
        assert_eq!(newest.snapshot_id, snap.snapshot_id);
        assert!(newest.local && newest.remote, "{listed:?}");
        db.shutdown().unwrap();
    }
    // The disk is lost: nothing local is left, not even the catalog.
    std::fs::remove_dir_all(dir.path()).unwrap();
    let db = Database::open_with(config(dir.path(), &env)).unwrap();
    assert!(db.list_collections().is_empty());
    // Only the object store knows the collection now; its snapshots are listed from there.
    let listed = db.list_snapshots("wiped").unwrap();
    assert!(
        listed.iter().all(|s| s.remote && !s.local && s.rows > 0),
        "{listed:?}"
    );
    let info = db.restore("wiped", "latest", true).unwrap();
    assert_eq!(info.points, acknowledged.len() as u64);
    let restored = db.collection_config("wiped").unwrap();
    assert_eq!(restored.metric, Metric::Dot);
    assert_eq!(
        restored.index.ef_search, 77,
        "the configuration comes from the manifest"
    );
    for id in &acknowledged {
        let PointId::Num(i) = id else { unreachable!() };
        let got = db.get("wiped", id).unwrap();
        assert_eq!(got.payload, pt(*i).payload, "point {i}");
    }
    assert_eq!(
        db.get("wiped", &PointId::Num(7)).unwrap_err().code(),
        "point_not_found"
    );
    // The restored collection is durable on the new disk.
    db.upsert("wiped", vec![pt(4242)]).unwrap();
    drop(db);
    let db = Database::open_with(config(dir.path(), &env)).unwrap();
    assert_eq!(
        db.collection("wiped").unwrap().points,
        acknowledged.len() as u64 + 1
    );
    // Unknown everywhere: a 404 naming the collection, nothing created.
    assert_eq!(
        db.restore("never", "latest", true).unwrap_err().code(),
        "collection_not_found"
    );
    assert!(db.collection("never").is_err());
    // A name that is not a collection name never reaches the object store's keys.
    for bad in ["../wiped", "wiped/snapshots", ""] {
        assert_eq!(
            db.restore(bad, "latest", true).unwrap_err().code(),
            "collection_not_found",
            "{bad:?}"
        );
        assert_eq!(
            db.list_snapshots(bad).unwrap_err().code(),
            "collection_not_found",
            "{bad:?}"
        );
    }
}

#[test]
fn s3_damaged_object_is_refused_naming_it() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(config(dir.path(), &env)).unwrap();
    db.create_collection(CollectionConfig::new("dmg", 16, Metric::L2))
        .unwrap();
    db.upsert("dmg", (0..400).map(pt).collect()).unwrap();
    let snap = db.snapshot("dmg").unwrap();
    db.upsert("dmg", vec![pt(9000)]).unwrap();
    // Flip one byte of the Parquet file in the bucket, and drop the local copy so the
    // restore has to download it.
    let key = format!(
        "collections/dmg/snapshots/{}/points.parquet",
        snap.snapshot_id
    );
    let mut bytes = env.rt.block_on(env.store.get(&key)).unwrap().to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    env.rt.block_on(env.store.put(&key, bytes.into())).unwrap();
    std::fs::remove_dir_all(
        dir.path()
            .join("collections/dmg/snapshots")
            .join(&snap.snapshot_id),
    )
    .unwrap();
    let err = db.restore("dmg", &snap.snapshot_id, true).unwrap_err();
    assert_eq!(err.code(), "data_corruption", "{err}");
    assert!(err.message().contains("points.parquet"), "{err}");
    // The running collection is untouched, and so is the stored data.
    assert_eq!(db.collection("dmg").unwrap().points, 401);
    assert_eq!(
        db.get("dmg", &PointId::Num(9000)).unwrap().id,
        PointId::Num(9000)
    );

    // Same after a disk loss: the damaged snapshot is refused and no collection appears.
    drop(db);
    std::fs::remove_dir_all(dir.path()).unwrap();
    let db = Database::open_with(config(dir.path(), &env)).unwrap();
    let err = db.restore("dmg", &snap.snapshot_id, true).unwrap_err();
    assert_eq!(err.code(), "data_corruption", "{err}");
    assert!(err.message().contains("points.parquet"), "{err}");
    assert_eq!(
        db.collection("dmg").unwrap_err().code(),
        "collection_not_found"
    );
}

#[test]
fn s3_retention_and_drop_clean_the_bucket() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &env);
    c.snapshot_retention = 2;
    let db = Database::open_with(c).unwrap();
    db.create_collection(CollectionConfig::new("ret", 16, Metric::L2))
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..4u64 {
        db.upsert("ret", vec![pt(i)]).unwrap();
        ids.push(db.snapshot("ret").unwrap().snapshot_id);
    }
    let remote_ids = |prefix: &str| -> Vec<String> {
        let mut ids: Vec<String> = env
            .rt
            .block_on(env.store.list(prefix))
            .unwrap()
            .into_iter()
            .filter(|o| o.key.ends_with("/manifest.json"))
            .map(|o| o.key.split('/').nth(3).unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(remote_ids("collections/ret/"), ids[2..].to_vec());
    let listed: Vec<String> = db
        .list_snapshots("ret")
        .unwrap()
        .into_iter()
        .map(|s| s.snapshot_id)
        .collect();
    assert_eq!(listed, ids[2..].to_vec());
    // Dropping the collection removes its objects too.
    db.drop_collection("ret").unwrap();
    assert!(env
        .rt
        .block_on(env.store.list("collections/ret/"))
        .unwrap()
        .is_empty());
    assert_eq!(
        db.list_snapshots("ret").unwrap_err().code(),
        "collection_not_found"
    );
}

#[test]
fn s3_background_policy_moves_idle_collections_down() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &env);
    // Short real timeouts: the background tier loop, not a test call, moves the collections.
    c.tier.hot_idle = Duration::from_millis(300);
    c.tier.warm_idle = Duration::from_millis(900);
    c.tier.check_interval = Duration::from_millis(100);
    let db = Database::open_with(c).unwrap();
    for name in ["idle", "pinned"] {
        db.create_collection(CollectionConfig::new(name, 16, Metric::L2))
            .unwrap();
        db.upsert(name, (0..500).map(pt).collect()).unwrap();
    }
    db.pin("pinned").unwrap();
    let q = SearchRequest::new(pt(11).vector, 5);
    let before = db.search("idle", &q).unwrap();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while db.tier("idle").unwrap().tier != Tier::Cold {
        let t = db.tier("idle").unwrap().tier;
        if seen.last() != Some(&t) {
            seen.push(t);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {t:?} after 30 s (seen {seen:?})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        seen.contains(&Tier::Warm),
        "hot → warm → cold, seen {seen:?}"
    );
    assert_eq!(
        db.tier("pinned").unwrap().tier,
        Tier::Hot,
        "a pinned collection stays hot"
    );
    // Cold: nothing local, the snapshot is in the bucket. "cold" is recorded (durably)
    // before the local files go, so the removal may still be finishing: wait for it.
    let local = dir.path().join("collections/idle/snapshots");
    let removed_by = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&local).map_or(0, |d| d.count()) > 0 {
        assert!(
            std::time::Instant::now() < removed_by,
            "a cold collection kept its local snapshots for 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let objects = env
        .rt
        .block_on(env.store.list("collections/idle/snapshots/"))
        .unwrap();
    assert!(
        objects.iter().any(|o| o.key.ends_with("/points.parquet")),
        "{objects:?}"
    );
    // The next search promotes it and answers as before.
    assert_eq!(db.search("idle", &q).unwrap(), before);
    assert_eq!(db.tier("idle").unwrap().tier, Tier::Hot);
}
