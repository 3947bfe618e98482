//! WAL durability tests: torn tails at every byte, mid-log corruption, group commit,
//! rotation, truncation and full-disk handling.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use akidb_core::NoopObserver;
use akidb_storage::wal::{
    decode_records, decode_records_from, encode_record, Wal, WalOptions, WalSync,
    RECORD_HEADER_BYTES, SUPERSEDED_PREFIX,
};

fn obs() -> Arc<NoopObserver> {
    Arc::new(NoopObserver)
}

fn payload(i: u64) -> Vec<u8> {
    // Varying lengths, including empty payloads.
    let len = (i * 7 % 23) as usize;
    (0..len)
        .map(|j| (i as u8).wrapping_mul(31).wrapping_add(j as u8))
        .collect()
}

fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().map(|e| e == "log").unwrap_or(false))
        .collect();
    v.sort();
    v
}

fn opts(segment_bytes: u64) -> WalOptions {
    WalOptions {
        sync: WalSync::Always,
        segment_bytes,
    }
}

#[test]
fn append_and_reopen_returns_records_after_lsn() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, recovered) = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap();
    assert!(recovered.is_empty());
    for i in 1..=10 {
        assert_eq!(wal.append(&payload(i)).unwrap(), i);
    }
    assert_eq!(wal.last_lsn(), 10);
    assert_eq!(wal.durable_lsn(), 10);
    drop(wal);
    let (wal, recovered) = Wal::open(tmp.path(), opts(1 << 20), 4, obs()).unwrap();
    assert_eq!(
        recovered.iter().map(|e| e.lsn).collect::<Vec<_>>(),
        (5..=10).collect::<Vec<_>>()
    );
    for e in &recovered {
        assert_eq!(e.payload, payload(e.lsn));
    }
    assert_eq!(wal.append(b"next").unwrap(), 11);
}

#[test]
fn empty_dir_continues_after_snapshot_lsn() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, recovered) = Wal::open(tmp.path(), opts(1 << 20), 500, obs()).unwrap();
    assert!(recovered.is_empty());
    assert_eq!(wal.append(b"x").unwrap(), 501);
    drop(wal);
    let (_wal, recovered) = Wal::open(tmp.path(), opts(1 << 20), 500, obs()).unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].lsn, 501);
}

#[test]
fn log_fully_covered_by_newer_snapshot_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap();
    for i in 1..=5 {
        wal.append(&payload(i)).unwrap();
    }
    drop(wal);
    let (wal, recovered) = Wal::open(tmp.path(), opts(1 << 20), 100, obs()).unwrap();
    assert!(recovered.is_empty());
    assert_eq!(wal.append(b"y").unwrap(), 101);
    drop(wal);
    let (_wal, recovered) = Wal::open(tmp.path(), opts(1 << 20), 100, obs()).unwrap();
    assert_eq!(
        recovered.iter().map(|e| e.lsn).collect::<Vec<_>>(),
        vec![101]
    );
}

