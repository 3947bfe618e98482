//! `cargo xtask smoke`: all six checks pass against the real `akidb` server; against servers
//! that miss a route or answer wrongly the run fails naming the check, with a non-zero exit.

mod ops_support;

#[allow(dead_code)]
#[path = "../src/smoke.rs"]
mod smoke;

use ops_support::http::{Behaviour, FakeServer};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn all_six_checks_pass_against_the_real_server() {
    let bin = ops_support::server_bin();
    let data = tempfile::tempdir().unwrap();
    let (rest, grpc) = (free_port(), free_port());
    let child = Command::new(&bin)
        .env("AKIDB_REST_ADDR", format!("127.0.0.1:{rest}"))
        .env("AKIDB_GRPC_ADDR", format!("127.0.0.1:{grpc}"))
        .env("AKIDB_DATA_DIR", data.path())
        .env("AKIDB_S3_ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let _server = Server(child);
    let url = format!("http://127.0.0.1:{rest}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", rest)).is_err() {
        assert!(
            Instant::now() < deadline,
            "server did not listen on {rest} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let report =
        smoke::run_checks(&url, None, Duration::from_secs(10)).expect("all smoke checks pass");
    let names: Vec<&str> = report.iter().map(|p| p.name).collect();
    assert_eq!(names, smoke::CHECKS.to_vec());

    // The CLI prints each check with its timing and exits 0.
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["smoke", "--url", &url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in smoke::CHECKS {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains("ok") && l.contains(name) && l.trim_end().ends_with("ms")),
            "{name}: {stdout}"
        );
    }
}

#[test]
fn all_six_checks_pass_against_a_complete_fake() {
    let fake = FakeServer::start(Behaviour::default());
    let report = smoke::run_checks(&fake.url, None, Duration::from_secs(5)).expect("passes");
    assert_eq!(report.len(), 6);
}

fn cli_fails_naming(fake: &FakeServer, check: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["smoke", "--url", &fake.url])
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "must exit non-zero: {all}");
    assert!(
        all.contains(&format!("smoke check `{check}` failed")),
        "must name {check}: {all}"
    );
    assert!(all.contains("FAIL"), "{all}");
}

#[test]
fn a_missing_route_fails_naming_the_check() {
    for (route, check) in [
        ("ready", "health"),
        ("metrics", "metrics"),
        ("create", "create collection"),
        ("upsert", "upsert 10 points"),
        ("search", "search k=5"),
        ("delete", "delete collection"),
    ] {
        let fake = FakeServer::start(Behaviour {
            missing: vec![route],
            ..Default::default()
        });
        let err = smoke::run_checks(&fake.url, None, Duration::from_secs(5)).expect_err(route);
        assert!(
            format!("{err:#}").contains(&format!("smoke check `{check}` failed")),
            "{route}: {err:#}"
        );
        if check == "search k=5" {
            // The collection created by the run is cleaned up after the failure.
            assert!(fake
                .requests()
                .iter()
                .any(|r| r.starts_with("DELETE /api/v1/collections/smoke_")));
        }
    }
    cli_fails_naming(
        &FakeServer::start(Behaviour {
            missing: vec!["upsert"],
            ..Default::default()
        }),
        "upsert 10 points",
    );
}

#[test]
fn a_wrong_nearest_neighbour_fails_the_search_check() {
    let fake = FakeServer::start(Behaviour {
        wrong_order: true,
        ..Default::default()
    });
    let err = smoke::run_checks(&fake.url, None, Duration::from_secs(5)).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("smoke check `search k=5` failed") && msg.contains("instead of 7"),
        "{msg}"
    );
}

#[test]
fn an_unreachable_server_fails_the_health_check() {
    let port = free_port();
    let err = smoke::run_checks(
        &format!("http://127.0.0.1:{port}"),
        None,
        Duration::from_secs(2),
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("smoke check `health` failed"),
        "{err:#}"
    );
}
