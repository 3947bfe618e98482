//! `cargo xtask bench tiers`: the object store and the tiers on a real S3 server.
//! Runs `akidb-engine`'s `tier_bench` example (SeaweedFS on loopback): small-object
//! operations per second and snapshot-sized transfer MB/s through AkiDB's S3 client, with
//! boto3 doing the same against the same server in the same run
//! (`xtask/scripts/bench_tiers_boto3.py`); then dev-pydoc-50k through the engine: search
//! latency while hot and the first answer after demotion to warm and to cold. Prints a
//! markdown table and writes it into the "Tiers" section of `docs/benchmarks.md`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::{load_average, pip_install, run_capture};
use crate::provision::{ensure_weed, workspace_root};

/// Arguments of `cargo xtask bench tiers`.
#[derive(clap::Args)]
pub struct Args {
    /// Build the benchmark with `--release` instead of the (optimised) dev profile.
    #[arg(long)]
    release: bool,
    /// Small objects per measurement.
    #[arg(long, default_value_t = 2000)]
    objects: usize,
    /// Size of each small object in bytes.
    #[arg(long, default_value_t = 1024)]
    object_bytes: usize,
    /// Concurrent requests for the small-object measurements.
    #[arg(long, default_value = "1,16")]
    concurrency: String,
    /// Size of the transfer file in MiB (snapshot-sized).
    #[arg(long, default_value_t = 64)]
    transfer_mb: usize,
    /// Demote-then-search rounds per tier (the median is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Dataset directory (default: AKIDB_DATASET_DIR or ../shared/datasets/dev-pydoc-50k).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Print the table without rewriting docs/benchmarks.md.
    #[arg(long)]
    no_write: bool,
}

/// Runs `cargo xtask bench tiers`.
pub fn run(args: Args) -> Result<()> {
    let root = workspace_root();
    let dataset = super::dataset_dir(args.dataset, &["base.f32.npy", "base.jsonl"])?;
    let weed = ensure_weed()?;
    let pydeps = root.join("target/pydeps-boto3");
    pip_install(&pydeps, "import boto3", &["boto3"])?;

    let mut cargo: Vec<String> = ["run", "-p", "akidb-engine", "--example", "tier_bench"]
        .map(String::from)
        .to_vec();
    if args.release {
        cargo.push("--release".into());
    }
    cargo.push("--".into());
    for (flag, value) in [
        ("--objects", args.objects.to_string()),
        ("--object-bytes", args.object_bytes.to_string()),
        ("--concurrency", args.concurrency.clone()),
        ("--transfer-mb", args.transfer_mb.to_string()),
        ("--cold-rounds", args.rounds.to_string()),
        (
            "--peer-script",
            root.join("xtask/scripts/bench_tiers_boto3.py")
                .display()
                .to_string(),
        ),
    ] {
        cargo.push(flag.into());
        cargo.push(value);
    }
    let load_before = load_average();
    let out = run_capture(
        &root,
        "cargo",
        &cargo,
        &[
            ("AKIDB_TEST_WEED", weed.display().to_string()),
            (
                "AKIDB_DATASET_DIR",
                dataset.canonicalize()?.display().to_string(),
            ),
            ("PYTHONPATH", pydeps.display().to_string()),
        ],
    )?;
    let load_after = load_average();
    let lines: Vec<Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).with_context(|| format!("bad line {l}")))
        .collect::<Result<_>>()?;
    let table = table(&lines)?;
    println!("{table}");
    println!("load average before: {load_before}; after: {load_after}");
    if args.no_write {
        return Ok(());
    }
    let date = super::utc_now()?;
    let profile = if args.release {
        "`--release`"
    } else {
        "the dev profile (opt-level 2, dependencies 3)"
    };
    let section = format!(
        "## Tiers: object store and tier transitions on SeaweedFS\n\n\
Command (starts SeaweedFS on free loopback ports, runs `akidb-engine`'s `tier_bench`\n\
example built with {profile}, then boto3 against the same server; prints the table and\n\
rewrites this section; `--no-write` only prints):\n\n\
```sh\ncargo xtask bench tiers             # add --release for a release build\n```\n\n\
Small objects: {objects} objects of {bytes} bytes, each operation timed over all of them,\n\
one request at a time and with concurrent requests (AkiDB: tokio tasks sharing one\n\
`S3Store`; boto3: threads sharing one client). Transfers: a {mb} MiB file, the median\n\
of 3 uploads (AkiDB: multipart above 16 MiB, 8 MiB parts, 4 in flight; boto3:\n\
`upload_file` with its default 8 MiB parts on 10 threads) and downloads. Tiers:\n\
dev-pydoc-50k (50,000 × 384, cosine) in one collection, snapshot uploaded; \"hot\" is\n\
the latency of k=10 searches; \"warm\"/\"cold\" is the first search after `demote`\n\
(promotion included: warm loads the local snapshot and graphs; cold also downloads\n\
the snapshot and verifies every sha256), median of {rounds} rounds, each answer checked\n\
against the hot one.\n\n\
The machine is a shared 2-core VM; SeaweedFS, the benchmark and the client share the\n\
two cores. Measured {date} (load average before: {load_before}; after: {load_after}):\n\n\
{table}\n\
Targets from issue 4: more than 500 small-object operations/s; cold → first answer\n\
for 50k × 384 ≤ 1 s.\n",
        objects = args.objects,
        bytes = args.object_bytes,
        mb = args.transfer_mb,
        rounds = args.rounds,
        date = date,
    );
    let doc_path = super::write_doc_section("docs/benchmarks.md", "## Tiers", &section)?;
    eprintln!("wrote the Tiers section of {}", doc_path.display());
    Ok(())
}

