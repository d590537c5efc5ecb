//! End-to-end tests on generated VXLAN / GENEVE / GRE-in-UDP captures: the cases no
//! public capture has (AWS Gateway Load Balancer options and nesting, AWS-style
//! truncated mirrors, IPv6 outer, every GENEVE protocol type, broken headers). Each
//! input is built by `tests/common/gen_cloud.rs` (checked against tshark below), run
//! through the real binary; the written frames are compared byte for byte with what
//! was put in, and each broken case names the counter it increments.

mod common;

use common::capgen::*;
use common::cloudgen::*;
use common::*;

const T0: u64 = 1_700_000_000_000_000_000;
const SENDER: IpAddrs = IpAddrs::V4([192, 0, 2, 1], [198, 51, 100, 1]);
const SENDER6: IpAddrs = IpAddrs::V6(
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
);
/// The mirrored ENI behind a GWLB (the nested VXLAN packet's sender).
const ENI: IpAddrs = IpAddrs::V4([203, 0, 113, 10], [203, 0, 113, 20]);

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let packets: Vec<(u64, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (T0 + i as u64 * 1000, f.clone()))
        .collect();
    pcap_bytes(PcapFormat::ethernet(), &packets)
}

fn decap(frames: &[Vec<u8>], args: &[&str]) -> (Summary, Vec<Vec<u8>>) {
    let f = run_on_bytes(&pcap(frames), "in.pcap", args);
    f.run.expect_code(0);
    let frames = f.capture().frames().iter().map(|f| f.to_vec()).collect();
    (f.run.summary(), frames)
}

/// The GWLB path: GENEVE(IPv4, GWLB options) -> IPv4 -> UDP 4789 -> VXLAN -> frame.
fn gwlb_nested(inner: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mirrored = ip_udp_to(ENI, VXLAN_PORT, &vxlan(0x08, 4242, inner));
    let options = gwlb_options(0x0123_4567_89ab_cdef, 0x1111_2222_3333_4444, 0xc00c_1e00);
    let outer = eth_udp_to(SENDER, GENEVE_PORT, &geneve(0x0800, 0, &options, &mirrored));
    (outer, mirrored)
}

#[test]
fn gwlb_nested_mirror_is_stripped_once() {
    let inner = eth_icmp_echo(1, 56);
    let (outer, mirrored) = gwlb_nested(&inner);
    let (s, frames) = decap(std::slice::from_ref(&outer), &[]);
    assert_eq!(frames, std::slice::from_ref(&inner));
    assert_eq!(s.note("nested-mirror"), 1);
    // The session's sender is the mirrored ENI, and the VNI the VXLAN one.
    let (s, frames) = decap(
        std::slice::from_ref(&outer),
        &["--from", "203.0.113.10", "--vni", "4242"],
    );
    assert_eq!((s.written, frames.len()), (1, 1));
    // --no-nested: the GENEVE payload as it came, behind a synthesized header.
    let (s, frames) = decap(std::slice::from_ref(&outer), &["--no-nested"]);
    assert_eq!(frames, [synthesized_ethernet(&mirrored)]);
    assert_eq!(s.note("nested-mirror"), 0);
    // Text with -v: the nested VXLAN session.
    let f = run_on_bytes(&pcap(&[outer]), "in.pcap", &[]);
    f.run.expect_code(0);
    let r = run(&[
        "-r",
        &f.dir.path().join("in.pcap").display().to_string(),
        "-v",
    ]);
    assert!(
        r.stdout_text()
            .contains("vxlan vni 4242 (203.0.113.10 > 203.0.113.20")
    );
}

#[test]
fn gwlb_options_printed_with_no_nested() {
    let (outer, _) = gwlb_nested(&eth_icmp_echo(1, 8));
    let f = run_on_bytes(&pcap(&[outer]), "in.pcap", &[]);
    let r = run(&[
        "-r",
        &f.dir.path().join("in.pcap").display().to_string(),
        "-v",
        "--no-nested",
    ]);
    let text = r.stdout_text();
    assert!(
        text.contains(
            "geneve vni 0 (192.0.2.1 > 198.51.100.1, proto 0x0800, options [32 bytes], \
             gwlb endpoint id 0123456789abcdef, gwlb attachment id 1111222233334444, \
             gwlb flow cookie c00c1e00)"
        ),
        "{text}"
    );
}