/// Cuts the last WAL file at every byte offset covering its last records: recovery must
/// return exactly the records that are complete in the prefix, never panic, and keep
/// accepting appends with contiguous LSNs.
#[test]
fn torn_tail_at_every_byte_offset_recovers_the_acknowledged_prefix() {
    let src = tempfile::tempdir().unwrap();
    // Small segments so that there are several files and the cut hits the last one.
    let (wal, _) = Wal::open(src.path(), opts(300), 0, obs()).unwrap();
    let total = 40u64;
    for i in 1..=total {
        wal.append(&payload(i)).unwrap();
    }
    drop(wal);
    let files = wal_files(src.path());
    assert!(files.len() >= 3, "expected rotation, got {files:?}");
    let last = files.last().unwrap();
    let bytes = std::fs::read(last).unwrap();
    let first_lsn_in_last: u64 = last.file_name().unwrap().to_str().unwrap()[4..24]
        .parse()
        .unwrap();
    // Record boundaries in the last file.
    let mut ends = Vec::new();
    let mut at = 0usize;
    let mut lsn = first_lsn_in_last;
    while at < bytes.len() {
        at += RECORD_HEADER_BYTES + payload(lsn).len();
        ends.push((lsn, at));
        lsn += 1;
    }
    assert_eq!(lsn - 1, total);
    assert_eq!(at, bytes.len());

    for cut in 0..=bytes.len() {
        let dir = tempfile::tempdir().unwrap();
        for f in &files {
            std::fs::copy(f, dir.path().join(f.file_name().unwrap())).unwrap();
        }
        let target = dir.path().join(last.file_name().unwrap());
        std::fs::write(&target, &bytes[..cut]).unwrap();
        let complete = ends
            .iter()
            .filter(|(_, end)| *end <= cut)
            .map(|(l, _)| *l)
            .max();
        let expected_last = complete.unwrap_or(first_lsn_in_last - 1);
        let (wal, recovered) = Wal::open(dir.path(), opts(300), 0, obs())
            .unwrap_or_else(|e| panic!("cut at {cut}: recovery failed: {e}"));
        assert_eq!(
            recovered.iter().map(|e| e.lsn).collect::<Vec<_>>(),
            (1..=expected_last).collect::<Vec<_>>(),
            "cut at {cut}"
        );
        for e in &recovered {
            assert_eq!(e.payload, payload(e.lsn), "cut at {cut}, lsn {}", e.lsn);
        }
        // The torn bytes are gone and new records continue the sequence.
        assert_eq!(
            wal.append(b"after-crash").unwrap(),
            expected_last + 1,
            "cut at {cut}"
        );
        drop(wal);
        let (_wal, again) = Wal::open(dir.path(), opts(300), 0, obs()).unwrap();
        assert_eq!(again.len() as u64, expected_last + 1, "cut at {cut}");
        assert_eq!(again.last().unwrap().payload, b"after-crash");
    }
}

#[test]
fn corrupt_last_record_is_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap();
    for i in 1..=5 {
        wal.append(&[i as u8; 10]).unwrap();
    }
    drop(wal);
    let file = &wal_files(tmp.path())[0];
    let mut bytes = std::fs::read(file).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    std::fs::write(file, &bytes).unwrap();
    let (_wal, recovered) = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap();
    assert_eq!(recovered.len(), 4);
    assert_eq!(
        std::fs::metadata(file).unwrap().len() as usize,
        n - (RECORD_HEADER_BYTES + 10)
    );
}

#[test]
fn flipped_byte_in_the_middle_is_an_error_naming_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap();
    for i in 1..=20 {
        wal.append(&[i as u8; 10]).unwrap();
    }
    drop(wal);
    let file = &wal_files(tmp.path())[0];
    let original = std::fs::read(file).unwrap();
    let rec = RECORD_HEADER_BYTES + 10;
    // Every byte of record 6 (header and payload), one at a time.
    for pos in 5 * rec..6 * rec {
        let mut bytes = original.clone();
        bytes[pos] ^= 0x40;
        std::fs::write(file, &bytes).unwrap();
        let err = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap_err();
        assert_eq!(err.code(), "data_corruption", "byte {pos}: {err}");
        let msg = err.message();
        assert!(msg.contains("wal-00000000000000000001.log"), "{msg}");
        assert!(
            msg.contains(&format!("byte offset {}", 5 * rec)),
            "byte {pos}: {msg}"
        );
        // Nothing was truncated: the operator can still inspect the file.
        assert_eq!(std::fs::read(file).unwrap(), bytes);
    }
}

#[test]
fn damage_in_a_non_last_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(200), 0, obs()).unwrap();
    for i in 1..=30 {
        wal.append(&[i as u8; 20]).unwrap();
    }
    drop(wal);
    let files = wal_files(tmp.path());
    assert!(files.len() >= 2);
    // Cut the first file's last record: it is torn, but not at the end of the log.
    let first = &files[0];
    let bytes = std::fs::read(first).unwrap();
    std::fs::write(first, &bytes[..bytes.len() - 3]).unwrap();
    let err = Wal::open(tmp.path(), opts(200), 0, obs()).unwrap_err();
    assert_eq!(err.code(), "data_corruption");
    assert!(
        err.message()
            .contains(first.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    assert!(err.message().contains("not the last WAL file"), "{err}");
}

#[test]
fn concurrent_appends_share_fsyncs() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap();
    let wal = Arc::new(wal);
    let threads = 16;
    let per_thread = 100;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                let mut lsns = Vec::new();
                for i in 0..per_thread {
                    let p = format!("t{t}-{i}");
                    lsns.push((wal.append(p.as_bytes()).unwrap(), p));
                }
                lsns
            })
        })
        .collect();
    let mut acked: Vec<(u64, String)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    acked.sort();
    let appends = wal.append_count();
    let fsyncs = wal.fsync_count();
    assert_eq!(appends, (threads * per_thread) as u64);
    assert!(
        fsyncs < appends,
        "group commit should share fsyncs: {fsyncs} fsyncs for {appends} appends"
    );
    eprintln!("group commit: {fsyncs} fsyncs for {appends} appends");
    drop(wal);
    let (_wal, recovered) = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap();
    assert_eq!(recovered.len(), threads * per_thread);
    for ((lsn, p), e) in acked.iter().zip(&recovered) {
        assert_eq!(*lsn, e.lsn);
        assert_eq!(p.as_bytes(), &e.payload[..]);
    }
}

