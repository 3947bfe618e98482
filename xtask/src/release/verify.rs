//! The release preflight's named checks: every automatable line of
//! `docs/ga-release-checklist.md` is one entry here, and the checklist names it
//! ("**Checked by:** release preflight `fmt` (`cargo fmt --all -- --check`)").
//!
//! [`CHECKS`] inspect the repository and environment (the code is in `preflight`);
//! [`VERIFICATIONS`] are commands that `--execute` runs before the release changes anything.
//! The unit tests below parse the checklist and keep the two in step.

use super::Problem;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Instant;

/// A preflight check that inspects the repository or the environment.
pub struct Check {
    /// Short id shown in the plan and named by the checklist.
    pub id: &'static str,
    /// The checklist line it backs.
    pub line: &'static str,
}

/// The inspections of `preflight`, in the order the plan lists them.
pub const CHECKS: [Check; 12] = [
    Check {
        id: "repo",
        line: "The release runs from a git checkout of AkiDB with an `origin` remote.",
    },
    Check {
        id: "clean-tree",
        line: "The working tree is clean: no uncommitted or untracked files.",
    },
    Check {
        id: "branch",
        line: "HEAD is on `main`, the release branch.",
    },
    Check {
        id: "up-to-date",
        line: "HEAD is up to date with `origin/main`: it contains the tip of the remote branch.",
    },
    Check {
        id: "version",
        line: "`<version>` is semver and greater than the current workspace version.",
    },
    Check {
        id: "changes",
        line: "There is something to release: commits since the last tag, or entries under `## [Unreleased]` in `CHANGELOG.md`.",
    },
    Check {
        id: "release-files",
        line: "The files the bump edits exist: `helm/akidb/Chart.yaml`, `helm/akidb/values.yaml`, `flake.nix`.",
    },
    Check {
        id: "tag",
        line: "No tag `v<version>` exists, locally or on `origin`, other than one this release made.",
    },
    Check {
        id: "github",
        line: "The GitHub release can be made: `GITHUB_TOKEN` is set and the repository is known.",
    },
    Check {
        id: "registry",
        line: "The registry accepts the push: credentials are set for a non-loopback registry, and with `--execute` a blob upload is opened and cancelled.",
    },
    Check {
        id: "arm64",
        line: "Both image platforms can be built: the arm64 cross toolchain is installed, or a prebuilt linux/arm64 binary is given.",
    },
    Check {
        id: "docs",
        line: "`docs/` has Markdown pages for the documentation site.",
    },
];

/// A command that must succeed before the release changes anything.
pub struct Verification {
    /// Short id shown in the plan, named by the checklist and by `--skip-check`.
    pub id: &'static str,
    /// The checklist line it backs.
    pub line: &'static str,
    /// `cargo` arguments.
    pub args: &'static [&'static str],
    /// `cargo` arguments used instead in a workspace without an xtask (e.g. a test fixture).
    pub without_xtask: Option<&'static [&'static str]>,
    /// `cargo` arguments that succeed only when the tool is installed, and how to install it.
    pub tool: Option<(&'static [&'static str], &'static str)>,
    /// What to do when the command cannot succeed for reasons outside the code.
    pub note: &'static str,
}

/// The verifications `--execute` runs, in order (cheapest first), before step 1.
pub const VERIFICATIONS: [Verification; 5] = [
    Verification {
        id: "fmt",
        line: "Formatting is clean.",
        args: &["fmt", "--all", "--", "--check"],
        without_xtask: None,
        tool: Some((&["fmt", "--version"], "rustup component add rustfmt")),
        note: "run `cargo fmt --all` and commit",
    },
    Verification {
        id: "clippy",
        line: "Lints are clean, with warnings as errors.",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        without_xtask: None,
        tool: Some((&["clippy", "--version"], "rustup component add clippy")),
        note: "fix the lints and commit",
    },
    Verification {
        id: "deny",
        line: "Dependency licenses, bans and sources are acceptable (`deny.toml`).",
        args: &["deny", "check", "licenses", "bans", "sources"],
        without_xtask: None,
        tool: Some((&["deny", "--version"], "cargo install --locked cargo-deny")),
        note: "change the dependency or, with a reason, deny.toml",
    },
    Verification {
        id: "advisories",
        line: "No dependency has a security advisory.",
        args: &["deny", "check", "advisories"],
        without_xtask: None,
        tool: Some((&["deny", "--version"], "cargo install --locked cargo-deny")),
        note: "update the dependency; if the advisory database cannot be fetched, check https://rustsec.org by hand and pass --skip-check advisories",
    },
    Verification {
        id: "tests",
        line: "The whole test suite passes with the real services (SeaweedFS, registry, Helm library, chaos suite).",
        args: &["xtask", "test"],
        without_xtask: Some(&["test", "--workspace"]),
        tool: None,
        note: "fix the tests",
    },
];

