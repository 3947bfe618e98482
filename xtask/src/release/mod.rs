//! `cargo xtask release <version>`: the eight GA steps of docs/release.md — bump, changelog,
//! commit + tag, image, chart, GitHub release, docs site, announcement.
//!
//! Without `--execute` it runs the preflight checks, prints each by id with ✓/✗ and the plan
//! (every verification command, file, tag, image reference, chart and API call), and changes
//! nothing. With it, the preflight refuses bad input and runs the verifications (fmt, clippy,
//! deny, advisories, tests: see [`verify`]) before anything changes, then each step runs with a progress line and is recorded in
//! `target/release/<version>/state.json`; a rerun resumes at the first unfinished step, and
//! every step checks the world before acting, so nothing is done twice.
//! `cargo xtask release rollback <version>` undoes what can be undone.

pub(crate) mod announce;
pub(crate) mod bump;
pub(crate) mod changelog;
pub(crate) mod docs_site;
pub(crate) mod git;
pub(crate) mod github;
// Also compiled into the release tests (`#[path]`), which use the inspection methods.
#[allow(dead_code)]
pub(crate) mod github_double;
pub(crate) mod oci;
mod rehearse;
pub(crate) mod sbom;
pub(crate) mod state;
pub(crate) mod util;
pub(crate) mod verify;

use crate::image::{self, Platform};
use anyhow::{anyhow, bail, Context, Result};
use oci::Registry;
use serde_json::{json, Value};
use state::{Failure, State, StepRecord};
use std::path::PathBuf;
use std::time::Instant;
use util::sh;

/// The eight steps, in order.
pub const STEPS: [&str; 8] = [
    "bump",
    "changelog",
    "tag",
    "image",
    "chart",
    "github",
    "docs",
    "announce",
];

fn step_name(s: &str) -> Result<String, String> {
    let s = match s {
        "commit" | "commit-tag" | "commit+tag" => "tag",
        "release" | "gh" => "github",
        other => other,
    };
    if STEPS.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "unknown step {s:?}; steps are {}",
            STEPS.join(", ")
        ))
    }
}

/// Arguments of `cargo xtask release`.
#[derive(clap::Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Version to release (semver, e.g. 2.1.0; a leading `v` is accepted).
    #[arg(required = true)]
    version: Option<String>,
    /// Perform the release (default: print the plan and change nothing).
    #[arg(long)]
    execute: bool,
    /// Start at this step (bump, changelog, tag, image, chart, github, docs, announce).
    #[arg(long, value_parser = step_name, conflicts_with = "only")]
    from: Option<String>,
    /// Run only this step.
    #[arg(long, value_parser = step_name)]
    only: Option<String>,
    /// Do not run the verifications (fmt, clippy, deny, advisories, tests) in the preflight:
    /// say that they are already green.
    #[arg(long = "skip-verify", visible_alias = "skip-tests")]
    skip_verify: bool,
    /// Do not run this verification (repeatable): fmt, clippy, deny, advisories, tests.
    #[arg(long = "skip-check", value_name = "ID", value_parser = verify::verification_id)]
    skip_check: Vec<String>,
    /// Perform the whole release against throwaway local stand-ins (a clone of HEAD with a
    /// bare origin, a loopback registry, a GitHub API double) under target/release-rehearsal.
    #[arg(long, conflicts_with_all = ["execute", "only", "from"])]
    rehearse: bool,
    /// Print one JSON document on stdout (the plan, or what each step did and published);
    /// progress and tool output go to stderr. For CI.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    // Boxed: keeps the `Command` enum of main.rs small (clippy::large_enum_variant).
    opts: Box<Options>,
}

#[derive(clap::Subcommand, Debug, Clone)]
enum Action {
    /// Undo a release: delete the tag, revert an unpushed bump commit, delete a draft
    /// GitHub release, and list what cannot be undone (pushed images, charts, docs).
    Rollback {
        /// The version whose release to undo.
        version: String,
        #[command(flatten)]
        opts: Options,
    },
}

/// Endpoints and inputs shared by the release and its rollback.
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// Workspace root to release (default: this repository).
    #[arg(long)]
    pub workspace: Option<PathBuf>,
    /// Registry for image and chart: `HOST[:PORT][/NAMESPACE]` (loopback hosts use http).
    #[arg(long, env = "AKIDB_REGISTRY", default_value = "ghcr.io/akidb")]
    pub registry: String,
    /// Use plain http for a non-loopback registry.
    #[arg(long)]
    pub insecure_registry: bool,
    /// GitHub REST API base URL.
    #[arg(
        long = "github-api",
        env = "GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api: String,
    /// GitHub repository `owner/name` (default: from `repository` in Cargo.toml).
    #[arg(long, env = "AKIDB_GITHUB_REPO")]
    pub repo: Option<String>,
    /// The branch releases are cut from.
    #[arg(long, env = "AKIDB_RELEASE_BRANCH", default_value = "main")]
    pub branch: String,
    /// How the release commit reaches the branch: `push` (directly), `pr` (a
    /// `release/vX.Y.Z` branch and a pull request), `auto` (push; a pull request when the
    /// push is refused, e.g. by branch protection).
    #[arg(long, env = "AKIDB_RELEASE_VIA", value_enum, default_value = "auto")]
    pub via: Via,
    /// Prebuilt binaries for the image: `linux/amd64=PATH`, `linux/arm64=PATH`.
    #[arg(long = "binary", value_name = "PLATFORM=PATH")]
    pub binaries: Vec<String>,
    /// Webhook that receives the short announcement (JSON POST); none = drafts only.
    #[arg(long, env = "AKIDB_ANNOUNCE_WEBHOOK")]
    pub webhook: Option<String>,
}

/// How step 3 publishes the release commit.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Push to the release branch; open a pull request when the push is refused.
    Auto,
    /// Push to the release branch, fail when refused.
    Push,
    /// Always go through a `release/vX.Y.Z` branch and a pull request.
    Pr,
}

