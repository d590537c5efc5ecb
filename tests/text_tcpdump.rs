//! tcpdump as the reference for text lines: for every capture in `testdata/` and a few
//! generated ones (protocols no capture holds), spandump's text in each supported mode
//! must equal, frame by frame, what `tcpdump MODE` prints for the frames spandump
//! writes (`spandump -r X -w - | tcpdump MODE -r -`), once spandump's encapsulation tag
//! is taken out. A frame is its first line and tcpdump's continuation lines (those
//! starting with white space, and the frame a VXLAN header carries, which tcpdump
//! starts on a line of its own).
//!
//! Every differing frame is printed (both texts), then the agreeing fraction per mode;
//! the test fails when a mode falls below its floor. The floors only ever rise: set
//! each to what the printer reaches. Both programs run with `TZ=UTC`.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::capgen::{PcapFormat, gretap, pcap_bytes};
use common::*;

/// The modes compared and the lowest agreeing fraction (percent) each may reach.
const MODES: &[(&[&str], f64)] = &[
    (&["-nn"], 100.0),
    (&["-nn", "-v"], 100.0),
    (&["-nn", "-vv"], 100.0),
    (&["-nn", "-e"], 100.0),
    (&["-nn", "-q"], 100.0),
    (&["-nn", "-S"], 100.0),
    (&["-nn", "-t"], 100.0),
    (&["-nn", "-tt"], 100.0),
];

/// Captures built here for what `testdata/` lacks, each frame wrapped in gretap.
fn generated(dir: &Path) -> Vec<PathBuf> {
    use common::apps::*;
    let dns = dns_response_all_types();
    let sets: [(&str, Vec<Vec<u8>>); 6] = [
        (
            "dns",
            vec![
                eth_dns(&dns_query(0x1234, "example.com", 1), false),
                eth_dns(&dns, true),
                // Cut inside the answers: the UDP length covers only what is there.
                eth_dns(&dns[..70], true),
                eth_dns(&dns_query(7, "kube-ovn.io", 28), false),
            ],
        ),
        ("tcp", tcp_connections()),
        ("dhcp", vec![dhcp_discover()]),
        ("icmp6-nd", icmp6_nd()),
        ("overlay", overlay_frames()),
        ("text-printer-seeds", text_printer_seeds()),
    ];
    sets.iter()
        .map(|(name, frames)| {
            let packets: Vec<(u64, Vec<u8>)> = frames
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    (
                        1_700_000_000_000_000_000 + i as u64 * 1_000_000,
                        gretap(None, f),
                    )
                })
                .collect();
            write_file(
                dir,
                &format!("{name}.pcap"),
                &pcap_bytes(PcapFormat::ethernet(), &packets),
            )
        })
        .collect()
}

