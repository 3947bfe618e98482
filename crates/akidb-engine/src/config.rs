//! Engine configuration: where data lives, durability, segment sizes, limits and tier policy.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use akidb_core::{NoopObserver, Observer, DEFAULT_MAX_K, DEFAULT_MAX_PAYLOAD_BYTES};
use akidb_storage::{BreakerConfig, ObjectStore, WalSync};

/// When collections move between the hot, warm and cold tiers.
#[derive(Debug, Clone)]
pub struct TierPolicy {
    /// A hot collection not accessed for this long is evicted to warm (default 6 h).
    pub hot_idle: Duration,
    /// A warm collection not accessed for this long is moved to cold (default 7 d).
    pub warm_idle: Duration,
    /// Hot collections are evicted least-recently-used first above this many bytes (None = unlimited).
    pub hot_memory_budget: Option<u64>,
    /// How often the tier manager checks the policy.
    pub check_interval: Duration,
    /// How long a tier move or restore waits for in-flight requests to let go of the
    /// collection before it is abandoned (default 30 s).
    pub exclusive_timeout: Duration,
}

impl Default for TierPolicy {
    fn default() -> Self {
        Self {
            hot_idle: Duration::from_secs(6 * 3600),
            warm_idle: Duration::from_secs(7 * 86_400),
            hot_memory_budget: None,
            check_interval: Duration::from_secs(30),
            exclusive_timeout: Duration::from_secs(30),
        }
    }
}

/// Everything [`crate::Database::open_with`] needs; [`EngineConfig::new`] gives embedded defaults.
#[derive(Clone)]
pub struct EngineConfig {
    /// Root of all on-disk state (`collections/`, `objects/`, `dlq/`).
    pub data_dir: PathBuf,
    /// WAL durability: `Always` (fsync before acknowledging, default) or `Never` (unsafe, benchmarks).
    pub wal_sync: WalSync,
    /// Size at which the WAL starts a new file.
    pub wal_segment_bytes: u64,
    /// An automatic snapshot is taken once a collection's WAL exceeds this many bytes.
    pub wal_snapshot_bytes: u64,
    /// Largest payload of one point, in bytes of compact JSON (64 KiB).
    pub max_payload_bytes: usize,
    /// Largest `k` a search may ask for (10,000).
    pub max_k: usize,
    /// The mutable segment is sealed and indexed once it holds this many points.
    pub segment_max_points: usize,
    /// Compaction runs automatically when this fraction of stored points is deleted (0.2).
    pub compaction_deleted_ratio: f64,
    /// Tier policy defaults (collections may override idle times and pin).
    pub tier: TierPolicy,
    /// Whether collections may move to the cold tier (object store).
    pub cold_tier_enabled: bool,
    /// Snapshots kept locally per collection.
    pub snapshot_retention: usize,
    /// Receives metric events.
    pub observer: Arc<dyn Observer>,
    /// Snapshot uploads and the cold tier; None => `LocalFs` at `<data_dir>/objects`
    /// (or no object store at all when `cold_tier_enabled` is false).
    pub object_store: Option<Arc<dyn ObjectStore>>,
    /// Circuit-breaker thresholds for object-store calls.
    pub breaker: BreakerConfig,
    /// Tokio runtime for object-store calls; None => the engine starts a small one.
    pub runtime: Option<tokio::runtime::Handle>,
    /// The replication layer's decisions; None => a single node that writes everything.
    pub replica: Option<Arc<dyn crate::ReplicaHooks>>,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("data_dir", &self.data_dir)
            .field("wal_sync", &self.wal_sync)
            .field("segment_max_points", &self.segment_max_points)
            .field("compaction_deleted_ratio", &self.compaction_deleted_ratio)
            .field("tier", &self.tier)
            .field("cold_tier_enabled", &self.cold_tier_enabled)
            .field("snapshot_retention", &self.snapshot_retention)
            .finish_non_exhaustive()
    }
}

impl EngineConfig {
    /// Embedded defaults rooted at `data_dir`.
    pub fn new(data_dir: impl AsRef<Path>) -> Self {
        Self {
            data_dir: data_dir.as_ref().to_path_buf(),
            wal_sync: WalSync::Always,
            wal_segment_bytes: akidb_storage::wal::DEFAULT_SEGMENT_BYTES,
            wal_snapshot_bytes: 256 * 1024 * 1024,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            max_k: DEFAULT_MAX_K,
            segment_max_points: 20_000,
            compaction_deleted_ratio: 0.2,
            tier: TierPolicy::default(),
            cold_tier_enabled: true,
            snapshot_retention: 3,
            observer: Arc::new(NoopObserver),
            object_store: None,
            breaker: BreakerConfig::default(),
            runtime: None,
            replica: None,
        }
    }
}
