//! Write-ahead log: segmented files of length-prefixed, CRC32C-checked records with
//! monotonic LSNs, durable before `append` returns, with group commit.
//!
//! File layout: `wal-<first_lsn:020>.log` in one directory. Each record is
//! `[len u32 LE][crc32c u32 LE of (lsn LE || payload)][lsn u64 LE][payload; len bytes]`.
//! LSNs start at 1 and are contiguous across files.
//!
//! Recovery rules (see [`Wal::open`]): a torn or corrupt *tail* of the last file is
//! truncated with a warning (those records were never acknowledged); corruption that is
//! followed by valid data, or that sits in any file but the last, is a `data_corruption`
//! error naming the file and byte offset, never silently skipped.
//!
//! One writer per directory: [`Wal::open`] takes an exclusive advisory lock (`flock`) on
//! the WAL directory itself and holds it until the `Wal` is dropped; a second open fails
//! with `wal_locked` instead of interleaving records or truncating the other writer's tail.
//!
//! ```
//! use std::sync::Arc;
//! use akidb_storage::wal::{Wal, WalOptions};
//!
//! let dir = std::env::temp_dir().join(format!("akidb-wal-doc-{}", std::process::id()));
//! let (wal, replay) = Wal::open(&dir, WalOptions::default(), 0, Arc::new(akidb_core::NoopObserver))?;
//! assert!(replay.is_empty());
//! let lsn = wal.append(b"upsert ...")?; // durable when this returns
//! drop(wal);
//! let (_wal, replay) = Wal::open(&dir, WalOptions::default(), 0, Arc::new(akidb_core::NoopObserver))?;
//! assert_eq!(replay[0].lsn, lsn);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), akidb_core::Error>(())
//! ```

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use akidb_core::{Error, ErrorKind, Observer, Result};
use parking_lot::{Condvar, Mutex};

/// Bytes of the fixed record header: len, crc, lsn.
pub const RECORD_HEADER_BYTES: usize = 16;
/// Largest payload one record may carry.
pub const MAX_RECORD_PAYLOAD: usize = 512 * 1024 * 1024;
/// Default size at which a new WAL file is started.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Prefix of the subdirectories that hold WAL files set aside by [`Wal::open`] because a
/// snapshot claims to cover them (they are kept, never deleted, in case the claim is wrong).
pub const SUPERSEDED_PREFIX: &str = "superseded-";

/// Whether `append` fsyncs before returning (`"always"` | `"never"` in config files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WalSync {
    /// fsync before acknowledging (group commit); acknowledged writes survive a crash.
    #[default]
    Always,
    /// Never fsync. UNSAFE: acknowledged writes can be lost on a crash or power loss;
    /// only for benchmarks and throwaway data.
    Never,
}

impl std::str::FromStr for WalSync {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "always" => Ok(WalSync::Always),
            "never" => Ok(WalSync::Never),
            other => Err(Error::invalid(
                "invalid_config",
                format!("wal.sync must be \"always\" or \"never\", got {other:?}"),
            )),
        }
    }
}

/// WAL tuning knobs.
#[derive(Debug, Clone, Copy)]
pub struct WalOptions {
    /// Durability mode.
    pub sync: WalSync,
    /// A new file is started once the current one would exceed this many bytes.
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            sync: WalSync::Always,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// One decoded WAL record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalEntry {
    /// Log sequence number (1-based, contiguous).
    pub lsn: u64,
    /// The engine-defined payload bytes.
    pub payload: Vec<u8>,
}

/// Where and why decoding stopped before the end of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset of the first bad record.
    pub offset: usize,
    /// Human-readable reason (short header, bad CRC, …).
    pub reason: String,
    /// True when a valid record was found after the damage, i.e. this is not a torn tail.
    pub valid_data_after: bool,
}

/// Result of [`decode_records`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Records decoded in order, up to the first damage.
    pub records: Vec<WalEntry>,
    /// Length of the valid prefix in bytes.
    pub valid_len: usize,
    /// `None` when the whole input decoded cleanly.
    pub damage: Option<Damage>,
}

/// Encodes one record.
pub fn encode_record(lsn: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER_BYTES + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&record_crc(lsn, payload).to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn record_crc(lsn: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&lsn.to_le_bytes()), payload)
}

