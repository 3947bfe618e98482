//! Crash-point tests (issue #15): for every crash point of `akidb_storage::crash::POINTS`, a
//! child process (this test binary, running `crash_child`) runs a workload with
//! `AKIDB_CRASH_AT=<point>:<skip>` and must die by SIGABRT at that point. The parent then
//! reopens the data directory and checks that every acknowledged write is there (and every
//! acknowledged delete is not), that the collection opens undamaged, and that the object
//! store holds no snapshot that a later restore would trust wrongly: every snapshot with a
//! manifest verifies, and a restore into an empty data directory from a copy of the store
//! gives a collection whose points are exactly what was written.
//!
//! ```sh
//! cargo test -p akidb-engine --test crash_points -- --nocapture
//! AKIDB_CRASH_ONLY=freeze. cargo test -p akidb-engine --test crash_points   # a subset
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use akidb_core::{CollectionConfig, CollectionStatus, Metric, Payload, Point, PointId, Tier};
use akidb_engine::{Database, EngineConfig};
use akidb_storage::{crash, BreakerConfig, LocalFs};

/// `<workload>|<data dir>`: set for the child only.
const CHILD_ENV: &str = "AKIDB_CRASH_CHILD";
/// Optional substring filter on point names, to run a subset by hand.
const ONLY_ENV: &str = "AKIDB_CRASH_ONLY";
const SIGABRT: i32 = 6;

/// The workloads; each passes through its points in a fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// Writes (one WAL file per record), deletes, compaction, two snapshots uploaded to the
    /// store with retention 1 (so local and remote retention delete the first).
    Write,
    /// hot → cold (evict, freeze), cold → hot on a read, writes, hot → cold again.
    Tier,
    /// A snapshot whose upload fails (every file dead-lettered), then a DLQ retry.
    Dlq,
    /// Restore of a healthy collection to an older local snapshot.
    Restore,
    /// Restore (repair) of a collection quarantined for a damaged WAL.
    Repair,
    /// Disaster recovery: restore into a second, empty data dir (`<dir>/b`) from the store
    /// that the first one uploaded to.
    Missing,
}