#[test]
fn nesting_past_the_bound_is_written_as_it_is() {
    let inner = eth_icmp_echo(2, 16);
    let level3 = ip_udp_to(ENI, VXLAN_PORT, &vxlan(0x08, 3, &inner));
    let level2 = ip_udp_to(ENI, GENEVE_PORT, &geneve(0x0800, 2, &[], &level3));
    let outer = eth_udp_to(SENDER, GENEVE_PORT, &geneve(0x0800, 1, &[], &level2));
    let (s, frames) = decap(&[outer], &[]);
    assert_eq!(frames, [synthesized_ethernet(&level3)]);
    assert_eq!(s.note("nesting-bound"), 1);
    assert_eq!(s.note("nested-mirror"), 1);
}

#[test]
fn aws_style_truncated_mirror_is_written() {
    // AWS PacketLength: the mirror keeps the first 100 bytes of a 1400-byte frame; the
    // inner IP header still claims the whole packet.
    let full = eth_udp_sized(1400, 7);
    let cut = full[..100].to_vec();
    let outer = eth_udp_to(SENDER, VXLAN_PORT, &vxlan(0x08, 99, &cut));
    let (s, frames) = decap(&[outer], &[]);
    assert_eq!(frames, std::slice::from_ref(&cut));
    assert!(s.skips.is_empty(), "{:?}", s.skips);
    // The same through a GWLB: the inner VXLAN packet is whole, its frame cut.
    let (outer, _) = gwlb_nested(&cut);
    let (s, frames) = decap(&[outer], &[]);
    assert_eq!(frames, [cut]);
    assert_eq!(s.note("nested-mirror"), 1);
}

#[test]
fn ipv6_outer() {
    let inner = eth_icmp_echo(3, 100);
    let a = eth_udp_to(SENDER6, VXLAN_PORT, &vxlan(0x08, 10, &inner));
    let b = eth_udp_to(SENDER6, GENEVE_PORT, &geneve(0x6558, 11, &[], &inner));
    let (s, frames) = decap(&[a, b], &["--from", "2001:db8::1"]);
    assert_eq!(frames, [inner.clone(), inner]);
    assert_eq!(s.written, 2);
}

#[test]
fn every_geneve_protocol_type() {
    let eth = eth_icmp_echo(4, 20);
    let ip4 = ipv4_icmp_echo([10, 0, 0, 1], [10, 0, 0, 2], 5, 20);
    let ip6 = ip_udp_to(SENDER6, 53, b"query");
    let arp = arp_request([2, 0, 0, 0, 0, 9], [10, 0, 0, 1], [10, 0, 0, 2]);
    let packets = [
        eth_udp_to(SENDER, GENEVE_PORT, &geneve(0x6558, 1, &[], &eth)),
        eth_udp_to(SENDER, GENEVE_PORT, &geneve(0x0800, 1, &[], &ip4)),
        eth_udp_to(SENDER, GENEVE_PORT, &geneve(0x86DD, 1, &[], &ip6)),
        eth_udp_to(SENDER, GENEVE_PORT, &geneve(0x0806, 1, &[], &arp)),
        eth_udp_to(SENDER, GENEVE_PORT, &geneve(0x8847, 1, &[], &[0; 20])),
    ];
    let (s, frames) = decap(&packets, &[]);
    let mut arp_frame = vec![0u8; 12];
    arp_frame.extend_from_slice(&[0x08, 0x06]);
    arp_frame.extend_from_slice(&arp);
    assert_eq!(
        frames,
        [
            eth,
            synthesized_ethernet(&ip4),
            synthesized_ethernet(&ip6),
            arp_frame
        ]
    );
    assert_eq!(s.skip("geneve-proto-0x8847"), 1);
}

#[test]
fn broken_headers_are_counted_by_cause() {
    let inner = eth_icmp_echo(6, 8);
    // VXLAN header cut short (5 of 8 bytes on the wire).
    let short_vxlan = eth_udp_to(SENDER, VXLAN_PORT, &[0x08, 0, 0, 0, 0]);
    // VXLAN without the I flag.
    let no_vni = eth_udp_to(SENDER, VXLAN_PORT, &vxlan(0x00, 1, &inner));
    // GENEVE Opt Len 63 words in a 40-byte payload.
    let mut past = geneve(0x6558, 1, &[], &inner[..32]);
    past[0] = 0x3F;
    let past = eth_udp_to(SENDER, GENEVE_PORT, &past);
    // GENEVE version 1.
    let mut v1 = geneve(0x6558, 1, &[], &inner);
    v1[0] |= 0x40;
    let v1 = eth_udp_to(SENDER, GENEVE_PORT, &v1);
    // UDP length 4.
    let mut bad_udp = ip_udp_to(SENDER, VXLAN_PORT, &vxlan(0x08, 1, &inner));
    bad_udp[24..26].copy_from_slice(&4u16.to_be_bytes());
    let bad_udp = outer_eth(&bad_udp);
    // An option whose length runs past the options area: written, noted.
    let bad_option = geneve(0x6558, 1, &[0x01, 0x02, 0x03, 0x1F], &inner);
    let bad_option = eth_udp_to(SENDER, GENEVE_PORT, &bad_option);
    let (s, frames) = decap(&[short_vxlan, no_vni, past, v1, bad_udp, bad_option], &[]);
    assert_eq!(s.skip("truncated-vxlan"), 1);
    assert_eq!(s.skip("vxlan-no-vni"), 1);
    assert_eq!(s.skip("geneve-options-past-packet"), 1);
    assert_eq!(s.skip("geneve-version"), 1);
    assert_eq!(s.skip("bad-udp-length"), 1);
    assert_eq!(s.note("geneve-bad-options"), 1);
    assert_eq!(frames, [inner]);
}

