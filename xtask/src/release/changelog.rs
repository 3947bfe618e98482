//! Step 2: a Keep-a-Changelog section from the conventional commits since the last tag.

use super::git::Commit;
use anyhow::Result;

/// A parsed conventional commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Conventional {
    /// `feat`, `fix`, …
    pub kind: String,
    /// Optional scope.
    pub scope: Option<String>,
    /// Description after the colon.
    pub description: String,
    /// `!` or a `BREAKING CHANGE:` footer.
    pub breaking: bool,
    /// Short hash.
    pub short: String,
}

/// Parses `type(scope)!: description`; None for commits that do not follow the convention.
pub fn parse(c: &Commit) -> Option<Conventional> {
    let (head, desc) = c.subject.split_once(": ")?;
    let (head, bang) = match head.strip_suffix('!') {
        Some(h) => (h, true),
        None => (head, false),
    };
    let (kind, scope) = match head.split_once('(') {
        Some((k, rest)) => (k, Some(rest.strip_suffix(')')?.to_string())),
        None => (head, None),
    };
    if kind.is_empty() || !kind.chars().all(|ch| ch.is_ascii_alphanumeric()) {
        return None;
    }
    let breaking = bang
        || c.body
            .lines()
            .any(|l| l.starts_with("BREAKING CHANGE:") || l.starts_with("BREAKING-CHANGE:"));
    Some(Conventional {
        kind: kind.to_ascii_lowercase(),
        scope,
        description: desc.trim().to_string(),
        breaking,
        short: c.hash.chars().take(7).collect(),
    })
}

/// Keep-a-Changelog heading of a commit type (None = not user-facing, e.g. chore/ci/docs).
fn heading(kind: &str) -> Option<&'static str> {
    match kind {
        "feat" => Some("Added"),
        "fix" => Some("Fixed"),
        "perf" | "refactor" => Some("Changed"),
        "revert" => Some("Removed"),
        "security" => Some("Security"),
        "deprecate" => Some("Deprecated"),
        _ => None,
    }
}

const ORDER: &[&str] = &[
    "BREAKING CHANGES",
    "Added",
    "Changed",
    "Deprecated",
    "Removed",
    "Fixed",
    "Security",
];

/// The entries a release would list, grouped by heading, in changelog order.
pub fn group(commits: &[Commit], unreleased: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> =
        ORDER.iter().map(|h| (h.to_string(), Vec::new())).collect();
    let mut add = |h: &str, line: String| {
        if let Some(g) = groups.iter_mut().find(|(n, _)| n == h) {
            if !g.1.contains(&line) {
                g.1.push(line);
            }
        }
    };
    for (h, line) in unreleased {
        add(h, line.clone());
    }
    for c in commits {
        let Some(cc) = parse(c) else { continue };
        if cc.kind == "chore" && cc.scope.as_deref() == Some("release") {
            continue;
        }
        let scope = cc
            .scope
            .as_ref()
            .map(|s| format!("**{s}:** "))
            .unwrap_or_default();
        let line = format!("{scope}{} ({})", cc.description, cc.short);
        if cc.breaking {
            add("BREAKING CHANGES", line.clone());
        }
        if let Some(h) = heading(&cc.kind) {
            add(h, line);
        }
    }
    groups.retain(|(_, v)| !v.is_empty());
    groups
}

/// Renders the `## [version] - date` section.
pub fn render_section(version: &str, date: &str, groups: &[(String, Vec<String>)]) -> String {
    let mut s = format!("## [{version}] - {date}\n");
    for (h, lines) in groups {
        s.push_str(&format!("\n### {h}\n\n"));
        for l in lines {
            s.push_str(&format!("- {l}\n"));
        }
    }
    if groups.is_empty() {
        s.push_str("\n### Changed\n\n- Maintenance release.\n");
    }
    s
}

/// Entries under `## [Unreleased]` as (heading, line) pairs.
pub fn unreleased_entries(changelog: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    let mut heading = "Changed".to_string();
    for line in changelog.lines() {
        if line.starts_with("## ") {
            inside = line.to_ascii_lowercase().starts_with("## [unreleased]");
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(h) = line.strip_prefix("### ") {
            heading = h.trim().to_string();
        } else if let Some(item) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
            out.push((heading.clone(), item.trim().to_string()));
        }
    }
    out
}

