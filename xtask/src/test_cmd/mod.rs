//! `cargo xtask test`: provisions every real service the tests use, builds the
//! `akidb` binaries the image tests package, and runs the whole test suite where
//! nothing outside the clone can be read; it times each phase and, on failure, ends
//! with a summary of what failed and how to rerun it.

mod report;
mod sandbox;

use anyhow::Result;
use duct::cmd;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::provision::{self, run as run_checked};

/// Arguments of `cargo xtask test`.
#[derive(clap::Args)]
pub struct Args {
    /// Seconds each fuzz target runs after the tests (0: no fuzz run).
    #[arg(long, default_value_t = 20)]
    pub fuzz_seconds: u64,
    /// Test only these packages (default: the whole workspace).
    #[arg(short = 'p', long = "package")]
    pub packages: Vec<String>,
    /// Run only these integration-test targets.
    #[arg(long = "test")]
    pub tests: Vec<String>,
    /// Run only the library unit tests of the selected packages.
    #[arg(long)]
    pub lib: bool,
    /// Run without the check that tests read nothing outside the clone (needs no root).
    #[arg(long)]
    pub no_confine: bool,
    /// Extra arguments passed to the test binaries after `--` (e.g. a test name filter).
    #[arg(last = true)]
    pub cargo_test_args: Vec<String>,
}

/// Wall time per phase, printed as a table at the end.
struct Phases {
    started: Instant,
    last: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            done: vec![],
        }
    }

    fn mark(&mut self, phase: &'static str) {
        let now = Instant::now();
        self.done.push((phase, now - self.last));
        self.last = now;
        eprintln!(
            "xtask: {phase} took {:.0?}",
            self.done.last().expect("pushed").1
        );
    }

    fn table(&self) -> String {
        let mut out = String::from("xtask: where the time went\n");
        for (phase, d) in &self.done {
            out.push_str(&format!("  {phase:<28} {:>7.0} s\n", d.as_secs_f64()));
        }
        out.push_str(&format!(
            "  {:<28} {:>7.0} s\n",
            "total",
            self.started.elapsed().as_secs_f64()
        ));
        out
    }
}

/// Provisions, builds and runs every test.
pub fn run(args: Args) -> Result<()> {
    let mut phases = Phases::new();
    if std::env::var_os("CI").is_some() && std::env::var_os("CARGO_INCREMENTAL").is_none() {
        // A CI checkout builds once: incremental data would only be written, never read.
        std::env::set_var("CARGO_INCREMENTAL", "0");
    }
    let root = provision::workspace_root();
    let tools = provision::ensure_all()?;
    phases.mark("provisioning");

    let mut selection: Vec<String> = Vec::new();
    if args.packages.is_empty() {
        selection.push("--workspace".into());
    }
    for p in &args.packages {
        selection.extend(["-p".into(), p.clone()]);
    }
    for t in &args.tests {
        selection.extend(["--test".into(), t.clone()]);
    }
    if args.lib {
        selection.push("--lib".into());
    }

    // Test binaries first. On a whole-workspace run this build also links the host
    // `akidb` binary (the server's integration tests need it), with the features the
    // whole workspace unifies to: a separate `cargo build -p akidb-server` would unify
    // differently and compile tokio, hyper, rustls, … and all they feed a second time.
    let mut build_args = vec!["test".to_string(), "--no-run".into()];
    build_args.extend(selection.iter().cloned());
    run_checked(cmd("cargo", &build_args).dir(&root))?;
    phases.mark("test binaries (+ akidb)");
    let amd64 = if args.packages.is_empty() {
        let bin = target_dir(&root).join("debug").join("akidb");
        anyhow::ensure!(
            bin.exists(),
            "the test build did not produce {}",
            bin.display()
        );
        bin
    } else {
        let bin = build_server(None)?;
        phases.mark("host build (akidb)");
        bin
    };
    // Only the release tests package an arm64 image; a run narrowed to other
    // packages skips the second, full cross build.
    let needs_arm64 = args.packages.is_empty() || args.packages.iter().any(|p| p == "xtask");
    let arm64 = if needs_arm64 {
        let bin = build_server(Some(ARM64))?;
        phases.mark("arm64 build (akidb)");
        Some(bin)
    } else {
        None
    };

    let with_env = |expr: duct::Expression| {
        let mut expr = expr
            .dir(&root)
            .env("AKIDB_TEST_WEED", &tools.weed)
            .env("AKIDB_TEST_REGISTRY_BIN", &tools.registry)
            .env("AKIDB_TEST_PYTHONPATH", &tools.pydeps)
            .env("AKIDB_TEST_SERVER_BIN", &amd64)
            .env("AKIDB_TEST_BIN_AMD64", &amd64)
            // Tests read the committed subset; a dataset beside the clone must not leak in.
            .env_remove("AKIDB_DATASET_DIR");
        if let Some(arm64) = &arm64 {
            expr = expr.env("AKIDB_TEST_BIN_ARM64", arm64);
        }
        expr
    };

    let hidden = if args.no_confine {
        eprintln!("xtask: --no-confine: tests may read outside the clone unchecked");
        None
    } else {
        let hidden = sandbox::plan(&root)?;
        eprintln!(
            "xtask: tests run with {} director{} and {} file{} beside the clone hidden",
            hidden.dirs.len(),
            if hidden.dirs.len() == 1 { "y" } else { "ies" },
            hidden.files.len(),
            if hidden.files.len() == 1 { "" } else { "s" },
        );
        Some(hidden)
    };
    let mut test_args = vec!["test".to_string(), "--no-fail-fast".into()];
    test_args.extend(selection);
    if !args.cargo_test_args.is_empty() {
        test_args.push("--".into());
        test_args.extend(args.cargo_test_args);
    }
    let log_path = target_dir(&root).join("xtask-test.log");
    let mut log = std::fs::File::create(&log_path)?;
    let mut report = report::Report::default();
    let mut ok = run_tests(
        with_env(cmd("cargo", &test_args)),
        hidden.clone(),
        &mut report,
        &mut log,
    )?;
    phases.mark("tests");

    // The HNSW build publishes neighbour lists across threads; x86's strong memory
    // model hides a missing ordering that aarch64 exposes, so the concurrent build
    // tests also run as arm64 code under qemu.
    let selected =
        |package: &str| args.packages.is_empty() || args.packages.iter().any(|p| p == package);
    if selected("akidb-index") && args.tests.is_empty() && !args.lib {
        let mut qemu_args: Vec<String> = vec!["test".into(), "--no-fail-fast".into()];
        qemu_args.extend(["-p", "akidb-index", "--test", "hnsw"].map(String::from));
        qemu_args.extend(cross_args(ARM64).into_iter().map(String::from));
        qemu_args.extend(["--", "--test-threads", "1"].map(String::from));
        qemu_args.extend(ARM64_INDEX_TESTS.iter().map(|t| t.to_string()));
        let mut expr = with_env(cmd("cargo", &qemu_args));
        for (k, v) in cross_env(ARM64) {
            expr = expr.env(k, v);
        }
        ok &= run_tests(expr, hidden, &mut report, &mut log)?;
        phases.mark("arm64 index tests (qemu)");
    }
    eprintln!("xtask: full test output in {}", log_path.display());

    // The fuzz run comes last so that a crash it finds never hides a test result.
    let fuzz = if args.fuzz_seconds > 0 {
        let r = crate::fuzz::run(crate::fuzz::Args {
            seconds: args.fuzz_seconds,
            targets: Vec::new(),
        });
        phases.mark("fuzz (build + run)");
        r
    } else {
        eprintln!("xtask: fuzz run not requested (--fuzz-seconds 0)");
        Ok(())
    };
    eprint!("{}", phases.table());
    eprintln!("xtask: slowest test binaries");
    for (binary, seconds) in report.slowest(8) {
        eprintln!("  {seconds:>7.1} s  {binary}");
    }
    let (passed, failed) = report.counts();
    if !ok {
        eprintln!("\nxtask: tests failed\n{}", report.summary());
        // The summary is the message: an error chain (and its backtrace) would bury it.
        std::process::exit(1);
    }
    eprintln!("xtask: {passed} passed, {failed} failed");
    fuzz
}

