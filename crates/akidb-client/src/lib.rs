//! Typed async client for the AkiDB REST API (docs/api.md), used by the tests,
//! smoke checks and benchmarks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), akidb_client::ClientError> {
//! use akidb_client::Client;
//! use akidb_core::{CollectionConfig, Metric, Point, SearchRequest};
//! let client = Client::new("http://127.0.0.1:8080")?;
//! client.create_collection(&CollectionConfig::new("docs", 3, Metric::Cosine)).await?;
//! client.upsert("docs", &[Point::new(1, vec![1.0, 0.0, 0.0], Default::default())]).await?;
//! let hits = client.search("docs", &SearchRequest::new(vec![1.0, 0.0, 0.0], 5)).await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use akidb_core::{CollectionConfig, Filter, Hit, Point, PointId, SearchRequest, Tier};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body `{"error":{"code","message"}}`.
    #[error("HTTP {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable snake_case error code.
        code: String,
        /// Human-readable message.
        message: String,
    },
    /// The request could not be sent or the answer not read.
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// The answer was not the JSON the route documents.
    #[error("unexpected response: {0}")]
    Decode(String),
    /// The base URL is not a valid URL.
    #[error("invalid base URL {0}")]
    Url(String),
    /// A CA certificate or client identity could not be loaded.
    #[error("TLS set-up: {0}")]
    Tls(String),
}

impl ClientError {
    /// HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Error code of an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ClientError>;

/// A collection as the server describes it.
pub use akidb_core::info::CollectionInfo as Collection;
pub use akidb_core::info::{CompactionReport, SnapshotInfo, TierInfo};

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// TLS settings of a client talking to an `https://` server.
///
/// Without a CA the platform's trust store is used; with one (PEM, e.g. the
/// server's private CA) only that CA is trusted. An identity (certificate chain +
/// private key, PEM) is presented to servers that require client certificates
/// (`tls.client_ca_file`).
#[derive(Clone, Default)]
pub struct TlsOptions {
    ca_pem: Option<Vec<u8>>,
    identity_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca", &self.ca_pem.is_some())
            .field("identity", &self.identity_pem.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl TlsOptions {
    /// No CA and no identity: the platform trust store, no client certificate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts only the CA certificate(s) in `pem`.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Presents the client certificate chain `cert_pem` with its private key `key_pem`.
    pub fn identity_pem(mut self, cert_pem: &[u8], key_pem: &[u8]) -> Self {
        let mut both = cert_pem.to_vec();
        if !both.ends_with(b"\n") {
            both.push(b'\n');
        }
        both.extend_from_slice(key_pem);
        self.identity_pem = Some(both);
        self
    }

    /// Reads the CA (`ca_file`) and the identity (`cert_file` + `key_file`) from PEM files.
    pub fn from_files(
        ca_file: Option<&std::path::Path>,
        cert_file: Option<&std::path::Path>,
        key_file: Option<&std::path::Path>,
    ) -> Result<Self> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| ClientError::Tls(format!("{}: {e}", p.display())))
        };
        let mut tls = Self::new();
        if let Some(ca) = ca_file {
            tls = tls.ca_pem(read(ca)?);
        }
        match (cert_file, key_file) {
            (Some(c), Some(k)) => tls = tls.identity_pem(&read(c)?, &read(k)?),
            (None, None) => {}
            _ => {
                return Err(ClientError::Tls(
                    "a client certificate needs both the certificate and the key file".into(),
                ))
            }
        }
        Ok(tls)
    }

    /// Applies the options to a `reqwest` builder.
    pub fn apply(&self, mut builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder> {
        if let Some(pem) = &self.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ClientError::Tls(format!("CA certificate: {e}")))?;
            if certs.is_empty() {
                return Err(ClientError::Tls(
                    "the CA file holds no PEM certificate".into(),
                ));
            }
            builder = builder.tls_certs_only(certs);
        }
        if let Some(pem) = &self.identity_pem {
            let id = reqwest::Identity::from_pem(pem)
                .map_err(|e| ClientError::Tls(format!("client certificate/key: {e}")))?;
            builder = builder.identity(id);
        }
        Ok(builder)
    }
}

