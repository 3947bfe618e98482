//! The checks behind AkiDB's fuzz targets, one function per target. Each takes arbitrary
//! bytes, feeds them to a decoder or parser that faces untrusted input, and panics only on a
//! real defect: a crash inside the parser, or a broken invariant (a decoded WAL prefix that
//! does not re-encode to the same bytes, a parsed value that does not survive a round trip).
//!
//! The same file is compiled into `crates/akidb-storage/tests/fuzz_regressions.rs`, which
//! replays every input kept in `fuzz/regressions/<target>/` on a normal `cargo test`.

use std::sync::atomic::{AtomicU64, Ordering};

use akidb_core::{CollectionConfig, Filter, Payload, Point, PointId, SearchRequest};
use akidb_storage::snapshot::{read_manifest, SnapshotManifest};
use akidb_storage::wal::{decode_records, encode_record};
use serde_json::{json, Value};

/// A fuzz target's check.
pub type Check = fn(&[u8]);

/// Every fuzz target by name, for the regression replay.
pub const TARGETS: &[(&str, Check)] = &[
    ("wal_decode", wal_decode),
    ("snapshot_manifest", snapshot_manifest),
    ("filter_parse", filter_parse),
    ("rest_bodies", rest_bodies),
];

/// WAL record decoder: never panics; what it accepts re-encodes to exactly the accepted
/// prefix, LSNs are contiguous, and damage is reported at the end of the valid prefix.
pub fn wal_decode(data: &[u8]) {
    let decoded = decode_records(data);
    assert!(
        decoded.valid_len <= data.len(),
        "valid_len beyond the input"
    );
    match &decoded.damage {
        None => assert_eq!(
            decoded.valid_len,
            data.len(),
            "no damage but input not consumed"
        ),
        Some(d) => {
            assert_eq!(d.offset, decoded.valid_len, "damage offset != valid_len");
            assert!(!d.reason.is_empty(), "damage without a reason");
        }
    }
    for w in decoded.records.windows(2) {
        assert_eq!(w[1].lsn, w[0].lsn + 1, "non-contiguous LSNs accepted");
    }
    let mut again = Vec::with_capacity(decoded.valid_len);
    for r in &decoded.records {
        assert!(r.lsn > 0, "lsn 0 accepted");
        again.extend_from_slice(&encode_record(r.lsn, &r.payload));
    }
    assert_eq!(
        &again[..],
        &data[..decoded.valid_len],
        "accepted records do not re-encode to the input"
    );
    let prefix = decode_records(&data[..decoded.valid_len]);
    assert!(
        prefix.damage.is_none(),
        "the valid prefix decodes with damage"
    );
    assert_eq!(prefix.records.len(), decoded.records.len());
}

static MANIFEST_DIRS: AtomicU64 = AtomicU64::new(0);

