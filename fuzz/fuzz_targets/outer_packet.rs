//! One outer packet (first byte: link type) through link, IP, GRE, ERSPAN, filter and
//! the text printer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let stats = spandump::harness::outer_packet(data);
    assert!(stats.outer_packets <= 1);
});
