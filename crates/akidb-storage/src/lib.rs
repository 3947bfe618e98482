//! Storage layer of AkiDB: the write-ahead log ([`wal`]), the Parquet snapshot codec
//! ([`snapshot`]), object stores — local filesystem and S3 ([`object_store`]) — the
//! circuit breaker guarding them ([`breaker`]), and the dead-letter queue for uploads
//! that could not be completed ([`dlq`]), and the test-only crash points ([`crash`]).
//!
//! Everything is synchronous except the object-store side, which is async (tokio).
//! The `testing` feature adds `testing::SeaweedFs`, a real S3 server (SeaweedFS) for tests.

#![warn(missing_docs)]

pub mod breaker;
pub mod crash;
pub mod dlq;
pub mod object_store;
#[cfg(feature = "s3")]
pub mod s3;
pub mod snapshot;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wal;

pub use breaker::{BreakerConfig, BreakerState, BreakerStore, CircuitBreaker};
pub use dlq::{DeadLetterQueue, DlqEntry, DlqRetryReport};
pub use object_store::{download_dir, upload_dir, LocalFs, ObjectMeta, ObjectStore, Versioned};
#[cfg(feature = "s3")]
pub use s3::{S3Config, S3Store};
pub use snapshot::{
    open_snapshot, read_manifest, read_snapshot, verify_snapshot, write_snapshot, ManifestFile,
    SnapshotBatch, SnapshotManifest, SnapshotReader, SnapshotRow, SnapshotWriter,
};
pub use wal::{decode_records, Decoded, Wal, WalEntry, WalOptions, WalSync};
