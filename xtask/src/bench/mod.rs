//! `cargo xtask bench <suite>`: benchmark suites. Each suite lives in its own
//! file (`bench/<suite>.rs`) with its own `Args` and `run`.

mod engine;
mod server;

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
}

/// Runs `cargo xtask bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.suite {
        Suite::Engine(a) => engine::run(a),
        Suite::Server(a) => server::run(a),
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
