//! `cargo xtask soak --minutes N`: mixed load against the real `akidb` binary for N minutes
//! (not part of `cargo xtask test`). One writer upserts and deletes over a bounded id space,
//! searchers run plain and filtered k-NN, and a maintenance loop takes snapshots, compacts,
//! moves the collection through the tiers and restarts the server (`kill -9` and graceful, in
//! turn). Every minute it samples the server's RSS, open files, WAL and data-directory size.
//!
//! It fails on any error that no restart explains, on a lost or stale point (the whole id
//! space is checked against the writer's model after every restart and at the end), and on
//! resources that keep growing once the id space is full (see [`growth_verdict`]).
//! The samples go to `target/soak/samples.csv`; `--doc` also plots them
//! (`xtask/scripts/soak_plot.py`, matplotlib) and rewrites the "Soak" section of
//! `docs/reliability.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use akidb_client::Client;
use anyhow::{bail, ensure, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};

use crate::bench::server::{build_server, free_port, Daemon};
use crate::bench::{load_average, pip_install, run_capture};
use crate::provision::workspace_root;

/// Arguments of `cargo xtask soak`.
#[derive(clap::Args)]
pub struct Args {
    /// How long the load runs.
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    /// Minutes between server restarts (kill -9 and graceful stop, in turn).
    #[arg(long, default_value_t = 5)]
    restart_every: u64,
    /// Distinct point ids the writer cycles through (the collection's steady-state size).
    #[arg(long, default_value_t = 20_000)]
    id_space: u64,
    /// Vector dimension.
    #[arg(long, default_value_t = 64)]
    dimension: usize,
    /// Points upserted per second (deletes come on top, one batch in ten).
    #[arg(long, default_value_t = 400)]
    write_rate: u64,
    /// Concurrent search loops.
    #[arg(long, default_value_t = 2)]
    searchers: usize,
    /// Searches per second of each loop (a soak is steady load, not a throughput test).
    #[arg(long, default_value_t = 100)]
    search_rate: u64,
    /// Build the server with `--release` instead of the (optimised) dev profile.
    #[arg(long)]
    release: bool,
    /// Soak this `akidb` binary instead of building one.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Plot the samples and rewrite the "Soak" section of docs/reliability.md.
    #[arg(long)]
    doc: bool,
}

const COLLECTION: &str = "soak";
/// Points per upsert request.
const BATCH: usize = 100;
/// Payload groups: a filtered search asks for one of them.
const GROUPS: u64 = 10;

/// Everything the server is started with, so a restart is the same server.
struct ServerSpec {
    bin: PathBuf,
    data_dir: PathBuf,
    /// Each start logs to `akidb-<n>.log` here, so a restart keeps the earlier logs.
    log_dir: PathBuf,
    rest: String,
    starts: AtomicU64,
}

impl ServerSpec {
    fn start(&self) -> Result<Daemon> {
        let n = self.starts.fetch_add(1, Ordering::SeqCst);
        let log = self.log_dir.join(format!("akidb-{n}.log"));
        let grpc = format!("127.0.0.1:{}", free_port()?);
        let env = [
            ("AKIDB_REST_ADDR", self.rest.clone()),
            ("AKIDB_GRPC_ADDR", grpc),
            ("AKIDB_DATA_DIR", self.data_dir.display().to_string()),
            // Small segments so sealing, graph builds and compaction happen many times.
            ("AKIDB_SEGMENT_MAX_POINTS", "5000".into()),
        ];
        Daemon::start("akidb", &self.bin.display().to_string(), &[], &env, log)
    }
}

/// The writer's record of what the server must hold: id → version of the last
/// acknowledged upsert, or `None` once deleted. `in_flight` is the batch whose answer
/// was lost to a restart: after the restart it is either wholly applied or wholly not.
#[derive(Default)]
struct Model {
    points: BTreeMap<u64, Option<u64>>,
    in_flight: Option<Vec<(u64, Option<u64>)>>,
}

