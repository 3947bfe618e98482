//! The gRPC API (`akidb.v1`, tonic): the same operations, limits, error codes and
//! API keys as REST, over the same engine. Payloads and filters travel as JSON text.

use std::future::Future;
use std::time::Instant;

use akidb_core::{CollectionConfig, IndexParams, Metric, Payload, Point, PointId, SearchRequest};
use akidb_engine::{CollectionInfo, SnapshotInfo, TierInfo};
use akidb_proto::v1 as pb;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::auth::{self, Access};
use crate::error::ApiError;
use crate::replicate::{forwarded, points_client, relay, writer_channel, writer_elsewhere};
use crate::state::{parse_demote_target, Shared};

/// Implements the four services (collections, points, admin, aliases) over shared state.
#[derive(Clone)]
pub struct GrpcApi {
    state: Shared,
}

impl GrpcApi {
    /// Wraps the shared state.
    pub fn new(state: Shared) -> Self {
        Self { state }
    }

    /// Authenticates, runs `f`, logs and counts the call.
    async fn call<Req, Resp, F, Fut>(
        &self,
        service: &'static str,
        method: &'static str,
        access: Access,
        req: Request<Req>,
        f: F,
    ) -> Result<Response<Resp>, Status>
    where
        F: FnOnce(Req) -> Fut,
        Fut: Future<Output = Result<Resp, ApiError>>,
    {
        let start = Instant::now();
        let md = req.metadata();
        let text = |k: &str| md.get(k).and_then(|v| v.to_str().ok());
        let request_id = text("x-request-id")
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .map(str::to_string)
            .unwrap_or_else(crate::rest::new_request_id);
        let key = auth::presented(text("authorization"), text("api-key")).map(str::to_string);
        let span = tracing::info_span!("grpc", request_id = %request_id, rpc = %format!("{service}/{method}"));
        let result = async {
            auth::check(&self.state.auth, key.as_deref(), access)?;
            f(req.into_inner()).await
        }
        .instrument(span.clone())
        .await;
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(e) => e.to_status().code(),
        };
        span.in_scope(|| {
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            match &result {
                Ok(_) => tracing::info!(code = ?code, latency_ms = ms, "rpc"),
                Err(e) => tracing::info!(code = ?code, error_code = e.code, latency_ms = ms, "rpc"),
            }
        });
        self.state.metrics.grpc_request(service, method, code);
        let mut resp = result.map(Response::new).map_err(|e| e.to_status())?;
        if let Ok(v) = request_id.parse() {
            resp.metadata_mut().insert("x-request-id", v);
        }
        Ok(resp)
    }
}

fn id_from(id: Option<pb::PointId>) -> Result<PointId, ApiError> {
    match id.and_then(|i| i.kind) {
        Some(pb::point_id::Kind::Num(n)) => Ok(PointId::Num(n)),
        Some(pb::point_id::Kind::Str(s)) => Ok(PointId::string(s)?),
        None => Err(ApiError::bad_request("invalid_id", "point id is missing")),
    }
}

fn id_to(id: &PointId) -> pb::PointId {
    pb::PointId {
        kind: Some(match id {
            PointId::Num(n) => pb::point_id::Kind::Num(*n),
            PointId::Str(s) => pb::point_id::Kind::Str(s.clone()),
        }),
    }
}

fn json_value(text: &str, what: &str) -> Result<Option<serde_json::Value>, ApiError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| ApiError::invalid_json(format!("{what}: {e}")))
}

fn payload_from(text: &str) -> Result<Payload, ApiError> {
    match json_value(text, "payload_json")? {
        None | Some(serde_json::Value::Null) => Ok(Payload::new()),
        Some(serde_json::Value::Object(m)) => Ok(m),
        Some(other) => Err(ApiError::bad_request(
            "invalid_payload",
            format!(
                "payload must be a JSON object, got {}",
                akidb_core::point::json_type(&other)
            ),
        )),
    }
}

fn payload_to(p: &Payload) -> String {
    serde_json::to_string(p).unwrap_or_else(|_| "{}".into())
}

