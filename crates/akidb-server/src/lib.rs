//! The AkiDB server (binary `akidb`): REST (axum) and gRPC (tonic) front ends over
//! one embedded [`akidb_engine::Database`], with API-key auth, request limits,
//! Prometheus metrics, tracing (text/JSON logs, OTLP export), TOML + `AKIDB_*`
//! configuration and graceful shutdown.
//!
//! Start-up binds both listeners first, then recovers the database in the
//! background: `/health` answers at once, `/ready` and the API answer 503 until
//! recovery has finished.
//!
//! With `tls.cert_file` and `tls.key_file` set, both listeners speak TLS only
//! (see [`tls`]); the certificate is reloaded when its files change.

pub mod api;
pub mod auth;
pub mod config;
pub mod console;
pub mod error;
pub mod grpc;
pub mod metrics;
pub mod replicate;
pub mod rest;
pub mod state;
pub mod telemetry;
pub mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use akidb_engine::{Database, EngineConfig, TierPolicy, WalSync};
use anyhow::{anyhow, Context};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::state::AppState;

/// Maps the server configuration onto the engine's.
pub fn engine_config(config: &Config, metrics: Arc<Metrics>) -> anyhow::Result<EngineConfig> {
    let s = &config.storage;
    let mut e = EngineConfig::new(&s.data_dir);
    e.wal_sync = if s.wal_sync_always {
        WalSync::Always
    } else {
        WalSync::Never
    };
    e.wal_segment_bytes = s.wal_segment_bytes;
    e.wal_snapshot_bytes = s.wal_snapshot_bytes;
    e.segment_max_points = s.segment_max_points;
    e.compaction_deleted_ratio = s.compaction_deleted_ratio;
    e.snapshot_retention = s.snapshot_retention;
    e.max_payload_bytes = config.limits.max_payload_bytes;
    e.max_k = config.limits.max_k;
    e.cold_tier_enabled = config.tier.cold_tier_enabled;
    e.tier = TierPolicy {
        hot_idle: config.tier.hot_idle,
        warm_idle: config.tier.warm_idle,
        hot_memory_budget: config.tier.hot_memory_budget,
        check_interval: config.tier.check_interval,
        ..TierPolicy::default()
    };
    e.observer = metrics;
    let b = &config.object_store;
    e.breaker.consecutive_failures = b.breaker_consecutive_failures;
    e.breaker.failure_rate = b.breaker_failure_rate;
    e.breaker.cool_down = b.breaker_cool_down;
    Ok(e)
}

/// Maps `[replication]` onto the replicator's settings (node id: the hostname by default;
/// advertised URLs: the listen addresses).
pub fn replication_config(config: &Config, tls: bool) -> akidb_replication::ReplicationConfig {
    let r = &config.replication;
    let scheme = if tls { "https" } else { "http" };
    let node_id = r.node_id.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "akidb".to_string())
    });
    akidb_replication::ReplicationConfig {
        node_id,
        rest_url: r
            .advertise_rest_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", config.server.rest_addr)),
        grpc_url: r
            .advertise_grpc_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", config.server.grpc_addr)),
        ack: if r.ack_object_store {
            akidb_replication::AckMode::ObjectStore
        } else {
            akidb_replication::AckMode::Local
        },
        ship_interval: r.ship_interval,
        ship_max_bytes: 4 << 20,
        snapshot_records: r.snapshot_records,
        lease: r.lease,
        renew_interval: r.renew_interval,
        ready_max_lag: r.ready_max_lag,
        min_lsn_timeout: r.min_lsn_timeout,
        state_dir: config.storage.data_dir.join("replication"),
    }
}

