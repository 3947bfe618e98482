//! Aliases and scroll `order_by` through the embedded API (issue #16).

use std::collections::HashSet;
use std::time::Duration;

use akidb_core::{
    AliasAction, AliasInfo, CollectionConfig, Direction, IndexParams, Metric, OrderBy, OrderValue,
    Payload, Point, PointId, ScrollRequest, SearchRequest,
};
use akidb_engine::{Database, EngineConfig, WalSync};
use serde_json::json;

fn db(dir: &std::path::Path) -> Database {
    let mut cfg = EngineConfig::new(dir);
    cfg.segment_max_points = 2_000;
    cfg.wal_sync = WalSync::Never;
    Database::open_with(cfg).unwrap()
}

fn config(name: &str) -> CollectionConfig {
    let mut c = CollectionConfig::new(name, 4, Metric::L2);
    c.index = IndexParams {
        m: 4,
        ef_construction: 8,
        ..IndexParams::default()
    };
    c
}

fn payload(v: serde_json::Value) -> Payload {
    v.as_object().unwrap().clone()
}

fn create(alias: &str, collection: &str) -> AliasAction {
    AliasAction::Create {
        alias: alias.into(),
        collection: collection.into(),
    }
}

fn info(alias: &str, collection: &str) -> AliasInfo {
    AliasInfo {
        alias: alias.into(),
        collection: collection.into(),
    }
}

#[test]
fn aliases_resolve_persist_and_follow_drops() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path());
    for c in ["c1", "c2"] {
        db.create_collection(config(c)).unwrap();
        db.upsert(
            c,
            vec![Point::new(1, vec![0.0; 4], payload(json!({ "coll": c })))],
        )
        .unwrap();
    }
    db.update_aliases(&[create("a", "c1"), create("b", "c1")])
        .unwrap();
    let hits = db
        .search("a", &SearchRequest::new(vec![0.0; 4], 1))
        .unwrap();
    assert_eq!(hits[0].payload.as_ref().unwrap()["coll"], "c1");
    assert_eq!(db.collection("a").unwrap().name, "c1");
    assert_eq!(db.count("b", None).unwrap(), 1);
    // Swap `a` to c2 in one atomic list.
    db.update_aliases(&[AliasAction::Delete { alias: "a".into() }, create("a", "c2")])
        .unwrap();
    let hits = db
        .search("a", &SearchRequest::new(vec![0.0; 4], 1))
        .unwrap();
    assert_eq!(hits[0].payload.as_ref().unwrap()["coll"], "c2");
    // A failing list changes nothing.
    let err = db
        .update_aliases(&[
            AliasAction::Delete { alias: "a".into() },
            create("x", "nope"),
        ])
        .unwrap_err();
    assert_eq!(err.code(), "collection_not_found");
    assert_eq!(db.list_aliases(), vec![info("a", "c2"), info("b", "c1")]);
    assert_eq!(
        db.create_collection(config("a")).unwrap_err().code(),
        "alias_conflict"
    );
    assert_eq!(db.collection_aliases("c1").unwrap(), vec![info("b", "c1")]);
    assert_eq!(db.collection_aliases("b").unwrap(), vec![info("b", "c1")]);
    // Dropping goes by the collection's own name only.
    assert_eq!(
        db.drop_collection("b").unwrap_err().code(),
        "collection_not_found"
    );
    db.shutdown().unwrap();
    drop(db);

    let db = self::db(dir.path());
    assert_eq!(db.list_aliases(), vec![info("a", "c2"), info("b", "c1")]);
    db.drop_collection("c1").unwrap();
    assert_eq!(db.list_aliases(), vec![info("a", "c2")]);
    assert_eq!(
        db.count("b", None).unwrap_err().code(),
        "collection_not_found"
    );
    db.shutdown().unwrap();
    drop(db);
    let db = self::db(dir.path());
    assert_eq!(db.list_aliases(), vec![info("a", "c2")]);
    // A new collection may take the name of the removed alias.
    db.create_collection(config("b")).unwrap();
}

fn ordered(key: &str, direction: Direction, limit: usize) -> ScrollRequest {
    ScrollRequest {
        filter: None,
        limit,
        offset: None,
        with_payload: true,
        with_vector: false,
        order_by: Some(OrderBy::new(key, direction).unwrap()),
        order_offset: None,
    }
}

