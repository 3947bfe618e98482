//! Replication with real processes: three `akidb` nodes on one SeaweedFS bucket
//! (docs/replication.md). The scenarios share one SeaweedFS and run one after another,
//! each on an emptied bucket with fresh nodes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use akidb_storage::ObjectStore;
use common::{Rest, Server};
use reqwest::Method;
use serde_json::{json, Value};

/// Lease timings short enough for a test: lease 2 s, renew every 400 ms.
const LEASE: &str = "2s";

struct Cluster {
    nodes: Vec<Server>,
    dirs: Vec<tempfile::TempDir>,
    env: Vec<(String, String)>,
}

fn node_env(base: &[(String, String)], id: &str, ack: &str) -> Vec<(String, String)> {
    let mut env = base.to_vec();
    for (k, v) in [
        ("AKIDB_REPLICATION_ENABLED", "true"),
        ("AKIDB_NODE_ID", id),
        ("AKIDB_REPLICATION_ACK", ack),
        ("AKIDB_REPLICATION_LEASE", LEASE),
        ("AKIDB_REPLICATION_RENEW_INTERVAL", "400ms"),
        ("AKIDB_REPLICATION_SHIP_INTERVAL", "50ms"),
        ("AKIDB_REPLICATION_READY_MAX_LAG", "2s"),
        ("AKIDB_REPLICATION_MIN_LSN_TIMEOUT", "3s"),
        ("AKIDB_SHUTDOWN_GRACE", "3s"),
    ] {
        env.push((k.to_string(), v.to_string()));
    }
    env
}

impl Cluster {
    /// Starts `n` nodes `n0..`; node i advertises its own ports.
    async fn start(weed: &akidb_storage::testing::SeaweedFs, n: usize, ack: &str) -> Cluster {
        Cluster::start_with(weed, n, ack, &[]).await
    }

    /// [`Cluster::start`] with extra settings for every node.
    async fn start_with(
        weed: &akidb_storage::testing::SeaweedFs,
        n: usize,
        ack: &str,
        extra: &[(&str, &str)],
    ) -> Cluster {
        let mut base = common::s3_env(&weed.endpoint(), weed, Duration::from_secs(1));
        base.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut c = Cluster {
            nodes: Vec::new(),
            dirs: Vec::new(),
            env: base,
        };
        for i in 0..n {
            c.add(&format!("n{i}"), ack).await;
        }
        c
    }

    async fn add(&mut self, id: &str, ack: &str) {
        let dir = tempfile::tempdir().unwrap();
        let (rest, grpc) = (
            format!("127.0.0.1:{}", common::free_port()),
            format!("127.0.0.1:{}", common::free_port()),
        );
        let mut env = node_env(&self.env, id, ack);
        env.push(("AKIDB_REST_ADDR".into(), rest.clone()));
        env.push(("AKIDB_GRPC_ADDR".into(), grpc.clone()));
        env.push(("AKIDB_ADVERTISE_REST_URL".into(), format!("http://{rest}")));
        env.push(("AKIDB_ADVERTISE_GRPC_URL".into(), format!("http://{grpc}")));
        let s = respawn(&dir.path().join("data"), env).await;
        self.nodes.push(s);
        self.dirs.push(dir);
    }

    fn rest(&self, i: usize) -> Rest {
        Rest::new(&self.nodes[i], "/api/v1")
    }
}

/// Starts a node whose environment names its addresses, and waits until it is ready.
async fn respawn(data: &std::path::Path, env: Vec<(String, String)>) -> Server {
    let addr = |k: &str| {
        env.iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| format!("http://{v}"))
            .unwrap()
    };
    let (rest, grpc) = (addr("AKIDB_REST_ADDR"), addr("AKIDB_GRPC_ADDR"));
    let mut s = Server::spawn(data, env);
    s.rest = rest;
    s.grpc = grpc;
    s.wait_ready().await;
    s
}

