//! Hostile and broken input through the real binary: corrupt capture files, malformed
//! packets among good ones, and SIGINT at any moment.
//!
//! A corrupt file must end in one clear message and exit code 1, after every complete
//! frame before the damage was written byte for byte; never a panic, never a hang
//! (every run here has a deadline), never a giant allocation. Output faults (a full
//! disk, a closed pipe) are tested in `tests/generated.rs`.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::capgen::*;
use common::*;

const T0: u64 = 1_700_000_000_000_000_000;
/// Longest any single run may take before it counts as a hang.
const DEADLINE: Duration = Duration::from_secs(60);

fn ts(i: usize) -> u64 {
    T0 + i as u64 * 1_000_000
}

fn inner(i: u16) -> Vec<u8> {
    eth_icmp_echo(i, 16 + usize::from(i % 50))
}

/// `n` good gretap packets and the inner frames they carry.
fn good_packets(n: u16) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let frames: Vec<Vec<u8>> = (0..n).map(inner).collect();
    let packets = frames.iter().map(|f| gretap(Some(1), f)).collect();
    (packets, frames)
}

fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    let v: Vec<(u64, Vec<u8>)> = packets
        .iter()
        .enumerate()
        .map(|(i, p)| (ts(i), p.clone()))
        .collect();
    pcap_bytes(PcapFormat::ethernet(), &v)
}

fn pcapng(packets: &[Vec<u8>], big_endian: bool) -> Vec<u8> {
    let mut w = PcapngWriter::new(Vec::new(), big_endian).unwrap();
    let eth = w.add_interface(linktype::ETHERNET as u16, 0, 6).unwrap();
    for (i, p) in packets.iter().enumerate() {
        w.write_packet(eth, ts(i), p, p.len() as u32).unwrap();
    }
    w.into_inner()
}

/// Runs spandump on `input` (written to a file) with a deadline: a run that does not
/// end in time fails the test instead of hanging it.
fn run_file(input: &[u8], name: &str, args: &[&str]) -> FileRun {
    let input = input.to_vec();
    let file = name.to_string();
    let name = name.to_string();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = tx.send(run_on_bytes(&input, &name, &args));
    });
    rx.recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("spandump on {file} did not finish within {DEADLINE:?}"))
}

/// Expects exit 1 with one message line that names the file and contains `what`,
/// no panic, and exactly `frames` written before it (byte for byte).
fn expect_failure(case: &str, r: &FileRun, what: &str, frames: &[Vec<u8>]) {
    r.run.expect_code(1);
    let stderr = &r.run.stderr;
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{case}: spandump panicked:\n{stderr}"
    );
    let message: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("spandump: ") && !l.contains(" outer packets read, "))
        .collect();
    assert_eq!(message.len(), 1, "{case}: one error message:\n{stderr}");
    assert!(
        message[0].contains("in.") && message[0].contains(what),
        "{case}: message should name the file and say {what:?}: {}",
        message[0]
    );
    // A file that fails before its first packet may leave no output at all.
    if frames.is_empty() && r.out.is_none() {
        return;
    }
    let got = r.capture();
    assert_frames_eq(case, &got.frames(), frames);
    for (i, rec) in got.records.iter().enumerate() {
        assert_eq!(rec.ts_ns, ts(i), "{case}: timestamp of frame {}", i + 1);
    }
    if let Ok(s) = parse_summary(stderr) {
        assert_eq!(
            s.written,
            frames.len() as u64,
            "{case}: summary written counter"
        );
    }
}

// ---------------------------------------------------------------------------------
// Classic pcap faults
// ---------------------------------------------------------------------------------

