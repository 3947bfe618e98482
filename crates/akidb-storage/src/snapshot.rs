//! Snapshot codec: a directory holding `points.parquet`, optional engine files (e.g. HNSW
//! graphs) and `manifest.json` with the sha256 of every other file.
//!
//! `points.parquet` (zstd) has exactly three columns:
//! - `id`: Utf8, the point id as JSON text: `42` for an integer id, `"doc-1"` (with the
//!   quotes) for a string id. Any JSON parser turns it back into the id.
//! - `vector`: FixedSizeList<Float32 (non-null), dimension>.
//! - `payload`: Utf8, the payload as compact JSON object text (`{}` when empty).
//!
//! A snapshot is written into `<dir>.tmp-<random>`, every file and the directory are
//! fsynced, and the directory is renamed to `<dir>` (then the parent is fsynced), so a
//! snapshot directory either exists complete or not at all.
//!
//! The manifest checksums itself: `manifest_sha256` is the sha256 of the manifest's
//! canonical JSON (every other key, objects with sorted keys, compact) and is checked on
//! every read, so a damaged LSN or file list is `data_corruption` rather than trusted.
//! Manifests written before the field existed are still read (their files keep their
//! per-file sha256) but their LSN is unverified: it still decides which WAL records are
//! replayed, yet `Wal::open` never deletes WAL files because of it (it sets them aside).

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use akidb_core::{CollectionConfig, Error, Payload, PointId, Result};
use arrow_array::builder::{FixedSizeListBuilder, Float32Builder, StringBuilder};
use arrow_array::{Array, FixedSizeListArray, Float32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::wal::fsync_dir;

/// Version of the snapshot layout written by this crate.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;
/// File name of the points table.
pub const POINTS_FILE: &str = "points.parquet";
/// File name of the manifest.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Manifest key holding the manifest's own checksum.
pub const MANIFEST_CHECKSUM_KEY: &str = "manifest_sha256";
/// Rows per Arrow batch handed to the Parquet writer and returned by the reader.
pub const BATCH_ROWS: usize = 4096;

/// One file listed in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path relative to the snapshot directory, `/`-separated.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lowercase hex sha256 of the content.
    pub sha256: String,
}

/// `manifest.json` of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotManifest {
    /// Layout version ([`SNAPSHOT_FORMAT_VERSION`]).
    pub format_version: u32,
    /// The collection's configuration at snapshot time.
    pub collection: CollectionConfig,
    /// Every WAL record with an LSN up to this one is contained in the snapshot.
    pub lsn: u64,
    /// Number of rows in `points.parquet`.
    pub rows: u64,
    /// RFC 3339 UTC creation time.
    pub created_at: String,
    /// Every file of the snapshot except the manifest itself.
    pub files: Vec<ManifestFile>,
    /// Free-form data owned by the engine (segment and graph layout, …).
    #[serde(default)]
    pub extra: serde_json::Value,
    /// Lowercase hex sha256 of the canonical manifest without this key (see the module
    /// docs); verified on read. `None` only in manifests older than the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
}

impl SnapshotManifest {
    /// Total bytes of the listed files.
    pub fn total_bytes(&self) -> u64 {
        // Saturating: a damaged manifest may claim absurd sizes; it must not panic.
        self.files
            .iter()
            .fold(0u64, |acc, f| acc.saturating_add(f.bytes))
    }
}

/// One point as stored in a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRow {
    /// The point id.
    pub id: PointId,
    /// The vector.
    pub vector: Vec<f32>,
    /// The payload.
    pub payload: Payload,
}

/// A batch of rows in columnar form: `vectors` holds `ids.len() * dim` floats.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SnapshotBatch {
    /// Point ids in row order.
    pub ids: Vec<PointId>,
    /// Row-major vectors, `dim` floats per row.
    pub vectors: Vec<f32>,
    /// Payloads in row order.
    pub payloads: Vec<Payload>,
}

impl SnapshotBatch {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Converts into owned rows.
    pub fn into_rows(self, dim: usize) -> Vec<SnapshotRow> {
        let mut out = Vec::with_capacity(self.ids.len());
        for (i, (id, payload)) in self.ids.into_iter().zip(self.payloads).enumerate() {
            out.push(SnapshotRow {
                id,
                vector: self.vectors[i * dim..(i + 1) * dim].to_vec(),
                payload,
            });
        }
        out
    }
}

