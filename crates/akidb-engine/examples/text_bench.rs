//! Full-text (BM25) and hybrid search, scroll throughput and count latency on
//! dev-pydoc-50k (issue #16).
//!
//! Loads the 50,000 base rows with their payloads into an embedded collection with a
//! text index on `text` (word tokenizer, lowercase, English stemmer), then for the first
//! `--queries` queries — after a full scroll (by id and ordered) and counts with and
//! without an inverted list, see [`scroll_and_count`] — (whose own sentence, from `queries.jsonl`, is the query text):
//! BM25 latency (p50/p99, single thread, k=10), and for dense, BM25, hybrid `rrf` and
//! hybrid `weighted` (alpha 0.5): recall@10 against the dense exact ground truth and the
//! share of the top-10 whose text holds the query's rarest word (the query term with the
//! smallest document frequency in the base set; words absent from the base set are not
//! candidates), beside the most possible (`min(df, 10) / 10`). Prints JSON lines, then a
//! Markdown table.
//!
//! ```text
//! cargo run --release -p akidb-engine --example text_bench -- [--queries 200] [--dataset DIR]
//! ```

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use akidb_core::{
    CollectionConfig, Fusion, HybridQuery, Metric, Point, PointId, SearchQuery, SearchRequest,
    TextIndexConfig, TextQuery,
};
use akidb_engine::{Database, EngineConfig};
use akidb_index::dataset::{read_jsonl, recall_at, Dataset};

fn main() {
    let mut n_queries = 200usize;
    let mut dataset: Option<PathBuf> = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--queries" => n_queries = it.next().and_then(|v| v.parse().ok()).expect("--queries N"),
            "--dataset" => dataset = it.next().map(PathBuf::from),
            other => panic!("unknown flag {other}; see the header of examples/text_bench.rs"),
        }
    }
    let dir = dataset.unwrap_or_else(Dataset::bench_dir);
    let ds = Dataset::load(&dir).expect("dataset");
    let qtexts = read_jsonl(&dir.join("queries.jsonl")).expect("queries.jsonl");
    let n_queries = n_queries.min(ds.queries.rows).min(qtexts.len());
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Database::open_with(EngineConfig::new(tmp.path())).expect("open");
    let mut text_cfg = TextIndexConfig::new("text");
    text_cfg.stemmer = Some("english".into());
    let mut cfg = CollectionConfig::new("bench", ds.base.cols, Metric::Cosine);
    cfg.text_index = Some(text_cfg.clone());
    db.create_collection(cfg).expect("create");
    let started = Instant::now();
    for start in (0..ds.base.rows).step_by(1000) {
        let end = (start + 1000).min(ds.base.rows);
        let points: Vec<Point> = (start..end)
            .map(|i| Point::new(i as u64, ds.base.row(i).to_vec(), ds.payloads[i].clone()))
            .collect();
        db.upsert("bench", points).expect("upsert");
    }
    db.wait_indexed("bench", Duration::from_secs(3600))
        .expect("wait");
    eprintln!(
        "loaded {} rows in {:.1} s",
        ds.base.rows,
        started.elapsed().as_secs_f64()
    );

    scroll_and_count(&db);

    // Document frequencies over the base texts, to find each query's rarest word.
    let text_of = |p: &akidb_core::Payload| {
        p.get("text")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let base_terms: Vec<HashSet<String>> = ds
        .payloads
        .iter()
        .map(|p| text_cfg.tokenize(&text_of(p)).into_iter().collect())
        .collect();
    let mut df: HashMap<&str, usize> = HashMap::new();
    for terms in &base_terms {
        for t in terms {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }

    let request = |i: usize, mode: &str| -> SearchRequest {
        let text = text_of(&qtexts[i]);
        let vector = ds.queries.row(i).to_vec();
        let mut r = SearchRequest::new(Vec::new(), 10);
        r.with_payload = false;
        r.query = match mode {
            "dense" => {
                r.vector = vector;
                None
            }
            "bm25" => Some(SearchQuery::Text(TextQuery {
                key: None,
                query: text,
            })),
            "hybrid_rrf" | "hybrid_weighted" => Some(SearchQuery::Hybrid(HybridQuery {
                vector,
                text,
                key: None,
                fusion: if mode == "hybrid_rrf" {
                    Fusion::Rrf
                } else {
                    Fusion::Weighted
                },
                alpha: Some(0.5),
            })),
            _ => unreachable!(),
        };
        r
    };

    let mut rows = Vec::new();
    for mode in ["dense", "bm25", "hybrid_rrf", "hybrid_weighted"] {
        // Warm-up (builds lazily built indexes), then timed single-threaded queries.
        for i in 0..n_queries.min(20) {
            db.search("bench", &request(i, mode)).expect("search");
        }
        let mut lat = Vec::with_capacity(n_queries);
        let (mut recall, mut rare, mut rare_n, mut empty) = (0.0, 0usize, 0usize, 0usize);
        // The most the top-10 could hold: min(df of the rarest word, 10).
        let mut ceiling = 0usize;
        for (i, qt) in qtexts.iter().enumerate().take(n_queries) {
            let req = request(i, mode);
            let t = Instant::now();
            let hits = db.search("bench", &req).expect("search");
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            if hits.is_empty() {
                empty += 1;
            }
            let found: Vec<u32> = hits
                .iter()
                .map(|h| match h.id {
                    PointId::Num(n) => n as u32,
                    _ => u32::MAX,
                })
                .collect();
            let truth: Vec<u32> = ds.ground_truth.row(i)[..10]
                .iter()
                .map(|&x| x as u32)
                .collect();
            recall += recall_at(&found, &truth, 10);
            let qterms = text_cfg.query_terms(&text_of(qt));
            if let Some(word) = qterms
                .iter()
                .filter(|t| df.get(t.as_str()).copied().unwrap_or(0) > 0)
                .min_by_key(|t| (df[t.as_str()], (*t).clone()))
            {
                rare += found
                    .iter()
                    .filter(|&&o| base_terms.get(o as usize).is_some_and(|s| s.contains(word)))
                    .count();
                rare_n += 10;
                ceiling += df[word.as_str()].min(10);
            }
        }
        lat.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
        let row = serde_json::json!({
            "mode": mode,
            "queries": n_queries,
            "p50_ms": (pct(0.5) * 1000.0).round() / 1000.0,
            "p99_ms": (pct(0.99) * 1000.0).round() / 1000.0,
            "recall_at_10": (recall / n_queries as f64 * 10000.0).round() / 10000.0,
            "rarest_word_share": (rare as f64 / rare_n.max(1) as f64 * 10000.0).round() / 10000.0,
            "rarest_word_ceiling": (ceiling as f64 / rare_n.max(1) as f64 * 10000.0).round() / 10000.0,
            "empty_results": empty,
        });
        println!("{row}");
        rows.push(row);
    }
    println!();
    println!("| search | p50 ms | p99 ms | recall@10 vs dense truth | top-10 with the rarest query word (most possible) | queries without hits |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.1} % ({:.1} %) | {} |",
            r["mode"].as_str().unwrap_or("?"),
            r["p50_ms"],
            r["p99_ms"],
            r["recall_at_10"],
            r["rarest_word_share"].as_f64().unwrap_or(0.0) * 100.0,
            r["rarest_word_ceiling"].as_f64().unwrap_or(0.0) * 100.0,
            r["empty_results"]
        );
    }
    db.shutdown().expect("shutdown");
}

