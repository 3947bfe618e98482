//! Request and response bodies of the REST API. These types are the source of the
//! OpenAPI document (utoipa) and are converted to and from the engine's types.

use akidb_core::{
    CollectionConfig, Filter, Hit, IndexKind, IndexParams, Metric, Payload, Point, PointId,
    SearchRequest, TierOverrides,
};
use akidb_engine::CollectionInfo;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::ApiError;

/// Distance metric.
#[derive(ToSchema, Serialize)]
#[schema(as = Metric)]
#[allow(dead_code)]
#[serde(rename_all = "lowercase")]
pub enum MetricSchema {
    /// Cosine similarity (vectors normalised on write).
    Cosine,
    /// Euclidean distance.
    L2,
    /// Inner product.
    Dot,
}

/// Tier of a collection.
#[derive(ToSchema, Serialize)]
#[schema(as = Tier)]
#[allow(dead_code)]
#[serde(rename_all = "lowercase")]
pub enum TierSchema {
    /// In RAM.
    Hot,
    /// On local disk only.
    Warm,
    /// In the object store only.
    Cold,
}

/// Health of a collection.
#[derive(ToSchema, Serialize)]
#[schema(as = CollectionStatus)]
#[allow(dead_code)]
#[serde(rename_all = "lowercase")]
pub enum CollectionStatusSchema {
    /// Serving; every sealed segment has its graph.
    Green,
    /// Serving; a sealed segment's graph is still being built (searched exactly meanwhile).
    Yellow,
    /// Failed to open and quarantined: data requests answer 503 `collection_damaged`.
    Damaged,
}

/// A point id: an unsigned 64-bit integer, or a string of 1..=256 bytes that is not all digits.
#[derive(ToSchema, Serialize)]
#[schema(as = PointId)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum PointIdSchema {
    /// Integer id.
    Num(u64),
    /// String id.
    Str(String),
}

/// HNSW parameters.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexParamsBody {
    /// Neighbours per node per layer, 2..=128 (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<usize>,
    /// Build candidate list size, m..=4096 (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef_construction: Option<usize>,
    /// Default search candidate list size, 1..=10000 (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef_search: Option<usize>,
    /// Graph implementation: `hnsw` (default) or `hnsw_rs` (reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "hnsw")]
    pub kind: Option<IndexKind>,
}

/// Per-collection tier policy overrides.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierOverridesBody {
    /// Idle time before hot → warm, e.g. `"6h"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_idle: Option<String>,
    /// Idle time before warm → cold, e.g. `"7d"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_idle: Option<String>,
    /// Keep the collection hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<bool>,
}

/// `POST /api/v1/collections` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCollection {
    /// `[a-zA-Z0-9_-]{1,64}`.
    pub name: String,
    /// Vector dimension, 1..=4096.
    pub dimension: usize,
    /// `cosine`, `l2` or `dot`.
    #[schema(value_type = MetricSchema)]
    pub metric: Metric,
    /// HNSW parameters (defaults when absent).
    #[serde(default)]
    pub index: Option<IndexParamsBody>,
    /// Tier policy overrides.
    #[serde(default)]
    pub tier: Option<TierOverridesBody>,
    /// Full-text (BM25) index on one payload key:
    /// `{"key":"text","tokenizer":"word","lowercase":true,"stemmer":"english"}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub text_index: Option<akidb_core::TextIndexConfig>,
}

impl CreateCollection {
    /// The engine configuration; validation happens in the engine.
    pub fn into_config(self) -> CollectionConfig {
        let d = IndexParams::default();
        let index = match self.index {
            None => d,
            Some(p) => IndexParams {
                m: p.m.unwrap_or(d.m),
                ef_construction: p.ef_construction.unwrap_or(d.ef_construction),
                ef_search: p.ef_search.unwrap_or(d.ef_search),
                kind: p.kind.unwrap_or(d.kind),
            },
        };
        let tier = self.tier.unwrap_or_default();
        CollectionConfig {
            name: self.name,
            dimension: self.dimension,
            metric: self.metric,
            index,
            tier: TierOverrides {
                hot_idle: tier.hot_idle,
                warm_idle: tier.warm_idle,
                pin: tier.pin,
            },
            text_index: self.text_index,
        }
    }
}

