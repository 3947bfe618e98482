//! Tiering with the embedded LocalFs object store: hot / warm / cold round trips, the
//! policy, persistence of the tier across restarts, snapshot upload and restore.

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use akidb_core::{
    CollectionConfig, Metric, Observer, Payload, Point, PointId, SearchRequest, Tier,
};
use akidb_engine::{Database, EngineConfig};

#[derive(Default)]
struct Transitions(Mutex<Vec<(Tier, Tier)>>);

impl Observer for Transitions {
    fn tier_transition(&self, from: Tier, to: Tier) {
        self.0.lock().unwrap().push((from, to));
    }
}

fn pt(i: u64) -> Point {
    let v: Vec<f32> = (0..8)
        .map(|d| ((i * 13 + d * 5) % 11) as f32 - 5.0 + d as f32 * 0.01)
        .collect();
    let mut p = Payload::new();
    p.insert("i".into(), i.into());
    Point::new(i, v, p)
}

fn files_under(dir: &Path) -> usize {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| {
            if e.path().is_dir() {
                files_under(&e.path())
            } else {
                1
            }
        })
        .sum()
}

fn config(dir: &Path, obs: Arc<Transitions>) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.segment_max_points = 200;
    c.observer = obs;
    c
}

#[test]
fn cold_round_trip_gives_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let obs = Arc::new(Transitions::default());
    let db = Database::open_with(config(dir.path(), obs.clone())).unwrap();
    db.create_collection(CollectionConfig::new("c", 8, Metric::L2))
        .unwrap();
    db.upsert("c", (0..700).map(pt).collect()).unwrap();
    db.delete("c", &[PointId::Num(1)]).unwrap();
    assert!(db.wait_indexed("c", Duration::from_secs(60)).unwrap());
    let q = SearchRequest::new(pt(42).vector, 10);
    let before = db.search("c", &q).unwrap();

    let info = db.demote("c", Tier::Cold).unwrap();
    assert_eq!(info.tier, Tier::Cold);
    assert_eq!(info.bytes_in_memory, 0);
    let coll = dir.path().join("collections/c");
    assert_eq!(
        files_under(&coll.join("snapshots")),
        0,
        "local snapshot files are gone"
    );
    assert_eq!(
        files_under(&coll.join("wal")),
        0,
        "local WAL files are gone"
    );
    let remote = dir.path().join("objects/collections/c/snapshots");
    assert!(files_under(&remote) >= 2, "objects exist in the store");
    // Metadata stays local and never promotes.
    assert_eq!(db.collection("c").unwrap().tier, Tier::Cold);
    assert_eq!(db.collection("c").unwrap().points, 699);
    assert_eq!(db.list_collections()[0].tier, Tier::Cold);
    assert_eq!(db.tier("c").unwrap().tier, Tier::Cold);

    // The tier survives a restart.
    drop(db);
    let db = Database::open_with(config(dir.path(), obs.clone())).unwrap();
    assert_eq!(db.tier("c").unwrap().tier, Tier::Cold);
    assert_eq!(db.collection("c").unwrap().points, 699);

    // A search promotes transparently and answers exactly as before.
    assert_eq!(db.search("c", &q).unwrap(), before);
    assert_eq!(db.tier("c").unwrap().tier, Tier::Hot);
    assert!(db.tier("c").unwrap().bytes_in_memory > 0);
    assert_eq!(
        db.stats().collections[0].indexes_built,
        0,
        "graphs come from the snapshot"
    );
    let seen = obs.0.lock().unwrap().clone();
    assert!(seen.contains(&(Tier::Hot, Tier::Warm)));
    assert!(seen.contains(&(Tier::Warm, Tier::Cold)));
    assert!(seen.contains(&(Tier::Cold, Tier::Hot)));
    // Writes after promotion work and survive a restart.
    db.upsert("c", vec![pt(5000)]).unwrap();
    drop(db);
    let db = Database::open_with(config(dir.path(), obs)).unwrap();
    assert_eq!(db.collection("c").unwrap().points, 700);
}

#[test]
fn warm_pin_and_policy() {
    let dir = tempfile::tempdir().unwrap();
    let obs = Arc::new(Transitions::default());
    let mut cfg = config(dir.path(), obs);
    cfg.tier.hot_idle = Duration::from_secs(600);
    cfg.tier.warm_idle = Duration::from_secs(3600);
    cfg.tier.check_interval = Duration::from_secs(3600);
    let db = Database::open_with(cfg).unwrap();
    for name in ["a", "b", "p"] {
        db.create_collection(CollectionConfig::new(name, 8, Metric::Cosine))
            .unwrap();
        db.upsert(name, (0..50).map(pt).collect()).unwrap();
    }
    db.pin("p").unwrap();
    assert_eq!(
        db.demote("p", Tier::Warm).unwrap_err().code(),
        "collection_pinned"
    );

    let w = db.demote("a", Tier::Warm).unwrap();
    assert_eq!(w.tier, Tier::Warm);
    assert_eq!(w.bytes_in_memory, 0);
    assert!(w.bytes_on_disk > 0);
    // get promotes.
    assert_eq!(db.get("a", &PointId::Num(3)).unwrap().id, PointId::Num(3));
    assert_eq!(db.tier("a").unwrap().tier, Tier::Hot);

    // Nothing is idle yet.
    assert!(db.run_tier_policy(SystemTime::now()).is_empty());
    // 11 minutes later a and b are idle; p is pinned.
    let later = SystemTime::now() + Duration::from_secs(660);
    let mut moved = db.run_tier_policy(later);
    moved.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        moved,
        vec![("a".to_string(), Tier::Warm), ("b".to_string(), Tier::Warm)]
    );
    assert_eq!(db.tier("p").unwrap().tier, Tier::Hot);
    // Two hours later the warm ones go cold.
    let much_later = SystemTime::now() + Duration::from_secs(7200);
    let mut moved = db.run_tier_policy(much_later);
    moved.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        moved,
        vec![("a".to_string(), Tier::Cold), ("b".to_string(), Tier::Cold)]
    );
    db.unpin("p").unwrap();
    assert_eq!(
        db.search("b", &SearchRequest::new(pt(1).vector, 1))
            .unwrap()[0]
            .id,
        PointId::Num(1)
    );
    assert_eq!(db.tier("b").unwrap().tier, Tier::Hot);
}

