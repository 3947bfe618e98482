//! Shared server state and the engine operations both front ends (REST and gRPC)
//! call: each checks the server-side limits, then runs the blocking engine call on
//! the blocking thread pool.

use std::sync::{Arc, OnceLock};

use akidb_core::{CollectionConfig, Filter, Hit, Point, PointId, SearchRequest, Tier};
use akidb_engine::{
    CollectionInfo, CompactionReport, Database, DlqEntry, DlqRetryReport, SnapshotInfo, TierInfo,
    Written,
};
use akidb_replication::Replicator;

use crate::config::{AuthSection, LimitsSection};
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Everything a request handler needs.
pub struct AppState {
    db: OnceLock<Database>,
    /// Set when `replication.enabled`: decides who writes each collection.
    pub replicator: Option<Replicator>,
    /// Request limits.
    pub limits: LimitsSection,
    /// API keys.
    pub auth: AuthSection,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
}

/// The state as handlers receive it.
pub type Shared = Arc<AppState>;

impl AppState {
    /// State without a database yet (recovery runs in the background).
    pub fn new(limits: LimitsSection, auth: AuthSection, metrics: Arc<Metrics>) -> Self {
        Self {
            db: OnceLock::new(),
            replicator: None,
            limits,
            auth,
            metrics,
        }
    }

    /// Installs the opened database; from now on the server is ready.
    pub fn set_database(&self, db: Database) {
        if self.db.set(db).is_ok() {
            self.metrics.set_ready();
        }
    }

    /// The database, once recovery has finished.
    pub fn database(&self) -> Option<&Database> {
        self.db.get()
    }

    /// Runs a blocking engine call on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> akidb_core::Result<T> + Send + 'static,
    {
        let db = self.db.get().cloned().ok_or_else(ApiError::not_ready)?;
        match tokio::task::spawn_blocking(move || f(&db)).await {
            Ok(r) => r.map_err(ApiError::from),
            Err(e) => Err(ApiError::internal(format!("engine task failed: {e}"))),
        }
    }

    /// Creates a collection.
    pub async fn create_collection(
        &self,
        config: CollectionConfig,
    ) -> Result<CollectionInfo, ApiError> {
        match &self.replicator {
            Some(r) => {
                self.db.get().ok_or_else(ApiError::not_ready)?;
                Ok(r.create_collection(config).await?)
            }
            None => self.run(move |db| db.create_collection(config)).await,
        }
    }

    /// Lists collections (never promotes).
    pub async fn list_collections(&self) -> Result<Vec<CollectionInfo>, ApiError> {
        let mut list = self.run(|db| Ok(db.list_collections())).await?;
        list.iter_mut().for_each(|c| self.annotate(c));
        Ok(list)
    }

    /// Describes one collection (never promotes).
    pub async fn collection(&self, name: String) -> Result<CollectionInfo, ApiError> {
        let mut info = self.run(move |db| db.collection(&name)).await?;
        self.annotate(&mut info);
        Ok(info)
    }

    /// Adds the writer and this node's role when replication is on.
    fn annotate(&self, info: &mut CollectionInfo) {
        if let Some(s) = self
            .replicator
            .as_ref()
            .and_then(|r| r.status_of(&info.name))
        {
            info.writer = s.writer;
            info.role = Some(
                match s.role {
                    akidb_replication::Role::Writer => "writer",
                    akidb_replication::Role::Follower => "follower",
                }
                .to_string(),
            );
        }
    }

    /// Drops a collection.
    pub async fn drop_collection(&self, name: String) -> Result<(), ApiError> {
        match &self.replicator {
            Some(r) => {
                let db = self.db.get().ok_or_else(ApiError::not_ready)?;
                let name = db.resolve(&name).into_owned();
                Ok(r.drop_collection(&name).await?)
            }
            None => self.run(move |db| db.drop_collection(&name)).await,
        }
    }

    /// Upserts points; answers once durable.
    pub async fn upsert(&self, name: String, points: Vec<Point>) -> Result<Written, ApiError> {
        self.check_batch(
            "points",
            points.len(),
            self.limits.max_batch_points,
            "limits.max_batch_points",
        )?;
        self.run(move |db| db.upsert(&name, points)).await
    }

    /// Reads one point.
    pub async fn get_point(&self, name: String, id: PointId) -> Result<Point, ApiError> {
        self.run(move |db| db.get(&name, &id)).await
    }

    /// Deletes points by id.
    pub async fn delete_ids(&self, name: String, ids: Vec<PointId>) -> Result<Written, ApiError> {
        self.check_ids(ids.len())?;
        self.run(move |db| db.delete(&name, &ids)).await
    }

    /// Deletes every point matching a filter.
    pub async fn delete_filter(&self, name: String, filter: Filter) -> Result<Written, ApiError> {
        self.run(move |db| db.delete_by_filter(&name, &filter))
            .await
    }

    /// Reads many points; missing ids are absent, request order kept.
    pub async fn get_many(
        &self,
        name: String,
        ids: Vec<PointId>,
        with_payload: bool,
        with_vector: bool,
    ) -> Result<Vec<akidb_core::Record>, ApiError> {
        self.check_ids(ids.len())?;
        self.run(move |db| db.get_many(&name, &ids, with_payload, with_vector))
            .await
    }

    /// One scroll page.
    pub async fn scroll(
        &self,
        name: String,
        request: akidb_core::ScrollRequest,
    ) -> Result<akidb_core::ScrollPage, ApiError> {
        crate::api::check_limit(request.limit as u64, self.limits.max_k)?;
        self.run(move |db| db.scroll(&name, &request)).await
    }

