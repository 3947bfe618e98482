//! Dead-letter queue for uploads that failed after retries, persisted on local disk.
//!
//! Layout: one JSON file per entry, `<dir>/<id>.json`, each written atomically (temp file,
//! fsync, rename, fsync directory), so the queue survives a crash or restart at any point.
//! Entries are keyed by object key: pushing a key that is already queued updates that entry
//! (attempts + 1) instead of adding a duplicate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use akidb_core::{Error, Result};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::object_store::ObjectStore;
use crate::snapshot::write_file_synced;
use crate::wal::fsync_dir;

/// One failed upload waiting to be retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqEntry {
    /// Stable id (also the file name stem).
    pub id: String,
    /// Destination object key.
    pub key: String,
    /// Local file holding the data to upload.
    pub local_path: PathBuf,
    /// The last error.
    pub error: String,
    /// Failed attempts so far (including the original upload).
    pub attempts: u32,
    /// RFC 3339 time of the first failure.
    pub first_failed_at: String,
    /// RFC 3339 time of the latest failure.
    pub last_failed_at: String,
}

/// Outcome of [`DeadLetterQueue::retry_all`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqRetryReport {
    /// Entries uploaded and removed.
    pub succeeded: usize,
    /// Entries that failed again (still queued).
    pub failed: usize,
    /// Entries queued after the run.
    pub remaining: usize,
    /// `(id, error)` for each failure.
    pub errors: Vec<(String, String)>,
}

/// The persisted dead-letter queue. Thread-safe.
#[derive(Debug)]
pub struct DeadLetterQueue {
    dir: PathBuf,
    entries: Mutex<BTreeMap<String, DlqEntry>>,
}

use akidb_core::time::now_rfc3339;

/// True for the object key of a snapshot manifest.
fn is_manifest_key(key: &str) -> bool {
    manifest_dir(key).is_some()
}

/// The snapshot "directory" of a manifest key (`…/<id>` of `…/<id>/manifest.json`).
fn manifest_dir(key: &str) -> Option<&str> {
    key.strip_suffix(crate::snapshot::MANIFEST_FILE)?
        .strip_suffix('/')
}

impl DeadLetterQueue {
    /// Opens (creating) the queue in `dir` and loads every entry. An unreadable entry file
    /// is renamed to `<name>.corrupt` with a warning rather than blocking start-up.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), &e))?;
        let mut entries = BTreeMap::new();
        for item in
            std::fs::read_dir(&dir).map_err(|e| Error::io(format!("list {}", dir.display()), &e))?
        {
            let item = item.map_err(|e| Error::io(format!("list {}", dir.display()), &e))?;
            let path = item.path();
            let name = item.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.contains(".tmp-") {
                // Left over from a crash before the rename: never acknowledged.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let parsed = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<DlqEntry>(&b).map_err(|e| e.to_string()));
            match parsed {
                Ok(entry) if format!("{}.json", entry.id) == name => {
                    entries.insert(entry.id.clone(), entry);
                }
                Ok(_) | Err(_) => {
                    let bad = path.with_extension("json.corrupt");
                    tracing::warn!(file = %path.display(), moved_to = %bad.display(), "unreadable dead-letter entry set aside");
                    std::fs::rename(&path, &bad)
                        .map_err(|e| Error::io(format!("rename {}", path.display()), &e))?;
                }
            }
        }
        Ok(Self {
            dir,
            entries: Mutex::new(entries),
        })
    }