/// Runs `cargo xtask release`.
pub fn run(args: Args) -> Result<()> {
    if let Some(Action::Rollback { version, opts }) = &args.action {
        return rollback(version, opts);
    }
    if !args.json {
        return release_or_rehearse(&args, &mut Value::Null);
    }
    let mut report = json!({});
    let result = {
        let _quiet = StdoutToStderr::begin()?;
        release_or_rehearse(&args, &mut report)
    };
    if let Err(e) = &result {
        report["status"] = json!("failed");
        report["error"] = json!(format!("{e:#}"));
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    result
}

/// While alive, file descriptor 1 points at stderr, so progress lines and the output of
/// every subprocess stay off stdout, which `--json` keeps for its document.
struct StdoutToStderr(libc::c_int);

impl StdoutToStderr {
    fn begin() -> Result<Self> {
        std::io::Write::flush(&mut std::io::stdout())?;
        // SAFETY: dup/dup2 on the process's own standard descriptors.
        let saved = unsafe { libc::dup(1) };
        anyhow::ensure!(saved >= 0, "cannot duplicate stdout");
        anyhow::ensure!(
            unsafe { libc::dup2(2, 1) } >= 0,
            "cannot point stdout at stderr"
        );
        Ok(Self(saved))
    }
}

impl Drop for StdoutToStderr {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(&mut std::io::stdout());
        // SAFETY: restores the descriptor saved by `begin`, then closes the copy.
        unsafe {
            libc::dup2(self.0, 1);
            libc::close(self.0);
        }
    }
}

/// The steps as recorded in the state file, for the JSON document and the summary.
fn steps_report(st: &State) -> Value {
    let steps: Vec<Value> = STEPS
        .iter()
        .enumerate()
        .filter_map(|(i, step)| {
            st.steps.get(*step).map(|r| {
                json!({"n": i + 1, "step": step, "finished_at": r.finished_at,
                       "duration_ms": r.duration_ms, "outputs": r.outputs})
            })
        })
        .collect();
    json!(steps)
}

/// One line per finished step: how long it took and what it published (digests, tags, ids).
fn summary_table(st: &State) -> String {
    const KEYS: [&str; 14] = [
        "index",
        "ref",
        "digest",
        "tag",
        "commit",
        "pull_request",
        "html_url",
        "release_id",
        "assets",
        "to",
        "files",
        "entries",
        "release_post",
        "webhook_status",
    ];
    let mut out = String::from("| # | step | time | result |\n|---|---|---:|---|\n");
    for (i, step) in STEPS.iter().enumerate() {
        let Some(r) = st.steps.get(*step) else {
            out += &format!("| {} | {step} | | not run |\n", i + 1);
            continue;
        };
        let shown: Vec<String> = KEYS
            .iter()
            .filter_map(|k| {
                let v = r.outputs.get(*k)?;
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(a) => format!("{} item(s)", a.len()),
                    other => other.to_string(),
                };
                Some(format!("{k} {v}"))
            })
            .collect();
        out += &format!(
            "| {} | {step} | {:.1}s | {} |\n",
            i + 1,
            r.duration_ms as f64 / 1000.0,
            shown.join(", ")
        );
    }
    out
}

/// `--rehearse`: the release with `--execute` against the stand-ins of [`rehearse`];
/// otherwise the release itself.
fn release_or_rehearse(args: &Args, report: &mut Value) -> Result<()> {
    if !args.rehearse {
        return release(args, report);
    }
    let root = util::workspace_root(args.opts.workspace.as_deref())?;
    let t = Instant::now();
    let stand_ins = rehearse::Rehearsal::start(&root, &args.opts.binaries)?;
    println!(
        "rehearsal: releasing a clone of HEAD in {} (origin {}), registry {}, GitHub API double {}",
        stand_ins.work.display(),
        stand_ins.origin.display(),
        stand_ins.registry,
        stand_ins.github.url
    );
    println!("rehearsal: the verifications (fmt, clippy, deny, advisories, tests) are not run; a real release runs them first");
    // The double accepts any token; a real token in the environment is never sent anywhere real.
    std::env::set_var("GITHUB_TOKEN", "rehearsal");
    let mut rehearsed = args.clone();
    rehearsed.rehearse = false;
    rehearsed.execute = true;
    rehearsed.skip_verify = true;
    *rehearsed.opts = Options {
        workspace: Some(stand_ins.work.clone()),
        // Same namespace as the real registry (`ghcr.io/akidb` → `127.0.0.1:PORT/akidb`).
        registry: match args.opts.registry.split_once('/') {
            Some((_, namespace)) => format!("{}/{namespace}", stand_ins.registry),
            None => stand_ins.registry.clone(),
        },
        insecure_registry: false,
        github_api: stand_ins.github.url.clone(),
        repo: args.opts.repo.clone(),
        branch: args.opts.branch.clone(),
        via: args.opts.via,
        binaries: stand_ins.binaries.clone(),
        webhook: Some(format!("{}/webhook", stand_ins.github.url)),
    };
    let result = release(&rehearsed, report);
    let published = stand_ins.published()?;
    println!(
        "rehearsal {} after {:.1}s; published to the stand-ins:\n{}",
        if result.is_ok() { "finished" } else { "FAILED" },
        t.elapsed().as_secs_f64(),
        serde_json::to_string_pretty(&published)?
    );
    if report.is_object() {
        report["rehearsal"] = published;
    }
    result
}

