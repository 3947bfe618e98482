//! Debian's `docker-registry` on a free loopback port with filesystem storage.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) registry whose storage survives restarts.
pub struct Registry {
    pub port: u16,
    bin: PathBuf,
    config: PathBuf,
    child: Option<Child>,
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Starts the registry with storage under `dir`.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, "")
    }

    /// Starts the registry in read-only maintenance mode: pulls work, every push is refused
    /// (`405 UNSUPPORTED`), like a registry under maintenance.
    pub fn start_read_only(dir: &Path) -> Self {
        Self::start_with(dir, "  maintenance:\n    readonly:\n      enabled: true\n")
    }

    /// Starts the registry with extra lines (indented) in its `storage:` section.
    pub fn start_with(dir: &Path, storage_extra: &str) -> Self {
        let bin = super::env_path("AKIDB_TEST_REGISTRY_BIN");
        let port = free_port();
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n{storage_extra}http:\n  addr: 127.0.0.1:{port}\n",
                dir.join("storage").display()
            ),
        )
        .unwrap();
        let mut r = Registry {
            port,
            bin,
            config,
            child: None,
        };
        r.restart();
        r
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// (Re)starts the process and waits until `/v2/` answers.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(&self.bin)
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if self.get("/v2/").starts_with("HTTP/1.0 200")
                || self.get("/v2/").starts_with("HTTP/1.1 200")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not come up on {}", self.host());
    }

    /// SIGKILLs the process.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Raw GET; returns the whole response text ("" if unreachable).
    pub fn get(&self, path: &str) -> String {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// Body of a GET as JSON.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let r = self.get(path);
        let body = r.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}
