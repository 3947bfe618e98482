//! The server's side of replication (docs/replication.md): writes that reach a follower
//! are forwarded to the collection's writer (REST here, gRPC through [`writer_elsewhere`]),
//! reads honour `"consistency"`, and `POST …/handover` moves the writer role.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use akidb_replication::Route;

use crate::error::ApiError;
use crate::state::Shared;

/// Set on a forwarded request, so a node never forwards it a second time.
const FORWARDED: &str = "x-akidb-forwarded-by";

/// What a REST route does to a collection, as far as replication cares.
enum Kind {
    /// Changes it: only its writer may serve it.
    Write,
    /// Reads it: may carry `"consistency"`.
    Read,
}

/// The collection a route names and what the route does with it.
fn classify<'a>(method: &Method, path: &'a str) -> Option<(&'a str, Kind)> {
    if let Some(rest) = path.strip_prefix("/api/v1/admin/collections/") {
        let (name, tail) = rest.split_once('/')?;
        return (method == Method::POST && tail == "handover").then_some((name, Kind::Write));
    }
    let rest = path.strip_prefix("/api/v1/collections/")?;
    let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let kind = match (method.as_str(), tail) {
        ("DELETE", "") | ("PUT", "points") => Kind::Write,
        ("POST", "points/delete" | "points/payload" | "points/payload/delete") => Kind::Write,
        ("PUT", "points/payload") => Kind::Write,
        ("DELETE", t) if t.starts_with("points/") => Kind::Write,
        ("POST", "search" | "search/batch" | "points/get" | "points/scroll" | "points/count") => {
            Kind::Read
        }
        _ => return None,
    };
    Some((name, kind))
}

/// A writer on another node, or None when this node serves the write itself.
pub struct Writer {
    /// Its REST URL.
    pub rest_url: String,
    /// Its gRPC URL.
    pub grpc_url: String,
}

/// Where a write to `name` goes: None = here; `no_writer` when nobody can take it now.
pub fn writer_elsewhere(state: &Shared, name: &str) -> Result<Option<Writer>, ApiError> {
    let (Some(rep), Some(db)) = (&state.replicator, state.database()) else {
        return Ok(None);
    };
    match rep.route(&db.resolve(name)) {
        Route::Local => Ok(None),
        Route::Forward {
            rest_url, grpc_url, ..
        } => Ok(Some(Writer { rest_url, grpc_url })),
        Route::NoWriter(why) => Err(akidb_core::Error::no_writer(name, &why).into()),
    }
}

/// Middleware on the API routes: forwards writes to the writer, applies `consistency` to reads.
pub async fn route_requests(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let Some((name, kind)) = classify(req.method(), &path) else {
        return next.run(req).await;
    };
    let name = name.to_string();
    match kind {
        Kind::Write => match writer_elsewhere(&state, &name) {
            Ok(None) => next.run(req).await,
            Ok(Some(w)) => forward(&state, req, &w.rest_url, &name).await,
            Err(e) => e.into_response(),
        },
        Kind::Read => match consistent_read(&state, req, &name).await {
            Ok(Read::Here(req)) => next.run(req).await,
            Ok(Read::Forwarded(resp)) => resp,
            Err(e) => e.into_response(),
        },
    }
}

enum Read {
    Here(Request),
    Forwarded(Response),
}

/// The `consistency` of a read body: `"strong"` or `{"min_lsn": N}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Consistency {
    Named(String),
    MinLsn { min_lsn: u64 },
}

