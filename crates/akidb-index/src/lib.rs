//! AkiDB vector indexes over one immutable segment: the [`AnnIndex`] trait, the
//! exact [`FlatIndex`], AkiDB's own HNSW ([`HnswIndex`], the default), an adapter
//! over the `hnsw_rs` crate ([`HnswRsIndex`], the reference), the payload index
//! that turns a [`Filter`](akidb_core::Filter) into a [`Bitset`], and the filter
//! planner ([`plan_filtered`]) that picks an exact scan or a filtered graph walk, and
//! the full-text index with BM25 scoring ([`TextIndex`], module [`text`]).
//!
//! Offsets are the row numbers of a segment (`0..len`); the engine maps them to ids.

mod bitset;
pub mod dataset;
mod flat;
mod hnsw;
mod hnsw_rs_index;
mod payload;
mod persist;
mod planner;
pub mod text;
mod vectors;

pub use bitset::Bitset;
pub use flat::{exact_search, exact_search_offsets, FlatIndex};
pub use hnsw::{HnswConfig, HnswIndex, HNSW_FILE};
pub use hnsw_rs_index::{HnswRsIndex, HNSW_RS_DIR};
pub use payload::PayloadIndex;
pub use planner::{exact_scan_limit, plan_filtered, search_filtered, Plan, WALK_COST_PER_SCAN_ROW};
pub use text::{Bm25, TextIndex};
pub use vectors::Vectors;

use akidb_core::{IndexKind, IndexParams, Result};
use std::path::Path;
use std::sync::Arc;

/// One search result inside a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    /// Row of the segment.
    pub offset: u32,
    /// Internal distance (smaller is closer), see [`akidb_core::Metric::distance`].
    pub distance: f32,
}

impl Neighbor {
    /// Orders by distance, then offset, so equal distances sort deterministically.
    #[inline]
    pub fn cmp_key(&self, other: &Self) -> std::cmp::Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.offset.cmp(&other.offset))
    }
}

/// An approximate (or exact) nearest-neighbour index over a [`Vectors`] block.
pub trait AnnIndex: Send + Sync {
    /// Number of indexed vectors.
    fn len(&self) -> usize;
    /// True when the index holds no vectors.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Up to k nearest among offsets accepted by `accept` (None = all), ascending distance, ties by offset.
    ///
    /// `query` must be prepared with [`akidb_core::Metric::prepare`]; `ef` is the
    /// candidate list size (raised to `k` when smaller).
    fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Neighbor>;
    /// Approximate heap bytes held by the index (not counting the shared vectors).
    fn memory_bytes(&self) -> usize;
    /// Durably writes the index files into `dir` (temp name, fsync, rename, fsync dir). Returns file names written.
    fn save(&self, dir: &Path) -> Result<Vec<String>>;
    /// Short name of the implementation, e.g. `"hnsw"`.
    fn kind_name(&self) -> &'static str;
}

/// Builds the index `params.kind` selects over `vectors` (uses 2 threads).
pub fn build_index(params: &IndexParams, vectors: Arc<Vectors>) -> Box<dyn AnnIndex> {
    match params.kind {
        IndexKind::Hnsw => Box::new(HnswIndex::build(vectors, HnswConfig::from_params(params))),
        IndexKind::HnswRs => Box::new(HnswRsIndex::build(
            vectors,
            params.m,
            params.ef_construction,
        )),
    }
}

/// Loads an index written by [`AnnIndex::save`] from `dir`; `vectors` must be the rows it was built on.
pub fn load_index(
    params: &IndexParams,
    vectors: Arc<Vectors>,
    dir: &Path,
) -> Result<Box<dyn AnnIndex>> {
    match params.kind {
        IndexKind::Hnsw => Ok(Box::new(HnswIndex::load(vectors, dir)?)),
        IndexKind::HnswRs => Ok(Box::new(HnswRsIndex::load(vectors, dir)?)),
    }
}
