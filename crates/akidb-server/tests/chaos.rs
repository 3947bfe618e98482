//! Local chaos tests: the real `akidb` binary on free ports, hurt on purpose while it
//! works, then checked for lost or half-applied writes.
//!
//! - `kill9_during_concurrent_writes_loses_nothing`: concurrent REST writers, `kill -9`
//!   at random moments (12 times); after every restart each acknowledged point is present
//!   with its vector and payload, and each unacknowledged batch is all there or all absent.
//! - `cpu_starvation_keeps_answering`: the server pinned to one core next to busy loops
//!   pinned to the same core, under search load: every request answered, `/ready` stays 200.
//! - `disk_full_answers_507_and_recovers`: the data dir on a small tmpfs (as root; otherwise
//!   a file-size rlimit): writes get 507 `insufficient_storage`, reads go on, writes resume
//!   once space is freed, and a restart recovers every acknowledged point.
//! - `object_store_partition_opens_breaker_fills_and_drains_dlq`: server → fault-injecting
//!   TCP proxy (tokio, in this file) → SeaweedFS. A slow link (delay) queues nothing; resets
//!   and black-holed flows make snapshot uploads fail: the breaker opens
//!   (`akidb_circuit_breaker_state 1`), the dead-letter queue fills, writes are acknowledged
//!   and readable throughout. Healed, `retry-all` drains the queue after the breaker's
//!   cool-down and every queued object is in the bucket.
//! - `cascading_failure_store_and_server_killed_together`: SIGKILL of SeaweedFS and the
//!   server at once, both restarted: `/ready` within 120 s, every acknowledged point
//!   present, and snapshots reach the bucket again.
//!
//! The object-store tests need SeaweedFS (`AKIDB_TEST_WEED`, provisioned by `cargo xtask test`).
//!
//! Each prints one `CHAOS …` summary line (`--nocapture`) with the figures that
//! docs/reliability.md reports.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use akidb_client::{Client, ClientError};
use akidb_core::{CollectionConfig, Filter, Metric, Payload, Point, PointId, SearchRequest};
use akidb_storage::ObjectStore;
use common::{bucket_store, command, free_port, s3_env, start_weed, Server};
use serde_json::json;

const DIM: usize = 8;

/// Small deterministic PRNG (xorshift64*), seeded from the clock and printed so a failing
/// run can be replayed with `AKIDB_CHAOS_SEED`.
struct Rng(u64);

