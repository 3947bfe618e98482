//! `cargo xtask release X.Y.Z --rehearse`: the whole release, all eight steps with
//! `--execute`, against throwaway local stand-ins, like goreleaser's `--snapshot`: a clone
//! of the workspace's committed HEAD with a bare `origin` beside it, Debian's
//! `docker-registry` on a loopback port, and the GitHub API double (which also receives the
//! announcement webhook). Nothing outside `target/release-rehearsal/` changes; the
//! workspace, its real `origin`, registries and GitHub are never contacted.

use super::github_double::FakeGitHub;
use super::util::sh;
use crate::bench::server::{free_port, Daemon};
use crate::image::{self, Platform};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The stand-ins of one rehearsal; the registry stops when this is dropped.
pub(super) struct Rehearsal {
    /// The clone to release (`--workspace`).
    pub work: PathBuf,
    /// Its bare `origin`.
    pub origin: PathBuf,
    /// `127.0.0.1:PORT` of the registry.
    pub registry: String,
    /// The GitHub API double.
    pub github: FakeGitHub,
    /// Prebuilt binaries (`PLATFORM=PATH`), built in the real workspace's target dir.
    pub binaries: Vec<String>,
    _registry: Daemon,
}

/// The registry binary: `AKIDB_REGISTRY_BIN`, else Debian's path.
fn registry_bin() -> Result<PathBuf> {
    let bin = std::env::var_os("AKIDB_REGISTRY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/docker-registry"));
    if !bin.is_file() {
        bail!(
            "--rehearse needs an OCI registry: {} not found; install it with \
             `sudo apt-get install docker-registry` or point AKIDB_REGISTRY_BIN at one",
            bin.display()
        );
    }
    Ok(bin)
}

impl Rehearsal {
    /// Clones `root`'s HEAD, starts the stand-ins and builds (or takes) the binaries.
    pub fn start(root: &Path, given_binaries: &[String]) -> Result<Self> {
        let dir = root.join("target/release-rehearsal");
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)?;
        let status = sh(root, "git", &["status", "--porcelain"])?;
        if !status.trim().is_empty() {
            println!("rehearsal: uncommitted changes are not part of it (it releases the committed HEAD)");
        }
        let origin = dir.join("origin.git");
        let work = dir.join("work");
        let (o, w) = (origin.display().to_string(), work.display().to_string());
        sh(root, "git", &["clone", "--quiet", "--bare", ".", &o])?;
        sh(root, "git", &["clone", "--quiet", &o, &w])?;
        for (k, v) in [
            ("user.name", "AkiDB release rehearsal"),
            ("user.email", "rehearsal@localhost"),
        ] {
            sh(&work, "git", &["config", k, v])?;
        }
        // Tags of the real repository come along (so the changelog and "highest version"
        // logic see the same history); the rehearsal's own tag goes to the bare origin only.
        let registry = start_registry(&dir.join("registry"))?;
        let binaries = if given_binaries.is_empty() {
            Platform::ALL
                .iter()
                .map(|p| {
                    image::build_binary(root, *p).map(|b| format!("{}={}", p.oci(), b.display()))
                })
                .collect::<Result<Vec<_>>>()?
        } else {
            given_binaries.to_vec()
        };
        Ok(Rehearsal {
            work,
            origin,
            registry: registry.0,
            github: FakeGitHub::start(),
            binaries,
            _registry: registry.1,
        })
    }

    /// What the rehearsal published, read back from the stand-ins.
    pub fn published(&self) -> Result<Value> {
        let catalog = get_json(&format!("http://{}/v2/_catalog", self.registry))?;
        let tags = sh(&self.origin, "git", &["tag", "--list", "--sort=-v:refname"])?;
        let releases: Vec<Value> = self
            .github
            .releases()
            .iter()
            .map(|r| {
                serde_json::json!({"tag": r.tag, "draft": r.draft,
                    "assets": r.assets.iter().map(|a| a.name.clone()).collect::<Vec<_>>()})
            })
            .collect();
        Ok(serde_json::json!({
            "registry": self.registry,
            "repositories": catalog["repositories"],
            "origin": self.origin,
            "origin_tags": tags.lines().take(5).collect::<Vec<_>>(),
            "github_releases": releases,
            "announcements": self.github.webhooks().len(),
        }))
    }
}

/// Starts `docker-registry` with filesystem storage under `dir`; waits until `/v2/` answers.
fn start_registry(dir: &Path) -> Result<(String, Daemon)> {
    let bin = registry_bin()?;
    std::fs::create_dir_all(dir.join("storage"))?;
    let host = format!("127.0.0.1:{}", free_port()?);
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.join("storage").display()
        ),
    )?;
    let daemon = Daemon::start(
        "docker-registry",
        &bin.display().to_string(),
        &["serve".into(), config.display().to_string()],
        &[],
        dir.join("registry.log"),
    )?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        daemon.check_alive()?;
        if std::net::TcpStream::connect(&host).is_ok() {
            return Ok((host, daemon));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("docker-registry did not listen on {host} within 20 s")
}

/// GETs `url` and parses the answer as JSON (the read-back after the release).
fn get_json(url: &str) -> Result<Value> {
    super::util::runtime()?.block_on(async {
        let resp = reqwest::get(url)
            .await
            .with_context(|| format!("GET {url}"))?;
        resp.json::<Value>()
            .await
            .with_context(|| format!("GET {url}: not JSON"))
    })
}
