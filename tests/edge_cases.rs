//! The edge-case table of the spec (`/work/shared/spec/wire-formats.md` §6), one test
//! per row that can be written as a packet and is not already covered exactly by
//! `tests/generated.rs`. Each test names its row, drives the real binary on a capture
//! built by `tests/common/gen.rs` and asserts the counter the row names (skip causes
//! and notes as listed in README "The summary"), and the frames written, byte for byte.
//!
//! Rows covered elsewhere: 2, 3, 4, 10, 12, 14, 15, 16, 17, 19, 23, 25, 26 (session
//! and index filters), 31, 36, 37 in `tests/generated.rs`, and 35 (closed pipe) there
//! too; 5 there and in `tests/limits.rs`; 38 by `fuzz/` and `tests/fuzz_corpus.rs`.
//! Rows 8, 32, 33 and 34 concern live sockets, not packets.

mod common;

use std::collections::BTreeMap;

use common::capgen::*;
use common::*;

const T0: u64 = 1_700_000_000_000_000_000;

fn ts(i: usize) -> u64 {
    T0 + i as u64 * 1_000_000
}

/// A classic Ethernet pcap of `packets`, packet i at `ts(i)`, each with its captured
/// bytes and its length on the wire.
fn pcap_cut(packets: &[(Vec<u8>, usize)]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), PcapFormat::ethernet()).unwrap();
    for (i, (data, wire)) in packets.iter().enumerate() {
        w.write_with_orig_len(ts(i), data, *wire as u32).unwrap();
    }
    w.into_inner()
}

fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    let v: Vec<(Vec<u8>, usize)> = packets.iter().map(|p| (p.clone(), p.len())).collect();
    pcap_cut(&v)
}

/// Runs spandump on `input`, expects exit 0, and checks the frames written (data and
/// timestamps), the skip counters (exactly) and the given notes.
fn expect(
    row: &str,
    input: &[u8],
    args: &[&str],
    frames: &[(u64, Vec<u8>)],
    skips: &[(&str, u64)],
    notes: &[(&str, u64)],
) -> FileRun {
    let r = run_on_bytes(input, "in.pcap", args);
    r.run.expect_code(0);
    let s = r.run.summary();
    let cap = r.capture();
    let want: Vec<Vec<u8>> = frames.iter().map(|(_, f)| f.clone()).collect();
    assert_frames_eq(row, &cap.frames(), &want);
    for (i, (rec, (t, _))) in cap.records.iter().zip(frames).enumerate() {
        assert_eq!(rec.ts_ns, *t, "{row}: timestamp of frame {}", i + 1);
    }
    assert_eq!(s.written, frames.len() as u64, "{row}: written counter");
    let want: BTreeMap<String, u64> = skips.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(
        s.skips, want,
        "{row}: skip counters; stderr:\n{}",
        r.run.stderr
    );
    for (id, n) in notes {
        assert_eq!(s.note(id), *n, "{row}: note {id}; notes {:?}", s.notes);
    }
    r
}

fn inner(i: u16) -> Vec<u8> {
    eth_icmp_echo(i, 20 + usize::from(i))
}

fn over_ipv4(gre: &Gre, body: &[u8]) -> Vec<u8> {
    outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, gre, body))
}