/// The position a point sorts at, as the test computes it.
fn value_of(p: &Payload) -> Option<OrderValue> {
    match p.get("rank") {
        Some(serde_json::Value::Number(n)) => Some(OrderValue::Num(n.as_f64().unwrap())),
        Some(serde_json::Value::String(s)) => Some(OrderValue::Str(s.clone())),
        _ => None,
    }
}

fn rank_payload(i: u64) -> Payload {
    match i % 11 {
        0 => payload(json!({})),
        1 => payload(json!({ "rank": format!("r{}", i % 7) })),
        2 => payload(json!({ "rank": true })),
        _ => payload(json!({ "rank": (i % 13) as f64 / 2.0 })),
    }
}

/// Ordered pages, across sealed and mutable segments, equal a sort computed here; ties in
/// value continue across page boundaries by id.
#[test]
fn order_by_pages_equal_a_sort() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path());
    db.create_collection(config("o")).unwrap();
    let n = 5_000u64;
    let pts: Vec<Point> = (0..n)
        .map(|i| Point::new(i, vec![i as f32; 4], rank_payload(i)))
        .collect();
    db.upsert("o", pts).unwrap();
    db.wait_indexed("o", Duration::from_secs(60)).unwrap();
    for direction in [Direction::Asc, Direction::Desc] {
        let mut expected: Vec<(OrderValue, PointId)> = (0..n)
            .filter_map(|i| value_of(&rank_payload(i)).map(|v| (v, PointId::Num(i))))
            .collect();
        expected.sort_by(|a, b| {
            let v = match direction {
                Direction::Asc => a.0.cmp(&b.0),
                Direction::Desc => b.0.cmp(&a.0),
            };
            v.then(a.1.cmp(&b.1))
        });
        let mut req = ordered("rank", direction, 97);
        let mut got = Vec::new();
        loop {
            let page = db.scroll("o", &req).unwrap();
            assert!(page.next_offset.is_none());
            got.extend(page.points.into_iter().map(|r| r.id));
            match page.next_order_offset {
                Some(c) => req.order_offset = Some(c),
                None => break,
            }
        }
        let want: Vec<PointId> = expected.into_iter().map(|(_, id)| id).collect();
        assert_eq!(got, want, "{direction:?}");
    }
    // Cursor kinds do not mix.
    let mut bad = ordered("rank", Direction::Asc, 5);
    bad.offset = Some(PointId::Num(3));
    assert_eq!(db.scroll("o", &bad).unwrap_err().code(), "invalid_offset");
}

/// An ordered scan while another thread inserts and deletes points: no id twice, values in
/// order, and every point that lived through the whole scan returned.
#[test]
fn ordered_scroll_is_consistent_under_concurrent_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path());
    db.create_collection(config("w")).unwrap();
    let n = 20_000u64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let pts = chunk
            .iter()
            .map(|&i| Point::new(i, vec![0.5; 4], payload(json!({ "rank": i % 101 }))))
            .collect();
        db.upsert("w", pts).unwrap();
    }
    let deleted: Vec<PointId> = (0..n).filter(|i| i % 20 == 7).map(PointId::Num).collect();
    let writer = {
        let db = db.clone();
        let deleted = deleted.clone();
        std::thread::spawn(move || {
            for (round, del) in deleted.chunks(50).enumerate() {
                let base = n + round as u64 * 100;
                let pts = (base..base + 100)
                    .map(|i| Point::new(i, vec![0.5; 4], payload(json!({ "rank": i % 101 }))))
                    .collect();
                db.upsert("w", pts).unwrap();
                db.delete("w", del).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let mut req = ordered("rank", Direction::Desc, 50);
    let mut seen = HashSet::new();
    let mut last: Option<(OrderValue, PointId)> = None;
    loop {
        let page = db.scroll("w", &req).unwrap();
        for r in &page.points {
            assert!(seen.insert(r.id.clone()), "{:?} returned twice", r.id);
            let v = value_of(r.payload.as_ref().unwrap()).unwrap();
            if let Some((lv, lid)) = &last {
                assert!(
                    v < *lv || (v == *lv && r.id > *lid),
                    "out of order at {:?}",
                    r.id
                );
            }
            last = Some((v, r.id.clone()));
        }
        match page.next_order_offset {
            Some(c) => req.order_offset = Some(c),
            None => break,
        }
    }
    writer.join().unwrap();
    let deleted: HashSet<PointId> = deleted.into_iter().collect();
    for i in 0..n {
        let id = PointId::Num(i);
        if !deleted.contains(&id) {
            assert!(
                seen.contains(&id),
                "{id:?} lived through the scan but was not returned"
            );
        }
    }
}
