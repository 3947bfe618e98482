//! Prometheus metrics (names documented in docs/operations/metrics.md). Engine events arrive through
//! [`akidb_core::Observer`]; request counters come from the REST middleware and
//! the gRPC handlers; gauges are refreshed from `Database::stats()` at scrape time.

use std::sync::atomic::AtomicU64;

use akidb_core::{Observer, Tier};
use akidb_engine::EngineStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of `akidb_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// HTTP method.
    pub method: String,
    /// Route template, e.g. `/api/v1/collections/{name}`.
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// Labels of `akidb_http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpDurationLabels {
    /// HTTP method.
    pub method: String,
    /// Route template.
    pub route: String,
}

/// Labels of `akidb_grpc_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrpcLabels {
    /// `Collections`, `Points` or `Admin`.
    pub service: &'static str,
    /// RPC name.
    pub method: &'static str,
    /// gRPC status code name, e.g. `Ok`, `NotFound`.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabel {
    tier: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CollectionLabel {
    collection: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    from: &'static str,
    to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    collection: String,
    role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LeaseLabels {
    collection: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~26 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpDurationLabels, Histogram>,
    grpc_requests: Family<GrpcLabels, Counter>,
    search_duration: Family<TierLabel, Histogram>,
    points: Family<CollectionLabel, Gauge>,
    collections: Family<TierLabel, Gauge>,
    collections_damaged: Gauge,
    wal_bytes: Gauge,
    wal_fsync: Histogram,
    snapshot_duration: Histogram,
    object_store_requests: Family<OpLabels, Counter>,
    breaker_state: Gauge,
    dlq_size: Gauge,
    tier_transitions: Family<TransitionLabels, Counter>,
    replication_role: Family<RoleLabels, Gauge>,
    replication_applied: Family<CollectionLabel, Gauge>,
    replication_shipped: Family<CollectionLabel, Gauge>,
    replication_lag: Family<CollectionLabel, Gauge<f64, AtomicU64>>,
    lease_transitions: Family<LeaseLabels, Counter>,
    up: Gauge<f64, AtomicU64>,
}

const TIERS: [Tier; 3] = [Tier::Hot, Tier::Warm, Tier::Cold];

/// The stable metric names, as scraped (counters with `_total`): the one list that
/// `docs/operations/metrics.md`, the dashboards, the alerts and the tests are checked
/// against. `akidb_ready` is left out on purpose: `/ready` is the contract for that.
pub const METRIC_NAMES: &[&str] = &[
    "akidb_http_requests_total",
    "akidb_http_request_duration_seconds",
    "akidb_grpc_requests_total",
    "akidb_search_duration_seconds",
    "akidb_points",
    "akidb_collections",
    "akidb_collections_damaged",
    "akidb_wal_bytes",
    "akidb_wal_fsync_duration_seconds",
    "akidb_snapshot_duration_seconds",
    "akidb_object_store_requests_total",
    "akidb_circuit_breaker_state",
    "akidb_dlq_size",
    "akidb_tier_transitions_total",
    "akidb_replication_role",
    "akidb_replication_applied_lsn",
    "akidb_replication_shipped_lsn",
    "akidb_replication_lag_seconds",
    "akidb_lease_transitions_total",
    "akidb_build_info",
];

/// The names in [`METRIC_NAMES`] that have series only on a node with replication on
/// (one per replicated collection); a single node serves none of them.
pub const REPLICATION_METRIC_NAMES: &[&str] = &[
    "akidb_replication_role",
    "akidb_replication_applied_lsn",
    "akidb_replication_shipped_lsn",
    "akidb_replication_lag_seconds",
    "akidb_lease_transitions_total",
];

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "akidb_http_requests",
            "REST requests by method, route template and status",
            http_requests.clone(),
        );
        let http_duration = Family::<HttpDurationLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "akidb_http_request_duration_seconds",
            "REST request latency in seconds",
            http_duration.clone(),
        );
        let grpc_requests = Family::<GrpcLabels, Counter>::default();
        registry.register(
            "akidb_grpc_requests",
            "gRPC requests by service, method and status code",
            grpc_requests.clone(),
        );
        let search_duration = Family::<TierLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "akidb_search_duration_seconds",
            "engine search latency by the tier the collection was in",
            search_duration.clone(),
        );
        let points = Family::<CollectionLabel, Gauge>::default();
        registry.register("akidb_points", "live points per collection", points.clone());
        let collections = Family::<TierLabel, Gauge>::default();
        registry.register(
            "akidb_collections",
            "collections per tier",
            collections.clone(),
        );
        let collections_damaged = Gauge::default();
        registry.register(
            "akidb_collections_damaged",
            "collections quarantined because they failed to open (answer 503 collection_damaged)",
            collections_damaged.clone(),
        );
        let wal_bytes = Gauge::default();
        registry.register(
            "akidb_wal_bytes",
            "bytes of all write-ahead logs",
            wal_bytes.clone(),
        );
        let wal_fsync = latency_histogram();
        registry.register(
            "akidb_wal_fsync_duration_seconds",
            "WAL fsync latency in seconds (one per group commit)",
            wal_fsync.clone(),
        );
        let snapshot_duration = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        registry.register(
            "akidb_snapshot_duration_seconds",
            "time to write one collection snapshot",
            snapshot_duration.clone(),
        );
        let object_store_requests = Family::<OpLabels, Counter>::default();
        registry.register(
            "akidb_object_store_requests",
            "object-store calls by operation and outcome (ok, error, rejected by the breaker)",
            object_store_requests.clone(),
        );
        let breaker_state = Gauge::default();
        registry.register(
            "akidb_circuit_breaker_state",
            "object-store circuit breaker: 0 closed, 1 open, 2 half-open",
            breaker_state.clone(),
        );
        let dlq_size = Gauge::default();
        registry.register(
            "akidb_dlq_size",
            "entries in the dead-letter queue",
            dlq_size.clone(),
        );
        let tier_transitions = Family::<TransitionLabels, Counter>::default();
        registry.register(
            "akidb_tier_transitions",
            "collection moves between tiers",
            tier_transitions.clone(),
        );
        let build_info = Family::<VersionLabel, Gauge>::default();
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "akidb_build_info",
            "always 1; the version label says which build runs",
            build_info,
        );
        let up = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "akidb_ready",
            "1 once recovery has finished and the server answers API requests",
            up.clone(),
        );
        for t in TIERS {
            collections
                .get_or_create(&TierLabel { tier: t.as_str() })
                .set(0);
        }
        let replication_role = Family::<RoleLabels, Gauge>::default();
        registry.register(
            "akidb_replication_role",
            "1 for this node's role in each replicated collection (writer or follower)",
            replication_role.clone(),
        );
        let replication_applied = Family::<CollectionLabel, Gauge>::default();
        registry.register(
            "akidb_replication_applied_lsn",
            "last LSN applied on this node",
            replication_applied.clone(),
        );
        let replication_shipped = Family::<CollectionLabel, Gauge>::default();
        registry.register(
            "akidb_replication_shipped_lsn",
            "last LSN in the bucket's log (shipped by the writer, or seen by a follower)",
            replication_shipped.clone(),
        );
        let replication_lag = Family::<CollectionLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "akidb_replication_lag_seconds",
            "how far this follower is behind the writer's shipped log (0 when caught up)",
            replication_lag.clone(),
        );
        let lease_transitions = Family::<LeaseLabels, Counter>::default();
        registry.register(
            "akidb_lease_transitions",
            "lease changes on this node by collection and reason (created, acquired, handover, released, lost)",
            lease_transitions.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            grpc_requests,
            search_duration,
            points,
            collections,
            collections_damaged,
            wal_bytes,
            wal_fsync,
            snapshot_duration,
            object_store_requests,
            breaker_state,
            dlq_size,
            tier_transitions,
            replication_role,
            replication_applied,
            replication_shipped,
            replication_lag,
            lease_transitions,
            up,
        }
    }

    /// Counts one REST request.
    pub fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&HttpDurationLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// Counts one gRPC request.
    pub fn grpc_request(&self, service: &'static str, method: &'static str, code: tonic::Code) {
        self.grpc_requests
            .get_or_create(&GrpcLabels {
                service,
                method,
                code: format!("{code:?}"),
            })
            .inc();
    }

    /// Marks recovery as finished.
    pub fn set_ready(&self) {
        self.up.set(1.0);
    }

    /// Refreshes the gauges from engine stats.
    pub fn update_from_stats(&self, stats: &EngineStats) {
        self.points.clear();
        let mut per_tier = [0i64; 3];
        let mut damaged = 0;
        for c in &stats.collections {
            self.points
                .get_or_create(&CollectionLabel {
                    collection: c.name.clone(),
                })
                .set(c.points as i64);
            // A quarantined collection is served by no tier.
            if c.damaged {
                damaged += 1;
            } else {
                per_tier[TIERS.iter().position(|t| *t == c.tier).unwrap_or(0)] += 1;
            }
        }
        self.collections_damaged.set(damaged);
        for (t, n) in TIERS.iter().zip(per_tier) {
            self.collections
                .get_or_create(&TierLabel { tier: t.as_str() })
                .set(n);
        }
        self.wal_bytes.set(stats.wal_bytes as i64);
        self.breaker_state.set(i64::from(stats.breaker_state));
        self.dlq_size.set(stats.dlq_size as i64);
    }

    /// Refreshes the replication gauges from the replicator.
    pub fn update_from_replication(&self, r: &akidb_replication::Replicator) {
        self.replication_role.clear();
        self.replication_applied.clear();
        self.replication_shipped.clear();
        self.replication_lag.clear();
        for s in r.status() {
            let c = CollectionLabel {
                collection: s.name.clone(),
            };
            for (role, is) in [
                ("writer", s.role == akidb_replication::Role::Writer),
                ("follower", s.role == akidb_replication::Role::Follower),
            ] {
                self.replication_role
                    .get_or_create(&RoleLabels {
                        collection: s.name.clone(),
                        role,
                    })
                    .set(i64::from(is));
            }
            self.replication_applied
                .get_or_create(&c)
                .set(s.applied_lsn as i64);
            self.replication_shipped
                .get_or_create(&c)
                .set(s.shipped_lsn as i64);
            self.replication_lag.get_or_create(&c).set(s.lag_seconds);
        }
        // The replicator keeps the running totals; the counter catches up to them.
        for (collection, reason, n) in r.lease_transitions() {
            let c = self
                .lease_transitions
                .get_or_create(&LeaseLabels { collection, reason });
            let seen = c.get();
            if n > seen {
                c.inc_by(n - seen);
            }
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer for Metrics {
    fn wal_fsync(&self, seconds: f64) {
        self.wal_fsync.observe(seconds);
    }

    fn snapshot_written(&self, seconds: f64) {
        self.snapshot_duration.observe(seconds);
    }

    fn object_store_request(&self, op: &'static str, outcome: &'static str) {
        self.object_store_requests
            .get_or_create(&OpLabels { op, outcome })
            .inc();
    }

    fn tier_transition(&self, from: Tier, to: Tier) {
        self.tier_transitions
            .get_or_create(&TransitionLabels {
                from: from.as_str(),
                to: to.as_str(),
            })
            .inc();
    }

    fn search(&self, tier: Tier, seconds: f64) {
        self.search_duration
            .get_or_create(&TierLabel {
                tier: tier.as_str(),
            })
            .observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metrics with one sample in every family (an empty family is not declared).
    fn exercised() -> Metrics {
        let m = Metrics::new();
        m.wal_fsync(0.001);
        m.search(Tier::Hot, 0.002);
        m.tier_transition(Tier::Hot, Tier::Warm);
        m.object_store_request("put", "ok");
        m.http_request("GET", "/health", 200, 0.0001);
        m.grpc_request("Points", "Search", tonic::Code::Ok);
        m.points
            .get_or_create(&CollectionLabel {
                collection: "c".into(),
            })
            .set(1);
        let c = CollectionLabel {
            collection: "c".into(),
        };
        m.replication_role
            .get_or_create(&RoleLabels {
                collection: "c".into(),
                role: "writer",
            })
            .set(1);
        m.replication_applied.get_or_create(&c).set(1);
        m.replication_shipped.get_or_create(&c).set(1);
        m.replication_lag.get_or_create(&c).set(0.0);
        m.lease_transitions
            .get_or_create(&LeaseLabels {
                collection: "c".into(),
                reason: "created",
            })
            .inc();
        m
    }

    #[test]
    fn observer_events_show_up_in_the_exposition() {
        let text = exercised().encode();
        for needle in [
            "akidb_wal_fsync_duration_seconds_count 1",
            "akidb_search_duration_seconds_count{tier=\"hot\"} 1",
            "akidb_tier_transitions_total{from=\"hot\",to=\"warm\"} 1",
            "akidb_object_store_requests_total{op=\"put\",outcome=\"ok\"} 1",
            "akidb_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1",
            "akidb_grpc_requests_total{service=\"Points\",method=\"Search\",code=\"Ok\"} 1",
            "akidb_build_info{version=\"",
            "akidb_collections{tier=\"cold\"} 0",
            "akidb_collections_damaged 0",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }

    #[test]
    fn the_stable_list_is_exactly_what_the_registry_declares() {
        let text = exercised().encode();
        let declared: std::collections::BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| {
                let (name, kind) = l.split_once(' ')?;
                // OpenMetrics declares a counter family without its `_total` suffix.
                Some(if kind == "counter" {
                    format!("{name}_total")
                } else {
                    name.to_string()
                })
            })
            .filter(|n| n != "akidb_ready")
            .collect();
        let listed: std::collections::BTreeSet<String> =
            METRIC_NAMES.iter().map(|s| s.to_string()).collect();
        assert_eq!(declared, listed);
    }
}
