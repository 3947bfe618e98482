//! The tier manager: hot (in RAM) / warm (local files only) / cold (object store only),
//! snapshot upload, restore, and the policy loop.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use akidb_core::config::parse_duration;
use akidb_core::{Error, Result, Tier};
use akidb_storage::crash;
use akidb_storage::{download_dir, verify_snapshot, ObjectStore};

use crate::collection::Live;
use crate::policy::{plan, Candidate};
use crate::{fsutil, persist, CollectionInfo, Database, Entry, SnapshotInfo, TierInfo};

/// Object-store key prefix of a collection's snapshots.
pub(crate) fn remote_prefix(name: &str) -> String {
    format!("collections/{name}/snapshots")
}

/// Uploads one local snapshot directory to the object store (manifest last).
pub(crate) fn upload_snapshot(shared: &crate::Shared, name: &str, snap_dir: &Path) -> Result<()> {
    let Some(store) = shared.store.clone() else {
        return Ok(());
    };
    let id = snap_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let prefix = format!("{}/{id}", remote_prefix(name));
    shared.block_on(akidb_storage::upload_dir(store.as_ref(), snap_dir, &prefix))?;
    prune_remote(shared, name);
    Ok(())
}

/// Uploads a snapshot file by file; files that fail go to the dead-letter queue.
/// Returns the first error (after queueing every file that did not make it).
pub(crate) fn upload_snapshot_or_queue(
    shared: &crate::Shared,
    name: &str,
    snap_dir: &Path,
) -> Result<()> {
    let Some(store) = shared.store.clone() else {
        return Ok(());
    };
    let id = snap_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut files = Vec::new();
    collect_files(snap_dir, "", &mut files);
    // The manifest goes last: its presence in the store marks a complete upload.
    let manifest = akidb_storage::snapshot::MANIFEST_FILE;
    files.sort_by_key(|n| (n == manifest, n.clone()));
    let mut first_err = None;
    for rel in files {
        let key = format!("{}/{id}/{rel}", remote_prefix(name));
        let path = snap_dir.join(&rel);
        let is_manifest = rel == manifest;
        if is_manifest {
            // Every other object is in the store; without the manifest they are never trusted.
            crash::point("upload.before_manifest");
        }
        let res = if first_err.is_none() {
            shared.block_on(store.put_file(&key, &path))
        } else {
            Err(Error::object_store_unavailable(
                "an earlier file of this snapshot failed to upload",
            ))
        };
        if let Err(e) = res {
            if let Err(q) = shared.dlq.push(&key, &path, &e.to_string()) {
                tracing::error!(key = %key, error = %q, "could not record the failed upload in the dead-letter queue");
            }
            first_err.get_or_insert(e);
        }
        crash::point(if is_manifest {
            "upload.after_manifest"
        } else {
            "upload.after_object"
        });
    }
    match first_err {
        Some(e) => Err(e),
        None => {
            prune_remote(shared, name);
            Ok(())
        }
    }
}

fn collect_files(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if e.path().is_dir() {
            collect_files(&e.path(), &r, out);
        } else {
            out.push(r);
        }
    }
}

/// One snapshot id under a collection's prefix in the object store.
pub(crate) struct RemoteSnapshot {
    /// Snapshot id.
    pub id: String,
    /// Every object key of the snapshot.
    pub keys: Vec<String>,
    /// The manifest is there: the upload finished.
    pub complete: bool,
}

/// The snapshots of `name` in the object store, oldest first.
pub(crate) fn remote_snapshots(
    shared: &crate::Shared,
    store: &dyn ObjectStore,
    name: &str,
) -> Result<Vec<RemoteSnapshot>> {
    let prefix = format!("{}/", remote_prefix(name));
    let objects = shared.block_on(store.list(&prefix))?;
    let mut by_id: std::collections::BTreeMap<String, RemoteSnapshot> = Default::default();
    for o in objects {
        let Some((id, file)) = o.key.strip_prefix(&prefix).and_then(|r| r.split_once('/')) else {
            continue;
        };
        let snap = by_id
            .entry(id.to_string())
            .or_insert_with(|| RemoteSnapshot {
                id: id.to_string(),
                keys: Vec::new(),
                complete: false,
            });
        snap.complete |= file == akidb_storage::snapshot::MANIFEST_FILE;
        snap.keys.push(o.key.clone());
    }
    Ok(by_id.into_values().collect())
}

/// Newest complete snapshot id of `name` in the object store, if any.
pub(crate) fn remote_latest(
    shared: &crate::Shared,
    store: &dyn ObjectStore,
    name: &str,
) -> Result<Option<String>> {
    Ok(remote_snapshots(shared, store, name)?
        .into_iter()
        .rev()
        .find(|s| s.complete)
        .map(|s| s.id))
}