/// The Arrow schema of `points.parquet` for a given dimension.
pub fn points_schema(dim: usize) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new(
            "vector",
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, false)),
                dim as i32,
            ),
            false,
        ),
        Field::new("payload", DataType::Utf8, false),
    ]))
}

fn parquet_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::corruption(format!("snapshot file {}: {e}", path.display()))
}

use akidb_core::time::now_rfc3339;

fn random_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Streams rows into a new snapshot. Dropping it without [`SnapshotWriter::finish`]
/// removes the temporary directory.
pub struct SnapshotWriter {
    final_dir: PathBuf,
    tmp_dir: PathBuf,
    config: CollectionConfig,
    lsn: u64,
    rows: u64,
    writer: Option<ArrowWriter<File>>,
    schema: SchemaRef,
    ids: StringBuilder,
    vectors: FixedSizeListBuilder<Float32Builder>,
    payloads: StringBuilder,
    pending: usize,
    finished: bool,
}

impl std::fmt::Debug for SnapshotWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotWriter")
            .field("final_dir", &self.final_dir)
            .field("tmp_dir", &self.tmp_dir)
            .field("rows", &self.rows)
            .finish()
    }
}

impl SnapshotWriter {
    /// Starts a snapshot that will become `dir` (which must not exist yet).
    pub fn create(dir: &Path, config: &CollectionConfig, lsn: u64) -> Result<Self> {
        if dir.exists() {
            return Err(Error::new(
                akidb_core::ErrorKind::AlreadyExists,
                "snapshot_exists",
                format!("snapshot directory {} exists already", dir.display()),
            ));
        }
        let name = dir.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            Error::internal(format!("snapshot path {} has no file name", dir.display()))
        })?;
        let parent = dir.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("create {}", parent.display()), &e))?;
        let tmp_dir = parent.join(format!("{name}.tmp-{}", random_suffix()));
        fs::create_dir(&tmp_dir)
            .map_err(|e| Error::io(format!("create {}", tmp_dir.display()), &e))?;
        let dim = config.dimension;
        let schema = points_schema(dim);
        let points_path = tmp_dir.join(POINTS_FILE);
        let file = File::create(&points_path)
            .map_err(|e| Error::io(format!("create {}", points_path.display()), &e))?;
        // Row groups of ~32 MiB of raw vectors keep the writer's memory bounded.
        let row_group_rows = (32 * 1024 * 1024 / (dim.max(1) * 4)).clamp(1024, 128 * 1024);
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(3).expect("zstd level 3 is valid"),
            ))
            .set_max_row_group_size(row_group_rows)
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| {
            Error::internal(format!(
                "start parquet writer {}: {e}",
                points_path.display()
            ))
        })?;
        let item = Field::new("item", DataType::Float32, false);
        Ok(Self {
            final_dir: dir.to_path_buf(),
            tmp_dir,
            config: config.clone(),
            lsn,
            rows: 0,
            writer: Some(writer),
            schema,
            ids: StringBuilder::new(),
            vectors: FixedSizeListBuilder::new(Float32Builder::new(), dim as i32).with_field(item),
            payloads: StringBuilder::new(),
            pending: 0,
            finished: false,
        })
    }

    /// The temporary directory: the caller may place extra files (e.g. index graphs) here
    /// before [`finish`](Self::finish); they are fsynced and listed in the manifest.
    pub fn temp_dir(&self) -> &Path {
        &self.tmp_dir
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Adds one point.
    pub fn push(&mut self, id: &PointId, vector: &[f32], payload: &Payload) -> Result<()> {
        if vector.len() != self.config.dimension {
            return Err(Error::invalid(
                "dimension_mismatch",
                format!(
                    "snapshot row {id}: vector has {} dimensions, the collection expects {}",
                    vector.len(),
                    self.config.dimension
                ),
            ));
        }
        let id_json =
            serde_json::to_string(id).map_err(|e| Error::internal(format!("encode id: {e}")))?;
        let payload_json = serde_json::to_string(payload)
            .map_err(|e| Error::internal(format!("encode payload: {e}")))?;
        self.ids.append_value(id_json);
        self.vectors.values().append_slice(vector);
        self.vectors.append(true);
        self.payloads.append_value(payload_json);
        self.pending += 1;
        self.rows += 1;
        if self.pending >= BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    /// Adds a columnar batch (`vectors` row-major, `dim` floats per row).
    pub fn push_batch(&mut self, batch: &SnapshotBatch) -> Result<()> {
        let dim = self.config.dimension;
        if batch.vectors.len() != batch.ids.len() * dim || batch.payloads.len() != batch.ids.len() {
            return Err(Error::internal(
                "snapshot batch has inconsistent column lengths",
            ));
        }
        for (i, id) in batch.ids.iter().enumerate() {
            self.push(
                id,
                &batch.vectors[i * dim..(i + 1) * dim],
                &batch.payloads[i],
            )?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let batch = RecordBatch::try_new(
            self.schema.clone(),
            vec![
                Arc::new(self.ids.finish()),
                Arc::new(self.vectors.finish()),
                Arc::new(self.payloads.finish()),
            ],
        )
        .map_err(|e| Error::internal(format!("build snapshot batch: {e}")))?;
        self.pending = 0;
        let path = self.tmp_dir.join(POINTS_FILE);
        self.writer
            .as_mut()
            .expect("writer present until finish")
            .write(&batch)
            .map_err(|e| parquet_write_err(&path, e))
    }

    /// Completes the snapshot: closes the Parquet file, hashes and fsyncs every file,
    /// writes the manifest (with `extra`), and atomically renames the directory into place.
    pub fn finish(mut self, extra: serde_json::Value) -> Result<SnapshotManifest> {
        self.flush_batch()?;
        let path = self.tmp_dir.join(POINTS_FILE);
        let file = self
            .writer
            .take()
            .expect("writer present until finish")
            .into_inner()
            .map_err(|e| parquet_write_err(&path, e))?;
        file.sync_all()
            .map_err(|e| Error::io(format!("fsync {}", path.display()), &e))?;
        drop(file);
        // Crash points up to the rename leave only a `*.tmp-*` directory, which recovery
        // removes and never reads.
        crate::crash::point("snapshot.write.after_points");

        let mut names = Vec::new();
        collect_files(&self.tmp_dir, "", &mut names)?;
        names.retain(|n| n != MANIFEST_FILE);
        names.sort();
        let mut files = Vec::with_capacity(names.len());
        for name in names {
            let p = self.tmp_dir.join(&name);
            let (bytes, sha256) = hash_file(&p)?;
            // Extra files may have been written without fsync by the caller.
            File::open(&p)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(format!("fsync {}", p.display()), &e))?;
            files.push(ManifestFile {
                name,
                bytes,
                sha256,
            });
        }
        crate::crash::point("snapshot.write.after_files");
        let manifest = SnapshotManifest {
            format_version: SNAPSHOT_FORMAT_VERSION,
            collection: self.config.clone(),
            lsn: self.lsn,
            rows: self.rows,
            created_at: now_rfc3339(),
            files,
            extra,
            manifest_sha256: None,
        };
        let (text, manifest) = encode_manifest(manifest)?;
        let manifest_path = self.tmp_dir.join(MANIFEST_FILE);
        write_file_synced(&manifest_path, &text)?;
        fsync_subdirs(&self.tmp_dir)?;
        crate::crash::point("snapshot.write.after_manifest");
        fs::rename(&self.tmp_dir, &self.final_dir).map_err(|e| {
            Error::io(
                format!(
                    "rename {} to {}",
                    self.tmp_dir.display(),
                    self.final_dir.display()
                ),
                &e,
            )
        })?;
        self.finished = true;
        crate::crash::point("snapshot.write.after_rename");
        fsync_dir(self.final_dir.parent().unwrap_or(Path::new(".")))?;
        crate::crash::point("snapshot.write.after_dir_sync");
        Ok(manifest)
    }
}

/// A JSON value with every object's keys sorted: the checksummed form of a manifest,
/// independent of key order in the file.
fn canonical(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&map[k.as_str()])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// sha256 of the canonical compact JSON of `v` (which must not hold the checksum key).
fn manifest_digest(v: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(&canonical(v)).expect("a JSON value always serialises");
    hex::encode(Sha256::digest(&bytes))
}

/// Serialises a manifest with its checksum; returns the file bytes and the manifest with
/// `manifest_sha256` set.
///
/// The digest is taken over the JSON as a reader will parse it (serialised, then parsed
/// back), so that number formatting (e.g. of f32 fields) cannot make the two sides differ.
pub fn encode_manifest(mut manifest: SnapshotManifest) -> Result<(Vec<u8>, SnapshotManifest)> {
    let encode_err = |e: serde_json::Error| Error::internal(format!("encode manifest: {e}"));
    manifest.manifest_sha256 = None;
    let plain = serde_json::to_vec(&manifest).map_err(encode_err)?;
    let mut value: serde_json::Value = serde_json::from_slice(&plain).map_err(encode_err)?;
    let digest = manifest_digest(&value);
    value
        .as_object_mut()
        .ok_or_else(|| Error::internal("a manifest serialises to a JSON object"))?
        .insert(MANIFEST_CHECKSUM_KEY.to_string(), digest.clone().into());
    let text = serde_json::to_vec_pretty(&value).map_err(encode_err)?;
    manifest.manifest_sha256 = Some(digest);
    Ok((text, manifest))
}

/// Checks the manifest's own checksum; `path` names the file in the error.
fn verify_manifest_checksum(path: &Path, bytes: &[u8]) -> Result<()> {
    let damaged = |what: String| {
        Error::corruption(format!(
            "snapshot manifest {} is damaged: {what}",
            path.display()
        ))
    };
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| damaged(e.to_string()))?;
    let Some(map) = value.as_object_mut() else {
        return Err(damaged("not a JSON object".to_string()));
    };
    match map.remove(MANIFEST_CHECKSUM_KEY) {
        // Written before manifests were checksummed: see the module docs.
        None => Ok(()),
        Some(serde_json::Value::String(claimed)) => {
            let actual = manifest_digest(&value);
            if actual == claimed {
                Ok(())
            } else {
                Err(damaged(format!(
                    "{MANIFEST_CHECKSUM_KEY} is {claimed} but the content hashes to {actual}"
                )))
            }
        }
        Some(other) => Err(damaged(format!(
            "{MANIFEST_CHECKSUM_KEY} is not a string: {other}"
        ))),
    }
}

