//! Step 6: the GitHub release through octocrab — created or updated by tag, notes from the
//! changelog, assets replaced (delete + upload through the release's `upload_url`) so a
//! rerun never fails on "already exists".

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

fn is_not_found(e: &octocrab::Error) -> bool {
    matches!(e, octocrab::Error::GitHub { source, .. } if source.status_code.as_u16() == 404)
}

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
        let (release, created) = match releases.get_by_tag(tag).await {
            Ok(r) => {
                let r = releases
                    .update(r.id.0)
                    .name(name)
                    .body(notes)
                    .send()
                    .await
                    .with_context(|| format!("PATCH release {} of {tag}", r.id.0))?;
                (r, false)
            }
            Err(e) if is_not_found(&e) => {
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
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("GET release by tag {tag} from {}", self.api))
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
            let a = releases
                .upload_asset(id, n, bytes::Bytes::from(data.clone()))
                .send()
                .await
                .with_context(|| format!("uploading asset {n}"))?;
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

    /// Deletes the release of `tag` if it is still a draft. Returns (undone, sentence).
    pub async fn delete_draft(&self, tag: &str) -> Result<(bool, String)> {
        let octo = self.client()?;
        let repos = octo.repos(&self.owner, &self.repo);
        let releases = repos.releases();
        match releases.get_by_tag(tag).await {
            Ok(r) if r.draft => {
                releases
                    .delete(r.id.0)
                    .await
                    .context("deleting the draft release")?;
                Ok((
                    true,
                    format!("deleted draft GitHub release {} ({tag})", r.id.0),
                ))
            }
            Ok(r) => Ok((
                false,
                format!(
                    "GitHub release {} ({tag}) is published; delete it by hand at {} if it must go",
                    r.id.0, r.html_url
                ),
            )),
            Err(e) if is_not_found(&e) => Ok((true, format!("no GitHub release for {tag}"))),
            Err(e) => Err(e).context("GET release by tag"),
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
