//! `cargo xtask deploy`: blue-green deployment of AkiDB to Kubernetes with smoke checks, an
//! error-rate observation window and automatic rollback, plus `cargo xtask deploy rollback`.
//!
//! Layout on the cluster: each colour is a Helm release `<name>-blue` / `<name>-green` of the
//! chart (pods labelled `akidb.io/color`); the live Service `<name>` selects one colour. Every
//! kubectl/helm call goes through [`cluster::Cluster`], so the orchestration is tested against a
//! scripted cluster.

pub mod cluster;

use anyhow::{anyhow, bail, Context, Result};
use cluster::{Cluster, KubectlCluster, Selector};
use std::time::Duration;

/// Label carrying the colour on the pods (set by the chart's `color` value).
pub const COLOR_LABEL: &str = "akidb.io/color";

/// Arguments of `cargo xtask deploy`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// `rollback` switches traffic back to the previous colour.
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Kubernetes namespace.
    #[arg(long, global = true, default_value = "akidb")]
    pub namespace: String,
    /// Version to deploy (image tag and chart version), e.g. 2.0.0.
    #[arg(long, global = true)]
    pub version: Option<String>,
    /// Deployment strategy; only blue-green is supported.
    #[arg(long, global = true, default_value = "blue-green")]
    pub strategy: String,
    /// Name of the live Service; the colours are Helm releases `<name>-blue` and `<name>-green`.
    #[arg(long, global = true, default_value = "akidb")]
    pub name: String,
    /// Chart: a directory or an `oci://` reference.
    #[arg(long, global = true, default_value = "helm/akidb")]
    pub chart: String,
    /// Extra values files passed to helm.
    #[arg(long = "values", global = true)]
    pub values: Vec<String>,
    /// kubectl context (default: the current one).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// API key for the smoke checks (write access).
    #[arg(long, global = true, env = "AKIDB_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// How long the smoke checks are repeated against the new colour (e.g. 60s, 2m).
    #[arg(long, global = true, env = "SMOKE_TEST_DURATION", default_value = "30s", value_parser = parse_duration)]
    pub smoke_test_duration: Duration,
    /// How long the new colour's error rate is watched before the switch.
    #[arg(long, global = true, env = "OBSERVATION_WINDOW", default_value = "2m", value_parser = parse_duration)]
    pub observation_window: Duration,
    /// Highest tolerated share of 5xx answers in the window (0.01 or 1%).
    #[arg(long, global = true, env = "ERROR_THRESHOLD", default_value = "0.01", value_parser = parse_ratio)]
    pub error_threshold: f64,
    /// How long the new colour may take to become ready.
    #[arg(long, global = true, env = "TIMEOUT", default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// How long the old colour is kept (for `deploy rollback`) after the switch before removal.
    #[arg(long, global = true, env = "ROLLBACK_WINDOW", default_value = "5m", value_parser = parse_duration)]
    pub rollback_window: Duration,
}

/// Sub-actions of `cargo xtask deploy`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Action {
    /// Switch the live Service back to the other colour and remove the current one.
    Rollback,
}

/// Runs `cargo xtask deploy`.
pub fn run(args: Args) -> Result<()> {
    let mut cluster = KubectlCluster {
        context: args.context.clone(),
    };
    match args.action {
        Some(Action::Rollback) => rollback(&mut cluster, &args).map(|_| ()),
        None => deploy(&mut cluster, &args).map(|_| ()),
    }
}

/// A deployment colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// Blue.
    Blue,
    /// Green.
    Green,
}

impl Colour {
    /// Lower-case name, as in labels and release names.
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Green => "green",
        }
    }
    /// The other colour.
    pub fn other(self) -> Colour {
        match self {
            Colour::Blue => Colour::Green,
            Colour::Green => Colour::Blue,
        }
    }
    fn parse(s: &str) -> Option<Colour> {
        match s {
            "blue" => Some(Colour::Blue),
            "green" => Some(Colour::Green),
            _ => None,
        }
    }
}

/// Parses `90`, `90s`, `500ms`, `5m`, `1h` into a duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?} (use e.g. 30s, 5m, 1h)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit in {s:?} (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `0.01` or `1%` into a ratio in 0..=1.
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let v = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => s.parse::<f64>(),
    }
    .map_err(|_| format!("bad ratio {s:?} (use 0.01 or 1%)"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("ratio {s:?} is outside 0..1"));
    }
    Ok(v)
}