fn parquet_write_err(path: &Path, e: parquet::errors::ParquetError) -> Error {
    match e {
        parquet::errors::ParquetError::External(inner) => {
            match inner.downcast::<std::io::Error>() {
                Ok(io) => Error::io(format!("write {}", path.display()), &io),
                Err(other) => Error::internal(format!("write {}: {other}", path.display())),
            }
        }
        other => Error::internal(format!("write {}: {other}", path.display())),
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.writer.take();
            let _ = fs::remove_dir_all(&self.tmp_dir);
        }
    }
}

/// Writes `bytes` to `path` and fsyncs the file (not the directory).
pub fn write_file_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f =
        File::create(path).map_err(|e| Error::io(format!("create {}", path.display()), &e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(format!("write {}", path.display()), &e))
}

fn collect_files(root: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    let dir = if prefix.is_empty() {
        root.to_path_buf()
    } else {
        root.join(prefix)
    };
    for entry in fs::read_dir(&dir).map_err(|e| Error::io(format!("list {}", dir.display()), &e))? {
        let entry = entry.map_err(|e| Error::io(format!("list {}", dir.display()), &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let ft = entry
            .file_type()
            .map_err(|e| Error::io(format!("stat {}", entry.path().display()), &e))?;
        if ft.is_dir() {
            collect_files(root, &rel, out)?;
        } else if ft.is_file() {
            out.push(rel);
        }
    }
    Ok(())
}

fn fsync_subdirs(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io(format!("list {}", dir.display()), &e))? {
        let entry = entry.map_err(|e| Error::io(format!("list {}", dir.display()), &e))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            fsync_subdirs(&entry.path())?;
        }
    }
    fsync_dir(dir)
}

