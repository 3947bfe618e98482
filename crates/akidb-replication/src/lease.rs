//! The per-collection lease at `collections/{name}/lease.json`: who writes the collection,
//! where to reach it, and since which LSN its epoch counts. Created with `If-None-Match`,
//! renewed, taken over and released with `If-Match`, so two nodes can never both believe
//! a write of theirs won.

use std::sync::Arc;

use akidb_core::{CollectionConfig, Error, Result};
use akidb_storage::ObjectStore;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Key of a collection's lease object.
pub fn lease_key(collection: &str) -> String {
    format!("collections/{collection}/lease.json")
}

/// The collection name of a lease key, or None for any other key.
pub fn collection_of_lease_key(key: &str) -> Option<&str> {
    key.strip_prefix("collections/")?
        .strip_suffix("/lease.json")
}

/// The lease document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    /// Node id of the writer.
    pub holder: String,
    /// The writer's advertised REST URL (where followers forward writes).
    pub rest_url: String,
    /// The writer's advertised gRPC URL.
    pub grpc_url: String,
    /// Incremented by every change of writer; log objects carry it.
    pub epoch: u64,
    /// First LSN of this epoch (None only in leases written by older builds).
    pub start_lsn: Option<u64>,
    /// Lease length in ms: followers take over after seeing it unchanged this long.
    pub lease_ms: u64,
    /// The holder's wall clock at the last renewal (informational).
    pub renewed_at_ms: u64,
    /// Set by a handover: the holder has stopped writing and shipped everything.
    #[serde(default)]
    pub released: bool,
    /// The node a handover is meant for (None: any follower).
    #[serde(default)]
    pub handover_to: Option<String>,
    /// The collection's configuration, so a follower can start without a snapshot.
    pub config: CollectionConfig,
}

/// A lease as read, with the ETag that a conditional replace must name.
#[derive(Debug, Clone)]
pub struct Held {
    /// The document.
    pub lease: Lease,
    /// Its ETag.
    pub etag: String,
}

/// Reads the lease; None when the collection has none (dropped, or not replicated yet).
///
/// A lease that does not parse is `lease_damaged`: nobody may take over a collection
/// whose lease cannot be read, so an operator must look (docs/replication.md, runbook).
pub async fn read(store: &Arc<dyn ObjectStore>, collection: &str) -> Result<Option<Held>> {
    let key = lease_key(collection);
    let Some(v) = store.get_versioned(&key).await? else {
        return Ok(None);
    };
    let lease = serde_json::from_slice(&v.data).map_err(|e| {
        Error::corruption(format!(
            "lease object {key} cannot be read ({e}); fix or delete it (docs/replication.md, \
             'a damaged lease')"
        ))
    })?;
    Ok(Some(Held {
        lease,
        etag: v.etag,
    }))
}

/// Creates the lease of a new collection; `precondition_failed` when one exists.
pub async fn create(store: &Arc<dyn ObjectStore>, lease: &Lease) -> Result<String> {
    store
        .put_if_absent(&lease_key(&lease.config.name), body(lease))
        .await
}

/// Replaces the lease if it is still at `etag`; `precondition_failed` when it moved on.
pub async fn replace(store: &Arc<dyn ObjectStore>, lease: &Lease, etag: &str) -> Result<String> {
    store
        .put_if_match(&lease_key(&lease.config.name), body(lease), etag)
        .await
}

fn body(lease: &Lease) -> Bytes {
    Bytes::from(serde_json::to_vec_pretty(lease).expect("a lease serialises"))
}

/// Milliseconds since the Unix epoch by this node's wall clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
