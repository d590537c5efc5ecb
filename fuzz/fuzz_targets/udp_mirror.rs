//! One UDP datagram (first byte: options) through the VXLAN / GENEVE / GRE-in-UDP
//! parsers, the nesting rule, the filter and the `-v` text printer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let stats = spandump::harness::udp_mirror(data);
    assert!(stats.outer_packets <= 1);
});
