//! A small in-process HTTP server speaking the part of AkiDB's REST API the smoke checks use
//! (docs/api.md), with real in-memory storage and exact L2/cosine/dot search. Tests use it as the
//! target of `cargo xtask smoke` and as the "pod" behind the fake cluster's port-forward, and
//! can break one route or serve scripted `/metrics` text.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What the fake serves differently from a healthy server.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// Route names answered with 404: "health", "ready", "metrics", "create", "upsert", "search",
    /// "delete", "get", "getpoint".
    pub missing: Vec<&'static str>,
    /// Search answers the farthest points first.
    pub wrong_order: bool,
}

type Collection = (usize, String, Vec<(Value, Vec<f32>, Value)>);

struct State {
    behaviour: Behaviour,
    metrics: String,
    collections: HashMap<String, Collection>,
    requests: Vec<String>,
}

/// Handle to a running fake server; it serves until the test process exits.
#[derive(Clone)]
pub struct FakeServer {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeServer {
    /// Starts the server on a free port.
    pub fn start(behaviour: Behaviour) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            behaviour,
            metrics: "# TYPE akidb_build_info gauge\nakidb_build_info{version=\"2.0.0\"} 1\n"
                .into(),
            collections: HashMap::new(),
            requests: Vec::new(),
        }));
        let st = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &st);
                });
            }
        });
        FakeServer { url, state }
    }

    /// Replaces the `/metrics` body.
    pub fn set_metrics(&self, text: &str) {
        self.state.lock().unwrap().metrics = text.to_string();
    }

    /// "METHOD /path" of every request served so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn serve(stream: TcpStream, state: &Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let (status, content_type, text) = route(state, &method, &path, &body);
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    )?;
    out.flush()
}

fn error(status: u16, code: &str) -> (u16, &'static str, String) {
    (
        status,
        "application/json",
        json!({"error": {"code": code, "message": code}}).to_string(),
    )
}

fn route(
    state: &Arc<Mutex<State>>,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, &'static str, String) {
    let mut st = state.lock().unwrap();
    st.requests.push(format!("{method} {path}"));
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let name = match (method, segs.as_slice()) {
        ("GET", ["health"]) => "health",
        ("GET", ["ready"]) => "ready",
        ("GET", ["metrics"]) => "metrics",
        ("POST", ["api", "v1", "collections"]) => "create",
        ("PUT", ["api", "v1", "collections", _, "points"]) => "upsert",
        ("POST", ["api", "v1", "collections", _, "search"]) => "search",
        ("DELETE", ["api", "v1", "collections", _]) => "delete",
        ("GET", ["api", "v1", "collections", _]) => "get",
        ("GET", ["api", "v1", "collections", _, "points", _]) => "getpoint",
        _ => return error(404, "not_found"),
    };
    if st.behaviour.missing.contains(&name) {
        return error(404, "not_found");
    }
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match name {
        "health" | "ready" => (200, "application/json", r#"{"status":"ok"}"#.into()),
        "metrics" => (200, "text/plain; version=0.0.4", st.metrics.clone()),
        "create" => {
            let (Some(n), Some(dim)) = (json["name"].as_str(), json["dimension"].as_u64()) else {
                return error(400, "invalid_argument");
            };
            if st.collections.contains_key(n) {
                return error(409, "collection_exists");
            }
            let metric = json["metric"].as_str().unwrap_or("cosine").to_string();
            st.collections
                .insert(n.to_string(), (dim as usize, metric.clone(), Vec::new()));
            (
                201,
                "application/json",
                json!({"name": n, "dimension": dim, "metric": metric, "points": 0, "tier": "hot"})
                    .to_string(),
            )
        }
        "upsert" => {
            let Some(c) = st.collections.get_mut(segs[3]) else {
                return error(404, "collection_not_found");
            };
            let points = json["points"].as_array().cloned().unwrap_or_default();
            for p in &points {
                let v: Vec<f32> = p["vector"]
                    .as_array()
                    .unwrap_or(&vec![])
                    .iter()
                    .map(|x| x.as_f64().unwrap_or(0.0) as f32)
                    .collect();
                if v.len() != c.0 {
                    return error(400, "dimension_mismatch");
                }
                c.2.retain(|(id, _, _)| id != &p["id"]);
                c.2.push((p["id"].clone(), v, p["payload"].clone()));
            }
            (
                200,
                "application/json",
                json!({"upserted": points.len()}).to_string(),
            )
        }
        "search" => {
            let wrong = st.behaviour.wrong_order;
            let Some(c) = st.collections.get(segs[3]) else {
                return error(404, "collection_not_found");
            };
            let q: Vec<f32> = json["vector"]
                .as_array()
                .unwrap_or(&vec![])
                .iter()
                .map(|x| x.as_f64().unwrap_or(0.0) as f32)
                .collect();
            let k = json["k"].as_u64().unwrap_or(10) as usize;
            let mut scored: Vec<(f32, Value)> =
                c.2.iter()
                    .map(|(id, v, _)| {
                        (
                            v.iter()
                                .zip(&q)
                                .map(|(a, b)| (a - b) * (a - b))
                                .sum::<f32>()
                                .sqrt(),
                            id.clone(),
                        )
                    })
                    .collect();
            scored.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
            if wrong {
                scored.reverse();
            }
            let hits: Vec<Value> = scored
                .into_iter()
                .take(k)
                .map(|(d, id)| json!({"id": id, "score": d}))
                .collect();
            (200, "application/json", json!({"hits": hits}).to_string())
        }
        "delete" => match st.collections.remove(segs[3]) {
            Some(_) => (200, "application/json", "{}".into()),
            None => error(404, "collection_not_found"),
        },
        "get" => match st.collections.get(segs[3]) {
            Some(c) => (
                200,
                "application/json",
                json!({"name": segs[3], "dimension": c.0, "points": c.2.len()}).to_string(),
            ),
            None => error(404, "collection_not_found"),
        },
        "getpoint" => {
            let Some(c) = st.collections.get(segs[3]) else {
                return error(404, "collection_not_found");
            };
            let id: Value = segs[5]
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(segs[5]));
            match c.2.iter().find(|(i, _, _)| i == &id) {
                Some((i, v, payload)) => (
                    200,
                    "application/json",
                    json!({"id": i, "vector": v, "payload": payload}).to_string(),
                ),
                None => error(404, "point_not_found"),
            }
        }
        _ => error(404, "not_found"),
    }
}