/// Counters shared by the load tasks; the sampler turns them into per-minute rates.
#[derive(Default)]
struct Counters {
    upserted: AtomicU64,
    deleted: AtomicU64,
    searches: AtomicU64,
    filtered: AtomicU64,
    retried_during_restart: AtomicU64,
    latencies_ms: Mutex<Vec<f64>>,
    errors: Mutex<Vec<String>>,
}

impl Counters {
    fn fail(&self, what: String) {
        eprintln!("soak: ERROR {what}");
        self.errors.lock().unwrap().push(what);
    }
}

/// Set while the server is deliberately down, so failed requests then are expected.
#[derive(Default)]
struct Restarts {
    down: AtomicBool,
    generation: AtomicU64,
}

impl Restarts {
    /// Whether a request that started in `generation` may have failed because of a restart.
    fn explains(&self, generation: u64) -> bool {
        self.down.load(Ordering::SeqCst) || self.generation.load(Ordering::SeqCst) != generation
    }
}

/// A deterministic unit vector for one version of one point, so any copy can be checked.
fn vector_for(id: u64, version: u64, dim: usize) -> Vec<f32> {
    let mut state =
        id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ version.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut v: Vec<f32> = (0..dim)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) as f64 / u64::MAX as f64 - 0.5) as f32
        })
        .collect();
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// Sends a JSON request; `Ok(Err(..))` is an answer with an error status.
async fn call(
    client: &Client,
    method: Method,
    segments: &[&str],
    body: Option<Value>,
) -> Result<std::result::Result<Value, String>> {
    let body = body.map(|b| serde_json::to_vec(&b)).transpose()?;
    let (status, bytes) = client.raw(method, segments, body).await?;
    if (200..300).contains(&status) {
        Ok(Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    } else {
        Ok(Err(format!("{status} {}", String::from_utf8_lossy(&bytes))))
    }
}

/// Like [`call`], but an error answer is an error.
async fn call_ok(
    client: &Client,
    method: Method,
    segments: &[&str],
    body: Option<Value>,
) -> Result<Value> {
    let shown = segments.join("/");
    call(client, method, segments, body)
        .await
        .with_context(|| format!("{shown}: no answer"))?
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))
}

/// Runs `cargo xtask soak`.
pub fn run(args: Args) -> Result<()> {
    ensure!(args.minutes >= 1, "--minutes must be at least 1");
    ensure!(
        args.id_space >= BATCH as u64,
        "--id-space must be at least {BATCH}"
    );
    let root = workspace_root();
    let out = root.join("target/soak");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(&out)?;
    let bin = match &args.server_bin {
        Some(b) => b.clone(),
        None => build_server(args.release)?,
    };
    let spec = ServerSpec {
        bin,
        data_dir: out.join("data"),
        log_dir: out.clone(),
        rest: format!("127.0.0.1:{}", free_port()?),
        starts: AtomicU64::new(0),
    };
    let load_before = load_average();
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(soak(&args, &spec))?;
    let load_after = load_average();
    let csv = out.join("samples.csv");
    std::fs::write(&csv, report.csv())?;
    println!("{}", report.table());
    println!(
        "samples: {}; load average before: {load_before}; after: {load_after}",
        csv.display()
    );
    let verdict = report.verdict();
    if args.doc {
        write_doc(&args, &report, &csv, &load_before, &load_after, &verdict)?;
    }
    if !verdict.is_empty() {
        bail!("soak failed:\n- {}", verdict.join("\n- "));
    }
    println!("soak passed: no error, no lost point, resources level off");
    Ok(())
}

/// One per-minute sample of the server.
#[derive(Clone, Debug)]
struct Sample {
    minute: f64,
    rss_mib: f64,
    open_files: u64,
    wal_mib: f64,
    disk_mib: f64,
    points: u64,
    upserts_per_s: f64,
    searches_per_s: f64,
    search_p99_ms: f64,
    event: String,
}

/// What a soak run found.
struct Report {
    minutes: u64,
    samples: Vec<Sample>,
    errors: Vec<String>,
    restarts: u64,
    verifications: u64,
    points_checked: u64,
    totals: [u64; 5],
}