/// Every case: crash point, passes to let by, workload. Each point of `crash::POINTS` is
/// here at least once (checked); several get a later pass too.
const CASES: &[(&str, u64, Workload)] = &[
    ("wal.rotate.after_sync_old", 0, Workload::Write),
    ("wal.rotate.after_sync_old", 5, Workload::Write),
    ("wal.rotate.after_create", 0, Workload::Write),
    ("wal.rotate.after_create", 5, Workload::Write),
    ("wal.rotate.after_dir_sync", 0, Workload::Write),
    ("wal.rotate.after_dir_sync", 5, Workload::Write),
    ("wal.truncate.after_remove", 0, Workload::Write),
    ("wal.truncate.after_remove", 3, Workload::Write),
    ("compact.after_pick", 0, Workload::Write),
    ("compact.after_copy", 0, Workload::Write),
    ("compact.after_swap", 0, Workload::Write),
    ("snapshot.write.after_graph", 0, Workload::Write),
    ("snapshot.write.after_points", 0, Workload::Write),
    ("snapshot.write.after_files", 0, Workload::Write),
    ("snapshot.write.after_manifest", 0, Workload::Write),
    ("snapshot.write.after_rename", 0, Workload::Write),
    ("snapshot.write.after_dir_sync", 0, Workload::Write),
    ("snapshot.write.after_dir_sync", 1, Workload::Write),
    ("snapshot.retention.after_remove", 0, Workload::Write),
    ("upload.after_object", 0, Workload::Write),
    ("upload.after_object", 1, Workload::Write),
    ("upload.before_manifest", 0, Workload::Write),
    ("upload.after_manifest", 0, Workload::Write),
    ("upload.before_manifest", 1, Workload::Write),
    ("upload.prune.after_delete", 0, Workload::Write),
    ("upload.prune.after_delete", 1, Workload::Write),
    ("evict.after_snapshot", 0, Workload::Tier),
    ("upload_dir.after_object", 0, Workload::Tier),
    ("upload_dir.after_object", 1, Workload::Tier),
    ("upload_dir.before_manifest", 0, Workload::Tier),
    ("freeze.after_upload", 0, Workload::Tier),
    ("freeze.after_record_cold", 0, Workload::Tier),
    ("freeze.after_remove_snapshots", 0, Workload::Tier),
    ("freeze.after_remove_wal", 0, Workload::Tier),
    ("download.after_object", 0, Workload::Tier),
    ("download.after_object", 1, Workload::Tier),
    ("thaw.after_download", 0, Workload::Tier),
    ("thaw.after_open", 0, Workload::Tier),
    ("thaw.after_record_hot", 0, Workload::Tier),
    ("freeze.after_upload", 1, Workload::Tier),
    ("freeze.after_remove_wal", 1, Workload::Tier),
    ("dlq.append.after_tmp", 0, Workload::Dlq),
    ("dlq.append.after_tmp", 1, Workload::Dlq),
    ("dlq.append.after_rename", 0, Workload::Dlq),
    ("dlq.append.after_rename", 2, Workload::Dlq),
    ("dlq.retry.after_upload", 0, Workload::Dlq),
    ("dlq.retry.after_upload", 1, Workload::Dlq),
    ("dlq.retry.after_upload", 2, Workload::Dlq),
    ("dlq.retry.after_remove", 0, Workload::Dlq),
    ("dlq.retry.after_remove", 2, Workload::Dlq),
    ("restore.swap.before_snapshot", 0, Workload::Restore),
    ("restore.swap.after_snapshot", 0, Workload::Restore),
    ("repair.after_fetch", 0, Workload::Repair),
    ("repair.before_swap", 0, Workload::Repair),
    ("repair.swap.after_move_old", 0, Workload::Repair),
    ("repair.swap.after_move_new", 0, Workload::Repair),
    ("restore.missing.after_create", 0, Workload::Missing),
];

const DIM: usize = 4;

fn pt(i: u64) -> Point {
    let v = vec![
        i as f32,
        (i % 7) as f32 - 3.0,
        1.0 + (i % 3) as f32,
        -(i as f32) / 3.0,
    ];
    let mut p = Payload::new();
    p.insert("i".into(), i.into());
    Point::new(i, v, p)
}

fn config(w: Workload, dir: &Path) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.segment_max_points = 20;
    // Only explicit compactions, so the crash happens where the workload says.
    c.compaction_deleted_ratio = 0.95;
    c.breaker = BreakerConfig {
        consecutive_failures: 1_000,
        failure_rate: 1.0,
        window: 1_000,
        min_calls: 1_000,
        cool_down: Duration::from_millis(1),
        half_open_successes: 1,
    };
    match w {
        // One WAL file per record: rotations, and truncations that remove several files.
        Workload::Write | Workload::Tier | Workload::Repair => c.wal_segment_bytes = 1,
        Workload::Dlq | Workload::Restore | Workload::Missing => {}
    }
    match w {
        Workload::Write => {
            c.snapshot_retention = 1;
            c.object_store = Some(Arc::new(LocalFs::new(dir.join("objects")).unwrap()));
        }
        Workload::Dlq => {
            c.object_store = Some(Arc::new(LocalFs::new(dir.join("objects")).unwrap()));
        }
        Workload::Missing => {
            // `dir` is the first data dir or `<it>/b`; both share `<first>/objects`.
            let first = if dir.ends_with("b") {
                dir.parent().unwrap()
            } else {
                dir
            };
            c.object_store = Some(Arc::new(LocalFs::new(first.join("objects")).unwrap()));
        }
        // The cold tier's default store: LocalFs at `<data_dir>/objects`, written only by
        // freeze (Tier) or never (Restore, Repair).
        Workload::Tier | Workload::Restore | Workload::Repair => {}
    }
    c
}

/// The child's record of what it asked for and what was acknowledged, fsynced line by line
/// so that it survives the abort that follows.
struct Acks(File);

