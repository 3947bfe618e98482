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

impl crate::Database {
    /// Creates the missing collection `name` from its newest complete snapshot in the object
    /// store *at that snapshot's LSN* (its WAL continues right after it, unlike `restore`,
    /// which keeps the collection's own numbering): how a follower starts without replaying
    /// the whole log. Returns the snapshot's LSN, or None when the store has no snapshot.
    pub fn install_snapshot(&self, name: &str) -> Result<Option<u64>> {
        if self.entry(name).is_ok() {
            return Err(akidb_core::Error::collection_exists(name));
        }
        let store = self.store()?;
        let Some(id) = crate::tier::remote_latest(&self.inner.shared, store.as_ref(), name)? else {
            return Ok(None);
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        // A dot directory: `Database::open` removes it if we crash before the end.
        let staging =
            crate::collections_dir(&self.inner.shared.cfg).join(format!(".install-{name}-{nanos}"));
        let result = (|| {
            let source = self.download_snapshot(store.as_ref(), name, &id, &staging)?;
            let manifest = akidb_storage::verify_snapshot(&source)?;
            if manifest.collection.name != name {
                return Err(akidb_core::Error::corruption(format!(
                    "snapshot '{id}' under '{name}' belongs to collection '{}'",
                    manifest.collection.name
                )));
            }
            self.create_collection(manifest.collection.clone())?;
            let entry = self.entry(name)?;
            let _t = entry.transition.lock();
            // The new collection is empty and unused: close it, put the snapshot in, reopen.
            drop(entry.live.write().take());
            let io = |what: &str, e: std::io::Error| akidb_core::Error::io(what.to_string(), &e);
            std::fs::remove_dir_all(entry.dir.join("wal"))
                .map_err(|e| io("remove the new collection's empty WAL", e))?;
            let snaps = entry.dir.join("snapshots");
            crate::fsutil::mkdirs(&snaps)?;
            std::fs::rename(&source, snaps.join(&id))
                .map_err(|e| io("move the downloaded snapshot in place", e))?;
            crate::fsutil::fsync_dir(&snaps)?;
            let live = crate::collection::Live::open(
                entry.config.clone(),
                entry.dir.clone(),
                self.inner.shared.clone(),
                entry.points.clone(),
            )?;
            *entry.live.write() = Some(live);
            Ok(Some(manifest.lsn))
        })();
        let _ = std::fs::remove_dir_all(&staging);
        if result.is_err() && self.entry(name).is_ok() {
            let _ = self.drop_local(name);
        }
        result
    }
}
