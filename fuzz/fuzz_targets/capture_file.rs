//! A whole pcap / pcapng file through the reader and the pipeline, into every format.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spandump::harness::capture_file(data);
});