/// Columns of the samples: CSV name and table heading.
const COLUMNS: [(&str, &str); 10] = [
    ("minute", "minute"),
    ("rss_mib", "RSS (MiB)"),
    ("open_files", "open files"),
    ("wal_mib", "WAL (MiB)"),
    ("disk_mib", "data dir (MiB)"),
    ("points", "points"),
    ("upserts_per_s", "upserts/s"),
    ("searches_per_s", "searches/s"),
    ("search_p99_ms", "search p99 (ms)"),
    ("event", "event"),
];

impl Sample {
    /// The values in [`COLUMNS`] order, formatted once for the CSV and the table.
    fn cells(&self) -> [String; 10] {
        [
            format!("{:.2}", self.minute),
            format!("{:.1}", self.rss_mib),
            self.open_files.to_string(),
            format!("{:.2}", self.wal_mib),
            format!("{:.1}", self.disk_mib),
            self.points.to_string(),
            format!("{:.0}", self.upserts_per_s),
            format!("{:.0}", self.searches_per_s),
            format!("{:.1}", self.search_p99_ms),
            self.event.clone(),
        ]
    }
}

impl Report {
    fn csv(&self) -> String {
        let mut s = COLUMNS.map(|c| c.0).join(",") + "\n";
        for x in &self.samples {
            s += &(x.cells().join(",") + "\n");
        }
        s
    }

    fn table(&self) -> String {
        let mut s = format!(
            "| {} |\n|{}---|\n",
            COLUMNS.map(|c| c.1).join(" | "),
            "---:|".repeat(COLUMNS.len() - 1)
        );
        for x in &self.samples {
            s += &format!("| {} |\n", x.cells().join(" | "));
        }
        s
    }

    /// Every reason the run failed (empty when it passed).
    fn verdict(&self) -> Vec<String> {
        let mut v: Vec<String> = self.errors.iter().take(20).cloned().collect();
        if self.errors.len() > 20 {
            v.push(format!("… and {} more errors", self.errors.len() - 20));
        }
        type Series = (&'static str, fn(&Sample) -> f64, f64);
        let series: [Series; 4] = [
            ("RSS", |s| s.rss_mib, 48.0),
            ("open files", |s| s.open_files as f64, 32.0),
            ("WAL size", |s| s.wal_mib, 64.0),
            ("data directory size", |s| s.disk_mib, 128.0),
        ];
        for (name, get, slack) in series {
            let values: Vec<f64> = self.samples.iter().map(get).collect();
            if let Some(why) = growth_verdict(&values, slack) {
                v.push(format!("{name} {why}"));
            }
        }
        v
    }
}

/// `Some(reason)` when `values` (one per minute) keep growing: after the first third of
/// the run (filling the id space), the mean of the last half of the remaining samples may
/// exceed the mean of the first half by at most 25 % plus `slack`. Runs with fewer than six
/// samples are too short to judge and pass.
fn growth_verdict(values: &[f64], slack: f64) -> Option<String> {
    if values.len() < 6 {
        return None;
    }
    let settled = &values[values.len() / 3..];
    let (early, late) = settled.split_at(settled.len() / 2);
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let (early, late) = (mean(early), mean(late));
    (late > early * 1.25 + slack).then(|| {
        format!("keeps growing: mean {early:.1} in the first half of the settled run, {late:.1} in the second")
    })
}

/// Reads `VmRSS` (MiB) and the number of open descriptors of `pid`.
fn process_usage(pid: u32) -> (f64, u64) {
    let rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<f64>().ok())
            })
        })
        .unwrap_or(0.0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    (rss_kib / 1024.0, fds)
}

/// Bytes under `dir` in total, and in files whose path has a `wal` component.
fn dir_usage(dir: &Path) -> (u64, u64) {
    let (mut total, mut wal) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                total += meta.len();
                if e.path()
                    .components()
                    .any(|c| c.as_os_str().to_string_lossy().starts_with("wal"))
                {
                    wal += meta.len();
                }
            }
        }
    }
    (total, wal)
}

