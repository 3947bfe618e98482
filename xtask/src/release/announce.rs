//! Step 8: announcement drafts from the changelog section, and an optional webhook POST.

use super::util::write_atomic;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::Path;

/// What the announcement links to.
#[derive(Debug, Clone)]
pub struct Links {
    /// Release page.
    pub release_url: Option<String>,
    /// Image reference (`host/ns/akidb:1.2.3`).
    pub image: Option<String>,
    /// Chart reference (`oci://host/ns/charts/akidb`).
    pub chart: Option<String>,
}

/// Release post (Markdown) and short post (≤ 280 characters).
pub fn render(version: &str, notes: &str, links: &Links) -> (String, String) {
    let count = |h: &str| {
        notes
            .split("### ")
            .find(|s| s.starts_with(h))
            .map(|s| s.lines().filter(|l| l.starts_with("- ")).count())
            .unwrap_or(0)
    };
    let (added, fixed, changed, breaking) = (
        count("Added"),
        count("Fixed"),
        count("Changed"),
        count("BREAKING"),
    );
    let mut post = format!("# AkiDB {version} is out\n\n");
    post.push_str(&format!(
        "AkiDB {version} brings {added} new feature(s), {fixed} fix(es) and {changed} other change(s).\n"
    ));
    if breaking > 0 {
        post.push_str(&format!(
            "\n**Heads-up:** {breaking} breaking change(s) — read them below before upgrading.\n"
        ));
    }
    post.push_str("\n## What's new\n\n");
    post.push_str(notes.trim());
    post.push_str("\n\n## Get it\n\n");
    if let Some(i) = &links.image {
        post.push_str(&format!(
            "- Container image (linux/amd64, linux/arm64): `{i}`\n"
        ));
    }
    if let Some(c) = &links.chart {
        post.push_str(&format!(
            "- Helm: `helm install akidb {c} --version {version}`\n"
        ));
    }
    if let Some(u) = &links.release_url {
        post.push_str(&format!("- Binaries, SBOM and checksums: {u}\n"));
    }
    let mut short = format!("AkiDB {version} is out: {added} new feature(s), {fixed} fix(es)");
    if breaking > 0 {
        short.push_str(&format!(", {breaking} breaking"));
    }
    short.push('.');
    if let Some(u) = &links.release_url {
        short.push(' ');
        short.push_str(u);
    }
    let short: String = short.chars().take(280).collect();
    (post, short + "\n")
}

/// Writes `release-post.md` and `short-post.txt` into `dir`; POSTs `{text, version, url}` to
/// `webhook` when one is configured. Returns what was done.
pub fn announce(
    dir: &Path,
    version: &str,
    notes: &str,
    links: &Links,
    webhook: Option<&str>,
) -> Result<Value> {
    let (post, short) = render(version, notes, links);
    write_atomic(&dir.join("release-post.md"), post.as_bytes())?;
    write_atomic(&dir.join("short-post.txt"), short.as_bytes())?;
    let mut posted = Value::Null;
    if let Some(url) = webhook {
        let body = json!({"text": short.trim(), "version": version, "url": links.release_url});
        let rt = super::util::runtime()?;
        let status = rt
            .block_on(async {
                reqwest::Client::new()
                    .post(url)
                    .json(&body)
                    .timeout(std::time::Duration::from_secs(30))
                    .send()
                    .await
                    .map(|r| r.status())
            })
            .with_context(|| format!("POST to the announce webhook {url}"))?;
        if !status.is_success() {
            bail!("the announce webhook {url} answered {status}");
        }
        posted = json!(status.as_u16());
    }
    Ok(json!({
        "release_post": dir.join("release-post.md"),
        "short_post": dir.join("short-post.txt"),
        "webhook_status": posted,
    }))
}