/// Tries to parse a record at `at`; `Err` carries the reason it is not valid.
fn parse_at(bytes: &[u8], at: usize) -> std::result::Result<(u64, usize, usize), String> {
    let rest = &bytes[at..];
    if rest.len() < RECORD_HEADER_BYTES {
        return Err(format!(
            "incomplete record header ({} of {RECORD_HEADER_BYTES} bytes)",
            rest.len()
        ));
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap());
    let lsn = u64::from_le_bytes(rest[8..16].try_into().unwrap());
    if len > MAX_RECORD_PAYLOAD {
        return Err(format!("record length {len} exceeds the maximum"));
    }
    if rest.len() < RECORD_HEADER_BYTES + len {
        return Err(format!(
            "incomplete record payload ({} of {len} bytes)",
            rest.len() - RECORD_HEADER_BYTES
        ));
    }
    let payload = &rest[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len];
    if record_crc(lsn, payload) != crc {
        return Err("checksum mismatch".to_string());
    }
    if lsn == 0 {
        return Err("record has lsn 0".to_string());
    }
    Ok((lsn, at + RECORD_HEADER_BYTES, len))
}

/// Looks for any valid record starting after `from` whose LSN is plausible; used to tell
/// a torn tail from corruption in the middle of the log.
///
/// With `after_lsn` known (the last good record, or the record before the file's first),
/// only LSNs in `after_lsn + 1 ..= after_lsn + records that fit` are plausible, a cheap
/// filter before the CRC. With `None` (the first record of a file of unknown base is
/// damaged) every LSN is: a window guessed from 0 would miss the records of any file
/// whose first LSN exceeds it and so pass corruption off as a torn tail.
fn valid_record_after(bytes: &[u8], from: usize, after_lsn: Option<u64>) -> bool {
    let max_records = (bytes.len() / RECORD_HEADER_BYTES) as u64 + 1;
    let mut at = from + 1;
    while at + RECORD_HEADER_BYTES <= bytes.len() {
        let lsn = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap());
        let plausible = match after_lsn {
            Some(after) => lsn > after && lsn <= after.saturating_add(max_records),
            None => lsn > 0,
        };
        if plausible && parse_at(bytes, at).is_ok() {
            return true;
        }
        at += 1;
    }
    false
}

/// Decodes a WAL file's bytes: a pure function (no I/O), safe on arbitrary input.
///
/// Stops at the first record that is incomplete, fails its CRC, or breaks LSN
/// contiguity, and reports whether valid records follow it. Prefer
/// [`decode_records_from`] when the file's first LSN is known.
pub fn decode_records(bytes: &[u8]) -> Decoded {
    decode_records_from(bytes, None)
}

/// [`decode_records`] for a file whose first record should have LSN `first_lsn` (from its
/// name): the search for valid records after damage to the first record then starts at
/// the right LSN.
pub fn decode_records_from(bytes: &[u8], first_lsn: Option<u64>) -> Decoded {
    let mut records = Vec::new();
    let mut at = 0usize;
    let mut last_lsn: Option<u64> = None;
    while at < bytes.len() {
        match parse_at(bytes, at) {
            Ok((lsn, payload_at, len)) => {
                if let Some(prev) = last_lsn {
                    if lsn != prev + 1 {
                        return Decoded {
                            records,
                            valid_len: at,
                            damage: Some(Damage {
                                offset: at,
                                reason: format!("lsn {lsn} follows lsn {prev} (not contiguous)"),
                                valid_data_after: true,
                            }),
                        };
                    }
                }
                records.push(WalEntry {
                    lsn,
                    payload: bytes[payload_at..payload_at + len].to_vec(),
                });
                last_lsn = Some(lsn);
                at = payload_at + len;
            }
            Err(reason) => {
                let base = last_lsn.or_else(|| first_lsn.map(|f| f.saturating_sub(1)));
                let valid_data_after = valid_record_after(bytes, at, base);
                return Decoded {
                    records,
                    valid_len: at,
                    damage: Some(Damage {
                        offset: at,
                        reason,
                        valid_data_after,
                    }),
                };
            }
        }
    }
    Decoded {
        records,
        valid_len: at,
        damage: None,
    }
}

fn segment_name(first_lsn: u64) -> String {
    format!("wal-{first_lsn:020}.log")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// fsyncs a directory so that file creations, renames and deletions in it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("fsync directory {}", dir.display()), &e))
}

#[derive(Debug, Clone)]
struct SegmentInfo {
    first_lsn: u64,
    path: PathBuf,
    bytes: u64,
}