/// Whether `line` ends with VXLAN's header (`VXLAN, flags [I] (0x08), vni 2`), after
/// which tcpdump prints the frame VXLAN carries on a line of its own.
fn ends_in_vxlan(line: &str) -> bool {
    line.rsplit_once(", vni ").is_some_and(|(head, vni)| {
        head.contains("VXLAN, flags [")
            && !vni.is_empty()
            && vni.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Mirrored overlay traffic: VXLAN, GENEVE (with and without options, each payload
/// kind) and GRE inside the inner frame, and a few malformed headers.
fn overlay_frames() -> Vec<Vec<u8>> {
    use common::capgen::{Gre, IpAddrs, eth_ip, ethertype, ip_udp, ipproto};
    use common::cloudgen::{GENEVE_PORT, VXLAN_PORT, geneve, geneve_option, vxlan};
    let query = common::apps::eth_dns(&common::apps::dns_query(9, "overlay.test", 1), false);
    let v4 = IpAddrs::V4([10, 0, 0, 1], [10, 0, 0, 2]);
    let v6 = IpAddrs::V6(common::capgen::v6(1), common::capgen::v6(2));
    let ip_query = &query[14..];
    let opts = {
        let mut o = geneve_option(0x0102, 0x80, &[0, 1, 0, 2]);
        o.extend(geneve_option(0xffff, 1, &[]));
        o
    };
    vec![
        eth_ip(&ip_udp(v4, 40001, VXLAN_PORT, &vxlan(0x08, 77, &query))),
        eth_ip(&ip_udp(
            v6,
            40001,
            VXLAN_PORT,
            &vxlan(0x0c, 16_777_215, &query),
        )),
        // VXLAN carrying VXLAN carrying the query.
        eth_ip(&ip_udp(
            v4,
            40001,
            VXLAN_PORT,
            &vxlan(
                0x08,
                1,
                &eth_ip(&ip_udp(v4, 40001, VXLAN_PORT, &vxlan(0x08, 2, &query))),
            ),
        )),
        eth_ip(&ip_udp(v4, 40001, VXLAN_PORT, &vxlan(0x00, 5, &query))),
        eth_ip(&ip_udp(v4, 40001, VXLAN_PORT, &[0x08, 0, 0])),
        eth_ip(&ip_udp(
            v4,
            VXLAN_PORT,
            40000,
            &vxlan(0x08, 3, &query[..20]),
        )),
        eth_ip(&ip_udp(
            v4,
            40001,
            GENEVE_PORT,
            &geneve(ethertype::TEB, 0x1234, &[], &query),
        )),
        eth_ip(&ip_udp(
            v4,
            40001,
            GENEVE_PORT,
            &geneve(ethertype::TEB, 7, &opts, &query),
        )),
        eth_ip(&ip_udp(
            v6,
            40001,
            GENEVE_PORT,
            &geneve(ethertype::IPV4, 9, &opts, ip_query),
        )),
        eth_ip(&ip_udp(
            v4,
            40001,
            GENEVE_PORT,
            &geneve(0x1234, 1, &[], &[0; 8]),
        )),
        eth_ip(&ip_udp(v4, 40001, GENEVE_PORT, &[0, 0, 0x65, 0x58])),
        eth_ip(&ip_udp(
            v4,
            40001,
            GENEVE_PORT,
            &[0x40, 0, 0x65, 0x58, 0, 0, 1, 0],
        )),
        eth_ip(&ip_udp(v4, 40001, GENEVE_PORT, &{
            let mut g = geneve(ethertype::TEB, 1, &opts, &query);
            g[1] = 0xc0;
            g[7] = 3;
            g
        })),
        eth_ip(&v4.packet(ipproto::GRE, &Gre::new(ethertype::TEB).key(5).build(&query))),
    ]
}

/// The Ethernet frames of the text_printer fuzz target's seed corpus (first byte 0:
/// Ethernet, nothing lost on the wire): CDP, NTP, DHCP, DHCPv6, VXLAN and GENEVE
/// frames written for the printer, and frames of the captures.
fn text_printer_seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/text_printer");
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fuzz/corpus/text_printer")
        .map(|e| e.expect("dir entry").path())
        .collect();
    seeds.sort();
    let frames: Vec<Vec<u8>> = seeds
        .iter()
        .map(|p| std::fs::read(p).expect("seed"))
        .filter(|data| data.len() > 14 && data[0] == 0)
        .map(|data| data[1..].to_vec())
        .collect();
    assert!(
        frames.len() >= 8,
        "{} seeds in {}",
        frames.len(),
        dir.display()
    );
    frames
}

/// The frames of a text output: a line not starting with white space begins one,
/// unless it is the frame a VXLAN header on the line before carries.
fn frames(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut prev_vxlan = false;
    for line in text.lines() {
        let continues = line.starts_with([' ', '\t']) || prev_vxlan;
        prev_vxlan = ends_in_vxlan(line);
        match (continues, out.last_mut()) {
            (true, Some(last)) => {
                last.push('\n');
                last.push_str(line);
            }
            _ => out.push(line.to_string()),
        }
    }
    out
}

/// spandump's line without its encapsulation tag: `[time ]tag: rest` -> `[time ]rest`.
fn without_tag(frame: &str, has_time: bool) -> String {
    let (time, rest) = match (has_time, frame.split_once(' ')) {
        (true, Some((t, r))) => (format!("{t} "), r),
        _ => (String::new(), frame),
    };
    match rest.split_once(": ") {
        Some((_, after)) => format!("{time}{after}"),
        None => frame.to_string(),
    }
}

fn run_utc(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .env("TZ", "UTC")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(data).expect("feed tcpdump");
    }
    child.wait_with_output().expect("wait").stdout
}

#[derive(Default)]
struct Tally {
    agree: usize,
    total: usize,
}

#[test]
fn text_lines_match_tcpdump_frame_by_frame() {
    if !have_tool("tcpdump") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut captures: Vec<PathBuf> = std::fs::read_dir(testdata(""))
        .expect("testdata/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    captures.sort();
    captures.extend(generated(dir.path()));

    let mut tallies: BTreeMap<usize, Tally> = BTreeMap::new();
    let mut differing = 0;
    for capture in &captures {
        let path = capture.to_str().expect("UTF-8 path");
        let inner = run_utc(spandump_bin(), &["-r", path, "-w", "-"], None);
        if inner.len() <= 24 {
            continue; // no frame written
        }
        for (m, (mode, _)) in MODES.iter().enumerate() {
            let reference = String::from_utf8_lossy(&run_utc(
                "tcpdump",
                &[mode, &["-r", "-"][..]].concat(),
                Some(&inner),
            ))
            .into_owned();
            let ours = String::from_utf8_lossy(&run_utc(
                spandump_bin(),
                &[&["-r", path][..], mode].concat(),
                None,
            ))
            .into_owned();
            let (ours, reference) = (frames(&ours), frames(&reference));
            assert_eq!(
                ours.len(),
                reference.len(),
                "{path} {mode:?}: spandump printed {} frames, tcpdump {}",
                ours.len(),
                reference.len()
            );
            let has_time = !mode.contains(&"-t");
            let tally = tallies.entry(m).or_default();
            for (i, (o, r)) in ours.iter().zip(&reference).enumerate() {
                tally.total += 1;
                let o = without_tag(o, has_time);
                if o == *r {
                    tally.agree += 1;
                } else {
                    differing += 1;
                    println!(
                        "{} frame {} {}:\n  spandump: {o}\n  tcpdump:  {r}",
                        capture.file_name().unwrap_or_default().to_string_lossy(),
                        i + 1,
                        mode.join(" ")
                    );
                }
            }
        }
    }
    println!("{differing} differing frames; agreement per mode:");
    let mut below = Vec::new();
    for (m, (mode, floor)) in MODES.iter().enumerate() {
        let t = tallies.get(&m).expect("every mode ran");
        assert!(t.total > 1000, "{mode:?}: only {} frames compared", t.total);
        let pct = 100.0 * t.agree as f64 / t.total as f64;
        println!(
            "  {:<10} {}/{} = {pct:.1}% (floor {floor}%)",
            mode.join(" "),
            t.agree,
            t.total
        );
        if pct < *floor {
            below.push(format!("{} at {pct:.1}% < {floor}%", mode.join(" ")));
        }
    }
    assert!(below.is_empty(), "below the floor: {below:?}");
}

#[test]
fn tag_and_frame_splitting() {
    assert_eq!(
        without_tag(
            "12:00:00.000001 gre key 9: IP 1.2.3.4 > 5.6.7.8: ICMP",
            true
        ),
        "12:00:00.000001 IP 1.2.3.4 > 5.6.7.8: ICMP"
    );
    assert_eq!(
        without_tag(
            "erspan-ii sid 1 idx 0x0 (10.0.0.1 > 10.0.0.2, ver 1): ARP",
            false
        ),
        "ARP"
    );
    assert_eq!(
        frames("a\n    b\n\tc\nd\n"),
        ["a\n    b\n\tc".to_string(), "d".to_string()]
    );
    // VXLAN's inner frame starts a line of its own but belongs to the same frame.
    let vxlan = "1.1 IP 2.2.2.2.4789 > 2.2.2.9.4789: VXLAN, flags [I] (0x0c), vni 2\n\
                 IP 4.4.4.4.53 > 4.4.4.9.53: 0+ A? a. (17)\n\
                 1.2 IP 4.4.4.4.53 > 4.4.4.9.53: 0+ A? vni 3\n\
                 IP 1.1.1.1 > 2.2.2.2: ICMP\n";
    let f = frames(vxlan);
    assert_eq!(f.len(), 3, "{f:?}");
    assert!(f[0].ends_with("(17)"), "{f:?}");
}

/// A capture of `n` TCP connections, one ACK segment each, every one from its own
/// client address.
fn connections(dir: &Path, n: u32) -> PathBuf {
    use common::capgen::{IpAddrs, Tcp, eth_ip, ipproto, tcp_flags};
    let packets: Vec<(u64, Vec<u8>)> = (0..n)
        .map(|i| {
            let addrs = IpAddrs::V4(
                [10, (i >> 16) as u8, (i >> 8) as u8, i as u8],
                [192, 0, 2, 80],
            );
            let seg = Tcp {
                sport: 40000,
                dport: 443,
                seq: i,
                ack: !i,
                flags: tcp_flags::ACK,
                window: 502,
            }
            .build(addrs, &[]);
            let frame = eth_ip(&addrs.packet(ipproto::TCP, &seg));
            (
                1_700_000_000_000_000_000 + u64::from(i) * 1000,
                gretap(None, &frame),
            )
        })
        .collect();
    write_file(
        dir,
        &format!("conn-{n}.pcap"),
        &pcap_bytes(PcapFormat::ethernet(), &packets),
    )
}

/// The text printer's TCP table holds 65536 connections: a few hundred cost no eviction,
/// 70000 must evict (and say so in the summary), and never more than one per new one.
#[test]
fn tcp_table_is_bounded_and_counts_evictions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let few = connections(dir.path(), 300);
    let run = common::run(&["-r", few.to_str().unwrap()]);
    run.expect_code(0);
    assert_eq!(
        run.summary().note("text-tcp-evictions"),
        0,
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout_text().lines().count(), 300);
    let many = connections(dir.path(), 70_000);
    let run = common::run(&["-r", many.to_str().unwrap()]);
    run.expect_code(0);
    let evictions = run.summary().note("text-tcp-evictions");
    assert!(
        (70_000 - 65_536..=70_000).contains(&evictions),
        "{evictions} evictions:\n{}",
        run.stderr
    );
    // Every connection's first segment is printed with its absolute numbers.
    let last = run
        .stdout_text()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(last.contains(&format!("ack {}", !69_999u32)), "{last}");
}
