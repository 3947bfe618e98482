//! Snapshot codec tests: round trip, damage detection, and the Parquet layout as seen by
//! the `parquet` crate's generic (non-AkiDB) reader.

use std::path::Path;

use akidb_core::{CollectionConfig, Metric, Payload, PointId};
use akidb_storage::snapshot::{
    open_snapshot, read_manifest, read_snapshot, remove_stale_temp_dirs, verify_snapshot,
    write_snapshot, SnapshotRow, SnapshotWriter, MANIFEST_FILE, POINTS_FILE,
};
use serde_json::json;

fn config(dim: usize) -> CollectionConfig {
    CollectionConfig::new("docs", dim, Metric::Cosine)
}

fn payload(v: serde_json::Value) -> Payload {
    v.as_object().unwrap().clone()
}

fn rows(n: usize, dim: usize) -> Vec<SnapshotRow> {
    (0..n)
        .map(|i| {
            let id = match i % 3 {
                0 => PointId::Num(i as u64),
                1 => PointId::Str(format!("doc-{i}")),
                // Unicode and JSON-special characters in string ids.
                _ => PointId::Str(format!("ü\"x\\{i}")),
            };
            let p = match i % 4 {
                0 => Payload::new(),
                1 => payload(json!({"section": "library", "page": i, "score": 0.5})),
                2 => payload(
                    json!({"nested": {"a": [1, 2, {"b": null}], "t": true}, "text": "line\nbreak"}),
                ),
                _ => payload(json!({"big": "x".repeat(2000), "n": u64::MAX})),
            };
            SnapshotRow {
                id,
                vector: (0..dim)
                    .map(|d| (i * dim + d) as f32 * 0.001 - 1.0)
                    .collect(),
                payload: p,
            }
        })
        .collect()
}

#[test]
fn round_trip_all_id_kinds_and_payload_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snap-1");
    // More rows than one batch so several batches and row groups are exercised.
    let input = rows(10_000, 8);
    let extra = json!({"segments": [{"id": 1, "rows": 10000}]});
    let manifest = write_snapshot(&dir, &config(8), 42, input.clone(), extra.clone()).unwrap();
    assert_eq!(manifest.rows, 10_000);
    assert_eq!(manifest.lsn, 42);
    assert_eq!(manifest.extra, extra);
    assert_eq!(manifest.files.len(), 1);
    assert_eq!(manifest.files[0].name, POINTS_FILE);
    assert!(
        manifest.created_at.ends_with('Z'),
        "{}",
        manifest.created_at
    );
    // Only the final directory remains.
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["snap-1".to_string()]);

    let (m2, back) = read_snapshot(&dir, true).unwrap();
    assert_eq!(m2, manifest);
    assert_eq!(back, input);
    assert_eq!(read_manifest(&dir).unwrap(), manifest);
}

#[test]
fn empty_snapshot_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("empty");
    let m = write_snapshot(&dir, &config(4), 0, Vec::new(), serde_json::Value::Null).unwrap();
    assert_eq!(m.rows, 0);
    let (_, back) = read_snapshot(&dir, true).unwrap();
    assert!(back.is_empty());
}

#[test]
fn extra_files_are_listed_hashed_and_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snap");
    let mut w = SnapshotWriter::create(&dir, &config(3), 7).unwrap();
    for r in rows(5, 3) {
        w.push(&r.id, &r.vector, &r.payload).unwrap();
    }
    std::fs::create_dir(w.temp_dir().join("graphs")).unwrap();
    std::fs::write(w.temp_dir().join("graphs/seg-1.hnsw"), b"graph bytes").unwrap();
    let m = w.finish(json!({"graph": "graphs/seg-1.hnsw"})).unwrap();
    let names: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, vec!["graphs/seg-1.hnsw", POINTS_FILE]);
    verify_snapshot(&dir).unwrap();

    std::fs::write(dir.join("graphs/seg-1.hnsw"), b"graph bytez").unwrap();
    let err = verify_snapshot(&dir).unwrap_err();
    assert_eq!(err.code(), "data_corruption");
    assert!(err.message().contains("graphs/seg-1.hnsw"), "{err}");
    // Reading with verification refuses too; without it the points still load.
    assert!(read_snapshot(&dir, true).is_err());
    assert_eq!(read_snapshot(&dir, false).unwrap().1.len(), 5);
}