struct Writer {
    /// Closed (read-only from now on) files, oldest first.
    sealed: Vec<SegmentInfo>,
    /// The file being appended to.
    active: SegmentInfo,
    file: Arc<File>,
    /// LSN the next record gets.
    next_lsn: u64,
    /// Set after an fsync failure: the kernel may have dropped dirty pages, so the
    /// on-disk state is unknown and no further write may be acknowledged.
    poisoned: Option<Error>,
}

struct SyncState {
    durable_lsn: u64,
    syncing: bool,
}

/// A write-ahead log. `Send + Sync`: `append` may be called from many threads at once.
pub struct Wal {
    dir: PathBuf,
    /// The directory, opened and exclusively `flock`ed; closing it (on drop) unlocks.
    _lock: File,
    opts: WalOptions,
    observer: Arc<dyn Observer>,
    writer: Mutex<Writer>,
    sync: Mutex<SyncState>,
    synced: Condvar,
    fsyncs: AtomicU64,
    appends: AtomicU64,
    size: AtomicU64,
    /// Bytes that may still be written before an injected ENOSPC (tests only).
    #[cfg(feature = "testing")]
    fault_budget: AtomicU64,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("last_lsn", &self.last_lsn())
            .finish()
    }
}

/// Takes the exclusive advisory lock on the WAL directory, without waiting.
///
/// The directory's own descriptor is locked, so no extra file appears among the WAL
/// files. `flock` locks belong to the open file description, so a second open of the same
/// directory conflicts even within one process; the kernel drops the lock when the
/// descriptor is closed or the process dies, so a crash never leaves a stale lock behind.
/// A filesystem without `flock` support makes the open fail rather than go unprotected.
fn lock_dir(dir: &Path) -> Result<File> {
    let file = File::open(dir)
        .map_err(|e| Error::io(format!("open WAL directory {}", dir.display()), &e))?;
    loop {
        // SAFETY: flock(2) on a descriptor `file` owns; no memory is shared with the kernel.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(file);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => {
                return Err(Error::new(
                    akidb_core::ErrorKind::Unavailable,
                    "wal_locked",
                    format!(
                        "WAL directory {} is locked by another writer (in this or another \
                         process); only one may append to a WAL at a time",
                        dir.display()
                    ),
                ))
            }
            _ => {
                return Err(Error::io(
                    format!("lock WAL directory {}", dir.display()),
                    &e,
                ))
            }
        }
    }
}

/// Moves WAL files that a snapshot claims to cover into a new `superseded-*` subdirectory
/// instead of deleting them: the claim comes from a manifest, and a wrong LSN there must
/// not destroy acknowledged records. Returns the subdirectory.
fn set_aside(dir: &Path, files: &[SegmentInfo], after_lsn: u64) -> Result<PathBuf> {
    let mut n = 0u32;
    let aside = loop {
        let name = if n == 0 {
            format!("{SUPERSEDED_PREFIX}{after_lsn:020}")
        } else {
            format!("{SUPERSEDED_PREFIX}{after_lsn:020}-{n}")
        };
        let candidate = dir.join(name);
        match fs::create_dir(&candidate) {
            Ok(()) => break candidate,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => {
                return Err(Error::io(format!("create {}", candidate.display()), &e));
            }
        }
    };
    for seg in files {
        let to = aside.join(seg.path.file_name().unwrap_or_default());
        fs::rename(&seg.path, &to).map_err(|e| {
            Error::io(
                format!("move WAL file {} to {}", seg.path.display(), to.display()),
                &e,
            )
        })?;
    }
    fsync_dir(&aside)?;
    Ok(aside)
}

enum SegmentReadError {
    /// The file no longer exists (removed by `truncate_through`).
    Gone,
    Failed(Error),
}