#[test]
fn rotation_and_truncate_through() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(256), 0, obs()).unwrap();
    for i in 1..=50 {
        wal.append(&[i as u8; 40]).unwrap();
    }
    let files = wal_files(tmp.path());
    assert!(files.len() > 5, "{files:?}");
    assert_eq!(files.len(), wal.file_count());
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= 256);
    }
    let disk: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(wal.size_bytes(), disk);
    wal.truncate_through(25).unwrap();
    let left = wal_files(tmp.path());
    assert!(left.len() < files.len());
    let first_left: u64 = left[0].file_name().unwrap().to_str().unwrap()[4..24]
        .parse()
        .unwrap();
    assert!(first_left <= 26, "a file holding lsn 26 was removed");
    assert!(first_left > 1);
    let disk: u64 = left
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(wal.size_bytes(), disk);
    // The active file is never removed even if fully covered.
    wal.truncate_through(1000).unwrap();
    assert_eq!(wal_files(tmp.path()).len(), 1);
    drop(wal);

    let (wal, recovered) = Wal::open(tmp.path(), opts(256), 50, obs()).unwrap();
    assert!(recovered.is_empty());
    assert_eq!(wal.append(b"z").unwrap(), 51);
    drop(wal);
    // Asking for records the log no longer holds is an error, not silent data loss.
    let err = Wal::open(tmp.path(), opts(256), 10, obs()).unwrap_err();
    assert_eq!(err.code(), "data_corruption");
    assert!(err.message().contains("missing"), "{err}");
}

#[test]
fn full_disk_leaves_no_half_record() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap();
    wal.append(b"one").unwrap();
    wal.inject_disk_full_after(10);
    let err = wal.append(b"two-two-two").unwrap_err();
    assert_eq!(err.code(), "insufficient_storage", "{err}");
    let file = &wal_files(tmp.path())[0];
    assert_eq!(
        std::fs::metadata(file).unwrap().len() as usize,
        RECORD_HEADER_BYTES + 3
    );
    // Space comes back: the next record starts on a clean boundary.
    wal.inject_disk_full_after(u64::MAX);
    assert_eq!(wal.append(b"three").unwrap(), 2);
    drop(wal);
    let (_wal, recovered) = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap();
    let payloads: Vec<&[u8]> = recovered.iter().map(|e| &e.payload[..]).collect();
    assert_eq!(payloads, vec![&b"one"[..], &b"three"[..]]);
}

#[test]
fn never_sync_skips_fsync() {
    let tmp = tempfile::tempdir().unwrap();
    let o = WalOptions {
        sync: WalSync::Never,
        segment_bytes: 1 << 20,
    };
    let (wal, _) = Wal::open(tmp.path(), o, 0, obs()).unwrap();
    for i in 0..100 {
        wal.append(&[i; 8]).unwrap();
    }
    assert_eq!(wal.fsync_count(), 0);
    wal.sync().unwrap();
    assert_eq!(wal.fsync_count(), 1);
    drop(wal);
    let (_wal, recovered) = Wal::open(tmp.path(), o, 0, obs()).unwrap();
    assert_eq!(recovered.len(), 100);
}

