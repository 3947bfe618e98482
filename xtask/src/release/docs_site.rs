//! Step 7: render `docs/` (Markdown, including `docs/operations/`) into a small static HTML
//! site and push it to the `gh-pages` branch of `origin` from a throw-away repository, so the
//! operator's checkout is never touched. Pushing identical content is a no-op.

use super::util::{read, sh, sh_env, write_atomic};
use anyhow::{bail, Context, Result};
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Markdown pages under `docs/`, relative paths, sorted.
pub fn pages(root: &Path) -> Result<Vec<String>> {
    let docs = root.join("docs");
    let mut out = Vec::new();
    fn walk(base: &Path, rel: &str, out: &mut Vec<String>) -> Result<()> {
        let dir = base.join(rel);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().to_string();
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if e.file_type()?.is_dir() {
                walk(base, &path, out)?;
            } else if name.ends_with(".md") {
                out.push(path);
            }
        }
        Ok(())
    }
    if docs.is_dir() {
        walk(&docs, "", &mut out)?;
    }
    Ok(out)
}

fn title_of(md: &str, fallback: &str) -> String {
    md.lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| fallback.to_string())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Markdown → HTML fragment; links to `*.md` become links to `*.html`.
pub fn render_markdown(md: &str) -> String {
    let opts = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_HEADING_ATTRIBUTES;
    let events = Parser::new_ext(md, opts).map(|ev| match ev {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let d = dest_url.to_string();
            let rewritten = if !d.contains("://") && (d.ends_with(".md") || d.contains(".md#")) {
                CowStr::from(d.replacen(".md", ".html", 1))
            } else {
                dest_url
            };
            Event::Start(Tag::Link {
                link_type,
                dest_url: rewritten,
                title,
                id,
            })
        }
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1rem 2rem;line-height:1.5;color:#222}nav{border-bottom:1px solid #ddd;padding-bottom:.5rem;margin-bottom:1rem}nav a{margin-right:1rem}pre{background:#f5f5f5;padding:.75rem;overflow:auto}code{background:#f5f5f5}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem}footer{color:#777;border-top:1px solid #ddd;margin-top:2rem;padding-top:.5rem}";

/// Renders every page plus `index.html`, `style.css` and `.nojekyll` into `out`.
/// Returns the written relative paths.
pub fn build(root: &Path, out: &Path, version: &str) -> Result<Vec<String>> {
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("cannot clear {}", out.display()))?;
    }
    let pages = pages(root)?;
    if pages.is_empty() {
        bail!("no Markdown pages under {}/docs", root.display());
    }
    let titles: Vec<(String, String)> = pages
        .iter()
        .map(|p| {
            let md = read(&root.join("docs").join(p)).unwrap_or_default();
            (p.replace(".md", ".html"), title_of(&md, p))
        })
        .collect();
    let mut written = Vec::new();
    let page = |depth: usize, title: &str, body: &str| {
        let up = "../".repeat(depth);
        let nav: String =
            std::iter::once(format!("<a href=\"{up}index.html\">AkiDB {version}</a>"))
                .chain(
                    titles
                        .iter()
                        .map(|(h, t)| format!("<a href=\"{up}{h}\">{}</a>", escape(t))),
                )
                .collect::<Vec<_>>()
                .join("");
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{} — AkiDB {version}</title><link rel=\"stylesheet\" href=\"{up}style.css\"></head>\n<body><nav>{nav}</nav><main>\n{body}</main><footer>AkiDB {version} documentation</footer></body></html>\n",
            escape(title)
        )
    };
    for (p, (html_path, title)) in pages.iter().zip(&titles) {
        let md = read(&root.join("docs").join(p))?;
        let depth = p.matches('/').count();
        write_atomic(
            &out.join(html_path),
            page(depth, title, &render_markdown(&md)).as_bytes(),
        )?;
        written.push(html_path.clone());
    }
    let list: String = titles
        .iter()
        .map(|(h, t)| {
            format!(
                "<li><a href=\"{h}\">{}</a> <small>({h})</small></li>\n",
                escape(t)
            )
        })
        .collect();
    let index_body = format!("<h1>AkiDB {version} documentation</h1>\n<ul>\n{list}</ul>\n");
    write_atomic(
        &out.join("index.html"),
        page(0, "Documentation", &index_body).as_bytes(),
    )?;
    write_atomic(&out.join("style.css"), CSS.as_bytes())?;
    write_atomic(&out.join(".nojekyll"), b"")?;
    written.extend(["index.html".into(), "style.css".into(), ".nojekyll".into()]);
    Ok(written)
}

