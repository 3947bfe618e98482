//! `cargo xtask fuzz [--seconds N] [--target T]…`: builds the cargo-fuzz project in `fuzz/`
//! with the nightly toolchain and runs each target for a bounded time, starting from the
//! committed seeds (`fuzz/corpus/<target>/`) plus a working corpus kept under
//! `target/fuzz-corpus/`. Prints the executions per target. A crash fails the run; its input
//! is copied to `fuzz/regressions/<target>/` so that, once fixed, `cargo test` replays it
//! (`crates/akidb-storage/tests/fuzz_regressions.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::provision::workspace_root;

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
    /// Sanitizer passed to cargo-fuzz (`none` builds and runs fastest; the targets are safe Rust).
    #[arg(long, default_value = "none", value_parser = ["none", "address"])]
    pub sanitizer: String,
    /// Rust toolchain that cargo-fuzz needs (nightly).
    #[arg(long, default_value = "nightly")]
    pub toolchain: String,
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
    let fuzz_dir = root.join("fuzz");
    let targets: Vec<String> = if args.targets.is_empty() {
        TARGETS.iter().map(|t| t.to_string()).collect()
    } else {
        args.targets.clone()
    };
    check_cargo_fuzz(&args.toolchain)?;
    let target_dir = root.join("target/fuzz");
    let started = Instant::now();
    let mut build = cargo_fuzz(&args, &fuzz_dir);
    build.args([
        "build",
        "--sanitizer",
        &args.sanitizer,
        "--debug-assertions",
    ]);
    build.arg("--target-dir").arg(&target_dir);
    run_checked(&mut build, "building the fuzz targets")?;
    println!(
        "fuzz: built {} targets in {:.0} s",
        targets.len(),
        started.elapsed().as_secs_f64()
    );

    let mut runs = Vec::new();
    for target in &targets {
        runs.push(run_target(&args, &fuzz_dir, &target_dir, &root, target)?);
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

fn check_cargo_fuzz(toolchain: &str) -> Result<()> {
    let ok = Command::new("cargo")
        .args([&format!("+{toolchain}"), "fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        bail!(
            "`cargo +{toolchain} fuzz` is not available: install the toolchain (`rustup toolchain install \
             {toolchain}`) and cargo-fuzz (`cargo install cargo-fuzz`)"
        );
    }
    Ok(())
}

fn cargo_fuzz(args: &Args, fuzz_dir: &Path) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg(format!("+{}", args.toolchain))
        .arg("fuzz")
        .current_dir(fuzz_dir);
    // The workspace's CARGO_TARGET_DIR holds stable, uninstrumented builds.
    cmd.env_remove("CARGO_TARGET_DIR");
    cmd
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

fn run_target(
    args: &Args,
    fuzz_dir: &Path,
    target_dir: &Path,
    root: &Path,
    target: &str,
) -> Result<TargetRun> {
    let work = root.join("target/fuzz-corpus").join(target);
    let artifacts = root.join("target/fuzz-artifacts").join(target);
    std::fs::create_dir_all(&work)?;
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts)?;
    let log_path = root
        .join("target/fuzz-artifacts")
        .join(format!("{target}.log"));
    let log = std::fs::File::create(&log_path)?;
    let mut cmd = cargo_fuzz(args, fuzz_dir);
    cmd.args([
        "run",
        target,
        "--sanitizer",
        &args.sanitizer,
        "--debug-assertions",
    ])
    .arg("--target-dir")
    .arg(target_dir)
    .arg(&work)
    .arg(fuzz_dir.join("corpus").join(target))
    .arg("--")
    .arg(format!("-max_total_time={}", args.seconds))
    .arg(format!("-artifact_prefix={}/", artifacts.display()))
    .args([
        "-print_final_stats=1",
        "-max_len=65536",
        "-timeout=10",
        "-rss_limit_mb=2048",
    ])
    .stdout(log.try_clone()?)
    .stderr(log);
    println!("fuzz: {target} for {} s", args.seconds);
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
             full log: {}\n{}\nreproduce: cd fuzz && cargo +{} fuzz run {target} <input>",
            log_path.display(),
            tail.join("\n"),
            args.toolchain
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