#[test]
fn damaged_points_file_is_detected_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snap");
    write_snapshot(&dir, &config(16), 1, rows(500, 16), serde_json::Value::Null).unwrap();
    let path = dir.join(POINTS_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let err = verify_snapshot(&dir).unwrap_err();
    assert_eq!(err.code(), "data_corruption");
    assert!(err.message().contains(POINTS_FILE), "{err}");
    assert!(err.message().contains("sha256"), "{err}");

    // A missing file is named as well.
    std::fs::remove_file(&path).unwrap();
    let err = verify_snapshot(&dir).unwrap_err();
    assert!(
        err.message().contains(POINTS_FILE) && err.message().contains("missing"),
        "{err}"
    );
}

#[test]
fn damaged_or_missing_manifest_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snap");
    write_snapshot(&dir, &config(2), 1, rows(3, 2), serde_json::Value::Null).unwrap();
    std::fs::write(dir.join(MANIFEST_FILE), b"{ not json").unwrap();
    let err = verify_snapshot(&dir).unwrap_err();
    assert_eq!(err.code(), "data_corruption");
    assert!(err.message().contains(MANIFEST_FILE), "{err}");
    let err = read_manifest(&tmp.path().join("nope")).unwrap_err();
    assert_eq!(err.code(), "snapshot_not_found");
}

#[test]
fn wrong_dimension_rows_are_refused_and_temp_dir_cleaned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snap");
    let mut w = SnapshotWriter::create(&dir, &config(4), 1).unwrap();
    let err = w
        .push(&PointId::Num(1), &[1.0, 2.0], &Payload::new())
        .unwrap_err();
    assert_eq!(err.code(), "dimension_mismatch");
    let tmp_dir = w.temp_dir().to_path_buf();
    assert!(tmp_dir.exists());
    drop(w);
    assert!(
        !tmp_dir.exists(),
        "an abandoned writer removes its temp dir"
    );
    assert!(!dir.exists());
    // An existing snapshot is never overwritten.
    write_snapshot(&dir, &config(4), 1, Vec::new(), serde_json::Value::Null).unwrap();
    assert_eq!(
        SnapshotWriter::create(&dir, &config(4), 2)
            .unwrap_err()
            .code(),
        "snapshot_exists"
    );
}

#[test]
fn stale_temp_dirs_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("snap-9.tmp-abcdef")).unwrap();
    std::fs::create_dir(tmp.path().join("snap-8")).unwrap();
    assert_eq!(remove_stale_temp_dirs(tmp.path()).unwrap(), 1);
    assert!(tmp.path().join("snap-8").exists());
}

#[test]
fn streaming_reader_yields_bounded_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snap");
    write_snapshot(&dir, &config(4), 3, rows(9_000, 4), serde_json::Value::Null).unwrap();
    let (m, reader) = open_snapshot(&dir, false).unwrap();
    let mut total = 0;
    for batch in reader {
        let batch = batch.unwrap();
        assert!(batch.len() <= akidb_storage::snapshot::BATCH_ROWS);
        assert_eq!(batch.vectors.len(), batch.len() * 4);
        total += batch.len();
    }
    assert_eq!(total as u64, m.rows);
}

/// The file is plain Parquet: a generic reader sees the documented column types and values.
#[test]
fn parquet_is_readable_by_a_generic_reader() {
    use arrow_array::{Array, FixedSizeListArray, Float32Array, StringArray};
    use arrow_schema::DataType;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snap");
    let input = rows(10, 5);
    write_snapshot(&dir, &config(5), 1, input.clone(), serde_json::Value::Null).unwrap();
    let path: &Path = &dir.join(POINTS_FILE);

    // Low-level reader: compression codec is zstd on every column chunk.
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let meta = reader.metadata();
    assert_eq!(meta.file_metadata().num_rows(), 10);
    for rg in meta.row_groups() {
        for col in rg.columns() {
            assert!(
                matches!(col.compression(), parquet::basic::Compression::ZSTD(_)),
                "{:?}",
                col.compression()
            );
        }
    }

    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
    let schema = builder.schema().clone();
    assert_eq!(schema.field(0).name(), "id");
    assert_eq!(schema.field(0).data_type(), &DataType::Utf8);
    assert_eq!(schema.field(1).name(), "vector");
    match schema.field(1).data_type() {
        DataType::FixedSizeList(item, 5) => assert_eq!(item.data_type(), &DataType::Float32),
        other => panic!("vector column is {other:?}"),
    }
    assert_eq!(schema.field(2).name(), "payload");
    assert_eq!(schema.field(2).data_type(), &DataType::Utf8);

    let batch = builder.build().unwrap().next().unwrap().unwrap();
    let ids = batch
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(ids.value(0), "0");
    assert_eq!(ids.value(1), "\"doc-1\"");
    let vectors = batch
        .column(1)
        .as_any()
        .downcast_ref::<FixedSizeListArray>()
        .unwrap();
    let first = vectors.value(0);
    let first = first.as_any().downcast_ref::<Float32Array>().unwrap();
    assert_eq!(first.values().to_vec(), input[0].vector);
    let payloads = batch
        .column(2)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let p1: serde_json::Value = serde_json::from_str(payloads.value(1)).unwrap();
    assert_eq!(p1["section"], "library");
    assert_eq!(payloads.value(0), "{}");
}

