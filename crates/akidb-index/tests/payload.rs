//! PayloadIndex evaluation equals `Filter::matches` row by row; planner and bitset basics.

use akidb_core::{Filter, Payload, PointId};
use akidb_index::{exact_scan_limit, plan_filtered, Bitset, PayloadIndex, Plan};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::json;

fn payloads(n: usize, seed: u64) -> (Vec<PointId>, Vec<Payload>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let sections = ["library", "faq", "howto", "c-api"];
    let mut ids = Vec::new();
    let mut out = Vec::new();
    for i in 0..n {
        ids.push(if i % 7 == 0 {
            PointId::Str(format!("doc-{i}"))
        } else {
            PointId::Num(i as u64)
        });
        let mut p = json!({
            "section": sections[rng.gen_range(0..sections.len())],
            "n": rng.gen_range(0..10),
            "f": if rng.gen_bool(0.5) { json!(rng.gen_range(0..3) as f64) } else { json!(0.5) },
            "tags": (0..rng.gen_range(0..3)).map(|_| sections[rng.gen_range(0..4)]).collect::<Vec<_>>(),
            "meta": {"depth": rng.gen_range(0..4), "flag": rng.gen_bool(0.3)},
        });
        if rng.gen_bool(0.2) {
            p["maybe"] = json!(null);
        }
        out.push(p.as_object().unwrap().clone());
    }
    (ids, out)
}

#[test]
fn evaluate_equals_per_row_matching() {
    let (ids, pl) = payloads(2000, 5);
    let index = PayloadIndex::new(ids.clone(), pl.clone());
    let filters = [
        json!({}),
        json!({"must":[{"key":"section","match":{"value":"library"}}]}),
        json!({"must":[{"key":"section","match":{"any":["faq","howto"]}}]}),
        json!({"must":[{"key":"n","match":{"value":3}}]}),
        json!({"must":[{"key":"n","match":{"value":3.0}}]}),
        json!({"must":[{"key":"f","match":{"value":1}}]}),
        json!({"must":[{"key":"f","match":{"value":0.5}}]}),
        json!({"must":[{"key":"tags","match":{"value":"faq"}}]}),
        json!({"must":[{"key":"meta.flag","match":{"value":true}}]}),
        json!({"must":[{"key":"meta.depth","range":{"gte":1,"lt":3}}]}),
        json!({"must":[{"is_null":{"key":"maybe"}}]}),
        json!({"must":[{"is_empty":{"key":"tags"}}]}),
        json!({"must":[{"has_id":[1, 2, "doc-14", "missing", 99999]}]}),
        json!({"should":[{"key":"section","match":{"value":"faq"}},{"key":"n","range":{"gt":7}}]}),
        json!({"must_not":[{"key":"section","match":{"value":"library"}}]}),
        json!({"must":[{"key":"section","match":{"value":"library"}}],
               "must_not":[{"must":[{"key":"n","range":{"lt":5}}]}]}),
        json!({"must":[{"key":"missing","match":{"value":"x"}}]}),
    ];
    for f in filters {
        let filter = Filter::from_json(&f).unwrap();
        let got = index.evaluate(&filter);
        assert_eq!(got.len(), ids.len());
        for i in 0..ids.len() {
            assert_eq!(
                got.get(i),
                filter.matches(&ids[i], &pl[i]),
                "filter {f} row {i}"
            );
        }
        // A second evaluation reuses the lazily built lists and agrees.
        assert_eq!(index.evaluate(&filter), got);
    }
    assert_eq!(index.offset_of(&PointId::Str("doc-14".into())), Some(14));
    assert_eq!(index.offset_of(&PointId::Num(14)), None);
    assert!(index.memory_bytes() > 0);
}

#[test]
fn planner_scans_narrow_filters_and_walks_broad_ones() {
    assert_eq!(plan_filtered(0, 1000, 10, 64), Plan::Exact);
    assert_eq!(plan_filtered(50, 1_000_000, 10, 64), Plan::Exact);
    assert_eq!(plan_filtered(1000, 50_000, 10, 64), Plan::Exact);
    assert_eq!(
        plan_filtered(29_000, 50_000, 10, 64),
        Plan::Graph { ef: 64 }
    );
    assert_eq!(
        plan_filtered(29_000, 50_000, 100, 64),
        Plan::Graph { ef: 100 }
    );
    assert_eq!(exact_scan_limit(50_000, 64), 8000);
    assert_eq!(plan_filtered(8000, 50_000, 10, 64), Plan::Exact);
    assert_eq!(plan_filtered(8001, 50_000, 10, 64), Plan::Graph { ef: 64 });
    // Larger segments make the scan relatively dearer.
    assert!(exact_scan_limit(1_000_000, 64) < 40_000);
}

#[test]
fn bitset_operations() {
    let mut a = Bitset::new(200);
    let mut b = Bitset::new(200);
    (0..200).step_by(2).for_each(|i| a.set(i));
    (0..200).step_by(3).for_each(|i| b.set(i));
    let mut and = a.clone();
    and.and(&b);
    assert_eq!(
        and.iter_ones().collect::<Vec<_>>(),
        (0..200).step_by(6).collect::<Vec<_>>()
    );
    let mut or = a.clone();
    or.or(&b);
    assert_eq!(or.count_ones(), 100 + 67 - 34);
    assert!(!a.get(1000));
}
