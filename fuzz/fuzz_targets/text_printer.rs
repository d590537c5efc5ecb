//! One inner frame (first byte: Ethernet / raw IPv4 / raw IPv6 and the extra wire
//! length) through the text printer in every mode: no panic, no hang, one frame's
//! text within its bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    spandump::harness::text_printer(data);
});