/// A collection: `{"name","dimension","metric","index","points","tier"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CollectionView {
    /// Name.
    pub name: String,
    /// Vector dimension.
    pub dimension: usize,
    /// Metric.
    #[schema(value_type = MetricSchema)]
    pub metric: Metric,
    /// HNSW parameters.
    pub index: IndexParamsBody,
    /// Live point count.
    pub points: u64,
    /// Current tier.
    #[schema(value_type = TierSchema)]
    pub tier: akidb_core::Tier,
    /// `green`, `yellow` (a graph is being built) or `damaged` (quarantined).
    #[schema(value_type = CollectionStatusSchema)]
    pub status: akidb_core::CollectionStatus,
    /// Why the collection is damaged (only then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The full-text index settings (only when the collection has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub text_index: Option<akidb_core::TextIndexConfig>,
    /// With replication: the node id of the collection's writer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    /// With replication: this node's role, `writer` or `follower`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl From<CollectionInfo> for CollectionView {
    fn from(c: CollectionInfo) -> Self {
        Self {
            name: c.name,
            dimension: c.dimension,
            metric: c.metric,
            index: IndexParamsBody {
                m: Some(c.index.m),
                ef_construction: Some(c.index.ef_construction),
                ef_search: Some(c.index.ef_search),
                kind: Some(c.index.kind),
            },
            points: c.points,
            tier: c.tier,
            status: c.status,
            reason: c.reason,
            text_index: c.text_index,
            writer: c.writer,
            role: c.role,
        }
    }
}

/// `GET /api/v1/collections` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionList {
    /// Every collection, sorted by name.
    pub collections: Vec<CollectionView>,
}

/// `DELETE /api/v1/collections/{name}` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionDeleted {
    /// The dropped collection.
    pub name: String,
    /// Always true.
    pub deleted: bool,
}

/// A point: `{"id","vector","payload"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointBody {
    /// Integer or string id.
    #[schema(value_type = PointIdSchema)]
    pub id: Value,
    /// `dimension` finite numbers.
    #[serde(deserialize_with = "akidb_core::point::deserialize_vector")]
    pub vector: Vec<f32>,
    /// A JSON object (absent or null = empty).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
}

fn payload_of(v: Option<Value>) -> Result<Payload, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Payload::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(ApiError::bad_request(
            "invalid_payload",
            format!(
                "payload must be a JSON object, got {}",
                akidb_core::point::json_type(&other)
            ),
        )),
    }
}

impl PointBody {
    /// Validates the id and payload shape (the engine checks vector and payload size).
    pub fn into_point(self) -> Result<Point, ApiError> {
        Ok(Point {
            id: PointId::from_json(&self.id)?,
            vector: self.vector,
            payload: payload_of(self.payload)?,
        })
    }
}

/// A stored point as answered by `GET …/points/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PointView {
    /// Id.
    #[schema(value_type = PointIdSchema)]
    pub id: PointId,
    /// Vector (as stored; cosine vectors are unit length).
    pub vector: Vec<f32>,
    /// Payload object.
    #[schema(value_type = Object)]
    pub payload: Payload,
}

impl From<Point> for PointView {
    fn from(p: Point) -> Self {
        Self {
            id: p.id,
            vector: p.vector,
            payload: p.payload,
        }
    }
}

/// `PUT …/points` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertBody {
    /// Points to insert or replace.
    pub points: Vec<PointBody>,
}

/// `PUT …/points` answer, sent once the write is durable.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UpsertAnswer {
    /// Points written.
    pub upserted: u64,
    /// The LSN the write was applied at; pass it as `"consistency":{"min_lsn":…}` to read it back anywhere.
    pub lsn: u64,
}

/// `POST …/points/delete` body: exactly one of `ids` or `filter`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteBody {
    /// Ids to delete.
    #[serde(default)]
    #[schema(value_type = Option<Vec<PointIdSchema>>)]
    pub ids: Option<Vec<Value>>,
    /// Delete every point matching this filter.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
}

/// What a delete request asks for.
pub enum DeleteTarget {
    /// By ids.
    Ids(Vec<PointId>),
    /// By filter.
    Filter(Filter),
}

