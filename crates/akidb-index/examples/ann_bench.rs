//! Speed and recall of AkiDB's HNSW and the hnsw_rs adapter on `dev-pydoc-50k`:
//! single-threaded k=10 queries over an `ef` sweep, build times, and (with
//! `--filtered`) the filter planner measurement: exact scan of the matches versus
//! the filtered graph walk at several selectivities.
//!
//! `cargo run --release -p akidb-index --example ann_bench -- [--impl hnsw,hnsw_rs] [--ef 16,32,64] [--json] [--filtered]`
//!
//! QPS is reported both per wall-clock second and per CPU second of the query
//! thread (`cpu_qps`), which stays meaningful on a machine busy with other work.

use std::sync::Arc;
use std::time::Instant;

use akidb_core::{Filter, IndexKind, IndexParams, Metric, PointId};
use akidb_index::dataset::{recall_at, Dataset};
use akidb_index::{
    build_index, exact_search_offsets, plan_filtered, AnnIndex, Bitset, PayloadIndex, Plan, Vectors,
};

fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Runs `f` once per query; returns (wall qps, cpu qps, mean recall@10).
fn measure(queries: usize, mut f: impl FnMut(usize) -> f64) -> (f64, f64, f64) {
    for qi in 0..queries.min(100) {
        f(qi);
    }
    let (t, c) = (Instant::now(), thread_cpu_secs());
    let mut recall = 0.0;
    for qi in 0..queries {
        recall += f(qi);
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = (thread_cpu_secs() - c).max(1e-9);
    (
        queries as f64 / wall,
        queries as f64 / cpu,
        recall / queries as f64,
    )
}

fn main() {
    let mut impls = vec!["hnsw".to_string(), "hnsw_rs".to_string()];
    let mut efs = vec![16usize, 24, 32, 48, 64, 96, 128];
    let (mut json, mut filtered) = (false, false);
    let (mut m, mut efc) = (16, 200);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--impl" => {
                impls = args
                    .next()
                    .expect("--impl LIST")
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            "--ef" => {
                efs = args
                    .next()
                    .expect("--ef LIST")
                    .split(',')
                    .map(|s| s.parse().expect("ef"))
                    .collect()
            }
            "--m" => m = args.next().expect("--m N").parse().expect("m"),
            "--efc" => efc = args.next().expect("--efc N").parse().expect("efc"),
            "--json" => json = true,
            "--filtered" => filtered = true,
            other => panic!("unknown argument {other}"),
        }
    }
    let ds = Dataset::load_bench().unwrap_or_else(|e| panic!("{e}"));
    let vectors = Arc::new(Vectors::new(
        ds.base.cols,
        Metric::Cosine,
        ds.base.data.clone(),
    ));
    let truth: Vec<Vec<u32>> = (0..ds.queries.rows)
        .map(|i| {
            ds.ground_truth.row(i)[..10]
                .iter()
                .map(|&x| x as u32)
                .collect()
        })
        .collect();
    for name in &impls {
        let kind = match name.as_str() {
            "hnsw" => IndexKind::Hnsw,
            "hnsw_rs" => IndexKind::HnswRs,
            other => panic!("unknown impl {other}"),
        };
        let params = IndexParams {
            m,
            ef_construction: efc,
            ef_search: 64,
            kind,
        };
        let (t, c) = (Instant::now(), thread_cpu_secs());
        let index = build_index(&params, vectors.clone());
        let (build_s, build_main_cpu) = (t.elapsed().as_secs_f64(), thread_cpu_secs() - c);
        if json {
            println!("{{\"impl\":\"{name}\",\"build_s\":{build_s:.3}}}");
        } else {
            println!("{name}: built {} rows in {build_s:.2}s wall (main thread cpu {build_main_cpu:.1}s)", index.len());
        }
        if filtered {
            filtered_report(&ds, &vectors, index.as_ref(), &efs);
            continue;
        }
        for &ef in &efs {
            let (qps, cpu_qps, recall) = measure(ds.queries.rows, |qi| {
                let found: Vec<u32> = index
                    .search(ds.queries.row(qi), 10, ef, None)
                    .iter()
                    .map(|n| n.offset)
                    .collect();
                recall_at(&found, &truth[qi], 10)
            });
            if json {
                println!("{{\"impl\":\"{name}\",\"ef\":{ef},\"qps\":{qps:.1},\"cpu_qps\":{cpu_qps:.1},\"recall\":{recall:.4}}}");
            } else {
                println!(
                    "  ef={ef:<4} qps={qps:>8.0} cpu_qps={cpu_qps:>8.0} recall@10={recall:.4}"
                );
            }
        }
    }
}

