//! The REST API (axum): routes of docs/api.md, JSON errors, body limits, auth,
//! request ids, request metrics and the generated OpenAPI document.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use akidb_core::PointId;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use tracing::Instrument;
use utoipa::OpenApi;

use crate::api::*;
use crate::auth::{self, Access};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::state::{parse_demote_target, Shared};

static BODY_LIMIT: AtomicUsize = AtomicUsize::new(32 << 20);

/// A JSON request body: any content type, malformed JSON or wrong types answer
/// 400 `invalid_json`, a body over the limit 413 `payload_too_large`.
pub struct JsonBody<T>(pub T);

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::body_too_large(BODY_LIMIT.load(Ordering::Relaxed))
        } else {
            ApiError::bad_request("invalid_body", e.body_text())
        }
    })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid_json(format!("request body: {e}")))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        Ok(JsonBody(parse_json(&bytes)?))
    }
}

/// Like [`JsonBody`], but an empty body means `T::default()`.
pub struct OptionalJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        Ok(OptionalJsonBody(parse_json(&bytes)?))
    }
}

/// The OpenAPI 3 document, generated from the handlers and body types.
#[derive(OpenApi)]
#[openapi(
    info(title = "AkiDB REST API", description = "Vector database: collections, points, search, tiering and snapshots. Errors are `{\"error\":{\"code\",\"message\"}}`."),
    paths(
        health, ready, metrics_route,
        create_collection, list_collections, get_collection, delete_collection,
        upsert_points, get_point, delete_point, delete_points, get_points, scroll_points,
        count_points, set_payload, overwrite_payload, delete_payload, search, search_batch,
        get_tier, promote, demote, pin, unpin, compact, snapshot, list_snapshots, restore,
        list_dlq, retry_dlq, update_aliases, list_aliases, collection_aliases,
        crate::replicate::handover
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "collections", description = "Create, list, inspect and drop collections"),
        (name = "points", description = "Upsert, read, delete and search points"),
        (name = "admin", description = "Tiers, compaction, snapshots and the dead-letter queue"),
        (name = "aliases", description = "Second names for collections, switched atomically"),
        (name = "operations", description = "Health, readiness, metrics")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "api_key",
            Vec::<String>::new(),
        )]);
    }
}

