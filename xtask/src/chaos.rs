//! `cargo xtask chaos --k8s`: chaos scenarios against a real Kubernetes cluster running AkiDB
//! (installed with `cargo xtask deploy`): pod kill under write load, network partition to S3,
//! CPU limits under search load, and a cascading failure of AkiDB and S3 together. Every
//! kubectl/helm call goes through the same [`Cluster`] trait as the deploy command.
//!
//! The single-machine chaos suite (kill -9, S3 proxy faults, CPU starvation, disk full) runs as
//! integration tests under `cargo xtask test`; see docs/operations/chaos.md.

use crate::deploy::cluster::{Cluster, KubectlCluster};
use crate::deploy::{live_colour, parse_duration};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Arguments of `cargo xtask chaos`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Run the cluster scenarios (required: the local ones run under `cargo xtask test`).
    #[arg(long)]
    pub k8s: bool,
    /// Scenario to run.
    #[arg(long, value_enum, default_value = "all")]
    pub scenario: Scenario,
    /// Namespace of the AkiDB release.
    #[arg(long, default_value = "akidb")]
    pub namespace: String,
    /// Name of the live Service (as given to `cargo xtask deploy --name`).
    #[arg(long, default_value = "akidb")]
    pub name: String,
    /// Label selector of the S3 (e.g. SeaweedFS/MinIO) pods, for the cascading scenario.
    #[arg(long, default_value = "app=seaweedfs")]
    pub s3_selector: String,
    /// kubectl context (default: the current one).
    #[arg(long)]
    pub context: Option<String>,
    /// API key with write access.
    #[arg(long, env = "AKIDB_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Pod kills in the pod-kill scenario.
    #[arg(long, default_value_t = 5)]
    pub kills: usize,
    /// Concurrent writers.
    #[arg(long, default_value_t = 4)]
    pub writers: usize,
    /// Load time per phase (write load between kills, search load under the CPU limit).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub phase: Duration,
    /// Longest wait for recovery (readiness, breaker, DLQ drain).
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub recovery_timeout: Duration,
}

/// The cluster scenarios.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Every scenario in order.
    All,
    /// Force-delete the pod repeatedly under concurrent writes; every acknowledged point survives.
    PodKill,
    /// NetworkPolicy cutting egress to S3: breaker opens, DLQ fills, reads and writes go on; heal drains the DLQ.
    S3Partition,
    /// CPU limit of 250m under search load: every request answered, /ready stays 200.
    CpuLimit,
    /// AkiDB and S3 pods killed together: ready again within the recovery timeout, no acknowledged point lost.
    Cascading,
}

/// Runs `cargo xtask chaos`.
pub fn run(args: Args) -> Result<()> {
    if !args.k8s {
        bail!("cargo xtask chaos needs --k8s (a real cluster); the local chaos suite runs with `cargo xtask test`");
    }
    let mut cluster = KubectlCluster {
        context: args.context.clone(),
    };
    let reports = run_scenarios(&mut cluster, &args)?;
    for r in &reports {
        println!("chaos: {r}");
    }
    Ok(())
}

/// Runs the selected scenarios; returns one summary line per scenario.
pub fn run_scenarios(cluster: &mut dyn Cluster, args: &Args) -> Result<Vec<String>> {
    cluster.preflight(&args.namespace)?;
    let deploy_args = crate::deploy::Args {
        action: None,
        namespace: args.namespace.clone(),
        version: None,
        strategy: "blue-green".into(),
        name: args.name.clone(),
        chart: String::new(),
        values: Vec::new(),
        context: args.context.clone(),
        api_key: args.api_key.clone(),
        smoke_test_duration: Duration::ZERO,
        observation_window: Duration::ZERO,
        error_threshold: 0.0,
        timeout: args.recovery_timeout,
        rollback_window: Duration::ZERO,
    };
    let colour = live_colour(cluster, &deploy_args)?.ok_or_else(|| {
        anyhow!(
            "no live Service {}/{}: deploy first with `cargo xtask deploy`",
            args.namespace,
            args.name
        )
    })?;
    let target = Target {
        sts: format!("{}-{}", args.name, colour.as_str()),
        pods: format!(
            "app.kubernetes.io/name=akidb,akidb.io/color={}",
            colour.as_str()
        ),
    };
    let scenarios = match args.scenario {
        Scenario::All => vec![
            Scenario::PodKill,
            Scenario::S3Partition,
            Scenario::CpuLimit,
            Scenario::Cascading,
        ],
        s => vec![s],
    };
    let mut out = Vec::new();
    for s in scenarios {
        println!("chaos: scenario {s:?} on statefulset/{}", target.sts);
        let line = match s {
            Scenario::PodKill => pod_kill(cluster, args, &target),
            Scenario::S3Partition => s3_partition(cluster, args, &target),
            Scenario::CpuLimit => cpu_limit(cluster, args, &target),
            Scenario::Cascading => cascading(cluster, args, &target),
            Scenario::All => unreachable!("expanded above"),
        }
        .with_context(|| format!("chaos scenario {s:?} failed"))?;
        out.push(format!("{s:?}: {line}"));
    }
    Ok(out)
}

