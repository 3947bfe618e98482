//! `cargo xtask fuzz [--seconds N] [--target T]…`: builds the libFuzzer targets in `fuzz/`
//! on the stable toolchain (the same coverage instrumentation cargo-fuzz uses, without a
//! sanitizer: the targets are safe Rust) and runs each for a bounded time, starting from the
//! committed seeds (`fuzz/corpus/<target>/`) plus a working corpus kept under
//! `target/fuzz-corpus/`. Prints the executions per target. A crash fails the run; its input
//! is copied to `fuzz/regressions/<target>/` so that, once fixed, `cargo test` replays it
//! (`crates/akidb-storage/tests/fuzz_regressions.rs`). `cargo xtask test` runs it briefly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::provision::workspace_root;

/// Coverage flags for libFuzzer, as cargo-fuzz passes them (all stable rustc options).
const INSTRUMENTATION: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

/// Every fuzz target of `fuzz/Cargo.toml`.
pub const TARGETS: [&str; 4] = [
    "wal_decode",
    "snapshot_manifest",
    "filter_parse",
    "rest_bodies",
];

/// Arguments of `cargo xtask fuzz`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds of fuzzing per target (after the build).
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Run only these targets (default: all).
    #[arg(long = "target", value_parser = clap::builder::PossibleValuesParser::new(TARGETS))]
    pub targets: Vec<String>,
}

/// What one target run did.
#[derive(Debug)]
pub struct TargetRun {
    /// Target name.
    pub target: String,
    /// libFuzzer's `number_of_executed_units`.
    pub executions: u64,
    /// Inputs in the working corpus afterwards.
    pub corpus: usize,
}

/// Runs `cargo xtask fuzz`.
pub fn run(args: Args) -> Result<()> {
    let root = workspace_root();
    let targets: Vec<String> = if args.targets.is_empty() {
        TARGETS.iter().map(|t| t.to_string()).collect()
    } else {
        args.targets.clone()
    };
    let started = Instant::now();
    let bin_dir = build(&root)?;
    println!(
        "fuzz: built {} targets in {:.0} s",
        TARGETS.len(),
        started.elapsed().as_secs_f64()
    );
    let mut runs = Vec::new();
    for target in &targets {
        runs.push(run_target(&root, &bin_dir, target, args.seconds)?);
    }
    let total: u64 = runs.iter().map(|r| r.executions).sum();
    for r in &runs {
        println!(
            "fuzz: {:<18} {:>12} executions, corpus {}",
            r.target, r.executions, r.corpus
        );
    }
    println!(
        "fuzz: {} targets × {} s, {total} executions, no crash ({:.0} s including the build)",
        runs.len(),
        args.seconds,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Builds every target with coverage instrumentation; returns the directory of the binaries.
fn build(root: &Path) -> Result<PathBuf> {
    let host = host_triple()?;
    let target_dir = root.join("target/fuzz");
    let flags: Vec<&str> = INSTRUMENTATION.split_whitespace().collect();
    // An explicit --target keeps the flags away from build scripts and proc macros,
    // which must not be instrumented (they would need libFuzzer to link).
    let mut cmd = Command::new("cargo");
    cmd.args([
        "build",
        "--release",
        "--bins",
        "--locked",
        "--target",
        &host,
    ])
    .arg("--manifest-path")
    .arg(root.join("fuzz/Cargo.toml"))
    .arg("--target-dir")
    .arg(&target_dir)
    .env("RUSTFLAGS", flags.join(" "))
    .env_remove("CARGO_ENCODED_RUSTFLAGS")
    // The workspace's CARGO_TARGET_DIR holds uninstrumented builds.
    .env_remove("CARGO_TARGET_DIR");
    run_checked(&mut cmd, "building the fuzz targets")?;
    Ok(target_dir.join(host).join("release"))
}

fn host_triple() -> Result<String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("cannot run `rustc -vV`")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("`rustc -vV` printed no host triple")
}

fn run_checked(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("{what}: cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{what} failed ({status}): {cmd:?}");
    }
    Ok(())
}

fn run_target(root: &Path, bin_dir: &Path, target: &str, seconds: u64) -> Result<TargetRun> {
    let fuzz_dir = root.join("fuzz");
    let work = root.join("target/fuzz-corpus").join(target);
    let artifacts = root.join("target/fuzz-artifacts").join(target);
    std::fs::create_dir_all(&work)?;
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts)?;
    let log_path = root
        .join("target/fuzz-artifacts")
        .join(format!("{target}.log"));
    let log = std::fs::File::create(&log_path)?;
    let binary = bin_dir.join(target);
    let mut cmd = Command::new(&binary);
    cmd.arg(&work)
        .arg(fuzz_dir.join("corpus").join(target))
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .args([
            "-print_final_stats=1",
            "-max_len=65536",
            "-timeout=10",
            "-rss_limit_mb=2048",
        ])
        .stdout(log.try_clone()?)
        .stderr(log);
    println!("fuzz: {target} for {seconds} s");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let crashes: Vec<PathBuf> = std::fs::read_dir(&artifacts)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    if !status.success() || !crashes.is_empty() {
        let keep = fuzz_dir.join("regressions").join(target);
        std::fs::create_dir_all(&keep)?;
        let mut kept = Vec::new();
        for c in &crashes {
            let dest = keep.join(c.file_name().unwrap());
            std::fs::copy(c, &dest)?;
            kept.push(dest.display().to_string());
        }
        let tail: Vec<&str> = text
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        bail!(
            "fuzz target {target} failed ({status}); inputs kept as regressions: {kept:?}\n\
             full log: {}\n{}\nreproduce: {} <input>",
            log_path.display(),
            tail.join("\n"),
            binary.display()
        );
    }
    let executions = stat(&text, "stat::number_of_executed_units:")
        .with_context(|| format!("no execution count in {}", log_path.display()))?;
    let corpus = std::fs::read_dir(&work)?.count();
    Ok(TargetRun {
        target: target.to_string(),
        executions,
        corpus,
    })
}

/// Reads a `-print_final_stats` value such as `stat::number_of_executed_units: 123`.
pub fn stat(log: &str, key: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| {
        l.trim()
            .strip_prefix(key)
            .and_then(|v| v.trim().parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_final_stats() {
        let log =
            "#1024 DONE cov: 10\nstat::number_of_executed_units: 52311\nstat::peak_rss_mb: 40\n";
        assert_eq!(stat(log, "stat::number_of_executed_units:"), Some(52311));
        assert_eq!(stat(log, "stat::missing:"), None);
    }

    #[test]
    fn every_target_is_declared_and_has_seeds() {
        let root = workspace_root();
        let manifest = std::fs::read_to_string(root.join("fuzz/Cargo.toml")).unwrap();
        for t in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{t}\"")),
                "{t} missing in fuzz/Cargo.toml"
            );
            assert!(root.join(format!("fuzz/fuzz_targets/{t}.rs")).is_file());
            let seeds = std::fs::read_dir(root.join("fuzz/corpus").join(t))
                .unwrap()
                .count();
            assert!(seeds > 0, "no seeds for {t}");
            assert!(root.join("fuzz/regressions").join(t).is_dir());
        }
    }
}