fn filter_from(text: &str) -> Result<Option<akidb_core::Filter>, ApiError> {
    match json_value(text, "filter_json")? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => Ok(Some(akidb_core::Filter::from_json(&v)?)),
    }
}

fn metric_from(s: &str) -> Result<Metric, ApiError> {
    match s {
        "cosine" => Ok(Metric::Cosine),
        "l2" => Ok(Metric::L2),
        "dot" => Ok(Metric::Dot),
        other => Err(ApiError::bad_request(
            "invalid_metric",
            format!("metric must be cosine, l2 or dot, got \"{other}\""),
        )),
    }
}

fn collection_to(c: CollectionInfo) -> pb::Collection {
    pb::Collection {
        name: c.name,
        dimension: c.dimension as u32,
        metric: c.metric.as_str().to_string(),
        index: Some(pb::IndexParams {
            m: c.index.m as u32,
            ef_construction: c.index.ef_construction as u32,
            ef_search: c.index.ef_search as u32,
        }),
        points: c.points,
        tier: c.tier.as_str().to_string(),
        status: c.status.as_str().to_string(),
        reason: c.reason.unwrap_or_default(),
        text_index_json: c
            .text_index
            .map(|t| serde_json::to_string(&t).unwrap_or_default())
            .unwrap_or_default(),
    }
}

fn tier_to(t: TierInfo) -> pb::TierInfo {
    pb::TierInfo {
        name: t.name,
        tier: t.tier.as_str().to_string(),
        pinned: t.pinned,
        bytes_in_memory: t.bytes_in_memory,
        bytes_on_disk: t.bytes_on_disk,
        last_access: t.last_access,
    }
}

fn snapshot_to(s: SnapshotInfo) -> pb::SnapshotInfo {
    pb::SnapshotInfo {
        snapshot_id: s.snapshot_id,
        lsn: s.lsn,
        rows: s.rows,
        created_at: s.created_at,
        bytes: s.bytes,
        local: s.local,
        remote: s.remote,
    }
}

fn search_from(r: pb::SearchRequest, state: &Shared) -> Result<SearchRequest, ApiError> {
    let k = state.check_k(u64::from(r.k.unwrap_or(10)))?;
    Ok(SearchRequest {
        vector: r.vector,
        k,
        filter: filter_from(&r.filter_json)?,
        ef: r.ef.map(|e| e as usize),
        exact: r.exact,
        with_payload: r.with_payload.unwrap_or(true),
        with_vector: r.with_vector,
        query: json_field(&r.query_json, "query_json")?,
    })
}

/// Parses an optional JSON-text field ("" = absent) as `T`, `invalid_json` on error.
fn json_field<T: serde::de::DeserializeOwned>(
    text: &str,
    field: &str,
) -> Result<Option<T>, ApiError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("{field}: {e}")))
}

fn hits_to(hits: Vec<akidb_core::Hit>) -> pb::SearchResponse {
    pb::SearchResponse {
        hits: hits
            .into_iter()
            .map(|h| pb::Hit {
                id: Some(id_to(&h.id)),
                score: h.score,
                payload_json: h.payload.as_ref().map(payload_to),
                has_vector: h.vector.is_some(),
                vector: h.vector.unwrap_or_default(),
            })
            .collect(),
    }
}