struct Target {
    sts: String,
    pods: String,
}

/// Minimal blocking REST client for the scenarios.
struct Api {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    key: Option<String>,
}

impl Api {
    fn new(key: Option<String>) -> Result<Api> {
        Ok(Api {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            key,
        })
    }

    fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let mut req = self.client.request(method, url);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.rt.block_on(async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let text = resp.text().await?;
            Ok((
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            ))
        })
    }

    /// Upserts from `writers` concurrent tasks for `dur`; returns the ids acknowledged with 200.
    fn write_load(
        &self,
        base: &str,
        coll: &str,
        writers: usize,
        dur: Duration,
        next_id: &mut u64,
    ) -> BTreeSet<u64> {
        let start_id = *next_id;
        *next_id += 10_000_000;
        let url = format!("{base}/api/v1/collections/{coll}/points");
        self.rt.block_on(async {
            let mut tasks = Vec::new();
            for w in 0..writers as u64 {
                let (client, key, url) = (self.client.clone(), self.key.clone(), url.clone());
                tasks.push(tokio::spawn(async move {
                    let deadline = Instant::now() + dur;
                    let mut acked = Vec::new();
                    let mut id = start_id + w * 1_000_000;
                    while Instant::now() < deadline {
                        let batch: Vec<u64> = (id..id + 10).collect();
                        id += 10;
                        let points: Vec<Value> = batch.iter().map(|i| json!({"id": i, "vector": vector(*i), "payload": {"chaos": true, "i": i}})).collect();
                        let mut req = client.put(&url).json(&json!({"points": points}));
                        if let Some(k) = &key {
                            req = req.bearer_auth(k);
                        }
                        match req.send().await {
                            Ok(r) if r.status().as_u16() == 200 => acked.extend(batch),
                            // Unacknowledged (error or cut connection): may or may not be applied.
                            _ => tokio::time::sleep(Duration::from_millis(200)).await,
                        }
                    }
                    acked
                }));
            }
            let mut all = BTreeSet::new();
            for t in tasks {
                all.extend(t.await.unwrap_or_default());
            }
            all
        })
    }

    /// Ids of `acked` that cannot be read back with the payload they were written with.
    fn missing(&self, base: &str, coll: &str, acked: &BTreeSet<u64>) -> Result<Vec<u64>> {
        let mut missing = Vec::new();
        for id in acked {
            let (status, body) = self.call(
                reqwest::Method::GET,
                &format!("{base}/api/v1/collections/{coll}/points/{id}"),
                None,
            )?;
            if status != 200 || body["payload"]["i"] != *id {
                missing.push(*id);
            }
        }
        Ok(missing)
    }

    fn metric(&self, base: &str, name: &str) -> Result<f64> {
        let text = crate::smoke::fetch_metrics(base, Duration::from_secs(10))?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }
}

fn vector(i: u64) -> Vec<f32> {
    (0..8)
        .map(|d| ((i * 31 + d * 7) % 97) as f32 / 97.0)
        .collect()
}

fn create_collection(api: &Api, base: &str) -> Result<String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let name = format!("chaos_{nanos}");
    let (status, body) = api.call(
        reqwest::Method::POST,
        &format!("{base}/api/v1/collections"),
        Some(json!({"name": name, "dimension": 8, "metric": "l2", "index": {"m": 16, "ef_construction": 100, "ef_search": 64}})),
    )?;
    if status != 201 && status != 200 {
        bail!("creating {name} answered {status}: {body}");
    }
    Ok(name)
}

