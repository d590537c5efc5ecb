//! One table-driven test over the public captures in `testdata/`.
//!
//! Each row runs `spandump -r testdata/FILE -w out.pcap ARGS` and checks the exit
//! summary (packets read, frames written, filtered, the exact map of skip causes and
//! selected notes) and the written file (one record per written frame, Ethernet link
//! type, timestamps taken from the input).
//!
//! The numbers are facts about the files, not spandump's output. They come from
//! `testdata/MANIFEST.md` (packet counts from `capinfos -c`) and from tshark 4.0.17
//! decodes run while writing this table; each row says how. The recurring commands are:
//!
//! * T1 = `tshark -r F -T fields -E occurrence=f -e eth.type -e ip.proto -e gre.flags_and_version -e gre.proto | sort | uniq -c`
//!   (frames without `ip.proto` are not IP; `ip.proto` != 47 is not GRE; tshark's IP
//!   reassembly shows the GRE fields on the last fragment only).
//! * T2 = `tshark -r F -Y erspan -T fields -e erspan.version -e erspan.spanid -e erspan.index -e erspan.direction | sort | uniq -c`
//! * T3 = `tshark -r F -Y gre -T fields -E occurrence=f -e gre.key -e ip.src | sort | uniq -c`
//! * X  = `tcpdump -nn -xx -r F` (hex read by hand for the fuzzed files)

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;

struct Row {
    file: &'static str,
    args: &'static [&'static str],
    /// Outer packets in the file (capinfos -c), or fewer if `-c` stops early.
    read: u64,
    written: u64,
    filtered: u64,
    /// The exact set of skip causes with counts.
    skips: &'static [(&'static str, u64)],
    /// Notes that must be present with these counts (other notes may appear).
    notes: &'static [(&'static str, u64)],
}

const fn row(file: &'static str, read: u64, written: u64) -> Row {
    Row {
        file,
        args: &[],
        read,
        written,
        filtered: 0,
        skips: &[],
        notes: &[],
    }
}

const fn filtered(
    file: &'static str,
    args: &'static [&'static str],
    read: u64,
    written: u64,
) -> Row {
    Row {
        file,
        args,
        read,
        written,
        filtered: read - written,
        skips: &[],
        notes: &[],
    }
}

const fn skipped(
    file: &'static str,
    read: u64,
    written: u64,
    skips: &'static [(&'static str, u64)],
) -> Row {
    Row {
        file,
        args: &[],
        read,
        written,
        filtered: 0,
        skips,
        notes: &[],
    }
}