/// Builds the REST router.
pub fn router(state: Shared) -> Router {
    BODY_LIMIT.store(state.limits.max_body_bytes, Ordering::Relaxed);
    let api = Router::new()
        .route(
            "/api/v1/collections",
            post(create_collection).get(list_collections),
        )
        .route(
            "/api/v1/collections/{name}",
            get(get_collection).delete(delete_collection),
        )
        .route(
            "/api/v1/collections/{name}/points",
            axum::routing::put(upsert_points),
        )
        .route(
            "/api/v1/collections/{name}/points/{id}",
            get(get_point).delete(delete_point),
        )
        .route(
            "/api/v1/collections/{name}/points/delete",
            post(delete_points),
        )
        .route("/api/v1/collections/{name}/points/get", post(get_points))
        .route(
            "/api/v1/collections/{name}/points/scroll",
            post(scroll_points),
        )
        .route(
            "/api/v1/collections/{name}/points/count",
            post(count_points),
        )
        .route(
            "/api/v1/collections/{name}/points/payload",
            post(set_payload).put(overwrite_payload),
        )
        .route(
            "/api/v1/collections/{name}/points/payload/delete",
            post(delete_payload),
        )
        .route("/api/v1/collections/{name}/search", post(search))
        .route(
            "/api/v1/collections/{name}/search/batch",
            post(search_batch),
        )
        .route("/api/v1/admin/collections/{name}/tier", get(get_tier))
        .route("/api/v1/admin/collections/{name}/promote", post(promote))
        .route("/api/v1/admin/collections/{name}/demote", post(demote))
        .route("/api/v1/admin/collections/{name}/pin", post(pin))
        .route("/api/v1/admin/collections/{name}/unpin", post(unpin))
        .route("/api/v1/admin/collections/{name}/compact", post(compact))
        .route("/api/v1/admin/collections/{name}/snapshot", post(snapshot))
        .route(
            "/api/v1/admin/collections/{name}/snapshots",
            get(list_snapshots),
        )
        .route("/api/v1/admin/collections/{name}/restore", post(restore))
        .route(
            "/api/v1/admin/collections/{name}/handover",
            post(crate::replicate::handover),
        )
        .route("/api/v1/admin/dlq", get(list_dlq))
        .route("/api/v1/admin/dlq/retry-all", post(retry_dlq))
        .route("/api/v1/aliases", post(update_aliases).get(list_aliases))
        .route(
            "/api/v1/collections/{name}/aliases",
            get(collection_aliases),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::replicate::route_requests,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_route))
        .route("/api/v1/openapi.json", get(openapi))
        .merge(crate::console::routes())
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        format!("no route {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

fn access_of(method: &Method, path: &str) -> Access {
    if method == Method::GET || method == Method::HEAD {
        return Access::Read;
    }
    const READS: [&str; 5] = [
        "/search",
        "/search/batch",
        "/points/get",
        "/points/scroll",
        "/points/count",
    ];
    if method == Method::POST && READS.iter().any(|r| path.ends_with(r)) {
        return Access::Read;
    }
    Access::Write
}

async fn authenticate(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let authz = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let api_key = headers.get("api-key").and_then(|v| v.to_str().ok());
    let key = auth::presented(authz, api_key);
    match auth::check(&state.auth, key, access_of(req.method(), req.uri().path())) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// A new request id (hex), unique within this process.
pub fn new_request_id() -> String {
    use std::sync::OnceLock;
    static BASE: OnceLock<u64> = OnceLock::new();
    let base = *BASE.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        t ^ (u64::from(std::process::id()) << 32)
    });
    let n = REQUEST_SEQ.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:016x}",
        base.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    )
}

/// Request id, log line and metrics for every request.
async fn observe(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(new_request_id);
    let span =
        tracing::info_span!("http", request_id = %request_id, method = %method, route = %route);
    let mut resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status().as_u16();
    let elapsed = start.elapsed();
    let code = resp
        .extensions()
        .get::<ErrorCode>()
        .map(|c| c.0)
        .unwrap_or("");
    let quiet = matches!(route.as_str(), "/health" | "/ready" | "/metrics");
    span.in_scope(|| {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::warn!(status, latency_ms = ms, error_code = code, "request failed");
        } else if quiet {
            tracing::debug!(status, latency_ms = ms, "request");
        } else {
            tracing::info!(status, latency_ms = ms, error_code = code, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    state
        .metrics
        .http_request(method.as_str(), &route, status, elapsed.as_secs_f64());
    resp
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/health", tag = "operations", security(()),
    responses((status = 200, description = "alive", body = StatusAnswer)))]
async fn health() -> Json<StatusAnswer> {
    Json(StatusAnswer {
        status: "ok".into(),
    })
}

/// Readiness: 200 once recovery has finished, 503 before.
#[utoipa::path(get, path = "/ready", tag = "operations", security(()),
    responses((status = 200, description = "ready", body = StatusAnswer),
              (status = 503, description = "still recovering", body = StatusAnswer)))]
