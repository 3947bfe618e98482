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
use crate::{fsutil, persist, CollectionInfo, Database, Entry, TierInfo};

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
        None => Ok(()),
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

    /// Newest snapshot id in the object store, if any.
    fn remote_latest(&self, store: &Arc<dyn ObjectStore>, name: &str) -> Result<Option<String>> {
        let prefix = format!("{}/", remote_prefix(name));
        let objects = self.inner.shared.block_on(store.list(&prefix))?;
        let mut ids: Vec<String> = objects
            .iter()
            .filter_map(|o| {
                let rest = o.key.strip_prefix(&prefix)?;
                let (id, file) = rest.split_once('/')?;
                (file == akidb_storage::snapshot::MANIFEST_FILE).then(|| id.to_string())
            })
            .collect();
        ids.sort();
        Ok(ids.pop())
    }

    /// Downloads the newest remote snapshot of a cold collection into its local snapshot dir.
    fn download_latest(&self, entry: &Entry) -> Result<()> {
        let store = self.store()?;
        let name = &entry.config.name;
        let id = self.remote_latest(&store, name)?.ok_or_else(|| {
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
    pub fn restore(
        &self,
        name: &str,
        snapshot_id: &str,
        verify_integrity: bool,
    ) -> Result<CollectionInfo> {
        let entry = self.entry(name)?;
        let shared = &self.inner.shared;
        let local_root = entry.dir.join("snapshots");
        let id = if snapshot_id == "latest" {
            let remote = match self.store() {
                Ok(store) => self.remote_latest(&store, name)?,
                Err(_) => None,
            };
            let local = persist::snapshot_dirs(&entry.dir)
                .last()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_string()));
            std::cmp::max(remote, local).ok_or_else(|| {
                Error::new(
                    akidb_core::ErrorKind::NotFound,
                    "snapshot_not_found",
                    format!("collection '{name}' has no snapshot"),
                )
            })?
        } else {
            if snapshot_id.is_empty() || snapshot_id.contains('/') || snapshot_id.starts_with('.') {
                return Err(Error::invalid(
                    "invalid_snapshot_id",
                    format!("'{snapshot_id}' is not a snapshot id"),
                ));
            }
            snapshot_id.to_string()
        };
        let staging = entry.dir.join("restore-tmp");
        let _ = fs::remove_dir_all(&staging);
        let local = local_root.join(&id);
        let source = if local.join(akidb_storage::snapshot::MANIFEST_FILE).exists() {
            local
        } else {
            let store = self.store().map_err(|_| {
                Error::new(
                    akidb_core::ErrorKind::NotFound,
                    "snapshot_not_found",
                    format!("snapshot '{id}' of '{name}' does not exist"),
                )
            })?;
            fsutil::mkdirs(&staging)?;
            let target = staging.join(&id);
            shared
                .block_on(download_dir(
                    store.as_ref(),
                    &format!("{}/{id}", remote_prefix(name)),
                    &target,
                ))
                .map_err(|e| {
                    if e.kind() == akidb_core::ErrorKind::NotFound {
                        Error::new(
                            akidb_core::ErrorKind::NotFound,
                            "snapshot_not_found",
                            format!("snapshot '{id}' of '{name}' does not exist"),
                        )
                    } else {
                        e
                    }
                })?;
            target
        };
        let result = self.restore_from(&entry, &source, &id, verify_integrity);
        let _ = fs::remove_dir_all(&staging);
        result
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
            verify_snapshot(source).map_err(|e| {
                Error::new(
                    e.kind(),
                    e.code(),
                    format!("snapshot '{id}' of '{name}' refused: {}", e.message()),
                )
            })?;
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
