//! The embeddable AkiDB database engine.
//!
//! A [`Database`] owns a data directory with one sub-directory per collection
//! (`collections/<name>/{config.json, wal/, snapshots/}`). Every write is appended to
//! the collection's write-ahead log and fsync'd (group commit across concurrent
//! writers) before it is applied to memory and acknowledged; a point is searchable
//! as soon as its upsert returns. New points land in a mutable segment searched
//! exactly; a background indexer seals full segments into graph-indexed ones.
//! Snapshots (Parquet + graph files) bound recovery time: on open, each collection
//! loads its newest valid snapshot and replays the WAL records after it.
//!
//! All methods are blocking; from async code call them inside `spawn_blocking`.
//!
//! ```
//! use akidb_core::{CollectionConfig, Metric, Point, PointId, SearchRequest};
//! use akidb_engine::Database;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = Database::open(dir.path()).unwrap();
//! db.create_collection(CollectionConfig::new("docs", 3, Metric::Cosine)).unwrap();
//! let payload = serde_json::json!({"section": "library"}).as_object().unwrap().clone();
//! db.upsert("docs", vec![
//!     Point::new(1, vec![1.0, 0.0, 0.0], payload),
//!     Point::new(2, vec![0.0, 1.0, 0.0], Default::default()),
//! ]).unwrap();
//! let hits = db.search("docs", &SearchRequest::new(vec![0.9, 0.1, 0.0], 1)).unwrap();
//! assert_eq!(hits[0].id, PointId::Num(1));
//! db.shutdown().unwrap();
//! ```

mod alias;
mod collection;
mod config;
mod fsutil;
mod persist;
mod policy;
mod record;
mod replica;
mod segment;
mod tier;
mod types;

pub use akidb_storage::WalSync;
pub use alias::MAX_ALIAS_ACTIONS;
pub use config::{EngineConfig, TierPolicy};
pub use replica::{ReplicaHooks, Written};
pub use types::{
    CollectionInfo, CollectionStats, CollectionStatus, CompactionReport, EngineStats, SnapshotInfo,
    TierInfo,
};

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use akidb_core::{
    CollectionConfig, Error, Filter, Hit, PayloadUpdate, Point, PointId, PointSelector, Record,
    Result, ScrollPage, ScrollRequest, SearchRequest, Tier,
};
pub use akidb_storage::{BreakerConfig, DlqEntry, DlqRetryReport};
use akidb_storage::{BreakerStore, CircuitBreaker, DeadLetterQueue, ObjectStore};
use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};

use collection::{Job, Live};

/// State shared by every collection of one database.
pub(crate) struct Shared {
    pub cfg: EngineConfig,
    pub index_tx: Sender<Job>,
    pub maint_tx: Sender<Job>,
    /// The object store for snapshots and the cold tier, behind the circuit breaker
    /// (None when disabled).
    pub store: Option<Arc<dyn ObjectStore>>,
    /// The breaker guarding `store`.
    pub breaker: Option<Arc<CircuitBreaker>>,
    /// Uploads that failed, persisted under `<data_dir>/dlq`.
    pub dlq: DeadLetterQueue,
    /// Runs object-store futures from blocking code.
    rt: Rt,
}

enum Rt {
    Handle(tokio::runtime::Handle),
    Own(Option<tokio::runtime::Runtime>),
}

impl Drop for Rt {
    fn drop(&mut self) {
        // Dropping a runtime inside async code panics; never block on its shutdown.
        if let Rt::Own(rt) = self {
            if let Some(rt) = rt.take() {
                rt.shutdown_background();
            }
        }
    }
}

impl Shared {
    /// Runs an object-store future to completion on the engine's runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match &self.rt {
            Rt::Handle(h) => h.block_on(f),
            Rt::Own(rt) => rt
                .as_ref()
                .expect("engine runtime present until drop")
                .block_on(f),
        }
    }
}

/// Tier bookkeeping of one collection.
pub(crate) struct TierMeta {
    tier: Tier,
    pinned: bool,
    last_access: SystemTime,
}