async fn ready(State(state): State<Shared>) -> (StatusCode, Json<StatusAnswer>) {
    // A follower is ready only once it has caught up with the bucket (docs/replication.md).
    let behind = match (&state.replicator, state.database()) {
        (Some(r), Some(_)) => r.readiness().err(),
        _ => None,
    };
    if let Some(why) = behind {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(StatusAnswer {
                status: format!("catching up: {why}"),
            }),
        );
    }
    if state.database().is_some() {
        (
            StatusCode::OK,
            Json(StatusAnswer {
                status: "ready".into(),
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(StatusAnswer {
                status: "recovering".into(),
            }),
        )
    }
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "OpenMetrics text exposition", body = String, content_type = "application/openmetrics-text")))]
async fn metrics_route(State(state): State<Shared>) -> Response {
    if let Some(db) = state.database().cloned() {
        if let Ok(stats) = tokio::task::spawn_blocking(move || db.stats()).await {
            state.metrics.update_from_stats(&stats);
        }
        if let Some(r) = &state.replicator {
            state.metrics.update_from_replication(r);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

fn point_id(segment: &str) -> Result<PointId, ApiError> {
    Ok(PointId::parse_path(segment)?)
}

/// Creates a collection.
#[utoipa::path(post, path = "/api/v1/collections", tag = "collections",
    request_body = CreateCollection,
    responses((status = 201, body = CollectionView),
              (status = 400, description = "invalid name, dimension, metric or index parameters; invalid_json", body = ErrorBody),
              (status = 409, description = "collection_already_exists", body = ErrorBody)))]
async fn create_collection(
    State(state): State<Shared>,
    JsonBody(body): JsonBody<CreateCollection>,
) -> Result<(StatusCode, Json<CollectionView>), ApiError> {
    let info = state.create_collection(body.into_config()).await?;
    Ok((StatusCode::CREATED, Json(info.into())))
}

/// Lists every collection (never promotes).
#[utoipa::path(get, path = "/api/v1/collections", tag = "collections",
    responses((status = 200, body = CollectionList)))]
async fn list_collections(State(state): State<Shared>) -> Result<Json<CollectionList>, ApiError> {
    let list = state.list_collections().await?;
    Ok(Json(CollectionList {
        collections: list.into_iter().map(Into::into).collect(),
    }))
}

/// Describes one collection (never promotes).
#[utoipa::path(get, path = "/api/v1/collections/{name}", tag = "collections",
    params(("name" = String, Path, description = "collection name")),
    responses((status = 200, body = CollectionView), (status = 404, body = ErrorBody)))]
async fn get_collection(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<CollectionView>, ApiError> {
    Ok(Json(state.collection(name).await?.into()))
}

/// Drops a collection and all its data.
#[utoipa::path(delete, path = "/api/v1/collections/{name}", tag = "collections",
    params(("name" = String, Path, description = "collection name")),
    responses((status = 200, body = CollectionDeleted), (status = 404, body = ErrorBody)))]
async fn delete_collection(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<CollectionDeleted>, ApiError> {
    state.drop_collection(name.clone()).await?;
    Ok(Json(CollectionDeleted {
        name,
        deleted: true,
    }))
}

/// Inserts or replaces points; answers once the write is durable.
#[utoipa::path(put, path = "/api/v1/collections/{name}/points", tag = "points",
    params(("name" = String, Path, description = "collection name")),
    request_body = UpsertBody,
    responses((status = 200, body = UpsertAnswer),
              (status = 400, description = "dimension_mismatch, invalid_vector, invalid_id, invalid_payload, invalid_json", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 413, description = "payload_too_large, batch_too_large", body = ErrorBody),
              (status = 507, description = "insufficient_storage", body = ErrorBody)))]
async fn upsert_points(
    State(state): State<Shared>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<UpsertBody>,
) -> Result<Json<UpsertAnswer>, ApiError> {
    let limit = state.limits.max_batch_points;
    if body.points.len() > limit {
        return Err(ApiError::batch_too_large(
            "points",
            body.points.len(),
            limit,
            "limits.max_batch_points",
        ));
    }
    let points = body
        .points
        .into_iter()
        .map(PointBody::into_point)
        .collect::<Result<Vec<_>, _>>()?;
    let w = state.upsert(name, points).await?;
    Ok(Json(UpsertAnswer {
        upserted: w.count as u64,
        lsn: w.lsn,
    }))
}

