//! Fuzz target `filter_parse`: see [`akidb_fuzz::filter_parse`] for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| akidb_fuzz::filter_parse(data));