/// Takes `consistency` out of the body (the handlers never see it) and acts on it.
async fn consistent_read(state: &Shared, req: Request, name: &str) -> Result<Read, ApiError> {
    let (parts, body) = req.into_parts();
    let limit = state.limits.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| ApiError::bad_request("invalid_body", format!("cannot read the body: {e}")))?;
    // Every search passes here: only a body that mentions the field is parsed twice.
    const FIELD: &[u8] = b"\"consistency\"";
    if !bytes.windows(FIELD.len()).any(|w| w == FIELD) {
        return Ok(Read::Here(Request::from_parts(parts, Body::from(bytes))));
    }
    let mut value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        // Not JSON: the handler reports it in its own words.
        Err(_) => return Ok(Read::Here(Request::from_parts(parts, Body::from(bytes)))),
    };
    let Some(raw) = value.as_object_mut().and_then(|o| o.remove("consistency")) else {
        return Ok(Read::Here(Request::from_parts(parts, Body::from(bytes))));
    };
    let consistency: Consistency =
        serde_json::from_value(raw.clone()).map_err(|_| bad_consistency(&raw))?;
    let stripped = Body::from(serde_json::to_vec(&value).expect("JSON re-serialises"));
    let req = Request::from_parts(parts, stripped);
    match consistency {
        Consistency::Named(s) if s == "strong" => match writer_elsewhere(state, name)? {
            None => Ok(Read::Here(req)),
            Some(w) => Ok(Read::Forwarded(
                forward(state, req, &w.rest_url, name).await,
            )),
        },
        Consistency::Named(s) if s == "eventual" => Ok(Read::Here(req)),
        Consistency::Named(_) => Err(bad_consistency(&raw)),
        Consistency::MinLsn { min_lsn } => {
            let db = state.database().ok_or_else(ApiError::not_ready)?.clone();
            let name = db.resolve(name).into_owned();
            match &state.replicator {
                Some(rep) => rep.wait_applied(&name, min_lsn).await?,
                // A single node has applied every write it acknowledged.
                None => {
                    let n = name.clone();
                    let applied = state.run(move |db| db.applied_lsn(&n)).await?;
                    if applied < min_lsn {
                        return Err(ApiError::bad_request(
                            "invalid_min_lsn",
                            format!(
                                "min_lsn {min_lsn} is beyond the last write of collection \
                                 '{name}' (lsn {applied}); use the lsn a write answered with"
                            ),
                        ));
                    }
                }
            }
            Ok(Read::Here(req))
        }
    }
}

fn bad_consistency(raw: &serde_json::Value) -> ApiError {
    ApiError::bad_request(
        "invalid_consistency",
        format!(
            "consistency must be \"strong\", \"eventual\" or {{\"min_lsn\": <lsn>}}, got {raw}"
        ),
    )
}

/// Sends `req` to the writer at `base` and relays its answer; `no_writer` when it cannot be reached.
async fn forward(state: &Shared, req: Request, base: &str, name: &str) -> Response {
    let me = state
        .replicator
        .as_ref()
        .map(|r| r.node_id().to_string())
        .unwrap_or_default();
    if req.headers().contains_key(FORWARDED) {
        return ApiError::from(akidb_core::Error::no_writer(
            name,
            "the writer moved while the request was forwarded",
        ))
        .into_response();
    }
    let (parts, b) = req.into_parts();
    let bytes = match axum::body::to_bytes(b, state.limits.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::bad_request("invalid_body", format!("cannot read the body: {e}"))
                .into_response()
        }
    };
    let url = format!(
        "{}{}",
        base.trim_end_matches('/'),
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let client = forward_client();
    let mut out = client.request(parts.method.clone(), &url).body(bytes);
    for h in ["authorization", "api-key", "content-type", "x-request-id"] {
        if let Some(v) = parts.headers.get(h) {
            out = out.header(h, v);
        }
    }
    out = out.header(FORWARDED, me);
    match out.send().await {
        Ok(resp) => {
            let status = StatusCode::from_u16(resp.status().as_u16())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let ctype = resp.headers().get("content-type").cloned();
            let body = resp.bytes().await.unwrap_or_default();
            let mut r = (status, body).into_response();
            if let Some(c) = ctype {
                r.headers_mut().insert(
                    "content-type",
                    HeaderValue::from_bytes(c.as_bytes())
                        .unwrap_or(HeaderValue::from_static("application/json")),
                );
            }
            r
        }
        Err(e) => ApiError::from(akidb_core::Error::no_writer(
            name,
            &format!("the writer at {base} cannot be reached ({e})"),
        ))
        .into_response(),
    }
}

fn forward_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("an HTTP client builds")
    })
}

/// `POST /api/v1/admin/collections/{name}/handover` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverBody {
    /// The node to hand the writer role to; any live follower when absent.
    #[serde(default)]
    pub to: Option<String>,
}

