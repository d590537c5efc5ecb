//! End-to-end tests on generated captures: cases no public capture has.
//!
//! Every input is built by `tests/common/gen.rs` (checked against tshark by
//! `generator_output_is_decoded_by_tshark`), run through the real binary, and the
//! written inner frames are compared byte for byte with the inner frames that were put
//! in, together with the exit summary counters.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::capgen::*;
use common::*;

/// A timestamp with a whole number of microseconds (exact in µs files).
const T0_US: u64 = 1_700_000_000_123_456_000;
/// A timestamp that needs nanosecond resolution.
const T0_NS: u64 = 1_700_000_000_123_456_789;

fn ts(i: usize) -> u64 {
    T0_US + i as u64 * 1_000_017_000
}

/// One spandump run on a generated input.
struct Decap {
    run: Run,
    summary: Summary,
    out: Capture,
    _dir: tempfile::TempDir,
}

/// Writes `input` as `name`, runs `spandump -r IN -w OUT.pcap ARGS`, expects exit 0 and
/// reads the output back.
fn decap_file(input: &[u8], name: &str, args: &[&str]) -> Decap {
    let dir = tempfile::tempdir().expect("tempdir");
    let inp = write_file(dir.path(), name, input);
    let out = dir.path().join("out.pcap");
    let mut argv: Vec<String> = vec![
        "-r".into(),
        inp.display().to_string(),
        "-w".into(),
        out.display().to_string(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    let run = run(&argv);
    run.expect_code(0);
    let summary = run.summary();
    let out = read_capture(&out);
    Decap {
        run,
        summary,
        out,
        _dir: dir,
    }
}

/// `decap_file` on a classic pcap made of `packets` (timestamp, outer bytes).
fn decap(fmt: PcapFormat, packets: &[(u64, Vec<u8>)], args: &[&str]) -> Decap {
    decap_file(&pcap_bytes(fmt, packets), "in.pcap", args)
}

/// Ethernet-linked µs pcap with packet i at `ts(i)`.
fn eth_file(outer: Vec<Vec<u8>>) -> Vec<(u64, Vec<u8>)> {
    outer
        .into_iter()
        .enumerate()
        .map(|(i, p)| (ts(i), p))
        .collect()
}

impl Decap {
    /// Asserts the written frames, their timestamps and that orig_len == captured length.
    fn expect_frames(&self, context: &str, want: &[(u64, Vec<u8>)]) -> &Self {
        let frames: Vec<Vec<u8>> = want.iter().map(|(_, f)| f.clone()).collect();
        assert_frames_eq(context, &self.out.frames(), &frames);
        for (i, (rec, (t, f))) in self.out.records.iter().zip(want).enumerate() {
            assert_eq!(rec.ts_ns, *t, "{context}: timestamp of frame {}", i + 1);
            assert_eq!(
                rec.orig_len as usize,
                f.len(),
                "{context}: orig_len of frame {}",
                i + 1
            );
        }
        assert_eq!(
            self.out.link_type,
            linktype::ETHERNET,
            "{context}: output link type"
        );
        assert_eq!(
            self.summary.written,
            want.len() as u64,
            "{context}: written counter; stderr:\n{}",
            self.run.stderr
        );
        self
    }

    fn expect_no_skips(&self, context: &str) -> &Self {
        assert!(
            self.summary.skips.is_empty(),
            "{context}: unexpected skips {:?}",
            self.summary.skips
        );
        self
    }

    fn expect_skips(&self, context: &str, want: &[(&str, u64)]) -> &Self {
        let want: std::collections::BTreeMap<String, u64> =
            want.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        assert_eq!(self.summary.skips, want, "{context}: skip counters");
        self
    }

    fn expect_note(&self, context: &str, id: &str, n: u64) -> &Self {
        assert_eq!(
            self.summary.note(id),
            n,
            "{context}: note {id}; notes {:?}",
            self.summary.notes
        );
        self
    }
}

fn inner(i: u16) -> Vec<u8> {
    eth_icmp_echo(i, 24 + usize::from(i))
}

// ---------------------------------------------------------------------------------
// The generator itself, checked by tshark
// ---------------------------------------------------------------------------------

/// tshark must decode every field the generator puts in. This validates the generator
/// independently of spandump.
#[test]
fn generator_output_is_decoded_by_tshark() {
    if !have_tool("tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();

    // 1. pcapng with five interfaces of different link types and resolutions.
    let mut w = PcapngWriter::new(Vec::new(), false).unwrap();
    let eth = w.add_interface(1, 0, 9).unwrap();
    let raw = w.add_interface(101, 0, 6).unwrap();
    let sll_if = w.add_interface(113, 0, 9).unwrap();
    let sll2_if = w.add_interface(276, 0, 9).unwrap();
    let null_if = w.add_interface(0, 0, 9).unwrap();

    // #1 Eth/QinQ/IPv4 with options/GRE C+K+S/gretap
    let mut ip = Ipv4::new([10, 0, 0, 1], [10, 0, 0, 2], ipproto::GRE);
    ip.options = vec![1, 1, 1, 1, 1, 1, 1, 0];
    ip.df = true;
    let gre = Gre::new(ethertype::TEB)
        .checksum(GreChecksum::Computed)
        .key(0x1122_3344)
        .seq(7);
    let p1 = Ethernet::new(ethertype::IPV4)
        .vlan(VlanTag::dot1ad(10))
        .vlan(VlanTag::dot1q(20))
        .build(&ip.build(&gre.build(&eth_tcp(tcp_flags::SYN | tcp_flags::ACK, b"hi"))));
    w.write_packet(eth, T0_NS, &p1, p1.len() as u32).unwrap();

    // #2 Eth/IPv4/GRE S/ERSPAN II (T=1, En=3)/Eth+VLAN ICMP
    let mut e2 = ErspanII::new(100, 0x1abcd);
    e2.vlan = 42;
    e2.cos = 5;
    e2.en = 3;
    e2.truncated = true;
    let p2 = erspan2(&e2, 9, &eth_vlan_icmp(42, 1));
    w.write_packet(eth, T0_NS + 1, &p2, p2.len() as u32)
        .unwrap();

    // #3 RAW/IPv6 + HBH, Routing, DestOpts, Fragment, AH / GRE / ERSPAN III O=1 / Eth ARP
    let mut e3 = ErspanIII::new(200);
    e3.egress = true;
    e3.hw_id = 5;
    e3.gra = 1;
    e3.timestamp = 0xDEAD_BEEF;
    e3.bso = 1;
    e3.sgt = 0x0abc;
    e3.p = true;
    e3.vlan = 77;
    e3.cos = 6;
    e3.platform = Some(PlatformSubHeader {
        platform_id: 3,
        info: (0x1234 << 32) | 0x0000_0001,
    });
    let v6pkt = Ipv6::new(v6(1), v6(2), ipproto::GRE)
        .with_ext(Ipv6Ext::hop_by_hop())
        .with_ext(Ipv6Ext::routing())
        .with_ext(Ipv6Ext::dest_opts())
        .with_ext(Ipv6Ext::atomic_fragment(0x77))
        .with_ext(Ipv6Ext::ah())
        .build(
            &Gre::new(ethertype::ERSPAN_III)
                .seq(3)
                .build(&e3.build(&eth_arp(None))),
        );
    w.write_packet(raw, T0_US, &v6pkt, v6pkt.len() as u32)
        .unwrap();

    // #4 SLL/IPv4/GRE key/L3 IPv4 UDP
    let udp4 = ip_udp(IpAddrs::V4([1, 1, 1, 1], [2, 2, 2, 2]), 1000, 2000, b"abc");
    let p4 = sll(
        ethertype::IPV4,
        0,
        [2, 0, 0, 0, 0, 9],
        &ipv4_gre(
            [10, 0, 0, 3],
            [10, 0, 0, 4],
            &Gre::new(ethertype::IPV4).key(5),
            &udp4,
        ),
    );
    w.write_packet(sll_if, T0_NS + 3, &p4, p4.len() as u32)
        .unwrap();

    // #5 SLL2/IPv6/GRE/L3 IPv6 UDP
    let udp6 = ip_udp(IpAddrs::V6(v6(7), v6(8)), 1000, 2000, b"defg");
    let p5 = sll2(
        ethertype::IPV6,
        3,
        0,
        [2, 0, 0, 0, 0, 9],
        &ipv6_gre(v6(3), v6(4), &Gre::new(ethertype::IPV6), &udp6),
    );
    w.write_packet(sll2_if, T0_NS + 4, &p5, p5.len() as u32)
        .unwrap();

    // #6 NULL (AF 24 = IPv6 on BSD)/IPv6/GRE ERSPAN I
    let p6 = null(
        AF_INET6_BSD,
        false,
        &ipv6_gre(v6(5), v6(6), &Gre::new(ethertype::ERSPAN_II), &inner(6)),
    );
    w.write_packet(null_if, T0_NS + 5, &p6, p6.len() as u32)
        .unwrap();
    // #7 NULL (AF 2)/IPv4/GRE 0x0800 ICMP
    let p7 = null(
        AF_INET,
        false,
        &ipv4_gre(
            [10, 0, 0, 5],
            [10, 0, 0, 6],
            &Gre::new(ethertype::IPV4),
            &ipv4_icmp_echo([3, 3, 3, 3], [4, 4, 4, 4], 1, 8),
        ),
    );
    w.write_packet(null_if, T0_NS + 6, &p7, p7.len() as u32)
        .unwrap();

    // #8, #9, #10: an outer IPv4 datagram in three fragments (RAW link).
    let mut ip = Ipv4::new([10, 9, 9, 1], [10, 9, 9, 2], ipproto::GRE);
    ip.id = 0x4444;
    let frags = ip.fragments(
        &Gre::new(ethertype::TEB)
            .key(0xABCD)
            .build(&eth_udp_sized(3000, 1)),
        1480,
    );
    assert_eq!(frags.len(), 3);
    for (i, f) in frags.iter().enumerate() {
        w.write_packet(raw, T0_US + 1000 * i as u64, f, f.len() as u32)
            .unwrap();
    }
    let pcapng = write_file(dir.path(), "gen.pcapng", &w.into_inner());

    // (field, expected value per frame); all fields are decoded in one tshark run.
    let mut expected: Vec<(&str, [&str; 10])> = Vec::new();
    let mut check = |field: &'static str, want: &[&'static str]| {
        expected.push((field, want.try_into().expect("10 frames")));
    };
    check(
        "gre.flags_and_version",
        &[
            "0xb000", "0x1000", "0x1000", "0x2000", "0x0000", "0x0000", "0x0000", "", "", "0x2000",
        ],
    );
    check(
        "gre.key",
        &[
            "0x11223344",
            "",
            "",
            "0x00000005",
            "",
            "",
            "",
            "",
            "",
            "0x0000abcd",
        ],
    );
    check(
        "gre.sequence_number",
        &["7", "9", "3", "", "", "", "", "", "", ""],
    );
    check(
        "gre.checksum.status",
        &["1", "", "", "", "", "", "", "", "", ""],
    );
    check(
        "gre.proto",
        &[
            "0x6558", "0x88be", "0x22eb", "0x0800", "0x86dd", "0x88be", "0x0800", "", "", "0x6558",
        ],
    );
    check(
        "erspan.version",
        &["", "1", "2", "", "", "", "", "", "", ""],
    );
    check(
        "erspan.spanid",
        &["", "100", "200", "", "", "", "", "", "", ""],
    );
    check(
        "erspan.index",
        &["", "109517", "", "", "", "", "", "", "", ""],
    );
    check("erspan.vlan", &["", "42", "77", "", "", "", "", "", "", ""]);
    check("erspan.cos", &["", "5", "6", "", "", "", "", "", "", ""]);
    check("erspan.bso", &["", "", "1", "", "", "", "", "", "", ""]);
    check("erspan.sgt", &["", "", "2748", "", "", "", "", "", "", ""]);
    check("erspan.p", &["", "", "1", "", "", "", "", "", "", ""]);
    check("erspan.ft", &["", "", "0", "", "", "", "", "", "", ""]);
    check("erspan.encap", &["", "3", "", "", "", "", "", "", "", ""]);
    check(
        "erspan.truncated",
        &["", "1", "0", "", "", "", "", "", "", ""],
    );
    check(
        "erspan.direction",
        &["", "", "1", "", "", "", "", "", "", ""],
    );
    check("erspan.hw", &["", "", "5", "", "", "", "", "", "", ""]);
    check("erspan.gra", &["", "", "1", "", "", "", "", "", "", ""]);
    check(
        "erspan.timestamp",
        &["", "", "3735928559", "", "", "", "", "", "", ""],
    );
    check("erspan.o", &["", "", "1", "", "", "", "", "", "", ""]);
    check("erspan.platid", &["", "", "3", "", "", "", "", "", "", ""]);
    check(
        "erspan.pid3.port_index",
        &["", "", "4660", "", "", "", "", "", "", ""],
    );
    check("ieee8021ad.id", &["10", "", "", "", "", "", "", "", "", ""]);
    check("vlan.id", &["20", "42", "", "", "", "", "", "", "", ""]);
    check(
        "vlan.etype",
        &["0x0800", "0x0800", "", "", "", "", "", "", "", ""],
    );
    check(
        "ip.checksum.status",
        &["1,1", "1,1", "", "1,1", "", "1", "1,1", "1", "1", "1,1"],
    );
    check(
        "ip.hdr_len",
        &[
            "28,20", "20,20", "", "20,20", "", "20", "20,20", "20", "20", "20,20",
        ],
    );
    check(
        "ipv6.nxt",
        &["", "", "0", "", "47,17", "47", "", "", "", ""],
    );
    check(
        "ah.spi",
        &["", "", "0x00001000", "", "", "", "", "", "", ""],
    );
    check(
        "ah.next_header",
        &["", "", "47", "", "", "", "", "", "", ""],
    );
    check(
        "ipv6.fraghdr.ident",
        &["", "", "0x00000077", "", "", "", "", "", "", ""],
    );
    check(
        "sll.etype",
        &["", "", "", "0x0800", "0x86dd", "", "", "", "", ""],
    );
    check("sll.ifindex", &["", "", "", "", "3", "", "", "", "", ""]);
    check("null.family", &["", "", "", "", "", "24", "2", "", "", ""]);
    check("arp.opcode", &["", "", "1", "", "", "", "", "", "", ""]);
    check("tcp.flags", &["0x0012", "", "", "", "", "", "", "", "", ""]);
    check(
        "tcp.checksum.status",
        &["1", "", "", "", "", "", "", "", "", ""],
    );
    check(
        "udp.checksum.status",
        &["", "", "", "1", "1", "", "", "", "", "1"],
    );
    check(
        "icmp.checksum.status",
        &["", "1", "", "", "", "1", "1", "", "", ""],
    );
    check(
        "udp.length",
        &["", "", "", "11", "12", "", "", "", "", "2966"],
    );
    check("icmp.seq", &["", "1", "", "", "", "6", "1", "", "", ""]);
    check(
        "ip.frag_offset",
        &["0,0", "0,0", "", "0,0", "", "0", "0,0", "0", "185", "370,0"],
    );
    check(
        "frame.time_epoch",
        &[
            "1700000000.123456789",
            "1700000000.123456790",
            "1700000000.123456000",
            "1700000000.123456792",
            "1700000000.123456793",
            "1700000000.123456794",
            "1700000000.123456795",
            "1700000000.123456000",
            "1700000000.123457000",
            "1700000000.123458000",
        ],
    );
    let fields: Vec<&str> = expected.iter().map(|(f, _)| *f).collect();
    let rows = tshark_fields(
        &pcapng,
        None,
        &fields,
        &[
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
        ],
    );
    assert_eq!(rows.len(), 10, "tshark frames");
    let mut mismatches = Vec::new();
    for (col, (field, want)) in expected.iter().enumerate() {
        let got: Vec<&str> = rows.iter().map(|r| r[col].as_str()).collect();
        if got != want {
            mismatches.push(format!("{field}: got {got:?}, want {want:?}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "tshark disagrees with the generator:\n  {}",
        mismatches.join("\n  ")
    );

    // 2. Classic pcap, big-endian, ns magic, snaplen cut.
    let mut fmt = PcapFormat::ethernet();
    fmt.big_endian = true;
    fmt.nanos = true;
    fmt.snaplen = 100;
    let p = gretap(Some(99), &eth_udp_sized(300, 2));
    let be = write_file(dir.path(), "be.pcap", &pcap_bytes(fmt, &[(T0_NS, p)]));
    let rows = tshark_fields(
        &be,
        None,
        &["frame.time_epoch", "frame.len", "frame.cap_len", "gre.key"],
        &[],
    );
    assert_eq!(
        rows,
        vec![vec![
            "1700000000.123456789".to_string(),
            (14 + 20 + 8 + 300).to_string(),
            "100".to_string(),
            "0x00000063".to_string()
        ]]
    );
    let info = Command::new("capinfos")
        .arg("-t")
        .arg("-E")
        .arg("-i")
        .arg(&be)
        .output();
    if let Ok(info) = info {
        let text = String::from_utf8_lossy(&info.stdout);
        assert!(
            text.contains("Wireshark/tcpdump/... - nanosecond pcap"),
            "{text}"
        );
    }
}

// ---------------------------------------------------------------------------------
// GRE options
// ---------------------------------------------------------------------------------

fn gretap_with(gre: &Gre, inner: &[u8]) -> Vec<u8> {
    outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, gre, inner))
}

#[test]
fn gre_checksum_valid_and_corrupt() {
    let f1 = inner(1);
    let f2 = inner(2);
    let good = Gre::new(ethertype::TEB)
        .checksum(GreChecksum::Computed)
        .key(1);
    let good_bytes = good.build(&f2);
    let correct = u16::from_be_bytes([good_bytes[4], good_bytes[5]]);
    let bad = Gre::new(ethertype::TEB)
        .checksum(GreChecksum::Value(correct ^ 0x0101))
        .key(1);
    let input = eth_file(vec![gretap_with(&good, &f1), gretap_with(&bad, &f2)]);
    decap(PcapFormat::ethernet(), &input, &[])
        .expect_frames("GRE checksum", &[(ts(0), f1), (ts(1), f2)])
        .expect_no_skips("GRE checksum")
        .expect_note("GRE checksum", "gre-checksum-bad", 1);
}

#[test]
fn gre_key_and_sequence() {
    let f1 = inner(1);
    let f2 = inner(2);
    let input = eth_file(vec![
        gretap_with(&Gre::new(ethertype::TEB).key(77).seq(5), &f1),
        gretap_with(&Gre::new(ethertype::TEB).key(78).seq(6), &f2),
    ]);
    decap(PcapFormat::ethernet(), &input, &[])
        .expect_frames("key+seq", &[(ts(0), f1.clone()), (ts(1), f2)])
        .expect_no_skips("key+seq");
    let d = decap(PcapFormat::ethernet(), &input, &["--key", "77"]);
    d.expect_frames("--key 77", &[(ts(0), f1.clone())]);
    assert_eq!(d.summary.filtered, 1, "--key 77 filters the key-78 packet");
    // Hex spelling of the same key.
    decap(PcapFormat::ethernet(), &input, &["--key", "0x4d"])
        .expect_frames("--key 0x4d", &[(ts(0), f1)]);
}

#[test]
fn gre_legacy_bits_are_ignored_and_noted() {
    let f = inner(3);
    let mut gre = Gre::new(ethertype::TEB);
    gre.extra_flags = 0x0800 | 0x0300; // s + Recur = 3 (RFC 1701)
    let input = eth_file(vec![gretap_with(&gre, &f)]);
    decap(PcapFormat::ethernet(), &input, &[])
        .expect_frames("legacy bits", &[(ts(0), f)])
        .expect_no_skips("legacy bits")
        .expect_note("legacy bits", "gre-legacy-bits", 1);
}

#[test]
fn gre_in_gre_is_decapsulated_one_level() {
    // Outer L3 GRE carrying an IPv4/GRE/IPv4 packet: the written frame is the middle
    // IPv4 packet (with its own GRE inside), behind a synthesized Ethernet header.
    let innermost = ipv4_icmp_echo([10, 7, 0, 1], [10, 7, 0, 2], 1, 16);
    let middle = ipv4_gre(
        [10, 6, 0, 1],
        [10, 6, 0, 2],
        &Gre::new(ethertype::IPV4),
        &innermost,
    );
    let input = eth_file(vec![l3gre(None, &middle)]);
    decap(PcapFormat::ethernet(), &input, &[])
        .expect_frames("GRE in GRE", &[(ts(0), synthesized_ethernet(&middle))])
        .expect_no_skips("GRE in GRE");
}

// ---------------------------------------------------------------------------------
// Outer IP
// ---------------------------------------------------------------------------------

#[test]
fn ipv4_options_every_header_length() {
    let mut input = Vec::new();
    let mut want = Vec::new();
    for ihl in 6u8..=15 {
        let f = inner(u16::from(ihl));
        let mut ip = Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE);
        // NOPs, then EOL: (ihl - 5) words of options.
        ip.options = vec![1; usize::from(ihl - 5) * 4 - 1];
        ip.options.push(0);
        assert_eq!(ip.header_len(), usize::from(ihl) * 4);
        let pkt = outer_eth(&ip.build(&Gre::new(ethertype::TEB).key(u32::from(ihl)).build(&f)));
        let i = input.len();
        input.push((ts(i), pkt));
        want.push((ts(i), f));
    }
    decap(PcapFormat::ethernet(), &input, &[])
        .expect_frames("IPv4 options", &want)
        .expect_no_skips("IPv4 options");
}

#[test]
fn ethernet_padding_is_trimmed() {
    // A 20-byte inner IPv4 packet (no payload) in L3 GRE: outer frame 58 bytes, padded
    // to 60 by the sender's NIC. The padding must not reach the inner frame.
    let mut bare = Ipv4::new([10, 5, 0, 1], [10, 5, 0, 2], ipproto::NO_NEXT);
    bare.id = 7;
    let tiny_ip = bare.build(&[]);
    let l3 = Ethernet::new(ethertype::IPV4).build_padded(&ipv4_gre(
        OUTER_SRC,
        OUTER_DST,
        &Gre::new(ethertype::IPV4),
        &tiny_ip,
    ));
    assert_eq!(l3.len(), 60);
    // An 18-byte inner Ethernet frame in gretap: outer 56 bytes, padded to 60.
    let tiny_eth = Ethernet::new(0x88B5).build(&[0xA1, 0xA2, 0xA3, 0xA4]);
    let l2 = Ethernet::new(ethertype::IPV4).build_padded(&ipv4_gre(
        OUTER_SRC,
        OUTER_DST,
        &Gre::new(ethertype::TEB),
        &tiny_eth,
    ));
    assert_eq!(l2.len(), 60);
    let input = eth_file(vec![l3, l2]);
    decap(PcapFormat::ethernet(), &input, &[])
        .expect_frames(
            "padding",
            &[(ts(0), synthesized_ethernet(&tiny_ip)), (ts(1), tiny_eth)],
        )
        .expect_no_skips("padding");
}

#[test]
fn ipv6_each_extension_header_before_gre() {
    let kinds: Vec<(&str, Vec<Ipv6Ext>)> = vec![
        ("hop-by-hop", vec![Ipv6Ext::hop_by_hop()]),
        ("routing", vec![Ipv6Ext::routing()]),
        ("destination options", vec![Ipv6Ext::dest_opts()]),
        ("fragment (atomic)", vec![Ipv6Ext::atomic_fragment(9)]),
        ("AH", vec![Ipv6Ext::ah()]),
        (
            "all five",
            vec![
                Ipv6Ext::hop_by_hop(),
                Ipv6Ext::dest_opts(),
                Ipv6Ext::routing(),
                Ipv6Ext::atomic_fragment(10),
                Ipv6Ext::ah(),
            ],
        ),
    ];
    let mut input = Vec::new();
    let mut want = Vec::new();
    for (i, (_, exts)) in kinds.iter().enumerate() {
        let f = inner(i as u16);
        let mut ip = Ipv6::new(v6(1), v6(2), ipproto::GRE);
        ip.ext = exts.clone();
        let pkt = outer_eth(&ip.build(&Gre::new(ethertype::TEB).key(i as u32).build(&f)));
        input.push((ts(i), pkt));
        want.push((ts(i), f));
    }
    decap(PcapFormat::ethernet(), &input, &[])
        .expect_frames("IPv6 extension headers", &want)
        .expect_no_skips("IPv6 extension headers");
}

#[test]
fn ipv6_long_extension_chain_is_skipped() {
    for n in [9usize, 16] {
        let mut ip = Ipv6::new(v6(1), v6(2), ipproto::GRE);
        ip.ext = vec![Ipv6Ext::dest_opts(); n];
        let pkt = outer_eth(&ip.build(&Gre::new(ethertype::TEB).build(&inner(1))));
        let ctx = format!("chain of {n} extension headers");
        decap(PcapFormat::ethernet(), &eth_file(vec![pkt]), &[])
            .expect_frames(&ctx, &[])
            .expect_skips(&ctx, &[("ipv6-ext-headers", 1)]);
    }
}

#[test]
fn outer_vlan_and_qinq() {
    let f1 = inner(1);
    let f2 = inner(2);
    let ip1 = ipv4_gre(OUTER_SRC, OUTER_DST, &Gre::new(ethertype::TEB), &f1);
    let ip2 = ipv6_gre(v6(1), v6(2), &Gre::new(ethertype::TEB), &f2);
    let f3 = inner(3);
    let ip3 = ipv4_gre(OUTER_SRC, OUTER_DST, &Gre::new(ethertype::TEB), &f3);
    let input = eth_file(vec![
        Ethernet::new(ethertype::IPV4)
            .vlan(VlanTag::dot1ad(100))
            .vlan(VlanTag::dot1q(200))
            .build(&ip1),
        Ethernet::new(ethertype::IPV6)
            .vlan(VlanTag::dot1ad(100))
            .vlan(VlanTag::dot1q(201))
            .build(&ip2),
        Ethernet::new(ethertype::IPV4)
            .vlan(VlanTag::dot1q(5))
            .build(&ip3),
    ]);
    decap(PcapFormat::ethernet(), &input, &[])
        .expect_frames("QinQ", &[(ts(0), f1), (ts(1), f2), (ts(2), f3)])
        .expect_no_skips("QinQ");
}

#[test]
fn outer_link_types_sll_sll2_null_raw() {
    let f4 = inner(4);
    let f6 = inner(6);
    let ip4 = ipv4_gre(OUTER_SRC, OUTER_DST, &Gre::new(ethertype::TEB).key(4), &f4);
    let ip6 = ipv6_gre(v6(1), v6(2), &Gre::new(ethertype::TEB).key(6), &f6);
    let mac = [0x02, 0, 0, 0, 0, 0x11];
    let cases: Vec<(&str, PcapFormat, Vec<Vec<u8>>)> = vec![
        (
            "LINUX_SLL",
            PcapFormat::link(linktype::LINUX_SLL),
            vec![
                sll(ethertype::IPV4, 0, mac, &ip4),
                sll(ethertype::IPV6, 4, mac, &ip6),
            ],
        ),
        (
            "LINUX_SLL2",
            PcapFormat::link(linktype::LINUX_SLL2),
            vec![
                sll2(ethertype::IPV4, 2, 0, mac, &ip4),
                sll2(ethertype::IPV6, 2, 4, mac, &ip6),
            ],
        ),
        (
            "NULL little-endian (AF 2 / AF 24)",
            PcapFormat::link(linktype::NULL),
            vec![null(AF_INET, false, &ip4), null(AF_INET6_BSD, false, &ip6)],
        ),
        (
            "NULL big-endian file (AF 2 / AF 30)",
            PcapFormat {
                big_endian: true,
                ..PcapFormat::link(linktype::NULL)
            },
            vec![null(AF_INET, true, &ip4), null(30, true, &ip6)],
        ),
        (
            "RAW",
            PcapFormat::link(linktype::RAW),
            vec![ip4.clone(), ip6.clone()],
        ),
    ];
    for (name, fmt, pkts) in cases {
        decap(fmt, &eth_file(pkts), &[])
            .expect_frames(name, &[(ts(0), f4.clone()), (ts(1), f6.clone())])
            .expect_no_skips(name);
    }
}

#[test]
fn outer_ipv4_fragments_are_reassembled() {
    // Two datagrams of 3 fragments each; the second arrives out of order.
    let f1 = eth_udp_sized(3000, 1);
    let f2 = eth_udp_sized(2500, 2);
    let mut ip = Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE);
    ip.id = 0x0101;
    let frags1 = ip.fragments(&Gre::new(ethertype::TEB).key(1).build(&f1), 1480);
    ip.id = 0x0102;
    let frags2 = ip.fragments(&Gre::new(ethertype::TEB).key(2).build(&f2), 1024);
    assert_eq!((frags1.len(), frags2.len()), (3, 3));
    let order2 = [2usize, 0, 1];
    let mut pkts: Vec<Vec<u8>> = frags1.iter().map(|f| outer_eth(f)).collect();
    pkts.extend(order2.iter().map(|&i| outer_eth(&frags2[i])));
    let d = decap(PcapFormat::ethernet(), &eth_file(pkts), &[]);
    assert_frames_eq("reassembly", &d.out.frames(), &[f1.clone(), f2.clone()]);
    for (rec, f) in d.out.records.iter().zip([&f1, &f2]) {
        assert_eq!(
            rec.orig_len as usize,
            f.len(),
            "orig_len of a reassembled frame"
        );
    }
    // The frame is complete when its last missing fragment arrives.
    assert_eq!(d.out.records[0].ts_ns, ts(2), "timestamp of datagram 1");
    assert_eq!(d.out.records[1].ts_ns, ts(5), "timestamp of datagram 2");
    d.expect_no_skips("reassembly")
        .expect_note("reassembly", "fragments-reassembled", 2);
    assert_eq!(d.summary.read, 6);
}

#[test]
fn overlapping_outer_fragments_are_skipped() {
    let payload = Gre::new(ethertype::TEB).build(&eth_udp_sized(60, 3));
    let mut a = Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE);
    a.id = 0x0200;
    a.mf = true;
    let first = a.build(&payload[..40]);
    // Second fragment starts at byte 32 (< 40): overlaps the first by 8 bytes.
    let mut b = a.clone();
    b.mf = false;
    b.frag_offset = 4;
    let second = b.build(&payload[32..]);
    let d = decap(
        PcapFormat::ethernet(),
        &eth_file(vec![outer_eth(&first), outer_eth(&second)]),
        &[],
    );
    d.expect_frames("overlap", &[]);
    // Whether the cause counts the datagram or each fragment is spandump's choice.
    assert!(
        d.summary.skip("fragment-overlap") >= 1,
        "fragment-overlap not counted: {:?}",
        d.summary.skips
    );
}

