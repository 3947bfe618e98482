//! The operations playbooks (`docs/operations/playbooks.md`) must only use what AkiDB
//! serves: every `$AKIDB/…` request in them is sent to the real server (same method and
//! body as the `curl` line) and must answer 2xx, every `grep` on `/metrics` must match a
//! line, and every `akidb_…` metric name they mention must be exported.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use akidb_core::{CollectionConfig, Metric, Point};
use common::Server;
use serde_json::json;

fn playbooks() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations/playbooks.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One request a playbook makes: method, path (placeholders filled in) and JSON body.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Call {
    method: String,
    path: String,
    body: Option<String>,
    line: String,
}

/// Joins shell continuation lines so one `curl` command is one line.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim_end();
        if let Some(head) = t.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(t);
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

fn fill(path: &str) -> String {
    path.replace("<name>", "pb").replace("<id>", "1")
}

/// Every `curl … $AKIDB/path` in the text, in order. A line may hold several commands
/// (inline code), so each `curl` starts a new command.
fn curl_calls(text: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    for line in logical_lines(text) {
        for cmd in line.split("curl ").skip(1) {
            let cmd = cmd.split('`').next().unwrap_or("");
            let Some(at) = cmd.find("$AKIDB") else {
                continue;
            };
            let path: String = cmd[at + "$AKIDB".len()..]
                .chars()
                .take_while(|c| {
                    !c.is_whitespace() && !matches!(c, '`' | '\'' | '"' | '|' | ')' | ';')
                })
                .collect();
            let method = if cmd.contains("-X POST") {
                "POST"
            } else if cmd.contains("-X DELETE") {
                "DELETE"
            } else if cmd.contains("-X PUT") {
                "PUT"
            } else {
                "GET"
            };
            let body = cmd
                .split_once("-d '")
                .and_then(|(_, rest)| rest.split_once('\''))
                .map(|(b, _)| b.to_string());
            calls.push(Call {
                method: method.into(),
                path: fill(&path),
                body,
                line: cmd.trim().to_string(),
            });
        }
    }
    calls
}

/// Expands a regex-ish name like `akidb_(a_(sum|count)|b)` into every name it denotes.
fn expand(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('(') else {
        return vec![pattern.to_string()];
    };
    let mut depth = 0;
    let mut close = None;
    let mut splits = Vec::new();
    for (i, c) in pattern.char_indices().skip_while(|(i, _)| *i < open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            '|' if depth == 1 => splits.push(i),
            _ => {}
        }
    }
    let close = close.unwrap_or_else(|| panic!("unbalanced group in {pattern}"));
    let mut bounds = vec![open];
    bounds.extend(splits);
    bounds.push(close);
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    bounds
        .windows(2)
        .flat_map(|w| expand(&format!("{head}{}{tail}", &pattern[w[0] + 1..w[1]])))
        .collect()
}

/// Every metric name the text mentions, alternation groups expanded.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text[i..].find("akidb_") {
        let start = i + off;
        let prev_ok =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        let mut depth = 0i32;
        while end < bytes.len() {
            let c = bytes[end] as char;
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => depth -= 1,
                '|' if depth > 0 => {}
                c if c.is_ascii_alphanumeric() || c == '_' => {}
                _ => break,
            }
            end += 1;
        }
        i = end.max(start + 1);
        if !prev_ok {
            continue;
        }
        for name in expand(&text[start..end]) {
            // `akidb_…_deleted_ratio` style prose placeholders end with `_`.
            if !name.ends_with('_') {
                names.insert(name);
            }
        }
    }
    names
}

/// `curl -s $AKIDB/metrics | grep …` patterns: (is -E, pattern).
fn metric_greps(text: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    for line in logical_lines(text) {
        let Some((_, after)) = line.split_once("$AKIDB/metrics") else {
            continue;
        };
        let Some((_, grep)) = after.split_once("| grep ") else {
            continue;
        };
        let extended = grep.trim_start().starts_with("-E ");
        let grep = grep.trim_start().trim_start_matches("-E ").trim_start();
        let Some(rest) = grep.strip_prefix('\'') else {
            continue;
        };
        let Some((pattern, _)) = rest.split_once('\'') else {
            continue;
        };
        out.push((extended, pattern.to_string()));
    }
    out
}

/// Whether a metrics line matches a grep pattern of the playbooks' simple form:
/// an optional `^`, then a literal name or a name with `(a|b)` groups.
fn grep_matches(line: &str, extended: bool, pattern: &str) -> bool {
    let (anchored, pat) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let alternatives = if extended {
        expand(pat)
    } else {
        vec![pat.to_string()]
    };
    alternatives.iter().any(|a| {
        if anchored {
            line.starts_with(a.as_str())
        } else {
            line.contains(a.as_str())
        }
    })
}

