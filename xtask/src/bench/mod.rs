//! `cargo xtask bench <suite>`: benchmark suites. Each suite lives in its own
//! file (`bench/<suite>.rs`) with its own `Args` and `run`.

mod engine;
mod replication;
pub(crate) mod server;
mod tiers;

use anyhow::{bail, Context, Result};
use std::path::Path;

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    suite: Suite,
}

#[derive(clap::Subcommand)]
enum Suite {
    /// Index speed and recall on dev-pydoc-50k (ours, hnsw_rs, hnswlib), build times, ingest rate.
    Engine(engine::Args),
    /// AkiDB's server vs Chroma over loopback: REST ingest, search and filtered QPS, latency, recall, RSS.
    Server(server::Args),
    /// Object-store ops/s and MB/s on SeaweedFS (AkiDB's S3 client vs boto3), search latency per tier, cold → first answer.
    Tiers(tiers::Args),
    /// Three `akidb` nodes on one bucket: write latency per ack mode, follower lag, catch-up, failover, handover, read scaling.
    Replication(replication::Args),
}

/// Runs `cargo xtask bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.suite {
        Suite::Engine(a) => engine::run(a),
        Suite::Server(a) => server::run(a),
        Suite::Tiers(a) => tiers::run(a),
        Suite::Replication(a) => replication::run(a),
    }
}

/// Runs a command, streaming stderr, returning stdout; the error names the full command.
pub(crate) fn run_capture(
    root: &Path,
    program: &str,
    args: &[String],
    env: &[(&str, String)],
) -> Result<String> {
    let shown = format!("{program} {}", args.join(" "));
    eprintln!("+ {shown}");
    let mut cmd = duct::cmd(program, args)
        .dir(root)
        .stdout_capture()
        .unchecked();
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let out = cmd
        .run()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        bail!("`{shown}` failed with {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Replaces the section of `doc` whose heading starts with `heading` (up to the next
/// `## ` heading) by `section`, or appends `section` when there is none.
pub(crate) fn replace_section(doc: &str, heading: &str, section: &str) -> String {
    let start = doc
        .match_indices(&format!("\n{heading}"))
        .map(|(i, _)| i + 1)
        .next();
    match start {
        Some(s) => {
            let end = doc[s + 3..]
                .find("\n## ")
                .map_or(doc.len(), |e| s + 3 + e + 1);
            format!("{}{}{}", &doc[..s], section, &doc[end..])
        }
        None => format!("{}\n{}", doc.trim_end(), "\n".to_string() + section),
    }
}

/// The current UTC minute, as the benchmark and soak sections date their measurements.
pub(crate) fn utc_now() -> Result<String> {
    let out = run_capture(
        &crate::provision::workspace_root(),
        "date",
        &["-u".into(), "+%Y-%m-%d %H:%M UTC".into()],
        &[],
    )?;
    Ok(out.trim().to_string())
}

/// Replaces (or appends) the section under `heading` of the markdown file `doc` (relative to
/// the workspace root) with `section`; returns the file's path.
pub(crate) fn write_doc_section(
    doc: &str,
    heading: &str,
    section: &str,
) -> Result<std::path::PathBuf> {
    let path = crate::provision::workspace_root().join(doc);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    std::fs::write(&path, replace_section(&text, heading, section))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The 1, 5 and 15 minute load averages, for the record next to a measurement.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Makes Python packages importable from `pydeps` (`import_check` must succeed), running
/// `pip install --target` when they are missing.
pub(crate) fn pip_install(pydeps: &Path, import_check: &str, packages: &[&str]) -> Result<()> {
    let have = crate::provision::succeeds(
        duct::cmd!("python3", "-c", import_check).env("PYTHONPATH", pydeps),
    );
    if !have {
        let mut args: Vec<String> = ["-m", "pip", "install", "--quiet", "--target"]
            .map(String::from)
            .to_vec();
        args.push(pydeps.display().to_string());
        args.extend(packages.iter().map(|p| p.to_string()));
        run_capture(&crate::provision::workspace_root(), "python3", &args, &[])?;
    }
    Ok(())
}

/// The dataset directory: `given` (`--dataset`), else `AKIDB_DATASET_DIR`, else
/// `../shared/datasets/dev-pydoc-50k`; canonical, and holding every file in `files`.
pub(crate) fn dataset_dir(
    given: Option<std::path::PathBuf>,
    files: &[&str],
) -> Result<std::path::PathBuf> {
    let dataset = given
        .or_else(|| std::env::var_os("AKIDB_DATASET_DIR").map(std::path::PathBuf::from))
        .unwrap_or_else(|| {
            crate::provision::workspace_root().join("../shared/datasets/dev-pydoc-50k")
        });
    for f in files {
        if !dataset.join(f).is_file() {
            bail!(
                "dataset file {} not found: the benchmarks read the full dev-pydoc-50k set \
                 (float32 .npy files, layout in testdata/dev-pydoc-10k/README.md, made \
                 from the Python docs with all-MiniLM-L6-v2); pass --dataset DIR or set \
                 AKIDB_DATASET_DIR",
                dataset.join(f).display()
            );
        }
    }
    Ok(dataset.canonicalize()?)
}
