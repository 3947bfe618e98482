//! Collections, points and search through the embedded API, including bad input.

use std::time::Duration;

use akidb_core::{CollectionConfig, Filter, Metric, Payload, Point, PointId, SearchRequest};
use akidb_engine::{Database, EngineConfig};

fn payload(v: serde_json::Value) -> Payload {
    v.as_object().unwrap().clone()
}

fn small_db(dir: &std::path::Path, seg: usize) -> Database {
    let mut cfg = EngineConfig::new(dir);
    cfg.segment_max_points = seg;
    Database::open_with(cfg).unwrap()
}

#[test]
fn catalog_create_list_get_drop() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let info = db
        .create_collection(CollectionConfig::new("a", 4, Metric::L2))
        .unwrap();
    assert_eq!(info.points, 0);
    assert_eq!(info.dimension, 4);
    db.create_collection(CollectionConfig::new("b", 2, Metric::Dot))
        .unwrap();
    let err = db
        .create_collection(CollectionConfig::new("a", 4, Metric::L2))
        .unwrap_err();
    assert_eq!(err.code(), "collection_already_exists");
    let err = db
        .create_collection(CollectionConfig::new("bad name", 4, Metric::L2))
        .unwrap_err();
    assert_eq!(err.code(), "invalid_collection_name");
    let err = db
        .create_collection(CollectionConfig::new("z", 0, Metric::L2))
        .unwrap_err();
    assert_eq!(err.code(), "invalid_dimension");
    let names: Vec<_> = db.list_collections().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(dir.path().join("collections/a/config.json").exists());
    db.drop_collection("a").unwrap();
    assert_eq!(
        db.collection("a").unwrap_err().code(),
        "collection_not_found"
    );
    assert_eq!(
        db.drop_collection("a").unwrap_err().code(),
        "collection_not_found"
    );
    assert!(!dir.path().join("collections/a").exists());
    assert_eq!(
        db.upsert("a", vec![]).unwrap_err().code(),
        "collection_not_found"
    );
    db.shutdown().unwrap();
    drop(db);
    let db = Database::open(dir.path()).unwrap();
    let names: Vec<_> = db.list_collections().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["b"]);
    // The name is free again after a drop.
    db.create_collection(CollectionConfig::new("a", 3, Metric::Cosine))
        .unwrap();
    assert_eq!(db.collection("a").unwrap().dimension, 3);
}

#[test]
fn bad_points_and_queries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    db.create_collection(CollectionConfig::new("c", 3, Metric::Cosine))
        .unwrap();
    let e = db
        .upsert("c", vec![Point::new(1, vec![1.0, 2.0], Payload::new())])
        .unwrap_err();
    assert_eq!(e.code(), "dimension_mismatch");
    let e = db
        .upsert(
            "c",
            vec![Point::new(1, vec![1.0, f32::NAN, 0.0], Payload::new())],
        )
        .unwrap_err();
    assert_eq!(e.code(), "invalid_vector");
    let e = db
        .upsert(
            "c",
            vec![Point::new(1, vec![0.0, 0.0, 0.0], Payload::new())],
        )
        .unwrap_err();
    assert_eq!(e.code(), "invalid_vector");
    let big = payload(serde_json::json!({"t": "x".repeat(70_000)}));
    let e = db
        .upsert("c", vec![Point::new(1, vec![1.0, 0.0, 0.0], big)])
        .unwrap_err();
    assert_eq!(e.code(), "payload_too_large");
    // A batch with one bad point writes nothing.
    let e = db
        .upsert(
            "c",
            vec![
                Point::new(1, vec![1.0, 0.0, 0.0], Payload::new()),
                Point::new(2, vec![1.0], Payload::new()),
            ],
        )
        .unwrap_err();
    assert_eq!(e.code(), "dimension_mismatch");
    assert_eq!(db.collection("c").unwrap().points, 0);
    assert_eq!(
        db.get("c", &PointId::Num(1)).unwrap_err().code(),
        "point_not_found"
    );

    db.upsert(
        "c",
        vec![Point::new(1, vec![1.0, 0.0, 0.0], Payload::new())],
    )
    .unwrap();
    let mut q = SearchRequest::new(vec![1.0, 0.0, 0.0], 0);
    assert_eq!(db.search("c", &q).unwrap_err().code(), "invalid_k");
    q.k = 10_001;
    assert_eq!(db.search("c", &q).unwrap_err().code(), "invalid_k");
    q.k = 1;
    q.ef = Some(0);
    assert_eq!(db.search("c", &q).unwrap_err().code(), "invalid_ef");
    let q = SearchRequest::new(vec![1.0, 0.0], 1);
    assert_eq!(db.search("c", &q).unwrap_err().code(), "dimension_mismatch");
    let q = SearchRequest::new(vec![f32::INFINITY, 0.0, 0.0], 1);
    assert_eq!(db.search("c", &q).unwrap_err().code(), "invalid_vector");
    let q = SearchRequest::new(vec![0.0, 0.0, 0.0], 1);
    assert_eq!(db.search("c", &q).unwrap_err().code(), "invalid_vector");
    let q = SearchRequest::new(vec![1.0, 0.0, 0.0], 1);
    assert_eq!(
        db.search("nope", &q).unwrap_err().code(),
        "collection_not_found"
    );
}

