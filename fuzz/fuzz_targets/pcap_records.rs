//! Classic pcap records behind a valid file header (first byte: link type, byte
//! order, precision) through the reader and the pipeline, into every format.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spandump::harness::pcap_records(data);
});
