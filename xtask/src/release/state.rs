//! `target/release/<version>/state.json`: which steps finished and what they produced.

use super::util::{read, write_atomic};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One finished step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    /// When it finished (RFC 3339).
    pub finished_at: String,
    /// How long it took.
    pub duration_ms: u64,
    /// What it produced (digests, ids, commit ids, paths).
    pub outputs: serde_json::Value,
}

/// The last failure, kept so the next run can say where it resumes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    /// Step name.
    pub step: String,
    /// Error text.
    pub error: String,
    /// When it failed (RFC 3339).
    pub at: String,
}

/// Persistent release state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Version being released.
    pub version: String,
    /// Finished steps by name.
    pub steps: BTreeMap<String, StepRecord>,
    /// Last failure, cleared by a successful step.
    pub failure: Option<Failure>,
    #[serde(skip)]
    path: PathBuf,
}

impl State {
    /// Loads the state of `version` under `dir` (empty when absent).
    pub fn load(dir: &Path, version: &str) -> Result<Self> {
        let path = dir.join("state.json");
        let mut st = if path.exists() {
            serde_json::from_str::<State>(&read(&path)?).with_context(|| {
                format!("{} is corrupt; delete it to start over", path.display())
            })?
        } else {
            State {
                version: version.to_string(),
                ..State::default()
            }
        };
        st.path = path;
        Ok(st)
    }

    /// Whether `step` finished.
    pub fn done(&self, step: &str) -> bool {
        self.steps.contains_key(step)
    }

    /// Outputs of a finished step.
    pub fn outputs(&self, step: &str) -> Option<&serde_json::Value> {
        self.steps.get(step).map(|r| &r.outputs)
    }

    /// Durably records the state file.
    pub fn save(&self) -> Result<()> {
        write_atomic(&self.path, &serde_json::to_vec_pretty(self)?)
    }

    /// Path of the state file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
