//! Ingest benchmark of the embedded engine.
//!
//! Ingests dev-pydoc-50k (`AKIDB_DATASET_DIR`, default `<workspace>/../shared/datasets/dev-pydoc-50k`,
//! see `Dataset::bench_dir`)
//! in batches with `wal sync = always`, then prints acknowledged points/s, the time until
//! every segment is indexed, the snapshot time, and the restart-to-ready time.
//!
//! ```text
//! cargo run --release -p akidb-engine --example ingest_bench -- [--synthetic N] [--batch 1000]
//!     [--threads 1] [--wal-sync always|never] [--data-dir DIR] [--segment-max-points 20000]
//! ```
//! `--synthetic N` uses N random unit vectors of 384 dimensions instead (e.g. 1000000 to
//! measure restart of a 1M collection).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use akidb_core::{CollectionConfig, Metric, Payload, Point, PointId};
use akidb_engine::{Database, EngineConfig, WalSync};
use akidb_index::dataset::Dataset;

struct Args {
    synthetic: Option<usize>,
    batch: usize,
    threads: usize,
    sync: WalSync,
    data_dir: Option<PathBuf>,
    segment_max_points: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        synthetic: None,
        batch: 1000,
        threads: 1,
        sync: WalSync::Always,
        data_dir: None,
        segment_max_points: 20_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--synthetic" => a.synthetic = Some(value().parse().expect("--synthetic N")),
            "--batch" => a.batch = value().parse().expect("--batch N"),
            "--threads" => a.threads = value().parse().expect("--threads N"),
            "--wal-sync" => {
                a.sync = match value().as_str() {
                    "always" => WalSync::Always,
                    "never" => WalSync::Never,
                    other => panic!("--wal-sync must be always or never, got {other}"),
                }
            }
            "--data-dir" => a.data_dir = Some(PathBuf::from(value())),
            "--segment-max-points" => {
                a.segment_max_points = value().parse().expect("--segment-max-points N")
            }
            other => panic!("unknown flag {other}; see the header of examples/ingest_bench.rs"),
        }
    }
    a
}

fn load(args: &Args) -> (usize, Vec<Point>) {
    if let Some(n) = args.synthetic {
        let dim = 384;
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let points = (0..n as u64)
            .map(|i| {
                let v: Vec<f32> = (0..dim).map(|_| next()).collect();
                let mut p = Payload::new();
                p.insert("bucket".into(), (i % 10).into());
                Point::new(i, v, p)
            })
            .collect();
        return (dim, points);
    }
    let ds = Dataset::load_bench().unwrap_or_else(|e| panic!("{e}"));
    let dim = ds.base.cols;
    let points = (0..ds.base.rows)
        .map(|i| {
            let row = &ds.payloads[i];
            let mut p = Payload::new();
            for key in ["section", "page"] {
                p.insert(key.into(), row.get(key).cloned().unwrap_or_default());
            }
            Point::new(i as u64, ds.base.row(i).to_vec(), p)
        })
        .collect();
    (dim, points)
}

fn config(dir: &Path, args: &Args) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.wal_sync = args.sync;
    cfg.segment_max_points = args.segment_max_points;
    // Keep the automatic snapshot out of the measured ingest.
    cfg.wal_snapshot_bytes = u64::MAX;
    cfg
}

fn main() {
    let args = parse_args();
    let (dim, points) = load(&args);
    let n = points.len();
    let tmp;
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().expect("temp dir");
            tmp.path().to_path_buf()
        }
    };
    println!(
        "ingest_bench: {n} points x {dim} dims, batch {}, {} thread(s), wal sync {:?}, data dir {}",
        args.batch,
        args.threads,
        args.sync,
        dir.display()
    );
    let db = Database::open_with(config(&dir, &args)).expect("open");
    let _ = db.drop_collection("bench");
    db.create_collection(CollectionConfig::new("bench", dim, Metric::Cosine))
        .expect("create");

    let started = Instant::now();
    let batches: Vec<Vec<Point>> = points.chunks(args.batch).map(|c| c.to_vec()).collect();
    let per_thread = batches.len().div_ceil(args.threads.max(1));
    let mut groups: Vec<Vec<Vec<Point>>> = Vec::new();
    let mut it = batches.into_iter();
    for _ in 0..args.threads.max(1) {
        groups.push(it.by_ref().take(per_thread).collect());
    }
    let handles: Vec<_> = groups
        .into_iter()
        .map(|g| {
            let db = db.clone();
            std::thread::spawn(move || {
                for b in g {
                    db.upsert("bench", b).expect("upsert");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread");
    }
    let ingest = started.elapsed();
    println!(
        "acknowledged ingest: {n} points in {:.2} s = {:.0} points/s",
        ingest.as_secs_f64(),
        n as f64 / ingest.as_secs_f64()
    );
    let indexed = db
        .wait_indexed("bench", Duration::from_secs(3600))
        .expect("wait");
    assert!(indexed, "indexing did not finish within an hour");
    println!(
        "indexing finished {:.2} s after the first write",
        started.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let snap = db.snapshot("bench").expect("snapshot");
    println!(
        "snapshot {}: {} rows, {:.1} MiB in {:.2} s",
        snap.snapshot_id,
        snap.rows,
        snap.bytes as f64 / (1024.0 * 1024.0),
        t.elapsed().as_secs_f64()
    );
    db.shutdown().expect("shutdown");
    drop(db);

    let t = Instant::now();
    let db = Database::open_with(config(&dir, &args)).expect("reopen");
    let opened = t.elapsed();
    let ready = db
        .wait_indexed("bench", Duration::from_secs(3600))
        .expect("wait");
    assert!(ready);
    let stats = db.stats();
    let c = stats
        .collections
        .iter()
        .find(|c| c.name == "bench")
        .expect("stats");
    println!(
        "restart to ready: {:.2} s (open {:.2} s; graphs loaded {}, rebuilt {}; {} points)",
        t.elapsed().as_secs_f64(),
        opened.as_secs_f64(),
        c.indexes_loaded,
        c.indexes_built,
        c.points
    );
    assert_eq!(c.points as usize, n);
    let probe = db
        .get("bench", &PointId::Num(0))
        .expect("point 0 after restart");
    assert_eq!(probe.vector.len(), dim);
}