#[test]
fn capture_cut_inside_the_headers() {
    // tcpdump -s 50: the VXLAN header is cut by the capture, not by the sender.
    let inner = eth_icmp_echo(7, 64);
    let packet = eth_udp_to(SENDER, VXLAN_PORT, &vxlan(0x08, 1, &inner));
    let geneve_packet = eth_udp_to(
        SENDER,
        GENEVE_PORT,
        &geneve(0x6558, 1, &gwlb_options(1, 2, 3), &inner),
    );
    let fmt = PcapFormat {
        snaplen: 46,
        ..PcapFormat::ethernet()
    };
    let input = pcap_bytes(fmt, &[(T0, packet), (T0 + 1, geneve_packet)]);
    let f = run_on_bytes(&input, "cut.pcap", &[]);
    f.run.expect_code(0);
    let s = f.run.summary();
    assert_eq!(s.skip("truncated-vxlan"), 1);
    assert_eq!(s.skip("truncated-geneve"), 1);
}

#[test]
fn outer_fragments_and_gre_in_udp() {
    let inner = eth_udp_sized(1200, 3);
    let udp = Udp {
        sport: 49_152,
        dport: VXLAN_PORT,
    }
    .build(SENDER, &vxlan(0x08, 5, &inner));
    let IpAddrs::V4(src, dst) = SENDER else {
        unreachable!()
    };
    let mut packets: Vec<Vec<u8>> = Ipv4::new(src, dst, ipproto::UDP)
        .fragments(&udp, 512)
        .iter()
        .map(|f| outer_eth(f))
        .collect();
    let gre = Gre::new(ethertype::TEB).key(77).build(&inner);
    packets.push(eth_udp_to(SENDER, GRE_IN_UDP_PORT, &gre));
    let (s, frames) = decap(&packets, &[]);
    assert_eq!(frames, [inner.clone(), inner.clone()]);
    assert_eq!(s.note("fragments-reassembled"), 1);
    let (_, frames) = decap(&packets, &["--key", "77"]);
    assert_eq!(frames, [inner]);
}

/// RFC 8086 GRE-in-UDP and plain GRE (IP protocol 47) with the same key from the same
/// sender are two sessions, the UDP one named `gre-udp` in text tags, `--list-sessions`,
/// `--stats-json` and pcapng interface names.
#[test]
fn gre_in_udp_and_plain_gre_are_separate_sessions() {
    let inner = eth_icmp_echo(3, 32);
    let gre = Gre::new(ethertype::TEB).key(77);
    let packets = [
        eth_udp_to(SENDER, GRE_IN_UDP_PORT, &gre.build(&inner)),
        outer_eth(&ipv4_gre([192, 0, 2, 1], [198, 51, 100, 1], &gre, &inner)),
        eth_udp_to(SENDER, GRE_IN_UDP_PORT, &gre.build(&inner)),
    ];
    let f = run_on_bytes(&pcap(&packets), "in.pcap", &[]);
    f.run.expect_code(0);
    assert_eq!(f.capture().frames(), [&inner[..], &inner[..], &inner[..]]);
    let input = f.dir.path().join("in.pcap").display().to_string();
    // Text tags.
    let r = run(&["-r", &input]);
    r.expect_code(0);
    let tags: Vec<String> = r
        .stdout_text()
        .lines()
        .map(|l| {
            l.split(": ")
                .next()
                .unwrap()
                .split_once(' ')
                .unwrap()
                .1
                .to_string()
        })
        .collect();
    assert_eq!(tags, ["gre-udp key 77", "gre key 77", "gre-udp key 77"]);
    // --list-sessions: two rows, the ENCAP column tells them apart.
    let r = run(&["-r", &input, "--list-sessions"]);
    r.expect_code(0);
    let table = r.stdout_text();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][1..3], ["ENCAP", "KEY"], "{table}");
    let sessions: Vec<(&str, &str, &str, &str)> =
        rows[1..].iter().map(|r| (r[0], r[1], r[2], r[9])).collect();
    assert_eq!(
        sessions,
        [
            ("192.0.2.1", "gre-udp", "77", "2"),
            ("192.0.2.1", "gre", "77", "1")
        ],
        "{table}"
    );
    // --stats-json.
    let line = common::final_stats_of(std::path::Path::new(&input));
    let sessions: Vec<(String, u64, u64)> = line["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["encap"].as_str().unwrap().to_string(),
                s["key"].as_u64().unwrap(),
                s["packets"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sessions,
        [("gre-udp".to_string(), 77, 2), ("gre".to_string(), 77, 1)]
    );
    // pcapng: one interface per session, named after it.
    if have_tool("tshark") {
        let out = f.dir.path().join("out.pcapng");
        run(&["-r", &input, "-w", &out.display().to_string()]).expect_code(0);
        let names: Vec<String> = tshark_fields(&out, None, &["frame.interface_name"], &[])
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        assert_eq!(
            names,
            [
                "gre-udp 192.0.2.1 key 77",
                "gre 192.0.2.1 key 77",
                "gre-udp 192.0.2.1 key 77"
            ]
        );
    }
}