impl Rng {
    fn from_env_or_clock(name: &str) -> Rng {
        let seed = std::env::var("AKIDB_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        println!("{name}: AKIDB_CHAOS_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// The vector stored for `id`: a pure function of the id, so a point can be checked alone.
fn vector_for(id: u64) -> Vec<f32> {
    (0..DIM)
        .map(|d| {
            ((id.wrapping_mul(2654435761).wrapping_add(d as u64 * 40503) % 1000) as f32) / 1000.0
        })
        .collect()
}

fn payload_for(id: u64, round: u64, writer: u64, pad: usize) -> Payload {
    json!({"id": id, "round": round, "w": writer, "pad": "x".repeat(pad)})
        .as_object()
        .cloned()
        .unwrap()
}

fn point_for(id: u64, round: u64, writer: u64, pad: usize) -> Point {
    Point::new(id, vector_for(id), payload_for(id, round, writer, pad))
}

/// A client whose requests give up after `timeout` (a killed server must not hang a writer).
fn client_with_timeout(base: &str, timeout: Duration) -> Client {
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    Client::with_http_client(base, http).unwrap()
}

async fn create_l2_collection(client: &Client, name: &str) {
    // l2 keeps vectors as sent (cosine would normalise them), so they compare bit for bit.
    client
        .create_collection(&CollectionConfig::new(name, DIM, Metric::L2))
        .await
        .unwrap_or_else(|e| panic!("create collection {name}: {e}"));
}

/// Every point of one (round, writer) slice, read back with an exact filtered search.
async fn fetch_slice(client: &Client, coll: &str, round: u64, writer: u64) -> HashMap<u64, Point> {
    let filter = Filter::from_json(&json!({"must": [
        {"key": "round", "match": {"value": round}},
        {"key": "w", "match": {"value": writer}}
    ]}))
    .unwrap();
    let mut req = SearchRequest::new(vec![0.0; DIM], 10_000);
    req.filter = Some(filter);
    req.exact = true;
    req.with_payload = true;
    req.with_vector = true;
    let hits = client
        .search(coll, &req)
        .await
        .unwrap_or_else(|e| panic!("search round {round} writer {writer}: {e}"));
    assert!(
        hits.len() < 10_000,
        "slice too large to read back in one search"
    );
    hits.into_iter()
        .map(|h| {
            let id = match h.id {
                PointId::Num(n) => n,
                other => panic!("unexpected id {other:?}"),
            };
            let point = Point::new(
                id,
                h.vector
                    .unwrap_or_else(|| panic!("point {id}: search returned no vector")),
                h.payload
                    .unwrap_or_else(|| panic!("point {id}: search returned no payload")),
            );
            (id, point)
        })
        .collect()
}

/// Batches a writer sent: acknowledged (200) or not (error or no answer).
#[derive(Default)]
struct Ledger {
    acked: Vec<Vec<Point>>,
    unacked: Vec<Vec<Point>>,
}

/// Checks one slice: every acknowledged point complete, every unacknowledged batch all or
/// nothing, nothing unknown. Returns the number of points present.
fn verify_slice(found: &HashMap<u64, Point>, ledger: &Ledger, what: &str) -> usize {
    let mut expected: HashMap<u64, &Point> = HashMap::new();
    for batch in &ledger.acked {
        for p in batch {
            let PointId::Num(id) = p.id else {
                unreachable!()
            };
            let got = found
                .get(&id)
                .unwrap_or_else(|| panic!("{what}: acknowledged point {id} is LOST"));
            assert_eq!(
                got.vector, p.vector,
                "{what}: point {id} has a different vector"
            );
            assert_eq!(
                got.payload, p.payload,
                "{what}: point {id} has a different payload"
            );
            expected.insert(id, p);
        }
    }
    for batch in &ledger.unacked {
        let present: Vec<bool> = batch
            .iter()
            .map(|p| {
                let PointId::Num(id) = p.id else {
                    unreachable!()
                };
                match found.get(&id) {
                    Some(got) => {
                        assert_eq!(
                            got.vector, p.vector,
                            "{what}: unacknowledged point {id} is half-written (vector)"
                        );
                        assert_eq!(
                            got.payload, p.payload,
                            "{what}: unacknowledged point {id} is half-written (payload)"
                        );
                        expected.insert(id, p);
                        true
                    }
                    None => false,
                }
            })
            .collect();
        assert!(
            present.iter().all(|&b| b) || present.iter().all(|&b| !b),
            "{what}: an unacknowledged batch is partly applied: {present:?}"
        );
    }
    for id in found.keys() {
        assert!(
            expected.contains_key(id),
            "{what}: point {id} was never written"
        );
    }
    found.len()
}

/// Polls `/ready` until 200 and returns how long it took since `since`.
async fn wait_ready_timed(server: &mut Server, since: Instant, limit: Duration) -> Duration {
    let client = client_with_timeout(&server.rest, Duration::from_secs(2));
    loop {
        if let Ok(true) = client.ready().await {
            return since.elapsed();
        }
        if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
            panic!(
                "akidb exited with {status} before ready; log:\n{}",
                server.log_text()
            );
        }
        assert!(
            since.elapsed() < limit,
            "akidb not ready {limit:?} after restart; log:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_during_concurrent_writes_loses_nothing() {
    const KILLS: u64 = 12;
    const WRITERS: u64 = 4;
    let test_start = Instant::now();
    let mut rng = Rng::from_env_or_clock("kill9");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A small segment size so the background indexer seals segments while we kill.
    let mut server = Server::start(&data, &[("AKIDB_SEGMENT_MAX_POINTS", "300")]).await;
    create_l2_collection(&server.client(), "chaos").await;

    let ledgers: Arc<Mutex<BTreeMap<(u64, u64), Ledger>>> = Arc::default();
    let next_id = Arc::new(AtomicU64::new(1));
    let mut all: BTreeMap<(u64, u64), Ledger> = BTreeMap::new();
    let mut recoveries = Vec::new();
    let mut verified_total = 0usize;
    for round in 0..KILLS {
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(AtomicU64::new(0));
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let client = client_with_timeout(&server.rest, Duration::from_secs(10));
            let (stop, acks, next_id, ledgers) =
                (stop.clone(), acks.clone(), next_id.clone(), ledgers.clone());
            let mut wrng = Rng(rng.next() | 1);
            writers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let n = wrng.range(1, 9);
                    let pad = wrng.range(0, 400) as usize;
                    let batch: Vec<Point> = (0..n)
                        .map(|_| point_for(next_id.fetch_add(1, Ordering::Relaxed), round, w, pad))
                        .collect();
                    let outcome = client.upsert("chaos", &batch).await;
                    let mut l = ledgers.lock().unwrap();
                    let ledger = l.entry((round, w)).or_default();
                    match outcome {
                        Ok(count) => {
                            assert_eq!(count, n, "upsert answered a wrong count");
                            ledger.acked.push(batch);
                            acks.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            // Only the kill may fail a write: an API error would be a bug.
                            if let ClientError::Api { status, .. } = &e {
                                panic!("upsert answered {status} before the kill: {e}");
                            }
                            ledger.unacked.push(batch);
                            return;
                        }
                    }
                }
            }));
        }
        // Kill only once writes are flowing, then at a random moment.
        let flowing = Instant::now();
        while acks.load(Ordering::Relaxed) < WRITERS {
            assert!(
                flowing.elapsed() < Duration::from_secs(20),
                "writers make no progress"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.range(20, 700))).await;
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for h in writers {
            tokio::time::timeout(Duration::from_secs(15), h)
                .await
                .expect("a writer hung after the kill")
                .expect("writer panicked");
        }

