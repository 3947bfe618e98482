//! Plain data the engine hands back to callers (the server serialises these as JSON).

pub use akidb_core::info::{
    CollectionInfo, CollectionStatus, CompactionReport, SnapshotInfo, TierInfo,
};
use akidb_core::Tier;
use serde::Serialize;

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
    /// Quarantined: it failed to open and answers `collection_damaged`.
    pub damaged: bool,
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