/// The generator is checked by an independent decoder.
#[test]
fn generator_output_is_decoded_by_tshark() {
    if !have_tool("tshark") {
        return;
    }
    let (outer, _) = gwlb_nested(&eth_icmp_echo(1, 8));
    let packets = [
        eth_udp_to(
            SENDER,
            VXLAN_PORT,
            &vxlan(0x08, 5_569_041, &eth_icmp_echo(1, 8)),
        ),
        outer,
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "gen.pcap", &pcap(&packets));
    let rows = tshark_fields(
        &path,
        None,
        &[
            "vxlan.vni",
            "geneve.vni",
            "geneve.option.class",
            "icmp.type",
        ],
        &["-E", "occurrence=a", "-E", "aggregator=,"],
    );
    assert_eq!(rows[0], ["5569041", "", "", "8"]);
    assert_eq!(rows[1], ["4242", "0x000000", "0x0108,0x0108,0x0108", "8"]);
}

/// `spandump --udp ... -v` with GWLB GENEVE datagrams on loopback (no privilege):
/// `--threads 2` hands the frames to a writer thread, which must print the same
/// GENEVE options as the single-threaded run (it printed none before the options
/// were carried across the hand-off).
#[test]
fn geneve_options_cross_the_thread_handoff() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let (outer, _) = gwlb_nested(&eth_icmp_echo(1, 8));
    // The UDP payload of the generated packet: Ethernet + IPv4 + UDP headers off.
    let datagram = &outer[14 + 20 + 8..];
    let mut texts = Vec::new();
    for threads in ["1", "2"] {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bind = format!("127.0.0.1:{port}");
        let dir = tempfile::tempdir().unwrap();
        let stderr_path = dir.path().join("stderr");
        let stdout_path = dir.path().join("stdout");
        #[rustfmt::skip]
        let mut child = Command::new(spandump_bin())
            .args(["--udp", &bind, "--geneve-port", &port.to_string(), "--no-nested", "-v",
                   "-c", "3", "--threads", threads])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path).unwrap())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("start spandump");
        let stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let start = Instant::now();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut sent = false;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if !sent && stderr().contains("listening on") {
                for _ in 0..3 {
                    sender.send_to(datagram, &bind).unwrap();
                }
                sent = true;
            }
            if start.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("--threads {threads}: no exit after 3 frames:\n{}", stderr());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(
            status.success(),
            "--threads {threads}: {status}\n{}",
            stderr()
        );
        // Receive timestamps differ between the runs: compared without them (-v
        // continuation lines have none).
        let text = std::fs::read_to_string(&stdout_path).unwrap();
        let lines: Vec<String> = text
            .lines()
            .map(|l| match l.starts_with(' ') {
                true => l.to_string(),
                false => l.split_once(' ').map_or(l, |(_, rest)| rest).to_string(),
            })
            .collect();
        let tagged: Vec<&String> = lines.iter().filter(|l| l.starts_with("geneve")).collect();
        assert_eq!(tagged.len(), 3, "--threads {threads}:\n{text}");
        assert!(
            tagged.iter().all(|l| l.contains(
                "options [32 bytes], gwlb endpoint id 0123456789abcdef, \
                 gwlb attachment id 1111222233334444, gwlb flow cookie c00c1e00)"
            )),
            "--threads {threads}:\n{text}"
        );
        texts.push(lines);
    }
    assert_eq!(texts[0], texts[1]);
}
