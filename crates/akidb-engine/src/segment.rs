//! In-memory segments of one collection and the search over them.
//!
//! A collection holds one *mutable* segment (append-only rows, searched exactly) and
//! any number of *sealed* segments (immutable rows plus, once the background indexer
//! is done, a graph index). Deletes and overwrites set a tombstone bit on the old row;
//! the id map always points at the one live copy of each id.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use akidb_core::{
    Filter, Hit, Metric, Payload, Point, PointId, Record, ScrollPage, ScrollRequest,
    TextIndexConfig,
};
use akidb_index::{
    exact_search, exact_search_offsets, search_filtered, AnnIndex, Bitset, Bm25, Neighbor,
    PayloadIndex, TextIndex, Vectors,
};
use parking_lot::RwLock;

use crate::record::{Op, PayloadChange, PreparedPoint};

/// Immutable rows of a sealed segment (shared with index builds and snapshots).
pub(crate) struct SegmentData {
    /// Ids and payloads, with inverted lists for filters.
    pub rows: PayloadIndex,
    pub vectors: Arc<Vectors>,
}

impl SegmentData {
    pub(crate) fn new(ids: Vec<PointId>, payloads: Vec<Payload>, vectors: Arc<Vectors>) -> Self {
        Self {
            rows: PayloadIndex::new(ids, payloads),
            vectors,
        }
    }

    pub(crate) fn ids(&self) -> &[PointId] {
        self.rows.ids()
    }

    pub(crate) fn payloads(&self) -> &[Payload] {
        self.rows.payloads()
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        let payload: usize = self.payloads().iter().map(|p| 64 + p.len() * 64).sum();
        self.vectors.memory_bytes() + self.len() * 40 + payload
    }
}

/// A sealed segment: immutable rows, tombstones, and the graph once built.
pub(crate) struct Sealed {
    pub data: Arc<SegmentData>,
    pub dead: Bitset,
    pub dead_count: usize,
    pub index: Option<Arc<dyn AnnIndex>>,
}

impl Sealed {
    pub(crate) fn new(data: Arc<SegmentData>, dead: Bitset) -> Self {
        let dead_count = dead.count_ones();
        Self {
            data,
            dead,
            dead_count,
            index: None,
        }
    }

    fn live(&self) -> usize {
        self.data.len() - self.dead_count
    }
}

/// The append-only segment new writes land in.
pub(crate) struct Mutable {
    pub seg_id: u64,
    pub ids: Vec<PointId>,
    pub vectors: Vec<f32>,
    pub payloads: Vec<Payload>,
    pub dead: Vec<bool>,
    pub dead_count: usize,
    /// The full-text index of these rows: built by the first text search, then kept up
    /// to date by every write to the segment, and handed to the sealed segment on seal.
    pub text: RwLock<Option<TextIndex>>,
}

