//! Shared helpers for the operations tests (chart, deploy, smoke, monitoring, nix).

#![allow(dead_code)]

pub mod http;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Root of the Cargo workspace (the parent of `xtask/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent")
        .to_path_buf()
}

/// Folder holding the pip packages (helm-python-sdk, kubernetes-validate).
pub fn pythonpath() -> PathBuf {
    match std::env::var_os("AKIDB_TEST_PYTHONPATH") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "AKIDB_TEST_PYTHONPATH is not set: run the tests through `cargo xtask test`, which installs \
             helm-python-sdk and kubernetes-validate and exports it"
        ),
    }
}

/// Absolute path of a program on PATH, or a panic naming the Debian package and `cargo xtask test`.
pub fn require_tool(program: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("`{program}` not found on PATH: install Debian `{package}` (`cargo xtask test` provisions it)")
}

/// Runs `xtask/scripts/helm_tool.py` with the test PYTHONPATH.
pub fn helm_tool(args: &[&str]) -> Output {
    Command::new("python3")
        .arg(workspace().join("xtask/scripts/helm_tool.py"))
        .args(args)
        .env("PYTHONPATH", pythonpath())
        .current_dir(workspace())
        .output()
        .expect("python3 runs")
}

/// Text of stdout and stderr, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every `AKIDB_*` environment variable name the server reads: the `env: "AKIDB_…"` entries of the
/// server's key table and its `EXTRA_ENV` (crates/akidb-server/src/config.rs), else the names in
/// docs/configuration.md, else the fixed list of docs/configuration.md.
pub fn known_env_names() -> (Vec<String>, &'static str) {
    let ws = workspace();
    if let Ok(src) = std::fs::read_to_string(ws.join("crates/akidb-server/src/config.rs")) {
        let mut names: Vec<String> = Vec::new();
        for line in src.lines() {
            let keyed = line
                .split("env: \"")
                .skip(1)
                .filter_map(|rest| rest.split('"').next());
            names.extend(
                keyed
                    .filter(|n| n.starts_with("AKIDB_"))
                    .map(str::to_string),
            );
            if line.contains("EXTRA_ENV") && line.contains("&[") {
                names.extend(akidb_names(line, "AKIDB_"));
            }
        }
        names.sort();
        names.dedup();
        if names.iter().any(|n| n == "AKIDB_DATA_DIR") {
            return (names, "crates/akidb-server/src/config.rs");
        }
    }
    if let Ok(doc) = std::fs::read_to_string(ws.join("docs/configuration.md")) {
        let mut names = akidb_names(&doc, "AKIDB_");
        names.sort();
        names.dedup();
        if names.iter().any(|n| n == "AKIDB_DATA_DIR") {
            return (names, "docs/configuration.md");
        }
    }
    let design = [
        "AKIDB_CONFIG",
        "AKIDB_REST_ADDR",
        "AKIDB_GRPC_ADDR",
        "AKIDB_DATA_DIR",
        "AKIDB_API_KEY",
        "AKIDB_READ_ONLY_API_KEY",
        "AKIDB_S3_ENABLED",
        "AKIDB_COLD_TIER_ENABLED",
        "AKIDB_S3_ENDPOINT",
        "AKIDB_S3_REGION",
        "AKIDB_S3_BUCKET",
        "AKIDB_S3_PATH_STYLE",
        "AKIDB_S3_ACCESS_KEY_ID",
        "AKIDB_S3_SECRET_ACCESS_KEY",
        "AKIDB_OTLP_ENDPOINT",
        "AKIDB_LOG_FORMAT",
    ];
    (
        design.iter().map(|s| s.to_string()).collect(),
        "docs/configuration.md (server config not written yet)",
    )
}

/// The `akidb` server binary: `AKIDB_TEST_SERVER_BIN`, else `akidb` in this test's target dir.
pub fn server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("AKIDB_TEST_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test exe");
    // <target>/debug/deps/<test>-<hash> → <target>/debug/akidb
    match exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("akidb"))
    {
        Some(p) if p.is_file() => p,
        _ => panic!(
            "the akidb server binary was not found: set AKIDB_TEST_SERVER_BIN or build it with \
             `cargo build -p akidb-server` (`cargo xtask test` does both)"
        ),
    }
}

fn collect_rs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(collect_rs(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(out)
}

/// Identifiers starting with `prefix` (`[A-Za-z0-9_]`, ASCII) found anywhere in `text`.
pub fn akidb_names(text: &str, prefix: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(pos) = text[i..].find(prefix) {
        let start = i + pos;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start + prefix.len();
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if boundary && end > start + prefix.len() {
            out.push(text[start..end].to_string());
        }
        i = end;
    }
    out
}