/// The release itself; with `--json`, `report` receives the document to print.
fn release(args: &Args, report: &mut Value) -> Result<()> {
    let version = args
        .version
        .clone()
        .context("give the version to release, e.g. `cargo xtask release 2.1.0`")?;
    let ctx = Ctx::new(&version, &args.opts)?;
    let mut st = State::load(&ctx.out, &ctx.v)?;
    let selected: Vec<&'static str> = match (&args.only, &args.from) {
        (Some(o), _) => STEPS.iter().copied().filter(|s| s == o).collect(),
        (None, Some(f)) => STEPS.iter().copied().skip_while(|s| s != f).collect(),
        (None, None) => STEPS.iter().copied().filter(|s| !st.done(s)).collect(),
    };
    if selected.is_empty() {
        println!(
            "release {} is complete (all steps recorded in {}); use --only/--from to redo a step",
            ctx.v,
            st.path().display()
        );
        *report = json!({"version": ctx.v, "mode": "execute", "status": "complete", "steps": steps_report(&st)});
        return Ok(());
    }
    let verifying = Verifying::new(args, &selected);
    let mut pre = preflight(&ctx, &st, &selected, args.execute)?;
    for v in verifying.to_run() {
        pre.problems.extend(v.tool_problem(&ctx.root));
    }
    if !args.execute {
        // Each selected step described once, for the printed plan and the JSON document.
        let plans: Vec<Vec<String>> = STEPS
            .iter()
            .map(|step| match selected.contains(step) {
                true => {
                    describe(&ctx, step).unwrap_or_else(|e| vec![format!("cannot plan: {e:#}")])
                }
                false => Vec::new(),
            })
            .collect();
        print_plan(&ctx, &st, &selected, &pre, &verifying, &plans)?;
        *report = json!({
            "version": ctx.v,
            "mode": "plan",
            "status": if pre.problems.is_empty() { "ready" } else { "blocked" },
            "problems": pre.problems.iter().map(|p| json!({"check": p.check, "what": p.what, "fix": p.fix})).collect::<Vec<_>>(),
            "steps": STEPS.iter().enumerate().map(|(i, step)| json!({
                "n": i + 1,
                "step": step,
                "selected": selected.contains(step),
                "done_before": st.done(step),
                "plan": plans[i],
            })).collect::<Vec<_>>(),
        });
        if !pre.problems.is_empty() {
            bail!(
                "preflight found {} problem(s); fix them before running with --execute",
                pre.problems.len()
            );
        }
        return Ok(());
    }
    report_problems(&pre.problems)?;
    let to_run = verifying.to_run();
    if !to_run.is_empty() {
        let t = Instant::now();
        println!(
            "preflight: running {} verification(s) before any change (--skip-verify if they are already green)",
            to_run.len()
        );
        for v in to_run {
            v.run(&ctx.root)?;
        }
        println!(
            "preflight: verifications green ({:.1}s)",
            t.elapsed().as_secs_f64()
        );
    }
    if let Some(f) = &st.failure {
        println!(
            "resuming release {} (last run failed at step {}: {})",
            ctx.v,
            f.step,
            first_line(&f.error)
        );
    }
    let total = Instant::now();
    for step in &selected {
        let n = STEPS.iter().position(|s| s == step).unwrap_or(0) + 1;
        let t = Instant::now();
        println!("[{n}/8] {step} …");
        match run_step(&ctx, &st, step) {
            Ok(outputs) => {
                let ms = t.elapsed().as_millis() as u64;
                println!("[{n}/8] {step} done in {:.1}s", ms as f64 / 1000.0);
                st.steps.insert(
                    step.to_string(),
                    StepRecord {
                        finished_at: util::rfc3339(util::now_epoch()),
                        duration_ms: ms,
                        outputs,
                    },
                );
                st.failure = None;
                st.save()?;
            }
            Err(e) => {
                println!(
                    "[{n}/8] {step} FAILED after {:.1}s",
                    t.elapsed().as_secs_f64()
                );
                st.failure = Some(Failure {
                    step: step.to_string(),
                    error: format!("{e:#}"),
                    at: util::rfc3339(util::now_epoch()),
                });
                st.save()?;
                *report = json!({"version": ctx.v, "mode": "execute", "failed_step": step,
                                 "state_file": st.path(), "steps": steps_report(&st)});
                return Err(e.context(format!(
                    "release step {n} ({step}) failed; fix the cause and rerun `cargo xtask release {} --execute` to resume at {step} (state: {})",
                    ctx.v,
                    st.path().display()
                )));
            }
        }
    }
    println!(
        "release {} finished in {:.1}s\n\n{}",
        ctx.v,
        total.elapsed().as_secs_f64(),
        summary_table(&st)
    );
    *report = json!({"version": ctx.v, "mode": "execute", "status": "complete",
                     "duration_ms": total.elapsed().as_millis() as u64,
                     "state_file": st.path(), "steps": steps_report(&st)});
    Ok(())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Which verifications this run makes, and why the others are left out.
struct Verifying {
    /// Why no verification runs (None = those not in `skipped` run).
    none: Option<&'static str>,
    /// Ids left out with `--skip-check`.
    skipped: Vec<String>,
}

impl Verifying {
    fn new(args: &Args, selected: &[&str]) -> Self {
        // They guard the start of a release: a resumed run past the bump already passed them.
        let none = if args.skip_verify {
            Some("skipped (--skip-verify / --skip-tests)")
        } else if !selected.contains(&"bump") {
            Some("not run: the bump is not selected (they ran when the release started)")
        } else {
            None
        };
        Verifying {
            none,
            skipped: args.skip_check.clone(),
        }
    }

    fn to_run(&self) -> Vec<&'static verify::Verification> {
        if self.none.is_some() {
            return Vec::new();
        }
        verify::VERIFICATIONS
            .iter()
            .filter(|v| !self.skipped.iter().any(|s| s == v.id))
            .collect()
    }
}

/// Everything the steps need, resolved once.
pub struct Ctx {
    root: PathBuf,
    version: semver::Version,
    v: String,
    tag: String,
    out: PathBuf,
    opts: Options,
    registry: Registry,
}

impl Ctx {
    fn new(version: &str, opts: &Options) -> Result<Self> {
        let raw = version.trim().trim_start_matches('v');
        let parsed = semver::Version::parse(raw).map_err(|e| {
            anyhow!("{version:?} is not a semantic version ({e}); use MAJOR.MINOR.PATCH, e.g. 2.1.0 (nothing was changed)")
        })?;
        let root = util::workspace_root(opts.workspace.as_deref())?;
        let v = parsed.to_string();
        Ok(Ctx {
            out: root.join("target/release").join(&v),
            tag: format!("v{v}"),
            registry: Registry::parse(&opts.registry, opts.insecure_registry)?,
            root,
            version: parsed,
            v,
            opts: opts.clone(),
        })
    }

    fn github(&self) -> Result<github::GitHub> {
        let (owner, repo) = self.repo()?;
        let token = std::env::var("GITHUB_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .context(
                "GITHUB_TOKEN is not set: export a token with `contents: write` on the repository",
            )?;
        Ok(github::GitHub {
            api: self.opts.github_api.trim_end_matches('/').to_string(),
            owner,
            repo,
            token,
        })
    }

    fn repo(&self) -> Result<(String, String)> {
        let spec = match &self.opts.repo {
            Some(r) => r.clone(),
            None => {
                let doc: toml_edit::DocumentMut =
                    util::read(&self.root.join("Cargo.toml"))?.parse()?;
                doc.get("workspace")
                    .and_then(|w| w.get("package"))
                    .and_then(|p| p.get("repository"))
                    .and_then(|r| r.as_str())
                    .unwrap_or("")
                    .to_string()
            }
        };
        github::parse_repo(&spec).with_context(|| {
            format!("cannot tell the GitHub repository from {spec:?}: pass --repo OWNER/NAME")
        })
    }

    fn changelog_path(&self) -> PathBuf {
        self.root.join("CHANGELOG.md")
    }

    fn image_ref(&self) -> String {
        format!("{}:{}", self.registry.display("akidb"), self.v)
    }

    fn chart_ref(&self) -> String {
        format!("oci://{}", self.registry.display("charts/akidb"))
    }

    fn release_files(&self) -> Vec<String> {
        bump::FILES
            .iter()
            .map(|s| s.to_string())
            .chain(std::iter::once("CHANGELOG.md".to_string()))
            .collect()
    }
}