/// Runs `cargo test`, echoing its output and appending it to `log`, and feeds
/// each line to `report`; returns whether cargo succeeded.
fn run_tests(
    expr: duct::Expression,
    hidden: Option<sandbox::Hidden>,
    report: &mut report::Report,
    log: &mut std::fs::File,
) -> Result<bool> {
    let mut expr = expr.stderr_to_stdout().unchecked();
    if let Some(hidden) = hidden {
        expr = expr.before_spawn(move |command| {
            sandbox::confine(command, &hidden).map_err(std::io::Error::other)
        });
    }
    let reader = expr.reader()?;
    let mut lines = BufReader::new(&reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if lines.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        std::io::stdout().write_all(&buf)?;
        log.write_all(&buf)?;
        report.line(String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']));
    }
    Ok(reader.try_wait()?.is_some_and(|o| o.status.success()))
}

/// The arm64 target the image and the qemu test run use.
const ARM64: &str = "aarch64-unknown-linux-gnu";

/// The `akidb-index` tests that build graphs on several threads, run under qemu.
const ARM64_INDEX_TESTS: &[&str] = &[
    "hnsw_matches_exact_search_for_every_metric",
    "filtered_results_always_satisfy_the_filter",
    "save_and_load_give_identical_results",
];

/// Cargo arguments of a cross build: the target, at opt-level 1 without debug
/// info, since the image tests only package the binary and the qemu tests only need
/// correct code, and a second full optimised build would not fit CI's budget.
fn cross_args(target: &str) -> Vec<&str> {
    vec![
        "--target",
        target,
        "--config",
        "profile.dev.opt-level=1",
        "--config",
        "profile.dev.debug=false",
        "--config",
        "profile.dev.package.\"*\".opt-level=1",
    ]
}

/// Environment of a cross build and run: Debian's cross linker, and qemu as the
/// runner with the cross glibc as its library root.
fn cross_env(target: &str) -> Vec<(String, String)> {
    let linker = "aarch64-linux-gnu-gcc".to_string();
    let var = target.to_uppercase().replace('-', "_");
    vec![
        (format!("CARGO_TARGET_{var}_LINKER"), linker.clone()),
        (format!("CC_{}", target.replace('-', "_")), linker),
        (
            format!("CARGO_TARGET_{var}_RUNNER"),
            "qemu-aarch64-static".into(),
        ),
        ("QEMU_LD_PREFIX".into(), "/usr/aarch64-linux-gnu".into()),
    ]
}

/// Builds the `akidb` binary for the host or a cross target and returns its path.
///
/// The host build uses the optimised dev profile shared with the tests, so it
/// reuses every artifact the test run needs anyway.
fn build_server(target: Option<&str>) -> Result<PathBuf> {
    let root = provision::workspace_root();
    let mut args = vec!["build", "-p", "akidb-server", "--bin", "akidb"];
    let mut expr_env: Vec<(String, String)> = Vec::new();
    if let Some(t) = target {
        args.extend(cross_args(t));
        expr_env = cross_env(t);
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
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
