//! Limits an attacker cannot exceed, each shown hit and counted through the real
//! binary: outer fragment reassembly (datagrams in progress, buffered bytes, largest
//! datagram, age in capture time), the IPv6 extension-header walk, the in-band VLAN tag
//! stack, and the capture reader's largest record / block.
//!
//! Each limit is tested at its value (accepted) and one past it (refused and counted),
//! so moving a limit without updating the README fails here.

mod common;

use std::collections::BTreeMap;

use common::capgen::*;
use common::*;
use spandump::capture::file::MAX_RECORD_LEN;
use spandump::reassembly::Limits;
use spandump::wire::ip::MAX_IPV6_EXT_HEADERS;
use spandump::wire::link::MAX_VLAN_TAGS;

const T0: u64 = 1_700_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;

fn run_pcap(packets: &[(u64, Vec<u8>)]) -> (Summary, Capture) {
    let r = run_on_bytes(&pcap_bytes(PcapFormat::ethernet(), packets), "in.pcap", &[]);
    r.run.expect_code(0);
    (r.run.summary(), r.capture().clone())
}

fn skips(s: &Summary) -> BTreeMap<String, u64> {
    s.skips.clone()
}

fn want(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The two fragments (first with MF, then the rest) of an outer IPv4 datagram with ID
/// `id` carrying gretap + `frame`, split at byte `split` of the GRE packet.
fn two_fragments(id: u16, frame: &[u8], split: usize) -> (Vec<u8>, Vec<u8>) {
    let gre = Gre::new(ethertype::TEB).build(frame);
    assert!(split.is_multiple_of(8));
    let mut first = Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE);
    first.id = id;
    first.mf = true;
    let mut last = first.clone();
    last.mf = false;
    last.frag_offset = (split / 8) as u16;
    (
        outer_eth(&first.build(&gre[..split])),
        outer_eth(&last.build(&gre[split..])),
    )
}

#[test]
fn reassembly_limits_are_the_documented_ones() {
    // The README's "Hostile input" list states these values.
    assert_eq!(
        Limits::default(),
        Limits {
            max_datagrams: 256,
            max_buffered: 8 << 20,
            max_payload: 65535,
            timeout_secs: 30,
        }
    );
    assert_eq!(MAX_IPV6_EXT_HEADERS, 8);
    assert_eq!(MAX_VLAN_TAGS, 4);
    assert_eq!(MAX_RECORD_LEN, 64 << 20);
}

#[test]
fn reassembly_datagrams_in_progress() {
    let max = Limits::default().max_datagrams;
    // max + 1 datagrams start (first fragments, IDs 0..=max): starting the last one
    // gives up the oldest (ID 0). Then every second fragment arrives, ID 0's last.
    for started in [max, max + 1] {
        let frames: Vec<Vec<u8>> = (0..started).map(|i| eth_udp_sized(100, i as u8)).collect();
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| two_fragments(i as u16, f, 64))
            .collect();
        let mut packets: Vec<Vec<u8>> = pairs.iter().map(|(a, _)| a.clone()).collect();
        packets.extend(pairs.iter().skip(1).map(|(_, b)| b.clone()));
        packets.push(pairs[0].1.clone());
        let input: Vec<(u64, Vec<u8>)> = packets.into_iter().map(|p| (T0, p)).collect();
        let (s, cap) = run_pcap(&input);
        if started == max {
            assert_eq!(s.written, started as u64, "{started} datagrams fit");
            assert_eq!(skips(&s), want(&[]));
        } else {
            // ID 0 was given up: its first fragment when the table was full, its
            // last one at the end of the input. Every other datagram is complete.
            assert_eq!(s.written, max as u64, "one datagram over the limit");
            assert_eq!(skips(&s), want(&[("fragment-incomplete", 2)]));
            assert_frames_eq("datagram limit", &cap.frames()[..1], &frames[1..2]);
        }
    }
}