#[test]
fn decoder_reports_damage_and_valid_data_after() {
    let mut bytes = Vec::new();
    for lsn in 1..=5u64 {
        bytes.extend(encode_record(lsn, &[lsn as u8; 5]));
    }
    let clean = decode_records(&bytes);
    assert_eq!(clean.records.len(), 5);
    assert!(clean.damage.is_none());
    let mut mid = bytes.clone();
    mid[RECORD_HEADER_BYTES + 2] ^= 1;
    let d = decode_records(&mid);
    assert_eq!(d.records.len(), 0);
    assert!(d.damage.as_ref().unwrap().valid_data_after);
    let torn = &bytes[..bytes.len() - 1];
    let d = decode_records(torn);
    assert_eq!(d.records.len(), 4);
    assert!(!d.damage.as_ref().unwrap().valid_data_after);
    // Out-of-order LSNs are damage, too.
    let mut swapped = encode_record(1, b"a");
    swapped.extend(encode_record(3, b"c"));
    let d = decode_records(&swapped);
    assert_eq!(d.records.len(), 1);
    assert!(d.damage.unwrap().reason.contains("not contiguous"));
}

/// Issue #15: damage to the first record of a later WAL file whose first LSN is larger
/// than the decoder's search window (`len / 16 + 1` from LSN 0) used to be read as a torn
/// tail, so the whole file, acknowledged records included, was truncated.
#[test]
fn damaged_first_record_of_a_later_file_is_corruption_not_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    // 56-byte records, 4 per 256-byte file: the last file starts far beyond 256/16 + 1.
    let (wal, _) = Wal::open(tmp.path(), opts(256), 0, obs()).unwrap();
    for i in 1..=60u64 {
        wal.append(&[i as u8; 40]).unwrap();
    }
    drop(wal);
    let files = wal_files(tmp.path());
    let last = files.last().unwrap();
    let first_lsn: u64 = last.file_name().unwrap().to_str().unwrap()[4..24]
        .parse()
        .unwrap();
    let original = std::fs::read(last).unwrap();
    assert!(first_lsn > original.len() as u64 / 16 + 1, "{first_lsn}");
    assert!(
        original.len() >= 2 * 56,
        "the last file holds several records"
    );
    // Header and payload bytes of the first record, one at a time.
    for pos in [0, 5, 9, 20, 55] {
        let mut bytes = original.clone();
        bytes[pos] ^= 0x40;
        std::fs::write(last, &bytes).unwrap();
        let err = Wal::open(tmp.path(), opts(256), 0, obs()).unwrap_err();
        assert_eq!(err.code(), "data_corruption", "byte {pos}: {err}");
        assert!(
            err.message()
                .contains(last.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
        assert!(err.message().contains("valid records follow"), "{err}");
        // Nothing was truncated.
        assert_eq!(std::fs::read(last).unwrap(), bytes, "byte {pos}");
    }
    // The pure decoder agrees, with or without the file's first LSN.
    let mut bytes = original.clone();
    bytes[20] ^= 0x40;
    for d in [
        decode_records(&bytes),
        decode_records_from(&bytes, Some(first_lsn)),
    ] {
        assert!(d.records.is_empty());
        assert!(d.damage.unwrap().valid_data_after);
    }
    // A genuinely torn first (and only) record is still a torn tail.
    std::fs::write(last, &original[..30]).unwrap();
    let (wal, recovered) = Wal::open(tmp.path(), opts(256), 0, obs()).unwrap();
    assert_eq!(recovered.len() as u64, first_lsn - 1);
    assert_eq!(std::fs::metadata(last).unwrap().len(), 0);
    assert_eq!(wal.append(b"next").unwrap(), first_lsn);
}

/// Issue #15: a second writer on one WAL directory is refused while the first lives.
#[test]
fn second_open_of_a_wal_directory_is_refused_until_the_first_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap();
    wal.append(b"one").unwrap();
    let file = wal_files(tmp.path()).pop().unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let err = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap_err();
    assert_eq!(err.code(), "wal_locked");
    assert_eq!(err.kind(), akidb_core::ErrorKind::Unavailable);
    assert!(
        err.message().contains(&tmp.path().display().to_string()),
        "{err}"
    );
    // The refused open changed nothing: the first writer carries on.
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    assert_eq!(wal.append(b"two").unwrap(), 2);
    // Another thread is refused just the same.
    let dir = tmp.path().to_path_buf();
    let code =
        std::thread::spawn(move || Wal::open(&dir, opts(1 << 20), 0, obs()).unwrap_err().code())
            .join()
            .unwrap();
    assert_eq!(code, "wal_locked");
    drop(wal);
    // Dropping the WAL releases the lock.
    let (wal, recovered) = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap();
    assert_eq!(recovered.len(), 2);
    assert_eq!(wal.append(b"three").unwrap(), 3);
    drop(wal);
    // No lock file joins the WAL files.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

/// Issue #15: a snapshot LSN beyond the end of the log (e.g. from a damaged or old
/// manifest) used to make `Wal::open` delete every WAL file; they are now set aside.
#[test]
fn log_behind_the_snapshot_lsn_is_set_aside_not_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(100), 0, obs()).unwrap();
    for i in 1..=5 {
        wal.append(&payload(i)).unwrap();
    }
    drop(wal);
    let before = wal_files(tmp.path());
    assert!(before.len() >= 2);
    let contents: Vec<Vec<u8>> = before.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let (wal, recovered) = Wal::open(tmp.path(), opts(100), 1000, obs()).unwrap();
    assert!(recovered.is_empty());
    assert_eq!(wal.append(b"x").unwrap(), 1001);
    drop(wal);
    let aside = tmp.path().join(format!("{SUPERSEDED_PREFIX}{:020}", 1000));
    for (f, bytes) in before.iter().zip(&contents) {
        let moved = aside.join(f.file_name().unwrap());
        assert_eq!(&std::fs::read(&moved).unwrap(), bytes, "{moved:?}");
    }
    // The live log continues after the snapshot and ignores the set-aside files.
    let (wal, recovered) = Wal::open(tmp.path(), opts(100), 1000, obs()).unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].lsn, 1001);
    drop(wal);
    // A name already taken gets a suffix instead of mixing or overwriting files.
    let taken = tmp.path().join(format!("{SUPERSEDED_PREFIX}{:020}", 5000));
    std::fs::create_dir(&taken).unwrap();
    let (_wal, _) = Wal::open(tmp.path(), opts(100), 5000, obs()).unwrap();
    assert_eq!(std::fs::read_dir(&taken).unwrap().count(), 0);
    let second = tmp
        .path()
        .join(format!("{SUPERSEDED_PREFIX}{:020}-1", 5000));
    assert!(second.join("wal-00000000000000001001.log").is_file());
    assert!(aside.is_dir());
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        /// The decoder never panics and never returns more than the valid prefix.
        #[test]
        fn decode_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let d = decode_records(&bytes);
            prop_assert!(d.valid_len <= bytes.len());
        }

        /// Mutating a valid log at any byte never yields a record that was not written.
        #[test]
        fn decode_mutated_log(pos in 0usize..400, bit in 0u8..8, n in 1u64..12) {
            let mut bytes = Vec::new();
            for lsn in 1..=n {
                bytes.extend(encode_record(lsn, &payload(lsn)));
            }
            let pos = pos % bytes.len();
            bytes[pos] ^= 1 << bit;
            let d = decode_records(&bytes);
            for e in &d.records {
                prop_assert_eq!(&e.payload, &payload(e.lsn));
            }
        }
    }
}