impl DeleteBody {
    /// Checks that exactly one of `ids` / `filter` is given and parses it.
    pub fn into_target(self, max_ids: usize) -> Result<DeleteTarget, ApiError> {
        match (self.ids, self.filter) {
            (Some(ids), None) => {
                if ids.len() > max_ids {
                    return Err(ApiError::batch_too_large(
                        "ids",
                        ids.len(),
                        max_ids,
                        "limits.max_batch_points",
                    ));
                }
                let ids = ids
                    .iter()
                    .map(PointId::from_json)
                    .collect::<akidb_core::Result<Vec<_>>>()?;
                Ok(DeleteTarget::Ids(ids))
            }
            (None, Some(f)) => Ok(DeleteTarget::Filter(parse_filter(&f)?)),
            _ => Err(ApiError::bad_request(
                "invalid_request",
                "give exactly one of \"ids\" or \"filter\"",
            )),
        }
    }
}

/// Parses a filter object, answering `invalid_filter` on error.
pub fn parse_filter(v: &Value) -> Result<Filter, ApiError> {
    Ok(Filter::from_json(v)?)
}

/// Number of points deleted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeleteAnswer {
    /// Points that existed and are now deleted.
    pub deleted: u64,
    /// The LSN the write was applied at; pass it as `"consistency":{"min_lsn":…}` to read it back anywhere.
    pub lsn: u64,
}

/// `POST …/search` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    /// Query vector (required unless `query` is given).
    #[serde(default, deserialize_with = "akidb_core::point::deserialize_vector")]
    pub vector: Vec<f32>,
    /// Full-text or hybrid query instead of `vector`: `{"text":{"key","query"}}` (BM25) or
    /// `{"hybrid":{"vector":[…],"text":"…","fusion":"rrf"|"weighted","alpha":0.5}}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub query: Option<akidb_core::SearchQuery>,
    /// Hits wanted, 1..=limits.max_k (default 10).
    #[serde(default)]
    pub k: Option<u64>,
    /// Only points matching this filter.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
    /// HNSW candidate list size (default: the collection's ef_search).
    #[serde(default)]
    pub ef: Option<usize>,
    /// Scan exactly instead of walking the graph.
    #[serde(default)]
    pub exact: bool,
    /// Include payloads (default true).
    #[serde(default)]
    pub with_payload: Option<bool>,
    /// Include vectors (default false).
    #[serde(default)]
    pub with_vector: bool,
}

impl SearchBody {
    /// Checks `k` against `max_k` and parses the filter.
    pub fn into_request(self, max_k: usize) -> Result<SearchRequest, ApiError> {
        let k = self.k.unwrap_or(10);
        if k == 0 || k > max_k as u64 {
            return Err(ApiError::bad_request(
                "invalid_k",
                format!("k must be 1..={max_k} (limits.max_k), got {k}"),
            ));
        }
        let filter = match &self.filter {
            None | Some(Value::Null) => None,
            Some(f) => Some(parse_filter(f)?),
        };
        Ok(SearchRequest {
            vector: self.vector,
            k: k as usize,
            filter,
            ef: self.ef,
            exact: self.exact,
            with_payload: self.with_payload.unwrap_or(true),
            with_vector: self.with_vector,
            query: self.query,
        })
    }
}

/// One hit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HitView {
    /// Point id.
    #[schema(value_type = PointIdSchema)]
    pub id: PointId,
    /// Similarity for cosine and dot (higher is closer), Euclidean distance for l2.
    pub score: f32,
    /// Payload, unless `with_payload` was false.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Payload>,
    /// Vector, when `with_vector` was true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

impl From<Hit> for HitView {
    fn from(h: Hit) -> Self {
        Self {
            id: h.id,
            score: h.score,
            payload: h.payload,
            vector: h.vector,
        }
    }
}

/// `POST …/search` answer: hits best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchAnswer {
    /// Hits, best first.
    pub hits: Vec<HitView>,
}

impl SearchAnswer {
    /// Wraps engine hits.
    pub fn from_hits(hits: Vec<Hit>) -> Self {
        Self {
            hits: hits.into_iter().map(HitView::from).collect(),
        }
    }
}

/// `POST …/search/batch` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchSearchBody {
    /// Searches, answered in this order.
    pub searches: Vec<SearchBody>,
}

/// `POST …/search/batch` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchSearchAnswer {
    /// One result per search, in request order.
    pub results: Vec<SearchAnswer>,
}

/// `POST …/demote` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DemoteBody {
    /// `warm` or `cold`.
    pub to: String,
}

