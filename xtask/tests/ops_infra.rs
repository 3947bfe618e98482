//! The Nix flake, the GitHub workflows and deny.toml: every .nix file parses with
//! `nix-instantiate --parse` (Debian `nix-bin`), the lock pins exactly the flake's inputs, the
//! versions agree with the workspace, and the workflows run the cargo xtask commands.

mod ops_support;

use ops_support::{pythonpath, require_tool, workspace};
use serde_json::Value;
use std::process::Command;

fn read(rel: &str) -> String {
    std::fs::read_to_string(workspace().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn workspace_version() -> String {
    let doc: toml_edit::DocumentMut = read("Cargo.toml").parse().unwrap();
    doc["workspace"]["package"]["version"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn every_nix_file_parses() {
    let nix = require_tool("nix-instantiate", "nix-bin");
    let mut files = vec![workspace().join("flake.nix")];
    for e in std::fs::read_dir(workspace().join("nix")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "nix") {
            files.push(p);
        }
    }
    assert!(
        files.len() >= 4,
        "flake.nix plus nix/package.nix, image.nix, devshell.nix: {files:?}"
    );
    for f in &files {
        let out = Command::new(&nix).arg("--parse").arg(f).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A broken file is reported, so the check is not vacuous.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.nix");
    std::fs::write(&bad, "{ a = ; }").unwrap();
    assert!(!Command::new(&nix)
        .arg("--parse")
        .arg(&bad)
        .output()
        .unwrap()
        .status
        .success());
}

#[test]
fn flake_outputs_lock_and_versions_agree() {
    let flake = read("flake.nix");
    for needle in [
        "packages =",
        "default = akidb",
        "image = import ./nix/image.nix",
        "devShells =",
        "checks =",
        "clippy",
        "tests",
    ] {
        assert!(flake.contains(needle), "flake.nix lacks {needle}");
    }
    let version = workspace_version();
    assert!(
        flake.contains(&format!("version = \"{version}\";")),
        "flake version = workspace version {version}"
    );

    let lock: Value = serde_json::from_str(&read("flake.lock")).unwrap();
    assert_eq!(lock["version"], 7);
    let root_inputs: Vec<String> = lock["nodes"]["root"]["inputs"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut declared: Vec<String> = flake
        .lines()
        .filter_map(|l| l.trim().split_once(".url = ").map(|(k, _)| k.to_string()))
        .collect();
    declared.sort();
    assert_eq!(
        root_inputs, declared,
        "flake.lock pins exactly the flake's inputs"
    );
    for input in &root_inputs {
        let node = &lock["nodes"][input]["locked"];
        assert_eq!(
            node["rev"].as_str().map(|r| r.len()),
            Some(40),
            "{input} pinned to a commit"
        );
        assert!(
            node["narHash"]
                .as_str()
                .is_some_and(|h| h.starts_with("sha256-")),
            "{input} has a narHash"
        );
    }

    // The Nix image has the shape of the xtask image.
    let image = read("nix/image.nix");
    for needle in [
        "Entrypoint = [ \"/usr/local/bin/akidb\" ]",
        "User = \"1000:1000\"",
        "\"8080/tcp\"",
        "\"9090/tcp\"",
        "dockerTools",
    ] {
        assert!(image.contains(needle), "nix/image.nix lacks {needle}");
    }
    assert!(read("nix/package.nix").contains("crane") || flake.contains("crane.mkLib"));

    // Chart and values follow the same version (bumped together by `cargo xtask release`).
    let chart = read("helm/akidb/Chart.yaml");
    assert!(
        chart.contains(&format!("\nversion: {version}\n")),
        "Chart.yaml version"
    );
    assert!(
        chart.contains(&format!("appVersion: \"{version}\"")),
        "Chart.yaml appVersion"
    );
    assert!(
        read("helm/akidb/values.yaml").contains(&format!("tag: \"{version}\"")),
        "values.yaml image tag"
    );
}

fn yaml(rel: &str) -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(workspace().join(rel))
        .env("PYTHONPATH", pythonpath())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{rel}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn runs(job: &Value) -> String {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str().or(s["with"]["command"].as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn workflows_call_cargo_xtask() {
    let ci = yaml(".github/workflows/ci.yml");
    let jobs = &ci["jobs"];
    assert!(runs(&jobs["fmt"]).contains("cargo fmt --all -- --check"));
    assert!(runs(&jobs["clippy"]).contains("-D warnings"));
    assert!(runs(&jobs["test"]).contains("cargo xtask test"));
    assert_eq!(runs(&jobs["deny"]).trim(), "check licenses bans sources");
    assert!(runs(&jobs["advisories"]).contains("advisories"));
    assert_eq!(jobs["advisories"]["continue-on-error"], true);

    let rel = yaml(".github/workflows/release.yml");
    // YAML 1.1 reads the key `on` as true.
    let on = if rel["on"].is_null() {
        &rel["true"]
    } else {
        &rel["on"]
    };
    assert_eq!(
        on["workflow_dispatch"]["inputs"]["version"]["required"],
        true
    );
    let job = &rel["jobs"]["release"];
    // The version reaches the script through `env:`, never pasted into `run:` (script injection).
    assert!(runs(job).contains("cargo xtask release \"$VERSION\" --execute"));
    let exec = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "execute")
        .unwrap();
    for secret in [
        "GITHUB_TOKEN",
        "AKIDB_REGISTRY_USERNAME",
        "AKIDB_REGISTRY_PASSWORD",
    ] {
        assert!(
            exec["env"][secret]
                .as_str()
                .is_some_and(|v| v.contains("secrets.")),
            "{secret} from secrets"
        );
    }
}

#[test]
fn deny_toml_is_valid_and_strict_about_sources() {
    let doc: toml_edit::DocumentMut = read("deny.toml").parse().expect("deny.toml is TOML");
    assert_eq!(doc["sources"]["unknown-registry"].as_str(), Some("deny"));
    assert_eq!(doc["sources"]["unknown-git"].as_str(), Some("deny"));
    let allow = doc["licenses"]["allow"].as_array().unwrap();
    assert!(
        allow.iter().any(|v| v.as_str() == Some("Apache-2.0")),
        "the project's own license"
    );
    // The workspace license is allowed.
    let ws: toml_edit::DocumentMut = read("Cargo.toml").parse().unwrap();
    let license = ws["workspace"]["package"]["license"].as_str().unwrap();
    assert!(allow.iter().any(|v| v.as_str() == Some(license)));
}
