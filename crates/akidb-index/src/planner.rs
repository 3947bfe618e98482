//! The filter planner: exact scan of the matching rows, or a filtered graph walk.
//!
//! Cost model, measured on dev-pydoc-50k (384-d, m=16, ef_construction=200,
//! k=10, one thread; `cargo run --release -p akidb-index --example ann_bench --
//! --impl hnsw --filtered`, numbers in `docs/benchmarks.md`):
//!
//! - the exact scan costs one distance per matching row (~0.13 µs per row:
//!   rows are scattered, so it is memory bound);
//! - the filtered walk keeps going until it holds `ef` *accepted* rows, so it
//!   visits about `ef / selectivity` candidates, ~2.6 µs per unit — about
//!   [`WALK_COST_PER_SCAN_ROW`] = 20 times a scanned row.
//!
//! The scan is cheaper while `matching < 20 · ef / selectivity`, that is while
//! `matching < sqrt(20 · ef · live)`: 8,000 of 50,000 rows (16 %) at ef=64, 11 %
//! at ef=32, 3.6 % of a 1M-row segment at ef=64. Measured crossovers on the
//! 50k set: 15 % (ef=64) and 10–15 % (ef=32), so the model holds. Because the
//! walk collects `ef` accepted rows (non-matching nodes are traversed but never
//! returned), its recall stays ≥ 0.977 at ef=32 for every selectivity measured
//! (2 %–58 %), so the plan does not widen `ef`.

use crate::{exact_search_offsets, AnnIndex, Bitset, Neighbor, Vectors};

/// Measured cost of one filtered-walk step (per `ef / selectivity`) in units of one scanned row.
pub const WALK_COST_PER_SCAN_ROW: f64 = 20.0;

/// Largest number of matching rows the planner still scans exactly: `sqrt(20 · ef · live)`.
pub fn exact_scan_limit(live: usize, ef: usize) -> usize {
    (WALK_COST_PER_SCAN_ROW * ef.max(1) as f64 * live as f64).sqrt() as usize
}

/// How to answer a filtered search on one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Compute the distance to every matching row.
    Exact,
    /// Walk the graph with the filter, using this candidate list size.
    Graph {
        /// Candidate list size for the walk (already widened for the selectivity).
        ef: usize,
    },
}

/// Picks a plan from the number of matching rows, the live rows, k and the requested ef.
///
/// Matches at or below [`exact_scan_limit`] (or no more than `ef`) are scanned
/// exactly; otherwise the graph is walked with the filter at `max(ef, k)`.
pub fn plan_filtered(matching: usize, live: usize, k: usize, ef: usize) -> Plan {
    let ef = ef.max(k).max(1);
    if matching == 0 || live == 0 || matching <= ef || matching <= exact_scan_limit(live, ef) {
        return Plan::Exact;
    }
    Plan::Graph { ef }
}

/// Searches one segment for the k nearest rows in `allowed` (the filter's matches
/// minus deleted rows), following [`plan_filtered`]. `live` is the number of live rows.
pub fn search_filtered(
    index: &dyn AnnIndex,
    vectors: &Vectors,
    query: &[f32],
    k: usize,
    ef: usize,
    allowed: &Bitset,
    live: usize,
) -> Vec<Neighbor> {
    let matching = allowed.count_ones();
    match plan_filtered(matching, live, k, ef) {
        Plan::Exact => {
            exact_search_offsets(vectors, query, k, allowed.iter_ones().map(|i| i as u32))
        }
        Plan::Graph { ef } => {
            let accept = |o: u32| allowed.get(o as usize);
            index.search(query, k, ef, Some(&accept))
        }
    }
}
