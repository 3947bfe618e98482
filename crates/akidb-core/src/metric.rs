//! Distance metrics and the conversion between internal distances and scores.

use serde::{Deserialize, Serialize};

use crate::distance;

/// How two vectors are compared.
///
/// Internally every index ranks by a *distance* (smaller is closer). Users see a
/// *score*: the similarity for `cosine` and `dot` (larger is closer) and the
/// Euclidean distance for `l2` (smaller is closer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Cosine similarity; vectors are stored normalised to unit length.
    Cosine,
    /// Euclidean distance.
    L2,
    /// Inner product.
    Dot,
}

impl Metric {
    /// The name used in the API and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::L2 => "l2",
            Metric::Dot => "dot",
        }
    }

    /// Internal distance between a stored vector and a prepared query (smaller is closer).
    ///
    /// For cosine both sides must already be normalised (see [`Metric::prepare`]).
    #[inline]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::Cosine => 1.0 - distance::dot(a, b),
            Metric::Dot => -distance::dot(a, b),
            Metric::L2 => distance::l2_sq(a, b),
        }
    }

    /// The user-facing score of an internal distance.
    #[inline]
    pub fn score(self, distance: f32) -> f32 {
        match self {
            Metric::Cosine => 1.0 - distance,
            Metric::Dot => -distance,
            Metric::L2 => distance.max(0.0).sqrt(),
        }
    }

    /// Whether a larger score means closer.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::L2)
    }

    /// Brings a vector into stored form: unit length for cosine, unchanged otherwise.
    ///
    /// Returns `None` for a zero vector under cosine, which has no direction.
    pub fn prepare(self, vector: &[f32]) -> Option<Vec<f32>> {
        match self {
            Metric::Cosine => {
                let n = distance::norm(vector);
                if n == 0.0 || !n.is_finite() {
                    return None;
                }
                Some(vector.iter().map(|x| x / n).collect())
            }
            _ => Some(vector.to_vec()),
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "cosine" => Ok(Metric::Cosine),
            "l2" => Ok(Metric::L2),
            "dot" => Ok(Metric::Dot),
            other => Err(crate::Error::invalid(
                "invalid_metric",
                format!("metric must be cosine, l2 or dot, got '{other}'"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_order_like_distances() {
        let q = Metric::Cosine.prepare(&[1.0, 0.0]).unwrap();
        let near = Metric::Cosine.prepare(&[1.0, 0.1]).unwrap();
        let far = Metric::Cosine.prepare(&[0.0, 1.0]).unwrap();
        let (dn, df) = (
            Metric::Cosine.distance(&near, &q),
            Metric::Cosine.distance(&far, &q),
        );
        assert!(dn < df);
        assert!(Metric::Cosine.score(dn) > Metric::Cosine.score(df));
        assert_eq!(
            Metric::L2.score(Metric::L2.distance(&[0.0, 0.0], &[3.0, 4.0])),
            5.0
        );
        assert_eq!(
            Metric::Dot.score(Metric::Dot.distance(&[1.0, 2.0], &[3.0, 4.0])),
            11.0
        );
        assert!(Metric::Cosine.prepare(&[0.0, 0.0]).is_none());
    }
}