/// One preflight failure with what to do about it.
pub(crate) struct Problem {
    /// Id of the check that found it (a [`verify::CHECKS`] or [`verify::VERIFICATIONS`] id).
    pub(crate) check: &'static str,
    /// What is wrong.
    pub(crate) what: String,
    /// What to do about it.
    pub(crate) fix: String,
}

/// What the preflight found: problems, and the ids of the checks it made.
struct Preflight {
    problems: Vec<Problem>,
    checked: Vec<&'static str>,
    /// Checks not made because an earlier one failed, with the reason.
    blocked: Vec<(&'static str, &'static str)>,
}

fn report_problems(problems: &[Problem]) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let mut msg = format!(
        "preflight refused the release ({} problem(s)); nothing was changed:",
        problems.len()
    );
    for p in problems {
        msg.push_str(&format!("\n  ✗ {}: {}\n    → {}", p.check, p.what, p.fix));
    }
    bail!(msg)
}

fn preflight(ctx: &Ctx, st: &State, selected: &[&str], execute: bool) -> Result<Preflight> {
    let mut problems = Vec::new();
    let mut checked: Vec<&'static str> = Vec::new();
    let mut add = |check: &'static str, what: String, fix: &str| {
        problems.push(Problem {
            check,
            what,
            fix: fix.to_string(),
        })
    };
    let has = |s: &str| selected.contains(&s);
    let root = &ctx.root;

    checked.push("repo");
    if sh(root, "git", &["rev-parse", "--git-dir"]).is_err() {
        add(
            "repo",
            format!("{} is not a git repository", root.display()),
            "run the release from the AkiDB checkout (or --workspace DIR)",
        );
        let blocked = verify::CHECKS
            .iter()
            .skip(1)
            .map(|c| (c.id, "not checked: no git repository"))
            .collect();
        return Ok(Preflight {
            problems,
            checked,
            blocked,
        });
    }
    let has_origin = git::origin_url(root).is_ok();
    if !has_origin {
        add(
            "repo",
            "the repository has no `origin` remote".into(),
            "git remote add origin <url>",
        );
    }
    // Tree: clean, except for our own edits when a previous run already bumped.
    checked.push("clean-tree");
    let dirty = git::dirty_paths(root)?;
    let allowed = ctx.release_files();
    let foreign: Vec<&String> = dirty
        .iter()
        .filter(|p| !(st.done("bump") && allowed.contains(p)))
        .collect();
    if !foreign.is_empty() {
        add(
            "clean-tree",
            format!(
                "the working tree is dirty: {}",
                foreign
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "commit or stash these changes first (git status)",
        );
    }
    checked.push("branch");
    match git::branch(root) {
        Ok(b) if b == ctx.opts.branch => {}
        Ok(b) => add(
            "branch",
            format!(
                "on branch {b:?}, releases are cut from {:?}",
                ctx.opts.branch
            ),
            &format!("git switch {} (or pass --branch)", ctx.opts.branch),
        ),
        Err(e) => add(
            "branch",
            format!("cannot read the current branch: {e}"),
            "make at least one commit",
        ),
    }
    // A HEAD behind origin would make step 3's push fail after the bump and changelog.
    if has_origin {
        checked.push("up-to-date");
        match git::remote_branch_commit(root, &ctx.opts.branch) {
            Ok(Some(tip)) if !git::head_contains(root, &tip) => add(
                "up-to-date",
                format!(
                    "HEAD does not contain origin/{} ({})",
                    ctx.opts.branch,
                    &tip[..tip.len().min(12)]
                ),
                &format!("git pull --rebase origin {}", ctx.opts.branch),
            ),
            Ok(_) => {}
            Err(e) => add(
                "up-to-date",
                format!("cannot read origin/{}: {e:#}", ctx.opts.branch),
                "make origin reachable (the release pushes to it)",
            ),
        }
    }
    checked.push("version");
    match bump::current_version(root) {
        Ok(cur) => {
            if cur > ctx.version {
                add(
                    "version",
                    format!("{} is lower than the current version {cur}", ctx.v),
                    "choose a version greater than the current one",
                );
            } else if cur == ctx.version && has("bump") && !st.done("bump") {
                // The same version is a first release (nothing to bump) unless it was
                // released already: its tag exists.
                let tagged = git::local_tag_commit(root, &ctx.tag).is_some()
                    || git::remote_tag_commit(root, &ctx.tag)
                        .unwrap_or(None)
                        .is_some();
                if tagged {
                    add(
                        "version",
                        format!(
                            "the workspace is already at {cur} and tag {} exists: {cur} is already released",
                            ctx.tag
                        ),
                        "choose a greater version, or resume an existing release with --from <step>",
                    );
                }
            }
        }
        Err(e) => add(
            "version",
            format!("{e:#}"),
            "fix Cargo.toml ([workspace.package] version)",
        ),
    }
    if has("bump") || has("chart") {
        checked.push("release-files");
        for f in ["helm/akidb/Chart.yaml", "helm/akidb/values.yaml"] {
            if !root.join(f).exists() {
                add(
                    "release-files",
                    format!("{f} is missing"),
                    "the chart must exist before a release",
                );
            }
        }
    }
    if has("bump") && !root.join("flake.nix").exists() {
        add(
            "release-files",
            "flake.nix is missing".into(),
            "the flake carries the version too; add it before releasing",
        );
    } else if has("bump") && !st.done("bump") {
        // The bump computes every edit before writing one: a file without its version key
        // is refused here, before anything changes.
        if let Ok(cur) = bump::current_version(root) {
            if let Err(e) = bump::plan(root, &cur.to_string(), &ctx.v) {
                add(
                    "release-files",
                    format!("the bump cannot edit the version: {e:#}"),
                    "restore the version key in that file (it must carry the current version)",
                );
            }
        }
    }
    if has("changelog") && !st.done("changelog") {
        checked.push("changes");
        let text = std::fs::read_to_string(ctx.changelog_path()).unwrap_or_default();
        if changelog::section(&text, &ctx.v).is_none() {
            let last = git::last_tag(root);
            let commits = git::commits_since(root, last.as_deref()).unwrap_or_default();
            let user_commits = commits
                .iter()
                .filter(|c| !c.subject.starts_with("chore(release)"))
                .count();
            if user_commits == 0 && changelog::unreleased_entries(&text).is_empty() {
                add(
                    "changes",
                    format!("nothing to release: no commits since {} and no Unreleased changelog entries", last.as_deref().unwrap_or("the start")),
                    "land the changes first, or add entries under ## [Unreleased] in CHANGELOG.md",
                );
            }
        }
    }
    // An existing tag is fine only if it is the one a previous run of this release made.
    // Without a state file (e.g. `--only image` on another machine) a tag at HEAD is the
    // release commit's, as long as this run does not bump again.
    checked.push("tag");
    let ours = st
        .outputs("tag")
        .and_then(|o| o["commit"].as_str())
        .map(str::to_string)
        .or_else(|| (!has("bump")).then(|| git::head(root).ok()).flatten());
    let local = git::local_tag_commit(root, &ctx.tag);
    let remote = git::remote_tag_commit(root, &ctx.tag).unwrap_or(None);
    for (where_, c) in [("locally", local), ("on origin", remote)] {
        if let Some(c) = c {
            if ours.as_deref() != Some(c.as_str()) {
                add(
                    "tag",
                    format!("tag {} already exists {where_} at {} (not made by this release)", ctx.tag, &c[..c.len().min(12)]),
                    "pick another version, or delete the stale tag (git tag -d / git push origin :refs/tags/<tag>)",
                );
            }
        }
    }
    if has("github") {
        checked.push("github");
        if std::env::var("GITHUB_TOKEN")
            .map(|t| t.trim().is_empty())
            .unwrap_or(true)
        {
            add(
                "github",
                "GITHUB_TOKEN is not set (the github step needs it)".into(),
                "export GITHUB_TOKEN=<token with contents:write>",
            );
        }
        if let Err(e) = ctx.repo() {
            add("github", format!("{e:#}"), "pass --repo OWNER/NAME");
        }
    }
    if has("image") || has("chart") {
        checked.push("registry");
        let mut creds_ok = true;
        if !ctx.registry.insecure {
            let user = std::env::var("AKIDB_REGISTRY_USERNAME").is_ok();
            let pass = std::env::var("AKIDB_REGISTRY_PASSWORD").is_ok();
            if !(user && pass) {
                creds_ok = false;
                add(
                    "registry",
                    format!("registry {} needs credentials", ctx.registry.host),
                    "export AKIDB_REGISTRY_USERNAME and AKIDB_REGISTRY_PASSWORD (or --registry a loopback registry)",
                );
            }
        }
        // Before anything changes (a refused push at step 4 would come after the tag): the
        // plan does not contact the registry, `--execute` asks it once for the image repo.
        if execute && creds_ok {
            let probe = util::runtime()?.block_on(oci::probe_push(&ctx.registry, "akidb"));
            if let Err(why) = probe {
                add(
                    "registry",
                    why,
                    "fix the registry or its credentials (AKIDB_REGISTRY_USERNAME / AKIDB_REGISTRY_PASSWORD), or pass another --registry",
                );
            }
        }
    }
    if has("image") {
        checked.push("arm64");
        match image::parse_binary_args(&ctx.opts.binaries) {
            Ok(given) => {
                if !given.contains_key(&Platform::Arm64) {
                    if let Some(p) = image::arm64_toolchain_problem() {
                        add(
                            "arm64",
                            format!("linux/arm64 cannot be built: {p}"),
                            "the release never ships an index without arm64",
                        );
                    }
                }
            }
            Err(e) => add("arm64", format!("{e:#}"), "fix --binary PLATFORM=PATH"),
        }
    }
    if has("docs") {
        checked.push("docs");
        if docs_site::pages(root).map(|p| p.is_empty()).unwrap_or(true) {
            add(
                "docs",
                "docs/ has no Markdown pages".into(),
                "write the docs before releasing",
            );
        }
    }
    let blocked = if has_origin {
        Vec::new()
    } else {
        vec![(
            "up-to-date",
            "not checked: no origin remote to compare with",
        )]
    };
    Ok(Preflight {
        problems,
        checked,
        blocked,
    })
}