#[test]
fn incomplete_outer_fragment_is_counted() {
    let payload = Gre::new(ethertype::TEB).build(&eth_udp_sized(100, 4));
    let mut a = Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE);
    a.id = 0x0300;
    let frags = a.fragments(&payload, 64);
    assert_eq!(frags.len(), 2);
    let d = decap(
        PcapFormat::ethernet(),
        &eth_file(vec![outer_eth(&frags[0])]),
        &[],
    );
    d.expect_frames("incomplete fragment", &[]);
    assert!(
        d.summary.skip("fragment-incomplete") >= 1,
        "fragment-incomplete not counted: {:?}",
        d.summary.skips
    );
}

// ---------------------------------------------------------------------------------
// Capture formats and timestamps
// ---------------------------------------------------------------------------------

#[test]
fn pcapng_input_two_link_types_ns() {
    let mut w = PcapngWriter::new(Vec::new(), false).unwrap();
    let eth = w.add_interface(linktype::ETHERNET as u16, 0, 9).unwrap();
    let raw = w.add_interface(linktype::RAW as u16, 0, 6).unwrap();
    let f1 = inner(1);
    let f2 = inner(2);
    let f3 = inner(3);
    let p1 = gretap(Some(1), &f1);
    let p2 = ipv4_gre(OUTER_SRC, OUTER_DST, &Gre::new(ethertype::TEB).key(2), &f2);
    let p3 = gretap(Some(3), &f3);
    w.write_packet(eth, T0_NS, &p1, p1.len() as u32).unwrap();
    // The RAW interface counts µs: this timestamp is stored as ...123457 µs.
    w.write_packet(raw, T0_NS + 1000, &p2, p2.len() as u32)
        .unwrap();
    w.write_packet(eth, T0_NS + 2001, &p3, p3.len() as u32)
        .unwrap();
    let bytes = w.into_inner();
    let want = [
        (T0_NS, f1),
        (1_700_000_000_123_457_000, f2),
        (T0_NS + 2001, f3),
    ];
    let d = decap_file(&bytes, "in.pcapng", &["--nano"]);
    d.expect_frames("pcapng --nano", &want)
        .expect_no_skips("pcapng --nano");
    assert!(
        d.out.nanos && !d.out.pcapng,
        "--nano writes a ns-magic classic pcap"
    );
}