async fn empty_bucket(weed: &akidb_storage::testing::SeaweedFs) {
    let store = common::bucket_store(weed).await;
    for o in store.list("").await.unwrap() {
        store.delete(&o.key).await.unwrap();
    }
}

async fn create(rest: &Rest, name: &str) {
    rest.ok(
        Method::POST,
        "/collections",
        Some(json!({"name": name, "dimension": 4, "metric": "l2"})),
    )
    .await;
}

fn point(id: u64) -> Value {
    json!({"id": id, "vector": [id as f32, 1.0, (id % 7) as f32, 0.5], "payload": {"n": id}})
}

/// Waits until `rest` has `count` points in `name` (and is caught up), at most `limit`.
async fn wait_count(rest: &Rest, name: &str, count: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let (status, v) = rest
            .call(
                Method::POST,
                &format!("/collections/{name}/points/count"),
                Some(json!({})),
            )
            .await;
        if status == 200 && v["count"] == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: count of {name} is {v} (status {status}), expected {count}",
            rest.base
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ids_present(rest: &Rest, name: &str, ids: &BTreeSet<u64>) -> BTreeSet<u64> {
    let list: Vec<u64> = ids.iter().copied().collect();
    let mut found = BTreeSet::new();
    for chunk in list.chunks(1000) {
        let v = rest
            .ok(
                Method::POST,
                &format!("/collections/{name}/points/get"),
                Some(json!({"ids": chunk})),
            )
            .await;
        for p in v["points"].as_array().unwrap() {
            found.insert(p["id"].as_u64().unwrap());
        }
    }
    found
}

/// The writer `rest`'s node names for `name` (waiting while that node is still
/// installing or rebuilding its copy).
async fn writer_of(rest: &Rest, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, v) = rest
            .call(Method::GET, &format!("/collections/{name}"), None)
            .await;
        if status == 200 {
            return v["writer"].as_str().unwrap_or_default().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "{}: {name}: {status} {v}",
            rest.base
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replication_on_one_bucket() {
    let mut weed = common::start_weed().await;
    converge_forward_and_read_your_writes(&weed).await;
    empty_bucket(&weed).await;
    handover_under_load_loses_nothing(&weed).await;
    empty_bucket(&weed).await;
    kill_the_writer_under_load_loses_no_acknowledged_write(&weed).await;
    empty_bucket(&weed).await;
    a_paused_writer_is_fenced(&weed).await;
    empty_bucket(&weed).await;
    kill_with_ack_local_loses_at_most_the_unshipped_tail(&weed).await;
    empty_bucket(&weed).await;
    a_damaged_lease_stops_writes_with_a_clear_error(&weed).await;
    empty_bucket(&weed).await;
    a_bucket_outage_under_load(&mut weed, "local").await;
    empty_bucket(&weed).await;
    a_bucket_outage_under_load(&mut weed, "object_store").await;
}

async fn converge_forward_and_read_your_writes(weed: &akidb_storage::testing::SeaweedFs) {
    // Log compaction every 4 records, so the late node below starts from a snapshot.
    let mut c = Cluster::start_with(
        weed,
        3,
        "local",
        &[("AKIDB_REPLICATION_SNAPSHOT_RECORDS", "4")],
    )
    .await;
    let (w, f1, f2) = (c.rest(0), c.rest(1), c.rest(2));
    create(&w, "docs").await;
    // Creating the same name on another node is refused by the lease.
    let (status, v) = f1
        .call(
            Method::POST,
            "/collections",
            Some(json!({"name": "docs", "dimension": 4, "metric": "l2"})),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("collection_already_exists")),
        "{v}"
    );
    // 10,000 points to the writer, in batches.
    for b in 0..10u64 {
        let pts: Vec<Value> = (b * 1000..(b + 1) * 1000).map(point).collect();
        w.ok(
            Method::PUT,
            "/collections/docs/points",
            Some(json!({"points": pts})),
        )
        .await;
    }
    for (i, f) in [(1, &f1), (2, &f2)] {
        let done = tokio::time::timeout(
            Duration::from_secs(30),
            wait_count(f, "docs", 10_000, Duration::from_secs(60)),
        )
        .await;
        assert!(
            done.is_ok(),
            "follower n{i} did not converge; its log:\n{}",
            c.nodes[i].log_text()
        );
    }
    // Identical exact answers everywhere.
    let q = json!({"vector": [17.0, 1.0, 3.0, 0.5], "k": 10, "exact": true});
    let expect = w
        .ok(Method::POST, "/collections/docs/search", Some(q.clone()))
        .await;
    for f in [&f1, &f2] {
        let got = f
            .ok(Method::POST, "/collections/docs/search", Some(q.clone()))
            .await;
        assert_eq!(got["hits"], expect["hits"]);
    }
    assert_eq!(writer_of(&f1, "docs").await, "n0");
    let info = f1.ok(Method::GET, "/collections/docs", None).await;
    assert_eq!(info["role"], "follower", "{info}");

    // A write sent to a follower lands as if sent to the writer, and answers its lsn.
    let v = f1
        .ok(
            Method::PUT,
            "/collections/docs/points",
            Some(json!({"points": [point(20_000)]})),
        )
        .await;
    let lsn = v["lsn"].as_u64().expect("write answers carry the lsn");
    assert_eq!(v["upserted"], 1);
    // Read-your-writes on the other follower.
    let got = f2
        .ok(
            Method::POST,
            "/collections/docs/points/get",
            Some(json!({"ids": [20_000], "consistency": {"min_lsn": lsn}})),
        )
        .await;
    assert_eq!(got["points"][0]["id"], 20_000, "{got}");
    let strong = f2
        .ok(
            Method::POST,
            "/collections/docs/points/count",
            Some(json!({"consistency": "strong"})),
        )
        .await;
    assert_eq!(strong["count"], 10_001);
    // Deletes and payload updates forwarded too.
    let v = f2
        .ok(
            Method::POST,
            "/collections/docs/points/delete",
            Some(json!({"ids": [0, 1]})),
        )
        .await;
    assert_eq!(v["deleted"], 2);
    f1.ok(
        Method::POST,
        "/collections/docs/points/payload",
        Some(json!({"ids": [2], "payload": {"tag": "x"}})),
    )
    .await;
    for r in [&w, &f1, &f2] {
        wait_count(r, "docs", 9_999, Duration::from_secs(10)).await;
    }

    // gRPC: a write to a follower is forwarded as well.
    {
        use akidb_proto::v1 as pb;
        let mut g = pb::points_client::PointsClient::connect(c.nodes[2].grpc.clone())
            .await
            .unwrap();
        let r = g
            .upsert(pb::UpsertRequest {
                collection: "docs".into(),
                points: vec![pb::Point {
                    id: Some(pb::PointId {
                        kind: Some(pb::point_id::Kind::Num(30_000)),
                    }),
                    vector: vec![1.0, 2.0, 3.0, 4.0],
                    payload_json: String::new(),
                }],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.upserted, 1);
        assert!(r.lsn > lsn);
        wait_count(&w, "docs", 10_000, Duration::from_secs(5)).await;
    }

    // Bad input: a clear error each, nothing lost.
    let min_lsn_get = json!({"ids": [5], "consistency": {"min_lsn": 1_000_000}});
    for (rest, path, body, status, code) in [
        (
            &f1,
            "/admin/collections/docs/handover",
            json!({"to": "nobody"}),
            400,
            "unknown_node",
        ),
        (
            &w,
            "/collections/docs/points/get",
            min_lsn_get.clone(),
            400,
            "invalid_min_lsn",
        ),
        (
            &f1,
            "/collections/docs/points/get",
            min_lsn_get,
            504,
            "replica_behind",
        ),
        (
            &f1,
            "/collections/docs/search",
            json!({"vector": [1, 1, 1, 1], "k": 1, "consistency": "sometimes"}),
            400,
            "invalid_consistency",
        ),
    ] {
        let (got, v) = rest.call(Method::POST, path, Some(body)).await;
        assert_eq!(
            (got, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {v}"
        );
    }
    wait_count(&f1, "docs", 10_000, Duration::from_secs(5)).await;

    // A node that joins late starts from the writer's snapshot (the log before it is gone)
    // at the snapshot's LSN, then applies the rest: same answers as everyone.
    let store = common::bucket_store(weed).await;
    let snapshots = store.list("collections/docs/snapshots/").await.unwrap();
    assert!(!snapshots.is_empty(), "the writer uploaded no snapshot");
    let logs = store.list("collections/docs/log/").await.unwrap();
    assert!(
        logs.first()
            .is_some_and(|o| !o.key.ends_with("-00000000000000000001.wal")),
        "the log before the snapshot was not trimmed: {logs:?}"
    );
    c.add("n3", "local").await;
    let late = c.rest(3);
    wait_count(&late, "docs", 10_000, Duration::from_secs(20)).await;
    let got = late
        .ok(Method::POST, "/collections/docs/search", Some(q.clone()))
        .await;
    let now = w
        .ok(Method::POST, "/collections/docs/search", Some(q.clone()))
        .await;
    assert_eq!(got["hits"], now["hits"]);
    let v = late
        .ok(
            Method::PUT,
            "/collections/docs/points",
            Some(json!({"points": [point(40_000)]})),
        )
        .await;
    for r in [&w, &f1, &f2, &late] {
        wait_count(r, "docs", 10_001, Duration::from_secs(10)).await;
    }
    assert!(v["lsn"].as_u64().unwrap() > lsn);

    // Metrics name the roles and the lag.
    let m = c.nodes[1].client().metrics().await.unwrap();
    assert!(
        m.contains("akidb_replication_role{collection=\"docs\",role=\"follower\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("akidb_replication_lag_seconds{collection=\"docs\"}"),
        "{m}"
    );
    let follower = m;
    let m = c.nodes[0].client().metrics().await.unwrap();
    for name in akidb_server::metrics::REPLICATION_METRIC_NAMES {
        let base = name.strip_suffix("_total").unwrap_or(name);
        assert!(
            m.contains(base) || follower.contains(base),
            "neither the writer's nor a follower's /metrics has {name}"
        );
    }
    assert!(
        m.contains("akidb_replication_role{collection=\"docs\",role=\"writer\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("akidb_lease_transitions_total{collection=\"docs\",reason=\"created\"} 1"),
        "{m}"
    );
}

/// Four clients write through the nodes in turn until `stop`; returns each acknowledged
/// id with the moment its acknowledgement arrived, and the number of retried errors.
fn spawn_writers(
    urls: Arc<parking_lot::Mutex<Vec<String>>>,
    name: &str,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(BTreeMap<u64, Instant>, u64)>> {
    (0..4u64)
        .map(|w| {
            let urls = urls.clone();
            let stop = stop.clone();
            let name = name.to_string();
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let mut acked = BTreeMap::new();
                let mut errors = 0;
                let mut id = w * 1_000_000;
                let mut turn = w as usize;
                while !stop.load(Ordering::Relaxed) {
                    let url = {
                        let u = urls.lock();
                        turn += 1;
                        u[turn % u.len()].clone()
                    };
                    let r = http
                        .put(format!("{url}/api/v1/collections/{name}/points"))
                        .json(&json!({"points": [point(id)]}))
                        .send()
                        .await;
                    match r {
                        Ok(resp) if resp.status().is_success() => {
                            acked.insert(id, Instant::now());
                            id += 1;
                        }
                        _ => {
                            // Retried (same id) on another node.
                            errors += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                (acked, errors)
            })
        })
        .collect()
}

async fn handover_under_load_loses_nothing(weed: &akidb_storage::testing::SeaweedFs) {
    let c = Cluster::start(weed, 3, "object_store").await;
    create(&c.rest(0), "h").await;
    let urls = Arc::new(parking_lot::Mutex::new(
        c.nodes.iter().map(|n| n.rest.clone()).collect::<Vec<_>>(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(urls, "h", stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let v = c
        .rest(2)
        .ok(
            Method::POST,
            "/admin/collections/h/handover",
            Some(json!({"to": "n1"})),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(v["writer"], "n1", "{v}");
    assert_eq!(v["name"], "h");
    assert!(v["epoch"].as_u64().unwrap() >= 2);
    eprintln!("REPLICATION handover answered in {took:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = BTreeSet::new();
    for w in writers {
        let (a, _) = w.await.unwrap();
        acked.extend(a.into_keys());
    }
    assert!(acked.len() > 20, "too few writes: {}", acked.len());
    assert_eq!(writer_of(&c.rest(0), "h").await, "n1");
    for i in 0..3 {
        wait_count(&c.rest(i), "h", acked.len() as u64, Duration::from_secs(10)).await;
        let present = ids_present(&c.rest(i), "h", &acked).await;
        assert_eq!(
            present.len(),
            acked.len(),
            "node n{i} misses acknowledged writes"
        );
    }
}

async fn kill_the_writer_under_load_loses_no_acknowledged_write(
    weed: &akidb_storage::testing::SeaweedFs,
) {
    let mut c = Cluster::start(weed, 3, "object_store").await;
    create(&c.rest(0), "k").await;
    let urls = Arc::new(parking_lot::Mutex::new(
        c.nodes.iter().map(|n| n.rest.clone()).collect::<Vec<_>>(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(urls.clone(), "k", stop.clone());
    let mut failovers = Vec::new();
    for kill in 0..10 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let writer = writer_of(&c.rest((kill + 1) % 3), "k").await;
        let i: usize = writer.trim_start_matches('n').parse().unwrap();
        let killed = Instant::now();
        c.nodes[i].kill9();
        // Failover: the first acknowledged write through a survivor.
        let survivor = c.rest((i + 1) % 3);
        loop {
            let (status, _) = survivor
                .call(
                    Method::PUT,
                    "/collections/k/points",
                    Some(json!({"points": [point(9_000_000 + kill as u64)]})),
                )
                .await;
            if status == 200 {
                break;
            }
            assert!(
                killed.elapsed() < Duration::from_secs(20),
                "no failover after 20 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        failovers.push(killed.elapsed());
        // The killed node comes back on its volume and follows.
        let data = c.nodes[i].data_dir.clone();
        let env = c.nodes[i].env.clone();
        c.nodes[i] = respawn(&data, env).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut acked = BTreeSet::new();
    let mut errors = 0;
    for w in writers {
        let (a, e) = w.await.unwrap();
        acked.extend(a.into_keys());
        errors += e;
    }
    acked.extend((0..10).map(|k| 9_000_000 + k));
    let mut sorted = failovers.clone();
    sorted.sort();
    eprintln!(
        "REPLICATION kill -9 x10 (ack=object_store, lease {LEASE}): {} acknowledged, {errors} retried errors, failover p50 {:?} max {:?}",
        acked.len(),
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );
    for i in 0..3 {
        let r = c.rest(i);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let present = ids_present(&r, "k", &acked).await;
            if present.len() == acked.len() {
                break;
            }
            let missing: Vec<_> = acked.difference(&present).take(10).collect();
            assert!(
                Instant::now() < deadline,
                "node n{i} lost {} acknowledged writes, e.g. {missing:?}",
                acked.len() - present.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn a_paused_writer_is_fenced(weed: &akidb_storage::testing::SeaweedFs) {
    let c = Cluster::start(weed, 2, "object_store").await;
    create(&c.rest(0), "p").await;
    c.rest(0)
        .ok(
            Method::PUT,
            "/collections/p/points",
            Some(json!({"points": [point(1)]})),
        )
        .await;
    let pid = c.nodes[0].child.as_ref().unwrap().id() as i32;
    // A write in flight while the writer is paused past its lease.
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/collections/p/points", c.nodes[0].rest);
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let late = tokio::spawn(async move {
        http.put(url)
            .json(&json!({"points": [point(666)]}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    let f = c.rest(1);
    let deadline = Instant::now() + Duration::from_secs(15);
    while writer_of(&f, "p").await != "n1" {
        assert!(Instant::now() < deadline, "the follower did not take over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f.ok(
        Method::PUT,
        "/collections/p/points",
        Some(json!({"points": [point(2)]})),
    )
    .await;
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let status = late.await.unwrap().unwrap_or(0);
    assert_ne!(
        status, 200,
        "the paused writer acknowledged a write after losing its lease"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Nothing the old writer did afterwards is visible anywhere.
    for i in 0..2 {
        let got = ids_present(&c.rest(i), "p", &[1, 2, 666].into_iter().collect()).await;
        assert_eq!(
            got,
            [1, 2].into_iter().collect(),
            "node n{i}; its log:\n{}",
            c.nodes[i].log_text()
        );
    }
    assert_eq!(writer_of(&c.rest(0), "p").await, "n1");
}

async fn kill_with_ack_local_loses_at_most_the_unshipped_tail(
    weed: &akidb_storage::testing::SeaweedFs,
) {
    let mut c = Cluster::start(weed, 3, "local").await;
    create(&c.rest(0), "l").await;
    let urls = Arc::new(parking_lot::Mutex::new(
        c.nodes.iter().map(|n| n.rest.clone()).collect::<Vec<_>>(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(urls, "l", stop.clone());
    let mut kills = Vec::new();
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let writer = writer_of(&c.rest((round + 1) % 3), "l").await;
        let i: usize = writer.trim_start_matches('n').parse().unwrap();
        c.nodes[i].kill9();
        // The process is gone once kill9 returns; it may have acknowledged until then.
        kills.push(Instant::now());
        let survivor = c.rest((i + 1) % 3);
        let deadline = Instant::now() + Duration::from_secs(20);
        while writer_of(&survivor, "l").await == writer {
            assert!(Instant::now() < deadline, "no failover after 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let data = c.nodes[i].data_dir.clone();
        let env = c.nodes[i].env.clone();
        c.nodes[i] = respawn(&data, env).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = BTreeMap::new();
    for w in writers {
        acked.extend(w.await.unwrap().0);
    }
    let ids: BTreeSet<u64> = acked.keys().copied().collect();
    let writer = writer_of(&c.rest(0), "l").await;
    let w: usize = writer.trim_start_matches('n').parse().unwrap();
    let present = ids_present(&c.rest(w), "l", &ids).await;
    let lost: Vec<u64> = ids.difference(&present).copied().collect();
    eprintln!(
        "REPLICATION kill -9 x3 (ack=local, ship interval 50 ms): {} acknowledged, {} lost",
        ids.len(),
        lost.len()
    );
    // What ack=local may lose: writes acknowledged within the last ship interval (plus the
    // shipping round trip) before a kill, never older ones.
    let window = Duration::from_millis(400);
    for id in &lost {
        let at = acked[id];
        let nearest = kills
            .iter()
            .map(|k| match k.checked_duration_since(at) {
                Some(d) => format!("{d:?} before"),
                None => format!("{:?} after", at - *k),
            })
            .collect::<Vec<_>>();
        assert!(
            kills.iter().any(|k| at <= *k && *k - at <= window),
            "write {id} was acknowledged long before any kill and is lost (kills: {nearest:?})"
        );
    }
    // Every node agrees on what survived.
    for i in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(20);
        while ids_present(&c.rest(i), "l", &ids).await != present {
            assert!(
                Instant::now() < deadline,
                "node n{i} disagrees with the writer"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn a_damaged_lease_stops_writes_with_a_clear_error(weed: &akidb_storage::testing::SeaweedFs) {
    let c = Cluster::start(weed, 2, "local").await;
    let (w, f) = (c.rest(0), c.rest(1));
    create(&w, "d").await;
    w.ok(
        Method::PUT,
        "/collections/d/points",
        Some(json!({"points": [point(1), point(2), point(3)]})),
    )
    .await;
    wait_count(&f, "d", 3, Duration::from_secs(10)).await;
    let store = common::bucket_store(weed).await;
    store
        .put(
            "collections/d/lease.json",
            bytes::Bytes::from_static(b"{\"holder\": not json"),
        )
        .await
        .unwrap();
    // The writer stops acknowledging once its lease runs out and says why.
    let mut acked = 3;
    let deadline = Instant::now() + Duration::from_secs(15);
    let (status, v) = loop {
        let (status, v) = w
            .call(
                Method::PUT,
                "/collections/d/points",
                Some(json!({"points": [point(100 + acked)]})),
            )
            .await;
        if status != 200 {
            break (status, v);
        }
        acked += 1;
        assert!(
            Instant::now() < deadline,
            "writes still acknowledged with a damaged lease"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (503, Some("no_writer")),
        "{v}"
    );
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("lease") && message.contains("cannot be read"),
        "{message}"
    );
    // Nobody took over a lease it cannot read, and nothing acknowledged is lost. The
    // follower stops applying (it cannot check the fencing rule) but keeps what it has.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(writer_of(&f, "d").await, "n0");
    wait_count(&w, "d", acked, Duration::from_secs(10)).await;
    let (_, v) = f
        .call(Method::POST, "/collections/d/points/count", Some(json!({})))
        .await;
    let seen = v["count"].as_u64().unwrap();
    assert!((3..=acked).contains(&seen), "follower count {seen}");
}

/// SeaweedFS stopped for 3 s under write load and started again: with `ack=local` the
/// writer keeps acknowledging and ships the backlog afterwards; with `ack=object_store` it
/// answers 503 meanwhile. Followers keep serving reads. Nothing acknowledged is lost.
async fn a_bucket_outage_under_load(weed: &mut akidb_storage::testing::SeaweedFs, ack: &str) {
    let c = Cluster::start(weed, 2, ack).await;
    let (w, f) = (c.rest(0), c.rest(1));
    create(&w, "o").await;
    w.ok(
        Method::PUT,
        "/collections/o/points",
        Some(json!({"points": [point(0)]})),
    )
    .await;
    wait_count(&f, "o", 1, Duration::from_secs(10)).await;
    let urls = Arc::new(parking_lot::Mutex::new(vec![c.nodes[0].rest.clone()]));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(urls, "o", stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    weed.kill();
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The follower still answers reads from its copy.
    let (status, _) = f
        .call(Method::POST, "/collections/o/points/count", Some(json!({})))
        .await;
    assert_eq!(
        status, 200,
        "a follower stopped serving reads during the outage"
    );
    // The clients stop before SeaweedFS starts again (which takes a while): every write
    // they got acknowledged happened before or during the outage.
    stop.store(true, Ordering::Relaxed);
    let mut acked = BTreeMap::new();
    for t in writers {
        acked.extend(t.await.unwrap().0);
    }
    let during = acked
        .values()
        .filter(|at| **at > down + Duration::from_millis(500))
        .count();
    tokio::task::block_in_place(|| weed.restart());
    eprintln!(
        "REPLICATION bucket down 3 s, ack={ack}: {during} writes acknowledged during the outage"
    );
    match ack {
        "local" => assert!(
            during > 0,
            "ack=local stopped acknowledging while the bucket was down"
        ),
        _ => assert_eq!(
            during, 0,
            "ack=object_store acknowledged writes the bucket never got"
        ),
    }
    let ids: BTreeSet<u64> = acked.keys().copied().collect();
    for r in [&w, &f] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let present = ids_present(r, "o", &ids).await;
            if present.len() == ids.len() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {} acknowledged writes missing after the bucket came back",
                r.base,
                ids.len() - present.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