fn print_plan(
    ctx: &Ctx,
    st: &State,
    selected: &[&str],
    pre: &Preflight,
    verifying: &Verifying,
    plans: &[Vec<String>],
) -> Result<()> {
    let cur = bump::current_version(&ctx.root)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| "?".into());
    println!(
        "Release plan for AkiDB {} (current {cur}) in {}",
        ctx.v,
        ctx.root.display()
    );
    println!("This is a dry run: nothing is changed. Add --execute to perform it.\n");
    println!("Preflight checks (ids named by docs/ga-release-checklist.md):");
    let print_problems = |id: &str| {
        let mine: Vec<&Problem> = pre.problems.iter().filter(|p| p.check == id).collect();
        for p in &mine {
            println!("  ✗ {id}: {}\n    → {}", p.what, p.fix);
        }
        !mine.is_empty()
    };
    for c in &verify::CHECKS {
        if print_problems(c.id) {
            continue;
        }
        if pre.checked.contains(&c.id) {
            println!("  ✓ {}: {}", c.id, c.line);
        } else if let Some((_, why)) = pre.blocked.iter().find(|(id, _)| *id == c.id) {
            println!("  - {}: {why}", c.id);
        } else {
            println!("  - {}: not needed by the selected steps", c.id);
        }
    }
    println!("Verifications (`--execute` runs them before any change):");
    let to_run = verifying.to_run();
    for v in &verify::VERIFICATIONS {
        if print_problems(v.id) {
            continue;
        }
        let cmd = v.command(&ctx.root);
        if to_run.iter().any(|r| r.id == v.id) {
            println!("  · {}: would run `{cmd}` — {}", v.id, v.line);
        } else if let Some(why) = verifying.none {
            println!("  - {}: {why} (`{cmd}`)", v.id);
        } else {
            println!("  - {}: skipped (--skip-check {}) (`{cmd}`)", v.id, v.id);
        }
    }
    println!("\nState file: {}", st.path().display());
    for step in STEPS {
        let n = STEPS.iter().position(|s| *s == step).unwrap_or(0) + 1;
        if !selected.contains(&step) {
            let why = if st.done(step) {
                "done in a previous run"
            } else {
                "not selected"
            };
            println!("\n{n}. {step} — skipped ({why})");
            continue;
        }
        println!("\n{n}. {step}");
        for line in &plans[n - 1] {
            println!("   {line}");
        }
    }
    Ok(())
}