fn filtered_report(ds: &Dataset, vectors: &Vectors, index: &dyn AnnIndex, efs: &[usize]) {
    let n = ds.base.rows;
    let ids: Vec<PointId> = (0..n as u64).map(PointId::Num).collect();
    let payloads = PayloadIndex::new(ids, ds.payloads.clone());
    let mut sets: Vec<(String, Bitset)> = Vec::new();
    for (label, f) in [
        (
            "section=library",
            r#"{"must":[{"key":"section","match":{"value":"library"}}]}"#,
        ),
        (
            "section in whatsnew,c-api,faq",
            r#"{"must":[{"key":"section","match":{"any":["whatsnew","c-api","faq"]}}]}"#,
        ),
        (
            "section=whatsnew",
            r#"{"must":[{"key":"section","match":{"value":"whatsnew"}}]}"#,
        ),
        (
            "section=c-api",
            r#"{"must":[{"key":"section","match":{"value":"c-api"}}]}"#,
        ),
        (
            "section=faq",
            r#"{"must":[{"key":"section","match":{"value":"faq"}}]}"#,
        ),
    ] {
        let f: Filter = serde_json::from_str(f).expect("filter");
        sets.push((label.to_string(), payloads.evaluate(&f)));
    }
    // Uniformly random subsets separate the effect of selectivity from topical correlation.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for pct in [1u64, 2, 5, 10, 15, 25] {
        let mut b = Bitset::new(n);
        for i in 0..n {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state % 100 < pct {
                b.set(i);
            }
        }
        sets.push((format!("random {pct}%"), b));
    }
    let q = 300.min(ds.queries.rows);
    for (label, allowed) in &sets {
        let matching = allowed.count_ones();
        let truth: Vec<Vec<u32>> = (0..q)
            .map(|qi| {
                exact_search_offsets(
                    vectors,
                    ds.queries.row(qi),
                    10,
                    allowed.iter_ones().map(|i| i as u32),
                )
                .iter()
                .map(|n| n.offset)
                .collect()
            })
            .collect();
        let (_, exact_cpu_qps, _) = measure(q, |qi| {
            exact_search_offsets(
                vectors,
                ds.queries.row(qi),
                10,
                allowed.iter_ones().map(|i| i as u32),
            )
            .len() as f64
        });
        println!(
            "  filter {label:<32} matching={matching:>6} ({:>5.1}%) exact scan cpu_qps={exact_cpu_qps:>7.0}",
            100.0 * matching as f64 / n as f64
        );
        for &ef in efs {
            let accept = |o: u32| allowed.get(o as usize);
            let (_, raw_qps, raw_recall) = measure(q, |qi| {
                let found: Vec<u32> = index
                    .search(ds.queries.row(qi), 10, ef, Some(&accept))
                    .iter()
                    .map(|n| n.offset)
                    .collect();
                recall_at(&found, &truth[qi], 10)
            });
            let plan = plan_filtered(matching, n, 10, ef);
            let (_, plan_qps, plan_recall) = measure(q, |qi| {
                let found: Vec<u32> = akidb_index::search_filtered(
                    index,
                    vectors,
                    ds.queries.row(qi),
                    10,
                    ef,
                    allowed,
                    n,
                )
                .iter()
                .map(|n| n.offset)
                .collect();
                recall_at(&found, &truth[qi], 10)
            });
            let plan_s = match plan {
                Plan::Exact => "exact".to_string(),
                Plan::Graph { ef } => format!("graph ef={ef}"),
            };
            println!(
                "    ef={ef:<4} walk cpu_qps={raw_qps:>7.0} recall={raw_recall:.4} | planner ({plan_s}) cpu_qps={plan_qps:>7.0} recall={plan_recall:.4}"
            );
        }
    }
}