/// `POST …/restore` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    /// `"latest"` (default) or a snapshot id.
    #[serde(default)]
    pub snapshot_id: Option<String>,
    /// Check every file's sha256 before loading (default true).
    #[serde(default)]
    pub verify_integrity: Option<bool>,
}

/// Tier state: `{"name","tier","pinned","bytes_in_memory","bytes_on_disk","last_access"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TierView {
    /// Collection.
    pub name: String,
    /// Current tier.
    #[schema(value_type = TierSchema)]
    pub tier: akidb_core::Tier,
    /// Pinned hot.
    pub pinned: bool,
    /// Bytes in RAM.
    pub bytes_in_memory: u64,
    /// Bytes on local disk.
    pub bytes_on_disk: u64,
    /// Last access, RFC 3339.
    pub last_access: String,
}

impl From<akidb_engine::TierInfo> for TierView {
    fn from(t: akidb_engine::TierInfo) -> Self {
        Self {
            name: t.name,
            tier: t.tier,
            pinned: t.pinned,
            bytes_in_memory: t.bytes_in_memory,
            bytes_on_disk: t.bytes_on_disk,
            last_access: t.last_access,
        }
    }
}

/// What a compaction did.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompactionView {
    /// Segments before.
    pub segments_before: usize,
    /// Segments after.
    pub segments_after: usize,
    /// Dead rows dropped.
    pub removed_points: u64,
    /// Live points after.
    pub live_points: u64,
}

impl From<akidb_engine::CompactionReport> for CompactionView {
    fn from(r: akidb_engine::CompactionReport) -> Self {
        Self {
            segments_before: r.segments_before,
            segments_after: r.segments_after,
            removed_points: r.removed_points,
            live_points: r.live_points,
        }
    }
}

/// One snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotView {
    /// Snapshot id.
    pub snapshot_id: String,
    /// WAL position covered.
    pub lsn: u64,
    /// Rows.
    pub rows: u64,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Total bytes.
    pub bytes: u64,
    /// A complete copy is on local disk.
    pub local: bool,
    /// A complete copy is in the object store.
    pub remote: bool,
}

impl From<akidb_engine::SnapshotInfo> for SnapshotView {
    fn from(s: akidb_engine::SnapshotInfo) -> Self {
        Self {
            snapshot_id: s.snapshot_id,
            lsn: s.lsn,
            rows: s.rows,
            created_at: s.created_at,
            bytes: s.bytes,
            local: s.local,
            remote: s.remote,
        }
    }
}

/// `GET …/snapshots` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotList {
    /// Snapshots, oldest first.
    pub snapshots: Vec<SnapshotView>,
}

/// `/health` and `/ready` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusAnswer {
    /// `ok`, `ready` or `recovering`.
    pub status: String,
}

/// One upload waiting in the dead-letter queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct DlqEntryView {
    /// Entry id.
    pub id: String,
    /// Destination object key.
    pub key: String,
    /// Local file holding the data.
    pub local_path: String,
    /// Last error.
    pub error: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// First failure, RFC 3339.
    pub first_failed_at: String,
    /// Latest failure, RFC 3339.
    pub last_failed_at: String,
}

impl From<akidb_engine::DlqEntry> for DlqEntryView {
    fn from(e: akidb_engine::DlqEntry) -> Self {
        Self {
            id: e.id,
            key: e.key,
            local_path: e.local_path.display().to_string(),
            error: e.error,
            attempts: e.attempts,
            first_failed_at: e.first_failed_at,
            last_failed_at: e.last_failed_at,
        }
    }
}

/// `GET /api/v1/admin/dlq` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DlqList {
    /// Queued uploads, oldest first.
    pub entries: Vec<DlqEntryView>,
}

/// One failed retry: the entry id and its error.
#[derive(Debug, Serialize, ToSchema)]
pub struct DlqFailure {
    /// Entry id.
    pub id: String,
    /// Error.
    pub error: String,
}

/// `POST /api/v1/admin/dlq/retry-all` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DlqRetryView {
    /// Entries uploaded and removed.
    pub succeeded: usize,
    /// Entries that failed again.
    pub failed: usize,
    /// Entries still queued.
    pub remaining: usize,
    /// Why each failure failed.
    pub errors: Vec<DlqFailure>,
}