#[test]
fn memory_budget_evicts_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let obs = Arc::new(Transitions::default());
    let mut cfg = config(dir.path(), obs);
    cfg.tier.check_interval = Duration::from_secs(3600);
    cfg.tier.hot_memory_budget = Some(1);
    let db = Database::open_with(cfg).unwrap();
    for name in ["old", "new"] {
        db.create_collection(CollectionConfig::new(name, 8, Metric::L2))
            .unwrap();
        db.upsert(name, (0..50).map(pt).collect()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let moved = db.run_tier_policy(SystemTime::now());
    assert_eq!(
        moved[0],
        ("old".to_string(), Tier::Warm),
        "least recently used goes first: {moved:?}"
    );
}

#[test]
fn restore_from_object_store_after_wiping_the_data_dir() {
    let store_dir = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mk = |d: &Path| {
        let mut c = EngineConfig::new(d);
        c.segment_max_points = 100;
        c.object_store = Some(Arc::new(
            akidb_storage::LocalFs::new(store_dir.path()).unwrap(),
        ));
        c
    };
    let cc = CollectionConfig::new("r", 8, Metric::Dot);
    {
        let db = Database::open_with(mk(dir.path())).unwrap();
        db.create_collection(cc.clone()).unwrap();
        db.upsert("r", (0..300).map(pt).collect()).unwrap();
        let snap = db.snapshot("r").unwrap();
        assert_eq!(snap.rows, 300);
        // Written after the snapshot: restore to the snapshot drops it.
        db.upsert("r", vec![pt(999)]).unwrap();
        let info = db.restore("r", &snap.snapshot_id, true).unwrap();
        assert_eq!(info.points, 300);
        assert_eq!(
            db.get("r", &PointId::Num(999)).unwrap_err().code(),
            "point_not_found"
        );
        db.upsert("r", vec![pt(1000)]).unwrap();
        db.snapshot("r").unwrap();
    }
    {
        let db = Database::open_with(mk(dir.path())).unwrap();
        assert_eq!(
            db.collection("r").unwrap().points,
            301,
            "restore is durable"
        );
    }
    fs::remove_dir_all(dir.path()).unwrap();
    let db = Database::open_with(mk(dir.path())).unwrap();
    db.create_collection(cc).unwrap();
    let info = db.restore("r", "latest", true).unwrap();
    assert_eq!(info.points, 301);
    for i in (0..300).chain([1000]) {
        assert_eq!(db.get("r", &PointId::Num(i)).unwrap(), {
            let mut p = pt(i);
            p.vector = Metric::Dot.prepare(&p.vector).unwrap();
            p
        });
    }
    assert_eq!(
        db.restore("r", "nope-1", true).unwrap_err().code(),
        "snapshot_not_found"
    );
}

#[test]
fn damaged_snapshot_is_refused_naming_the_file() {
    let store_dir = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut c = EngineConfig::new(dir.path());
    c.object_store = Some(Arc::new(
        akidb_storage::LocalFs::new(store_dir.path()).unwrap(),
    ));
    let db = Database::open_with(c).unwrap();
    db.create_collection(CollectionConfig::new("d", 8, Metric::L2))
        .unwrap();
    db.upsert("d", (0..100).map(pt).collect()).unwrap();
    let snap = db.snapshot("d").unwrap();
    db.upsert("d", vec![pt(500)]).unwrap();
    // Remove the local copy so restore must use the object store, then damage it there.
    fs::remove_dir_all(
        dir.path()
            .join("collections/d/snapshots")
            .join(&snap.snapshot_id),
    )
    .unwrap();
    let remote = store_dir
        .path()
        .join("collections/d/snapshots")
        .join(&snap.snapshot_id)
        .join("points.parquet");
    let mut bytes = fs::read(&remote).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&remote, bytes).unwrap();
    let err = db.restore("d", &snap.snapshot_id, true).unwrap_err();
    assert_eq!(err.code(), "data_corruption");
    assert!(err.message().contains("points.parquet"), "{err}");
    // The running collection is untouched.
    assert_eq!(db.collection("d").unwrap().points, 101);
    assert_eq!(
        db.get("d", &PointId::Num(500)).unwrap().id,
        PointId::Num(500)
    );
}