/// Deletes remote snapshots older than the newest `snapshot_retention` complete ones
/// (incomplete uploads older than those too). Best effort: a failure is logged and the
/// next snapshot tries again. Returns the number of snapshots removed.
pub(crate) fn prune_remote(shared: &crate::Shared, name: &str) -> usize {
    let Some(store) = shared.store.clone() else {
        return 0;
    };
    let snaps = match remote_snapshots(shared, store.as_ref(), name) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(collection = %name, error = %e, "remote snapshot retention skipped");
            return 0;
        }
    };
    let keep = shared.cfg.snapshot_retention.max(1);
    let complete: Vec<&str> = snaps
        .iter()
        .filter(|s| s.complete)
        .map(|s| s.id.as_str())
        .collect();
    if complete.len() <= keep {
        return 0;
    }
    let oldest_kept = complete[complete.len() - keep].to_string();
    let pending = shared.dlq.list();
    let mut removed = 0;
    for snap in snaps.iter().filter(|s| s.id < oldest_kept) {
        if pending.iter().any(|p| snap.keys.contains(&p.key)) {
            continue;
        }
        // The manifest first: a snapshot without one is never chosen for a download.
        let mut keys = snap.keys.clone();
        keys.sort_by_key(|k| !k.ends_with(akidb_storage::snapshot::MANIFEST_FILE));
        let res: Result<()> = keys.iter().try_for_each(|k| {
            shared.block_on(store.delete(k))?;
            crash::point("upload.prune.after_delete");
            Ok(())
        });
        match res {
            Ok(()) => removed += 1,
            Err(e) => {
                tracing::warn!(collection = %name, snapshot = %snap.id, error = %e, "could not delete an old remote snapshot");
                break;
            }
        }
    }
    if removed > 0 {
        tracing::info!(collection = %name, removed, keep, "old remote snapshots deleted");
    }
    removed
}

/// Deletes every object of a dropped collection and its dead-letter entries. Best effort:
/// the local drop has happened; what cannot be deleted now is logged.
pub(crate) fn delete_remote(shared: &crate::Shared, name: &str) {
    let prefix = format!("collections/{name}/");
    for entry in shared
        .dlq
        .list()
        .into_iter()
        .filter(|e| e.key.starts_with(&prefix))
    {
        if let Err(e) = shared.dlq.remove(&entry.id) {
            tracing::warn!(collection = %name, error = %e, "could not remove a dead-letter entry of a dropped collection");
        }
    }
    let Some(store) = shared.store.clone() else {
        return;
    };
    let res = shared.block_on(store.list(&prefix)).and_then(|objects| {
        objects
            .iter()
            .try_for_each(|o| shared.block_on(store.delete(&o.key)))
    });
    if let Err(e) = res {
        tracing::warn!(collection = %name, error = %e, "objects of the dropped collection are left in the object store");
    }
}

