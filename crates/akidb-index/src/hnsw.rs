//! AkiDB's own HNSW graph (Malkov & Yashunin, 2016).
//!
//! Layout: every node has a fixed-capacity neighbour list per level stored in
//! flat `u32` arrays (`[count, id, id, …]`; level 0 holds `2*m` neighbours, upper
//! levels `m`), so a search touches no pointers and no per-node allocation.
//! Distances use the SIMD kernels of `akidb_core` through [`Metric::distance`].
//! Visited sets are generation-counter arrays reused through a per-index pool.
//! Neighbours are chosen with the paper's heuristic (algorithm 4). The build runs
//! on several threads with one lock per node; readers read the lists lock-free
//! (each slot is an `AtomicU32`, so a concurrent reader sees old or new ids, both
//! valid nodes), as hnswlib does.
//!
//! Memory ordering: a writer stores a list's id slots first and then its count with
//! `Release`; a lock-free reader loads the count with `Acquire` before the slots, so
//! every slot below a count it sees holds the id stored before that count (or a newer
//! one), never an older value such as the initial 0, which weakly ordered CPUs (aarch64)
//! could otherwise show and which would silently route the search through node 0. The
//! entry point is published the same way, after the new top node's lists are complete.
//! Accesses under a node lock, or before the build threads start / after they are joined,
//! need only `Relaxed`: the lock or the spawn/join already orders them.

use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::{
    AtomicU32, AtomicU64, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::Arc;

use akidb_core::{Error, Metric, Result};
use parking_lot::Mutex;
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::flat::{Far, TopK};
use crate::persist::{fsync_dir, tmp_path};
use crate::{AnnIndex, Neighbor, Vectors};

/// File name of a saved [`HnswIndex`].
pub const HNSW_FILE: &str = "hnsw.akidx";
const MAGIC: &[u8; 8] = b"AKIHNSW\0";
const FORMAT_VERSION: u32 = 1;
const MAX_LEVEL: u8 = 16;
/// Seed of the level generator, so two builds of the same rows draw the same levels.
const LEVEL_SEED: u64 = 0x00A1_D1B5;

/// Build parameters of [`HnswIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswConfig {
    /// Neighbours per node on upper levels (level 0 keeps `2*m`).
    pub m: usize,
    /// Candidate list size while inserting.
    pub ef_construction: usize,
    /// Insertion threads (1 gives a fully deterministic graph).
    pub threads: usize,
}

impl HnswConfig {
    /// Config from collection index params, building on 2 threads (or fewer CPUs).
    pub fn from_params(params: &akidb_core::IndexParams) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            m: params.m.max(2),
            ef_construction: params.ef_construction.max(params.m),
            threads: cpus.clamp(1, 2),
        }
    }
}

/// A reusable visited set: a node is visited when its mark equals the current generation.
struct Visited {
    marks: Vec<u16>,
    generation: u16,
    scratch: Vec<u32>,
}

impl Visited {
    fn new(n: usize) -> Self {
        Self {
            marks: vec![0; n],
            generation: 0,
            scratch: Vec::with_capacity(256),
        }
    }

    fn reset(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.fill(0);
            self.generation = 1;
        }
    }

    /// Marks `i`; returns true when it was not yet visited.
    #[inline]
    fn insert(&mut self, i: u32) -> bool {
        let m = &mut self.marks[i as usize];
        if *m == self.generation {
            false
        } else {
            *m = self.generation;
            true
        }
    }
}

#[inline(always)]
fn prefetch(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it never faults, even on an invalid address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch(p as *const i8, _MM_HINT_T0);
        _mm_prefetch((p as *const i8).wrapping_add(64), _MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Min-heap entry (closest first).
#[derive(Clone, Copy)]
struct Near(Neighbor);
impl PartialEq for Near {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o).is_eq()
    }
}
impl Eq for Near {}
impl PartialOrd for Near {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Near {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.0.cmp_key(&self.0)
    }
}

/// AkiDB's HNSW index over a shared [`Vectors`] block.
pub struct HnswIndex {
    vectors: Arc<Vectors>,
    m: usize,
    m0: usize,
    ef_construction: usize,
    levels: Vec<u8>,
    /// `n * (m0 + 1)` slots: per node a count then up to `m0` neighbour ids.
    links0: Vec<AtomicU32>,
    /// Start of a node's upper-level lists in `upper` (`u32::MAX`-free: level-0 nodes have none).
    upper_off: Vec<u32>,
    /// Per node with level L ≥ 1: L lists of `m + 1` slots (levels 1..=L).
    upper: Vec<AtomicU32>,
    /// Entry point id (low 32 bits) and its level (high bits).
    entry: AtomicU64,
    node_locks: Vec<Mutex<()>>,
    visited_pool: Mutex<Vec<Visited>>,
}