#[test]
fn wal_sync_parses_from_config_text() {
    assert_eq!("always".parse::<WalSync>().unwrap(), WalSync::Always);
    assert_eq!("never".parse::<WalSync>().unwrap(), WalSync::Never);
    assert_eq!(
        "sometimes".parse::<WalSync>().unwrap_err().code(),
        "invalid_config"
    );
    assert_eq!(
        serde_json::from_str::<WalSync>("\"never\"").unwrap(),
        WalSync::Never
    );
}

fn first_lsn_of(file: &Path) -> u64 {
    file.file_name().unwrap().to_str().unwrap()[4..24]
        .parse()
        .unwrap()
}

fn lsns(entries: &[akidb_storage::wal::WalEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.lsn).collect()
}

#[test]
fn read_after_spans_files_and_reports_truncated_records_as_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(128), 0, obs()).unwrap();
    for i in 1..=60 {
        wal.append(&payload(i)).unwrap();
    }
    assert!(wal_files(tmp.path()).len() > 5);
    let all = wal.read_after(0, 60).unwrap();
    assert_eq!(lsns(&all), (1..=60).collect::<Vec<_>>());
    for e in &all {
        assert_eq!(e.payload, payload(e.lsn));
    }
    assert_eq!(
        lsns(&wal.read_after(13, 37).unwrap()),
        (14..=37).collect::<Vec<_>>()
    );
    assert_eq!(lsns(&wal.read_after(59, 60).unwrap()), vec![60]);
    assert!(wal.read_after(20, 20).unwrap().is_empty());
    assert!(wal.read_after(60, 60).unwrap().is_empty());
    let err = wal.read_after(50, 61).unwrap_err();
    assert_eq!(err.code(), "invalid_lsn_range", "{err}");

    // A half-written record after the last one in the active file is not read.
    let active = wal_files(tmp.path()).pop().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&active)
        .unwrap();
    std::io::Write::write_all(&mut f, &encode_record(61, b"torn")[..9]).unwrap();
    assert_eq!(
        lsns(&wal.read_after(40, 60).unwrap()),
        (41..=60).collect::<Vec<_>>()
    );

    wal.truncate_through(30).unwrap();
    let first = first_lsn_of(&wal_files(tmp.path())[0]);
    assert!(first > 1 && first <= 31, "{first}");
    let err = wal.read_after(0, 60).unwrap_err();
    assert_eq!(err.code(), "wal_records_gone", "{err}");
    assert_eq!(err.kind(), akidb_core::ErrorKind::NotFound);
    let err = wal.read_after(first - 2, first).unwrap_err();
    assert_eq!(err.code(), "wal_records_gone", "{err}");
    assert_eq!(
        lsns(&wal.read_after(first - 1, 60).unwrap()),
        (first..=60).collect::<Vec<_>>()
    );
    drop(wal);

    // After a reopen (which cuts the torn tail) reading works the same; records the
    // directory never held (before the snapshot it starts after) are gone too.
    let (wal, _) = Wal::open(tmp.path(), opts(128), 45, obs()).unwrap();
    assert_eq!(
        lsns(&wal.read_after(first - 1, 60).unwrap()),
        (first..=60).collect::<Vec<_>>()
    );
    assert_eq!(wal.append(b"after").unwrap(), 61);
    let tail = wal.read_after(58, 61).unwrap();
    assert_eq!(lsns(&tail), vec![59, 60, 61]);
    assert_eq!(tail[2].payload, b"after");
    let fresh = tempfile::tempdir().unwrap();
    let (wal2, _) = Wal::open(fresh.path(), opts(128), 100, obs()).unwrap();
    wal2.append(b"x").unwrap();
    assert_eq!(lsns(&wal2.read_after(100, 101).unwrap()), vec![101]);
    assert_eq!(
        wal2.read_after(99, 101).unwrap_err().code(),
        "wal_records_gone"
    );
}

