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
    for (target, run) in [
        (
            "outer_packet",
            (|b: &[u8]| drop(harness::outer_packet(b))) as fn(&[u8]),
        ),
        ("capture_file", |b: &[u8]| drop(harness::capture_file(b))),
    ] {
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