/// Waits for the StatefulSet and for `/ready` through a fresh port-forward; returns the forward.
fn recover(
    cluster: &mut dyn Cluster,
    args: &Args,
    t: &Target,
    api: &Api,
) -> Result<(crate::deploy::cluster::Forward, Duration)> {
    let start = Instant::now();
    cluster.wait_ready(&args.namespace, &t.sts, args.recovery_timeout)?;
    loop {
        if let Ok(fwd) = cluster.port_forward(&args.namespace, &args.name, 8080) {
            if let Ok((200, _)) =
                api.call(reqwest::Method::GET, &format!("{}/ready", fwd.url), None)
            {
                return Ok((fwd, start.elapsed()));
            }
        }
        if start.elapsed() > args.recovery_timeout {
            bail!("/ready not 200 within {:?}", args.recovery_timeout);
        }
        cluster.sleep(Duration::from_secs(1));
    }
}

fn pod_kill(cluster: &mut dyn Cluster, args: &Args, t: &Target) -> Result<String> {
    let api = Api::new(args.api_key.clone())?;
    let mut fwd = cluster.port_forward(&args.namespace, &args.name, 8080)?;
    let coll = create_collection(&api, &fwd.url)?;
    let mut acked = BTreeSet::new();
    let mut next_id = 1;
    let mut recoveries = Vec::new();
    for round in 1..=args.kills {
        acked.extend(api.write_load(&fwd.url, &coll, args.writers, args.phase, &mut next_id));
        println!(
            "chaos: kill {round}/{}: {} points acknowledged so far",
            args.kills,
            acked.len()
        );
        cluster.delete_pods(&args.namespace, &t.pods, true)?;
        drop(fwd);
        cluster.sleep(Duration::from_secs(2));
        let (f, took) = recover(cluster, args, t, &api)?;
        fwd = f;
        recoveries.push(took);
    }
    let missing = api.missing(&fwd.url, &coll, &acked)?;
    if !missing.is_empty() {
        bail!(
            "{} of {} acknowledged points lost, e.g. {:?}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(10)]
        );
    }
    let _ = api.call(
        reqwest::Method::DELETE,
        &format!("{}/api/v1/collections/{coll}", fwd.url),
        None,
    );
    let max = recoveries.iter().max().copied().unwrap_or_default();
    Ok(format!(
        "{} kills, {} acknowledged points all present, slowest recovery {:?}",
        args.kills,
        acked.len(),
        max
    ))
}

fn deny_egress_policy(t: &Target, name: &str) -> String {
    // Only DNS stays reachable: S3 (in or outside the cluster) is cut off.
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": {
            "podSelector": {"matchLabels": selector_map(&t.pods)},
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]
        }
    })
    .to_string()
}

fn selector_map(sel: &str) -> Value {
    let mut m = serde_json::Map::new();
    for kv in sel.split(',') {
        if let Some((k, v)) = kv.split_once('=') {
            m.insert(k.to_string(), Value::String(v.to_string()));
        }
    }
    Value::Object(m)
}

fn wait_for(
    cluster: &mut dyn Cluster,
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> Result<bool>,
) -> Result<Duration> {
    let start = Instant::now();
    loop {
        if cond()? {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            bail!("{what} did not happen within {timeout:?}");
        }
        cluster.sleep(Duration::from_secs(2));
    }
}