/// Appends to `out` the records of `seg` with `after_lsn < lsn <= last_lsn`, checking that
/// its records from the first one through `last_lsn` are contiguous and intact. Reads at
/// most `seg.bytes` bytes; records up to `after_lsn` are only stepped over (header checked).
fn read_segment(
    seg: &SegmentInfo,
    after_lsn: u64,
    last_lsn: u64,
    out: &mut Vec<WalEntry>,
) -> std::result::Result<(), SegmentReadError> {
    use std::io::{BufReader, Read};
    let failed = |e: Error| SegmentReadError::Failed(e);
    let file = match File::open(&seg.path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SegmentReadError::Gone),
        Err(e) => {
            return Err(failed(Error::io(
                format!("open WAL file {}", seg.path.display()),
                &e,
            )))
        }
    };
    let io_err = |e: std::io::Error| {
        failed(Error::io(
            format!("read WAL file {}", seg.path.display()),
            &e,
        ))
    };
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut offset = 0u64;
    let mut lsn = seg.first_lsn;
    while lsn <= last_lsn {
        let short = |what: &str, offset: u64| {
            failed(corruption(
                &seg.path,
                offset as usize,
                &format!("the file ends inside {what} before lsn {last_lsn}"),
            ))
        };
        if offset + RECORD_HEADER_BYTES as u64 > seg.bytes {
            return Err(short("a record header", offset));
        }
        let mut header = [0u8; RECORD_HEADER_BYTES];
        match reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(short("a record header", offset))
            }
            Err(e) => return Err(io_err(e)),
        }
        let len = u32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(header[4..8].try_into().unwrap());
        let got = u64::from_le_bytes(header[8..16].try_into().unwrap());
        if got != lsn {
            return Err(failed(corruption(
                &seg.path,
                offset as usize,
                &format!("expected lsn {lsn}, found lsn {got}"),
            )));
        }
        if len > MAX_RECORD_PAYLOAD {
            return Err(failed(corruption(
                &seg.path,
                offset as usize,
                &format!("record length {len} exceeds the maximum"),
            )));
        }
        if offset + (RECORD_HEADER_BYTES + len) as u64 > seg.bytes {
            return Err(short("the payload of a record", offset));
        }
        if lsn <= after_lsn {
            reader.seek_relative(len as i64).map_err(io_err)?;
        } else {
            let mut payload = vec![0u8; len];
            match reader.read_exact(&mut payload) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(short("the payload of a record", offset))
                }
                Err(e) => return Err(io_err(e)),
            }
            if record_crc(lsn, &payload) != crc {
                return Err(failed(corruption(
                    &seg.path,
                    offset as usize,
                    "checksum mismatch",
                )));
            }
            out.push(WalEntry { lsn, payload });
        }
        offset += (RECORD_HEADER_BYTES + len) as u64;
        lsn += 1;
    }
    Ok(())
}

fn corruption(path: &Path, offset: usize, reason: &str) -> Error {
    Error::corruption(format!(
        "WAL file {} is corrupt at byte offset {offset}: {reason}",
        path.display()
    ))
}

