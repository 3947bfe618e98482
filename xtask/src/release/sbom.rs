//! CycloneDX 1.5 JSON SBOM of the workspace's crates and their dependencies, from
//! `cargo metadata`.

use super::util::{rfc3339, sh, sha256_hex};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::Path;

/// Builds the SBOM document for `version` (timestamps from `epoch`, so it is reproducible).
pub fn generate(root: &Path, version: &str, epoch: i64) -> Result<Value> {
    let args = ["metadata", "--format-version", "1", "--offline"];
    let out = sh(root, "cargo", &args).or_else(|_| sh(root, "cargo", &args[..3]))?;
    let meta: Value = serde_json::from_str(&out).context("cargo metadata printed invalid JSON")?;
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let purl = |p: &Value| {
        format!(
            "pkg:cargo/{}@{}",
            p["name"].as_str().unwrap_or(""),
            p["version"].as_str().unwrap_or("")
        )
    };
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let mut components: Vec<Value> = packages
        .iter()
        .map(|p| {
            let id = p["id"].as_str().unwrap_or("");
            let mut c = json!({
                "type": if members.contains(&id) { "application" } else { "library" },
                "bom-ref": purl(p),
                "name": p["name"],
                "version": p["version"],
                "purl": purl(p),
                "scope": "required",
            });
            if let Some(d) = p["description"].as_str() {
                c["description"] = json!(d);
            }
            if let Some(l) = p["license"].as_str() {
                c["licenses"] = json!([{"expression": l}]);
            }
            c
        })
        .collect();
    components.sort_by(|a, b| a["bom-ref"].as_str().cmp(&b["bom-ref"].as_str()));
    let by_id = |id: &str| packages.iter().find(|p| p["id"] == id).map(purl);
    let mut dependencies: Vec<Value> = meta["resolve"]["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter_map(|n| {
                    let r = by_id(n["id"].as_str()?)?;
                    let mut deps: Vec<String> = n["dependencies"]
                        .as_array()
                        .map(|d| d.iter().filter_map(|x| by_id(x.as_str()?)).collect())
                        .unwrap_or_default();
                    deps.sort();
                    Some(json!({"ref": r, "dependsOn": deps}))
                })
                .collect()
        })
        .unwrap_or_default();
    dependencies.sort_by(|a, b| a["ref"].as_str().cmp(&b["ref"].as_str()));
    let body = serde_json::to_vec(&components)?;
    let h = sha256_hex(&[version.as_bytes(), &body].concat());
    let serial = format!(
        "urn:uuid:{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    );
    Ok(json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(epoch),
            "tools": {"components": [{"type": "application", "name": "cargo-xtask-release"}]},
            "component": {"type": "application", "bom-ref": format!("pkg:cargo/akidb@{version}"), "name": "akidb", "version": version},
        },
        "components": components,
        "dependencies": dependencies,
    }))
}