/// Size and lowercase hex sha256 of a file.
pub fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut f = File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), &e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::io(format!("read {}", path.display()), &e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// Writes a whole snapshot from an iterator of rows. See [`SnapshotWriter`] for streaming
/// and for adding extra files.
pub fn write_snapshot(
    dir: &Path,
    config: &CollectionConfig,
    lsn: u64,
    rows: impl IntoIterator<Item = SnapshotRow>,
    extra: serde_json::Value,
) -> Result<SnapshotManifest> {
    let mut w = SnapshotWriter::create(dir, config, lsn)?;
    for row in rows {
        w.push(&row.id, &row.vector, &row.payload)?;
    }
    w.finish(extra)
}

/// Reads and parses `manifest.json`, checking its own checksum (not the listed files').
pub fn read_manifest(dir: &Path) -> Result<SnapshotManifest> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::new(
                akidb_core::ErrorKind::NotFound,
                "snapshot_not_found",
                format!("no snapshot manifest at {}", path.display()),
            )
        } else {
            Error::io(format!("read {}", path.display()), &e)
        }
    })?;
    verify_manifest_checksum(&path, &bytes)?;
    let manifest: SnapshotManifest = serde_json::from_slice(&bytes).map_err(|e| {
        Error::corruption(format!("snapshot file {} is damaged: {e}", path.display()))
    })?;
    if manifest.format_version != SNAPSHOT_FORMAT_VERSION {
        return Err(Error::corruption(format!(
            "snapshot {} has format_version {}, this build reads version {SNAPSHOT_FORMAT_VERSION}",
            dir.display(),
            manifest.format_version
        )));
    }
    Ok(manifest)
}

