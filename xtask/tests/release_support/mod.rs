//! Shared parts of the release tests: environment, fixture workspace, command helpers.
#![allow(dead_code)]

// The GitHub API double is shared with `cargo xtask release --rehearse`.
#[path = "../../src/release/github_double.rs"]
pub mod fake_github;
pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path from a test environment variable; fails naming `cargo xtask test` when missing.
pub fn env_path(var: &str) -> PathBuf {
    let v = std::env::var_os(var).unwrap_or_else(|| {
        panic!("{var} is not set: run the release tests through `cargo xtask test`, which provisions it")
    });
    let p = PathBuf::from(v);
    assert!(
        p.exists(),
        "{var}={} does not exist: run `cargo xtask test`",
        p.display()
    );
    p
}

/// Fails naming `cargo xtask test` when a system tool is missing.
pub fn require_tool(tool: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "`{tool}` is not installed: run the release tests through `cargo xtask test` (it installs skopeo, podman, runc, qemu-user-static, gcc-aarch64-linux-gnu)");
}

/// Runs a command, panicking with its output on failure; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// `git -C dir args…`.
pub fn git(dir: &Path, args: &[&str]) -> String {
    run(Command::new("git").arg("-C").arg(dir).args(args))
}

/// The xtask binary with a clean environment for the release (no inherited endpoints).
pub fn xtask() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    for v in [
        "GITHUB_TOKEN",
        "GITHUB_API_URL",
        "AKIDB_REGISTRY",
        "AKIDB_GITHUB_REPO",
        "AKIDB_ANNOUNCE_WEBHOOK",
        "AKIDB_RELEASE_BRANCH",
        "AKIDB_REGISTRY_USERNAME",
        "AKIDB_REGISTRY_PASSWORD",
        "SOURCE_DATE_EPOCH",
    ] {
        c.env_remove(v);
    }
    c
}

/// Runs xtask and returns its output (success or not).
pub fn xtask_out(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = xtask();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("cannot run the xtask binary")
}

/// stdout + stderr as one string.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A throw-away AkiDB-shaped workspace at version 1.4.0 with a bare `origin`.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub origin: PathBuf,
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn commit(root: &Path, file: &str, line: &str, msg: &str) {
    let p = root.join(file);
    let mut t = std::fs::read_to_string(&p).unwrap_or_default();
    t.push_str(line);
    t.push('\n');
    std::fs::write(&p, t).unwrap();
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", msg]);
}

