//! `cargo xtask bench server`: AkiDB's server against Chroma over loopback on
//! dev-pydoc-50k — REST ingest in batches of 1,000, search QPS with 1 and 2
//! clients, p50/p99 latency, recall@10, filtered search (broad and narrow) and
//! server RSS — both driven by the same Python client script
//! (`xtask/scripts/bench_server.py`). Prints one markdown table and writes it
//! into the "Server" section of `docs/benchmarks.md`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::{load_average, run_capture};
use crate::provision::workspace_root;

/// Arguments of `cargo xtask bench server`.
#[derive(clap::Args)]
pub struct Args {
    /// Dataset directory (default: AKIDB_DATASET_DIR or ../shared/datasets/dev-pydoc-50k).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Build and run the server with `--release` instead of the (optimised) dev profile.
    #[arg(long)]
    release: bool,
    /// Unfiltered queries per measurement (at most 1,000).
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Queries per filtered measurement.
    #[arg(long, default_value_t = 200)]
    filtered_queries: usize,
    /// AkiDB `ef` values tried, in order, after the collection default until recall@10 ≥ 0.99.
    #[arg(long, default_value = "96,128,192")]
    ef: String,
    /// Benchmark this `akidb` binary instead of building one.
    #[arg(long, conflicts_with = "release")]
    bin: Option<PathBuf>,
    /// Print the table without rewriting docs/benchmarks.md.
    #[arg(long)]
    no_write: bool,
}

/// A loopback port nobody listens on right now.
pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs a command in the workspace to completion; the error names the full command.
fn run_checked(program: &str, args: &[String], env: &[(&str, String)]) -> Result<String> {
    run_capture(&workspace_root(), program, args, env)
}

/// A background server; SIGKILLed (and reaped) when dropped, so every exit path stops it.
pub(crate) struct Daemon {
    name: &'static str,
    shown: String,
    log: PathBuf,
    handle: duct::Handle,
}

impl Daemon {
    /// Starts `program` in the background with the caller's AKIDB_* replaced by `env`.
    pub(crate) fn start(
        name: &'static str,
        program: &str,
        args: &[String],
        env: &[(&str, String)],
        log: PathBuf,
    ) -> Result<Daemon> {
        let shown = format!(
            "{} {program} {}",
            env.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            args.join(" ")
        );
        eprintln!("+ {shown} &> {}", log.display());
        let mut cmd = duct::cmd(program, args)
            .stdin_null()
            // Inner redirections apply last: stderr joins stdout after stdout went to the log.
            .stderr_to_stdout()
            .stdout_path(&log)
            .unchecked();
        // The caller's AKIDB_* (API keys, S3, limits) would change what is measured:
        // both servers run with their defaults plus `env` only.
        for (k, _) in std::env::vars() {
            if k.starts_with("AKIDB_") || k == "RUST_LOG" {
                cmd = cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        let handle = cmd
            .start()
            .with_context(|| format!("could not start {name}: `{shown}`"))?;
        Ok(Daemon {
            name,
            shown,
            log,
            handle,
        })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.handle.pids()[0]
    }

    /// Fails with the command and the log tail when the process already exited.
    pub(crate) fn check_alive(&self) -> Result<()> {
        if let Some(out) = self.handle.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            bail!(
                "{} exited with {}: `{}`\n{tail}",
                self.name,
                out.status,
                self.shown
            );
        }
        Ok(())
    }
}

impl Daemon {
    /// The file that receives the process's output.
    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// SIGKILL and reap (a no-op once it has exited), so no zombie or live server remains.
    pub(crate) fn kill(&self) -> Result<()> {
        self.handle.kill()?;
        self.handle.wait().map(|_| ())?;
        Ok(())
    }

