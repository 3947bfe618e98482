//! Server configuration: one TOML file plus an `AKIDB_*` environment override for
//! every key. Every key is declared once in [`KEYS`]; parsing, env overrides,
//! error messages and the documentation test all read that table.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use akidb_core::config::parse_duration;

/// The complete, validated server configuration.
#[derive(Clone, PartialEq)]
pub struct Config {
    /// `[server]`
    pub server: ServerSection,
    /// `[storage]`
    pub storage: StorageSection,
    /// `[limits]`
    pub limits: LimitsSection,
    /// `[auth]`
    pub auth: AuthSection,
    /// `[tier]`
    pub tier: TierSection,
    /// `[s3]`
    pub s3: S3Section,
    /// `[object_store]`
    pub object_store: ObjectStoreSection,
    /// `[telemetry]`
    pub telemetry: TelemetrySection,
    /// `[tls]`
    pub tls: TlsSection,
    /// `[replication]`
    pub replication: ReplicationSection,
}

/// Replication on S3 (docs/replication.md).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationSection {
    /// Run as one of several nodes sharing the bucket.
    pub enabled: bool,
    /// This node's id (default: the hostname).
    pub node_id: Option<String>,
    /// Where other nodes reach this node's REST API.
    pub advertise_rest_url: Option<String>,
    /// Where other nodes reach this node's gRPC API.
    pub advertise_grpc_url: Option<String>,
    /// `local` or `object_store`.
    pub ack_object_store: bool,
    /// Longest wait before a record is shipped.
    pub ship_interval: Duration,
    /// Lease length.
    pub lease: Duration,
    /// Lease renewal interval.
    pub renew_interval: Duration,
    /// Most lag at which a follower reports ready.
    pub ready_max_lag: Duration,
    /// How long a read with `min_lsn` waits.
    pub min_lsn_timeout: Duration,
    /// Records between the writer's log-trimming snapshots.
    pub snapshot_records: u64,
}

/// TLS for both listeners (off unless both files are set).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsSection {
    /// PEM certificate chain (leaf first); reloaded when the file changes.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the leaf certificate; reloaded with it.
    pub key_file: Option<PathBuf>,
    /// PEM CA bundle; when set, clients must present a certificate it signed.
    pub client_ca_file: Option<PathBuf>,
}

/// The start-up error when only one of the TLS certificate and key is set.
pub const TLS_PAIR_ERROR: &str = "TLS needs both tls.cert_file (AKIDB_TLS_CERT_FILE) and \
     tls.key_file (AKIDB_TLS_KEY_FILE); only one is set: set the other too, or unset both \
     to serve plain HTTP";

/// Listener addresses and shutdown.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSection {
    /// REST (HTTP/JSON) listen address.
    pub rest_addr: SocketAddr,
    /// gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
}

/// On-disk state and durability.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageSection {
    /// Root directory of all data.
    pub data_dir: PathBuf,
    /// `true` = fsync every write before acknowledging (`wal_sync = "always"`).
    pub wal_sync_always: bool,
    /// Size at which a WAL file is rotated.
    pub wal_segment_bytes: u64,
    /// WAL size that triggers an automatic snapshot.
    pub wal_snapshot_bytes: u64,
    /// Points per mutable segment before it is sealed and indexed.
    pub segment_max_points: usize,
    /// Deleted fraction that triggers compaction.
    pub compaction_deleted_ratio: f64,
    /// Snapshots kept per collection.
    pub snapshot_retention: usize,
}

/// Request limits.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsSection {
    /// Largest `k` of a search.
    pub max_k: usize,
    /// Largest payload of one point (compact JSON bytes).
    pub max_payload_bytes: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Most points in one upsert, most ids in one delete.
    pub max_batch_points: usize,
    /// Most searches in one batch search.
    pub max_batch_searches: usize,
}

/// API keys.
#[derive(Clone, PartialEq, Default)]
pub struct AuthSection {
    /// Full-access key; `None` = no auth for full access.
    pub api_key: Option<String>,
    /// Key allowed only reads and searches.
    pub read_only_api_key: Option<String>,
}

/// Tier policy.
#[derive(Debug, Clone, PartialEq)]
pub struct TierSection {
    /// Whether collections may move to the object store.
    pub cold_tier_enabled: bool,
    /// Idle time before hot → warm.
    pub hot_idle: Duration,
    /// Idle time before warm → cold.
    pub warm_idle: Duration,
    /// Hot bytes above which least-recently-used collections are evicted.
    pub hot_memory_budget: Option<u64>,
    /// How often the policy is checked.
    pub check_interval: Duration,
}

/// S3 object store.
#[derive(Clone, PartialEq, Default)]
pub struct S3Section {
    /// Use S3 instead of the local object store.
    pub enabled: bool,
    /// Endpoint URL (empty = AWS).
    pub endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// Bucket.
    pub bucket: Option<String>,
    /// Path-style addressing (MinIO, SeaweedFS).
    pub path_style: bool,
    /// Access key id (else the AWS chain).
    pub access_key_id: Option<String>,
    /// Secret access key (else the AWS chain).
    pub secret_access_key: Option<String>,
}