/// Recomputes the sha256 of every file listed in the manifest; the error names the first
/// missing or damaged file.
pub fn verify_snapshot(dir: &Path) -> Result<SnapshotManifest> {
    let manifest = read_manifest(dir)?;
    for f in &manifest.files {
        if f.name.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(Error::corruption(format!(
                "snapshot {} lists an invalid file name {:?}",
                dir.display(),
                f.name
            )));
        }
        let path = dir.join(&f.name);
        if !path.is_file() {
            return Err(Error::corruption(format!(
                "snapshot file {} is missing (listed in {MANIFEST_FILE})",
                path.display()
            )));
        }
        let (bytes, sha) = hash_file(&path)?;
        if bytes != f.bytes || sha != f.sha256 {
            return Err(Error::corruption(format!(
                "snapshot file {} is damaged: expected {} bytes with sha256 {}, found {bytes} bytes with sha256 {sha}",
                path.display(),
                f.bytes,
                f.sha256
            )));
        }
    }
    Ok(manifest)
}

/// Streams the rows of a snapshot's `points.parquet` in batches of up to [`BATCH_ROWS`].
pub struct SnapshotReader {
    path: PathBuf,
    dim: usize,
    inner: ParquetRecordBatchReader,
    row: u64,
}

impl std::fmt::Debug for SnapshotReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotReader")
            .field("path", &self.path)
            .field("row", &self.row)
            .finish()
    }
}

/// Opens a snapshot for streaming; with `verify`, every checksum is checked first.
pub fn open_snapshot(dir: &Path, verify: bool) -> Result<(SnapshotManifest, SnapshotReader)> {
    let manifest = if verify {
        verify_snapshot(dir)?
    } else {
        read_manifest(dir)?
    };
    let path = dir.join(POINTS_FILE);
    let dim = manifest.collection.dimension;
    let file = File::open(&path).map_err(|e| Error::io(format!("open {}", path.display()), &e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_err(&path, e))?;
    let expected = points_schema(dim);
    let found = builder.schema();
    let fields_match = found.fields().len() == 3
        && found
            .fields()
            .iter()
            .zip(expected.fields().iter())
            .all(|(a, b)| a.name() == b.name() && a.data_type().equals_datatype(b.data_type()));
    if !fields_match {
        return Err(parquet_err(
            &path,
            format!("unexpected schema {found:?}, expected id: Utf8, vector: FixedSizeList<Float32, {dim}>, payload: Utf8"),
        ));
    }
    let rows: i64 = builder.metadata().file_metadata().num_rows();
    if rows as u64 != manifest.rows {
        return Err(parquet_err(
            &path,
            format!("holds {rows} rows but the manifest says {}", manifest.rows),
        ));
    }
    let inner = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| parquet_err(&path, e))?;
    Ok((
        manifest,
        SnapshotReader {
            path,
            dim,
            inner,
            row: 0,
        },
    ))
}

