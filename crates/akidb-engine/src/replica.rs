//! The seam between the engine and a replication layer: who may write a collection, when a
//! write may be acknowledged, which WAL records must stay until shipped, and the follower's
//! way in (records applied at the writer's LSNs). The engine alone never replicates; the
//! `akidb-replication` crate implements [`ReplicaHooks`] (see docs/replication.md).

use akidb_core::Result;

/// What a write did: how many points it affected and the LSN it was logged at.
///
/// A write that changed nothing (deleting absent ids) logs nothing; its `lsn` is the
/// collection's applied LSN at that moment, so read-your-writes still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Points inserted, replaced, updated or deleted.
    pub count: usize,
    /// The LSN the write was applied at.
    pub lsn: u64,
}

impl PartialEq<usize> for Written {
    fn eq(&self, other: &usize) -> bool {
        self.count == *other
    }
}

/// Decisions a replication layer makes for the engine; every method is called on a
/// blocking thread and may block.
pub trait ReplicaHooks: Send + Sync {
    /// Before a client write to `collection` is logged; an error refuses it with nothing written.
    fn admit_write(&self, collection: &str) -> Result<()>;
    /// After the write at `lsn` is durable locally and applied; returns once the
    /// acknowledgement policy holds (e.g. the record is in the object store).
    fn acknowledge(&self, collection: &str, lsn: u64) -> Result<()>;
    /// Whether this node uploads snapshots of `collection` (only its writer does).
    fn uploads_snapshots(&self, collection: &str) -> bool;
    /// The highest LSN that may leave the local WAL: records after it are not shipped yet.
    fn shipped_through(&self, collection: &str) -> u64;
}

impl crate::Database {
    /// The LSN of the last record applied to `name` (loads the collection).
    pub fn applied_lsn(&self, name: &str) -> Result<u64> {
        Ok(self.hot(name)?.applied_lsn())
    }

    /// Applies records the writer logged, in LSN order; the first must follow the local
    /// WAL's last LSN (`lsn_out_of_order` otherwise), so a follower's LSNs equal its writer's.
    pub fn apply_replicated(&self, name: &str, records: &[akidb_storage::WalEntry]) -> Result<()> {
        self.hot(name)?.apply_replicated(records)
    }

    /// The records logged after `after` up to `upto` (at most the durable LSN), read back
    /// from the WAL files: what a writer ships.
    pub fn wal_records(
        &self,
        name: &str,
        after: u64,
        upto: u64,
    ) -> Result<Vec<akidb_storage::WalEntry>> {
        let live = self.hot(name)?;
        let upto = upto.min(live.wal.durable_lsn());
        live.wal.read_after(after, upto)
    }

    /// Removes the local copy of a collection, leaving the object store alone (a follower
    /// whose collection was dropped by its writer, or one that must rebuild from the bucket).
    pub fn forget_local(&self, name: &str) -> Result<()> {
        self.drop_local(name)
    }
}
