//! Exact search: a scan of every (accepted) row with a bounded max-heap.

use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::Arc;

use akidb_core::Result;

use crate::{AnnIndex, Neighbor, Vectors};

/// Heap entry ordered by (distance, offset) so the heap top is the worst kept result.
#[derive(Clone, Copy)]
pub(crate) struct Far(pub Neighbor);

impl PartialEq for Far {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o).is_eq()
    }
}
impl Eq for Far {}
impl PartialOrd for Far {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Far {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp_key(&o.0)
    }
}

/// Keeps the k best of a stream of candidates.
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Far>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, n: Neighbor) {
        if self.heap.len() < self.k {
            self.heap.push(Far(n));
        } else if let Some(top) = self.heap.peek() {
            if n.cmp_key(&top.0).is_lt() {
                self.heap.pop();
                self.heap.push(Far(n));
            }
        }
    }

    pub(crate) fn into_sorted(self) -> Vec<Neighbor> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|f| f.0)
            .collect()
    }
}

/// Exact k nearest rows among those `accept` allows (None = all), ascending distance, ties by offset.
pub fn exact_search(
    vectors: &Vectors,
    query: &[f32],
    k: usize,
    accept: Option<&dyn Fn(u32) -> bool>,
) -> Vec<Neighbor> {
    assert_eq!(query.len(), vectors.dim(), "query dimension mismatch");
    if k == 0 {
        return Vec::new();
    }
    let mut top = TopK::new(k);
    for offset in 0..vectors.len() as u32 {
        if accept.is_some_and(|f| !f(offset)) {
            continue;
        }
        top.push(Neighbor {
            offset,
            distance: vectors.distance_to(offset, query),
        });
    }
    top.into_sorted()
}

/// Exact k nearest among an explicit list of offsets (the planner's exact path).
pub fn exact_search_offsets(
    vectors: &Vectors,
    query: &[f32],
    k: usize,
    offsets: impl IntoIterator<Item = u32>,
) -> Vec<Neighbor> {
    assert_eq!(query.len(), vectors.dim(), "query dimension mismatch");
    if k == 0 {
        return Vec::new();
    }
    let mut top = TopK::new(k);
    for offset in offsets {
        top.push(Neighbor {
            offset,
            distance: vectors.distance_to(offset, query),
        });
    }
    top.into_sorted()
}

/// The exact index: no structure, every search scans all rows.
pub struct FlatIndex {
    vectors: Arc<Vectors>,
}

impl FlatIndex {
    /// An exact index over `vectors`.
    pub fn new(vectors: Arc<Vectors>) -> Self {
        Self { vectors }
    }
}

impl AnnIndex for FlatIndex {
    fn len(&self) -> usize {
        self.vectors.len()
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        _ef: usize,
        accept: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Neighbor> {
        exact_search(&self.vectors, query, k, accept)
    }

    fn memory_bytes(&self) -> usize {
        0
    }

    fn save(&self, _dir: &Path) -> Result<Vec<String>> {
        // Nothing beyond the vectors themselves, which the caller persists.
        Ok(Vec::new())
    }

    fn kind_name(&self) -> &'static str {
        "flat"
    }
}