/// Reads one point.
#[utoipa::path(get, path = "/api/v1/collections/{name}/points/{id}", tag = "points",
    params(("name" = String, Path, description = "collection name"),
           ("id" = String, Path, description = "point id (digits = integer id)")),
    responses((status = 200, body = PointView), (status = 404, description = "collection_not_found, point_not_found", body = ErrorBody)))]
async fn get_point(
    State(state): State<Shared>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<PointView>, ApiError> {
    let id = point_id(&id)?;
    Ok(Json(state.get_point(name, id).await?.into()))
}

/// Deletes one point (`deleted` is 0 when it did not exist).
#[utoipa::path(delete, path = "/api/v1/collections/{name}/points/{id}", tag = "points",
    params(("name" = String, Path, description = "collection name"),
           ("id" = String, Path, description = "point id (digits = integer id)")),
    responses((status = 200, body = DeleteAnswer), (status = 404, body = ErrorBody)))]
async fn delete_point(
    State(state): State<Shared>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<DeleteAnswer>, ApiError> {
    let id = point_id(&id)?;
    let w = state.delete_ids(name, vec![id]).await?;
    Ok(Json(DeleteAnswer {
        deleted: w.count as u64,
        lsn: w.lsn,
    }))
}

/// Deletes points by ids or by filter.
#[utoipa::path(post, path = "/api/v1/collections/{name}/points/delete", tag = "points",
    params(("name" = String, Path, description = "collection name")),
    request_body = DeleteBody,
    responses((status = 200, body = DeleteAnswer),
              (status = 400, description = "invalid_request, invalid_filter, invalid_id", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn delete_points(
    State(state): State<Shared>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<DeleteBody>,
) -> Result<Json<DeleteAnswer>, ApiError> {
    let n = match body.into_target(state.limits.max_batch_points)? {
        DeleteTarget::Ids(ids) => state.delete_ids(name, ids).await?,
        DeleteTarget::Filter(f) => state.delete_filter(name, f).await?,
    };
    Ok(Json(DeleteAnswer {
        deleted: n.count as u64,
        lsn: n.lsn,
    }))
}

/// Reads many points by id: request order kept, missing ids absent.
#[utoipa::path(post, path = "/api/v1/collections/{name}/points/get", tag = "points",
    params(("name" = String, Path, description = "collection name")),
    request_body = GetManyBody,
    responses((status = 200, body = PointsAnswer),
              (status = 400, description = "invalid_id, invalid_json", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 413, description = "batch_too_large", body = ErrorBody)))]
async fn get_points(
    State(state): State<Shared>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<GetManyBody>,
) -> Result<Json<PointsAnswer>, ApiError> {
    // The batch limit is checked once, by `AppState::get_many`, for REST and gRPC alike.
    let ids = body
        .ids
        .iter()
        .map(PointId::from_json)
        .collect::<akidb_core::Result<Vec<_>>>()?;
    let points = state
        .get_many(
            name,
            ids,
            body.with_payload.unwrap_or(true),
            body.with_vector,
        )
        .await?;
    Ok(Json(PointsAnswer {
        points: points.into_iter().map(Into::into).collect(),
    }))
}

/// One page of points in id order; pass `next_offset` back as `offset` for the next page.
#[utoipa::path(post, path = "/api/v1/collections/{name}/points/scroll", tag = "points",
    params(("name" = String, Path, description = "collection name")),
    request_body = ScrollBody,
    responses((status = 200, body = ScrollAnswer),
              (status = 400, description = "invalid_limit, invalid_offset, invalid_order_by, invalid_filter, invalid_json", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn scroll_points(
    State(state): State<Shared>,
    Path(name): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ScrollBody>,
) -> Result<Json<ScrollAnswer>, ApiError> {
    let request = body.into_request(state.limits.max_k)?;
    let page = state.scroll(name, request).await?;
    Ok(Json(ScrollAnswer::from_page(page)))
}

/// Counts the points matching a filter (always exactly, even with `exact: false`).
#[utoipa::path(post, path = "/api/v1/collections/{name}/points/count", tag = "points",
    params(("name" = String, Path, description = "collection name")),
    request_body = CountBody,
    responses((status = 200, body = CountAnswer),
              (status = 400, description = "invalid_filter, invalid_json", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn count_points(
    State(state): State<Shared>,
    Path(name): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<CountBody>,
) -> Result<Json<CountAnswer>, ApiError> {
    let filter = body.filter()?;
    Ok(Json(CountAnswer {
        count: state.count(name, filter).await?,
    }))
}

/// Sets payload keys (merge) on the points given by `ids` or `filter`; answers once durable.
#[utoipa::path(post, path = "/api/v1/collections/{name}/points/payload", tag = "points",
    params(("name" = String, Path, description = "collection name")),
    request_body = SetPayloadBody,
    responses((status = 200, body = UpdatedAnswer),
              (status = 400, description = "invalid_request, invalid_payload, invalid_filter, invalid_id, invalid_json", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 413, description = "payload_too_large, batch_too_large", body = ErrorBody)))]
async fn set_payload(
    State(state): State<Shared>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SetPayloadBody>,
) -> Result<Json<UpdatedAnswer>, ApiError> {
    apply_payload(&state, name, body, akidb_core::PayloadUpdate::Merge).await
}

/// Replaces the whole payload of the points given by `ids` or `filter`; answers once durable.
#[utoipa::path(put, path = "/api/v1/collections/{name}/points/payload", tag = "points",
    params(("name" = String, Path, description = "collection name")),
    request_body = SetPayloadBody,
    responses((status = 200, body = UpdatedAnswer),
              (status = 400, description = "invalid_request, invalid_payload, invalid_filter, invalid_id, invalid_json", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 413, description = "payload_too_large, batch_too_large", body = ErrorBody)))]
async fn overwrite_payload(
    State(state): State<Shared>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SetPayloadBody>,
) -> Result<Json<UpdatedAnswer>, ApiError> {
    apply_payload(&state, name, body, akidb_core::PayloadUpdate::Overwrite).await
}

/// Applies a merge or an overwrite built from the body's payload to its `ids` or `filter`.
async fn apply_payload(
    state: &Shared,
    name: String,
    body: SetPayloadBody,
    update: fn(akidb_core::Payload) -> akidb_core::PayloadUpdate,
) -> Result<Json<UpdatedAnswer>, ApiError> {
    let (target, payload) = body.into_parts(state.limits.max_batch_points)?;
    let n = state.update_payload(name, target, update(payload)).await?;
    Ok(Json(UpdatedAnswer {
        updated: n.count as u64,
        lsn: n.lsn,
    }))
}

/// Removes payload keys from the points given by `ids` or `filter`; answers once durable.
#[utoipa::path(post, path = "/api/v1/collections/{name}/points/payload/delete", tag = "points",
    params(("name" = String, Path, description = "collection name")),
    request_body = DeletePayloadBody,
    responses((status = 200, body = UpdatedAnswer),
              (status = 400, description = "invalid_request, invalid_filter, invalid_id, invalid_json", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 413, description = "batch_too_large", body = ErrorBody)))]
