//! `cargo xtask bench <suite>`: benchmark suites. Each suite lives in its own
//! file (`bench/<suite>.rs`) with its own `Args` and `run`.

mod engine;
mod server;

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