    /// Counts the points matching a filter (always exactly).
    pub async fn count(&self, name: String, filter: Option<Filter>) -> Result<u64, ApiError> {
        self.run(move |db| db.count(&name, filter.as_ref())).await
    }

    /// Changes payloads of the selected points; answers once durable.
    pub async fn update_payload(
        &self,
        name: String,
        target: akidb_core::PointSelector,
        update: akidb_core::PayloadUpdate,
    ) -> Result<Written, ApiError> {
        if let akidb_core::PointSelector::Ids(ids) = &target {
            self.check_ids(ids.len())?;
        }
        self.run(move |db| db.update_payload(&name, &target, update))
            .await
    }

    /// Checks `k` against the configured limit.
    pub fn check_k(&self, k: u64) -> Result<usize, ApiError> {
        let max_k = self.limits.max_k;
        if k == 0 || k > max_k as u64 {
            return Err(ApiError::bad_request(
                "invalid_k",
                format!("k must be 1..={max_k} (limits.max_k), got {k}"),
            ));
        }
        Ok(k as usize)
    }

    /// One search.
    pub async fn search(&self, name: String, request: SearchRequest) -> Result<Vec<Hit>, ApiError> {
        self.check_k(request.k as u64)?;
        self.run(move |db| db.search(&name, &request)).await
    }

    /// Several searches, answered in order.
    pub async fn search_batch(
        &self,
        name: String,
        requests: Vec<SearchRequest>,
    ) -> Result<Vec<Vec<Hit>>, ApiError> {
        self.check_batch(
            "searches",
            requests.len(),
            self.limits.max_batch_searches,
            "limits.max_batch_searches",
        )?;
        for r in &requests {
            self.check_k(r.k as u64)?;
        }
        self.run(move |db| db.search_batch(&name, &requests)).await
    }

    /// Checks a list of point ids against `limits.max_batch_points`.
    fn check_ids(&self, n: usize) -> Result<(), ApiError> {
        self.check_batch(
            "ids",
            n,
            self.limits.max_batch_points,
            "limits.max_batch_points",
        )
    }

    fn check_batch(&self, what: &str, n: usize, limit: usize, key: &str) -> Result<(), ApiError> {
        if n > limit {
            Err(ApiError::batch_too_large(what, n, limit, key))
        } else {
            Ok(())
        }
    }

    /// Merges segments and drops deleted rows.
    pub async fn compact(&self, name: String) -> Result<CompactionReport, ApiError> {
        self.run(move |db| db.compact(&name)).await
    }

    /// Tier state (never promotes).
    pub async fn tier(&self, name: String) -> Result<TierInfo, ApiError> {
        self.run(move |db| db.tier(&name)).await
    }

    /// Loads a collection into RAM.
    pub async fn promote(&self, name: String) -> Result<TierInfo, ApiError> {
        self.run(move |db| db.promote(&name)).await
    }

    /// Moves a collection to warm or cold.
    pub async fn demote(&self, name: String, to: Tier) -> Result<TierInfo, ApiError> {
        self.run(move |db| db.demote(&name, to)).await
    }

    /// Pins a collection hot.
    pub async fn pin(&self, name: String) -> Result<TierInfo, ApiError> {
        self.run(move |db| db.pin(&name)).await
    }

    /// Unpins a collection.
    pub async fn unpin(&self, name: String) -> Result<TierInfo, ApiError> {
        self.run(move |db| db.unpin(&name)).await
    }

    /// Writes a snapshot now.
    pub async fn snapshot(&self, name: String) -> Result<SnapshotInfo, ApiError> {
        self.run(move |db| db.snapshot(&name)).await
    }

    /// Lists snapshots.
    pub async fn list_snapshots(&self, name: String) -> Result<Vec<SnapshotInfo>, ApiError> {
        self.run(move |db| db.list_snapshots(&name)).await
    }

    /// Restores a snapshot.
    pub async fn restore(
        &self,
        name: String,
        snapshot_id: String,
        verify: bool,
    ) -> Result<CollectionInfo, ApiError> {
        self.run(move |db| db.restore(&name, &snapshot_id, verify))
            .await
    }

    /// Dead-letter queue entries.
    pub async fn dlq(&self) -> Result<Vec<DlqEntry>, ApiError> {
        self.run(|db| Ok(db.dlq())).await
    }

    /// Retries every dead-letter entry once.
    pub async fn dlq_retry_all(&self) -> Result<DlqRetryReport, ApiError> {
        self.run(|db| Ok(db.dlq_retry_all())).await
    }

    /// Applies alias actions all together or not at all.
    pub async fn update_aliases(
        &self,
        actions: Vec<akidb_core::AliasAction>,
    ) -> Result<(), ApiError> {
        self.run(move |db| db.update_aliases(&actions)).await
    }

    /// Every alias, sorted by alias.
    pub async fn list_aliases(&self) -> Result<Vec<akidb_core::AliasInfo>, ApiError> {
        self.run(|db| Ok(db.list_aliases())).await
    }

    /// The aliases of one collection (the name may itself be an alias).
    pub async fn collection_aliases(
        &self,
        name: String,
    ) -> Result<Vec<akidb_core::AliasInfo>, ApiError> {
        self.run(move |db| db.collection_aliases(&name)).await
    }
}

/// Parses a tier name for demotion.
pub fn parse_demote_target(to: &str) -> Result<Tier, ApiError> {
    match to {
        "warm" => Ok(Tier::Warm),
        "cold" => Ok(Tier::Cold),
        other => Err(ApiError::bad_request(
            "invalid_tier",
            format!("\"to\" must be \"warm\" or \"cold\", got \"{other}\""),
        )),
    }
}