/// The body of an existing `## [version]` section, if the changelog has one.
pub fn section(changelog: &str, version: &str) -> Option<String> {
    let start = changelog.find(&format!("## [{version}]"))?;
    let rest = &changelog[start..];
    let end = rest[3..].find("\n## ").map(|i| i + 4).unwrap_or(rest.len());
    Some(rest[..end].trim_end().to_string() + "\n")
}

/// The section without its `## [...]` heading line (release notes).
pub fn notes(section: &str) -> String {
    section
        .split_once('\n')
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or_default()
}

/// Inserts `section` into the changelog (creating the file's header when new), emptying
/// `## [Unreleased]` whose entries the section now carries.
pub fn insert(changelog: Option<&str>, section: &str) -> Result<String> {
    let header = "# Changelog\n\nAll notable changes to this project are documented in this file.\n\nThe format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/),\nand this project adheres to [Semantic Versioning](https://semver.org/spec/v2.0.0.html).\n\n## [Unreleased]\n";
    let text = changelog.unwrap_or(header);
    let lines: Vec<&str> = text.lines().collect();
    let section = section.trim_end();
    let out = match lines
        .iter()
        .position(|l| l.to_ascii_lowercase().starts_with("## [unreleased]"))
    {
        Some(i) => {
            // The Unreleased entries move into the new section; the heading stays for next time.
            let next = lines[i + 1..]
                .iter()
                .position(|l| l.starts_with("## "))
                .map(|p| p + i + 1);
            let mut s = lines[..=i].join("\n");
            s.push_str("\n\n");
            s.push_str(section);
            s.push('\n');
            if let Some(n) = next {
                s.push('\n');
                s.push_str(&lines[n..].join("\n"));
                s.push('\n');
            }
            s
        }
        None => match lines.iter().position(|l| l.starts_with("## ")) {
            Some(p) => format!(
                "{}\n{section}\n\n{}\n",
                lines[..p].join("\n"),
                lines[p..].join("\n")
            ),
            None => format!("{}\n\n{section}\n", text.trim_end()),
        },
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(subject: &str, body: &str) -> Commit {
        Commit {
            hash: "abcdef0123".into(),
            subject: subject.into(),
            body: body.into(),
        }
    }

    #[test]
    fn groups_conventional_commits() {
        let commits = vec![
            c("feat(api): add batch search", ""),
            c("fix: WAL torn tail", ""),
            c("perf: faster cosine", ""),
            c("feat!: drop v0 routes", ""),
            c(
                "refactor(engine): split apply",
                "BREAKING CHANGE: new config",
            ),
            c("chore: bump deps", ""),
            c("random commit", ""),
        ];
        let g = group(&commits, &[]);
        let names: Vec<_> = g.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["BREAKING CHANGES", "Added", "Changed", "Fixed"]);
        assert_eq!(g[0].1.len(), 2);
        let s = render_section("2.1.0", "2026-11-27", &g);
        assert!(s.starts_with("## [2.1.0] - 2026-11-27\n\n### BREAKING CHANGES\n"));
        assert!(s.contains("- **api:** add batch search (abcdef0)"));
    }

    #[test]
    fn inserts_after_unreleased() {
        let existing = "# Changelog\n\n## [Unreleased]\n\n### Added\n- manual entry\n\n## [1.0.0] - 2020-01-01\n\n### Added\n\n- first\n";
        assert_eq!(
            unreleased_entries(existing),
            vec![("Added".to_string(), "manual entry".to_string())]
        );
        let sec = render_section(
            "1.1.0",
            "2026-01-01",
            &group(&[], &unreleased_entries(existing)),
        );
        let out = insert(Some(existing), &sec).unwrap();
        assert!(out.contains("## [Unreleased]\n\n## [1.1.0] - 2026-01-01\n\n### Added\n\n- manual entry\n\n## [1.0.0]"), "{out}");
        assert_eq!(section(&out, "1.1.0").unwrap(), sec);
        assert_eq!(notes(&sec), "### Added\n\n- manual entry");
        let fresh = insert(None, &sec).unwrap();
        assert!(fresh.contains("## [Unreleased]\n\n## [1.1.0]"), "{fresh}");
    }
}