impl Acks {
    fn open(dir: &Path) -> Self {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("acks.log"))
            .unwrap();
        Acks(f)
    }

    fn line(&mut self, s: &str) {
        writeln!(self.0, "{s}").unwrap();
        self.0.sync_data().unwrap();
    }

    fn upsert(&mut self, db: &Database, ids: std::ops::Range<u64>) {
        let list: Vec<String> = ids.clone().map(|i| i.to_string()).collect();
        self.line(&format!("try u {}", list.join(" ")));
        db.upsert("c", ids.map(pt).collect()).unwrap();
        self.line("ok");
    }

    fn delete(&mut self, db: &Database, ids: std::ops::Range<u64>) {
        let list: Vec<String> = ids.clone().map(|i| i.to_string()).collect();
        self.line(&format!("try d {}", list.join(" ")));
        let ids: Vec<PointId> = ids.map(PointId::Num).collect();
        db.delete("c", &ids).unwrap();
        self.line("ok");
    }
}

/// What the acknowledgement log says must hold after the restart.
#[derive(Debug, Default)]
struct Expected {
    /// Acknowledged upserts not deleted since.
    live: BTreeSet<u64>,
    /// Acknowledged deletes not upserted since.
    deleted: BTreeSet<u64>,
    /// The write in flight at the crash (either outcome is right): `(is_upsert, ids)`.
    in_flight: Option<(bool, Vec<u64>)>,
}

fn read_acks(dir: &Path) -> Expected {
    let text = fs::read_to_string(dir.join("acks.log")).unwrap_or_default();
    let mut e = Expected::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("try") => {
                let upsert = words.next() == Some("u");
                let ids = words.map(|w| w.parse().unwrap()).collect();
                e.in_flight = Some((upsert, ids));
            }
            Some("ok") => {
                let (upsert, ids) = e.in_flight.take().expect("ok after try");
                for id in ids {
                    if upsert {
                        e.live.insert(id);
                        e.deleted.remove(&id);
                    } else {
                        e.live.remove(&id);
                        e.deleted.insert(id);
                    }
                }
            }
            Some("#") => {}
            _ => panic!("bad line in acks.log: {line:?}"),
        }
    }
    e
}

/// Makes the object store fail (its root becomes a file) or work again.
fn store_down(dir: &Path, down: bool) {
    let root = dir.join("objects");
    let aside = dir.join("objects.up");
    if down {
        fs::rename(&root, &aside).unwrap();
        fs::write(&root, b"the object store is down").unwrap();
    } else if aside.exists() {
        fs::remove_file(&root).unwrap();
        fs::rename(&aside, &root).unwrap();
    }
}

fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.join("collections/c/wal"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    v
}