#[test]
fn read_after_reports_damage_before_upto_as_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(128), 0, obs()).unwrap();
    for i in 1..=40 {
        wal.append(&[i as u8; 20]).unwrap();
    }
    // Damage the payload of the first record of a sealed file in the middle.
    let files = wal_files(tmp.path());
    let victim = &files[files.len() / 2];
    let victim_lsn = first_lsn_of(victim);
    let mut bytes = std::fs::read(victim).unwrap();
    bytes[RECORD_HEADER_BYTES + 3] ^= 0x40;
    std::fs::write(victim, &bytes).unwrap();
    let err = wal.read_after(0, 40).unwrap_err();
    assert_eq!(err.code(), "data_corruption", "{err}");
    assert!(
        err.message()
            .contains(victim.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    assert!(err.message().contains("offset 0"), "{err}");
    // Ranges that do not include the damaged record still read.
    assert_eq!(
        lsns(&wal.read_after(0, victim_lsn - 1).unwrap()),
        (1..victim_lsn).collect::<Vec<_>>()
    );
    assert_eq!(
        lsns(&wal.read_after(victim_lsn, 40).unwrap()),
        (victim_lsn + 1..=40).collect::<Vec<_>>()
    );

    // A file cut short before `upto_lsn` is corruption too, not a short answer.
    let victim2 = &files[1];
    let len = std::fs::metadata(victim2).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(victim2)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let err = wal.read_after(0, victim_lsn - 1).unwrap_err();
    assert_eq!(err.code(), "data_corruption", "{err}");
    assert!(
        err.message()
            .contains(victim2.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
}

#[test]
fn read_after_while_appending_and_truncating_concurrently() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    const PER_WRITER: u32 = 200;
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(200), 0, obs()).unwrap();
    let wal = Arc::new(wal);
    let writers: Vec<_> = (0..2u8)
        .map(|w| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                for seq in 0..PER_WRITER {
                    let mut p = vec![w];
                    p.extend_from_slice(&seq.to_le_bytes());
                    wal.append(&p).unwrap();
                }
            })
        })
        .collect();
    // Files whose records were all shipped are removed behind the reader's back.
    let shipped = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let truncator = {
        let (wal, shipped, done) = (wal.clone(), shipped.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                wal.truncate_through(shipped.load(Ordering::Relaxed))
                    .unwrap();
                std::thread::yield_now();
            }
        })
    };
    let total = 2 * PER_WRITER as u64;
    let mut next_seq = [0u32; 2];
    let mut reads = 0;
    let mut last = 0;
    while last < total {
        let upto = wal.durable_lsn();
        let got = wal.read_after(last, upto).unwrap();
        assert_eq!(lsns(&got), (last + 1..=upto).collect::<Vec<_>>());
        for e in &got {
            let w = e.payload[0] as usize;
            let seq = u32::from_le_bytes(e.payload[1..5].try_into().unwrap());
            assert_eq!(seq, next_seq[w], "writer {w}'s records in append order");
            next_seq[w] += 1;
        }
        last = upto;
        shipped.store(last, Ordering::Relaxed);
        reads += 1;
    }
    done.store(true, Ordering::Relaxed);
    truncator.join().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(next_seq, [PER_WRITER; 2]);
    assert_eq!(wal.last_lsn(), total);
    assert!(reads > 1);
}

