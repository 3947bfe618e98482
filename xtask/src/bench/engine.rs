//! `cargo xtask bench engine`: single-threaded k=10 search speed and recall@10 on
//! dev-pydoc-50k for an `ef` sweep — AkiDB's HNSW, the hnsw_rs adapter and Python
//! hnswlib (M=16, ef_construction=200 for all) — plus build times, then the
//! engine's ingest benchmark when `akidb-engine` ships one; with `--text` (or
//! `--text-only`) the full-text measurement (`akidb-engine`'s `text_bench` example).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use super::run_capture;
use crate::provision::workspace_root;

/// Arguments of `cargo xtask bench engine`.
#[derive(clap::Args)]
pub struct Args {
    /// Candidate list sizes to sweep.
    #[arg(long, value_delimiter = ',', default_value = "16,24,32,48,64,96,128")]
    ef: Vec<usize>,
    /// Dataset directory (default: AKIDB_DATASET_DIR or ../shared/datasets/dev-pydoc-50k).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Skip the Python hnswlib comparison.
    #[arg(long)]
    skip_hnswlib: bool,
    /// Skip the hnsw_rs adapter.
    #[arg(long)]
    skip_hnsw_rs: bool,
    /// Also run the filter-planner measurement (exact scan vs filtered walk).
    #[arg(long)]
    filtered: bool,
    /// Skip the engine ingest benchmark.
    #[arg(long)]
    skip_ingest: bool,
    /// Also run the full-text measurement (BM25 latency, dense vs BM25 vs hybrid recall).
    #[arg(long)]
    text: bool,
    /// Run only the full-text measurement.
    #[arg(long)]
    text_only: bool,
}

/// Runs `akidb-engine`'s `text_bench` example (BM25 and hybrid search on the dataset).
fn text_bench(root: &Path, dataset: &Path) -> Result<String> {
    let args = [
        "run",
        "--release",
        "-p",
        "akidb-engine",
        "--example",
        "text_bench",
        "--",
        "--queries",
        "200",
        "--dataset",
    ]
    .map(String::from)
    .into_iter()
    .chain([dataset.display().to_string()])
    .collect::<Vec<_>>();
    run_capture(root, "cargo", &args, &[])
}

/// One row of results: implementation → ef → (qps, cpu_qps, recall).
type Sweep = BTreeMap<String, BTreeMap<usize, (f64, f64, f64)>>;

fn parse_lines(text: &str, sweep: &mut Sweep, builds: &mut Vec<(String, f64)>) {
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let name = v["impl"].as_str().unwrap_or("?").to_string();
        if let Some(b) = v["build_s"].as_f64() {
            builds.push((name, b));
        } else if let (Some(ef), Some(qps), Some(r)) =
            (v["ef"].as_u64(), v["qps"].as_f64(), v["recall"].as_f64())
        {
            let cpu = v["cpu_qps"].as_f64().unwrap_or(qps);
            sweep
                .entry(name)
                .or_default()
                .insert(ef as usize, (qps, cpu, r));
        }
    }
}

const HNSWLIB_SCRIPT: &str = r#"
import json, sys, time
import numpy as np
import hnswlib

d = sys.argv[1]
efs = [int(x) for x in sys.argv[2].split(",")]
base = np.load(d + "/base.f32.npy")
queries = np.load(d + "/queries.f32.npy")
gt = np.load(d + "/gt_cosine_top100.npy")[:, :10]
index = hnswlib.Index(space="cosine", dim=base.shape[1])
index.init_index(max_elements=base.shape[0], ef_construction=200, M=16, random_seed=100)
index.set_num_threads(2)
t = time.perf_counter()
index.add_items(base, np.arange(base.shape[0]))
print(json.dumps({"impl": "hnswlib", "build_s": round(time.perf_counter() - t, 3)}), flush=True)
index.set_num_threads(1)
for ef in efs:
    index.set_ef(ef)
    for q in queries[:100]:
        index.knn_query(q, k=10)
    hits = 0
    t, c = time.perf_counter(), time.thread_time()
    for i, q in enumerate(queries):
        labels, _ = index.knn_query(q, k=10)
        hits += len(set(labels[0].tolist()) & set(gt[i].tolist()))
    wall, cpu = time.perf_counter() - t, max(time.thread_time() - c, 1e-9)
    n = len(queries)
    print(json.dumps({"impl": "hnswlib", "ef": ef, "qps": round(n / wall, 1), "cpu_qps": round(n / cpu, 1),
                      "recall": round(hits / (10 * n), 4)}), flush=True)