#[test]
fn pcap_record_claiming_more_than_the_file_holds() {
    let (packets, frames) = good_packets(3);
    let mut file = pcap(&packets);
    // A fourth record header claiming 1000 bytes, followed by only 100.
    let mut w = PcapWriter::new(Vec::new(), PcapFormat::ethernet()).unwrap();
    w.write(ts(3), &vec![0xAB; 1000]).unwrap();
    let record = w.into_inner()[24..].to_vec();
    file.extend_from_slice(&record[..16 + 100]);
    let r = run_file(&file, "in.pcap", &[]);
    expect_failure(
        "record longer than the file",
        &r,
        "ends in the middle",
        &frames,
    );
}

#[test]
fn pcap_incl_len_of_4_gib_is_refused_without_allocating() {
    let (packets, frames) = good_packets(2);
    for caplen in [u32::MAX, 0x8000_0000, (64 << 20) + 1] {
        let mut file = pcap(&packets);
        let mut header = Vec::new();
        header.extend_from_slice(&1u32.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&caplen.to_le_bytes());
        header.extend_from_slice(&caplen.to_le_bytes());
        file.extend_from_slice(&header);
        file.extend_from_slice(&[0; 64]);
        let case = format!("incl_len {caplen}");
        let r = run_file(&file, "in.pcap", &[]);
        expect_failure(
            &case,
            &r,
            &format!("record 3 claims {caplen} captured bytes"),
            &frames,
        );
    }
}

#[test]
fn pcap_cut_at_every_byte_of_a_record() {
    // Cut inside the record header and inside the data of the third record: the two
    // records before it are written, then the message.
    let (packets, frames) = good_packets(3);
    let file = pcap(&packets);
    let third = file.len() - (16 + packets[2].len());
    for cut in third + 1..file.len() {
        let r = run_file(&file[..cut], "in.pcap", &[]);
        expect_failure(
            &format!("pcap cut at byte {cut} of {}", file.len()),
            &r,
            "file ends in the middle of a packet record (after 2 packets)",
            &frames[..2],
        );
    }
    // Cut exactly between records: a clean end, every frame before it written.
    let r = run_file(&file[..third], "in.pcap", &[]);
    r.run.expect_code(0);
    assert_frames_eq("cut between records", &r.capture().frames(), &frames[..2]);
}

#[test]
fn pcap_cut_inside_the_file_header() {
    let file = pcap(&good_packets(1).0);
    for cut in 1..24 {
        let r = run_file(&file[..cut], "in.pcap", &[]);
        r.run.expect_code(1);
        assert!(
            r.run.stderr.contains("too short") && !r.run.stderr.contains("panicked"),
            "cut at {cut}: {}",
            r.run.stderr
        );
    }
}

#[test]
fn empty_file() {
    let r = run_file(&[], "in.pcap", &[]);
    r.run.expect_code(1);
    assert!(
        r.run.stderr.contains("in.pcap: empty file"),
        "{}",
        r.run.stderr
    );
}

#[test]
fn text_file() {
    let text = b"# not a capture\nGRE 192.0.2.1 > 198.51.100.1: key=1\n".repeat(20);
    let r = run_file(&text, "in.txt", &[]);
    r.run.expect_code(1);
    assert!(
        r.run.stderr.contains("in.txt: not a pcap or pcapng file"),
        "{}",
        r.run.stderr
    );
    assert!(!r.run.stderr.contains("panicked"));
}

#[test]
fn unknown_link_types_in_pcap_and_pcapng() {
    // IEEE802_11 (105) in a classic pcap header.
    let file = pcap_bytes(PcapFormat::link(105), &[(ts(0), vec![0; 40])]);
    let r = run_file(&file, "in.pcap", &[]);
    r.run.expect_code(1);
    assert!(
        r.run
            .stderr
            .contains("unsupported link type 105 (IEEE802_11)"),
        "{}",
        r.run.stderr
    );
    // pcapng: a good Ethernet interface, then a USB one (189) whose packets follow
    // the good frames.
    let (packets, frames) = good_packets(2);
    let mut w = PcapngWriter::new(Vec::new(), false).unwrap();
    let eth = w.add_interface(linktype::ETHERNET as u16, 0, 6).unwrap();
    for (i, p) in packets.iter().enumerate() {
        w.write_packet(eth, ts(i), p, p.len() as u32).unwrap();
    }
    w.add_interface(189, 0, 6).unwrap();
    let r = run_file(&w.into_inner(), "in.pcapng", &[]);
    expect_failure(
        "pcapng USB interface",
        &r,
        "unsupported link type 189 (USB_LINUX) on interface 1",
        &frames,
    );
}