fn describe(ctx: &Ctx, step: &str) -> Result<Vec<String>> {
    let root = &ctx.root;
    let v = &ctx.v;
    let out = |p: &str| ctx.out.join(p).display().to_string();
    Ok(match step {
        "bump" => {
            let cur = bump::current_version(root)?.to_string();
            match bump::plan(root, &cur, v) {
                Ok(edits) => edits
                    .iter()
                    .map(|e| {
                        format!(
                            "edit {}: {}{}",
                            e.file,
                            e.what,
                            if e.changed { "" } else { " (already)" }
                        )
                    })
                    .collect(),
                Err(e) => vec![format!("cannot plan the bump: {e:#}")],
            }
        }
        "changelog" => {
            let existing = std::fs::read_to_string(ctx.changelog_path()).unwrap_or_default();
            if changelog::section(&existing, v).is_some() {
                return Ok(vec![format!(
                    "CHANGELOG.md already has a section for {v}: kept as it is (it becomes the release notes)"
                )]);
            }
            let last = git::last_tag(root);
            let commits = git::commits_since(root, last.as_deref())?;
            let text = std::fs::read_to_string(ctx.changelog_path()).ok();
            let groups = changelog::group(
                &commits,
                &changelog::unreleased_entries(text.as_deref().unwrap_or("")),
            );
            let mut l = vec![format!(
                "write section \"## [{v}] - {}\" into CHANGELOG.md from {} commit(s) since {}",
                util::date(util::now_epoch()),
                commits.len(),
                last.as_deref().unwrap_or("the first commit")
            )];
            for (h, items) in groups {
                l.push(format!("  ### {h}: {}", items.join("; ")));
            }
            l
        }
        "tag" => {
            let mut l = vec![
                format!(
                    "git add {} && git commit -m \"chore(release): v{v}\"",
                    ctx.release_files().join(" ")
                ),
                format!("git tag -a {} -m \"AkiDB {v}\"", ctx.tag),
            ];
            if ctx.opts.via != Via::Pr {
                l.push(format!(
                    "git push --atomic origin HEAD:refs/heads/{} refs/tags/{}",
                    ctx.opts.branch, ctx.tag
                ));
            }
            if ctx.opts.via != Via::Push {
                l.push(format!(
                    "{}git push --atomic origin HEAD:refs/heads/release/{t} refs/tags/{t}, then open (or find) the pull request release/{t} → {} on GitHub",
                    if ctx.opts.via == Via::Auto { "if origin refuses that push: " } else { "" },
                    ctx.opts.branch,
                    t = ctx.tag
                ));
            }
            l
        }
        "image" => {
            let mut l = Vec::new();
            let given = image::parse_binary_args(&ctx.opts.binaries).unwrap_or_default();
            for p in Platform::ALL {
                l.push(match given.get(&p) {
                    Some(b) => format!("{}: use prebuilt {}", p.oci(), b.display()),
                    None => format!(
                        "{}: cargo build --release -p akidb-server --bin akidb --target {}",
                        p.oci(),
                        p.triple()
                    ),
                });
            }
            l.push(format!(
                "copy binaries to {}/akidb-linux-{{amd64,arm64}}",
                out("dist")
            ));
            l.push(format!("assemble reproducible layers (SOURCE_DATE_EPOCH = release commit time) and write the OCI layout {}", out("oci")));
            l.push(format!(
                "push blobs (skipping existing) and manifests by digest to {}",
                ctx.registry.display("akidb")
            ));
            l.push(format!(
                "push the OCI index (linux/amd64, linux/arm64) as {}",
                ctx.image_ref()
            ));
            l
        }
        "chart" => vec![
            format!(
                "package helm/akidb into {}/akidb-{v}.tgz and {}/index.yaml",
                out("chart"),
                out("chart")
            ),
            format!(
                "push {}:{v} (config {}, layer {})",
                ctx.chart_ref(),
                oci::HELM_CONFIG_MT,
                oci::HELM_LAYER_MT
            ),
        ],
        "github" => {
            let (o, r) = ctx.repo().unwrap_or_else(|_| ("?".into(), "?".into()));
            let api = ctx.opts.github_api.trim_end_matches('/');
            vec![
                format!("GET {api}/repos/{o}/{r}/releases (drafts included) for the release with tag_name {}", ctx.tag),
                format!("POST {api}/repos/{o}/{r}/releases (draft, notes = changelog section) — or PATCH the existing one (duplicate drafts are deleted)"),
                "DELETE assets with the same names (a rerun replaces them; a 422 already_exists on upload deletes the conflicting asset and uploads again)".into(),
                format!("POST <upload_url>?name=… for akidb-{v}.tgz, akidb-{v}-linux-amd64, akidb-{v}-linux-arm64, akidb-{v}.cdx.json, SHA256SUMS"),
                format!("PATCH {api}/repos/{o}/{r}/releases/<id> draft=false"),
            ]
        }
        "docs" => {
            let pages = docs_site::pages(root).unwrap_or_default();
            vec![
                format!(
                    "render {} page(s) from docs/ into {}",
                    pages.len(),
                    out("site")
                ),
                format!(
                    "commit to gh-pages of {} and push (skipped when unchanged)",
                    git::origin_url(root).unwrap_or_default()
                ),
            ]
        }
        "announce" => vec![
            format!(
                "write {}/release-post.md and {}/short-post.txt",
                out("announce"),
                out("announce")
            ),
            match &ctx.opts.webhook {
                Some(w) => format!("POST the short post to {w}"),
                None => "no webhook configured: drafts only".into(),
            },
        ],
        _ => Vec::new(),
    })
}

fn run_step(ctx: &Ctx, st: &State, step: &str) -> Result<Value> {
    match step {
        "bump" => step_bump(ctx),
        "changelog" => step_changelog(ctx),
        "tag" => step_tag(ctx),
        "image" => step_image(ctx),
        "chart" => step_chart(ctx),
        "github" => step_github(ctx),
        "docs" => step_docs(ctx),
        "announce" => step_announce(ctx, st),
        other => bail!("unknown step {other}"),
    }
}

fn step_bump(ctx: &Ctx) -> Result<Value> {
    let cur = bump::current_version(&ctx.root)?.to_string();
    let edits = bump::plan(&ctx.root, &cur, &ctx.v)?;
    let written = bump::apply(&ctx.root, &edits)?;
    for w in &written {
        println!("      edited {}", w.display());
    }
    Ok(
        json!({"from": cur, "to": ctx.v, "files": edits.iter().filter(|e| e.changed).map(|e| e.file.clone()).collect::<Vec<_>>()}),
    )
}

fn step_changelog(ctx: &Ctx) -> Result<Value> {
    let path = ctx.changelog_path();
    let existing = std::fs::read_to_string(&path).ok();
    if let Some(sec) = existing
        .as_deref()
        .and_then(|t| changelog::section(t, &ctx.v))
    {
        return Ok(json!({"already": true, "lines": sec.lines().count()}));
    }
    let last = git::last_tag(&ctx.root);
    let commits = git::commits_since(&ctx.root, last.as_deref())?;
    let groups = changelog::group(
        &commits,
        &changelog::unreleased_entries(existing.as_deref().unwrap_or("")),
    );
    let section = changelog::render_section(&ctx.v, &util::date(util::now_epoch()), &groups);
    let text = changelog::insert(existing.as_deref(), &section)?;
    util::write_atomic(&path, text.as_bytes())?;
    Ok(
        json!({"since": last, "commits": commits.len(), "entries": groups.iter().map(|g| g.1.len()).sum::<usize>()}),
    )
}

