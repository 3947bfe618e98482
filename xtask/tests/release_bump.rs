//! The bump and the first release: a copy of this repository bumped from its version to the
//! next leaves the old version only in changelog history (and in lock entries of third-party
//! crates that share the number); a workspace whose version has no tag yet is released as it
//! is. Needs only git and the Rust toolchain.

mod release_support;

use release_support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Mentions of the old version that are not this repository's version, each with why.
const NOT_THE_VERSION: &[(&str, &str, &str)] = &[
    (
        "xtask/src/release/bump.rs",
        "",
        "unit-test data of the bump itself",
    ),
    ("xtask/tests/release_bump.rs", "", "this test"),
    (
        "xtask/src/deploy/mod.rs",
        "e.g. 2.0.0",
        "an example in a --help text",
    ),
    (
        "xtask/tests/ops_support/http.rs",
        "akidb_build_info{version=",
        "canned metrics of a fake server",
    ),
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Copies the working tree of this repository (tracked and untracked, not ignored files) into
/// a fresh git repository with a bare `origin`, one commit on `main`.
fn copy_of_this_repository(tmp: &Path) -> PathBuf {
    let src = repo_root();
    let root = tmp.join("akidb");
    let origin = tmp.join("origin.git");
    let files = run(Command::new("git").arg("-C").arg(&src).args([
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
    ]));
    for f in files.lines() {
        let from = src.join(f);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = root.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    run(Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(&origin));
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["config", "user.name", "Fixture Dev"]);
    git(&root, &["config", "user.email", "dev@fixture.invalid"]);
    git(
        &root,
        &["remote", "add", "origin", &origin.to_string_lossy()],
    );
    git(&root, &["add", "-A"]);
    git(
        &root,
        &["commit", "-q", "-m", "feat: copy of the workspace"],
    );
    git(&root, &["push", "-q", "origin", "main"]);
    root
}

/// Whether `old` occurs in `line` as a whole version (not inside 12.0.0 or 2.0.0-rc.1).
fn has_version(line: &str, old: &str) -> bool {
    let part = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_');
    line.match_indices(old).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let mut after = line[i + old.len()..].chars();
        let before_ok = matches!(before, None | Some('v')) || !part(before.unwrap());
        let after_ok = match after.next() {
            None => true,
            Some('.' | '-' | '+') => !after.next().is_some_and(|c| c.is_ascii_alphanumeric()),
            Some(c) => !part(c),
        };
        before_ok && after_ok
    })
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
        if rel == ".git" || rel == "target" || rel.ends_with("/target") {
            continue;
        }
        if p.is_dir() {
            walk(&p, root, out);
        } else {
            out.push(rel);
        }
    }
}

/// Lock entries of version `old` that are workspace (path) packages, i.e. have no `source`.
fn path_packages_at(lock: &str, old: &str) -> Vec<String> {
    let doc: toml_edit::DocumentMut = lock.parse().unwrap();
    doc["package"]
        .as_array_of_tables()
        .unwrap()
        .iter()
        .filter(|p| p.get("source").is_none() && p["version"].as_str() == Some(old))
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_bumped_copy_of_this_repository_keeps_the_old_version_only_in_history() {
    let tmp = tempfile::tempdir().unwrap();
    let root = copy_of_this_repository(tmp.path());
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let doc: toml_edit::DocumentMut = cargo.parse().unwrap();
    let old = doc["workspace"]["package"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let mut next = semver::Version::parse(&old).unwrap();
    next.minor += 1;
    let new = next.to_string();
    let ws = root.to_string_lossy().to_string();
    for step in ["bump", "changelog"] {
        let o = xtask_out(
            &[
                "release",
                &new,
                "--execute",
                "--skip-tests",
                "--only",
                step,
                "--workspace",
                &ws,
            ],
            &[],
        );
        assert!(o.status.success(), "{step}: {}", text(&o));
    }
    // The changelog step wrote into the top-level CHANGELOG.md, above the old section.
    let changelog = std::fs::read_to_string(root.join("CHANGELOG.md")).unwrap();
    let (at_new, at_old) = (
        changelog.find(&format!("## [{new}] - ")),
        changelog.find(&format!("## [{old}] - ")),
    );
    assert!(
        at_new.is_some() && at_old.is_some() && at_new < at_old,
        "{changelog}"
    );

    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    let mut stray = Vec::new();
    for f in &files {
        let Ok(bytes) = std::fs::read(root.join(f)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        if f == "CHANGELOG.md" {
            continue; // history
        }
        if f.ends_with("Cargo.lock") {
            let ours = path_packages_at(&text, &old);
            assert!(ours.is_empty(), "{f} still pins {ours:?} at {old}");
            continue; // what is left are third-party crates that share the number
        }
        for (n, line) in text.lines().enumerate() {
            if !has_version(line, &old) {
                continue;
            }
            let excused = NOT_THE_VERSION
                .iter()
                .any(|(file, needle, _)| f == file && line.contains(needle));
            if !excused {
                stray.push(format!("{f}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        stray.is_empty(),
        "the bump {old} → {new} left the old version in:\n{}",
        stray.join("\n")
    );
    for f in ["helm/akidb/README.md", "fuzz/Cargo.lock", "flake.nix"] {
        let t = std::fs::read_to_string(root.join(f)).unwrap();
        assert!(t.contains(&new), "{f} was not bumped");
    }
}

fn release(fx: &Fixture, version: &str, extra: &[&str]) -> std::process::Output {
    let root = fx.root.to_string_lossy().to_string();
    let mut args = vec!["release", version, "--skip-tests"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--registry", "127.0.0.1:9/akidb", "--workspace", &root]);
    xtask_out(&args, &[("GITHUB_TOKEN", "t")])
}

#[test]
fn the_current_version_without_a_tag_is_a_first_release() {
    let fx = Fixture::new();
    // Tagged: the same version is already released.
    let before = fx.snapshot();
    let o = release(&fx, "1.4.0", &["--execute", "--only", "bump"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("already at 1.4.0 and tag v1.4.0 exists: 1.4.0 is already released"),
        "{out}"
    );
    assert!(out.contains("nothing was changed"), "{out}");
    assert_eq!(fx.snapshot(), before);

    // Without the tag it is the first release of 1.4.0: no bump, the tag is made.
    git(&fx.root, &["tag", "-d", "v1.4.0"]);
    git(&fx.root, &["push", "-q", "origin", ":refs/tags/v1.4.0"]);
    let o = release(&fx, "1.4.0", &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("✓ version: "), "{out}");
    let head = git(&fx.root, &["rev-parse", "HEAD"]);
    for step in ["bump", "changelog", "tag"] {
        let o = release(&fx, "1.4.0", &["--execute", "--only", step]);
        assert!(o.status.success(), "{step}: {}", text(&o));
    }
    assert_eq!(
        git(&fx.root, &["rev-parse", "HEAD"]),
        head,
        "nothing to commit"
    );
    assert_eq!(
        git(&fx.origin, &["rev-parse", "refs/tags/v1.4.0^{commit}"]),
        head
    );
    let cargo = std::fs::read_to_string(fx.root.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("version = \"1.4.0\""), "{cargo}");

    // Lower versions stay refused; once tagged, the same version is refused as released.
    let o = release(&fx, "1.3.9", &["--execute"]);
    assert!(
        text(&o).contains("1.3.9 is lower than the current version 1.4.0"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(fx.root.join("target/release")).unwrap();
    let o = release(&fx, "1.4.0", &["--execute"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("1.4.0 is already released"), "{out}");
}