/// Waits until nobody but the caller holds `live` (in-flight requests, index builds).
fn wait_exclusive(live: &Arc<Live>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Arc::strong_count(live) > 1 {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

impl Database {
    pub(crate) fn store(&self) -> Result<Arc<dyn ObjectStore>> {
        self.inner.shared.store.clone().ok_or_else(|| {
            Error::invalid(
                "cold_tier_disabled",
                "no object store is configured (cold tier disabled)",
            )
        })
    }

    /// Loads a warm or cold collection (the caller holds no transition lock).
    pub(crate) fn load(&self, entry: &Arc<Entry>) -> Result<Arc<Live>> {
        let _t = entry.transition.lock();
        if let Some(l) = entry.live.read().clone() {
            return Ok(l);
        }
        entry.check_healthy()?;
        let from = entry.meta.lock().tier;
        let started = Instant::now();
        let opened = (|| {
            if from == Tier::Cold {
                self.download_latest(entry)?;
                // Still recorded cold: the next open removes the downloaded files.
                crash::point("thaw.after_download");
            }
            Live::open(
                entry.config.clone(),
                entry.dir.clone(),
                self.inner.shared.clone(),
                entry.points.clone(),
            )
        })();
        let live = match opened {
            Ok(live) => live,
            Err(e) if e.kind() == akidb_core::ErrorKind::Corruption => {
                let name = &entry.config.name;
                tracing::error!(collection = %name, error = %e, "collection quarantined: it failed to load");
                *entry.damage.write() = Some(e.to_string());
                return Err(Error::collection_damaged(name, &e.to_string()));
            }
            Err(e) => return Err(e),
        };
        // "hot" is durable before any write can reach the WAL: the next open removes the
        // local files of a collection still recorded cold.
        crash::point("thaw.after_open");
        self.record_tier(entry, Tier::Hot)?;
        crash::point("thaw.after_record_hot");
        *entry.live.write() = Some(live.clone());
        self.announce(entry, from, Tier::Hot, started);
        Ok(live)
    }

    /// Sets and durably records the tier; on failure the recorded tier stays as it was.
    fn record_tier(&self, entry: &Entry, to: Tier) -> Result<()> {
        let from = std::mem::replace(&mut entry.meta.lock().tier, to);
        crate::write_tier_file(entry).inspect_err(|_| entry.meta.lock().tier = from)
    }

    fn transitioned(&self, entry: &Entry, from: Tier, to: Tier, started: Instant) {
        entry.meta.lock().tier = to;
        if let Err(e) = crate::write_tier_file(entry) {
            tracing::error!(collection = %entry.config.name, error = %e, "could not persist the tier state");
        }
        self.announce(entry, from, to, started);
    }

    /// Counts and logs a tier move.
    fn announce(&self, entry: &Entry, from: Tier, to: Tier, started: Instant) {
        if from != to {
            self.inner.shared.cfg.observer.tier_transition(from, to);
            tracing::info!(
                collection = %entry.config.name,
                from = from.as_str(),
                to = to.as_str(),
                seconds = started.elapsed().as_secs_f64(),
                "tier transition"
            );
        }
    }

    /// Downloads the newest remote snapshot of a cold collection into its local snapshot dir.
    fn download_latest(&self, entry: &Entry) -> Result<()> {
        let store = self.store()?;
        let name = &entry.config.name;
        let id = remote_latest(&self.inner.shared, store.as_ref(), name)?.ok_or_else(|| {
            Error::internal(format!(
                "cold collection '{name}' has no snapshot in the object store"
            ))
        })?;
        let target = entry.dir.join("snapshots").join(&id);
        if !target.exists() {
            fsutil::mkdirs(&entry.dir.join("snapshots"))?;
            self.inner.shared.block_on(download_dir(
                store.as_ref(),
                &format!("{}/{id}", remote_prefix(name)),
                &target,
            ))?;
        }
        if let Err(e) = verify_snapshot(&target) {
            let _ = fs::remove_dir_all(&target);
            return Err(e);
        }
        Ok(())
    }

    /// hot → warm: snapshot, then drop the in-memory state.
    fn evict(&self, entry: &Arc<Entry>) -> Result<()> {
        let _t = entry.transition.lock();
        let Some(live) = entry.live.write().take() else {
            return Ok(());
        };
        let started = Instant::now();
        if let Err(e) = persist::snapshot(&live) {
            *entry.live.write() = Some(live);
            return Err(e);
        }
        // Still recorded hot: the next open replays the WAL over the new snapshot.
        crash::point("evict.after_snapshot");
        // Requests that got the collection before the eviction still finish against it;
        // their writes are in the WAL, which stays on local disk in the warm tier. One that
        // outlasts the timeout keeps the collection hot: a later load would open a second
        // WAL writer next to its handle.
        let timeout = self.inner.shared.cfg.tier.exclusive_timeout;
        if !wait_exclusive(&live, timeout) {
            *entry.live.write() = Some(live);
            let e = Error::collection_busy(
                &entry.config.name,
                &format!("requests still held it after {timeout:?}; it stays hot"),
            );
            tracing::warn!(collection = %entry.config.name, error = %e, "eviction abandoned");
            return Err(e);
        }
        drop(live);
        self.transitioned(entry, Tier::Hot, Tier::Warm, started);
        Ok(())
    }

    /// warm → cold. Every crash point leaves the warm copy or a recorded cold one: upload and
    /// check the snapshot, durably record "cold", and only then remove local data files.
    fn freeze(&self, entry: &Arc<Entry>) -> Result<()> {
        if !self.inner.shared.cfg.cold_tier_enabled {
            return Err(Error::invalid(
                "cold_tier_disabled",
                "the cold tier is disabled (AKIDB_COLD_TIER_ENABLED=false)",
            ));
        }
        let _store = self.store()?;
        let _t = entry.transition.lock();
        if entry.meta.lock().tier != Tier::Warm || entry.live.read().is_some() {
            return Ok(());
        }
        let started = Instant::now();
        let name = &entry.config.name;
        // The warm state must be fully covered by the newest snapshot: reload and snapshot
        // if the WAL holds anything newer (e.g. a write that raced with eviction).
        let snaps = persist::snapshot_dirs(&entry.dir);
        let covered = match snaps.last() {
            Some(s) => {
                let lsn = akidb_storage::read_manifest(s)?.lsn;
                crate::collection::wal_last_lsn(&entry.dir, &self.inner.shared, lsn)? <= lsn
            }
            None => false,
        };
        if !covered {
            let live = Live::open(
                entry.config.clone(),
                entry.dir.clone(),
                self.inner.shared.clone(),
                entry.points.clone(),
            )?;
            persist::snapshot(&live)?;
            // Only background jobs can hold this handle; its WAL must be closed before the
            // local files go.
            let timeout = self.inner.shared.cfg.tier.exclusive_timeout;
            if !wait_exclusive(&live, timeout) {
                return Err(Error::collection_busy(
                    name,
                    &format!("background work still held it after {timeout:?}; it stays warm"),
                ));
            }
        }
        let snaps = persist::snapshot_dirs(&entry.dir);
        let newest = snaps.last().ok_or_else(|| {
            Error::internal(format!("collection '{name}' has no snapshot to upload"))
        })?;
        let id = newest
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let manifest_key = format!(
            "{}/{id}/{}",
            remote_prefix(name),
            akidb_storage::snapshot::MANIFEST_FILE
        );
        let store = self.store()?;
        if self
            .inner
            .shared
            .block_on(store.head(&manifest_key))?
            .is_none()
        {
            upload_snapshot(&self.inner.shared, name, newest)?;
        }
        self.verify_remote(store.as_ref(), name, &id, newest)?;
        crash::point("freeze.after_upload");
        // The object store holds everything: record "cold" durably before removing anything.
        self.record_tier(entry, Tier::Cold)?;
        crash::point("freeze.after_record_cold");
        // From here a failure only leaves files that the next open removes.
        for sub in ["snapshots", "wal"] {
            let d = entry.dir.join(sub);
            if let Err(e) = fs::remove_dir_all(&d).or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            }) {
                tracing::warn!(dir = %d.display(), error = %e, "local files of a cold collection not removed; the next open removes them");
            }
            crash::point(if sub == "wal" {
                "freeze.after_remove_wal"
            } else {
                "freeze.after_remove_snapshots"
            });
            fsutil::mkdirs(&d)?;
        }
        fsutil::fsync_dir(&entry.dir)?;
        self.announce(entry, Tier::Warm, Tier::Cold, started);
        Ok(())
    }

    /// Checks that every file of local snapshot `id` is in the object store with its size.
    fn verify_remote(
        &self,
        store: &dyn ObjectStore,
        name: &str,
        id: &str,
        local: &Path,
    ) -> Result<()> {
        let prefix = format!("{}/{id}/", remote_prefix(name));
        let remote: std::collections::HashMap<String, u64> = self
            .inner
            .shared
            .block_on(store.list(&prefix))?
            .into_iter()
            .map(|o| (o.key, o.size))
            .collect();
        let mut files = Vec::new();
        collect_files(local, "", &mut files);
        for rel in files {
            let size = fs::metadata(local.join(&rel))
                .map_err(|e| Error::io(format!("stat {}", local.join(&rel).display()), &e))?
                .len();
            let key = format!("{prefix}{rel}");
            if remote.get(&key) != Some(&size) {
                return Err(Error::object_store_unavailable(format!(
                    "object {key} is missing or has the wrong size after the upload; \
                     collection '{name}' stays warm"
                )));
            }
        }
        Ok(())
    }

    fn tier_info(&self, entry: &Entry) -> TierInfo {
        let meta = entry.meta.lock();
        let (tier, pinned, last) = (meta.tier, meta.pinned, meta.last_access);
        drop(meta);
        let bytes_in_memory = entry
            .live
            .read()
            .as_ref()
            .map_or(0, |l| l.state.read().memory_bytes());
        TierInfo {
            name: entry.config.name.clone(),
            tier,
            pinned,
            bytes_in_memory,
            bytes_on_disk: fsutil::dir_bytes(&entry.dir),
            last_access: fsutil::rfc3339(last),
        }
    }

    /// Tier state of a collection (never loads it).
    pub fn tier(&self, name: &str) -> Result<TierInfo> {
        let entry = self.healthy(name)?;
        Ok(self.tier_info(&entry))
    }

    /// Loads a warm or cold collection into RAM now.
    pub fn promote(&self, name: &str) -> Result<TierInfo> {
        self.hot(name)?;
        self.tier(name)
    }

    /// Moves a collection down to `to` (warm or cold); synchronous.
    pub fn demote(&self, name: &str, to: Tier) -> Result<TierInfo> {
        let entry = self.healthy(name)?;
        if entry.meta.lock().pinned {
            return Err(Error::invalid(
                "collection_pinned",
                format!("collection '{name}' is pinned hot; unpin it first"),
            ));
        }
        match to {
            Tier::Hot => return self.promote(name),
            Tier::Warm => {
                if entry.meta.lock().tier == Tier::Cold {
                    return Err(Error::invalid(
                        "invalid_tier",
                        format!("collection '{name}' is cold; promote it instead"),
                    ));
                }
                self.evict(&entry)?;
            }
            Tier::Cold => {
                if !self.inner.shared.cfg.cold_tier_enabled || self.inner.shared.store.is_none() {
                    return Err(Error::invalid(
                        "cold_tier_disabled",
                        "the cold tier is disabled",
                    ));
                }
                self.evict(&entry)?;
                self.freeze(&entry)?;
            }
        }
        Ok(self.tier_info(&entry))
    }

    /// Keeps a collection hot whatever the policy says (loads it if needed).
    pub fn pin(&self, name: &str) -> Result<TierInfo> {
        let entry = self.entry(name)?;
        self.hot(name)?;
        entry.meta.lock().pinned = true;
        crate::write_tier_file(&entry)?;
        Ok(self.tier_info(&entry))
    }

    /// Lets the policy move the collection again.
    pub fn unpin(&self, name: &str) -> Result<TierInfo> {
        let entry = self.healthy(name)?;
        entry.meta.lock().pinned = false;
        crate::write_tier_file(&entry)?;
        Ok(self.tier_info(&entry))
    }

    /// Applies the tier policy once at time `now` (the background loop calls this; tests may too).
    pub fn run_tier_policy(&self, now: SystemTime) -> Vec<(String, Tier)> {
        let entries: Vec<Arc<Entry>> = self.inner.collections.read().values().cloned().collect();
        let cands: Vec<Candidate> = entries
            .iter()
            // A quarantined collection stays where it is until restored or dropped.
            .filter(|e| e.damage.read().is_none())
            .map(|e| {
                let meta = e.meta.lock();
                Candidate {
                    name: e.config.name.clone(),
                    tier: meta.tier,
                    pinned: meta.pinned,
                    last_access: meta.last_access,
                    bytes_in_memory: e
                        .live
                        .read()
                        .as_ref()
                        .map_or(0, |l| l.state.read().memory_bytes()),
                    hot_idle: e
                        .config
                        .tier
                        .hot_idle
                        .as_deref()
                        .and_then(|d| parse_duration(d).ok()),
                    warm_idle: e
                        .config
                        .tier
                        .warm_idle
                        .as_deref()
                        .and_then(|d| parse_duration(d).ok()),
                }
            })
            .collect();
        let cold_ok = self.inner.shared.cfg.cold_tier_enabled && self.inner.shared.store.is_some();
        let moves = plan(&self.inner.shared.cfg.tier, cold_ok, &cands, now);
        let mut done = Vec::new();
        for (name, to) in moves {
            let Ok(entry) = self.healthy(&name) else {
                continue;
            };
            let res = match to {
                Tier::Warm => self.evict(&entry),
                Tier::Cold => self.freeze(&entry),
                Tier::Hot => Ok(()),
            };
            match res {
                Ok(()) => done.push((name, to)),
                // Demotion to cold waits while the object store is down.
                Err(e) => {
                    tracing::warn!(collection = %name, to = to.as_str(), error = %e, "tier move postponed")
                }
            }
        }
        done
    }

    /// Restores a collection from a snapshot (`"latest"` or an id), from the object store
    /// when it is not on local disk. Verifies checksums when asked; a damaged snapshot is
    /// refused with an error naming the file and the running collection stays untouched.
    /// A collection that no longer exists locally (e.g. after the data dir was lost) is
    /// recreated from the configuration in the snapshot's manifest.
    pub fn restore(
        &self,
        name: &str,
        snapshot_id: &str,
        verify_integrity: bool,
    ) -> Result<CollectionInfo> {
        let resolved = self.resolve(name);
        let name = resolved.as_ref();
        let entry = match self.entry(name) {
            Ok(entry) => entry,
            Err(e) if e.code() == "collection_not_found" => {
                return self.restore_missing(name, snapshot_id, verify_integrity, e)
            }
            Err(e) => return Err(e),
        };
        if entry.damage.read().is_some() {
            return self.repair(&entry, snapshot_id);
        }
        let id = if snapshot_id == "latest" {
            let remote = match self.store() {
                Ok(store) => remote_latest(&self.inner.shared, store.as_ref(), name)?,
                Err(_) => None,
            };
            let local = persist::snapshot_dirs(&entry.dir)
                .last()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_string()));
            std::cmp::max(remote, local).ok_or_else(|| no_snapshot(name))?
        } else {
            check_snapshot_id(snapshot_id)?;
            snapshot_id.to_string()
        };
        let staging = entry.dir.join("restore-tmp");
        let _ = fs::remove_dir_all(&staging);
        let local = entry.dir.join("snapshots").join(&id);
        let source = if local.join(akidb_storage::snapshot::MANIFEST_FILE).exists() {
            local
        } else {
            let store = self.store().map_err(|_| snapshot_not_found(name, &id))?;
            self.download_snapshot(store.as_ref(), name, &id, &staging)?
        };
        let result = self.restore_from(&entry, &source, &id, verify_integrity);
        let _ = fs::remove_dir_all(&staging);
        result
    }

    /// Restore of a quarantined collection: its local files are suspect, so the snapshot
    /// comes from the object store when it is there, is always verified, and replaces the
    /// whole collection directory (WAL included) in one rename.
    fn repair(&self, entry: &Arc<Entry>, snapshot_id: &str) -> Result<CollectionInfo> {
        let name = entry.config.name.clone();
        let _t = entry.transition.lock();
        let shared = &self.inner.shared;
        let store = self.store().ok();
        let local_ids: Vec<String> = persist::snapshot_dirs(&entry.dir)
            .iter()
            .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().to_string()))
            .collect();
        let remote_ids: Vec<String> = match &store {
            Some(store) => remote_snapshots(shared, store.as_ref(), &name)?
                .into_iter()
                .filter(|r| r.complete)
                .map(|r| r.id)
                .collect(),
            None => Vec::new(),
        };
        let id = if snapshot_id == "latest" {
            std::cmp::max(remote_ids.last(), local_ids.last())
                .cloned()
                .ok_or_else(|| no_snapshot(&name))?
        } else {
            check_snapshot_id(snapshot_id)?;
            snapshot_id.to_string()
        };
        let root = crate::collections_dir(&shared.cfg);
        // A dot directory: `Database::open` finishes the swap or removes it after a crash.
        let fresh = root.join(format!("{REPAIR_PREFIX}{name}"));
        let result = (|| {
            if fresh.exists() {
                fs::remove_dir_all(&fresh)
                    .map_err(|e| Error::io(format!("remove {}", fresh.display()), &e))?;
            }
            fsutil::mkdirs(&fresh.join("wal"))?;
            let snaps = fresh.join("snapshots");
            fsutil::mkdirs(&snaps)?;
            let target = snaps.join(&id);
            match &store {
                Some(store) if remote_ids.contains(&id) => {
                    self.download_snapshot(store.as_ref(), &name, &id, &snaps)?;
                }
                _ if local_ids.contains(&id) => {
                    copy_dir(&entry.dir.join("snapshots").join(&id), &target)?;
                }
                _ => return Err(snapshot_not_found(&name, &id)),
            }
            crash::point("repair.after_fetch");
            let manifest = verify_snapshot(&target).map_err(|e| refused(&name, &id, &e))?;
            // An unreadable config.json was replaced by a stand-in: take the snapshot's.
            let config = match crate::read_config(&entry.dir) {
                Ok(c) => c,
                Err(_) => akidb_core::CollectionConfig {
                    name: name.clone(),
                    ..manifest.collection.clone()
                },
            };
            if manifest.collection.dimension != config.dimension
                || manifest.collection.metric != config.metric
            {
                return Err(Error::corruption(format!(
                    "snapshot '{id}' of '{name}' has dimension {} and metric {}, the collection {} and {}",
                    manifest.collection.dimension,
                    manifest.collection.metric.as_str(),
                    config.dimension,
                    config.metric.as_str()
                )));
            }
            let json =
                serde_json::to_vec_pretty(&config).map_err(|e| Error::internal(e.to_string()))?;
            fsutil::write_atomic(&fresh.join("config.json"), &json)?;
            // Written last: its presence marks a complete replacement directory.
            crate::write_tier_state(
                &fresh,
                &crate::TierFile {
                    tier: Tier::Hot,
                    pinned: entry.meta.lock().pinned,
                    points: 0,
                },
            )?;
            fsutil::fsync_dir(&root)?;
            Ok(config)
        })();
        let config = match result {
            Ok(c) => c,
            Err(e) => {
                let _ = fs::remove_dir_all(&fresh);
                return Err(e);
            }
        };
        let _guard = self.inner.catalog_lock.lock();
        let current = self.inner.collections.read().get(&name).cloned();
        if !current.is_some_and(|c| Arc::ptr_eq(&c, entry)) {
            let _ = fs::remove_dir_all(&fresh);
            return Err(Error::collection_not_found(&name));
        }
        crash::point("repair.before_swap");
        swap_in(&root, &fresh, &entry.dir)?;
        let points = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let live = Live::open(
            config.clone(),
            entry.dir.clone(),
            shared.clone(),
            points.clone(),
        );
        let (live, damage) = match live {
            Ok(l) => (Some(l), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let meta = entry.meta.lock();
        let repaired = Arc::new(Entry {
            config,
            dir: entry.dir.clone(),
            points,
            live: parking_lot::RwLock::new(live),
            meta: parking_lot::Mutex::new(crate::TierMeta {
                tier: Tier::Hot,
                pinned: meta.pinned,
                last_access: SystemTime::now(),
            }),
            transition: parking_lot::Mutex::new(()),
            damage: parking_lot::RwLock::new(damage.clone()),
        });
        drop(meta);
        self.inner
            .collections
            .write()
            .insert(name.clone(), repaired.clone());
        if let Some(reason) = damage {
            return Err(Error::collection_damaged(&name, &reason));
        }
        tracing::info!(collection = %name, snapshot = %id, "damaged collection restored; it serves again");
        Ok(Self::info(&repaired))
    }

    /// Restore of a collection unknown locally: only the object store can have it.
    fn restore_missing(
        &self,
        name: &str,
        snapshot_id: &str,
        verify_integrity: bool,
        not_found: Error,
    ) -> Result<CollectionInfo> {
        let Ok(store) = self.store() else {
            return Err(not_found);
        };
        // The name becomes part of object keys: only a valid collection name may get there.
        if akidb_core::config::validate_name(name).is_err() {
            return Err(not_found);
        }
        let id = if snapshot_id == "latest" {
            match remote_latest(&self.inner.shared, store.as_ref(), name)? {
                Some(id) => id,
                None => return Err(not_found),
            }
        } else {
            check_snapshot_id(snapshot_id)?;
            snapshot_id.to_string()
        };
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        // A dot directory: `Database::open` removes it if we crash before the end.
        let staging =
            crate::collections_dir(&self.inner.shared.cfg).join(format!(".restore-{name}-{nanos}"));
        let result = (|| {
            let source = self.download_snapshot(store.as_ref(), name, &id, &staging)?;
            let manifest = if verify_integrity {
                verify_snapshot(&source)
            } else {
                akidb_storage::read_manifest(&source)
            }
            .map_err(|e| refused(name, &id, &e))?;
            if manifest.collection.name != name {
                return Err(Error::corruption(format!(
                    "snapshot '{id}' under '{name}' belongs to collection '{}'",
                    manifest.collection.name
                )));
            }
            self.create_collection(manifest.collection.clone())?;
            // A crash here leaves the new collection empty; restoring again fills it.
            crash::point("restore.missing.after_create");
            let entry = self.entry(name)?;
            self.restore_from(&entry, &source, &id, false)
                .inspect_err(|_| {
                    // Leave no empty collection behind: the restore did not happen.
                    if let Err(e) = self.drop_local(name) {
                        tracing::warn!(collection = %name, error = %e, "could not remove the collection of a failed restore");
                    }
                })
        })();
        let _ = fs::remove_dir_all(&staging);
        if result.is_ok() {
            tracing::info!(collection = %name, snapshot = %id, "collection recreated from the object store");
        }
        result
    }

    /// Downloads snapshot `id` of `name` into `staging/<id>` and returns that directory.
    pub(crate) fn download_snapshot(
        &self,
        store: &dyn ObjectStore,
        name: &str,
        id: &str,
        staging: &Path,
    ) -> Result<std::path::PathBuf> {
        fsutil::mkdirs(staging)?;
        let target = staging.join(id);
        let files = self
            .inner
            .shared
            .block_on(download_dir(
                store,
                &format!("{}/{id}", remote_prefix(name)),
                &target,
            ))
            .map_err(|e| {
                if e.kind() == akidb_core::ErrorKind::NotFound {
                    snapshot_not_found(name, id)
                } else {
                    e
                }
            })?;
        if files == 0 {
            return Err(snapshot_not_found(name, id));
        }
        Ok(target)
    }

    /// Snapshots of a collection, oldest first: local ones and, when an object store is
    /// configured, the complete ones there (listing works for a collection that exists
    /// only in the object store, e.g. after the data dir was lost).
    pub fn list_snapshots(&self, name: &str) -> Result<Vec<SnapshotInfo>> {
        let resolved = self.resolve(name);
        let name = resolved.as_ref();
        let (mut out, known) = match self.entry(name) {
            Ok(entry) => (persist::list_snapshots(&entry.dir), true),
            Err(e)
                if e.code() == "collection_not_found"
                    && akidb_core::config::validate_name(name).is_ok() =>
            {
                (Vec::new(), false)
            }
            Err(e) => return Err(e),
        };
        let shared = &self.inner.shared;
        let remote = match self.store() {
            Ok(store) => match remote_snapshots(shared, store.as_ref(), name) {
                Ok(r) => r.into_iter().map(|r| (store.clone(), r)).collect(),
                // Degraded mode: local snapshots are still listed.
                Err(e) if known => {
                    tracing::warn!(collection = %name, error = %e, "remote snapshots not listed");
                    Vec::new()
                }
                Err(e) => return Err(e),
            },
            Err(_) => Vec::new(),
        };
        for (store, r) in remote.into_iter().filter(|(_, r)| r.complete) {
            if let Some(info) = out.iter_mut().find(|i| i.snapshot_id == r.id) {
                info.remote = true;
                continue;
            }
            let key = format!(
                "{}/{}/{}",
                remote_prefix(name),
                r.id,
                akidb_storage::snapshot::MANIFEST_FILE
            );
            let bytes = shared.block_on(store.get(&key))?;
            let m: akidb_storage::SnapshotManifest =
                serde_json::from_slice(&bytes).map_err(|e| {
                    Error::corruption(format!("object {key} is not a snapshot manifest: {e}"))
                })?;
            out.push(SnapshotInfo {
                snapshot_id: r.id,
                lsn: m.lsn,
                rows: m.rows,
                bytes: m.total_bytes(),
                created_at: m.created_at,
                local: false,
                remote: true,
            });
        }
        if !known && out.is_empty() {
            return Err(Error::collection_not_found(name));
        }
        out.sort_by(|a, b| a.snapshot_id.cmp(&b.snapshot_id));
        Ok(out)
    }

    fn restore_from(
        &self,
        entry: &Arc<Entry>,
        source: &Path,
        id: &str,
        verify: bool,
    ) -> Result<CollectionInfo> {
        let name = &entry.config.name;
        if verify {
            verify_snapshot(source).map_err(|e| refused(name, id, &e))?;
        }
        let recovered = persist::load_snapshot(&entry.config, source, &self.inner.shared, false)?;
        // Swap: the restored state continues the collection's WAL under a new snapshot.
        self.hot(name)?;
        let _t = entry.transition.lock();
        let Some(cur) = entry.live.write().take() else {
            return Err(Error::internal(format!(
                "collection '{name}' was unloaded during restore"
            )));
        };
        if !wait_exclusive(&cur, self.inner.shared.cfg.tier.exclusive_timeout) {
            *entry.live.write() = Some(cur);
            return Err(Error::internal(format!(
                "collection '{name}' is busy; retry the restore"
            )));
        }
        let cur = match Arc::try_unwrap(cur) {
            Ok(l) => l,
            Err(arc) => {
                *entry.live.write() = Some(arc);
                return Err(Error::internal(format!(
                    "collection '{name}' is busy; retry the restore"
                )));
            }
        };
        let wal = cur.into_wal();
        let mut state = recovered.state;
        state.applied_lsn = wal.last_lsn();
        let live = Live::assemble(
            entry.config.clone(),
            entry.dir.clone(),
            state,
            wal,
            self.inner.shared.clone(),
            entry.points.clone(),
            recovered.loaded,
            recovered.unindexed,
        );
        // Only in memory so far: a crash here restarts from the pre-restore files.
        crash::point("restore.swap.before_snapshot");
        if let Err(e) = persist::snapshot(&live) {
            // Not durable: go back to what is on disk (the pre-restore state).
            drop(live);
            let old = Live::open(
                entry.config.clone(),
                entry.dir.clone(),
                self.inner.shared.clone(),
                entry.points.clone(),
            )?;
            *entry.live.write() = Some(old);
            return Err(e);
        }
        crash::point("restore.swap.after_snapshot");
        *entry.live.write() = Some(live);
        entry.meta.lock().tier = Tier::Hot;
        tracing::info!(collection = %name, snapshot = %id, "collection restored");
        Ok(Self::info(entry))
    }
}

