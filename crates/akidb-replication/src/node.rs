//! The replication coordinator of one node: per collection it holds or watches the lease,
//! ships the WAL (writer) or applies the log (follower), takes over an expired or released
//! lease, and answers the engine's [`ReplicaHooks`] questions. The failure cases and what
//! handles each are in docs/replication.md.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use akidb_core::{CollectionConfig, Error, ErrorKind, Result};
use akidb_engine::{Database, ReplicaHooks};
use akidb_storage::ObjectStore;
use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::lease::{self, Held, Lease};
use crate::log::{self, LogIndex};

/// When a write is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckMode {
    /// After the local fsync; a writer's crash loses at most the unshipped tail.
    Local,
    /// After the log object holding the write is in the bucket; nothing acknowledged is lost.
    ObjectStore,
}

/// Settings of replication (`replication.*` in docs/configuration.md).
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// This node's id (`AKIDB_NODE_ID`).
    pub node_id: String,
    /// Where other nodes reach this node's REST API (`AKIDB_ADVERTISE_REST_URL`).
    pub rest_url: String,
    /// Where other nodes reach this node's gRPC API (`AKIDB_ADVERTISE_GRPC_URL`).
    pub grpc_url: String,
    /// When writes are acknowledged.
    pub ack: AckMode,
    /// Longest time a record waits before it is shipped.
    pub ship_interval: Duration,
    /// Largest log object.
    pub ship_max_bytes: usize,
    /// The writer snapshots and removes the covered log objects every this many records.
    pub snapshot_records: u64,
    /// Lease length: a follower takes over after seeing the lease unchanged this long.
    pub lease: Duration,
    /// How often the writer renews its lease.
    pub renew_interval: Duration,
    /// A follower is ready once it lags less than this.
    pub ready_max_lag: Duration,
    /// How long a read with `min_lsn` waits for this node to catch up.
    pub min_lsn_timeout: Duration,
    /// Where the node keeps which epochs it wrote (survives restarts).
    pub state_dir: PathBuf,
}

/// This node's part in one collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Holds the lease; takes and ships writes.
    Writer,
    /// Applies the writer's log; forwards writes.
    Follower,
}

/// Where a write for a collection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// This node writes it (or the collection is not replicated).
    Local,
    /// Another node writes it.
    Forward {
        /// The writer's node id.
        node: String,
        /// Its REST URL.
        rest_url: String,
        /// Its gRPC URL.
        grpc_url: String,
    },
    /// Nobody can take the write right now (takeover or handover in progress).
    NoWriter(String),
}

/// Replication state of one collection, for metrics and the collection answer.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaStatus {
    /// Collection name.
    pub name: String,
    /// This node's role.
    pub role: Role,
    /// The writer's node id, when known.
    pub writer: Option<String>,
    /// The lease epoch last seen.
    pub epoch: u64,
    /// Last LSN applied here.
    pub applied_lsn: u64,
    /// Last LSN shipped (writer) or seen shipped (follower).
    pub shipped_lsn: u64,
    /// How far behind the writer's shipped log this node is.
    pub lag_seconds: f64,
}

/// The answer of a handover.
#[derive(Debug, Clone, Serialize)]
pub struct Handover {
    /// Collection name.
    pub name: String,
    /// The new writer.
    pub writer: String,
    /// Its epoch.
    pub epoch: u64,
    /// The last LSN the old writer shipped.
    pub lsn: u64,
}

/// A node's entry in the bucket's registry (`nodes/{id}.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NodeEntry {
    id: String,
    rest_url: String,
    grpc_url: String,
    seen_ms: u64,
}

struct CollState {
    role: Role,
    /// The lease last read or written, and its ETag.
    held: Option<Held>,
    /// Follower: when the current ETag was first seen (the takeover clock).
    seen_at: Instant,
    /// Writer: writes may be acknowledged until then.
    valid_until: Option<Instant>,
    last_renew: Instant,
    /// The last renewal failed because the store was unreachable.
    store_down: bool,
    /// Why the last renewal failed, for the `no_writer` answer.
    renew_error: Option<String>,
    handing_over: bool,
    shipped: u64,
    applied: u64,
    needs_rebuild: bool,
    bootstrapped: bool,
    lag_seconds: f64,
    caught_up_at: Option<Instant>,
    /// Writer: the LSN of the last snapshot it took for log compaction.
    snapshot_lsn: u64,
    /// Follower: since when the lease has been missing (a drop, or a store that glitched).
    missing_since: Option<Instant>,
}

struct Coll {
    name: String,
    st: Mutex<CollState>,
    shipped_cv: Condvar,
    ship_now: tokio::sync::Notify,
    /// Serialises bootstrap, log apply and takeover.
    apply_lock: tokio::sync::Mutex<()>,
    stopped: AtomicBool,
}

impl Coll {
    fn new(name: &str, role: Role) -> Arc<Coll> {
        Arc::new(Coll {
            name: name.to_string(),
            st: Mutex::new(CollState {
                role,
                held: None,
                seen_at: Instant::now(),
                valid_until: None,
                last_renew: Instant::now(),
                store_down: false,
                renew_error: None,
                handing_over: false,
                shipped: 0,
                applied: 0,
                needs_rebuild: false,
                bootstrapped: false,
                lag_seconds: 0.0,
                caught_up_at: None,
                snapshot_lsn: 0,
                missing_since: None,
            }),
            shipped_cv: Condvar::new(),
            ship_now: tokio::sync::Notify::new(),
            apply_lock: tokio::sync::Mutex::new(()),
            stopped: AtomicBool::new(false),
        })
    }
}

