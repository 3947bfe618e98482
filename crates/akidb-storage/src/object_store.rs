//! Object stores: the async [`ObjectStore`] trait, [`LocalFs`] (a directory, the embedded
//! default) and [`S3Store`](crate::s3::S3Store) (any S3-compatible service through aws-sdk-s3), plus helpers to
//! move whole snapshot directories.
//!
//! Error codes: a missing object is `object_not_found` (NotFound); a service that cannot be
//! reached (connection refused, timeout, 5xx, throttling) is `object_store_unavailable`
//! (Unavailable) — only those are retried and only those count as failures for the
//! circuit breaker; anything else the service refuses (access denied, missing bucket, …)
//! is `object_store_error`.
//!
//! Conditional writes ([`ObjectStore::put_if_absent`], [`ObjectStore::put_if_match`]) are
//! compare-and-swap on an object's entity tag; losing the race is `precondition_failed`
//! (Conflict), which is an answer of a working service, not a failure.

use std::fmt;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use akidb_core::{Error, ErrorKind, Result};
use async_trait::async_trait;
use bytes::Bytes;

use crate::wal::fsync_dir;

/// Name and size of a stored object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectMeta {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// An object's content together with its entity tag (an opaque version token: the S3
/// `ETag` as the service returns it, quotes included; for [`LocalFs`] the hex SHA-256 of
/// the content). Pass `etag` back to [`ObjectStore::put_if_match`] unchanged.
#[derive(Debug, Clone)]
pub struct Versioned {
    /// The object's content.
    pub data: Bytes,
    /// Its entity tag.
    pub etag: String,
}

/// A flat key → bytes store. Keys are `/`-separated paths without `..` components.
#[async_trait]
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// Stores `data` under `key`, replacing any previous object (multipart above a threshold for S3).
    async fn put(&self, key: &str, data: Bytes) -> Result<()>;
    /// Stores the content of a local file under `key`, streaming large files.
    async fn put_file(&self, key: &str, path: &Path) -> Result<()>;
    /// Reads a whole object; `object_not_found` when absent.
    async fn get(&self, key: &str) -> Result<Bytes>;
    /// Downloads an object into a local file (written to a temp name, fsynced, renamed).
    async fn get_to_file(&self, key: &str, path: &Path) -> Result<()>;
    /// Lists objects whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>>;
    /// Deletes an object; deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Size of an object, or `None` when absent.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>>;
    /// Reads an object together with its entity tag; `None` when absent.
    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>>;
    /// Creates `key` only when no object exists there (`If-None-Match: *`); returns the new ETag.
    /// Fails with `precondition_failed` when the key exists.
    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<String>;
    /// Replaces `key` only when its current ETag is `etag` (`If-Match`); returns the new ETag.
    /// Fails with `precondition_failed` when the object changed or is gone.
    async fn put_if_match(&self, key: &str, data: Bytes, etag: &str) -> Result<String>;
    /// Short description for logs, e.g. `s3://bucket@endpoint`.
    fn describe(&self) -> String;
}

/// The error for a missing object.
pub fn object_not_found(key: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        "object_not_found",
        format!("object '{key}' does not exist"),
    )
}

/// A non-retryable refusal by the object store.
pub fn object_store_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Internal, "object_store_error", message)
}

/// Checks that a key is a relative `/`-separated path without empty or `..` parts.
pub fn validate_key(key: &str) -> Result<()> {
    let bad = key.is_empty()
        || key.len() > 1024
        || key.starts_with('/')
        || key.contains('\0')
        || key.contains('\\')
        || key
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
    if bad {
        return Err(Error::invalid(
            "invalid_object_key",
            format!("object key {key:?} is not a relative path of non-empty parts"),
        ));
    }
    Ok(())
}

pub(crate) fn tmp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}{TMP_MARKER}{:016x}", rand::random::<u64>()))
}

/// Marker in the names of temporary files; such files never show up in listings.
const TMP_MARKER: &str = ".akidb-tmp-";

/// The lock file in a [`LocalFs`] root that serialises replacing objects, so that a
/// conditional write's check and rename are atomic (also across processes); never listed,
/// never a valid key, never deleted.
pub const CAS_LOCK_FILE: &str = ".akidb-cas.lock";

/// Writes `data` to `path` atomically: temp file, fsync, rename, fsync directory.
fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_atomic_locked(path, data, None)
}

/// [`write_atomic`]; with `lock_root`, the rename happens under that root's CAS lock.
fn write_atomic_locked(path: &Path, data: &[u8], lock_root: Option<&Path>) -> Result<()> {
    use std::io::Write;
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::io(format!("create {}", parent.display()), &e))?;
    let tmp = tmp_name(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        rename_locked(&tmp, path, lock_root)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(format!("write {}", path.display()), &e));
    }
    fsync_dir(parent)
}