// ---------------------------------------------------------------------------------
// pcapng faults
// ---------------------------------------------------------------------------------

/// A change made to a good file.
type Corruption<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;

/// Offset of the last block (the third EPB) of `pcapng(packets)`.
fn last_block_offset(file: &[u8], last_len: usize) -> usize {
    file.len() - last_len
}

#[test]
fn pcapng_blocks_with_bogus_lengths() {
    for big_endian in [false, true] {
        let (packets, frames) = good_packets(3);
        let file = pcapng(&packets, big_endian);
        let epb_len = 32 + packets[2].len().div_ceil(4) * 4;
        let at = last_block_offset(&file, epb_len);
        let put = |f: &mut Vec<u8>, off: usize, v: u32| {
            let b = if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            f[off..off + 4].copy_from_slice(&b);
        };
        let cases: Vec<(&str, Corruption, &str)> = vec![
            (
                "length 0",
                Box::new(|f| put(f, at + 4, 0)),
                "bad length 0 (shorter than a block header and trailer)",
            ),
            (
                "length 8",
                Box::new(|f| put(f, at + 4, 8)),
                "bad length 8 (shorter than a block header and trailer)",
            ),
            (
                "length 13",
                Box::new(|f| put(f, at + 4, 13)),
                "bad length 13 (not a multiple of 4)",
            ),
            (
                "length 16 for an EPB",
                Box::new(|f| put(f, at + 4, 16)),
                "bad length 16 (too short for its type)",
            ),
            (
                "length 0xFFFFFFFC",
                Box::new(|f| put(f, at + 4, 0xFFFF_FFFC)),
                "claims 4294967292 bytes",
            ),
            (
                "length beyond the file",
                Box::new(|f| put(f, at + 4, (epb_len + 4096) as u32)),
                "file ends in the middle of an enhanced packet block (after 2 packets)",
            ),
            (
                "trailer differs",
                Box::new(|f| {
                    let end = f.len();
                    put(f, end - 4, (epb_len + 4) as u32)
                }),
                "at its end",
            ),
            (
                "captured length beyond the block",
                Box::new(|f| put(f, at + 20, (epb_len) as u32)),
                "its captured length exceeds the block",
            ),
            (
                "interface that does not exist",
                Box::new(|f| put(f, at + 8, 7)),
                "names interface 7, but its section has 1 interface(s)",
            ),
        ];
        for (name, corrupt, what) in cases {
            let mut f = file.clone();
            corrupt(&mut f);
            let case = format!("pcapng ({}) {name}", if big_endian { "BE" } else { "LE" });
            let r = run_file(&f, "in.pcapng", &[]);
            expect_failure(&case, &r, what, &frames[..2]);
        }
    }
}

#[test]
fn pcapng_bogus_section_and_interface_blocks() {
    let (packets, _) = good_packets(1);
    let file = pcapng(&packets, false);
    // Byte-order magic, version, and an IDB whose length is not a multiple of 4.
    let mut bad_bom = file.clone();
    bad_bom[8..12].copy_from_slice(&0x1234_5678u32.to_le_bytes());
    let mut bad_version = file.clone();
    bad_version[12..14].copy_from_slice(&2u16.to_le_bytes());
    let mut bad_idb = file.clone();
    // The section header block is 32 bytes (with its end-of-options).
    bad_idb[32 + 4..32 + 8].copy_from_slice(&22u32.to_le_bytes());
    for (name, f, what) in [
        (
            "byte-order magic",
            bad_bom,
            "bad byte-order magic 0x12345678",
        ),
        ("version 2", bad_version, "pcapng version 2.0"),
        (
            "IDB length 22",
            bad_idb,
            "bad length 22 (not a multiple of 4)",
        ),
    ] {
        let r = run_file(&f, "in.pcapng", &[]);
        expect_failure(name, &r, what, &[]);
    }
}

