//! The web console in a real headless Chromium (Debian `chromium` + `chromium-driver`,
//! driven by Selenium from `console_driver.py`) against the real binary with an API key:
//! key handling, the collections list, browsing and searching a collection (with a
//! filter), demote and promote, a snapshot, the empty dead-letter queue, the live view,
//! and the messages for a wrong key, a missing collection and a dead server (issue #17).
//! Screenshots of every page go to `target/tmp/console-screenshots/`.

mod common;

use akidb_client::Client;
use common::Server;
use serde_json::json;
use std::path::PathBuf;

const KEY: &str = "console-test-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_lists_searches_and_moves_tiers_in_chromium() {
    let pydeps = std::env::var_os("AKIDB_TEST_PYTHONPATH").unwrap_or_else(|| {
        panic!(
            "AKIDB_TEST_PYTHONPATH is not set: run the tests through `cargo xtask test`, which \
             installs selenium (pip) and chromium + chromium-driver (apt)"
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &[("AKIDB_API_KEY", KEY)]).await;

    // The assets are served without a key (they hold no data) and with their types.
    let http = reqwest::Client::new();
    for (path, kind) in [
        ("/console/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/style.css", "text/css"),
    ] {
        let resp = http
            .get(format!("{}{path}", server.rest))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with(kind), "{path}: {ct}");
    }
    // …while the API behind them still needs it.
    let status = http
        .get(format!("{}/api/v1/collections", server.rest))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);

    let client: Client = server.client().with_api_key(KEY);
    let (s, body) = client
        .raw(
            reqwest::Method::POST,
            &["api", "v1", "collections"],
            Some(
                serde_json::to_vec(&json!({"name":"docs","dimension":4,"metric":"cosine"}))
                    .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&body));
    let points: Vec<_> = (0..40)
        .map(|i: u32| {
            let x = i as f32;
            json!({"id": i, "vector": [1.0 + x, (x * 0.7).sin(), (x * 1.3).cos(), 0.5],
                   "payload": {"section": if i % 4 == 0 { "faq" } else { "library" }, "n": i}})
        })
        .collect();
    let (s, body) = client
        .raw(
            reqwest::Method::PUT,
            &["api", "v1", "collections", "docs", "points"],
            Some(serde_json::to_vec(&json!({ "points": points })).unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/console_driver.py");
    let pid = server.child.as_ref().unwrap().id();
    let out = tokio::task::spawn_blocking({
        let rest = server.rest.clone();
        move || {
            std::process::Command::new("python3")
                .arg(&script)
                .env("PYTHONPATH", &pydeps)
                .env("AKIDB_URL", rest)
                .env("AKIDB_KEY", KEY)
                .env("AKIDB_PID", pid.to_string())
                .env("SCREENSHOT_DIR", &shots)
                .output()
                .expect("run python3")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "console_driver.py failed ({}):\n{stdout}\n{stderr}\nserver log:\n{}",
        out.status,
        server.log_text()
    );
    println!("CONSOLE {}", stdout.trim());
    // The driver killed the server to check the "server down" message.
    server.kill9();
}
