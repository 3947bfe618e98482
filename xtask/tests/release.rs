//! End-to-end tests of `cargo xtask release`, `image` and `chart` against real parts: a
//! fixture git workspace with a bare `origin`, Debian's docker-registry, skopeo, podman +
//! runc, qemu-aarch64-static, the Helm library (helm-python-sdk) and a local fake of the
//! GitHub REST API. Services and binaries come from `cargo xtask test`.

mod release_support;

use release_support::fake_github::FakeGitHub;
use release_support::registry::{free_port, Registry};
use release_support::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NEW: &str = "1.5.0";

fn binaries() -> (PathBuf, PathBuf) {
    (
        env_path("AKIDB_TEST_BIN_AMD64"),
        env_path("AKIDB_TEST_BIN_ARM64"),
    )
}

fn helm_tool(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/helm_tool.py");
    run(Command::new("python3")
        .arg(script)
        .args(args)
        .env("PYTHONPATH", env_path("AKIDB_TEST_PYTHONPATH")))
}

fn release_args(fx: &Fixture, reg: &str, extra: &[&str]) -> Vec<String> {
    let (amd, arm) = binaries();
    let mut a: Vec<String> = vec!["release".into(), NEW.into()];
    a.extend(extra.iter().map(|s| s.to_string()));
    a.extend([
        "--skip-tests".into(),
        "--registry".into(),
        format!("{reg}/akidb"),
        "--binary".into(),
        format!("linux/amd64={}", amd.display()),
        "--binary".into(),
        format!("linux/arm64={}", arm.display()),
        "--workspace".into(),
        fx.root.to_string_lossy().to_string(),
    ]);
    a
}

fn state(fx: &Fixture) -> Value {
    let p = fx.root.join("target/release").join(NEW).join("state.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Runs the release, SIGKILLing the registry as soon as step 4 starts.
fn run_killing_registry_at_image(
    args: &[String],
    env: &[(&str, &str)],
    reg: &mut Registry,
) -> (bool, String) {
    let mut c = xtask();
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut out = String::new();
    let mut killed = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if !killed && line.contains("[4/8] image") {
            reg.kill();
            killed = true;
        }
        out.push_str(&line);
        out.push('\n');
    }
    let ok = child.wait().unwrap().success();
    out.push_str(&err_thread.join().unwrap());
    assert!(killed, "step 4 never started:\n{out}");
    (ok, out)
}

struct Podman {
    base: Vec<String>,
    conf: PathBuf,
    container: Option<String>,
}

impl Podman {
    fn new(dir: &Path) -> Self {
        require_tool("podman");
        assert!(
            Path::new("/usr/sbin/runc").exists(),
            "/usr/sbin/runc missing: run `cargo xtask test` (apt runc)"
        );
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join("containers.conf");
        std::fs::write(&conf, "[containers]\ndefault_ulimits = []\n").unwrap();
        let base = [
            "--root",
            &dir.join("storage").to_string_lossy(),
            "--runroot",
            &dir.join("run").to_string_lossy(),
            "--storage-driver",
            "vfs",
            "--runtime",
            "/usr/sbin/runc",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Podman {
            base,
            conf,
            container: None,
        }
    }

    fn cmd(&self, args: &[&str]) -> String {
        run(Command::new("podman")
            .args(&self.base)
            .args(args)
            .env("CONTAINERS_CONF", &self.conf))
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if let Some(c) = self.container.take() {
            let _ = Command::new("podman")
                .args(&self.base)
                .args(["rm", "-f", "-t", "0", &c])
                .env("CONTAINERS_CONF", &self.conf)
                .output();
        }
    }
}

fn http_status(port: u16, path: &str) -> Option<String> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().next().map(str::to_string)
}

fn check_amd64_container(dir: &Path, image: &str) {
    let mut pm = Podman::new(&dir.join("podman"));
    pm.cmd(&["pull", "-q", "--tls-verify=false", image]);
    assert_eq!(
        pm.cmd(&["image", "inspect", "--format", "{{.Config.User}}", image]),
        "1000:1000"
    );
    let data = dir.join("container-data");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(1000), Some(1000)).unwrap();
    let (rest, grpc) = (free_port(), free_port());
    let name = format!("akidb-release-test-{rest}");
    pm.cmd(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "--read-only",
        "-v",
        &format!("{}:/data", data.display()),
        "-e",
        &format!("AKIDB_REST_ADDR=127.0.0.1:{rest}"),
        "-e",
        &format!("AKIDB_GRPC_ADDR=127.0.0.1:{grpc}"),
        image,
    ]);
    pm.container = Some(name.clone());
    let t = Instant::now();
    let mut last = None;
    while t.elapsed() < Duration::from_secs(40) {
        last = http_status(rest, "/health");
        if last.as_deref().map(|l| l.contains(" 200")).unwrap_or(false) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let logs = pm.cmd(&["logs", &name]);
    assert!(
        last.as_deref().map(|l| l.contains(" 200")).unwrap_or(false),
        "the container never answered /health (last: {last:?}); logs:\n{logs}"
    );
    let pid = pm.cmd(&["inspect", "--format", "{{.State.Pid}}", &name]);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().nth(1) == Some("1000"),
        "container runs as {uid_line}"
    );
    let ro = pm.cmd(&[
        "inspect",
        "--format",
        "{{.HostConfig.ReadonlyRootfs}}",
        &name,
    ]);
    assert_eq!(ro, "true");
}

