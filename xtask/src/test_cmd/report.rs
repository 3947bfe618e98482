//! Reads `cargo test` output as it streams by and, when tests fail, turns it into a
//! summary a person can act on: which tests failed, the first lines of each failure,
//! and the command that reruns one.

/// One failed test.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The cargo selection of its test binary, e.g. `-p akidb-server --test blackbox`.
    pub target: String,
    /// The test's path inside the binary, e.g. `quarantine::damaged_is_listed`.
    pub name: String,
    /// The first lines of what it printed (the panic message comes first).
    pub excerpt: Vec<String>,
}

/// What one `cargo test` run said, collected line by line.
#[derive(Debug, Default)]
pub struct Report {
    failures: Vec<Failure>,
    /// Failures seen in the current binary, before cargo names its target.
    pending: Vec<Failure>,
    /// The `---- name stdout ----` block being read.
    reading: Option<usize>,
    /// Targets cargo reported as failed (a crash can fail a binary with no test named).
    failed_targets: Vec<String>,
    /// `test result:` lines, to count what ran.
    passed: u64,
    failed: u64,
    /// The test binary running now (cargo's `Running …` line).
    running: String,
    /// Seconds each test binary took, from its `finished in` figure.
    durations: Vec<(String, f64)>,
}

/// Lines of each failure kept for the summary.
const EXCERPT_LINES: usize = 6;

impl Report {
    /// Takes one line of `cargo test` output (stdout and stderr merged).
    pub fn line(&mut self, line: &str) {
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            self.pending.push(Failure {
                target: String::new(),
                name: name.to_string(),
                excerpt: vec![],
            });
            self.reading = Some(self.pending.len() - 1);
            return;
        }
        if let Some(i) = self.reading {
            let trimmed = line.trim_end();
            // A backtrace's frames say less than the panic above them.
            if trimmed == "failures:"
                || trimmed.starts_with("test result:")
                || trimmed == "stack backtrace:"
            {
                self.reading = None;
            } else if !trimmed.is_empty()
                && !trimmed.starts_with("note: run with `RUST_BACKTRACE")
                && self.pending[i].excerpt.len() < EXCERPT_LINES
            {
                self.pending[i].excerpt.push(trimmed.to_string());
            }
        }
        if let Some(binary) = line.trim_start().strip_prefix("Running ") {
            self.running = binary.to_string();
        }
        if let Some(rest) = line.trim_start().strip_prefix("test result: ") {
            self.passed += count_before(rest, " passed");
            self.failed += count_before(rest, " failed");
            let seconds = rest
                .rsplit("finished in ")
                .next()
                .and_then(|t| t.trim_end_matches('s').parse::<f64>().ok());
            if let Some(seconds) = seconds {
                self.durations.push((self.running.clone(), seconds));
            }
        }
        // cargo names the failed binary right after it ran, and again in a closing list.
        let target = line
            .strip_prefix("error: test failed, to rerun pass `")
            .or_else(|| line.strip_prefix("    `"))
            .and_then(|l| l.strip_suffix('`'))
            .filter(|t| t.starts_with("-p ") || t.starts_with("--"));
        if let Some(target) = target {
            if !self.failed_targets.iter().any(|t| t == target) {
                self.failed_targets.push(target.to_string());
                for mut f in self.pending.drain(..) {
                    f.target = target.to_string();
                    self.failures.push(f);
                }
            }
        }
    }

    /// Tests that passed and failed, summed over every `test result:` line.
    pub fn counts(&self) -> (u64, u64) {
        (self.passed, self.failed)
    }

    /// The `n` slowest test binaries, slowest first: where the test phase's time goes.
    pub fn slowest(&self, n: usize) -> Vec<(String, f64)> {
        let mut d = self.durations.clone();
        d.sort_by(|a, b| b.1.total_cmp(&a.1));
        d.truncate(n);
        d
    }

    /// The summary printed after a failed run, ending with how to rerun one test.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let mut failures = self.failures.clone();
        failures.extend(self.pending.iter().cloned());
        out.push_str(&format!(
            "{} passed, {} failed\n",
            self.passed,
            self.failed.max(failures.len() as u64)
        ));
        for f in &failures {
            out.push_str(&format!("\nFAILED {}  [{}]\n", f.name, f.target));
            for l in &f.excerpt {
                out.push_str(&format!("    {l}\n"));
            }
            out.push_str(&format!(
                "    rerun: {}\n",
                rerun_command(&f.target, &f.name)
            ));
        }
        for t in &self.failed_targets {
            if !failures.iter().any(|f| &f.target == t) {
                out.push_str(&format!(
                    "\nFAILED test binary [{t}] without a failing test (it crashed or exited early)\n    rerun: {}\n",
                    rerun_command(t, "")
                ));
            }
        }
        out
    }
}