impl Mutable {
    fn new(seg_id: u64) -> Self {
        Self {
            seg_id,
            ids: Vec::new(),
            vectors: Vec::new(),
            payloads: Vec::new(),
            dead: Vec::new(),
            dead_count: 0,
            text: RwLock::new(None),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Where the live copy of an id is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Loc {
    pub seg: u64,
    pub off: u32,
}

/// A row found by search, before ids and payloads are attached.
struct Cand {
    distance: f32,
    seg: u64,
    off: u32,
}

/// The whole in-memory state of a hot collection.
pub(crate) struct State {
    pub dim: usize,
    pub metric: Metric,
    pub mutable: Mutable,
    pub sealed: BTreeMap<u64, Sealed>,
    pub locs: HashMap<PointId, Loc>,
    pub next_seg_id: u64,
    pub applied_lsn: u64,
}

/// Parameters of one search after validation.
pub(crate) struct Query<'a> {
    pub vector: &'a [f32],
    pub k: usize,
    pub ef: usize,
    pub filter: Option<&'a Filter>,
    pub exact: bool,
    pub with_payload: bool,
    pub with_vector: bool,
}

impl State {
    pub(crate) fn new(dim: usize, metric: Metric) -> Self {
        Self {
            dim,
            metric,
            mutable: Mutable::new(0),
            sealed: BTreeMap::new(),
            locs: HashMap::new(),
            next_seg_id: 1,
            applied_lsn: 0,
        }
    }

    fn alloc_seg_id(&mut self) -> u64 {
        let id = self.next_seg_id;
        self.next_seg_id += 1;
        id
    }

    /// Live points.
    pub(crate) fn live(&self) -> usize {
        self.locs.len()
    }

    /// Rows stored, dead or alive.
    pub(crate) fn stored(&self) -> usize {
        self.mutable.len() + self.sealed.values().map(|s| s.data.len()).sum::<usize>()
    }

    /// Tombstoned rows not yet compacted away.
    pub(crate) fn dead(&self) -> usize {
        self.mutable.dead_count + self.sealed.values().map(|s| s.dead_count).sum::<usize>()
    }

    /// Approximate heap bytes of rows and indexes.
    pub(crate) fn memory_bytes(&self) -> u64 {
        let m = self.mutable.vectors.len() * 4
            + self.mutable.ids.len() * 40
            + self
                .mutable
                .payloads
                .iter()
                .map(|p| 64 + p.len() * 64)
                .sum::<usize>();
        let s: usize = self
            .sealed
            .values()
            .map(|s| s.data.memory_bytes() + s.index.as_ref().map_or(0, |i| i.memory_bytes()))
            .sum();
        (m + s + self.locs.len() * 64) as u64
    }

    fn kill(&mut self, loc: Loc) {
        if loc.seg == self.mutable.seg_id {
            let d = &mut self.mutable.dead[loc.off as usize];
            if !*d {
                *d = true;
                self.mutable.dead_count += 1;
            }
        } else if let Some(s) = self.sealed.get_mut(&loc.seg) {
            if !s.dead.get(loc.off as usize) {
                s.dead.set(loc.off as usize);
                s.dead_count += 1;
            }
        }
    }

    fn push(&mut self, p: PreparedPoint) {
        if let Some(old) = self.locs.get(&p.id).copied() {
            self.kill(old);
        }
        let off = self.mutable.len() as u32;
        if let Some(t) = self.mutable.text.get_mut() {
            t.add(off, &p.payload);
        }
        self.mutable.vectors.extend_from_slice(&p.vector);
        self.mutable.ids.push(p.id.clone());
        self.mutable.payloads.push(p.payload);
        self.mutable.dead.push(false);
        self.locs.insert(
            p.id,
            Loc {
                seg: self.mutable.seg_id,
                off,
            },
        );
    }

    /// Applies one logged op; returns the count it affected and the ids of segments sealed.
    pub(crate) fn apply(
        &mut self,
        op: Op,
        lsn: u64,
        segment_max_points: usize,
    ) -> (usize, Vec<u64>) {
        let mut sealed = Vec::new();
        let n = match op {
            Op::Upsert(points) => {
                let n = points.len();
                for p in points {
                    self.push(p);
                    if self.mutable.len() >= segment_max_points.max(1) {
                        sealed.extend(self.seal_mutable());
                    }
                }
                n
            }
            Op::Delete(ids) => {
                let mut n = 0;
                for id in ids {
                    if let Some(loc) = self.locs.remove(&id) {
                        self.kill(loc);
                        n += 1;
                    }
                }
                n
            }
            Op::Payload(ids, change) => self.update_payloads(&ids, &change),
        };
        self.applied_lsn = self.applied_lsn.max(lsn);
        (n, sealed)
    }

    /// Changes the payloads of the live points among `ids`; returns how many.
    ///
    /// The mutable segment's payloads change in place. A sealed segment's rows are shared
    /// (index builds, snapshots), so its payload column and payload index are replaced
    /// copy-on-write, once per update and segment: the vectors and the graph are kept as
    /// they are (shared by `Arc`), nothing is re-embedded or rebuilt.
    fn update_payloads(&mut self, ids: &[PointId], change: &PayloadChange) -> usize {
        let mut n = 0;
        let mut per_seg: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if !seen.insert(id) {
                continue;
            }
            let Some(loc) = self.locs.get(id).copied() else {
                continue;
            };
            n += 1;
            if loc.seg == self.mutable.seg_id {
                let payload = &mut self.mutable.payloads[loc.off as usize];
                let text = self.mutable.text.get_mut();
                if let Some(t) = text.as_mut() {
                    t.remove(loc.off, payload);
                }
                change.apply_to(payload);
                if let Some(t) = text.as_mut() {
                    t.add(loc.off, payload);
                }
            } else {
                per_seg.entry(loc.seg).or_default().push(loc.off);
            }
        }
        for (seg, offs) in per_seg {
            let Some(s) = self.sealed.get_mut(&seg) else {
                continue;
            };
            let mut payloads = s.data.payloads().to_vec();
            for off in offs {
                change.apply_to(&mut payloads[off as usize]);
            }
            s.data = Arc::new(SegmentData::new(
                s.data.ids().to_vec(),
                payloads,
                s.data.vectors.clone(),
            ));
        }
        n
    }

    /// Turns the mutable segment into a sealed one (served exactly until its graph is ready).
    pub(crate) fn seal_mutable(&mut self) -> Option<u64> {
        if self.mutable.len() == 0 {
            return None;
        }
        let next = self.alloc_seg_id();
        let m = std::mem::replace(&mut self.mutable, Mutable::new(next));
        let mut dead = Bitset::new(m.ids.len());
        for (i, d) in m.dead.iter().enumerate() {
            if *d {
                dead.set(i);
            }
        }
        let data = Arc::new(SegmentData::new(
            m.ids,
            m.payloads,
            Arc::new(Vectors::new(self.dim, self.metric, m.vectors)),
        ));
        if let Some(t) = m.text.into_inner() {
            data.rows.set_text_index(Arc::new(t));
        }
        self.sealed.insert(m.seg_id, Sealed::new(data, dead));
        Some(m.seg_id)
    }

    /// Adds a sealed segment (recovery, compaction); returns its id.
    pub(crate) fn add_sealed(&mut self, sealed: Sealed) -> u64 {
        let id = self.alloc_seg_id();
        for (off, pid) in sealed.data.ids().iter().enumerate() {
            if !sealed.dead.get(off) {
                if let Some(old) = self.locs.insert(
                    pid.clone(),
                    Loc {
                        seg: id,
                        off: off as u32,
                    },
                ) {
                    self.kill(old);
                }
            }
        }
        self.sealed.insert(id, sealed);
        // Keep the mutable segment's id above every sealed one, so ids stay ordered by age.
        if self.mutable.len() == 0 {
            let next = self.alloc_seg_id();
            self.mutable.seg_id = next;
        }
        id
    }

    /// The point stored under `id`.
    pub(crate) fn get(&self, id: &PointId) -> Option<Point> {
        let loc = self.locs.get(id)?;
        let (vector, payload) = self.row(*loc);
        Some(Point {
            id: id.clone(),
            vector: vector.to_vec(),
            payload: payload.clone(),
        })
    }

    fn row(&self, loc: Loc) -> (&[f32], &Payload) {
        let off = loc.off as usize;
        if loc.seg == self.mutable.seg_id {
            let v = &self.mutable.vectors[off * self.dim..(off + 1) * self.dim];
            (v, &self.mutable.payloads[off])
        } else {
            let s = &self.sealed[&loc.seg];
            (s.data.vectors.get(loc.off), &s.data.payloads()[off])
        }
    }

    fn row_id(&self, seg: u64, off: u32) -> &PointId {
        if seg == self.mutable.seg_id {
            &self.mutable.ids[off as usize]
        } else {
            &self.sealed[&seg].data.ids()[off as usize]
        }
    }

    /// The point stored under `id`, with only the parts asked for.
    pub(crate) fn record(
        &self,
        id: &PointId,
        with_payload: bool,
        with_vector: bool,
    ) -> Option<Record> {
        let loc = self.locs.get(id)?;
        Some(self.record_at(id, *loc, with_payload, with_vector))
    }

    /// The record of the point `id` stored at `loc`, with only the parts asked for.
    fn record_at(&self, id: &PointId, loc: Loc, with_payload: bool, with_vector: bool) -> Record {
        let (vector, payload) = self.row(loc);
        Record {
            id: id.clone(),
            payload: with_payload.then(|| payload.clone()),
            vector: with_vector.then(|| vector.to_vec()),
        }
    }

    /// One scroll page: the `limit` smallest live ids above `offset` that match the filter.
    ///
    /// Pages are cut by id, so across pages no id comes twice, and a point that lived
    /// through the whole scan is on exactly one page.
    pub(crate) fn scroll(&self, req: &ScrollRequest) -> ScrollPage {
        if let Some(order) = &req.order_by {
            return self.scroll_ordered(req, order);
        }
        let filter = req.filter.as_ref().filter(|f| !f.is_empty());
        // A max-heap of the `limit + 1` smallest ids seen (one more tells if a page follows).
        let keep = req.limit.saturating_add(1);
        let mut heap: std::collections::BinaryHeap<(&PointId, Loc)> =
            std::collections::BinaryHeap::with_capacity(keep.min(1 << 16));
        for (id, loc) in &self.locs {
            if let Some(off) = &req.offset {
                if id <= off {
                    continue;
                }
            }
            if heap.len() >= keep && heap.peek().is_some_and(|(top, _)| id >= *top) {
                continue;
            }
            if let Some(f) = filter {
                if !f.matches(id, self.row(*loc).1) {
                    continue;
                }
            }
            heap.push((id, *loc));
            if heap.len() > keep {
                heap.pop();
            }
        }
        let mut rows = heap.into_sorted_vec();
        let more = rows.len() > req.limit;
        rows.truncate(req.limit);
        let next_offset = if more {
            rows.last().map(|(id, _)| (*id).clone())
        } else {
            None
        };
        let points = rows
            .into_iter()
            .map(|(id, loc)| self.record_at(id, loc, req.with_payload, req.with_vector))
            .collect();
        ScrollPage {
            points,
            next_offset,
            next_order_offset: None,
        }
    }

    /// One page of a scroll ordered by a payload key: the `limit` first live points after
    /// `req.order_offset` in `(value, id)` order that have a value at the key and match
    /// the filter. Pages are cut by `(value, id)`, so a point whose value does not change
    /// during the scan is on exactly one page.
    fn scroll_ordered(&self, req: &ScrollRequest, order: &akidb_core::OrderBy) -> ScrollPage {
        let filter = req.filter.as_ref().filter(|f| !f.is_empty());
        let keep = req.limit.saturating_add(1);
        let cmp = |a: &(akidb_core::OrderValue, &PointId, Loc),
                   b: &(akidb_core::OrderValue, &PointId, Loc)| {
            order.compare((&a.0, a.1), (&b.0, b.1))
        };
        let mut rows: Vec<(akidb_core::OrderValue, &PointId, Loc)> = Vec::new();
        for (id, loc) in &self.locs {
            let payload = self.row(*loc).1;
            let Some(value) = order.value_of(payload) else {
                continue;
            };
            if let Some(c) = &req.order_offset {
                if order.compare((&value, id), (&c.value, &c.id)).is_le() {
                    continue;
                }
            }
            if let Some(f) = filter {
                if !f.matches(id, payload) {
                    continue;
                }
            }
            rows.push((value, id, *loc));
            // Bounded memory: keep the `keep` first whenever the buffer doubles.
            if rows.len() >= keep.saturating_mul(2).max(1024) {
                top_k_by(&mut rows, keep, cmp);
            }
        }
        top_k_by(&mut rows, keep, cmp);
        let more = rows.len() > req.limit;
        rows.truncate(req.limit);
        let next_order_offset = if more {
            rows.last().map(|(value, id, _)| akidb_core::OrderCursor {
                value: value.clone(),
                id: (*id).clone(),
            })
        } else {
            None
        };
        let points = rows
            .into_iter()
            .map(|(_, id, loc)| self.record_at(id, loc, req.with_payload, req.with_vector))
            .collect();
        ScrollPage {
            points,
            next_offset: None,
            next_order_offset,
        }
    }

    /// Number of live points matching `filter` (all live points for None), exactly.
    pub(crate) fn count(&self, filter: Option<&Filter>) -> usize {
        let Some(filter) = filter.filter(|f| !f.is_empty()) else {
            return self.live();
        };
        let m = &self.mutable;
        let pre = self.mutable_prefilter(filter);
        let mut n = (0..m.len())
            .filter(|&off| {
                !m.dead[off]
                    && pre.as_ref().is_none_or(|b| b.get(off))
                    && filter.matches(&m.ids[off], &m.payloads[off])
            })
            .count();
        for s in self.sealed.values() {
            if s.live() == 0 {
                continue;
            }
            let mut b = s.data.rows.evaluate(filter);
            b.and_not(&s.dead);
            n += b.count_ones();
        }
        n
    }

    /// Live ids matching `filter`.
    pub(crate) fn matching_ids(&self, filter: &Filter) -> Vec<PointId> {
        let mut out = Vec::new();
        let pre = self.mutable_prefilter(filter);
        for (off, id) in self.mutable.ids.iter().enumerate() {
            if !self.mutable.dead[off]
                && pre.as_ref().is_none_or(|b| b.get(off))
                && filter.matches(id, &self.mutable.payloads[off])
            {
                out.push(id.clone());
            }
        }
        for s in self.sealed.values() {
            let mut m = s.data.rows.evaluate(filter);
            m.and_not(&s.dead);
            out.extend(m.iter_ones().map(|off| s.data.ids()[off].clone()));
        }
        out
    }

    /// Top-k over every segment, best first, ties broken by id.
    pub(crate) fn search(&self, q: &Query<'_>) -> Vec<Hit> {
        let mut cands: Vec<Cand> = Vec::new();
        // Mutable segment: always exact.
        {
            let m = &self.mutable;
            let pre = q.filter.and_then(|f| self.mutable_prefilter(f));
            let mut local: Vec<(f32, u32)> = Vec::new();
            for off in 0..m.len() {
                if m.dead[off] {
                    continue;
                }
                if let Some(f) = q.filter {
                    if pre.as_ref().is_some_and(|b| !b.get(off))
                        || !f.matches(&m.ids[off], &m.payloads[off])
                    {
                        continue;
                    }
                }
                let v = &m.vectors[off * self.dim..(off + 1) * self.dim];
                local.push((self.metric.distance(v, q.vector), off as u32));
            }
            let ids = &m.ids;
            top_k_by(&mut local, q.k, |a, b| {
                a.0.total_cmp(&b.0)
                    .then_with(|| ids[a.1 as usize].cmp(&ids[b.1 as usize]))
            });
            cands.extend(local.into_iter().map(|(distance, off)| Cand {
                distance,
                seg: m.seg_id,
                off,
            }));
        }
        for (&seg, s) in &self.sealed {
            for n in search_sealed(s, q) {
                cands.push(Cand {
                    distance: n.distance,
                    seg,
                    off: n.offset,
                });
            }
        }
        top_k_by(&mut cands, q.k, |a, b| {
            a.distance
                .total_cmp(&b.distance)
                .then_with(|| self.row_id(a.seg, a.off).cmp(self.row_id(b.seg, b.off)))
        });
        cands
            .into_iter()
            .map(|c| {
                let loc = Loc {
                    seg: c.seg,
                    off: c.off,
                };
                let (vector, payload) = self.row(loc);
                Hit {
                    id: self.row_id(c.seg, c.off).clone(),
                    score: self.metric.score(c.distance),
                    payload: q.with_payload.then(|| payload.clone()),
                    vector: q.with_vector.then(|| vector.to_vec()),
                }
            })
            .collect()
    }
}

impl State {
    /// BM25 top-k over every segment for the distinct query `terms`, best first (ties by
    /// id), with collection-wide statistics over live rows; only rows passing `filter`.
    /// Returns `(id, score, location)`.
    pub(crate) fn text_search(
        &self,
        config: &TextIndexConfig,
        terms: Vec<String>,
        k: usize,
        filter: Option<&Filter>,
    ) -> Vec<(PointId, f32, Loc)> {
        let m = &self.mutable;
        self.ensure_mutable_text(config);
        let mtext = m.text.read();
        let Some(mtext) = mtext.as_ref() else {
            return Vec::new();
        };
        let sealed: Vec<(u64, &Sealed, Arc<TextIndex>)> = self
            .sealed
            .iter()
            .filter(|(_, s)| s.live() > 0)
            .map(|(&id, s)| (id, s, s.data.rows.text_index(config)))
            .collect();
        // Collection-wide statistics, tombstones left out.
        let mdead = |o: u32| m.dead.get(o as usize).copied().unwrap_or(true);
        let (mut docs, mut total) = mtext.live_stats(
            m.dead
                .iter()
                .enumerate()
                .filter(|(_, d)| **d)
                .map(|(o, _)| o as u32),
        );
        let mut df: Vec<u64> = terms.iter().map(|t| mtext.df(t, mdead)).collect();
        for (_, s, t) in &sealed {
            let (d, l) = t.live_stats(s.dead.iter_ones().map(|o| o as u32));
            docs += d;
            total += l;
            for (i, term) in terms.iter().enumerate() {
                df[i] += t.df(term, |o| s.dead.get(o as usize));
            }
        }
        let bm25 = Bm25::new(terms, docs, total, &df);
        let mut cands: Vec<(f32, Loc)> = Vec::new();
        let scored = mtext.score(&bm25, |o| {
            !mdead(o)
                && filter.is_none_or(|f| f.matches(&m.ids[o as usize], &m.payloads[o as usize]))
        });
        let loc = |seg: u64, off: u32| Loc { seg, off };
        cands.extend(scored.into_iter().map(|(o, sc)| (sc, loc(m.seg_id, o))));
        for (seg, s, t) in &sealed {
            let scored = match filter {
                Some(f) => {
                    let mut ok = s.data.rows.evaluate(f);
                    ok.and_not(&s.dead);
                    t.score(&bm25, |o| ok.get(o as usize))
                }
                None => t.score(&bm25, |o| !s.dead.get(o as usize)),
            };
            cands.extend(scored.into_iter().map(|(o, sc)| (sc, loc(*seg, o))));
        }
        top_k_by(&mut cands, k, |a, b| {
            b.0.total_cmp(&a.0).then_with(|| {
                self.row_id(a.1.seg, a.1.off)
                    .cmp(self.row_id(b.1.seg, b.1.off))
            })
        });
        cands
            .into_iter()
            .map(|(sc, l)| (self.row_id(l.seg, l.off).clone(), sc, l))
            .collect()
    }

