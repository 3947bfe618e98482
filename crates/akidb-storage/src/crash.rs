//! Crash points: named steps of the durable protocols (WAL rotation, snapshot write and
//! upload, tier moves, restore, compaction, dead-letter queue) where a test can make the
//! process die, to check that a restart finds every acknowledged write and nothing that a
//! later restore would trust wrongly.
//!
//! [`point`] is a no-op in every build without the `crash-points` cargo feature (only the
//! engine's dev-dependencies enable it), so production code pays nothing. With the feature,
//! `AKIDB_CRASH_AT=<point>[:<skip>]` (read once per process) makes the pass through
//! `<point>` that follows `<skip>` earlier passes call [`std::process::abort`]: a real crash
//! (SIGABRT, no unwinding, no destructors, no clean error path), so what is on disk is
//! exactly what a crash at that step leaves. Bytes already handed to the kernel survive an
//! abort; a power loss is not simulated (a missing fsync is not caught here).
//!
//! `crates/akidb-engine/tests/crash_points.rs` crashes a child process at every entry of
//! [`POINTS`] and checks the restart; docs/reliability.md lists what each point protects.

/// Environment variable that arms one crash point: `<point>` or `<point>:<skip>`.
pub const ENV: &str = "AKIDB_CRASH_AT";

/// Every crash point, in protocol order. A name used in code but missing here fails a
/// debug assertion in test builds, so the crash test (which covers this list) sees them all.
pub const POINTS: &[&str] = &[
    // WAL rotation (akidb-storage wal.rs) and truncation after a snapshot.
    "wal.rotate.after_sync_old",
    "wal.rotate.after_create",
    "wal.rotate.after_dir_sync",
    "wal.truncate.after_remove",
    // Snapshot write (storage snapshot.rs, engine persist.rs).
    "snapshot.write.after_graph",
    "snapshot.write.after_points",
    "snapshot.write.after_files",
    "snapshot.write.after_manifest",
    "snapshot.write.after_rename",
    "snapshot.write.after_dir_sync",
    "snapshot.retention.after_remove",
    // Snapshot upload (engine tier.rs; storage object_store.rs for `upload_dir`).
    "upload.after_object",
    "upload.before_manifest",
    "upload.after_manifest",
    "upload.prune.after_delete",
    "upload_dir.after_object",
    "upload_dir.before_manifest",
    "download.after_object",
    // Tier moves (engine tier.rs).
    "evict.after_snapshot",
    "freeze.after_upload",
    "freeze.after_record_cold",
    "freeze.after_remove_snapshots",
    "freeze.after_remove_wal",
    "thaw.after_download",
    "thaw.after_open",
    "thaw.after_record_hot",
    // Restore of a healthy collection, and repair (restore swap) of a damaged one.
    "restore.swap.before_snapshot",
    "restore.swap.after_snapshot",
    "restore.missing.after_create",
    "repair.after_fetch",
    "repair.before_swap",
    "repair.swap.after_move_old",
    "repair.swap.after_move_new",
    // Compaction (engine collection.rs).
    "compact.after_pick",
    "compact.after_copy",
    "compact.after_swap",
    // Dead-letter queue (storage dlq.rs).
    "dlq.append.after_tmp",
    "dlq.append.after_rename",
    "dlq.retry.after_upload",
    "dlq.retry.after_remove",
];

/// Marks crash point `name`: aborts the process here when `AKIDB_CRASH_AT` arms it (only
/// with the `crash-points` feature; otherwise it compiles to nothing).
#[inline(always)]
pub fn point(name: &'static str) {
    #[cfg(feature = "crash-points")]
    armed::hit(name);
    #[cfg(not(feature = "crash-points"))]
    let _ = name;
}

#[cfg(feature = "crash-points")]
mod armed {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    struct Armed {
        point: String,
        /// Passes through `point` still to let by before the abort.
        remaining: AtomicU64,
    }

    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();

    /// The armed point, parsed from the environment on first use (a bad value is a test
    /// bug: it panics rather than silently testing nothing).
    fn armed() -> Option<&'static Armed> {
        ARMED
            .get_or_init(|| {
                let spec = std::env::var(super::ENV).ok()?;
                let (point, skip) = match spec.split_once(':') {
                    Some((p, s)) => (p, s.parse().expect("AKIDB_CRASH_AT: skip is a number")),
                    None => (spec.as_str(), 0),
                };
                assert!(
                    super::POINTS.contains(&point),
                    "AKIDB_CRASH_AT names unknown crash point {point:?}"
                );
                Some(Armed {
                    point: point.to_string(),
                    remaining: AtomicU64::new(skip),
                })
            })
            .as_ref()
    }

    pub(super) fn hit(name: &'static str) {
        debug_assert!(
            super::POINTS.contains(&name),
            "crash point {name:?} is missing from akidb_storage::crash::POINTS"
        );
        let Some(a) = armed() else { return };
        if a.point != name {
            return;
        }
        if a.remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err()
        {
            eprintln!(
                "akidb: crash point {name} reached; aborting ({})",
                super::ENV
            );
            // No core file: a crash test aborts dozens of times on purpose.
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: setrlimit only reads the struct passed by reference.
            unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
            std::process::abort();
        }
    }
}