#[test]
fn ns_pcap_input_keeps_ns() {
    let f1 = inner(1);
    let f2 = inner(2);
    let fmt = PcapFormat {
        nanos: true,
        ..PcapFormat::ethernet()
    };
    let input = vec![(T0_NS, gretap(None, &f1)), (T0_NS + 1, gretap(None, &f2))];
    let d = decap(fmt, &input, &[]);
    d.expect_frames("ns input", &[(T0_NS, f1), (T0_NS + 1, f2)]);
    assert!(d.out.nanos, "ns input gives ns output");
}

#[test]
fn us_pcap_input_gives_us_output_and_nano_flag_gives_ns() {
    let f1 = inner(1);
    let input = eth_file(vec![gretap(None, &f1)]);
    let d = decap(PcapFormat::ethernet(), &input, &[]);
    d.expect_frames("µs input", &[(ts(0), f1.clone())]);
    assert!(!d.out.nanos, "µs input without --nano gives µs output");
    let d = decap(PcapFormat::ethernet(), &input, &["--nano"]);
    d.expect_frames("µs input --nano", &[(ts(0), f1)]);
    assert!(d.out.nanos, "--nano gives ns output");
}

#[test]
fn big_endian_pcap_input() {
    let f1 = inner(1);
    let f2 = eth_arp(Some(12));
    let fmt = PcapFormat {
        big_endian: true,
        ..PcapFormat::ethernet()
    };
    let input = eth_file(vec![gretap(Some(1), &f1), erspan1(&f2)]);
    decap(fmt, &input, &[])
        .expect_frames("big-endian input", &[(ts(0), f1), (ts(1), f2)])
        .expect_no_skips("big-endian input");
}