const ROWS: &[Row] = &[
    // --- gretap (0x6558) -------------------------------------------------------
    // T1: 15 x 0x0000/0x6558.
    row("suricata-verify-bug-2576-01-temp6.pcap", 15, 15),
    // T1: 287 frames, all IPv4/GRE 0x2000/0x6558; 232 unfragmented + 16 datagrams in
    // 55 fragments (16 offset-0 MF, 23 middle, 16 last), all complete (tshark
    // reassembles 16). T3: key 0x00000000 x125, 0x02000000 x123, all from 10.200.0.3.
    Row {
        notes: &[("fragments-reassembled", 16)],
        ..row("zeek-erspan.pcap", 287, 248)
    },
    Row {
        filtered: 123,
        ..filtered("zeek-erspan.pcap", &["--key", "0"], 287, 125)
    },
    Row {
        filtered: 125,
        ..filtered("zeek-erspan.pcap", &["--key", "0x2000000"], 287, 123)
    },
    Row {
        filtered: 0,
        ..filtered(
            "zeek-erspan.pcap",
            &["--key", "0", "--key", "33554432"],
            287,
            248,
        )
    },
    Row {
        filtered: 0,
        ..filtered("zeek-erspan.pcap", &["--from", "10.200.0.0/24"], 287, 248)
    },
    Row {
        filtered: 248,
        ..filtered("zeek-erspan.pcap", &["--from", "10.200.1.0/24"], 287, 0)
    },
    // --- L3 GRE (0x0800) ---------------------------------------------------------
    // T1: 3 x 802.1Q/IPv4/GRE 0x0800; inner ip.version 4.
    row("suricata-verify-bug-5633-gre-01-gre-udp.pcap", 3, 3),
    // T1: 40 x GRE 0x0800, inner ip.version 4.
    row("suricata-verify-bug-5633-gre-02-gre-sample.pcap", 40, 40),
    // T1: 628 x GRE 0x0800 whose inner IPv4 carries GRE again: one level only.
    row("zeek-gre-within-gre.pcap", 628, 628),
    // T1: 10 x GRE 0x0800 + 10 x plain TCP.
    skipped("zeek-tunnel-direct-bypass.pcap", 20, 10, &[("not-gre", 10)]),
    // X: frame 1 IPv4 id 0x8550 MF off 0 (GRE 0x0800 + 8 bytes of an inner IPv4
    // header), frame 2 off 16 bytes, last: reassembles to GRE + a 28-byte inner IPv4
    // packet (itself a fragment, not reassembled again).
    Row {
        notes: &[("fragments-reassembled", 1)],
        ..row("suricata-verify-security-8550-input.pcap", 2, 1)
    },
    // --- ERSPAN type I -------------------------------------------------------------
    row("tcpdump-erspan-type-i-1.pcap", 2, 2),
    // The payload nibble 1 trap: still type I (GRE flags 0).
    row("tcpdump-erspan-type-i-2.pcap", 2, 2),
    row("tcpdump-erspan-type-i-3.pcap", 1, 1),
    // T1: 88 x GRE 0x88be, 8 x GRE 0x0800 (inner OSPF over IPv4), 16 x IPv4 proto 89,
    // 2 x 0x88a7 + 5 x 0x88cc (LLDP) not IP.
    skipped(
        "tcpdump-erspan-type-i-4.pcap",
        119,
        96,
        &[("not-gre", 16), ("not-ip", 7)],
    ),
    row("suricata-verify-decode-erspan-typeI-02-input.pcap", 42, 42),
    row("zeek-erspanI.pcap", 10, 10),
    // --- ERSPAN type II --------------------------------------------------------------
    // T2: session 666 index 32760.
    row("tcpdump-erspan-type-ii-1.pcap", 1, 1),
    filtered(
        "tcpdump-erspan-type-ii-1.pcap",
        &["--session", "666", "--index", "32760"],
        1,
        1,
    ),
    filtered("tcpdump-erspan-type-ii-1.pcap", &["--index", "32761"], 1, 0),
    // T2: 16 x session 1 (indexes 540772/540773, En 0 and 1).
    row("tcpdump-erspan-type-ii-2.pcap", 16, 16),
    filtered(
        "tcpdump-erspan-type-ii-2.pcap",
        &["--index", "540773"],
        16,
        8,
    ),
    // T2: 108 x session 101 index 43973, En 2.
    row("tcpdump-erspan-type-ii-3.pcap", 108, 108),
    // T2: session 2 index 3, session 6 index 20.
    row("suricata-verify-bug-5437-01-input.pcap", 2, 2),
    filtered(
        "suricata-verify-bug-5437-01-input.pcap",
        &["--session", "6"],
        2,
        1,
    ),
    // T2: session 2 (index 1408 x16, index 3 x18), session 5 (index 18 x9, 32 x6),
    // session 6 (index 32 x1), session 7 (index 101 x10).
    row("suricata-verify-bug-5437-02-input.pcap", 60, 60),
    filtered(
        "suricata-verify-bug-5437-02-input.pcap",
        &["--session", "2"],
        60,
        34,
    ),
    filtered(
        "suricata-verify-bug-5437-02-input.pcap",
        &["--session", "6", "--session", "7"],
        60,
        11,
    ),
    filtered(
        "suricata-verify-bug-5437-02-input.pcap",
        &["--index", "3"],
        60,
        18,
    ),
    filtered(
        "suricata-verify-bug-5437-02-input.pcap",
        &["--index", "32"],
        60,
        7,
    ),
    filtered(
        "suricata-verify-bug-5437-02-input.pcap",
        &["--session", "2", "--index", "1408"],
        60,
        16,
    ),
    filtered(
        "suricata-verify-bug-5437-02-input.pcap",
        &["--session", "5", "--index", "3"],
        60,
        0,
    ),
    // ERSPAN carries no GRE key: --key never matches it.
    filtered(
        "suricata-verify-bug-5437-02-input.pcap",
        &["--key", "2"],
        60,
        0,
    ),
    // T2: 6 x session 100 index 0 (2 of them CDP).
    row("suricata-verify-decode-erspan-typeII-01-input.pcap", 6, 6),
    // T2: 4 x session 100; T3: outer source 2.2.2.2.
    row("zeek-erspanII.pcap", 4, 4),
    filtered("zeek-erspanII.pcap", &["--session", "100"], 4, 4),
    filtered("zeek-erspanII.pcap", &["--key", "100"], 4, 0),
    filtered("zeek-erspanII.pcap", &["--from", "2.2.2.2"], 4, 4),
    filtered("zeek-erspanII.pcap", &["--from", "2.2.2.0/24"], 4, 4),
    filtered("zeek-erspanII.pcap", &["--from", "2.2.3.0/24"], 4, 0),
    // --- ERSPAN type III ---------------------------------------------------------------
    // T2: session 0, D=0 once and D=1 once.
    row("zeek-erspanIII.pcap", 2, 2),
    filtered("zeek-erspanIII.pcap", &["--direction", "egress"], 2, 1),
    filtered("zeek-erspanIII.pcap", &["--direction", "ingress"], 2, 1),
    filtered(
        "zeek-erspanIII.pcap",
        &["--direction", "ingress", "--direction", "egress"],
        2,
        2,
    ),
    filtered("zeek-erspanIII.pcap", &["--session", "1"], 2, 0),
    filtered(
        "zeek-erspanIII.pcap",
        &["--session", "0", "--direction", "egress"],
        2,
        1,
    ),
    // T1/T2: 9 x GRE flags 0 / 0x22eb, FT 0.
    row("tcpdump-erspan-type-iii-ft-0.pcap", 9, 9),
    // T2: 2 x O=1 (platform ID 3), flags 0.
    row("zeek-gre-erspan3-dot1q.pcap", 2, 2),
    // T2 (erspan.ft): 58 x FT=7.
    skipped(
        "tcpdump-erspan-type-iii-ft-7.pcap",
        58,
        0,
        &[("erspan-frame-type", 58)],
    ),
    // X: RAW link, 79 of 188109 bytes captured; IPv6 + 16-byte Destination Options,
    // GRE 0x1d00 (S + s + Recur 5) seq, ERSPAN III (ver 2) with O=1 but only 3 of the
    // 8 sub-header bytes present. (No gre-legacy-bits note: notes describe written
    // frames only.)
    skipped(
        "tcpdump-erspan-type-iii-pb-1.pcap",
        1,
        0,
        &[("truncated-erspan", 1)],
    ),
    // --- GRE that is not decapsulated ------------------------------------------------
    // T1: 1 x 802.1Q/IPv4/GRE 0x0806.
    skipped(
        "suricata-verify-decode-arp-3-arp-encap.pcap",
        1,
        0,
        &[("gre-proto-0x0806", 1)],
    ),
    // T1: 4 x GRE 0x2001 (NHRP).
    skipped(
        "tcpdump-NHRP_registration.pcap",
        4,
        0,
        &[("gre-proto-0x2001", 4)],
    ),
    skipped("tcpdump-ios_nhrp.pcap", 1, 0, &[("gre-proto-0x2001", 1)]),
    skipped("tcpdump-nhrp.pcapng", 25, 0, &[("gre-proto-0x2001", 25)]),
    // T1: 1 x GRE 0x3001 (version 1), 22 x TCP.
    skipped(
        "tcpdump-pptp.pcap",
        23,
        0,
        &[("gre-version", 1), ("not-gre", 22)],
    ),
    // T1: outer IPv6 (next header 4) -> IPv4 -> GREv1: the IPv6 packet is not GRE.
    skipped("zeek-gre-pptp.pcap", 2, 0, &[("not-gre", 2)]),
    // T1: 1 x GRE 0x883e (WCCP).
    skipped(
        "tcpdump-wccp_redirect_gre.pcap",
        1,
        0,
        &[("gre-proto-0x883e", 1)],
    ),
    // T1: 1 x GRE 0x8240 (Aruba).
    skipped(
        "zeek-gre-aruba-amsdu.pcap",
        1,
        0,
        &[("gre-proto-0x8240", 1)],
    ),
    // T1 with -e vlan.etype -e llc.dsap: 44 x 802.3/LLC (STP, CDP, DTP), 21 x 802.1Q/LLC
    // STP, 5 x 0x9000 loopback: 70 not IP; GRE key 0x28 with proto 0x0000 (keepalive)
    // x8, 0x2000 (CDP) x2, 0x8909 (Cisco MetaData) x20.
    skipped(
        "tcpdump-various_gre.pcap",
        100,
        0,
        &[
            ("gre-keepalive", 8),
            ("gre-proto-0x2000", 2),
            ("gre-proto-0x8909", 20),
            ("not-ip", 70),
        ],
    ),
    // --- fuzzed files ------------------------------------------------------------------
    // X: frame 1 ethertype 0x3030; frame 2 ethertype 0x0800 with first byte 0x08
    // (IP version 0).
    skipped(
        "tcpdump-gre-heapoverflow-1.pcap",
        2,
        0,
        &[("bad-ip-header", 1), ("not-ip", 1)],
    ),
    // X: frame 1 ethertype 0x3030; frame 2 IPv4 (48 of 262144 bytes captured) / GRE
    // 0xc030 (C + R).
    skipped(
        "tcpdump-gre-heapoverflow-2.pcap",
        2,
        0,
        &[("gre-routing", 1), ("not-ip", 1)],
    ),
    // --- recorded from Open vSwitch 3.1 / OVN 23.03 (tests/ovs.rs, SPANDUMP_RECORD_DIR) ----
    // T1: 247 x IPv4 + 101 x IPv6; GRE 0x2000/0x6558 (96), 0xb000/0x6558 (48: C+K+S),
    // 0x1000/0x88be (106), 0x1000/0x22eb (98). T3: key 0x63 x48 (IPv4), key 0x7 x48
    // (IPv6), key 0x8 x48 (IPv4). T2: ver 1 session 77 index 119 (0x77) x53, ver 1
    // session 300 index 703710 (0xabcde) x53, ver 2 session 5 direction 0 hw 31 x47,
    // ver 2 session 6 direction 1 hw 42 x51. `-e gre.checksum.status`: key 8 has 47 Bad,
    // 1 Good (OVS computes the checksum before it writes the sequence number).
    Row {
        notes: &[("gre-checksum-bad", 47)],
        ..row("ovs-mirrors.pcap", 348, 348)
    },
    filtered("ovs-mirrors.pcap", &["--key", "99"], 348, 48),
    filtered("ovs-mirrors.pcap", &["--key", "7"], 348, 48),
    Row {
        notes: &[("gre-checksum-bad", 47)],
        ..filtered("ovs-mirrors.pcap", &["--key", "8"], 348, 48)
    },
    filtered("ovs-mirrors.pcap", &["--session", "77"], 348, 53),
    filtered("ovs-mirrors.pcap", &["--index", "0x77"], 348, 53),
    filtered("ovs-mirrors.pcap", &["--session", "5"], 348, 47),
    filtered("ovs-mirrors.pcap", &["--direction", "ingress"], 348, 47),
    filtered("ovs-mirrors.pcap", &["--direction", "egress"], 348, 51),
    filtered(
        "ovs-mirrors.pcap",
        &["--session", "6", "--direction", "ingress"],
        348,
        0,
    ),
    filtered("ovs-mirrors.pcap", &["--session", "300"], 348, 53),
    filtered("ovs-mirrors.pcap", &["--index", "0xabcde"], 348, 53),
    filtered("ovs-mirrors.pcap", &["--from", "2001:db8:100::1"], 348, 101),
    filtered("ovs-mirrors.pcap", &["--from", "198.51.100.0/24"], 348, 247),
    // T1: 148 x IPv4 + 98 x IPv6; GRE 0x2000/0x6558 (99), 0x1000/0x88be (147). T3: key
    // 0x63 x48 (IPv4), key 0x7 x51 (IPv6). T2: all ver 1: session 10 index 16 x52,
    // session 77 index 119 x48, session 301 index 769 x47 (OVN writes the decimal INDEX,
    // OVS reads erspan_idx as hex).
    row("ovn-mirrors.pcap", 246, 246),
    filtered("ovn-mirrors.pcap", &["--key", "99"], 246, 48),
    filtered("ovn-mirrors.pcap", &["--key", "7"], 246, 51),
    filtered("ovn-mirrors.pcap", &["--session", "10"], 246, 52),
    filtered("ovn-mirrors.pcap", &["--index", "16"], 246, 52),
    filtered("ovn-mirrors.pcap", &["--session", "77"], 246, 48),
    filtered("ovn-mirrors.pcap", &["--index", "0x77"], 246, 48),
    filtered("ovn-mirrors.pcap", &["--session", "301"], 246, 47),
    filtered("ovn-mirrors.pcap", &["--index", "0x301"], 246, 47),
    // ERSPAN carries no GRE key; OVN sends no type III.
    filtered("ovn-mirrors.pcap", &["--key", "77"], 246, 0),
    filtered("ovn-mirrors.pcap", &["--direction", "ingress"], 246, 0),
];