#[test]
fn reassembly_buffered_bytes() {
    let max = Limits::default().max_buffered;
    // Datagrams of 61000 bytes announced by their last fragment (bytes 60000..61000):
    // each reserves the whole datagram, so the byte limit is reached after
    // max / 61000 of them, and later ones are given up at once.
    let size = 61_000;
    let fit = max / size;
    let n = fit + 3;
    let frames: Vec<Vec<u8>> = (0..n).map(|i| eth_udp_sized(size - 4, i as u8)).collect();
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| two_fragments(i as u16, f, 60_000))
        .collect();
    let mut input: Vec<(u64, Vec<u8>)> = pairs.iter().map(|(_, b)| (T0, b.clone())).collect();
    // Complete the first datagram (within the limit) and the last (over it).
    input.push((T0, pairs[0].0.clone()));
    input.push((T0, pairs[n - 1].0.clone()));
    let (s, cap) = run_pcap(&input);
    assert_eq!(
        s.written, 1,
        "only the datagram within the byte limit completes"
    );
    assert_frames_eq("byte limit", &cap.frames(), &frames[..1]);
    // 3 refused at once, fit - 1 never completed, and the last datagram's first
    // fragment (its last one was refused) given up at the end.
    assert_eq!(
        skips(&s),
        want(&[("fragment-incomplete", (3 + fit - 1 + 1) as u64)])
    );
    assert_eq!(s.note("fragments-reassembled"), 1);
}

#[test]
fn reassembly_largest_datagram() {
    // The last fragment of a datagram ending at byte 65535 of its payload is taken;
    // one that would end past it is refused at once.
    let mut ok = Ipv4::new(OUTER_SRC, OUTER_DST, ipproto::GRE);
    ok.id = 1;
    ok.frag_offset = 8190; // 65520
    let at_limit = outer_eth(&ok.build(&[0; 15])); // ends at 65535
    let mut over = ok.clone();
    over.id = 2;
    let past_limit = outer_eth(&over.build(&[0; 16])); // ends at 65536
    let (s, _) = run_pcap(&[(T0, at_limit), (T0, past_limit)]);
    // Both end up incomplete (no first fragment), but the one past the limit is
    // never held: it is refused on arrival. The first is held until the end.
    assert_eq!(skips(&s), want(&[("fragment-incomplete", 2)]));
    assert_eq!(s.note("fragments-held"), 2);
    // Shown directly on the reassembler, which says which fragment was refused.
    use spandump::reassembly::{Outcome, Reassembler};
    use spandump::wire::ip::{Fragment, OuterIp};
    let mut r = Reassembler::new(Limits::default());
    let payload = [0u8; 16];
    let frag = |offset: usize, len: usize, id: u32| OuterIp {
        src: "192.0.2.1".parse().unwrap(),
        dst: "198.51.100.1".parse().unwrap(),
        protocol: 47,
        payload: &payload[..len],
        payload_len: len,
        fragment: Some(Fragment {
            id,
            offset,
            more: false,
        }),
    };
    assert_eq!(
        r.push(spandump::Timestamp::new(0, 0), &frag(65520, 15, 1)),
        Outcome::Held
    );
    assert_eq!(
        r.push(spandump::Timestamp::new(0, 0), &frag(65520, 16, 2)),
        Outcome::Dropped
    );
}

#[test]
fn reassembly_age_in_capture_time() {
    let timeout = Limits::default().timeout_secs as u64;
    for gap in [timeout, timeout + 1] {
        let f = eth_udp_sized(200, 7);
        let (first, last) = two_fragments(7, &f, 96);
        let (s, cap) = run_pcap(&[(T0, first), (T0 + gap * SEC, last)]);
        if gap == timeout {
            assert_eq!(s.written, 1, "second fragment {gap} s later completes");
            assert_frames_eq("age", &cap.frames(), &[f]);
            assert_eq!(skips(&s), want(&[]));
        } else {
            // The first fragment is given up when the second arrives; the second
            // waits alone until the end of the input.
            assert_eq!(s.written, 0, "second fragment {gap} s later is too late");
            assert_eq!(skips(&s), want(&[("fragment-incomplete", 2)]));
        }
    }
}

#[test]
fn ipv6_extension_header_walk() {
    let max = MAX_IPV6_EXT_HEADERS;
    let f = eth_icmp_echo(1, 8);
    let mut packets = Vec::new();
    for n in [max, max + 1] {
        let mut ip = Ipv6::new(v6(1), v6(2), ipproto::GRE);
        ip.ext = vec![Ipv6Ext::dest_opts(); n];
        packets.push((
            T0,
            outer_eth(&ip.build(&Gre::new(ethertype::TEB).build(&f))),
        ));
    }
    let (s, cap) = run_pcap(&packets);
    assert_frames_eq("IPv6 walk", &cap.frames(), &[f]);
    assert_eq!(skips(&s), want(&[("ipv6-ext-headers", 1)]));
}

