//! `cargo xtask`: AkiDB's test, benchmark, packaging, deployment and release automation,
//! in plain Rust instead of shell scripts.

mod bench;
mod chaos;
mod chart;
mod deploy;
mod fuzz;
mod image;
mod provision;
mod release;
mod smoke;
mod soak;
mod test_cmd;

use clap::{Parser, Subcommand};

/// AkiDB developer and release tasks.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Provision the services the tests need (SeaweedFS, registry, Helm, …) and run every test.
    Test(test_cmd::Args),
    /// Run a benchmark suite (engine, server, tiers) and print a report.
    Bench(bench::Args),
    /// Perform (or plan) the eight GA release steps.
    Release(release::Args),
    /// Build the multi-arch OCI image and optionally push it.
    Image(image::Args),
    /// Package (and optionally push) the Helm chart.
    Chart(chart::Args),
    /// Run the six smoke checks against a running server.
    Smoke(smoke::Args),
    /// Deploy to Kubernetes (blue-green) or roll back.
    Deploy(deploy::Args),
    /// Chaos scenarios against a real Kubernetes cluster.
    Chaos(chaos::Args),
    /// Mixed load against the real server for N minutes, sampling resources; fails on errors, lost points or growth.
    Soak(soak::Args),
    /// Run each libFuzzer target in fuzz/ for a bounded time (stable toolchain).
    Fuzz(fuzz::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Test(a) => test_cmd::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Release(a) => release::run(a),
        Command::Image(a) => image::run(a),
        Command::Chart(a) => chart::run(a),
        Command::Smoke(a) => smoke::run(a),
        Command::Deploy(a) => deploy::run(a),
        Command::Chaos(a) => chaos::run(a),
        Command::Fuzz(a) => fuzz::run(a),
        Command::Soak(a) => soak::run(a),
    }
}
