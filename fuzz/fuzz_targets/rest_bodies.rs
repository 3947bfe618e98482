//! Fuzz target `rest_bodies`: see [`akidb_fuzz::rest_bodies`] for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| akidb_fuzz::rest_bodies(data));