/// Issue #15: the manifest checksums itself, so a changed LSN (which recovery would trust
/// to skip and drop WAL records) is refused as `data_corruption` naming the file.
#[test]
fn manifest_checksum_refuses_a_changed_lsn() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snap");
    let extra = json!({"layout": [1.5, 0.1, {"b": 1, "a": "x"}]});
    let written = write_snapshot(&dir, &config(2), 7, rows(3, 2), extra).unwrap();
    assert_eq!(written.manifest_sha256.as_ref().map(|s| s.len()), Some(64));
    assert_eq!(read_manifest(&dir).unwrap(), written);
    let path = dir.join(MANIFEST_FILE);
    let original: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();

    // Reformatting (compact, keys in another order) keeps it valid: the checksum covers
    // the canonical content, not the bytes.
    let reversed: serde_json::Map<String, serde_json::Value> = original
        .as_object()
        .unwrap()
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    std::fs::write(&path, serde_json::to_vec(&reversed).unwrap()).unwrap();
    assert_eq!(read_manifest(&dir).unwrap(), written);

    let mut tampered = original.clone();
    tampered["lsn"] = json!(1_000_000);
    std::fs::write(&path, serde_json::to_vec_pretty(&tampered).unwrap()).unwrap();
    let errors = [
        read_manifest(&dir).unwrap_err(),
        verify_snapshot(&dir).unwrap_err(),
        open_snapshot(&dir, false).unwrap_err(),
    ];
    for err in errors {
        assert_eq!(err.code(), "data_corruption", "{err}");
        assert!(err.message().contains(&path.display().to_string()), "{err}");
        assert!(err.message().contains("manifest_sha256"), "{err}");
    }

    let mut not_a_string = original.clone();
    not_a_string["manifest_sha256"] = json!(5);
    std::fs::write(&path, serde_json::to_vec(&not_a_string).unwrap()).unwrap();
    assert_eq!(read_manifest(&dir).unwrap_err().code(), "data_corruption");

    // A manifest from before the field existed is still read (documented in the module).
    let mut legacy = original.clone();
    legacy.as_object_mut().unwrap().remove("manifest_sha256");
    std::fs::write(&path, serde_json::to_vec_pretty(&legacy).unwrap()).unwrap();
    let m = verify_snapshot(&dir).unwrap();
    assert_eq!(m.manifest_sha256, None);
    assert_eq!(m.lsn, 7);
}

/// Every id the engine can log reads back from a snapshot, including string ids beyond
/// the API's 256 bytes (up to the WAL's 65,535) and all-digit strings: a reader stricter
/// than the writer would turn a valid snapshot into "corruption".
#[test]
fn ids_the_engine_can_log_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snap");
    let ids = [
        PointId::Str("x".repeat(65_535)),
        PointId::Str("123".into()),
        PointId::Num(u64::MAX),
    ];
    let rows: Vec<SnapshotRow> = ids
        .iter()
        .map(|id| SnapshotRow {
            id: id.clone(),
            vector: vec![1.0, 0.0],
            payload: Payload::new(),
        })
        .collect();
    write_snapshot(&dir, &config(2), 1, rows, serde_json::Value::Null).unwrap();
    let (_, back) = read_snapshot(&dir, true).unwrap();
    let back: Vec<PointId> = back.into_iter().map(|r| r.id).collect();
    assert_eq!(back, ids);
}
