//! OCI plumbing shared by the image and chart steps: blobs, descriptors, image layouts and
//! pushing to a registry with `oci-client` (blobs skipped when present, manifests pushed as
//! the exact bytes whose digest we computed).

use super::util::{is_loopback_host, sha256_digest, write_atomic};
use anyhow::{bail, Context, Result};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde_json::{json, Value};
use std::path::Path;

/// OCI image index media type.
pub const INDEX_MT: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest media type.
pub const MANIFEST_MT: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config media type.
pub const CONFIG_MT: &str = "application/vnd.oci.image.config.v1+json";
/// Gzipped layer media type.
pub const LAYER_MT: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Helm chart config media type.
pub const HELM_CONFIG_MT: &str = "application/vnd.cncf.helm.config.v1+json";
/// Helm chart content media type.
pub const HELM_LAYER_MT: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// Content-addressed bytes with their media type.
#[derive(Debug, Clone)]
pub struct Blob {
    /// Media type used in descriptors.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// The bytes.
    pub data: bytes::Bytes,
}

impl Blob {
    /// Wraps `data`, computing its digest.
    pub fn new(media_type: &str, data: Vec<u8>) -> Self {
        Blob {
            media_type: media_type.to_string(),
            digest: sha256_digest(&data),
            data: data.into(),
        }
    }

    /// Wraps a JSON document serialised compactly (the exact bytes get pushed).
    pub fn json(media_type: &str, v: &Value) -> Self {
        Blob::new(
            media_type,
            serde_json::to_vec(v).expect("JSON values always serialise"),
        )
    }

    /// OCI descriptor `{mediaType, digest, size}`.
    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.data.len()})
    }
}

/// Writes an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) into `dir`.
pub fn write_layout(dir: &Path, blobs: &[&Blob], top: &Blob, ref_name: &str) -> Result<()> {
    std::fs::create_dir_all(dir.join("blobs/sha256"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    write_atomic(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    for b in blobs.iter().chain(std::iter::once(&top)) {
        let p = dir.join("blobs/sha256").join(&b.digest["sha256:".len()..]);
        if !p.exists() {
            write_atomic(&p, &b.data)?;
        }
    }
    let mut desc = top.descriptor();
    desc["annotations"] = json!({"org.opencontainers.image.ref.name": ref_name});
    let index = json!({"schemaVersion": 2, "mediaType": INDEX_MT, "manifests": [desc]});
    write_atomic(&dir.join("index.json"), &serde_json::to_vec_pretty(&index)?)
}

/// A registry location from `--registry host[:port][/namespace]`.
#[derive(Debug, Clone)]
pub struct Registry {
    /// `host[:port]`.
    pub host: String,
    /// Repository prefix (may be empty).
    pub namespace: String,
    /// Plain http (loopback or `--insecure-registry`).
    pub insecure: bool,
}

impl Registry {
    /// Parses `host[:port][/namespace]`.
    pub fn parse(s: &str, insecure: bool) -> Result<Self> {
        let s = s.trim().trim_start_matches("oci://").trim_end_matches('/');
        if s.is_empty() {
            bail!("empty registry: pass --registry HOST[:PORT][/NAMESPACE] or set AKIDB_REGISTRY");
        }
        let (host, ns) = s.split_once('/').unwrap_or((s, ""));
        Ok(Registry {
            insecure: insecure || is_loopback_host(host),
            host: host.to_string(),
            namespace: ns.to_string(),
        })
    }

    /// Repository path of `name` under the namespace.
    pub fn repo(&self, name: &str) -> String {
        if self.namespace.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.namespace)
        }
    }

    /// `host/namespace/name`.
    pub fn display(&self, name: &str) -> String {
        format!("{}/{}", self.host, self.repo(name))
    }

    /// Credentials from `AKIDB_REGISTRY_USERNAME` / `AKIDB_REGISTRY_PASSWORD` (anonymous if unset).
    pub fn auth() -> Result<RegistryAuth> {
        match (
            std::env::var("AKIDB_REGISTRY_USERNAME").ok(),
            std::env::var("AKIDB_REGISTRY_PASSWORD").ok(),
        ) {
            (Some(u), Some(p)) => Ok(RegistryAuth::Basic(u, p)),
            (Some(_), None) => {
                bail!("AKIDB_REGISTRY_USERNAME is set but AKIDB_REGISTRY_PASSWORD is not")
            }
            _ => Ok(RegistryAuth::Anonymous),
        }
    }
}

/// Checks that `registry` accepts a push into `name` without pushing anything: authenticates
/// for push, then opens a blob upload and cancels it (a read-only registry or one that denies
/// the repository answers this with an error). `Err` is one sentence naming what to fix.
pub async fn probe_push(registry: &Registry, name: &str) -> std::result::Result<(), String> {
    let pusher = Pusher::new(registry).map_err(|e| format!("{e:#}"))?;
    let repo = registry.repo(name);
    let r = pusher.reference(&repo, "latest");
    if let Err(e) = pusher.login(&r).await {
        return Err(format!("{e:#}"));
    }
    let scheme = if registry.insecure { "http" } else { "https" };
    let base = format!("{scheme}://{}", registry.host);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let mut req = client.post(format!("{base}/v2/{repo}/blobs/uploads/"));
    if let RegistryAuth::Basic(u, p) = &pusher.auth {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("cannot reach registry {}: {e}", registry.host))?;
    let status = resp.status().as_u16();
    let bearer = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("bearer"));
    if status == 202 {
        if let Some(loc) = resp.headers().get("location").and_then(|v| v.to_str().ok()) {
            let url = if loc.starts_with("http") {
                loc.to_string()
            } else {
                format!("{base}{loc}")
            };
            let mut del = client.delete(url);
            if let RegistryAuth::Basic(u, p) = &pusher.auth {
                del = del.basic_auth(u, Some(p));
            }
            let _ = del.send().await;
        }
        return Ok(());
    }
    // Token registries (ghcr.io) want a bearer token here; the push login above covered them.
    if status == 401 && bearer {
        return Ok(());
    }
    let body = resp.text().await.unwrap_or_default();
    let why = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| {
            v["errors"][0]["code"]
                .as_str()
                .map(|c| format!("{c}: {}", v["errors"][0]["message"].as_str().unwrap_or("")))
        })
        .unwrap_or_else(|| body.trim().chars().take(120).collect());
    Err(format!(
        "registry {} refuses a push to {repo} (HTTP {status} {why})",
        registry.host
    ))
}

