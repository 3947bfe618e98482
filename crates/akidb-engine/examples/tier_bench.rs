//! Tier benchmark on a real S3 server (SeaweedFS on loopback, started here).
//!
//! Measures, and prints as JSON lines for `cargo xtask bench tiers`:
//! - object-store operations per second on small objects (put, get, head, delete, list)
//!   through [`S3Store`], one request at a time and with concurrent requests;
//! - snapshot-sized transfers: upload (`put_file`, multipart) and download MB/s;
//! - dev-pydoc-50k (50k × 384) through the engine: search latency while hot, the first
//!   answer after demotion to warm and to cold (promotion included), the snapshot size.
//!
//! With `--peer-script FILE` it then runs that Python script against the same server
//! (`cargo xtask bench tiers` passes a boto3 client doing the same object operations and
//! transfers) and forwards its JSON lines, so both are measured in the same run.
//!
//! ```text
//! cargo run --release -p akidb-engine --example tier_bench -- [--objects 2000]
//!     [--object-bytes 1024] [--concurrency 1,16] [--transfer-mb 64] [--cold-rounds 3]
//!     [--queries 300] [--peer-script FILE]
//! ```
//! Needs `weed` (`AKIDB_TEST_WEED`, as provisioned by `cargo xtask test`) and the dataset
//! (`AKIDB_DATASET_DIR`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use akidb_core::{CollectionConfig, Metric, Point, PointId, SearchRequest, Tier};
use akidb_engine::{Database, EngineConfig};
use akidb_index::dataset::Dataset;
use akidb_storage::testing::SeaweedFs;
use akidb_storage::{ObjectStore, S3Store};
use serde_json::json;

struct Args {
    objects: usize,
    object_bytes: usize,
    concurrency: Vec<usize>,
    transfer_mb: usize,
    cold_rounds: usize,
    queries: usize,
    peer_script: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut a = Args {
        objects: 2000,
        object_bytes: 1024,
        concurrency: vec![1, 16],
        transfer_mb: 64,
        cold_rounds: 3,
        queries: 300,
        peer_script: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--objects" => a.objects = value().parse().expect("--objects N"),
            "--object-bytes" => a.object_bytes = value().parse().expect("--object-bytes N"),
            "--concurrency" => {
                a.concurrency = value()
                    .split(',')
                    .map(|c| c.parse().expect("--concurrency 1,16"))
                    .collect()
            }
            "--transfer-mb" => a.transfer_mb = value().parse().expect("--transfer-mb N"),
            "--cold-rounds" => a.cold_rounds = value().parse().expect("--cold-rounds N"),
            "--queries" => a.queries = value().parse().expect("--queries N"),
            "--peer-script" => a.peer_script = Some(PathBuf::from(value())),
            other => panic!("unknown flag {other}; see the header of examples/tier_bench.rs"),
        }
    }
    a
}

fn emit(v: serde_json::Value) {
    println!("{v}");
}

