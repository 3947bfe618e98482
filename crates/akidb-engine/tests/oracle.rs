//! Property tests: random collections and operation sequences against a brute-force oracle.
//!
//! Exact search must equal the oracle (scores within 1e-4, same ids modulo ties); graph
//! search must return only live points that satisfy the filter, with their true scores.

use std::collections::BTreeMap;

use akidb_core::{CollectionConfig, Filter, Metric, Payload, Point, PointId, SearchRequest};
use akidb_engine::{Database, EngineConfig};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Upsert(Vec<(u64, Vec<i8>, u8)>),
    Delete(Vec<u64>),
    DeleteTag(u8),
    Compact,
    Snapshot,
    Reopen,
    Search {
        q: Vec<i8>,
        k: usize,
        tag: Option<u8>,
        exact: bool,
    },
}

fn op(dim: usize) -> impl Strategy<Value = Op> {
    let vec = move || proptest::collection::vec(-3i8..=3, dim);
    prop_oneof![
        6 => proptest::collection::vec((0u64..40, vec(), 0u8..3), 1..12).prop_map(Op::Upsert),
        2 => proptest::collection::vec(0u64..40, 1..6).prop_map(Op::Delete),
        1 => (0u8..3).prop_map(Op::DeleteTag),
        1 => Just(Op::Compact),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Reopen),
        5 => (vec(), 1usize..12, proptest::option::of(0u8..3), any::<bool>())
            .prop_map(|(q, k, tag, exact)| Op::Search { q, k, tag, exact }),
    ]
}

fn scenario() -> impl Strategy<Value = (Metric, usize, usize, Vec<Op>)> {
    (
        prop_oneof![Just(Metric::Cosine), Just(Metric::L2), Just(Metric::Dot)],
        1usize..6,
        2usize..10,
    )
        .prop_flat_map(|(metric, dim, seg)| {
            (
                Just(metric),
                Just(dim),
                Just(seg),
                proptest::collection::vec(op(dim), 1..40),
            )
        })
}

fn tag_filter(tag: u8) -> Filter {
    serde_json::from_value(serde_json::json!({"must":[{"key":"tag","match":{"value":tag}}]}))
        .unwrap()
}

fn to_f32(v: &[i8]) -> Vec<f32> {
    v.iter().map(|&x| x as f32 * 0.5).collect()
}

struct Oracle {
    metric: Metric,
    points: BTreeMap<u64, (Vec<f32>, u8)>,
}

impl Oracle {
    fn search(&self, q: &[f32], k: usize, tag: Option<u8>) -> Vec<(u64, f32)> {
        let q = self.metric.prepare(q).unwrap();
        let mut all: Vec<(f32, u64)> = self
            .points
            .iter()
            .filter(|(_, (_, t))| tag.is_none_or(|want| *t == want))
            .map(|(id, (v, _))| (self.metric.distance(v, &q), *id))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.truncate(k);
        all.into_iter()
            .map(|(d, id)| (id, self.metric.score(d)))
            .collect()
    }

    fn score_of(&self, id: u64, q: &[f32]) -> Option<f32> {
        let q = self.metric.prepare(q).unwrap();
        self.points
            .get(&id)
            .map(|(v, _)| self.metric.score(self.metric.distance(v, &q)))
    }
}

fn open(dir: &std::path::Path, seg: usize) -> Database {
    let mut cfg = EngineConfig::new(dir);
    cfg.segment_max_points = seg;
    cfg.wal_sync = akidb_engine::WalSync::Never;
    Database::open_with(cfg).unwrap()
}

