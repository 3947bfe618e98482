//! Storage hardening (issue #15) seen through the embedded API: a snapshot manifest's LSN
//! cannot make recovery drop acknowledged writes, and string ids are either logged whole
//! or refused, never truncated.

use std::fs;
use std::path::{Path, PathBuf};

use akidb_core::{CollectionConfig, Metric, Payload, Point, PointId};
use akidb_engine::{Database, EngineConfig};
use akidb_storage::snapshot::MANIFEST_FILE;
use akidb_storage::wal::SUPERSEDED_PREFIX;

fn pt(id: impl Into<PointId>, i: u64) -> Point {
    let v: Vec<f32> = (0..4)
        .map(|d| ((i * 31 + d * 7) % 17) as f32 - 8.0)
        .collect();
    let mut p = Payload::new();
    p.insert("i".into(), i.into());
    Point::new(id, v, p)
}

fn coll_dir(dir: &Path) -> PathBuf {
    dir.join("collections").join("c")
}

fn newest_snapshot(dir: &Path) -> PathBuf {
    let mut snaps: Vec<PathBuf> = fs::read_dir(coll_dir(dir).join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    snaps.sort();
    snaps.pop().expect("a snapshot")
}

/// Rewrites the newest snapshot's manifest through `edit` (no checksum update).
fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
    let path = newest_snapshot(dir).join(MANIFEST_FILE);
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(v.as_object_mut().unwrap());
    fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// 10 points, a snapshot (LSN 10), 10 more points; then a crash (no shutdown).
fn ten_snapshot_ten(dir: &Path) {
    let db = Database::open(dir).unwrap();
    db.create_collection(CollectionConfig::new("c", 4, Metric::L2))
        .unwrap();
    for i in 0..10 {
        db.upsert("c", vec![pt(i, i)]).unwrap();
    }
    assert_eq!(db.snapshot("c").unwrap().lsn, 10);
    for i in 10..20 {
        db.upsert("c", vec![pt(i, i)]).unwrap();
    }
}

/// A manifest whose LSN was changed beyond the end of the WAL used to make recovery
/// delete every WAL file, losing the 10 writes after the snapshot. The manifest checksum
/// now refuses that snapshot and recovery replays the WAL instead.
#[test]
fn manifest_lsn_beyond_the_wal_does_not_lose_acknowledged_points() {
    let dir = tempfile::tempdir().unwrap();
    ten_snapshot_ten(dir.path());
    edit_manifest(dir.path(), |m| {
        m.insert("lsn".into(), 1_000_000.into());
    });
    let wal_dir = coll_dir(dir.path()).join("wal");
    let before: Vec<_> = fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();

    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.collection("c").unwrap().points, 20);
    for i in 0..20 {
        assert_eq!(
            db.get("c", &PointId::Num(i)).unwrap(),
            pt(i, i),
            "point {i}"
        );
    }
    for f in &before {
        assert!(f.is_file(), "{} was removed", f.display());
    }
    // The log continues after its own end, not after the bogus LSN.
    db.upsert("c", vec![pt(20, 20)]).unwrap();
    drop(db);
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.collection("c").unwrap().points, 21);
}

/// A manifest from before manifests were checksummed is still trusted for replay, but its
/// LSN never deletes WAL files: records it claims to cover are set aside on disk.
#[test]
fn unchecksummed_manifest_lsn_beyond_the_wal_keeps_the_wal_files() {
    let dir = tempfile::tempdir().unwrap();
    ten_snapshot_ten(dir.path());
    edit_manifest(dir.path(), |m| {
        m.remove("manifest_sha256");
        m.insert("lsn".into(), 1_000_000.into());
    });
    let wal_dir = coll_dir(dir.path()).join("wal");
    let before: Vec<(std::ffi::OsString, Vec<u8>)> = fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name(), fs::read(e.path()).unwrap()))
        .collect();
    assert!(!before.is_empty());

    let db = Database::open(dir.path()).unwrap();
    // The snapshot's points are there; nothing was deleted.
    assert_eq!(db.get("c", &PointId::Num(9)).unwrap(), pt(9, 9));
    let aside = wal_dir.join(format!("{SUPERSEDED_PREFIX}{:020}", 1_000_000));
    for (name, bytes) in &before {
        assert_eq!(&fs::read(aside.join(name)).unwrap(), bytes, "{name:?}");
    }
}

/// The longest id the WAL format holds (65,535 bytes) survives the WAL, a snapshot (whose
/// reader used to refuse ids over 256 bytes) and a restart whose WAL no longer has the
/// records the snapshot covers.
#[test]
fn longest_string_id_round_trips_through_snapshot_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EngineConfig::new(dir.path());
    // One record per WAL file, so the snapshot lets the WAL drop the early files.
    cfg.wal_segment_bytes = 4096;
    let in_snapshot = PointId::Str("k".repeat(65_535));
    let in_wal = PointId::Str("w".repeat(65_535));
    {
        let db = Database::open_with(cfg.clone()).unwrap();
        db.create_collection(CollectionConfig::new("c", 4, Metric::L2))
            .unwrap();
        db.upsert("c", vec![pt(in_snapshot.clone(), 1)]).unwrap();
        db.upsert("c", vec![pt(2, 2)]).unwrap();
        db.snapshot("c").unwrap();
        db.upsert("c", vec![pt(in_wal.clone(), 3)]).unwrap();
    }
    let db = Database::open_with(cfg).unwrap();
    assert_eq!(db.collection("c").unwrap().points, 3);
    assert_eq!(
        db.get("c", &in_snapshot).unwrap(),
        pt(in_snapshot.clone(), 1)
    );
    assert_eq!(db.get("c", &in_wal).unwrap(), pt(in_wal.clone(), 3));
}

/// A string id the WAL cannot hold is refused as invalid input and nothing of its batch
/// is stored (it used to be logged with a wrapped `u16` length and corrupt the record).
#[test]
fn overlong_string_id_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        db.create_collection(CollectionConfig::new("c", 4, Metric::L2))
            .unwrap();
        let overlong = PointId::Str("x".repeat(70_000));
        let err = db
            .upsert("c", vec![pt(1, 1), pt(overlong.clone(), 2)])
            .unwrap_err();
        assert_eq!(err.code(), "invalid_id", "{err}");
        assert_eq!(err.kind(), akidb_core::ErrorKind::InvalidArgument);
        assert!(err.message().contains("70000"), "{err}");
        assert_eq!(db.collection("c").unwrap().points, 0);
        assert_eq!(
            db.get("c", &overlong).unwrap_err().code(),
            "point_not_found"
        );
    }
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.collection("c").unwrap().points, 0);
    assert_eq!(
        db.get("c", &PointId::Num(1)).unwrap_err().code(),
        "point_not_found"
    );
}