/// Pushes blobs and manifests, skipping what the registry already holds.
pub struct Pusher {
    client: Client,
    auth: RegistryAuth,
    /// Target registry.
    pub registry: Registry,
    /// Blobs uploaded by this pusher.
    pub uploaded: usize,
    /// Blobs found already present.
    pub skipped: usize,
}

impl Pusher {
    /// A client for `registry` (http for loopback/insecure, https otherwise).
    pub fn new(registry: &Registry) -> Result<Self> {
        let protocol = if registry.insecure {
            ClientProtocol::HttpsExcept(vec![registry.host.clone()])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            ..ClientConfig::default()
        };
        Ok(Pusher {
            client: Client::new(config),
            auth: Registry::auth()?,
            registry: registry.clone(),
            uploaded: 0,
            skipped: 0,
        })
    }

    fn reference(&self, repo: &str, tag_or_digest: &str) -> Reference {
        if tag_or_digest.starts_with("sha256:") {
            Reference::with_digest(
                self.registry.host.clone(),
                repo.to_string(),
                tag_or_digest.to_string(),
            )
        } else {
            Reference::with_tag(
                self.registry.host.clone(),
                repo.to_string(),
                tag_or_digest.to_string(),
            )
        }
    }

    async fn login(&self, r: &Reference) -> Result<()> {
        self.client
            .auth(r, &self.auth, RegistryOperation::Push)
            .await
            .with_context(|| format!("cannot authenticate to registry {}", self.registry.host))?;
        Ok(())
    }

    /// Uploads `blob` into `repo` unless it is already there.
    pub async fn blob(&mut self, repo: &str, blob: &Blob) -> Result<()> {
        let r = self.reference(repo, &blob.digest);
        self.login(&r).await?;
        let exists = self
            .client
            .blob_exists(&r, &blob.digest)
            .await
            .with_context(|| format!("registry {} unreachable (HEAD blob)", self.registry.host))?;
        if exists {
            self.skipped += 1;
            return Ok(());
        }
        self.client
            .push_blob(&r, blob.data.clone(), &blob.digest)
            .await
            .with_context(|| {
                format!(
                    "pushing blob {} to {}",
                    blob.digest,
                    self.registry.display(repo)
                )
            })?;
        self.uploaded += 1;
        Ok(())
    }

    /// Digest of the manifest `repo:reference` on the registry, if present.
    pub async fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<String>> {
        let r = self.reference(repo, reference);
        self.login(&r).await?;
        match self
            .client
            .pull_manifest_raw(&r, &self.auth, &[INDEX_MT, MANIFEST_MT])
            .await
        {
            Ok((bytes, _)) => Ok(Some(sha256_digest(&bytes))),
            Err(oci_client::errors::OciDistributionError::ImageManifestNotFoundError(_)) => {
                Ok(None)
            }
            Err(oci_client::errors::OciDistributionError::RegistryError { envelope, .. })
                if envelope.errors.iter().any(|e| {
                    matches!(
                        e.code,
                        oci_client::errors::OciErrorCode::ManifestUnknown
                            | oci_client::errors::OciErrorCode::NameUnknown
                    )
                }) =>
            {
                Ok(None)
            }
            Err(oci_client::errors::OciDistributionError::ServerError { code: 404, .. }) => {
                Ok(None)
            }
            Err(e) => Err(e).with_context(|| {
                format!("registry {} unreachable (GET manifest)", self.registry.host)
            }),
        }
    }

    /// Pushes `manifest` as `repo:reference` unless that reference already has these bytes.
    /// Returns whether anything was written.
    pub async fn manifest(&self, repo: &str, reference: &str, manifest: &Blob) -> Result<bool> {
        if self.manifest_digest(repo, reference).await?.as_deref() == Some(&manifest.digest) {
            return Ok(false);
        }
        let r = self.reference(repo, reference);
        self.client
            .push_manifest_raw(
                &r,
                manifest.data.clone(),
                manifest.media_type.parse().context("bad media type")?,
            )
            .await
            .with_context(|| {
                format!(
                    "pushing manifest {}:{reference}",
                    self.registry.display(repo)
                )
            })?;
        Ok(true)
    }
}