#[test]
fn pcapng_output() {
    let f1 = inner(1);
    let ip = ipv4_icmp_echo([10, 3, 0, 1], [10, 3, 0, 2], 1, 10);
    let input = pcap_bytes(
        PcapFormat::ethernet(),
        &eth_file(vec![gretap(Some(1), &f1), l3gre(None, &ip)]),
    );
    let dir = tempfile::tempdir().unwrap();
    let inp = write_file(dir.path(), "in.pcap", &input);
    for (out_name, extra) in [("out.pcapng", None), ("out.bin", Some("--pcapng"))] {
        let out = dir.path().join(out_name);
        let mut args = vec![
            "-r".to_string(),
            inp.display().to_string(),
            "-w".to_string(),
            out.display().to_string(),
        ];
        args.extend(extra.map(str::to_string));
        run(&args).expect_code(0);
        let cap = read_capture(&out);
        assert!(cap.pcapng, "{out_name}: output is pcapng");
        assert_eq!(cap.records.len(), 2, "{out_name}: frames");
        assert_eq!(cap.records[0].data, f1, "{out_name}: gretap frame");
        assert_eq!(cap.records[0].link_type, linktype::ETHERNET);
        assert_eq!(cap.records[0].ts_ns, ts(0));
        // pcapng may carry the L3 payload on a RAW interface or behind a synthesized
        // Ethernet header; both are correct.
        let r = &cap.records[1];
        let ok = (r.link_type == linktype::RAW && r.data == ip)
            || (r.link_type == linktype::ETHERNET && r.data == synthesized_ethernet(&ip));
        assert!(
            ok,
            "{out_name}: L3 frame on link type {}: {}",
            r.link_type,
            hex(&r.data)
        );
        assert_eq!(r.ts_ns, ts(1));
    }
}

