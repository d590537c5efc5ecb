//! A TPACKET_V3 ring block of arbitrary bytes: the block cursor (offsets, lengths,
//! packet count) and then each packet through the per-packet path.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spandump::harness::ring_block(data);
});
