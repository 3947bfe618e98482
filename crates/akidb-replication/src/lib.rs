//! Replication on S3 for AkiDB: one fenced writer per collection, followers that apply
//! its shipped log, failover when the writer dies and handover when it leaves.
//!
//! The object store is the only shared state and its conditional writes the only
//! coordination (no consensus of our own): [`lease`] holds who writes, [`log`] is what
//! they wrote, [`Replicator`] runs both for one node. The model, the guarantees of each
//! `replication.ack` mode and the failure cases are in docs/replication.md.

pub mod lease;
pub mod log;
mod node;

pub use node::{AckMode, Handover, ReplicaStatus, ReplicationConfig, Replicator, Role, Route};