    /// SIGTERM, then waits up to `grace` for the exit; fails (after a SIGKILL) when it does not.
    pub(crate) fn terminate(&self, grace: Duration) -> Result<()> {
        // SAFETY: kill(2) with a pid we own; a stale pid at worst signals nothing.
        unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.handle.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill()?;
        bail!("{} did not stop within {grace:?} of SIGTERM", self.name)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        match self.kill() {
            Ok(()) => eprintln!("stopped {} (pid {})", self.name, self.pid()),
            Err(e) => eprintln!("could not kill {} (pid {}): {e}", self.name, self.pid()),
        }
    }
}

/// Builds `akidb` and returns the binary's path.
pub(crate) fn build_server(release: bool) -> Result<PathBuf> {
    let mut args = vec!["build".to_string(), "-p".into(), "akidb-server".into()];
    if release {
        args.push("--release".into());
    }
    run_checked("cargo", &args, &[])?;
    let meta = run_checked(
        "cargo",
        &["metadata", "--format-version", "1", "--no-deps"].map(String::from),
        &[],
    )?;
    let meta: Value = serde_json::from_str(&meta).context("parsing `cargo metadata`")?;
    let target = meta["target_directory"]
        .as_str()
        .context("`cargo metadata` has no target_directory")?;
    let bin = Path::new(target)
        .join(if release { "release" } else { "debug" })
        .join("akidb");
    if !bin.is_file() {
        bail!("built akidb-server but {} does not exist", bin.display());
    }
    Ok(bin)
}

fn get<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| &v[*k])
}

fn num(v: &Value, path: &[&str]) -> f64 {
    get(v, path).as_f64().unwrap_or(f64::NAN)
}

/// Integer with thousands separators.
fn grouped(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let s = format!("{:.0}", x);
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// A throughput: grouped integer at ≥ 100, else one decimal.
fn rate(x: f64) -> String {
    if x.is_finite() && x < 100.0 {
        format!("{x:.1}")
    } else {
        grouped(x)
    }
}

/// `ours / theirs` against a `≥ target×` goal.
fn ratio(ours: f64, theirs: f64, target: Option<f64>) -> String {
    let r = ours / theirs;
    if !r.is_finite() {
        return "–".into();
    }
    match target {
        Some(t) => format!(
            "{r:.1}× (target ≥ {t}×: {})",
            if r >= t { "met" } else { "missed" }
        ),
        None => format!("{r:.2}×"),
    }
}

/// The markdown table comparing both systems.
fn table(a: &Value, c: &Value, queries: usize) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut row = |name: &str, x: String, y: String, r: String| rows.push([name.into(), x, y, r]);
    let ing = ["ingest_points_per_s"];
    row(
        "ingest, REST batches of 1,000 (points/s, acknowledged)",
        grouped(num(a, &ing)),
        grouped(num(c, &ing)),
        ratio(num(a, &ing), num(c, &ing), Some(10.0)),
    );
    row(
        "index settled after ingest (s)",
        format!("{:.1}", num(a, &["settle_s"])),
        format!("{:.1}", num(c, &["settle_s"])),
        String::new(),
    );
    let ef = |v: &Value| match v["ef"].as_u64() {
        Some(e) => format!("ef={e}"),
        None => "default ef".into(),
    };
    row(
        "search k=10, ef used",
        format!("{} (collection default 64)", ef(a)),
        "default ef_search=100".into(),
        String::new(),
    );
    row(
        &format!("recall@10 ({} queries)", grouped(queries as f64)),
        format!("{:.4}", num(a, &["recall_at_10"])),
        format!("{:.4}", num(c, &["recall_at_10"])),
        String::new(),
    );
    for (label, q, target) in [
        ("search QPS, 1 client", "qps_1", Some(5.0)),
        ("search QPS, 2 clients", "qps_2", Some(5.0)),
    ] {
        row(
            label,
            rate(num(a, &[q])),
            rate(num(c, &[q])),
            ratio(num(a, &[q]), num(c, &[q]), target),
        );
    }
    for n in ["1", "2"] {
        let p50 = format!("p50_ms_{n}");
        let p99 = format!("p99_ms_{n}");
        row(
            &format!(
                "latency p50 / p99 (ms), {n} client{}",
                if n == "1" { "" } else { "s" }
            ),
            format!("{:.2} / {:.2}", num(a, &[&p50]), num(a, &[&p99])),
            format!("{:.2} / {:.2}", num(c, &[&p50]), num(c, &[&p99])),
            String::new(),
        );
    }
    for label in ["broad", "narrow"] {
        let key = format!("filter_{label}");
        let section = get(a, &[&key, "section"]).as_str().unwrap_or("?");
        let pct = num(a, &[&key, "matching"]) * 100.0;
        row(
            &format!("filtered QPS, section={section} ({pct:.0} %), 1 client"),
            rate(num(a, &[&key, "qps"])),
            rate(num(c, &[&key, "qps"])),
            ratio(num(a, &[&key, "qps"]), num(c, &[&key, "qps"]), Some(20.0)),
        );
        row(
            &format!("  filtered recall@10 / hits outside filter, section={section}"),
            filtered_quality(a, &key),
            filtered_quality(c, &key),
            String::new(),
        );
    }
    row(
        "client floor: no-op round trips/s (GET /health; heartbeat)",
        grouped(num(a, &["noop_qps"])),
        grouped(num(c, &["noop_qps"])),
        String::new(),
    );
    row(
        "server RSS after load (MiB)",
        format!("{:.0}", num(a, &["rss_mib_after_load"])),
        format!("{:.0}", num(c, &["rss_mib_after_load"])),
        ratio(
            num(a, &["rss_mib_after_load"]),
            num(c, &["rss_mib_after_load"]),
            None,
        ),
    );
    row(
        "server RSS at the end (MiB)",
        format!("{:.0}", num(a, &["rss_mib_end"])),
        format!("{:.0}", num(c, &["rss_mib_end"])),
        String::new(),
    );
    let mut out =
        String::from("| measurement | AkiDB | Chroma | AkiDB / Chroma |\n|---|---:|---:|---|\n");
    for r in rows {
        out.push_str(&format!("| {} | {} | {} | {} |\n", r[0], r[1], r[2], r[3]));
    }
    out
}

