//! Grafana dashboards and Prometheus alert rules: `promtool check rules` passes, every `akidb_*`
//! name they use is one of the server's stable metrics (docs/operations/metrics.md), and kube-state-metrics names
//! stay in their own rule group. That the real server serves every one of them after a workload
//! (REST, gRPC, tiers, snapshots) is checked by the server's black-box metrics test.

mod ops_support;

use ops_support::{akidb_names, require_tool, workspace};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

/// The server's stable metric names (docs/operations/metrics.md documents each).
use akidb_server::metrics::METRIC_NAMES as METRICS;

const DASHBOARDS: [&str; 4] = [
    "akidb-overview",
    "akidb-latency",
    "akidb-storage-tiers",
    "akidb-object-store-dlq",
];

/// Base metric of a series name (`_bucket`, `_sum`, `_count` of a histogram map to the histogram).
fn base(name: &str) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(b) = name.strip_suffix(suffix) {
            if METRICS.contains(&b) {
                return b.to_string();
            }
        }
    }
    name.to_string()
}

fn dashboard_exprs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for d in DASHBOARDS {
        let path = workspace().join(format!("deploy/grafana/{d}.json"));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{d}.json: {e}"));
        assert_eq!(v["uid"], d);
        assert!(
            v["panels"].as_array().is_some_and(|p| p.len() >= 4),
            "{d} has panels"
        );
        for p in v["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                out.push((
                    format!("{d}: {}", p["title"]),
                    t["expr"].as_str().unwrap().to_string(),
                ));
            }
        }
        for var in v["templating"]["list"].as_array().unwrap() {
            if let Some(q) = var["query"].as_str() {
                out.push((format!("{d}: variable {}", var["name"]), q.to_string()));
            }
        }
    }
    out
}

fn alerts_text() -> String {
    std::fs::read_to_string(workspace().join("deploy/prometheus/alerts.yml")).unwrap()
}

/// Every akidb_* base name used by the dashboards and the alert rules.
fn used_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (_, e) in dashboard_exprs() {
        names.extend(akidb_names(&e, "akidb_").iter().map(|n| base(n)));
    }
    for line in alerts_text()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
    {
        // runbook_url lines name docs, not metrics.
        if !line.contains("runbook_url") {
            names.extend(akidb_names(line, "akidb_").iter().map(|n| base(n)));
        }
    }
    names
}

#[test]
fn promtool_accepts_the_alert_rules() {
    let promtool = require_tool("promtool", "prometheus");
    let out = Command::new(promtool)
        .args(["check", "rules"])
        .arg(workspace().join("deploy/prometheus/alerts.yml"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("SUCCESS"), "{text}");
}

#[test]
fn the_required_alerts_exist_with_runbooks() {
    let text = alerts_text();
    for alert in [
        "AkiDBHighErrorRate",
        "AkiDBHighLatencyP95",
        "AkiDBCircuitBreakerOpen",
        "AkiDBDeadLetterQueueGrowing",
        "AkiDBWalGrowing",
        "AkiDBPodRestarting",
    ] {
        assert!(text.contains(&format!("alert: {alert}")), "{alert} missing");
    }
    let playbooks =
        std::fs::read_to_string(workspace().join("docs/operations/playbooks.md")).unwrap();
    for anchor in [
        "high-error-rate",
        "high-latency",
        "data-loss-suspected",
        "s3-outage",
    ] {
        assert!(text.contains(&format!("playbooks.md#{anchor}")), "{anchor}");
        let heading = anchor.replace('-', " ");
        assert!(
            playbooks
                .to_lowercase()
                .lines()
                .any(|l| l.starts_with("## ") && l.contains(&heading)),
            "playbook heading for {anchor}"
        );
    }
}

#[test]
fn dashboards_and_alerts_use_only_the_server_metric_names() {
    let used = used_names();
    let unknown: Vec<&String> = used
        .iter()
        .filter(|n| !METRICS.contains(&n.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "names not exported by the server (docs/operations/metrics.md): {unknown:?}"
    );
    // Every stable metric is shown somewhere, so nothing goes unwatched.
    for m in METRICS {
        assert!(used.contains(*m), "{m} is on no dashboard and in no alert");
    }
    // kube-state-metrics only in the separate group.
    let text = alerts_text();
    let (akidb_group, k8s_group) = text
        .split_once("- name: akidb-kubernetes")
        .expect("separate kubernetes group");
    assert!(
        !akidb_group.contains("kube_"),
        "kube-state-metrics in the akidb group"
    );
    assert!(k8s_group.contains("kube_pod_container_status_restarts_total"));
    // Every name is documented for operators.
    let doc = std::fs::read_to_string(workspace().join("docs/operations/metrics.md")).unwrap();
    for m in METRICS {
        assert!(
            doc.contains(&format!("`{m}")),
            "{m} undocumented in docs/operations/metrics.md"
        );
    }
}