#[test]
fn row01_capture_cut_inside_each_header_is_counted_by_layer() {
    // The capture's snaplen (not the sender) cut each packet: orig_len is the whole
    // packet, the captured bytes end inside one header.
    let f = inner(1);
    let gre_all = Gre::new(ethertype::TEB)
        .checksum(GreChecksum::Computed)
        .key(1)
        .seq(2);
    let v4 = over_ipv4(&gre_all, &f);
    let v6 = outer_eth(&ipv6_gre(v6(1), v6(2), &Gre::new(ethertype::TEB), &f));
    let e2 = erspan2(&ErspanII::new(1, 1), 1, &f);
    let e3 = erspan3(&ErspanIII::new(1), 1, &f);
    let mut sub = ErspanIII::new(1);
    sub.platform = Some(PlatformSubHeader {
        platform_id: 3,
        info: 9,
    });
    let e3_sub = erspan3(&sub, 1, &f);
    // Outer Ethernet 14, IPv4 20 / IPv6 40, GRE 4-16, ERSPAN 8 / 12 / 20.
    let cuts = vec![
        (v4[..10].to_vec(), v4.len()),
        (v4[..14 + 12].to_vec(), v4.len()),
        (v6[..14 + 30].to_vec(), v6.len()),
        (v4[..34 + 10].to_vec(), v4.len()),
        (e2[..34 + 8 + 4].to_vec(), e2.len()),
        (e3[..34 + 8 + 11].to_vec(), e3.len()),
        (e3_sub[..34 + 8 + 16].to_vec(), e3_sub.len()),
        // Cut right after the headers: an empty but truncated frame is written, as
        // the capture left it.
        (e2[..34 + 16].to_vec(), e2.len()),
    ];
    let r = expect(
        "row 1",
        &pcap_cut(&cuts),
        &[],
        &[(ts(7), Vec::new())],
        &[
            ("truncated-link", 1),
            ("truncated-ip", 2),
            ("truncated-gre", 1),
            ("truncated-erspan", 3),
        ],
        &[],
    );
    assert_eq!(
        r.capture().records[0].orig_len as usize,
        f.len(),
        "row 1: the cut frame keeps its length on the wire"
    );
}

#[test]
fn row06_fragments_inside_the_payload_are_written_not_reassembled() {
    // security-8550 shape: the inner packet is itself an IPv4 fragment (MF set, then
    // one with an offset). Only the outer level is reassembled; inner fragments are
    // frames like any other.
    let mut frag = Ipv4::new([10, 9, 0, 1], [10, 9, 0, 2], ipproto::GRE);
    frag.id = 0x4242;
    let parts = frag.fragments(&Gre::new(ethertype::TEB).build(&inner(6)), 32);
    assert!(parts.len() >= 2);
    let first = l3gre(None, &parts[0]);
    let second_eth = eth_ip(&parts[1]);
    let second = gretap(Some(6), &second_eth);
    expect(
        "row 6",
        &pcap(&[first, second]),
        &[],
        &[
            (ts(0), synthesized_ethernet(&parts[0])),
            (ts(1), second_eth),
        ],
        &[],
        &[("fragments-held", 0), ("fragments-reassembled", 0)],
    );
}

#[test]
fn row07_ipv6_esp_no_next_header_and_non_first_fragment() {
    let esp = outer_eth(&Ipv6::new(v6(1), v6(2), 50).build(&[0xEE; 40]));
    // Bytes after No Next Header are ignored (RFC 8200 §4.7); a payload length of 0
    // would be a jumbogram, skipped as a bad header.
    let no_next = outer_eth(&Ipv6::new(v6(1), v6(2), ipproto::NO_NEXT).build(&[0; 8]));
    // A non-first fragment alone cannot hold a GRE header: held, then given up.
    let non_first = outer_eth(
        &Ipv6::new(v6(1), v6(2), ipproto::GRE)
            .with_ext(Ipv6Ext::Fragment {
                offset: 8,
                more: false,
                id: 77,
            })
            .build(&[0xAB; 24]),
    );
    let good = outer_eth(&ipv6_gre(
        v6(1),
        v6(2),
        &Gre::new(ethertype::TEB),
        &inner(7),
    ));
    expect(
        "row 7",
        &pcap(&[esp, no_next, non_first, good]),
        &[],
        &[(ts(3), inner(7))],
        &[("not-gre", 2), ("fragment-incomplete", 1)],
        &[("fragments-held", 1)],
    );
}

#[test]
fn row09_every_gre_version_other_than_0_is_skipped() {
    let mut packets = Vec::new();
    for version in 1u16..8 {
        let mut gre = Gre::new(ethertype::TEB);
        gre.extra_flags = version;
        packets.push(over_ipv4(&gre, &inner(9)));
    }
    expect(
        "row 9",
        &pcap(&packets),
        &[],
        &[],
        &[("gre-version", 7)],
        &[],
    );
}

