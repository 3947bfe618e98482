//! S3Store, BreakerStore and the DLQ against a real SeaweedFS (`weed server -s3`) started
//! by the test itself (needs `AKIDB_TEST_WEED`, provided by `cargo xtask test`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use akidb_core::Observer;
use akidb_storage::breaker::{BreakerConfig, BreakerStore, CircuitBreaker};
use akidb_storage::dlq::DeadLetterQueue;
use akidb_storage::object_store::{download_dir, upload_dir, ObjectStore};
use akidb_storage::snapshot::{verify_snapshot, write_snapshot, SnapshotRow};
use akidb_storage::testing::SeaweedFs;
use akidb_storage::{S3Config, S3Store};
use bytes::Bytes;

fn pattern(len: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
            .collect::<Vec<u8>>(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_round_trips_multipart_errors_and_snapshots() {
    let weed = SeaweedFs::start();
    let mut cfg = weed.s3_config();
    // Small threshold so multipart is exercised with 5 MiB parts (the S3 minimum).
    cfg.multipart_threshold = 6 * 1024 * 1024;
    cfg.part_size = 5 * 1024 * 1024;
    let store = S3Store::connect(cfg.clone()).await.unwrap();

    store
        .put("t/a", Bytes::from_static(b"alpha"))
        .await
        .unwrap();
    store
        .put("t/b", Bytes::from_static(b"bravo!"))
        .await
        .unwrap();
    store.put("u/c", Bytes::new()).await.unwrap();
    assert_eq!(
        store.get("t/a").await.unwrap(),
        Bytes::from_static(b"alpha")
    );
    let listed: Vec<(String, u64)> = store
        .list("t/")
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.key, m.size))
        .collect();
    assert_eq!(listed, vec![("t/a".into(), 5), ("t/b".into(), 6)]);
    assert_eq!(store.head("t/b").await.unwrap().unwrap().size, 6);
    assert!(store.head("t/zzz").await.unwrap().is_none());

    // A missing key is a 4xx: no retries.
    let before = store.request_attempts();
    let err = store.get("t/zzz").await.unwrap_err();
    assert_eq!(err.code(), "object_not_found", "{err}");
    assert_eq!(
        store.request_attempts() - before,
        1,
        "404 must not be retried"
    );

    store.delete("t/a").await.unwrap();
    store.delete("t/a").await.unwrap();
    assert!(store.head("t/a").await.unwrap().is_none());

    // Multipart from memory (13 MiB → 3 parts) and from a file (23 MiB → 5 parts, more
    // than are sent at once, so the parts complete out of order and are put back in order).
    let big = pattern(13 * 1024 * 1024 + 17, 3);
    store.put("big/mem", big.clone()).await.unwrap();
    assert_eq!(store.get("big/mem").await.unwrap(), big);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("big.bin");
    let big2 = pattern(23 * 1024 * 1024 + 5, 9);
    std::fs::write(&src, &big2).unwrap();
    store.put_file("big/file", &src).await.unwrap();
    assert_eq!(
        store.head("big/file").await.unwrap().unwrap().size,
        big2.len() as u64
    );
    let dst = tmp.path().join("dl/big.bin");
    store.get_to_file("big/file", &dst).await.unwrap();
    assert_eq!(std::fs::read(&dst).unwrap(), big2.to_vec());

    // More than one page of listing (SeaweedFS pages at 1000 keys).
    for i in 0..1005 {
        store
            .put(&format!("many/{i:05}"), Bytes::from_static(b"x"))
            .await
            .unwrap();
    }
    let many = store.list("many/").await.unwrap();
    assert_eq!(many.len(), 1005);
    assert_eq!(many[1004].key, "many/01004");

    // Snapshot directory upload, download, verify; then a damaged object is detected.
    let snap = tmp.path().join("snap");
    let config = akidb_core::CollectionConfig::new("c", 4, akidb_core::Metric::Dot);
    let rows: Vec<SnapshotRow> = (0..2000u64)
        .map(|i| SnapshotRow {
            id: i.into(),
            vector: vec![i as f32; 4],
            payload: Default::default(),
        })
        .collect();
    write_snapshot(&snap, &config, 9, rows, serde_json::Value::Null).unwrap();
    upload_dir(&store, &snap, "collections/c/snapshots/s1")
        .await
        .unwrap();
    let back = tmp.path().join("back");
    download_dir(&store, "collections/c/snapshots/s1", &back)
        .await
        .unwrap();
    verify_snapshot(&back).unwrap();
    let key = "collections/c/snapshots/s1/points.parquet";
    let mut bytes = store.get(key).await.unwrap().to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    store.put(key, Bytes::from(bytes)).await.unwrap();
    let back2 = tmp.path().join("back2");
    download_dir(&store, "collections/c/snapshots/s1", &back2)
        .await
        .unwrap();
    let err = verify_snapshot(&back2).unwrap_err();
    assert_eq!(err.code(), "data_corruption");
    assert!(err.message().contains("points.parquet"), "{err}");

    // A missing bucket is a clear start-up error.
    let mut missing = cfg.clone();
    missing.bucket = "no-such-bucket-akidb".into();
    let err = S3Store::connect(missing).await.unwrap_err();
    assert_eq!(err.code(), "object_store_misconfigured", "{err}");
    assert!(err.message().contains("does not exist"), "{err}");

    // Half-configured static credentials are refused before any request.
    let mut half = cfg.clone();
    half.secret_access_key = None;
    assert_eq!(
        S3Store::connect(half).await.unwrap_err().code(),
        "object_store_misconfigured"
    );
}