/// The command that reruns one test with every service provisioned.
pub fn rerun_command(target: &str, name: &str) -> String {
    let mut cmd = format!("cargo xtask test --fuzz-seconds 0 {target}");
    if !name.is_empty() {
        cmd.push_str(&format!(" -- {name} --exact"));
    }
    cmd
}

/// The number right before `what` in a `test result:` line ("12 passed; 1 failed; …").
fn count_before(line: &str, what: &str) -> u64 {
    line.find(what)
        .and_then(|end| line[..end].rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `cargo test --no-fail-fast` prints when one test of a binary fails.
    const OUTPUT: &str = "\
     Running tests/blackbox.rs (target/debug/deps/blackbox-0123)

running 3 tests
test health_is_open ... ok
test search_works ... FAILED
test upsert_works ... ok

failures:

---- search_works stdout ----

thread 'search_works' panicked at crates/akidb-server/tests/blackbox.rs:10:5:
assertion `left == right` failed
  left: 1
 right: 2
stack backtrace:
   0: std::panicking::begin_panic_handler


failures:
    search_works

test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.50s

error: test failed, to rerun pass `-p akidb-server --test blackbox`
     Running tests/wal.rs (target/debug/deps/wal-4567)

running 1 test
test reopen ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.10s

error: 2 targets failed:
    `-p akidb-server --test blackbox`
    `-p akidb-engine --test crashy`
";

    #[test]
    fn names_each_failure_with_its_panic_and_a_rerun_command() {
        let mut r = Report::default();
        OUTPUT.lines().for_each(|l| r.line(l));
        assert_eq!(r.counts(), (3, 1));
        assert_eq!(
            r.slowest(1),
            [(
                "tests/blackbox.rs (target/debug/deps/blackbox-0123)".to_string(),
                0.5
            )]
        );
        let s = r.summary();
        assert!(s.starts_with("3 passed, 1 failed\n"), "{s}");
        assert!(
            s.contains("FAILED search_works  [-p akidb-server --test blackbox]"),
            "{s}"
        );
        assert!(s.contains("    assertion `left == right` failed"), "{s}");
        assert!(!s.contains("begin_panic_handler"), "{s}");
        assert!(s.contains(
            "rerun: cargo xtask test --fuzz-seconds 0 -p akidb-server --test blackbox -- search_works --exact"
        ), "{s}");
        // A binary that failed without a failing test (a crash) is still named.
        assert!(
            s.contains("FAILED test binary [-p akidb-engine --test crashy]"),
            "{s}"
        );
        assert_eq!(s.matches("FAILED search_works").count(), 1, "{s}");
    }

    #[test]
    fn a_clean_run_counts_and_names_nothing() {
        let mut r = Report::default();
        for l in [
            "test result: ok. 7 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
            "test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 2 filtered out",
        ] {
            r.line(l);
        }
        assert_eq!(r.counts(), (7, 0));
        assert_eq!(r.summary(), "7 passed, 0 failed\n");
    }
}