    /// The directory holding the entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn persist(&self, entry: &DlqEntry) -> Result<()> {
        let path = self.dir.join(format!("{}.json", entry.id));
        let tmp = self
            .dir
            .join(format!(".{}.tmp-{:016x}", entry.id, rand::random::<u64>()));
        let bytes = serde_json::to_vec_pretty(entry)
            .map_err(|e| Error::internal(format!("encode DLQ entry: {e}")))?;
        write_file_synced(&tmp, &bytes)?;
        crate::crash::point("dlq.append.after_tmp");
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(format!("rename {}", path.display()), &e)
        })?;
        crate::crash::point("dlq.append.after_rename");
        fsync_dir(&self.dir)
    }

    /// Records a failed upload of `local_path` to `key`; returns the (new or updated) entry.
    pub fn push(&self, key: &str, local_path: &Path, error: &str) -> Result<DlqEntry> {
        let mut entries = self.entries.lock();
        let now = now_rfc3339();
        let entry = match entries.values().find(|e| e.key == key) {
            Some(existing) => DlqEntry {
                local_path: local_path.to_path_buf(),
                error: error.to_string(),
                attempts: existing.attempts + 1,
                last_failed_at: now,
                ..existing.clone()
            },
            None => {
                let millis = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                DlqEntry {
                    id: format!("{millis:013}-{:08x}", rand::random::<u32>()),
                    key: key.to_string(),
                    local_path: local_path.to_path_buf(),
                    error: error.to_string(),
                    attempts: 1,
                    first_failed_at: now.clone(),
                    last_failed_at: now,
                }
            }
        };
        self.persist(&entry)?;
        entries.insert(entry.id.clone(), entry.clone());
        tracing::warn!(key, local_path = %local_path.display(), error, attempts = entry.attempts, "upload moved to the dead-letter queue");
        Ok(entry)
    }

    /// All entries, oldest first.
    pub fn list(&self) -> Vec<DlqEntry> {
        self.entries.lock().values().cloned().collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes an entry; `Ok(false)` if there was none with this id.
    pub fn remove(&self, id: &str) -> Result<bool> {
        let mut entries = self.entries.lock();
        if !entries.contains_key(id) {
            return Ok(false);
        }
        let path = self.dir.join(format!("{id}.json"));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("remove {}", path.display()), &e)),
        }
        fsync_dir(&self.dir)?;
        entries.remove(id);
        Ok(true)
    }

    /// Removes every entry for `key` (e.g. when the data was uploaded another way).
    pub fn remove_key(&self, key: &str) -> Result<usize> {
        let ids: Vec<String> = self
            .list()
            .into_iter()
            .filter(|e| e.key == key)
            .map(|e| e.id)
            .collect();
        let mut n = 0;
        for id in ids {
            if self.remove(&id)? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Uploads each queued entry once; successes are removed, failures stay with
    /// `attempts + 1` and the new error. The report counts both honestly.
    ///
    /// A snapshot manifest marks a complete upload, so manifest entries go after every
    /// other entry, and one is held back (counted as failed, attempts unchanged) while any
    /// other object of its snapshot is still queued: the store never holds a manifest whose
    /// files are missing, whatever the order the entries were queued in.
    pub async fn retry_all(&self, store: &dyn ObjectStore) -> DlqRetryReport {
        let mut report = DlqRetryReport::default();
        let mut entries = self.list();
        // Stable: oldest first within each group.
        entries.sort_by_key(|e| is_manifest_key(&e.key));
        for entry in entries {
            if let Some(snapshot_dir) = manifest_dir(&entry.key) {
                let inside = format!("{snapshot_dir}/");
                let waiting = self
                    .list()
                    .into_iter()
                    .find(|o| o.id != entry.id && o.key.starts_with(&inside));
                if let Some(other) = waiting {
                    report.failed += 1;
                    report.errors.push((
                        entry.id.clone(),
                        format!(
                            "manifest held back: {} of the same snapshot is still queued",
                            other.key
                        ),
                    ));
                    continue;
                }
            }
            let outcome = if entry.local_path.is_file() {
                store.put_file(&entry.key, &entry.local_path).await
            } else {
                Err(Error::internal(format!(
                    "local file {} is gone; cannot upload {}",
                    entry.local_path.display(),
                    entry.key
                )))
            };
            match outcome {
                Ok(()) => {
                    // A crash here keeps the entry: the next retry uploads the same bytes again.
                    crate::crash::point("dlq.retry.after_upload");
                    match self.remove(&entry.id) {
                        Ok(_) => {
                            crate::crash::point("dlq.retry.after_remove");
                            report.succeeded += 1
                        }
                        Err(e) => {
                            report.failed += 1;
                            report.errors.push((
                                entry.id.clone(),
                                format!("uploaded, but removing the entry failed: {e}"),
                            ));
                        }
                    }
                }
                Err(e) => {
                    report.failed += 1;
                    let message = e.to_string();
                    if let Err(pe) = self.push(&entry.key, &entry.local_path, &message) {
                        tracing::error!(error = %pe, "could not update dead-letter entry");
                    }
                    report.errors.push((entry.id.clone(), message));
                }
            }
        }
        report.remaining = self.len();
        report
    }
}
