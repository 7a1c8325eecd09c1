//! Fuzz target: see `oracles::pipeline` for the input format and what is asserted.
#![no_main]

// Each target uses some of the shared oracles.
#[allow(dead_code)]
#[path = "../oracles.rs"]
mod oracles;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracles::pipeline(data));
