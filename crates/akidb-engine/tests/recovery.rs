//! Crash recovery: drop without shutdown, torn WAL tails at every byte offset, corruption
//! in the middle of the log (quarantines the collection), and restart from a snapshot without rebuilding indexes.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use akidb_core::{CollectionConfig, Metric, Payload, Point, PointId, SearchRequest};
use akidb_engine::{Database, EngineConfig};

fn pt(i: u64, dim: usize) -> Point {
    let v: Vec<f32> = (0..dim)
        .map(|d| ((i * 31 + d as u64 * 7) % 17) as f32 - 8.0)
        .collect();
    let mut p = Payload::new();
    p.insert("i".into(), i.into());
    Point::new(i, v, p)
}

fn wal_files(dir: &Path, coll: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("collections").join(coll).join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn drop_without_shutdown_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        db.create_collection(CollectionConfig::new("c", 8, Metric::L2))
            .unwrap();
        for i in 0..50 {
            db.upsert("c", vec![pt(i, 8)]).unwrap();
        }
        db.delete("c", &[PointId::Num(3)]).unwrap();
        // No shutdown: the database is simply dropped, like a crash after the last ack.
    }
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.collection("c").unwrap().points, 49);
    assert_eq!(
        db.get("c", &PointId::Num(3)).unwrap_err().code(),
        "point_not_found"
    );
    assert_eq!(db.get("c", &PointId::Num(49)).unwrap(), pt(49, 8));
}

#[test]
fn torn_wal_tail_gives_exactly_an_acknowledged_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let mut ends = Vec::new();
    {
        let db = Database::open(dir.path()).unwrap();
        db.create_collection(CollectionConfig::new("c", 4, Metric::Dot))
            .unwrap();
        for i in 0..12 {
            db.upsert("c", vec![pt(i, 4)]).unwrap();
            let f = wal_files(dir.path(), "c");
            assert_eq!(f.len(), 1);
            ends.push(fs::metadata(&f[0]).unwrap().len());
        }
        db.shutdown().unwrap();
    }
    let wal = wal_files(dir.path(), "c")[0].clone();
    let full = fs::read(&wal).unwrap();
    let start = ends[ends.len() - 4] as usize - 3;
    for cut in start..=full.len() {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        let name = wal.file_name().unwrap();
        let target = copy.path().join("collections/c/wal").join(name);
        fs::write(&target, &full[..cut]).unwrap();
        let db = Database::open(copy.path()).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let expect = ends.iter().filter(|&&e| e as usize <= cut).count() as u64;
        assert_eq!(
            db.collection("c").unwrap().points,
            expect,
            "cut at byte {cut}"
        );
        for i in 0..expect {
            assert_eq!(db.get("c", &PointId::Num(i)).unwrap(), pt(i, 4));
        }
        // The log stays appendable after the torn tail was cut.
        db.upsert("c", vec![pt(100, 4)]).unwrap();
        drop(db);
        let db = Database::open(copy.path()).unwrap();
        assert_eq!(db.collection("c").unwrap().points, expect + 1);
    }
}

#[test]
fn corruption_in_the_middle_quarantines_the_collection_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        db.create_collection(CollectionConfig::new("c", 4, Metric::L2))
            .unwrap();
        for i in 0..10 {
            db.upsert("c", vec![pt(i, 4)]).unwrap();
        }
    }
    let wal = wal_files(dir.path(), "c")[0].clone();
    let mut bytes = fs::read(&wal).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&wal, &bytes).unwrap();
    // Nothing is skipped silently: the collection is quarantined, naming the file.
    let db = Database::open(dir.path()).unwrap();
    let err = db.get("c", &PointId::Num(1)).unwrap_err();
    assert_eq!(err.code(), "collection_damaged");
    assert!(err.message().contains("data_corruption"), "{err}");
    assert!(
        err.message()
            .contains(&wal.file_name().unwrap().to_string_lossy().to_string()),
        "{err}"
    );
}

#[test]
fn restart_after_snapshot_loads_graphs_instead_of_rebuilding() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |d: &Path| {
        let mut c = EngineConfig::new(d);
        c.segment_max_points = 300;
        c
    };
    let query = SearchRequest::new(pt(7, 16).vector, 10);
    let before;
    {
        let db = Database::open_with(cfg(dir.path())).unwrap();
        db.create_collection(CollectionConfig::new("s", 16, Metric::Cosine))
            .unwrap();
        let batch: Vec<Point> = (0..1000).map(|i| pt(i, 16)).collect();
        db.upsert("s", batch).unwrap();
        assert!(db.wait_indexed("s", Duration::from_secs(60)).unwrap());
        let snap = db.snapshot("s").unwrap();
        assert_eq!(snap.lsn, 1);
        // More writes after the snapshot: replayed from the WAL.
        db.upsert("s", (1000..1100).map(|i| pt(i, 16)).collect())
            .unwrap();
        db.delete("s", &[PointId::Num(5)]).unwrap();
        before = db.search("s", &query).unwrap();
        assert_eq!(db.list_snapshots("s").unwrap().len(), 1);
    }
    let db = Database::open_with(cfg(dir.path())).unwrap();
    let stats = &db.stats().collections[0];
    assert_eq!(
        stats.indexes_loaded, 3,
        "the three sealed graphs come from the snapshot"
    );
    assert_eq!(stats.indexes_built, 0, "no index was rebuilt");
    assert_eq!(db.collection("s").unwrap().points, 1099);
    assert_eq!(
        db.get("s", &PointId::Num(5)).unwrap_err().code(),
        "point_not_found"
    );
    assert_eq!(
        db.get("s", &PointId::Num(1050)).unwrap().id,
        PointId::Num(1050)
    );
    assert_eq!(db.search("s", &query).unwrap(), before);
}

#[test]
fn wal_growth_triggers_an_automatic_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EngineConfig::new(dir.path());
    cfg.wal_snapshot_bytes = 20_000;
    cfg.wal_segment_bytes = 8_000;
    cfg.snapshot_retention = 2;
    let db = Database::open_with(cfg.clone()).unwrap();
    db.create_collection(CollectionConfig::new("a", 32, Metric::L2))
        .unwrap();
    for i in 0..200 {
        db.upsert("a", vec![pt(i, 32)]).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while db.list_snapshots("a").unwrap().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let snaps = db.list_snapshots("a").unwrap();
    assert!(!snaps.is_empty(), "an automatic snapshot was taken");
    assert!(snaps.len() <= 2, "retention keeps at most 2: {snaps:?}");
    // Old WAL files covered by the snapshot were removed (the first file starts at lsn 1).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while wal_files(dir.path(), "a")[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .contains("00000000000000000001")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let first = wal_files(dir.path(), "a")[0].clone();
    assert!(
        !first
            .file_name()
            .unwrap()
            .to_string_lossy()
            .contains("00000000000000000001"),
        "{first:?}"
    );
    drop(db);
    let db = Database::open_with(cfg).unwrap();
    assert_eq!(db.collection("a").unwrap().points, 200);
    assert_eq!(db.get("a", &PointId::Num(199)).unwrap(), pt(199, 32));
}