struct Inner {
    cfg: ReplicationConfig,
    store: Arc<dyn ObjectStore>,
    db: OnceLock<Database>,
    colls: RwLock<HashMap<String, Arc<Coll>>>,
    transitions: Mutex<BTreeMap<(String, &'static str), u64>>,
    started: AtomicBool,
    stopping: AtomicBool,
}

/// The replication coordinator; cheap to clone.
#[derive(Clone)]
pub struct Replicator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Replicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicator")
            .field("node_id", &self.inner.cfg.node_id)
            .finish_non_exhaustive()
    }
}

/// Runs blocking engine work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("replication task panicked: {e}")))?
}

impl Replicator {
    /// A coordinator over `store`; pass [`Replicator::hooks`] to the engine, then [`Replicator::start`].
    pub fn new(cfg: ReplicationConfig, store: Arc<dyn ObjectStore>) -> Self {
        Replicator {
            inner: Arc::new(Inner {
                cfg,
                store,
                db: OnceLock::new(),
                colls: RwLock::new(HashMap::new()),
                transitions: Mutex::new(BTreeMap::new()),
                started: AtomicBool::new(false),
                stopping: AtomicBool::new(false),
            }),
        }
    }

    /// The engine hooks (admission, acknowledgement, WAL retention, uploads).
    pub fn hooks(&self) -> Arc<dyn ReplicaHooks> {
        Arc::new(self.clone())
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.inner.cfg.node_id
    }

    /// The settings.
    pub fn config(&self) -> &ReplicationConfig {
        &self.inner.cfg
    }

    fn db(&self) -> &Database {
        self.inner.db.get().expect("Replicator::start ran")
    }

    /// The keys of a collection's log objects.
    async fn log_keys(&self, name: &str) -> Result<Vec<String>> {
        let listed = self.inner.store.list(&log::log_prefix(name)).await?;
        Ok(listed.into_iter().map(|o| o.key).collect())
    }

    /// The LSN this node has applied to `name`.
    async fn applied(&self, name: &str) -> Result<u64> {
        let db = self.db().clone();
        let n = name.to_string();
        blocking(move || db.applied_lsn(&n)).await
    }

    fn coll(&self, name: &str) -> Option<Arc<Coll>> {
        self.inner.colls.read().get(name).cloned()
    }

    /// Takes the database, finds every collection's role (claiming local collections that
    /// have no lease yet), then keeps them in step in background tasks.
    pub async fn start(&self, db: Database) -> Result<()> {
        if self.inner.db.set(db).is_err() {
            return Err(Error::internal("replicator started twice"));
        }
        std::fs::create_dir_all(&self.inner.cfg.state_dir)
            .map_err(|e| Error::io(format!("create {}", self.inner.cfg.state_dir.display()), &e))?;
        self.discover().await?;
        self.inner.started.store(true, Ordering::Release);
        let me = self.clone();
        tokio::spawn(async move {
            let every = me.inner.cfg.renew_interval.min(Duration::from_secs(1));
            while !me.inner.stopping.load(Ordering::Acquire) {
                tokio::time::sleep(every).await;
                if let Err(e) = me.discover().await {
                    tracing::warn!(error = %e, "replication: discovery pass failed");
                }
            }
        });
        Ok(())
    }

    /// One pass over the bucket and the local catalog: follow new collections, claim local
    /// ones nobody holds, forget ones whose lease is gone, and refresh this node's entry.
    async fn discover(&self) -> Result<()> {
        let store = &self.inner.store;
        let me = &self.inner.cfg;
        let entry = NodeEntry {
            id: me.node_id.clone(),
            rest_url: me.rest_url.clone(),
            grpc_url: me.grpc_url.clone(),
            seen_ms: lease::now_ms(),
        };
        let body = serde_json::to_vec(&entry).expect("node entry serialises");
        store
            .put(&format!("nodes/{}.json", me.node_id), Bytes::from(body))
            .await?;
        let listed = store.list("collections/").await?;
        let in_bucket: Vec<String> = listed
            .iter()
            .filter_map(|o| lease::collection_of_lease_key(&o.key).map(str::to_string))
            .collect();
        for name in &in_bucket {
            if self.coll(name).is_none() {
                self.track(name, Role::Follower);
            }
        }
        let db = self.db().clone();
        let local: Vec<String> = db.list_collections().into_iter().map(|c| c.name).collect();
        for name in local {
            if in_bucket.contains(&name) || self.coll(&name).is_some() {
                continue;
            }
            // A collection from before replication (or created while the bucket was
            // unreachable): this node is its writer.
            if let Err(e) = self.claim_local(&name).await {
                tracing::warn!(collection = %name, error = %e, "replication: could not claim a local collection");
            }
        }
        Ok(())
    }

    fn track(&self, name: &str, role: Role) -> Arc<Coll> {
        let coll = Coll::new(name, role);
        self.inner
            .colls
            .write()
            .insert(name.to_string(), coll.clone());
        let me = self.clone();
        let c = coll.clone();
        tokio::spawn(async move { me.drive(c).await });
        coll
    }

    fn untrack(&self, name: &str) {
        if let Some(c) = self.inner.colls.write().remove(name) {
            c.stopped.store(true, Ordering::Release);
            c.ship_now.notify_one();
            c.shipped_cv.notify_all();
        }
    }

    fn transition(&self, name: &str, reason: &'static str) {
        *self
            .inner
            .transitions
            .lock()
            .entry((name.to_string(), reason))
            .or_insert(0) += 1;
    }

    /// Lease changes so far, by collection and reason (`created`, `acquired`, `handover`, `lost`, `released`).
    pub fn lease_transitions(&self) -> Vec<(String, &'static str, u64)> {
        self.inner
            .transitions
            .lock()
            .iter()
            .map(|((c, r), n)| (c.clone(), *r, *n))
            .collect()
    }