fn rename_locked(from: &Path, to: &Path, lock_root: Option<&Path>) -> std::io::Result<()> {
    match lock_root {
        Some(root) => with_cas_lock(root, || std::fs::rename(from, to)).and_then(|r| r),
        None => std::fs::rename(from, to),
    }
}

/// Runs `f` holding an exclusive `flock` on `<root>/.akidb-cas.lock` (created on first
/// use, never removed: removing it would let two processes lock different files).
/// `flock` belongs to the open file description, so this excludes other threads of this
/// process as well as other processes; the kernel releases it when the file is closed,
/// also when a process dies. `f` must not take the lock again (it would wait forever).
fn with_cas_lock<T>(root: &Path, f: impl FnOnce() -> T) -> std::io::Result<T> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(root.join(CAS_LOCK_FILE))?;
    loop {
        // SAFETY: flock(2) on a descriptor `file` owns; no memory is shared with the kernel.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
    let result = f();
    drop(file); // closing the descriptor releases the lock
    Ok(result)
}

/// The [`LocalFs`] entity tag: hex SHA-256 of the content.
fn content_etag(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Reads a file; `None` when it does not exist.
fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("read {}", path.display()), &e)),
    }
}

fn copy_atomic(src: &Path, dst: &Path) -> Result<()> {
    copy_atomic_locked(src, dst, None)
}

/// [`copy_atomic`]; with `lock_root`, the rename happens under that root's CAS lock.
fn copy_atomic_locked(src: &Path, dst: &Path, lock_root: Option<&Path>) -> Result<()> {
    let parent = dst.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::io(format!("create {}", parent.display()), &e))?;
    let tmp = tmp_name(dst);
    let result = (|| {
        std::fs::copy(src, &tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        rename_locked(&tmp, dst, lock_root)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(
            format!("copy {} to {}", src.display(), dst.display()),
            &e,
        ));
    }
    fsync_dir(parent)
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("blocking task failed: {e}")))?
}

/// An object store in a local directory: the embedded default (`<data_dir>/objects`).
#[derive(Debug, Clone)]
pub struct LocalFs {
    root: PathBuf,
}

impl LocalFs {
    /// Uses (and creates) `root`.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::io(format!("create {}", root.display()), &e))?;
        Ok(Self { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        if key == CAS_LOCK_FILE {
            return Err(Error::invalid(
                "invalid_object_key",
                format!("object key {key:?} is reserved for the local store's lock file"),
            ));
        }
        Ok(self.root.join(key))
    }

    /// Runs `f` (blocking, on the blocking pool) under the root's CAS lock.
    async fn cas_locked<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let root = self.root.clone();
        blocking(move || {
            with_cas_lock(&root, f).map_err(|e| {
                Error::io(format!("lock {}", root.join(CAS_LOCK_FILE).display()), &e)
            })?
        })
        .await
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<ObjectMeta>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let ft = entry.file_type()?;
        let path = entry.path();
        if ft.is_dir() {
            walk(root, &path, out)?;
        } else if ft.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.contains(TMP_MARKER) || (dir == root && name == CAS_LOCK_FILE) {
                continue;
            }
            let rel = path.strip_prefix(root).expect("walked path is under root");
            let key = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push(ObjectMeta {
                key,
                size: entry.metadata()?.len(),
            });
        }
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for LocalFs {
    // Plain writes and deletes take the CAS lock only around the rename / unlink, so a
    // conditional write never checks an ETag that is replaced before its own rename.
    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let path = self.path(key)?;
        let root = self.root.clone();
        blocking(move || write_atomic_locked(&path, &data, Some(&root))).await
    }