/// Runs `op` on keys `0..n` with `concurrency` workers; returns operations per second.
async fn rate<F, Fut>(n: usize, concurrency: usize, op: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let op = op.clone();
        workers.spawn(async move {
            for i in (w..n).step_by(concurrency) {
                op(i).await;
            }
        });
    }
    while let Some(r) = workers.join_next().await {
        r.expect("benchmark worker panicked");
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn object_ops(store: Arc<S3Store>, args: &Args) {
    let body = bytes::Bytes::from(vec![0x5a; args.object_bytes]);
    for &c in &args.concurrency {
        let prefix = format!("bench/small-c{c}");
        let key = move |i: usize| format!("{prefix}/obj-{i:06}");
        let (s, b, k) = (store.clone(), body.clone(), key.clone());
        let put = rate(args.objects, c, move |i| {
            let (s, b, key) = (s.clone(), b.clone(), k(i));
            async move { s.put(&key, b).await.expect("put") }
        })
        .await;
        let (s, k) = (store.clone(), key.clone());
        let get = rate(args.objects, c, move |i| {
            let (s, key) = (s.clone(), k(i));
            async move {
                s.get(&key).await.expect("get");
            }
        })
        .await;
        let (s, k) = (store.clone(), key.clone());
        let head = rate(args.objects, c, move |i| {
            let (s, key) = (s.clone(), k(i));
            async move {
                assert!(s.head(&key).await.expect("head").is_some());
            }
        })
        .await;
        let t = Instant::now();
        let listed = store
            .list(&format!("bench/small-c{c}/"))
            .await
            .expect("list");
        assert_eq!(listed.len(), args.objects);
        let list_s = t.elapsed().as_secs_f64();
        let (s, k) = (store.clone(), key.clone());
        let delete = rate(args.objects, c, move |i| {
            let (s, key) = (s.clone(), k(i));
            async move { s.delete(&key).await.expect("delete") }
        })
        .await;
        for (op, ops) in [
            ("put", put),
            ("get", get),
            ("head", head),
            ("delete", delete),
        ] {
            emit(
                json!({"what": "object_ops", "impl": "akidb", "op": op, "concurrency": c,
                        "objects": args.objects, "bytes": args.object_bytes, "ops_per_s": ops}),
            );
        }
        emit(
            json!({"what": "list", "impl": "akidb", "concurrency": c, "objects": args.objects,
                    "seconds": list_s}),
        );
    }
}

async fn transfers(store: Arc<S3Store>, file: &Path, mb: usize) {
    let key = "bench/transfer.bin";
    let back = file.with_extension("back");
    let mut up = Vec::new();
    let mut down = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        store.put_file(key, file).await.expect("put_file");
        up.push(mb as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        store.get_to_file(key, &back).await.expect("get_to_file");
        down.push(mb as f64 / t.elapsed().as_secs_f64());
    }
    assert_eq!(
        std::fs::metadata(&back).unwrap().len(),
        std::fs::metadata(file).unwrap().len()
    );
    store.delete(key).await.expect("delete");
    let _ = std::fs::remove_file(&back);
    for (op, v) in [("upload", up), ("download", down)] {
        emit(
            json!({"what": "transfer", "impl": "akidb", "op": op, "mb": mb,
                    "mb_per_s": median(v)}),
        );
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn percentile_ms(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

fn tiers(store: Arc<dyn ObjectStore>, rt: &tokio::runtime::Runtime, data: &Path, args: &Args) {
    let ds = Dataset::load_bench().unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = EngineConfig::new(data);
    cfg.object_store = Some(store);
    cfg.runtime = Some(rt.handle().clone());
    let db = Database::open_with(cfg).expect("open the engine");
    db.create_collection(CollectionConfig::new("pydoc", ds.base.cols, Metric::Cosine))
        .expect("create");
    let points: Vec<Point> = (0..ds.base.rows)
        .map(|i| Point::new(i as u64, ds.base.row(i).to_vec(), ds.payloads[i].clone()))
        .collect();
    for chunk in points.chunks(1000) {
        db.upsert("pydoc", chunk.to_vec()).expect("upsert");
    }
    assert!(db
        .wait_indexed("pydoc", Duration::from_secs(600))
        .expect("index"));
    let t = Instant::now();
    let snap = db.snapshot("pydoc").expect("snapshot (uploaded to S3)");
    emit(
        json!({"what": "snapshot", "rows": snap.rows, "bytes": snap.bytes,
                "write_and_upload_s": t.elapsed().as_secs_f64()}),
    );

    let queries: Vec<SearchRequest> = (0..args.queries.min(ds.queries.rows))
        .map(|i| SearchRequest::new(ds.queries.row(i).to_vec(), 10))
        .collect();
    let search = |q: &SearchRequest| {
        let t = Instant::now();
        let hits = db.search("pydoc", q).expect("search");
        assert_eq!(hits.len(), 10);
        t.elapsed()
    };
    let reference = db.search("pydoc", &queries[0]).expect("search");
    let hot: Vec<Duration> = queries.iter().map(search).collect();
    emit(
        json!({"what": "search", "tier": "hot", "queries": hot.len(),
                "p50_ms": percentile_ms(hot.clone(), 0.5), "p99_ms": percentile_ms(hot, 0.99)}),
    );

    let first = |to: Tier| {
        db.demote("pydoc", to).expect("demote");
        assert_eq!(db.tier("pydoc").expect("tier").tier, to);
        let t = Instant::now();
        let hits = db.search("pydoc", &queries[0]).expect("first search");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let ids: Vec<&PointId> = hits.iter().map(|h| &h.id).collect();
        let want: Vec<&PointId> = reference.iter().map(|h| &h.id).collect();
        assert_eq!(ids, want, "the {to:?} collection answers like the hot one");
        ms
    };
    let warm: Vec<f64> = (0..args.cold_rounds).map(|_| first(Tier::Warm)).collect();
    let cold: Vec<f64> = (0..args.cold_rounds).map(|_| first(Tier::Cold)).collect();
    for (tier, v) in [("warm", warm), ("cold", cold)] {
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        emit(
            json!({"what": "first_answer", "tier": tier, "rounds": v.len(),
                    "median_ms": median(v.clone()), "min_ms": min, "rows": ds.base.rows}),
        );
    }
    db.shutdown().expect("shutdown");
}

fn main() {
    let args = parse_args();
    let weed = SeaweedFs::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut s3 = weed.s3_config();
    // Benchmark settings: the production defaults, not the tests' fast-failure ones.
    let defaults = akidb_storage::S3Config::new(s3.bucket.clone(), s3.region.clone());
    s3.max_retries = defaults.max_retries;
    s3.attempt_timeout = defaults.attempt_timeout;
    let store = Arc::new(rt.block_on(S3Store::connect(s3.clone())).expect("connect"));
    emit(
        json!({"what": "server", "endpoint": weed.endpoint(), "bucket": weed.bucket(),
                "multipart_threshold": s3.multipart_threshold, "part_size": s3.part_size}),
    );

    rt.block_on(object_ops(store.clone(), &args));
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("transfer.bin");
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let bytes: Vec<u8> = (0..args.transfer_mb << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&file, &bytes).expect("write the transfer file");
    rt.block_on(transfers(store.clone(), &file, args.transfer_mb));

    tiers(store, &rt, &tmp.path().join("data"), &args);

    if let Some(script) = &args.peer_script {
        let out = std::process::Command::new("python3")
            .arg(script)
            .args(["--endpoint", &weed.endpoint(), "--bucket", weed.bucket()])
            .args(["--access-key", s3.access_key_id.as_deref().unwrap_or("")])
            .args([
                "--secret-key",
                s3.secret_access_key.as_deref().unwrap_or(""),
            ])
            .args(["--objects", &args.objects.to_string()])
            .args(["--object-bytes", &args.object_bytes.to_string()])
            .args([
                "--concurrency",
                &args
                    .concurrency
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ])
            .arg("--transfer-file")
            .arg(&file)
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "python3 {} failed: {}",
            script.display(),
            out.status
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}
