//! Snapshots of a collection and recovery from them.
//!
//! A snapshot is `snapshots/<id>/` with `points.parquet`, `manifest.json` (storage codec)
//! and one `seg-<n>/` directory per indexed sealed segment holding its graph files. The
//! manifest's `extra.akidb_engine.segments` lists the row ranges in order: each indexed
//! sealed segment is written with all its rows (dead ones too, listed in `dead`) so that
//! graph offsets stay valid; unindexed segments and the mutable segment hold live rows only.
//! `<id>` is `<lsn:020>-<unix millis:013>`, so names sort by LSN.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use akidb_core::{CollectionConfig, Error, Result};
use akidb_index::{load_index, AnnIndex, Bitset, Vectors};
use akidb_storage::snapshot::remove_stale_temp_dirs;
use akidb_storage::{open_snapshot, read_manifest, SnapshotManifest, SnapshotWriter};
use serde::{Deserialize, Serialize};

use crate::collection::Live;
use crate::record::PreparedPoint;
use crate::segment::{Sealed, SegmentData, State};
use crate::{Shared, SnapshotInfo};

/// One row range of a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SegmentLayout {
    rows: u64,
    /// Directory (inside the snapshot) with the segment's graph files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    graph: Option<String>,
    /// Offsets of dead rows (only in segments written whole because of their graph).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dead: Vec<u32>,
    /// Rows that go back into the mutable segment.
    #[serde(default)]
    mutable: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Layout {
    layout_version: u32,
    segments: Vec<SegmentLayout>,
}

const EXTRA_KEY: &str = "akidb_engine";

/// What recovery got from the newest valid snapshot.
pub(crate) struct Recovered {
    pub state: State,
    /// Sealed segments whose graph must be (re)built.
    pub unindexed: Vec<u64>,
    /// Graphs loaded from snapshot files.
    pub loaded: u64,
}

/// Snapshot directories of a collection (complete ones only), oldest first.
pub(crate) fn snapshot_dirs(coll_dir: &Path) -> Vec<PathBuf> {
    let root = coll_dir.join("snapshots");
    let Ok(rd) = fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            !n.starts_with('.') && !n.contains(".tmp")
        })
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// Loads the newest valid snapshot of the collection in `dir` (an empty state when none).
///
/// A snapshot whose manifest is missing, unreadable or fails its own checksum, or whose
/// files fail theirs, is skipped with a warning and the previous one is tried: its LSN
/// is never trusted. (Recovery then needs the WAL from the older snapshot on; if an
/// earlier snapshot already let the WAL drop those records, `Wal::open` reports them
/// missing as `data_corruption` rather than opening with a gap.)
pub(crate) fn load_latest_snapshot(
    config: &CollectionConfig,
    dir: &Path,
    shared: &Arc<Shared>,
) -> Result<Recovered> {
    let root = dir.join("snapshots");
    fs::create_dir_all(&root).map_err(|e| Error::io(format!("create {}", root.display()), &e))?;
    remove_stale_temp_dirs(&root)?;
    for snap in snapshot_dirs(dir).into_iter().rev() {
        match load_snapshot(config, &snap, shared, true) {
            Ok(r) => return Ok(r),
            Err(e) => {
                tracing::warn!(
                    collection = %config.name,
                    snapshot = %snap.display(),
                    error = %e,
                    "skipping unusable snapshot, trying the previous one"
                );
            }
        }
    }
    Ok(Recovered {
        state: State::new(config.dimension, config.metric),
        unindexed: Vec::new(),
        loaded: 0,
    })
}

