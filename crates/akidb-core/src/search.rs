//! Search requests and hits, shared by the engine, the server and the client.

use serde::{Deserialize, Serialize};

use crate::{Filter, Payload, PointId};

/// Default upper bound of `k`.
pub const DEFAULT_MAX_K: usize = 10_000;

/// One k-nearest-neighbour query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The query vector.
    #[serde(deserialize_with = "crate::point::deserialize_vector")]
    pub vector: Vec<f32>,
    /// Number of hits wanted (default 10).
    #[serde(default = "default_k")]
    pub k: usize,
    /// Only points matching this filter are returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// HNSW candidate list size for this query (default: the collection's `ef_search`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef: Option<usize>,
    /// Scan every point instead of walking the graph.
    #[serde(default)]
    pub exact: bool,
    /// Include each hit's payload (default true).
    #[serde(default = "yes")]
    pub with_payload: bool,
    /// Include each hit's stored vector (default false).
    #[serde(default)]
    pub with_vector: bool,
}

fn default_k() -> usize {
    10
}
fn yes() -> bool {
    true
}

impl SearchRequest {
    /// A plain top-k query with default options.
    pub fn new(vector: Vec<f32>, k: usize) -> Self {
        Self {
            vector,
            k,
            filter: None,
            ef: None,
            exact: false,
            with_payload: true,
            with_vector: false,
        }
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The point's id.
    pub id: PointId,
    /// Similarity for cosine and dot (higher is closer), Euclidean distance for l2.
    pub score: f32,
    /// The payload, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    /// The stored vector, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}
