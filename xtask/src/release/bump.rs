//! Step 1: set the new version everywhere it is written down.
//!
//! Cargo manifests and lock files are edited with `toml_edit` (formatting and comments kept);
//! the YAML and Nix files by careful line edits so nothing but the version string changes;
//! the chart's README by replacing the version where it stands as a whole word. Optional
//! files (the chart README, `fuzz/Cargo.lock`) are edited when they exist.

use super::util::{read, write_atomic};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// One file edit the bump performs.
#[derive(Debug, Clone)]
pub struct Edit {
    /// File path relative to the workspace.
    pub file: String,
    /// What changes.
    pub what: String,
    /// New content.
    pub content: String,
    /// Whether the content differs from the file on disk.
    pub changed: bool,
}

/// Reads `[workspace.package] version` from the root manifest.
pub fn current_version(root: &Path) -> Result<semver::Version> {
    let text = read(&root.join("Cargo.toml"))?;
    let doc: toml_edit::DocumentMut = text.parse().context("Cargo.toml is not valid TOML")?;
    let v = doc
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .or_else(|| {
            doc.get("package")
                .and_then(|p| p.get("version"))
                .and_then(|v| v.as_str())
        })
        .context("Cargo.toml has no [workspace.package] version")?;
    semver::Version::parse(v).with_context(|| format!("Cargo.toml version {v:?} is not semver"))
}

/// Files the bump touches, relative to the workspace.
pub const FILES: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "helm/akidb/Chart.yaml",
    "helm/akidb/values.yaml",
    "helm/akidb/README.md",
    "flake.nix",
    "fuzz/Cargo.lock",
];

/// Computes every edit from `old` to `new` without writing anything.
pub fn plan(root: &Path, old: &str, new: &str) -> Result<Vec<Edit>> {
    let mut edits = Vec::new();
    let mut push = |file: &str, what: String, original: String, content: String| {
        edits.push(Edit {
            file: file.to_string(),
            what,
            changed: original != content,
            content,
        })
    };

    let cargo = read(&root.join("Cargo.toml"))?;
    let (content, names) = bump_manifest(&cargo, old, new)?;
    push(
        "Cargo.toml",
        format!("[workspace.package] version and path dependencies ({names}) → {new}"),
        cargo,
        content,
    );

    // The fuzz crate is its own workspace; its lock file pins the AkiDB path crates too.
    for lock_file in ["Cargo.lock", "fuzz/Cargo.lock"] {
        let lock_path = root.join(lock_file);
        if lock_path.exists() {
            let lock = read(&lock_path)?;
            let content =
                bump_lock(&lock, old, new).with_context(|| format!("editing {lock_file}"))?;
            push(
                lock_file,
                format!("workspace (path) packages → {new}"),
                lock,
                content,
            );
        }
    }

    let chart = read(&root.join("helm/akidb/Chart.yaml"))?;
    let content = set_yaml_top(&chart, "version", new)
        .and_then(|c| set_yaml_top(&c, "appVersion", new))
        .context("helm/akidb/Chart.yaml")?;
    push(
        "helm/akidb/Chart.yaml",
        format!("version and appVersion → {new}"),
        chart,
        content,
    );

    let values = read(&root.join("helm/akidb/values.yaml"))?;
    let content = set_image_tag(&values, new).context("helm/akidb/values.yaml")?;
    push(
        "helm/akidb/values.yaml",
        format!("image.tag → {new}"),
        values,
        content,
    );

    let readme_path = root.join("helm/akidb/README.md");
    if readme_path.exists() {
        let readme = read(&readme_path)?;
        let content = replace_version_words(&readme, old, new);
        push(
            "helm/akidb/README.md",
            format!("install examples (`--version`) → {new}"),
            readme,
            content,
        );
    }

    let flake = read(&root.join("flake.nix"))?;
    let content = set_nix_version(&flake, old, new).context("flake.nix")?;
    push("flake.nix", format!("version → {new}"), flake, content);
    Ok(edits)
}

/// Writes the planned edits.
pub fn apply(root: &Path, edits: &[Edit]) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for e in edits.iter().filter(|e| e.changed) {
        let p = root.join(&e.file);
        write_atomic(&p, e.content.as_bytes())?;
        written.push(p);
    }
    Ok(written)
}