    /// Builds the mutable segment's text index for `config` unless it is there already.
    fn ensure_mutable_text(&self, config: &TextIndexConfig) {
        let m = &self.mutable;
        let stale = m.text.read().as_ref().is_none_or(|t| t.config() != config);
        if stale {
            let mut g = m.text.write();
            if g.as_ref().is_none_or(|t| t.config() != config) {
                *g = Some(TextIndex::build(config, &m.payloads));
            }
        }
    }

    /// Rows of the mutable segment that can pass `filter` as far as its top-level `must`
    /// text conditions tell (from the segment's text index), or None when it has none;
    /// a necessary condition only, so callers still evaluate the filter on these rows.
    fn mutable_prefilter(&self, filter: &Filter) -> Option<Bitset> {
        let m = &self.mutable;
        let mut out: Option<Bitset> = None;
        for c in &filter.must {
            if let akidb_core::Condition::Text {
                key,
                query,
                analyzer: Some(a),
            } = c
            {
                if &a.key != key {
                    continue;
                }
                self.ensure_mutable_text(a);
                let g = m.text.read();
                let Some(t) = g.as_ref() else { continue };
                let b = t.matching_all(&a.query_terms(query), m.len());
                match &mut out {
                    Some(o) => o.and(&b),
                    None => out = Some(b),
                }
            }
        }
        out
    }

