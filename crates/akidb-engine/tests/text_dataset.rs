//! BM25 and hybrid search on the committed real subset `testdata/dev-pydoc-10k`
//! (issue #16): the 200 queries' own sentences (`queries.jsonl`) are the query texts.
//! BM25 alone and hybrid (rrf and weighted) answer every query with hits that are live,
//! the text filter agrees with `Filter::matches`, and fusing the dense ranking in keeps
//! hybrid recall@10 (against the dense ground truth) well above BM25's. The measured
//! numbers on the full 50k set are in docs/benchmarks.md (`text_bench` example).

use std::time::Duration;

use akidb_core::{
    CollectionConfig, Filter, Fusion, HybridQuery, Metric, Point, PointId, SearchQuery,
    SearchRequest, TextIndexConfig, TextQuery,
};
use akidb_engine::{Database, EngineConfig, WalSync};
use akidb_index::dataset::{read_jsonl, Dataset};

fn ids(hits: &[akidb_core::Hit]) -> Vec<u32> {
    hits.iter()
        .map(|h| match h.id {
            PointId::Num(n) => n as u32,
            _ => u32::MAX,
        })
        .collect()
}

#[test]
fn bm25_and_hybrid_answer_the_real_queries() {
    let dir = Dataset::test_subset_dir();
    let ds = Dataset::load(&dir).unwrap();
    let qtexts = read_jsonl(&dir.join("queries.jsonl")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut ecfg = EngineConfig::new(tmp.path());
    // Sealed segments with graphs plus a mutable one.
    ecfg.segment_max_points = 4_000;
    ecfg.wal_sync = WalSync::Never;
    let db = Database::open_with(ecfg).unwrap();
    let mut cfg = CollectionConfig::new("docs", ds.base.cols, Metric::Cosine);
    let mut text = TextIndexConfig::new("text");
    text.stemmer = Some("english".into());
    cfg.text_index = Some(text);
    db.create_collection(cfg).unwrap();
    for start in (0..ds.base.rows).step_by(2000) {
        let end = (start + 2000).min(ds.base.rows);
        let pts = (start..end)
            .map(|i| Point::new(i as u64, ds.base.row(i).to_vec(), ds.payloads[i].clone()))
            .collect();
        db.upsert("docs", pts).unwrap();
    }
    // Points 0..100 are deleted: they must never come back.
    db.delete("docs", &(0..100u64).map(PointId::Num).collect::<Vec<_>>())
        .unwrap();
    assert!(db.wait_indexed("docs", Duration::from_secs(600)).unwrap());

    let (mut r_bm25, mut r_rrf, mut r_weighted, mut r_dense) = (0.0, 0.0, 0.0, 0.0);
    let n = ds.queries.rows.min(qtexts.len());
    assert_eq!(n, 200);
    for (i, qt) in qtexts.iter().enumerate().take(n) {
        let q = qt["text"].as_str().unwrap().to_string();
        let vector = ds.queries.row(i).to_vec();
        let truth: Vec<u32> = ds.ground_truth.row(i)[..10]
            .iter()
            .map(|&x| x as u32)
            .filter(|&x| x >= 100)
            .collect();
        let mut req = SearchRequest::new(Vec::new(), 10);
        req.with_payload = false;
        req.query = Some(SearchQuery::Text(TextQuery {
            key: Some("text".into()),
            query: q.clone(),
        }));
        let bm25 = db.search("docs", &req).unwrap();
        assert!(!bm25.is_empty(), "query {i} ({q:?}): BM25 found nothing");
        assert!(bm25.windows(2).all(|w| w[0].score >= w[1].score));
        let mut hybrid = Vec::new();
        for fusion in [Fusion::Rrf, Fusion::Weighted] {
            req.query = Some(SearchQuery::Hybrid(HybridQuery {
                vector: vector.clone(),
                text: q.clone(),
                key: None,
                fusion,
                alpha: None,
            }));
            let hits = db.search("docs", &req).unwrap();
            assert_eq!(hits.len(), 10, "query {i}: hybrid {fusion:?}");
            hybrid.push(ids(&hits));
        }
        let dense = db.search("docs", &SearchRequest::new(vector, 10)).unwrap();
        for found in [&ids(&bm25), &hybrid[0], &hybrid[1], &ids(&dense)] {
            assert!(found.iter().all(|&x| x >= 100), "a deleted point came back");
        }
        let recall = |f: &[u32]| {
            f.iter().filter(|x| truth.contains(x)).count() as f64 / truth.len().max(1) as f64
        };
        r_bm25 += recall(&ids(&bm25));
        r_rrf += recall(&hybrid[0]);
        r_weighted += recall(&hybrid[1]);
        r_dense += recall(&ids(&dense));
    }
    let n = n as f64;
    let (r_bm25, r_rrf, r_weighted, r_dense) = (r_bm25 / n, r_rrf / n, r_weighted / n, r_dense / n);
    eprintln!("recall@10 vs dense truth: dense {r_dense:.3} bm25 {r_bm25:.3} rrf {r_rrf:.3} weighted {r_weighted:.3}");
    assert!(r_dense > 0.9, "dense {r_dense}");
    assert!(
        r_rrf > r_bm25 && r_weighted > r_bm25,
        "fusing the vector side in helps"
    );

    // The text filter agrees with row-by-row evaluation of the same condition.
    let q = qtexts[0]["text"].as_str().unwrap();
    let word = q.split_whitespace().max_by_key(|w| w.len()).unwrap();
    let f = Filter::from_json(&serde_json::json!({"must":[{"text":{"key":"text","query":word}}]}))
        .unwrap();
    let counted = db.count("docs", Some(&f)).unwrap();
    let mut bound = f.clone();
    for c in bound.text_conditions_mut() {
        if let akidb_core::Condition::Text { analyzer, .. } = c {
            let mut t = TextIndexConfig::new("text");
            t.stemmer = Some("english".into());
            *analyzer = Some(Box::new(t));
        }
    }
    let expected = (100..ds.base.rows)
        .filter(|&i| bound.matches(&PointId::Num(i as u64), &ds.payloads[i]))
        .count();
    assert_eq!(counted as usize, expected, "text filter on {word:?}");
    assert!(expected > 0);
    db.shutdown().unwrap();
}
