//! Blue-green orchestration of `cargo xtask deploy` against a scripted cluster that records every
//! kubectl/helm call. The "pods" behind the port-forward are real HTTP servers run by the test.

mod ops_fake;
mod ops_support;

#[allow(dead_code)]
#[path = "../src/smoke.rs"]
mod smoke;

#[allow(dead_code)]
#[path = "../src/deploy/mod.rs"]
mod deploy;

use clap::Parser;
use deploy::{Args, Colour};
use ops_fake::{selector, FakeCluster};
use ops_support::http::{Behaviour, FakeServer};
use std::time::Duration;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    Deploy(Args),
}

fn args(extra: &[&str]) -> Args {
    let mut argv = vec![
        "xtask",
        "deploy",
        "--namespace",
        "prod",
        "--version",
        "2.0.1",
        "--smoke-test-duration",
        "0s",
        "--observation-window",
        "2m",
        "--error-threshold",
        "1%",
        "--timeout",
        "90s",
        "--rollback-window",
        "5m",
    ];
    argv.extend_from_slice(extra);
    let Cmd::Deploy(a) = Cli::try_parse_from(argv).expect("valid arguments").cmd;
    a
}

fn metrics(total_ok: u64, errors: u64) -> String {
    format!(
        "# TYPE akidb_http_requests_total counter\n\
         akidb_http_requests_total{{method=\"POST\",route=\"/api/v1/collections/{{name}}/search\",status=\"200\"}} {total_ok}\n\
         akidb_http_requests_total{{method=\"POST\",route=\"/api/v1/collections/{{name}}/search\",status=\"503\"}} {errors}\n\
         akidb_build_info{{version=\"2.0.1\"}} 1\n"
    )
}

#[test]
fn upgrade_switches_to_green_and_removes_blue_after_the_window() {
    let pod = FakeServer::start(Behaviour::default());
    pod.set_metrics(&metrics(100, 0));
    let mut cluster = FakeCluster::with_blue_live(pod.clone());
    cluster.metrics_after_window = Some(metrics(1100, 3)); // 0.3 % < 1 %
    let outcome = deploy::deploy(&mut cluster, &args(&[])).expect("deploy succeeds");
    assert_eq!(outcome.previous, Some(Colour::Blue));
    assert_eq!(outcome.live, Colour::Green);
    assert_eq!(cluster.live().as_deref(), Some("green"));
    assert_eq!(
        cluster.releases.iter().cloned().collect::<Vec<_>>(),
        vec!["akidb-green".to_string()]
    );
    let calls = cluster.calls.join("\n");
    assert!(calls.contains("helm -n prod upgrade --install akidb-green helm/akidb 2.0.1 image.tag=2.0.1 color=green"), "{calls}");
    assert!(
        calls.contains("rollout status statefulset/akidb-green 90s"),
        "{calls}"
    );
    assert!(
        calls.contains("port-forward service/akidb-green :8080"),
        "{calls}"
    );
    // Order: switch first, then the rollback window, then removal of blue.
    let switch = cluster
        .calls
        .iter()
        .position(|c| c.contains("apply service akidb color=green"))
        .unwrap();
    let remove = cluster
        .calls
        .iter()
        .position(|c| c.contains("uninstall akidb-blue"))
        .unwrap();
    assert!(switch < remove, "{calls}");
    assert!(
        cluster.slept.contains(&Duration::from_secs(300)),
        "rollback window honoured: {:?}",
        cluster.slept
    );
    // The smoke checks really ran against the pod.
    let reqs = pod.requests();
    for r in [
        "GET /health",
        "GET /ready",
        "GET /metrics",
        "POST /api/v1/collections",
    ] {
        assert!(
            reqs.iter().any(|x| x.starts_with(r)),
            "{r} missing from {reqs:?}"
        );
    }
    assert!(reqs
        .iter()
        .any(|x| x.starts_with("POST /api/v1/collections/smoke_") && x.ends_with("/search")));
}

#[test]
fn first_install_creates_the_live_service_on_blue() {
    let pod = FakeServer::start(Behaviour::default());
    let mut cluster = FakeCluster::new(pod);
    let outcome = deploy::deploy(&mut cluster, &args(&[])).expect("deploy succeeds");
    assert_eq!(
        outcome,
        deploy::Outcome {
            previous: None,
            live: Colour::Blue
        }
    );
    assert_eq!(cluster.live().as_deref(), Some("blue"));
    assert!(cluster.releases.contains("akidb-blue"));
}

