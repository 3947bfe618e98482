//! The prepared vectors of one segment, stored contiguously.

use akidb_core::Metric;

/// Prepared vectors of one immutable segment; row i = offset i.
///
/// Cosine vectors must be pre-normalised by the caller with [`Metric::prepare`].
#[derive(Debug, Clone, PartialEq)]
pub struct Vectors {
    dim: usize,
    metric: Metric,
    data: Vec<f32>,
}

impl Vectors {
    /// Wraps `data` (row-major, `data.len()` a multiple of `dim`); panics otherwise.
    pub fn new(dim: usize, metric: Metric, data: Vec<f32>) -> Self {
        assert!(dim > 0, "dimension must be positive");
        assert_eq!(
            data.len() % dim,
            0,
            "data length {} is not a multiple of {dim}",
            data.len()
        );
        assert!(
            data.len() / dim <= u32::MAX as usize,
            "too many rows for u32 offsets"
        );
        Self { dim, metric, data }
    }

    /// Builds from rows, preparing each with the metric (cosine normalises; zero rows stay zero).
    pub fn from_rows<'a>(
        dim: usize,
        metric: Metric,
        rows: impl IntoIterator<Item = &'a [f32]>,
    ) -> Self {
        let mut data = Vec::new();
        for r in rows {
            assert_eq!(
                r.len(),
                dim,
                "row has {} components, expected {dim}",
                r.len()
            );
            match metric.prepare(r) {
                Some(p) => data.extend_from_slice(&p),
                None => data.extend_from_slice(r),
            }
        }
        Self::new(dim, metric, data)
    }

    /// Number of rows.
    #[inline]
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The row at `offset`.
    #[inline]
    pub fn get(&self, offset: u32) -> &[f32] {
        let s = offset as usize * self.dim;
        &self.data[s..s + self.dim]
    }

    /// Components per row.
    #[inline]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The metric rows are compared with.
    #[inline]
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// All rows, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Internal distance between row `offset` and a prepared query.
    #[inline]
    pub fn distance_to(&self, offset: u32, query: &[f32]) -> f32 {
        self.metric.distance(self.get(offset), query)
    }

    /// Heap bytes of the rows.
    pub fn memory_bytes(&self) -> usize {
        self.data.len() * 4
    }
}