/// Requests and 5xx answers summed over `akidb_http_requests_total` in a Prometheus text page.
pub fn request_counts(metrics: &str) -> (f64, f64) {
    let (mut total, mut errors) = (0.0, 0.0);
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("akidb_http_requests_total") else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => match r.rsplit_once('}') {
                Some((l, v)) => (l, v),
                None => continue,
            },
            None if rest.starts_with(' ') => ("", rest),
            None => continue,
        };
        let Some(v) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        total += v;
        if labels
            .split(',')
            .any(|kv| kv.trim().starts_with("status=\"5"))
        {
            errors += v;
        }
    }
    (total, errors)
}

/// What a finished deployment did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Colour serving traffic at the start (None on a first install).
    pub previous: Option<Colour>,
    /// Colour serving traffic now.
    pub live: Colour,
}

fn release_name(args: &Args, c: Colour) -> String {
    format!("{}-{}", args.name, c.as_str())
}

fn live_selector(c: Colour) -> Selector {
    let mut s = Selector::new();
    s.insert("app.kubernetes.io/name".into(), "akidb".into());
    s.insert(COLOR_LABEL.into(), c.as_str().into());
    s
}

/// The colour the live Service selects, `None` when there is no live Service yet.
pub fn live_colour(cluster: &mut dyn Cluster, args: &Args) -> Result<Option<Colour>> {
    match cluster.service_selector(&args.namespace, &args.name)? {
        None => Ok(None),
        Some(sel) => {
            let c = sel.get(COLOR_LABEL).ok_or_else(|| {
                anyhow!("Service {}/{} has no {COLOR_LABEL} in its selector: not managed by cargo xtask deploy", args.namespace, args.name)
            })?;
            Colour::parse(c)
                .map(Some)
                .ok_or_else(|| anyhow!("Service {} selects unknown colour {c:?}", args.name))
        }
    }
}

/// Blue-green deployment; on any failure traffic stays on (or returns to) the old colour and the
/// new colour is removed.
pub fn deploy(cluster: &mut dyn Cluster, args: &Args) -> Result<Outcome> {
    if args.strategy != "blue-green" {
        bail!(
            "unknown strategy {:?}: only blue-green is supported",
            args.strategy
        );
    }
    let version = args
        .version
        .as_deref()
        .ok_or_else(|| anyhow!("--version is required to deploy"))?;
    semver_like(version)?;
    println!(
        "deploy: preflight (kubectl, helm, namespace {})",
        args.namespace
    );
    cluster.preflight(&args.namespace)?;
    let previous = live_colour(cluster, args)?;
    let new = previous.map(Colour::other).unwrap_or(Colour::Blue);
    let new_release = release_name(args, new);
    match previous {
        Some(p) => println!(
            "deploy: live colour is {}; installing {version} as {}",
            p.as_str(),
            new.as_str()
        ),
        None => println!(
            "deploy: no live Service {}; first install as {}",
            args.name,
            new.as_str()
        ),
    }
    if cluster.release_exists(&args.namespace, &new_release)? {
        println!("deploy: removing leftover release {new_release}");
        cluster.helm_uninstall(&args.namespace, &new_release)?;
    }
    let mut switched = false;
    let result = try_new_colour(cluster, args, version, new, &mut switched);
    if let Err(err) = result {
        eprintln!("deploy: FAILED: {err:#}");
        let mut notes = Vec::new();
        if switched {
            match previous {
                Some(p) => {
                    if let Err(e) =
                        cluster.apply_service(&args.namespace, &args.name, &live_selector(p))
                    {
                        notes.push(format!("switching back to {} failed: {e:#}", p.as_str()));
                    } else {
                        println!("deploy: traffic switched back to {}", p.as_str());
                    }
                }
                None => {
                    if let Err(e) = cluster.delete_object(&args.namespace, "service", &args.name) {
                        notes.push(format!("removing the live Service failed: {e:#}"));
                    }
                }
            }
        }
        if let Err(e) = cluster.helm_uninstall(&args.namespace, &new_release) {
            notes.push(format!("removing {new_release} failed: {e:#}"));
        } else {
            println!("deploy: removed {new_release}");
        }
        let mut err = err.context(format!(
            "blue-green deploy of {version} failed; traffic stays on {}",
            previous
                .map(|p| p.as_str())
                .unwrap_or("(nothing: first install)")
        ));
        for n in notes {
            err = err.context(n);
        }
        return Err(err);
    }
    if let Some(p) = previous {
        let old = release_name(args, p);
        println!("deploy: keeping {old} for the rollback window ({:?}); `cargo xtask deploy rollback` switches back", args.rollback_window);
        cluster.sleep(args.rollback_window);
        // A rollback during the window moved traffic back: then the old colour must stay.
        if live_colour(cluster, args)? == Some(new) {
            cluster.helm_uninstall(&args.namespace, &old)?;
            println!("deploy: removed {old}");
        } else {
            bail!(
                "traffic left {} during the rollback window; {old} kept",
                new.as_str()
            );
        }
    }
    println!("deploy: {version} is live on {}", new.as_str());
    Ok(Outcome {
        previous,
        live: new,
    })
}