#[test]
fn public_captures_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (i, r) in ROWS.iter().enumerate() {
        let input = testdata(r.file);
        let out = dir.path().join(format!("row{i}.pcap"));
        let mut args = vec![
            "-r".to_string(),
            input.display().to_string(),
            "-w".to_string(),
            out.display().to_string(),
        ];
        args.extend(r.args.iter().map(|s| s.to_string()));
        let run = run(&args);
        let ctx = format!("spandump -r testdata/{} {}", r.file, r.args.join(" "));
        if run.code() != Some(0) {
            failures.push(format!("{ctx}: exit {:?}\n{}", run.status, run.stderr));
            continue;
        }
        let s = match parse_summary(&run.stderr) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{ctx}: {e}"));
                continue;
            }
        };
        let want_skips: BTreeMap<String, u64> =
            r.skips.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let mut problems = Vec::new();
        if (s.read, s.written, s.filtered) != (r.read, r.written, r.filtered) {
            problems.push(format!(
                "read/written/filtered {}/{}/{}, expected {}/{}/{}",
                s.read, s.written, s.filtered, r.read, r.written, r.filtered
            ));
        }
        if s.skips != want_skips {
            problems.push(format!("skips {:?}, expected {:?}", s.skips, want_skips));
        }
        for (id, n) in r.notes {
            if s.note(id) != *n {
                problems.push(format!(
                    "note {id} = {}, expected {n} (notes {:?})",
                    s.note(id),
                    s.notes
                ));
            }
        }
        let cap = read_capture_bytes(&std::fs::read(&out).unwrap_or_default());
        match cap {
            Ok(cap) => {
                if cap.records.len() as u64 != r.written {
                    problems.push(format!(
                        "{} records in the output file, expected {}",
                        cap.records.len(),
                        r.written
                    ));
                }
                if cap.link_type != 1 || cap.pcapng {
                    problems.push(format!(
                        "output is not a classic Ethernet pcap (link {})",
                        cap.link_type
                    ));
                }
                let input_ts: BTreeSet<u64> = read_capture(&input)
                    .records
                    .iter()
                    .map(|r| r.ts_ns)
                    .collect();
                if let Some(bad) = cap
                    .records
                    .iter()
                    .find(|rec| !input_ts.contains(&rec.ts_ns))
                {
                    problems.push(format!(
                        "output timestamp {} is not the timestamp of any input packet",
                        bad.ts_ns
                    ));
                }
                if let Some(bad) = cap.records.iter().find(|rec| rec.data.len() < 14) {
                    problems.push(format!(
                        "a written frame is shorter than an Ethernet header: {}",
                        hex(&bad.data)
                    ));
                }
            }
            Err(e) => problems.push(format!("output file: {e}")),
        }
        if !problems.is_empty() {
            failures.push(format!("{ctx}:\n    {}", problems.join("\n    ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n  {}",
        failures.len(),
        ROWS.len(),
        failures.join("\n  ")
    );
}

/// Every capture in testdata/ is covered by at least one row.
#[test]
fn table_covers_every_capture() {
    let listed: BTreeSet<&str> = ROWS.iter().map(|r| r.file).collect();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(testdata("")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        // VXLAN / GENEVE captures have their own table (tests/cloud_captures.rs).
        let cloud = name.contains("vxlan") || name.contains("geneve");
        if (name.ends_with(".pcap") || name.ends_with(".pcapng"))
            && !cloud
            && !listed.contains(name.as_str())
        {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "captures without a row: {missing:?}");
    for f in &listed {
        assert!(testdata(f).exists(), "row names a missing file: {f}");
    }
}

/// Without `-w`, one text line per written frame, tagged with the encapsulation.
#[test]
fn text_output_on_captures() {
    // (file, lines, tag every line contains)
    let cases = [
        ("zeek-erspanII.pcap", 4, "erspan-ii sid 100"),
        ("zeek-erspanI.pcap", 10, "erspan-i"),
        ("zeek-erspanIII.pcap", 2, "erspan-iii sid 0"),
        ("suricata-verify-bug-2576-01-temp6.pcap", 15, "gre"),
    ];
    for (file, lines, tag) in cases {
        let r = run(&["-r", &testdata(file).display().to_string()]);
        r.expect_code(0);
        let text = r.stdout_text();
        assert_eq!(text.lines().count(), lines, "{file}: lines\n{text}");
        for l in text.lines() {
            assert!(l.contains(tag), "{file}: line {l:?} lacks {tag:?}");
        }
        assert_eq!(r.summary().written, lines as u64);
    }
    let r = run(&["-r", &testdata("zeek-erspanIII.pcap").display().to_string()]);
    let text = r.stdout_text();
    let dirs: Vec<bool> = text.lines().map(|l| l.contains("egress")).collect();
    assert_eq!(dirs, vec![false, true], "D bit in the text lines:\n{text}");
    let r = run(&[
        "-r",
        &testdata("zeek-erspan.pcap").display().to_string(),
        "--key",
        "0",
    ]);
    let text = r.stdout_text();
    assert_eq!(text.lines().count(), 125);
    assert!(text.lines().all(|l| l.contains("gre key 0")), "{text}");
}
