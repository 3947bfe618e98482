//! Get-many, scroll, count and payload updates through the embedded API (issue #16).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use akidb_core::{
    CollectionConfig, Filter, IndexParams, Metric, Payload, PayloadUpdate, Point, PointId,
    PointSelector, ScrollRequest,
};
use akidb_engine::{Database, EngineConfig, WalSync};
use rand::{Rng, SeedableRng};
use serde_json::json;

fn payload(v: serde_json::Value) -> Payload {
    v.as_object().unwrap().clone()
}

fn db(dir: &std::path::Path, seg: usize) -> Database {
    let mut cfg = EngineConfig::new(dir);
    cfg.segment_max_points = seg;
    cfg.wal_sync = WalSync::Never;
    Database::open_with(cfg).unwrap()
}

fn small_config(name: &str, dim: usize) -> CollectionConfig {
    let mut c = CollectionConfig::new(name, dim, Metric::L2);
    c.index = IndexParams {
        m: 4,
        ef_construction: 8,
        ..IndexParams::default()
    };
    c
}

fn vector(i: u64, dim: usize) -> Vec<f32> {
    (0..dim)
        .map(|d| ((i * 31 + d as u64) % 97) as f32)
        .collect()
}

fn id_of(i: u64) -> PointId {
    if i % 10 == 3 {
        PointId::Str(format!("p{i:07}"))
    } else {
        PointId::Num(i)
    }
}

fn scroll_req(offset: Option<PointId>, limit: usize) -> ScrollRequest {
    ScrollRequest {
        filter: None,
        limit,
        offset,
        with_payload: false,
        with_vector: false,
        order_by: None,
        order_offset: None,
    }
}

