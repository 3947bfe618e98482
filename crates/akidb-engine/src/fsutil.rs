//! Durable small-file writes and directory helpers.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use akidb_core::{Error, Result};

/// Writes `bytes` to `path` via a temp file, fsync, rename and directory fsync.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f =
        File::create(&tmp).map_err(|e| Error::io(format!("create {}", tmp.display()), &e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(format!("write {}", tmp.display()), &e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| {
        Error::io(
            format!("rename {} to {}", tmp.display(), path.display()),
            &e,
        )
    })?;
    fsync_dir(dir)
}

/// Fsyncs a directory so that renames and creations inside it survive a crash.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("fsync directory {}", dir.display()), &e))
}

/// Creates a directory (and parents).
pub(crate) fn mkdirs(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("create directory {}", dir.display()), &e))
}

/// Total size of the files under `dir`, recursively (0 when missing).
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

pub(crate) use akidb_core::time::rfc3339;