fn run(metric: Metric, dim: usize, seg: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path(), seg);
    db.create_collection(CollectionConfig::new("t", dim, metric))
        .unwrap();
    let mut oracle = Oracle {
        metric,
        points: BTreeMap::new(),
    };
    for op in ops {
        match op {
            Op::Upsert(points) => {
                let zero = points.iter().any(|(_, v, _)| v.iter().all(|&x| x == 0));
                let batch: Vec<Point> = points
                    .iter()
                    .map(|(id, v, tag)| {
                        let mut p = Payload::new();
                        p.insert("tag".into(), (*tag).into());
                        Point::new(*id, to_f32(v), p)
                    })
                    .collect();
                let res = db.upsert("t", batch);
                if metric == Metric::Cosine && zero {
                    prop_assert_eq!(res.unwrap_err().code(), "invalid_vector");
                } else {
                    prop_assert_eq!(res.unwrap(), points.len());
                    for (id, v, tag) in points {
                        oracle
                            .points
                            .insert(id, (metric.prepare(&to_f32(&v)).unwrap(), tag));
                    }
                }
            }
            Op::Delete(ids) => {
                let pids: Vec<PointId> = ids.iter().map(|&i| PointId::Num(i)).collect();
                let mut expect = 0;
                for id in &ids {
                    if oracle.points.remove(id).is_some() {
                        expect += 1;
                    }
                }
                prop_assert_eq!(db.delete("t", &pids).unwrap(), expect);
            }
            Op::DeleteTag(tag) => {
                let before = oracle.points.len();
                oracle.points.retain(|_, (_, t)| *t != tag);
                prop_assert_eq!(
                    db.delete_by_filter("t", &tag_filter(tag)).unwrap(),
                    before - oracle.points.len()
                );
            }
            Op::Compact => {
                let r = db.compact("t").unwrap();
                prop_assert_eq!(r.live_points as usize, oracle.points.len());
            }
            Op::Snapshot => {
                let s = db.snapshot("t").unwrap();
                prop_assert!(s.rows as usize >= oracle.points.len());
            }
            Op::Reopen => {
                drop(db);
                db = open(dir.path(), seg);
            }
            Op::Search { q, k, tag, exact } => {
                let qv = to_f32(&q);
                let mut req = SearchRequest::new(qv.clone(), k);
                req.exact = exact;
                req.filter = tag.map(tag_filter);
                let res = db.search("t", &req);
                if metric == Metric::Cosine && q.iter().all(|&x| x == 0) {
                    prop_assert_eq!(res.unwrap_err().code(), "invalid_vector");
                    continue;
                }
                let hits = res.unwrap();
                let want = oracle.search(&qv, k, tag);
                for w in hits.windows(2) {
                    let ordered = if metric.higher_is_better() {
                        w[0].score >= w[1].score - 1e-6
                    } else {
                        w[0].score <= w[1].score + 1e-6
                    };
                    prop_assert!(ordered, "hits out of order: {:?}", hits);
                }
                for h in &hits {
                    let PointId::Num(id) = h.id else {
                        panic!("unexpected id")
                    };
                    let truth = oracle.score_of(id, &qv);
                    prop_assert!(truth.is_some(), "hit {} is not a live point", id);
                    prop_assert!(
                        (truth.unwrap() - h.score).abs() < 1e-4,
                        "score of {} is off",
                        id
                    );
                    if let Some(t) = tag {
                        prop_assert_eq!(
                            oracle.points[&id].1,
                            t,
                            "hit {} does not match the filter",
                            id
                        );
                        prop_assert_eq!(&h.payload.as_ref().unwrap()["tag"], &serde_json::json!(t));
                    }
                }
                if exact {
                    prop_assert_eq!(hits.len(), want.len());
                    for (h, (wid, ws)) in hits.iter().zip(&want) {
                        prop_assert!(
                            (h.score - ws).abs() < 1e-4,
                            "exact search differs: got {:?}, want {:?}",
                            hits.iter().map(|h| (&h.id, h.score)).collect::<Vec<_>>(),
                            want
                        );
                        if h.id != PointId::Num(*wid) {
                            // Only a tie may swap ids.
                            prop_assert!((h.score - ws).abs() < 1e-4);
                        }
                    }
                } else {
                    prop_assert!(hits.len() <= want.len());
                }
            }
        }
        prop_assert_eq!(
            db.collection("t").unwrap().points as usize,
            oracle.points.len()
        );
    }
    // Everything survives a final restart.
    drop(db);
    let db = open(dir.path(), seg);
    prop_assert_eq!(
        db.collection("t").unwrap().points as usize,
        oracle.points.len()
    );
    for (id, (v, _)) in &oracle.points {
        let p = db.get("t", &PointId::Num(*id)).unwrap();
        prop_assert_eq!(&p.vector, v);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_brute_force((metric, dim, seg, ops) in scenario()) {
        run(metric, dim, seg, ops)?;
    }
}