#[tokio::test]
async fn unreachable_endpoint_is_retried_then_unavailable() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = S3Config::new("bucket", "us-east-1");
    cfg.endpoint = Some(format!("http://127.0.0.1:{port}"));
    cfg.path_style = true;
    cfg.access_key_id = Some("a".into());
    cfg.secret_access_key = Some("b".into());
    cfg.max_retries = 2;
    cfg.base_backoff = Duration::from_millis(10);
    let err = S3Store::connect(cfg.clone()).await.unwrap_err();
    assert_eq!(err.code(), "object_store_unavailable", "{err}");
    let store = S3Store::new_unchecked(cfg).await.unwrap();
    let err = store.get("k").await.unwrap_err();
    assert_eq!(err.code(), "object_store_unavailable");
    assert_eq!(
        store.request_attempts(),
        3,
        "first attempt + 2 retries on connection errors"
    );
}

#[derive(Default)]
struct Counting {
    ok: AtomicUsize,
    error: AtomicUsize,
    rejected: AtomicUsize,
}

impl Observer for Counting {
    fn object_store_request(&self, _op: &'static str, outcome: &'static str) {
        match outcome {
            "ok" => &self.ok,
            "error" => &self.error,
            _ => &self.rejected,
        }
        .fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_opens_breaker_fills_dlq_and_drains_after_restart() {
    let mut weed = SeaweedFs::start();
    let tmp = tempfile::tempdir().unwrap();
    let s3: Arc<dyn ObjectStore> = Arc::new(S3Store::connect(weed.s3_config()).await.unwrap());
    let observer = Arc::new(Counting::default());
    let breaker = Arc::new(CircuitBreaker::new(BreakerConfig {
        consecutive_failures: 2,
        cool_down: Duration::from_millis(500),
        half_open_successes: 1,
        ..BreakerConfig::default()
    }));
    let store = BreakerStore::new(s3, breaker.clone(), observer.clone());
    store
        .put("ok/before", Bytes::from_static(b"before"))
        .await
        .unwrap();
    assert_eq!(breaker.state(), 0);

    let dlq_dir = tmp.path().join("dlq");
    let files: Vec<_> = (0..4)
        .map(|i| {
            let p = tmp.path().join(format!("upload-{i}.bin"));
            std::fs::write(&p, format!("data {i}")).unwrap();
            p
        })
        .collect();

    weed.kill();
    {
        let dlq = DeadLetterQueue::open(&dlq_dir).unwrap();
        for (i, f) in files.iter().enumerate() {
            let key = format!("snap/{i}");
            let err = store.put_file(&key, f).await.unwrap_err();
            assert_eq!(err.code(), "object_store_unavailable", "{err}");
            dlq.push(&key, f, &err.to_string()).unwrap();
        }
        assert_eq!(breaker.state(), 1, "breaker opens during the outage");
        // Open breaker: rejected without touching the network.
        let t = Instant::now();
        let err = store.get("ok/before").await.unwrap_err();
        assert_eq!(err.code(), "object_store_unavailable");
        assert!(err.message().contains("circuit breaker"), "{err}");
        assert!(t.elapsed() < Duration::from_millis(100));
        assert!(observer.rejected.load(Ordering::Relaxed) >= 2);
        assert!(observer.error.load(Ordering::Relaxed) >= 2);
        assert_eq!(dlq.len(), 4);
    }

    // The DLQ survives a restart of its owner.
    let dlq = DeadLetterQueue::open(&dlq_dir).unwrap();
    assert_eq!(dlq.len(), 4);
    // Still down: retry-all reports failures honestly and keeps the entries.
    let report = dlq.retry_all(&store).await;
    assert_eq!(
        (report.succeeded, report.failed, report.remaining),
        (0, 4, 4)
    );

    weed.restart();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(breaker.state(), 2, "half-open after the cool-down");
    let report = dlq.retry_all(&store).await;
    assert_eq!(report.succeeded, 4, "{report:?}");
    assert_eq!(report.remaining, 0);
    assert_eq!(breaker.state(), 0);
    for i in 0..4 {
        assert_eq!(
            store.get(&format!("snap/{i}")).await.unwrap(),
            Bytes::from(format!("data {i}"))
        );
    }
    // Data written before the outage survived the SIGKILL.
    assert_eq!(
        store.get("ok/before").await.unwrap(),
        Bytes::from_static(b"before")
    );
}

/// Compare-and-swap writes against a real S3 server (LocalFs runs the same checks in
/// tests/local_fs.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_conditional_writes_are_compare_and_swap() {
    let weed = SeaweedFs::start();
    let store: Arc<dyn ObjectStore> = Arc::new(S3Store::connect(weed.s3_config()).await.unwrap());
    akidb_storage::testing::check_conditional_writes(store.clone()).await;

    // Through the breaker: a lost race is an answer, not an outage.
    let breaker = Arc::new(CircuitBreaker::new(BreakerConfig {
        consecutive_failures: 1,
        ..BreakerConfig::default()
    }));
    let guarded = BreakerStore::new(store, breaker.clone(), Arc::new(akidb_core::NoopObserver));
    guarded
        .put_if_absent("cas/guarded", Bytes::from_static(b"g"))
        .await
        .unwrap();
    for _ in 0..3 {
        let err = guarded
            .put_if_absent("cas/guarded", Bytes::from_static(b"g"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "precondition_failed", "{err}");
        let err = guarded
            .put_if_match("cas/guarded", Bytes::from_static(b"g"), "\"nope\"")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "precondition_failed", "{err}");
    }
    assert_eq!(
        breaker.state(),
        0,
        "precondition_failed must not trip the breaker"
    );
    let v = guarded.get_versioned("cas/guarded").await.unwrap().unwrap();
    assert_eq!(v.data, Bytes::from_static(b"g"));
    assert!(guarded.get_versioned("cas/none").await.unwrap().is_none());
}