#[test]
fn row11_erspan3_with_gre_flags_0x1d00_is_written_and_noted() {
    // tcpdump-erspan-type-iii-pb-1.pcap: S + s + Recur 5.
    let f = inner(11);
    let mut gre = Gre::new(ethertype::ERSPAN_III).seq(3);
    gre.extra_flags = 0x0D00;
    assert_eq!(gre.flags_word(), 0x1D00);
    let pkt = over_ipv4(&gre, &ErspanIII::new(11).build(&f));
    expect(
        "row 11",
        &pcap(&[pkt]),
        &[],
        &[(ts(0), f)],
        &[],
        &[("gre-legacy-bits", 1)],
    );
}

#[test]
fn row13_other_gre_users_are_counted_per_protocol() {
    let protocols: [(u16, &str); 11] = [
        (0x2001, "NHRP"),
        (0x883E, "WCCP"),
        (0x2000, "CDP"),
        (0x8909, "Cisco MetaData"),
        (0x8200, "Aruba"),
        (0x8240, "Aruba"),
        (0x880B, "PPP"),
        (0x8847, "MPLS unicast"),
        (0x8848, "MPLS multicast"),
        (0x6400, "MikroTik EoIP"),
        (0x894F, "NSH"),
    ];
    let mut packets = Vec::new();
    let mut skips = Vec::new();
    let mut names = Vec::new();
    for (proto, _) in protocols {
        packets.push(over_ipv4(&Gre::new(proto), &[0x45; 40]));
        names.push(format!("gre-proto-{proto:#06x}"));
    }
    // Cisco keepalives, with and without a key, and one mirror frame among them.
    packets.push(over_ipv4(&Gre::new(ethertype::KEEPALIVE), &[]));
    packets.push(over_ipv4(&Gre::new(ethertype::KEEPALIVE).key(0x28), &[]));
    let f = inner(13);
    packets.push(gretap(None, &f));
    for name in &names {
        skips.push((name.as_str(), 1));
    }
    skips.push(("gre-keepalive", 2));
    expect(
        "row 13",
        &pcap(&packets),
        &[],
        &[(ts(packets.len() - 1), f)],
        &skips,
        &[],
    );
}

#[test]
fn row18_erspan_versions_other_than_1_and_2_are_skipped() {
    let mut packets = Vec::new();
    for version in (0u8..16).filter(|v| !matches!(v, 1 | 2)) {
        let mut h2 = ErspanII::new(1, 1);
        h2.version = version;
        packets.push(erspan2(&h2, 1, &inner(18)));
        let mut h3 = ErspanIII::new(1);
        h3.version = version;
        packets.push(erspan3(&h3, 1, &inner(18)));
    }
    expect(
        "row 18",
        &pcap(&packets),
        &[],
        &[],
        &[("erspan-version", 28)],
        &[],
    );
}

#[test]
fn row20_every_erspan3_frame_type() {
    let eth = inner(20);
    let ip = ipv4_icmp_echo([10, 20, 0, 1], [10, 20, 0, 2], 20, 8);
    let mut packets = Vec::new();
    let mut frames = Vec::new();
    for ft in 0u8..32 {
        let mut h = ErspanIII::new(20);
        h.ft = ft;
        let payload = if ft == 2 { &ip } else { &eth };
        packets.push(erspan3(&h, u32::from(ft), payload));
        match ft {
            0 => frames.push((ts(0), eth.clone())),
            2 => frames.push((ts(2), synthesized_ethernet(&ip))),
            _ => {}
        }
    }
    expect(
        "row 20",
        &pcap(&packets),
        &[],
        &frames,
        &[("erspan-frame-type", 30)],
        &[],
    );
}

#[test]
fn row21_row22_erspan3_truncated_and_bad_frames_are_written_and_noted() {
    let mut packets = Vec::new();
    let mut frames = Vec::new();
    // T = 1: the sender cut the frame; it is written as received.
    let cut = inner(21)[..30].to_vec();
    let mut t = ErspanIII::new(21);
    t.truncated = true;
    packets.push(erspan3(&t, 1, &cut));
    frames.push((ts(0), cut.clone()));
    // BSO 1 (short), 2 (oversized), 3 (bad CRC): written, noted.
    for bso in 1u8..4 {
        let f = inner(22 + u16::from(bso));
        let mut h = ErspanIII::new(22);
        h.bso = bso;
        packets.push(erspan3(&h, u32::from(bso), &f));
        frames.push((ts(usize::from(bso)), f));
    }
    let r = expect(
        "rows 21-22",
        &pcap(&packets),
        &[],
        &frames,
        &[],
        &[("sender-truncated", 1), ("sender-bad-frame", 3)],
    );
    assert_eq!(
        r.capture().records[0].orig_len as usize,
        cut.len(),
        "row 21: orig_len = captured length when the sender truncated"
    );
}