async fn delete_payload(
    State(state): State<Shared>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<DeletePayloadBody>,
) -> Result<Json<UpdatedAnswer>, ApiError> {
    let target = selector(body.ids, body.filter, state.limits.max_batch_points)?;
    let n = state
        .update_payload(
            name,
            target,
            akidb_core::PayloadUpdate::DeleteKeys(body.keys),
        )
        .await?;
    Ok(Json(UpdatedAnswer {
        updated: n.count as u64,
        lsn: n.lsn,
    }))
}

/// k-nearest-neighbour search, best first.
#[utoipa::path(post, path = "/api/v1/collections/{name}/search", tag = "points",
    params(("name" = String, Path, description = "collection name")),
    request_body = SearchBody,
    responses((status = 200, body = SearchAnswer),
              (status = 400, description = "invalid_k, dimension_mismatch, invalid_vector, invalid_filter, invalid_json", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn search(
    State(state): State<Shared>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SearchBody>,
) -> Result<Json<SearchAnswer>, ApiError> {
    let request = body.into_request(state.limits.max_k)?;
    Ok(Json(SearchAnswer::from_hits(
        state.search(name, request).await?,
    )))
}

/// Several searches in one request, answered in order.
#[utoipa::path(post, path = "/api/v1/collections/{name}/search/batch", tag = "points",
    params(("name" = String, Path, description = "collection name")),
    request_body = BatchSearchBody,
    responses((status = 200, body = BatchSearchAnswer),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, description = "batch_too_large", body = ErrorBody)))]