#[test]
fn upsert_replaces_get_delete_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path(), 7);
    db.create_collection(CollectionConfig::new("p", 2, Metric::L2))
        .unwrap();
    let mut pts = Vec::new();
    for i in 0..40u64 {
        let section = if i % 4 == 0 { "faq" } else { "library" };
        pts.push(Point::new(
            i,
            vec![i as f32, 0.0],
            payload(serde_json::json!({"section": section, "n": i})),
        ));
    }
    pts.push(Point {
        id: PointId::string("doc-x").unwrap(),
        vector: vec![100.0, 0.0],
        payload: Payload::new(),
    });
    assert_eq!(db.upsert("p", pts).unwrap(), 41);
    assert_eq!(db.collection("p").unwrap().points, 41);
    // Replace point 3: moves it far away.
    db.upsert(
        "p",
        vec![Point::new(
            3,
            vec![-50.0, 0.0],
            payload(serde_json::json!({"section": "moved"})),
        )],
    )
    .unwrap();
    assert_eq!(db.collection("p").unwrap().points, 41);
    let p3 = db.get("p", &PointId::Num(3)).unwrap();
    assert_eq!(p3.vector, vec![-50.0, 0.0]);
    assert_eq!(p3.payload["section"], "moved");

    let mut q = SearchRequest::new(vec![3.2, 0.0], 3);
    q.with_vector = true;
    let hits = db.search("p", &q).unwrap();
    let ids: Vec<_> = hits.iter().map(|h| h.id.clone()).collect();
    assert_eq!(ids, [PointId::Num(4), PointId::Num(2), PointId::Num(5)]);
    assert!(
        (hits[0].score - 0.8).abs() < 1e-5,
        "l2 score is the distance"
    );
    assert_eq!(hits[0].vector.as_deref(), Some(&[4.0f32, 0.0][..]));
    assert_eq!(hits[0].payload.as_ref().unwrap()["n"], 4);

    // Ties are broken by id: 2 and 4 are both at distance 1 from 3.
    let hits = db
        .search("p", &SearchRequest::new(vec![3.0, 0.0], 2))
        .unwrap();
    assert_eq!(hits[0].id, PointId::Num(2));
    assert_eq!(hits[1].id, PointId::Num(4));

    let faq: Filter = serde_json::from_value(
        serde_json::json!({"must":[{"key":"section","match":{"value":"faq"}}]}),
    )
    .unwrap();
    let mut q = SearchRequest::new(vec![9.0, 0.0], 3);
    q.filter = Some(faq.clone());
    let ids: Vec<_> = db
        .search("p", &q)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(ids, [PointId::Num(8), PointId::Num(12), PointId::Num(4)]);

    assert_eq!(
        db.delete("p", &[PointId::Num(8), PointId::Num(999)])
            .unwrap(),
        1
    );
    assert_eq!(db.delete("p", &[PointId::Num(8)]).unwrap(), 0);
    let ids: Vec<_> = db
        .search("p", &q)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(ids, [PointId::Num(12), PointId::Num(4), PointId::Num(16)]);
    assert_eq!(db.delete_by_filter("p", &faq).unwrap(), 9);
    assert!(db.search("p", &q).unwrap().is_empty());
    assert_eq!(db.collection("p").unwrap().points, 41 - 10);
    assert!(db.wait_indexed("p", Duration::from_secs(30)).unwrap());
    let report = db.compact("p").unwrap();
    assert_eq!(report.live_points, 31);
    // 10 deletes + 1 overwritten copy; automatic compaction (ratio > 0.2) may have dropped some first.
    assert!(report.removed_points <= 11);
    assert_eq!(db.stats().collections[0].deleted_points, 0);
    let hits = db
        .search("p", &SearchRequest::new(vec![3.2, 0.0], 3))
        .unwrap();
    let ids: Vec<_> = hits.iter().map(|h| h.id.clone()).collect();
    assert_eq!(ids, [PointId::Num(2), PointId::Num(5), PointId::Num(1)]);
    assert_eq!(
        db.get("p", &PointId::string("doc-x").unwrap())
            .unwrap()
            .vector,
        vec![100.0, 0.0]
    );
}

