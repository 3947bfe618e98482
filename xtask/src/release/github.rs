//! Step 6: the GitHub release through octocrab — created as a draft or updated, notes from
//! the changelog, assets replaced (delete + upload through the release's `upload_url`) so a
//! rerun never fails on "already exists".
//!
//! GitHub's "get a release by tag" does not return drafts, and a draft is what a failed run
//! leaves behind, so the release of a tag is found by listing the releases (drafts included)
//! and matching `tag_name`.

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// Where and as whom to talk to GitHub.
#[derive(Debug, Clone)]
pub struct GitHub {
    /// REST API base URL (`https://api.github.com` or a local fake).
    pub api: String,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// `GITHUB_TOKEN`.
    pub token: String,
}

fn status(e: &octocrab::Error) -> Option<u16> {
    match e {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    }
}

type Release = octocrab::models::repos::Release;

impl GitHub {
    fn client(&self) -> Result<octocrab::Octocrab> {
        octocrab::Octocrab::builder()
            .base_uri(self.api.as_str())
            .with_context(|| format!("bad GitHub API URL {:?}", self.api))?
            .personal_token(self.token.clone())
            .build()
            .context("cannot build the GitHub client")
    }

    /// Creates (as a draft) or updates the release of `tag`, replaces the named assets,
    /// then publishes it. Returns `{release_id, html_url, created, assets}`.
    pub async fn publish(
        &self,
        tag: &str,
        commit: &str,
        name: &str,
        notes: &str,
        assets: &[(String, Vec<u8>)],
    ) -> Result<Value> {
        let octo = self.client()?;
        let repos = octo.repos(&self.owner, &self.repo);
        let releases = repos.releases();
        let found = self.releases_of(&octo, tag).await?;
        // A published release wins; otherwise the newest draft. Drafts left over next to it
        // (older runs that could not find theirs) are deleted so exactly one remains.
        let keep = found
            .iter()
            .position(|r| !r.draft)
            .or((!found.is_empty()).then_some(0));
        for (i, r) in found.iter().enumerate() {
            if Some(i) != keep && r.draft {
                releases
                    .delete(r.id.0)
                    .await
                    .with_context(|| format!("deleting the duplicate draft release {}", r.id.0))?;
            }
        }
        let (release, created) = match keep.map(|i| &found[i]) {
            Some(r) => {
                let r = releases
                    .update(r.id.0)
                    .name(name)
                    .body(notes)
                    .send()
                    .await
                    .with_context(|| format!("PATCH release {} of {tag}", r.id.0))?;
                (r, false)
            }
            None => {
                let r = releases
                    .create(tag)
                    .target_commitish(commit)
                    .name(name)
                    .body(notes)
                    .draft(true)
                    .send()
                    .await
                    .with_context(|| format!("POST release for {tag}"))?;
                (r, true)
            }
        };
        let id = release.id.0;
        let existing = releases
            .assets(id)
            .per_page(100)
            .send()
            .await
            .with_context(|| format!("listing assets of release {id}"))?;
        let mut replaced = Vec::new();
        for a in existing.items {
            if assets.iter().any(|(n, _)| *n == a.name) {
                repos
                    .release_assets()
                    .delete(a.id.0)
                    .await
                    .with_context(|| format!("deleting old asset {}", a.name))?;
                replaced.push(a.name);
            }
        }
        let mut uploaded = Vec::new();
        for (n, data) in assets {
            let body = bytes::Bytes::from(data.clone());
            let a = match releases.upload_asset(id, n, body.clone()).send().await {
                Ok(a) => a,
                // 422 `already_exists`: the name is taken (e.g. by an interrupted upload that
                // appeared after the listing): delete that asset and upload once more.
                Err(e) if status(&e) == Some(422) => {
                    let now = releases
                        .assets(id)
                        .per_page(100)
                        .send()
                        .await
                        .with_context(|| format!("listing assets of release {id}"))?;
                    for old in now.items.into_iter().filter(|a| a.name == *n) {
                        repos
                            .release_assets()
                            .delete(old.id.0)
                            .await
                            .with_context(|| format!("deleting the conflicting asset {n}"))?;
                        replaced.push(old.name);
                    }
                    releases
                        .upload_asset(id, n, body)
                        .send()
                        .await
                        .with_context(|| format!("uploading asset {n} (after replacing it)"))?
                }
                Err(e) => return Err(e).with_context(|| format!("uploading asset {n}")),
            };
            uploaded.push(json!({"name": a.name, "id": a.id.0, "size": a.size}));
        }
        let release = if release.draft {
            releases
                .update(id)
                .draft(false)
                .send()
                .await
                .with_context(|| format!("publishing release {id}"))?
        } else {
            release
        };
        Ok(json!({
            "release_id": id,
            "html_url": release.html_url.to_string(),
            "created": created,
            "replaced_assets": replaced,
            "assets": uploaded,
        }))
    }