"#;

fn hnswlib(root: &Path, dataset: &Path, efs: &str) -> Result<String> {
    let pydeps = root.join("target/pydeps");
    let py = [("PYTHONPATH", pydeps.display().to_string())];
    super::pip_install(&pydeps, "import hnswlib, numpy", &["hnswlib", "numpy"])?;
    let script = root.join("target/bench/hnswlib_bench.py");
    std::fs::create_dir_all(script.parent().expect("parent"))?;
    std::fs::write(&script, HNSWLIB_SCRIPT)?;
    run_capture(
        root,
        "python3",
        &[
            script.display().to_string(),
            dataset.display().to_string(),
            efs.to_string(),
        ],
        &py,
    )
}

/// Hook for the engine's ingest benchmark: runs `akidb-engine`'s `ingest_bench` example when it exists.
pub fn ingest_bench(root: &Path) -> Result<Option<String>> {
    let example = root.join("crates/akidb-engine/examples/ingest_bench.rs");
    if !example.is_file() {
        eprintln!("(no {} yet: ingest benchmark skipped)", example.display());
        return Ok(None);
    }
    let args = [
        "run",
        "--release",
        "-p",
        "akidb-engine",
        "--example",
        "ingest_bench",
    ]
    .map(String::from);
    run_capture(root, "cargo", &args, &[]).map(Some)
}

/// Runs `cargo xtask bench engine`.
pub fn run(args: Args) -> Result<()> {
    let root = workspace_root();
    let dataset = super::dataset_dir(args.dataset, &["base.f32.npy"])?;
    if args.text_only {
        println!(
            "\n## Full-text and hybrid search\n\n{}",
            text_bench(&root, &dataset)?
        );
        return Ok(());
    }
    let efs = args
        .ef
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let impls = if args.skip_hnsw_rs {
        "hnsw"
    } else {
        "hnsw,hnsw_rs"
    };
    let env = [("AKIDB_DATASET_DIR", dataset.display().to_string())];
    let mut sweep = Sweep::new();
    let mut builds = Vec::new();
    let example = |extra: &[&str]| -> Result<String> {
        let mut a: Vec<String> = [
            "run",
            "--release",
            "-p",
            "akidb-index",
            "--example",
            "ann_bench",
            "--",
        ]
        .map(String::from)
        .to_vec();
        a.extend(extra.iter().map(|s| s.to_string()));
        run_capture(&root, "cargo", &a, &env)
    };
    let out = example(&["--json", "--impl", impls, "--ef", &efs])?;
    parse_lines(&out, &mut sweep, &mut builds);
    if !args.skip_hnswlib {
        let out = hnswlib(&root, &dataset, &efs)?;
        parse_lines(&out, &mut sweep, &mut builds);
    }
    println!(
        "\n## ANN search on {} (k=10, one query thread, M=16, ef_construction=200)\n",
        dataset.display()
    );
    println!("| impl | ef | QPS (wall) | QPS (per CPU-s) | recall@10 |");
    println!("|---|---:|---:|---:|---:|");
    for (name, rows) in &sweep {
        for (ef, (qps, cpu, r)) in rows {
            println!("| {name} | {ef} | {qps:.0} | {cpu:.0} | {r:.4} |");
        }
    }
    println!("\n| impl | build time (s, 2 threads) |\n|---|---:|");
    for (name, b) in &builds {
        println!("| {name} | {b:.1} |");
    }
    // Best QPS at recall@10 >= 0.95, the target comparison.
    println!("\n| impl | best QPS (per CPU-s) at recall@10 ≥ 0.95 | ef |\n|---|---:|---:|");
    for (name, rows) in &sweep {
        let best = rows
            .iter()
            .filter(|(_, v)| v.2 >= 0.95)
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        match best {
            Some((ef, (_, cpu, _))) => println!("| {name} | {cpu:.0} | {ef} |"),
            None => println!("| {name} | (recall 0.95 not reached) | |"),
        }
    }
    if args.filtered {
        println!("\n## Filter planner (exact scan vs filtered walk)\n");
        print!(
            "{}",
            example(&["--impl", "hnsw", "--ef", "32,64", "--filtered"])?
        );
    }
    if args.text {
        println!(
            "\n## Full-text and hybrid search\n\n{}",
            text_bench(&root, &dataset)?
        );
    }
    if !args.skip_ingest {
        if let Some(out) = ingest_bench(&root)? {
            println!("\n## Ingest\n\n{out}");
        }
    }
    Ok(())
}