async fn search_batch(
    State(state): State<Shared>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<BatchSearchBody>,
) -> Result<Json<BatchSearchAnswer>, ApiError> {
    let limit = state.limits.max_batch_searches;
    if body.searches.len() > limit {
        return Err(ApiError::batch_too_large(
            "searches",
            body.searches.len(),
            limit,
            "limits.max_batch_searches",
        ));
    }
    let requests = body
        .searches
        .into_iter()
        .map(|s| s.into_request(state.limits.max_k))
        .collect::<Result<Vec<_>, _>>()?;
    let results = state.search_batch(name, requests).await?;
    Ok(Json(BatchSearchAnswer {
        results: results.into_iter().map(SearchAnswer::from_hits).collect(),
    }))
}

/// Tier state of a collection (never promotes).
#[utoipa::path(get, path = "/api/v1/admin/collections/{name}/tier", tag = "admin",
    params(("name" = String, Path, description = "collection name")),
    responses((status = 200, body = TierView), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
async fn get_tier(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<TierView>, ApiError> {
    Ok(Json(state.tier(name).await?.into()))
}

/// Loads a collection into RAM; answers when done.
#[utoipa::path(post, path = "/api/v1/admin/collections/{name}/promote", tag = "admin",
    params(("name" = String, Path, description = "collection name")),
    responses((status = 200, body = TierView), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody), (status = 501, body = ErrorBody)))]
async fn promote(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<TierView>, ApiError> {
    Ok(Json(state.promote(name).await?.into()))
}

/// Moves a collection to warm or cold; answers when done.
#[utoipa::path(post, path = "/api/v1/admin/collections/{name}/demote", tag = "admin",
    params(("name" = String, Path, description = "collection name")),
    request_body = DemoteBody,
    responses((status = 200, body = TierView), (status = 400, description = "invalid_tier", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody), (status = 501, body = ErrorBody)))]
async fn demote(
    State(state): State<Shared>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<DemoteBody>,
) -> Result<Json<TierView>, ApiError> {
    let to = parse_demote_target(&body.to)?;
    Ok(Json(state.demote(name, to).await?.into()))
}