fn bump_manifest(text: &str, old: &str, new: &str) -> Result<(String, String)> {
    let mut doc: toml_edit::DocumentMut = text.parse().context("Cargo.toml is not valid TOML")?;
    let mut names = Vec::new();
    if let Some(ws) = doc.get_mut("workspace").and_then(|w| w.as_table_like_mut()) {
        if let Some(pkg) = ws.get_mut("package").and_then(|p| p.as_table_like_mut()) {
            set_version_item(pkg, old, new);
        }
        if let Some(deps) = ws
            .get_mut("dependencies")
            .and_then(|d| d.as_table_like_mut())
        {
            for (name, item) in deps.iter_mut() {
                if let Some(t) = item.as_table_like_mut() {
                    if t.contains_key("path") && set_version_item(t, old, new) {
                        names.push(name.to_string());
                    }
                }
            }
        }
    } else if let Some(pkg) = doc.get_mut("package").and_then(|p| p.as_table_like_mut()) {
        set_version_item(pkg, old, new);
    }
    Ok((doc.to_string(), names.join(", ")))
}

fn set_version_item(t: &mut dyn toml_edit::TableLike, old: &str, new: &str) -> bool {
    let Some(item) = t.get_mut("version") else {
        return false;
    };
    let Some(cur) = item.as_str() else {
        return false;
    };
    // Path dependencies may pin `=2.0.0` or `2.0.0`; keep the operator, swap the number.
    if !cur.trim_start_matches(['=', '^', '~']).eq(old) {
        return false;
    }
    let prefix = &cur[..cur.len() - old.len()];
    let decor = item.as_value().map(|v| v.decor().clone());
    let mut v = toml_edit::Value::from(format!("{prefix}{new}"));
    if let Some(d) = decor {
        *v.decor_mut() = d;
    }
    *item = toml_edit::Item::Value(v);
    true
}

fn bump_lock(text: &str, old: &str, new: &str) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().context("Cargo.lock is not valid TOML")?;
    if let Some(pkgs) = doc
        .get_mut("package")
        .and_then(|p| p.as_array_of_tables_mut())
    {
        for pkg in pkgs.iter_mut() {
            // Workspace members are the packages without a `source`.
            if pkg.get("source").is_none()
                && pkg.get("version").and_then(|v| v.as_str()) == Some(old)
            {
                set_version_item(pkg, old, new);
            }
        }
    }
    Ok(doc.to_string())
}

/// Replaces the value of a top-level `key: value` YAML line, keeping quotes and comments.
pub fn set_yaml_top(text: &str, key: &str, value: &str) -> Result<String> {
    let mut found = false;
    let out: Vec<String> = text
        .split_inclusive('\n')
        .map(|line| {
            if !found {
                if let Some(rest) = line.strip_prefix(&format!("{key}:")) {
                    found = true;
                    return format!("{key}:{}", replace_scalar(rest, value));
                }
            }
            line.to_string()
        })
        .collect();
    if !found {
        bail!("no top-level `{key}:` line");
    }
    Ok(out.concat())
}

/// Sets `tag:` inside the top-level `image:` mapping of values.yaml.
pub fn set_image_tag(text: &str, value: &str) -> Result<String> {
    let mut in_image = false;
    let mut done = false;
    let out: Vec<String> = text
        .split_inclusive('\n')
        .map(|line| {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if !done {
                if indent == 0 && !trimmed.is_empty() && !trimmed.starts_with('#') {
                    in_image = trimmed.starts_with("image:");
                } else if in_image && indent > 0 {
                    if let Some(rest) = trimmed.strip_prefix("tag:") {
                        done = true;
                        return format!("{}tag:{}", &line[..indent], replace_scalar(rest, value));
                    }
                }
            }
            line.to_string()
        })
        .collect();
    if !done {
        bail!("values.yaml has no `tag:` under the top-level `image:` mapping");
    }
    Ok(out.concat())
}

// `rest` is everything after `key:` — keep spacing, quote style, trailing comment and newline.
fn replace_scalar(rest: &str, value: &str) -> String {
    let (body, nl) = match rest.strip_suffix('\n') {
        Some(b) => (b, "\n"),
        None => (rest, ""),
    };
    let lead = &body[..body.len() - body.trim_start().len()];
    let lead = if lead.is_empty() { " " } else { lead };
    let t = body.trim_start();
    let (scalar, comment) = if t.starts_with('"') || t.starts_with('\'') {
        let q = &t[..1];
        match t[1..].find(q) {
            Some(end) => (&t[..end + 2], &t[end + 2..]),
            None => (t, ""),
        }
    } else {
        match t.find(" #") {
            Some(i) => (&t[..i], &t[i..]),
            None => (t.trim_end(), &t[t.trim_end().len()..]),
        }
    };
    // Keep the author's quoting style; a bare version string is a YAML string already.
    let quoted = if scalar.starts_with('\'') {
        format!("'{value}'")
    } else if scalar.starts_with('"') || scalar.is_empty() {
        format!("\"{value}\"")
    } else {
        value.to_string()
    };
    format!("{lead}{quoted}{comment}{nl}")
}