/// The child: runs the workload; the armed crash point aborts it somewhere inside.
fn run_workload(w: Workload, dir: &Path) {
    let mut acks = Acks::open(dir);
    let db = Database::open_with(config(w, dir)).unwrap();
    db.create_collection(CollectionConfig::new("c", DIM, Metric::L2))
        .unwrap();
    let indexed = |db: &Database| assert!(db.wait_indexed("c", Duration::from_secs(60)).unwrap());
    match w {
        Workload::Write => {
            for b in 0..8 {
                acks.upsert(&db, b * 5..b * 5 + 5);
            }
            indexed(&db);
            acks.delete(&db, 0..10);
            db.compact("c").unwrap();
            indexed(&db);
            db.snapshot("c").unwrap();
            acks.upsert(&db, 40..45);
            acks.upsert(&db, 45..50);
            db.snapshot("c").unwrap();
            acks.upsert(&db, 50..55);
        }
        Workload::Tier => {
            for b in 0..3 {
                acks.upsert(&db, b * 10..b * 10 + 10);
            }
            indexed(&db);
            db.demote("c", Tier::Cold).unwrap();
            assert_eq!(db.get("c", &PointId::Num(3)).unwrap(), pt(3));
            acks.upsert(&db, 30..35);
            acks.upsert(&db, 35..40);
            db.demote("c", Tier::Cold).unwrap();
        }
        Workload::Dlq => {
            for b in 0..3 {
                acks.upsert(&db, b * 10..b * 10 + 10);
            }
            indexed(&db);
            store_down(dir, true);
            // Durable locally; every file of the upload goes to the dead-letter queue.
            db.snapshot("c").unwrap();
            assert!(db.dlq().len() >= 3, "{:?}", db.dlq());
            acks.upsert(&db, 30..35);
            store_down(dir, false);
            let report = db.dlq_retry_all();
            assert_eq!(report.remaining, 0, "{report:?}");
        }
        Workload::Restore => {
            acks.upsert(&db, 0..10);
            acks.upsert(&db, 10..20);
            let snap = db.snapshot("c").unwrap();
            acks.upsert(&db, 20..30);
            acks.line(&format!("# restore {}", snap.snapshot_id));
            db.restore("c", &snap.snapshot_id, true).unwrap();
        }
        Workload::Repair => {
            acks.upsert(&db, 0..20);
            db.snapshot("c").unwrap();
            for i in 20..25 {
                acks.upsert(&db, i..i + 1);
            }
            drop(db);
            // A damaged record in a WAL file that is not the last: not a torn tail.
            let wal = wal_files(dir);
            assert!(wal.len() >= 3, "{wal:?}");
            let mut bytes = fs::read(&wal[1]).unwrap();
            let at = bytes.len() - 3;
            bytes[at] ^= 0x40;
            fs::write(&wal[1], bytes).unwrap();
            let db = Database::open_with(config(w, dir)).unwrap();
            assert_eq!(
                db.collection("c").unwrap().status,
                CollectionStatus::Damaged
            );
            db.restore("c", "latest", true).unwrap();
        }
        Workload::Missing => {
            acks.upsert(&db, 0..20);
            db.snapshot("c").unwrap();
            drop(db);
            let b = Database::open_with(config(w, &dir.join("b"))).unwrap();
            b.restore("c", "latest", true).unwrap();
        }
    }
}

/// The child entry point: does nothing unless the parent set `AKIDB_CRASH_CHILD`.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (w, dir) = spec.split_once('|').unwrap();
    let w = match w {
        "Write" => Workload::Write,
        "Tier" => Workload::Tier,
        "Dlq" => Workload::Dlq,
        "Restore" => Workload::Restore,
        "Repair" => Workload::Repair,
        "Missing" => Workload::Missing,
        other => panic!("unknown workload {other}"),
    };
    run_workload(w, Path::new(dir));
}

/// The ids present in collection `c` (every one read back by id and compared).
fn present_ids(db: &Database, candidates: impl Iterator<Item = u64>, why: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for i in candidates {
        match db.get("c", &PointId::Num(i)) {
            Ok(p) => {
                assert_eq!(p, pt(i), "{why}: point {i} differs");
                out.push(i);
            }
            Err(e) => assert_eq!(e.code(), "point_not_found", "{why}: get {i}: {e}"),
        }
    }
    out
}

