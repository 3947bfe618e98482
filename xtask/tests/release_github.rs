//! Step 6 against the fake GitHub API, which behaves like GitHub where it matters: drafts are
//! invisible to "get a release by tag", "list releases" shows them, and an asset name that is
//! already taken is a 422 `already_exists`. Needs only git and the Rust toolchain: the binaries
//! the image step would stage are stand-ins written by the test.

mod release_support;

use release_support::fake_github::FakeGitHub;
use release_support::*;

const NEW: &str = "1.5.0";

fn release(fx: &Fixture, gh: &FakeGitHub, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["release", NEW, "--execute", "--skip-tests"];
    args.extend_from_slice(extra);
    let root = fx.root.to_string_lossy().to_string();
    args.extend_from_slice(&["--registry", "127.0.0.1:9/akidb", "--workspace", &root]);
    xtask_out(
        &args,
        &[("GITHUB_TOKEN", "t"), ("GITHUB_API_URL", gh.url.as_str())],
    )
}

fn names(r: &release_support::fake_github::Release) -> Vec<String> {
    let mut n: Vec<String> = r.assets.iter().map(|a| a.name.clone()).collect();
    n.sort();
    n
}

#[test]
fn a_failed_github_step_leaves_one_draft_that_the_rerun_completes_and_rollback_deletes() {
    let fx = Fixture::new();
    let gh = FakeGitHub::start();
    for step in ["bump", "changelog", "tag"] {
        let o = release(&fx, &gh, &["--only", step]);
        assert!(o.status.success(), "{}", text(&o));
    }
    // What the image step would have staged.
    let dist = fx.root.join("target/release").join(NEW).join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for arch in ["amd64", "arm64"] {
        std::fs::write(
            dist.join(format!("akidb-linux-{arch}")),
            format!("{arch} binary"),
        )
        .unwrap();
    }
    let sums = "SHA256SUMS".to_string();
    let want = {
        let mut w = vec![
            format!("akidb-{NEW}-linux-amd64"),
            format!("akidb-{NEW}-linux-arm64"),
            format!("akidb-{NEW}.cdx.json"),
            format!("akidb-{NEW}.tgz"),
            sums.clone(),
        ];
        w.sort();
        w
    };

    // 1. The arm64 upload is interrupted: the draft exists with a broken asset.
    gh.fail_upload_once(&format!("akidb-{NEW}-linux-arm64"));
    let o = release(&fx, &gh, &["--only", "github"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("github"), "{out}");
    let rs = gh.releases();
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert!(rs[0].draft);
    assert!(rs[0].assets.iter().any(|a| a.state == "starter"), "{rs:?}");
    // Like GitHub, the fake does not find the draft by its tag.
    assert_eq!(gh.count("GET", "/repos/o/r/releases/tags/v1.5.0"), 0);

    // 2. The rerun fails again, later (SHA256SUMS): it reused the draft, replaced the assets.
    gh.fail_upload_once(&sums);
    let o = release(&fx, &gh, &["--only", "github"]);
    assert!(!o.status.success(), "{}", text(&o));
    let rs = gh.releases();
    assert_eq!(rs.len(), 1, "a rerun created a second release: {rs:?}");
    assert!(rs[0].draft);
    assert_eq!(gh.count("POST", "/repos/o/r/releases"), 1);

    // 3. The next rerun completes: one published release with every asset, each once.
    let o = release(&fx, &gh, &["--only", "github"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("updated with 5 assets"), "{out}");
    let rs = gh.releases();
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert!(!rs[0].draft);
    assert_eq!(names(&rs[0]), want);
    assert!(rs[0].assets.iter().all(|a| a.state == "uploaded"));
    let arm = rs[0]
        .assets
        .iter()
        .find(|a| a.name.ends_with("linux-arm64"))
        .unwrap();
    assert_eq!(arm.data, b"arm64 binary");
    assert_eq!(gh.count("POST", "/repos/o/r/releases"), 1);

    // 4. A draft (a run that failed before publishing) is found and deleted by rollback.
    gh.state.lock().unwrap().releases[0].draft = true;
    let root = fx.root.to_string_lossy().to_string();
    let o = xtask_out(
        &[
            "release",
            "rollback",
            NEW,
            "--registry",
            "127.0.0.1:9/akidb",
            "--workspace",
            &root,
        ],
        &[("GITHUB_TOKEN", "t"), ("GITHUB_API_URL", gh.url.as_str())],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("deleted draft GitHub release"), "{out}");
    assert!(gh.releases().is_empty(), "{:?}", gh.releases());
}

#[test]
fn rollback_reports_a_published_release_and_keeps_it() {
    let fx = Fixture::new();
    let gh = FakeGitHub::start();
    for step in ["bump", "changelog", "tag"] {
        let o = release(&fx, &gh, &["--only", step]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let dist = fx.root.join("target/release").join(NEW).join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for arch in ["amd64", "arm64"] {
        std::fs::write(dist.join(format!("akidb-linux-{arch}")), arch).unwrap();
    }
    let o = release(&fx, &gh, &["--only", "github"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(out_has(&gh));
    let root = fx.root.to_string_lossy().to_string();
    let o = xtask_out(
        &["release", "rollback", NEW, "--workspace", &root],
        &[("GITHUB_TOKEN", "t"), ("GITHUB_API_URL", gh.url.as_str())],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("is published; delete it by hand"), "{out}");
    assert_eq!(gh.releases().len(), 1);
}

fn out_has(gh: &FakeGitHub) -> bool {
    let rs = gh.releases();
    rs.len() == 1 && !rs[0].draft && rs[0].assets.len() == 5
}