    async fn put_file(&self, key: &str, src: &Path) -> Result<()> {
        let path = self.path(key)?;
        let src = src.to_path_buf();
        let root = self.root.clone();
        blocking(move || copy_atomic_locked(&src, &path, Some(&root))).await
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let path = self.path(key)?;
        let key = key.to_string();
        blocking(move || match std::fs::read(&path) {
            Ok(b) => Ok(Bytes::from(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(object_not_found(&key)),
            Err(e) => Err(Error::io(format!("read {}", path.display()), &e)),
        })
        .await
    }

    async fn get_to_file(&self, key: &str, dst: &Path) -> Result<()> {
        let path = self.path(key)?;
        let key = key.to_string();
        let dst = dst.to_path_buf();
        blocking(move || {
            if !path.is_file() {
                return Err(object_not_found(&key));
            }
            copy_atomic(&path, &dst)
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        blocking(move || {
            // Only walk the deepest directory implied by the prefix.
            let dir_part = match prefix.rfind('/') {
                Some(i) => &prefix[..i],
                None => "",
            };
            if !dir_part.is_empty() {
                validate_key(dir_part)?;
            }
            let start = if dir_part.is_empty() {
                root.clone()
            } else {
                root.join(dir_part)
            };
            let mut out = Vec::new();
            walk(&root, &start, &mut out)
                .map_err(|e| Error::io(format!("list {}", start.display()), &e))?;
            out.retain(|m| m.key.starts_with(&prefix));
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        let root = self.root.clone();
        self.cas_locked(move || {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(Error::io(format!("delete {}", path.display()), &e)),
            }
            let parent = path.parent().unwrap_or(&root).to_path_buf();
            fsync_dir(&parent)?;
            // Prune now-empty directories so listings stay cheap.
            let mut dir = parent;
            while dir != root && std::fs::remove_dir(&dir).is_ok() {
                match dir.parent() {
                    Some(p) => dir = p.to_path_buf(),
                    None => break,
                }
            }
            Ok(())
        })
        .await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        let path = self.path(key)?;
        let key = key.to_string();
        blocking(move || match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(ObjectMeta { key, size: m.len() })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("stat {}", path.display()), &e)),
        })
        .await
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>> {
        let path = self.path(key)?;
        // Objects are only ever replaced by rename, so one read sees one version.
        blocking(move || {
            Ok(read_if_exists(&path)?.map(|b| Versioned {
                etag: content_etag(&b),
                data: Bytes::from(b),
            }))
        })
        .await
    }

    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<String> {
        let path = self.path(key)?;
        let key = key.to_string();
        self.cas_locked(move || {
            match std::fs::symlink_metadata(&path) {
                Ok(_) => return Err(Error::precondition_failed(&key)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("stat {}", path.display()), &e)),
            }
            write_atomic(&path, &data)?;
            Ok(content_etag(&data))
        })
        .await
    }

    async fn put_if_match(&self, key: &str, data: Bytes, etag: &str) -> Result<String> {
        let path = self.path(key)?;
        let key = key.to_string();
        // Accept an ETag quoted the way S3 quotes them.
        let expected = etag.trim_matches('"').to_string();
        self.cas_locked(move || {
            match read_if_exists(&path)? {
                Some(current) if content_etag(&current) == expected => {}
                _ => return Err(Error::precondition_failed(&key)),
            }
            write_atomic(&path, &data)?;
            Ok(content_etag(&data))
        })
        .await
    }

    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }
}

/// Uploads every file under `dir` to `<prefix>/<relative path>`; `manifest.json` (if
/// present) goes last, so its presence in the store marks a complete upload.
/// Returns the keys written.
pub async fn upload_dir(store: &dyn ObjectStore, dir: &Path, prefix: &str) -> Result<Vec<String>> {
    let root = dir.to_path_buf();
    let files = blocking(move || {
        let mut out = Vec::new();
        walk(&root, &root, &mut out)
            .map_err(|e| Error::io(format!("list {}", root.display()), &e))?;
        Ok(out)
    })
    .await?;
    let mut names: Vec<String> = files.into_iter().map(|m| m.key).collect();
    names.sort_by_key(|n| (n == crate::snapshot::MANIFEST_FILE, n.clone()));
    let prefix = prefix.trim_end_matches('/');
    let mut keys = Vec::with_capacity(names.len());
    for name in names {
        let key = format!("{prefix}/{name}");
        let manifest = name == crate::snapshot::MANIFEST_FILE;
        if manifest {
            crate::crash::point("upload_dir.before_manifest");
        }
        store.put_file(&key, &dir.join(&name)).await?;
        if !manifest {
            crate::crash::point("upload_dir.after_object");
        }
        keys.push(key);
    }
    Ok(keys)
}

/// Downloads every object under `<prefix>/` into `dir` (which must not exist): into a temp
/// directory first, renamed into place when complete. Returns the number of files.
pub async fn download_dir(store: &dyn ObjectStore, prefix: &str, dir: &Path) -> Result<usize> {
    let prefix = format!("{}/", prefix.trim_end_matches('/'));
    let objects = store.list(&prefix).await?;
    if objects.is_empty() {
        return Err(Error::new(
            ErrorKind::NotFound,
            "object_not_found",
            format!("no objects under '{prefix}' in {}", store.describe()),
        ));
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::internal(format!("{} has no file name", dir.display())))?;
    let parent = dir.parent().unwrap_or(Path::new(".")).to_path_buf();
    let tmp = parent.join(format!("{name}.tmp-{:016x}", rand::random::<u64>()));
    let result: Result<()> = async {
        for obj in &objects {
            let rel = &obj.key[prefix.len()..];
            validate_key(rel)?;
            store.get_to_file(&obj.key, &tmp.join(rel)).await?;
            // A crash mid-download leaves only the `*.tmp-*` directory.
            crate::crash::point("download.after_object");
        }
        let (tmp, dir, parent) = (tmp.clone(), dir.to_path_buf(), parent.clone());
        blocking(move || {
            fsync_dir(&tmp)?;
            std::fs::rename(&tmp, &dir).map_err(|e| {
                Error::io(format!("rename {} to {}", tmp.display(), dir.display()), &e)
            })?;
            fsync_dir(&parent)
        })
        .await
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_dir_all(&tmp).await;
    }
    result.map(|_| objects.len())
}
