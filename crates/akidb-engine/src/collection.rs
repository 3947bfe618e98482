//! One hot collection: its WAL, in-memory segments, ordered apply, and background work.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use akidb_core::point::validate_vector;
use akidb_core::{
    CollectionConfig, Error, Filter, Hit, PayloadUpdate, Point, PointId, PointSelector, Record,
    Result, ScrollPage, ScrollRequest, SearchRequest,
};
use akidb_core::{Fusion, SearchQuery};
use akidb_index::{build_index, Bitset};
use akidb_storage::{Wal, WalOptions};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::record::{Op, PayloadChange, PreparedPoint};
use crate::segment::{Loc, Query, Sealed, SegmentData, State};
use crate::{Shared, Written};

/// Ordering of applies: WAL appends run concurrently (group commit), but their
/// effects are applied to memory strictly in LSN order.
struct Seq {
    applied: u64,
    pending: BTreeMap<u64, Op>,
    results: HashMap<u64, usize>,
}

/// A segment chosen for compaction: id, rows, tombstones at the time of picking.
type Picked = (u64, Arc<SegmentData>, Bitset);

/// Background work on a collection.
pub(crate) enum Job {
    /// Build the graph of a sealed segment.
    Index(Weak<Live>, u64),
    /// Merge segments with many dead rows.
    Compact(Weak<Live>),
    /// Take a snapshot because the WAL grew large.
    Snapshot(Weak<Live>),
    /// Exit the worker.
    Stop,
}

/// A loaded (hot) collection.
pub(crate) struct Live {
    pub config: CollectionConfig,
    pub dir: PathBuf,
    pub state: RwLock<State>,
    pub wal: Wal,
    seq: Mutex<Seq>,
    seq_cv: Condvar,
    pub shared: Arc<Shared>,
    compact_lock: Mutex<()>,
    pub snapshot_lock: Mutex<()>,
    compaction_queued: AtomicBool,
    snapshot_queued: AtomicBool,
    pub indexes_loaded: AtomicU64,
    pub indexes_built: AtomicU64,
    /// Live point count, shared with the catalog entry so listing never loads the collection.
    pub points: Arc<AtomicU64>,
    weak_self: Weak<Live>,
}

impl Live {
    /// Recovers a collection from `dir`: newest valid snapshot, then WAL replay.
    pub(crate) fn open(
        config: CollectionConfig,
        dir: PathBuf,
        shared: Arc<Shared>,
        points: Arc<AtomicU64>,
    ) -> Result<Arc<Live>> {
        let started = Instant::now();
        let recovered = crate::persist::load_latest_snapshot(&config, &dir, &shared)?;
        let mut state = recovered.state;
        let snapshot_lsn = state.applied_lsn;
        let opts = WalOptions {
            sync: shared.cfg.wal_sync,
            segment_bytes: shared.cfg.wal_segment_bytes,
        };
        // Recovery falls back to an older snapshot when the newest is unusable. That is only
        // lossless if the WAL reaches the newest one's LSN; otherwise opening (maybe empty)
        // would hide that its points are gone from local disk.
        let skipped = newest_snapshot(&dir).filter(|(_, lsn)| *lsn > snapshot_lsn);
        let opened = Wal::open(
            &dir.join("wal"),
            opts,
            snapshot_lsn,
            shared.cfg.observer.clone(),
        );
        let (wal, entries) = match (opened, &skipped) {
            (Err(e), Some((snap, lsn))) if e.kind() == akidb_core::ErrorKind::Corruption => {
                let detail = format!("the WAL cannot stand in for it: {}", e.message());
                return Err(unusable_snapshot(&config, snap, *lsn, &shared, &detail));
            }
            (opened, _) => opened?,
        };
        if let Some((snap, lsn)) = &skipped {
            if wal.last_lsn() < *lsn {
                let detail = format!("the WAL only reaches lsn {}", wal.last_lsn());
                return Err(unusable_snapshot(&config, snap, *lsn, &shared, &detail));
            }
        }
        let replayed = entries.len();
        let mut to_index: Vec<u64> = recovered.unindexed;
        for e in entries {
            let op = Op::decode(&e.payload, e.lsn)?;
            let (_, sealed) = state.apply(op, e.lsn, shared.cfg.segment_max_points);
            to_index.extend(sealed);
        }
        state.applied_lsn = state.applied_lsn.max(wal.last_lsn());
        let live = Live::assemble(
            config,
            dir,
            state,
            wal,
            shared,
            points,
            recovered.loaded,
            to_index,
        );
        tracing::info!(
            collection = %live.config.name,
            snapshot_lsn,
            replayed,
            graphs_loaded = recovered.loaded,
            points = live.points.load(Ordering::Relaxed),
            seconds = started.elapsed().as_secs_f64(),
            "collection recovered"
        );
        Ok(live)
    }

