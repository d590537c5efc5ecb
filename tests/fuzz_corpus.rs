//! Replays what the fuzz targets see, through the same entry points
//! (`spandump::harness`), without a fuzzer: every capture in `testdata/`, every
//! corpus and regression input under `fuzz/`, and truncations of each.

use spandump::capture::FileSource;
use spandump::harness;
use std::fs;
use std::path::{Path, PathBuf};

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.is_file()
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    });
    files.sort();
    files
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn captures() -> Vec<PathBuf> {
    let mut v = files_in(&root().join("testdata"));
    v.retain(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"));
    assert!(v.len() >= 20, "testdata/ holds the public captures");
    v
}

#[test]
fn capture_files_and_their_truncations() {
    for path in captures() {
        let bytes = fs::read(&path).unwrap();
        let stats =
            harness::capture_file(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(stats.outer_packets > 0, "{}", path.display());
        // Cut the file at 40 places: each gives counters or a clean error.
        let step = (bytes.len() / 40).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let _ = harness::capture_file(&bytes[..cut]);
        }
    }
}

#[test]
fn every_outer_packet_and_its_prefixes() {
    let mut packets = 0;
    for path in captures() {
        let mut source = FileSource::open(&path).unwrap();
        let mut n = 0;
        while let Some(frame) = source.next_frame().unwrap() {
            if n == 150 {
                break;
            }
            n += 1;
            let selector = harness::LINK_TYPES
                .iter()
                .position(|l| *l == frame.link)
                .unwrap();
            let mut input = vec![selector as u8; 1 + frame.data.len()];
            input[1..].copy_from_slice(frame.data);
            // Read with its true link type...
            let stats = harness::outer_packet(&input);
            assert_eq!(stats.outer_packets, 1);
            // ...then every prefix, and the same bytes under every other link type.
            for len in 0..input.len().min(160) {
                harness::outer_packet(&input[..len]);
            }
            for other in 0..harness::LINK_TYPES.len() as u8 {
                input[0] = other;
                harness::outer_packet(&input);
            }
            packets += 1;
        }
    }
    assert!(packets > 500, "replayed {packets} packets");
}

#[test]
fn fuzz_corpora_and_regressions() {
    let fuzz = root().join("fuzz");
    let targets = [
        (
            "outer_packet",
            (|b: &[u8]| drop(harness::outer_packet(b))) as fn(&[u8]),
        ),
        ("capture_file", |b: &[u8]| drop(harness::capture_file(b))),
        ("pcap_records", |b: &[u8]| drop(harness::pcap_records(b))),
        ("pcapng_blocks", |b: &[u8]| drop(harness::pcapng_blocks(b))),
        ("ring_block", |b: &[u8]| {
            harness::ring_block(b);
        }),
        ("bpf_program", |b: &[u8]| {
            let _ = harness::bpf_program(b);
        }),
        ("udp_mirror", |b: &[u8]| drop(harness::udp_mirror(b))),
        ("text_printer", |b: &[u8]| {
            harness::text_printer(b);
        }),
    ];
    // A new fuzz target must be added here, or its corpus is never replayed.
    let mut on_disk: Vec<String> = files_in(&fuzz.join("fuzz_targets"))
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = targets.iter().map(|(t, _)| t.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "fuzz/fuzz_targets/ and this table differ");
    for (target, run) in targets {
        // Every target has a seeded corpus: an empty one means a renamed directory.
        assert!(
            !files_in(&fuzz.join("corpus").join(target)).is_empty(),
            "fuzz/corpus/{target} is empty or missing"
        );
        for dir in [
            fuzz.join("corpus").join(target),
            fuzz.join("regressions").join(target),
        ] {
            for file in files_in(&dir) {
                run(&fs::read(&file).unwrap());
            }
        }
    }
}

#[test]
fn reader_harnesses_build_valid_headers() {
    // Behind the header pcap_records / pcapng_blocks put in front, a capture's own
    // records (or whole pcapng sections) decode exactly as the file itself does, in
    // both byte orders of the synthetic header.
    let pcap = fs::read(root().join("testdata/zeek-erspanIII.pcap")).unwrap();
    assert_eq!(
        &pcap[..4],
        &[0xD4, 0xC3, 0xB2, 0xA1],
        "µs little-endian pcap"
    );
    let whole = harness::capture_file(&pcap).unwrap();
    assert!(whole.frames_written > 0);
    let mut input = vec![0u8]; // Ethernet, little-endian, µs
    input.extend_from_slice(&pcap[24..]);
    assert_eq!(harness::pcap_records(&input).unwrap(), whole);
    let pcapng = fs::read(root().join("testdata/tcpdump-nhrp.pcapng")).unwrap();
    let whole = harness::capture_file(&pcapng).unwrap();
    assert!(whole.outer_packets > 0);
    for selector in [0u8, 0x08, 0x10, 0x18] {
        let mut input = vec![selector];
        input.extend_from_slice(&pcapng);
        assert_eq!(
            harness::pcapng_blocks(&input).unwrap(),
            whole,
            "{selector:#x}"
        );
    }
}

/// The ring_block seeds are real blocks: the cursor finds every packet in them, and each
/// is decapsulated (a seed the cursor rejected would leave the fuzzer at the door).
#[test]
fn ring_block_seeds_hold_packets() {
    let dir = root().join("fuzz/corpus/ring_block");
    for (seed, want) in [("seed-erspan2", 4), ("seed-erspan3", 2), ("seed-gretap", 6)] {
        let packets = harness::ring_block(&fs::read(dir.join(seed)).unwrap());
        assert_eq!(packets, want, "{seed}");
    }
}

/// The text_printer seeds are inner frames the printer decodes: each prints text in
/// every mode (a seed of garbage would leave the fuzzer far from the printers).
#[test]
fn text_printer_seeds_print_every_mode() {
    let seeds = files_in(&root().join("fuzz/corpus/text_printer"));
    assert!(seeds.len() >= 20, "{} seeds", seeds.len());
    for seed in seeds {
        let printed = harness::text_printer(&fs::read(&seed).unwrap());
        // 32 modes, two lines each, each well over 20 bytes.
        assert!(printed > 64 * 20, "{}: {printed} bytes", seed.display());
    }
}