    fn new_lease(&self, config: CollectionConfig, epoch: u64, start: Option<u64>) -> Lease {
        let me = &self.inner.cfg;
        Lease {
            holder: me.node_id.clone(),
            rest_url: me.rest_url.clone(),
            grpc_url: me.grpc_url.clone(),
            epoch,
            start_lsn: start,
            lease_ms: me.lease.as_millis() as u64,
            renewed_at_ms: lease::now_ms(),
            released: false,
            handover_to: None,
            config,
        }
    }

    /// Creates a collection cluster-wide: the lease arbitrates (`collection_already_exists`
    /// when another node has it), then the local collection.
    pub async fn create_collection(
        &self,
        config: CollectionConfig,
    ) -> Result<akidb_engine::CollectionInfo> {
        config.validate()?;
        let name = config.name.clone();
        let started = Instant::now();
        let lease = self.new_lease(config.clone(), 1, Some(1));
        let etag = match lease::create(&self.inner.store, &lease).await {
            Ok(etag) => etag,
            Err(e) if e.code() == "precondition_failed" => {
                return Err(Error::collection_exists(&name))
            }
            Err(e) => return Err(e),
        };
        let db = self.db().clone();
        let created = blocking(move || db.create_collection(config)).await;
        let info = match created {
            Ok(info) => info,
            Err(e) => {
                let _ = self.inner.store.delete(&lease::lease_key(&name)).await;
                return Err(e);
            }
        };
        self.become_writer(&name, Held { lease, etag }, 0, started)
            .await?;
        self.transition(&name, "created");
        Ok(info)
    }

    /// Takes the lease of a local collection that has none (snapshot first, so followers
    /// can start from the bucket whatever the local WAL still holds).
    async fn claim_local(&self, name: &str) -> Result<()> {
        let db = self.db().clone();
        let n = name.to_string();
        let config = blocking(move || db.collection_config(&n)).await?;
        let db = self.db().clone();
        let n = name.to_string();
        let applied = blocking(move || {
            db.snapshot(&n)?;
            db.applied_lsn(&n)
        })
        .await?;
        let started = Instant::now();
        let lease = self.new_lease(config, 1, Some(applied + 1));
        let etag = lease::create(&self.inner.store, &lease).await?;
        self.become_writer(name, Held { lease, etag }, applied, started)
            .await?;
        self.transition(name, "acquired");
        Ok(())
    }

    /// Records this node as writer, the bucket's log ending at `shipped`, and starts the
    /// driver. The epoch's start is in the lease; its first log object begins there.
    async fn become_writer(
        &self,
        name: &str,
        held: Held,
        shipped: u64,
        renew_started: Instant,
    ) -> Result<()> {
        let epoch = held.lease.epoch;
        let start = shipped + 1;
        self.remember_epoch(name, epoch)?;
        let coll = self
            .coll(name)
            .unwrap_or_else(|| self.track(name, Role::Writer));
        let mut st = coll.st.lock();
        st.role = Role::Writer;
        st.valid_until = Some(renew_started + self.valid_for());
        st.last_renew = renew_started;
        st.held = Some(held);
        st.shipped = shipped;
        st.applied = st.applied.max(shipped);
        st.snapshot_lsn = st.snapshot_lsn.max(shipped);
        st.bootstrapped = true;
        st.needs_rebuild = false;
        st.handing_over = false;
        st.lag_seconds = 0.0;
        st.caught_up_at = Some(Instant::now());
        drop(st);
        tracing::info!(collection = %name, epoch, start_lsn = start, node = %self.inner.cfg.node_id, "replication: this node is the writer");
        Ok(())
    }

    /// How long after a renewal was sent this writer may acknowledge: a follower waits a
    /// whole lease after it first sees the renewed lease, so stopping one renew interval
    /// early leaves that much slack for clock-rate drift and scheduling.
    fn valid_for(&self) -> Duration {
        let c = &self.inner.cfg;
        c.lease.saturating_sub(c.renew_interval)
    }

    fn epoch_file(&self, name: &str) -> PathBuf {
        self.inner.cfg.state_dir.join(format!("{name}.epoch"))
    }

