//! Durable file writes: temp name, fsync, rename, fsync of the directory.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use akidb_core::{Error, Result};

/// Writes `bytes` to `dir/name` so that after return the file is complete and durable.
pub(crate) fn write_durable(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), &e))?;
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f =
        File::create(&tmp).map_err(|e| Error::io(format!("creating {}", tmp.display()), &e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io(format!("writing {}", tmp.display()), &e))?;
    f.sync_all()
        .map_err(|e| Error::io(format!("fsync {}", tmp.display()), &e))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| Error::io(format!("renaming {}", tmp.display()), &e))?;
    fsync_dir(dir)
}

/// Fsyncs a directory so renames inside it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("fsync directory {}", dir.display()), &e))
}

/// The temporary name a file is written under before its rename into place.
pub(crate) fn tmp_path(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!("{name}.tmp"))
}