/// Scroll throughput (a full scan in pages of 1,000, by id and ordered by `id` from the
/// payload) and count latency with an inverted list (`match` on `section`) and without
/// one (`range` on the numeric payload `id`, evaluated row by row); prints JSON lines and
/// a Markdown table.
fn scroll_and_count(db: &Database) {
    use akidb_core::{Direction, Filter, OrderBy, ScrollRequest};
    let mut rows = Vec::new();
    for ordered in [false, true] {
        let mut req = ScrollRequest {
            filter: None,
            limit: 1000,
            offset: None,
            with_payload: true,
            with_vector: false,
            order_by: ordered.then(|| OrderBy {
                key: "id".into(),
                direction: Direction::Asc,
            }),
            order_offset: None,
        };
        let t = Instant::now();
        let mut seen = 0usize;
        loop {
            let page = db.scroll("bench", &req).expect("scroll");
            seen += page.points.len();
            match (page.next_offset, page.next_order_offset) {
                (_, Some(c)) if ordered => req.order_offset = Some(c),
                (Some(o), _) if !ordered => req.offset = Some(o),
                _ => break,
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let row = serde_json::json!({
            "measure": if ordered { "scroll, order_by payload id" } else { "scroll by id" },
            "points": seen,
            "points_per_s": (seen as f64 / secs).round(),
        });
        println!("{row}");
        rows.push(row);
    }
    let filters = [
        ("count, no filter", None),
        (
            "count, match section=library (inverted list)",
            Some(r#"{"must":[{"key":"section","match":{"value":"library"}}]}"#),
        ),
        (
            "count, match section=faq (inverted list)",
            Some(r#"{"must":[{"key":"section","match":{"value":"faq"}}]}"#),
        ),
        (
            "count, range id < 25000 (no index: row by row)",
            Some(r#"{"must":[{"key":"id","range":{"lt":25000}}]}"#),
        ),
    ];
    for (name, filter) in filters {
        let filter: Option<Filter> = filter.map(|f| serde_json::from_str(f).expect("filter"));
        let mut n = 0;
        for _ in 0..5 {
            n = db.count("bench", filter.as_ref()).expect("count");
        }
        let mut lat: Vec<f64> = (0..50)
            .map(|_| {
                let t = Instant::now();
                db.count("bench", filter.as_ref()).expect("count");
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        lat.sort_by(f64::total_cmp);
        let row = serde_json::json!({"measure": name, "count": n,
            "p50_ms": (lat[25] * 1000.0).round() / 1000.0, "p99_ms": (lat[49] * 1000.0).round() / 1000.0});
        println!("{row}");
        rows.push(row);
    }
    println!();
    println!("| measurement | result |");
    println!("|---|---:|");
    for r in &rows {
        let result = match r.get("points_per_s") {
            Some(v) => format!(
                "{} points/s ({} points)",
                v.as_f64().unwrap_or(0.0) as u64,
                r["points"]
            ),
            None => format!(
                "p50 {} ms, p99 {} ms (count {})",
                r["p50_ms"], r["p99_ms"], r["count"]
            ),
        };
        println!("| {} | {result} |", r["measure"].as_str().unwrap_or("?"));
    }
    println!();
}