fn check_arm64_binary(dir: &Path, image: &str) {
    require_tool("qemu-aarch64-static");
    let out = dir.join("arm64-image");
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        "--override-arch",
        "arm64",
        "--src-tls-verify=false",
        &format!("docker://{image}"),
        &format!("dir:{}", out.display()),
    ]));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: Value =
        serde_json::from_slice(&std::fs::read(out.join(&config_digest[7..])).unwrap()).unwrap();
    assert_eq!(config["architecture"], "arm64");
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let rootfs = dir.join("arm64-rootfs");
    let f = std::fs::File::open(out.join(&layer[7..])).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    ar.set_preserve_ownerships(false);
    ar.unpack(&rootfs).unwrap();
    let bin = rootfs.join("usr/local/bin/akidb");
    let v = run(Command::new("qemu-aarch64-static")
        .arg("-L")
        .arg(&rootfs)
        .arg(&bin)
        .arg("--version"));
    assert!(
        v.to_lowercase().contains("akidb"),
        "arm64 --version printed {v:?}"
    );
}

#[test]
fn release_end_to_end_with_plan_resume_and_rerun() {
    let started = Instant::now();
    require_tool("skopeo");
    let fx = Fixture::new();
    let work = fx.tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut reg = Registry::start(&fx.tmp.path().join("registry"));
    let gh = FakeGitHub::start();
    let webhook = format!("{}/webhook", gh.url);
    let env = [
        ("GITHUB_TOKEN", "test-token"),
        ("GITHUB_API_URL", gh.url.as_str()),
        ("AKIDB_ANNOUNCE_WEBHOOK", webhook.as_str()),
    ];
    let host = reg.host();

    // Plan mode: prints every step, changes nothing anywhere.
    let before = fx.snapshot();
    let plan = xtask_out(
        &release_args(&fx, &host, &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &env,
    );
    let plan_text = text(&plan);
    assert!(plan.status.success(), "{plan_text}");
    for needle in [
        "1. bump",
        "2. changelog",
        "3. tag",
        "4. image",
        "5. chart",
        "6. github",
        "7. docs",
        "8. announce",
        "edit helm/akidb/Chart.yaml",
        "edit flake.nix",
        "git tag -a v1.5.0",
        &format!("{host}/akidb/akidb:1.5.0"),
        &format!("oci://{host}/akidb/charts/akidb:1.5.0"),
        &format!(
            "GET {}/repos/o/r/releases (drafts included) for the release with tag_name v1.5.0",
            gh.url
        ),
        "gh-pages",
        "add batch search",
        &format!("POST the short post to {webhook}"),
    ] {
        assert!(
            plan_text.contains(needle),
            "plan lacks {needle:?}:\n{plan_text}"
        );
    }
    // The same plan as one JSON document on stdout (progress on stderr), for CI.
    let plan_json = xtask_out(
        &release_args(&fx, &host, &["--json"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &env,
    );
    assert!(plan_json.status.success(), "{}", text(&plan_json));
    let doc: Value = serde_json::from_slice(&plan_json.stdout).unwrap_or_else(|e| {
        panic!(
            "--json stdout is not one JSON document ({e}):\n{}",
            text(&plan_json)
        )
    });
    assert_eq!(doc["mode"], "plan", "{doc:#}");
    assert_eq!(doc["status"], "ready", "{doc:#}");
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8, "{doc:#}");
    assert_eq!(steps[3]["step"], "image");
    assert!(
        steps[3]["plan"]
            .to_string()
            .contains(&format!("{host}/akidb/akidb:1.5.0")),
        "{doc:#}"
    );
    assert!(String::from_utf8_lossy(&plan_json.stderr).contains("1. bump"));
    assert_eq!(fx.snapshot(), before, "plan mode changed the workspace");
    assert_eq!(gh.request_count(), 0, "plan mode called GitHub");
    assert_eq!(
        reg.get_json("/v2/_catalog")["repositories"],
        serde_json::json!([])
    );

    // Execute; the registry dies during step 4 → fails naming the step.
    let args = release_args(&fx, &host, &["--execute"]);
    let t1 = Instant::now();
    let (ok, out) = run_killing_registry_at_image(&args, &env, &mut reg);
    assert!(!ok, "release succeeded with a dead registry:\n{out}");
    assert!(out.contains("release step 4 (image) failed"), "{out}");
    let st = state(&fx);
    assert_eq!(st["failure"]["step"], "image", "{st:#}");
    for s in ["bump", "changelog", "tag"] {
        assert!(st["steps"][s].is_object(), "{s} not recorded: {st:#}");
    }
    let first_run = t1.elapsed();

    // Restart and rerun → resumes at image and completes.
    // (With --json: the resumed run's document is the only thing on stdout.)
    reg.restart();
    let t2 = Instant::now();
    let mut json_args: Vec<&str> = args.iter().map(String::as_str).collect();
    json_args.push("--json");
    let rerun = xtask_out(&json_args, &env);
    let rerun_text = text(&rerun);
    assert!(rerun.status.success(), "{rerun_text}");
    let doc: Value = serde_json::from_slice(&rerun.stdout)
        .unwrap_or_else(|e| panic!("--json stdout is not one JSON document ({e}):\n{rerun_text}"));
    assert_eq!(doc["status"], "complete", "{doc:#}");
    assert_eq!(doc["steps"].as_array().unwrap().len(), 8, "{doc:#}");
    assert!(
        doc["steps"][3]["outputs"]["index_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{doc:#}"
    );
    // The summary table names what was published, with digests.
    assert!(
        rerun_text.contains("| 4 | image |")
            && rerun_text.contains(&format!("index {host}/akidb/akidb:1.5.0@sha256:")),
        "{rerun_text}"
    );
    assert!(
        rerun_text.contains("resuming release 1.5.0"),
        "{rerun_text}"
    );
    assert!(
        !rerun_text.contains("[1/8] bump"),
        "bump ran twice:\n{rerun_text}"
    );
    for n in 4..=8 {
        assert!(
            rerun_text.contains(&format!("[{n}/8]")) && rerun_text.contains(" done in "),
            "{rerun_text}"
        );
    }
    let second_run = t2.elapsed();
    eprintln!("release timings: first run (steps 1-3 + failed 4) {first_run:.1?}, resumed run (4-8) {second_run:.1?}\n{rerun_text}");

    // Versions everywhere.
    let read = |f: &str| std::fs::read_to_string(fx.root.join(f)).unwrap();
    assert_eq!(
        read("Cargo.toml").matches("version = \"1.5.0\"").count(),
        2,
        "{}",
        read("Cargo.toml")
    );
    assert!(read("Cargo.lock").contains("name = \"demo\"\nversion = \"1.5.0\""));
    assert!(read("helm/akidb/Chart.yaml").contains("\nversion: 1.5.0\nappVersion: \"1.5.0\"\n"));
    assert!(read("helm/akidb/values.yaml").contains("  tag: \"1.5.0\"\n"));
    assert!(read("flake.nix").contains("version = \"1.5.0\";"));

    // Changelog section from the conventional commits (+ the Unreleased entry).
    let cl = read("CHANGELOG.md");
    let sec_start = cl.find("## [1.5.0] - ").expect("no 1.5.0 section");
    let sec = &cl[sec_start..cl.find("## [1.4.0]").unwrap()];
    assert!(cl.find("## [Unreleased]").unwrap() < sec_start);
    let order: Vec<usize> = [
        "### BREAKING CHANGES",
        "### Added",
        "### Changed",
        "### Fixed",
        "### Security",
    ]
    .iter()
    .map(|h| {
        sec.find(h)
            .unwrap_or_else(|| panic!("{h} missing in\n{sec}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{sec}");
    for e in [
        "drop the v0 routes",
        "**api:** add batch search",
        "**wal:** truncate a torn tail",
        "faster cosine kernel",
        "Pin the base libraries",
    ] {
        assert!(sec.contains(e), "{e} missing in\n{sec}");
    }
    assert!(
        !sec.contains("explain tiers"),
        "docs commits are not user-facing:\n{sec}"
    );

    // Annotated tag on origin at the release commit, branch pushed.
    let head = git(&fx.root, &["rev-parse", "HEAD"]);
    assert_eq!(
        git(&fx.root, &["log", "-1", "--format=%s"]),
        "chore(release): v1.5.0"
    );
    assert_eq!(
        git(&fx.origin, &["cat-file", "-t", "refs/tags/v1.5.0"]),
        "tag"
    );
    assert_eq!(git(&fx.origin, &["rev-parse", "v1.5.0^{commit}"]), head);
    assert_eq!(git(&fx.origin, &["rev-parse", "refs/heads/main"]), head);
    assert!(git(&fx.root, &["status", "--porcelain"]).is_empty());

    // The registry holds one index with both platforms.
    let image = format!("{host}/akidb/akidb:1.5.0");
    let raw = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]));
    let index: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms: BTreeSet<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        platforms,
        BTreeSet::from(["linux/amd64".to_string(), "linux/arm64".to_string()])
    );
    let st = state(&fx);
    assert_eq!(
        format!("sha256:{}", sha256_hex(raw.as_bytes())),
        st["steps"]["image"]["outputs"]["index_digest"]
            .as_str()
            .unwrap()
    );
    assert_eq!(
        reg.get_json("/v2/akidb/akidb/tags/list")["tags"],
        serde_json::json!(["1.5.0"])
    );
    assert!(st["failure"].is_null());
    let mut timings = String::new();
    for (name, rec) in st["steps"].as_object().unwrap() {
        timings.push_str(&format!("{name}={}ms ", rec["duration_ms"]));
    }
    eprintln!("step timings: {timings}");
    // Each platform image (config + layers) stays under 50 MB.
    for m in index["manifests"].as_array().unwrap() {
        let digest = m["digest"].as_str().unwrap();
        let raw = run(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{host}/akidb/akidb@{digest}"),
        ]));
        let man: Value = serde_json::from_str(&raw).unwrap();
        let size: u64 = man["config"]["size"].as_u64().unwrap()
            + man["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["size"].as_u64().unwrap())
                .sum::<u64>();
        assert!(size < 50 * 1024 * 1024, "{digest} is {size} bytes");
    }
    for s in [
        "bump",
        "changelog",
        "tag",
        "image",
        "chart",
        "github",
        "docs",
        "announce",
    ] {
        assert!(st["steps"][s].is_object(), "{s} not recorded");
    }

    // The amd64 image runs under podman as uid 1000, read-only root, data volume.
    check_amd64_container(&work, &image);
    // The arm64 binary from its layer runs under qemu with the image's own libraries.
    check_arm64_binary(&work, &image);

    // The chart comes back from the registry through Helm, lints strictly and renders.
    let pulled = work.join("pulled");
    helm_tool(&[
        "pull",
        &format!("oci://{host}/akidb/charts/akidb"),
        "--version",
        NEW,
        "--destination",
        &pulled.to_string_lossy(),
        "--plain-http",
    ]);
    let tgz = pulled.join("akidb-1.5.0.tgz");
    let ours = fx.root.join("target/release/1.5.0/chart/akidb-1.5.0.tgz");
    assert_eq!(
        std::fs::read(&tgz).unwrap(),
        std::fs::read(&ours).unwrap(),
        "registry round trip changed the chart"
    );
    let unpacked = work.join("chart-unpacked");
    tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&tgz).unwrap(),
    ))
    .unpack(&unpacked)
    .unwrap();
    let lint = helm_tool(&[
        "lint",
        "--strict",
        &unpacked.join("akidb").to_string_lossy(),
    ]);
    assert!(lint.contains("no failures"), "{lint}");
    let rendered = helm_tool(&["template", &unpacked.join("akidb").to_string_lossy()]);
    assert!(
        rendered.contains("image: \"ghcr.io/akidb/akidb:1.5.0\""),
        "{rendered}"
    );
    let index_yaml =
        std::fs::read_to_string(fx.root.join("target/release/1.5.0/chart/index.yaml")).unwrap();
    assert!(
        index_yaml.contains(&format!(
            "digest: \"{}\"",
            sha256_hex(&std::fs::read(&ours).unwrap())
        )),
        "{index_yaml}"
    );

    // The fake GitHub saw one release with every asset.
    let rels = gh.releases();
    assert_eq!(rels.len(), 1, "{rels:?}");
    let r = &rels[0];
    assert_eq!(r.tag, "v1.5.0");
    assert!(!r.draft, "release left as draft");
    assert!(
        r.body.contains("add batch search") && r.body.contains("### BREAKING CHANGES"),
        "{}",
        r.body
    );
    let names: BTreeSet<&str> = r.assets.iter().map(|a| a.name.as_str()).collect();
    let want = BTreeSet::from([
        "akidb-1.5.0.tgz",
        "akidb-1.5.0-linux-amd64",
        "akidb-1.5.0-linux-arm64",
        "akidb-1.5.0.cdx.json",
        "SHA256SUMS",
    ]);
    assert_eq!(names, want);
    let sums = String::from_utf8(
        r.assets
            .iter()
            .find(|a| a.name == "SHA256SUMS")
            .unwrap()
            .data
            .clone(),
    )
    .unwrap();
    for a in r.assets.iter().filter(|a| a.name != "SHA256SUMS") {
        assert!(
            sums.contains(&format!("{}  {}\n", sha256_hex(&a.data), a.name)),
            "{sums}"
        );
    }
    let sbom: Value = serde_json::from_slice(
        &r.assets
            .iter()
            .find(|a| a.name.ends_with(".cdx.json"))
            .unwrap()
            .data,
    )
    .unwrap();
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    assert!(
        sbom["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["purl"] == "pkg:cargo/demo@1.5.0"),
        "{sbom:#}"
    );
    assert_eq!(gh.count("POST", "/repos/o/r/releases"), 1);

    // gh-pages has the site.
    let files = git(&fx.origin, &["ls-tree", "-r", "--name-only", "gh-pages"]);
    for f in [
        "index.html",
        "architecture.html",
        "operations/playbooks.html",
        "style.css",
        ".nojekyll",
    ] {
        assert!(files.lines().any(|l| l == f), "gh-pages lacks {f}: {files}");
    }
    let playbooks = git(&fx.origin, &["show", "gh-pages:operations/playbooks.html"]);
    assert!(
        playbooks.contains("href=\"../architecture.html\""),
        "{playbooks}"
    );
    let hooks = gh.webhooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert!(
        hooks[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("AkiDB 1.5.0 is out"),
        "{hooks:?}"
    );
    let announce = fx.root.join("target/release/1.5.0/announce");
    assert!(std::fs::read_to_string(announce.join("release-post.md"))
        .unwrap()
        .contains("# AkiDB 1.5.0 is out"));
    assert!(
        std::fs::read_to_string(announce.join("short-post.txt"))
            .unwrap()
            .len()
            <= 281
    );

    // A rerun of the GitHub and docs steps replaces assets and pushes nothing twice.
    let pages_tip = git(&fx.origin, &["rev-parse", "gh-pages"]);
    for step in ["github", "docs"] {
        let again = xtask_out(
            &release_args(&fx, &host, &["--execute", "--only", step])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            &env,
        );
        assert!(again.status.success(), "{}", text(&again));
    }
    let rels = gh.releases();
    assert_eq!(rels.len(), 1);
    assert_eq!(rels[0].assets.len(), 5);
    assert_eq!(
        gh.count("DELETE", "/repos/o/r/releases/assets/"),
        5,
        "assets were not replaced"
    );
    assert_eq!(gh.count("POST", "/repos/o/r/releases"), 1);
    assert_eq!(
        git(&fx.origin, &["rev-parse", "gh-pages"]),
        pages_tip,
        "unchanged docs pushed again"
    );
    eprintln!("whole release test took {:.1?}", started.elapsed());
}

/// `--rehearse`: all eight steps against local stand-ins, with no token, registry or
/// GitHub given; the workspace and its origin are untouched.
#[test]
fn rehearse_releases_a_clone_against_local_stand_ins() {
    let fx = Fixture::new();
    let before = fx.snapshot();
    let (amd, arm) = binaries();
    let registry_bin = env_path("AKIDB_TEST_REGISTRY_BIN");
    let out = xtask_out(
        &[
            "release",
            NEW,
            "--rehearse",
            "--json",
            "--binary",
            &format!("linux/amd64={}", amd.display()),
            "--binary",
            &format!("linux/arm64={}", arm.display()),
            "--workspace",
            &fx.root.to_string_lossy(),
        ],
        &[("AKIDB_REGISTRY_BIN", &registry_bin.to_string_lossy())],
    );
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json stdout is not one JSON document ({e}):\n{all}"));
    assert_eq!(doc["status"], "complete", "{doc:#}");
    assert_eq!(doc["steps"].as_array().unwrap().len(), 8, "{doc:#}");
    let r = &doc["rehearsal"];
    assert_eq!(r["github_releases"][0]["tag"], format!("v{NEW}"), "{r:#}");
    assert_eq!(r["github_releases"][0]["draft"], false, "{r:#}");
    assert_eq!(
        r["github_releases"][0]["assets"].as_array().unwrap().len(),
        5
    );
    // The real registry's namespace (default ghcr.io/akidb) is kept on the stand-in.
    assert_eq!(
        r["repositories"],
        serde_json::json!(["akidb/akidb", "akidb/charts/akidb"]),
        "{r:#}"
    );
    assert_eq!(r["origin_tags"][0], format!("v{NEW}"));
    assert_eq!(r["announcements"], 1);
    assert!(all.contains("the verifications (fmt, clippy, deny, advisories, tests) are not run"));
    assert_eq!(
        fx.snapshot(),
        before,
        "the rehearsal changed the workspace or its origin"
    );
}

/// A protected `main` (a pre-receive hook on origin refuses pushes to it, as branch
/// protection does): the release commit and tag go to a `release/vX.Y.Z` branch with a pull
/// request into main, the rest of the release completes, and a rerun of the step finds the
/// open pull request instead of opening a second one.
#[test]
fn protected_main_goes_through_a_branch_and_a_pull_request() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    let hook = fx.origin.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\nwhile read old new ref; do\n  if [ \"$ref\" = refs/heads/main ]; then\n    echo \"GH006: Protected branch update failed for refs/heads/main.\" >&2; exit 1\n  fi\ndone\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let main_before = git(&fx.origin, &["rev-parse", "refs/heads/main"]);
    let reg = Registry::start(&fx.tmp.path().join("registry"));
    let gh = FakeGitHub::start();
    let env = [
        ("GITHUB_TOKEN", "test-token"),
        ("GITHUB_API_URL", gh.url.as_str()),
    ];
    let run = |extra: &[&str]| {
        let out = xtask_out(
            &release_args(&fx, &reg.host(), extra)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            &env,
        );
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        t
    };
    let out = run(&["--execute"]);
    assert!(out.contains("going through a pull request"), "{out}");
    assert_eq!(
        git(&fx.origin, &["rev-parse", "refs/heads/main"]),
        main_before,
        "main moved although it is protected"
    );
    let tagged = git(&fx.origin, &["rev-parse", &format!("v{NEW}^{{commit}}")]);
    assert_eq!(
        git(
            &fx.origin,
            &["rev-parse", &format!("refs/heads/release/v{NEW}")]
        ),
        tagged
    );
    let pulls = gh.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!(pulls[0]["head"], format!("release/v{NEW}"));
    assert_eq!(pulls[0]["base"], "main");
    assert!(
        state(&fx)["steps"]["github"].is_object(),
        "the release did not complete"
    );
    // Rerunning the step: the open pull request is found, not opened again.
    let again = run(&["--execute", "--only", "tag"]);
    assert!(again.contains("(already open)"), "{again}");
    assert_eq!(gh.pulls().len(), 1);
    // `--via push` refuses to go around the protection.
    let refused = xtask_out(
        &release_args(
            &fx,
            &reg.host(),
            &["--execute", "--only", "tag", "--via", "push"],
        )
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
        &env,
    );
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("GH006"), "{}", text(&refused));
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[test]
fn bad_inputs_are_refused_before_any_change() {
    let fx = Fixture::new();
    let root = fx.root.to_string_lossy().to_string();
    let gh = FakeGitHub::start();
    let attempt = |version: &str, token: bool| {
        let mut env = vec![("GITHUB_API_URL", gh.url.as_str())];
        if token {
            env.push(("GITHUB_TOKEN", "t"));
        }
        let o = xtask_out(
            &[
                "release",
                version,
                "--execute",
                "--skip-tests",
                "--registry",
                "127.0.0.1:9/akidb",
                "--binary",
                "linux/arm64=/bin/true",
                "--workspace",
                &root,
            ],
            &env,
        );
        assert!(
            !o.status.success(),
            "release {version} was accepted:\n{}",
            text(&o)
        );
        text(&o)
    };
    let check = |version: &str, token: bool, needle: &str| {
        let before = fx.snapshot();
        let out = attempt(version, token);
        assert!(
            out.contains(needle),
            "release {version}: expected {needle:?} in\n{out}"
        );
        assert!(out.contains("nothing was changed"), "{out}");
        assert_eq!(fx.snapshot(), before, "release {version} changed something");
    };
    check("1.3.0", true, "lower than the current version 1.4.0");
    check("1.5", true, "is not a semantic version");
    check("banana", true, "is not a semantic version");
    check("1.4.0", true, "already at 1.4.0");
    check("1.5.0", false, "GITHUB_TOKEN is not set");

    std::fs::write(fx.root.join("stray.txt"), "x").unwrap();
    check("1.5.0", true, "the working tree is dirty: stray.txt");
    std::fs::remove_file(fx.root.join("stray.txt")).unwrap();

    git(&fx.root, &["tag", "v1.5.0", "HEAD~1"]);
    check("1.5.0", true, "tag v1.5.0 already exists locally");
    git(&fx.root, &["tag", "-d", "v1.5.0"]);
    git(
        &fx.root,
        &["push", "-q", "origin", "HEAD~2:refs/tags/v1.5.0"],
    );
    check("1.5.0", true, "tag v1.5.0 already exists on origin");
    git(&fx.root, &["push", "-q", "origin", ":refs/tags/v1.5.0"]);

    git(&fx.root, &["switch", "-q", "-c", "feature"]);
    check("1.5.0", true, "releases are cut from \"main\"");
    git(&fx.root, &["switch", "-q", "main"]);
    assert_eq!(gh.request_count(), 0);
}

#[test]
fn image_and_chart_are_reproducible() {
    let fx = Fixture::new();
    let (amd, arm) = binaries();
    let root = fx.root.to_string_lossy().to_string();
    let build = |out: &str| {
        let dir = fx.tmp.path().join(out);
        let o = xtask_out(
            &[
                "image",
                "--workspace",
                &root,
                "--binary",
                &format!("linux/amd64={}", amd.display()),
                "--binary",
                &format!("linux/arm64={}", arm.display()),
                "--out",
                &dir.to_string_lossy(),
            ],
            &[],
        );
        assert!(o.status.success(), "{}", text(&o));
        let index = std::fs::read(dir.join("oci/index.json")).unwrap();
        (text(&o), index)
    };
    let (a, ia) = build("img-a");
    let (b, ib) = build("img-b");
    let digests = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains("sha256:"))
            .map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(digests(&a), digests(&b));
    assert_eq!(digests(&a).len(), 3, "{a}");
    assert_eq!(ia, ib, "OCI layouts differ between two builds");
    assert!(
        a.contains("linux/amd64") && a.contains("linux/arm64"),
        "{a}"
    );
    // skopeo reads the layout as a valid OCI image.
    require_tool("skopeo");
    let layout = fx.tmp.path().join("img-a/oci");
    let raw = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        &format!("oci:{}:1.4.0", layout.display()),
    ]));
    assert!(
        raw.contains("application/vnd.oci.image.index.v1+json"),
        "{raw}"
    );

    let chart = |out: &str| {
        let dir = fx.tmp.path().join(out);
        let o = xtask_out(
            &[
                "chart",
                "--workspace",
                &root,
                "--out",
                &dir.to_string_lossy(),
            ],
            &[],
        );
        assert!(o.status.success(), "{}", text(&o));
        std::fs::read(dir.join("akidb-1.4.0.tgz")).unwrap()
    };
    let (ca, cb) = (chart("chart-a"), chart("chart-b"));
    assert_eq!(ca, cb, "chart archives differ between two runs");

    // Same file layout as `helm package` (top folder = chart name, .helmignore honoured).
    let names = |bytes: &[u8]| -> BTreeSet<String> {
        tar::Archive::new(flate2::read::GzDecoder::new(bytes))
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().to_string())
            .filter(|p| !p.ends_with('/'))
            .collect()
    };
    let helm_dir = fx.tmp.path().join("helm-pkg");
    helm_tool(&[
        "package",
        &fx.root.join("helm/akidb").to_string_lossy(),
        "--destination",
        &helm_dir.to_string_lossy(),
    ]);
    let helm_bytes = std::fs::read(helm_dir.join("akidb-1.4.0.tgz")).unwrap();
    let ours = names(&ca);
    assert_eq!(ours, names(&helm_bytes));
    assert!(
        ours.contains("akidb/Chart.yaml")
            && !ours
                .iter()
                .any(|n| n.contains("ci/") || n.ends_with(".swp")),
        "{ours:?}"
    );
}