/// A full scroll while another thread upserts 5,000 new points, re-upserts 500 and deletes
/// 1,000: no id twice, ids ascending, and every point that lived through the scan returned.
#[test]
fn scroll_is_consistent_under_concurrent_writes() {
    const DIM: usize = 8;
    const N: u64 = 50_000;
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path(), 20_000);
    db.create_collection(small_config("s", DIM)).unwrap();
    for chunk in (0..N).collect::<Vec<_>>().chunks(5_000) {
        let pts = chunk
            .iter()
            .map(|&i| Point::new(id_of(i), vector(i, DIM), payload(json!({"i": i}))))
            .collect();
        db.upsert("s", pts).unwrap();
    }
    let deleted: HashSet<PointId> = (0..N).filter(|i| i % 50 == 7).map(id_of).collect();
    assert_eq!(deleted.len(), 1_000);
    let writer = {
        let db = db.clone();
        let deleted: Vec<PointId> = deleted.iter().cloned().collect();
        std::thread::spawn(move || {
            for b in 0..50u64 {
                let new = (0..100)
                    .map(|j| {
                        let i = N + b * 100 + j;
                        Point::new(id_of(i), vector(i, DIM), Payload::new())
                    })
                    .collect();
                db.upsert("s", new).unwrap();
                // Overwrites move a point to the mutable segment: it must still come once.
                let again = (0..10)
                    .map(|j| {
                        let i = (b * 997 + j * 13) % N;
                        Point::new(id_of(i), vector(i + 1, DIM), Payload::new())
                    })
                    .filter(|p| !deleted.contains(&p.id))
                    .collect();
                db.upsert("s", again).unwrap();
                db.delete("s", &deleted[b as usize * 20..(b as usize + 1) * 20])
                    .unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let mut seen: Vec<PointId> = Vec::new();
    let mut offset = None;
    loop {
        let page = db.scroll("s", &scroll_req(offset.clone(), 100)).unwrap();
        seen.extend(page.points.into_iter().map(|r| r.id));
        match page.next_offset {
            Some(next) => {
                assert_eq!(Some(&next), seen.last());
                offset = Some(next);
            }
            None => break,
        }
    }
    writer.join().unwrap();
    for w in seen.windows(2) {
        assert!(
            w[0] < w[1],
            "ids not strictly ascending: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
    let seen: HashSet<PointId> = seen.into_iter().collect();
    for i in 0..N {
        let id = id_of(i);
        if !deleted.contains(&id) {
            assert!(
                seen.contains(&id),
                "{id} lived through the scan but was not returned"
            );
        }
    }
    // After the writes, a scroll returns exactly the live points.
    let mut all = BTreeSet::new();
    let mut offset = None;
    loop {
        let page = db.scroll("s", &scroll_req(offset, 10_000)).unwrap();
        all.extend(page.points.into_iter().map(|r| r.id));
        offset = page.next_offset;
        if offset.is_none() {
            break;
        }
    }
    assert_eq!(all.len() as u64, N + 5_000 - 1_000);
    assert_eq!(db.count("s", None).unwrap(), N + 5_000 - 1_000);
}

#[test]
fn scroll_pages_filter_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path(), 7);
    db.create_collection(small_config("c", 2)).unwrap();
    let pts = (0..30u64)
        .map(|i| Point::new(id_of(i), vector(i, 2), payload(json!({"even": i % 2 == 0}))))
        .collect();
    db.upsert("c", pts).unwrap();
    let filter =
        Filter::from_json(&json!({"must":[{"key":"even","match":{"value":true}}]})).unwrap();
    let mut req = scroll_req(None, 4);
    req.filter = Some(filter);
    req.with_payload = true;
    req.with_vector = true;
    let mut got = Vec::new();
    loop {
        let page = db.scroll("c", &req).unwrap();
        assert!(page.points.len() <= 4);
        for r in &page.points {
            assert_eq!(r.payload.as_ref().unwrap()["even"], json!(true));
            assert_eq!(r.vector.as_ref().unwrap().len(), 2);
        }
        got.extend(page.points.into_iter().map(|r| r.id));
        req.offset = page.next_offset;
        if req.offset.is_none() {
            break;
        }
    }
    let mut want: Vec<PointId> = (0..30u64).filter(|i| i % 2 == 0).map(id_of).collect();
    want.sort();
    assert_eq!(got, want);
    for limit in [0, 10_001] {
        let err = db.scroll("c", &scroll_req(None, limit)).unwrap_err();
        assert_eq!(err.code(), "invalid_limit");
    }
    // Get many: request order, missing ids absent, repeats once.
    let ids = vec![
        PointId::Num(5),
        PointId::Num(999),
        id_of(3),
        PointId::Num(5),
    ];
    let got = db.get_many("c", &ids, true, false).unwrap();
    let got_ids: Vec<_> = got.iter().map(|r| r.id.clone()).collect();
    assert_eq!(got_ids, vec![PointId::Num(5), id_of(3)]);
    assert!(got[0].vector.is_none());
    assert_eq!(got[0].payload.as_ref().unwrap()["even"], json!(false));
}

fn random_payload(rng: &mut impl Rng) -> Payload {
    let mut p = Payload::new();
    if rng.gen_bool(0.8) {
        p.insert("a".into(), json!(rng.gen_range(0..5)));
    }
    if rng.gen_bool(0.7) {
        p.insert("b".into(), json!(["x", "y", "z"][rng.gen_range(0..3)]));
    }
    if rng.gen_bool(0.5) {
        let n = rng.gen_range(0..3);
        let arr: Vec<i64> = (0..n).map(|_| rng.gen_range(0..4)).collect();
        p.insert("c".into(), json!(arr));
    }
    if rng.gen_bool(0.5) {
        p.insert("d".into(), json!(rng.gen_range(0.0..10.0)));
    }
    if rng.gen_bool(0.1) {
        p.insert("a".into(), serde_json::Value::Null);
    }
    p
}

fn random_condition(rng: &mut impl Rng, depth: u32) -> serde_json::Value {
    match rng.gen_range(0..if depth > 0 { 7 } else { 6 }) {
        0 => json!({"key":"a","match":{"value": rng.gen_range(0..5)}}),
        1 => {
            let other = ["y", "z"][rng.gen_range(0..2)];
            json!({"key":"b","match":{"any": ["x", other]}})
        }
        2 => json!({"key":"c","match":{"value": rng.gen_range(0..4)}}),
        3 => {
            json!({"key":"d","range":{"gte": rng.gen_range(0.0..5.0), "lt": rng.gen_range(5.0..10.0)}})
        }
        4 => {
            let op = ["is_empty", "is_null"][rng.gen_range(0..2)];
            let key = ["a", "c"][rng.gen_range(0..2)];
            let mut m = serde_json::Map::new();
            m.insert(op.into(), json!({ "key": key }));
            serde_json::Value::Object(m)
        }
        5 => json!({"has_id": [rng.gen_range(0..400u64), rng.gen_range(0..400u64)]}),
        _ => random_filter(rng, depth - 1),
    }
}

fn random_filter(rng: &mut impl Rng, depth: u32) -> serde_json::Value {
    let mut f = serde_json::Map::new();
    for clause in ["must", "should", "must_not"] {
        if rng.gen_bool(0.5) {
            let n = rng.gen_range(1..3);
            let conds: Vec<_> = (0..n).map(|_| random_condition(rng, depth)).collect();
            f.insert(clause.into(), json!(conds));
        }
    }
    if f.is_empty() {
        f.insert("must".into(), json!([random_condition(rng, 0)]));
    }
    serde_json::Value::Object(f)
}

/// Exact count = iterate every live point and `Filter::matches`, for random filters on random
/// payloads, across sealed and mutable segments, deletes and payload updates.
#[test]
fn count_agrees_with_exact_evaluation() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path(), 120);
    db.create_collection(small_config("r", 2)).unwrap();
    let mut truth: HashMap<PointId, Payload> = HashMap::new();
    for round in 0..4 {
        let pts: Vec<Point> = (0..100)
            .map(|_| {
                let id = PointId::Num(rng.gen_range(0..400));
                Point::new(id, vec![1.0, 2.0], random_payload(&mut rng))
            })
            .collect();
        for p in &pts {
            truth.insert(p.id.clone(), p.payload.clone());
        }
        db.upsert("r", pts).unwrap();
        let del: Vec<PointId> = (0..10)
            .map(|_| PointId::Num(rng.gen_range(0..400)))
            .collect();
        db.delete("r", &del).unwrap();
        for id in &del {
            truth.remove(id);
        }
        // Payload updates on sealed and mutable rows, by ids and by filter.
        let ids: Vec<PointId> = (0..20)
            .map(|_| PointId::Num(rng.gen_range(0..400)))
            .collect();
        let update = match round % 3 {
            0 => PayloadUpdate::Merge(payload(json!({"b": "z", "e": round}))),
            1 => PayloadUpdate::Overwrite(random_payload(&mut rng)),
            _ => PayloadUpdate::DeleteKeys(vec!["a".into(), "missing".into()]),
        };
        let n = db
            .update_payload("r", &PointSelector::Ids(ids.clone()), update.clone())
            .unwrap();
        let mut expect = 0;
        for id in ids.iter().collect::<HashSet<_>>() {
            if let Some(p) = truth.get_mut(id) {
                expect += 1;
                apply(p, &update);
            }
        }
        assert_eq!(n, expect);
        let f = Filter::from_json(&json!({"must":[{"key":"a","match":{"value":1}}]})).unwrap();
        let update = PayloadUpdate::Merge(payload(json!({"f": round})));
        let n = db
            .update_payload("r", &PointSelector::Filter(f.clone()), update.clone())
            .unwrap();
        let mut expect = 0;
        for (id, p) in truth.iter_mut() {
            if f.matches(id, p) {
                expect += 1;
                apply(p, &update);
            }
        }
        assert_eq!(n, expect);
        for _ in 0..60 {
            let fj = random_filter(&mut rng, 1);
            let f = Filter::from_json(&fj).unwrap();
            let want = truth.iter().filter(|(id, p)| f.matches(id, p)).count() as u64;
            assert_eq!(db.count("r", Some(&f)).unwrap(), want, "filter {fj}");
        }
        assert_eq!(db.count("r", None).unwrap(), truth.len() as u64);
    }
    // The stored payloads are the expected ones.
    let ids: Vec<PointId> = truth.keys().cloned().collect();
    for r in db.get_many("r", &ids, true, false).unwrap() {
        assert_eq!(r.payload.as_ref(), truth.get(&r.id), "payload of {}", r.id);
    }
}

fn apply(p: &mut Payload, u: &PayloadUpdate) {
    match u {
        PayloadUpdate::Merge(m) => p.extend(m.clone()),
        PayloadUpdate::Overwrite(m) => *p = m.clone(),
        PayloadUpdate::DeleteKeys(k) => k.iter().for_each(|k| {
            p.remove(k);
        }),
    }
}

/// Payload updates are logged: they survive a reopen (WAL replay), a snapshot and a
/// compaction, keep the graph of a sealed segment, and refuse oversize merges.
#[test]
fn payload_updates_are_durable_and_keep_the_graph() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = db(dir.path(), 50);
        db.create_collection(small_config("p", 2)).unwrap();
        let pts = (0..120u64)
            .map(|i| Point::new(i, vector(i, 2), payload(json!({"g": i % 3, "keep": 1}))))
            .collect();
        db.upsert("p", pts).unwrap();
        assert!(db.wait_indexed("p", Duration::from_secs(30)).unwrap());
        let built = db.stats().collections[0].indexes_built;
        let g0 = Filter::from_json(&json!({"must":[{"key":"g","match":{"value":0}}]})).unwrap();
        let n = db
            .update_payload(
                "p",
                &PointSelector::Filter(g0.clone()),
                PayloadUpdate::Merge(payload(json!({"tag": "zero"}))),
            )
            .unwrap();
        assert_eq!(n, 40);
        let tag =
            Filter::from_json(&json!({"must":[{"key":"tag","match":{"value":"zero"}}]})).unwrap();
        assert_eq!(db.count("p", Some(&tag)).unwrap(), 40);
        let n = db
            .update_payload(
                "p",
                &PointSelector::Ids(vec![PointId::Num(1), PointId::Num(2), PointId::Num(5000)]),
                PayloadUpdate::Overwrite(payload(json!({"only": true}))),
            )
            .unwrap();
        assert_eq!(n, 2);
        let n = db
            .update_payload(
                "p",
                &PointSelector::Ids(vec![PointId::Num(3)]),
                PayloadUpdate::DeleteKeys(vec!["keep".into()]),
            )
            .unwrap();
        assert_eq!(n, 1);
        // No graph was rebuilt, and search still works through it.
        let s = &db.stats().collections[0];
        assert_eq!(s.indexes_built, built);
        assert_eq!(s.segments_pending_index, 0);
        let mut req = akidb_core::SearchRequest::new(vector(7, 2), 3);
        req.filter = Some(tag.clone());
        let hits = db.search("p", &req).unwrap();
        assert_eq!(hits.len(), 3);
        assert!(hits
            .iter()
            .all(|h| h.payload.as_ref().unwrap()["tag"] == json!("zero")));
        // Oversize merge: refused, nothing changed.
        let big = "x".repeat(70_000);
        let err = db
            .update_payload(
                "p",
                &PointSelector::Ids(vec![PointId::Num(4)]),
                PayloadUpdate::Merge(payload(json!({"big": big}))),
            )
            .unwrap_err();
        assert_eq!(err.code(), "payload_too_large");
        db.shutdown().unwrap();
    }
    let check = |db: &Database| {
        let p = |i: u64| db.get("p", &PointId::Num(i)).unwrap().payload;
        assert_eq!(p(1), payload(json!({"only": true})));
        assert_eq!(p(3), payload(json!({"g": 0, "tag": "zero"})));
        assert_eq!(p(6), payload(json!({"g": 0, "keep": 1, "tag": "zero"})));
        assert_eq!(p(4), payload(json!({"g": 1, "keep": 1})));
        let tag =
            Filter::from_json(&json!({"must":[{"key":"tag","match":{"value":"zero"}}]})).unwrap();
        assert_eq!(db.count("p", Some(&tag)).unwrap(), 40);
    };
    let db2 = db(dir.path(), 50);
    check(&db2);
    db2.snapshot("p").unwrap();
    db2.compact("p").unwrap();
    check(&db2);
    db2.shutdown().unwrap();
    drop(db2);
    let db3 = db(dir.path(), 50);
    check(&db3);
}