#[test]
fn pcapng_cut_at_every_byte_of_a_block() {
    let (packets, frames) = good_packets(3);
    let file = pcapng(&packets, false);
    let epb_len = 32 + packets[2].len().div_ceil(4) * 4;
    let at = last_block_offset(&file, epb_len);
    for cut in at + 1..file.len() {
        let r = run_file(&file[..cut], "in.pcapng", &[]);
        let case = format!("pcapng cut at byte {cut} of {}", file.len());
        let what = if cut < at + 8 {
            "file ends in the middle of a block header (after 2 packets)"
        } else {
            "file ends in the middle of an enhanced packet block (after 2 packets)"
        };
        expect_failure(&case, &r, what, &frames[..2]);
    }
}

// ---------------------------------------------------------------------------------
// Malformed packets among good ones
// ---------------------------------------------------------------------------------

/// One malformed outer packet per skip cause (and several per layer).
fn malformed_packets() -> Vec<(&'static str, Vec<u8>)> {
    let f = inner(99);
    let mut ihl4 = Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE);
    ihl4.ihl = Some(4);
    let mut long_total = Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE);
    long_total.total_length = Some(1400);
    let mut routing = Gre::new(ethertype::TEB);
    routing.extra_flags = 0x4000;
    routing.routing = vec![0; 4];
    let mut v1 = Gre::new(0x880B);
    v1.extra_flags = 0x0001;
    let mut erspan_v5 = ErspanII::new(1, 1);
    erspan_v5.version = 5;
    let mut ft9 = ErspanIII::new(1);
    ft9.ft = 9;
    let mut long_chain = Ipv6::new(v6(1), v6(2), ipproto::GRE);
    long_chain.ext = vec![Ipv6Ext::dest_opts(); 10];
    let key_cut = {
        let g = Gre::new(ethertype::TEB).key(5).build(&[]);
        outer_eth(&Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE).build(&g[..6]))
    };
    let erspan_cut = outer_eth(
        &Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE)
            .build(&Gre::new(ethertype::ERSPAN_III).seq(1).build(&[0x20, 0, 0])),
    );
    vec![
        ("truncated-link", vec![0xFF; 9]),
        ("truncated-link", Vec::new()),
        (
            "not-ip",
            Ethernet::new(ethertype::ARP).build(&arp_request([2; 6], [1; 4], [2; 4])),
        ),
        (
            "truncated-ip",
            Ethernet::new(ethertype::IPV6).build(&[0x60; 20]),
        ),
        (
            "bad-ip-header",
            outer_eth(&ihl4.build(&Gre::new(ethertype::TEB).build(&f))),
        ),
        (
            "bad-ip-header",
            outer_eth(&long_total.build(&Gre::new(ethertype::TEB).build(&f))),
        ),
        (
            "not-gre",
            outer_eth(&ip_udp(IpAddrs::V4(OUTER_SRC, OUTER_DST), 1, 2, b"udp")),
        ),
        (
            "ipv6-ext-headers",
            outer_eth(&long_chain.build(&Gre::new(ethertype::TEB).build(&f))),
        ),
        ("truncated-gre", key_cut),
        (
            "gre-routing",
            outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, &routing, &f)),
        ),
        (
            "gre-version",
            outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, &v1, &[0xFF, 0x03])),
        ),
        (
            "gre-keepalive",
            outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, &Gre::new(0), &[])),
        ),
        (
            "gre-proto-0x2001",
            outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, &Gre::new(0x2001), &f)),
        ),
        ("truncated-erspan", erspan_cut),
        ("erspan-version", erspan2(&erspan_v5, 1, &f)),
        ("erspan-frame-type", erspan3(&ft9, 1, &f)),
        ("runt-inner", gretap(None, &f[..13])),
        ("inner-not-ip", l3gre(None, &[0x50; 30])),
    ]
}

