//! Recall on the real dataset (dev-pydoc-50k, 384-d sentence embeddings) with the
//! default index parameters, unfiltered and filtered, going through
//! PayloadIndex + plan_filtered + search exactly as the engine does.

use std::sync::Arc;
use std::time::Instant;

use akidb_core::{Filter, IndexParams, Metric, PointId};
use akidb_index::dataset::{recall_at, Dataset};
use akidb_index::{
    build_index, exact_search_offsets, plan_filtered, search_filtered, PayloadIndex, Plan, Vectors,
};

fn dataset() -> Dataset {
    let dir = Dataset::default_dir();
    Dataset::load(&dir).unwrap_or_else(|e| {
        panic!(
            "dataset dev-pydoc-50k not readable at {} ({e}); set AKIDB_DATASET_DIR or run `cargo xtask test`",
            dir.display()
        )
    })
}

#[test]
fn recall_at_10_with_default_params_unfiltered_and_filtered() {
    let ds = dataset();
    let n = ds.base.rows;
    let params = IndexParams::default();
    assert_eq!(
        (params.m, params.ef_construction, params.ef_search),
        (16, 200, 64)
    );
    // The base rows are unit length already; prepare them anyway as the engine would.
    let vectors = Arc::new(Vectors::from_rows(
        ds.base.cols,
        Metric::Cosine,
        (0..n).map(|i| ds.base.row(i)),
    ));
    let t = Instant::now();
    let index = build_index(&params, vectors.clone());
    eprintln!(
        "built HNSW over {n} rows in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let queries: Vec<Vec<f32>> = (0..ds.queries.rows)
        .map(|i| Metric::Cosine.prepare(ds.queries.row(i)).unwrap())
        .collect();

    let mut recall = 0.0;
    for (qi, q) in queries.iter().enumerate() {
        let found: Vec<u32> = index
            .search(q, 10, params.ef_search, None)
            .iter()
            .map(|n| n.offset)
            .collect();
        let truth: Vec<u32> = ds.ground_truth.row(qi)[..10]
            .iter()
            .map(|&x| x as u32)
            .collect();
        recall += recall_at(&found, &truth, 10);
    }
    let recall = recall / queries.len() as f64;
    eprintln!("unfiltered recall@10 = {recall:.4}");
    assert!(recall >= 0.95, "unfiltered recall@10 {recall:.4} < 0.95");

    let payloads = PayloadIndex::new(
        (0..n as u64).map(PointId::Num).collect(),
        ds.payloads.clone(),
    );
    let cases = [
        (
            "section=library",
            r#"{"must":[{"key":"section","match":{"value":"library"}}]}"#,
            0.50..0.65,
        ),
        (
            "section in [whatsnew, c-api, faq]",
            r#"{"must":[{"key":"section","match":{"any":["whatsnew","c-api","faq"]}}]}"#,
            0.22..0.30,
        ),
        (
            "section=faq",
            r#"{"must":[{"key":"section","match":{"value":"faq"}}]}"#,
            0.01..0.03,
        ),
    ];
    let q_used = 300;
    for (label, json, expected_share) in cases {
        let filter: Filter = serde_json::from_str(json).unwrap();
        let allowed = payloads.evaluate(&filter);
        let matching = allowed.count_ones();
        let share = matching as f64 / n as f64;
        assert!(
            expected_share.contains(&share),
            "{label}: {share:.3} of rows match"
        );
        // The bitset must agree with the filter row by row.
        for i in (0..n).step_by(97) {
            assert_eq!(
                allowed.get(i),
                filter.matches(payloads.id(i as u32), payloads.payload(i as u32)),
                "{label} row {i}"
            );
        }
        let plan = plan_filtered(matching, n, 10, params.ef_search);
        let mut recall = 0.0;
        for q in queries.iter().take(q_used) {
            let got = search_filtered(
                index.as_ref(),
                &vectors,
                q,
                10,
                params.ef_search,
                &allowed,
                n,
            );
            assert!(
                got.iter().all(|h| allowed.get(h.offset as usize)),
                "{label}: a result fails the filter"
            );
            let truth: Vec<u32> =
                exact_search_offsets(&vectors, q, 10, allowed.iter_ones().map(|i| i as u32))
                    .iter()
                    .map(|h| h.offset)
                    .collect();
            recall += recall_at(
                &got.iter().map(|h| h.offset).collect::<Vec<_>>(),
                &truth,
                10,
            );
        }
        let recall = recall / q_used as f64;
        eprintln!(
            "{label}: {:.1}% of rows, plan {plan:?}, filtered recall@10 = {recall:.4}",
            share * 100.0
        );
        assert!(
            recall >= 0.95,
            "{label}: filtered recall@10 {recall:.4} < 0.95 (plan {plan:?})"
        );
        if share > 0.2 {
            assert!(
                matches!(plan, Plan::Graph { .. }),
                "{label}: a broad filter should walk the graph"
            );
        } else {
            assert_eq!(
                plan,
                Plan::Exact,
                "{label}: a narrow filter should scan exactly"
            );
        }
        // The graph walk alone must also hold recall on the narrow filter (the planner is a speed choice).
        if share < 0.05 {
            let accept = |o: u32| allowed.get(o as usize);
            let mut walk = 0.0;
            for q in queries.iter().take(100) {
                let got: Vec<u32> = index
                    .search(q, 10, params.ef_search, Some(&accept))
                    .iter()
                    .map(|h| h.offset)
                    .collect();
                let truth: Vec<u32> =
                    exact_search_offsets(&vectors, q, 10, allowed.iter_ones().map(|i| i as u32))
                        .iter()
                        .map(|h| h.offset)
                        .collect();
                walk += recall_at(&got, &truth, 10);
            }
            let walk = walk / 100.0;
            eprintln!("{label}: graph walk alone recall@10 = {walk:.4}");
            assert!(
                walk >= 0.95,
                "{label}: filtered graph walk recall {walk:.4}"
            );
        }
    }
}