#[test]
fn stdin_input() {
    let f1 = inner(1);
    let input = pcap_bytes(
        PcapFormat::ethernet(),
        &eth_file(vec![gretap(Some(1), &f1)]),
    );
    let r = run_with_stdin(&["-r", "-", "-w", "-"], Some(input));
    r.expect_code(0);
    let cap = read_capture_bytes(&r.stdout).expect("stdout is a capture");
    assert_eq!(cap.frames(), vec![f1.as_slice()]);
    assert_eq!(r.summary().written, 1);

    // pcapng on stdin, ns resolution, written as pcapng to stdout.
    let f2 = inner(2);
    let mut w = PcapngWriter::new(Vec::new(), true).unwrap();
    let eth = w.add_interface(linktype::ETHERNET as u16, 0, 9).unwrap();
    let p2 = gretap(None, &f2);
    w.write_packet(eth, T0_NS, &p2, p2.len() as u32).unwrap();
    let r = run_with_stdin(&["-r", "-", "-w", "-", "--pcapng"], Some(w.into_inner()));
    r.expect_code(0);
    let cap = read_capture_bytes(&r.stdout).expect("stdout is a capture");
    assert!(cap.pcapng, "--pcapng to stdout");
    assert_eq!(cap.frames(), vec![f2.as_slice()]);
    assert_eq!(cap.records[0].ts_ns, T0_NS, "ns timestamp through pcapng");
}

// ---------------------------------------------------------------------------------
// ERSPAN
// ---------------------------------------------------------------------------------

#[test]
fn erspan2_en_and_t_variations() {
    let mut input = Vec::new();
    let mut want = Vec::new();
    for en in 0u8..4 {
        for t in [false, true] {
            let i = input.len();
            let f = if en == 3 {
                eth_vlan_icmp(300, i as u16)
            } else {
                inner(i as u16)
            };
            let mut h = ErspanII::new(10, 0x2000 + i as u32);
            h.en = en;
            h.truncated = t;
            h.vlan = 300;
            h.cos = 2;
            input.push((ts(i), erspan2(&h, i as u32, &f)));
            want.push((ts(i), f));
        }
    }
    decap(PcapFormat::ethernet(), &input, &[])
        .expect_frames("ERSPAN II En/T", &want)
        .expect_no_skips("ERSPAN II En/T")
        .expect_note("ERSPAN II En/T", "sender-truncated", 4);
}