#[test]
fn malformed_packets_among_good_ones_pcap_and_pcapng() {
    let bad = malformed_packets();
    let mut packets = Vec::new();
    let mut frames = Vec::new();
    let mut want = std::collections::BTreeMap::<String, u64>::new();
    // good, bad, good, bad, ..., good: every bad packet sits between two good ones.
    for (i, (cause, pkt)) in bad.iter().enumerate() {
        let f = inner(i as u16);
        packets.push(gretap(Some(7), &f));
        frames.push((packets.len() - 1, f));
        packets.push(pkt.clone());
        *want.entry(cause.to_string()).or_default() += 1;
    }
    let f = inner(500);
    packets.push(erspan2(&ErspanII::new(3, 3), 1, &f));
    frames.push((packets.len() - 1, f));
    for (format, file) in [
        ("pcap", pcap(&packets)),
        ("pcapng", pcapng(&packets, false)),
        ("pcapng big-endian", pcapng(&packets, true)),
    ] {
        let name = if format == "pcap" {
            "in.pcap"
        } else {
            "in.pcapng"
        };
        let r = run_file(&file, name, &[]);
        r.run.expect_code(0);
        let s = r.run.summary();
        let cap = r.capture();
        let want_frames: Vec<Vec<u8>> = frames.iter().map(|(_, f)| f.clone()).collect();
        assert_frames_eq(format, &cap.frames(), &want_frames);
        for (rec, (i, f)) in cap.records.iter().zip(&frames) {
            assert_eq!(rec.ts_ns, ts(*i), "{format}: timestamp");
            assert_eq!(rec.orig_len as usize, f.len(), "{format}: orig_len");
        }
        assert_eq!(s.read, packets.len() as u64, "{format}: read");
        assert_eq!(s.written, frames.len() as u64, "{format}: written");
        assert_eq!(s.skips, want, "{format}: skip counters");
    }
}

#[test]
fn mutated_packets_among_good_ones_never_cost_a_good_frame() {
    // Good ERSPAN / GRE packets with random bytes flipped, cut or appended, between
    // untouched good ones: every untouched frame is written byte for byte, and every
    // outer packet ends as exactly one outcome.
    let mut rng = Rng(0x5EED_0007);
    let templates = [
        gretap(Some(0x5A5A_0000), &inner(1)),
        erspan1(&inner(2)),
        erspan2(&ErspanII::new(2, 2), 2, &inner(3)),
        erspan3(&ErspanIII::new(3), 3, &inner(4)),
        l3gre(None, &ipv4_icmp_echo([10, 0, 0, 1], [10, 0, 0, 2], 5, 8)),
        outer_eth(&ipv6_gre(
            v6(1),
            v6(2),
            &Gre::new(ethertype::TEB).key(6),
            &inner(6),
        )),
    ];
    let mut packets = Vec::new();
    let mut good = Vec::new();
    for i in 0..600 {
        if i % 2 == 0 {
            let f = inner(1000 + i as u16);
            packets.push(gretap(Some(9), &f));
            good.push(f);
            continue;
        }
        let mut p = templates[rng.below(templates.len())].clone();
        match rng.below(3) {
            0 => {
                for _ in 0..=rng.below(4) {
                    // Flip a byte in the headers (first 80 bytes).
                    let at = rng.below(p.len().min(80));
                    p[at] ^= 1 << rng.below(8);
                }
            }
            1 => {
                let at = rng.below(p.len());
                p.truncate(at);
            }
            _ => {
                let at = 14 + rng.below(60);
                p[at] = rng.next() as u8;
                p.extend((0..rng.below(40)).map(|_| rng.next() as u8));
            }
        }
        packets.push(p);
    }
    let r = run_file(&pcap(&packets), "in.pcap", &["--key", "9"]);
    r.run.expect_code(0);
    let s = r.run.summary();
    let good_refs: Vec<Vec<u8>> = good.clone();
    assert_frames_eq("mutated", &r.capture().frames(), &good_refs);
    assert_eq!(s.read, packets.len() as u64);
    // A mutated packet may still decode (it is then filtered out by --key 9), be
    // skipped, or be held as a fragment (then counted again when given up).
    let outcomes = s.written + s.filtered + s.skipped;
    if s.note("fragments-held") == 0 {
        assert_eq!(
            outcomes, s.read,
            "every outer packet has one outcome: {s:?}"
        );
    } else {
        assert!(outcomes <= s.read, "more outcomes than packets: {s:?}");
    }
}