/// Loads one snapshot directory into a fresh state.
pub(crate) fn load_snapshot(
    config: &CollectionConfig,
    snap: &Path,
    shared: &Arc<Shared>,
    verify: bool,
) -> Result<Recovered> {
    let (manifest, reader) = open_snapshot(snap, verify)?;
    if manifest.collection.dimension != config.dimension
        || manifest.collection.metric != config.metric
    {
        return Err(Error::corruption(format!(
            "snapshot {} was taken of a collection with dimension {} and metric {}, not {} / {}",
            snap.display(),
            manifest.collection.dimension,
            manifest.collection.metric.as_str(),
            config.dimension,
            config.metric.as_str()
        )));
    }
    let layout: Layout = match manifest.extra.get(EXTRA_KEY) {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            Error::corruption(format!(
                "snapshot {} has a bad engine layout: {e}",
                snap.display()
            ))
        })?,
        // A snapshot written by another tool: every row is live.
        None => Layout {
            layout_version: 1,
            segments: vec![SegmentLayout {
                rows: manifest.rows,
                graph: None,
                dead: Vec::new(),
                mutable: true,
            }],
        },
    };
    let total: u64 = layout.segments.iter().map(|s| s.rows).sum();
    if total != manifest.rows {
        return Err(Error::corruption(format!(
            "snapshot {} layout covers {total} rows but the manifest says {}",
            snap.display(),
            manifest.rows
        )));
    }
    let dim = config.dimension;
    let mut state = State::new(dim, config.metric);
    let mut unindexed = Vec::new();
    let mut loaded = 0;
    let mut segs = layout.segments.iter();
    let mut cur: Option<&SegmentLayout> = segs.next();
    let (mut ids, mut vecs, mut payloads) = (Vec::new(), Vec::new(), Vec::new());
    let mut finish_segment = |seg: &SegmentLayout,
                              ids: Vec<akidb_core::PointId>,
                              vecs: Vec<f32>,
                              payloads: Vec<akidb_core::Payload>,
                              state: &mut State|
     -> Result<()> {
        if seg.mutable {
            for ((id, payload), v) in ids.into_iter().zip(payloads).zip(vecs.chunks_exact(dim)) {
                let (_, sealed) = state.apply(
                    crate::record::Op::Upsert(vec![PreparedPoint {
                        id,
                        vector: v.to_vec(),
                        payload,
                    }]),
                    0,
                    shared.cfg.segment_max_points,
                );
                unindexed.extend(sealed);
            }
            return Ok(());
        }
        let n = ids.len();
        let vectors = Arc::new(Vectors::new(dim, config.metric, vecs));
        let mut dead = Bitset::new(n);
        for &d in &seg.dead {
            if (d as usize) < n {
                dead.set(d as usize);
            }
        }
        let index: Option<Arc<dyn AnnIndex>> = match &seg.graph {
            Some(g) => match load_index(&config.index, vectors.clone(), &snap.join(g)) {
                Ok(i) => {
                    loaded += 1;
                    Some(Arc::from(i))
                }
                Err(e) => {
                    tracing::warn!(snapshot = %snap.display(), graph = %g, error = %e, "graph files unusable; rebuilding the index");
                    None
                }
            },
            None => None,
        };
        let has_index = index.is_some();
        let mut sealed = Sealed::new(Arc::new(SegmentData::new(ids, payloads, vectors)), dead);
        sealed.index = index;
        let id = state.add_sealed(sealed);
        if !has_index {
            unindexed.push(id);
        }
        Ok(())
    };
    for batch in reader {
        let batch = batch?;
        let n = batch.ids.len();
        let mut start = 0;
        while start < n {
            let Some(seg) = cur else {
                return Err(Error::corruption(format!(
                    "snapshot {} has more rows than its layout",
                    snap.display()
                )));
            };
            let want = seg.rows as usize - ids.len();
            let take = want.min(n - start);
            ids.extend_from_slice(&batch.ids[start..start + take]);
            payloads.extend_from_slice(&batch.payloads[start..start + take]);
            vecs.extend_from_slice(&batch.vectors[start * dim..(start + take) * dim]);
            start += take;
            if ids.len() == seg.rows as usize {
                finish_segment(
                    seg,
                    std::mem::take(&mut ids),
                    std::mem::take(&mut vecs),
                    std::mem::take(&mut payloads),
                    &mut state,
                )?;
                cur = segs.next();
            }
        }
    }
    // Trailing empty segments.
    while let Some(seg) = cur {
        if seg.rows != 0 || !ids.is_empty() {
            return Err(Error::corruption(format!(
                "snapshot {} has fewer rows than its layout",
                snap.display()
            )));
        }
        cur = segs.next();
    }
    state.applied_lsn = manifest.lsn;
    Ok(Recovered {
        state,
        unindexed,
        loaded,
    })
}

pub(crate) fn info_of(dir: &Path, m: &SnapshotManifest) -> SnapshotInfo {
    SnapshotInfo {
        snapshot_id: dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        lsn: m.lsn,
        rows: m.rows,
        created_at: m.created_at.clone(),
        bytes: m.total_bytes(),
        local: true,
        remote: false,
    }
}

/// Every readable local snapshot of the collection in `coll_dir`, oldest first.
pub(crate) fn list_snapshots(coll_dir: &Path) -> Vec<SnapshotInfo> {
    snapshot_dirs(coll_dir)
        .into_iter()
        .filter_map(|d| match read_manifest(&d) {
            Ok(m) => Some(info_of(&d, &m)),
            Err(e) => {
                tracing::warn!(snapshot = %d.display(), error = %e, "unreadable snapshot manifest");
                None
            }
        })
        .collect()
}

/// A sealed segment as seen by a snapshot: rows, tombstones, dead count, graph.
type SealedCut = (Arc<SegmentData>, Bitset, usize, Option<Arc<dyn AnnIndex>>);

