//! Starts the real `akidb` binary on free ports with a temporary data directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use akidb_client::Client;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server process.
pub struct Server {
    pub child: Option<Child>,
    pub rest: String,
    pub grpc: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub env: Vec<(String, String)>,
}

/// The `akidb` binary with the test environment's AKIDB_* variables removed.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_akidb"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AKIDB_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd
}

impl Server {
    /// Starts a server on `data_dir` with extra environment variables and waits until ready.
    pub async fn start(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut s = Server::spawn(data_dir, env);
        s.wait_ready().await;
        s
    }

    /// Starts the process without waiting.
    pub fn spawn(data_dir: &Path, env: Vec<(String, String)>) -> Server {
        let rest = format!("127.0.0.1:{}", free_port());
        let grpc = format!("127.0.0.1:{}", free_port());
        let log = data_dir.with_extension(format!("{}.log", free_port()));
        let mut cmd = command();
        cmd.env("AKIDB_REST_ADDR", &rest)
            .env("AKIDB_GRPC_ADDR", &grpc)
            .env("AKIDB_DATA_DIR", data_dir)
            .env("AKIDB_LOG_LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start akidb");
        Server {
            child: Some(child),
            rest: format!("http://{rest}"),
            grpc: format!("http://{grpc}"),
            data_dir: data_dir.to_path_buf(),
            log,
            env,
        }
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `/ready` until 200 (30 s at most).
    pub async fn wait_ready(&mut self) {
        let client = Client::new(&self.rest).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(true) = client.ready().await {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "akidb exited with {status} before ready; log:\n{}",
                    self.log_text()
                );
            }
            if Instant::now() > deadline {
                panic!("akidb not ready after 60 s; log:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts a TLS server (`AKIDB_TLS_*` in `env`): `rest`/`grpc` become `https://`
    /// URLs and readiness is polled over TLS with `tls`.
    pub async fn start_tls(
        data_dir: &Path,
        env: &[(&str, &str)],
        tls: &akidb_client::TlsOptions,
    ) -> Server {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut s = Server::spawn(data_dir, env);
        s.rest = s.rest.replacen("http://", "https://", 1);
        s.grpc = s.grpc.replacen("http://", "https://", 1);
        let client = Client::with_tls(&s.rest, tls).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(true) = client.ready().await {
                return s;
            }
            if let Some(status) = s.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "akidb exited with {status} before ready; log:\n{}",
                    s.log_text()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "akidb not ready over TLS after 60 s; log:\n{}",
                    s.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A REST client (no key).
    pub fn client(&self) -> Client {
        Client::new(&self.rest).unwrap()
    }

    /// Sends SIGTERM and waits for the exit (at most `limit`).
    pub fn terminate(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, start.elapsed());
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                panic!(
                    "akidb did not exit within {limit:?} of SIGTERM; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, no chance to flush.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a new process on the same data directory and environment.
    pub async fn restart(&mut self) {
        self.kill9();
        let next = Server::spawn(&self.data_dir, self.env.clone());
        *self = next;
        self.wait_ready().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Server environment for S3 at `endpoint` (SeaweedFS or a proxy in front of it), with a
/// breaker that opens after three failed calls and half-opens after `cool_down`.
pub fn s3_env(
    endpoint: &str,
    weed: &akidb_storage::testing::SeaweedFs,
    cool_down: Duration,
) -> Vec<(String, String)> {
    [
        ("AKIDB_S3_ENABLED", "true".to_string()),
        ("AKIDB_S3_ENDPOINT", endpoint.to_string()),
        ("AKIDB_S3_BUCKET", weed.bucket().to_string()),
        ("AKIDB_S3_REGION", "us-east-1".to_string()),
        ("AKIDB_S3_PATH_STYLE", "true".to_string()),
        (
            "AKIDB_S3_ACCESS_KEY_ID",
            akidb_storage::testing::TEST_ACCESS_KEY.to_string(),
        ),
        (
            "AKIDB_S3_SECRET_ACCESS_KEY",
            akidb_storage::testing::TEST_SECRET_KEY.to_string(),
        ),
        ("AKIDB_BREAKER_CONSECUTIVE_FAILURES", "3".to_string()),
        (
            "AKIDB_BREAKER_COOL_DOWN",
            format!("{}s", cool_down.as_secs()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Starts SeaweedFS off the async runtime (its start-up blocks for seconds).
pub async fn start_weed() -> akidb_storage::testing::SeaweedFs {
    tokio::task::spawn_blocking(akidb_storage::testing::SeaweedFs::start)
        .await
        .expect("SeaweedFS start")
}

/// A direct S3 client for the test bucket (not through the proxy).
pub async fn bucket_store(weed: &akidb_storage::testing::SeaweedFs) -> akidb_storage::S3Store {
    akidb_storage::S3Store::connect(weed.s3_config())
        .await
        .expect("connect to SeaweedFS directly")
}

/// JSON calls to a test server's REST API under one prefix (e.g. `/api/v1/collections`);
/// each test adds its own shortcuts in an `impl Rest` block.
#[derive(Clone)]
pub struct Rest {
    pub http: reqwest::Client,
    pub base: String,
}

impl Rest {
    /// Calls go to `{server.rest}{prefix}{path}`.
    pub fn new(server: &Server, prefix: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: format!("{}{prefix}", server.rest),
        }
    }

    /// Sends `body` (if any) as JSON; returns the status and the JSON answer.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, v)
    }

    /// [`Rest::call`] that must answer 200 or 201.
    pub async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let (status, v) = self.call(method, path, body.clone()).await;
        assert!(
            status == 200 || status == 201,
            "{path} {body:?}: {status} {v}"
        );
        v
    }
}