#[test]
fn batch_search_in_request_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    db.create_collection(CollectionConfig::new("b", 2, Metric::Dot))
        .unwrap();
    db.upsert(
        "b",
        vec![
            Point::new(1, vec![1.0, 0.0], Payload::new()),
            Point::new(2, vec![0.0, 1.0], Payload::new()),
        ],
    )
    .unwrap();
    let mut r1 = SearchRequest::new(vec![0.0, 2.0], 1);
    r1.with_payload = false;
    let r2 = SearchRequest::new(vec![3.0, 0.0], 2);
    let out = db.search_batch("b", &[r1, r2]).unwrap();
    assert_eq!(out[0][0].id, PointId::Num(2));
    assert_eq!(out[0][0].payload, None);
    assert_eq!(out[0][0].score, 2.0);
    assert_eq!(out[1][0].id, PointId::Num(1));
    assert_eq!(out[1][0].score, 3.0);
    assert_eq!(out[1][1].score, 0.0);
    let bad = SearchRequest::new(vec![1.0], 1);
    assert_eq!(
        db.search_batch("b", &[bad]).unwrap_err().code(),
        "dimension_mismatch"
    );
}

#[test]
fn concurrent_writers_share_fsyncs_and_read_their_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path(), 500);
    db.create_collection(CollectionConfig::new("w", 4, Metric::L2))
        .unwrap();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..100u64 {
                    let id = t * 1000 + i;
                    let v = vec![id as f32, 1.0, 2.0, 3.0];
                    db.upsert("w", vec![Point::new(id, v.clone(), Payload::new())])
                        .unwrap();
                    // Read-your-writes: visible right after the upsert returns.
                    let hits = db.search("w", &SearchRequest::new(v, 1)).unwrap();
                    assert_eq!(hits[0].id, PointId::Num(id));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(db.collection("w").unwrap().points, 800);
    let stats = &db.stats().collections[0];
    assert_eq!(stats.wal_appends, 800);
    assert!(
        stats.wal_fsyncs < stats.wal_appends,
        "group commit shares fsyncs: {stats:?}"
    );
    drop(db);
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.collection("w").unwrap().points, 800);
    assert_eq!(db.get("w", &PointId::Num(7099)).unwrap().vector[0], 7099.0);
}

#[test]
fn back_to_back_snapshots_with_no_writes_between_get_distinct_names() {
    // The oracle once hit `snapshot_exists`: same LSN, same millisecond, same name.
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    db.create_collection(CollectionConfig::new("t", 2, Metric::L2))
        .unwrap();
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let info = db.snapshot("t").unwrap();
        let id = info.snapshot_id;
        assert!(ids.insert(id.clone()), "duplicate snapshot id {id}");
    }
}