async fn soak(args: &Args, spec: &ServerSpec) -> Result<Report> {
    let client = Client::new(&format!("http://{}", spec.rest))?;
    let mut server = spec.start()?;
    wait_ready(&client, &server).await?;
    call_ok(
        &client,
        Method::POST,
        &["api", "v1", "collections"],
        Some(json!({"name": COLLECTION, "dimension": args.dimension, "metric": "cosine"})),
    )
    .await?;

    let model = Arc::new(Mutex::new(Model::default()));
    let counters = Arc::new(Counters::default());
    let restarts = Arc::new(Restarts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(writer(
        client.clone(),
        args.id_space,
        args.dimension,
        args.write_rate,
        model.clone(),
        counters.clone(),
        restarts.clone(),
        stop.clone(),
    )));
    for n in 0..args.searchers {
        tasks.push(tokio::spawn(searcher(
            client.clone(),
            n as u64,
            args.dimension,
            args.search_rate,
            counters.clone(),
            restarts.clone(),
            stop.clone(),
        )));
    }

    let started = Instant::now();
    let end = started + Duration::from_secs(args.minutes * 60);
    let mut report = Report {
        minutes: args.minutes,
        samples: Vec::new(),
        errors: Vec::new(),
        restarts: 0,
        verifications: 0,
        points_checked: 0,
        totals: [0; 5],
    };
    let mut last_sample = Instant::now();
    let mut last_counts = (0u64, 0u64);
    let mut minute: u64 = 0;
    let mut events: Vec<String> = Vec::new();
    while Instant::now() < end && counters.errors.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let elapsed = started.elapsed().as_secs();
        if elapsed / 60 > minute {
            minute = elapsed / 60;
            // One maintenance action per minute, in a fixed rotation; restarts on their own clock.
            let action = if minute % args.restart_every.max(1) == 0 {
                let kill = report.restarts % 2 == 0;
                restart(&client, spec, &mut server, &restarts, kill).await?;
                report.restarts += 1;
                let checked = verify(&client, &model, args.dimension).await?;
                report.verifications += 1;
                report.points_checked += checked;
                // Writers and searchers resume only now: the check needs a still collection.
                restarts.down.store(false, Ordering::SeqCst);
                format!(
                    "{} + {checked} points verified",
                    if kill { "kill -9" } else { "restart" }
                )
            } else {
                maintenance(&client, minute).await.unwrap_or_else(|e| {
                    counters.fail(format!("maintenance in minute {minute}: {e:#}"));
                    "failed".into()
                })
            };
            eprintln!("soak: minute {minute}: {action}");
            events.push(action);
        }
        if last_sample.elapsed() >= Duration::from_secs(60) {
            let secs = last_sample.elapsed().as_secs_f64();
            last_sample = Instant::now();
            let up = counters.upserted.load(Ordering::Relaxed);
            let se = counters.searches.load(Ordering::Relaxed);
            let mut lat = std::mem::take(&mut *counters.latencies_ms.lock().unwrap());
            lat.sort_by(f64::total_cmp);
            let p99 = lat
                .get(lat.len().saturating_sub(1) * 99 / 100)
                .copied()
                .unwrap_or(0.0);
            let (rss, fds) = process_usage(server.pid());
            let (disk, wal) = dir_usage(&spec.data_dir);
            let points = model
                .lock()
                .unwrap()
                .points
                .values()
                .filter(|v| v.is_some())
                .count() as u64;
            let s = Sample {
                minute: started.elapsed().as_secs_f64() / 60.0,
                rss_mib: rss,
                open_files: fds,
                wal_mib: wal as f64 / 1048576.0,
                disk_mib: disk as f64 / 1048576.0,
                points,
                upserts_per_s: (up - last_counts.0) as f64 / secs,
                searches_per_s: (se - last_counts.1) as f64 / secs,
                search_p99_ms: p99,
                event: std::mem::take(&mut events).join("; "),
            };
            eprintln!("soak: {s:?}");
            last_counts = (up, se);
            report.samples.push(s);
        }
    }
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await?;
    }
    if counters.errors.lock().unwrap().is_empty() {
        let checked = verify(&client, &model, args.dimension).await?;
        report.verifications += 1;
        report.points_checked += checked;
        eprintln!("soak: final check: {checked} points verified");
    }
    report.errors = std::mem::take(&mut *counters.errors.lock().unwrap());
    report.totals = [
        counters.upserted.load(Ordering::Relaxed),
        counters.deleted.load(Ordering::Relaxed),
        counters.searches.load(Ordering::Relaxed),
        counters.filtered.load(Ordering::Relaxed),
        counters.retried_during_restart.load(Ordering::Relaxed),
    ];
    server.check_alive()?;
    Ok(report)
}

