//! LocalFs object store and the directory upload/download helpers; DLQ persistence.

use std::sync::Arc;

use akidb_storage::dlq::DeadLetterQueue;
use akidb_storage::object_store::{download_dir, upload_dir, LocalFs, ObjectStore};
use akidb_storage::snapshot::{verify_snapshot, write_snapshot, SnapshotRow};
use bytes::Bytes;

#[tokio::test]
async fn put_get_list_head_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalFs::new(tmp.path().join("objects")).unwrap();
    store
        .put("a/b/one", Bytes::from_static(b"1"))
        .await
        .unwrap();
    store
        .put("a/b/two", Bytes::from_static(b"22"))
        .await
        .unwrap();
    store.put("a/c", Bytes::from_static(b"333")).await.unwrap();
    store
        .put("a/b/one", Bytes::from_static(b"111"))
        .await
        .unwrap();
    assert_eq!(
        store.get("a/b/one").await.unwrap(),
        Bytes::from_static(b"111")
    );
    let keys: Vec<(String, u64)> = store
        .list("a/b")
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.key, m.size))
        .collect();
    assert_eq!(keys, vec![("a/b/one".into(), 3), ("a/b/two".into(), 2)]);
    assert_eq!(store.list("a/").await.unwrap().len(), 3);
    assert_eq!(store.list("").await.unwrap().len(), 3);
    assert_eq!(store.list("zzz/").await.unwrap().len(), 0);
    assert_eq!(store.head("a/c").await.unwrap().unwrap().size, 3);
    assert!(store.head("a/nope").await.unwrap().is_none());
    assert_eq!(
        store.get("a/nope").await.unwrap_err().code(),
        "object_not_found"
    );
    store.delete("a/b/one").await.unwrap();
    store.delete("a/b/one").await.unwrap();
    assert!(store.head("a/b/one").await.unwrap().is_none());

    let src = tmp.path().join("src.bin");
    std::fs::write(&src, vec![7u8; 100_000]).unwrap();
    store.put_file("files/src.bin", &src).await.unwrap();
    let dst = tmp.path().join("out/dst.bin");
    store.get_to_file("files/src.bin", &dst).await.unwrap();
    assert_eq!(std::fs::read(&dst).unwrap(), vec![7u8; 100_000]);
    assert_eq!(
        store
            .get_to_file("files/none", &dst)
            .await
            .unwrap_err()
            .code(),
        "object_not_found"
    );
}

#[tokio::test]
async fn bad_keys_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalFs::new(tmp.path()).unwrap();
    for key in ["", "/abs", "a/../b", "a//b", "./a", "a/"] {
        let err = store.put(key, Bytes::from_static(b"x")).await.unwrap_err();
        assert_eq!(err.code(), "invalid_object_key", "{key:?}");
    }
}

#[tokio::test]
async fn snapshot_dir_round_trip_and_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalFs::new(tmp.path().join("objects")).unwrap();
    let snap = tmp.path().join("snap");
    let config = akidb_core::CollectionConfig::new("c", 3, akidb_core::Metric::L2);
    let rows: Vec<SnapshotRow> = (0..100u64)
        .map(|i| SnapshotRow {
            id: i.into(),
            vector: vec![i as f32; 3],
            payload: Default::default(),
        })
        .collect();
    write_snapshot(&snap, &config, 5, rows, serde_json::Value::Null).unwrap();
    let keys = upload_dir(&store, &snap, "collections/c/snapshots/s1")
        .await
        .unwrap();
    assert_eq!(
        keys.last().unwrap(),
        "collections/c/snapshots/s1/manifest.json"
    );
    let back = tmp.path().join("back");
    assert_eq!(
        download_dir(&store, "collections/c/snapshots/s1", &back)
            .await
            .unwrap(),
        2
    );
    verify_snapshot(&back).unwrap();

    // Flip a byte of the stored Parquet object: the downloaded copy fails verification.
    let key = "collections/c/snapshots/s1/points.parquet";
    let mut bytes = store.get(key).await.unwrap().to_vec();
    bytes[10] ^= 0xff;
    store.put(key, Bytes::from(bytes)).await.unwrap();
    let back2 = tmp.path().join("back2");
    download_dir(&store, "collections/c/snapshots/s1", &back2)
        .await
        .unwrap();
    let err = verify_snapshot(&back2).unwrap_err();
    assert_eq!(err.code(), "data_corruption");
    assert!(err.message().contains("points.parquet"), "{err}");

    let err = download_dir(
        &store,
        "collections/c/snapshots/none",
        &tmp.path().join("x"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "object_not_found");
    assert!(!tmp.path().join("x").exists());
}

