//! `cargo xtask smoke --url <base>`: the six post-deploy smoke checks against a running AkiDB
//! (health, metrics, create collection, upsert 10 points, search k=5 with the right nearest
//! neighbour, delete collection). Each check is printed with its timing; the first failure stops
//! the run and is named in the error. `cargo xtask deploy` runs the same checks through a
//! port-forward.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `cargo xtask smoke`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Base URL of the REST API, e.g. http://127.0.0.1:8080
    #[arg(long)]
    pub url: String,
    /// API key sent as `Authorization: Bearer` (needs write access).
    #[arg(long, env = "AKIDB_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Timeout of each HTTP request, in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    /// PEM CA certificate to trust for an `https://` URL (instead of the system roots).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for a server that requires one (with `--key-file`).
    #[arg(long, requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `--cert-file`.
    #[arg(long, requires = "cert_file")]
    pub key_file: Option<PathBuf>,
}

/// TLS files of the smoke checks (all optional).
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// CA to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain.
    pub cert_file: Option<PathBuf>,
    /// Client private key.
    pub key_file: Option<PathBuf>,
}

fn http_client(timeout: Duration, tls: &TlsFiles) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder().timeout(timeout);
    if let Some(ca) = &tls.ca_file {
        let pem =
            std::fs::read(ca).with_context(|| format!("reading --ca-file {}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("--ca-file {} is not PEM", ca.display()))?;
        if certs.is_empty() {
            bail!("--ca-file {} holds no certificate", ca.display());
        }
        b = b.tls_certs_only(certs);
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(c), Some(k)) => {
            let mut pem =
                std::fs::read(c).with_context(|| format!("reading --cert-file {}", c.display()))?;
            pem.push(b'\n');
            pem.extend(
                std::fs::read(k).with_context(|| format!("reading --key-file {}", k.display()))?,
            );
            let id = reqwest::Identity::from_pem(&pem)
                .context("--cert-file/--key-file are not a PEM certificate and key")?;
            b = b.identity(id);
        }
        (None, None) => {}
        _ => bail!("--cert-file and --key-file go together"),
    }
    b.build().context("building the HTTP client")
}

/// Runs `cargo xtask smoke`.
pub fn run(args: Args) -> Result<()> {
    let tls = TlsFiles {
        ca_file: args.ca_file,
        cert_file: args.cert_file,
        key_file: args.key_file,
    };
    let report = run_checks_tls(
        &args.url,
        args.api_key.as_deref(),
        Duration::from_secs(args.timeout_secs),
        &tls,
    )?;
    let names: Vec<&str> = report.iter().map(|p| p.name).collect();
    println!(
        "smoke: all {} checks passed in {} ms ({})",
        report.len(),
        total_ms(&report),
        names.join(", ")
    );
    Ok(())
}

/// The six checks, in the order they run.
pub const CHECKS: [&str; 6] = [
    "health",
    "metrics",
    "create collection",
    "upsert 10 points",
    "search k=5",
    "delete collection",
];

/// One passed check and how long it took.
#[derive(Debug, Clone)]
pub struct Passed {
    /// Check name, one of [`CHECKS`].
    pub name: &'static str,
    /// Wall time of the check.
    pub elapsed: Duration,
}

fn total_ms(report: &[Passed]) -> u128 {
    report.iter().map(|p| p.elapsed.as_millis()).sum()
}

/// Runs the six checks against `base`, printing each; errors name the first failed check.
pub fn run_checks(base: &str, api_key: Option<&str>, timeout: Duration) -> Result<Vec<Passed>> {
    run_checks_tls(base, api_key, timeout, &TlsFiles::default())
}

/// [`run_checks`] with a CA and/or client certificate for an `https://` server.
pub fn run_checks_tls(
    base: &str,
    api_key: Option<&str>,
    timeout: Duration,
    tls: &TlsFiles,
) -> Result<Vec<Passed>> {
    let client = http_client(timeout, tls)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(checks(base.trim_end_matches('/'), api_key, client))
}

/// GETs `<base>/metrics` and returns the Prometheus text (used by the deploy observation window).
pub fn fetch_metrics(base: &str, timeout: Duration) -> Result<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let url = format!("{}/metrics", base.trim_end_matches('/'));
    rt.block_on(async {
        let client = reqwest::Client::builder().timeout(timeout).build()?;
        let resp = client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("GET {url} answered {status}: {text}");
        }
        Ok(text)
    })
}

struct Api<'a> {
    client: reqwest::Client,
    base: &'a str,
    api_key: Option<&'a str>,
}

impl Api<'_> {
    /// Sends a request and returns (status, body text).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, String)> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.client.request(method.clone(), &url);
        if let Some(key) = self.api_key {
            req = req.bearer_auth(key);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .with_context(|| format!("reading the answer of {method} {url}"))?;
        Ok((status, text))
    }

    async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        ok: &[u16],
    ) -> Result<String> {
        let (status, text) = self.call(method.clone(), path, body).await?;
        if !ok.contains(&status) {
            bail!(
                "{method} {path} answered {status} (expected {ok:?}): {}",
                truncate(&text)
            );
        }
        Ok(text)
    }
}