async fn wait_ready(client: &Client, server: &Daemon) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        server.check_alive()?;
        if client.ready().await.unwrap_or(false) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "akidb was not ready within 120 s (log: {})",
        server.log().display()
    )
}

/// Stops the server (SIGKILL, or SIGTERM and a wait) and starts it again on the same data;
/// the load stays paused (`restarts.down`) until the caller has verified the data.
async fn restart(
    client: &Client,
    spec: &ServerSpec,
    server: &mut Daemon,
    restarts: &Restarts,
    kill: bool,
) -> Result<()> {
    restarts.down.store(true, Ordering::SeqCst);
    restarts.generation.fetch_add(1, Ordering::SeqCst);
    if kill {
        server.kill()?;
    } else {
        server.terminate(Duration::from_secs(30))?;
    }
    *server = spec.start()?;
    wait_ready(client, server).await
}

/// The maintenance action of `minute` (restarts excluded): snapshot, compaction, a
/// trip to warm and back, or to cold and back.
async fn maintenance(client: &Client, minute: u64) -> Result<String> {
    let admin = |verb: &'static str| ["api", "v1", "admin", "collections", COLLECTION, verb];
    Ok(match minute % 4 {
        0 | 1 => {
            let s = call_ok(client, Method::POST, &admin("snapshot"), None).await?;
            format!("snapshot at lsn {}", s["lsn"])
        }
        2 => {
            let c = call_ok(client, Method::POST, &admin("compact"), None).await?;
            format!(
                "compact {}→{} segments",
                c["segments_before"], c["segments_after"]
            )
        }
        _ => {
            let to = if minute % 8 == 3 { "warm" } else { "cold" };
            call_ok(
                client,
                Method::POST,
                &admin("demote"),
                Some(json!({"to": to})),
            )
            .await?;
            call_ok(client, Method::POST, &admin("promote"), None).await?;
            format!("{to} and back")
        }
    })
}

