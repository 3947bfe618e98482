//! Search requests and hits, shared by the engine, the server and the client.

use serde::{Deserialize, Serialize};

use crate::{Filter, Payload, PointId};

/// Default upper bound of `k`.
pub const DEFAULT_MAX_K: usize = 10_000;

/// One k-nearest-neighbour query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The query vector (empty when `query` asks for a text-only search).
    #[serde(default, deserialize_with = "crate::point::deserialize_vector")]
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
    /// A full-text (BM25) or hybrid query instead of the plain vector search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<SearchQuery>,
}

/// `"query"` of a search: BM25 alone, or BM25 fused with a vector search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SearchQuery {
    /// `{"text":{"key":…,"query":"…"}}`: rank by BM25 over the collection's text index.
    Text(TextQuery),
    /// `{"hybrid":{"vector":[…],"text":"…","fusion":"rrf"}}`: fuse the vector and BM25 rankings.
    Hybrid(HybridQuery),
}

/// A BM25 query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextQuery {
    /// The text index key (default: the collection's); another key is `unknown_text_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The query words (at least one).
    pub query: String,
}

/// How a hybrid search combines its two rankings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fusion {
    /// Reciprocal rank fusion: `Σ 1 / (60 + rank)` over the two lists.
    #[default]
    Rrf,
    /// `alpha · vector + (1 − alpha) · bm25`, each score min-max normalised over its list.
    Weighted,
}

/// A hybrid query: vector similarity and BM25, fused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HybridQuery {
    /// The query vector.
    #[serde(deserialize_with = "crate::point::deserialize_vector")]
    pub vector: Vec<f32>,
    /// The query text.
    pub text: String,
    /// The text index key (default: the collection's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `rrf` (default) or `weighted`.
    #[serde(default)]
    pub fusion: Fusion,
    /// Weight of the vector side for `weighted`, 0..=1 (default 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f32>,
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
            query: None,
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

/// One stored point as returned by get-many and scroll (payload and vector when asked for).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The point's id.
    pub id: PointId,
    /// The payload, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    /// The stored vector, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

/// One page of a scroll: points in id order after `offset`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrollRequest {
    /// Only points matching this filter.
    pub filter: Option<Filter>,
    /// Points per page, 1..=max_k.
    pub limit: usize,
    /// The cursor: the last id of the previous page (None = from the start).
    pub offset: Option<PointId>,
    /// Include payloads.
    pub with_payload: bool,
    /// Include vectors.
    pub with_vector: bool,
    /// Order by a payload key instead of by id (points without the key are left out).
    pub order_by: Option<crate::OrderBy>,
    /// The cursor of an ordered scroll (`next_order_offset` of the previous page).
    pub order_offset: Option<crate::OrderCursor>,
}

/// A scroll page: points in id order, and the cursor of the next page (None at the end).
#[derive(Debug, Clone, PartialEq)]
pub struct ScrollPage {
    /// Points, ascending id (integers before strings).
    pub points: Vec<Record>,
    /// The last id returned when more points follow, else None.
    pub next_offset: Option<PointId>,
    /// With `order_by`: the `(value, id)` of the last point when more follow, else None.
    pub next_order_offset: Option<crate::OrderCursor>,
}

/// Which points a payload update (or delete) applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum PointSelector {
    /// These ids (ids that do not exist are skipped).
    Ids(Vec<PointId>),
    /// Every point matching the filter when the write is logged.
    Filter(Filter),
}

/// A change to the payloads of existing points.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadUpdate {
    /// Set these keys, keeping the others.
    Merge(Payload),
    /// Replace the whole payload.
    Overwrite(Payload),
    /// Remove these top-level keys.
    DeleteKeys(Vec<String>),
}
