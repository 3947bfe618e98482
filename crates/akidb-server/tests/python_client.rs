//! The Python client (`clients/python`) against the real `akidb` binary: its pytest suite
//! (every route, errors, LangChain store, README quickstart) with an API key configured,
//! and `mypy --strict` over its sources. The Python packages come from
//! `AKIDB_TEST_PYTHONPATH`, which `cargo xtask test` provisions (xtask `PIP_PACKAGES`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Server;

const API_KEY: &str = "python-client-test-key";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/akidb-server lives two levels below the workspace")
        .to_path_buf()
}

/// `<pydeps>:clients/python/src`; fails (never skips) without `AKIDB_TEST_PYTHONPATH`.
fn python_path() -> String {
    let pydeps = match std::env::var_os("AKIDB_TEST_PYTHONPATH") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "AKIDB_TEST_PYTHONPATH is not set: run the tests through `cargo xtask test`, which \
             installs numpy, requests, httpx, orjson, grpcio, pytest, mypy, langchain-core and \
             tqdm into target/pydeps and exports it"
        ),
    };
    let src = workspace_root().join("clients/python/src");
    format!("{}:{}", pydeps.display(), src.display())
}

/// Runs `python3 args…` in the workspace root and asserts exit 0, printing its output.
fn run_python(args: &[&str], env: &[(&str, &str)]) {
    let mut cmd = Command::new("python3");
    cmd.args(args)
        .current_dir(workspace_root())
        .env("PYTHONPATH", python_path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONHOME");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run python3 {args:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python3 {args:?} failed with {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    println!("{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pytest_suite_passes_against_the_server() {
    python_path(); // without AKIDB_TEST_PYTHONPATH, fail before starting a server
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[("AKIDB_API_KEY", API_KEY)]).await;
    let result = std::panic::catch_unwind(|| {
        run_python(
            &[
                "-m",
                "pytest",
                "-q",
                "-rs",
                "-p",
                "no:cacheprovider",
                "clients/python/tests",
            ],
            &[
                ("AKIDB_URL", &server.rest),
                ("AKIDB_GRPC_URL", &server.grpc),
                ("AKIDB_API_KEY", API_KEY),
            ],
        )
    });
    if let Err(e) = result {
        eprintln!("server log:\n{}", server.log_text());
        std::panic::resume_unwind(e);
    }
}

#[test]
fn mypy_strict_passes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("mypy-cache");
    run_python(
        &[
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            &cache.to_string_lossy(),
            "clients/python/src",
        ],
        &[],
    );
}
