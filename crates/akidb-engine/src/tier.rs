//! The tier manager: hot (in RAM) / warm (local files only) / cold (object store only),
//! snapshot upload, restore, and the policy loop.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use akidb_core::config::parse_duration;
use akidb_core::{Error, Result, Tier};
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
fn remote_latest(
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
        let res: Result<()> = keys
            .iter()
            .try_for_each(|k| shared.block_on(store.delete(k)));
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
        let from = entry.meta.lock().tier;
        let started = Instant::now();
        if from == Tier::Cold {
            self.download_latest(entry)?;
        }
        let live = Live::open(
            entry.config.clone(),
            entry.dir.clone(),
            self.inner.shared.clone(),
            entry.points.clone(),
        )?;
        *entry.live.write() = Some(live.clone());
        self.transitioned(entry, from, Tier::Hot, started);
        Ok(live)
    }

    fn transitioned(&self, entry: &Entry, from: Tier, to: Tier, started: Instant) {
        entry.meta.lock().tier = to;
        if let Err(e) = crate::write_tier_file(entry) {
            tracing::error!(collection = %entry.config.name, error = %e, "could not persist the tier state");
        }
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
        // Requests that got the collection before the eviction still finish against it;
        // their writes are in the WAL, which stays on local disk in the warm tier.
        wait_exclusive(&live, Duration::from_secs(30));
        drop(live);
        self.transitioned(entry, Tier::Hot, Tier::Warm, started);
        Ok(())
    }

    /// warm → cold: upload the newest snapshot, then remove local data files.
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
            wait_exclusive(&live, Duration::from_secs(30));
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
        // Only now that the object store holds everything are local files removed.
        for sub in ["snapshots", "wal"] {
            let d = entry.dir.join(sub);
            let _ = fs::remove_dir_all(&d);
            fsutil::mkdirs(&d)?;
        }
        fsutil::fsync_dir(&entry.dir)?;
        self.transitioned(entry, Tier::Warm, Tier::Cold, started);
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
        let entry = self.entry(name)?;
        Ok(self.tier_info(&entry))
    }

    /// Loads a warm or cold collection into RAM now.
    pub fn promote(&self, name: &str) -> Result<TierInfo> {
        self.hot(name)?;
        self.tier(name)
    }

    /// Moves a collection down to `to` (warm or cold); synchronous.
    pub fn demote(&self, name: &str, to: Tier) -> Result<TierInfo> {
        let entry = self.entry(name)?;
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
        let entry = self.entry(name)?;
        entry.meta.lock().pinned = false;
        crate::write_tier_file(&entry)?;
        Ok(self.tier_info(&entry))
    }

    /// Applies the tier policy once at time `now` (the background loop calls this; tests may too).
    pub fn run_tier_policy(&self, now: SystemTime) -> Vec<(String, Tier)> {
        let entries: Vec<Arc<Entry>> = self.inner.collections.read().values().cloned().collect();
        let cands: Vec<Candidate> = entries
            .iter()
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
            let Ok(entry) = self.entry(&name) else {
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
        let entry = match self.entry(name) {
            Ok(entry) => entry,
            Err(e) if e.code() == "collection_not_found" => {
                return self.restore_missing(name, snapshot_id, verify_integrity, e)
            }
            Err(e) => return Err(e),
        };
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
    fn download_snapshot(
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
        if !wait_exclusive(&cur, Duration::from_secs(30)) {
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
        *entry.live.write() = Some(live);
        entry.meta.lock().tier = Tier::Hot;
        tracing::info!(collection = %name, snapshot = %id, "collection restored");
        Ok(Self::info(entry))
    }
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