/// A catalog entry: always present, whether or not the collection is loaded.
pub(crate) struct Entry {
    config: CollectionConfig,
    dir: PathBuf,
    points: Arc<AtomicU64>,
    live: RwLock<Option<Arc<Live>>>,
    meta: Mutex<TierMeta>,
    /// Serialises loading, eviction and restore.
    transition: Mutex<()>,
    /// Why the collection is quarantined; `None` while it is healthy.
    damage: RwLock<Option<String>>,
}

impl Entry {
    /// `collection_damaged` for a quarantined collection.
    fn check_healthy(&self) -> Result<()> {
        match self.damage.read().as_deref() {
            Some(reason) => Err(Error::collection_damaged(&self.config.name, reason)),
            None => Ok(()),
        }
    }
}

struct Inner {
    shared: Arc<Shared>,
    tier_stop: Mutex<Option<Sender<()>>>,
    collections: RwLock<BTreeMap<String, Arc<Entry>>>,
    /// Alias → collection name (`alias.rs`); changed under `catalog_lock`.
    aliases: RwLock<alias::AliasMap>,
    catalog_lock: Mutex<()>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_workers();
    }
}

impl Inner {
    fn stop_workers(&self) {
        let handles: Vec<_> = std::mem::take(&mut *self.workers.lock());
        if handles.is_empty() {
            return;
        }
        self.tier_stop.lock().take();
        let _ = self.shared.index_tx.send(Job::Stop);
        let _ = self.shared.maint_tx.send(Job::Stop);
        let me = std::thread::current().id();
        for h in handles {
            // The tier thread may itself drop the last reference to the database.
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
    }
}

/// An open AkiDB database. Cheap to clone (an `Arc` inside); `Send + Sync`.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("data_dir", &self.inner.shared.cfg.data_dir)
            .finish_non_exhaustive()
    }
}

pub(crate) fn collections_dir(cfg: &EngineConfig) -> PathBuf {
    cfg.data_dir.join("collections")
}

/// Tier state persisted next to `config.json`, so a warm or cold collection is not
/// mistaken for an empty one after a restart.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct TierFile {
    pub tier: Tier,
    pub pinned: bool,
    pub points: u64,
}

/// The saved tier state; `None` when the file does not exist (a new collection).
fn read_tier_file(dir: &Path) -> Result<Option<TierFile>> {
    let path = dir.join("tier.json");
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("read {}", path.display()), &e)),
    };
    // Guessing "hot" for an unreadable file would open a cold collection as an empty one.
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::corruption(format!("{} is not a valid tier state: {e}", path.display()))
    })
}

fn write_tier_file(entry: &Entry) -> Result<()> {
    let meta = entry.meta.lock();
    let t = TierFile {
        tier: meta.tier,
        pinned: meta.pinned,
        points: entry.points.load(Ordering::Relaxed),
    };
    drop(meta);
    write_tier_state(&entry.dir, &t)
}

pub(crate) fn write_tier_state(dir: &Path, t: &TierFile) -> Result<()> {
    let json = serde_json::to_vec(t).map_err(|e| Error::internal(e.to_string()))?;
    fsutil::write_atomic(&dir.join("tier.json"), &json)
}

/// Removes local snapshot and WAL files of a collection recorded cold: they are leftovers
/// of an interrupted freeze or promotion, and the object store holds the data.
fn clean_cold_leftovers(dir: &Path) -> Result<()> {
    for sub in ["snapshots", "wal"] {
        let d = dir.join(sub);
        let leftover = fs::read_dir(&d)
            .map(|mut rd| rd.next().is_some())
            .unwrap_or(false);
        if leftover {
            tracing::warn!(dir = %d.display(), "removing local files left by an interrupted tier move of a cold collection");
            fs::remove_dir_all(&d).map_err(|e| Error::io(format!("remove {}", d.display()), &e))?;
        }
        fsutil::mkdirs(&d)?;
    }
    fsutil::fsync_dir(dir)
}