/// Builds the S3 object store when `s3.enabled`; `None` means the engine's local default.
///
/// An unreachable endpoint only warns (the engine serves hot and warm data and
/// queues uploads while the store is down); a missing bucket or bad settings stop start-up.
pub async fn s3_store(
    config: &Config,
) -> anyhow::Result<Option<Arc<dyn akidb_storage::ObjectStore>>> {
    let s = &config.s3;
    if !s.enabled {
        return Ok(None);
    }
    let bucket = s
        .bucket
        .clone()
        .ok_or_else(|| anyhow!("s3.enabled is true but s3.bucket (AKIDB_S3_BUCKET) is not set"))?;
    let mut c = akidb_storage::S3Config::new(bucket, s.region.clone());
    c.endpoint = s.endpoint.clone();
    c.path_style = s.path_style;
    c.access_key_id = s.access_key_id.clone();
    c.secret_access_key = s.secret_access_key.clone();
    if c.access_key_id.is_some() != c.secret_access_key.is_some() {
        return Err(anyhow!(
            "set both s3.access_key_id (AKIDB_S3_ACCESS_KEY_ID) and s3.secret_access_key \
             (AKIDB_S3_SECRET_ACCESS_KEY), or neither to use the AWS credential chain"
        ));
    }
    let store = match akidb_storage::S3Store::connect(c.clone()).await {
        Ok(store) => store,
        Err(e) if e.kind() == akidb_core::ErrorKind::Unavailable => {
            tracing::warn!(
                "S3 endpoint not reachable at start-up ({e}); serving from local tiers and queueing uploads until it is"
            );
            akidb_storage::S3Store::new_unchecked(c)
                .await
                .map_err(|e| anyhow!("S3 object store: {e}"))?
        }
        Err(e) => return Err(anyhow!("S3 object store (s3.* / AKIDB_S3_*): {e}")),
    };
    tracing::info!(bucket = ?s.bucket, endpoint = ?s.endpoint, "using the S3 object store");
    Ok(Some(Arc::new(store)))
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Runs the server until SIGTERM/SIGINT, then drains requests and flushes the engine.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let tls = tls::setup(&config.tls)?;
    let metrics = Arc::new(Metrics::new());
    let mut engine_cfg = engine_config(&config, metrics.clone())?;
    engine_cfg.object_store = s3_store(&config).await?;
    engine_cfg.runtime = Some(tokio::runtime::Handle::current());
    let replicator = match (&engine_cfg.object_store, config.replication.enabled) {
        (Some(store), true) => {
            let r = akidb_replication::Replicator::new(
                replication_config(&config, tls.is_some()),
                store.clone(),
            );
            engine_cfg.replica = Some(r.hooks());
            // Tier moves would take a collection away from under its followers.
            engine_cfg.cold_tier_enabled = false;
            engine_cfg.tier.hot_idle = Duration::from_secs(100 * 365 * 86_400);
            engine_cfg.tier.hot_memory_budget = None;
            Some(r)
        }
        _ => None,
    };
    let mut app_state = AppState::new(config.limits.clone(), config.auth.clone(), metrics.clone());
    app_state.replicator = replicator.clone();
    let state = Arc::new(app_state);
    let rest_listener = TcpListener::bind(config.server.rest_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (server.rest_addr / AKIDB_REST_ADDR)",
                config.server.rest_addr
            )
        })?;
    let grpc_listener = TcpListener::bind(config.server.grpc_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (server.grpc_addr / AKIDB_GRPC_ADDR)",
                config.server.grpc_addr
            )
        })?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        rest = %rest_listener.local_addr()?,
        grpc = %grpc_listener.local_addr()?,
        data_dir = %config.storage.data_dir.display(),
        auth = auth::enabled(&config.auth),
        tls = tls.is_some(),
        client_certificates = tls.as_ref().is_some_and(|t| t.verify_clients),
        "akidb listening; recovering the database"
    );

    let (fatal_tx, mut fatal_rx) = tokio::sync::mpsc::channel::<anyhow::Error>(1);
    {
        let state = state.clone();
        let data_dir = config.storage.data_dir.clone();
        tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            match Database::open_with(engine_cfg) {
                Ok(db) => {
                    if let Some(r) = &state.replicator {
                        let started =
                            tokio::runtime::Handle::current().block_on(r.start(db.clone()));
                        if let Err(e) = started {
                            let _ = fatal_tx.blocking_send(anyhow!(
                                "replication could not read the bucket: {e}"
                            ));
                            return;
                        }
                    }
                    let n = db.list_collections().len();
                    state.set_database(db);
                    tracing::info!(
                        collections = n,
                        seconds = start.elapsed().as_secs_f64(),
                        "recovery finished; ready"
                    );
                }
                Err(e) => {
                    let _ = fatal_tx.blocking_send(anyhow!(
                        "opening the database in {} failed: {e}",
                        data_dir.display()
                    ));
                }
            }
        });
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let app = rest::router(state.clone());
    if let Some(tls) = &tls {
        tls::spawn_reloader(tls.cert.clone(), stop_rx.clone());
    }
    let rest_task = match &tls {
        Some(tls) => {
            let listener = tls::TlsListener::new(rest_listener, tls.rest.clone(), stop_rx.clone())?;
            let server =
                axum::serve(listener, app).with_graceful_shutdown(stopped(stop_rx.clone()));
            tokio::spawn(async move { server.await })
        }
        None => {
            let server =
                axum::serve(rest_listener, app).with_graceful_shutdown(stopped(stop_rx.clone()));
            tokio::spawn(async move { server.await })
        }
    };

    let api = grpc::GrpcApi::new(state.clone());
    let max = config.limits.max_body_bytes;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(akidb_proto::v1::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the gRPC reflection service")?;
    let grpc_server = tonic::transport::Server::builder()
        .add_service(
            akidb_proto::v1::collections_server::CollectionsServer::new(api.clone())
                .max_decoding_message_size(max),
        )
        .add_service(
            akidb_proto::v1::points_server::PointsServer::new(api.clone())
                .max_decoding_message_size(max)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            akidb_proto::v1::admin_server::AdminServer::new(api.clone())
                .max_decoding_message_size(max),
        )
        .add_service(
            akidb_proto::v1::aliases_server::AliasesServer::new(api).max_decoding_message_size(max),
        )
        .add_service(reflection);
    let grpc_task = match &tls {
        Some(tls) => tokio::spawn(grpc_server.serve_with_incoming_shutdown(
            tls::grpc_incoming(grpc_listener, tls.grpc.clone(), stop_rx.clone()),
            stopped(stop_rx.clone()),
        )),
        None => tokio::spawn(grpc_server.serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true)),
            stopped(stop_rx.clone()),
        )),
    };

    let outcome = tokio::select! {
        sig = wait_for_signal() => {
            tracing::info!(signal = sig, "shutting down: no new connections, finishing in-flight requests");
            Ok(())
        }
        Some(err) = fatal_rx.recv() => Err(err),
    };
    if let Some(r) = &replicator {
        // Graceful shutdown hands every collection this node writes to a follower first.
        let grace = config.replication.lease + Duration::from_secs(2);
        if tokio::time::timeout(grace, r.handover_all()).await.is_err() {
            tracing::warn!("handover at shutdown did not finish in time; followers take over when the leases expire");
        }
    }
    let _ = stop_tx.send(true);
    let grace = config.server.shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        let r = rest_task.await;
        let g = grpc_task.await;
        (r, g)
    })
    .await;
    match drained {
        Ok((r, g)) => {
            if let Ok(Err(e)) = r {
                tracing::warn!("REST server ended with an error: {e}");
            }
            if let Ok(Err(e)) = g {
                tracing::warn!("gRPC server ended with an error: {e}");
            }
        }
        Err(_) => tracing::warn!(
            grace_seconds = grace.as_secs_f64(),
            "in-flight requests did not finish within server.shutdown_grace; closing anyway"
        ),
    }
    if let Some(db) = state.database().cloned() {
        let flushed = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::task::spawn_blocking(move || db.shutdown()),
        )
        .await;
        match flushed {
            Ok(Ok(Ok(()))) => tracing::info!("database flushed; bye"),
            Ok(Ok(Err(e))) => tracing::error!("flushing the database failed: {e}"),
            Ok(Err(e)) => tracing::error!("flushing the database panicked: {e}"),
            Err(_) => tracing::error!("flushing the database took longer than 10 s"),
        }
    }
    outcome
}