fn pack(id: u32, level: u8) -> u64 {
    (level as u64) << 32 | id as u64
}
fn unpack(e: u64) -> (u32, u8) {
    (e as u32, (e >> 32) as u8)
}

impl HnswIndex {
    /// Builds the graph over every row of `vectors`.
    pub fn build(vectors: Arc<Vectors>, config: HnswConfig) -> Self {
        let n = vectors.len();
        let m = config.m.max(2);
        let mut rng = StdRng::seed_from_u64(LEVEL_SEED);
        let mult = 1.0 / (m as f64).ln();
        let levels: Vec<u8> = (0..n)
            .map(|_| {
                let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
                ((-u.ln() * mult).floor() as u64).min(MAX_LEVEL as u64) as u8
            })
            .collect();
        let index = Self::allocate(vectors, m, config.ef_construction.max(m), levels);
        if n == 0 {
            return index;
        }
        index.entry.store(pack(0, index.levels[0]), Relaxed);
        let next = AtomicUsize::new(1);
        let entry_lock = Mutex::new(());
        let threads = config.threads.clamp(1, 64);
        let work = || {
            let mut visited = Visited::new(n);
            loop {
                let q = next.fetch_add(1, Relaxed);
                if q >= n {
                    break;
                }
                index.insert(q as u32, &mut visited, &entry_lock);
            }
        };
        if threads == 1 || n < 1000 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(work);
                }
            });
        }
        index
    }

    fn allocate(vectors: Arc<Vectors>, m: usize, ef_construction: usize, levels: Vec<u8>) -> Self {
        let n = vectors.len();
        let m0 = 2 * m;
        let mut upper_off = Vec::with_capacity(n);
        let mut total = 0usize;
        for &l in &levels {
            upper_off.push(total as u32);
            total += l as usize * (m + 1);
        }
        assert!(total <= u32::MAX as usize, "upper levels too large");
        Self {
            m,
            m0,
            ef_construction,
            links0: (0..n * (m0 + 1)).map(|_| AtomicU32::new(0)).collect(),
            upper: (0..total).map(|_| AtomicU32::new(0)).collect(),
            upper_off,
            levels,
            entry: AtomicU64::new(0),
            node_locks: (0..n).map(|_| Mutex::new(())).collect(),
            visited_pool: Mutex::new(Vec::new()),
            vectors,
        }
    }

    /// The neighbour list slots of `node` at `level`: `[count, ids…]`.
    #[inline]
    fn list(&self, node: u32, level: u8) -> &[AtomicU32] {
        if level == 0 {
            let s = node as usize * (self.m0 + 1);
            &self.links0[s..s + self.m0 + 1]
        } else {
            let s = self.upper_off[node as usize] as usize + (level as usize - 1) * (self.m + 1);
            &self.upper[s..s + self.m + 1]
        }
    }

    #[inline]
    fn dist(&self, a: u32, q: &[f32]) -> f32 {
        self.vectors.distance_to(a, q)
    }

    #[inline]
    fn dist_nodes(&self, a: u32, b: u32) -> f32 {
        self.vectors
            .metric()
            .distance(self.vectors.get(a), self.vectors.get(b))
    }

    /// Greedy walk on one upper level towards `q` (ef = 1).
    fn greedy(&self, q: &[f32], mut ep: u32, mut ep_d: f32, level: u8) -> (u32, f32) {
        loop {
            let mut changed = false;
            let list = self.list(ep, level);
            // Acquire pairs with the Release count store in `write_list` / `link`.
            let cnt = list[0].load(Acquire) as usize;
            for slot in &list[1..=cnt] {
                let nb = slot.load(Relaxed);
                let d = self.dist(nb, q);
                if d < ep_d || (d == ep_d && nb < ep) {
                    ep = nb;
                    ep_d = d;
                    changed = true;
                }
            }
            if !changed {
                return (ep, ep_d);
            }
        }
    }

    /// Best-first search of one level; returns up to `ef` accepted nodes, closest first.
    fn search_layer(
        &self,
        q: &[f32],
        ep: Neighbor,
        ef: usize,
        level: u8,
        accept: Option<&dyn Fn(u32) -> bool>,
        visited: &mut Visited,
    ) -> Vec<Neighbor> {
        visited.reset();
        let mut candidates: BinaryHeap<Near> = BinaryHeap::with_capacity(ef * 2);
        let mut results: BinaryHeap<Far> = BinaryHeap::with_capacity(ef + 1);
        visited.insert(ep.offset);
        candidates.push(Near(ep));
        if accept.is_none_or(|f| f(ep.offset)) {
            results.push(Far(ep));
        }
        let mut bound = if results.len() >= ef {
            results.peek().map_or(f32::INFINITY, |f| f.0.distance)
        } else {
            f32::INFINITY
        };
        let mut scratch = std::mem::take(&mut visited.scratch);
        while let Some(Near(c)) = candidates.pop() {
            if c.distance > bound {
                break;
            }
            let list = self.list(c.offset, level);
            // Acquire pairs with the Release count store in `write_list` / `link`.
            let cnt = list[0].load(Acquire) as usize;
            scratch.clear();
            for slot in &list[1..=cnt] {
                let nb = slot.load(Relaxed);
                if visited.insert(nb) {
                    prefetch(self.vectors.get(nb).as_ptr());
                    scratch.push(nb);
                }
            }
            for &nb in &scratch {
                let d = self.dist(nb, q);
                if results.len() < ef || d < bound {
                    candidates.push(Near(Neighbor {
                        offset: nb,
                        distance: d,
                    }));
                    if accept.is_none_or(|f| f(nb)) {
                        results.push(Far(Neighbor {
                            offset: nb,
                            distance: d,
                        }));
                        if results.len() > ef {
                            results.pop();
                        }
                        if results.len() >= ef {
                            bound = results.peek().map_or(f32::INFINITY, |f| f.0.distance);
                        }
                    }
                }
            }
        }
        visited.scratch = scratch;
        results.into_sorted_vec().into_iter().map(|f| f.0).collect()
    }

    /// The paper's heuristic: keep a candidate only if it is closer to the base than to every kept one.
    fn select_neighbors(&self, sorted: &[Neighbor], max: usize) -> Vec<Neighbor> {
        if sorted.len() <= max {
            return sorted.to_vec();
        }
        let mut kept: Vec<Neighbor> = Vec::with_capacity(max);
        for &c in sorted {
            if kept.len() >= max {
                break;
            }
            if kept
                .iter()
                .all(|r| self.dist_nodes(c.offset, r.offset) >= c.distance)
            {
                kept.push(c);
            }
        }
        kept
    }

    fn write_list(list: &[AtomicU32], ids: impl Iterator<Item = u32>) {
        let mut cnt = 0;
        for id in ids {
            cnt += 1;
            list[cnt].store(id, Relaxed);
        }
        // Release: publishes the slots above to readers that Acquire-load this count.
        list[0].store(cnt as u32, Release);
    }

    fn insert(&self, q: u32, visited: &mut Visited, entry_lock: &Mutex<()>) {
        let lvl = self.levels[q as usize];
        let qv = self.vectors.get(q);
        // A node that raises the top level holds the entry lock for its whole insertion,
        // so the entry point always has complete upper lists.
        let mut _guard = None;
        let (_, top) = unpack(self.entry.load(Acquire));
        if lvl > top {
            _guard = Some(entry_lock.lock());
        }
        // Acquire pairs with the Release store below: the entry's upper lists are complete.
        let (mut ep, top) = unpack(self.entry.load(Acquire));
        let mut ep_d = self.dist(ep, qv);
        let mut l = top;
        while l > lvl {
            (ep, ep_d) = self.greedy(qv, ep, ep_d, l);
            l -= 1;
        }
        let mut level = lvl.min(top) as i32;
        while level >= 0 {
            let lv = level as u8;
            let found = self.search_layer(
                qv,
                Neighbor {
                    offset: ep,
                    distance: ep_d,
                },
                self.ef_construction,
                lv,
                None,
                visited,
            );
            let found: Vec<Neighbor> = found.into_iter().filter(|n| n.offset != q).collect();
            let chosen = self.select_neighbors(&found, self.m);
            {
                let _g = self.node_locks[q as usize].lock();
                Self::write_list(self.list(q, lv), chosen.iter().map(|n| n.offset));
            }
            let cap = if lv == 0 { self.m0 } else { self.m };
            for nb in &chosen {
                self.link(nb.offset, q, nb.distance, lv, cap);
            }
            if let Some(best) = found.first() {
                ep = best.offset;
                ep_d = best.distance;
            }
            level -= 1;
        }
        if lvl > top {
            // Release: `q`'s lists, written above, are visible to whoever loads this entry.
            self.entry.store(pack(q, lvl), Release);
        }
    }

    /// Adds the back link `node -> q`, pruning `node`'s list with the heuristic when full.
    fn link(&self, node: u32, q: u32, d: f32, level: u8, cap: usize) {
        let _g = self.node_locks[node as usize].lock();
        let list = self.list(node, level);
        let cnt = list[0].load(Relaxed) as usize;
        if list[1..=cnt].iter().any(|s| s.load(Relaxed) == q) {
            return;
        }
        if cnt < cap {
            list[cnt + 1].store(q, Relaxed);
            // Release: a reader seeing the new count also sees the id in its slot.
            list[0].store(cnt as u32 + 1, Release);
            return;
        }
        let mut cands: Vec<Neighbor> = Vec::with_capacity(cnt + 1);
        cands.push(Neighbor {
            offset: q,
            distance: d,
        });
        for s in &list[1..=cnt] {
            let id = s.load(Relaxed);
            cands.push(Neighbor {
                offset: id,
                distance: self.dist_nodes(node, id),
            });
        }
        cands.sort_by(|a, b| a.cmp_key(b));
        let kept = self.select_neighbors(&cands, cap);
        Self::write_list(list, kept.iter().map(|n| n.offset));
    }

    fn take_visited(&self) -> Visited {
        self.visited_pool
            .lock()
            .pop()
            .unwrap_or_else(|| Visited::new(self.vectors.len()))
    }

    fn give_visited(&self, v: Visited) {
        let mut pool = self.visited_pool.lock();
        // Keep a few so concurrent searches do not allocate, without growing without bound.
        if pool.len() < 16 {
            pool.push(v);
        }
    }

    /// Neighbours per node on upper levels.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Candidate list size used while building.
    pub fn ef_construction(&self) -> usize {
        self.ef_construction
    }

    /// Mean out-degree at level 0 (a graph health figure for tests).
    pub fn mean_degree0(&self) -> f64 {
        let n = self.vectors.len();
        if n == 0 {
            return 0.0;
        }
        let sum: usize = (0..n as u32)
            .map(|i| self.list(i, 0)[0].load(Relaxed) as usize)
            .sum();
        sum as f64 / n as f64
    }

    fn encode_header(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(64);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        h.extend_from_slice(&(metric_code(self.vectors.metric()) as u32).to_le_bytes());
        h.extend_from_slice(&(self.vectors.dim() as u32).to_le_bytes());
        h.extend_from_slice(&(self.vectors.len() as u64).to_le_bytes());
        h.extend_from_slice(&(self.m as u32).to_le_bytes());
        h.extend_from_slice(&(self.ef_construction as u32).to_le_bytes());
        let (ep, top) = unpack(self.entry.load(Relaxed));
        h.extend_from_slice(&ep.to_le_bytes());
        h.extend_from_slice(&(top as u32).to_le_bytes());
        h.extend_from_slice(&(self.upper.len() as u64).to_le_bytes());
        h
    }

    /// Reads an index saved by [`AnnIndex::save`] from `dir`, checking header, checksum and every id.
    pub fn load(vectors: Arc<Vectors>, dir: &Path) -> Result<Self> {
        let path = dir.join(HNSW_FILE);
        let name = path.display().to_string();
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| Error::io(format!("reading HNSW index {name}"), &e))?;
        let corrupt =
            |what: &str| Error::corruption(format!("HNSW index {name} is corrupt: {what}"));
        if bytes.len() < 60 + 4 || &bytes[..8] != MAGIC {
            return Err(corrupt("bad magic or truncated header"));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes(tail.try_into().expect("4 bytes"));
        let actual = crc32c::crc32c(body);
        if stored != actual {
            return Err(corrupt(&format!(
                "checksum mismatch (stored {stored:08x}, computed {actual:08x})"
            )));
        }
        let mut r = Reader { b: body, pos: 8 };
        let version = r.u32();
        if version != FORMAT_VERSION {
            return Err(corrupt(&format!(
                "unsupported format version {version} (this build reads {FORMAT_VERSION})"
            )));
        }
        let metric = r.u32();
        let dim = r.u32() as usize;
        let n = r.u64() as usize;
        let m = r.u32() as usize;
        let efc = r.u32() as usize;
        let ep = r.u32();
        let top = r.u32();
        let upper_len = r.u64() as usize;
        if metric != metric_code(vectors.metric()) as u32
            || dim != vectors.dim()
            || n != vectors.len()
        {
            return Err(Error::corruption(format!(
                "HNSW index {name} was built for {n} rows of dimension {dim} (metric code {metric}), \
                 but the segment has {} rows of dimension {} ({})",
                vectors.len(),
                vectors.dim(),
                vectors.metric().as_str()
            )));
        }
        if !(2..=4096).contains(&m) || top > MAX_LEVEL as u32 || (n > 0 && ep as usize >= n) {
            return Err(corrupt("impossible graph parameters"));
        }
        let m0 = 2 * m;
        let need = n + 4 * n * (m0 + 1) + 4 * upper_len;
        if r.remaining() != need {
            return Err(corrupt(&format!(
                "expected {need} bytes of graph, found {}",
                r.remaining()
            )));
        }
        let levels = r.take(n).to_vec();
        let index = Self::allocate(vectors, m, efc, levels);
        if index.upper.len() != upper_len || index.levels.iter().any(|&l| l > MAX_LEVEL) {
            return Err(corrupt("level table does not match the upper lists"));
        }
        for slot in index.links0.iter().chain(index.upper.iter()) {
            slot.store(r.u32(), Relaxed);
        }
        for node in 0..n as u32 {
            for level in 0..=index.levels[node as usize] {
                let list = index.list(node, level);
                let cnt = list[0].load(Relaxed) as usize;
                if cnt >= list.len() || list[1..=cnt].iter().any(|s| s.load(Relaxed) as usize >= n)
                {
                    return Err(corrupt(&format!(
                        "node {node} has an invalid neighbour list at level {level}"
                    )));
                }
            }
        }
        index.entry.store(pack(ep, top as u8), Relaxed);
        Ok(index)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        s
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().expect("4 bytes"))
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().expect("8 bytes"))
    }
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
}