impl Fixture {
    /// Builds the fixture: v1.4.0 tagged and pushed, then a few conventional commits.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("akidb");
        let origin = tmp.path().join("origin.git");
        run(Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&origin));
        run(Command::new("git")
            .args(["init", "-q", "-b", "main"])
            .arg(&root));
        git(&root, &["config", "user.name", "Fixture Dev"]);
        git(&root, &["config", "user.email", "dev@fixture.invalid"]);
        git(
            &root,
            &["remote", "add", "origin", &origin.to_string_lossy()],
        );
        write(&root, ".gitignore", "/target\n");
        write(
            &root,
            "Cargo.toml",
            "[workspace]\nresolver = \"2\"\nmembers = [\"crates/demo\"]\n\n[workspace.package]\n# one version for every crate\nversion = \"1.4.0\"\nedition = \"2021\"\nlicense = \"Apache-2.0\"\nrepository = \"https://github.com/o/r\"\n\n[workspace.dependencies]\ndemo = { path = \"crates/demo\", version = \"1.4.0\" }\n",
        );
        write(
            &root,
            "crates/demo/Cargo.toml",
            "[package]\nname = \"demo\"\ndescription = \"fixture crate\"\nversion.workspace = true\nedition.workspace = true\nlicense.workspace = true\n",
        );
        write(&root, "crates/demo/src/lib.rs", "//! Fixture crate.\n");
        write(
            &root,
            "helm/akidb/Chart.yaml",
            "apiVersion: v2\nname: akidb\ndescription: AkiDB fixture chart\ntype: application\nversion: 1.4.0\nappVersion: \"1.4.0\"\nicon: https://example.invalid/logo.png\n",
        );
        write(
            &root,
            "helm/akidb/values.yaml",
            "replicaCount: 1\nimage:\n  repository: ghcr.io/akidb/akidb\n  # -- kept equal to appVersion by the release\n  tag: \"1.4.0\"\n  pullPolicy: IfNotPresent\n",
        );
        write(
            &root,
            "helm/akidb/templates/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-akidb\n  labels:\n    app.kubernetes.io/name: akidb\nspec:\n  replicas: {{ .Values.replicaCount }}\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: akidb\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: akidb\n    spec:\n      containers:\n        - name: akidb\n          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n          imagePullPolicy: {{ .Values.image.pullPolicy }}\n",
        );
        write(
            &root,
            "helm/akidb/templates/NOTES.txt",
            "AkiDB {{ .Chart.AppVersion }} installed.\n",
        );
        write(
            &root,
            "helm/akidb/.helmignore",
            "# packaging excludes\n*.swp\nci/\n",
        );
        write(&root, "helm/akidb/ci/test-values.yaml", "replicaCount: 2\n");
        write(&root, "helm/akidb/scratch.swp", "editor junk\n");
        write(
            &root,
            "flake.nix",
            "{\n  description = \"AkiDB fixture\";\n  outputs = { self }: {\n    packages.x86_64-linux.akidb = {\n      pname = \"akidb\";\n      version = \"1.4.0\";\n    };\n  };\n}\n",
        );
        write(&root, "docs/architecture.md", "# Architecture\n\nSee the [playbooks](operations/playbooks.md).\n\n| part | role |\n|---|---|\n| engine | segments |\n");
        write(
            &root,
            "docs/operations/playbooks.md",
            "# Playbooks\n\nBack to [architecture](../architecture.md).\n",
        );
        write(
            &root,
            "CHANGELOG.md",
            "# Changelog\n\n## [Unreleased]\n\n### Security\n- Pin the base libraries\n\n## [1.4.0] - 2026-01-01\n\n### Added\n\n- First fixture release\n",
        );
        run(Command::new("cargo")
            .args(["generate-lockfile", "--offline"])
            .current_dir(&root));
        git(&root, &["add", "-A"]);
        git(&root, &["commit", "-q", "-m", "chore: initial import"]);
        git(&root, &["tag", "-a", "v1.4.0", "-m", "AkiDB 1.4.0"]);
        commit(
            &root,
            "crates/demo/src/lib.rs",
            "pub fn batch() {}",
            "feat(api): add batch search",
        );
        commit(
            &root,
            "crates/demo/src/lib.rs",
            "pub fn wal() {}",
            "fix(wal): truncate a torn tail",
        );
        commit(
            &root,
            "crates/demo/src/lib.rs",
            "pub fn cosine() {}",
            "perf: faster cosine kernel",
        );
        commit(
            &root,
            "docs/architecture.md",
            "Tiers explained.",
            "docs: explain tiers",
        );
        commit(
            &root,
            "crates/demo/src/lib.rs",
            "pub fn v1() {}",
            "feat!: drop the v0 routes",
        );
        git(&root, &["push", "-q", "origin", "main", "v1.4.0"]);
        Fixture { tmp, root, origin }
    }

    /// `--workspace <root>` plus the given arguments.
    pub fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<String> {
        let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        v.push("--workspace".into());
        v.push(self.root.to_string_lossy().to_string());
        v
    }

    /// Fingerprint of everything a release could change locally: HEAD, tags, status, files.
    pub fn snapshot(&self) -> String {
        let mut s = git(&self.root, &["rev-parse", "HEAD"]);
        s.push_str(&git(&self.root, &["tag", "-l"]));
        s.push_str(&git(
            &self.root,
            &["status", "--porcelain", "--untracked-files=all"],
        ));
        s.push_str(&git(&self.origin, &["show-ref"]));
        for f in [
            "Cargo.toml",
            "Cargo.lock",
            "CHANGELOG.md",
            "helm/akidb/Chart.yaml",
            "helm/akidb/values.yaml",
            "flake.nix",
        ] {
            s.push_str(&std::fs::read_to_string(self.root.join(f)).unwrap());
        }
        s.push_str(&format!(
            "state={}",
            self.root.join("target/release").exists()
        ));
        s
    }
}
