//! Hooks through which the storage and engine layers report what they do, so the
//! server can export Prometheus metrics without the lower crates knowing about it.

use serde::{Deserialize, Serialize};

/// Where a collection's data lives right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Segments and indexes in RAM.
    Hot,
    /// Only on local disk; loaded on the next request.
    Warm,
    /// Only in the object store; downloaded on the next request.
    Cold,
}

impl Tier {
    /// The name used in the API and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Warm => "warm",
            Tier::Cold => "cold",
        }
    }
}

/// Receives events worth a metric. Every method defaults to doing nothing.
pub trait Observer: Send + Sync {
    /// A WAL fsync finished after `seconds`.
    fn wal_fsync(&self, _seconds: f64) {}
    /// A snapshot of a collection was written in `seconds`.
    fn snapshot_written(&self, _seconds: f64) {}
    /// An object-store call finished; `op` is get/put/list/delete/head, `outcome` ok/error/rejected.
    fn object_store_request(&self, _op: &'static str, _outcome: &'static str) {}
    /// A collection moved between tiers.
    fn tier_transition(&self, _from: Tier, _to: Tier) {}
    /// A search ran against a collection that was in `tier` when the request arrived.
    fn search(&self, _tier: Tier, _seconds: f64) {}
}

/// An observer that ignores everything.
pub struct NoopObserver;

impl Observer for NoopObserver {}