/// One markdown table from the JSON lines of `tier_bench` and the boto3 script.
fn table(lines: &[Value]) -> Result<String> {
    let find = |what: &str, pred: &dyn Fn(&Value) -> bool| -> Option<&Value> {
        lines.iter().find(|v| v["what"] == what && pred(v))
    };
    let mut ops: BTreeMap<(u64, String), BTreeMap<String, f64>> = BTreeMap::new();
    for v in lines.iter().filter(|v| v["what"] == "object_ops") {
        let c = v["concurrency"].as_u64().unwrap_or(0);
        let op = v["op"].as_str().unwrap_or("?").to_string();
        let imp = v["impl"].as_str().unwrap_or("?").to_string();
        ops.entry((c, op))
            .or_default()
            .insert(imp, v["ops_per_s"].as_f64().unwrap_or(0.0));
    }
    if ops.is_empty() {
        bail!("tier_bench printed no object_ops lines");
    }
    let mut t = String::from(
        "| measurement | AkiDB | boto3 (same server) | AkiDB / boto3 |\n|---|---:|---:|---:|\n",
    );
    let row = |t: &mut String, name: String, ours: Option<f64>, theirs: Option<f64>, unit: &str| {
        let f = |x: Option<f64>| x.map_or("—".to_string(), |x| format!("{x:.0} {unit}"));
        let ratio = match (ours, theirs) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => "—".into(),
        };
        t.push_str(&format!(
            "| {name} | {} | {} | {ratio} |\n",
            f(ours),
            f(theirs)
        ));
    };
    const ORDER: [&str; 4] = ["put", "get", "head", "delete"];
    let mut keys: Vec<&(u64, String)> = ops.keys().collect();
    keys.sort_by_key(|(c, op)| (*c, ORDER.iter().position(|o| o == op)));
    for key in keys {
        let m = &ops[key];
        row(
            &mut t,
            format!(
                "{} {} B objects, {} in flight",
                key.1,
                lines_bytes(lines),
                key.0
            ),
            m.get("akidb").copied(),
            m.get("boto3").copied(),
            "ops/s",
        );
    }
    for op in ["upload", "download"] {
        let get = |imp: &str| {
            find("transfer", &|v| v["op"] == op && v["impl"] == imp)
                .and_then(|v| v["mb_per_s"].as_f64())
        };
        row(
            &mut t,
            format!("snapshot-sized {op}"),
            get("akidb"),
            get("boto3"),
            "MB/s",
        );
    }
    let mut tiers =
        String::from("\n| tier (dev-pydoc-50k, 50k × 384) | search latency |\n|---|---:|\n");
    if let Some(h) = find("search", &|v| v["tier"] == "hot") {
        tiers.push_str(&format!(
            "| hot (k=10, {} queries) | p50 {:.2} ms, p99 {:.2} ms |\n",
            h["queries"],
            h["p50_ms"].as_f64().unwrap_or(0.0),
            h["p99_ms"].as_f64().unwrap_or(0.0)
        ));
    }
    for tier in ["warm", "cold"] {
        let v = find("first_answer", &|v| v["tier"] == tier)
            .with_context(|| format!("tier_bench printed no first_answer for {tier}"))?;
        tiers.push_str(&format!(
            "| {tier} → first answer | median {:.0} ms (min {:.0} ms) |\n",
            v["median_ms"].as_f64().unwrap_or(0.0),
            v["min_ms"].as_f64().unwrap_or(0.0)
        ));
    }
    if let Some(s) = find("snapshot", &|_| true) {
        tiers.push_str(&format!(
            "| snapshot size / write + upload | {:.1} MiB / {:.2} s |\n",
            s["bytes"].as_f64().unwrap_or(0.0) / (1 << 20) as f64,
            s["write_and_upload_s"].as_f64().unwrap_or(0.0)
        ));
    }
    Ok(t + &tiers)
}

fn lines_bytes(lines: &[Value]) -> u64 {
    lines
        .iter()
        .find(|v| v["what"] == "object_ops")
        .and_then(|v| v["bytes"].as_u64())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_puts_both_clients_side_by_side() {
        let text = r#"{"what":"object_ops","impl":"akidb","op":"put","concurrency":1,"objects":10,"bytes":1024,"ops_per_s":600.0}
{"what":"object_ops","impl":"boto3","op":"put","concurrency":1,"objects":10,"bytes":1024,"ops_per_s":300.0}
{"what":"transfer","impl":"akidb","op":"upload","mb":64,"mb_per_s":50.0}
{"what":"search","tier":"hot","queries":300,"p50_ms":1.5,"p99_ms":4.0}
{"what":"first_answer","tier":"warm","median_ms":700.0,"min_ms":650.0}
{"what":"first_answer","tier":"cold","median_ms":950.0,"min_ms":900.0}"#;
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let t = table(&lines).unwrap();
        assert!(
            t.contains("| put 1024 B objects, 1 in flight | 600 ops/s | 300 ops/s | 2.00× |"),
            "{t}"
        );
        assert!(
            t.contains("| snapshot-sized upload | 50 MB/s | — | — |"),
            "{t}"
        );
        assert!(
            t.contains("| cold → first answer | median 950 ms (min 900 ms) |"),
            "{t}"
        );
        assert!(table(&lines[3..]).is_err(), "no object lines is an error");
    }
}