fn step_tag(ctx: &Ctx) -> Result<Value> {
    let root = &ctx.root;
    let allowed = ctx.release_files();
    let dirty = git::dirty_paths(root)?;
    let foreign: Vec<_> = dirty.iter().filter(|p| !allowed.contains(p)).collect();
    if !foreign.is_empty() {
        bail!("refusing to commit: the tree has changes outside the release files: {foreign:?}");
    }
    let mut committed = false;
    if !dirty.is_empty() {
        let mut args = vec!["add", "--"];
        args.extend(dirty.iter().map(String::as_str));
        sh(root, "git", &args)?;
        sh(
            root,
            "git",
            &["commit", "-q", "-m", &format!("chore(release): v{}", ctx.v)],
        )?;
        committed = true;
    }
    let head = git::head(root)?;
    match git::local_tag_commit(root, &ctx.tag) {
        Some(c) if c == head => {}
        Some(c) => bail!("tag {} exists at {c}, not at the release commit {head}; delete it or pick another version", ctx.tag),
        None => {
            sh(root, "git", &["tag", "-a", &ctx.tag, "-m", &format!("AkiDB {}", ctx.v)])?;
        }
    }
    if let Some(c) = git::remote_tag_commit(root, &ctx.tag)? {
        if c != head {
            bail!(
                "tag {} on origin points at {c}, not at the release commit {head}",
                ctx.tag
            );
        }
    }
    let tag_ref = format!("refs/tags/{}", ctx.tag);
    let direct = match ctx.opts.via {
        Via::Pr => None,
        Via::Auto | Via::Push => Some(sh(
            root,
            "git",
            &[
                "push",
                "-q",
                "--atomic",
                "origin",
                &format!("HEAD:refs/heads/{}", ctx.opts.branch),
                &tag_ref,
            ],
        )),
    };
    match direct {
        Some(Ok(_)) => Ok(json!({"commit": head, "tag": ctx.tag, "new_commit": committed})),
        Some(Err(e)) if ctx.opts.via == Via::Push || !push_refused(&e) => Err(e),
        refused => {
            if let Some(Err(e)) = &refused {
                let text = format!("{e:#}");
                let why = text
                    .lines()
                    .find(|l| l.contains("remote:") || l.contains("rejected"))
                    .unwrap_or_else(|| first_line(&text))
                    .trim();
                println!(
                    "      origin refused the push to {} ({why}); going through a pull request",
                    ctx.opts.branch
                );
            }
            // The tag names the release commit on its own branch; merging the pull request
            // brings that commit (and so the tag) into the release branch's history.
            let branch = format!("release/{}", ctx.tag);
            sh(
                root,
                "git",
                &[
                    "push",
                    "-q",
                    "--atomic",
                    "origin",
                    &format!("HEAD:refs/heads/{branch}"),
                    &tag_ref,
                ],
            )?;
            let notes = release_notes(ctx).unwrap_or_default();
            let pr = util::runtime()?.block_on(ctx.github()?.ensure_pull_request(
                &branch,
                &ctx.opts.branch,
                &format!("chore(release): v{}", ctx.v),
                &format!(
                    "The release commit of {} (tag {} points at it).\n\n{notes}",
                    ctx.v, ctx.tag
                ),
            ))?;
            println!(
                "      pull request {} from {branch} into {}{}",
                pr["html_url"].as_str().unwrap_or(""),
                ctx.opts.branch,
                if pr["created"] == json!(true) {
                    ""
                } else {
                    " (already open)"
                }
            );
            Ok(
                json!({"commit": head, "tag": ctx.tag, "new_commit": committed,
                      "branch": branch, "pull_request": pr["html_url"]}),
            )
        }
    }
}