// ---------------------------------------------------------------------------------
// SIGINT at any moment
// ---------------------------------------------------------------------------------

/// A capture large enough that spandump cannot have read it all when it is stopped.
fn large_capture() -> (Vec<u8>, Vec<Vec<u8>>) {
    let n = 4000u16;
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| eth_udp_sized(600 + usize::from(i % 800), i as u8))
        .collect();
    let packets: Vec<Vec<u8>> = frames.iter().map(|f| gretap(Some(2), f)).collect();
    (pcap(&packets), frames)
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

fn send_sigint(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -INT {pid}");
}

#[test]
fn sigint_at_any_moment_leaves_a_readable_output() {
    let (file, frames) = large_capture();
    // Moments: inside the file header, inside the first record header, inside the
    // first frame, between records, deep inside the file (mid-record), for pcap and
    // pcapng output.
    let first_record_end = 24 + 16 + frames[0].len() + 14 + 20 + 8;
    let moments = [
        3,
        24 + 5,
        24 + 16 + 10,
        first_record_end,
        first_record_end + 7,
        200_001,
        1_000_003,
    ];
    for (i, &moment) in moments.iter().enumerate() {
        let pcapng = i % 2 == 1;
        sigint_after(&file, &frames, moment, pcapng, false);
    }
}

#[test]
fn sigint_while_reading_an_idle_pipe_stops_at_once() {
    // The writer keeps the FIFO open but sends nothing more: the read is blocked, and
    // SIGINT alone must end it (no second Ctrl-C, no more input), with a complete file.
    let (file, frames) = large_capture();
    for (moment, pcapng) in [(3, false), (24 + 5, true), (200_001, false)] {
        sigint_after(&file, &frames, moment, pcapng, true);
    }
}