/// "recall / hits outside the filter" of one filtered measurement.
fn filtered_quality(v: &Value, key: &str) -> String {
    let outside = get(v, &[key, "hits_outside_filter"])
        .as_u64()
        .map_or("?".to_string(), |n| n.to_string());
    format!("{:.4} / {outside}", num(v, &[key, "recall_at_10"]))
}

fn replace_section(doc: &str, section: &str) -> String {
    super::replace_section(doc, "## Server", section)
}

#[allow(clippy::too_many_arguments)]
fn doc_section(
    table: &str,
    date: &str,
    load_before: &str,
    load_after: &str,
    release: bool,
    bin: Option<&Path>,
    chroma_version: &str,
    queries: usize,
    filtered: usize,
) -> String {
    let profile = if let Some(bin) = bin {
        format!("binary `{}` (`--bin`)", bin.display())
    } else if release {
        "`--release` profile".to_string()
    } else {
        "dev profile, which this workspace optimises (opt-level 2, dependencies 3); \
         `--release` (`cargo xtask bench server --release`) is faster still"
            .to_string()
    };
    format!(
        "## Server: AkiDB vs Chroma over loopback\n\n\
Command (builds and starts both servers on free loopback ports with temporary\n\
data directories, runs the client, kills both servers, prints the table and\n\
rewrites this section; `--no-write` only prints):\n\n\
```sh\ncargo xtask bench server            # dev-profile server\n\
cargo xtask bench server --release  # release-profile server\n```\n\n\
Setup: dev-pydoc-50k (50,000 × 384, cosine, payload `{{section, page}}`), both\n\
servers with their default configuration (AkiDB: `wal_sync = always`, every\n\
upsert fsync'd before it is acknowledged; M=16, ef_construction=200,\n\
ef_search=64, segments sealed at 20,000 points, so 50,000 points are two HNSW\n\
segments plus 10,000 in the exactly scanned mutable segment; Chroma {chroma_version}:\n\
`chroma run`, hnsw defaults M=16, ef_construction=100, ef_search=100). AkiDB\n\
built with the {profile}. Both are driven by the same\n\
Python script (`xtask/scripts/bench_server.py`): `requests` + `orjson` against\n\
AkiDB's REST API, `chromadb.HttpClient` (httpx + orjson) against Chroma; one\n\
search per request, k=10, payloads returned only for filtered searches (to check\n\
them). Ingest is 50 sequential batches of 1,000 points, timed until the last\n\
batch is acknowledged. Neither server exposes \"index built\", so after ingest\n\
the script waits until the server process uses < 5 % of a core (\"index settled\").\n\
Unfiltered search: {queries} queries, recall@10 against `gt_cosine_top100.npy`;\n\
if AkiDB's default ef misses recall@10 ≥ 0.99 the next larger `ef` is used\n\
(the row \"ef used\"). 2 clients = 2 threads, each with its own connection.\n\
Filtered search: {filtered} queries, recall against an exact filtered scan, and\n\
every returned hit's `section` checked against the filter. RSS is VmRSS of the\n\
server process after the load has settled.\n\n\
The machine is a shared 2-core VM; client and server share the two cores, so\n\
the Python client's own cost bounds both systems' QPS: the \"client floor\" row\n\
is a no-op round trip with the same client (AkiDB `GET /health` with `requests`,\n\
Chroma `heartbeat()` with its HttpClient), an upper bound for any search QPS here.\n\n\
Measured {date} (load average before the run: {load_before}; after: {load_after}):\n\n\
{table}\n\
Targets from issue 3: ingest ≥ 10× Chroma, search QPS ≥ 5× Chroma at\n\
recall@10 ≥ 0.99, filtered search ≥ 20× Chroma with every hit inside the filter.\n"
    )
}