fn semver_like(v: &str) -> Result<()> {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        bail!("version {v:?} is not semver (e.g. 2.0.1)");
    }
    Ok(())
}

fn try_new_colour(
    cluster: &mut dyn Cluster,
    args: &Args,
    version: &str,
    new: Colour,
    switched: &mut bool,
) -> Result<()> {
    let ns = &args.namespace;
    let release = release_name(args, new);
    let sets = vec![
        ("image.tag".to_string(), version.to_string()),
        ("color".to_string(), new.as_str().to_string()),
    ];
    println!("deploy: helm install {release} ({})", args.chart);
    cluster
        .helm_install(ns, &release, &args.chart, version, &sets, &args.values)
        .context("installing the new colour")?;
    println!(
        "deploy: waiting up to {:?} for {release} to be ready",
        args.timeout
    );
    cluster
        .wait_ready(ns, &release, args.timeout)
        .context("waiting for readiness")?;
    let forward = cluster
        .port_forward(ns, &release, 8080)
        .context("port-forward to the new colour")?;
    let smoke_started = std::time::Instant::now();
    let mut rounds = 0;
    loop {
        rounds += 1;
        crate::smoke::run_checks(
            &forward.url,
            args.api_key.as_deref(),
            Duration::from_secs(30),
        )
        .context("smoke checks on the new colour")?;
        if smoke_started.elapsed() >= args.smoke_test_duration {
            break;
        }
        cluster.sleep(Duration::from_secs(1));
        if smoke_started.elapsed() >= args.smoke_test_duration {
            break;
        }
    }
    println!("deploy: smoke checks passed ({rounds} round(s))");
    let before = crate::smoke::fetch_metrics(&forward.url, Duration::from_secs(30))
        .context("reading /metrics before the observation window")?;
    cluster.sleep(args.observation_window);
    let after = crate::smoke::fetch_metrics(&forward.url, Duration::from_secs(30))
        .context("reading /metrics after the observation window")?;
    let (t0, e0) = request_counts(&before);
    let (t1, e1) = request_counts(&after);
    let (dt, de) = ((t1 - t0).max(0.0), (e1 - e0).max(0.0));
    let rate = if dt > 0.0 { de / dt } else { 0.0 };
    println!("deploy: observation window: {dt} requests, {de} errors (5xx), error rate {:.4} (threshold {})", rate, args.error_threshold);
    if rate > args.error_threshold {
        bail!(
            "error rate {rate:.4} over the threshold {} ({de} of {dt} requests answered 5xx)",
            args.error_threshold
        );
    }
    drop(forward);
    *switched = true;
    cluster
        .apply_service(ns, &args.name, &live_selector(new))
        .context("switching the live Service")?;
    println!("deploy: traffic switched to {}", new.as_str());
    Ok(())
}

/// Switches traffic back to the other colour (which must still exist) and removes the current one.
pub fn rollback(cluster: &mut dyn Cluster, args: &Args) -> Result<Colour> {
    cluster.preflight(&args.namespace)?;
    let current = live_colour(cluster, args)?.ok_or_else(|| {
        anyhow!(
            "no live Service {}/{}: nothing to roll back",
            args.namespace,
            args.name
        )
    })?;
    let target = current.other();
    let target_release = release_name(args, target);
    if !cluster.release_exists(&args.namespace, &target_release)? {
        bail!("{target_release} no longer exists (removed after the rollback window): redeploy the previous version with `cargo xtask deploy --version <previous>`");
    }
    cluster
        .wait_ready(&args.namespace, &target_release, args.timeout)
        .context("the previous colour is not ready")?;
    cluster.apply_service(&args.namespace, &args.name, &live_selector(target))?;
    println!("rollback: traffic switched back to {}", target.as_str());
    cluster.helm_uninstall(&args.namespace, &release_name(args, current))?;
    println!("rollback: removed {}", release_name(args, current));
    Ok(target)
}
