//! The engine's WAL record format (the WAL itself only frames and checksums bytes).
//!
//! Layout, little-endian: `tag u8` then
//! - `1` upsert: `count u32`, `dim u32`, then per point: id, `dim` × f32, `payload_len u32`, payload JSON;
//! - `2` delete: `count u32`, then ids;
//! - `3` merge payload / `4` overwrite payload: `payload_len u32`, payload JSON, `count u32`, ids;
//! - `5` delete payload keys: `key_count u32`, per key `len u32` + UTF-8, `count u32`, ids.
//!
//! Payload updates by filter are logged as the ids the filter resolved to, like deletes.
//!
//! An id is `0 u8` + `u64`, or `1 u8` + `len u16` + UTF-8 bytes, so a string id longer
//! than [`MAX_WAL_STRING_ID_BYTES`] cannot be logged: [`Op::encode`] refuses it
//! (`invalid_id`) instead of truncating its length prefix.
//! Vectors are stored prepared (unit length for cosine), exactly as they are kept in memory.

use akidb_core::{Error, Payload, PointId, Result};

/// One logged write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// Insert or replace points (vectors already prepared).
    Upsert(Vec<PreparedPoint>),
    /// Remove points by id (delete-by-filter is logged as the ids it resolved to).
    Delete(Vec<PointId>),
    /// Change the payloads of existing points (ids that no longer exist are skipped).
    Payload(Vec<PointId>, PayloadChange),
}

/// How a payload update changes each payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PayloadChange {
    /// Set these keys, keeping the others.
    Merge(Payload),
    /// Replace the whole payload.
    Overwrite(Payload),
    /// Remove these top-level keys.
    DeleteKeys(Vec<String>),
}

impl PayloadChange {
    /// Applies the change to one payload.
    pub(crate) fn apply_to(&self, p: &mut Payload) {
        match self {
            PayloadChange::Merge(m) => {
                for (k, v) in m {
                    p.insert(k.clone(), v.clone());
                }
            }
            PayloadChange::Overwrite(m) => *p = m.clone(),
            PayloadChange::DeleteKeys(keys) => {
                for k in keys {
                    p.remove(k);
                }
            }
        }
    }
}

/// A validated point with its vector in stored form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PreparedPoint {
    pub id: PointId,
    pub vector: Vec<f32>,
    pub payload: Payload,
}

const TAG_UPSERT: u8 = 1;
const TAG_DELETE: u8 = 2;
const TAG_MERGE_PAYLOAD: u8 = 3;
const TAG_OVERWRITE_PAYLOAD: u8 = 4;
const TAG_DELETE_PAYLOAD_KEYS: u8 = 5;

/// Longest string id the record format can hold (its length is a `u16`).
pub(crate) const MAX_WAL_STRING_ID_BYTES: usize = u16::MAX as usize;