    /// Persists the epoch this node writes `name` in, for the divergence check after a restart.
    fn remember_epoch(&self, name: &str, epoch: u64) -> Result<()> {
        let path = self.epoch_file(name);
        let tmp = path.with_extension("epoch.tmp");
        let written = (|| {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(epoch.to_string().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        written.map_err(|e| Error::io(format!("write {}", path.display()), &e))?;
        akidb_storage::wal::fsync_dir(&self.inner.cfg.state_dir)
    }

    fn wrote_epoch(&self, name: &str) -> Option<u64> {
        std::fs::read_to_string(self.epoch_file(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Drops a collection cluster-wide (only its writer may).
    pub async fn drop_collection(&self, name: &str) -> Result<()> {
        if let Some(c) = self.coll(name) {
            if c.st.lock().role != Role::Writer {
                return Err(Error::fenced(name, "only the writer drops a collection"));
            }
        }
        self.untrack(name);
        let db = self.db().clone();
        let n = name.to_string();
        blocking(move || db.drop_collection(&n)).await?;
        let _ = std::fs::remove_file(self.epoch_file(name));
        Ok(())
    }

    /// Where a write to `name` must go.
    pub fn route(&self, name: &str) -> Route {
        let Some(c) = self.coll(name) else {
            return Route::Local;
        };
        let st = c.st.lock();
        match st.role {
            Role::Writer if st.handing_over => Route::NoWriter("a handover is in progress".into()),
            Role::Writer => Route::Local,
            Role::Follower => match &st.held {
                Some(h) if h.lease.holder != self.inner.cfg.node_id && !h.lease.released => {
                    Route::Forward {
                        node: h.lease.holder.clone(),
                        rest_url: h.lease.rest_url.clone(),
                        grpc_url: h.lease.grpc_url.clone(),
                    }
                }
                Some(_) => Route::NoWriter("the lease is being taken over".into()),
                None => Route::NoWriter("the lease has not been read yet".into()),
            },
        }
    }

    /// The role and writer of `name` on this node (None when not replicated).
    pub fn status_of(&self, name: &str) -> Option<ReplicaStatus> {
        let c = self.coll(name)?;
        let st = c.st.lock();
        Some(ReplicaStatus {
            name: name.to_string(),
            role: st.role,
            writer: st.held.as_ref().map(|h| h.lease.holder.clone()),
            epoch: st.held.as_ref().map(|h| h.lease.epoch).unwrap_or(0),
            applied_lsn: st.applied,
            shipped_lsn: st.shipped,
            lag_seconds: st.lag_seconds,
        })
    }

    /// Replication state of every tracked collection, by name.
    pub fn status(&self) -> Vec<ReplicaStatus> {
        let mut names: Vec<String> = self.inner.colls.read().keys().cloned().collect();
        names.sort();
        names.iter().filter_map(|n| self.status_of(n)).collect()
    }

    /// Ready to serve: the first pass ran and every followed collection lags less than
    /// `ready_max_lag`; otherwise the reason.
    pub fn readiness(&self) -> std::result::Result<(), String> {
        if !self.inner.started.load(Ordering::Acquire) {
            return Err("replication has not read the bucket yet".into());
        }
        let max = self.inner.cfg.ready_max_lag;
        for c in self.inner.colls.read().values() {
            let st = c.st.lock();
            if st.role == Role::Follower {
                let fresh = st.caught_up_at.is_some_and(|t| t.elapsed() <= max)
                    || (st.bootstrapped
                        && st.lag_seconds <= max.as_secs_f64()
                        && st.caught_up_at.is_some());
                if !fresh {
                    return Err(format!(
                        "collection '{}' is still catching up ({:.1} s behind)",
                        c.name, st.lag_seconds
                    ));
                }
            }
        }
        Ok(())
    }

    /// Waits until this node has applied `min_lsn` of `name` (`replica_behind` after the
    /// timeout); on the writer a `min_lsn` beyond its last write is `invalid_min_lsn`.
    pub async fn wait_applied(&self, name: &str, min_lsn: u64) -> Result<()> {
        let deadline = Instant::now() + self.inner.cfg.min_lsn_timeout;
        loop {
            let applied = self.applied(name).await?;
            if applied >= min_lsn {
                return Ok(());
            }
            let writer = self
                .coll(name)
                .is_none_or(|c| c.st.lock().role == Role::Writer);
            if writer {
                return Err(Error::invalid(
                    "invalid_min_lsn",
                    format!(
                        "min_lsn {min_lsn} is beyond the last write of collection '{name}' \
                         (lsn {applied}); use the lsn a write answered with"
                    ),
                ));
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "replica_behind",
                    format!(
                        "this replica of '{name}' is at lsn {applied}, not yet {min_lsn}, after \
                         {:?}; retry, or ask for \"consistency\":\"strong\"",
                        self.inner.cfg.min_lsn_timeout
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Hands the writer role of `name` to `to` (or any live follower) without losing a
    /// write: stop admitting, ship everything, release the lease, wait for the new writer.
    pub async fn handover(&self, name: &str, to: Option<String>) -> Result<Handover> {
        let me = self.inner.cfg.node_id.clone();
        let coll = self
            .coll(name)
            .ok_or_else(|| Error::collection_not_found(name))?;
        if coll.st.lock().role != Role::Writer {
            return Err(Error::fenced(name, "only the writer can hand over"));
        }
        let live = self.live_nodes().await?;
        match &to {
            Some(t) if *t == me => {
                let st = coll.st.lock();
                let h = st.held.as_ref().expect("a writer holds a lease");
                return Ok(Handover {
                    name: name.to_string(),
                    writer: me.clone(),
                    epoch: h.lease.epoch,
                    lsn: st.shipped,
                });
            }
            Some(t) if !live.iter().any(|n| n == t) => {
                return Err(Error::invalid(
                    "unknown_node",
                    format!(
                        "node '{t}' is not a live member of this cluster (live: {}); pass one \
                         of them or omit \"to\"",
                        live.join(", ")
                    ),
                ))
            }
            None if !live.iter().any(|n| *n != me) => {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    "no_follower",
                    format!("no other live node can take over collection '{name}'"),
                ))
            }
            _ => {}
        }
        coll.st.lock().handing_over = true;
        let result = self.release(&coll, to).await;
        if result.is_err() {
            coll.st.lock().handing_over = false;
            return result.map(|_| unreachable!());
        }
        let (old_epoch, lsn) = result?;
        self.transition(name, "released");
        // The new writer takes over within a few polls of the released lease.
        let deadline = Instant::now() + self.inner.cfg.lease + Duration::from_secs(2);
        loop {
            if let Some(h) = lease::read(&self.inner.store, name).await? {
                if h.lease.epoch > old_epoch && h.lease.start_lsn.is_some() {
                    return Ok(Handover {
                        name: name.to_string(),
                        writer: h.lease.holder,
                        epoch: h.lease.epoch,
                        lsn,
                    });
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::no_writer(
                    name,
                    "the lease was released but no follower took it over in time",
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Hands over every collection this node writes (graceful shutdown); returns how many.
    pub async fn handover_all(&self) -> usize {
        self.inner.stopping.store(true, Ordering::Release);
        let names: Vec<String> = self
            .status()
            .into_iter()
            .filter(|s| s.role == Role::Writer)
            .map(|s| s.name)
            .collect();
        let mut n = 0;
        for name in names {
            match self.handover(&name, None).await {
                Ok(h) => {
                    n += 1;
                    tracing::info!(collection = %name, to = %h.writer, "replication: handed over at shutdown");
                }
                Err(e) => {
                    tracing::warn!(collection = %name, error = %e, "replication: no handover at shutdown")
                }
            }
        }
        n
    }

    /// Waits for writes already admitted, ships everything, releases the lease; returns
    /// the old epoch and the last shipped LSN. The caller has set `handing_over`.
    async fn release(&self, coll: &Arc<Coll>, to: Option<String>) -> Result<(u64, u64)> {
        let name = coll.name.clone();
        // Writes admitted before `handing_over` was set finish within their fsync.
        let mut last = u64::MAX;
        loop {
            let applied = self.applied(&name).await?;
            if applied == last {
                break;
            }
            last = applied;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        self.ship(coll).await?;
        if coll.st.lock().shipped < last {
            return Err(Error::no_writer(&name, "could not ship the final log"));
        }
        let (mut lease, etag) = {
            let st = coll.st.lock();
            let h = st.held.clone().expect("a writer holds a lease");
            (h.lease, h.etag)
        };
        lease.released = true;
        lease.handover_to = to;
        lease.renewed_at_ms = lease::now_ms();
        let etag = lease::replace(&self.inner.store, &lease, &etag).await?;
        let epoch = lease.epoch;
        let mut st = coll.st.lock();
        st.role = Role::Follower;
        st.held = Some(Held { lease, etag });
        st.seen_at = Instant::now();
        st.valid_until = None;
        st.handing_over = false;
        st.caught_up_at = Some(Instant::now());
        let shipped = st.shipped;
        drop(st);
        coll.shipped_cv.notify_all();
        Ok((epoch, shipped))
    }

    /// Node ids whose registry entry is fresh (seen within three lease lengths).
    async fn live_nodes(&self) -> Result<Vec<String>> {
        let store = &self.inner.store;
        let horizon = 3 * self.inner.cfg.lease.as_millis() as u64;
        let now = lease::now_ms();
        let mut out = Vec::new();
        for o in store.list("nodes/").await? {
            let Ok(bytes) = store.get(&o.key).await else {
                continue;
            };
            if let Ok(n) = serde_json::from_slice::<NodeEntry>(&bytes) {
                if now.saturating_sub(n.seen_ms) <= horizon {
                    out.push(n.id);
                }
            }
        }
        Ok(out)
    }

    /// The per-collection loop: a writer renews and ships, a follower watches the lease
    /// (taking over when it expires or is released to it) and applies the log.
    async fn drive(&self, coll: Arc<Coll>) {
        let interval = self.inner.cfg.ship_interval;
        while !coll.stopped.load(Ordering::Acquire) {
            let role = coll.st.lock().role;
            let step = match role {
                Role::Writer => self.writer_step(&coll).await,
                Role::Follower => self.follower_step(&coll).await,
            };
            if let Err(e) = step {
                tracing::warn!(collection = %coll.name, error = %e, "replication step failed");
                // A follower that could not look at the bucket cannot tell that the lease
                // stayed unchanged: the takeover clock starts again.
                let mut st = coll.st.lock();
                if st.role == Role::Follower {
                    st.seen_at = Instant::now();
                }
            }
            if coll.st.lock().role == Role::Writer {
                tokio::select! {
                    _ = coll.ship_now.notified() => {}
                    _ = tokio::time::sleep(interval) => {}
                }
            } else {
                tokio::time::sleep(interval).await;
            }
        }
    }

    async fn writer_step(&self, coll: &Arc<Coll>) -> Result<()> {
        let due = coll.st.lock().last_renew.elapsed() >= self.inner.cfg.renew_interval;
        if due {
            self.renew(coll).await?;
        }
        if coll.st.lock().role == Role::Writer {
            self.ship(coll).await?;
            self.compact_log(coll).await?;
        }
        Ok(())
    }

    /// Once the log holds many records past the last uploaded snapshot, takes a snapshot
    /// (the writer uploads it) and removes the log objects it covers, so a new or rebuilt
    /// follower starts from the snapshot instead of replaying the whole history.
    async fn compact_log(&self, coll: &Arc<Coll>) -> Result<()> {
        let (shipped, covered) = {
            let st = coll.st.lock();
            (st.shipped, st.snapshot_lsn)
        };
        if shipped < covered + self.inner.cfg.snapshot_records {
            return Ok(());
        }
        let db = self.db().clone();
        let n = coll.name.clone();
        let snap = blocking(move || db.snapshot(&n)).await?;
        coll.st.lock().snapshot_lsn = snap.lsn;
        if !snap.remote {
            return Ok(());
        }
        let keys = self.log_keys(&coll.name).await?;
        let idx = LogIndex::new(keys.iter().map(|k| k.as_str()), None);
        for (epoch, first) in idx.covered_through(snap.lsn) {
            self.inner
                .store
                .delete(&log::log_key(&coll.name, epoch, first))
                .await?;
        }
        Ok(())
    }

    async fn renew(&self, coll: &Arc<Coll>) -> Result<()> {
        let Some(mut held) = coll.st.lock().held.clone() else {
            return Ok(());
        };
        let sent = Instant::now();
        held.lease.renewed_at_ms = lease::now_ms();
        coll.st.lock().last_renew = sent;
        match lease::replace(&self.inner.store, &held.lease, &held.etag).await {
            Ok(etag) => {
                let mut st = coll.st.lock();
                if st.role == Role::Writer {
                    st.held = Some(Held {
                        lease: held.lease,
                        etag,
                    });
                    st.valid_until = Some(sent + self.valid_for());
                    st.store_down = false;
                    st.renew_error = None;
                }
                Ok(())
            }
            Err(e) if e.code() == "precondition_failed" => {
                // A retried conditional write whose first attempt landed also ends here:
                // only a lease that names someone else (or a newer epoch) means we lost it.
                let now = match lease::read(&self.inner.store, &coll.name).await {
                    Ok(now) => now,
                    Err(e) => {
                        coll.st.lock().renew_error = Some(e.to_string());
                        return Err(e);
                    }
                };
                let Some(now) = now else {
                    // Vanished (deleted by hand, or lost by the store) while this node
                    // holds every write: lease it again rather than drop the only copy.
                    tracing::warn!(collection = %coll.name, "replication: the lease vanished; this writer takes a new one");
                    return self.reclaim(coll, held.lease).await;
                };
                let mut st = coll.st.lock();
                let still_ours = now.lease.holder == self.inner.cfg.node_id
                    && now.lease.epoch == held.lease.epoch
                    && !now.lease.released;
                if still_ours {
                    st.held = Some(now);
                    st.valid_until = Some(sent + self.valid_for());
                } else {
                    tracing::warn!(collection = %coll.name, node = %self.inner.cfg.node_id, "replication: lease lost; this node is fenced and rebuilds from the bucket");
                    st.role = Role::Follower;
                    st.valid_until = None;
                    st.needs_rebuild = true;
                    st.seen_at = Instant::now();
                    st.held = Some(now);
                    drop(st);
                    coll.shipped_cv.notify_all();
                    self.transition(&coll.name, "lost");
                }
                Ok(())
            }
            Err(e) => {
                let mut st = coll.st.lock();
                st.store_down = e.kind() == ErrorKind::Unavailable;
                st.renew_error = Some(e.to_string());
                drop(st);
                Err(e)
            }
        }
    }

    /// Takes a new lease (the next epoch) for a collection this node writes whose lease is
    /// gone, after a snapshot that followers can start from.
    async fn reclaim(&self, coll: &Arc<Coll>, old: Lease) -> Result<()> {
        let db = self.db().clone();
        let n = coll.name.clone();
        let applied = blocking(move || {
            db.snapshot(&n)?;
            db.applied_lsn(&n)
        })
        .await?;
        let started = Instant::now();
        let lease = self.new_lease(old.config, old.epoch + 1, Some(applied + 1));
        let etag = lease::create(&self.inner.store, &lease).await?;
        self.become_writer(&coll.name, Held { lease, etag }, applied, started)
            .await?;
        self.transition(&coll.name, "acquired");
        Ok(())
    }

    /// Ships the local WAL after the last shipped LSN as log objects of this epoch.
    async fn ship(&self, coll: &Arc<Coll>) -> Result<()> {
        let (epoch, shipped) = {
            let st = coll.st.lock();
            if st.role != Role::Writer {
                return Ok(());
            }
            let epoch = st.held.as_ref().map(|h| h.lease.epoch).unwrap_or(0);
            (epoch, st.shipped)
        };
        let db = self.db().clone();
        let n = coll.name.clone();
        let records = blocking(move || db.wal_records(&n, shipped, u64::MAX)).await?;
        if records.is_empty() {
            return Ok(());
        }
        let max = self.inner.cfg.ship_max_bytes;
        let mut chunk_start = 0;
        while chunk_start < records.len() {
            let mut bytes = 0;
            let mut end = chunk_start;
            while end < records.len()
                && (end == chunk_start || bytes + records[end].payload.len() <= max)
            {
                bytes += records[end].payload.len();
                end += 1;
            }
            let chunk = &records[chunk_start..end];
            let first = chunk[0].lsn;
            let key = log::log_key(&coll.name, epoch, first);
            let body = Bytes::from(log::encode(epoch, first, lease::now_ms(), chunk));
            match self.inner.store.put_if_absent(&key, body.clone()).await {
                Ok(_) => {}
                Err(e) if e.code() == "precondition_failed" => {
                    // Our own earlier attempt, whose answer was lost, is fine; anything else
                    // under our epoch's name is not ours to overwrite.
                    let existing = self.inner.store.get(&key).await?;
                    let theirs = log::decode(&key, &existing)?;
                    if theirs.records != chunk {
                        return Err(Error::fenced(
                            &coll.name,
                            &format!("log object {key} exists with other records"),
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
            let last = chunk[chunk.len() - 1].lsn;
            {
                let mut st = coll.st.lock();
                st.shipped = st.shipped.max(last);
                st.applied = st.applied.max(last);
            }
            coll.shipped_cv.notify_all();
            chunk_start = end;
        }
        Ok(())
    }

    async fn follower_step(&self, coll: &Arc<Coll>) -> Result<()> {
        let _g = coll.apply_lock.lock().await;
        if coll.st.lock().needs_rebuild {
            self.rebuild(coll).await?;
        }
        // The log first, then the lease: a takeover that happened before the listing is
        // then always visible, so no record it fences can be applied (docs/replication.md).
        let keys = self.log_keys(&coll.name).await?;
        let Some(held) = lease::read(&self.inner.store, &coll.name).await? else {
            // A dropped collection's lease goes last; forget the copy only once the lease
            // has stayed gone for a whole lease, not on one odd answer of the store.
            let gone_for = {
                let mut st = coll.st.lock();
                st.missing_since.get_or_insert_with(Instant::now).elapsed()
            };
            if gone_for >= self.inner.cfg.lease {
                self.forget(coll).await;
            }
            return Ok(());
        };
        coll.st.lock().missing_since = None;
        if !coll.st.lock().bootstrapped {
            self.bootstrap(coll, &held.lease).await?;
        }
        let takeover = {
            let mut st = coll.st.lock();
            let changed = st.held.as_ref().is_none_or(|h| h.etag != held.etag);
            if changed {
                st.seen_at = Instant::now();
            }
            st.held = Some(held.clone());
            let me = &self.inner.cfg.node_id;
            let expired = st.seen_at.elapsed() >= Duration::from_millis(held.lease.lease_ms);
            let released_to_me =
                held.lease.released && held.lease.handover_to.as_ref().is_none_or(|t| t == me);
            // Our own lease after a restart: the process that held it is gone.
            let ours = held.lease.holder == *me && !held.lease.released;
            expired || released_to_me || ours
        };
        self.apply_log(coll, &keys, &held).await?;
        if takeover {
            self.take_over(coll, held).await?;
        }
        Ok(())
    }

    /// Applies every record the log holds after this node's applied LSN that counts under
    /// the fencing rule; returns the last LSN the bucket's log holds (the log's end).
    async fn apply_log(&self, coll: &Arc<Coll>, keys: &[String], held: &Held) -> Result<u64> {
        // A lease without a start (written by an older build while its writer caught up)
        // fences nothing before it and claims nothing of its own.
        let (current, mut log_end) = match held.lease.start_lsn {
            Some(start) => ((held.lease.epoch, start), start - 1),
            None => ((held.lease.epoch, u64::MAX), 0),
        };
        let idx = LogIndex::new(keys.iter().map(|k| k.as_str()), Some(current));
        let mut applied = self.applied(&coll.name).await?;
        // The objects that count, by first LSN, from the one holding `applied + 1` on.
        let mut plan: Vec<(u64, u64, u64)> = idx
            .objects
            .iter()
            .flat_map(|(e, firsts)| {
                let fence = idx.fence_of(*e);
                firsts
                    .iter()
                    .filter(move |f| **f < fence)
                    .map(move |f| (*f, *e, fence))
            })
            .collect();
        plan.sort_unstable();
        let from = plan
            .iter()
            .rposition(|(f, _, _)| *f <= applied + 1)
            .unwrap_or(0);
        let plan = plan.split_off(from.min(plan.len()));
        if plan.first().is_some_and(|(f, _, _)| *f > applied + 1) {
            // What we need was removed after a snapshot covered it: start over from that.
            coll.st.lock().needs_rebuild = true;
            return Ok(log_end);
        }
        let store = self.inner.store.clone();
        let name = coll.name.clone();
        let mut fetches =
            futures_util::stream::iter(plan.into_iter().map(|(first, epoch, fence)| {
                let store = store.clone();
                let key = log::log_key(&name, epoch, first);
                async move {
                    let bytes = store.get(&key).await;
                    (key, fence, bytes)
                }
            }))
            .buffered(16);
        use futures_util::StreamExt;
        while let Some((key, fence, bytes)) = fetches.next().await {
            let bytes = match bytes {
                Ok(b) => b,
                // Removed by the writer's log cleanup in between: list again next step.
                Err(e) if e.kind() == ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            };
            let obj = log::decode(&key, &bytes)?;
            if let Some(last) = obj.records.iter().rev().find(|r| r.lsn < fence) {
                log_end = log_end.max(last.lsn);
            }
            let todo: Vec<_> = obj
                .records
                .into_iter()
                .filter(|r| r.lsn > applied && r.lsn < fence)
                .collect();
            if todo.is_empty() {
                continue;
            }
            if todo[0].lsn != applied + 1 {
                break;
            }
            let last = todo[todo.len() - 1].lsn;
            let db = self.db().clone();
            let n = coll.name.clone();
            blocking(move || db.apply_replicated(&n, &todo)).await?;
            applied = last;
            let mut st = coll.st.lock();
            st.applied = applied;
            st.shipped = st.shipped.max(applied);
            st.lag_seconds = (lease::now_ms().saturating_sub(obj.shipped_at_ms)) as f64 / 1000.0;
        }
        let mut st = coll.st.lock();
        st.applied = applied;
        st.shipped = st.shipped.max(applied);
        st.lag_seconds = 0.0;
        st.caught_up_at = Some(Instant::now());
        Ok(log_end)
    }

    /// Makes the local copy of a followed collection: the newest snapshot in the bucket,
    /// or an empty collection from the lease's configuration. A local copy that may hold
    /// records the bucket's log fenced out (this node wrote an older epoch) is rebuilt.
    async fn bootstrap(&self, coll: &Arc<Coll>, lease: &Lease) -> Result<()> {
        let db = self.db().clone();
        let name = coll.name.clone();
        let exists = db.collection(&name).is_ok();
        if exists {
            let wrote = self.wrote_epoch(&name);
            if wrote.is_some_and(|e| e < lease.epoch) {
                let applied = self.applied(&name).await?;
                let keys = self.log_keys(&name).await?;
                let idx = LogIndex::new(
                    keys.iter().map(|k| k.as_str()),
                    lease.start_lsn.map(|s| (lease.epoch, s)),
                );
                let fence = idx.fence_of(wrote.unwrap_or(0));
                if applied >= fence || lease.start_lsn.is_none() {
                    tracing::warn!(collection = %name, applied, fence, "replication: local copy holds records of a fenced epoch; rebuilding from the bucket");
                    return self.rebuild_locked(coll, lease).await;
                }
            }
            coll.st.lock().bootstrapped = true;
            return Ok(());
        }
        self.install(coll, lease).await
    }

    async fn install(&self, coll: &Arc<Coll>, lease: &Lease) -> Result<()> {
        let db = self.db().clone();
        let name = coll.name.clone();
        let config = lease.config.clone();
        blocking(move || match db.install_snapshot(&name)? {
            Some(_) => Ok(()),
            None => db.create_collection(config).map(|_| ()),
        })
        .await?;
        let _ = std::fs::remove_file(self.epoch_file(&coll.name));
        let mut st = coll.st.lock();
        st.bootstrapped = true;
        st.needs_rebuild = false;
        tracing::info!(collection = %coll.name, "replication: following from the bucket");
        Ok(())
    }

    async fn rebuild(&self, coll: &Arc<Coll>) -> Result<()> {
        let Some(held) = lease::read(&self.inner.store, &coll.name).await? else {
            self.forget(coll).await;
            return Ok(());
        };
        self.rebuild_locked(coll, &held.lease).await
    }

    async fn rebuild_locked(&self, coll: &Arc<Coll>, lease: &Lease) -> Result<()> {
        let db = self.db().clone();
        let n = coll.name.clone();
        blocking(move || match db.forget_local(&n) {
            Err(e) if e.code() != "collection_not_found" => Err(e),
            _ => Ok(()),
        })
        .await?;
        self.install(coll, lease).await
    }

    async fn forget(&self, coll: &Arc<Coll>) {
        self.untrack(&coll.name);
        let db = self.db().clone();
        let n = coll.name.clone();
        let _ = blocking(move || db.forget_local(&n)).await;
        let _ = std::fs::remove_file(self.epoch_file(&coll.name));
        tracing::info!(collection = %coll.name, "replication: the collection's lease is gone; local copy removed");
    }

    /// Applies the log to its end, then takes the lease with the next epoch starting right
    /// after it, and starts taking writes. Records of this node's own unshipped tail (its
    /// previous process held the lease) are shipped in the new epoch; records the bucket
    /// never had from any other holder mean a divergent copy, which is rebuilt first.
    async fn take_over(&self, coll: &Arc<Coll>, held: Held) -> Result<()> {
        if coll.st.lock().needs_rebuild {
            return Ok(());
        }
        // Catch up before claiming: a damaged log object stops the takeover here, with the
        // lease untouched, instead of raising the epoch on every attempt.
        let keys = self.log_keys(&coll.name).await?;
        let log_end = self.apply_log(coll, &keys, &held).await?;
        let applied = self.applied(&coll.name).await?;
        let ours = held.lease.holder == self.inner.cfg.node_id;
        if coll.st.lock().needs_rebuild || applied < log_end {
            // Not caught up (a gap, an object removed meanwhile): try again next step.
            return Ok(());
        }
        if applied > log_end && !ours {
            tracing::warn!(collection = %coll.name, applied, log_end, "replication: local records the bucket never had; rebuilding before taking over");
            coll.st.lock().needs_rebuild = true;
            return Ok(());
        }
        // Objects the old writer puts after this point start at `log_end + 1` or later and
        // are fenced by the new start; the old writer acknowledged none of them (its lease
        // had run out, or it released it after shipping everything).
        let started = Instant::now();
        let lease = self.new_lease(
            held.lease.config.clone(),
            held.lease.epoch + 1,
            Some(log_end + 1),
        );
        let etag = match lease::replace(&self.inner.store, &lease, &held.etag).await {
            Ok(etag) => etag,
            Err(e) if e.code() == "precondition_failed" => return Ok(()),
            Err(e) => return Err(e),
        };
        let reason = if held.lease.released {
            "handover"
        } else {
            "acquired"
        };
        self.become_writer(&coll.name, Held { lease, etag }, log_end, started)
            .await?;
        coll.ship_now.notify_one();
        self.transition(&coll.name, reason);
        Ok(())
    }
}

impl ReplicaHooks for Replicator {
    fn admit_write(&self, collection: &str) -> Result<()> {
        let Some(c) = self.coll(collection) else {
            return Err(Error::no_writer(
                collection,
                "replication has not settled this collection's writer yet",
            ));
        };
        let st = c.st.lock();
        match st.role {
            Role::Follower => Err(Error::fenced(collection, "another node holds the lease")),
            Role::Writer if st.handing_over => {
                Err(Error::no_writer(collection, "a handover is in progress"))
            }
            Role::Writer => {
                let valid = st.valid_until.is_some_and(|t| Instant::now() < t);
                // With ack=local an unreachable bucket does not stop writes: nobody else
                // can take the lease through it either (docs/replication.md).
                let tolerated = self.inner.cfg.ack == AckMode::Local && st.store_down;
                if valid || tolerated {
                    Ok(())
                } else {
                    let why = match &st.renew_error {
                        Some(e) => format!("the lease could not be renewed: {e}"),
                        None => "the lease could not be renewed".to_string(),
                    };
                    Err(Error::no_writer(collection, &why))
                }
            }
        }
    }

    fn acknowledge(&self, collection: &str, lsn: u64) -> Result<()> {
        if self.inner.cfg.ack == AckMode::Local {
            return Ok(());
        }
        let Some(c) = self.coll(collection) else {
            return Err(Error::no_writer(collection, "not replicated here"));
        };
        c.ship_now.notify_one();
        let deadline = Instant::now() + self.inner.cfg.lease;
        let mut st = c.st.lock();
        while st.shipped < lsn && st.role == Role::Writer && !c.stopped.load(Ordering::Acquire) {
            if c.shipped_cv.wait_until(&mut st, deadline).timed_out() {
                return Err(Error::no_writer(
                    collection,
                    "the write is durable locally but could not be shipped to the object store",
                ));
            }
        }
        if st.shipped < lsn {
            return Err(Error::fenced(
                collection,
                "the lease was lost before the write shipped",
            ));
        }
        if st.role != Role::Writer || st.valid_until.is_none_or(|t| Instant::now() >= t) {
            return Err(Error::fenced(
                collection,
                "the lease expired before the write was acknowledged",
            ));
        }
        Ok(())
    }

    fn uploads_snapshots(&self, collection: &str) -> bool {
        self.coll(collection)
            .is_none_or(|c| c.st.lock().role == Role::Writer)
    }

    fn shipped_through(&self, collection: &str) -> u64 {
        match self.coll(collection) {
            Some(c) => {
                let st = c.st.lock();
                match st.role {
                    Role::Writer => st.shipped,
                    Role::Follower => u64::MAX,
                }
            }
            None => u64::MAX,
        }
    }
}