/// A stand-in configuration for a damaged collection whose `config.json` is unreadable:
/// the newest local snapshot's, else a bare one (restore takes the snapshot's).
fn fallback_config(name: &str, dir: &Path) -> CollectionConfig {
    persist::snapshot_dirs(dir)
        .iter()
        .rev()
        .find_map(|d| akidb_storage::read_manifest(d).ok())
        .map(|m| CollectionConfig {
            name: name.to_string(),
            ..m.collection
        })
        .unwrap_or_else(|| CollectionConfig::new(name, 0, akidb_core::Metric::Cosine))
}

/// Opens one collection directory. A failure quarantines the collection (with the reason)
/// instead of failing the database, so one damaged collection never stops the others.
fn open_entry(dir: PathBuf, shared: &Arc<Shared>) -> Arc<Entry> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let config = read_config(&dir);
    let saved = read_tier_file(&dir);
    let (tier, pinned, points) = match &saved {
        Ok(Some(t)) => (t.tier, Some(t.pinned), t.points),
        _ => (Tier::Hot, None, 0),
    };
    let points = Arc::new(AtomicU64::new(points));
    let opened = (|| {
        let config = config.clone()?;
        if let Err(e) = &saved {
            return Err(e.clone());
        }
        match tier {
            // Warm and cold collections stay unloaded until first accessed.
            Tier::Hot => Live::open(config, dir.clone(), shared.clone(), points.clone()).map(Some),
            Tier::Warm => Ok(None),
            Tier::Cold => clean_cold_leftovers(&dir).map(|()| None),
        }
    })();
    let config = config.unwrap_or_else(|_| fallback_config(&name, &dir));
    let pinned = pinned.unwrap_or(config.tier.pin.unwrap_or(false));
    let (live, damage) = match opened {
        Ok(live) => (live, None),
        Err(e) => {
            tracing::error!(collection = %name, error = %e, "collection quarantined: it failed to open; the others serve");
            (None, Some(e.to_string()))
        }
    };
    Arc::new(Entry {
        config,
        dir,
        points,
        live: RwLock::new(live),
        meta: Mutex::new(TierMeta {
            tier,
            pinned,
            last_access: SystemTime::now(),
        }),
        transition: Mutex::new(()),
        damage: RwLock::new(damage),
    })
}

pub(crate) fn read_config(dir: &Path) -> Result<CollectionConfig> {
    let path = dir.join("config.json");
    let bytes = fs::read(&path).map_err(|e| Error::io(format!("read {}", path.display()), &e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::corruption(format!(
            "{} is not a valid collection config: {e}",
            path.display()
        ))
    })
}

