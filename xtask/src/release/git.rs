//! Git queries and actions of the release (through the `git` CLI, like a maintainer would).

use super::util::sh;
use anyhow::Result;
use std::path::Path;

/// A commit as the changelog sees it.
#[derive(Debug, Clone)]
pub struct Commit {
    /// Full hash.
    pub hash: String,
    /// First line.
    pub subject: String,
    /// Remaining lines.
    pub body: String,
}

/// HEAD commit id.
pub fn head(dir: &Path) -> Result<String> {
    sh(dir, "git", &["rev-parse", "HEAD"])
}

/// Current branch name (`HEAD` when detached).
pub fn branch(dir: &Path) -> Result<String> {
    sh(dir, "git", &["rev-parse", "--abbrev-ref", "HEAD"])
}

/// Paths with uncommitted changes or untracked files (empty = clean).
pub fn dirty_paths(dir: &Path) -> Result<Vec<String>> {
    let out = sh(
        dir,
        "git",
        &["status", "--porcelain", "--untracked-files=all"],
    )?;
    Ok(out
        .lines()
        .filter(|l| l.len() > 3)
        .map(|l| l[3..].trim().trim_matches('"').to_string())
        .collect())
}

/// The newest `v*` tag reachable from HEAD, if any.
pub fn last_tag(dir: &Path) -> Option<String> {
    sh(
        dir,
        "git",
        &["describe", "--tags", "--abbrev=0", "--match", "v[0-9]*"],
    )
    .ok()
    .filter(|s| !s.is_empty())
}

/// Commits after `since` (all commits when None), oldest first.
pub fn commits_since(dir: &Path, since: Option<&str>) -> Result<Vec<Commit>> {
    let range = since.map(|t| format!("{t}..HEAD"));
    let mut args = vec!["log", "--reverse", "--format=%H%x1f%s%x1f%b%x1e"];
    if let Some(r) = &range {
        args.push(r);
    }
    let out = match sh(dir, "git", &args) {
        Ok(o) => o,
        // A repository without commits has no history to report.
        Err(_) if since.is_none() => String::new(),
        Err(e) => return Err(e),
    };
    Ok(out
        .split('\x1e')
        .filter_map(|rec| {
            let mut parts = rec.trim_start_matches('\n').splitn(3, '\x1f');
            let hash = parts.next()?.trim().to_string();
            if hash.is_empty() {
                return None;
            }
            Some(Commit {
                hash,
                subject: parts.next().unwrap_or("").to_string(),
                body: parts.next().unwrap_or("").trim().to_string(),
            })
        })
        .collect())
}

/// Commit a local tag points at (peeled), if the tag exists.
pub fn local_tag_commit(dir: &Path, tag: &str) -> Option<String> {
    sh(
        dir,
        "git",
        &[
            "rev-parse",
            "-q",
            "--verify",
            &format!("refs/tags/{tag}^{{commit}}"),
        ],
    )
    .ok()
    .filter(|s| !s.is_empty())
}

/// Commit a tag on `origin` points at (peeled), if the tag exists there.
pub fn remote_tag_commit(dir: &Path, tag: &str) -> Result<Option<String>> {
    let out = sh(
        dir,
        "git",
        &[
            "ls-remote",
            "--tags",
            "origin",
            &format!("refs/tags/{tag}*"),
        ],
    )?;
    let mut plain = None;
    for line in out.lines() {
        let mut it = line.split_whitespace();
        let (Some(id), Some(name)) = (it.next(), it.next()) else {
            continue;
        };
        if name == format!("refs/tags/{tag}^{{}}") {
            return Ok(Some(id.to_string()));
        }
        if name == format!("refs/tags/{tag}") {
            plain = Some(id.to_string());
        }
    }
    Ok(plain)
}

/// URL of the `origin` remote.
pub fn origin_url(dir: &Path) -> Result<String> {
    sh(dir, "git", &["remote", "get-url", "origin"])
}

/// Commit time (Unix seconds) of HEAD: the reproducible SOURCE_DATE_EPOCH.
pub fn head_epoch(dir: &Path) -> Result<i64> {
    let s = sh(dir, "git", &["log", "-1", "--format=%ct", "HEAD"])?;
    Ok(s.trim().parse()?)
}

/// Whether `commit` is contained in the remote branch `origin/<branch>` (after a fetch).
pub fn pushed(dir: &Path, branch: &str, commit: &str) -> bool {
    let _ = sh(dir, "git", &["fetch", "-q", "origin", branch]);
    sh(
        dir,
        "git",
        &[
            "merge-base",
            "--is-ancestor",
            commit,
            &format!("refs/remotes/origin/{branch}"),
        ],
    )
    .is_ok()
}

/// Commit the branch `branch` points at on `origin`, if the branch exists there.
pub fn remote_branch_commit(dir: &Path, branch: &str) -> Result<Option<String>> {
    let out = sh(
        dir,
        "git",
        &["ls-remote", "origin", &format!("refs/heads/{branch}")],
    )?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .next()
        .map(str::to_string))
}

/// Whether `ancestor` is known locally and contained in HEAD.
pub fn head_contains(dir: &Path, ancestor: &str) -> bool {
    sh(
        dir,
        "git",
        &["merge-base", "--is-ancestor", ancestor, "HEAD"],
    )
    .is_ok()
}