/// Acknowledged upserts present, acknowledged deletes absent, nothing else there.
fn check_acked(db: &Database, exp: &Expected, why: &str) {
    let info = db.collection("c").unwrap();
    assert_ne!(info.status, CollectionStatus::Damaged, "{why}: {info:?}");
    let present: BTreeSet<u64> = present_ids(db, 0..100, why).into_iter().collect();
    let in_flight: BTreeSet<u64> = exp
        .in_flight
        .iter()
        .flat_map(|(_, ids)| ids.iter().copied())
        .collect();
    for id in &exp.live {
        assert!(
            present.contains(id) || in_flight.contains(id),
            "{why}: acknowledged point {id} is missing"
        );
    }
    for id in &exp.deleted {
        assert!(
            !present.contains(id) || in_flight.contains(id),
            "{why}: acknowledged delete of {id} undone"
        );
    }
    for id in &present {
        assert!(
            exp.live.contains(id) || in_flight.contains(id),
            "{why}: point {id} was never acknowledged nor in flight"
        );
    }
    assert_eq!(
        info.points,
        present.len() as u64,
        "{why}: count differs from the points readable"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// No snapshot in the store that a restore would trust wrongly: every one with a manifest
/// verifies and holds only points as written; the newest restores into an empty data
/// directory. Returns the number of complete snapshots.
fn check_store(dir: &Path, why: &str) -> usize {
    let root = dir.join("objects/collections/c/snapshots");
    let Ok(rd) = fs::read_dir(&root) else {
        return 0;
    };
    let mut complete = 0;
    for snap in rd.flatten().map(|e| e.path()) {
        if !snap.join("manifest.json").exists() {
            continue;
        }
        complete += 1;
        let (_, rows) = akidb_storage::read_snapshot(&snap, true).unwrap_or_else(|e| {
            panic!(
                "{why}: the store holds a snapshot with a manifest that does not verify ({}): {e}",
                snap.display()
            )
        });
        for row in rows {
            let PointId::Num(i) = row.id else {
                panic!("{why}: unexpected id {:?}", row.id)
            };
            assert_eq!(row.vector, pt(i).vector, "{why}: point {i} in the store");
        }
    }
    if complete > 0 {
        // A later disaster recovery: only the store survives.
        let fresh = tempfile::tempdir().unwrap();
        copy_tree(&dir.join("objects"), &fresh.path().join("objects"));
        let db = Database::open(fresh.path()).unwrap();
        let info = db
            .restore("c", "latest", true)
            .unwrap_or_else(|e| panic!("{why}: restore from the store: {e}"));
        let n = present_ids(&db, 0..100, why).len();
        assert_eq!(info.points, n as u64, "{why}: restored count");
    }
    complete
}

/// After the crash: reopen and check what the workload's point protects.
fn check_after_crash(point: &str, w: Workload, dir: &Path, why: &str) {
    let exp = read_acks(dir);
    let coll_root = dir.join("collections");
    match w {
        Workload::Write | Workload::Tier => {
            let db = Database::open_with(config(w, dir)).unwrap();
            let tier = db.tier("c").unwrap().tier;
            if tier == Tier::Cold {
                for sub in ["snapshots", "wal"] {
                    let left = fs::read_dir(coll_root.join("c").join(sub)).unwrap().count();
                    assert_eq!(left, 0, "{why}: cold collection keeps local {sub}");
                }
            }
            check_acked(&db, &exp, why);
            drop(db);
            check_store(dir, why);
        }
        Workload::Dlq => {
            // The crash may have left the store "down".
            store_down(dir, false);
            let db = Database::open_with(config(w, dir)).unwrap();
            check_acked(&db, &exp, why);
            // Right after the crash, before any retry, then after the queue drains.
            check_store(dir, &format!("{why} (before the retry)"));
            let report = db.dlq_retry_all();
            assert_eq!(report.remaining, 0, "{why}: {report:?}");
            let complete = check_store(dir, &format!("{why} (after the retry)"));
            if point.starts_with("dlq.retry") {
                assert_eq!(
                    complete, 1,
                    "{why}: the dead-lettered snapshot was uploaded"
                );
            }
        }
        Workload::Restore => {
            let db = Database::open_with(config(w, dir)).unwrap();
            let present = present_ids(&db, 0..100, why);
            let (before, after): (Vec<u64>, Vec<u64>) = ((0..30).collect(), (0..20).collect());
            let want = if point == "restore.swap.before_snapshot" {
                before
            } else {
                after
            };
            assert_eq!(present, want, "{why}: points after the restart");
            assert_eq!(db.collection("c").unwrap().points, present.len() as u64);
        }
        Workload::Repair => {
            let db = Database::open_with(config(w, dir)).unwrap();
            let left: Vec<String> = fs::read_dir(&coll_root)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with('.'))
                .collect();
            assert!(left.is_empty(), "{why}: leftovers {left:?}");
            let info = db.collection("c").unwrap();
            if info.status == CollectionStatus::Damaged {
                // The repair did not happen: running it again must.
                db.restore("c", "latest", true)
                    .unwrap_or_else(|e| panic!("{why}: repeated restore: {e}"));
            } else {
                assert!(
                    point.ends_with("after_move_old") || point.ends_with("after_move_new"),
                    "{why}: repaired although the swap had not started"
                );
            }
            let present = present_ids(&db, 0..100, why);
            assert_eq!(
                present,
                (0..20).collect::<Vec<_>>(),
                "{why}: the snapshot's points"
            );
            assert_eq!(db.collection("c").unwrap().points, 20);
        }
        Workload::Missing => {
            let db = Database::open_with(config(w, &dir.join("b"))).unwrap();
            // Known gap: the crash leaves the collection created but empty (not damaged);
            // restoring again must fill it from the store.
            if let Ok(info) = db.collection("c") {
                assert_ne!(info.status, CollectionStatus::Damaged, "{why}");
            }
            db.restore("c", "latest", true)
                .unwrap_or_else(|e| panic!("{why}: repeated restore: {e}"));
            let present = present_ids(&db, 0..100, why);
            assert_eq!(present, (0..20).collect::<Vec<_>>(), "{why}");
            assert_eq!(db.collection("c").unwrap().points, 20);
            drop(db);
            check_store(dir, why);
        }
    }
}

/// Runs one case; `Err` names the point and what went wrong.
fn run_case(point: &str, skip: u64, w: Workload) -> Result<Duration, String> {
    let started = Instant::now();
    let why = format!("crash point {point}:{skip} ({w:?})");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{w:?}|{}", dir.path().display()))
        .env(crash::ENV, format!("{point}:{skip}"))
        .env_remove(ONLY_ENV)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.signal() != Some(SIGABRT) {
        let tail: String = stderr.lines().rev().take(15).collect::<Vec<_>>().join("\n");
        return Err(format!(
            "{why}: the child did not abort there ({}); its stderr (last lines, reversed):\n{tail}",
            out.status
        ));
    }
    if !stderr.contains(&format!("crash point {point} reached")) {
        return Err(format!("{why}: the child aborted elsewhere:\n{stderr}"));
    }
    let result = std::panic::catch_unwind(|| check_after_crash(point, w, dir.path(), &why));
    match result {
        Ok(()) => Ok(started.elapsed()),
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            // Keep the directory for a look.
            let kept = dir.keep();
            Err(format!("{msg}\n(data kept in {})", kept.display()))
        }
    }
}