/// Upserts (nine batches in ten) and deletes over the id space at `rate` points/s.
#[allow(clippy::too_many_arguments)]
async fn writer(
    client: Client,
    id_space: u64,
    dim: usize,
    rate: u64,
    model: Arc<Mutex<Model>>,
    counters: Arc<Counters>,
    restarts: Arc<Restarts>,
    stop: Arc<AtomicBool>,
) {
    let mut version: u64 = 0;
    let mut next_id: u64 = 0;
    let pause = Duration::from_secs_f64(BATCH as f64 / rate.max(1) as f64);
    while !stop.load(Ordering::SeqCst) {
        let tick = Instant::now();
        version += 1;
        // First fill the id space in order, then rewrite and delete ids spread over it.
        let ids: Vec<u64> = (0..BATCH as u64)
            .map(|i| {
                if next_id < id_space {
                    next_id += 1;
                    next_id - 1
                } else {
                    (version.wrapping_mul(7919) + i * 104_729) % id_space
                }
            })
            .collect();
        let delete = next_id >= id_space && version % 10 == 0;
        let (batch, body, route): (Vec<(u64, Option<u64>)>, Value, &str) = if delete {
            let ids: Vec<u64> = ids.into_iter().take(BATCH / 5).collect();
            (
                ids.iter().map(|&id| (id, None)).collect(),
                json!({"ids": ids}),
                "delete",
            )
        } else {
            let points: Vec<Value> = ids
                .iter()
                .map(|&id| {
                    json!({"id": id, "vector": vector_for(id, version, dim),
                           "payload": {"v": version, "group": id % GROUPS}})
                })
                .collect();
            (
                ids.iter().map(|&id| (id, Some(version))).collect(),
                json!({"points": points}),
                "points",
            )
        };
        let generation = restarts.generation.load(Ordering::SeqCst);
        model.lock().unwrap().in_flight = Some(batch.clone());
        let answer = if delete {
            call(
                &client,
                Method::POST,
                &["api", "v1", "collections", COLLECTION, "points", route],
                Some(body),
            )
            .await
        } else {
            call(
                &client,
                Method::PUT,
                &["api", "v1", "collections", COLLECTION, route],
                Some(body),
            )
            .await
        };
        match answer {
            Ok(Ok(_)) => {
                let mut m = model.lock().unwrap();
                m.in_flight = None;
                for (id, v) in &batch {
                    m.points.insert(*id, *v);
                }
                let counter = if delete {
                    &counters.deleted
                } else {
                    &counters.upserted
                };
                counter.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            // The in-flight batch stays recorded; the next verification settles it.
            Err(_) | Ok(Err(_)) if restarts.explains(generation) => {
                counters
                    .retried_during_restart
                    .fetch_add(1, Ordering::Relaxed);
                while restarts.down.load(Ordering::SeqCst) && !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                // Wait for the verification to settle it before writing over the same ids.
                while model.lock().unwrap().in_flight.is_some() && !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Err(e) => return counters.fail(format!("{route}: {e:#}")),
            Ok(Err(e)) => return counters.fail(format!("{route}: {e}")),
        }
        if let Some(rest) = pause.checked_sub(tick.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
}

/// Searches with a random vector, every other query filtered to one group; checks that a
/// filtered answer holds only that group and that a full collection answers k hits.
async fn searcher(
    client: Client,
    seed: u64,
    dim: usize,
    rate: u64,
    counters: Arc<Counters>,
    restarts: Arc<Restarts>,
    stop: Arc<AtomicBool>,
) {
    let mut n: u64 = 0;
    let pause = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let tick = Instant::now();
        let query = vector_for(u64::MAX - seed, n, dim);
        let group = n % GROUPS;
        let filtered = n % 2 == 0;
        let mut body = json!({"vector": query, "k": 10});
        if filtered {
            body["filter"] = json!({"must": [{"key": "group", "match": {"value": group}}]});
        }
        let generation = restarts.generation.load(Ordering::SeqCst);
        let t = Instant::now();
        let answer = call(
            &client,
            Method::POST,
            &["api", "v1", "collections", COLLECTION, "search"],
            Some(body),
        )
        .await;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        match answer {
            Ok(Ok(v)) => {
                let hits = v["hits"].as_array().cloned().unwrap_or_default();
                if filtered {
                    if let Some(bad) = hits.iter().find(|h| h["payload"]["group"] != json!(group)) {
                        return counters
                            .fail(format!("filtered search for group {group} returned {bad}"));
                    }
                    counters.filtered.fetch_add(1, Ordering::Relaxed);
                }
                counters.searches.fetch_add(1, Ordering::Relaxed);
                counters.latencies_ms.lock().unwrap().push(ms);
            }
            Err(_) | Ok(Err(_)) if restarts.explains(generation) => {
                counters
                    .retried_during_restart
                    .fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return counters.fail(format!("search: {e:#}")),
            Ok(Err(e)) => return counters.fail(format!("search: {e}")),
        }
        if let Some(rest) = pause.checked_sub(tick.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
}

/// Reads every id of the model back and compares version, vector and absence; settles
/// an in-flight batch (all of it applied, or none). Returns the number of ids checked.
async fn verify(client: &Client, model: &Mutex<Model>, dim: usize) -> Result<u64> {
    let (expected, in_flight) = {
        let m = model.lock().unwrap();
        (m.points.clone(), m.in_flight.clone())
    };
    let ids: Vec<u64> = expected
        .keys()
        .copied()
        .chain(in_flight.iter().flatten().map(|(id, _)| *id))
        .collect();
    let mut found: BTreeMap<u64, (u64, Vec<f32>)> = BTreeMap::new();
    for chunk in ids.chunks(1000) {
        let v = call_ok(
            client,
            Method::POST,
            &["api", "v1", "collections", COLLECTION, "points", "get"],
            Some(json!({"ids": chunk, "with_vector": true})),
        )
        .await?;
        for p in v["points"]
            .as_array()
            .context("points/get answer without points")?
        {
            let id = p["id"].as_u64().context("non-integer id")?;
            let version = p["payload"]["v"].as_u64().context("payload without v")?;
            let vector: Vec<f32> = serde_json::from_value(p["vector"].clone())?;
            found.insert(id, (version, vector));
        }
    }
    let settled_in_flight = in_flight.as_ref().map(|batch| {
        let applied = batch.iter().all(|(id, v)| found.get(id).map(|f| f.0) == *v);
        let absent = batch
            .iter()
            .all(|(id, _)| found.get(id).map(|f| f.0) == expected.get(id).copied().flatten());
        (applied, absent)
    });
    let mut expected = expected;
    if let (Some(batch), Some((applied, absent))) = (&in_flight, settled_in_flight) {
        ensure!(
            applied || absent,
            "a batch cut by a restart was partly applied: {batch:?}"
        );
        if applied {
            for (id, v) in batch {
                expected.insert(*id, *v);
            }
        }
    }
    for (id, want) in &expected {
        match (want, found.get(id)) {
            (None, None) => {}
            (None, Some((v, _))) => {
                bail!("point {id} was deleted (acknowledged) but is back at version {v}")
            }
            (Some(w), None) => bail!("point {id} (version {w}, acknowledged) is lost"),
            (Some(w), Some((v, vector))) => {
                ensure!(
                    v == w,
                    "point {id} is at version {v}, the acknowledged one is {w}"
                );
                let truth = vector_for(*id, *w, dim);
                let worst = truth
                    .iter()
                    .zip(vector)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                ensure!(
                    worst < 1e-5,
                    "point {id}: vector differs from the written one by {worst}"
                );
            }
        }
    }
    let mut m = model.lock().unwrap();
    if in_flight.is_some() {
        m.points = expected;
        m.in_flight = None;
    }
    Ok(ids.len() as u64)
}

fn write_doc(
    args: &Args,
    report: &Report,
    csv: &Path,
    load_before: &str,
    load_after: &str,
    verdict: &[String],
) -> Result<()> {
    let root = workspace_root();
    let png = root.join("docs/img/soak.png");
    std::fs::create_dir_all(png.parent().unwrap())?;
    let pydeps = root.join("target/pydeps-plot");
    pip_install(&pydeps, "import matplotlib", &["matplotlib"])?;
    run_capture(
        &root,
        "python3",
        &[
            root.join("xtask/scripts/soak_plot.py")
                .display()
                .to_string(),
            csv.display().to_string(),
            png.display().to_string(),
        ],
        &[("PYTHONPATH", pydeps.display().to_string())],
    )?;
    let date = crate::bench::utc_now()?;
    let [up, del, se, filt, retried] = report.totals;
    let outcome = if verdict.is_empty() {
        "**passed**: no error, no lost or stale point, every resource levels off".to_string()
    } else {
        format!("**failed**: {}", verdict.join("; "))
    };
    let section = format!(
        "## Soak\n\n\
`cargo xtask soak --minutes N` runs the real `akidb` binary ({profile}) for N\n\
minutes under mixed load: one writer upserts batches of {BATCH} points ({dim}-d, cosine,\n\
payload `{{v, group}}`) at {rate} points/s over an id space of {ids} ids, filling it in order\n\
and then rewriting ids spread over it, with one batch in ten a delete; {searchers} search loops\n\
at {search_rate} queries/s each (every other query filtered to one `group`, each filtered hit checked); once a minute a\n\
maintenance action in rotation — snapshot, snapshot, compaction, a trip to warm or cold\n\
and back (the cold copy in the default object store, `<data_dir>/objects`) — and every\n\
{every} minutes a restart, `kill -9` and graceful in turn. After each restart and at the end\n\
every id is read back (`points/get` with vectors) and compared with the writer's record\n\
(version in the payload, the exact vector, deletions); a batch cut by a `kill -9` must be\n\
wholly applied or wholly absent. It fails on any error that no restart explains, on a lost\n\
or stale point, and on growth: after the first third of the run, the mean of the last half\n\
of the samples may exceed that of the first half by at most 25 % (plus 48 MiB RSS, 32 open\n\
files, 64 MiB WAL, 128 MiB data directory). Samples: `target/soak/samples.csv`; `--doc`\n\
draws this plot (`xtask/scripts/soak_plot.py`) and rewrites this section.\n\n\
```sh\ncargo xtask soak --minutes {minutes} --doc\n```\n\n\
Measured {date} on the shared 2-core VM (load average before: {load_before}; after:\n\
{load_after}; other builds were running). Outcome: {outcome}. Totals: {up} points upserted,\n\
{del} deleted, {se} searches ({filt} filtered), {restarts} restarts, {verifs} full\n\
verifications ({checked} point checks), {retried} requests cut by a restart (expected).\n\n\
![RSS, open files, WAL and data directory per minute](img/soak.png)\n\n\
How to read it: the WAL grows until its file reaches `storage.wal_segment_bytes` (64 MiB)\n\
and rotates; the next snapshot then removes the covered file, hence the saw-tooth of WAL\n\
and data directory. RSS rises as sealed segments get their graphs and a warm or cold trip\n\
reloads them, and falls back at each restart.\n\n\
{table}",
        profile = match (&args.server_bin, args.release) {
            (Some(_), _) => "the binary given with `--server-bin`",
            (None, true) => "built with `--release`",
            (None, false) => "built with the optimised dev profile",
        },
        dim = args.dimension,
        rate = args.write_rate,
        ids = args.id_space,
        searchers = args.searchers,
        search_rate = args.search_rate,
        every = args.restart_every,
        minutes = report.minutes,
        date = date,
        restarts = report.restarts,
        verifs = report.verifications,
        checked = report.points_checked,
        table = report.table(),
    );
    let doc_path = crate::bench::write_doc_section("docs/reliability.md", "## Soak", &section)?;
    eprintln!(
        "wrote {} and the Soak section of {}",
        png.display(),
        doc_path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_judged_after_the_fill() {
        // Growing while the id space fills, flat afterwards: levels off.
        let flat = [10.0, 40.0, 80.0, 100.0, 101.0, 99.0, 102.0, 100.0, 101.0];
        assert_eq!(growth_verdict(&flat, 0.0), None);
        // Still climbing in the settled part: fails and says so.
        let climbing = [10.0, 20.0, 30.0, 40.0, 60.0, 80.0, 100.0, 120.0, 140.0];
        let why = growth_verdict(&climbing, 0.0).expect("growth is reported");
        assert!(why.contains("keeps growing"), "{why}");
        // Slack absorbs small absolute growth; short runs are not judged.
        assert_eq!(growth_verdict(&climbing, 100.0), None);
        assert_eq!(growth_verdict(&climbing[..5], 0.0), None);
    }

    #[test]
    fn vectors_are_deterministic_unit_and_distinct_per_version() {
        let a = vector_for(7, 1, 64);
        assert_eq!(a, vector_for(7, 1, 64));
        assert_ne!(a, vector_for(7, 2, 64));
        assert_ne!(a, vector_for(8, 1, 64));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }

    #[test]
    fn report_lists_errors_and_growth() {
        let sample = |m: f64, rss: f64| Sample {
            minute: m,
            rss_mib: rss,
            open_files: 20,
            wal_mib: 1.0,
            disk_mib: 10.0,
            points: 100,
            upserts_per_s: 1.0,
            searches_per_s: 1.0,
            search_p99_ms: 1.0,
            event: String::new(),
        };
        let mut r = Report {
            minutes: 9,
            samples: (0..9).map(|m| sample(m as f64, 100.0)).collect(),
            errors: vec![],
            restarts: 1,
            verifications: 2,
            points_checked: 200,
            totals: [0; 5],
        };
        assert!(r.verdict().is_empty());
        assert_eq!(r.csv().lines().count(), 10);
        r.samples = (0..9)
            .map(|m| sample(m as f64, 100.0 + 60.0 * m as f64))
            .collect();
        r.errors.push("search: 500".into());
        let v = r.verdict();
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[1].starts_with("RSS keeps growing"), "{v:?}");
    }
}