impl Database {
    /// Opens (or creates) a database in `dir` with default settings.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(EngineConfig::new(dir))
    }

    /// Opens (or creates) a database and recovers every collection.
    pub fn open_with(config: EngineConfig) -> Result<Self> {
        if config.segment_max_points == 0 {
            return Err(Error::invalid(
                "invalid_config",
                "segment_max_points must be at least 1",
            ));
        }
        let root = collections_dir(&config);
        fsutil::mkdirs(&root)?;
        let (index_tx, index_rx) = crossbeam_channel::unbounded();
        let (maint_tx, maint_rx) = crossbeam_channel::unbounded();
        let rt = match config.runtime.clone() {
            Some(h) => Rt::Handle(h),
            None => Rt::Own(Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("akidb-engine-io")
                    .enable_all()
                    .build()
                    .map_err(|e| Error::io("start the engine's I/O runtime", &e))?,
            )),
        };
        let raw: Option<Arc<dyn ObjectStore>> =
            if !config.cold_tier_enabled && config.object_store.is_none() {
                None
            } else {
                match config.object_store.clone() {
                    Some(s) => Some(s),
                    None => Some(Arc::new(akidb_storage::LocalFs::new(
                        config.data_dir.join("objects"),
                    )?)),
                }
            };
        let (store, breaker) = match raw {
            Some(raw) => {
                let breaker = Arc::new(CircuitBreaker::new(config.breaker));
                let store: Arc<dyn ObjectStore> = Arc::new(BreakerStore::new(
                    raw,
                    breaker.clone(),
                    config.observer.clone(),
                ));
                (Some(store), Some(breaker))
            }
            None => (None, None),
        };
        let dlq = DeadLetterQueue::open(config.data_dir.join("dlq"))?;
        let shared = Arc::new(Shared {
            cfg: config,
            index_tx,
            maint_tx,
            store,
            breaker,
            dlq,
            rt,
        });
        let mut workers = Vec::new();
        for (name, rx) in [("akidb-indexer", index_rx), ("akidb-maintenance", maint_rx)] {
            let h = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || collection::worker(rx))
                .map_err(|e| Error::io("spawn background worker", &e))?;
            workers.push(h);
        }
        let (tier_stop_tx, tier_stop_rx) = crossbeam_channel::bounded::<()>(1);
        let inner = Arc::new(Inner {
            shared: shared.clone(),
            tier_stop: Mutex::new(Some(tier_stop_tx)),
            collections: RwLock::new(BTreeMap::new()),
            aliases: RwLock::new(alias::AliasMap::new()),
            catalog_lock: Mutex::new(()),
            workers: Mutex::new(workers),
        });
        tier::finish_interrupted_repairs(&root)?;
        let mut names: Vec<PathBuf> = Vec::new();
        let listing =
            fs::read_dir(&root).map_err(|e| Error::io(format!("list {}", root.display()), &e))?;
        for entry in listing.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                // Leftover of an interrupted create, drop or restore.
                let _ = fs::remove_dir_all(entry.path());
                continue;
            }
            if entry.path().is_dir() {
                names.push(entry.path());
            }
        }
        names.sort();
        for dir in names {
            let entry = open_entry(dir, &shared);
            inner
                .collections
                .write()
                .insert(entry.config.name.clone(), entry);
        }
        let mut aliases = alias::load(&inner.shared.cfg)?;
        let collections = inner.collections.read();
        if alias::prune(&mut aliases, |n| collections.contains_key(n)) {
            alias::save(&inner.shared.cfg, &aliases)?;
        }
        drop(collections);
        *inner.aliases.write() = aliases;
        let weak = Arc::downgrade(&inner);
        let interval = inner
            .shared
            .cfg
            .tier
            .check_interval
            .max(std::time::Duration::from_millis(10));
        let h = std::thread::Builder::new()
            .name("akidb-tier".into())
            .spawn(move || {
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    tier_stop_rx.recv_timeout(interval)
                {
                    let Some(inner) = weak.upgrade() else { break };
                    Database { inner }.run_tier_policy(SystemTime::now());
                }
            })
            .map_err(|e| Error::io("spawn the tier manager", &e))?;
        inner.workers.lock().push(h);
        Ok(Database { inner })
    }

    /// The configuration this database was opened with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.shared.cfg
    }

    /// The catalog entry of `name`, an alias resolved to its collection.
    fn entry(&self, name: &str) -> Result<Arc<Entry>> {
        let resolved = self.resolve(name);
        self.inner
            .collections
            .read()
            .get(resolved.as_ref())
            .cloned()
            .ok_or_else(|| Error::collection_not_found(name))
    }

    /// A collection that is not quarantined.
    fn healthy(&self, name: &str) -> Result<Arc<Entry>> {
        let entry = self.entry(name)?;
        entry.check_healthy()?;
        Ok(entry)
    }

    /// The loaded collection, recording the access.
    pub(crate) fn hot(&self, name: &str) -> Result<Arc<Live>> {
        let entry = self.healthy(name)?;
        entry.meta.lock().last_access = SystemTime::now();
        let live = entry.live.read().clone();
        match live {
            Some(l) => Ok(l),
            None => self.load(&entry),
        }
    }

    fn info(entry: &Entry) -> CollectionInfo {
        let reason = entry.damage.read().clone();
        let building = entry.live.read().as_ref().is_some_and(|l| l.stats().1 > 0);
        let status = if reason.is_some() {
            CollectionStatus::Damaged
        } else if building {
            CollectionStatus::Yellow
        } else {
            CollectionStatus::Green
        };
        CollectionInfo {
            name: entry.config.name.clone(),
            dimension: entry.config.dimension,
            metric: entry.config.metric,
            index: entry.config.index,
            points: entry.points.load(Ordering::Relaxed),
            tier: entry.meta.lock().tier,
            status,
            reason,
            text_index: entry.config.text_index.clone(),
            writer: None,
            role: None,
        }
    }

    /// Creates a collection; `collection_already_exists` when the name is taken.
    pub fn create_collection(&self, config: CollectionConfig) -> Result<CollectionInfo> {
        config.validate()?;
        let _guard = self.inner.catalog_lock.lock();
        if self.inner.collections.read().contains_key(&config.name) {
            return Err(Error::collection_exists(&config.name));
        }
        alias::check_collection_name(&self.inner.aliases.read(), &config.name)?;
        let root = collections_dir(&self.inner.shared.cfg);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let tmp = root.join(format!(".create-{}-{nanos}", config.name));
        let dir = root.join(&config.name);
        if dir.exists() {
            // A directory without a catalog entry can only be debris of a failed drop.
            fs::remove_dir_all(&dir)
                .map_err(|e| Error::io(format!("remove {}", dir.display()), &e))?;
        }
        fsutil::mkdirs(&tmp.join("wal"))?;
        fsutil::mkdirs(&tmp.join("snapshots"))?;
        let json =
            serde_json::to_vec_pretty(&config).map_err(|e| Error::internal(e.to_string()))?;
        fsutil::write_atomic(&tmp.join("config.json"), &json)?;
        fs::rename(&tmp, &dir)
            .map_err(|e| Error::io(format!("rename {} to {}", tmp.display(), dir.display()), &e))?;
        fsutil::fsync_dir(&root)?;
        let points = Arc::new(AtomicU64::new(0));
        let live = Live::open(
            config.clone(),
            dir.clone(),
            self.inner.shared.clone(),
            points.clone(),
        )?;
        let entry = Arc::new(Entry {
            config: config.clone(),
            dir,
            points,
            live: RwLock::new(Some(live)),
            meta: Mutex::new(TierMeta {
                tier: Tier::Hot,
                pinned: config.tier.pin.unwrap_or(false),
                last_access: SystemTime::now(),
            }),
            transition: Mutex::new(()),
            damage: RwLock::new(None),
        });
        let info = Self::info(&entry);
        self.inner
            .collections
            .write()
            .insert(config.name.clone(), entry);
        tracing::info!(collection = %config.name, dimension = config.dimension, metric = config.metric.as_str(), "collection created");
        Ok(info)
    }

    /// Every collection, sorted by name (never loads one).
    pub fn list_collections(&self) -> Vec<CollectionInfo> {
        self.inner
            .collections
            .read()
            .values()
            .map(|e| Self::info(e))
            .collect()
    }

    /// One collection's description (never loads it).
    pub fn collection(&self, name: &str) -> Result<CollectionInfo> {
        let entry = self.entry(name)?;
        Ok(Self::info(&entry))
    }

    /// The configuration a collection was created with.
    pub fn collection_config(&self, name: &str) -> Result<CollectionConfig> {
        Ok(self.entry(name)?.config.clone())
    }

    /// Deletes a collection, its aliases, its files, its objects in the object store and
    /// its dead-letter entries. `name` must be the collection's own name, not an alias.
    pub fn drop_collection(&self, name: &str) -> Result<()> {
        self.drop_local(name)?;
        tier::delete_remote(&self.inner.shared, name);
        Ok(())
    }

    /// Deletes a collection's local files only.
    pub(crate) fn drop_local(&self, name: &str) -> Result<()> {
        let _guard = self.inner.catalog_lock.lock();
        if !self.inner.collections.read().contains_key(name) {
            return Err(Error::collection_not_found(name));
        }
        // Aliases go first: a crash after this leaves a collection without its aliases,
        // never an alias to a dropped collection (open prunes those anyway).
        self.remove_aliases_of(name)?;
        let entry = self
            .inner
            .collections
            .write()
            .remove(name)
            .ok_or_else(|| Error::collection_not_found(name))?;
        entry.live.write().take();
        let root = collections_dir(&self.inner.shared.cfg);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let trash = root.join(format!(".drop-{name}-{nanos}"));
        fs::rename(&entry.dir, &trash)
            .map_err(|e| Error::io(format!("rename {}", entry.dir.display()), &e))?;
        fsutil::fsync_dir(&root)?;
        if let Err(e) = fs::remove_dir_all(&trash) {
            tracing::warn!(dir = %trash.display(), error = %e, "could not remove dropped collection files; they are removed on the next open");
        }
        tracing::info!(collection = %name, "collection dropped");
        Ok(())
    }

    /// Inserts or replaces points; returns once they are durable and searchable.
    pub fn upsert(&self, name: &str, points: Vec<Point>) -> Result<Written> {
        self.hot(name)?.upsert(points)
    }

    /// The point with this id (`point_not_found` otherwise).
    pub fn get(&self, name: &str, id: &PointId) -> Result<Point> {
        self.hot(name)?.get(id)
    }

    /// The live points among `ids`, in request order; missing ids are absent, repeats once.
    pub fn get_many(
        &self,
        name: &str,
        ids: &[PointId],
        with_payload: bool,
        with_vector: bool,
    ) -> Result<Vec<Record>> {
        Ok(self.hot(name)?.get_many(ids, with_payload, with_vector))
    }

    /// One page of points in id order (integers before strings) after `request.offset`.
    ///
    /// Each page is read at one instant; since pages are cut by id, a scan over a collection
    /// that receives writes never returns an id twice and returns every point that existed
    /// for the whole scan. `limit` must be 1..=`max_k` (`invalid_limit`).
    pub fn scroll(&self, name: &str, request: &ScrollRequest) -> Result<ScrollPage> {
        self.hot(name)?.scroll(request)
    }

    /// Number of live points matching `filter` (all of them for None); always exact.
    pub fn count(&self, name: &str, filter: Option<&Filter>) -> Result<u64> {
        Ok(self.hot(name)?.count_checked(filter)? as u64)
    }

    /// Durably changes the payloads of the selected points (a filter is resolved to ids when
    /// the write is logged); returns how many points existed and were updated. Vectors and
    /// graphs are untouched.
    pub fn update_payload(
        &self,
        name: &str,
        target: &PointSelector,
        update: PayloadUpdate,
    ) -> Result<Written> {
        self.hot(name)?.update_payload(target, update)
    }

    /// Deletes points by id; returns how many existed.
    pub fn delete(&self, name: &str, ids: &[PointId]) -> Result<Written> {
        self.hot(name)?.delete(ids)
    }

    /// Deletes every point matching `filter`; returns how many.
    pub fn delete_by_filter(&self, name: &str, filter: &Filter) -> Result<Written> {
        self.hot(name)?.delete_by_filter(filter)
    }

    /// Top-k search; validates k (`invalid_k`), the vector and `ef`.
    pub fn search(&self, name: &str, request: &SearchRequest) -> Result<Vec<Hit>> {
        let started = std::time::Instant::now();
        let tier = self.healthy(name)?.meta.lock().tier;
        let hits = self.hot(name)?.search(request)?;
        self.inner
            .shared
            .cfg
            .observer
            .search(tier, started.elapsed().as_secs_f64());
        Ok(hits)
    }

    /// Several searches; results in request order. Fails on the first invalid request.
    pub fn search_batch(&self, name: &str, requests: &[SearchRequest]) -> Result<Vec<Vec<Hit>>> {
        let started = std::time::Instant::now();
        let tier = self.healthy(name)?.meta.lock().tier;
        let live = self.hot(name)?;
        let out = requests
            .iter()
            .map(|r| live.search(r))
            .collect::<Result<Vec<_>>>()?;
        self.inner
            .shared
            .cfg
            .observer
            .search(tier, started.elapsed().as_secs_f64());
        Ok(out)
    }

    /// Merges segments and drops deleted rows now; graphs are rebuilt in the background.
    pub fn compact(&self, name: &str) -> Result<CompactionReport> {
        self.hot(name)?.compact(true)
    }

    /// Writes a snapshot of the collection now (Parquet + graph files), then trims its WAL.
    pub fn snapshot(&self, name: &str) -> Result<SnapshotInfo> {
        let live = self.hot(name)?;
        persist::snapshot(&live)
    }

    /// Numbers for metrics; never loads a collection.
    pub fn stats(&self) -> EngineStats {
        let entries: Vec<Arc<Entry>> = self.inner.collections.read().values().cloned().collect();
        let mut collections = Vec::new();
        let mut wal_bytes = 0;
        for e in entries {
            let live = e.live.read().clone();
            let tier = e.meta.lock().tier;
            let mut cs = CollectionStats {
                name: e.config.name.clone(),
                points: e.points.load(Ordering::Relaxed),
                tier,
                segments: 0,
                segments_pending_index: 0,
                deleted_points: 0,
                wal_bytes: 0,
                indexes_loaded: 0,
                indexes_built: 0,
                last_lsn: 0,
                wal_appends: 0,
                wal_fsyncs: 0,
                damaged: e.damage.read().is_some(),
            };
            if let Some(live) = live {
                let (segments, pending, dead, lsn) = live.stats();
                cs.segments = segments;
                cs.segments_pending_index = pending;
                cs.deleted_points = dead;
                cs.last_lsn = lsn;
                cs.wal_bytes = live.wal.size_bytes();
                cs.wal_appends = live.wal.append_count();
                cs.wal_fsyncs = live.wal.fsync_count();
                cs.indexes_loaded = live.indexes_loaded.load(Ordering::Relaxed);
                cs.indexes_built = live.indexes_built.load(Ordering::Relaxed);
            }
            wal_bytes += cs.wal_bytes;
            collections.push(cs);
        }
        EngineStats {
            collections,
            wal_bytes,
            breaker_state: self.inner.shared.breaker.as_ref().map_or(0, |b| b.state()),
            dlq_size: self.inner.shared.dlq.len() as u64,
        }
    }

    /// Blocks until every sealed segment of `name` has its graph (for tests and benchmarks).
    pub fn wait_indexed(&self, name: &str, timeout: std::time::Duration) -> Result<bool> {
        let live = self.hot(name)?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let (_, pending, _, _) = live.stats();
            if pending == 0 {
                return Ok(true);
            }
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Uploads waiting in the dead-letter queue.
    pub fn dlq(&self) -> Vec<DlqEntry> {
        self.inner.shared.dlq.list()
    }

    /// Retries every dead-lettered upload once; reports successes and failures honestly.
    pub fn dlq_retry_all(&self) -> DlqRetryReport {
        let shared = &self.inner.shared;
        match &shared.store {
            Some(store) => shared.block_on(shared.dlq.retry_all(store.as_ref())),
            None => {
                let n = shared.dlq.len();
                DlqRetryReport {
                    succeeded: 0,
                    failed: n,
                    remaining: n,
                    errors: Vec::new(),
                }
            }
        }
    }

    /// Stops background work. Every acknowledged write is already durable.
    pub fn shutdown(&self) -> Result<()> {
        self.inner.stop_workers();
        let entries: Vec<Arc<Entry>> = self.inner.collections.read().values().cloned().collect();
        for e in entries {
            if let Some(live) = e.live.read().clone() {
                live.wal.sync()?;
            }
        }
        Ok(())
    }
}