/// Snapshot manifest parser (`read_manifest`, the function recovery calls): never panics;
/// an accepted manifest survives a JSON round trip and its derived values are computable.
pub fn snapshot_manifest(data: &[u8]) {
    let dir = std::env::temp_dir().join(format!(
        "akidb-fuzz-manifest-{}-{}",
        std::process::id(),
        MANIFEST_DIRS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    std::fs::write(dir.join("manifest.json"), data).expect("write manifest.json");
    let parsed = read_manifest(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let Ok(manifest) = parsed else { return };
    let _ = manifest.collection.validate();
    let _ = manifest.total_bytes();
    let text = serde_json::to_vec(&manifest).expect("a parsed manifest serializes");
    let mut back: SnapshotManifest =
        serde_json::from_slice(&text).expect("a serialized manifest parses");
    // `extra` is free-form JSON whose floats need not round-trip bit for bit.
    let mut original = manifest;
    original.extra = Value::Null;
    back.extra = Value::Null;
    assert_eq!(original, back, "manifest does not survive a round trip");
}

fn sample_payloads() -> Vec<(PointId, Payload)> {
    let objects = [
        json!({}),
        json!({"a": 1, "b": {"c": "x"}, "tags": ["p", "q"], "n": null, "e": [], "f": 2.5}),
        json!({"section": "faq", "page": 7, "a": {"b": [1, 2, {"c": true}]}}),
    ];
    objects
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let id = if i % 2 == 0 {
                PointId::Num(i as u64)
            } else {
                PointId::Str(format!("p{i}"))
            };
            (id, v.as_object().cloned().unwrap_or_default())
        })
        .collect()
}

fn check_filter(filter: &Filter) {
    let json = filter.to_json();
    let again = Filter::from_json(&json)
        .unwrap_or_else(|e| panic!("to_json output {json} does not parse: {e}"));
    assert_eq!(filter, &again, "filter does not survive to_json/from_json");
    for (id, payload) in sample_payloads() {
        assert_eq!(filter.matches(&id, &payload), again.matches(&id, &payload));
    }
}

/// Filter language (`Filter::from_json` and the serde path the REST API uses): never
/// panics; an accepted filter round-trips and evaluates identically after it.
pub fn filter_parse(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let direct = Filter::from_json(&value);
    let via_serde = serde_json::from_value::<Filter>(value);
    assert_eq!(
        direct.is_ok(),
        via_serde.is_ok(),
        "from_json and Deserialize disagree"
    );
    match direct {
        Ok(f) => {
            assert_eq!(Some(&f), via_serde.as_ref().ok());
            check_filter(&f);
        }
        Err(e) => assert!(!e.message().is_empty(), "an error without a message"),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UpsertBody {
    points: Vec<Point>,
}

/// REST request bodies: the first byte picks the shape (search, upsert, create collection,
/// delete ids), the rest is the JSON body. Never panics; validation answers with a message;
/// accepted values round-trip.
pub fn rest_bodies(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 4 {
        0 => {
            let Ok(req) = serde_json::from_slice::<SearchRequest>(body) else {
                return;
            };
            if let Some(f) = &req.filter {
                check_filter(f);
            }
            if let Err(e) = akidb_core::point::validate_vector(&req.vector, req.vector.len()) {
                // Refused with a message (e.g. 1e39 overflows f32 to infinity, which JSON
                // cannot carry back); only accepted requests must round-trip.
                assert!(!e.message().is_empty());
                return;
            }
            let text = serde_json::to_vec(&req).expect("a search request serializes");
            let back: SearchRequest =
                serde_json::from_slice(&text).expect("a serialized search request parses");
            assert_eq!(
                (req.k, req.ef, req.exact, req.with_payload, req.with_vector),
                (
                    back.k,
                    back.ef,
                    back.exact,
                    back.with_payload,
                    back.with_vector
                )
            );
            assert_eq!(req.filter, back.filter);
            assert_eq!(req.vector.len(), back.vector.len());
        }
        1 => {
            let Ok(up) = serde_json::from_slice::<UpsertBody>(body) else {
                return;
            };
            let dim = up.points.first().map_or(1, |p| p.vector.len());
            for p in &up.points {
                if let Err(e) = p.validate(dim, akidb_core::DEFAULT_MAX_PAYLOAD_BYTES) {
                    assert!(!e.message().is_empty());
                    continue;
                }
                let id_json = p.id.to_json();
                assert_eq!(
                    PointId::from_json(&id_json).ok().as_ref(),
                    Some(&p.id),
                    "id does not round-trip"
                );
                let text = serde_json::to_vec(p).expect("a point serializes");
                let back: Point = serde_json::from_slice(&text).expect("a serialized point parses");
                assert_eq!((&p.id, &p.payload), (&back.id, &back.payload));
            }
        }
        2 => {
            let Ok(cfg) = serde_json::from_slice::<CollectionConfig>(body) else {
                return;
            };
            if cfg.validate().is_ok() {
                let text = serde_json::to_vec(&cfg).expect("a config serializes");
                let back: CollectionConfig =
                    serde_json::from_slice(&text).expect("a serialized config parses");
                assert_eq!(cfg, back, "collection config does not round-trip");
            }
        }
        _ => {
            let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
                return;
            };
            if let Some(Value::Array(ids)) = map.get("ids") {
                for id in ids {
                    if let Ok(parsed) = PointId::from_json(id) {
                        assert_eq!(PointId::from_json(&parsed.to_json()).ok(), Some(parsed));
                    }
                }
            }
            if let Some(f) = map.get("filter") {
                if let Ok(f) = Filter::from_json(f) {
                    check_filter(&f);
                }
            }
        }
    }
}