impl SnapshotReader {
    fn convert(&mut self, batch: RecordBatch) -> Result<SnapshotBatch> {
        let path = self.path.clone();
        let col_err =
            |what: &str| parquet_err(&path, format!("column {what} has an unexpected type"));
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| col_err("id"))?;
        let vectors = batch
            .column(1)
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .ok_or_else(|| col_err("vector"))?;
        let payloads = batch
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| col_err("payload"))?;
        let n = batch.num_rows();
        if ids.null_count() > 0 || vectors.null_count() > 0 || payloads.null_count() > 0 {
            return Err(parquet_err(&self.path, "null values in a non-null column"));
        }
        let values = vectors
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or_else(|| col_err("vector item"))?;
        let start = vectors.offset() * self.dim;
        let flat = values.values()[start..start + n * self.dim].to_vec();
        let mut out = SnapshotBatch {
            ids: Vec::with_capacity(n),
            vectors: flat,
            payloads: Vec::with_capacity(n),
        };
        for i in 0..n {
            let row = self.row + i as u64;
            let id = parse_stored_id(ids.value(i)).map_err(|e| {
                parquet_err(
                    &self.path,
                    format!("row {row}: bad id {:?}: {e}", ids.value(i)),
                )
            })?;
            let payload: Payload = serde_json::from_str(payloads.value(i))
                .map_err(|e| parquet_err(&self.path, format!("row {row}: bad payload: {e}")))?;
            out.ids.push(id);
            out.payloads.push(payload);
        }
        self.row += n as u64;
        Ok(out)
    }

    /// Dimension of the vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

/// Parses an id as [`SnapshotWriter::push`] wrote it. Deliberately laxer than the API's
/// id rules (`PointId`'s `Deserialize`, at most 256 bytes): a snapshot must read back
/// every id the engine accepted and logged, or a valid snapshot would look corrupt.
fn parse_stored_id(text: &str) -> std::result::Result<PointId, String> {
    match serde_json::from_str::<serde_json::Value>(text).map_err(|e| e.to_string())? {
        serde_json::Value::Number(n) => n
            .as_u64()
            .map(PointId::Num)
            .ok_or_else(|| format!("{n} is not an unsigned 64-bit integer")),
        serde_json::Value::String(s) => Ok(PointId::Str(s)),
        other => Err(format!("an id is an integer or a string, got {other}")),
    }
}

impl Iterator for SnapshotReader {
    type Item = Result<SnapshotBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.inner.next()? {
            Ok(batch) => Some(self.convert(batch)),
            Err(e) => Some(Err(parquet_err(&self.path, e))),
        }
    }
}

/// Reads a whole snapshot into memory; with `verify`, every checksum is checked first.
pub fn read_snapshot(dir: &Path, verify: bool) -> Result<(SnapshotManifest, Vec<SnapshotRow>)> {
    let (manifest, reader) = open_snapshot(dir, verify)?;
    let dim = reader.dim();
    let mut rows = Vec::with_capacity(manifest.rows as usize);
    for batch in reader {
        rows.extend(batch?.into_rows(dim));
    }
    Ok((manifest, rows))
}

/// Removes leftover `*.tmp-*` directories (from a crash mid-write) under `parent`.
pub fn remove_stale_temp_dirs(parent: &Path) -> Result<usize> {
    let mut removed = 0;
    let listing = match fs::read_dir(parent) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(format!("list {}", parent.display()), &e)),
    };
    for entry in listing.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(".tmp-") && entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            fs::remove_dir_all(entry.path())
                .map_err(|e| Error::io(format!("remove {}", entry.path().display()), &e))?;
            removed += 1;
        }
    }
    Ok(removed)
}