/// An AkiDB REST client. Cheap to clone (connection pool shared).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_key: Option<String>,
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str) -> Result<Self> {
        Self::with_tls(base_url, &TlsOptions::default())
    }

    /// A client for an `https://` server with a private CA and/or a client certificate.
    pub fn with_tls(base_url: &str, tls: &TlsOptions) -> Result<Self> {
        let builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .tcp_nodelay(true);
        let http = tls.apply(builder)?.build()?;
        Self::with_http_client(base_url, http)
    }

    /// A client using a pre-configured `reqwest::Client`.
    pub fn with_http_client(base_url: &str, http: reqwest::Client) -> Result<Self> {
        let base =
            Url::parse(base_url).map_err(|e| ClientError::Url(format!("{base_url}: {e}")))?;
        if base.cannot_be_a_base() {
            return Err(ClientError::Url(base_url.to_string()));
        }
        Ok(Self {
            http,
            base,
            api_key: None,
        })
    }

    /// Sends `Authorization: Bearer <key>` with every request.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        {
            // Checked in the constructor: the base URL can be a base.
            let mut path = url.path_segments_mut().expect("base URL");
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        url
    }

    /// Sends a request and returns the status and body without interpreting them.
    pub async fn raw(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>)> {
        let mut req = self.http.request(method, self.url(segments));
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.bytes().await?.to_vec()))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Value>,
    ) -> Result<T> {
        let body = body
            .map(|b| serde_json::to_vec(&b))
            .transpose()
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let (status, bytes) = self.raw(method, segments, body).await?;
        if !StatusCode::from_u16(status).is_ok_and(|s| s.is_success()) {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(e) => ClientError::Api {
                    status,
                    code: e.error.code,
                    message: e.error.message,
                },
                Err(_) => ClientError::Api {
                    status,
                    code: "http_error".into(),
                    message: String::from_utf8_lossy(&bytes).into_owned(),
                },
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            ClientError::Decode(format!(
                "{e}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            ))
        })
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<()> {
        self.call::<Value>(Method::GET, &["health"], None)
            .await
            .map(|_| ())
    }

    /// `GET /ready`: true once recovery has finished.
    pub async fn ready(&self) -> Result<bool> {
        match self.call::<Value>(Method::GET, &["ready"], None).await {
            Ok(_) => Ok(true),
            Err(ClientError::Api { status: 503, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET /metrics` (Prometheus text).
    pub async fn metrics(&self) -> Result<String> {
        let (status, body) = self.raw(Method::GET, &["metrics"], None).await?;
        if status != 200 {
            return Err(ClientError::Decode(format!("/metrics answered {status}")));
        }
        String::from_utf8(body).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET /api/v1/openapi.json`.
    pub async fn openapi(&self) -> Result<Value> {
        self.call(Method::GET, &["api", "v1", "openapi.json"], None)
            .await
    }

    /// `POST /api/v1/collections`.
    pub async fn create_collection(&self, config: &CollectionConfig) -> Result<Collection> {
        let body = serde_json::to_value(config).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.call(Method::POST, &["api", "v1", "collections"], Some(body))
            .await
    }

    /// `GET /api/v1/collections`.
    pub async fn list_collections(&self) -> Result<Vec<Collection>> {
        #[derive(Deserialize)]
        struct L {
            collections: Vec<Collection>,
        }
        let l: L = self
            .call(Method::GET, &["api", "v1", "collections"], None)
            .await?;
        Ok(l.collections)
    }

    /// `GET /api/v1/collections/{name}`.
    pub async fn collection(&self, name: &str) -> Result<Collection> {
        self.call(Method::GET, &["api", "v1", "collections", name], None)
            .await
    }

    /// `DELETE /api/v1/collections/{name}`.
    pub async fn drop_collection(&self, name: &str) -> Result<()> {
        self.call::<Value>(Method::DELETE, &["api", "v1", "collections", name], None)
            .await
            .map(|_| ())
    }

    /// `PUT /api/v1/collections/{name}/points`; returns once durable.
    pub async fn upsert(&self, name: &str, points: &[Point]) -> Result<u64> {
        #[derive(Serialize)]
        struct B<'a> {
            points: &'a [Point],
        }
        #[derive(Deserialize)]
        struct A {
            upserted: u64,
        }
        let body =
            serde_json::to_value(B { points }).map_err(|e| ClientError::Decode(e.to_string()))?;
        let a: A = self
            .call(
                Method::PUT,
                &["api", "v1", "collections", name, "points"],
                Some(body),
            )
            .await?;
        Ok(a.upserted)
    }

    /// `GET /api/v1/collections/{name}/points/{id}`.
    pub async fn get(&self, name: &str, id: &PointId) -> Result<Point> {
        let id = id_segment(id);
        self.call(
            Method::GET,
            &["api", "v1", "collections", name, "points", &id],
            None,
        )
        .await
    }

    /// `DELETE /api/v1/collections/{name}/points/{id}`; returns 1 if it existed.
    pub async fn delete(&self, name: &str, id: &PointId) -> Result<u64> {
        let id = id_segment(id);
        let v: Value = self
            .call(
                Method::DELETE,
                &["api", "v1", "collections", name, "points", &id],
                None,
            )
            .await?;
        deleted(v)
    }

    /// `POST /api/v1/collections/{name}/points/delete` with ids.
    pub async fn delete_ids(&self, name: &str, ids: &[PointId]) -> Result<u64> {
        let v: Value = self
            .call(
                Method::POST,
                &["api", "v1", "collections", name, "points", "delete"],
                Some(json!({ "ids": ids })),
            )
            .await?;
        deleted(v)
    }

    /// `POST /api/v1/collections/{name}/points/delete` with a filter.
    pub async fn delete_by_filter(&self, name: &str, filter: &Filter) -> Result<u64> {
        let v: Value = self
            .call(
                Method::POST,
                &["api", "v1", "collections", name, "points", "delete"],
                Some(json!({ "filter": filter })),
            )
            .await?;
        deleted(v)
    }

    /// `POST /api/v1/collections/{name}/search`: hits best first.
    pub async fn search(&self, name: &str, request: &SearchRequest) -> Result<Vec<Hit>> {
        #[derive(Deserialize)]
        struct A {
            hits: Vec<Hit>,
        }
        let body = serde_json::to_value(request).map_err(|e| ClientError::Decode(e.to_string()))?;
        let a: A = self
            .call(
                Method::POST,
                &["api", "v1", "collections", name, "search"],
                Some(body),
            )
            .await?;
        Ok(a.hits)
    }

    /// `POST /api/v1/collections/{name}/search/batch`: results in request order.
    pub async fn search_batch(
        &self,
        name: &str,
        requests: &[SearchRequest],
    ) -> Result<Vec<Vec<Hit>>> {
        #[derive(Deserialize)]
        struct R {
            hits: Vec<Hit>,
        }
        #[derive(Deserialize)]
        struct A {
            results: Vec<R>,
        }
        let a: A = self
            .call(
                Method::POST,
                &["api", "v1", "collections", name, "search", "batch"],
                Some(json!({ "searches": requests })),
            )
            .await?;
        Ok(a.results.into_iter().map(|r| r.hits).collect())
    }

    fn admin<'a>(name: &'a str, action: &'a str) -> [&'a str; 6] {
        ["api", "v1", "admin", "collections", name, action]
    }

    /// `GET /api/v1/admin/collections/{name}/tier` (never promotes).
    pub async fn tier(&self, name: &str) -> Result<TierInfo> {
        self.call(Method::GET, &Self::admin(name, "tier"), None)
            .await
    }

    /// `POST …/promote`: answers when the collection is hot.
    pub async fn promote(&self, name: &str) -> Result<TierInfo> {
        self.call(Method::POST, &Self::admin(name, "promote"), None)
            .await
    }

    /// `POST …/demote {"to"}`: answers when the move is done.
    pub async fn demote(&self, name: &str, to: Tier) -> Result<TierInfo> {
        self.call(
            Method::POST,
            &Self::admin(name, "demote"),
            Some(json!({ "to": to.as_str() })),
        )
        .await
    }

    /// `POST …/pin`.
    pub async fn pin(&self, name: &str) -> Result<TierInfo> {
        self.call(Method::POST, &Self::admin(name, "pin"), None)
            .await
    }

    /// `POST …/unpin`.
    pub async fn unpin(&self, name: &str) -> Result<TierInfo> {
        self.call(Method::POST, &Self::admin(name, "unpin"), None)
            .await
    }

    /// `POST …/compact`.
    pub async fn compact(&self, name: &str) -> Result<CompactionReport> {
        self.call(Method::POST, &Self::admin(name, "compact"), None)
            .await
    }

    /// `POST …/snapshot`.
    pub async fn snapshot(&self, name: &str) -> Result<SnapshotInfo> {
        self.call(Method::POST, &Self::admin(name, "snapshot"), None)
            .await
    }

    /// `GET …/snapshots`.
    pub async fn list_snapshots(&self, name: &str) -> Result<Vec<SnapshotInfo>> {
        #[derive(Deserialize)]
        struct L {
            snapshots: Vec<SnapshotInfo>,
        }
        let l: L = self
            .call(Method::GET, &Self::admin(name, "snapshots"), None)
            .await?;
        Ok(l.snapshots)
    }

    /// `POST …/restore {"snapshot_id","verify_integrity"}`.
    pub async fn restore(
        &self,
        name: &str,
        snapshot_id: &str,
        verify_integrity: bool,
    ) -> Result<Collection> {
        self.call(
            Method::POST,
            &Self::admin(name, "restore"),
            Some(json!({ "snapshot_id": snapshot_id, "verify_integrity": verify_integrity })),
        )
        .await
    }

    /// `GET /api/v1/admin/dlq` (the JSON document as answered).
    pub async fn dlq(&self) -> Result<Value> {
        self.call(Method::GET, &["api", "v1", "admin", "dlq"], None)
            .await
    }

    /// `POST /api/v1/admin/dlq/retry-all`.
    pub async fn dlq_retry_all(&self) -> Result<Value> {
        self.call(
            Method::POST,
            &["api", "v1", "admin", "dlq", "retry-all"],
            None,
        )
        .await
    }

    /// `POST /api/v1/aliases {"actions":[…]}`: all actions or none.
    pub async fn update_aliases(&self, actions: &[akidb_core::AliasAction]) -> Result<()> {
        self.call::<Value>(
            Method::POST,
            &["api", "v1", "aliases"],
            Some(json!({ "actions": actions })),
        )
        .await
        .map(|_| ())
    }

    /// `GET /api/v1/aliases`, sorted by alias.
    pub async fn list_aliases(&self) -> Result<Vec<akidb_core::AliasInfo>> {
        self.aliases_at(&["api", "v1", "aliases"]).await
    }

    /// `GET /api/v1/collections/{name}/aliases`.
    pub async fn collection_aliases(&self, name: &str) -> Result<Vec<akidb_core::AliasInfo>> {
        self.aliases_at(&["api", "v1", "collections", name, "aliases"])
            .await
    }

    async fn aliases_at(&self, segments: &[&str]) -> Result<Vec<akidb_core::AliasInfo>> {
        #[derive(Deserialize)]
        struct L {
            aliases: Vec<akidb_core::AliasInfo>,
        }
        let l: L = self.call(Method::GET, segments, None).await?;
        Ok(l.aliases)
    }
}

fn id_segment(id: &PointId) -> String {
    match id {
        PointId::Num(n) => n.to_string(),
        PointId::Str(s) => s.clone(),
    }
}

fn deleted(v: Value) -> Result<u64> {
    v.get("deleted")
        .and_then(Value::as_u64)
        .ok_or_else(|| ClientError::Decode(format!("no \"deleted\" count in {v}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_escape_string_ids() {
        let c = Client::new("http://127.0.0.1:1/").unwrap();
        let u = c.url(&["api", "v1", "collections", "c", "points", "a/b c"]);
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:1/api/v1/collections/c/points/a%2Fb%20c"
        );
        assert!(Client::new("not a url").is_err());
    }
}