/// Replaces `old` where it stands as a whole version (not inside `12.0.0`, `2.0.0-rc.1` or
/// `2.0.01`).
pub fn replace_version_words(text: &str, old: &str, new: &str) -> String {
    let part = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(old) {
        let before = rest[..i].chars().next_back().or(out.chars().next_back());
        let after = rest[i + old.len()..].chars().next();
        // A sentence-ending dot is not part of the version.
        let after_ok = match after {
            None => true,
            Some('.' | '-' | '+') => !rest[i + old.len() + 1..]
                .chars()
                .next()
                .map(|c| c.is_ascii_alphanumeric())
                .unwrap_or(false),
            Some(c) => !part(c),
        };
        // `v2.0.0` is the tag of the version.
        let before_ok = match before {
            None | Some('v') => true,
            Some(c) => !part(c),
        };
        out.push_str(&rest[..i]);
        out.push_str(if before_ok && after_ok { new } else { old });
        rest = &rest[i + old.len()..];
    }
    out.push_str(rest);
    out
}

fn set_nix_version(text: &str, old: &str, new: &str) -> Result<String> {
    let needle = format!("version = \"{old}\";");
    if text.contains(&needle) {
        return Ok(text.replacen(&needle, &format!("version = \"{new}\";"), 1));
    }
    if text.contains(&format!("version = \"{new}\";")) {
        return Ok(text.to_string());
    }
    bail!("flake.nix has no `version = \"{old}\";` line")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_yaml_lines() {
        let chart = "apiVersion: v2\nname: akidb\nversion: 2.0.0 # chart\nappVersion: \"2.0.0\"\n";
        let out = set_yaml_top(
            &set_yaml_top(chart, "version", "2.1.0").unwrap(),
            "appVersion",
            "2.1.0",
        )
        .unwrap();
        assert_eq!(
            out,
            "apiVersion: v2\nname: akidb\nversion: 2.1.0 # chart\nappVersion: \"2.1.0\"\n"
        );
        let values = "replicas: 1\nimage:\n  repository: ghcr.io/akidb/akidb\n  tag: \"\"\nother:\n  tag: x\n";
        let out = set_image_tag(values, "2.1.0").unwrap();
        assert!(
            out.contains("  tag: \"2.1.0\"\nother:\n  tag: x\n"),
            "{out}"
        );
        assert!(set_image_tag("a: 1\n", "1.0.0").is_err());
    }

    #[test]
    fn edits_manifest_and_lock() {
        let m = "[workspace]\nmembers = []\n[workspace.package]\nversion = \"2.0.0\" # one version\n[workspace.dependencies]\na = { path = \"a\", version = \"2.0.0\" }\nserde = \"1\"\n";
        let (out, names) = bump_manifest(m, "2.0.0", "2.1.0").unwrap();
        assert!(out.contains("version = \"2.1.0\" # one version"), "{out}");
        assert!(
            out.contains("a = { path = \"a\", version = \"2.1.0\" }"),
            "{out}"
        );
        assert_eq!(names, "a");
        let lock = "version = 4\n\n[[package]]\nname = \"a\"\nversion = \"2.0.0\"\n\n[[package]]\nname = \"b\"\nversion = \"2.0.0\"\nsource = \"registry\"\n";
        let out = bump_lock(lock, "2.0.0", "2.1.0").unwrap();
        assert!(out.contains("name = \"a\"\nversion = \"2.1.0\""));
        assert!(out.contains("name = \"b\"\nversion = \"2.0.0\""));
    }

    #[test]
    fn replaces_whole_versions_only() {
        let t = "helm install --version 2.0.0 x\nv2.0.0, 12.0.0, 2.0.0-rc.1, 2.0.01, end 2.0.0.\n";
        assert_eq!(
            replace_version_words(t, "2.0.0", "2.1.0"),
            "helm install --version 2.1.0 x\nv2.1.0, 12.0.0, 2.0.0-rc.1, 2.0.01, end 2.1.0.\n"
        );
    }
}