fn assert_rolled_back(cluster: &FakeCluster, err: &anyhow::Error, needle: &str) {
    let msg = format!("{err:#}");
    assert!(
        msg.contains(needle),
        "error should mention {needle:?}: {msg}"
    );
    assert!(msg.contains("traffic stays on blue"), "{msg}");
    assert_eq!(
        cluster.live().as_deref(),
        Some("blue"),
        "traffic on the old colour"
    );
    assert!(cluster.releases.contains("akidb-blue"), "old colour kept");
    assert!(
        !cluster.releases.contains("akidb-green"),
        "new colour removed: {:?}",
        cluster.calls
    );
    assert!(cluster
        .calls
        .iter()
        .any(|c| c == "helm -n prod uninstall akidb-green"));
}

#[test]
fn failed_readiness_keeps_blue_and_removes_green() {
    let pod = FakeServer::start(Behaviour::default());
    let mut cluster = FakeCluster::with_blue_live(pod.clone());
    cluster.ready_fails = true;
    let err = deploy::deploy(&mut cluster, &args(&[])).expect_err("readiness fails");
    assert_rolled_back(&cluster, &err, "waiting for readiness");
    assert!(
        pod.requests().is_empty(),
        "no smoke check without readiness"
    );
    assert!(
        !cluster.calls.iter().any(|c| c.contains("apply service")),
        "never switched: {:?}",
        cluster.calls
    );
}

#[test]
fn failed_smoke_keeps_blue_and_removes_green() {
    let pod = FakeServer::start(Behaviour {
        missing: vec!["search"],
        ..Default::default()
    });
    let mut cluster = FakeCluster::with_blue_live(pod);
    let err = deploy::deploy(&mut cluster, &args(&[])).expect_err("smoke fails");
    assert_rolled_back(&cluster, &err, "smoke check `search k=5` failed");
}

#[test]
fn error_rate_over_threshold_keeps_blue_and_removes_green() {
    let pod = FakeServer::start(Behaviour::default());
    pod.set_metrics(&metrics(100, 0));
    let mut cluster = FakeCluster::with_blue_live(pod);
    cluster.metrics_after_window = Some(metrics(1000, 50)); // 50 of 950 new requests = 5.3 %
    let err = deploy::deploy(&mut cluster, &args(&[])).expect_err("error rate too high");
    assert_rolled_back(&cluster, &err, "over the threshold");
    assert!(
        !cluster.calls.iter().any(|c| c.contains("apply service")),
        "never switched: {:?}",
        cluster.calls
    );
}

#[test]
fn rollback_switches_back_while_the_old_colour_exists() {
    let pod = FakeServer::start(Behaviour::default());
    let mut cluster = FakeCluster::with_blue_live(pod);
    cluster.releases.insert("akidb-green".into());
    cluster.services.insert("akidb".into(), selector("green"));
    let to = deploy::rollback(&mut cluster, &args(&[])).expect("rollback");
    assert_eq!(to, Colour::Blue);
    assert_eq!(cluster.live().as_deref(), Some("blue"));
    assert!(!cluster.releases.contains("akidb-green"));

    // Once the previous colour is gone there is nothing to switch to.
    let err = deploy::rollback(&mut cluster, &args(&[])).expect_err("green was removed");
    assert!(
        format!("{err:#}").contains("akidb-green no longer exists"),
        "{err:#}"
    );
    assert_eq!(cluster.live().as_deref(), Some("blue"));
}

#[test]
fn bad_settings_are_rejected() {
    assert!(Cli::try_parse_from(["xtask", "deploy", "--error-threshold", "150%"]).is_err());
    assert!(Cli::try_parse_from(["xtask", "deploy", "--timeout", "ten minutes"]).is_err());
    assert_eq!(
        deploy::parse_duration("5m").unwrap(),
        Duration::from_secs(300)
    );
    assert_eq!(
        deploy::parse_duration("250ms").unwrap(),
        Duration::from_millis(250)
    );
    assert_eq!(
        deploy::parse_duration("45").unwrap(),
        Duration::from_secs(45)
    );
    assert_eq!(deploy::parse_ratio("0.5%").unwrap(), 0.005);
    let pod = FakeServer::start(Behaviour::default());
    let mut cluster = FakeCluster::new(pod);
    let err = deploy::deploy(
        &mut cluster,
        &Args {
            strategy: "canary".into(),
            ..args(&[])
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("only blue-green"), "{err}");
    let err = deploy::deploy(
        &mut cluster,
        &Args {
            version: Some("v2".into()),
            ..args(&[])
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("not semver"), "{err}");
    assert!(
        cluster.calls.is_empty(),
        "nothing touched: {:?}",
        cluster.calls
    );
}

#[test]
fn request_counts_sums_5xx_over_all_routes() {
    let (t, e) = deploy::request_counts(&metrics(90, 10));
    assert_eq!((t, e), (100.0, 10.0));
    assert_eq!(
        deploy::request_counts("akidb_http_requests_total 7\nother 1\n"),
        (7.0, 0.0)
    );
}