#[test]
fn read_after_returns_payloads_written_concurrently() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(300), 0, obs()).unwrap();
    let wal = Arc::new(wal);
    let writer = {
        let wal = wal.clone();
        std::thread::spawn(move || {
            for i in 1..=300u64 {
                // append_at keeps LSN and payload in step, like a follower would.
                wal.append_at(i, &payload(i)).unwrap();
            }
        })
    };
    let mut shipped = 0;
    while shipped < 300 {
        let upto = wal.durable_lsn();
        for e in wal.read_after(shipped, upto).unwrap() {
            assert_eq!(e.lsn, shipped + 1);
            assert_eq!(e.payload, payload(e.lsn));
            shipped = e.lsn;
        }
        assert_eq!(shipped, upto);
    }
    writer.join().unwrap();
}

#[test]
fn append_at_only_appends_the_next_lsn() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap();
    wal.append_at(1, b"one").unwrap();
    for bad in [0, 1, 3, 100] {
        let err = wal.append_at(bad, b"bad").unwrap_err();
        assert_eq!(err.code(), "lsn_out_of_order", "{err}");
        assert_eq!(err.kind(), akidb_core::ErrorKind::Conflict);
    }
    assert_eq!(wal.last_lsn(), 1);
    wal.append_at(2, b"two").unwrap();
    assert_eq!(wal.durable_lsn(), 2, "append_at waits for durability");
    assert_eq!(wal.append(b"three").unwrap(), 3);
    let got = wal.read_after(0, 3).unwrap();
    assert_eq!(
        got.iter().map(|e| e.payload.as_slice()).collect::<Vec<_>>(),
        vec![&b"one"[..], b"two", b"three"]
    );
    drop(wal);
    let (wal, recovered) = Wal::open(tmp.path(), opts(1 << 20), 0, obs()).unwrap();
    assert_eq!(recovered.len(), 3);
    assert_eq!(
        wal.append_at(5, b"x").unwrap_err().code(),
        "lsn_out_of_order"
    );
    wal.append_at(4, b"four").unwrap();

    // A follower starting from a snapshot continues at the writer's LSNs.
    let fresh = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(fresh.path(), opts(1 << 20), 41, obs()).unwrap();
    assert_eq!(
        wal.append_at(41, b"x").unwrap_err().code(),
        "lsn_out_of_order"
    );
    wal.append_at(42, b"x").unwrap();
    assert_eq!(wal.last_lsn(), 42);
}