impl From<akidb_engine::DlqRetryReport> for DlqRetryView {
    fn from(r: akidb_engine::DlqRetryReport) -> Self {
        Self {
            succeeded: r.succeeded,
            failed: r.failed,
            remaining: r.remaining,
            errors: r
                .errors
                .into_iter()
                .map(|(id, error)| DlqFailure { id, error })
                .collect(),
        }
    }
}

/// A stored point as answered by get-many and scroll (`payload`/`vector` only when asked for).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordView {
    /// Id.
    #[schema(value_type = PointIdSchema)]
    pub id: PointId,
    /// Payload, unless `with_payload` was false.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Payload>,
    /// Vector, when `with_vector` was true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

impl From<akidb_core::Record> for RecordView {
    fn from(r: akidb_core::Record) -> Self {
        Self {
            id: r.id,
            payload: r.payload,
            vector: r.vector,
        }
    }
}

/// `POST …/points/get` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GetManyBody {
    /// Ids to read (at most `limits.max_batch_points`).
    #[schema(value_type = Vec<PointIdSchema>)]
    pub ids: Vec<Value>,
    /// Include payloads (default true).
    #[serde(default)]
    pub with_payload: Option<bool>,
    /// Include vectors (default false).
    #[serde(default)]
    pub with_vector: bool,
}

/// Answer of `POST …/points/get` and `…/points/scroll`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointsAnswer {
    /// Points: request order for get (missing ids absent), id order for scroll.
    pub points: Vec<RecordView>,
}

/// `POST …/points/scroll` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScrollBody {
    /// Only points matching this filter.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
    /// Points per page, 1..=limits.max_k (default 10).
    #[serde(default)]
    pub limit: Option<u64>,
    /// The cursor: `next_offset` of the previous page (absent or null = from the start); a
    /// point id, or with `order_by` the object `{"value":…,"id":…}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub offset: Option<Value>,
    /// Order by a payload key: `"key"` or `{"key":"page","direction":"asc"|"desc"}`
    /// (points without a number or string at the key are left out).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub order_by: Option<Value>,
    /// Include payloads (default true).
    #[serde(default)]
    pub with_payload: Option<bool>,
    /// Include vectors (default false).
    #[serde(default)]
    pub with_vector: bool,
}

impl ScrollBody {
    /// Checks `limit` (as `k`: 1..=max_k, `invalid_limit`), the cursor and the filter.
    pub fn into_request(self, max_k: usize) -> Result<akidb_core::ScrollRequest, ApiError> {
        let limit = self.limit.unwrap_or(10);
        let order_by = match &self.order_by {
            None | Some(Value::Null) => None,
            Some(v) => Some(akidb_core::OrderBy::from_json(v)?),
        };
        let (offset, order_offset) = match (&self.offset, &order_by) {
            (None | Some(Value::Null), _) => (None, None),
            (Some(v), None) => (Some(parse_cursor(v)?), None),
            (Some(v), Some(_)) => (None, Some(akidb_core::OrderCursor::from_json(v)?)),
        };
        Ok(akidb_core::ScrollRequest {
            filter: optional_filter(self.filter.as_ref())?,
            limit: check_limit(limit, max_k)?,
            offset,
            with_payload: self.with_payload.unwrap_or(true),
            with_vector: self.with_vector,
            order_by,
            order_offset,
        })
    }
}

/// `limit` of a scroll: 1..=max_k, like `k`.
pub fn check_limit(limit: u64, max_k: usize) -> Result<usize, ApiError> {
    if limit == 0 || limit > max_k as u64 {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1..={max_k} (limits.max_k), got {limit}"),
        ));
    }
    Ok(limit as usize)
}

/// A scroll cursor: a point id; anything else is `invalid_offset`.
pub fn parse_cursor(v: &Value) -> Result<PointId, ApiError> {
    PointId::from_json(v).map_err(|e| {
        ApiError::bad_request(
            "invalid_offset",
            format!(
                "offset must be the next_offset of the previous page (a point id): {}",
                e.message()
            ),
        )
    })
}

fn optional_filter(v: Option<&Value>) -> Result<Option<Filter>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(f) => Ok(Some(parse_filter(f)?)),
    }
}

/// `POST …/points/scroll` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScrollAnswer {
    /// Points in id order (integers before strings).
    pub points: Vec<RecordView>,
    /// Cursor for the next page, null when no point follows: the last id returned, or with
    /// `order_by` `{"value":…,"id":…}` of the last point.
    #[schema(value_type = Option<Object>)]
    pub next_offset: Option<Value>,
}