        let restarted = Instant::now();
        server = Server::spawn(&data, server.env.clone());
        recoveries.push(wait_ready_timed(&mut server, restarted, Duration::from_secs(60)).await);

        let client = client_with_timeout(&server.rest, Duration::from_secs(30));
        all.extend(std::mem::take(&mut *ledgers.lock().unwrap()));
        let mut present = 0;
        for r in 0..=round {
            for w in 0..WRITERS {
                let empty = Ledger::default();
                let ledger = all.get(&(r, w)).unwrap_or(&empty);
                let found = fetch_slice(&client, "chaos", r, w).await;
                present += verify_slice(
                    &found,
                    ledger,
                    &format!("after kill {} (round {r}, writer {w})", round + 1),
                );
            }
        }
        let info = client.collection("chaos").await.unwrap();
        assert_eq!(
            info.points as usize, present,
            "collection point count disagrees with its contents"
        );
        verified_total += present;
    }

    let acked_points: usize = all.values().flat_map(|l| &l.acked).map(Vec::len).sum();
    let unacked_batches: usize = all.values().map(|l| l.unacked.len()).sum();
    let mut sorted = recoveries.clone();
    sorted.sort();
    println!(
        "CHAOS kill9: kills={KILLS} writers={WRITERS} acked_points={acked_points} unacked_batches={unacked_batches} \
         lost=0 point_checks={verified_total} recovery_ms_median={:.0} recovery_ms_max={:.0} total_s={:.1}",
        ms(percentile(&sorted, 0.5)),
        ms(*sorted.last().unwrap()),
        test_start.elapsed().as_secs_f64()
    );
    assert!(acked_points > 0);
}

