//! `cargo xtask chaos --k8s` orchestration against the scripted cluster of the deploy tests: each
//! scenario issues the right kubectl calls, verifies acknowledged points through the
//! port-forward, and always removes its faults (NetworkPolicy, CPU limit).

mod ops_fake;
mod ops_support;

#[allow(dead_code)]
#[path = "../src/smoke.rs"]
mod smoke;

#[allow(dead_code)]
#[path = "../src/deploy/mod.rs"]
mod deploy;

#[allow(dead_code)]
#[path = "../src/chaos.rs"]
mod chaos;

use clap::Parser;
use ops_fake::FakeCluster;
use ops_support::http::{Behaviour, FakeServer};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    Chaos(chaos::Args),
}

fn args(extra: &[&str]) -> chaos::Args {
    let mut argv = vec![
        "xtask",
        "chaos",
        "--k8s",
        "--namespace",
        "prod",
        "--phase",
        "300ms",
        "--writers",
        "2",
        "--recovery-timeout",
        "10s",
    ];
    argv.extend_from_slice(extra);
    let Cmd::Chaos(a) = Cli::try_parse_from(argv).expect("valid arguments").cmd;
    a
}

#[test]
fn pod_kill_kills_every_round_and_verifies_acknowledged_points() {
    let pod = FakeServer::start(Behaviour::default());
    let mut cluster = FakeCluster::with_blue_live(pod.clone());
    let report = chaos::run_scenarios(
        &mut cluster,
        &args(&["--scenario", "pod-kill", "--kills", "3"]),
    )
    .expect("scenario passes");
    assert!(
        report[0].contains("3 kills") && report[0].contains("all present"),
        "{report:?}"
    );
    let kills = cluster
        .calls
        .iter()
        .filter(|c| {
            c.contains("delete pod -l app.kubernetes.io/name=akidb,akidb.io/color=blue force=true")
        })
        .count();
    assert_eq!(kills, 3, "{:?}", cluster.calls);
    assert_eq!(
        cluster
            .calls
            .iter()
            .filter(|c| c.contains("rollout status statefulset/akidb-blue"))
            .count(),
        3
    );
    let reads = pod
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /api/v1/collections/chaos_") && r.contains("/points/"))
        .count();
    assert!(reads > 0, "acknowledged points were read back");
}

#[test]
fn lost_points_fail_the_scenario() {
    // A "pod" that acknowledges writes but cannot read them back models a lost write.
    let pod = FakeServer::start(Behaviour {
        missing: vec!["getpoint"],
        ..Default::default()
    });
    let mut cluster = FakeCluster::with_blue_live(pod);
    let err = chaos::run_scenarios(
        &mut cluster,
        &args(&["--scenario", "pod-kill", "--kills", "1"]),
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("PodKill") && msg.contains("acknowledged points lost"),
        "{msg}"
    );
}

#[test]
fn s3_partition_opens_the_breaker_and_always_removes_the_policy() {
    let pod = FakeServer::start(Behaviour::default());
    let mut cluster = FakeCluster::with_blue_live(pod);
    let report = chaos::run_scenarios(&mut cluster, &args(&["--scenario", "s3-partition"]))
        .expect("scenario passes");
    assert!(report[0].contains("DLQ peaked at 3"), "{report:?}");
    assert!(cluster
        .calls
        .iter()
        .any(|c| c == "kubectl -n prod apply NetworkPolicy akidb-chaos-deny-s3"));
    assert!(cluster
        .calls
        .iter()
        .any(|c| c == "kubectl -n prod delete networkpolicy akidb-chaos-deny-s3"));

    // A breaker that never opens fails the scenario, and the policy is still removed.
    let pod = FakeServer::start(Behaviour {
        missing: vec!["metrics"],
        ..Default::default()
    });
    let mut cluster = FakeCluster::with_blue_live(pod);
    assert!(chaos::run_scenarios(&mut cluster, &args(&["--scenario", "s3-partition"])).is_err());
    assert_eq!(
        cluster.calls.last().unwrap(),
        "kubectl -n prod delete networkpolicy akidb-chaos-deny-s3"
    );
}

#[test]
fn cpu_limit_is_applied_and_undone() {
    let pod = FakeServer::start(Behaviour::default());
    let mut cluster = FakeCluster::with_blue_live(pod.clone());
    let report =
        chaos::run_scenarios(&mut cluster, &args(&["--scenario", "cpu-limit"])).expect("passes");
    assert!(report[0].contains("answered 200"), "{report:?}");
    let set = cluster
        .calls
        .iter()
        .position(|c| c == "kubectl -n prod set resources statefulset/akidb-blue --limits=cpu=250m")
        .unwrap();
    let undo = cluster
        .calls
        .iter()
        .position(|c| c == "kubectl -n prod rollout undo statefulset/akidb-blue")
        .unwrap();
    assert!(set < undo);
    assert!(pod.requests().iter().any(|r| r.ends_with("/search")));
}

#[test]
fn cascading_kills_s3_and_akidb_together() {
    let pod = FakeServer::start(Behaviour::default());
    let mut cluster = FakeCluster::with_blue_live(pod);
    chaos::run_scenarios(
        &mut cluster,
        &args(&["--scenario", "cascading", "--s3-selector", "app=minio"]),
    )
    .expect("passes");
    let s3 = cluster
        .calls
        .iter()
        .position(|c| c.contains("delete pod -l app=minio force=true"))
        .unwrap();
    let akidb = cluster
        .calls
        .iter()
        .position(|c| c.contains("delete pod -l app.kubernetes.io/name=akidb,akidb.io/color=blue"))
        .unwrap();
    assert_eq!(akidb, s3 + 1, "killed together: {:?}", cluster.calls);
}

#[test]
fn without_a_deployment_or_k8s_flag_nothing_runs() {
    let pod = FakeServer::start(Behaviour::default());
    let mut cluster = FakeCluster::new(pod);
    let err = chaos::run_scenarios(&mut cluster, &args(&[])).unwrap_err();
    assert!(err.to_string().contains("deploy first"), "{err}");
    let Cmd::Chaos(a) = Cli::try_parse_from(["xtask", "chaos"]).unwrap().cmd;
    assert!(chaos::run(a)
        .unwrap_err()
        .to_string()
        .contains("needs --k8s"));
}