#[test]
fn every_crash_point_keeps_acknowledged_writes_and_a_trustworthy_store() {
    let listed: BTreeSet<&str> = CASES.iter().map(|c| c.0).collect();
    let declared: BTreeSet<&str> = crash::POINTS.iter().copied().collect();
    assert_eq!(
        listed, declared,
        "CASES must cover exactly akidb_storage::crash::POINTS"
    );
    let only = std::env::var(ONLY_ENV).ok();
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut times: BTreeMap<String, Duration> = BTreeMap::new();
    for &(point, skip, w) in CASES {
        if only.as_deref().is_some_and(|o| !point.contains(o)) {
            continue;
        }
        match run_case(point, skip, w) {
            Ok(t) => {
                times.insert(format!("{point}:{skip}"), t);
            }
            Err(e) => failures.push(e),
        }
    }
    println!(
        "CRASH {} points, {} cases passed, {} failed, {:.1} s",
        declared.len(),
        times.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} crash case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// docs/reliability.md lists every crash point and the count.
#[test]
fn reliability_doc_lists_every_crash_point() {
    let doc =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/reliability.md"))
            .unwrap();
    for p in crash::POINTS {
        assert!(
            doc.contains(&format!("| `{p}` |")),
            "docs/reliability.md has no table row for crash point `{p}`"
        );
    }
    let count = format!("**{} crash points**", crash::POINTS.len());
    assert!(doc.contains(&count), "docs/reliability.md must say {count}");
}