    /// Wraps a recovered state and its WAL; queues graph builds for `to_index`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble(
        config: CollectionConfig,
        dir: PathBuf,
        state: State,
        wal: Wal,
        shared: Arc<Shared>,
        points: Arc<AtomicU64>,
        loaded: u64,
        to_index: Vec<u64>,
    ) -> Arc<Live> {
        let applied = state.applied_lsn;
        points.store(state.live() as u64, Ordering::Relaxed);
        let live = Arc::new_cyclic(|weak| Live {
            config,
            dir,
            state: RwLock::new(state),
            wal,
            seq: Mutex::new(Seq {
                applied,
                pending: BTreeMap::new(),
                results: HashMap::new(),
            }),
            seq_cv: Condvar::new(),
            shared,
            compact_lock: Mutex::new(()),
            snapshot_lock: Mutex::new(()),
            compaction_queued: AtomicBool::new(false),
            snapshot_queued: AtomicBool::new(false),
            indexes_loaded: AtomicU64::new(loaded),
            indexes_built: AtomicU64::new(0),
            points,
            weak_self: weak.clone(),
        });
        for seg in to_index {
            live.queue_index(seg);
        }
        live
    }

    /// Gives up the in-memory state, keeping the WAL (used by restore).
    pub(crate) fn into_wal(self) -> Wal {
        self.wal
    }

    fn queue_index(&self, seg: u64) {
        let _ = self
            .shared
            .index_tx
            .send(Job::Index(self.weak_self.clone(), seg));
    }

    /// Logs `op`, waits until it is durable, applies it in LSN order, then waits for the
    /// replication layer's acknowledgement policy; returns the affected count and the LSN.
    fn write(&self, op: Op) -> Result<Written> {
        if let Some(r) = &self.shared.cfg.replica {
            r.admit_write(&self.config.name)?;
        }
        let bytes = op.encode()?;
        // The WAL append (and its fsync) happens outside every collection lock so that
        // concurrent writers share one fsync.
        let lsn = self.wal.append(&bytes)?;
        let count = self.apply_logged(lsn, op);
        if let Some(r) = &self.shared.cfg.replica {
            r.acknowledge(&self.config.name, lsn)?;
        }
        Ok(Written { count, lsn })
    }

    /// Applies records shipped by the collection's writer at the writer's LSNs (followers):
    /// all are logged, made durable with one fsync, then applied in order.
    pub(crate) fn apply_replicated(&self, records: &[akidb_storage::WalEntry]) -> Result<()> {
        let mut ops = Vec::with_capacity(records.len());
        for r in records {
            ops.push((r.lsn, Op::decode(&r.payload, r.lsn)?));
            self.wal.append_at_unsynced(r.lsn, &r.payload)?;
        }
        self.wal.sync()?;
        for (lsn, op) in ops {
            self.apply_logged(lsn, op);
        }
        Ok(())
    }

    /// The LSN of the last applied record.
    pub(crate) fn applied_lsn(&self) -> u64 {
        self.seq.lock().applied
    }

    /// A write that logs nothing: its count and the LSN the collection is at.
    fn unchanged(&self) -> Written {
        Written {
            count: 0,
            lsn: self.applied_lsn(),
        }
    }

    /// Applies the durable record `lsn` to memory in LSN order; returns its affected count.
    fn apply_logged(&self, lsn: u64, op: Op) -> usize {
        let mut sealed_all = Vec::new();
        let mut seq = self.seq.lock();
        seq.pending.insert(lsn, op);
        if lsn == seq.applied + 1 {
            let max = self.shared.cfg.segment_max_points;
            let mut st = self.state.write();
            loop {
                let next = seq.applied + 1;
                let Some(op) = seq.pending.remove(&next) else {
                    break;
                };
                let (n, sealed) = st.apply(op, next, max);
                seq.results.insert(next, n);
                seq.applied = next;
                sealed_all.extend(sealed);
            }
            self.points.store(st.live() as u64, Ordering::Relaxed);
            drop(st);
            self.seq_cv.notify_all();
        }
        while seq.applied < lsn {
            self.seq_cv.wait(&mut seq);
        }
        let n = seq.results.remove(&lsn).unwrap_or(0);
        drop(seq);
        for seg in sealed_all {
            self.queue_index(seg);
        }
        self.after_write();
        n
    }

    /// Queues compaction or a snapshot when their thresholds are crossed.
    fn after_write(&self) {
        let cfg = &self.shared.cfg;
        let (dead, stored) = {
            let st = self.state.read();
            (st.dead(), st.stored())
        };
        if stored > 0
            && dead as f64 / stored as f64 > cfg.compaction_deleted_ratio
            && !self.compaction_queued.swap(true, Ordering::AcqRel)
        {
            let _ = self
                .shared
                .index_tx
                .send(Job::Compact(self.weak_self.clone()));
        }
        if self.wal.size_bytes() > cfg.wal_snapshot_bytes
            && !self.snapshot_queued.swap(true, Ordering::AcqRel)
        {
            let _ = self
                .shared
                .maint_tx
                .send(Job::Snapshot(self.weak_self.clone()));
        }
    }

    /// Validates and durably upserts `points`.
    pub(crate) fn upsert(&self, points: Vec<Point>) -> Result<Written> {
        if points.is_empty() {
            return Ok(self.unchanged());
        }
        let cfg = &self.config;
        let mut prepared = Vec::with_capacity(points.len());
        for p in points {
            p.validate(cfg.dimension, self.shared.cfg.max_payload_bytes)?;
            let vector = cfg.metric.prepare(&p.vector).ok_or_else(|| {
                Error::invalid(
                    "invalid_vector",
                    format!(
                        "point {}: a zero vector has no direction under the cosine metric",
                        p.id
                    ),
                )
            })?;
            prepared.push(PreparedPoint {
                id: p.id,
                vector,
                payload: p.payload,
            });
        }
        let count = prepared.len();
        let lsn = self.write(Op::Upsert(prepared))?.lsn;
        Ok(Written { count, lsn })
    }

    /// Deletes the given ids; returns how many existed.
    pub(crate) fn delete(&self, ids: &[PointId]) -> Result<Written> {
        let present: Vec<PointId> = {
            let st = self.state.read();
            ids.iter()
                .filter(|id| st.locs.contains_key(*id))
                .cloned()
                .collect()
        };
        if present.is_empty() {
            return Ok(self.unchanged());
        }
        self.write(Op::Delete(present))
    }

    /// Deletes every point matching `filter` (logged as the resolved ids).
    pub(crate) fn delete_by_filter(&self, filter: &Filter) -> Result<Written> {
        let filter = &self.bind_filter(filter)?;
        let ids = self.state.read().matching_ids(filter);
        if ids.is_empty() {
            return Ok(self.unchanged());
        }
        self.write(Op::Delete(ids))
    }

    /// The live points among `ids`, in request order (missing ids skipped, repeats once).
    pub(crate) fn get_many(
        &self,
        ids: &[PointId],
        with_payload: bool,
        with_vector: bool,
    ) -> Vec<Record> {
        let st = self.state.read();
        let mut seen = std::collections::HashSet::new();
        ids.iter()
            .filter(|id| seen.insert(*id))
            .filter_map(|id| st.record(id, with_payload, with_vector))
            .collect()
    }

    /// One page of points in id order; validates `limit` like `k` (`invalid_limit`).
    pub(crate) fn scroll(&self, req: &ScrollRequest) -> Result<ScrollPage> {
        let max = self.shared.cfg.max_k;
        if req.limit == 0 || req.limit > max {
            return Err(Error::invalid(
                "invalid_limit",
                format!("limit must be 1..={max} (limits.max_k), got {}", req.limit),
            ));
        }
        if req.order_by.is_some() && req.offset.is_some() {
            return Err(Error::invalid(
                "invalid_offset",
                "with order_by, the cursor is the (value, id) next_offset of an ordered page",
            ));
        }
        if req.order_by.is_none() && req.order_offset.is_some() {
            return Err(Error::invalid(
                "invalid_offset",
                "a (value, id) cursor continues an ordered scroll: send order_by with it",
            ));
        }
        if req.filter.as_ref().is_some_and(has_text) {
            let mut req = req.clone();
            req.filter = req.filter.map(|f| self.bind_filter(&f)).transpose()?;
            return Ok(self.state.read().scroll(&req));
        }
        Ok(self.state.read().scroll(req))
    }

    /// Number of live points matching `filter`, always counted exactly.
    pub(crate) fn count(&self, filter: Option<&Filter>) -> usize {
        self.state.read().count(filter)
    }

    /// [`Live::count`] for a filter that may hold `text` conditions (checked and bound to
    /// the collection's text index first).
    pub(crate) fn count_checked(&self, filter: Option<&Filter>) -> Result<usize> {
        match filter.filter(|f| has_text(f)) {
            Some(f) => Ok(self.count(Some(&self.bind_filter(f)?))),
            None => Ok(self.count(filter)),
        }
    }

    /// A copy of `filter` whose `text` conditions carry the collection's text analysis;
    /// `text_index_missing` without a text index, `unknown_text_key` for another key.
    pub(crate) fn bind_filter(&self, filter: &Filter) -> Result<Filter> {
        let mut f = filter.clone();
        for c in f.text_conditions_mut() {
            if let akidb_core::Condition::Text { key, analyzer, .. } = c {
                let cfg = self.text_config(Some(key))?;
                *analyzer = Some(Box::new(cfg.clone()));
            }
        }
        Ok(f)
    }

    /// The collection's text index settings, checking a requested key against them.
    fn text_config(&self, key: Option<&str>) -> Result<&akidb_core::TextIndexConfig> {
        let Some(cfg) = &self.config.text_index else {
            return Err(Error::invalid(
                "text_index_missing",
                format!(
                    "collection '{}' has no text index: create it with \"text_index\":{{\"key\":…}}",
                    self.config.name
                ),
            ));
        };
        match key {
            Some(k) if k != cfg.key => Err(Error::invalid(
                "unknown_text_key",
                format!(
                    "'{k}' is not a text-indexed key of collection '{}' (its text index is on '{}')",
                    self.config.name, cfg.key
                ),
            )),
            _ => Ok(cfg),
        }
    }

    /// Durably changes the payloads of the selected points; returns how many existed.
    ///
    /// A filter is resolved to ids now and logged as those ids, like delete-by-filter.
    /// A merge that would make a payload exceed `max_payload_bytes` is refused
    /// (`payload_too_large`) before anything is written.
    pub(crate) fn update_payload(
        &self,
        target: &PointSelector,
        update: PayloadUpdate,
    ) -> Result<Written> {
        let max = self.shared.cfg.max_payload_bytes;
        let size =
            |p: &akidb_core::Payload| serde_json::to_vec(p).map(|v| v.len()).unwrap_or(usize::MAX);
        let change = match update {
            PayloadUpdate::Merge(p) => PayloadChange::Merge(p),
            PayloadUpdate::Overwrite(p) => PayloadChange::Overwrite(p),
            PayloadUpdate::DeleteKeys(k) => PayloadChange::DeleteKeys(k),
        };
        if let PayloadChange::Merge(p) | PayloadChange::Overwrite(p) = &change {
            let n = size(p);
            if n > max {
                return Err(Error::payload_too_large(format!(
                    "payload is {n} bytes, the limit is {max} (limits.max_payload_bytes)"
                )));
            }
        }
        let ids: Vec<PointId> = {
            let st = self.state.read();
            let ids = match target {
                PointSelector::Ids(ids) => {
                    let mut seen = std::collections::HashSet::new();
                    ids.iter()
                        .filter(|id| st.locs.contains_key(*id) && seen.insert(*id))
                        .cloned()
                        .collect()
                }
                PointSelector::Filter(f) => {
                    let f = match has_text(f) {
                        true => std::borrow::Cow::Owned(self.bind_filter(f)?),
                        false => std::borrow::Cow::Borrowed(f),
                    };
                    st.matching_ids(&f)
                }
            };
            if let PayloadChange::Merge(_) = &change {
                for id in &ids {
                    if let Some(mut p) = st.get(id).map(|p| p.payload) {
                        change.apply_to(&mut p);
                        let n = size(&p);
                        if n > max {
                            return Err(Error::payload_too_large(format!(
                                "point {id}: the merged payload would be {n} bytes, the limit is {max} (limits.max_payload_bytes)"
                            )));
                        }
                    }
                }
            }
            ids
        };
        if ids.is_empty() {
            return Ok(self.unchanged());
        }
        self.write(Op::Payload(ids, change))
    }

    /// The point with this id.
    pub(crate) fn get(&self, id: &PointId) -> Result<Point> {
        self.state
            .read()
            .get(id)
            .ok_or_else(|| Error::point_not_found(id))
    }

    /// Validated top-k search.
    pub(crate) fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>> {
        let max_k = self.shared.cfg.max_k;
        if req.k == 0 || req.k > max_k {
            return Err(Error::invalid(
                "invalid_k",
                format!("k must be 1..={max_k}, got {}", req.k),
            ));
        }
        if let Some(ef) = req.ef {
            if !(1..=10_000).contains(&ef) {
                return Err(Error::invalid(
                    "invalid_ef",
                    format!("ef must be 1..=10000, got {ef}"),
                ));
            }
        }
        let bound = match req.filter.as_ref().filter(|f| has_text(f)) {
            Some(f) => Some(self.bind_filter(f)?),
            None => None,
        };
        let filter = bound
            .as_ref()
            .or(req.filter.as_ref())
            .filter(|f| !f.is_empty());
        if let Some(q) = &req.query {
            return self.search_text(req, q, filter);
        }
        validate_vector(&req.vector, self.config.dimension)?;
        let query = self.config.metric.prepare(&req.vector).ok_or_else(|| {
            Error::invalid(
                "invalid_vector",
                "a zero query vector has no direction under the cosine metric",
            )
        })?;
        let q = Query {
            vector: &query,
            k: req.k,
            ef: req.ef.unwrap_or(self.config.index.ef_search),
            filter,
            exact: req.exact,
            with_payload: req.with_payload,
            with_vector: req.with_vector,
        };
        Ok(self.state.read().search(&q))
    }

    /// A BM25 or hybrid search (`req.query`); `filter` is already bound.
    fn search_text(
        &self,
        req: &SearchRequest,
        query: &SearchQuery,
        filter: Option<&Filter>,
    ) -> Result<Vec<Hit>> {
        if !req.vector.is_empty() {
            return Err(Error::invalid(
                "invalid_request",
                "with \"query\", the vector goes inside query.hybrid, not beside it",
            ));
        }
        let (key, text) = match query {
            SearchQuery::Text(t) => (t.key.as_deref(), t.query.as_str()),
            SearchQuery::Hybrid(h) => (h.key.as_deref(), h.text.as_str()),
        };
        let cfg = self.text_config(key)?;
        let terms = cfg.query_terms(text);
        if terms.is_empty() {
            return Err(Error::invalid(
                "invalid_text_query",
                format!("the query text {text:?} has no words"),
            ));
        }
        let (with_payload, with_vector) = (req.with_payload, req.with_vector);
        let h = match query {
            SearchQuery::Text(_) => {
                let st = self.state.read();
                let hits = st.text_search(cfg, terms, req.k, filter);
                return Ok(hits
                    .into_iter()
                    .map(|(id, score, loc)| st.hit_at(id, score, loc, with_payload, with_vector))
                    .collect());
            }
            SearchQuery::Hybrid(h) => h,
        };
        let alpha = h.alpha.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&alpha) {
            return Err(Error::invalid(
                "invalid_request",
                format!("hybrid alpha must be 0..=1, got {alpha}"),
            ));
        }
        validate_vector(&h.vector, self.config.dimension)?;
        let vector = self.config.metric.prepare(&h.vector).ok_or_else(|| {
            Error::invalid(
                "invalid_vector",
                "a zero query vector has no direction under the cosine metric",
            )
        })?;
        // Each side ranks a deeper list than k, so that a point good on both sides but
        // top-k on neither can still win.
        let depth = req
            .k
            .max(HYBRID_MIN_DEPTH)
            .min(self.shared.cfg.max_k.max(req.k));
        let q = Query {
            vector: &vector,
            k: depth,
            ef: req.ef.unwrap_or(self.config.index.ef_search).max(depth),
            filter,
            exact: req.exact,
            with_payload: false,
            with_vector: false,
        };
        let st = self.state.read();
        let dense = st.search(&q);
        let sparse = st.text_search(cfg, terms, depth, filter);
        // Dense scores: higher is better, except l2 (a distance).
        let sign = if self.config.metric == akidb_core::Metric::L2 {
            -1.0
        } else {
            1.0
        };
        let dense: Vec<(PointId, f32)> =
            dense.into_iter().map(|h| (h.id, sign * h.score)).collect();
        let sparse: Vec<(PointId, f32)> = sparse.into_iter().map(|(id, s, _)| (id, s)).collect();
        let fused = fuse(&dense, &sparse, h.fusion, alpha, req.k);
        Ok(fused
            .into_iter()
            .filter_map(|(id, score)| {
                let loc = *st.locs.get(&id)?;
                Some(st.hit_at(id, score, loc, with_payload, with_vector))
            })
            .collect())
    }

    /// Builds the graph of sealed segment `seg` (no lock held while building).
    pub(crate) fn build_segment_index(&self, seg: u64) {
        let data = {
            let st = self.state.read();
            match st.sealed.get(&seg) {
                Some(s) if s.index.is_none() => s.data.clone(),
                _ => return,
            }
        };
        let started = Instant::now();
        let index = build_index(&self.config.index, data.vectors.clone());
        let index: Arc<dyn akidb_index::AnnIndex> = Arc::from(index);
        // Build the segment's text index here too, off the search path.
        if let Some(t) = &self.config.text_index {
            data.rows.text_index(t);
        }
        let mut st = self.state.write();
        if let Some(s) = st.sealed.get_mut(&seg) {
            // A payload update replaces the rows copy-on-write but keeps the vectors: the
            // graph built over them still fits.
            if Arc::ptr_eq(&s.data.vectors, &data.vectors) {
                s.index = Some(index);
                self.indexes_built.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    collection = %self.config.name,
                    segment = seg,
                    rows = data.len(),
                    seconds = started.elapsed().as_secs_f64(),
                    "segment index built"
                );
            }
        }
    }

    /// Merges segments with dead rows (all segments when `all`), dropping dead rows.
    ///
    /// The merge copies rows without blocking writers; the swap re-checks every row
    /// against the id map, so writes that raced with the merge are never lost. New
    /// segments serve exactly until the background indexer has built their graphs.
    pub(crate) fn compact(&self, all: bool) -> Result<crate::CompactionReport> {
        let _guard = self.compact_lock.lock();
        self.compaction_queued.store(false, Ordering::Release);
        let ratio = self.shared.cfg.compaction_deleted_ratio;
        let max = self.shared.cfg.segment_max_points.max(1);
        // 1. Pick the segments (sealing the mutable one if it has dead rows).
        let (segments_before, picked, from_mutable): (usize, Vec<Picked>, Option<u64>) = {
            let mut st = self.state.write();
            let before = st.sealed.len() + usize::from(st.mutable.len() > 0);
            let from_mutable = if st.mutable.dead_count > 0 || (all && st.mutable.len() > 0) {
                st.seal_mutable()
            } else {
                None
            };
            let small = max / 2;
            let picked = st
                .sealed
                .iter()
                .filter(|(_, s)| {
                    all || s.dead_count as f64 / s.data.len().max(1) as f64 > ratio
                        || (s.dead_count > 0 && s.data.len() < small)
                })
                .map(|(&id, s)| (id, s.data.clone(), s.dead.clone()))
                .collect::<Vec<_>>();
            (before, picked, from_mutable)
        };
        // Compaction only changes memory: a crash at any of its points recovers from the
        // snapshot and WAL, which still hold every row it was merging.
        akidb_storage::crash::point("compact.after_pick");
        if let Some(seg) = from_mutable {
            if !picked.iter().any(|(id, _, _)| *id == seg) {
                self.queue_index(seg);
            }
        }
        if picked.is_empty() {
            let st = self.state.read();
            return Ok(crate::CompactionReport {
                segments_before,
                segments_after: st.sealed.len() + usize::from(st.mutable.len() > 0),
                removed_points: 0,
                live_points: st.live() as u64,
            });
        }
        // 2. Copy the live rows into new segments of at most `max` rows.
        let dim = self.config.dimension;
        let metric = self.config.metric;
        let mut chunks: Vec<(SegmentData, Vec<Loc>)> = Vec::new();
        let mut cur = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut removed = 0u64;
        for (seg, data, dead) in &picked {
            for off in 0..data.len() {
                if dead.get(off) {
                    removed += 1;
                    continue;
                }
                cur.0.push(data.ids()[off].clone());
                cur.1.push(data.payloads()[off].clone());
                cur.2.extend_from_slice(data.vectors.get(off as u32));
                cur.3.push(Loc {
                    seg: *seg,
                    off: off as u32,
                });
                if cur.0.len() >= max {
                    let (ids, payloads, vecs, locs) = std::mem::take(&mut cur);
                    let vectors = Arc::new(akidb_index::Vectors::new(dim, metric, vecs));
                    chunks.push((SegmentData::new(ids, payloads, vectors), locs));
                }
            }
        }
        if !cur.0.is_empty() {
            let (ids, payloads, vecs, locs) = cur;
            let vectors = Arc::new(akidb_index::Vectors::new(dim, metric, vecs));
            chunks.push((SegmentData::new(ids, payloads, vectors), locs));
        }
        akidb_storage::crash::point("compact.after_copy");
        // 3. Swap under the write lock, re-checking rows changed since step 1.
        let mut new_ids = Vec::new();
        let report = {
            let mut st = self.state.write();
            // Payload updates since step 1 replaced a segment's rows copy-on-write: take
            // the payloads the copied rows have now.
            let changed: HashMap<u64, Arc<SegmentData>> = picked
                .iter()
                .filter_map(|(seg, data, _)| {
                    let now = &st.sealed.get(seg)?.data;
                    (!Arc::ptr_eq(now, data)).then(|| (*seg, now.clone()))
                })
                .collect();
            for (seg, _, _) in &picked {
                st.sealed.remove(seg);
            }
            for (mut data, origins) in chunks {
                if origins.iter().any(|o| changed.contains_key(&o.seg)) {
                    let payloads = origins
                        .iter()
                        .enumerate()
                        .map(|(off, o)| match changed.get(&o.seg) {
                            Some(now) => now.payloads()[o.off as usize].clone(),
                            None => data.payloads()[off].clone(),
                        })
                        .collect();
                    data = SegmentData::new(data.ids().to_vec(), payloads, data.vectors.clone());
                }
                let mut dead = Bitset::new(data.len());
                for (off, origin) in origins.iter().enumerate() {
                    if st.locs.get(&data.ids()[off]) != Some(origin) {
                        dead.set(off);
                    }
                }
                let id = st.add_sealed(Sealed::new(Arc::new(data), dead));
                new_ids.push(id);
            }
            crate::CompactionReport {
                segments_before,
                segments_after: st.sealed.len() + usize::from(st.mutable.len() > 0),
                removed_points: removed,
                live_points: st.live() as u64,
            }
        };
        akidb_storage::crash::point("compact.after_swap");
        for id in new_ids {
            self.queue_index(id);
        }
        tracing::info!(
            collection = %self.config.name,
            removed = report.removed_points,
            segments_before = report.segments_before,
            segments_after = report.segments_after,
            "compaction finished"
        );
        Ok(report)
    }

    /// Runs the snapshot job queued by `after_write`.
    pub(crate) fn snapshot_job(&self) {
        self.snapshot_queued.store(false, Ordering::Release);
        if let Err(e) = crate::persist::snapshot(self) {
            tracing::error!(collection = %self.config.name, error = %e, "automatic snapshot failed");
        }
    }

    /// Statistics for metrics.
    pub(crate) fn stats(&self) -> (usize, usize, u64, u64) {
        let st = self.state.read();
        let pending = st.sealed.values().filter(|s| s.index.is_none()).count();
        (
            st.sealed.len() + 1,
            pending,
            st.dead() as u64,
            st.applied_lsn,
        )
    }
}

