//! A collection whose files are damaged is quarantined at open (or at load, for a warm one):
//! the others open and serve, the damaged one answers `collection_damaged` with the reason,
//! is listed as damaged, can be dropped, and a restore from the object store repairs it.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use akidb_core::{
    CollectionConfig, CollectionStatus, Metric, Payload, Point, PointId, SearchRequest, Tier,
};
use akidb_engine::{Database, EngineConfig};

fn pt(i: u64) -> Point {
    let v: Vec<f32> = (0..4)
        .map(|d| ((i * 31 + d * 7) % 17) as f32 - 8.0 + 0.5)
        .collect();
    let mut p = Payload::new();
    p.insert("i".into(), i.into());
    Point::new(i, v, p)
}

/// One WAL file per record, so a snapshot trims the WAL and is the only copy of the points.
fn small_wal(root: &Path) -> EngineConfig {
    let mut c = EngineConfig::new(root);
    c.wal_segment_bytes = 1;
    c
}

fn coll_dir(root: &Path, name: &str) -> PathBuf {
    root.join("collections").join(name)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Flips one byte in the middle of a file.
fn flip_middle(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

fn newest_snapshot(root: &Path, name: &str) -> PathBuf {
    files(&coll_dir(root, name).join("snapshots"))
        .into_iter()
        .rfind(|p| p.is_dir())
        .expect("a snapshot")
}

fn create(db: &Database, name: &str, n: u64) {
    db.create_collection(CollectionConfig::new(name, 4, Metric::L2))
        .unwrap();
    // One point per record, so the WAL has records in its middle to damage.
    for i in 0..n {
        db.upsert(name, vec![pt(i)]).unwrap();
    }
}

#[test]
fn damaged_collections_are_quarantined_and_the_others_serve() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    {
        let db = Database::open_with(small_wal(root)).unwrap();
        create(&db, "good", 20);
        create(&db, "wal", 20);
        create(&db, "snap", 20);
        db.snapshot("snap").unwrap();
        create(&db, "conf", 5);
        create(&db, "tierfile", 5);
        db.demote("tierfile", Tier::Warm).unwrap();
        db.shutdown().unwrap();
    }
    let wal = files(&coll_dir(root, "wal").join("wal"))[5].clone();
    flip_middle(&wal);
    let parquet = newest_snapshot(root, "snap").join("points.parquet");
    flip_middle(&parquet);
    fs::write(coll_dir(root, "conf").join("config.json"), b"{not json").unwrap();
    fs::write(coll_dir(root, "tierfile").join("tier.json"), b"\x00\x01").unwrap();

    let db = Database::open(root).expect("one damaged collection must not stop the database");
    // The healthy one serves reads, searches and writes.
    assert_eq!(db.get("good", &PointId::Num(7)).unwrap(), pt(7));
    let hits = db
        .search("good", &SearchRequest::new(pt(3).vector, 1))
        .unwrap();
    assert_eq!(hits[0].id, PointId::Num(3));
    db.upsert("good", vec![pt(100)]).unwrap();
    assert_eq!(
        db.collection("good").unwrap().status,
        CollectionStatus::Green
    );
    assert_eq!(db.collection("good").unwrap().reason, None);

    let expect = [
        (
            "wal",
            wal.file_name().unwrap().to_string_lossy().to_string(),
        ),
        ("snap", "points.parquet".to_string()),
        ("conf", "config.json".to_string()),
        ("tierfile", "tier.json".to_string()),
    ];
    for (name, needle) in &expect {
        let info = db.collection(name).unwrap();
        assert_eq!(info.status, CollectionStatus::Damaged, "{name}");
        let reason = info.reason.unwrap_or_default();
        assert!(reason.contains(needle), "{name}: reason {reason:?}");
        let err = db.get(name, &PointId::Num(1)).unwrap_err();
        assert_eq!(err.code(), "collection_damaged", "{name}: {err}");
        assert_eq!(err.kind(), akidb_core::ErrorKind::Unavailable);
        assert!(err.message().contains(needle), "{name}: {err}");
        for err in [
            db.upsert(name, vec![pt(1)]).unwrap_err(),
            db.search(name, &SearchRequest::new(pt(1).vector, 1))
                .unwrap_err(),
            db.snapshot(name).unwrap_err(),
            db.promote(name).unwrap_err(),
            db.demote(name, Tier::Warm).unwrap_err(),
        ] {
            assert_eq!(err.code(), "collection_damaged", "{name}: {err}");
        }
    }
    let listed: Vec<(String, CollectionStatus)> = db
        .list_collections()
        .into_iter()
        .map(|c| (c.name, c.status))
        .collect();
    assert_eq!(listed.len(), 5);
    assert_eq!(
        listed
            .iter()
            .filter(|(_, s)| *s == CollectionStatus::Damaged)
            .count(),
        4
    );
    let stats = db.stats();
    assert_eq!(stats.collections.iter().filter(|c| c.damaged).count(), 4);
    // The policy leaves quarantined collections alone.
    db.run_tier_policy(std::time::SystemTime::now() + std::time::Duration::from_secs(1 << 30));
    assert_eq!(
        db.collection("wal").unwrap().status,
        CollectionStatus::Damaged
    );

    // Dropping a damaged collection works and removes its files.
    db.drop_collection("conf").unwrap();
    assert!(!coll_dir(root, "conf").exists());
    assert_eq!(
        db.collection("conf").unwrap_err().code(),
        "collection_not_found"
    );
    drop(db);
    // Quarantine changes nothing on disk: still damaged after a restart, still serving the rest.
    let db = Database::open(root).unwrap();
    assert_eq!(
        db.collection("snap").unwrap().status,
        CollectionStatus::Damaged
    );
    assert_eq!(db.collection("good").unwrap().points, 21);
}

#[test]
fn warm_collection_damaged_on_disk_is_quarantined_when_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(small_wal(dir.path())).unwrap();
    create(&db, "w", 10);
    create(&db, "other", 3);
    db.demote("w", Tier::Warm).unwrap();
    flip_middle(&newest_snapshot(dir.path(), "w").join("points.parquet"));
    let err = db.get("w", &PointId::Num(1)).unwrap_err();
    assert_eq!(err.code(), "collection_damaged", "{err}");
    assert!(err.message().contains("points.parquet"), "{err}");
    assert_eq!(
        db.collection("w").unwrap().status,
        CollectionStatus::Damaged
    );
    assert_eq!(db.get("other", &PointId::Num(2)).unwrap(), pt(2));
}