fn to_json_response<T: serde::Serialize>(v: &T) -> Result<pb::JsonResponse, ApiError> {
    serde_json::to_string(v)
        .map(|json| pb::JsonResponse { json })
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[tonic::async_trait]
impl pb::collections_server::Collections for GrpcApi {
    async fn create(
        &self,
        request: Request<pb::CreateCollectionRequest>,
    ) -> Result<Response<pb::Collection>, Status> {
        let state = self.state.clone();
        self.call(
            "Collections",
            "Create",
            Access::Write,
            request,
            |r| async move {
                let d = IndexParams::default();
                let p = r.index.unwrap_or_default();
                let nz = |v: u32, dflt: usize| if v == 0 { dflt } else { v as usize };
                let config = CollectionConfig {
                    name: r.name,
                    dimension: r.dimension as usize,
                    metric: metric_from(&r.metric)?,
                    index: IndexParams {
                        m: nz(p.m, d.m),
                        ef_construction: nz(p.ef_construction, d.ef_construction),
                        ef_search: nz(p.ef_search, d.ef_search),
                        ..d
                    },
                    tier: Default::default(),
                    text_index: json_field(&r.text_index_json, "text_index_json")?,
                };
                Ok(collection_to(state.create_collection(config).await?))
            },
        )
        .await
    }

    async fn list(
        &self,
        request: Request<pb::ListCollectionsRequest>,
    ) -> Result<Response<pb::ListCollectionsResponse>, Status> {
        let state = self.state.clone();
        self.call(
            "Collections",
            "List",
            Access::Read,
            request,
            |_| async move {
                let list = state.list_collections().await?;
                Ok(pb::ListCollectionsResponse {
                    collections: list.into_iter().map(collection_to).collect(),
                })
            },
        )
        .await
    }

    async fn get(
        &self,
        request: Request<pb::CollectionName>,
    ) -> Result<Response<pb::Collection>, Status> {
        let state = self.state.clone();
        self.call(
            "Collections",
            "Get",
            Access::Read,
            request,
            |r| async move { Ok(collection_to(state.collection(r.name).await?)) },
        )
        .await
    }

    async fn delete(
        &self,
        request: Request<pb::CollectionName>,
    ) -> Result<Response<pb::DeleteCollectionResponse>, Status> {
        let state = self.state.clone();
        self.call(
            "Collections",
            "Delete",
            Access::Write,
            request,
            |r| async move {
                if let Some(w) = writer_elsewhere(&state, &r.name)? {
                    let ch = writer_channel(&r.name, &w).await?;
                    let mut c = pb::collections_client::CollectionsClient::new(ch);
                    return relay(c.delete(forwarded(&state, r)).await);
                }
                state.drop_collection(r.name.clone()).await?;
                Ok(pb::DeleteCollectionResponse {
                    name: r.name,
                    deleted: true,
                })
            },
        )
        .await
    }
}

#[tonic::async_trait]
impl pb::points_server::Points for GrpcApi {
    async fn upsert(
        &self,
        request: Request<pb::UpsertRequest>,
    ) -> Result<Response<pb::UpsertResponse>, Status> {
        let state = self.state.clone();
        self.call("Points", "Upsert", Access::Write, request, |r| async move {
            if let Some(w) = writer_elsewhere(&state, &r.collection)? {
                let mut c = points_client(&r.collection, &w).await?;
                return relay(c.upsert(forwarded(&state, r)).await);
            }
            let limit = state.limits.max_batch_points;
            if r.points.len() > limit {
                return Err(ApiError::batch_too_large(
                    "points",
                    r.points.len(),
                    limit,
                    "limits.max_batch_points",
                ));
            }
            let points = r
                .points
                .into_iter()
                .map(|p| {
                    Ok(Point {
                        id: id_from(p.id)?,
                        vector: p.vector,
                        payload: payload_from(&p.payload_json)?,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            let n = state.upsert(r.collection, points).await?;
            Ok(pb::UpsertResponse {
                upserted: n.count as u64,
                lsn: n.lsn,
            })
        })
        .await
    }

    async fn get(&self, request: Request<pb::PointRequest>) -> Result<Response<pb::Point>, Status> {
        let state = self.state.clone();
        self.call("Points", "Get", Access::Read, request, |r| async move {
            let p = state.get_point(r.collection, id_from(r.id)?).await?;
            Ok(pb::Point {
                id: Some(id_to(&p.id)),
                payload_json: payload_to(&p.payload),
                vector: p.vector,
            })
        })
        .await
    }

    async fn delete(
        &self,
        request: Request<pb::PointRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let state = self.state.clone();
        self.call("Points", "Delete", Access::Write, request, |r| async move {
            if let Some(w) = writer_elsewhere(&state, &r.collection)? {
                let mut c = points_client(&r.collection, &w).await?;
                return relay(c.delete(forwarded(&state, r)).await);
            }
            let n = state.delete_ids(r.collection, vec![id_from(r.id)?]).await?;
            Ok(pb::DeleteResponse {
                deleted: n.count as u64,
                lsn: n.lsn,
            })
        })
        .await
    }

    async fn delete_many(
        &self,
        request: Request<pb::DeleteManyRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let state = self.state.clone();
        self.call(
            "Points",
            "DeleteMany",
            Access::Write,
            request,
            |r| async move {
                if let Some(w) = writer_elsewhere(&state, &r.collection)? {
                    let mut c = points_client(&r.collection, &w).await?;
                    return relay(c.delete_many(forwarded(&state, r)).await);
                }
                let filter = filter_from(&r.filter_json)?;
                let n = match (r.ids.is_empty(), filter) {
                    (false, None) => {
                        let ids = r
                            .ids
                            .into_iter()
                            .map(|i| id_from(Some(i)))
                            .collect::<Result<Vec<_>, _>>()?;
                        state.delete_ids(r.collection, ids).await?
                    }
                    (true, Some(f)) => state.delete_filter(r.collection, f).await?,
                    _ => {
                        return Err(ApiError::bad_request(
                            "invalid_request",
                            "give exactly one of ids or filter_json",
                        ))
                    }
                };
                Ok(pb::DeleteResponse {
                    deleted: n.count as u64,
                    lsn: n.lsn,
                })
            },
        )
        .await
    }

    async fn search(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchResponse>, Status> {
        let state = self.state.clone();
        self.call("Points", "Search", Access::Read, request, |r| async move {
            let name = r.collection.clone();
            let req = search_from(r, &state)?;
            Ok(hits_to(state.search(name, req).await?))
        })
        .await
    }

    async fn search_batch(
        &self,
        request: Request<pb::SearchBatchRequest>,
    ) -> Result<Response<pb::SearchBatchResponse>, Status> {
        let state = self.state.clone();
        self.call(
            "Points",
            "SearchBatch",
            Access::Read,
            request,
            |r| async move {
                let limit = state.limits.max_batch_searches;
                if r.searches.len() > limit {
                    return Err(ApiError::batch_too_large(
                        "searches",
                        r.searches.len(),
                        limit,
                        "limits.max_batch_searches",
                    ));
                }
                let reqs = r
                    .searches
                    .into_iter()
                    .map(|s| search_from(s, &state))
                    .collect::<Result<Vec<_>, _>>()?;
                let results = state.search_batch(r.collection, reqs).await?;
                Ok(pb::SearchBatchResponse {
                    results: results.into_iter().map(hits_to).collect(),
                })
            },
        )
        .await
    }

    async fn get_many(
        &self,
        request: Request<pb::GetManyRequest>,
    ) -> Result<Response<pb::PointsResponse>, Status> {
        let state = self.state.clone();
        self.call("Points", "GetMany", Access::Read, request, |r| async move {
            let ids = r
                .ids
                .into_iter()
                .map(|i| id_from(Some(i)))
                .collect::<Result<Vec<_>, _>>()?;
            let points = state
                .get_many(
                    r.collection,
                    ids,
                    r.with_payload.unwrap_or(true),
                    r.with_vector,
                )
                .await?;
            Ok(pb::PointsResponse {
                points: records_to(points),
            })
        })
        .await
    }

    async fn scroll(
        &self,
        request: Request<pb::ScrollRequest>,
    ) -> Result<Response<pb::ScrollResponse>, Status> {
        let state = self.state.clone();
        self.call("Points", "Scroll", Access::Read, request, |r| async move {
            let limit =
                crate::api::check_limit(u64::from(r.limit.unwrap_or(10)), state.limits.max_k)?;
            let offset = match r.offset {
                None => None,
                Some(o) => Some(id_from(Some(o)).map_err(|e| {
                    ApiError::bad_request("invalid_offset", format!("offset: {}", e.message))
                })?),
            };
            let order_by = r
                .order_by
                .map(|o| {
                    let direction = match o.direction.as_str() {
                        "" => akidb_core::Direction::Asc,
                        d => akidb_core::Direction::parse(d)?,
                    };
                    akidb_core::OrderBy::new(o.key, direction)
                })
                .transpose()?;
            let order_offset = match json_value(&r.order_offset_json, "order_offset_json")? {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(akidb_core::OrderCursor::from_json(&v)?),
            };
            let req = akidb_core::ScrollRequest {
                filter: filter_from(&r.filter_json)?,
                limit,
                offset,
                with_payload: r.with_payload.unwrap_or(true),
                with_vector: r.with_vector,
                order_by,
                order_offset,
            };
            let page = state.scroll(r.collection, req).await?;
            Ok(pb::ScrollResponse {
                points: records_to(page.points),
                next_offset: page.next_offset.as_ref().map(id_to),
                next_order_offset_json: page
                    .next_order_offset
                    .as_ref()
                    .map(|c| c.to_json().to_string()),
            })
        })
        .await
    }

    async fn count(
        &self,
        request: Request<pb::CountRequest>,
    ) -> Result<Response<pb::CountResponse>, Status> {
        let state = self.state.clone();
        self.call("Points", "Count", Access::Read, request, |r| async move {
            let filter = filter_from(&r.filter_json)?;
            Ok(pb::CountResponse {
                count: state.count(r.collection, filter).await?,
            })
        })
        .await
    }

    async fn set_payload(
        &self,
        request: Request<pb::SetPayloadRequest>,
    ) -> Result<Response<pb::UpdateResponse>, Status> {
        self.payload_rpc("SetPayload", request, false).await
    }

    async fn overwrite_payload(
        &self,
        request: Request<pb::SetPayloadRequest>,
    ) -> Result<Response<pb::UpdateResponse>, Status> {
        self.payload_rpc("OverwritePayload", request, true).await
    }

    async fn delete_payload(
        &self,
        request: Request<pb::DeletePayloadRequest>,
    ) -> Result<Response<pb::UpdateResponse>, Status> {
        let state = self.state.clone();
        self.call(
            "Points",
            "DeletePayload",
            Access::Write,
            request,
            |r| async move {
                if let Some(w) = writer_elsewhere(&state, &r.collection)? {
                    let mut c = points_client(&r.collection, &w).await?;
                    return relay(c.delete_payload(forwarded(&state, r)).await);
                }
                let target = selector_from(r.ids, &r.filter_json)?;
                let update = akidb_core::PayloadUpdate::DeleteKeys(r.keys);
                let n = state.update_payload(r.collection, target, update).await?;
                Ok(pb::UpdateResponse {
                    updated: n.count as u64,
                    lsn: n.lsn,
                })
            },
        )
        .await
    }
}

fn records_to(points: Vec<akidb_core::Record>) -> Vec<pb::Record> {
    points
        .into_iter()
        .map(|r| pb::Record {
            id: Some(id_to(&r.id)),
            payload_json: r.payload.as_ref().map(payload_to),
            has_vector: r.vector.is_some(),
            vector: r.vector.unwrap_or_default(),
        })
        .collect()
}

/// Exactly one of ids / filter_json, like `DeleteMany`.
fn selector_from(
    ids: Vec<pb::PointId>,
    filter_json: &str,
) -> Result<akidb_core::PointSelector, ApiError> {
    match (ids.is_empty(), filter_from(filter_json)?) {
        (false, None) => Ok(akidb_core::PointSelector::Ids(
            ids.into_iter()
                .map(|i| id_from(Some(i)))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        (true, Some(f)) => Ok(akidb_core::PointSelector::Filter(f)),
        _ => Err(ApiError::bad_request(
            "invalid_request",
            "give exactly one of ids or filter_json",
        )),
    }
}

/// A payload update's object: required, and a JSON object.
fn update_payload_from(text: &str) -> Result<Payload, ApiError> {
    match json_value(text, "payload_json")? {
        Some(serde_json::Value::Object(m)) => Ok(m),
        other => Err(ApiError::bad_request(
            "invalid_payload",
            format!(
                "payload must be a JSON object, got {}",
                other
                    .as_ref()
                    .map_or("nothing", akidb_core::point::json_type)
            ),
        )),
    }
}

impl GrpcApi {
    async fn payload_rpc(
        &self,
        method: &'static str,
        request: Request<pb::SetPayloadRequest>,
        overwrite: bool,
    ) -> Result<Response<pb::UpdateResponse>, Status> {
        let state = self.state.clone();
        self.call("Points", method, Access::Write, request, |r| async move {
            if let Some(w) = writer_elsewhere(&state, &r.collection)? {
                let mut c = points_client(&r.collection, &w).await?;
                let m = forwarded(&state, r);
                return relay(if overwrite {
                    c.overwrite_payload(m).await
                } else {
                    c.set_payload(m).await
                });
            }
            let payload = update_payload_from(&r.payload_json)?;
            let target = selector_from(r.ids, &r.filter_json)?;
            let update = if overwrite {
                akidb_core::PayloadUpdate::Overwrite(payload)
            } else {
                akidb_core::PayloadUpdate::Merge(payload)
            };
            let n = state.update_payload(r.collection, target, update).await?;
            Ok(pb::UpdateResponse {
                updated: n.count as u64,
                lsn: n.lsn,
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl pb::admin_server::Admin for GrpcApi {
    async fn get_tier(
        &self,
        request: Request<pb::CollectionName>,
    ) -> Result<Response<pb::TierInfo>, Status> {
        let state = self.state.clone();
        self.call("Admin", "GetTier", Access::Read, request, |r| async move {
            Ok(tier_to(state.tier(r.name).await?))
        })
        .await
    }

    async fn promote(
        &self,
        request: Request<pb::CollectionName>,
    ) -> Result<Response<pb::TierInfo>, Status> {
        let state = self.state.clone();
        self.call("Admin", "Promote", Access::Write, request, |r| async move {
            Ok(tier_to(state.promote(r.name).await?))
        })
        .await
    }

    async fn demote(
        &self,
        request: Request<pb::DemoteRequest>,
    ) -> Result<Response<pb::TierInfo>, Status> {
        let state = self.state.clone();
        self.call("Admin", "Demote", Access::Write, request, |r| async move {
            let to = parse_demote_target(&r.to)?;
            Ok(tier_to(state.demote(r.name, to).await?))
        })
        .await
    }

    async fn pin(
        &self,
        request: Request<pb::CollectionName>,
    ) -> Result<Response<pb::TierInfo>, Status> {
        let state = self.state.clone();
        self.call("Admin", "Pin", Access::Write, request, |r| async move {
            Ok(tier_to(state.pin(r.name).await?))
        })
        .await
    }

    async fn unpin(
        &self,
        request: Request<pb::CollectionName>,
    ) -> Result<Response<pb::TierInfo>, Status> {
        let state = self.state.clone();
        self.call("Admin", "Unpin", Access::Write, request, |r| async move {
            Ok(tier_to(state.unpin(r.name).await?))
        })
        .await
    }

    async fn compact(
        &self,
        request: Request<pb::CollectionName>,
    ) -> Result<Response<pb::JsonResponse>, Status> {
        let state = self.state.clone();
        self.call("Admin", "Compact", Access::Write, request, |r| async move {
            let report = crate::api::CompactionView::from(state.compact(r.name).await?);
            to_json_response(&report)
        })
        .await
    }

    async fn snapshot(
        &self,
        request: Request<pb::CollectionName>,
    ) -> Result<Response<pb::SnapshotInfo>, Status> {
        let state = self.state.clone();
        self.call(
            "Admin",
            "Snapshot",
            Access::Write,
            request,
            |r| async move { Ok(snapshot_to(state.snapshot(r.name).await?)) },
        )
        .await
    }

    async fn list_snapshots(
        &self,
        request: Request<pb::CollectionName>,
    ) -> Result<Response<pb::ListSnapshotsResponse>, Status> {
        let state = self.state.clone();
        self.call(
            "Admin",
            "ListSnapshots",
            Access::Read,
            request,
            |r| async move {
                let list = state.list_snapshots(r.name).await?;
                Ok(pb::ListSnapshotsResponse {
                    snapshots: list.into_iter().map(snapshot_to).collect(),
                })
            },
        )
        .await
    }

    async fn restore(
        &self,
        request: Request<pb::RestoreRequest>,
    ) -> Result<Response<pb::Collection>, Status> {
        let state = self.state.clone();
        self.call("Admin", "Restore", Access::Write, request, |r| async move {
            let id = if r.snapshot_id.is_empty() {
                "latest".to_string()
            } else {
                r.snapshot_id
            };
            let info = state
                .restore(r.name, id, r.verify_integrity.unwrap_or(true))
                .await?;
            Ok(collection_to(info))
        })
        .await
    }

    async fn list_dlq(
        &self,
        request: Request<pb::ListDlqRequest>,
    ) -> Result<Response<pb::JsonResponse>, Status> {
        let state = self.state.clone();
        self.call("Admin", "ListDlq", Access::Read, request, |_| async move {
            let entries: Vec<crate::api::DlqEntryView> =
                state.dlq().await?.into_iter().map(Into::into).collect();
            to_json_response(&crate::api::DlqList { entries })
        })
        .await
    }

    async fn retry_dlq(
        &self,
        request: Request<pb::RetryDlqRequest>,
    ) -> Result<Response<pb::JsonResponse>, Status> {
        let state = self.state.clone();
        self.call(
            "Admin",
            "RetryDlq",
            Access::Write,
            request,
            |_| async move {
                to_json_response(&crate::api::DlqRetryView::from(
                    state.dlq_retry_all().await?,
                ))
            },
        )
        .await
    }
}

fn alias_action_from(a: pb::AliasAction) -> Result<akidb_core::AliasAction, ApiError> {
    use pb::alias_action::Action;
    match a.action {
        Some(Action::Create(c)) => Ok(akidb_core::AliasAction::Create {
            alias: c.alias,
            collection: c.collection,
        }),
        Some(Action::Delete(d)) => Ok(akidb_core::AliasAction::Delete { alias: d.alias }),
        Some(Action::Rename(r)) => Ok(akidb_core::AliasAction::Rename {
            old_alias: r.old_alias,
            new_alias: r.new_alias,
        }),
        None => Err(ApiError::bad_request(
            "invalid_request",
            "an alias action needs one of create, delete or rename",
        )),
    }
}

fn aliases_to(list: Vec<akidb_core::AliasInfo>) -> pb::ListAliasesResponse {
    pb::ListAliasesResponse {
        aliases: list
            .into_iter()
            .map(|a| pb::Alias {
                alias: a.alias,
                collection: a.collection,
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl pb::aliases_server::Aliases for GrpcApi {
    async fn update(
        &self,
        request: Request<pb::UpdateAliasesRequest>,
    ) -> Result<Response<pb::UpdateAliasesResponse>, Status> {
        let state = self.state.clone();
        self.call(
            "Aliases",
            "Update",
            Access::Write,
            request,
            |r| async move {
                let actions = r
                    .actions
                    .into_iter()
                    .map(alias_action_from)
                    .collect::<Result<Vec<_>, _>>()?;
                state.update_aliases(actions).await?;
                Ok(pb::UpdateAliasesResponse { applied: true })
            },
        )
        .await
    }

    async fn list(
        &self,
        request: Request<pb::ListAliasesRequest>,
    ) -> Result<Response<pb::ListAliasesResponse>, Status> {
        let state = self.state.clone();
        self.call("Aliases", "List", Access::Read, request, |_| async move {
            Ok(aliases_to(state.list_aliases().await?))
        })
        .await
    }

    async fn list_for_collection(
        &self,
        request: Request<pb::CollectionName>,
    ) -> Result<Response<pb::ListAliasesResponse>, Status> {
        let state = self.state.clone();
        self.call(
            "Aliases",
            "ListForCollection",
            Access::Read,
            request,
            |r| async move { Ok(aliases_to(state.collection_aliases(r.name).await?)) },
        )
        .await
    }
}
