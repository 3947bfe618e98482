//! Helpers shared by the index tests.
#![allow(dead_code)]

use std::sync::Arc;

use akidb_core::Metric;
use akidb_index::Vectors;
use rand::{rngs::StdRng, Rng, SeedableRng};

/// `n` random rows of `dim` components, prepared for `metric` (norms vary for l2/dot).
pub fn random_vectors(n: usize, dim: usize, metric: Metric, seed: u64) -> Arc<Vectors> {
    let mut rng = StdRng::seed_from_u64(seed);
    let rows: Vec<Vec<f32>> = (0..n)
        .map(|_| {
            let scale: f32 = rng.gen_range(0.5..1.5);
            (0..dim)
                .map(|_| rng.gen_range(-1.0f32..1.0) * scale)
                .collect()
        })
        .collect();
    Arc::new(Vectors::from_rows(
        dim,
        metric,
        rows.iter().map(|r| r.as_slice()),
    ))
}

/// Random prepared queries.
pub fn random_queries(n: usize, dim: usize, metric: Metric, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let q: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
            metric.prepare(&q).expect("non-zero query")
        })
        .collect()
}

/// Offsets of a result list.
pub fn offsets(r: &[akidb_index::Neighbor]) -> Vec<u32> {
    r.iter().map(|n| n.offset).collect()
}