/// Circuit breaker around object-store calls.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectStoreSection {
    /// Open after this many failures in a row.
    pub breaker_consecutive_failures: u32,
    /// Open when this fraction of recent calls failed.
    pub breaker_failure_rate: f64,
    /// Stay open this long before a probe.
    pub breaker_cool_down: Duration,
}

/// Logs and traces.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetrySection {
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `akidb=debug,info`.
    pub log_level: String,
    /// OTLP/HTTP endpoint for traces, e.g. `http://collector:4318`.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of exported traces.
    pub otlp_service_name: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn redact(v: &Option<String>) -> &'static str {
    if v.is_some() {
        "<set>"
    } else {
        "<unset>"
    }
}

impl std::fmt::Debug for AuthSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSection")
            .field("api_key", &redact(&self.api_key))
            .field("read_only_api_key", &redact(&self.read_only_api_key))
            .finish()
    }
}

impl std::fmt::Debug for S3Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Section")
            .field("enabled", &self.enabled)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("path_style", &self.path_style)
            .field("access_key_id", &redact(&self.access_key_id))
            .field("secret_access_key", &redact(&self.secret_access_key))
            .finish()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("server", &self.server)
            .field("storage", &self.storage)
            .field("limits", &self.limits)
            .field("auth", &self.auth)
            .field("tier", &self.tier)
            .field("s3", &self.s3)
            .field("object_store", &self.object_store)
            .field("telemetry", &self.telemetry)
            .field("tls", &self.tls)
            .field("replication", &self.replication)
            .finish()
    }
}

/// A raw value before parsing: from the TOML file or from the environment.
#[derive(Debug, Clone)]
pub enum Raw {
    /// A typed TOML value.
    Toml(toml::Value),
    /// An environment variable's text.
    Env(String),
}

type Setter = fn(&mut Config, &Raw) -> Result<(), String>;

/// One configuration key: where it lives, its env var, its default and its parser.
pub struct Key {
    /// TOML table.
    pub section: &'static str,
    /// Key inside the table.
    pub name: &'static str,
    /// Environment variable overriding it.
    pub env: &'static str,
    /// Default, as written in the docs.
    pub default: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
    set: Setter,
}

impl Key {
    /// `section.name`.
    pub fn path(&self) -> String {
        format!("{}.{}", self.section, self.name)
    }
}

fn as_str(raw: &Raw) -> Result<String, String> {
    match raw {
        Raw::Env(s) => Ok(s.clone()),
        Raw::Toml(toml::Value::String(s)) => Ok(s.clone()),
        Raw::Toml(v) => Err(format!("expected a string, got {}", v.type_str())),
    }
}

fn opt_str(raw: &Raw) -> Result<Option<String>, String> {
    let s = as_str(raw)?;
    Ok(if s.is_empty() { None } else { Some(s) })
}

fn as_bool(raw: &Raw) -> Result<bool, String> {
    match raw {
        Raw::Toml(toml::Value::Boolean(b)) => Ok(*b),
        Raw::Env(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("expected true or false, got '{s}'")),
        },
        Raw::Toml(v) => Err(format!("expected a boolean, got {}", v.type_str())),
    }
}

fn as_u64(raw: &Raw) -> Result<u64, String> {
    match raw {
        Raw::Toml(toml::Value::Integer(i)) if *i >= 0 => Ok(*i as u64),
        Raw::Toml(toml::Value::Integer(i)) => {
            Err(format!("expected a non-negative integer, got {i}"))
        }
        Raw::Env(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("expected a non-negative integer, got '{s}'")),
        Raw::Toml(v) => Err(format!("expected an integer, got {}", v.type_str())),
    }
}

fn as_positive(raw: &Raw) -> Result<usize, String> {
    match as_u64(raw)? {
        0 => Err("must be at least 1".into()),
        n => usize::try_from(n).map_err(|_| format!("{n} is too large")),
    }
}