#[test]
fn erspan3_platform_subheader_and_flags_zero() {
    let mut input = Vec::new();
    let mut want = Vec::new();
    for (i, platform_id) in [1u8, 3, 5, 7, 0x3F].into_iter().enumerate() {
        let f = inner(i as u16);
        let mut h = ErspanIII::new(300);
        h.platform = Some(PlatformSubHeader {
            platform_id,
            info: 0x0123_4567_89AB_CDEF,
        });
        input.push((ts(i), erspan3(&h, i as u32, &f)));
        want.push((ts(i), f));
    }
    // Type III without the GRE S bit (Cisco / Pensando style), with and without O.
    for o in [false, true] {
        let i = input.len();
        let f = inner(i as u16);
        let mut h = ErspanIII::new(301);
        if o {
            h.platform = Some(PlatformSubHeader {
                platform_id: 3,
                info: 1,
            });
        }
        let pkt = outer_eth(&ipv4_gre(
            OUTER_SRC,
            OUTER_DST,
            &Gre::new(ethertype::ERSPAN_III),
            &h.build(&f),
        ));
        input.push((ts(i), pkt));
        want.push((ts(i), f));
    }
    decap(PcapFormat::ethernet(), &input, &[])
        .expect_frames("ERSPAN III O=1", &want)
        .expect_no_skips("ERSPAN III O=1");
}

#[test]
fn erspan3_frame_type_ip_gets_synthesized_ethernet() {
    let ip4 = ip_udp(
        IpAddrs::V4([10, 8, 0, 1], [10, 8, 0, 2]),
        5000,
        6000,
        b"ft2-v4",
    );
    let ip6 = ip_udp(IpAddrs::V6(v6(0x81), v6(0x82)), 5000, 6000, b"ft2-v6");
    let mut h = ErspanIII::new(5);
    h.ft = 2;
    let input = eth_file(vec![erspan3(&h, 1, &ip4), erspan3(&h, 2, &ip6)]);
    let w4 = synthesized_ethernet(&ip4);
    let w6 = synthesized_ethernet(&ip6);
    assert_eq!(&w4[12..14], &[0x08, 0x00]);
    assert_eq!(&w6[12..14], &[0x86, 0xDD]);
    decap(PcapFormat::ethernet(), &input, &[])
        .expect_frames("ERSPAN III FT=2", &[(ts(0), w4), (ts(1), w6)])
        .expect_no_skips("ERSPAN III FT=2");
}

#[test]
fn l3_gre_ipv6_gets_synthesized_ethernet() {
    let ip6 = ip_tcp(IpAddrs::V6(v6(0x91), v6(0x92)), 1, 2, tcp_flags::RST, b"");
    let input = eth_file(vec![l3gre(Some(9), &ip6)]);
    decap(PcapFormat::ethernet(), &input, &[])
        .expect_frames("L3 GRE IPv6", &[(ts(0), synthesized_ethernet(&ip6))])
        .expect_no_skips("L3 GRE IPv6");
}

#[test]
fn erspan_88be_with_version_2_is_parsed_as_type3() {
    let f = inner(1);
    let mut h = ErspanIII::new(77);
    h.egress = true;
    let pkt = outer_eth(&ipv4_gre(
        OUTER_SRC,
        OUTER_DST,
        &Gre::new(ethertype::ERSPAN_II).seq(1),
        &h.build(&f),
    ));
    decap(PcapFormat::ethernet(), &eth_file(vec![pkt.clone()]), &[])
        .expect_frames("0x88BE ver 2", &[(ts(0), f.clone())])
        .expect_no_skips("0x88BE ver 2")
        .expect_note("0x88BE ver 2", "erspan-version-mismatch", 1);
    // Parsed as type III, so the D bit filter applies.
    decap(
        PcapFormat::ethernet(),
        &eth_file(vec![pkt]),
        &["--direction", "egress", "--session", "77"],
    )
    .expect_frames("0x88BE ver 2, --direction egress", &[(ts(0), f)]);
}

#[test]
fn erspan_type1_whose_payload_looks_like_a_header() {
    // Type I is decided by the GRE flags, not by the payload's first nibble
    // (cf. testdata/tcpdump-erspan-type-i-2.pcap).
    let f = Ethernet::new(ethertype::IPV4)
        .macs(
            [0x00, 0x25, 0, 0, 0, 1],
            [0x10, 0x25, 0x9e, 0x81, 0xb3, 0x54],
        )
        .build(&ipv4_icmp_echo([10, 0, 0, 1], [10, 0, 0, 2], 1, 8));
    decap(PcapFormat::ethernet(), &eth_file(vec![erspan1(&f)]), &[])
        .expect_frames("ERSPAN I nibble 1", &[(ts(0), f)])
        .expect_no_skips("ERSPAN I nibble 1");
}

// ---------------------------------------------------------------------------------
// Skip causes: one packet per cause, each in its own file.
// ---------------------------------------------------------------------------------