/// Feeds `file` to spandump through a FIFO, sends SIGINT once `moment` bytes have been
/// written, then keeps feeding a little at a time until spandump exits — or, when
/// `idle`, feeds nothing more and keeps the FIFO open until spandump has exited.
fn sigint_after(file: &[u8], frames: &[Vec<u8>], moment: usize, pcapng: bool, idle: bool) {
    let case = format!("SIGINT after {moment} bytes (pcapng output: {pcapng}, idle: {idle})");
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("in.fifo");
    mkfifo(&fifo);
    let out = dir
        .path()
        .join(if pcapng { "out.pcapng" } else { "out.pcap" });
    let child = Command::new(spandump_bin())
        .arg("-r")
        .arg(&fifo)
        .arg("-w")
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (at_moment, moment_rx) = mpsc::channel::<()>();
    let (go, go_rx) = mpsc::channel::<()>();
    let data = file.to_vec();
    let feeder = std::thread::spawn(move || {
        // Opening the FIFO for writing waits until spandump opened it for reading,
        // which it does after installing its signal handlers.
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .expect("open fifo");
        let (head, rest) = data.split_at(moment.min(data.len()));
        if w.write_all(head).is_err() {
            return;
        }
        let _ = at_moment.send(());
        let _ = go_rx.recv();
        // Slowly, 512 bytes per write, until spandump stops reading.
        for chunk in rest.chunks(512) {
            if w.write_all(chunk).is_err() {
                return;
            }
        }
    });
    moment_rx
        .recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("{case}: the first {moment} bytes were not taken"));
    send_sigint(pid);
    if !idle {
        go.send(()).unwrap();
    }
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let out = child.wait_with_output();
        let _ = done_tx.send(());
        out
    });
    if done_rx.recv_timeout(DEADLINE).is_err() {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("{case}: spandump did not stop");
    }
    let output = waiter.join().unwrap().unwrap();
    // The idle feeder still holds the FIFO open: release it now.
    let _ = go.send(());
    feeder.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{case}: exit status; stderr:\n{stderr}"
    );
    let summary = parse_summary(&stderr).unwrap_or_else(|e| panic!("{case}: {e}"));
    assert!(
        (summary.read as usize) < frames.len(),
        "{case}: spandump read all {} packets; SIGINT did not stop it",
        summary.read
    );
    let bytes = std::fs::read(&out).unwrap_or_else(|e| panic!("{case}: no output: {e}"));
    let cap = read_capture_bytes(&bytes).unwrap_or_else(|e| panic!("{case}: unreadable: {e}"));
    assert_eq!(cap.pcapng, pcapng, "{case}: output format");
    let n = cap.records.len();
    assert_eq!(n as u64, summary.written, "{case}: frames in the file");
    assert_frames_eq(&case, &cap.frames(), &frames[..n]);
}

#[test]
fn huge_length_claims_never_allocate_what_they_claim() {
    // Run under an address-space limit of 32 MiB (spandump needs far less): believing
    // any of these claims (64 MiB to 4 GiB) would abort on allocation instead of
    // ending with the message.
    if !have_tool("prlimit") {
        return;
    }
    let pcap_claim = |caplen: u32| {
        let mut file = pcap(&good_packets(1).0);
        for v in [1u32, 0, caplen, caplen] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        file.extend_from_slice(&[0; 64]);
        file
    };
    let pcapng_claim = |len: u32| {
        let mut file = pcapng(&good_packets(1).0, false);
        file.extend_from_slice(&6u32.to_le_bytes());
        file.extend_from_slice(&len.to_le_bytes());
        file.extend_from_slice(&[0; 64]);
        file
    };
    let cases = [
        (
            "pcap caplen 4 GiB",
            pcap_claim(u32::MAX),
            "in.pcap",
            "claims 4294967295 captured bytes",
        ),
        (
            "pcap caplen 64 MiB",
            pcap_claim(64 << 20),
            "in.pcap",
            "file ends in the middle of a packet record",
        ),
        (
            "pcapng block 64 MiB",
            pcapng_claim(64 << 20),
            "in.pcapng",
            "file ends in the middle of an enhanced packet block",
        ),
        (
            "pcapng block 4 GiB",
            pcapng_claim(0xFFFF_FFFC),
            "in.pcapng",
            "claims 4294967292 bytes",
        ),
    ];
    for (case, file, name, what) in cases {
        let dir = tempfile::tempdir().unwrap();
        let inp = write_file(dir.path(), name, &file);
        let out = Command::new("prlimit")
            .arg(format!("--as={}", 32 << 20))
            .arg(spandump_bin())
            .arg("-r")
            .arg(&inp)
            .arg("-w")
            .arg(dir.path().join("out.pcap"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{case}: exit status; stderr:\n{stderr}"
        );
        assert!(stderr.contains(what), "{case}: {stderr}");
        let cap = read_capture(&dir.path().join("out.pcap"));
        assert_eq!(
            cap.records.len(),
            1,
            "{case}: the good frame before the claim"
        );
    }
}
