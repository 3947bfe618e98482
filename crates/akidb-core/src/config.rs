//! Collection configuration and its validation.

use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::{Error, Metric, Result};

/// Largest allowed vector dimension.
pub const MAX_DIMENSION: usize = 4096;

/// The settings a collection is created with; immutable afterwards except `tier`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionConfig {
    /// `[a-zA-Z0-9_-]{1,64}`.
    pub name: String,
    /// Number of f32 components of every vector, 1..=4096.
    pub dimension: usize,
    /// How vectors are compared.
    pub metric: Metric,
    /// HNSW parameters.
    #[serde(default)]
    pub index: IndexParams,
    /// Per-collection overrides of the server's tier policy.
    #[serde(default, skip_serializing_if = "TierOverrides::is_empty")]
    pub tier: TierOverrides,
    /// The full-text (BM25) index on one payload key, if any; set at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_index: Option<crate::text::TextIndexConfig>,
}

/// Which graph implementation backs a collection's sealed segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexKind {
    /// AkiDB's own HNSW (flat neighbour arrays, SIMD kernels); the default.
    #[default]
    Hnsw,
    /// The `hnsw_rs` crate, kept as a reference implementation.
    HnswRs,
}

/// HNSW build and search parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexParams {
    /// Neighbours per node per layer (2..=128).
    #[serde(default = "default_m")]
    pub m: usize,
    /// Candidate list size while building (m..=4096).
    #[serde(default = "default_ef_construction")]
    pub ef_construction: usize,
    /// Default candidate list size while searching (1..=10000); requests may override.
    #[serde(default = "default_ef_search")]
    pub ef_search: usize,
    /// Graph implementation.
    #[serde(default)]
    pub kind: IndexKind,
}

fn default_m() -> usize {
    16
}
fn default_ef_construction() -> usize {
    200
}
fn default_ef_search() -> usize {
    64
}

impl Default for IndexParams {
    fn default() -> Self {
        Self {
            m: default_m(),
            ef_construction: default_ef_construction(),
            ef_search: default_ef_search(),
            kind: IndexKind::default(),
        }
    }
}

/// Per-collection tier policy; `None` means "use the server default".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierOverrides {
    /// Idle time before hot → warm, e.g. `"6h"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_idle: Option<String>,
    /// Idle time before warm → cold, e.g. `"7d"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_idle: Option<String>,
    /// Keep the collection hot whatever the policy says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<bool>,
}

impl TierOverrides {
    /// True when nothing is overridden.
    pub fn is_empty(&self) -> bool {
        self.hot_idle.is_none() && self.warm_idle.is_none() && self.pin.is_none()
    }
}

/// Checks a collection name against `[a-zA-Z0-9_-]{1,64}`.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_collection_name",
            format!("collection name '{name}' must match [a-zA-Z0-9_-]{{1,64}}"),
        ))
    }
}

/// Parses a duration such as `"250ms"`, `"30s"`, `"15m"`, `"6h"` or `"7d"`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid(
            "invalid_duration",
            format!("'{text}' is not a duration: use a number with ms, s, m, h or d, e.g. \"6h\""),
        )
    };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = |m: u64| n.checked_mul(m).map(Duration::from_secs).ok_or_else(bad);
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => Err(bad()),
    }
}

impl CollectionConfig {
    /// A config with default index parameters and no tier overrides.
    pub fn new(name: impl Into<String>, dimension: usize, metric: Metric) -> Self {
        Self {
            name: name.into(),
            dimension,
            metric,
            index: IndexParams::default(),
            tier: TierOverrides::default(),
            text_index: None,
        }
    }

    /// Checks every field; the error code names the field at fault.
    pub fn validate(&self) -> Result<()> {
        validate_name(&self.name)?;
        if self.dimension == 0 || self.dimension > MAX_DIMENSION {
            return Err(Error::invalid(
                "invalid_dimension",
                format!(
                    "dimension must be 1..={MAX_DIMENSION}, got {}",
                    self.dimension
                ),
            ));
        }
        let p = &self.index;
        if !(2..=128).contains(&p.m) {
            return Err(Error::invalid(
                "invalid_index_params",
                format!("index.m must be 2..=128, got {}", p.m),
            ));
        }
        if p.ef_construction < p.m || p.ef_construction > 4096 {
            return Err(Error::invalid(
                "invalid_index_params",
                format!(
                    "index.ef_construction must be m..=4096 ({}..=4096), got {}",
                    p.m, p.ef_construction
                ),
            ));
        }
        if !(1..=10_000).contains(&p.ef_search) {
            return Err(Error::invalid(
                "invalid_index_params",
                format!("index.ef_search must be 1..=10000, got {}", p.ef_search),
            ));
        }
        for d in [&self.tier.hot_idle, &self.tier.warm_idle]
            .into_iter()
            .flatten()
        {
            parse_duration(d)?;
        }
        if let Some(t) = &self.text_index {
            t.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let ok = CollectionConfig::new("docs_1-a", 384, Metric::Cosine);
        ok.validate().unwrap();
        let mut c = ok.clone();
        c.name = "bad name".into();
        assert_eq!(c.validate().unwrap_err().code(), "invalid_collection_name");
        let mut c = ok.clone();
        c.dimension = 0;
        assert_eq!(c.validate().unwrap_err().code(), "invalid_dimension");
        c.dimension = 4097;
        assert_eq!(c.validate().unwrap_err().code(), "invalid_dimension");
        let mut c = ok.clone();
        c.index.m = 1;
        assert_eq!(c.validate().unwrap_err().code(), "invalid_index_params");
        let mut c = ok;
        c.tier.hot_idle = Some("soon".into());
        assert_eq!(c.validate().unwrap_err().code(), "invalid_duration");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("6h").unwrap(), Duration::from_secs(21600));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604800));
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn json_shape_round_trips() {
        let c: CollectionConfig = serde_json::from_str(
            r#"{"name":"a","dimension":3,"metric":"l2","index":{"m":8,"ef_construction":64,"ef_search":32}}"#,
        )
        .unwrap();
        assert_eq!(c.index.m, 8);
        assert!(serde_json::from_str::<CollectionConfig>(
            r#"{"name":"a","dimension":3,"metric":"l2","x":1}"#
        )
        .is_err());
    }
}