    /// A hit for the row at `loc`, with the parts asked for.
    pub(crate) fn hit_at(
        &self,
        id: PointId,
        score: f32,
        loc: Loc,
        with_payload: bool,
        with_vector: bool,
    ) -> Hit {
        let (vector, payload) = self.row(loc);
        Hit {
            id,
            score,
            payload: with_payload.then(|| payload.clone()),
            vector: with_vector.then(|| vector.to_vec()),
        }
    }
}

/// Sorts `v` by `cmp` and keeps the first `k` (selecting first when `v` is large).
fn top_k_by<T>(v: &mut Vec<T>, k: usize, cmp: impl Fn(&T, &T) -> std::cmp::Ordering) {
    if v.len() > k && k > 0 {
        v.select_nth_unstable_by(k - 1, &cmp);
        v.truncate(k);
    }
    v.sort_by(&cmp);
    v.truncate(k);
}

/// Search inside one sealed segment: graph walk, or exact over the accepted rows.
fn search_sealed(s: &Sealed, q: &Query<'_>) -> Vec<Neighbor> {
    if s.live() == 0 {
        return Vec::new();
    }
    let vectors = &s.data.vectors;
    let ef = q.ef.max(q.k);
    match q.filter {
        None => {
            let not_dead = |off: u32| !s.dead.get(off as usize);
            let accept: Option<&dyn Fn(u32) -> bool> = if s.dead_count > 0 {
                Some(&not_dead)
            } else {
                None
            };
            match (&s.index, q.exact) {
                (Some(index), false) => index.search(q.vector, q.k, ef, accept),
                _ => exact_search(vectors, q.vector, q.k, accept),
            }
        }
        Some(filter) => {
            // Inverted lists for match/has_id, a scan for the rest; then drop dead rows.
            let mut matching = s.data.rows.evaluate(filter);
            matching.and_not(&s.dead);
            if matching.count_ones() == 0 {
                return Vec::new();
            }
            match (&s.index, q.exact) {
                (Some(index), false) => search_filtered(
                    index.as_ref(),
                    vectors,
                    q.vector,
                    q.k,
                    ef,
                    &matching,
                    s.live(),
                ),
                _ => exact_search_offsets(
                    vectors,
                    q.vector,
                    q.k,
                    matching.iter_ones().map(|o| o as u32),
                ),
            }
        }
    }
}
