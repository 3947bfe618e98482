//! Circuit-breaker state machine tests (the S3 outage test lives in `s3.rs`).

use std::time::Duration;

use akidb_core::Error;
use akidb_storage::breaker::{BreakerConfig, BreakerState, CircuitBreaker};

fn cfg() -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: 3,
        failure_rate: 0.5,
        window: 10,
        min_calls: 6,
        cool_down: Duration::from_millis(150),
        half_open_successes: 2,
    }
}

fn fail(b: &CircuitBreaker) {
    let p = b.try_acquire().unwrap();
    b.record(p, Some("connection refused"));
}

fn ok(b: &CircuitBreaker) {
    let p = b.try_acquire().unwrap();
    b.record(p, None);
}

#[test]
fn opens_after_consecutive_failures_then_half_opens_and_closes() {
    let b = CircuitBreaker::new(cfg());
    assert_eq!(b.state(), 0);
    fail(&b);
    fail(&b);
    assert_eq!(b.current(), BreakerState::Closed);
    fail(&b);
    assert_eq!(b.state(), 1);
    let err = b.try_acquire().unwrap_err();
    assert_eq!(err.code(), "object_store_unavailable");
    assert!(err.message().contains("connection refused"), "{err}");

    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(b.state(), 2);
    // Only one probe at a time.
    let probe = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    b.record(probe, None);
    assert_eq!(b.state(), 2, "one success is not enough");
    ok(&b);
    assert_eq!(b.state(), 0);
}

#[test]
fn failed_probe_reopens() {
    let b = CircuitBreaker::new(cfg());
    for _ in 0..3 {
        fail(&b);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(b.current(), BreakerState::HalfOpen);
    fail(&b);
    assert_eq!(b.current(), BreakerState::Open);
    assert!(b.try_acquire().is_err());
}

#[test]
fn failure_rate_over_the_window_opens() {
    let b = CircuitBreaker::new(cfg());
    // Alternating: never 3 in a row, but 50 % failures once 6 calls are in the window.
    for i in 0..5 {
        if i % 2 == 0 {
            fail(&b);
        } else {
            ok(&b);
        }
        assert_eq!(b.state(), 0, "call {i}");
    }
    ok(&b);
    assert_eq!(b.state(), 0, "3 of 6 failed but the last call succeeded");
    fail(&b);
    assert_eq!(b.state(), 1, "4 of 7 failed");
}

#[tokio::test]
async fn only_unavailable_errors_count_as_failures() {
    let b = CircuitBreaker::new(cfg());
    for _ in 0..10 {
        let r: Result<(), Error> = b
            .call(|| async { Err(akidb_storage::object_store::object_not_found("k")) })
            .await;
        assert_eq!(r.unwrap_err().code(), "object_not_found");
    }
    assert_eq!(b.state(), 0);
    for _ in 0..3 {
        let r: Result<(), Error> = b
            .call(|| async { Err(Error::object_store_unavailable("down")) })
            .await;
        assert!(r.is_err());
    }
    assert_eq!(b.state(), 1);
    // Fails fast without running the call.
    let ran = std::sync::atomic::AtomicBool::new(false);
    let r: Result<(), Error> = b
        .call(|| async {
            ran.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
        .await;
    assert_eq!(r.unwrap_err().code(), "object_store_unavailable");
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
}