/// The answer of a handover: the new writer, its epoch and the last LSN shipped before it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HandoverAnswer {
    /// Collection name.
    pub name: String,
    /// Node id of the new writer.
    pub writer: String,
    /// The new writer's lease epoch.
    pub epoch: u64,
    /// The last LSN the old writer shipped; the new writer continues after it.
    pub lsn: u64,
}

/// Hands the collection's writer role to another node without losing a write.
#[utoipa::path(post, path = "/api/v1/admin/collections/{name}/handover", tag = "admin",
    params(("name" = String, Path, description = "collection name")),
    request_body(content = Option<HandoverBody>),
    responses((status = 200, body = HandoverAnswer), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn handover(
    State(state): State<Shared>,
    Path(name): Path<String>,
    crate::rest::OptionalJsonBody(body): crate::rest::OptionalJsonBody<HandoverBody>,
) -> Result<Json<HandoverAnswer>, ApiError> {
    let rep = state.replicator.as_ref().ok_or_else(|| {
        ApiError::bad_request(
            "replication_disabled",
            "handover needs replication (replication.enabled / AKIDB_REPLICATION_ENABLED)",
        )
    })?;
    let db = state.database().ok_or_else(ApiError::not_ready)?;
    let name = db.resolve(&name).into_owned();
    let h = rep.handover(&name, body.to).await?;
    Ok(Json(HandoverAnswer {
        name: h.name,
        writer: h.writer,
        epoch: h.epoch,
        lsn: h.lsn,
    }))
}

/// A gRPC channel to the writer (`no_writer` when it cannot be reached).
pub async fn writer_channel(name: &str, w: &Writer) -> Result<tonic::transport::Channel, ApiError> {
    tonic::transport::Endpoint::from_shared(w.grpc_url.clone())
        .map_err(|e| ApiError::internal(format!("bad writer gRPC URL {}: {e}", w.grpc_url)))?
        .connect_timeout(std::time::Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| {
            ApiError::from(akidb_core::Error::no_writer(
                name,
                &format!("the writer at {} cannot be reached ({e})", w.grpc_url),
            ))
        })
}

/// A gRPC `Points` client on the writer.
pub async fn points_client(
    name: &str,
    w: &Writer,
) -> Result<akidb_proto::v1::points_client::PointsClient<tonic::transport::Channel>, ApiError> {
    Ok(akidb_proto::v1::points_client::PointsClient::new(
        writer_channel(name, w).await?,
    ))
}

/// Wraps a message for the writer, with this server's full-access key when auth is on
/// (the request was authorised here already).
pub fn forwarded<T>(state: &Shared, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Some(key) = &state.auth.api_key {
        if let Ok(v) = format!("Bearer {key}").parse() {
            req.metadata_mut().insert("authorization", v);
        }
    }
    req
}

/// The writer's gRPC answer as this server's answer, keeping its error code.
pub fn relay<T>(answer: Result<tonic::Response<T>, tonic::Status>) -> Result<T, ApiError> {
    match answer {
        Ok(r) => Ok(r.into_inner()),
        Err(s) => {
            let code = s
                .metadata()
                .get("akidb-error-code")
                .and_then(|v| v.to_str().ok())
                .map(intern)
                .unwrap_or("no_writer");
            let status = match s.code() {
                tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
                tonic::Code::NotFound => StatusCode::NOT_FOUND,
                tonic::Code::AlreadyExists | tonic::Code::FailedPrecondition => {
                    StatusCode::CONFLICT
                }
                tonic::Code::ResourceExhausted => StatusCode::PAYLOAD_TOO_LARGE,
                tonic::Code::Unauthenticated => StatusCode::UNAUTHORIZED,
                tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
                tonic::Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
                tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            Err(ApiError::new(status, code, s.message().to_string()))
        }
    }
}

/// Error codes relayed from another node, kept once each (they are a small fixed set).
fn intern(code: &str) -> &'static str {
    static CODES: std::sync::OnceLock<parking_lot::Mutex<std::collections::HashSet<&'static str>>> =
        std::sync::OnceLock::new();
    let mut set = CODES.get_or_init(Default::default).lock();
    if let Some(c) = set.get(code) {
        return c;
    }
    if set.len() >= 256 {
        return "internal";
    }
    let leaked: &'static str = Box::leak(code.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}