    /// The releases whose `tag_name` is `tag`, drafts included, newest first. Lists the
    /// releases page by page: "get by tag" would miss drafts.
    async fn releases_of(&self, octo: &octocrab::Octocrab, tag: &str) -> Result<Vec<Release>> {
        let repos = octo.repos(&self.owner, &self.repo);
        let releases = repos.releases();
        let mut found = Vec::new();
        for page in 1u32.. {
            let p = releases
                .list()
                .per_page(100u8)
                .page(page)
                .send()
                .await
                .with_context(|| {
                    format!(
                        "listing the releases of {}/{} at {}",
                        self.owner, self.repo, self.api
                    )
                })?;
            let n = p.items.len();
            found.extend(p.items.into_iter().filter(|r| r.tag_name == tag));
            if n < 100 || p.next.is_none() {
                break;
            }
        }
        Ok(found)
    }

    /// The open pull request from `branch` into `base`, opened now unless one is already
    /// open (a rerun finds it). Returns `{number, html_url, created}`.
    pub async fn ensure_pull_request(
        &self,
        branch: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<Value> {
        let octo = self.client()?;
        let path = format!("/repos/{}/{}/pulls", self.owner, self.repo);
        // Generic calls: the fields used here are stable, the full PullRequest model is not
        // needed (and a GitHub Enterprise answer may lack some of its fields).
        let open: Vec<Value> = octo
            .get(
                &path,
                Some(&json!({"head": format!("{}:{branch}", self.owner), "state": "open"})),
            )
            .await
            .with_context(|| format!("listing the open pull requests from {branch}"))?;
        if let Some(pr) = open
            .iter()
            .find(|p| p["head"]["ref"] == branch && p["base"]["ref"] == base)
        {
            return Ok(
                json!({"number": pr["number"], "html_url": pr["html_url"], "created": false}),
            );
        }
        let pr: Value = octo
            .post(
                &path,
                Some(&json!({"title": title, "head": branch, "base": base, "body": body})),
            )
            .await
            .with_context(|| format!("opening a pull request from {branch} into {base}"))?;
        Ok(json!({"number": pr["number"], "html_url": pr["html_url"], "created": true}))
    }

    /// Deletes the releases of `tag` that are still drafts. Returns (undone, sentence).
    pub async fn delete_draft(&self, tag: &str) -> Result<(bool, String)> {
        let octo = self.client()?;
        let repos = octo.repos(&self.owner, &self.repo);
        let releases = repos.releases();
        let found = self.releases_of(&octo, tag).await?;
        if found.is_empty() {
            return Ok((true, format!("no GitHub release for {tag}")));
        }
        let mut deleted = Vec::new();
        for r in found.iter().filter(|r| r.draft) {
            releases
                .delete(r.id.0)
                .await
                .with_context(|| format!("deleting the draft release {}", r.id.0))?;
            deleted.push(r.id.0.to_string());
        }
        match found.iter().find(|r| !r.draft) {
            Some(r) => Ok((
                false,
                format!(
                    "GitHub release {} ({tag}) is published; delete it by hand at {} if it must go",
                    r.id.0, r.html_url
                ),
            )),
            None => Ok((
                true,
                format!(
                    "deleted draft GitHub release {} ({tag})",
                    deleted.join(", ")
                ),
            )),
        }
    }
}

/// `owner/name` from a GitHub URL (`https://github.com/o/r(.git)`, `git@github.com:o/r.git`).
pub fn parse_repo(s: &str) -> Option<(String, String)> {
    let s = s.trim().trim_end_matches('/').trim_end_matches(".git");
    let tail = s
        .strip_prefix("https://github.com/")
        .or_else(|| s.strip_prefix("git@github.com:"))
        .unwrap_or(s);
    let (o, r) = tail.split_once('/')?;
    if o.is_empty() || r.is_empty() || r.contains('/') || o.contains(':') {
        return None;
    }
    Some((o.to_string(), r.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_repos() {
        let want = Some(("akidb".to_string(), "akidb".to_string()));
        assert_eq!(super::parse_repo("https://github.com/akidb/akidb"), want);
        assert_eq!(super::parse_repo("git@github.com:akidb/akidb.git"), want);
        assert_eq!(super::parse_repo("akidb/akidb"), want);
        assert_eq!(super::parse_repo("nonsense"), None);
    }
}