/// Least depth of each ranking a hybrid search fuses.
const HYBRID_MIN_DEPTH: usize = 100;

/// Reciprocal rank fusion constant (`1 / (RRF_K + rank)`, rank from 1).
const RRF_K: f32 = 60.0;

/// True when `f` holds a `text` condition somewhere.
fn has_text(f: &Filter) -> bool {
    f.must
        .iter()
        .chain(&f.should)
        .chain(&f.must_not)
        .any(|c| match c {
            akidb_core::Condition::Text { .. } => true,
            akidb_core::Condition::Nested(n) => has_text(n),
            _ => false,
        })
}

/// Fuses two rankings (best first, higher score better) into the top `k`, ties by id.
///
/// `rrf`: `Σ 1/(60 + rank)`. `weighted`: `alpha · dense + (1 − alpha) · sparse`, each
/// side's scores min-max normalised to 0..=1 over its list (absent = 0).
pub(crate) fn fuse(
    dense: &[(PointId, f32)],
    sparse: &[(PointId, f32)],
    fusion: Fusion,
    alpha: f32,
    k: usize,
) -> Vec<(PointId, f32)> {
    let mut acc: HashMap<&PointId, f32> = HashMap::new();
    for (list, weight) in [(dense, alpha), (sparse, 1.0 - alpha)] {
        match fusion {
            Fusion::Rrf => {
                for (rank, (id, _)) in list.iter().enumerate() {
                    *acc.entry(id).or_default() += 1.0 / (RRF_K + rank as f32 + 1.0);
                }
            }
            Fusion::Weighted => {
                let lo = list.iter().map(|x| x.1).fold(f32::INFINITY, f32::min);
                let hi = list.iter().map(|x| x.1).fold(f32::NEG_INFINITY, f32::max);
                for (id, s) in list {
                    let norm = if hi > lo { (s - lo) / (hi - lo) } else { 1.0 };
                    *acc.entry(id).or_default() += weight * norm;
                }
            }
        }
    }
    let mut out: Vec<(PointId, f32)> = acc.into_iter().map(|(id, s)| (id.clone(), s)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(k);
    out
}

/// The newest complete local snapshot and the LSN its name carries.
fn newest_snapshot(dir: &std::path::Path) -> Option<(PathBuf, u64)> {
    let newest = crate::persist::snapshot_dirs(dir).pop()?;
    let lsn = newest
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('-').next())
        .and_then(|n| n.parse::<u64>().ok())?;
    Some((newest, lsn))
}

