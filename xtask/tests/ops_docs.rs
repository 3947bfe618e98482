//! The operations documents use only what exists: every URL path in them is a route of the REST
//! API (docs/api.md), every metric a stable metric name, every `AKIDB_*` variable one the server
//! reads, and every `cargo xtask` command and flag one the xtask really has.

mod ops_support;

use ops_support::{akidb_names, workspace};

const DOCS: [&str; 5] = [
    "docs/console.md",
    "docs/operations/playbooks.md",
    "docs/operations/chaos.md",
    "docs/operations/metrics.md",
    "docs/ga-release-checklist.md",
];

/// docs/api.md routes; `{}` is one path segment.
const ROUTES: [&str; 32] = [
    "/health",
    "/ready",
    "/metrics",
    "/api/v1/openapi.json",
    "/api/v1/collections",
    "/api/v1/collections/{}",
    "/api/v1/collections/{}/points",
    "/api/v1/collections/{}/points/{}",
    "/api/v1/collections/{}/points/delete",
    "/api/v1/collections/{}/points/get",
    "/api/v1/collections/{}/points/scroll",
    "/api/v1/collections/{}/points/count",
    "/api/v1/collections/{}/points/payload",
    "/api/v1/collections/{}/points/payload/delete",
    "/api/v1/collections/{}/search",
    "/api/v1/collections/{}/search/batch",
    "/api/v1/admin/collections/{}/tier",
    "/api/v1/admin/collections/{}/promote",
    "/api/v1/admin/collections/{}/demote",
    "/api/v1/admin/collections/{}/pin",
    "/api/v1/admin/collections/{}/unpin",
    "/api/v1/admin/collections/{}/compact",
    "/api/v1/admin/collections/{}/snapshot",
    "/api/v1/admin/collections/{}/snapshots",
    "/api/v1/admin/collections/{}/restore",
    "/api/v1/admin/collections/{}/handover",
    "/api/v1/admin/dlq",
    "/api/v1/admin/dlq/retry-all",
    "/api/v1/aliases",
    "/api/v1/collections/{}/aliases",
    // The route label of akidb_http_requests_total uses the template itself.
    "/api/v1/collections/{name}/search",
    "/api/v1/collections/{name}",
];

/// The server's stable metric names (docs/operations/metrics.md documents each).
use akidb_server::metrics::METRIC_NAMES as METRICS;

fn matches(route: &str, path: &str) -> bool {
    let r: Vec<&str> = route.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    r.len() == p.len() && r.iter().zip(&p).all(|(a, b)| a == b || *a == "{}")
}

/// URL paths in a document: everything starting with `/api/v1/`, and `$AKIDB/...` paths.
fn paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let stop = |c: char| c.is_whitespace() || "`'\")|,*".contains(c);
    for (i, _) in text.match_indices("/api/v1/") {
        let rest = &text[i..];
        let end = rest.find(stop).unwrap_or(rest.len());
        out.push(rest[..end].trim_end_matches(['.', ':']).to_string());
    }
    for (i, m) in text.match_indices("$AKIDB/") {
        let rest = &text[i + m.len() - 1..];
        let end = rest.find(stop).unwrap_or(rest.len());
        let p = &rest[..end];
        if !p.starts_with("/api/") {
            out.push(p.to_string());
        }
    }
    out
}

#[test]
fn every_path_in_the_docs_is_a_served_route() {
    let mut checked = 0;
    for doc in DOCS {
        let text = std::fs::read_to_string(workspace().join(doc)).unwrap();
        for p in paths(&text) {
            assert!(
                ROUTES.iter().any(|r| matches(r, &p)),
                "{doc}: {p} is not a route of the REST API"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 20,
        "too few paths found ({checked}): the extraction is broken"
    );
    assert!(paths("curl $AKIDB/ready and `/api/v1/admin/dlq/retry-all`.").len() == 2);
}

#[test]
fn every_metric_in_the_docs_is_exported() {
    let mut seen = 0;
    for doc in DOCS {
        let text = std::fs::read_to_string(workspace().join(doc)).unwrap();
        for name in akidb_names(&text, "akidb_") {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| METRICS.contains(b)))
                .unwrap_or(&name);
            assert!(
                METRICS.contains(&base),
                "{doc}: {name} is not a metric the server exports"
            );
            seen += 1;
        }
    }
    assert!(seen > 20);
}