#[tokio::test]
async fn dlq_persists_dedupes_and_drains() {
    let tmp = tempfile::tempdir().unwrap();
    let dlq_dir = tmp.path().join("dlq");
    let file = tmp.path().join("data.bin");
    std::fs::write(&file, b"payload").unwrap();
    {
        let dlq = DeadLetterQueue::open(&dlq_dir).unwrap();
        assert!(dlq.is_empty());
        let e1 = dlq.push("k/1", &file, "boom").unwrap();
        assert_eq!(e1.attempts, 1);
        let e1b = dlq.push("k/1", &file, "boom again").unwrap();
        assert_eq!(e1b.id, e1.id);
        assert_eq!(e1b.attempts, 2);
        assert_eq!(e1b.first_failed_at, e1.first_failed_at);
        dlq.push("k/2", &tmp.path().join("missing.bin"), "boom")
            .unwrap();
        assert_eq!(dlq.len(), 2);
    }
    // A garbage entry file is set aside, not fatal.
    std::fs::write(dlq_dir.join("garbage.json"), b"{").unwrap();
    let dlq = DeadLetterQueue::open(&dlq_dir).unwrap();
    assert_eq!(dlq.len(), 2, "entries survive reopening");
    assert!(dlq_dir.join("garbage.json.corrupt").exists());
    let entry = dlq.list().into_iter().find(|e| e.key == "k/1").unwrap();
    assert_eq!(entry.attempts, 2);
    assert_eq!(entry.error, "boom again");

    let store: Arc<dyn ObjectStore> = Arc::new(LocalFs::new(tmp.path().join("objects")).unwrap());
    let report = dlq.retry_all(store.as_ref()).await;
    assert_eq!(report.succeeded, 1);
    assert_eq!(
        report.failed, 1,
        "the entry whose local file is gone fails honestly"
    );
    assert_eq!(report.remaining, 1);
    assert!(report.errors[0].1.contains("missing.bin"));
    assert_eq!(
        store.get("k/1").await.unwrap(),
        Bytes::from_static(b"payload")
    );
    let left = dlq.list();
    assert_eq!(left[0].key, "k/2");
    assert_eq!(left[0].attempts, 2);
    assert!(dlq.remove(&left[0].id).unwrap());
    assert!(!dlq.remove(&left[0].id).unwrap());
    assert_eq!(DeadLetterQueue::open(&dlq_dir).unwrap().len(), 0);
}

