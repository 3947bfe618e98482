//! Fuzz target `wal_decode`: see [`akidb_fuzz::wal_decode`] for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| akidb_fuzz::wal_decode(data));
