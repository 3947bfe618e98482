//! Point ids: an unsigned 64-bit integer, or a string that is not all digits.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

use crate::{Error, Result};

/// Longest string id, in bytes.
pub const MAX_STRING_ID_BYTES: usize = 256;

/// A point id. Integers sort before strings; each sorts naturally.
///
/// A string id may not be all digits, so a path segment of digits always names
/// an integer id and `"7"` and `7` can never denote two different points.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PointId {
    /// An unsigned integer id.
    Num(u64),
    /// A string id of 1..=256 bytes, not all ASCII digits.
    Str(String),
}

impl PointId {
    /// Validates and wraps a string id.
    pub fn string(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        if s.is_empty() || s.len() > MAX_STRING_ID_BYTES {
            return Err(Error::invalid(
                "invalid_id",
                format!(
                    "a string id must be 1..={MAX_STRING_ID_BYTES} bytes, got {}",
                    s.len()
                ),
            ));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(
                "invalid_id",
                format!("string id \"{s}\" is all digits: send it as the integer {s}"),
            ));
        }
        Ok(PointId::Str(s))
    }

    /// Parses a URL path segment: digits mean an integer id, anything else a string id.
    pub fn parse_path(segment: &str) -> Result<Self> {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            segment.parse::<u64>().map(PointId::Num).map_err(|_| {
                Error::invalid(
                    "invalid_id",
                    format!("integer id {segment} does not fit in 64 bits"),
                )
            })
        } else {
            Self::string(segment)
        }
    }

    /// Converts a JSON value (number or string) into an id.
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        match value {
            serde_json::Value::Number(n) => n.as_u64().map(PointId::Num).ok_or_else(|| {
                Error::invalid(
                    "invalid_id",
                    format!("id {n} is not an unsigned 64-bit integer"),
                )
            }),
            serde_json::Value::String(s) => Self::string(s.clone()),
            other => Err(Error::invalid(
                "invalid_id",
                format!("an id is an unsigned integer or a string, got {other}"),
            )),
        }
    }

    /// The id as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            PointId::Num(n) => serde_json::Value::from(*n),
            PointId::Str(s) => serde_json::Value::from(s.as_str()),
        }
    }
}

impl fmt::Display for PointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointId::Num(n) => write!(f, "{n}"),
            PointId::Str(s) => write!(f, "\"{s}\""),
        }
    }
}

impl From<u64> for PointId {
    fn from(n: u64) -> Self {
        PointId::Num(n)
    }
}

impl Serialize for PointId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            PointId::Num(n) => s.serialize_u64(*n),
            PointId::Str(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for PointId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        PointId::from_json(&value).map_err(|e| serde::de::Error::custom(e.message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_in_a_path_are_integers() {
        assert_eq!(PointId::parse_path("42").unwrap(), PointId::Num(42));
        assert_eq!(
            PointId::parse_path("doc-1").unwrap(),
            PointId::Str("doc-1".into())
        );
        assert!(PointId::parse_path("99999999999999999999").is_err());
    }

    #[test]
    fn string_ids_are_checked() {
        assert_eq!(PointId::string("123").unwrap_err().code(), "invalid_id");
        assert!(PointId::string("").is_err());
        assert!(PointId::string("x".repeat(257)).is_err());
        assert!(PointId::string("x".repeat(256)).is_ok());
        let parsed: PointId = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(parsed, PointId::Str("abc".into()));
        assert!(serde_json::from_str::<PointId>("-1").is_err());
        assert!(serde_json::from_str::<PointId>("1.5").is_err());
    }

    #[test]
    fn integers_sort_before_strings() {
        assert!(PointId::Num(u64::MAX) < PointId::Str("a".into()));
        assert!(PointId::Num(2) < PointId::Num(10));
    }
}