/// The error for a skipped newest snapshot whose points the WAL cannot supply.
fn unusable_snapshot(
    config: &CollectionConfig,
    snap: &std::path::Path,
    lsn: u64,
    shared: &Arc<Shared>,
    detail: &str,
) -> Error {
    let why = match crate::persist::load_snapshot(config, snap, shared, true) {
        Err(e) => e.message().to_string(),
        Ok(_) => "it was skipped".to_string(),
    };
    Error::corruption(format!(
        "snapshot {} (lsn {lsn}) is unusable ({why}) and {detail}",
        snap.display()
    ))
}

/// Last LSN in the WAL of the collection in `dir` (opening it recovers a torn tail).
pub(crate) fn wal_last_lsn(dir: &std::path::Path, shared: &Shared, after_lsn: u64) -> Result<u64> {
    let opts = WalOptions {
        sync: shared.cfg.wal_sync,
        segment_bytes: shared.cfg.wal_segment_bytes,
    };
    let (wal, _) = Wal::open(
        &dir.join("wal"),
        opts,
        after_lsn,
        shared.cfg.observer.clone(),
    )?;
    Ok(wal.last_lsn())
}

/// Worker loop for the indexer / maintenance threads.
pub(crate) fn worker(rx: crossbeam_channel::Receiver<Job>) {
    while let Ok(job) = rx.recv() {
        match job {
            Job::Stop => break,
            Job::Index(live, seg) => {
                if let Some(live) = live.upgrade() {
                    live.build_segment_index(seg);
                }
            }
            Job::Compact(live) => {
                if let Some(live) = live.upgrade() {
                    if let Err(e) = live.compact(false) {
                        tracing::error!(collection = %live.config.name, error = %e, "automatic compaction failed");
                    }
                }
            }
            Job::Snapshot(live) => {
                if let Some(live) = live.upgrade() {
                    live.snapshot_job();
                }
            }
        }
    }
}