#[test]
fn restore_from_the_object_store_repairs_a_damaged_collection() {
    let dir = tempfile::tempdir().unwrap();
    let objects = tempfile::tempdir().unwrap();
    let store: Arc<dyn akidb_storage::ObjectStore> =
        Arc::new(akidb_storage::LocalFs::new(objects.path()).unwrap());
    let config = || {
        let mut c = small_wal(dir.path());
        // Every snapshot is uploaded, as with S3.
        c.object_store = Some(store.clone());
        c
    };
    let snap = {
        let db = Database::open_with(config()).unwrap();
        create(&db, "r", 30);
        create(&db, "good", 3);
        let snap = db.snapshot("r").unwrap();
        assert!(snap.remote, "{snap:?}");
        db.shutdown().unwrap();
        snap
    };
    // The only local copy of the points is damaged.
    flip_middle(&newest_snapshot(dir.path(), "r").join("points.parquet"));
    let db = Database::open_with(config()).unwrap();
    assert_eq!(
        db.collection("r").unwrap().status,
        CollectionStatus::Damaged
    );
    let listed = db.list_snapshots("r").unwrap();
    assert!(
        listed
            .iter()
            .any(|s| s.snapshot_id == snap.snapshot_id && s.remote),
        "{listed:?}"
    );

    // The local copy has the same id and is damaged: the restore takes the remote one.
    let info = db.restore("r", "latest", true).unwrap();
    assert_eq!(info.status, CollectionStatus::Green);
    assert_eq!(info.reason, None);
    assert_eq!(info.points, 30);
    for i in 0..30 {
        assert_eq!(db.get("r", &PointId::Num(i)).unwrap(), pt(i), "point {i}");
    }
    db.upsert("r", vec![pt(500)]).unwrap();
    assert_eq!(db.get("good", &PointId::Num(1)).unwrap(), pt(1));
    drop(db);
    let db = Database::open_with(config()).unwrap();
    let info = db.collection("r").unwrap();
    assert_eq!(info.status, CollectionStatus::Green, "{info:?}");
    assert_eq!(info.points, 31);
    assert_eq!(db.get("r", &PointId::Num(500)).unwrap(), pt(500));
}