#[test]
fn vlan_tag_stack() {
    let max = MAX_VLAN_TAGS;
    let f = eth_icmp_echo(2, 8);
    let ip = ipv4_gre(OUTER_SRC, OUTER_DST, &Gre::new(ethertype::TEB), &f);
    let mut packets = Vec::new();
    for n in [max, max + 1] {
        let mut eth = Ethernet::new(ethertype::IPV4);
        for i in 0..n {
            eth = eth.vlan(if i == 0 {
                VlanTag::dot1ad(100)
            } else {
                VlanTag::dot1q(i as u16)
            });
        }
        packets.push((T0, eth.build(&ip)));
    }
    let (s, cap) = run_pcap(&packets);
    assert_frames_eq("VLAN stack", &cap.frames(), &[f]);
    // More tags than the bound: the walk stops, the frame is counted as not IP.
    assert_eq!(skips(&s), want(&[("not-ip", 1)]));
}

#[test]
fn record_and_block_size() {
    let max = MAX_RECORD_LEN;
    let good = gretap(Some(1), &eth_icmp_echo(3, 8));
    let with_record = |caplen: u32| {
        let mut file = pcap_bytes(PcapFormat::ethernet(), &[(T0, good.clone())]);
        for v in [1u32, 0, caplen, caplen] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        file.extend_from_slice(&[0; 100]);
        file
    };
    // At the limit, the claim is believed and the short file ends mid-record.
    let r = run_on_bytes(&with_record(max), "in.pcap", &[]);
    r.run.expect_code(1);
    assert!(
        r.run
            .stderr
            .contains("file ends in the middle of a packet record"),
        "{}",
        r.run.stderr
    );
    // One past it, the claim is refused before any read or allocation.
    let r = run_on_bytes(&with_record(max + 1), "in.pcap", &[]);
    r.run.expect_code(1);
    assert!(
        r.run
            .stderr
            .contains(&format!("record 2 claims {} captured bytes", max + 1)),
        "{}",
        r.run.stderr
    );
    assert_eq!(
        r.capture().frames().len(),
        1,
        "the frame before it is written"
    );
    // pcapng: a block of max bytes is read (the file ends first), max + 4 refused.
    for (len, what) in [
        (max, "file ends in the middle of a custom block".to_string()),
        (max + 4, format!("claims {} bytes", max + 4)),
    ] {
        let mut w = PcapngWriter::new(Vec::new(), false).unwrap();
        w.add_interface(linktype::ETHERNET as u16, 0, 6).unwrap();
        let mut file = w.into_inner();
        // A custom block (0x00000BAD) claiming `len` bytes, then 100 bytes.
        file.extend_from_slice(&0x0000_0BADu32.to_le_bytes());
        file.extend_from_slice(&len.to_le_bytes());
        file.extend_from_slice(&[0; 100]);
        let r = run_on_bytes(&file, "in.pcapng", &[]);
        r.run.expect_code(1);
        assert!(r.run.stderr.contains(&what), "{len}: {}", r.run.stderr);
    }
}

#[test]
fn pcapng_interfaces_per_section() {
    // 65536 interface descriptions are read; the 65537th is refused. The packet after
    // them names the last interface, so the accepted case has one frame to write.
    let f = eth_icmp_echo(4, 8);
    let pkt = gretap(Some(4), &f);
    for count in [65_536u32, 65_537] {
        let mut w = PcapngWriter::new(Vec::new(), false).unwrap();
        for _ in 0..count {
            w.add_interface(linktype::ETHERNET as u16, 0, 6).unwrap();
        }
        w.write_packet(count - 1, T0, &pkt, pkt.len() as u32)
            .unwrap();
        let r = run_on_bytes(&w.into_inner(), "in.pcapng", &[]);
        if count == 65_536 {
            r.run.expect_code(0);
            assert_frames_eq(
                "65536 interfaces",
                &r.capture().frames(),
                std::slice::from_ref(&f),
            );
        } else {
            r.run.expect_code(1);
            assert!(
                r.run
                    .stderr
                    .contains("exceeds the limit of 65536 interfaces per section"),
                "{}",
                r.run.stderr
            );
        }
    }
}