#[test]
fn row24_jumbo_inner_frame_is_written_whole() {
    // A GRO-merged frame: 65000 bytes inside one IPv4 packet of 65038.
    let f = eth_udp_sized(65_000, 24);
    let pkt = gretap(Some(24), &f);
    let r = expect(
        "row 24",
        &pcap(&[pkt]),
        &[],
        &[(ts(0), f.clone())],
        &[],
        &[],
    );
    assert_eq!(r.run.summary().note("snaplen-truncated"), 0);
    assert_eq!(r.capture().records[0].orig_len as usize, f.len());
}

#[test]
fn row27_key_filter_never_matches_erspan() {
    // ERSPAN II with a GRE key (some vendors set K with S): --key filters it out, the
    // plain GRE packet with the same key is kept.
    let f = inner(27);
    let e2 = over_ipv4(
        &Gre::new(ethertype::ERSPAN_II).key(5).seq(1),
        &ErspanII::new(5, 5).build(&inner(28)),
    );
    let plain = gretap(Some(5), &f);
    let r = expect(
        "row 27",
        &pcap(&[e2, plain]),
        &["--key", "5"],
        &[(ts(1), f)],
        &[],
        &[],
    );
    assert_eq!(r.run.summary().filtered, 1, "row 27: filtered counter");
}

#[test]
fn row28_same_session_from_two_sources_is_told_apart_by_from() {
    let a = inner(1);
    let b = inner(2);
    let from = |src: [u8; 4], f: &[u8]| {
        outer_eth(&ipv4_gre(
            src,
            OUTER_DST,
            &Gre::new(ethertype::ERSPAN_II).seq(1),
            &ErspanII::new(77, 0).build(f),
        ))
    };
    let input = pcap(&[from([192, 0, 2, 10], &a), from([192, 0, 2, 20], &b)]);
    let r = expect(
        "row 28",
        &input,
        &["--session", "77", "--from", "192.0.2.20"],
        &[(ts(1), b)],
        &[],
        &[],
    );
    assert_eq!(r.run.summary().filtered, 1, "row 28: filtered counter");
}

#[test]
fn row29_sequence_gaps_duplicates_wrap_and_restart_never_drop() {
    let seqs = [1u32, 2, 9, 9, 4, 0xFFFF_FFFE, 0xFFFF_FFFF, 0, 1, 1];
    let mut packets = Vec::new();
    let mut frames = Vec::new();
    for (i, seq) in seqs.into_iter().enumerate() {
        let f = inner(i as u16);
        packets.push(erspan2(&ErspanII::new(29, 0), seq, &f));
        frames.push((ts(i), f));
    }
    // The same over plain GRE with a sequence number.
    for (i, seq) in seqs.into_iter().enumerate() {
        let f = inner(100 + i as u16);
        packets.push(over_ipv4(&Gre::new(ethertype::TEB).seq(seq), &f));
        frames.push((ts(seqs.len() + i), f));
    }
    expect("row 29", &pcap(&packets), &[], &frames, &[], &[]);
}

#[test]
fn row30_erspan_timestamp_is_never_the_packet_time() {
    let mut packets = Vec::new();
    let mut frames = Vec::new();
    for (i, gra) in (0u8..4).enumerate() {
        let f = inner(30 + i as u16);
        let mut h = ErspanIII::new(30);
        h.gra = gra;
        h.timestamp = 0xFFFF_FFF0 + i as u32;
        // Platform 3 carries the upper timestamp word (IEEE 1588 seconds with Gra 2).
        h.platform = Some(PlatformSubHeader {
            platform_id: 3,
            info: 0x1234_5678,
        });
        packets.push(erspan3(&h, i as u32, &f));
        frames.push((ts(i), f));
    }
    expect("row 30", &pcap(&packets), &[], &frames, &[], &[]);
}