impl Wal {
    /// Opens or creates the WAL in `dir` and recovers it.
    ///
    /// Returns the WAL plus every record with `lsn > after_lsn`, in order. A torn tail
    /// of the last file is truncated (with a `warn!` log line); corruption elsewhere, and
    /// damage followed by valid records anywhere, is a `data_corruption` error naming the
    /// file and byte offset. If the directory holds no records, the next LSN is
    /// `after_lsn + 1`; if every record is `<= after_lsn`, the files are moved into a
    /// `superseded-*` subdirectory (never deleted) and LSNs continue at `after_lsn + 1`.
    ///
    /// Fails with `wal_locked` while another `Wal` on `dir` is open.
    pub fn open(
        dir: &Path,
        opts: WalOptions,
        after_lsn: u64,
        observer: Arc<dyn Observer>,
    ) -> Result<(Wal, Vec<WalEntry>)> {
        fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("create WAL directory {}", dir.display()), &e))?;
        // Before reading anything: recovery truncates torn tails, which must never happen
        // to a file another writer is still appending to.
        let lock = lock_dir(dir)?;
        let mut files: Vec<SegmentInfo> = Vec::new();
        let listing = fs::read_dir(dir)
            .map_err(|e| Error::io(format!("list WAL directory {}", dir.display()), &e))?;
        for entry in listing {
            let entry = entry
                .map_err(|e| Error::io(format!("list WAL directory {}", dir.display()), &e))?;
            let name = entry.file_name();
            if let Some(first_lsn) = name.to_str().and_then(parse_segment_name) {
                files.push(SegmentInfo {
                    first_lsn,
                    path: entry.path(),
                    bytes: 0,
                });
            }
        }
        files.sort_by_key(|s| s.first_lsn);

        let mut entries = Vec::new();
        let mut expected: Option<u64> = None;
        let count = files.len();
        for (i, seg) in files.iter_mut().enumerate() {
            let is_last = i + 1 == count;
            let bytes = fs::read(&seg.path)
                .map_err(|e| Error::io(format!("read WAL file {}", seg.path.display()), &e))?;
            if let Some(exp) = expected {
                if seg.first_lsn != exp {
                    return Err(corruption(
                        &seg.path,
                        0,
                        &format!("file name says first lsn {} but the previous file ends before lsn {exp}", seg.first_lsn),
                    ));
                }
            }
            let decoded = decode_records_from(&bytes, Some(seg.first_lsn));
            if let Some(first) = decoded.records.first() {
                if first.lsn != seg.first_lsn {
                    return Err(corruption(
                        &seg.path,
                        0,
                        &format!(
                            "first record has lsn {} but the file name says {}",
                            first.lsn, seg.first_lsn
                        ),
                    ));
                }
            }
            let mut valid_len = bytes.len();
            if let Some(damage) = &decoded.damage {
                if !is_last || damage.valid_data_after {
                    let what = if is_last {
                        "valid records follow it, so this is not a torn tail"
                    } else {
                        "it is not the last WAL file, so this is not a torn tail"
                    };
                    return Err(corruption(
                        &seg.path,
                        damage.offset,
                        &format!("{}; {what}", damage.reason),
                    ));
                }
                tracing::warn!(
                    file = %seg.path.display(),
                    offset = damage.offset,
                    reason = %damage.reason,
                    dropped_bytes = bytes.len() - damage.offset,
                    "truncating torn WAL tail (records after this point were never acknowledged)"
                );
                let f = OpenOptions::new()
                    .write(true)
                    .open(&seg.path)
                    .map_err(|e| Error::io(format!("open WAL file {}", seg.path.display()), &e))?;
                f.set_len(decoded.valid_len as u64)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| {
                        Error::io(format!("truncate WAL file {}", seg.path.display()), &e)
                    })?;
                valid_len = decoded.valid_len;
            }
            seg.bytes = valid_len as u64;
            expected = Some(seg.first_lsn + decoded.records.len() as u64);
            entries.extend(decoded.records.into_iter().filter(|r| r.lsn > after_lsn));
        }

        if let (Some(first), Some(_)) = (files.first(), expected) {
            if first.first_lsn > after_lsn + 1 {
                return Err(Error::corruption(format!(
                    "WAL in {} starts at lsn {} but the snapshot covers only up to lsn {after_lsn}: records {}..{} are missing",
                    dir.display(),
                    first.first_lsn,
                    after_lsn + 1,
                    first.first_lsn - 1
                )));
            }
        }
        let mut next_lsn = expected.unwrap_or(after_lsn + 1);
        if next_lsn <= after_lsn {
            // Every record is at or below the snapshot LSN the caller loaded, so LSNs must
            // continue after it without a gap. That LSN is only a claim read from a manifest
            // (legitimately ahead after a crash with `WalSync::Never`, wrongly ahead if the
            // manifest is bad), so the files are set aside rather than deleted.
            if !files.is_empty() {
                let aside = set_aside(dir, &files, after_lsn)?;
                tracing::warn!(
                    dir = %dir.display(),
                    files = files.len(),
                    wal_last_lsn = next_lsn - 1,
                    after_lsn,
                    moved_to = %aside.display(),
                    "the snapshot claims to cover every WAL record; WAL files set aside, not deleted"
                );
            }
            files.clear();
            next_lsn = after_lsn + 1;
        }

        let (active, sealed) = match files.pop() {
            Some(last) => (last, files),
            None => (
                SegmentInfo {
                    first_lsn: next_lsn,
                    path: dir.join(segment_name(next_lsn)),
                    bytes: 0,
                },
                files,
            ),
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .read(true)
            .open(&active.path)
            .map_err(|e| Error::io(format!("open WAL file {}", active.path.display()), &e))?;
        fsync_dir(dir)?;
        let size: u64 = sealed.iter().map(|s| s.bytes).sum::<u64>() + active.bytes;
        let wal = Wal {
            dir: dir.to_path_buf(),
            _lock: lock,
            opts,
            observer,
            writer: Mutex::new(Writer {
                sealed,
                active,
                file: Arc::new(file),
                next_lsn,
                poisoned: None,
            }),
            sync: Mutex::new(SyncState {
                durable_lsn: next_lsn - 1,
                syncing: false,
            }),
            synced: Condvar::new(),
            fsyncs: AtomicU64::new(0),
            appends: AtomicU64::new(0),
            size: AtomicU64::new(size),
            #[cfg(feature = "testing")]
            fault_budget: AtomicU64::new(u64::MAX),
        };
        Ok((wal, entries))
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record and returns its LSN once it is durable (per [`WalSync`]).
    ///
    /// Concurrent callers share fsyncs: whoever syncs covers every record written so far.
    /// On a write failure (e.g. a full disk: `insufficient_storage`) the file is cut back to
    /// its last good length, so no later record builds on a half-written one.
    pub fn append(&self, payload: &[u8]) -> Result<u64> {
        self.append_checked(payload, None, true)
    }

    /// Appends one record that must get LSN `lsn`, i.e. only when `lsn == last_lsn() + 1`
    /// (checked under the writer lock), and returns once it is durable like [`append`](Self::append).
    /// Followers use it so that their LSNs equal the writer's. Any other `lsn` is refused
    /// with `lsn_out_of_order` (Conflict) and nothing is written.
    pub fn append_at(&self, lsn: u64, payload: &[u8]) -> Result<()> {
        self.append_checked(payload, Some(lsn), true).map(|_| ())
    }

    /// [`append_at`](Self::append_at) without waiting for durability: a follower applying a
    /// batch appends every record, then calls [`sync`](Self::sync) once.
    pub fn append_at_unsynced(&self, lsn: u64, payload: &[u8]) -> Result<()> {
        self.append_checked(payload, Some(lsn), false).map(|_| ())
    }

    /// [`append`](Self::append), refused unless the next LSN is `expected_lsn` (when given).
    fn append_checked(
        &self,
        payload: &[u8],
        expected_lsn: Option<u64>,
        wait_durable: bool,
    ) -> Result<u64> {
        if payload.len() > MAX_RECORD_PAYLOAD {
            return Err(Error::payload_too_large(format!(
                "WAL record of {} bytes exceeds the maximum of {MAX_RECORD_PAYLOAD}",
                payload.len()
            )));
        }
        let lsn = {
            let mut w = self.writer.lock();
            if let Some(err) = &w.poisoned {
                return Err(err.clone());
            }
            let lsn = w.next_lsn;
            if let Some(expected) = expected_lsn {
                if expected != lsn {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        "lsn_out_of_order",
                        format!(
                            "cannot append lsn {expected} to the WAL in {}: its next lsn is {lsn}",
                            self.dir.display()
                        ),
                    ));
                }
            }
            let record = encode_record(lsn, payload);
            if w.active.bytes > 0 && w.active.bytes + record.len() as u64 > self.opts.segment_bytes
            {
                self.rotate(&mut w, lsn)?;
            }
            let offset = w.active.bytes;
            if let Err(e) = self.write_record(&w.file, &record, offset) {
                let err = Error::io(
                    format!("append to WAL file {}", w.active.path.display()),
                    &e,
                );
                // Cut back any partial record so the next append starts on a clean boundary.
                if let Err(e2) = w.file.set_len(offset) {
                    w.poisoned = Some(Error::io(
                        format!(
                            "WAL file {} could not be cut back after a failed write",
                            w.active.path.display()
                        ),
                        &e2,
                    ));
                }
                return Err(err);
            }
            w.active.bytes += record.len() as u64;
            w.next_lsn = lsn + 1;
            self.size.fetch_add(record.len() as u64, Ordering::Relaxed);
            self.appends.fetch_add(1, Ordering::Relaxed);
            lsn
        };
        if self.opts.sync == WalSync::Never || !wait_durable {
            return Ok(lsn);
        }
        self.wait_durable(lsn)?;
        Ok(lsn)
    }

    fn write_record(&self, file: &File, record: &[u8], offset: u64) -> std::io::Result<()> {
        #[cfg(feature = "testing")]
        {
            let budget = self.fault_budget.load(Ordering::Relaxed);
            if (record.len() as u64) > budget {
                // Simulate a disk filling up mid-record: part of it lands, then ENOSPC.
                file.write_all_at(&record[..budget as usize], offset)?;
                self.fault_budget.store(0, Ordering::Relaxed);
                return Err(std::io::Error::from_raw_os_error(28));
            }
            if budget != u64::MAX {
                self.fault_budget
                    .store(budget - record.len() as u64, Ordering::Relaxed);
            }
        }
        file.write_all_at(record, offset)
    }

    /// Test hook: after `bytes` more bytes, writes fail with ENOSPC as on a full disk
    /// (`u64::MAX` switches it off).
    #[cfg(feature = "testing")]
    pub fn inject_disk_full_after(&self, bytes: u64) {
        self.fault_budget.store(bytes, Ordering::Relaxed);
    }

    /// Starts a new file whose first record will be `next_lsn`; the old one is fsynced
    /// first so that a later fsync of the new file covers every earlier record.
    fn rotate(&self, w: &mut Writer, next_lsn: u64) -> Result<()> {
        if self.opts.sync == WalSync::Always {
            self.timed_fsync(&w.file).map_err(|e| {
                Error::io(format!("fsync WAL file {}", w.active.path.display()), &e)
            })?;
        }
        crate::crash::point("wal.rotate.after_sync_old");
        let path = self.dir.join(segment_name(next_lsn));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .read(true)
            .open(&path)
            .map_err(|e| Error::io(format!("create WAL file {}", path.display()), &e))?;
        // An empty newest file is a valid WAL end: recovery continues at its name's LSN.
        crate::crash::point("wal.rotate.after_create");
        if self.opts.sync == WalSync::Always {
            fsync_dir(&self.dir)?;
        }
        crate::crash::point("wal.rotate.after_dir_sync");
        let old = std::mem::replace(
            &mut w.active,
            SegmentInfo {
                first_lsn: next_lsn,
                path,
                bytes: 0,
            },
        );
        w.sealed.push(old);
        w.file = Arc::new(file);
        Ok(())
    }

    fn timed_fsync(&self, file: &File) -> std::io::Result<()> {
        let start = Instant::now();
        let res = file.sync_data();
        self.observer.wal_fsync(start.elapsed().as_secs_f64());
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        res
    }

    /// Group commit: one thread fsyncs for everyone; others wait until covered.
    fn wait_durable(&self, lsn: u64) -> Result<()> {
        let mut st = self.sync.lock();
        loop {
            if st.durable_lsn >= lsn {
                return Ok(());
            }
            if !st.syncing {
                st.syncing = true;
                drop(st);
                let (target, file, path, poisoned) = {
                    let w = self.writer.lock();
                    (
                        w.next_lsn - 1,
                        w.file.clone(),
                        w.active.path.clone(),
                        w.poisoned.clone(),
                    )
                };
                let result = match poisoned {
                    Some(e) => Err(e),
                    None => self
                        .timed_fsync(&file)
                        .map_err(|e| Error::io(format!("fsync WAL file {}", path.display()), &e)),
                };
                if let Err(e) = &result {
                    self.writer.lock().poisoned.get_or_insert_with(|| {
                        Error::new(
                            e.kind(),
                            e.code(),
                            format!(
                                "{}; the WAL refuses further writes until reopened",
                                e.message()
                            ),
                        )
                    });
                }
                st = self.sync.lock();
                st.syncing = false;
                if result.is_ok() {
                    st.durable_lsn = st.durable_lsn.max(target);
                }
                self.synced.notify_all();
                result?;
            } else {
                self.synced.wait(&mut st);
                if st.durable_lsn < lsn && !st.syncing {
                    if let Some(e) = self.writer.lock().poisoned.clone() {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Forces every appended record to disk (useful with [`WalSync::Never`] before a snapshot).
    pub fn sync(&self) -> Result<()> {
        let last = self.last_lsn();
        if last == 0 {
            return Ok(());
        }
        self.wait_durable(last)
    }

    /// LSN of the last appended record (0 if none was ever written).
    pub fn last_lsn(&self) -> u64 {
        self.writer.lock().next_lsn - 1
    }

    /// Highest LSN known to be on disk.
    pub fn durable_lsn(&self) -> u64 {
        self.sync.lock().durable_lsn
    }

    /// Removes whole WAL files whose records all have `lsn <= lsn` (covered by a durable
    /// snapshot). The file being appended to is never removed.
    pub fn truncate_through(&self, lsn: u64) -> Result<()> {
        let mut w = self.writer.lock();
        let mut removed = 0usize;
        while !w.sealed.is_empty() {
            let next_first = w
                .sealed
                .get(1)
                .map(|s| s.first_lsn)
                .unwrap_or(w.active.first_lsn);
            if next_first - 1 > lsn {
                break;
            }
            let seg = w.sealed.remove(0);
            match fs::remove_file(&seg.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    w.sealed.insert(0, seg.clone());
                    return Err(Error::io(
                        format!("remove WAL file {}", seg.path.display()),
                        &e,
                    ));
                }
            }
            self.size.fetch_sub(seg.bytes, Ordering::Relaxed);
            removed += 1;
            // Oldest first, so a crash here leaves a WAL without a gap after the snapshot.
            crate::crash::point("wal.truncate.after_remove");
        }
        drop(w);
        if removed > 0 {
            fsync_dir(&self.dir)?;
            tracing::debug!(dir = %self.dir.display(), removed, through_lsn = lsn, "removed WAL files covered by a snapshot");
        }
        Ok(())
    }

    /// Reads back the records with `after_lsn < lsn <= upto_lsn` from the WAL files on
    /// disk, in order (e.g. to ship them elsewhere). Callers should pass
    /// `upto_lsn <= durable_lsn()` so that only durable records leave the node;
    /// `upto_lsn > last_lsn()` is refused with `invalid_lsn_range`.
    ///
    /// Safe while other threads append: the file list is taken under the writer lock and
    /// the files are then read without it; only the bytes that held complete records at
    /// that moment are read, so a record being written after `upto_lsn` is never seen.
    /// Errors: records already removed by [`truncate_through`](Self::truncate_through)
    /// (or never in this WAL because it starts after them) are `wal_records_gone`
    /// (NotFound; fall back to a snapshot); a gap, a bad checksum or a short file before
    /// `upto_lsn` is `data_corruption` naming the file and byte offset.
    pub fn read_after(&self, after_lsn: u64, upto_lsn: u64) -> Result<Vec<WalEntry>> {
        if upto_lsn <= after_lsn {
            return Ok(Vec::new());
        }
        // Each segment with the LSN after its last record.
        let (segments, end_lsn) = {
            let w = self.writer.lock();
            let mut segs: Vec<SegmentInfo> = w.sealed.clone();
            segs.push(w.active.clone());
            (segs, w.next_lsn)
        };
        if upto_lsn >= end_lsn {
            return Err(Error::invalid(
                "invalid_lsn_range",
                format!(
                    "cannot read WAL records up to lsn {upto_lsn} from {}: the last lsn is {}",
                    self.dir.display(),
                    end_lsn - 1
                ),
            ));
        }
        let first_wanted = after_lsn + 1;
        // The last segment that starts at or before the first wanted record.
        let start = match segments.iter().rposition(|s| s.first_lsn <= first_wanted) {
            Some(i) => i,
            None => return Err(self.records_gone(after_lsn, segments[0].first_lsn)),
        };
        let mut out = Vec::with_capacity((upto_lsn - after_lsn).min(1 << 16) as usize);
        let mut expected = segments[start].first_lsn;
        for (i, seg) in segments.iter().enumerate().skip(start) {
            if expected > upto_lsn {
                break;
            }
            if seg.first_lsn != expected {
                return Err(corruption(
                    &seg.path,
                    0,
                    &format!(
                        "file name says first lsn {} but the previous file ends before lsn {expected}",
                        seg.first_lsn
                    ),
                ));
            }
            let seg_end = segments.get(i + 1).map(|n| n.first_lsn).unwrap_or(end_lsn);
            let last = upto_lsn.min(seg_end - 1);
            match read_segment(seg, after_lsn, last, &mut out) {
                Ok(()) => expected = last + 1,
                Err(SegmentReadError::Gone) => {
                    return Err(self.records_gone(after_lsn, seg.first_lsn));
                }
                Err(SegmentReadError::Failed(e)) => return Err(e),
            }
        }
        Ok(out)
    }

    fn records_gone(&self, after_lsn: u64, first_lsn: u64) -> Error {
        Error::new(
            ErrorKind::NotFound,
            "wal_records_gone",
            format!(
                "WAL records after lsn {after_lsn} are no longer in {} (its oldest file starts at                  lsn {first_lsn}; older files were removed once a snapshot covered them)",
                self.dir.display()
            ),
        )
    }

    /// Total bytes of all WAL files.
    pub fn size_bytes(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    /// Number of WAL files on disk.
    pub fn file_count(&self) -> usize {
        let w = self.writer.lock();
        w.sealed.len() + 1
    }

    /// Number of fsyncs done since open (group commit makes this smaller than `append_count`).
    pub fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Number of records appended since open.
    pub fn append_count(&self) -> u64 {
        self.appends.load(Ordering::Relaxed)
    }
}
