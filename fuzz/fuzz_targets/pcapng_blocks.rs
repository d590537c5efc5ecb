//! pcapng blocks behind a valid section header and interface description (first
//! byte: link type, byte order, resolution) through the reader and the pipeline.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spandump::harness::pcapng_blocks(data);
});
