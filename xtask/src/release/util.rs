//! Small helpers shared by the release steps: subprocesses, hashing, time formatting.

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Runs `prog args` in `dir`, returning trimmed stdout; on failure the error shows the full
/// command line and its stderr so the operator can rerun it by hand.
pub fn sh(dir: &Path, prog: &str, args: &[&str]) -> Result<String> {
    sh_env(dir, prog, args, &[])
}

/// Like [`sh`] with extra environment variables.
pub fn sh_env(dir: &Path, prog: &str, args: &[&str], env: &[(&str, &str)]) -> Result<String> {
    let mut c = duct::cmd(prog, args)
        .dir(dir)
        .stdout_capture()
        .stderr_capture()
        // Never hang on a credential prompt (ls-remote/push against an https origin).
        .env("GIT_TERMINAL_PROMPT", "0")
        .unchecked();
    for (k, v) in env {
        c = c.env(k, v);
    }
    let line = format!("{prog} {}", args.join(" "));
    let out = c
        .run()
        .with_context(|| format!("cannot run `{line}` (is `{prog}` installed?)"))?;
    if !out.status.success() {
        bail!(
            "`{line}` (in {}) failed with {}:\n{}{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// RFC 3339 UTC timestamp (`2026-11-27T07:00:00Z`) of a Unix time, without a date crate.
pub fn rfc3339(epoch: i64) -> String {
    akidb_core::time::rfc3339_from_unix(epoch)
}

/// `YYYY-MM-DD` of a Unix time (UTC).
pub fn date(epoch: i64) -> String {
    rfc3339(epoch)[..10].to_string()
}

/// Current Unix time in seconds.
pub fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The AkiDB workspace this xtask binary was built from.
pub fn default_workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Resolves `--workspace` (or the built-in default) to an absolute path.
pub fn workspace_root(arg: Option<&Path>) -> Result<PathBuf> {
    let p = arg.map(Path::to_path_buf).unwrap_or_else(default_workspace);
    std::fs::canonicalize(&p)
        .with_context(|| format!("workspace {} does not exist (--workspace)", p.display()))
}

/// Writes `data` to `path` atomically (temp file + rename), creating parent directories.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let tmp = path.with_extension("tmp-xtask");
    std::fs::write(&tmp, data).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Reads a text file with the path in the error.
pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Whether a registry host is on the loopback interface (plain http is then acceptable).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    matches!(h, "localhost" | "127.0.0.1" | "[::1]") || h.starts_with("127.")
}

/// A current-thread tokio runtime for the async clients (oci-client, octocrab, reqwest).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(date(951_782_400), "2000-02-29");
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1:5000"));
        assert!(is_loopback_host("localhost:1"));
        assert!(!is_loopback_host("ghcr.io"));
    }
}