/// Whether a failed `git push` was refused by the remote (branch protection, a hook), as
/// opposed to a network or authentication failure, which a pull request would not fix.
fn push_refused(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    [
        "declined",
        "protected branch",
        "GH006",
        "[remote rejected]",
        "rejected",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

fn step_image(ctx: &Ctx) -> Result<Value> {
    let binaries = image::resolve_binaries(&ctx.root, &ctx.opts.binaries, &ctx.out.join("dist"))?;
    let spec = image::ImageSpec::from_workspace(&ctx.root, &ctx.v)?;
    let built = image::build(&spec, &binaries, &ctx.out.join("oci"))?;
    for p in &built.platforms {
        println!(
            "      {} {} ({:.1} MB)",
            p.platform.oci(),
            p.manifest.digest,
            p.compressed_bytes() as f64 / 1e6
        );
    }
    let mut report = util::runtime()?.block_on(image::push(&built, &ctx.registry))?;
    println!("      pushed {}", report["index"].as_str().unwrap_or(""));
    report["layout"] = json!(built.layout);
    report["source_date_epoch"] = json!(spec.epoch);
    Ok(report)
}

fn chart_package(ctx: &Ctx) -> Result<crate::chart::ChartPackage> {
    let epoch = image::source_date_epoch(&ctx.root)?;
    crate::chart::package(&ctx.root.join("helm/akidb"), &ctx.out.join("chart"), epoch)
}

fn step_chart(ctx: &Ctx) -> Result<Value> {
    let pkg = chart_package(ctx)?;
    if pkg.version != ctx.v {
        bail!(
            "helm/akidb/Chart.yaml has version {}, expected {} (run the bump step)",
            pkg.version,
            ctx.v
        );
    }
    let mut report = util::runtime()?.block_on(crate::chart::push(&pkg, &ctx.registry))?;
    println!(
        "      pushed {} (sha256:{})",
        report["ref"].as_str().unwrap_or(""),
        pkg.digest
    );
    report["tgz"] = json!(pkg.tgz_path);
    report["digest"] = json!(format!("sha256:{}", pkg.digest));
    Ok(report)
}

fn release_notes(ctx: &Ctx) -> Result<String> {
    let text = util::read(&ctx.changelog_path())?;
    let sec = changelog::section(&text, &ctx.v).with_context(|| {
        format!(
            "CHANGELOG.md has no section for {} (run the changelog step)",
            ctx.v
        )
    })?;
    Ok(changelog::notes(&sec))
}

fn step_github(ctx: &Ctx) -> Result<Value> {
    let gh = ctx.github()?;
    let notes = release_notes(ctx)?;
    let pkg = chart_package(ctx)?;
    let mut assets: Vec<(String, Vec<u8>)> =
        vec![(format!("akidb-{}.tgz", ctx.v), pkg.tgz.clone())];
    for p in Platform::ALL {
        let path = ctx
            .out
            .join("dist")
            .join(format!("akidb-linux-{}", p.arch()));
        let data = std::fs::read(&path).with_context(|| {
            format!(
                "{} is missing: run the image step first (it stages the binaries)",
                path.display()
            )
        })?;
        assets.push((format!("akidb-{}-linux-{}", ctx.v, p.arch()), data));
    }
    let epoch = image::source_date_epoch(&ctx.root)?;
    let sbom = sbom::generate(&ctx.root, &ctx.v, epoch)?;
    assets.push((
        format!("akidb-{}.cdx.json", ctx.v),
        serde_json::to_vec_pretty(&sbom)?,
    ));
    let mut sums: Vec<String> = assets
        .iter()
        .map(|(n, d)| format!("{}  {n}\n", util::sha256_hex(d)))
        .collect();
    sums.sort_by(|a, b| a[66..].cmp(&b[66..]));
    assets.push(("SHA256SUMS".into(), sums.concat().into_bytes()));
    for (n, d) in &assets {
        util::write_atomic(&ctx.out.join("assets").join(n), d)?;
    }
    let commit = git::head(&ctx.root)?;
    let report = util::runtime()?.block_on(gh.publish(
        &ctx.tag,
        &commit,
        &format!("AkiDB {}", ctx.v),
        &notes,
        &assets,
    ))?;
    println!(
        "      release {} {} with {} assets",
        report["release_id"],
        if report["created"] == json!(true) {
            "created"
        } else {
            "updated"
        },
        assets.len()
    );
    Ok(report)
}

fn step_docs(ctx: &Ctx) -> Result<Value> {
    let site = ctx.out.join("site");
    let pages = docs_site::build(&ctx.root, &site, &ctx.v)?;
    let epoch = image::source_date_epoch(&ctx.root)?;
    let mut report = docs_site::publish(&ctx.root, &site, &ctx.v, epoch)?;
    println!(
        "      gh-pages {} ({} files)",
        report["commit"].as_str().unwrap_or(""),
        pages.len()
    );
    report["files"] = json!(pages.len());
    Ok(report)
}

fn step_announce(ctx: &Ctx, st: &State) -> Result<Value> {
    let notes = release_notes(ctx)?;
    let links = announce::Links {
        release_url: st
            .outputs("github")
            .and_then(|o| o["html_url"].as_str())
            .map(str::to_string),
        image: Some(ctx.image_ref()),
        chart: Some(ctx.chart_ref()),
    };
    announce::announce(
        &ctx.out.join("announce"),
        &ctx.v,
        &notes,
        &links,
        ctx.opts.webhook.as_deref(),
    )
}

fn rollback(version: &str, opts: &Options) -> Result<()> {
    let ctx = Ctx::new(version, opts)?;
    let st = State::load(&ctx.out, &ctx.v)?;
    let root = &ctx.root;
    let mut done = Vec::new();
    let mut cannot = Vec::new();

    match ctx.github() {
        Ok(gh) => match util::runtime()?.block_on(gh.delete_draft(&ctx.tag)) {
            Ok((true, s)) => done.push(s),
            Ok((false, s)) => cannot.push(s),
            Err(e) => cannot.push(format!("GitHub release not checked: {e:#}")),
        },
        Err(e) => cannot.push(format!("GitHub release not checked: {e:#}")),
    }
    if git::remote_tag_commit(root, &ctx.tag)
        .ok()
        .flatten()
        .is_some()
    {
        sh(
            root,
            "git",
            &["push", "-q", "origin", &format!(":refs/tags/{}", ctx.tag)],
        )?;
        done.push(format!("deleted tag {} on origin", ctx.tag));
    }
    if git::local_tag_commit(root, &ctx.tag).is_some() {
        sh(root, "git", &["tag", "-d", &ctx.tag])?;
        done.push(format!("deleted local tag {}", ctx.tag));
    }
    let head = git::head(root)?;
    let subject = sh(root, "git", &["log", "-1", "--format=%s"])?;
    if subject == format!("chore(release): v{}", ctx.v) {
        if git::pushed(root, &ctx.opts.branch, &head) {
            cannot.push(format!(
                "the release commit {} is already on origin/{}: revert it with `git revert {}` and push",
                &head[..12],
                ctx.opts.branch,
                &head[..12]
            ));
        } else {
            sh(root, "git", &["reset", "-q", "--keep", "HEAD~1"])?;
            done.push(format!(
                "removed the unpushed release commit {}",
                &head[..12]
            ));
        }
    } else {
        let dirty = git::dirty_paths(root)?;
        let ours: Vec<String> = dirty
            .into_iter()
            .filter(|p| ctx.release_files().contains(p))
            .collect();
        if !ours.is_empty() && st.done("bump") {
            for f in &ours {
                if sh(root, "git", &["cat-file", "-e", &format!("HEAD:{f}")]).is_ok() {
                    sh(root, "git", &["checkout", "HEAD", "--", f])?;
                } else {
                    std::fs::remove_file(root.join(f))?;
                }
            }
            done.push(format!(
                "restored the uncommitted release edits: {}",
                ours.join(", ")
            ));
        }
    }
    if let Some(o) = st.outputs("image") {
        cannot.push(format!("pushed image {} stays in the registry (delete it by digest in the registry if it must go)", o["index"].as_str().unwrap_or("?")));
    }
    if let Some(o) = st.outputs("chart") {
        cannot.push(format!(
            "pushed chart {} stays in the registry",
            o["ref"].as_str().unwrap_or("?")
        ));
    }
    if let Some(o) = st.outputs("docs") {
        cannot.push(format!(
            "gh-pages commit {} stays (republish the previous release's docs to revert)",
            o["commit"].as_str().unwrap_or("?")
        ));
    }
    if st
        .outputs("announce")
        .map(|o| !o["webhook_status"].is_null())
        .unwrap_or(false)
    {
        cannot.push("the webhook announcement was already posted".into());
    }
    if st.path().exists() {
        let to = st
            .path()
            .with_file_name(format!("state.rolled-back-{}.json", util::now_epoch()));
        std::fs::rename(st.path(), &to)?;
        done.push(format!("moved the state file to {}", to.display()));
    }
    println!("Rollback of release {}:", ctx.v);
    for d in &done {
        println!("  ✓ {d}");
    }
    if done.is_empty() {
        println!("  (nothing to undo)");
    }
    for c in &cannot {
        println!("  ✗ cannot undo: {c}");
    }
    Ok(())
}
