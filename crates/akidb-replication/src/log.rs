//! Log objects: the writer's WAL records shipped to the bucket, immutable and checksummed,
//! at `collections/{name}/log/{epoch:020}-{first_lsn:020}.wal`, and the fencing rule that
//! says which of them count.
//!
//! Layout: `AKIDBLOG`, then little-endian `version u32, epoch u64, first_lsn u64,
//! count u32, shipped_at_ms u64`, then `count` WAL records (each with its own CRC, the
//! WAL's encoding), then a CRC32C of everything before it. An epoch's first object starts
//! at the epoch's start LSN, which the lease records before the epoch writes anything.

use std::collections::BTreeMap;

use akidb_core::{Error, Result};
use akidb_storage::wal::{decode_records_from, encode_record};
use akidb_storage::WalEntry;

const MAGIC: &[u8; 8] = b"AKIDBLOG";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 8 + 4 + 8 + 8 + 4 + 8;

/// Key prefix of a collection's log objects.
pub fn log_prefix(collection: &str) -> String {
    format!("collections/{collection}/log/")
}

/// Key of the log object of `epoch` whose first record is `first_lsn`.
pub fn log_key(collection: &str, epoch: u64, first_lsn: u64) -> String {
    format!("{}{epoch:020}-{first_lsn:020}.wal", log_prefix(collection))
}

/// The `(epoch, first_lsn)` of a log object key, or None for anything else.
pub fn parse_log_key(key: &str) -> Option<(u64, u64)> {
    let name = key.rsplit('/').next()?.strip_suffix(".wal")?;
    let (epoch, first) = name.split_once('-')?;
    if epoch.len() != 20 || first.len() != 20 {
        return None;
    }
    Some((epoch.parse().ok()?, first.parse().ok()?))
}

/// A decoded log object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogObject {
    /// The writer's epoch.
    pub epoch: u64,
    /// LSN of the first record.
    pub first_lsn: u64,
    /// The writer's wall clock when it shipped the object, in ms since the Unix epoch.
    pub shipped_at_ms: u64,
    /// Contiguous records from `first_lsn`.
    pub records: Vec<WalEntry>,
}