/// Pins the calling thread to CPU `cpu`.
fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity(0, …) affects only this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Starts `akidb` pinned to one CPU (the affinity is inherited by all its threads).
fn spawn_pinned(data_dir: &Path, cpu: usize) -> Server {
    use std::os::unix::process::CommandExt;
    let rest = format!("127.0.0.1:{}", free_port());
    let grpc = format!("127.0.0.1:{}", free_port());
    let log = data_dir.with_extension("pinned.log");
    let mut cmd: Command = command();
    cmd.env("AKIDB_REST_ADDR", &rest)
        .env("AKIDB_GRPC_ADDR", &grpc)
        .env("AKIDB_DATA_DIR", data_dir)
        .env("AKIDB_LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    // SAFETY: only async-signal-safe calls (sched_setaffinity) between fork and exec.
    unsafe {
        cmd.pre_exec(move || pin_current_thread(cpu));
    }
    Server {
        child: Some(cmd.spawn().expect("start akidb")),
        rest: format!("http://{rest}"),
        grpc: format!("http://{grpc}"),
        data_dir: data_dir.to_path_buf(),
        log,
        env: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cpu_starvation_keeps_answering() {
    const LOAD: Duration = Duration::from_secs(8);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = spawn_pinned(&data, 0);
    server.wait_ready().await;
    let setup = server.client();
    create_l2_collection(&setup, "starved").await;
    for chunk in 0..10u64 {
        let batch: Vec<Point> = (chunk * 300..(chunk + 1) * 300)
            .map(|id| point_for(id, 0, 0, 32))
            .collect();
        setup.upsert("starved", &batch).await.unwrap();
    }

    // Two busy loops on the server's core: the scheduler gives the server a third of it.
    let spin = Arc::new(AtomicBool::new(true));
    let hogs: Vec<_> = (0..2)
        .map(|_| {
            let spin = spin.clone();
            std::thread::spawn(move || {
                pin_current_thread(0).expect("pin the busy loop to CPU 0");
                let mut x = 0u64;
                while spin.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
        })
        .collect();

    let until = Instant::now() + LOAD;
    let mut searchers = Vec::new();
    for s in 0..4u64 {
        let client = client_with_timeout(&server.rest, Duration::from_secs(30));
        searchers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0u64;
            while Instant::now() < until {
                let mut req = SearchRequest::new(vector_for(s * 1_000_003 + i), 10);
                req.exact = i % 4 == 0;
                let t = Instant::now();
                let hits = client.search("starved", &req).await.unwrap_or_else(|e| {
                    panic!("search {i} of searcher {s} failed under CPU starvation: {e}")
                });
                latencies.push(t.elapsed());
                assert_eq!(
                    hits.len(),
                    10,
                    "a starved search returned {} hits",
                    hits.len()
                );
                i += 1;
            }
            latencies
        }));
    }
    let ready_client = client_with_timeout(&server.rest, Duration::from_secs(10));
    let mut ready_checks = 0;
    while Instant::now() < until {
        let ok = ready_client
            .ready()
            .await
            .unwrap_or_else(|e| panic!("/ready failed under CPU starvation: {e}"));
        assert!(ok, "/ready answered 503 under CPU starvation");
        ready_checks += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut latencies = Vec::new();
    for h in searchers {
        latencies.extend(h.await.expect("searcher panicked"));
    }
    spin.store(false, Ordering::Relaxed);
    for h in hogs {
        h.join().unwrap();
    }
    assert!(
        server.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "akidb died"
    );
    latencies.sort();
    assert!(
        latencies.len() >= 20,
        "only {} searches answered in {LOAD:?}",
        latencies.len()
    );
    println!(
        "CHAOS cpu: searches={} failed=0 ready_checks={ready_checks} p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap())
    );
}

/// A size-limited filesystem for the data dir: a tmpfs mounted by root, unmounted on drop.
struct SmallFs {
    mount: PathBuf,
}

impl SmallFs {
    fn mount(at: &Path, bytes: u64) -> Option<SmallFs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallFs {
            mount: at.to_path_buf(),
        })
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// How the data dir is made to run out of space.
enum DiskLimit {
    /// tmpfs with a ballast file; removing the ballast frees the space.
    Tmpfs { _fs: SmallFs, ballast: PathBuf },
    /// RLIMIT_FSIZE on the server process; raising it (prlimit) frees the space.
    Rlimit,
}

const RLIMIT_BYTES: u64 = 3 << 20;

fn spawn_with_fsize_limit(data_dir: &Path, env: Vec<(String, String)>) -> Server {
    use std::os::unix::process::CommandExt;
    let rest = format!("127.0.0.1:{}", free_port());
    let grpc = format!("127.0.0.1:{}", free_port());
    let log = data_dir.with_extension(format!("{}.log", free_port()));
    let mut cmd = command();
    cmd.env("AKIDB_REST_ADDR", &rest)
        .env("AKIDB_GRPC_ADDR", &grpc)
        .env("AKIDB_DATA_DIR", data_dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in &env {
        cmd.env(k, v);
    }
    // SAFETY: signal and setrlimit are async-signal-safe. An ignored SIGXFSZ survives exec,
    // so writes past the limit fail with EFBIG instead of killing the server.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: RLIMIT_BYTES,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Server {
        child: Some(cmd.spawn().expect("start akidb")),
        rest: format!("http://{rest}"),
        grpc: format!("http://{grpc}"),
        data_dir: data_dir.to_path_buf(),
        log,
        env,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_answers_507_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    // Small WAL files so the log rotates instead of growing one big file.
    let env = vec![
        ("AKIDB_WAL_SEGMENT_BYTES".to_string(), "1MiB".to_string()),
        ("AKIDB_LOG_LEVEL".to_string(), "info".to_string()),
    ];
    let (limit, data, mut server) = match SmallFs::mount(&mnt, 24 << 20) {
        Some(fs) => {
            let ballast = mnt.join("ballast");
            std::fs::write(&ballast, vec![7u8; 6 << 20]).unwrap();
            let data = mnt.join("data");
            let server = Server::spawn(&data, env.clone());
            (DiskLimit::Tmpfs { _fs: fs, ballast }, data, server)
        }
        None => {
            println!("disk_full: not root or no tmpfs: limiting file size with RLIMIT_FSIZE");
            let env = vec![("AKIDB_LOG_LEVEL".to_string(), "info".to_string())];
            let data = tmp.path().join("data");
            (
                DiskLimit::Rlimit,
                data.clone(),
                spawn_with_fsize_limit(&data, env),
            )
        }
    };
    server.wait_ready().await;
    let client = client_with_timeout(&server.rest, Duration::from_secs(30));
    create_l2_collection(&client, "full").await;

    let mut ledger = Ledger::default();
    let mut next = 1u64;
    let mut rejected = 0;
    let mut full_error = None;
    for _ in 0..2000 {
        let batch: Vec<Point> = (next..next + 8)
            .map(|id| point_for(id, 0, 0, 16_000))
            .collect();
        next += 8;
        match client.upsert("full", &batch).await {
            Ok(_) => ledger.acked.push(batch),
            Err(e) => {
                assert_eq!(
                    e.status(),
                    Some(507),
                    "a full disk must answer 507, got: {e}"
                );
                assert_eq!(e.code(), Some("insufficient_storage"), "{e}");
                ledger.unacked.push(batch);
                rejected += 1;
                full_error = Some(e.to_string());
                if rejected == 3 {
                    break;
                }
            }
        }
    }
    let full_error = full_error.expect("the disk never filled up");
    let acked_before_full: usize = ledger.acked.iter().map(Vec::len).sum();
    assert!(
        acked_before_full > 0,
        "nothing was written before the disk filled"
    );

    // Reads, searches and probes go on while the disk is full.
    assert!(
        client.ready().await.unwrap(),
        "/ready must stay 200 on a full disk"
    );
    let found = fetch_slice(&client, "full", 0, 0).await;
    // A 507 is a definite refusal: those batches must be absent, not just all-or-nothing.
    for batch in &ledger.unacked {
        for p in batch {
            let PointId::Num(id) = p.id else {
                unreachable!()
            };
            assert!(
                !found.contains_key(&id),
                "point {id} was refused with 507 but is visible"
            );
        }
    }
    verify_slice(&found, &ledger, "disk full");
    let first = &ledger.acked[0][0];
    assert_eq!(
        client.get("full", &first.id).await.unwrap().payload,
        first.payload
    );

    // Free space: writes must resume.
    match &limit {
        DiskLimit::Tmpfs { ballast, .. } => std::fs::remove_file(ballast).unwrap(),
        DiskLimit::Rlimit => {
            let pid = server.child.as_ref().unwrap().id() as libc::pid_t;
            let lim = libc::rlimit {
                rlim_cur: libc::RLIM_INFINITY,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: prlimit with a valid pid and a valid new limit, no old-limit out pointer.
            let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_FSIZE, &lim, std::ptr::null_mut()) };
            assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
        }
    }
    let resumed = Instant::now();
    let mut resumed_after = None;
    for _ in 0..20 {
        let batch: Vec<Point> = (next..next + 8)
            .map(|id| point_for(id, 0, 0, 2_000))
            .collect();
        next += 8;
        match client.upsert("full", &batch).await {
            Ok(_) => {
                resumed_after.get_or_insert(resumed.elapsed());
                ledger.acked.push(batch);
            }
            Err(e) if resumed_after.is_none() && e.status() == Some(507) => {
                ledger.unacked.push(batch);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("write after freeing space failed: {e}"),
        }
    }
    let resumed_after = resumed_after.expect("writes did not resume after space was freed");

    // Restart: everything acknowledged, before and after the full disk, is recovered.
    let restarted = Instant::now();
    server.kill9();
    // Space stays freed: the restarted server runs without the limit.
    server = Server::spawn(&data, server.env.clone());
    let recovery = wait_ready_timed(&mut server, restarted, Duration::from_secs(60)).await;
    let client = client_with_timeout(&server.rest, Duration::from_secs(30));
    let found = fetch_slice(&client, "full", 0, 0).await;
    let present = verify_slice(&found, &ledger, "restart after disk full");
    let acked: usize = ledger.acked.iter().map(Vec::len).sum();
    assert_eq!(
        present, acked,
        "refused writes reappeared after the restart"
    );
    let mode = match &limit {
        DiskLimit::Tmpfs { .. } => "tmpfs-24MiB",
        DiskLimit::Rlimit => "rlimit-fsize",
    };
    println!(
        "CHAOS disk_full: mode={mode} acked_before_full={acked_before_full} refused_507={rejected} \
         resumed_after_ms={:.0} acked_total={acked} recovered={present} recovery_ms={:.0} error={full_error:?}",
        ms(resumed_after),
        ms(recovery)
    );
    // The server goes before its filesystem is unmounted.
    drop(server);
    drop(limit);
}

// ---------------------------------------------------------------------------------------
// Object-store faults: a real SeaweedFS, optionally behind a fault-injecting TCP proxy.

/// What the proxy does to connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Forward bytes both ways.
    Pass,
    /// Accept, swallow everything for two seconds, then reset (a black-holed flow).
    Drop,
    /// Forward, but only after a delay.
    Delay(Duration),
    /// Accept and reset at once (RST).
    Reset,
}

/// A TCP proxy in front of `upstream` whose behaviour can be switched at run time. A switch
/// also resets the connections opened under the previous behaviour, so pooled S3
/// connections see the new fault too.
struct FaultProxy {
    addr: std::net::SocketAddr,
    mode: tokio::sync::watch::Sender<Fault>,
    task: tokio::task::JoinHandle<()>,
}

/// Makes the socket's close send RST instead of FIN (SO_LINGER with a zero timeout, which
/// never blocks).
fn reset_on_close(fd: std::os::fd::RawFd) {
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is an open socket owned by the caller; `lg` outlives the call.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&lg as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

impl FaultProxy {
    async fn start(upstream: std::net::SocketAddr) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, rx) = tokio::sync::watch::channel(Fault::Pass);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut rx = rx.clone();
                tokio::spawn(async move {
                    use std::os::fd::AsRawFd;
                    let fault = *rx.borrow_and_update();
                    match fault {
                        Fault::Reset => {
                            reset_on_close(inbound.as_raw_fd());
                            return;
                        }
                        Fault::Drop => {
                            use tokio::io::AsyncReadExt;
                            let mut sink = [0u8; 4096];
                            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                                while matches!(inbound.read(&mut sink).await, Ok(n) if n > 0) {}
                            })
                            .await;
                            reset_on_close(inbound.as_raw_fd());
                            return;
                        }
                        Fault::Delay(d) => tokio::time::sleep(d).await,
                        Fault::Pass => {}
                    }
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
                        reset_on_close(inbound.as_raw_fd());
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = rx.wait_for(|m| *m != fault) => {
                            reset_on_close(inbound.as_raw_fd());
                        }
                    }
                });
            }
        });
        FaultProxy { addr, mode, task }
    }

    fn set(&self, fault: Fault) {
        self.mode.send_replace(fault);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Breaker cool-down the object-store tests configure (default 30 s is too long for a test).
const BREAKER_COOL_DOWN: Duration = Duration::from_secs(3);

/// The value of an unlabelled gauge in Prometheus text.
fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

/// Writes `batches` batches of ten points (round 0, writer 0); each must be acknowledged.
async fn write_batches(
    client: &Client,
    coll: &str,
    ledger: &mut Ledger,
    next: &mut u64,
    batches: usize,
    what: &str,
) {
    for _ in 0..batches {
        let batch: Vec<Point> = (*next..*next + 10)
            .map(|id| point_for(id, 0, 0, 64))
            .collect();
        *next += 10;
        let n = client
            .upsert(coll, &batch)
            .await
            .unwrap_or_else(|e| panic!("write {what} failed: {e}"));
        assert_eq!(n, 10, "write {what}: wrong upserted count");
        ledger.acked.push(batch);
    }
}

/// Every acknowledged point readable by search and by id.
async fn check_reads(client: &Client, coll: &str, ledger: &Ledger, what: &str) -> usize {
    let found = fetch_slice(client, coll, 0, 0).await;
    let present = verify_slice(&found, ledger, what);
    let acked: usize = ledger.acked.iter().map(Vec::len).sum();
    assert_eq!(present, acked, "{what}: point count differs");
    let last = ledger.acked.last().and_then(|b| b.last()).unwrap();
    let got = client
        .get(coll, &last.id)
        .await
        .unwrap_or_else(|e| panic!("{what}: get by id failed: {e}"));
    assert_eq!(got.payload, last.payload, "{what}: get by id");
    present
}

/// The keys listed by `GET /api/v1/admin/dlq`.
fn dlq_keys(list: &serde_json::Value) -> Vec<String> {
    list["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("GET /api/v1/admin/dlq: no entries array: {list}"))
        .iter()
        .map(|e| e["key"].as_str().expect("entry key").to_string())
        .collect()
}

/// The SeaweedFS tests of this file run one at a time: the cascading test restarts its
/// SeaweedFS on the same ports after a kill, and a SeaweedFS started meanwhile by a
/// concurrent test could take one of those freed ports (each picks free ports first).
static ONE_SEAWEEDFS_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn object_store_partition_opens_breaker_fills_and_drains_dlq() {
    let _one = ONE_SEAWEEDFS_AT_A_TIME.lock().await;
    let test_start = Instant::now();
    let weed = start_weed().await;
    let upstream: std::net::SocketAddr = format!("127.0.0.1:{}", weed.ports().s3).parse().unwrap();
    let proxy = FaultProxy::start(upstream).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::spawn(
        &data,
        s3_env(&format!("http://{}", proxy.addr), &weed, BREAKER_COOL_DOWN),
    );
    server.wait_ready().await;
    let client = client_with_timeout(&server.rest, Duration::from_secs(60));
    let bucket = bucket_store(&weed).await;
    create_l2_collection(&client, "part").await;
    let mut ledger = Ledger::default();
    let mut next = 1u64;

    // Healthy, then slow: snapshots upload through the proxy; nothing is queued.
    write_batches(
        &client,
        "part",
        &mut ledger,
        &mut next,
        20,
        "before the partition",
    )
    .await;
    client
        .snapshot("part")
        .await
        .expect("snapshot with S3 healthy");
    proxy.set(Fault::Delay(Duration::from_millis(300)));
    write_batches(
        &client,
        "part",
        &mut ledger,
        &mut next,
        2,
        "with a slow link",
    )
    .await;
    let t = Instant::now();
    client
        .snapshot("part")
        .await
        .expect("snapshot over a slow link");
    let slow_snapshot = t.elapsed();
    let m = client.metrics().await.unwrap();
    assert_eq!(
        gauge(&m, "akidb_dlq_size"),
        Some(0.0),
        "a slow link must not dead-letter uploads"
    );
    assert_eq!(gauge(&m, "akidb_circuit_breaker_state"), Some(0.0));
    let uploaded_healthy = bucket
        .list("collections/part/snapshots/")
        .await
        .unwrap()
        .len();
    assert!(
        uploaded_healthy > 0,
        "no snapshot object reached the bucket while healthy"
    );

    // Partition: resets and black-holed flows in turn. Writes, reads and local snapshots go
    // on; uploads fail, are dead-lettered, and the breaker opens.
    let partition = Instant::now();
    let faults = [Fault::Reset, Fault::Drop];
    let (mut breaker_opened, mut dlq_peak, mut rounds) = (None, 0.0f64, 0);
    for round in 0..12 {
        proxy.set(faults[round % faults.len()]);
        write_batches(
            &client,
            "part",
            &mut ledger,
            &mut next,
            2,
            "during the partition",
        )
        .await;
        check_reads(&client, "part", &ledger, "during the partition").await;
        client
            .snapshot("part")
            .await
            .expect("a snapshot is durable locally even while S3 is down");
        rounds += 1;
        let m = client.metrics().await.unwrap();
        if gauge(&m, "akidb_circuit_breaker_state") == Some(1.0) {
            breaker_opened.get_or_insert(partition.elapsed());
        }
        dlq_peak = dlq_peak.max(gauge(&m, "akidb_dlq_size").unwrap_or(0.0));
        // Both fault kinds seen, breaker open, queue filled: enough.
        if breaker_opened.is_some() && dlq_peak > 0.0 && round >= 2 {
            break;
        }
    }
    let breaker_opened =
        breaker_opened.expect("akidb_circuit_breaker_state never reached 1 during the partition");
    assert!(
        dlq_peak > 0.0,
        "akidb_dlq_size stayed 0 during the partition"
    );
    let queued = dlq_keys(&client.dlq().await.unwrap());
    assert!(
        !queued.is_empty(),
        "GET /api/v1/admin/dlq lists nothing during the partition"
    );
    assert_eq!(
        queued.len() as f64,
        dlq_peak,
        "dlq list and akidb_dlq_size disagree"
    );
    // Retrying while still partitioned fails honestly and keeps everything queued.
    proxy.set(Fault::Reset);
    let report = client.dlq_retry_all().await.unwrap();
    assert_eq!(
        report["succeeded"], 0,
        "retry-all during the partition: {report}"
    );
    assert_eq!(
        report["remaining"].as_u64(),
        Some(queued.len() as u64),
        "{report}"
    );

    // Heal: once the breaker's cool-down has passed, retry-all drains the queue.
    proxy.set(Fault::Pass);
    let healed = Instant::now();
    let mut retry_calls = 0;
    let (drained_after, drain_call) = loop {
        let t = Instant::now();
        let report = client.dlq_retry_all().await.unwrap();
        retry_calls += 1;
        if report["remaining"].as_u64() == Some(0) {
            assert_eq!(report["failed"], 0, "{report}");
            break (healed.elapsed(), t.elapsed());
        }
        assert!(
            healed.elapsed() < BREAKER_COOL_DOWN + Duration::from_secs(30),
            "DLQ not drained {:?} after healing: {report}",
            healed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let m = client.metrics().await.unwrap();
    assert_eq!(gauge(&m, "akidb_dlq_size"), Some(0.0));
    assert_eq!(
        gauge(&m, "akidb_circuit_breaker_state"),
        Some(0.0),
        "breaker not closed after the drain"
    );
    assert!(dlq_keys(&client.dlq().await.unwrap()).is_empty());
    for key in &queued {
        let meta = bucket.head(key).await.unwrap();
        assert!(
            meta.is_some(),
            "dead-lettered {key} is not in the bucket after the drain"
        );
    }

    // After healing, new writes and snapshots upload directly again.
    write_batches(&client, "part", &mut ledger, &mut next, 2, "after healing").await;
    client
        .snapshot("part")
        .await
        .expect("snapshot after healing");
    assert_eq!(
        gauge(&client.metrics().await.unwrap(), "akidb_dlq_size"),
        Some(0.0)
    );
    let present = check_reads(&client, "part", &ledger, "after healing").await;
    println!(
        "CHAOS partition: slow_snapshot_ms={:.0} partition_rounds={rounds} breaker_open_after_ms={:.0} \
         dlq_peak={dlq_peak} dlq_drained={} retry_all_calls={retry_calls} dlq_drain_call_ms={:.0} \
         heal_to_drained_ms={:.0} (cool-down {}s) points_verified={present} total_s={:.1}",
        ms(slow_snapshot),
        ms(breaker_opened),
        queued.len(),
        ms(drain_call),
        ms(drained_after),
        BREAKER_COOL_DOWN.as_secs(),
        test_start.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cascading_failure_store_and_server_killed_together() {
    let _one = ONE_SEAWEEDFS_AT_A_TIME.lock().await;
    let test_start = Instant::now();
    let mut weed = start_weed().await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::spawn(&data, s3_env(&weed.endpoint(), &weed, BREAKER_COOL_DOWN));
    server.wait_ready().await;
    let client = client_with_timeout(&server.rest, Duration::from_secs(60));
    create_l2_collection(&client, "casc").await;
    let mut ledger = Ledger::default();
    let mut next = 1u64;
    write_batches(
        &client,
        "casc",
        &mut ledger,
        &mut next,
        30,
        "before the snapshot",
    )
    .await;
    client
        .snapshot("casc")
        .await
        .expect("snapshot uploaded to S3");
    write_batches(
        &client,
        "casc",
        &mut ledger,
        &mut next,
        30,
        "after the snapshot",
    )
    .await;

    // Both die at once, both come back at once.
    server.kill9();
    weed.kill();
    let restarted = Instant::now();
    let env = server.env.clone();
    let weed_back = tokio::task::spawn_blocking(move || {
        weed.restart();
        weed
    });
    server = Server::spawn(&data, env);
    let ready = wait_ready_timed(&mut server, restarted, Duration::from_secs(120)).await;
    let weed = weed_back.await.expect("SeaweedFS restart");
    let client = client_with_timeout(&server.rest, Duration::from_secs(60));
    let present = check_reads(&client, "casc", &ledger, "after the cascading failure").await;
    let acked: usize = ledger.acked.iter().map(Vec::len).sum();

    // The object store works for the server again: a new snapshot reaches the bucket.
    let snap = client
        .snapshot("casc")
        .await
        .expect("snapshot after both restarts");
    let m = client.metrics().await.unwrap();
    assert_eq!(
        gauge(&m, "akidb_dlq_size"),
        Some(0.0),
        "the snapshot after both restarts was dead-lettered"
    );
    let bucket = bucket_store(&weed).await;
    let keys: Vec<String> = bucket
        .list("collections/casc/snapshots/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert!(
        keys.iter().any(|k| k.contains(&snap.snapshot_id)
            && k.ends_with(akidb_storage::snapshot::MANIFEST_FILE)),
        "snapshot {} not in the bucket after both restarts: {keys:?}",
        snap.snapshot_id
    );
    println!(
        "CHAOS cascading: acked={acked} recovered={present} lost=0 ready_after_ms={:.0} \
         snapshot_after_restart={} total_s={:.1}",
        ms(ready),
        snap.snapshot_id,
        test_start.elapsed().as_secs_f64()
    );
}
