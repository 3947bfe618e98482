//! Core vocabulary of AkiDB: point ids, points, collection configuration,
//! distance metrics with SIMD kernels, the filter language and the error type.
//!
//! This crate does no I/O. Every other AkiDB crate speaks in these types, so a
//! value validated here (a name, a vector, a filter) is valid everywhere.

pub mod alias;
pub mod config;
pub mod distance;
pub mod error;
pub mod filter;
pub mod id;
pub mod info;
pub mod metric;
pub mod observe;
pub mod order;
pub mod point;
pub mod search;
pub mod text;
pub mod time;

pub use alias::{AliasAction, AliasInfo};
pub use config::{CollectionConfig, IndexKind, IndexParams, TierOverrides};
pub use error::{Error, ErrorKind, Result};
pub use filter::{Condition, Filter};
pub use id::PointId;
pub use info::CollectionStatus;
pub use metric::Metric;
pub use observe::{NoopObserver, Observer, Tier};
pub use order::{Direction, OrderBy, OrderCursor, OrderValue};
pub use point::{Payload, Point, DEFAULT_MAX_PAYLOAD_BYTES};
pub use search::{Fusion, HybridQuery, SearchQuery, TextQuery};
pub use search::{
    Hit, PayloadUpdate, PointSelector, Record, ScrollPage, ScrollRequest, SearchRequest,
    DEFAULT_MAX_K,
};
pub use text::TextIndexConfig;
