//! `cargo xtask test`: provisions every real service the tests use, builds the
//! `akidb` binaries the image tests package, and runs the whole test suite.

use anyhow::Result;
use duct::cmd;
use std::path::PathBuf;

use crate::provision::{self, run as run_checked};

/// Arguments of `cargo xtask test`.
#[derive(clap::Args)]
pub struct Args {
    /// Seconds each fuzz target runs after the tests (0: no fuzz run).
    #[arg(long, default_value_t = 20)]
    pub fuzz_seconds: u64,
    /// Extra arguments passed to `cargo test` after `--` (e.g. a test name filter).
    #[arg(last = true)]
    pub cargo_test_args: Vec<String>,
}

/// Provisions, builds and runs every test.
pub fn run(args: Args) -> Result<()> {
    let started = std::time::Instant::now();
    let root = provision::workspace_root();
    let tools = provision::ensure_all()?;
    eprintln!("xtask: provisioned in {:.0?}", started.elapsed());

    let amd64 = build_server(None)?;
    let arm64 = build_server(Some("aarch64-unknown-linux-gnu"))?;
    eprintln!(
        "xtask: akidb binaries built ({:.0?} so far)",
        started.elapsed()
    );

    let dataset = std::env::var_os("AKIDB_DATASET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            root.join("..")
                .join("shared")
                .join("datasets")
                .join("dev-pydoc-50k")
        });

    let mut test_args = vec![
        "test".to_string(),
        "--workspace".into(),
        "--no-fail-fast".into(),
    ];
    if !args.cargo_test_args.is_empty() {
        test_args.push("--".into());
        test_args.extend(args.cargo_test_args);
    }
    let test = cmd("cargo", &test_args)
        .dir(&root)
        .env("AKIDB_DATASET_DIR", &dataset)
        .env("AKIDB_TEST_WEED", &tools.weed)
        .env("AKIDB_TEST_REGISTRY_BIN", &tools.registry)
        .env("AKIDB_TEST_PYTHONPATH", &tools.pydeps)
        .env("AKIDB_TEST_SERVER_BIN", &amd64)
        .env("AKIDB_TEST_BIN_AMD64", &amd64)
        .env("AKIDB_TEST_BIN_ARM64", &arm64);
    let tests = run_checked(test);
    eprintln!("xtask: test run took {:.0?}", started.elapsed());
    // The fuzz run comes last so that a crash it finds never hides a test result.
    let fuzz = if args.fuzz_seconds > 0 {
        crate::fuzz::run(crate::fuzz::Args {
            seconds: args.fuzz_seconds,
            targets: Vec::new(),
        })
    } else {
        eprintln!("xtask: fuzz run not requested (--fuzz-seconds 0)");
        Ok(())
    };
    eprintln!("xtask: done in {:.0?}", started.elapsed());
    tests.and(fuzz)
}

/// Builds the `akidb` binary for the host or a cross target and returns its path.
///
/// The host build uses the optimised dev profile shared with the tests, so it
/// reuses every artifact the test run needs anyway. The cross build compiles
/// everything a second time for aarch64; the image tests only package it and run
/// `--version` under qemu, so it is built at opt-level 1 without debug info to
/// keep `cargo xtask test` inside CI's time budget.
fn build_server(target: Option<&str>) -> Result<PathBuf> {
    let root = provision::workspace_root();
    let mut args = vec!["build", "-p", "akidb-server", "--bin", "akidb"];
    let mut expr_env: Vec<(String, String)> = Vec::new();
    if let Some(t) = target {
        args.extend([
            "--target",
            t,
            "--config",
            "profile.dev.opt-level=1",
            "--config",
            "profile.dev.debug=false",
            "--config",
            "profile.dev.package.\"*\".opt-level=1",
        ]);
        let linker = "aarch64-linux-gnu-gcc";
        let var = format!("CARGO_TARGET_{}_LINKER", t.to_uppercase().replace('-', "_"));
        expr_env.push((var, linker.into()));
        expr_env.push((format!("CC_{}", t.replace('-', "_")), linker.into()));
    }
    let mut expr = cmd("cargo", &args).dir(&root);
    for (k, v) in &expr_env {
        expr = expr.env(k, v);
    }
    run_checked(expr)?;
    let mut dir = target_dir(&root);
    if let Some(t) = target {
        dir = dir.join(t);
    }
    let bin = dir.join("debug").join("akidb");
    anyhow::ensure!(
        bin.exists(),
        "build finished but {} is missing",
        bin.display()
    );
    Ok(bin)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `<workspace>/target`.
fn target_dir(root: &std::path::Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