/// Runs `cargo xtask bench server`.
pub fn run(args: Args) -> Result<()> {
    let root = workspace_root();
    let dataset = super::dataset_dir(
        args.dataset,
        &[
            "base.f32.npy",
            "queries.f32.npy",
            "gt_cosine_top100.npy",
            "base.jsonl",
        ],
    )?;
    let pydeps = root.join("target/pydeps");
    super::pip_install(
        &pydeps,
        "import chromadb, numpy, requests, orjson",
        &["chromadb", "numpy", "requests"],
    )?;
    let bin = match &args.bin {
        Some(b) if b.is_file() => b.canonicalize()?,
        Some(b) => bail!("--bin {}: no such file", b.display()),
        None => build_server(args.release)?,
    };
    let pypath = pydeps.display().to_string();
    let chroma_version = run_checked(
        "python3",
        &[
            "-c".into(),
            "import chromadb; print(chromadb.__version__)".into(),
        ],
        &[("PYTHONPATH", pypath.clone())],
    )?
    .trim()
    .to_string();

    let tmp = tempfile::Builder::new()
        .prefix("akidb-bench-server-")
        .tempdir()?;
    let rest = format!("127.0.0.1:{}", free_port()?);
    let grpc = format!("127.0.0.1:{}", free_port()?);
    let chroma_port = free_port()?;
    let load_before = load_average();

    // Daemons are dropped (killed) in reverse order on every return path.
    let akidb = Daemon::start(
        "akidb",
        &bin.display().to_string(),
        &[],
        &[
            ("AKIDB_REST_ADDR", rest.clone()),
            ("AKIDB_GRPC_ADDR", grpc),
            (
                "AKIDB_DATA_DIR",
                tmp.path().join("akidb").display().to_string(),
            ),
        ],
        tmp.path().join("akidb.log"),
    )?;
    let chroma = Daemon::start(
        "chroma",
        "python3",
        &[
            "-c".into(),
            // `pip --target` does not install console scripts into an existing bin dir,
            // so call the `chroma` entry point directly.
            "import sys; sys.argv = ['chroma'] + sys.argv[1:]; from chromadb.cli.cli import app; app()"
                .into(),
            "run".into(),
            "--path".into(),
            tmp.path().join("chroma").display().to_string(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            chroma_port.to_string(),
        ],
        &[
            ("PYTHONPATH", pypath.clone()),
            ("ANONYMIZED_TELEMETRY", "False".into()),
        ],
        tmp.path().join("chroma.log"),
    )?;

    let script = root.join("xtask/scripts/bench_server.py");
    let out = run_checked(
        "python3",
        &[
            script.display().to_string(),
            "--dataset".into(),
            dataset.display().to_string(),
            "--akidb-url".into(),
            format!("http://{rest}"),
            "--akidb-pid".into(),
            akidb.pid().to_string(),
            "--chroma-port".into(),
            chroma_port.to_string(),
            "--chroma-pid".into(),
            chroma.pid().to_string(),
            "--queries".into(),
            args.queries.to_string(),
            "--filtered-queries".into(),
            args.filtered_queries.to_string(),
            "--ef".into(),
            args.ef.clone(),
        ],
        &[
            ("PYTHONPATH", pypath),
            ("ANONYMIZED_TELEMETRY", "False".into()),
        ],
    );
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            akidb.check_alive()?;
            chroma.check_alive()?;
            return Err(e);
        }
    };
    akidb.check_alive()?;
    chroma.check_alive()?;
    drop(chroma);
    drop(akidb);
    let load_after = load_average();

    let mut results = std::collections::BTreeMap::new();
    for line in out.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line).with_context(|| format!("bad line {line}"))?;
        let name = v["system"].as_str().unwrap_or("?").to_string();
        results.insert(name, v);
    }
    let (Some(a), Some(c)) = (results.get("AkiDB"), results.get("Chroma")) else {
        bail!("the client script did not report both systems:\n{out}");
    };
    let table = table(a, c, args.queries.min(1000));
    println!("{table}");
    println!("load average before: {load_before}; after: {load_after}");
    if args.no_write {
        return Ok(());
    }
    let date = run_checked("date", &["-u".into(), "+%Y-%m-%d %H:%M UTC".into()], &[])?
        .trim()
        .to_string();
    let section = doc_section(
        &table,
        &date,
        &load_before,
        &load_after,
        args.release,
        args.bin.as_deref(),
        &chroma_version,
        args.queries,
        args.filtered_queries,
    );
    let doc_path = root.join("docs/benchmarks.md");
    let doc = std::fs::read_to_string(&doc_path)
        .with_context(|| format!("reading {}", doc_path.display()))?;
    std::fs::write(&doc_path, replace_section(&doc, &section))
        .with_context(|| format!("writing {}", doc_path.display()))?;
    eprintln!("wrote the Server section of {}", doc_path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_server_section() {
        let doc = "# B\n\n## Engine\n\ne\n\n## Server: old\n\nold\n\n## Tiers\n\nt\n";
        let new = replace_section(doc, "## Server: new\n\nnew\n\n");
        assert_eq!(
            new,
            "# B\n\n## Engine\n\ne\n\n## Server: new\n\nnew\n\n## Tiers\n\nt\n"
        );
        let appended = replace_section("# B\n\n## Engine\n\ne\n", "## Server\n\nx\n");
        assert_eq!(appended, "# B\n\n## Engine\n\ne\n\n## Server\n\nx\n");
    }

    #[test]
    fn doc_section_names_command_date_and_table() {
        let s = doc_section(
            "| t |\n",
            "2026-11-27 09:45 UTC",
            "0.5 0.4 0.3",
            "1.0 0.8 0.5",
            false,
            None,
            "1.5.9",
            1000,
            200,
        );
        assert!(s.starts_with("## Server"));
        for part in [
            "cargo xtask bench server",
            "2026-11-27 09:45 UTC",
            "| t |",
            "1.5.9",
            "opt-level 2",
        ] {
            assert!(s.contains(part), "{part} missing from:\n{s}");
        }
        assert_eq!(replace_section("# B\n", &s).matches("## Server").count(), 1);
    }

    #[test]
    fn groups_thousands_and_rates() {
        assert_eq!(grouped(1424.4), "1,424");
        assert_eq!(grouped(1234567.0), "1,234,567");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(rate(8.04), "8.0");
        assert_eq!(rate(225.2), "225");
        assert_eq!(ratio(100.0, 10.0, Some(5.0)), "10.0× (target ≥ 5×: met)");
        assert_eq!(ratio(2.0, 1.0, Some(5.0)), "2.0× (target ≥ 5×: missed)");
    }
}