/// Parses a `--skip-check` value: the id of a verification.
pub fn verification_id(s: &str) -> Result<String, String> {
    if VERIFICATIONS.iter().any(|v| v.id == s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "unknown verification {s:?}; verifications are {}",
            ids(VERIFICATIONS.iter().map(|v| v.id))
        ))
    }
}

fn ids<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.collect::<Vec<_>>().join(", ")
}

impl Verification {
    /// The `cargo` arguments for the workspace at `root`.
    pub fn args_for(&self, root: &Path) -> &'static [&'static str] {
        match self.without_xtask {
            Some(alt) if !root.join("xtask/Cargo.toml").exists() => alt,
            _ => self.args,
        }
    }

    /// The command line, as the checklist and the messages show it.
    pub fn command(&self, root: &Path) -> String {
        format!("cargo {}", self.args_for(root).join(" "))
    }

    /// A problem when the tool the command needs is not installed.
    pub fn tool_problem(&self, root: &Path) -> Option<Problem> {
        let (probe, fix) = self.tool?;
        let ok = crate::provision::succeeds(duct::cmd("cargo", probe).dir(root));
        (!ok).then(|| Problem {
            check: self.id,
            what: format!(
                "`cargo {}` is not installed (the verification runs `{}`)",
                probe[0],
                self.command(root)
            ),
            fix: fix.to_string(),
        })
    }

    /// Runs the command in `root`, its output going to the terminal.
    pub fn run(&self, root: &Path) -> Result<()> {
        let line = self.command(root);
        println!("preflight {}: {line}", self.id);
        let t = Instant::now();
        let status = duct::cmd("cargo", self.args_for(root))
            .dir(root)
            .unchecked()
            .run()
            .with_context(|| format!("cannot run `{line}` (is cargo installed?)"))?
            .status;
        if !status.success() {
            bail!(
                "release preflight `{}` failed: `{line}` (in {}) exited with {status}; {} (nothing was changed)",
                self.id,
                root.display(),
                self.note
            );
        }
        println!(
            "preflight {}: ✓ ({:.1}s)",
            self.id,
            t.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::path::PathBuf;

    /// Every id the checklist may name after "release preflight".
    fn all_ids() -> impl Iterator<Item = &'static str> {
        CHECKS
            .iter()
            .map(|c| c.id)
            .chain(VERIFICATIONS.iter().map(|v| v.id))
    }

    fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    fn checklist() -> String {
        std::fs::read_to_string(workspace().join("docs/ga-release-checklist.md")).unwrap()
    }

    /// A checklist entry: its text and its "**Checked by:**" part (empty when a human checks it).
    struct Item {
        text: String,
        checked_by: String,
    }

    /// The `- [ ]` lines and numbered steps of the checklist, with their continuation lines.
    fn items(doc: &str) -> Vec<Item> {
        let mut out: Vec<String> = Vec::new();
        for line in doc.lines() {
            let t = line.trim();
            let numbered = t
                .split_once(". ")
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            if let Some(rest) = t.strip_prefix("- [ ] ") {
                out.push(rest.to_string());
            } else if numbered && !line.starts_with(' ') {
                out.push(t.split_once(". ").unwrap().1.to_string());
            } else if line.starts_with("      ") || line.starts_with("   ") && !t.is_empty() {
                if let Some(last) = out.last_mut() {
                    last.push(' ');
                    last.push_str(t);
                }
            } else {
                out.push(String::new());
            }
        }
        out.into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| {
                let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
                match s.split_once("**Checked by:**") {
                    Some((text, by)) => Item {
                        text: text.trim().to_string(),
                        checked_by: by.trim().to_string(),
                    },
                    None => Item {
                        text: s,
                        checked_by: String::new(),
                    },
                }
            })
            .collect()
    }

    /// The ids named as "preflight `id`" in a "Checked by" text.
    fn named_ids(checked_by: &str) -> Vec<String> {
        checked_by
            .match_indices("preflight `")
            .filter_map(|(i, m)| {
                let rest = &checked_by[i + m.len()..];
                rest.split('`').next().map(str::to_string)
            })
            .collect()
    }

    #[test]
    fn ids_are_unique_and_short() {
        let mut all: Vec<&str> = all_ids().collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "duplicate check ids");
        for id in all {
            assert!(
                id.len() <= 14
                    && id
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit()),
                "{id:?} is not a short lowercase id"
            );
        }
    }

    #[test]
    fn every_checked_by_line_names_a_real_check_and_every_check_is_in_the_checklist() {
        let doc = checklist();
        let items = items(&doc);
        assert!(
            items.len() >= 20,
            "only {} checklist items parsed",
            items.len()
        );
        let known: Vec<&str> = all_ids().collect();
        let mut named: Vec<(String, &Item)> = Vec::new();
        for it in &items {
            for id in named_ids(&it.checked_by) {
                assert!(
                    known.contains(&id.as_str()),
                    "docs/ga-release-checklist.md names release preflight `{id}`, which is not a check of xtask/src/release/verify.rs (known: {})",
                    known.join(", ")
                );
                named.push((id, it));
            }
        }
        let backs = |id: &str, line: &str| {
            let mine: Vec<&&Item> = named
                .iter()
                .filter(|(n, _)| n == id)
                .map(|(_, i)| i)
                .collect();
            assert!(
                !mine.is_empty(),
                "the check `{id}` is not named by any \"Checked by\" line of docs/ga-release-checklist.md"
            );
            let own = mine.iter().find(|i| i.text == line);
            assert!(
                own.is_some(),
                "no checklist line reads {line:?} and is checked by preflight `{id}`; lines naming it: {:?}",
                mine.iter().map(|i| &i.text).collect::<Vec<_>>()
            );
            own.unwrap().checked_by.clone()
        };
        for c in &CHECKS {
            let by = backs(c.id, c.line);
            assert!(by.starts_with("release preflight `"), "{by}");
        }
        let root = workspace();
        for v in &VERIFICATIONS {
            let by = backs(v.id, v.line);
            let cmd = format!("`{}`", v.command(&root));
            assert!(
                by.contains(&cmd),
                "the checklist line of preflight `{}` must say its command {cmd}: {by}",
                v.id
            );
        }
        // Automated lines are the ones marked; the rest are said to need a human.
        assert!(doc.contains("Lines without **Checked by:** need a human"));
        let human = items.iter().filter(|i| i.checked_by.is_empty()).count();
        assert!(human >= 3, "expected the human lines to stay unmarked");
    }

    /// Checks `cargo xtask WORDS…` against the real clap command of the xtask.
    fn check_xtask_command(words: &[&str]) -> Result<(), String> {
        let mut cmd = crate::Cli::command();
        cmd.build();
        let mut cur = &cmd;
        let mut path = String::from("cargo xtask");
        let mut i = 0;
        let mut positionals = 0;
        while i < words.len() {
            let w = words[i];
            i += 1;
            if let Some(flag) = w.strip_prefix("--") {
                let flag = flag.split('=').next().unwrap_or(flag);
                let arg = cur
                    .get_arguments()
                    .find(|a| {
                        a.get_long() == Some(flag)
                            || a.get_all_aliases().is_some_and(|al| al.contains(&flag))
                    })
                    .ok_or_else(|| format!("`{path} --{flag}` is not a flag"))?;
                if arg.get_action().takes_values() && !w.contains('=') {
                    i += 1;
                }
            } else if let Some(sub) = cur.find_subcommand(w) {
                path.push(' ');
                path.push_str(w);
                cur = sub;
                positionals = 0;
            } else if cur.get_positionals().count() > positionals {
                positionals += 1;
            } else {
                return Err(format!(
                    "`{path} {w}`: {w:?} is neither a subcommand nor an argument"
                ));
            }
        }
        if path == "cargo xtask" {
            return Err("`cargo xtask` without a subcommand".into());
        }
        Ok(())
    }

    /// The `cargo xtask …` commands quoted in backticks in a document.
    fn xtask_commands(doc: &str) -> Vec<String> {
        doc.split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| s.starts_with("cargo xtask"))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn every_xtask_command_in_the_checklist_exists() {
        let doc = checklist();
        let cmds = xtask_commands(&doc);
        assert!(
            cmds.len() >= 8,
            "only {} commands found: {cmds:?}",
            cmds.len()
        );
        for c in &cmds {
            let words: Vec<&str> = c.split_whitespace().skip(2).collect();
            if let Err(e) = check_xtask_command(&words) {
                panic!("docs/ga-release-checklist.md: {e} (in `{c}`)");
            }
        }
        for sub in ["release", "deploy", "smoke"] {
            assert!(
                cmds.iter()
                    .any(|c| c.starts_with(&format!("cargo xtask {sub}"))),
                "the checklist should name `cargo xtask {sub}`"
            );
        }
    }

    #[test]
    fn the_command_check_rejects_what_does_not_exist() {
        assert!(check_xtask_command(&["release", "<version>", "--execute"]).is_ok());
        assert!(check_xtask_command(&["release", "rollback", "<version>"]).is_ok());
        assert!(check_xtask_command(&["deploy", "rollback", "--namespace", "<ns>"]).is_ok());
        assert!(check_xtask_command(&["smoke", "--url", "<url>"]).is_ok());
        assert!(check_xtask_command(&["release", "<version>", "--skip-tests"]).is_ok());
        assert!(check_xtask_command(&["publish"]).is_err());
        assert!(check_xtask_command(&["smoke", "--no-such-flag"]).is_err());
        assert!(check_xtask_command(&["deploy", "upgrade", "now"]).is_err());
        assert!(check_xtask_command(&[]).is_err());
    }

    #[test]
    fn the_parser_finds_items_and_ids() {
        let doc = "## 1\n\n- [ ] Tree clean.\n      **Checked by:** release preflight `clean-tree` and preflight `tests` (`cargo xtask test`).\n- [ ] Human line.\n\n1. **bump** — versions.\n   **Checked by:** release preflight `version`.\n";
        let it = items(doc);
        assert_eq!(it.len(), 3);
        assert_eq!(it[0].text, "Tree clean.");
        assert_eq!(named_ids(&it[0].checked_by), vec!["clean-tree", "tests"]);
        assert!(it[1].checked_by.is_empty());
        assert_eq!(named_ids(&it[2].checked_by), vec!["version"]);
        assert_eq!(xtask_commands(doc), vec!["cargo xtask test"]);
    }

    #[test]
    fn skip_check_accepts_only_verification_ids() {
        assert_eq!(verification_id("deny").unwrap(), "deny");
        let e = verification_id("clean-tree").unwrap_err();
        assert!(e.contains("fmt, clippy, deny, advisories, tests"), "{e}");
    }

    #[test]
    fn a_missing_tool_is_a_problem_with_its_fix() {
        let v = Verification {
            id: "probe",
            line: "",
            args: &["no-such-tool-akidb", "check"],
            without_xtask: None,
            tool: Some((
                &["no-such-tool-akidb", "--version"],
                "cargo install no-such-tool-akidb",
            )),
            note: "",
        };
        let root = workspace();
        let p = v
            .tool_problem(&root)
            .expect("a missing cargo subcommand is a problem");
        assert_eq!(p.check, "probe");
        assert!(
            p.what
                .contains("`cargo no-such-tool-akidb` is not installed"),
            "{}",
            p.what
        );
        assert_eq!(p.fix, "cargo install no-such-tool-akidb");
        let e = v.run(&root).unwrap_err().to_string();
        assert!(
            e.contains("`cargo no-such-tool-akidb check`") && e.contains("nothing was changed"),
            "{e}"
        );
        assert!(
            VERIFICATIONS[0].tool_problem(&root).is_none(),
            "rustfmt is installed"
        );
    }

    #[test]
    fn tests_fall_back_to_cargo_test_without_an_xtask() {
        let tests = VERIFICATIONS.iter().find(|v| v.id == "tests").unwrap();
        assert_eq!(tests.command(&workspace()), "cargo xtask test");
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(tests.command(tmp.path()), "cargo test --workspace");
    }
}