/// Encodes a log object; `records` must be contiguous from `first_lsn`.
pub fn encode(epoch: u64, first_lsn: u64, shipped_at_ms: u64, records: &[WalEntry]) -> Vec<u8> {
    let body: usize = records.iter().map(|r| r.payload.len() + 20).sum();
    let mut out = Vec::with_capacity(HEADER_BYTES + body + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&epoch.to_le_bytes());
    out.extend_from_slice(&first_lsn.to_le_bytes());
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    out.extend_from_slice(&shipped_at_ms.to_le_bytes());
    for r in records {
        out.extend_from_slice(&encode_record(r.lsn, &r.payload));
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes and verifies a log object read from `key`.
pub fn decode(key: &str, bytes: &[u8]) -> Result<LogObject> {
    let bad = |why: &str| Error::corruption(format!("log object {key} is damaged: {why}"));
    if bytes.len() < HEADER_BYTES + 4 || &bytes[..8] != MAGIC {
        return Err(bad("not a log object (bad magic or too short)"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(bad("checksum mismatch"));
    }
    let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
    if u32_at(8) != VERSION {
        return Err(bad(&format!("unknown version {}", u32_at(8))));
    }
    let (epoch, first_lsn, count, shipped_at_ms) = (u64_at(12), u64_at(20), u32_at(28), u64_at(32));
    if parse_log_key(key).is_some_and(|k| k != (epoch, first_lsn)) {
        return Err(bad("its header does not match its name"));
    }
    let decoded = decode_records_from(&body[HEADER_BYTES..], Some(first_lsn));
    if decoded.damage.is_some() || decoded.records.len() != count as usize {
        return Err(bad("a record failed its checksum or the count is wrong"));
    }
    if decoded
        .records
        .iter()
        .enumerate()
        .any(|(i, r)| r.lsn != first_lsn + i as u64)
    {
        return Err(bad("records are not contiguous from the first LSN"));
    }
    Ok(LogObject {
        epoch,
        first_lsn,
        shipped_at_ms,
        records: decoded.records,
    })
}

/// What the bucket's log says, as far as fencing is concerned: where each epoch starts.
///
/// A record at LSN `x` shipped in epoch `e` counts only when no later epoch starts at or
/// before `x`: a writer that lost its lease may still put objects, but they sit behind the
/// next epoch's start and are never applied.
#[derive(Debug, Clone, Default)]
pub struct LogIndex {
    /// epoch → its log objects' first LSNs, ascending.
    pub objects: BTreeMap<u64, Vec<u64>>,
    /// epoch → start LSN (its first object, or the lease for the current epoch).
    pub starts: BTreeMap<u64, u64>,
}

impl LogIndex {
    /// Builds the index from a listing of log keys plus the current lease's epoch start.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>, current: Option<(u64, u64)>) -> Self {
        let mut idx = LogIndex::default();
        for (epoch, first) in keys.into_iter().filter_map(parse_log_key) {
            idx.objects.entry(epoch).or_default().push(first);
        }
        for (epoch, firsts) in idx.objects.iter_mut() {
            firsts.sort_unstable();
            idx.starts.insert(*epoch, firsts[0]);
        }
        if let Some((epoch, start)) = current {
            idx.starts.insert(epoch, start);
            idx.objects.retain(|e, _| *e <= epoch);
            idx.starts.retain(|e, _| *e <= epoch);
        }
        idx
    }

    /// The first LSN that epoch `epoch` may not ship any more (a later epoch's start).
    pub fn fence_of(&self, epoch: u64) -> u64 {
        self.starts
            .range(epoch + 1..)
            .map(|(_, s)| *s)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// The object holding the record `lsn`, if the log has one that counts:
    /// `(epoch, first_lsn)` of the owning epoch's last object starting at or before `lsn`.
    pub fn object_for(&self, lsn: u64) -> Option<(u64, u64)> {
        let (epoch, _) = self
            .starts
            .iter()
            .rev()
            .find(|(e, s)| **s <= lsn && self.fence_of(**e) > lsn)?;
        let first = *self.objects.get(epoch)?.iter().rev().find(|f| **f <= lsn)?;
        Some((*epoch, first))
    }

    /// Every object key whose records all lie at or below `lsn` given the next object's start.
    pub fn covered_through(&self, lsn: u64) -> Vec<(u64, u64)> {
        let mut all: Vec<(u64, u64)> = self
            .objects
            .iter()
            .flat_map(|(e, fs)| fs.iter().map(move |f| (*f, *e)))
            .collect();
        all.sort_unstable();
        let mut out = Vec::new();
        for pair in all.windows(2) {
            let ((first, epoch), (next_first, _)) = (pair[0], pair[1]);
            if next_first.saturating_sub(1) <= lsn && next_first > first {
                out.push((epoch, first));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(lsn: u64) -> WalEntry {
        WalEntry {
            lsn,
            payload: vec![lsn as u8; 3],
        }
    }

    #[test]
    fn round_trip_and_damage_is_refused() {
        let key = log_key("c", 2, 5);
        let bytes = encode(2, 5, 99, &[rec(5), rec(6)]);
        let obj = decode(&key, &bytes).unwrap();
        assert_eq!((obj.epoch, obj.first_lsn, obj.records.len()), (2, 5, 2));
        let mut bad = bytes.clone();
        bad[HEADER_BYTES + 3] ^= 1;
        assert_eq!(decode(&key, &bad).unwrap_err().code(), "data_corruption");
        assert!(
            decode(&log_key("c", 3, 5), &bytes).is_err(),
            "name mismatch"
        );
        assert_eq!(parse_log_key(&key), Some((2, 5)));
        assert_eq!(parse_log_key("collections/c/log/x.wal"), None);
    }

    #[test]
    fn a_later_epoch_fences_what_an_old_writer_ships_after_its_start() {
        // Epoch 1 shipped 1..=10 then 11..; epoch 2 started at 11; the old writer's
        // object at 11 arrives afterwards and must not count.
        let keys = [log_key("c", 1, 1), log_key("c", 1, 11), log_key("c", 2, 11)];
        let idx = LogIndex::new(keys.iter().map(|k| k.as_str()), Some((2, 11)));
        assert_eq!(idx.object_for(3), Some((1, 1)));
        assert_eq!(idx.object_for(11), Some((2, 11)));
        assert_eq!(idx.fence_of(1), 11);
        // The current lease's start counts before its marker exists.
        let keys = [log_key("c", 1, 1), log_key("c", 1, 11)];
        let idx = LogIndex::new(keys.iter().map(|k| k.as_str()), Some((2, 11)));
        assert_eq!(idx.object_for(11), None);
        assert_eq!(idx.object_for(10), Some((1, 1)));
    }
}