/// Pins a collection hot.
#[utoipa::path(post, path = "/api/v1/admin/collections/{name}/pin", tag = "admin",
    params(("name" = String, Path, description = "collection name")),
    responses((status = 200, body = TierView), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
async fn pin(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<TierView>, ApiError> {
    Ok(Json(state.pin(name).await?.into()))
}

/// Removes a pin.
#[utoipa::path(post, path = "/api/v1/admin/collections/{name}/unpin", tag = "admin",
    params(("name" = String, Path, description = "collection name")),
    responses((status = 200, body = TierView), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
async fn unpin(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<TierView>, ApiError> {
    Ok(Json(state.unpin(name).await?.into()))
}

/// Merges segments and drops deleted points.
#[utoipa::path(post, path = "/api/v1/admin/collections/{name}/compact", tag = "admin",
    params(("name" = String, Path, description = "collection name")),
    responses((status = 200, body = CompactionView), (status = 404, body = ErrorBody)))]
async fn compact(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<CompactionView>, ApiError> {
    Ok(Json(state.compact(name).await?.into()))
}

/// Writes a snapshot now.
#[utoipa::path(post, path = "/api/v1/admin/collections/{name}/snapshot", tag = "admin",
    params(("name" = String, Path, description = "collection name")),
    responses((status = 200, body = SnapshotView), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn snapshot(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<SnapshotView>, ApiError> {
    Ok(Json(state.snapshot(name).await?.into()))
}

/// Lists a collection's snapshots.
#[utoipa::path(get, path = "/api/v1/admin/collections/{name}/snapshots", tag = "admin",
    params(("name" = String, Path, description = "collection name")),
    responses((status = 200, body = SnapshotList), (status = 404, body = ErrorBody)))]
async fn list_snapshots(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<SnapshotList>, ApiError> {
    let list = state.list_snapshots(name).await?;
    Ok(Json(SnapshotList {
        snapshots: list.into_iter().map(Into::into).collect(),
    }))
}

/// Replaces a collection's contents with a snapshot.
#[utoipa::path(post, path = "/api/v1/admin/collections/{name}/restore", tag = "admin",
    params(("name" = String, Path, description = "collection name")),
    request_body = RestoreBody,
    responses((status = 200, body = CollectionView), (status = 404, description = "collection_not_found, snapshot_not_found", body = ErrorBody),
              (status = 500, description = "data_corruption", body = ErrorBody), (status = 501, body = ErrorBody)))]
async fn restore(
    State(state): State<Shared>,
    Path(name): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<RestoreBody>,
) -> Result<Json<CollectionView>, ApiError> {
    let id = body.snapshot_id.unwrap_or_else(|| "latest".into());
    let info = state
        .restore(name, id, body.verify_integrity.unwrap_or(true))
        .await?;
    Ok(Json(info.into()))
}

/// Dead-letter queue entries (uploads that failed after retries).
#[utoipa::path(get, path = "/api/v1/admin/dlq", tag = "admin",
    responses((status = 200, body = DlqList)))]
async fn list_dlq(State(state): State<Shared>) -> Result<Json<DlqList>, ApiError> {
    let entries = state.dlq().await?;
    Ok(Json(DlqList {
        entries: entries.into_iter().map(Into::into).collect(),
    }))
}

/// Retries every dead-letter entry once.
#[utoipa::path(post, path = "/api/v1/admin/dlq/retry-all", tag = "admin",
    responses((status = 200, body = DlqRetryView)))]
async fn retry_dlq(State(state): State<Shared>) -> Result<Json<DlqRetryView>, ApiError> {
    Ok(Json(state.dlq_retry_all().await?.into()))
}

/// Applies alias actions (create, delete, rename) all together or not at all.
#[utoipa::path(post, path = "/api/v1/aliases", tag = "aliases",
    request_body = AliasActionsBody,
    responses((status = 200, body = AliasesUpdated),
              (status = 400, description = "invalid_alias_name, alias_chain, invalid_request, invalid_json", body = ErrorBody),
              (status = 404, description = "collection_not_found, alias_not_found", body = ErrorBody),
              (status = 409, description = "alias_already_exists, alias_conflict", body = ErrorBody)))]
async fn update_aliases(
    State(state): State<Shared>,
    JsonBody(body): JsonBody<AliasActionsBody>,
) -> Result<Json<AliasesUpdated>, ApiError> {
    state.update_aliases(body.actions).await?;
    Ok(Json(AliasesUpdated { applied: true }))
}

/// Lists every alias.
#[utoipa::path(get, path = "/api/v1/aliases", tag = "aliases",
    responses((status = 200, body = AliasList)))]