fn truncate(s: &str) -> String {
    let t: String = s.chars().take(300).collect();
    if t.len() < s.len() {
        format!("{t}…")
    } else {
        t
    }
}

/// Vector of smoke point `i`: far apart for different `i`, so the nearest neighbour is unambiguous.
fn point_vector(i: u64) -> Vec<f32> {
    let x = i as f32;
    vec![x, 10.0 - x, (x * 0.7).sin() * 3.0, 1.0]
}

async fn checks(base: &str, api_key: Option<&str>, client: reqwest::Client) -> Result<Vec<Passed>> {
    let api = Api {
        client,
        base,
        api_key,
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let collection = format!("smoke_{}_{}", std::process::id(), nanos);
    let mut passed = Vec::new();
    let mut created = false;
    println!("smoke: {base} (collection {collection})");
    for name in CHECKS {
        let start = Instant::now();
        let result = one_check(&api, name, &collection).await;
        let elapsed = start.elapsed();
        match result {
            Ok(()) => {
                println!("  ok    {name:<18} {:>6} ms", elapsed.as_millis());
                if name == "create collection" {
                    created = true;
                }
                if name == "delete collection" {
                    created = false;
                }
                passed.push(Passed { name, elapsed });
            }
            Err(e) => {
                println!("  FAIL  {name:<18} {:>6} ms  {e:#}", elapsed.as_millis());
                if created {
                    // Best effort: leave no smoke collection behind on a live server.
                    let _ = api
                        .call(
                            reqwest::Method::DELETE,
                            &format!("/api/v1/collections/{collection}"),
                            None,
                        )
                        .await;
                }
                return Err(e.context(format!("smoke check `{name}` failed against {base}")));
            }
        }
    }
    Ok(passed)
}

async fn one_check(api: &Api<'_>, name: &str, collection: &str) -> Result<()> {
    use reqwest::Method;
    let coll = format!("/api/v1/collections/{collection}");
    match name {
        "health" => {
            api.expect(Method::GET, "/health", None, &[200]).await?;
            api.expect(Method::GET, "/ready", None, &[200]).await?;
        }
        "metrics" => {
            let text = api.expect(Method::GET, "/metrics", None, &[200]).await?;
            if !text
                .lines()
                .any(|l| l.starts_with("akidb_") || l.starts_with("# TYPE akidb_"))
            {
                bail!("GET /metrics has no akidb_* metric: {}", truncate(&text));
            }
        }
        "create collection" => {
            let body = json!({"name": collection, "dimension": 4, "metric": "l2",
                              "index": {"m": 16, "ef_construction": 100, "ef_search": 64}});
            let text = api
                .expect(Method::POST, "/api/v1/collections", Some(body), &[200, 201])
                .await?;
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("create answered non-JSON: {}", truncate(&text)))?;
            if v["name"] != collection {
                bail!(
                    "create answered a collection named {} instead of {collection}",
                    v["name"]
                );
            }
        }
        "upsert 10 points" => {
            let points: Vec<Value> = (0..10u64)
                .map(|i| json!({"id": i, "vector": point_vector(i), "payload": {"smoke": true, "i": i}}))
                .collect();
            let text = api
                .expect(
                    Method::PUT,
                    &format!("{coll}/points"),
                    Some(json!({"points": points})),
                    &[200],
                )
                .await?;
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("upsert answered non-JSON: {}", truncate(&text)))?;
            if v["upserted"] != 10 {
                bail!(
                    "upsert answered {} instead of {{\"upserted\":10}}",
                    truncate(&text)
                );
            }
        }
        "search k=5" => {
            let mut query = point_vector(7);
            query[0] += 0.05;
            let text = api
                .expect(
                    Method::POST,
                    &format!("{coll}/search"),
                    Some(json!({"vector": query, "k": 5})),
                    &[200],
                )
                .await?;
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("search answered non-JSON: {}", truncate(&text)))?;
            let hits = v["hits"]
                .as_array()
                .ok_or_else(|| anyhow!("search answer has no hits array: {}", truncate(&text)))?;
            if hits.len() != 5 {
                bail!("search k=5 returned {} hits", hits.len());
            }
            if hits[0]["id"] != 7 {
                bail!(
                    "nearest neighbour is {} instead of 7: {}",
                    hits[0]["id"],
                    truncate(&text)
                );
            }
        }
        "delete collection" => {
            api.expect(Method::DELETE, &coll, None, &[200, 204]).await?;
            api.expect(Method::GET, &coll, None, &[404]).await?;
        }
        other => bail!("unknown smoke check {other}"),
    }
    Ok(())
}
