//! Circuit breaker for object-store calls, and [`BreakerStore`], an [`ObjectStore`] wrapper
//! that fails fast while the store is known to be down.
//!
//! States: closed (calls pass) → open after `consecutive_failures` failures in a row, or a
//! failure rate of at least `failure_rate` over the last `window` calls (once at least
//! `min_calls` were seen) → half-open after `cool_down` (one probe call at a time) →
//! closed after `half_open_successes` successful probes, or open again on a failed probe.
//! Only `Unavailable` errors (unreachable, timeouts, 5xx) count as failures: a missing
//! object, an access-denied answer or a lost conditional write (`precondition_failed`)
//! means the service is up.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use akidb_core::{Error, ErrorKind, Observer, Result};
use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;

use crate::object_store::{ObjectMeta, ObjectStore, Versioned};

/// Breaker thresholds.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Open after this many failures in a row (default 5).
    pub consecutive_failures: u32,
    /// Open when the failure ratio over the window reaches this (default 0.5).
    pub failure_rate: f64,
    /// Number of most recent calls the failure rate is computed over (default 20).
    pub window: usize,
    /// Minimum calls in the window before the rate applies (default 10).
    pub min_calls: usize,
    /// How long to stay open before letting a probe through (default 30 s).
    pub cool_down: Duration,
    /// Successful probes needed to close again (default 2).
    pub half_open_successes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: 0.5,
            window: 20,
            min_calls: 10,
            cool_down: Duration::from_secs(30),
            half_open_successes: 2,
        }
    }
}

/// The breaker's state; `as u8` gives the metric value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BreakerState {
    /// Calls pass through.
    Closed = 0,
    /// Calls fail fast.
    Open = 1,
    /// One probe at a time is let through.
    HalfOpen = 2,
}

impl BreakerState {
    /// Lowercase name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive: u32,
    recent: VecDeque<bool>,
    opened_at: Option<Instant>,
    probe_in_flight: bool,
    probe_successes: u32,
    last_error: Option<String>,
}

/// A thread-safe circuit breaker.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

/// Permission to make one call; report its outcome with [`CircuitBreaker::record`].
#[derive(Debug)]
#[must_use]
pub struct Permit {
    probe: bool,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive: 0,
                recent: VecDeque::new(),
                opened_at: None,
                probe_in_flight: false,
                probe_successes: 0,
                last_error: None,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Current state, moving open → half-open once the cool-down has passed.
    pub fn current(&self) -> BreakerState {
        let mut g = self.inner.lock();
        self.maybe_half_open(&mut g);
        g.state
    }

    /// Current state as the metric value: 0 closed, 1 open, 2 half-open.
    pub fn state(&self) -> u8 {
        self.current() as u8
    }

    fn maybe_half_open(&self, g: &mut Inner) {
        if g.state == BreakerState::Open
            && g.opened_at
                .map(|t| t.elapsed() >= self.config.cool_down)
                .unwrap_or(true)
        {
            g.state = BreakerState::HalfOpen;
            g.probe_in_flight = false;
            g.probe_successes = 0;
            tracing::info!("circuit breaker half-open: probing the object store");
        }
    }

    /// Asks to make a call: `Err(object_store_unavailable)` while open (or while a
    /// half-open probe is already in flight).
    pub fn try_acquire(&self) -> Result<Permit> {
        let mut g = self.inner.lock();
        self.maybe_half_open(&mut g);
        match g.state {
            BreakerState::Closed => Ok(Permit { probe: false }),
            BreakerState::HalfOpen if !g.probe_in_flight => {
                g.probe_in_flight = true;
                Ok(Permit { probe: true })
            }
            state => {
                let retry_in = g
                    .opened_at
                    .map(|t| self.config.cool_down.saturating_sub(t.elapsed()))
                    .unwrap_or_default();
                Err(Error::object_store_unavailable(format!(
                    "object store unavailable: circuit breaker is {} after repeated failures (last: {}); next probe in {:.1}s",
                    state.as_str(),
                    g.last_error.as_deref().unwrap_or("unknown"),
                    retry_in.as_secs_f64()
                )))
            }
        }
    }