/// Name prefix of the replacement directory a repair builds next to the damaged one.
const REPAIR_PREFIX: &str = ".repair-";

/// Replaces `dir` by the complete directory `fresh` (both under `root`).
fn swap_in(root: &Path, fresh: &Path, dir: &Path) -> Result<()> {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let old = root.join(format!(".damaged-{name}-{nanos}"));
    fs::rename(dir, &old).map_err(|e| Error::io(format!("rename {}", dir.display()), &e))?;
    // A crash here leaves only `fresh`, which the next open moves into place.
    crash::point("repair.swap.after_move_old");
    fs::rename(fresh, dir).map_err(|e| Error::io(format!("rename {}", fresh.display()), &e))?;
    crash::point("repair.swap.after_move_new");
    fsutil::fsync_dir(root)?;
    if let Err(e) = fs::remove_dir_all(&old) {
        tracing::warn!(dir = %old.display(), error = %e, "could not remove the damaged files; they are removed on the next open");
    }
    Ok(())
}

/// Moves a complete replacement directory of an interrupted repair into place (called by
/// `Database::open` before it removes other dot directories).
pub(crate) fn finish_interrupted_repairs(root: &Path) -> Result<()> {
    let Ok(listing) = fs::read_dir(root) else {
        return Ok(());
    };
    for e in listing.flatten() {
        let file_name = e.file_name().to_string_lossy().to_string();
        let Some(name) = file_name.strip_prefix(REPAIR_PREFIX) else {
            continue;
        };
        let dir = root.join(name);
        if !dir.exists() && e.path().join("tier.json").exists() {
            fs::rename(e.path(), &dir)
                .map_err(|err| Error::io(format!("rename {}", e.path().display()), &err))?;
            fsutil::fsync_dir(root)?;
            tracing::info!(collection = %name, "finished a restore interrupted by a crash");
        }
    }
    Ok(())
}

