//! Fuzz target `snapshot_manifest`: see [`akidb_fuzz::snapshot_manifest`] for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| akidb_fuzz::snapshot_manifest(data));