    /// Reports the outcome of a call made under `permit`; `failure` carries the error text.
    pub fn record(&self, permit: Permit, failure: Option<&str>) {
        let mut g = self.inner.lock();
        let ok = failure.is_none();
        if let Some(f) = failure {
            g.last_error = Some(f.to_string());
        }
        if permit.probe {
            g.probe_in_flight = false;
        }
        match g.state {
            BreakerState::HalfOpen => {
                if ok {
                    g.probe_successes += 1;
                    if g.probe_successes >= self.config.half_open_successes {
                        g.state = BreakerState::Closed;
                        g.consecutive = 0;
                        g.recent.clear();
                        g.opened_at = None;
                        tracing::info!("circuit breaker closed: object store is back");
                    }
                } else {
                    self.open(&mut g);
                }
            }
            BreakerState::Closed => {
                g.recent.push_back(ok);
                while g.recent.len() > self.config.window.max(1) {
                    g.recent.pop_front();
                }
                g.consecutive = if ok { 0 } else { g.consecutive + 1 };
                let failures = g.recent.iter().filter(|s| !**s).count();
                let rate_trip = g.recent.len() >= self.config.min_calls.max(1)
                    && failures as f64 / g.recent.len() as f64 >= self.config.failure_rate;
                if !ok && (g.consecutive >= self.config.consecutive_failures.max(1) || rate_trip) {
                    self.open(&mut g);
                }
            }
            // A call that started before the breaker opened: its result changes nothing.
            BreakerState::Open => {}
        }
    }

    fn open(&self, g: &mut Inner) {
        g.state = BreakerState::Open;
        g.opened_at = Some(Instant::now());
        g.probe_in_flight = false;
        g.probe_successes = 0;
        tracing::warn!(
            last_error = g.last_error.as_deref().unwrap_or(""),
            cool_down_secs = self.config.cool_down.as_secs_f64(),
            "circuit breaker open: object store calls fail fast"
        );
    }

    /// Runs `call` under the breaker.
    pub async fn call<T, Fut>(&self, call: impl FnOnce() -> Fut) -> Result<T>
    where
        Fut: std::future::Future<Output = Result<T>>,
    {
        let permit = self.try_acquire()?;
        let result = call().await;
        match &result {
            Err(e) if e.kind() == ErrorKind::Unavailable => self.record(permit, Some(e.message())),
            _ => self.record(permit, None),
        }
        result
    }
}

/// Wraps an [`ObjectStore`] with a [`CircuitBreaker`]; reports every call to the observer
/// as `object_store_request(op, "ok" | "error" | "rejected")`.
/// Retries are the inner store's business (S3Store retries retryable errors itself).
pub struct BreakerStore {
    inner: Arc<dyn ObjectStore>,
    breaker: Arc<CircuitBreaker>,
    observer: Arc<dyn Observer>,
}

impl std::fmt::Debug for BreakerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakerStore")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .finish()
    }
}

impl BreakerStore {
    /// Wraps `inner`.
    pub fn new(
        inner: Arc<dyn ObjectStore>,
        breaker: Arc<CircuitBreaker>,
        observer: Arc<dyn Observer>,
    ) -> Self {
        Self {
            inner,
            breaker,
            observer,
        }
    }

    /// The breaker (for its state metric).
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    async fn run<T, Fut>(&self, op: &'static str, call: impl FnOnce() -> Fut) -> Result<T>
    where
        Fut: std::future::Future<Output = Result<T>>,
    {
        let permit = match self.breaker.try_acquire() {
            Ok(p) => p,
            Err(e) => {
                self.observer.object_store_request(op, "rejected");
                return Err(e);
            }
        };
        let result = call().await;
        match &result {
            Ok(_) => {
                self.breaker.record(permit, None);
                self.observer.object_store_request(op, "ok");
            }
            Err(e) => {
                let failure = (e.kind() == ErrorKind::Unavailable).then(|| e.message().to_string());
                self.breaker.record(permit, failure.as_deref());
                self.observer.object_store_request(op, "error");
            }
        }
        result
    }
}

#[async_trait]
impl ObjectStore for BreakerStore {
    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        self.run("put", || self.inner.put(key, data)).await
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<()> {
        self.run("put", || self.inner.put_file(key, path)).await
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        self.run("get", || self.inner.get(key)).await
    }

    async fn get_to_file(&self, key: &str, path: &Path) -> Result<()> {
        self.run("get", || self.inner.get_to_file(key, path)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.run("list", || self.inner.list(prefix)).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.run("delete", || self.inner.delete(key)).await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        self.run("head", || self.inner.head(key)).await
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>> {
        self.run("get", || self.inner.get_versioned(key)).await
    }

    // A lost race (`precondition_failed`, kind Conflict) is an answer of a working
    // service: `run` counts only `Unavailable` errors as breaker failures.
    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<String> {
        self.run("put", || self.inner.put_if_absent(key, data))
            .await
    }

    async fn put_if_match(&self, key: &str, data: Bytes, etag: &str) -> Result<String> {
        self.run("put", || self.inner.put_if_match(key, data, etag))
            .await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}