/// Copies a directory tree, fsyncing every file.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fsutil::mkdirs(to)?;
    let rd = fs::read_dir(from).map_err(|e| Error::io(format!("list {}", from.display()), &e))?;
    for e in rd.flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            fs::copy(e.path(), &target)
                .and_then(|_| fs::File::open(&target)?.sync_all())
                .map_err(|err| Error::io(format!("copy {}", e.path().display()), &err))?;
        }
    }
    fsutil::fsync_dir(to)
}

fn check_snapshot_id(id: &str) -> Result<()> {
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return Err(Error::invalid(
            "invalid_snapshot_id",
            format!("'{id}' is not a snapshot id"),
        ));
    }
    Ok(())
}

fn snapshot_not_found(name: &str, id: &str) -> Error {
    Error::new(
        akidb_core::ErrorKind::NotFound,
        "snapshot_not_found",
        format!("snapshot '{id}' of '{name}' does not exist"),
    )
}

fn no_snapshot(name: &str) -> Error {
    Error::new(
        akidb_core::ErrorKind::NotFound,
        "snapshot_not_found",
        format!("collection '{name}' has no snapshot"),
    )
}

fn refused(name: &str, id: &str, e: &Error) -> Error {
    Error::new(
        e.kind(),
        e.code(),
        format!("snapshot '{id}' of '{name}' refused: {}", e.message()),
    )
}
