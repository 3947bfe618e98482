//! What the database reports about collections, tiers, snapshots and compactions:
//! shared by the engine (which produces them), the server and the client (which reads them).

use serde::{Deserialize, Serialize};

use crate::{IndexParams, Metric, Tier};

/// Health of a collection as the API reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CollectionStatus {
    /// Serving; every sealed segment has its graph.
    #[default]
    Green,
    /// Serving; a sealed segment's graph is still being built (searched exactly meanwhile).
    Yellow,
    /// Failed to open and quarantined: every data request answers `collection_damaged`.
    Damaged,
}

impl CollectionStatus {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CollectionStatus::Green => "green",
            CollectionStatus::Yellow => "yellow",
            CollectionStatus::Damaged => "damaged",
        }
    }
}

/// What `GET /collections/{name}` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Health: green, yellow or damaged.
    #[serde(default)]
    pub status: CollectionStatus,
    /// The full-text index settings, when the collection has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_index: Option<crate::text::TextIndexConfig>,
    /// Why the collection is damaged (only then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With replication: the node id of the collection's writer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    /// With replication: `writer` or `follower`, this node's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// Tier state of one collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// A complete copy is on local disk.
    #[serde(default)]
    pub local: bool,
    /// A complete copy (manifest included) is in the object store.
    #[serde(default)]
    pub remote: bool,
}

/// What a compaction did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
