//! Plain data the engine hands back to callers (the server serialises these as JSON).

use akidb_core::{IndexParams, Metric, Tier};
use serde::Serialize;

/// What `GET /collections/{name}` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectionInfo {
    /// Collection name.
    pub name: String,
    /// Vector dimension.
    pub dimension: usize,
    /// Distance metric.
    pub metric: Metric,
    /// HNSW parameters.
    pub index: IndexParams,
    /// Live point count.
    pub points: u64,
    /// Where the collection lives now.
    pub tier: Tier,
}

/// Tier state of one collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierInfo {
    /// Collection name.
    pub name: String,
    /// Current tier.
    pub tier: Tier,
    /// Whether the collection is pinned hot.
    pub pinned: bool,
    /// Bytes held in RAM (0 unless hot).
    pub bytes_in_memory: u64,
    /// Bytes of the collection's local files.
    pub bytes_on_disk: u64,
    /// Last read or write, RFC 3339.
    pub last_access: String,
}

/// One snapshot of a collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotInfo {
    /// Snapshot id (directory name), sortable by LSN.
    pub snapshot_id: String,
    /// Every WAL record up to this LSN is in the snapshot.
    pub lsn: u64,
    /// Rows in `points.parquet`.
    pub rows: u64,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Total bytes of the snapshot's files.
    pub bytes: u64,
}

/// What a compaction did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompactionReport {
    /// Segments (sealed + mutable) before.
    pub segments_before: usize,
    /// Segments after.
    pub segments_after: usize,
    /// Dead (deleted or overwritten) rows dropped.
    pub removed_points: u64,
    /// Live points after.
    pub live_points: u64,
}

/// Per-collection numbers for metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectionStats {
    /// Collection name.
    pub name: String,
    /// Live points.
    pub points: u64,
    /// Current tier.
    pub tier: Tier,
    /// Sealed segments plus the mutable one (0 when not hot).
    pub segments: usize,
    /// Sealed segments whose graph is still being built.
    pub segments_pending_index: usize,
    /// Deleted-but-not-compacted rows.
    pub deleted_points: u64,
    /// Bytes of this collection's WAL.
    pub wal_bytes: u64,
    /// Graph indexes loaded from snapshot files since open.
    pub indexes_loaded: u64,
    /// Graph indexes built (sealing, compaction, or missing files) since open.
    pub indexes_built: u64,
    /// Last applied LSN.
    pub last_lsn: u64,
    /// WAL records appended since open.
    pub wal_appends: u64,
    /// WAL fsyncs since open (fewer than appends when group commit batches writers).
    pub wal_fsyncs: u64,
}

/// Engine-wide numbers for metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineStats {
    /// One entry per collection.
    pub collections: Vec<CollectionStats>,
    /// Sum of all WAL sizes.
    pub wal_bytes: u64,
    /// Object-store circuit breaker: 0 closed, 1 open, 2 half-open.
    pub breaker_state: u8,
    /// Entries in the dead-letter queue.
    pub dlq_size: u64,
}
