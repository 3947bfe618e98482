//! Replication benchmark (run by `cargo xtask bench replication`): SeaweedFS on loopback
//! and real `akidb` processes. Measures write latency and throughput for `ack=local` and
//! `ack=object_store`, follower visibility lag at a steady write rate, catch-up speed of a
//! new follower, failover (kill -9 → first acknowledged write), the handover write pause,
//! and search QPS over 1, 2 and 3 nodes. Prints one JSON object per measurement.
//!
//! Usage: `replication_bench --akidb <binary> [--seconds N] [--rate PTS_PER_S] [--catchup N]`

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const DIM: usize = 384;

struct Opts {
    akidb: PathBuf,
    seconds: u64,
    rate: u64,
    catchup: u64,
}

fn opts() -> Opts {
    let mut o = Opts {
        akidb: PathBuf::new(),
        seconds: 10,
        rate: 2000,
        catchup: 50_000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let v = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--akidb" => o.akidb = v.into(),
            "--seconds" => o.seconds = v.parse().expect("--seconds N"),
            "--rate" => o.rate = v.parse().expect("--rate N"),
            "--catchup" => o.catchup = v.parse().expect("--catchup N"),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(o.akidb.is_file(), "--akidb must name the akidb binary");
    o
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A deterministic pseudo-random unit-ish vector for id `i`.
fn vector(i: u64) -> Vec<f32> {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..DIM)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn points(ids: std::ops::Range<u64>) -> Value {
    let pts: Vec<Value> = ids
        .map(|i| json!({"id": i, "vector": vector(i), "payload": {"i": i}}))
        .collect();
    json!({ "points": pts })
}

struct Node {
    child: Option<Child>,
    rest: String,
    env: Vec<(String, String)>,
    data: PathBuf,
    akidb: PathBuf,
}

impl Node {
    fn spawn(akidb: &Path, data: &Path, env: Vec<(String, String)>) -> Node {
        let rest = env
            .iter()
            .find(|(k, _)| k == "AKIDB_REST_ADDR")
            .map(|(_, v)| format!("http://{v}"))
            .unwrap();
        let mut cmd = Command::new(akidb);
        for (k, _) in std::env::vars() {
            if k.starts_with("AKIDB_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().map(|(k, v)| (k.clone(), v.clone())))
            .env("AKIDB_DATA_DIR", data)
            .env("AKIDB_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(data.with_extension("log")).expect("node log"));
        let child = cmd.spawn().expect("start akidb");
        Node {
            child: Some(child),
            rest,
            env,
            data: data.to_path_buf(),
            akidb: akidb.to_path_buf(),
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn respawn(&mut self) {
        self.kill9();
        *self = Node::spawn(&self.akidb.clone(), &self.data.clone(), self.env.clone());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

struct Cluster {
    nodes: Vec<Node>,
    _dirs: Vec<tempfile::TempDir>,
}

fn node_env(
    weed: &akidb_storage::testing::SeaweedFs,
    id: &str,
    ack: &str,
) -> Vec<(String, String)> {
    let (rest, grpc) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    [
        ("AKIDB_S3_ENABLED", "true".to_string()),
        ("AKIDB_S3_ENDPOINT", weed.endpoint()),
        ("AKIDB_S3_BUCKET", weed.bucket().to_string()),
        ("AKIDB_S3_PATH_STYLE", "true".into()),
        (
            "AKIDB_S3_ACCESS_KEY_ID",
            akidb_storage::testing::TEST_ACCESS_KEY.into(),
        ),
        (
            "AKIDB_S3_SECRET_ACCESS_KEY",
            akidb_storage::testing::TEST_SECRET_KEY.into(),
        ),
        ("AKIDB_REPLICATION_ENABLED", "true".into()),
        ("AKIDB_NODE_ID", id.into()),
        ("AKIDB_REPLICATION_ACK", ack.into()),
        ("AKIDB_REST_ADDR", rest.clone()),
        ("AKIDB_GRPC_ADDR", grpc.clone()),
        ("AKIDB_ADVERTISE_REST_URL", format!("http://{rest}")),
        ("AKIDB_ADVERTISE_GRPC_URL", format!("http://{grpc}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl Cluster {
    async fn start(
        weed: &akidb_storage::testing::SeaweedFs,
        akidb: &Path,
        n: usize,
        ack: &str,
    ) -> Cluster {
        let mut c = Cluster {
            nodes: Vec::new(),
            _dirs: Vec::new(),
        };
        for i in 0..n {
            c.add(weed, akidb, &format!("n{i}"), ack).await;
        }
        c
    }

    async fn add(
        &mut self,
        weed: &akidb_storage::testing::SeaweedFs,
        akidb: &Path,
        id: &str,
        ack: &str,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::spawn(akidb, &dir.path().join("data"), node_env(weed, id, ack));
        if !wait_ready(&node.rest).await {
            let log = std::fs::read_to_string(dir.path().join("data.log")).unwrap_or_default();
            panic!("{id} at {} not ready in 120 s; its log:\n{log}", node.rest);
        }
        self.nodes.push(node);
        self._dirs.push(dir);
    }
}

/// A SeaweedFS of its own for each phase, so no phase follows another's collections.
async fn fresh_bucket() -> akidb_storage::testing::SeaweedFs {
    tokio::task::spawn_blocking(akidb_storage::testing::SeaweedFs::start)
        .await
        .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

/// Polls `/ready` for up to 120 s; false when the node never got ready.
async fn wait_ready(rest: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(r) = http().get(format!("{rest}/ready")).send().await {
            if r.status().is_success() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn call(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> (u16, Value) {
    match c.request(method, url).json(&body).send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            (s, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

async fn create(rest: &str, name: &str) {
    let (s, v) = call(
        &http(),
        reqwest::Method::POST,
        format!("{rest}/api/v1/collections"),
        json!({"name": name, "dimension": DIM, "metric": "cosine"}),
    )
    .await;
    assert!(s == 200 || s == 201, "create {name}: {s} {v}");
}

async fn count(c: &reqwest::Client, rest: &str, name: &str) -> u64 {
    let (_, v) = call(
        c,
        reqwest::Method::POST,
        format!("{rest}/api/v1/collections/{name}/points/count"),
        json!({}),
    )
    .await;
    v["count"].as_u64().unwrap_or(0)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn emit(name: &str, value: f64, unit: &str, target: &str) {
    println!(
        "{}",
        json!({"name": name, "value": value, "unit": unit, "target": target})
    );
}

/// Single-point upserts from `clients` tasks to `rest` for `secs`; latencies in ms.
async fn write_load(rest: &str, name: &str, clients: u64, secs: u64) -> (Vec<f64>, u64) {
    let stop = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let url = format!("{rest}/api/v1/collections/{name}/points");
            tokio::spawn(async move {
                let h = http();
                let mut lat = Vec::new();
                let mut id = c * 100_000_000;
                while Instant::now() < stop {
                    let t = Instant::now();
                    let (s, _) =
                        call(&h, reqwest::Method::PUT, url.clone(), points(id..id + 1)).await;
                    if s == 200 {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    id += 1;
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = all.len() as u64;
    (all, n)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let o = opts();
    let h = http();

    // 1. Write latency and throughput per ack mode (4 clients, single-point upserts).
    for ack in ["local", "object_store"] {
        let weed = fresh_bucket().await;
        let c = Cluster::start(&weed, &o.akidb, 3, ack).await;
        let name = format!("w_{ack}");
        create(&c.nodes[0].rest, &name).await;
        let (lat, n) = write_load(&c.nodes[0].rest, &name, 4, o.seconds).await;
        emit(
            &format!("write p50, ack={ack} (4 clients, 1 point)"),
            pct(&lat, 0.5),
            "ms",
            "",
        );
        emit(&format!("write p99, ack={ack}"), pct(&lat, 0.99), "ms", "");
        emit(
            &format!("write throughput, ack={ack}"),
            n as f64 / o.seconds as f64,
            "writes/s",
            "",
        );
        let (lat, _) = write_load(&c.nodes[1].rest, &name, 4, o.seconds / 2).await;
        emit(
            &format!("write p50 through a follower, ack={ack}"),
            pct(&lat, 0.5),
            "ms",
            "",
        );
    }

    // 2. Follower visibility lag at a steady rate (batches of 20), ack=local.
    let weed = fresh_bucket().await;
    let c = Cluster::start(&weed, &o.akidb, 3, "local").await;
    create(&c.nodes[0].rest, "lag").await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (rest, stop, rate) = (c.nodes[0].rest.clone(), stop.clone(), o.rate);
        tokio::spawn(async move {
            let h = http();
            let batch = 20u64;
            let every = Duration::from_secs_f64(batch as f64 / rate as f64);
            let mut next = Instant::now();
            let mut id = 0u64;
            while !stop.load(Ordering::Relaxed) {
                call(
                    &h,
                    reqwest::Method::PUT,
                    format!("{rest}/api/v1/collections/lag/points"),
                    points(id..id + batch),
                )
                .await;
                id += batch;
                next += every;
                tokio::time::sleep_until(next.into()).await;
            }
            id
        })
    };
    let mut lags = Vec::new();
    let probe_deadline = Instant::now() + Duration::from_secs(o.seconds);
    let mut probe = 1_000_000_000u64;
    while Instant::now() < probe_deadline {
        let (s, v) = call(
            &h,
            reqwest::Method::PUT,
            format!("{}/api/v1/collections/lag/points", c.nodes[0].rest),
            points(probe..probe + 1),
        )
        .await;
        let acked = Instant::now();
        assert_eq!(s, 200, "{v}");
        loop {
            let (_, got) = call(
                &h,
                reqwest::Method::POST,
                format!("{}/api/v1/collections/lag/points/get", c.nodes[1].rest),
                json!({"ids": [probe]}),
            )
            .await;
            if got["points"].as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lags.push(acked.elapsed().as_secs_f64() * 1000.0);
        probe += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    lags.sort_by(|a, b| a.partial_cmp(b).unwrap());
    emit(
        &format!("follower lag p50 at {} points/s", o.rate),
        pct(&lags, 0.5),
        "ms",
        "",
    );
    emit(
        &format!("follower lag p99 at {} points/s", o.rate),
        pct(&lags, 0.99),
        "ms",
        "p99 <= 1000 ms",
    );
    emit(
        "points written during the lag run",
        written as f64,
        "points",
        "",
    );
    drop(c);

    // 3. Catch-up of a new follower: log only, then snapshot + log.
    let weed = fresh_bucket().await;
    let mut c = Cluster::start(&weed, &o.akidb, 1, "local").await;
    create(&c.nodes[0].rest, "catchup").await;
    let mut id = 0;
    while id < o.catchup {
        let end = (id + 500).min(o.catchup);
        call(
            &h,
            reqwest::Method::PUT,
            format!("{}/api/v1/collections/catchup/points", c.nodes[0].rest),
            points(id..end),
        )
        .await;
        id = end;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    c.add(&weed, &o.akidb, "late", "local").await;
    while count(&h, &c.nodes[1].rest, "catchup").await < o.catchup {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    emit(
        &format!("new follower catch-up ({} points x {DIM}-d)", o.catchup),
        o.catchup as f64 / secs,
        "points/s",
        "",
    );
    drop(c);

    // 4. Failover and handover.
    let weed = fresh_bucket().await;
    let mut c = Cluster::start(&weed, &o.akidb, 3, "object_store").await;
    create(&c.nodes[0].rest, "fo").await;
    let mut failovers = Vec::new();
    for round in 0..3u64 {
        let writer = {
            let (_, v) = call(
                &h,
                reqwest::Method::GET,
                format!(
                    "{}/api/v1/collections/fo",
                    c.nodes[(round as usize + 1) % 3].rest
                ),
                Value::Null,
            )
            .await;
            v["writer"]
                .as_str()
                .unwrap_or("n0")
                .trim_start_matches('n')
                .parse::<usize>()
                .unwrap_or(0)
        };
        let t = Instant::now();
        c.nodes[writer].kill9();
        let survivor = c.nodes[(writer + 1) % 3].rest.clone();
        loop {
            let (s, _) = call(
                &h,
                reqwest::Method::PUT,
                format!("{survivor}/api/v1/collections/fo/points"),
                points(round..round + 1),
            )
            .await;
            if s == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        failovers.push(t.elapsed().as_secs_f64());
        c.nodes[writer].respawn();
        assert!(
            wait_ready(&c.nodes[writer].rest.clone()).await,
            "a restarted node never got ready"
        );
    }
    failovers.sort_by(|a, b| a.partial_cmp(b).unwrap());
    emit(
        "failover, kill -9 → first acknowledged write (median of 3, lease 10 s)",
        pct(&failovers, 0.5),
        "s",
        "<= 12 s",
    );
    // Handover pause: the longest gap between acknowledged writes of one client.
    let last_ack = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let pauser = {
        let (urls, stop, last_ack) = (
            c.nodes.iter().map(|n| n.rest.clone()).collect::<Vec<_>>(),
            stop.clone(),
            last_ack.clone(),
        );
        tokio::spawn(async move {
            let h = http();
            let mut worst = 0u64;
            let mut i = 0u64;
            let mut prev = t0.elapsed().as_micros() as u64;
            while !stop.load(Ordering::Relaxed) {
                let url = &urls[(i % urls.len() as u64) as usize];
                let (s, _) = call(
                    &h,
                    reqwest::Method::PUT,
                    format!("{url}/api/v1/collections/fo/points"),
                    points(5_000_000 + i..5_000_001 + i),
                )
                .await;
                i += 1;
                if s == 200 {
                    let now = t0.elapsed().as_micros() as u64;
                    worst = worst.max(now - prev);
                    prev = now;
                    last_ack.store(now, Ordering::Relaxed);
                }
            }
            worst
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, v) = call(
        &h,
        reqwest::Method::GET,
        format!("{}/api/v1/collections/fo", c.nodes[0].rest),
        Value::Null,
    )
    .await;
    let from = v["writer"].as_str().unwrap_or("n0").to_string();
    let to = if from == "n1" { "n2" } else { "n1" };
    let (s, v) = call(
        &h,
        reqwest::Method::POST,
        format!("{}/api/v1/admin/collections/fo/handover", c.nodes[0].rest),
        json!({"to": to}),
    )
    .await;
    assert_eq!(s, 200, "handover: {v}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let worst = pauser.await.unwrap();
    emit(
        "handover write pause (longest gap between acknowledged writes)",
        worst as f64 / 1000.0,
        "ms",
        "<= 1000 ms",
    );
    drop(c);

    // 5. Search QPS over 1, 2 and 3 nodes, 8 clients spread over them.
    let weed = fresh_bucket().await;
    let c = Cluster::start(&weed, &o.akidb, 3, "local").await;
    create(&c.nodes[0].rest, "reads").await;
    for start in (0..20_000u64).step_by(500) {
        call(
            &h,
            reqwest::Method::PUT,
            format!("{}/api/v1/collections/reads/points", c.nodes[0].rest),
            points(start..start + 500),
        )
        .await;
    }
    for n in &c.nodes {
        while count(&h, &n.rest, "reads").await < 20_000 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for nodes in 1..=3usize {
        let done = Arc::new(AtomicU64::new(0));
        let stop = Instant::now() + Duration::from_secs(o.seconds / 2);
        let tasks: Vec<_> = (0..8u64)
            .map(|k| {
                let url = format!(
                    "{}/api/v1/collections/reads/search",
                    c.nodes[k as usize % nodes].rest
                );
                let done = done.clone();
                tokio::spawn(async move {
                    let h = http();
                    let mut q = k;
                    while Instant::now() < stop {
                        let (s, _) = call(
                            &h,
                            reqwest::Method::POST,
                            url.clone(),
                            json!({"vector": vector(q), "k": 10}),
                        )
                        .await;
                        if s == 200 {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        q += 8;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        emit(
            &format!("search QPS, 8 clients over {nodes} node(s), 20k x {DIM}-d"),
            done.load(Ordering::Relaxed) as f64 / (o.seconds / 2) as f64,
            "queries/s",
            "",
        );
    }
}