fn metric_code(m: Metric) -> u8 {
    match m {
        Metric::Cosine => 1,
        Metric::L2 => 2,
        Metric::Dot => 3,
    }
}

/// A writer that keeps a running CRC32C of everything written.
struct CrcWriter<W: Write> {
    inner: W,
    crc: u32,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl AnnIndex for HnswIndex {
    fn len(&self) -> usize {
        self.vectors.len()
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Neighbor> {
        assert_eq!(query.len(), self.vectors.dim(), "query dimension mismatch");
        if k == 0 || self.vectors.is_empty() {
            return Vec::new();
        }
        let ef = ef.max(k);
        let (mut ep, top) = unpack(self.entry.load(Acquire));
        let mut ep_d = self.dist(ep, query);
        for level in (1..=top).rev() {
            (ep, ep_d) = self.greedy(query, ep, ep_d, level);
        }
        let mut visited = self.take_visited();
        let found = self.search_layer(
            query,
            Neighbor {
                offset: ep,
                distance: ep_d,
            },
            ef,
            0,
            accept,
            &mut visited,
        );
        self.give_visited(visited);
        let mut top = TopK::new(k);
        found.into_iter().for_each(|n| top.push(n));
        top.into_sorted()
    }

    fn memory_bytes(&self) -> usize {
        let n = self.vectors.len();
        (self.links0.len() + self.upper.len() + self.upper_off.len()) * 4
            + self.levels.len()
            + self.node_locks.len() * std::mem::size_of::<Mutex<()>>()
            + self.visited_pool.lock().len() * n * 2
    }

    fn save(&self, dir: &Path) -> Result<Vec<String>> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), &e))?;
        let tmp = tmp_path(dir, HNSW_FILE);
        let io = |e: std::io::Error| Error::io(format!("writing {}", tmp.display()), &e);
        let file = File::create(&tmp).map_err(io)?;
        let mut w = CrcWriter {
            inner: BufWriter::with_capacity(1 << 20, file),
            crc: 0,
        };
        w.write_all(&self.encode_header()).map_err(io)?;
        w.write_all(&self.levels).map_err(io)?;
        let mut buf = Vec::with_capacity(1 << 16);
        for slot in self.links0.iter().chain(self.upper.iter()) {
            buf.extend_from_slice(&slot.load(Relaxed).to_le_bytes());
            if buf.len() >= 1 << 16 {
                w.write_all(&buf).map_err(io)?;
                buf.clear();
            }
        }
        w.write_all(&buf).map_err(io)?;
        let crc = w.crc;
        let mut inner = w.inner;
        inner.write_all(&crc.to_le_bytes()).map_err(io)?;
        let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, dir.join(HNSW_FILE))
            .map_err(|e| Error::io(format!("renaming {}", tmp.display()), &e))?;
        fsync_dir(dir)?;
        Ok(vec![HNSW_FILE.to_string()])
    }

    fn kind_name(&self) -> &'static str {
        "hnsw"
    }
}