fn s3_partition(cluster: &mut dyn Cluster, args: &Args, t: &Target) -> Result<String> {
    let api = Api::new(args.api_key.clone())?;
    let fwd = cluster.port_forward(&args.namespace, &args.name, 8080)?;
    let base = fwd.url.clone();
    let coll = create_collection(&api, &base)?;
    let policy = "akidb-chaos-deny-s3";
    cluster.apply_manifest(&args.namespace, &deny_egress_policy(t, policy))?;
    let result = (|| -> Result<String> {
        let mut next_id = 1;
        let acked = api.write_load(&base, &coll, args.writers, args.phase, &mut next_id);
        // Snapshot + demotion to cold need the object store: they fail into the breaker and the DLQ.
        let _ = api.call(
            reqwest::Method::POST,
            &format!("{base}/api/v1/admin/collections/{coll}/snapshot"),
            None,
        );
        let _ = api.call(
            reqwest::Method::POST,
            &format!("{base}/api/v1/admin/collections/{coll}/demote"),
            Some(json!({"to": "cold"})),
        );
        let opened = wait_for(
            cluster,
            args.recovery_timeout,
            "circuit breaker open",
            || Ok(api.metric(&base, "akidb_circuit_breaker_state")? >= 1.0),
        )?;
        let dlq = api.metric(&base, "akidb_dlq_size")?;
        let more = api.write_load(
            &base,
            &coll,
            args.writers,
            Duration::from_secs(5),
            &mut next_id,
        );
        if more.is_empty() {
            bail!("writes stopped being acknowledged while S3 was unreachable");
        }
        let missing = api.missing(&base, &coll, &acked.union(&more).copied().collect())?;
        if !missing.is_empty() {
            bail!(
                "{} acknowledged points unreadable during the partition",
                missing.len()
            );
        }
        cluster.delete_object(&args.namespace, "networkpolicy", policy)?;
        let drained = wait_for(cluster, args.recovery_timeout, "DLQ drained", || {
            let _ = api.call(
                reqwest::Method::POST,
                &format!("{base}/api/v1/admin/dlq/retry-all"),
                None,
            );
            Ok(api.metric(&base, "akidb_dlq_size")? == 0.0)
        })?;
        Ok(format!("breaker opened after {opened:?}, DLQ peaked at {dlq}, drained {drained:?} after healing"))
    })();
    cluster.delete_object(&args.namespace, "networkpolicy", policy)?;
    let _ = api.call(
        reqwest::Method::DELETE,
        &format!("{base}/api/v1/collections/{coll}"),
        None,
    );
    result
}

fn cpu_limit(cluster: &mut dyn Cluster, args: &Args, t: &Target) -> Result<String> {
    let api = Api::new(args.api_key.clone())?;
    cluster.set_limits(&args.namespace, &t.sts, "cpu=250m")?;
    let result = (|| -> Result<String> {
        let (fwd, _) = recover(cluster, args, t, &api)?;
        let base = fwd.url.clone();
        let coll = create_collection(&api, &base)?;
        let mut next_id = 1;
        api.write_load(&base, &coll, 1, Duration::from_secs(3), &mut next_id);
        let deadline = Instant::now() + args.phase;
        let (mut ok, mut total) = (0u64, 0u64);
        while Instant::now() < deadline {
            total += 2;
            let (s, _) = api.call(
                reqwest::Method::POST,
                &format!("{base}/api/v1/collections/{coll}/search"),
                Some(json!({"vector": vector(total), "k": 10})),
            )?;
            let (r, _) = api.call(reqwest::Method::GET, &format!("{base}/ready"), None)?;
            ok += u64::from(s == 200) + u64::from(r == 200);
        }
        let _ = api.call(
            reqwest::Method::DELETE,
            &format!("{base}/api/v1/collections/{coll}"),
            None,
        );
        if ok != total {
            bail!(
                "{} of {total} requests failed under the CPU limit",
                total - ok
            );
        }
        Ok(format!(
            "{total} searches and readiness checks all answered 200 under cpu=250m"
        ))
    })();
    cluster.rollout_undo(&args.namespace, &t.sts)?;
    result
}

fn cascading(cluster: &mut dyn Cluster, args: &Args, t: &Target) -> Result<String> {
    let api = Api::new(args.api_key.clone())?;
    let fwd = cluster.port_forward(&args.namespace, &args.name, 8080)?;
    let coll = create_collection(&api, &fwd.url)?;
    let mut next_id = 1;
    let acked = api.write_load(&fwd.url, &coll, args.writers, args.phase, &mut next_id);
    drop(fwd);
    cluster.delete_pods(&args.namespace, &args.s3_selector, true)?;
    cluster.delete_pods(&args.namespace, &t.pods, true)?;
    cluster.sleep(Duration::from_secs(2));
    let (fwd, took) = recover(cluster, args, t, &api)?;
    let missing = api.missing(&fwd.url, &coll, &acked)?;
    if !missing.is_empty() {
        bail!(
            "{} of {} acknowledged points lost",
            missing.len(),
            acked.len()
        );
    }
    let _ = api.call(
        reqwest::Method::DELETE,
        &format!("{}/api/v1/collections/{coll}", fwd.url),
        None,
    );
    Ok(format!(
        "ready again after {took:?}; {} acknowledged points all present",
        acked.len()
    ))
}