async fn list_aliases(State(state): State<Shared>) -> Result<Json<AliasList>, ApiError> {
    let list = state.list_aliases().await?;
    Ok(Json(AliasList {
        aliases: list.into_iter().map(Into::into).collect(),
    }))
}

/// Lists the aliases of one collection.
#[utoipa::path(get, path = "/api/v1/collections/{name}/aliases", tag = "aliases",
    params(("name" = String, Path, description = "collection name (or one of its aliases)")),
    responses((status = 200, body = AliasList), (status = 404, body = ErrorBody)))]
async fn collection_aliases(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<AliasList>, ApiError> {
    let list = state.collection_aliases(name).await?;
    Ok(Json(AliasList {
        aliases: list.into_iter().map(Into::into).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_lists_every_route() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/health",
            "/ready",
            "/metrics",
            "/api/v1/collections",
            "/api/v1/collections/{name}",
            "/api/v1/collections/{name}/points",
            "/api/v1/collections/{name}/points/{id}",
            "/api/v1/collections/{name}/points/delete",
            "/api/v1/collections/{name}/points/get",
            "/api/v1/collections/{name}/points/scroll",
            "/api/v1/collections/{name}/points/count",
            "/api/v1/collections/{name}/points/payload",
            "/api/v1/collections/{name}/points/payload/delete",
            "/api/v1/collections/{name}/search",
            "/api/v1/collections/{name}/search/batch",
            "/api/v1/admin/collections/{name}/tier",
            "/api/v1/admin/collections/{name}/promote",
            "/api/v1/admin/collections/{name}/demote",
            "/api/v1/admin/collections/{name}/pin",
            "/api/v1/admin/collections/{name}/unpin",
            "/api/v1/admin/collections/{name}/compact",
            "/api/v1/admin/collections/{name}/snapshot",
            "/api/v1/admin/collections/{name}/snapshots",
            "/api/v1/admin/collections/{name}/restore",
            "/api/v1/admin/dlq",
            "/api/v1/admin/dlq/retry-all",
            "/api/v1/aliases",
            "/api/v1/collections/{name}/aliases",
        ] {
            assert!(paths.contains_key(p), "openapi lacks {p}");
        }
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for s in [
            "CreateCollection",
            "CollectionView",
            "SearchBody",
            "HitView",
            "ErrorBody",
            "PointId",
            "Metric",
        ] {
            assert!(schemas.contains_key(s), "openapi lacks schema {s}");
        }
    }

    #[test]
    fn searches_are_reads() {
        assert_eq!(
            access_of(&Method::POST, "/api/v1/collections/a/search"),
            Access::Read
        );
        assert_eq!(
            access_of(&Method::POST, "/api/v1/collections/a/search/batch"),
            Access::Read
        );
        assert_eq!(access_of(&Method::GET, "/api/v1/admin/dlq"), Access::Read);
        for read in ["get", "scroll", "count"] {
            let path = format!("/api/v1/collections/a/points/{read}");
            assert_eq!(access_of(&Method::POST, &path), Access::Read);
        }
        assert_eq!(
            access_of(&Method::POST, "/api/v1/collections/a/points/payload"),
            Access::Write
        );
        assert_eq!(
            access_of(&Method::POST, "/api/v1/collections/a/points/payload/delete"),
            Access::Write
        );
        assert_eq!(
            access_of(&Method::PUT, "/api/v1/collections/a/points"),
            Access::Write
        );
        assert_eq!(
            access_of(&Method::POST, "/api/v1/collections/a/points/delete"),
            Access::Write
        );
        assert_eq!(
            access_of(&Method::DELETE, "/api/v1/collections/a"),
            Access::Write
        );
        assert_eq!(access_of(&Method::POST, "/api/v1/aliases"), Access::Write);
        assert_eq!(access_of(&Method::GET, "/api/v1/aliases"), Access::Read);
    }
}
