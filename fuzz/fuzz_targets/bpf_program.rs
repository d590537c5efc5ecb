//! An arbitrary classic BPF program on an arbitrary frame: validation, then the
//! interpreter on the frame whole and in two pieces (no panic, no hang, one verdict).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spandump::harness::bpf_program(data);
});