/// Writes a snapshot of `live` (consistent at one LSN), then trims the WAL and old snapshots.
pub(crate) fn snapshot(live: &Live) -> Result<SnapshotInfo> {
    let _guard = live.snapshot_lock.lock();
    let started = Instant::now();
    let dim = live.config.dimension;
    // A consistent cut: everything applied up to `lsn`, nothing after.
    let (lsn, sealed, mutable) = {
        let st = live.state.read();
        let sealed: Vec<SealedCut> = st
            .sealed
            .values()
            .map(|s| {
                (
                    s.data.clone(),
                    s.dead.clone(),
                    s.dead_count,
                    s.index.clone(),
                )
            })
            .collect();
        let m = &st.mutable;
        let rows: Vec<(akidb_core::PointId, Vec<f32>, akidb_core::Payload)> = (0..m.len())
            .filter(|&o| !m.dead[o])
            .map(|o| {
                (
                    m.ids[o].clone(),
                    m.vectors[o * dim..(o + 1) * dim].to_vec(),
                    m.payloads[o].clone(),
                )
            })
            .collect();
        (st.applied_lsn, sealed, rows)
    };
    let mut millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let root = live.dir.join("snapshots");
    // Two snapshots at one LSN within one millisecond (nothing written in between) would
    // share a name; the snapshot lock is held, so the next free millisecond is ours.
    while root.join(format!("{lsn:020}-{millis:013}")).exists() {
        millis += 1;
    }
    let id = format!("{lsn:020}-{millis:013}");
    let final_dir = root.join(&id);
    let mut w = SnapshotWriter::create(&final_dir, &live.config, lsn)?;
    let mut layout = Vec::new();
    for (i, (data, dead, dead_count, index)) in sealed.iter().enumerate() {
        if data.len() == *dead_count {
            continue;
        }
        match index {
            Some(index) => {
                let graph = format!("seg-{i}");
                let gdir = w.temp_dir().join(&graph);
                fs::create_dir_all(&gdir)
                    .map_err(|e| Error::io(format!("create {}", gdir.display()), &e))?;
                index.save(&gdir)?;
                akidb_storage::crash::point("snapshot.write.after_graph");
                for off in 0..data.len() {
                    w.push(
                        &data.ids()[off],
                        data.vectors.get(off as u32),
                        &data.payloads()[off],
                    )?;
                }
                layout.push(SegmentLayout {
                    rows: data.len() as u64,
                    graph: Some(graph),
                    dead: dead.iter_ones().map(|o| o as u32).collect(),
                    mutable: false,
                });
            }
            None => {
                let mut rows = 0;
                for off in 0..data.len() {
                    if !dead.get(off) {
                        w.push(
                            &data.ids()[off],
                            data.vectors.get(off as u32),
                            &data.payloads()[off],
                        )?;
                        rows += 1;
                    }
                }
                layout.push(SegmentLayout {
                    rows,
                    graph: None,
                    dead: Vec::new(),
                    mutable: false,
                });
            }
        }
    }
    for (id, v, p) in &mutable {
        w.push(id, v, p)?;
    }
    layout.push(SegmentLayout {
        rows: mutable.len() as u64,
        graph: None,
        dead: Vec::new(),
        mutable: true,
    });
    let extra = serde_json::json!({ EXTRA_KEY: Layout { layout_version: 1, segments: layout } });
    let manifest = w.finish(extra)?;
    // Everything up to `lsn` is now in a durable snapshot.
    // A writer keeps what it has not shipped yet: followers read it from the bucket.
    let keep_from = match &live.shared.cfg.replica {
        Some(r) => r.shipped_through(&live.config.name),
        None => lsn,
    };
    live.wal.truncate_through(lsn.min(keep_from))?;
    let keep = live.shared.cfg.snapshot_retention.max(1);
    let dirs = snapshot_dirs(&live.dir);
    if dirs.len() > keep {
        let pending = live.shared.dlq.list();
        for old in &dirs[..dirs.len() - keep] {
            if pending.iter().any(|p| p.local_path.starts_with(old)) {
                // Still waiting in the dead-letter queue for upload.
                continue;
            }
            if let Err(e) = fs::remove_dir_all(old) {
                tracing::warn!(snapshot = %old.display(), error = %e, "could not remove an old snapshot");
            }
            // Oldest first, and never the newest: recovery only reads the newest valid one.
            akidb_storage::crash::point("snapshot.retention.after_remove");
        }
    }
    let uploads = match &live.shared.cfg.replica {
        Some(r) => r.uploads_snapshots(&live.config.name),
        None => true,
    };
    let upload = if live.shared.cfg.object_store.is_some() && uploads {
        crate::tier::upload_snapshot_or_queue(&live.shared, &live.config.name, &final_dir)
    } else {
        // The embedded LocalFs store only receives snapshots when a collection goes cold.
        Ok(())
    };
    let uploaded = live.shared.cfg.object_store.is_some() && uploads && upload.is_ok();
    if let Err(e) = upload {
        // The snapshot is durable locally; the upload is retried from the dead-letter queue.
        tracing::warn!(collection = %live.config.name, snapshot = %id, error = %e, "snapshot upload failed");
    }
    let seconds = started.elapsed().as_secs_f64();
    live.shared.cfg.observer.snapshot_written(seconds);
    tracing::info!(collection = %live.config.name, snapshot = %id, lsn, rows = manifest.rows, seconds, "snapshot written");
    Ok(SnapshotInfo {
        remote: uploaded,
        ..info_of(&final_dir, &manifest)
    })
}