/// `origin` as something `git` can use from another directory (relative paths resolved).
pub fn origin_for_push(root: &Path) -> Result<String> {
    let url = super::git::origin_url(root)?;
    let p = PathBuf::from(&url);
    if !url.contains("://") && !url.contains('@') && p.is_relative() && root.join(&p).exists() {
        return Ok(root.join(&p).canonicalize()?.to_string_lossy().to_string());
    }
    Ok(url)
}

/// Commits `site` as the new tip of `gh-pages` on `origin` (parent = the current tip) unless
/// the tree is unchanged. Returns `{commit, changed, pages}`.
pub fn publish(root: &Path, site: &Path, version: &str, epoch: i64) -> Result<Value> {
    let origin = origin_for_push(root)?;
    let tmp = tempfile::tempdir().context("cannot create a temp dir")?;
    let dir = tmp.path();
    sh(dir, "git", &["init", "-q"])?;
    sh(dir, "git", &["remote", "add", "origin", &origin])?;
    let remote = sh(dir, "git", &["ls-remote", "origin", "refs/heads/gh-pages"])?;
    let parent = remote.split_whitespace().next().map(str::to_string);
    if parent.is_some() {
        sh(
            dir,
            "git",
            &["fetch", "-q", "--depth", "1", "origin", "gh-pages"],
        )?;
    }
    copy_tree(site, dir)?;
    sh(dir, "git", &["add", "-A", "."])?;
    let tree = sh(dir, "git", &["write-tree"])?;
    if let Some(p) = &parent {
        let old_tree = sh(dir, "git", &["rev-parse", &format!("{p}^{{tree}}")])?;
        if old_tree == tree {
            return Ok(json!({"commit": p, "changed": false}));
        }
    }
    let date = format!("{epoch} +0000");
    let env = [
        ("GIT_AUTHOR_NAME", "AkiDB release"),
        ("GIT_AUTHOR_EMAIL", "release@akidb.invalid"),
        ("GIT_COMMITTER_NAME", "AkiDB release"),
        ("GIT_COMMITTER_EMAIL", "release@akidb.invalid"),
        ("GIT_AUTHOR_DATE", date.as_str()),
        ("GIT_COMMITTER_DATE", date.as_str()),
    ];
    let msg = format!("docs: site for v{version}");
    let mut args = vec!["commit-tree", tree.as_str(), "-m", msg.as_str()];
    if let Some(p) = &parent {
        args.extend(["-p", p.as_str()]);
    }
    let commit = sh_env(dir, "git", &args, &env)?;
    sh(
        dir,
        "git",
        &[
            "push",
            "-q",
            "origin",
            &format!("{commit}:refs/heads/gh-pages"),
        ],
    )?;
    Ok(json!({"commit": commit, "changed": true}))
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for e in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let e = e?;
        let dst = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            std::fs::create_dir_all(&dst)?;
            copy_tree(&e.path(), &dst)?;
        } else {
            std::fs::copy(e.path(), &dst)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_and_rewrites_links() {
        let h = super::render_markdown("# T\n\nsee [ops](operations/playbooks.md#x) and [web](https://x.md)\n\n|a|b|\n|-|-|\n|1|2|\n");
        assert!(h.contains("<h1>T</h1>"));
        assert!(h.contains("href=\"operations/playbooks.html#x\""));
        assert!(h.contains("href=\"https://x.md\""));
        assert!(h.contains("<table>"));
    }
}
