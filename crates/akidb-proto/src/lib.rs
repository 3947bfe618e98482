//! The AkiDB gRPC protocol `akidb.v1` (`proto/akidb/v1/akidb.proto`) and its
//! tonic/prost code, generated at build time with `protox` so no system `protoc`
//! is needed. Services `Collections`, `Points` and `Admin` mirror the REST API.

#![allow(clippy::all, missing_docs)]

/// Generated messages, clients (`*_client`) and servers (`*_server`) of `akidb.v1`.
pub mod v1 {
    tonic::include_proto!("akidb.v1");

    /// Encoded `FileDescriptorSet` of `akidb.v1`, for tonic-reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/akidb_v1_descriptor.bin"));
}