/// The manifest marks a complete snapshot upload: a retry must never upload it while a file
/// of its snapshot is still missing from the store, even when its entry was queued first.
#[tokio::test]
async fn dlq_retries_a_manifest_only_after_the_files_of_its_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let dlq = DeadLetterQueue::open(tmp.path().join("dlq")).unwrap();
    let manifest = tmp.path().join("manifest.json");
    let points = tmp.path().join("points.parquet");
    let graph = tmp.path().join("graph.bin");
    std::fs::write(&manifest, b"{}").unwrap();
    std::fs::write(&graph, b"graph").unwrap();
    let snap = "collections/c/snapshots/00000000000000000001-0000000000001";
    // Queued first, so its id sorts before the others'.
    dlq.push(&format!("{snap}/manifest.json"), &manifest, "down")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3));
    dlq.push(&format!("{snap}/seg-0/graph.bin"), &graph, "down")
        .unwrap();
    dlq.push(&format!("{snap}/points.parquet"), &points, "down")
        .unwrap();
    dlq.push("collections/d/snapshots/x/points.parquet", &graph, "down")
        .unwrap();

    let store = LocalFs::new(tmp.path().join("objects")).unwrap();
    // points.parquet does not exist locally yet: its retry fails, so the manifest waits.
    let report = dlq.retry_all(&store).await;
    assert_eq!(report.succeeded, 2, "{report:?}");
    assert_eq!(report.failed, 2, "{report:?}");
    assert!(
        store
            .head(&format!("{snap}/manifest.json"))
            .await
            .unwrap()
            .is_none(),
        "manifest uploaded while points.parquet is missing"
    );
    assert_eq!(report.remaining, 2);

    std::fs::write(&points, b"points").unwrap();
    let report = dlq.retry_all(&store).await;
    assert_eq!((report.succeeded, report.failed), (2, 0), "{report:?}");
    assert!(store
        .head(&format!("{snap}/manifest.json"))
        .await
        .unwrap()
        .is_some());
    assert!(dlq.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_writes_are_compare_and_swap() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("objects");
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFs::new(&root).unwrap());
    akidb_storage::testing::check_conditional_writes(store.clone()).await;

    // The ETag is the hex SHA-256 of the content; S3-style quotes are accepted.
    let etag = store
        .put_if_absent("lease/a", Bytes::from_static(b"abc"))
        .await
        .unwrap();
    assert_eq!(
        etag,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    store
        .put_if_match(
            "lease/a",
            Bytes::from_static(b"def"),
            &format!("\"{etag}\""),
        )
        .await
        .unwrap();

    // The lock file exists but is neither listed nor usable as a key; no temp files remain.
    assert!(root.join(".akidb-cas.lock").is_file());
    let keys: Vec<String> = store
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|k| k.starts_with("cas/") || k == "lease/a"),
        "{keys:?}"
    );
    assert!(store.list(".akidb").await.unwrap().is_empty());
    let err = store
        .put(".akidb-cas.lock", Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_object_key");
    let err = store
        .put_if_absent(".akidb-cas.lock", Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_object_key");
    let mut names = Vec::new();
    for dir in [root.clone(), root.join("cas"), root.join("lease")] {
        for e in std::fs::read_dir(dir).unwrap() {
            names.push(e.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    assert!(
        names.iter().all(|n| !n.contains(".akidb-tmp-")),
        "{names:?}"
    );
}

/// Two stores on one directory (as two processes would have) race through the lock file:
/// of every round of conditional writes exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_writes_race_across_instances() {
    let tmp = tempfile::tempdir().unwrap();
    let stores: Vec<Arc<dyn ObjectStore>> = (0..2)
        .map(|_| Arc::new(LocalFs::new(tmp.path()).unwrap()) as Arc<dyn ObjectStore>)
        .collect();
    for round in 0..20 {
        let key = format!("leases/c{round}");
        let mut tasks = Vec::new();
        for i in 0..6u8 {
            let (store, key) = (stores[i as usize % 2].clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                (i, store.put_if_absent(&key, Bytes::from(vec![i])).await)
            }));
        }
        let (winner, etag) = akidb_storage::testing::expect_one_winner(tasks).await;
        let v = stores[1].get_versioned(&key).await.unwrap().unwrap();
        assert_eq!((v.data.to_vec(), v.etag.clone()), (vec![winner], etag));

        // Each writer read the same version; only one may replace it.
        let mut tasks = Vec::new();
        for i in 0..6u8 {
            let (store, key, etag) = (stores[i as usize % 2].clone(), key.clone(), v.etag.clone());
            tasks.push(tokio::spawn(async move {
                let data = Bytes::from(vec![round as u8, i]);
                (i, store.put_if_match(&key, data, &etag).await)
            }));
        }
        let (winner, etag) = akidb_storage::testing::expect_one_winner(tasks).await;
        let v = stores[0].get_versioned(&key).await.unwrap().unwrap();
        assert_eq!((v.data.to_vec(), v.etag), (vec![round as u8, winner], etag));
    }
}

const CAS_CHILD_DIR: &str = "AKIDB_TEST_CAS_CHILD_DIR";
const INCREMENTS: u64 = 40;

/// Adds `INCREMENTS` to the counter object with read / put_if_match retry loops.
async fn increment_counter(store: &LocalFs) {
    let mut done = 0;
    while done < INCREMENTS {
        let result = match store.get_versioned("counter").await.unwrap() {
            None => store.put_if_absent("counter", Bytes::from("1")).await,
            Some(v) => {
                let n: u64 = std::str::from_utf8(&v.data).unwrap().parse().unwrap();
                store
                    .put_if_match("counter", Bytes::from((n + 1).to_string()), &v.etag)
                    .await
            }
        };
        match result {
            Ok(_) => done += 1,
            Err(e) => assert_eq!(e.code(), "precondition_failed", "{e}"),
        }
    }
}

/// Not a test on its own: the body of the child processes of
/// `conditional_writes_exclude_other_processes` (does nothing without its env var).
#[tokio::test]
async fn cas_counter_child_process() {
    if let Some(dir) = std::env::var_os(CAS_CHILD_DIR) {
        increment_counter(&LocalFs::new(dir).unwrap()).await;
    }
}

/// Processes sharing a LocalFs directory: compare-and-swap increments from two child
/// processes and this one never lose an update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_exclude_other_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--exact", "cas_counter_child_process", "--test-threads=1"])
                .env(CAS_CHILD_DIR, tmp.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    increment_counter(&LocalFs::new(tmp.path()).unwrap()).await;
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let store = LocalFs::new(tmp.path()).unwrap();
    assert_eq!(
        store.get("counter").await.unwrap(),
        Bytes::from((3 * INCREMENTS).to_string())
    );
}