/// Bytes: an integer, or a string with a KiB/MiB/GiB (or KB/MB/GB) suffix.
fn as_bytes(raw: &Raw) -> Result<u64, String> {
    let text = match raw {
        Raw::Toml(toml::Value::String(s)) | Raw::Env(s) => s.trim().to_string(),
        _ => return as_u64(raw),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let bad = || format!("expected a size such as 65536, \"64KiB\" or \"32MiB\", got '{text}'");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

fn as_duration(raw: &Raw) -> Result<Duration, String> {
    let s = as_str(raw)?;
    parse_duration(&s).map_err(|e| e.message().to_string())
}

fn as_f64(raw: &Raw) -> Result<f64, String> {
    match raw {
        Raw::Toml(toml::Value::Float(f)) => Ok(*f),
        Raw::Toml(toml::Value::Integer(i)) => Ok(*i as f64),
        Raw::Env(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("expected a number, got '{s}'")),
        Raw::Toml(v) => Err(format!("expected a number, got {}", v.type_str())),
    }
}

fn as_addr(raw: &Raw) -> Result<SocketAddr, String> {
    let s = as_str(raw)?;
    s.trim()
        .parse()
        .map_err(|_| format!("expected an address such as 127.0.0.1:8080, got '{s}'"))
}

/// Every key the server understands. `docs/configuration.md` documents each (a test checks).
pub static KEYS: &[Key] = &[
    Key { section: "server", name: "rest_addr", env: "AKIDB_REST_ADDR", default: "127.0.0.1:8080",
        doc: "REST (HTTP/JSON) listen address",
        set: |c, r| { c.server.rest_addr = as_addr(r)?; Ok(()) } },
    Key { section: "server", name: "grpc_addr", env: "AKIDB_GRPC_ADDR", default: "127.0.0.1:9090",
        doc: "gRPC listen address",
        set: |c, r| { c.server.grpc_addr = as_addr(r)?; Ok(()) } },
    Key { section: "server", name: "shutdown_grace", env: "AKIDB_SHUTDOWN_GRACE", default: "8s",
        doc: "time in-flight requests get to finish after SIGTERM/SIGINT before the server flushes and exits",
        set: |c, r| { c.server.shutdown_grace = as_duration(r)?; Ok(()) } },
    Key { section: "storage", name: "data_dir", env: "AKIDB_DATA_DIR", default: "./akidb-data",
        doc: "directory holding every collection, the local object store and the dead-letter queue",
        set: |c, r| { let s = as_str(r)?; if s.is_empty() { return Err("must not be empty".into()) } c.storage.data_dir = s.into(); Ok(()) } },
    Key { section: "storage", name: "wal_sync", env: "AKIDB_WAL_SYNC", default: "always",
        doc: "`always`: fsync every write before acknowledging it; `never`: UNSAFE, loses acknowledged writes on a crash (benchmarks only)",
        set: |c, r| { c.storage.wal_sync_always = match as_str(r)?.as_str() { "always" => true, "never" => false, o => return Err(format!("expected \"always\" or \"never\", got '{o}'")) }; Ok(()) } },
    Key { section: "storage", name: "wal_segment_bytes", env: "AKIDB_WAL_SEGMENT_BYTES", default: "64MiB",
        doc: "size at which a WAL file is closed and a new one started",
        set: |c, r| { c.storage.wal_segment_bytes = as_bytes(r)?.max(1); Ok(()) } },
    Key { section: "storage", name: "wal_snapshot_bytes", env: "AKIDB_WAL_SNAPSHOT_BYTES", default: "256MiB",
        doc: "a collection is snapshotted automatically once its WAL grows past this size",
        set: |c, r| { c.storage.wal_snapshot_bytes = as_bytes(r)?.max(1); Ok(()) } },
    Key { section: "storage", name: "segment_max_points", env: "AKIDB_SEGMENT_MAX_POINTS", default: "20000",
        doc: "points in the mutable (exactly searched) segment before it is sealed into an HNSW segment",
        set: |c, r| { c.storage.segment_max_points = as_positive(r)?; Ok(()) } },
    Key { section: "storage", name: "compaction_deleted_ratio", env: "AKIDB_COMPACTION_DELETED_RATIO", default: "0.2",
        doc: "fraction of deleted rows that triggers automatic compaction (0 < x <= 1)",
        set: |c, r| { let f = as_f64(r)?; if !(f > 0.0 && f <= 1.0) { return Err(format!("must be in (0, 1], got {f}")) } c.storage.compaction_deleted_ratio = f; Ok(()) } },
    Key { section: "storage", name: "snapshot_retention", env: "AKIDB_SNAPSHOT_RETENTION", default: "3",
        doc: "snapshots kept per collection",
        set: |c, r| { c.storage.snapshot_retention = as_positive(r)?; Ok(()) } },
    Key { section: "limits", name: "max_k", env: "AKIDB_MAX_K", default: "10000",
        doc: "largest `k` of a search; outside 1..=max_k answers 400 `invalid_k`",
        set: |c, r| { c.limits.max_k = as_positive(r)?; Ok(()) } },
    Key { section: "limits", name: "max_payload_bytes", env: "AKIDB_MAX_PAYLOAD_BYTES", default: "64KiB",
        doc: "largest payload of one point (compact JSON); over answers 413 `payload_too_large`",
        set: |c, r| { c.limits.max_payload_bytes = as_bytes(r)?.max(1) as usize; Ok(()) } },
    Key { section: "limits", name: "max_body_bytes", env: "AKIDB_MAX_BODY_BYTES", default: "32MiB",
        doc: "largest REST request body and gRPC message; over answers 413 `payload_too_large`",
        set: |c, r| { c.limits.max_body_bytes = as_bytes(r)?.max(1) as usize; Ok(()) } },
    Key { section: "limits", name: "max_batch_points", env: "AKIDB_MAX_BATCH_POINTS", default: "10000",
        doc: "most points in one upsert and most ids in one delete; over answers 413 `batch_too_large`",
        set: |c, r| { c.limits.max_batch_points = as_positive(r)?; Ok(()) } },
    Key { section: "limits", name: "max_batch_searches", env: "AKIDB_MAX_BATCH_SEARCHES", default: "100",
        doc: "most searches in one batch search; over answers 413 `batch_too_large`",
        set: |c, r| { c.limits.max_batch_searches = as_positive(r)?; Ok(()) } },
    Key { section: "auth", name: "api_key", env: "AKIDB_API_KEY", default: "(unset: no authentication)",
        doc: "full-access API key; when set (or when read_only_api_key is set) every /api route needs a key",
        set: |c, r| { c.auth.api_key = opt_str(r)?; Ok(()) } },
    Key { section: "auth", name: "read_only_api_key", env: "AKIDB_READ_ONLY_API_KEY", default: "(unset)",
        doc: "key allowed GET routes and searches only; writes with it answer 403 `forbidden`",
        set: |c, r| { c.auth.read_only_api_key = opt_str(r)?; Ok(()) } },
    Key { section: "tier", name: "cold_tier_enabled", env: "AKIDB_COLD_TIER_ENABLED", default: "true",
        doc: "whether idle collections move to the object store (cold tier)",
        set: |c, r| { c.tier.cold_tier_enabled = as_bool(r)?; Ok(()) } },
    Key { section: "tier", name: "hot_idle", env: "AKIDB_HOT_IDLE", default: "6h",
        doc: "idle time after which a hot collection is evicted from RAM (warm)",
        set: |c, r| { c.tier.hot_idle = as_duration(r)?; Ok(()) } },
    Key { section: "tier", name: "warm_idle", env: "AKIDB_WARM_IDLE", default: "7d",
        doc: "idle time after which a warm collection moves to the object store (cold)",
        set: |c, r| { c.tier.warm_idle = as_duration(r)?; Ok(()) } },
    Key { section: "tier", name: "hot_memory_budget", env: "AKIDB_HOT_MEMORY_BUDGET", default: "(unset: unlimited)",
        doc: "bytes of hot collections above which the least recently used are evicted",
        set: |c, r| { c.tier.hot_memory_budget = match r { Raw::Env(s) if s.is_empty() => None, _ => Some(as_bytes(r)?) }; Ok(()) } },
    Key { section: "tier", name: "check_interval", env: "AKIDB_TIER_CHECK_INTERVAL", default: "30s",
        doc: "how often the tier policy is evaluated",
        set: |c, r| { c.tier.check_interval = as_duration(r)?; Ok(()) } },
    Key { section: "s3", name: "enabled", env: "AKIDB_S3_ENABLED", default: "false",
        doc: "use S3 as the object store (cold tier, snapshots) instead of `<data_dir>/objects`",
        set: |c, r| { c.s3.enabled = as_bool(r)?; Ok(()) } },
    Key { section: "s3", name: "endpoint", env: "AKIDB_S3_ENDPOINT", default: "(unset: AWS)",
        doc: "S3 endpoint URL, e.g. `http://127.0.0.1:8333` for SeaweedFS or MinIO",
        set: |c, r| { c.s3.endpoint = opt_str(r)?; Ok(()) } },
    Key { section: "s3", name: "region", env: "AKIDB_S3_REGION", default: "us-east-1",
        doc: "S3 region",
        set: |c, r| { c.s3.region = as_str(r)?; Ok(()) } },
    Key { section: "s3", name: "bucket", env: "AKIDB_S3_BUCKET", default: "(unset; required when enabled)",
        doc: "S3 bucket",
        set: |c, r| { c.s3.bucket = opt_str(r)?; Ok(()) } },
    Key { section: "s3", name: "path_style", env: "AKIDB_S3_PATH_STYLE", default: "false",
        doc: "path-style addressing (needed by most S3-compatible servers)",
        set: |c, r| { c.s3.path_style = as_bool(r)?; Ok(()) } },
    Key { section: "s3", name: "access_key_id", env: "AKIDB_S3_ACCESS_KEY_ID", default: "(unset: standard AWS_* chain)",
        doc: "S3 access key id",
        set: |c, r| { c.s3.access_key_id = opt_str(r)?; Ok(()) } },
    Key { section: "s3", name: "secret_access_key", env: "AKIDB_S3_SECRET_ACCESS_KEY", default: "(unset: standard AWS_* chain)",
        doc: "S3 secret access key",
        set: |c, r| { c.s3.secret_access_key = opt_str(r)?; Ok(()) } },
    Key { section: "object_store", name: "breaker_consecutive_failures", env: "AKIDB_BREAKER_CONSECUTIVE_FAILURES", default: "5",
        doc: "the object-store circuit breaker opens after this many failed calls in a row",
        set: |c, r| { c.object_store.breaker_consecutive_failures = u32::try_from(as_positive(r)?).map_err(|_| "too large".to_string())?; Ok(()) } },
    Key { section: "object_store", name: "breaker_failure_rate", env: "AKIDB_BREAKER_FAILURE_RATE", default: "0.5",
        doc: "... or when this fraction of the last 20 calls failed (0 < x <= 1)",
        set: |c, r| { let f = as_f64(r)?; if !(f > 0.0 && f <= 1.0) { return Err(format!("must be in (0, 1], got {f}")) } c.object_store.breaker_failure_rate = f; Ok(()) } },
    Key { section: "object_store", name: "breaker_cool_down", env: "AKIDB_BREAKER_COOL_DOWN", default: "30s",
        doc: "how long the breaker stays open before letting a probe call through (half-open)",
        set: |c, r| { c.object_store.breaker_cool_down = as_duration(r)?; Ok(()) } },
    Key { section: "telemetry", name: "log_format", env: "AKIDB_LOG_FORMAT", default: "text",
        doc: "`text` or `json` log lines (on stderr)",
        set: |c, r| { c.telemetry.log_format = match as_str(r)?.as_str() { "text" => LogFormat::Text, "json" => LogFormat::Json, o => return Err(format!("expected \"text\" or \"json\", got '{o}'")) }; Ok(()) } },
    Key { section: "telemetry", name: "log_level", env: "AKIDB_LOG_LEVEL", default: "info",
        doc: "log filter (tracing `EnvFilter` syntax, e.g. `info` or `akidb_engine=debug,info`)",
        set: |c, r| { let s = as_str(r)?; tracing_subscriber::EnvFilter::try_new(&s).map_err(|e| format!("not a log filter: {e}"))?; c.telemetry.log_level = s; Ok(()) } },
    Key { section: "telemetry", name: "otlp_endpoint", env: "AKIDB_OTLP_ENDPOINT", default: "(unset: no trace export)",
        doc: "OTLP/HTTP (protobuf) collector base URL, e.g. `http://127.0.0.1:4318`; traces go to `<url>/v1/traces`",
        set: |c, r| { c.telemetry.otlp_endpoint = opt_str(r)?; Ok(()) } },
    Key { section: "telemetry", name: "otlp_service_name", env: "AKIDB_OTLP_SERVICE_NAME", default: "akidb",
        doc: "`service.name` resource attribute of exported traces",
        set: |c, r| { c.telemetry.otlp_service_name = as_str(r)?; Ok(()) } },
    Key { section: "tls", name: "cert_file", env: "AKIDB_TLS_CERT_FILE", default: "(unset: plain HTTP)",
        doc: "PEM certificate chain (leaf first) served on both the REST and gRPC ports; with `tls.key_file` turns TLS on; re-read every 2 s, a changed file is served to new connections without a restart",
        set: |c, r| { c.tls.cert_file = opt_str(r)?.map(PathBuf::from); Ok(()) } },
    Key { section: "tls", name: "key_file", env: "AKIDB_TLS_KEY_FILE", default: "(unset: plain HTTP)",
        doc: "PEM private key (PKCS#8, PKCS#1 or SEC1) of the certificate in `tls.cert_file`; reloaded with it",
        set: |c, r| { c.tls.key_file = opt_str(r)?.map(PathBuf::from); Ok(()) } },
    Key { section: "tls", name: "client_ca_file", env: "AKIDB_TLS_CLIENT_CA_FILE", default: "(unset: no client certificates)",
        doc: "PEM CA bundle; when set, every client must present a certificate signed by it (mutual TLS) or the handshake is refused; read at start-up",
        set: |c, r| { c.tls.client_ca_file = opt_str(r)?.map(PathBuf::from); Ok(()) } },
    Key { section: "replication", name: "enabled", env: "AKIDB_REPLICATION_ENABLED", default: "false",
        doc: "run as one of several nodes sharing the S3 bucket: one writer per collection, followers that apply its log and forward writes (needs `s3.enabled`; turns the tier policy off)",
        set: |c, r| { c.replication.enabled = as_bool(r)?; Ok(()) } },
    Key { section: "replication", name: "node_id", env: "AKIDB_NODE_ID", default: "(the hostname)",
        doc: "this node's id in leases and in `POST …/handover {\"to\"}`; unique per node",
        set: |c, r| { c.replication.node_id = opt_str(r)?; Ok(()) } },
    Key { section: "replication", name: "advertise_rest_url", env: "AKIDB_ADVERTISE_REST_URL", default: "(http://<rest_addr>)",
        doc: "the URL other nodes forward REST writes to",
        set: |c, r| { c.replication.advertise_rest_url = opt_str(r)?; Ok(()) } },
    Key { section: "replication", name: "advertise_grpc_url", env: "AKIDB_ADVERTISE_GRPC_URL", default: "(http://<grpc_addr>)",
        doc: "the URL other nodes forward gRPC writes to",
        set: |c, r| { c.replication.advertise_grpc_url = opt_str(r)?; Ok(()) } },
    Key { section: "replication", name: "ack", env: "AKIDB_REPLICATION_ACK", default: "local",
        doc: "`local`: acknowledge after the local fsync (a writer's crash loses at most the unshipped tail); `object_store`: after the log object holding the write is in the bucket (nothing acknowledged is lost)",
        set: |c, r| { c.replication.ack_object_store = match as_str(r)?.as_str() { "local" => false, "object_store" => true, o => return Err(format!("expected \"local\" or \"object_store\", got '{o}'")) }; Ok(()) } },
    Key { section: "replication", name: "ship_interval", env: "AKIDB_REPLICATION_SHIP_INTERVAL", default: "200ms",
        doc: "longest time a write waits before the writer ships it to the bucket (also how often followers poll)",
        set: |c, r| { c.replication.ship_interval = as_duration(r)?.max(Duration::from_millis(1)); Ok(()) } },
    Key { section: "replication", name: "lease", env: "AKIDB_REPLICATION_LEASE", default: "10s",
        doc: "lease length: a follower takes over after seeing the writer's lease unchanged this long",
        set: |c, r| { c.replication.lease = as_duration(r)?; Ok(()) } },
    Key { section: "replication", name: "renew_interval", env: "AKIDB_REPLICATION_RENEW_INTERVAL", default: "3s",
        doc: "how often the writer renews its lease; it stops acknowledging writes `lease - renew_interval` after the last renewal it sent",
        set: |c, r| { c.replication.renew_interval = as_duration(r)?; Ok(()) } },
    Key { section: "replication", name: "ready_max_lag", env: "AKIDB_REPLICATION_READY_MAX_LAG", default: "2s",
        doc: "a follower answers `/ready` only once every collection it follows is caught up within this",
        set: |c, r| { c.replication.ready_max_lag = as_duration(r)?; Ok(()) } },
    Key { section: "replication", name: "min_lsn_timeout", env: "AKIDB_REPLICATION_MIN_LSN_TIMEOUT", default: "5s",
        doc: "how long a read with `\"consistency\":{\"min_lsn\":N}` waits for this node before 504 `replica_behind`",
        set: |c, r| { c.replication.min_lsn_timeout = as_duration(r)?; Ok(()) } },
    Key { section: "replication", name: "snapshot_records", env: "AKIDB_REPLICATION_SNAPSHOT_RECORDS", default: "20000",
        doc: "every this many WAL records the writer takes a snapshot (uploaded) and removes the log objects it covers; new and rebuilt followers start from that snapshot",
        set: |c, r| { c.replication.snapshot_records = as_positive(r)? as u64; Ok(()) } },
];

/// Environment variables read besides the keys' own.
pub const EXTRA_ENV: &[&str] = &["AKIDB_CONFIG"];

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerSection {
                rest_addr: "127.0.0.1:8080".parse().expect("literal"),
                grpc_addr: "127.0.0.1:9090".parse().expect("literal"),
                shutdown_grace: Duration::from_secs(8),
            },
            storage: StorageSection {
                data_dir: PathBuf::from("./akidb-data"),
                wal_sync_always: true,
                wal_segment_bytes: 64 << 20,
                wal_snapshot_bytes: 256 << 20,
                segment_max_points: 20_000,
                compaction_deleted_ratio: 0.2,
                snapshot_retention: 3,
            },
            limits: LimitsSection {
                max_k: akidb_core::DEFAULT_MAX_K,
                max_payload_bytes: akidb_core::DEFAULT_MAX_PAYLOAD_BYTES,
                max_body_bytes: 32 << 20,
                max_batch_points: 10_000,
                max_batch_searches: 100,
            },
            auth: AuthSection::default(),
            tier: TierSection {
                cold_tier_enabled: true,
                hot_idle: Duration::from_secs(6 * 3600),
                warm_idle: Duration::from_secs(7 * 86_400),
                hot_memory_budget: None,
                check_interval: Duration::from_secs(30),
            },
            s3: S3Section {
                region: "us-east-1".into(),
                ..S3Section::default()
            },
            object_store: ObjectStoreSection {
                breaker_consecutive_failures: 5,
                breaker_failure_rate: 0.5,
                breaker_cool_down: Duration::from_secs(30),
            },
            telemetry: TelemetrySection {
                log_format: LogFormat::Text,
                log_level: "info".into(),
                otlp_endpoint: None,
                otlp_service_name: "akidb".into(),
            },
            tls: TlsSection::default(),
            replication: ReplicationSection {
                enabled: false,
                node_id: None,
                advertise_rest_url: None,
                advertise_grpc_url: None,
                ack_object_store: false,
                ship_interval: Duration::from_millis(200),
                lease: Duration::from_secs(10),
                renew_interval: Duration::from_secs(3),
                ready_max_lag: Duration::from_secs(2),
                min_lsn_timeout: Duration::from_secs(5),
                snapshot_records: 20_000,
            },
        }
    }
}

