//! The release preflight against a fixture git workspace with a bare `origin`: the plan lists
//! every check of `docs/ga-release-checklist.md` by id, `--execute` runs the verification
//! commands before any change and stops at the first failing one, and the skip flags work.
//! Needs only git and the Rust toolchain (rustfmt, clippy); `cargo deny` is optional here.

mod release_support;

use release_support::*;
use std::process::{Command, Output};

/// The ids the checklist names as "release preflight `id`", in order, without repeats.
fn checklist_ids() -> Vec<String> {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ga-release-checklist.md"),
    )
    .unwrap();
    let mut ids: Vec<String> = Vec::new();
    for (i, m) in doc.match_indices("**Checked by:**") {
        // The "Checked by" part runs to the end of its list item (the next unindented line).
        let rest = &doc[i + m.len()..];
        let end = rest
            .match_indices('\n')
            .map(|(j, _)| j)
            .find(|&j| !rest[j + 1..].starts_with(' '))
            .unwrap_or(rest.len());
        let part = &rest[..end];
        for (k, p) in part.match_indices("preflight `") {
            let id = part[k + p.len()..].split('`').next().unwrap().to_string();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

const VERIFICATIONS: [(&str, &str); 5] = [
    ("fmt", "cargo fmt --all -- --check"),
    (
        "clippy",
        "cargo clippy --workspace --all-targets --locked -- -D warnings",
    ),
    ("deny", "cargo deny check licenses bans sources"),
    ("advisories", "cargo deny check advisories"),
    // The fixture has no xtask, so the suite is plain `cargo test`.
    ("tests", "cargo test --workspace"),
];

/// Runs the xtask on the fixture with what every step of the plan needs, so the only problems
/// are the ones a test creates. Builds of the fixture go to its own (ignored) target dir.
fn release(fx: &Fixture, extra: &[&str]) -> Output {
    let mut c = xtask();
    c.args(["release", "1.5.0"])
        .args(extra)
        .args([
            "--registry",
            "127.0.0.1:9/akidb",
            "--binary",
            "linux/arm64=/bin/true",
            "--workspace",
        ])
        .arg(&fx.root)
        .env("GITHUB_TOKEN", "t")
        .env_remove("CARGO_TARGET_DIR");
    c.output().expect("cannot run the xtask binary")
}

fn cargo_deny_installed() -> bool {
    Command::new("cargo")
        .args(["deny", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn the_plan_lists_every_checklist_check_by_id() {
    let fx = Fixture::new();
    let ids = checklist_ids();
    assert!(ids.len() >= 15, "too few ids in the checklist: {ids:?}");
    for (v, _) in VERIFICATIONS {
        assert!(
            ids.iter().any(|i| i == v),
            "the checklist does not name {v}"
        );
    }
    let before = fx.snapshot();
    let o = release(&fx, &[]);
    let out = text(&o);
    assert_eq!(fx.snapshot(), before, "the plan changed something");
    assert!(
        out.contains("Preflight checks") && out.contains("Verifications"),
        "{out}"
    );
    let deny = cargo_deny_installed();
    for id in &ids {
        if let Some((_, cmd)) = VERIFICATIONS.iter().find(|(v, _)| v == id) {
            if (id.as_str() == "deny" || id.as_str() == "advisories") && !deny {
                assert!(
                    out.contains(&format!("✗ {id}: `cargo deny` is not installed"))
                        && out.contains("→ cargo install --locked cargo-deny"),
                    "without cargo-deny the plan must refuse {id}:\n{out}"
                );
                continue;
            }
            assert!(
                out.contains(&format!("· {id}: would run `{cmd}`")),
                "the plan does not say it would run {id}:\n{out}"
            );
        } else {
            assert!(
                out.contains(&format!("✓ {id}: ")),
                "the plan does not list check {id} as passed:\n{out}"
            );
        }
    }
    assert_eq!(
        o.status.success(),
        deny,
        "the plan succeeds exactly when nothing is missing:\n{out}"
    );
    // The steps come after the checks.
    let checks_at = out.find("✓ clean-tree").unwrap();
    assert!(out.find("1. bump").unwrap() > checks_at, "{out}");
}

#[test]
fn failed_checks_are_listed_by_id_with_their_fix() {
    let fx = Fixture::new();
    std::fs::write(fx.root.join("stray.txt"), "x").unwrap();
    // Someone else pushed to origin/main: the local HEAD is behind.
    let other = fx.tmp.path().join("other");
    run(Command::new("git")
        .args(["clone", "-q"])
        .arg(&fx.origin)
        .arg(&other));
    git(&other, &["config", "user.name", "Other Dev"]);
    git(&other, &["config", "user.email", "other@fixture.invalid"]);
    std::fs::write(other.join("NOTES.md"), "later\n").unwrap();
    git(&other, &["add", "NOTES.md"]);
    git(&other, &["commit", "-q", "-m", "docs: notes"]);
    git(&other, &["push", "-q", "origin", "main"]);

    let o = release(&fx, &["--skip-verify"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("✗ clean-tree: the working tree is dirty: stray.txt"),
        "{out}"
    );
    assert!(
        out.contains("✗ up-to-date: HEAD does not contain origin/main")
            && out.contains("→ git pull --rebase origin main"),
        "{out}"
    );
    assert!(out.contains("✓ version: "), "{out}");
    assert!(out.contains("preflight found 2 problem(s)"), "{out}");

    // --execute refuses with the same ids and changes nothing.
    let before = fx.snapshot();
    let o = release(&fx, &["--execute", "--skip-verify"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("✗ clean-tree: "), "{out}");
    assert!(out.contains("✗ up-to-date: "), "{out}");
    assert!(out.contains("nothing was changed"), "{out}");
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn skip_flags_leave_verifications_out() {
    let fx = Fixture::new();
    let o = release(&fx, &["--skip-tests"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for (id, cmd) in VERIFICATIONS {
        assert!(
            out.contains(&format!(
                "- {id}: skipped (--skip-verify / --skip-tests) (`{cmd}`)"
            )),
            "{out}"
        );
    }
    let o = release(&fx, &["--skip-check", "tests", "--skip-check", "clippy"]);
    let out = text(&o);
    assert!(
        out.contains("- tests: skipped (--skip-check tests) (`cargo test --workspace`)"),
        "{out}"
    );
    assert!(
        out.contains("- clippy: skipped (--skip-check clippy)"),
        "{out}"
    );
    assert!(
        out.contains("· fmt: would run `cargo fmt --all -- --check`"),
        "{out}"
    );

    let o = release(&fx, &["--skip-check", "clean-tree"]);
    let out = text(&o);
    assert!(!o.status.success());
    assert!(
        out.contains("unknown verification \"clean-tree\"")
            && out.contains("fmt, clippy, deny, advisories, tests"),
        "{out}"
    );
}

#[test]
fn execute_runs_the_verifications_before_any_change() {
    let fx = Fixture::new();
    // Committed but badly formatted: the tree is clean and fmt must catch it.
    std::fs::write(
        fx.root.join("crates/demo/src/lib.rs"),
        "//! Fixture crate.\npub fn  badly_formatted( )->u32{ 1 }\n",
    )
    .unwrap();
    git(&fx.root, &["commit", "-q", "-am", "feat: add a function"]);
    let skip = [
        "--execute",
        "--only",
        "bump",
        "--skip-check",
        "deny",
        "--skip-check",
        "advisories",
    ];
    let before = fx.snapshot();
    let o = release(&fx, &skip);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("release preflight `fmt` failed: `cargo fmt --all -- --check`"),
        "{out}"
    );
    assert!(out.contains("nothing was changed"), "{out}");
    assert!(!out.contains("[1/8] bump"), "{out}");
    assert!(
        !out.contains("preflight clippy:"),
        "fmt fails first:\n{out}"
    );
    assert_eq!(
        fx.snapshot(),
        before,
        "a failed verification changed something"
    );

    run(Command::new("cargo")
        .args(["fmt", "--all"])
        .current_dir(&fx.root));
    git(&fx.root, &["commit", "-q", "-am", "style: cargo fmt"]);
    let o = release(&fx, &skip);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing in\n{out}"))
    };
    let fmt = at("preflight fmt: ✓");
    let clippy = at("preflight clippy: ✓");
    let tests = at("preflight tests: ✓");
    let bump = at("[1/8] bump");
    assert!(fmt < clippy && clippy < tests && tests < bump, "{out}");
    assert!(!out.contains("preflight deny:"), "{out}");
    let cargo = std::fs::read_to_string(fx.root.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("version = \"1.5.0\""), "{cargo}");
}

/// A registry that answers `/v2/` but denies every upload, like a registry whose credentials
/// lack push rights. Returns its `127.0.0.1:PORT`.
fn registry_refusing_pushes() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
            }
            let (status, body) = if first.starts_with("GET /v2/ ") {
                ("200 OK", "{}".to_string())
            } else {
                (
                    "403 Forbidden",
                    r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#.to_string(),
                )
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nDocker-Distribution-API-Version: registry/2.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    host
}

/// The problem lines of a refusal: `✗ id: what` followed by `→ fix`.
fn problem(out: &str, id: &str) -> (String, String) {
    let mut lines = out.lines();
    while let Some(l) = lines.next() {
        if let Some(what) = l.trim().strip_prefix(&format!("✗ {id}: ")) {
            let fix = lines.next().unwrap_or("").trim();
            assert!(fix.starts_with("→ "), "no fix after {l:?}:\n{out}");
            return (what.to_string(), fix[4..].trim().to_string());
        }
    }
    panic!("no ✗ {id} problem in\n{out}")
}

#[test]
fn a_registry_refusing_the_push_and_a_missing_key_are_refused_before_any_change() {
    let fx = Fixture::new();
    let host = registry_refusing_pushes();
    let reg = format!("{host}/akidb");
    let execute = |extra: &[&str]| {
        let mut c = xtask();
        c.args(["release", "1.5.0", "--execute", "--skip-verify"])
            .args(extra)
            .args(["--binary", "linux/arm64=/bin/true", "--workspace"])
            .arg(&fx.root)
            .env("GITHUB_TOKEN", "t")
            .env_remove("CARGO_TARGET_DIR");
        let o = c.output().unwrap();
        assert!(!o.status.success(), "{}", text(&o));
        text(&o)
    };

    // The registry answers but denies uploads: refused before the bump, not at step 4.
    let before = fx.snapshot();
    let out = execute(&["--registry", &reg]);
    let (what, fix) = problem(&out, "registry");
    assert!(
        what.contains(&format!("registry {host} refuses a push to akidb/akidb"))
            && what.contains("HTTP 403 DENIED"),
        "{out}"
    );
    assert!(fix.contains("credentials"), "{out}");
    assert!(out.contains("nothing was changed"), "{out}");
    assert!(!out.contains("[1/8] bump"), "{out}");
    assert_eq!(fx.snapshot(), before);
    // The plan does not contact the registry.
    let o = release(&fx, &["--skip-verify"]);
    assert!(!text(&o).contains("refuses a push"), "{}", text(&o));

    // A missing metadata key: no `repository` in Cargo.toml, no `appVersion` in Chart.yaml.
    let cargo = std::fs::read_to_string(fx.root.join("Cargo.toml")).unwrap();
    std::fs::write(
        fx.root.join("Cargo.toml"),
        cargo.replace("repository = \"https://github.com/o/r\"\n", ""),
    )
    .unwrap();
    let chart = std::fs::read_to_string(fx.root.join("helm/akidb/Chart.yaml")).unwrap();
    std::fs::write(
        fx.root.join("helm/akidb/Chart.yaml"),
        chart.replace("appVersion: \"1.4.0\"\n", ""),
    )
    .unwrap();
    git(&fx.root, &["commit", "-q", "-am", "chore: lose metadata"]);
    let before = fx.snapshot();
    let out = execute(&["--registry", "127.0.0.1:9/akidb", "--only", "bump"]);
    let (what, fix) = problem(&out, "release-files");
    assert!(
        what.contains("helm/akidb/Chart.yaml") && what.contains("`appVersion:`"),
        "{out}"
    );
    assert!(fix.contains("restore the version key"), "{out}");
    assert_eq!(fx.snapshot(), before);
    let out = execute(&["--registry", "127.0.0.1:9/akidb", "--only", "github"]);
    let (what, fix) = problem(&out, "github");
    assert!(what.contains("cannot tell the GitHub repository"), "{out}");
    assert!(fix.contains("--repo OWNER/NAME"), "{out}");
    assert_eq!(fx.snapshot(), before);
    for l in out.lines().filter(|l| l.trim_start().starts_with('✗')) {
        assert!(!l.trim().is_empty() && l.len() < 300, "{l}");
    }
}