#[test]
fn every_akidb_variable_in_the_docs_is_read_by_the_server() {
    let (known, source) = ops_support::known_env_names();
    for doc in DOCS {
        let text = std::fs::read_to_string(workspace().join(doc)).unwrap();
        for name in akidb_names(&text, "AKIDB_") {
            assert!(
                known.contains(&name),
                "{doc}: {name} unknown (known from {source})"
            );
        }
    }
}

/// `--flag` of a clap derive struct: a field `flag_name` or an explicit `long = "flag-name"`.
fn has_flag(source: &str, flag: &str) -> bool {
    let field = flag.replace('-', "_");
    source.contains(&format!("pub {field}:")) || source.contains(&format!("long = \"{flag}\""))
}

#[test]
fn every_xtask_command_in_the_docs_exists() {
    let main = std::fs::read_to_string(workspace().join("xtask/src/main.rs")).unwrap();
    let mut found = 0;
    for doc in DOCS {
        let text = std::fs::read_to_string(workspace().join(doc)).unwrap();
        for (i, m) in text.match_indices("cargo xtask ") {
            let rest = &text[i + m.len()..];
            let line = rest.lines().next().unwrap_or("");
            let line = line.split(['`', '(', ')']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            let cmd = words.next().unwrap_or("");
            let variant = format!("{}{}(", cmd[..1].to_uppercase(), &cmd[1..]);
            assert!(
                main.contains(&format!("    {variant}")),
                "{doc}: `cargo xtask {cmd}` does not exist"
            );
            found += 1;
            let own = match cmd {
                "smoke" => {
                    Some(std::fs::read_to_string(workspace().join("xtask/src/smoke.rs")).unwrap())
                }
                "deploy" => Some(
                    std::fs::read_to_string(workspace().join("xtask/src/deploy/mod.rs")).unwrap(),
                ),
                "chaos" => {
                    Some(std::fs::read_to_string(workspace().join("xtask/src/chaos.rs")).unwrap())
                }
                _ => None,
            };
            if let Some(src) = own {
                for w in words {
                    if let Some(flag) = w.strip_prefix("--") {
                        assert!(
                            has_flag(&src, flag),
                            "{doc}: `cargo xtask {cmd} --{flag}` is not a flag"
                        );
                    } else if cmd == "deploy" && w == "rollback" {
                        assert!(src.contains("Rollback,"));
                    }
                }
            }
        }
    }
    assert!(found >= 10, "only {found} xtask commands found");
}

#[test]
fn playbooks_have_every_section() {
    let text = std::fs::read_to_string(workspace().join("docs/operations/playbooks.md")).unwrap();
    let parts: Vec<&str> = text.split("\n## ").skip(1).collect();
    let titles: Vec<&str> = parts.iter().map(|p| p.lines().next().unwrap()).collect();
    assert_eq!(
        titles,
        vec![
            "High error rate",
            "High latency",
            "Data loss suspected",
            "S3 outage",
            "Damaged collection"
        ]
    );
    for p in parts {
        assert!(p.contains("**Alert:**"), "{}", &p[..30]);
        for s in [
            "### First 5 minutes",
            "### Diagnosis",
            "### Mitigation",
            "### Permanent fix",
            "### Escalation",
        ] {
            assert!(p.contains(s), "{} lacks {s}", p.lines().next().unwrap());
        }
    }
    let checklist =
        std::fs::read_to_string(workspace().join("docs/ga-release-checklist.md")).unwrap();
    for s in [
        "## 1. Pre-release verification",
        "## 2. The eight release steps",
        "## 3. Post-release monitoring",
        "## 4. Rollback",
    ] {
        assert!(checklist.contains(s), "checklist lacks {s}");
    }
    assert!(checklist.matches("**Checked by:**").count() >= 10);
    for step in [
        "**bump**",
        "**changelog**",
        "**commit + tag**",
        "**image**",
        "**chart**",
        "**GitHub release**",
        "**docs**",
        "**announce**",
    ] {
        assert!(checklist.contains(step), "release step {step}");
    }
}