#[test]
fn extraction_understands_the_playbook_syntax() {
    let text = "x `curl -s -X POST -H \"$AUTH\" $AKIDB/api/v1/admin/collections/<name>/pin` (undo)\n\
                curl -s -X POST -H \"$AUTH\" -H 'content-type: application/json' \\\n  -d '{\"to\":\"warm\"}' \\\n  $AKIDB/api/v1/admin/collections/<name>/demote\n\
                curl -s $AKIDB/metrics | grep -E '^akidb_(search_duration_seconds_(sum|count)|dlq_size)'\n";
    let calls = curl_calls(text);
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        (calls[0].method.as_str(), calls[0].path.as_str()),
        ("POST", "/api/v1/admin/collections/pb/pin")
    );
    assert_eq!(calls[1].body.as_deref(), Some("{\"to\":\"warm\"}"));
    assert_eq!(calls[2].path, "/metrics");
    let names = metric_names(text);
    assert!(
        names.contains("akidb_search_duration_seconds_sum"),
        "{names:?}"
    );
    assert!(
        names.contains("akidb_search_duration_seconds_count"),
        "{names:?}"
    );
    assert!(names.contains("akidb_dlq_size"), "{names:?}");
    let greps = metric_greps(text);
    assert_eq!(greps.len(), 1);
    assert!(grep_matches("akidb_dlq_size 0", true, &greps[0].1));
    assert!(!grep_matches(
        "akidb_points{collection=\"a\"} 1",
        true,
        &greps[0].1
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_playbook_request_and_metric_is_served() {
    let text = playbooks();
    let calls = curl_calls(&text);
    assert!(
        calls.len() >= 10,
        "only {} curl calls found in the playbooks",
        calls.len()
    );
    let names = metric_names(&text);
    assert!(
        names.len() >= 8,
        "only {} metric names found: {names:?}",
        names.len()
    );

    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]).await;
    let client = server.client();
    // The collection `<name>` and point `<id>` of the playbooks, with some traffic so
    // labelled metrics have samples.
    client
        .create_collection(&CollectionConfig::new("pb", 4, Metric::Cosine))
        .await
        .unwrap();
    let points: Vec<Point> = (1..=20u64)
        .map(|i| {
            Point::new(
                i,
                vec![i as f32, 1.0, 0.5, 0.25],
                json!({"n": i}).as_object().cloned().unwrap(),
            )
        })
        .collect();
    client.upsert("pb", &points).await.unwrap();
    client
        .search(
            "pb",
            &akidb_core::SearchRequest::new(vec![1.0, 1.0, 0.5, 0.25], 3),
        )
        .await
        .unwrap();

    // Snapshot first so that `restore latest` has something to restore, then the rest in
    // document order; each must answer 2xx.
    let mut ordered: Vec<&Call> = calls
        .iter()
        .filter(|c| c.path.ends_with("/snapshot"))
        .collect();
    ordered.extend(calls.iter().filter(|c| !c.path.ends_with("/snapshot")));
    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for call in ordered {
        if !seen.insert((call.method.clone(), call.path.clone(), call.body.clone())) {
            continue;
        }
        let url = format!("{}{}", server.rest, call.path);
        let mut req = http.request(call.method.parse().unwrap(), &url);
        if let Some(body) = &call.body {
            serde_json::from_str::<serde_json::Value>(body).unwrap_or_else(|e| {
                panic!("playbook body {body} is not JSON ({e}): {}", call.line)
            });
            req = req
                .header("content-type", "application/json")
                .body(body.clone());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let answer = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            failures.push(format!(
                "{} {} -> {status} {answer}\n    from: curl {}",
                call.method, call.path, call.line
            ));
        }
    }
    println!("checked {} distinct playbook requests", seen.len());

    let metrics = client.metrics().await.unwrap();
    let mut families = BTreeSet::new();
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            families.insert(rest.split(' ').next().unwrap().to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            families.insert(line[..end].to_string());
        }
    }
    for name in &names {
        let known = families.contains(name)
            || ["_total", "_sum", "_count", "_bucket"].iter().any(|s| {
                name.strip_suffix(s)
                    .is_some_and(|base| families.contains(base))
            });
        if !known {
            failures.push(format!(
                "metric {name} is named in the playbooks but not exported by /metrics"
            ));
        }
    }
    for (extended, pattern) in metric_greps(&text) {
        if !metrics.lines().any(|l| grep_matches(l, extended, &pattern)) {
            failures.push(format!(
                "`curl $AKIDB/metrics | grep '{pattern}'` matches no line of /metrics"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "docs/operations/playbooks.md uses what the server does not serve:\n  {}",
        failures.join("\n  ")
    );
}