#[cfg(test)]
mod fusion_tests {
    use super::*;

    fn list(v: &[(u64, f32)]) -> Vec<(PointId, f32)> {
        v.iter().map(|&(i, s)| (PointId::Num(i), s)).collect()
    }

    #[test]
    fn rrf_and_weighted_fusion() {
        let dense = list(&[(1, 0.9), (2, 0.8), (3, 0.1)]);
        let sparse = list(&[(3, 7.0), (2, 5.0), (4, 1.0)]);
        // RRF: 2 is second on both sides (2/62) and beats 1 and 3 (1/61 + 0, 1/61 + 1/63).
        let f = fuse(&dense, &sparse, Fusion::Rrf, 0.5, 4);
        let ids: Vec<_> = f.iter().map(|x| x.0.clone()).collect();
        assert_eq!(
            ids,
            list(&[(3, 0.), (2, 0.), (1, 0.), (4, 0.)])
                .into_iter()
                .map(|x| x.0)
                .collect::<Vec<_>>()
        );
        assert!((f[0].1 - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-6);
        assert!((f[1].1 - 2.0 / 62.0).abs() < 1e-6);
        // Weighted: min-max per list; alpha 1 is the dense order alone.
        let f = fuse(&dense, &sparse, Fusion::Weighted, 1.0, 2);
        assert_eq!(f[0].0, PointId::Num(1));
        assert!((f[0].1 - 1.0).abs() < 1e-6);
        let f = fuse(&dense, &sparse, Fusion::Weighted, 0.0, 1);
        assert_eq!(f[0].0, PointId::Num(3));
        // Equal scores: ties by id.
        let f = fuse(&list(&[(5, 1.0)]), &list(&[(4, 1.0)]), Fusion::Rrf, 0.5, 2);
        assert_eq!(f[0].0, PointId::Num(4));
    }
}