#[test]
fn each_skip_cause_is_counted() {
    let f = inner(1);
    let gre_tap = Gre::new(ethertype::TEB);
    let mut ihl4 = Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE);
    ihl4.ihl = Some(4);
    let mut short_total = Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE);
    short_total.total_length = Some(16);
    // Total length beyond the packet's length on the wire: the pcap record's orig_len
    // equals its captured length, so this is not a snaplen cut (spec §6 case 3).
    let mut long_total = Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE);
    long_total.total_length = Some(1400);
    let gre_key_cut = {
        // GRE says K (8-byte header) but the IP payload holds only 4 bytes.
        let g = Gre::new(ethertype::TEB).key(5).build(&[]);
        outer_eth(&Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE).build(&g[..4]))
    };
    let erspan2_cut = {
        let body = Gre::new(ethertype::ERSPAN_II)
            .seq(1)
            .build(&ErspanII::new(1, 1).header()[..4]);
        outer_eth(&Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE).build(&body))
    };
    let erspan3_subheader_cut = {
        let mut h = ErspanIII::new(1);
        h.platform = Some(PlatformSubHeader {
            platform_id: 3,
            info: 0,
        });
        let hdr = h.header();
        let body = Gre::new(ethertype::ERSPAN_III).seq(1).build(&hdr[..16]);
        outer_eth(&Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE).build(&body))
    };
    let mut routing = Gre::new(ethertype::TEB);
    routing.extra_flags = 0x4000;
    routing.routing = vec![0x08, 0x00, 0x00, 0x00]; // AF IPv4, offset 0, length 0: NULL SRE
    let mut v1 = Gre::new(0x880B);
    v1.extra_flags = 0x0001;
    let mut erspan_v3 = ErspanII::new(1, 1);
    erspan_v3.version = 3;
    let mut ft7 = ErspanIII::new(1);
    ft7.ft = 7;
    let udp = ip_udp(IpAddrs::V4(OUTER_SRC, OUTER_DST), 1, 2, b"x");
    let v6_in_l3_v4 = {
        // GRE says IPv4 but the payload is an IPv6 packet.
        let ip6 = ip_udp(IpAddrs::V6(v6(1), v6(2)), 1, 2, b"x");
        outer_eth(&ipv4_gre(
            OUTER_SRC,
            OUTER_DST,
            &Gre::new(ethertype::IPV4),
            &ip6,
        ))
    };
    // IPv6 payload length beyond the packet's length on the wire (not a snaplen cut).
    let mut v6_long = Ipv6::new(v6(1), v6(2), ipproto::GRE);
    v6_long.payload_length = Some(1400);
    let mut long_chain = Ipv6::new(v6(1), v6(2), ipproto::GRE);
    long_chain.ext = vec![Ipv6Ext::dest_opts(); 12];

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "not-ip",
            Ethernet::new(ethertype::ARP).build(&arp_request([2; 6], [1; 4], [2; 4])),
        ),
        ("not-ip", Ethernet::new(0x88CC).build(&[0; 40])),
        ("not-gre", outer_eth(&udp)),
        ("truncated-link", vec![0x02; 10]),
        (
            "truncated-ip",
            Ethernet::new(ethertype::IPV4).build(&[0x45, 0, 0, 40, 0, 0]),
        ),
        ("bad-ip-header", outer_eth(&ihl4.build(&gre_tap.build(&f)))),
        (
            "bad-ip-header",
            outer_eth(&short_total.build(&gre_tap.build(&f))),
        ),
        (
            "bad-ip-header",
            outer_eth(&long_total.build(&gre_tap.build(&f))),
        ),
        (
            "bad-ip-header",
            outer_eth(&v6_long.build(&gre_tap.build(&f))),
        ),
        (
            "ipv6-ext-headers",
            outer_eth(&long_chain.build(&gre_tap.build(&f))),
        ),
        ("truncated-gre", gre_key_cut),
        (
            "truncated-gre",
            outer_eth(&Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE).build(&[0, 0])),
        ),
        (
            "gre-routing",
            outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, &routing, &f)),
        ),
        (
            "gre-version",
            outer_eth(&ipv4_gre(
                OUTER_SRC,
                OUTER_DST,
                &v1,
                &[0xFF, 0x03, 0xC0, 0x21],
            )),
        ),
        (
            "gre-keepalive",
            outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, &Gre::new(0), &[])),
        ),
        (
            "gre-proto-0x88b5",
            outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, &Gre::new(0x88B5), &f)),
        ),
        (
            "gre-proto-0x0806",
            outer_eth(&ipv4_gre(
                OUTER_SRC,
                OUTER_DST,
                &Gre::new(ethertype::ARP),
                &arp_request([2; 6], [1; 4], [2; 4]),
            )),
        ),
        (
            "gre-proto-0x8847",
            outer_eth(&ipv4_gre(
                OUTER_SRC,
                OUTER_DST,
                &Gre::new(0x8847),
                &[0, 0, 0x11, 0x40],
            )),
        ),
        ("truncated-erspan", erspan2_cut),
        ("truncated-erspan", erspan3_subheader_cut),
        ("erspan-version", erspan2(&erspan_v3, 1, &f)),
        ("erspan-frame-type", erspan3(&ft7, 1, &f)),
        ("runt-inner", gretap(None, &f[..10])),
        ("runt-inner", erspan2(&ErspanII::new(1, 1), 1, &f[..13])),
        ("runt-inner", erspan1(&[])),
        ("inner-not-ip", v6_in_l3_v4),
        ("inner-not-ip", l3gre(None, &[0x00; 24])),
    ];
    let mut failures = Vec::new();
    for (i, (cause, pkt)) in cases.iter().enumerate() {
        let d = decap(PcapFormat::ethernet(), &eth_file(vec![pkt.clone()]), &[]);
        let want: std::collections::BTreeMap<String, u64> = [(cause.to_string(), 1)].into();
        if d.summary.skips != want
            || d.summary.read != 1
            || d.summary.written != 0
            || !d.out.records.is_empty()
        {
            failures.push(format!(
                "case {} (expect {cause}): read {} written {} skips {:?}\n    packet: {}",
                i + 1,
                d.summary.read,
                d.summary.written,
                d.summary.skips,
                hex(pkt)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "skip causes:\n  {}",
        failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------
// Snaplen, -s, -c
// ---------------------------------------------------------------------------------

#[test]
fn snaplen_cut_outer_packet_keeps_inner_original_length() {
    let f = eth_udp_sized(1000, 5);
    let fmt = PcapFormat {
        snaplen: 200,
        ..PcapFormat::ethernet()
    };
    let pkt = gretap(Some(5), &f);
    let d = decap(fmt, &eth_file(vec![pkt]), &[]);
    // 200 captured bytes - 14 Ethernet - 20 IPv4 - 8 GRE with key.
    let cut = 200 - 14 - 20 - 8;
    assert_frames_eq("snaplen cut", &d.out.frames(), &[f[..cut].to_vec()]);
    assert_eq!(
        d.out.records[0].orig_len, 1000,
        "inner orig_len from the outer orig_len"
    );
    assert_eq!(d.out.records[0].ts_ns, ts(0));
    d.expect_no_skips("snaplen cut");
}

#[test]
fn snaplen_flag_clamps_written_frames() {
    let frames = [
        eth_udp_sized(1000, 1),
        eth_udp_sized(60, 2),
        eth_udp_sized(64, 3),
        eth_udp_sized(65, 4),
    ];
    let input = eth_file(frames.iter().map(|f| gretap(None, f)).collect());
    let d = decap(PcapFormat::ethernet(), &input, &["-s", "64"]);
    let want: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| f[..f.len().min(64)].to_vec())
        .collect();
    assert_frames_eq("-s 64", &d.out.frames(), &want);
    for (rec, f) in d.out.records.iter().zip(&frames) {
        assert_eq!(rec.orig_len as usize, f.len(), "-s keeps orig_len");
    }
}

#[test]
fn count_stops_after_n_frames() {
    let frames: Vec<Vec<u8>> = (0..10).map(inner).collect();
    let input = eth_file(frames.iter().map(|f| gretap(Some(1), f)).collect());
    let d = decap(PcapFormat::ethernet(), &input, &["-c", "3"]);
    let want: Vec<(u64, Vec<u8>)> = frames[..3]
        .iter()
        .enumerate()
        .map(|(i, f)| (ts(i), f.clone()))
        .collect();
    d.expect_frames("-c 3", &want);
}

// ---------------------------------------------------------------------------------
// Filters on generated input
// ---------------------------------------------------------------------------------

#[test]
fn filters_combine_and_across_or_within() {
    let fa = inner(1);
    let fb = inner(2);
    let fc = inner(3);
    let fd = inner(4);
    let fe = inner(5);
    let mut e3 = ErspanIII::new(200);
    e3.egress = true;
    let v6_src = ipv6_gre(
        [
            0x20, 0x01, 0x0d, 0xb8, 0xAB, 0xCD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ],
        v6(2),
        &Gre::new(ethertype::TEB).key(99),
        &fe,
    );
    let input = eth_file(vec![
        gretap(Some(99), &fa),                         // 0: GRE key 99
        erspan2(&ErspanII::new(100, 0x1abcd), 1, &fb), // 1: ERSPAN II sid 100 idx 0x1abcd
        erspan3(&e3, 2, &fc),                          // 2: ERSPAN III sid 200 egress
        erspan1(&fd),                                  // 3: ERSPAN I
        outer_eth(&v6_src),                            // 4: IPv6 outer, GRE key 99
    ]);
    let all = [fa, fb, fc, fd, fe];
    let pick = |idx: &[usize]| -> Vec<(u64, Vec<u8>)> {
        idx.iter().map(|&i| (ts(i), all[i].clone())).collect()
    };
    let cases: Vec<(Vec<&str>, Vec<usize>)> = vec![
        (vec![], vec![0, 1, 2, 3, 4]),
        (vec!["--key", "99"], vec![0, 4]),
        (vec!["--key", "100"], vec![]),
        (vec!["--session", "100"], vec![1]),
        (vec!["--session", "100", "--session", "200"], vec![1, 2]),
        (vec!["--index", "0x1abcd"], vec![1]),
        (vec!["--index", "109517"], vec![1]),
        (vec!["--direction", "egress"], vec![2]),
        (vec!["--direction", "ingress"], vec![]),
        (vec!["--key", "99", "--session", "100"], vec![]),
        (vec!["--from", "192.0.2.1"], vec![0, 1, 2, 3]),
        (vec!["--from", "192.0.2.0/24"], vec![0, 1, 2, 3]),
        (vec!["--from", "192.0.3.0/24"], vec![]),
        (vec!["--from", "2001:db8:abcd::/48"], vec![4]),
        (vec!["--from", "2001:db8:abce::/48"], vec![]),
        (
            vec!["--from", "2001:db8:abcd::/48", "--from", "192.0.2.1/32"],
            vec![0, 1, 2, 3, 4],
        ),
        (vec!["--from", "192.0.2.0/24", "--session", "200"], vec![2]),
    ];
    for (args, idx) in cases {
        let ctx = format!("filter {}", args.join(" "));
        let d = decap(PcapFormat::ethernet(), &input, &args);
        d.expect_frames(&ctx, &pick(&idx)).expect_no_skips(&ctx);
        assert_eq!(
            d.summary.filtered,
            (5 - idx.len()) as u64,
            "{ctx}: filtered counter"
        );
        assert_eq!(d.summary.read, 5, "{ctx}: read counter");
    }
}

// ---------------------------------------------------------------------------------
// Text output
// ---------------------------------------------------------------------------------

#[test]
fn text_output_one_line_per_frame() {
    let mut e3 = ErspanIII::new(200);
    e3.egress = true;
    let input = pcap_bytes(
        PcapFormat::ethernet(),
        &eth_file(vec![
            gretap(Some(99), &inner(1)),
            erspan2(&ErspanII::new(100, 0x1abcd), 1, &inner(2)),
            erspan3(&e3, 2, &inner(3)),
            erspan1(&inner(4)),
            gretap(Some(98), &[0u8; 5]), // runt: skipped, no line
        ]),
    );
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(dir.path(), "in.pcap", &input);
    let r = run(&["-r", &p.display().to_string()]);
    r.expect_code(0);
    let text = r.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "one line per written frame:\n{text}");
    let tags = [
        "gre key 99",
        "erspan-ii sid 100 idx 0x1abcd",
        "erspan-iii sid 200 egress",
        "erspan-i",
    ];
    for (line, tag) in lines.iter().zip(tags) {
        assert!(line.contains(tag), "line {line:?} lacks {tag:?}");
        // tcpdump -n style inner summary: the inner source address appears.
        assert!(
            line.contains("192.168.1.1"),
            "line {line:?} lacks the inner source"
        );
    }
    assert!(
        !lines[3].contains("erspan-ii"),
        "type I line: {:?}",
        lines[3]
    );
    let s = r.summary();
    assert_eq!((s.read, s.written, s.skipped), (5, 4, 1));
    assert_eq!(s.skip("runt-inner"), 1);
}

// ---------------------------------------------------------------------------------
// Exit codes and errors
// ---------------------------------------------------------------------------------

fn small_input(dir: &Path) -> PathBuf {
    write_file(
        dir,
        "in.pcap",
        &pcap_bytes(
            PcapFormat::ethernet(),
            &eth_file(vec![gretap(Some(1), &inner(1))]),
        ),
    )
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let inp = small_input(dir.path()).display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--session", "5000"], "5000"),
        (vec!["--session", "1024"], "1024"),
        (vec!["--index", "0x100000"], "0x100000"),
        (vec!["--direction", "sideways"], "sideways"),
        (vec!["--from", "10.0.0.0/33"], "10.0.0.0/33"),
        (vec!["--from", "not-an-address"], "not-an-address"),
        (vec!["--key", "0x100000000"], "0x100000000"),
        (vec!["--no-such-flag"], "--no-such-flag"),
    ];
    for (extra, named) in cases {
        let mut args = vec!["-r", inp.as_str(), "-w", "/dev/null"];
        args.extend(&extra);
        let r = run(&args);
        r.expect_code(2);
        assert!(
            r.stderr.contains(named),
            "spandump {}: message does not name {named:?}:\n{}",
            args.join(" "),
            r.stderr
        );
    }
}

#[test]
fn unknown_link_type_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(
        dir.path(),
        "user0.pcap",
        &pcap_bytes(PcapFormat::link(147), &[(ts(0), vec![0u8; 40])]),
    );
    let r = run(&["-r", &p.display().to_string(), "-w", "/dev/null"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("147"),
        "message does not name link type 147:\n{}",
        r.stderr
    );
}

#[test]
fn unreadable_or_corrupt_input_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does-not-exist.pcap").display().to_string();
    let r = run(&["-r", missing.as_str(), "-w", "/dev/null"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("does-not-exist.pcap"),
        "message does not name the file:\n{}",
        r.stderr
    );

    let garbage = write_file(
        dir.path(),
        "garbage.pcap",
        b"this is not a capture file at all",
    );
    run(&["-r", &garbage.display().to_string(), "-w", "/dev/null"]).expect_code(1);

    // A record header that claims more bytes than the file holds.
    let mut cut = pcap_bytes(
        PcapFormat::ethernet(),
        &eth_file(vec![gretap(None, &inner(1))]),
    );
    cut.truncate(cut.len() - 10);
    let cut = write_file(dir.path(), "cut.pcap", &cut);
    run(&["-r", &cut.display().to_string(), "-w", "/dev/null"]).expect_code(1);
}

#[test]
fn write_error_exits_1_naming_the_file() {
    if !Path::new("/dev/full").exists() {
        eprintln!("note: no /dev/full here, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let inp = small_input(dir.path()).display().to_string();
    let r = run(&["-r", inp.as_str(), "-w", "/dev/full"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("/dev/full"),
        "message does not name /dev/full:\n{}",
        r.stderr
    );
}

/// Large enough that the output cannot fit in a pipe buffer.
fn big_input(dir: &Path) -> PathBuf {
    let mut w = PcapWriter::new(Vec::new(), PcapFormat::ethernet()).unwrap();
    let f = eth_udp_sized(1400, 9);
    let pkt = gretap(Some(1), &f);
    for i in 0..4000 {
        w.write(ts(i), &pkt).unwrap();
    }
    write_file(dir, "big.pcap", &w.into_inner())
}

#[test]
fn closed_output_pipe_is_a_clean_exit() {
    // The equivalent of `spandump -r big.pcap -w - | head -c 100`.
    let dir = tempfile::tempdir().unwrap();
    let inp = big_input(dir.path());
    let mut child = Command::new(spandump_bin())
        .args(["-r", &inp.display().to_string(), "-w", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let head = read_at_least(&mut stdout, 100);
    drop(stdout);
    assert_eq!(head.len(), 100, "first 100 bytes");
    assert_eq!(
        &head[..4],
        &[0xD4, 0xC3, 0xB2, 0xA1],
        "pcap magic (µs, little-endian)"
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "exit status after the reader went away; stderr:\n{stderr}"
    );
    parse_summary(&stderr).expect("summary after a closed pipe");
}

#[test]
fn packet_buffered_output_flushes_each_frame() {
    // `-r - -w - -U`: after one packet has been fed (stdin still open), its frame must
    // come out on stdout. Waits on the data with a deadline, never a sleep.
    let f = inner(7);
    let mut w = PcapWriter::new(Vec::new(), PcapFormat::ethernet()).unwrap();
    w.write(ts(0), &gretap(Some(1), &f)).unwrap();
    let first = w.into_inner();
    let mut child = Command::new(spandump_bin())
        .args(["-r", "-", "-w", "-", "-U"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, &first).unwrap();
    std::io::Write::flush(&mut stdin).unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let want_len = 24 + 16 + f.len();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let got = read_at_least(&mut stdout, want_len);
        let _ = tx.send(got);
        // Drain the rest so spandump never blocks on a full pipe.
        let mut rest = Vec::new();
        let _ = stdout.read_to_end(&mut rest);
    });
    let got = rx.recv_timeout(Duration::from_secs(30));
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let got = got.expect("no complete frame on stdout within 30 s while stdin stayed open (-U)");
    let cap = read_capture_bytes(&got).expect("a pcap with one frame");
    assert_eq!(cap.frames(), vec![f.as_slice()]);
    assert_eq!(status.code(), Some(0));
}