fn put_id(out: &mut Vec<u8>, id: &PointId) -> Result<()> {
    match id {
        PointId::Num(n) => {
            out.push(0);
            out.extend_from_slice(&n.to_le_bytes());
        }
        PointId::Str(s) => {
            // `as u16` would silently wrap: the record would decode to a different id (or
            // fail to decode at all) after a restart.
            let len = u16::try_from(s.len()).map_err(|_| {
                Error::invalid(
                    "invalid_id",
                    format!(
                        "a string id may be at most {MAX_WAL_STRING_ID_BYTES} bytes, got {}",
                        s.len()
                    ),
                )
            })?;
            out.push(1);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    Ok(())
}

impl Op {
    /// Serialises the op into a WAL payload; an id the format cannot hold is `invalid_id`.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match self {
            Op::Upsert(points) => {
                let dim = points.first().map_or(0, |p| p.vector.len());
                out.reserve(9 + points.len() * (dim * 4 + 32));
                out.push(TAG_UPSERT);
                out.extend_from_slice(&(points.len() as u32).to_le_bytes());
                out.extend_from_slice(&(dim as u32).to_le_bytes());
                for p in points {
                    put_id(&mut out, &p.id)?;
                    for x in &p.vector {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                    let json = serde_json::to_vec(&p.payload).unwrap_or_else(|_| b"{}".to_vec());
                    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
                    out.extend_from_slice(&json);
                }
            }
            Op::Delete(ids) => {
                out.push(TAG_DELETE);
                out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
                for id in ids {
                    put_id(&mut out, id)?;
                }
            }
            Op::Payload(ids, change) => {
                match change {
                    PayloadChange::Merge(p) | PayloadChange::Overwrite(p) => {
                        out.push(if matches!(change, PayloadChange::Merge(_)) {
                            TAG_MERGE_PAYLOAD
                        } else {
                            TAG_OVERWRITE_PAYLOAD
                        });
                        let json = serde_json::to_vec(p).unwrap_or_else(|_| b"{}".to_vec());
                        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
                        out.extend_from_slice(&json);
                    }
                    PayloadChange::DeleteKeys(keys) => {
                        out.push(TAG_DELETE_PAYLOAD_KEYS);
                        out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
                        for k in keys {
                            out.extend_from_slice(&(k.len() as u32).to_le_bytes());
                            out.extend_from_slice(k.as_bytes());
                        }
                    }
                }
                out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
                for id in ids {
                    put_id(&mut out, id)?;
                }
            }
        }
        Ok(out)
    }

    /// Parses a WAL payload; `lsn` only names the record in errors.
    pub(crate) fn decode(bytes: &[u8], lsn: u64) -> Result<Op> {
        let mut r = Reader { bytes, pos: 0, lsn };
        match r.u8()? {
            TAG_UPSERT => {
                let count = r.u32()? as usize;
                let dim = r.u32()? as usize;
                let mut points = Vec::with_capacity(count.min(1 << 20));
                for _ in 0..count {
                    let id = r.id()?;
                    let raw = r.take(dim * 4)?;
                    let vector = raw
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    let len = r.u32()? as usize;
                    let json = r.take(len)?;
                    let payload: Payload = serde_json::from_slice(json)
                        .map_err(|e| r.bad(&format!("payload is not a JSON object: {e}")))?;
                    points.push(PreparedPoint {
                        id,
                        vector,
                        payload,
                    });
                }
                r.finish()?;
                Ok(Op::Upsert(points))
            }
            TAG_DELETE => {
                let count = r.u32()? as usize;
                let mut ids = Vec::with_capacity(count.min(1 << 20));
                for _ in 0..count {
                    ids.push(r.id()?);
                }
                r.finish()?;
                Ok(Op::Delete(ids))
            }
            tag @ (TAG_MERGE_PAYLOAD | TAG_OVERWRITE_PAYLOAD | TAG_DELETE_PAYLOAD_KEYS) => {
                let change = if tag == TAG_DELETE_PAYLOAD_KEYS {
                    let count = r.u32()? as usize;
                    let mut keys = Vec::with_capacity(count.min(1 << 16));
                    for _ in 0..count {
                        let len = r.u32()? as usize;
                        let key = std::str::from_utf8(r.take(len)?)
                            .map_err(|_| r.bad("payload key is not UTF-8"))?;
                        keys.push(key.to_string());
                    }
                    PayloadChange::DeleteKeys(keys)
                } else {
                    let len = r.u32()? as usize;
                    let json = r.take(len)?;
                    let payload: Payload = serde_json::from_slice(json)
                        .map_err(|e| r.bad(&format!("payload is not a JSON object: {e}")))?;
                    if tag == TAG_MERGE_PAYLOAD {
                        PayloadChange::Merge(payload)
                    } else {
                        PayloadChange::Overwrite(payload)
                    }
                };
                let count = r.u32()? as usize;
                let mut ids = Vec::with_capacity(count.min(1 << 20));
                for _ in 0..count {
                    ids.push(r.id()?);
                }
                r.finish()?;
                Ok(Op::Payload(ids, change))
            }
            other => Err(r.bad(&format!("unknown record tag {other}"))),
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    lsn: u64,
}

impl<'a> Reader<'a> {
    fn bad(&self, what: &str) -> Error {
        Error::corruption(format!(
            "WAL record lsn {} is malformed at byte {}: {what}",
            self.lsn, self.pos
        ))
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() - self.pos < n {
            return Err(self.bad("record ends early"));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn id(&mut self) -> Result<PointId> {
        match self.u8()? {
            0 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Ok(PointId::Num(u64::from_le_bytes(a)))
            }
            1 => {
                let b = self.take(2)?;
                let len = u16::from_le_bytes([b[0], b[1]]) as usize;
                let s = std::str::from_utf8(self.take(len)?)
                    .map_err(|_| self.bad("string id is not UTF-8"))?;
                Ok(PointId::Str(s.to_string()))
            }
            t => Err(self.bad(&format!("unknown id tag {t}"))),
        }
    }
    fn finish(&self) -> Result<()> {
        if self.pos != self.bytes.len() {
            return Err(self.bad("trailing bytes"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip() {
        let mut payload = Payload::new();
        payload.insert("a".into(), serde_json::json!({"b": [1, 2]}));
        let up = Op::Upsert(vec![
            PreparedPoint {
                id: PointId::Num(7),
                vector: vec![1.0, -2.5],
                payload,
            },
            PreparedPoint {
                id: PointId::Str("x-1".into()),
                vector: vec![0.0, 3.0],
                payload: Payload::new(),
            },
        ]);
        assert_eq!(Op::decode(&up.encode().unwrap(), 1).unwrap(), up);
        let del = Op::Delete(vec![PointId::Num(1), PointId::Str("é".into())]);
        assert_eq!(Op::decode(&del.encode().unwrap(), 2).unwrap(), del);
        assert_eq!(Op::decode(&[], 3).unwrap_err().code(), "data_corruption");
        let mut bytes = del.encode().unwrap();
        bytes.pop();
        assert!(Op::decode(&bytes, 4).is_err());
        assert!(Op::decode(&[9], 5).is_err());
    }

    #[test]
    fn payload_ops_round_trip() {
        let mut payload = Payload::new();
        payload.insert("k".into(), serde_json::json!([1, "two", null]));
        let ids = vec![PointId::Num(3), PointId::Str("s".into())];
        for change in [
            PayloadChange::Merge(payload.clone()),
            PayloadChange::Overwrite(payload),
            PayloadChange::Overwrite(Payload::new()),
            PayloadChange::DeleteKeys(vec!["a".into(), "é.b".into(), String::new()]),
            PayloadChange::DeleteKeys(Vec::new()),
        ] {
            let op = Op::Payload(ids.clone(), change);
            let bytes = op.encode().unwrap();
            assert_eq!(Op::decode(&bytes, 1).unwrap(), op);
            for cut in 0..bytes.len() {
                assert!(Op::decode(&bytes[..cut], 2).is_err(), "cut at {cut}");
            }
        }
    }

    fn upsert_of(id: PointId) -> Op {
        Op::Upsert(vec![PreparedPoint {
            id,
            vector: vec![1.0],
            payload: Payload::new(),
        }])
    }

    /// The length prefix is a u16: the longest id round-trips, a longer one is refused
    /// instead of being logged with a wrapped length (issue #15).
    #[test]
    fn string_id_length_limit() {
        let longest = upsert_of(PointId::Str("a".repeat(MAX_WAL_STRING_ID_BYTES)));
        assert_eq!(Op::decode(&longest.encode().unwrap(), 1).unwrap(), longest);
        for len in [MAX_WAL_STRING_ID_BYTES + 1, 70_000] {
            let id = PointId::Str("b".repeat(len));
            let err = upsert_of(id.clone()).encode().unwrap_err();
            assert_eq!(err.code(), "invalid_id");
            assert!(err.message().contains(&len.to_string()), "{err}");
            let err = Op::Delete(vec![id]).encode().unwrap_err();
            assert_eq!(err.code(), "invalid_id");
        }
    }
}