#[test]
fn rollback_deletes_the_tag_and_reports_what_stays() {
    let fx = Fixture::new();
    let gh = FakeGitHub::start();
    let env = [("GITHUB_TOKEN", "t"), ("GITHUB_API_URL", gh.url.as_str())];
    let root = fx.root.to_string_lossy().to_string();
    // Steps 1-2 only: the bump stays uncommitted, rollback must restore the files.
    let before = fx.snapshot();
    for step in ["bump", "changelog"] {
        let o = xtask_out(
            &[
                "release",
                NEW,
                "--execute",
                "--skip-tests",
                "--only",
                step,
                "--registry",
                "127.0.0.1:9/akidb",
                "--workspace",
                &root,
            ],
            &env,
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    assert!(!git(&fx.root, &["status", "--porcelain"]).is_empty());
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
        &env,
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("restored the uncommitted release edits"),
        "{out}"
    );
    assert_eq!(
        fx.snapshot().replace("state=true", "state=false"),
        before.replace("state=true", "state=false")
    );

    // Through step 3 (commit, tag, push), then rollback: tags go, the pushed commit is reported.
    for step in ["bump", "changelog", "tag"] {
        let o = xtask_out(
            &[
                "release",
                NEW,
                "--execute",
                "--skip-tests",
                "--only",
                step,
                "--registry",
                "127.0.0.1:9/akidb",
                "--workspace",
                &root,
            ],
            &env,
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    assert_eq!(
        git(&fx.origin, &["cat-file", "-t", "refs/tags/v1.5.0"]),
        "tag"
    );
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
        &env,
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("deleted tag v1.5.0 on origin") && out.contains("deleted local tag v1.5.0"),
        "{out}"
    );
    assert!(
        out.contains("is already on origin/main: revert it"),
        "{out}"
    );
    assert!(git(&fx.root, &["tag", "-l", "v1.5.0"]).is_empty());
    assert!(git(&fx.origin, &["tag", "-l", "v1.5.0"]).is_empty());
}

#[test]
fn the_preflight_asks_the_registry_whether_it_accepts_the_push() {
    let fx = Fixture::new();
    let root = fx.root.to_string_lossy().to_string();
    let attempt = |host: &str| {
        let reg = format!("{host}/akidb");
        xtask_out(
            &[
                "release",
                NEW,
                "--execute",
                "--skip-tests",
                "--only",
                "chart",
                "--registry",
                &reg,
                "--workspace",
                &root,
            ],
            &[],
        )
    };
    // Read-only (maintenance): refused before any step, nothing changed.
    let ro = Registry::start_read_only(&fx.tmp.path().join("ro"));
    let before = fx.snapshot();
    let o = attempt(&ro.host());
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "✗ registry: registry {} refuses a push to akidb/akidb (HTTP 405",
            ro.host()
        )),
        "{out}"
    );
    assert!(out.contains("nothing was changed"), "{out}");
    assert!(!out.contains("[5/8] chart"), "{out}");
    assert_eq!(fx.snapshot(), before);

    // Writable: the probe passes and stores nothing (the chart step then stops on the
    // un-bumped Chart.yaml, which is not what this test is about).
    let rw = Registry::start(&fx.tmp.path().join("rw"));
    let o = attempt(&rw.host());
    let out = text(&o);
    assert!(!out.contains("refuses a push"), "{out}");
    assert!(out.contains("[5/8] chart"), "{out}");
    assert!(
        !rw.get("/v2/akidb/akidb/tags/list").contains("\"tags\":["),
        "the probe pushed something"
    );
}