impl ScrollAnswer {
    /// The answer for one engine page.
    pub fn from_page(page: akidb_core::ScrollPage) -> Self {
        let next_offset = match (&page.next_offset, &page.next_order_offset) {
            (_, Some(c)) => Some(c.to_json()),
            (Some(id), None) => Some(id.to_json()),
            (None, None) => None,
        };
        Self {
            points: page.points.into_iter().map(Into::into).collect(),
            next_offset,
        }
    }
}

/// `POST …/points/count` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountBody {
    /// Only points matching this filter.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
    /// Ask for an exact count (default true). AkiDB always counts exactly.
    #[serde(default)]
    pub exact: Option<bool>,
}

impl CountBody {
    /// The parsed filter.
    pub fn filter(&self) -> Result<Option<Filter>, ApiError> {
        optional_filter(self.filter.as_ref())
    }
}

/// `POST …/points/count` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountAnswer {
    /// Live points matching the filter (always exact).
    pub count: u64,
}

/// Body of `POST`/`PUT …/points/payload`: the payload and exactly one of `ids` / `filter`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPayloadBody {
    /// A JSON object: keys to set (`POST`) or the whole new payload (`PUT`).
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Points to update.
    #[serde(default)]
    #[schema(value_type = Option<Vec<PointIdSchema>>)]
    pub ids: Option<Vec<Value>>,
    /// Update every point matching this filter.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
}

impl SetPayloadBody {
    /// Validates the body into a target and the payload object.
    pub fn into_parts(
        self,
        max_ids: usize,
    ) -> Result<(akidb_core::PointSelector, Payload), ApiError> {
        let payload = match self.payload {
            Value::Object(m) => m,
            other => {
                return Err(ApiError::bad_request(
                    "invalid_payload",
                    format!(
                        "payload must be a JSON object, got {}",
                        akidb_core::point::json_type(&other)
                    ),
                ))
            }
        };
        Ok((selector(self.ids, self.filter, max_ids)?, payload))
    }
}

/// `POST …/points/payload/delete` body: the keys and exactly one of `ids` / `filter`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletePayloadBody {
    /// Top-level payload keys to remove.
    pub keys: Vec<String>,
    /// Points to update.
    #[serde(default)]
    #[schema(value_type = Option<Vec<PointIdSchema>>)]
    pub ids: Option<Vec<Value>>,
    /// Update every point matching this filter.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
}

/// Exactly one of ids / filter, parsed.
pub fn selector(
    ids: Option<Vec<Value>>,
    filter: Option<Value>,
    max_ids: usize,
) -> Result<akidb_core::PointSelector, ApiError> {
    let target = DeleteBody { ids, filter }.into_target(max_ids)?;
    Ok(match target {
        DeleteTarget::Ids(ids) => akidb_core::PointSelector::Ids(ids),
        DeleteTarget::Filter(f) => akidb_core::PointSelector::Filter(f),
    })
}

/// Answer of the payload updates.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UpdatedAnswer {
    /// Points that existed and were updated.
    pub updated: u64,
    /// The LSN the write was applied at; pass it as `"consistency":{"min_lsn":…}` to read it back anywhere.
    pub lsn: u64,
}

/// `POST /api/v1/aliases` body: actions applied in order, all together or not at all.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasActionsBody {
    /// `{"create":{"alias","collection"}}`, `{"delete":{"alias"}}` or
    /// `{"rename":{"old_alias","new_alias"}}` objects (1..=1000).
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<akidb_core::AliasAction>,
}

/// `POST /api/v1/aliases` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AliasesUpdated {
    /// Always true: a failed request changes nothing and answers an error.
    pub applied: bool,
}

/// One alias.
#[derive(Debug, Serialize, ToSchema)]
pub struct AliasView {
    /// The alias.
    pub alias: String,
    /// The collection it resolves to.
    pub collection: String,
}

impl From<akidb_core::AliasInfo> for AliasView {
    fn from(a: akidb_core::AliasInfo) -> Self {
        Self {
            alias: a.alias,
            collection: a.collection,
        }
    }
}

/// `GET /api/v1/aliases` and `GET /api/v1/collections/{name}/aliases` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AliasList {
    /// Aliases sorted by alias.
    pub aliases: Vec<AliasView>,
}