/// The result of loading: the config and the warnings to log once logging is up.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Non-fatal notes (unknown `AKIDB_*` variables).
    pub warnings: Vec<String>,
}

impl Config {
    /// Loads `file` (if any), then applies `env` (`AKIDB_*` pairs) on top.
    ///
    /// Unknown keys or sections in the file and bad values anywhere are errors naming
    /// the key; unknown `AKIDB_*` variables only produce warnings.
    pub fn load(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, String> {
        let mut config = Config::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            config
                .apply_toml(&text)
                .map_err(|e| format!("config file {}: {e}", path.display()))?;
        }
        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("AKIDB_"))
            .collect();
        let mut warnings = Vec::new();
        for (name, value) in &env {
            match KEYS.iter().find(|k| k.env == name) {
                Some(key) => (key.set)(&mut config, &Raw::Env(value.clone())).map_err(|e| {
                    format!("environment variable {name} (config key {}): {e}", key.path())
                })?,
                None if EXTRA_ENV.contains(&name.as_str()) => {}
                None => warnings.push(format!(
                    "ignoring unknown environment variable {name} (not an AkiDB setting; see docs/configuration.md)"
                )),
            }
        }
        config.validate()?;
        Ok(Loaded { config, warnings })
    }

    /// Applies a TOML document; every key must be known.
    pub fn apply_toml(&mut self, text: &str) -> Result<(), String> {
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
        for (section, value) in &doc {
            let table = value.as_table().ok_or_else(|| {
                if KEYS.iter().any(|k| k.name == section) {
                    format!("key '{section}' must be inside its [section] table (see docs/configuration.md)")
                } else {
                    format!("unknown top-level key '{section}' (known sections: server, storage, limits, auth, tier, s3, object_store, telemetry, tls)")
                }
            })?;
            if !KEYS.iter().any(|k| k.section == section) {
                return Err(format!(
                    "unknown section [{section}] (known: server, storage, limits, auth, tier, s3, object_store, telemetry, tls)"
                ));
            }
            for (name, v) in table {
                let key = KEYS
                    .iter()
                    .find(|k| k.section == section && k.name == name)
                    .ok_or_else(|| {
                        let known: Vec<&str> = KEYS
                            .iter()
                            .filter(|k| k.section == section)
                            .map(|k| k.name)
                            .collect();
                        format!(
                            "unknown key '{section}.{name}' (known in [{section}]: {})",
                            known.join(", ")
                        )
                    })?;
                (key.set)(self, &Raw::Toml(v.clone()))
                    .map_err(|e| format!("bad value for key '{}': {e}", key.path()))?;
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), String> {
        if self.server.rest_addr == self.server.grpc_addr {
            return Err(format!(
                "server.rest_addr and server.grpc_addr are both {}; they must differ",
                self.server.rest_addr
            ));
        }
        if self.s3.enabled && self.s3.bucket.is_none() {
            return Err(
                "s3.enabled is true but s3.bucket (AKIDB_S3_BUCKET) is not set".to_string(),
            );
        }
        if self.replication.enabled && !self.s3.enabled {
            return Err(
                "replication.enabled (AKIDB_REPLICATION_ENABLED) needs S3: the bucket is \
                 the replicas' shared source of truth; set s3.enabled and s3.bucket"
                    .into(),
            );
        }
        if self.replication.enabled && self.replication.renew_interval >= self.replication.lease {
            return Err(format!(
                "replication.renew_interval ({:?}) must be shorter than replication.lease ({:?})",
                self.replication.renew_interval, self.replication.lease
            ));
        }
        if self.auth.api_key.is_some() && self.auth.api_key == self.auth.read_only_api_key {
            return Err("auth.api_key and auth.read_only_api_key must differ".into());
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(TLS_PAIR_ERROR.into());
        }
        if self.tls.client_ca_file.is_some() && self.tls.cert_file.is_none() {
            return Err(
                "tls.client_ca_file (AKIDB_TLS_CLIENT_CA_FILE) needs TLS: set \
                 tls.cert_file (AKIDB_TLS_CERT_FILE) and tls.key_file (AKIDB_TLS_KEY_FILE) too"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Loaded, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("akidb.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load(
            Some(&path),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn defaults_serve_an_embedded_node() {
        let c = Config::load(None, Vec::new()).unwrap().config;
        assert_eq!(c.server.rest_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.server.grpc_addr.to_string(), "127.0.0.1:9090");
        assert_eq!(c.storage.data_dir, PathBuf::from("./akidb-data"));
        assert!(c.tier.cold_tier_enabled);
        assert!(!c.s3.enabled);
        assert_eq!(c.limits.max_k, 10_000);
        assert_eq!(c.limits.max_body_bytes, 32 << 20);
    }

    #[test]
    fn every_key_parses_its_documented_default_and_has_a_unique_env_name() {
        let mut seen = std::collections::HashSet::new();
        for key in KEYS {
            assert!(key.env.starts_with("AKIDB_"), "{}", key.env);
            assert!(seen.insert(key.env), "duplicate env {}", key.env);
            if key.default.starts_with('(') {
                continue;
            }
            let mut c = Config::default();
            (key.set)(&mut c, &Raw::Env(key.default.to_string()))
                .unwrap_or_else(|e| panic!("{}: {e}", key.path()));
            assert_eq!(
                c,
                Config::default(),
                "default of {} differs from the code",
                key.path()
            );
        }
    }

    #[test]
    fn file_then_env_override() {
        let l = load(
            "[server]\nrest_addr = \"0.0.0.0:1\"\n[limits]\nmax_k = 50\nmax_body_bytes = \"1MiB\"\n",
            &[("AKIDB_MAX_K", "70"), ("AKIDB_S3_PATH_STYLE", "true")],
        )
        .unwrap();
        assert_eq!(l.config.server.rest_addr.to_string(), "0.0.0.0:1");
        assert_eq!(l.config.limits.max_k, 70);
        assert_eq!(l.config.limits.max_body_bytes, 1 << 20);
        assert!(l.config.s3.path_style);
        assert!(l.warnings.is_empty());
    }

    #[test]
    fn unknown_file_keys_and_bad_values_name_the_key() {
        let e = load("[server]\nrest_adr = \"x\"\n", &[]).unwrap_err();
        assert!(e.contains("server.rest_adr"), "{e}");
        let e = load("[servr]\n", &[]).unwrap_err();
        assert!(e.contains("[servr]"), "{e}");
        let e = load("[limits]\nmax_k = \"many\"\n", &[]).unwrap_err();
        assert!(e.contains("limits.max_k"), "{e}");
        let e = load("[limits]\nmax_k = 0\n", &[]).unwrap_err();
        assert!(e.contains("limits.max_k"), "{e}");
        let e = load("[tier]\nhot_idle = \"soon\"\n", &[]).unwrap_err();
        assert!(e.contains("tier.hot_idle"), "{e}");
        let e = load("", &[("AKIDB_REST_ADDR", "nowhere")]).unwrap_err();
        assert!(
            e.contains("AKIDB_REST_ADDR") && e.contains("server.rest_addr"),
            "{e}"
        );
        let e = load("", &[("AKIDB_LOG_FORMAT", "xml")]).unwrap_err();
        assert!(e.contains("AKIDB_LOG_FORMAT"), "{e}");
        let e = load("max_k = 3\n", &[]).unwrap_err();
        assert!(e.contains("max_k"), "{e}");
        let e = load("[s3]\nenabled = true\n", &[]).unwrap_err();
        assert!(e.contains("s3.bucket"), "{e}");
    }

    #[test]
    fn unknown_env_vars_only_warn() {
        let l = load(
            "",
            &[
                ("AKIDB_SERVICE_HOST", "10.0.0.1"),
                ("AKIDB_PORT", "tcp://10.0.0.1:8080"),
                ("HOME", "/root"),
            ],
        )
        .unwrap();
        assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
        assert!(l.warnings[0].contains("AKIDB_PORT"));
    }

    #[test]
    fn tls_needs_both_cert_and_key() {
        let e = load("", &[("AKIDB_TLS_CERT_FILE", "/etc/akidb/tls.crt")]).unwrap_err();
        assert!(
            e.contains("AKIDB_TLS_KEY_FILE") && e.contains("set the other"),
            "{e}"
        );
        let e = load("[tls]\nkey_file = \"/k.pem\"\n", &[]).unwrap_err();
        assert!(e.contains("tls.cert_file"), "{e}");
        let e = load("", &[("AKIDB_TLS_CLIENT_CA_FILE", "/ca.pem")]).unwrap_err();
        assert!(e.contains("tls.client_ca_file"), "{e}");
        let l = load(
            "[tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n",
            &[("AKIDB_TLS_CLIENT_CA_FILE", "/ca.pem")],
        )
        .unwrap();
        assert_eq!(l.config.tls.cert_file, Some(PathBuf::from("/c.pem")));
        assert_eq!(l.config.tls.client_ca_file, Some(PathBuf::from("/ca.pem")));
    }

    #[test]
    fn secrets_are_not_printed() {
        let l = load("[auth]\napi_key = \"hunter2\"\n", &[]).unwrap();
        assert!(!format!("{:?}", l.config).contains("hunter2"));
    }

    #[test]
    fn the_docs_list_every_key_env_var_and_default() {
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/configuration.md"
        ))
        .expect("docs/configuration.md exists");
        for key in KEYS {
            for needle in [format!("`{}`", key.path()), format!("`{}`", key.env)] {
                assert!(
                    doc.contains(&needle),
                    "docs/configuration.md lacks {needle}"
                );
            }
            let row = doc
                .lines()
                .find(|l| l.contains(&format!("`{}`", key.env)))
                .unwrap();
            assert!(
                row.contains(key.default),
                "the row of {} lacks its default {}",
                key.env,
                key.default
            );
        }
        for extra in EXTRA_ENV {
            assert!(doc.contains(&format!("`{extra}`")), "docs lack {extra}");
        }
    }
}
