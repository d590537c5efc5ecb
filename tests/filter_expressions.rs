//! Filter expressions on inner frames (tcpdump's language, compiled by libpcap, run by
//! spandump's own interpreter).
//!
//! * Differential: for every expression below and every inner frame of every capture
//!   in `testdata/` plus generated frames (VLAN, QinQ, MPLS, IPv6 extension headers,
//!   IPv4 fragments, frames cut short), the interpreter's verdict equals libpcap's own
//!   `pcap_offline_filter`, value for value; the same with the frame handed over in two
//!   pieces (as the pipeline does for raw-IP payloads and their synthesized header).
//! * End to end, through the binary: `spandump -r X EXPR -w a.pcap` is byte for byte
//!   `spandump -r X -w - | tcpdump -r - -w b.pcap EXPR`; `-d/-dd/-ddd` print what
//!   tcpdump prints; `-F` with comments; bad expressions; libpcap missing; counters,
//!   `--list-sessions` and pcapng `if_filter`.
//!
//! libpcap and tcpdump must be installed on CI (`.ci/test` installs them); elsewhere a
//! missing one skips the tests that need it, with a note.

mod common;

use common::capgen::{self, IpAddrs, Ipv4, Ipv6, Ipv6Ext, VlanTag, ethertype, ipproto, tcp_flags};
use common::{have_tool, read_capture_bytes, run, testdata};
use spandump::bpf::libpcap::{LibPcap, RawProgram};
use spandump::bpf::{Expression, Frame};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Every primitive family of pcap-filter(7).
const EXPRESSIONS: &[&str] = &[
    // Link layer, VLAN, MPLS.
    "ether host 00:50:56:00:00:01",
    "ether src 00:00:00:00:00:00",
    "ether dst ff:ff:ff:ff:ff:ff",
    "ether broadcast",
    "ether multicast",
    "ether proto 0x0806",
    "ether[0] & 1 != 0",
    "vlan",
    "vlan 100",
    "vlan and vlan",
    "vlan and ip",
    "vlan and (tcp or udp)",
    "not vlan",
    "mpls",
    "mpls 100",
    "llc",
    "stp",
    // Hosts, nets, ports.
    "host 192.0.2.11",
    "src host 192.0.2.12",
    "dst net 192.0.2.0/24",
    "net 10.0.0.0/8",
    "host 2001:db8::1",
    "ip6 net 2001:db8::/32",
    "port 80",
    "tcp port 80",
    "udp port 53",
    "src port 1024",
    "dst portrange 1-1023",
    "portrange 3000-4000",
    "tcp dst port 443 or udp dst port 443",
    "ip host 192.0.2.11 and not icmp",
    // Protocols.
    "ip",
    "ip6",
    "arp",
    "rarp",
    "icmp",
    "icmp6",
    "tcp",
    "udp",
    "sctp",
    "igmp",
    "pim",
    "vrrp",
    "ah",
    "esp",
    "ip proto 47",
    "ip6 proto 58",
    "ip6 protochain 58",
    "ip6 protochain 6",
    "ip protochain 6",
    "ip broadcast",
    "ip multicast",
    "ip6 multicast",
    "not ip and not ip6",
    // Fragments.
    "ip[6:2] & 0x1fff != 0",
    "ip[6] & 0x20 != 0",
    "ip and (ip[6:2] & 0x3fff) != 0",
    "ip6[6] == 44",
    // Lengths.
    "greater 100",
    "less 64",
    "len > 1000",
    "len <= 60",
    "ip and len > 100 and not udp",
    // Byte offsets with every operator.
    "ip[2:2] - ((ip[0] & 0xf) << 2) > 40",
    "ip[8] * 2 > 100",
    "ip[8] / 2 == 32",
    "ip[8] % 10 == 4",
    "ip[1] | 0x3 == 3",
    "ip[1] ^ 0xff != 0xff",
    "ip[0] >> 4 == 4",
    "ip[0] & 0xf > 5",
    "-ip[8] != 0",
    "ip[2:2] > 576",
    "udp[8:2] == 0",
    "ip[9] == 17 && udp[2:2] == 53",
    "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
    "ip6[40] == 128",
    // Named fields.
    "tcp[tcpflags] & tcp-syn != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn|tcp-ack",
    "tcp[tcpflags] == tcp-ack",
    "vlan and tcp[tcpflags] & tcp-syn != 0",
    "icmp[icmptype] == icmp-echo",
    "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply",
    "icmp6[icmp6type] == icmp6-echo",
];

/// libpcap, or `None` (with a note) where it is missing and this is not CI.
fn libpcap() -> Option<LibPcap> {
    match LibPcap::load() {
        Ok(pcap) => Some(pcap),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("note: {e}; skipping this test");
            None
        }
        Err(e) => panic!("libpcap is needed on CI: {e}"),
    }
}

/// The captures in testdata/.
fn captures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata(""))
        .expect("testdata/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    files
}

/// One frame to filter: its captured bytes and its length on the wire.
struct TestFrame {
    origin: String,
    data: Vec<u8>,
    wire_len: u32,
}

/// Every inner frame spandump writes for every capture in testdata/.
fn testdata_frames() -> Vec<TestFrame> {
    let mut frames = Vec::new();
    for path in captures() {
        let path_str = path.display().to_string();
        let out = run(&["-r", &path_str, "-w", "-"]);
        let capture = read_capture_bytes(&out.stdout).expect("spandump's pcap");
        for (n, r) in capture.records.iter().enumerate() {
            frames.push(TestFrame {
                origin: format!("{} inner frame {}", path.display(), n + 1),
                data: r.data.clone(),
                wire_len: r.orig_len,
            });
        }
    }
    assert!(
        frames.len() > 1000,
        "testdata holds {} inner frames",
        frames.len()
    );
    frames
}

const MAC_A: [u8; 6] = [0x00, 0x50, 0x56, 0x00, 0x00, 0x01];
const MAC_B: [u8; 6] = [0x00, 0x50, 0x56, 0x00, 0x00, 0x02];
const V4A: [u8; 4] = [192, 0, 2, 11];
const V4B: [u8; 4] = [192, 0, 2, 12];

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().expect("address").octets()
}

fn eth(ethertype: u16, tags: &[VlanTag], payload: &[u8]) -> Vec<u8> {
    let mut e = capgen::Ethernet::new(ethertype).macs(MAC_A, MAC_B);
    for t in tags {
        e = e.vlan(t.clone());
    }
    e.build(payload)
}

fn tcp_segment(addrs: IpAddrs, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    capgen::Tcp {
        sport: 40000,
        dport,
        seq: 1,
        ack: 0,
        flags,
        window: 1024,
    }
    .build(addrs, payload)
}

fn icmpv6_echo() -> Vec<u8> {
    vec![128, 0, 0, 0, 0, 1, 0, 1, 0xAA, 0xBB]
}

/// Frames no capture has, whole and cut short at every 6 bytes.
fn generated_frames() -> Vec<TestFrame> {
    let a4 = IpAddrs::V4(V4A, V4B);
    let (s6, d6) = (v6("2001:db8::1"), v6("2001:db8::2"));
    let a6 = IpAddrs::V6(s6, d6);
    let http = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n";
    let mut whole: Vec<(&str, Vec<u8>)> = vec![
        (
            "ipv4 tcp syn",
            capgen::eth_ip(&capgen::ip_tcp(a4, 40000, 80, tcp_flags::SYN, &[])),
        ),
        (
            "ipv4 tcp syn-ack",
            capgen::eth_ip(&capgen::ip_tcp(
                a4,
                80,
                40000,
                tcp_flags::SYN | tcp_flags::ACK,
                &[],
            )),
        ),
        (
            "ipv4 http get",
            capgen::eth_ip(&capgen::ip_tcp(
                a4,
                40000,
                80,
                tcp_flags::PSH | tcp_flags::ACK,
                http,
            )),
        ),
        (
            "ipv4 udp dns",
            capgen::eth_ip(&capgen::ip_udp(a4, 1024, 53, &[0; 30])),
        ),
        (
            "ipv6 udp 443",
            capgen::eth_ip(&capgen::ip_udp(a6, 3500, 443, &[1; 20])),
        ),
        (
            "ipv4 with a router alert option, udp",
            capgen::eth_ip(&{
                let mut ip = Ipv4::new(V4A, V4B, ipproto::UDP);
                ip.options = vec![0x94, 0x04, 0x00, 0x00];
                ip.build(
                    &capgen::Udp {
                        sport: 3001,
                        dport: 53,
                    }
                    .build(a4, &[0; 12]),
                )
            }),
        ),
        (
            "ipv4 icmp echo",
            capgen::eth_ip(&capgen::ipv4_icmp_echo(V4A, V4B, 1, 56)),
        ),
        (
            "arp",
            eth(ethertype::ARP, &[], &capgen::arp_request(MAC_A, V4A, V4B)),
        ),
        (
            "802.1Q vlan 100 tcp syn",
            eth(
                ethertype::IPV4,
                &[VlanTag::dot1q(100)],
                &Ipv4::new(V4A, V4B, ipproto::TCP).build(&tcp_segment(
                    a4,
                    443,
                    tcp_flags::SYN,
                    &[],
                )),
            ),
        ),
        (
            "QinQ 200/100 udp",
            eth(
                ethertype::IPV4,
                &[VlanTag::dot1ad(200), VlanTag::dot1q(100)],
                &capgen::ip_udp(a4, 3000, 53, &[7; 12]),
            ),
        ),
        (
            "MPLS label 100 ipv4",
            eth(0x8847, &[], &{
                let mut m = vec![0x00, 0x06, 0x41, 0x40]; // label 100, S, TTL 64
                m.extend(capgen::ip_udp(a4, 5000, 53, &[0; 8]));
                m
            }),
        ),
        (
            "broadcast ipv4 udp",
            capgen::Ethernet::new(ethertype::IPV4)
                .macs(MAC_A, [0xFF; 6])
                .build(&capgen::ip_udp(
                    IpAddrs::V4(V4A, [255, 255, 255, 255]),
                    68,
                    67,
                    &[0; 20],
                )),
        ),
        (
            "multicast ipv4 igmp",
            capgen::Ethernet::new(ethertype::IPV4)
                .macs(MAC_A, [0x01, 0x00, 0x5E, 0, 0, 5])
                .build(&Ipv4::new(V4A, [224, 0, 0, 5], 2).build(&[0x16, 0, 0, 0, 224, 0, 0, 5])),
        ),
    ];
    // IPv6 with extension headers before TCP and ICMPv6 (protochain walks them).
    for (name, exts) in [
        ("hop-by-hop", vec![Ipv6Ext::hop_by_hop()]),
        (
            "hop-by-hop, routing, destination options",
            vec![
                Ipv6Ext::hop_by_hop(),
                Ipv6Ext::routing(),
                Ipv6Ext::dest_opts(),
            ],
        ),
        ("atomic fragment", vec![Ipv6Ext::atomic_fragment(7)]),
        ("ah", vec![Ipv6Ext::ah()]),
    ] {
        for (upper, proto, payload) in [
            (
                "tcp",
                ipproto::TCP,
                tcp_segment(a6, 80, tcp_flags::SYN, &[]),
            ),
            ("icmpv6", ipproto::ICMPV6, icmpv6_echo()),
        ] {
            let mut ip = Ipv6::new(s6, d6, proto);
            for e in &exts {
                ip = ip.with_ext(e.clone());
            }
            let frame = capgen::eth_ip(&ip.build(&payload));
            whole.push((
                Box::leak(format!("ipv6 {name} {upper}").into_boxed_str()),
                frame,
            ));
        }
    }
    // IPv4 fragments: the first carries the TCP header, the others do not.
    let big = capgen::filler(1200, 3);
    let tcp = tcp_segment(a4, 80, tcp_flags::ACK, &big);
    for (n, fragment) in Ipv4::new(V4A, V4B, ipproto::TCP)
        .fragments(&tcp, 512)
        .into_iter()
        .enumerate()
    {
        whole.push((
            Box::leak(format!("ipv4 fragment {n}").into_boxed_str()),
            capgen::eth_ip(&fragment),
        ));
    }
    let mut frames = Vec::new();
    for (name, data) in whole {
        let wire_len = data.len() as u32;
        // Cut short (a mirror's truncation, a snaplen): wire length > captured length.
        for cut in (0..data.len()).step_by(6) {
            frames.push(TestFrame {
                origin: format!("{name}, first {cut} of {wire_len} bytes"),
                data: data[..cut].to_vec(),
                wire_len,
            });
        }
        frames.push(TestFrame {
            origin: name.to_string(),
            data,
            wire_len,
        });
    }
    frames
}

#[test]
fn interpreter_agrees_with_libpcap_on_every_frame() {
    let Some(pcap) = libpcap() else { return };
    let mut frames = testdata_frames();
    frames.extend(generated_frames());
    let mut compared = 0u64;
    let mut kept = 0u64;
    let mut barren: Vec<&str> = Vec::new();
    for text in EXPRESSIONS {
        let expression =
            Expression::compile(&pcap, text).unwrap_or_else(|e| panic!("'{text}': {e}"));
        let program = expression.program();
        let raw = RawProgram::new(program.instructions());
        let mut kept_here = 0;
        for f in &frames {
            let want = pcap.offline_filter(&raw, &f.data, f.wire_len);
            let got = program.run(Frame::new(&[], &f.data), f.wire_len);
            assert_eq!(got, want, "'{text}' on {}", f.origin);
            // The same frame in two pieces, split inside the Ethernet header.
            let split = f.data.len().min(14);
            let (head, body) = f.data.split_at(split);
            assert_eq!(
                program.run(Frame::new(head, body), f.wire_len),
                want,
                "'{text}' on {} in two pieces",
                f.origin
            );
            kept_here += u64::from(want != 0);
            compared += 1;
        }
        // Each expression is tried on frames it keeps, unless nothing here can match.
        let never = [
            "mpls 100", "rarp", "sctp", "esp", "stp", "llc", "vrrp", "pim",
        ];
        if !never.contains(text) && kept_here == 0 {
            barren.push(text);
        }
        kept += kept_here;
    }
    assert!(
        barren.is_empty(),
        "kept no frame, the test proves little: {barren:?}"
    );
    assert!(EXPRESSIONS.len() >= 60);
    eprintln!(
        "{} expressions x {} frames: {compared} verdicts equal to libpcap's, {kept} keeps",
        EXPRESSIONS.len(),
        frames.len()
    );
}

/// The 20+ expressions run end to end against tcpdump.
const END_TO_END: &[&str] = &[
    "tcp port 80",
    "udp port 53",
    "icmp or arp",
    "ip6",
    "icmp6",
    "vlan",
    "not vlan",
    "ip",
    "tcp",
    "udp",
    "host 192.0.2.11",
    "net 10.0.0.0/8",
    "greater 200",
    "less 100",
    "tcp[tcpflags] & tcp-syn != 0",
    "icmp[icmptype] == icmp-echo",
    "ip6 protochain 58",
    "ip[6:2] & 0x1fff != 0",
    "ether multicast",
    "not ip and not ip6",
    "ip proto 47",
    "udp and len > 100",
];

/// Captures whose inner frames these tests filter (tcpdump needs the same link type
/// throughout: every spandump output is Ethernet).
fn end_to_end_captures() -> Vec<PathBuf> {
    captures()
}

fn tcpdump(args: &[&str], stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new("tcpdump")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tcpdump");
    let mut pipe = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().expect("tcpdump");
    feeder.join().expect("feeder");
    out
}

#[test]
fn written_frames_equal_tcpdump_filtering_the_inner_frames() {
    if libpcap().is_none() || !have_tool("tcpdump") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut checked = 0;
    for path in end_to_end_captures() {
        let input = path.display().to_string();
        let all = run(&["-r", &input, "-w", "-"])
            .expect_code(0)
            .stdout
            .clone();
        // tcpdump writes microseconds unless told otherwise.
        let nano = all.get(..4) == Some(&0xA1B2_3C4Du32.to_le_bytes()[..]);
        for text in END_TO_END {
            let out = dir.path().join("a.pcap");
            let out_str = out.display().to_string();
            let mut args = vec!["-r", &input, "-w", &out_str];
            args.extend(text.split(' '));
            let r = run(&args);
            r.expect_code(0);
            let mine = std::fs::read(&out).expect("spandump's output");
            let mut targs = vec!["-r", "-", "-w", "-"];
            if nano {
                targs.push("--nano");
            }
            targs.push(text);
            let theirs = tcpdump(&targs, &all);
            assert!(
                theirs.status.success(),
                "tcpdump on {input} '{text}': {}",
                String::from_utf8_lossy(&theirs.stderr)
            );
            assert_eq!(
                mine, theirs.stdout,
                "{input} '{text}': spandump's file differs from tcpdump's"
            );
            let frames = read_capture_bytes(&mine).expect("pcap").records.len() as u64;
            let summary = r.summary();
            assert_eq!(summary.written, frames, "{input} '{text}'");
            checked += 1;
        }
    }
    assert!(checked >= 20 * 30, "{checked} runs compared");
}

#[test]
fn dump_options_print_what_tcpdump_prints() {
    if libpcap().is_none() || !have_tool("tcpdump") {
        return;
    }
    let reference = testdata("ovs-mirrors.pcap").display().to_string();
    for text in [
        "tcp port 80",
        "vlan and tcp[tcpflags] & tcp-syn != 0",
        "ip6 protochain 58",
        "icmp or arp",
        "host 192.0.2.11 and not udp",
        "",
    ] {
        for flag in ["-d", "-dd", "-ddd"] {
            let mine = run(&[flag, text]);
            mine.expect_code(0);
            let theirs = Command::new("tcpdump")
                .args([flag, "-r", &reference, text])
                .output()
                .expect("tcpdump");
            assert!(theirs.status.success());
            assert!(!mine.stdout.is_empty());
            assert_eq!(
                mine.stdout_text(),
                String::from_utf8_lossy(&theirs.stdout),
                "{flag} '{text}'"
            );
        }
    }
    // Words are joined with spaces, as tcpdump joins them.
    let joined = run(&["-d", "tcp", "port", "80"]);
    assert_eq!(joined.stdout, run(&["-d", "tcp port 80"]).stdout);
}

fn write_expression_file(dir: &Path, text: &str) -> String {
    let path = dir.join("filter.txt");
    std::fs::write(&path, text).expect("write filter file");
    path.display().to_string()
}

#[test]
fn expression_from_a_file_with_comments() {
    if libpcap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let input = testdata("ovs-mirrors.pcap").display().to_string();
    let file = write_expression_file(
        dir.path(),
        "# only the pings\nicmp # echo requests and replies\n  and host 192.0.2.11\n",
    );
    let from_file = run(&["-r", &input, "-F", &file]);
    from_file.expect_code(0);
    let inline = run(&["-r", &input, "icmp and host 192.0.2.11"]);
    assert!(!from_file.stdout.is_empty());
    assert_eq!(from_file.stdout, inline.stdout);
    assert_eq!(
        run(&["-d", "-F", &file]).stdout,
        run(&["-d", "icmp and host 192.0.2.11"]).stdout
    );
    // A file and an expression on the command line: a usage error that says so.
    let both = run(&["-r", &input, "-F", &file, "udp"]);
    both.expect_code(2);
    assert!(
        both.stderr.contains("-F") && both.stderr.contains("'udp'"),
        "{}",
        both.stderr
    );
    assert!(both.stdout.is_empty());
    let missing = run(&["-r", &input, "-F", "/nonexistent/filter"]);
    missing.expect_code(2);
    assert!(
        missing.stderr.contains("/nonexistent/filter"),
        "{}",
        missing.stderr
    );
}

#[test]
fn bad_expressions_are_usage_errors_with_libpcaps_message() {
    if libpcap().is_none() || !have_tool("tcpdump") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let input = testdata("ovs-mirrors.pcap").display().to_string();
    let out = dir.path().join("never.pcap");
    let out_str = out.display().to_string();
    for text in [
        "tcp port",
        "port nosuchservice",
        "host",
        "ip[0:3] == 1",
        "tcp[tcpflags] & tcp-nosuchflag != 0",
        "(udp",
    ] {
        let r = run(&["-r", &input, "-w", &out_str, text]);
        r.expect_code(2);
        assert!(r.stdout.is_empty(), "'{text}' wrote to stdout");
        assert!(!out.exists(), "'{text}': the output file was created");
        let message = common::tcpdump_filter_error(&input, text);
        assert_eq!(
            r.stderr.trim_end(),
            format!("spandump: {message}"),
            "'{text}'"
        );
        // Text output: nothing on stdout either.
        let text_run = run(&["-r", &input, text]);
        text_run.expect_code(2);
        assert!(text_run.stdout.is_empty());
    }
}

#[test]
fn without_libpcap_only_expressions_fail() {
    let input = testdata("ovs-mirrors.pcap").display().to_string();
    let run_env = |args: &[&str]| {
        Command::new(common::spandump_bin())
            .args(args)
            .env("SPANDUMP_LIBPCAP", "/nonexistent/libpcap.so.0.8")
            .stdin(Stdio::null())
            .output()
            .expect("spandump")
    };
    let with = run_env(&["-r", &input, "icmp"]);
    assert_eq!(with.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&with.stderr);
    assert!(stderr.contains("apt-get install libpcap0.8"), "{stderr}");
    assert!(stderr.contains("/nonexistent/libpcap.so.0.8"), "{stderr}");
    assert!(with.stdout.is_empty());
    let without = run_env(&["-r", &input, "-w", "-"]);
    assert_eq!(without.status.code(), Some(0));
    assert!(!without.stdout.is_empty());
    // Nor is it linked: the binary names no libpcap among its needed libraries.
    if have_tool("ldd") {
        let ldd = Command::new("ldd")
            .arg(common::spandump_bin())
            .output()
            .expect("ldd");
        let ldd = String::from_utf8_lossy(&ldd.stdout);
        assert!(ldd.contains("libc.so"), "{ldd}");
        assert!(!ldd.contains("libpcap"), "{ldd}");
    }
}

#[test]
fn rejected_frames_are_counted_apart_and_sessions_count_what_is_kept() {
    if libpcap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let input = testdata("ovs-mirrors.pcap").display().to_string();
    let stats = dir.path().join("stats.jsonl").display().to_string();
    let all = run(&["-r", &input, "-w", "/dev/null"]);
    let total = all.summary().written;
    let r = run(&[
        "-r",
        &input,
        "--key",
        "99",
        "-w",
        "/dev/null",
        "--stats-json",
        &stats,
        "icmp",
    ]);
    r.expect_code(0);
    let line = std::fs::read_to_string(&stats).expect("stats");
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("json");
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    let written = n("frames_written");
    let rejected = n("expression_rejected");
    let filtered = n("filtered_out");
    assert!(written > 0 && rejected > 0 && filtered > 0, "{v}");
    assert_eq!(written + rejected + filtered, total, "{v}");
    assert!(
        r.stderr
            .contains(&format!("rejected by the filter expression: {rejected}")),
        "{}",
        r.stderr
    );
    let per_session: u64 = v["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["packets_written"].as_u64().expect("packets_written"))
        .sum();
    assert_eq!(per_session, written, "{v}");
    // --list-sessions counts the same.
    let listed = run(&["-r", &input, "--key", "99", "--list-sessions", "icmp"]);
    listed.expect_code(0);
    assert!(
        listed.stdout_text().contains("gre"),
        "{}",
        listed.stdout_text()
    );
}

#[test]
fn pcapng_records_the_expression_in_each_interface() {
    if libpcap().is_none() {
        return;
    }
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
    use pcap_file::pcapng::{Block, PcapNgReader};
    let input = testdata("ovs-mirrors.pcap").display().to_string();
    let text = "icmp or arp";
    let r = run(&["-r", &input, "--pcapng", "-w", "-", text]);
    r.expect_code(0);
    let mut reader = PcapNgReader::new(&r.stdout[..]).expect("pcapng");
    let mut interfaces = 0;
    while let Some(block) = reader.next_block() {
        if let Block::InterfaceDescription(idb) = block.expect("block") {
            interfaces += 1;
            let filter = idb.options.iter().find_map(|o| match o {
                InterfaceDescriptionOption::IfFilter(f) => Some(f.to_vec()),
                _ => None,
            });
            let mut want = vec![0u8];
            want.extend_from_slice(text.as_bytes());
            assert_eq!(filter, Some(want), "interface {interfaces}");
        }
    }
    assert!(interfaces > 1, "one interface per session");
}

/// Every opcode libpcap's validator knows (`pcapint_valid_insn`).
const OPCODES: &[u16] = &[
    0x06, 0x16, 0x20, 0x28, 0x30, 0x80, 0x81, 0x40, 0x48, 0x50, 0xB1, 0x00, 0x01, 0x60, 0x61, 0x02,
    0x03, 0x05, 0x15, 0x25, 0x35, 0x45, 0x1D, 0x2D, 0x3D, 0x4D, 0x0C, 0x1C, 0x2C, 0x3C, 0x9C, 0x5C,
    0x4C, 0xAC, 0x6C, 0x7C, 0x04, 0x14, 0x24, 0x34, 0x94, 0x54, 0x44, 0xA4, 0x64, 0x74, 0x84, 0x07,
    0x87,
];

/// A random program, mostly valid: known opcodes with small constants and short
/// forward jumps, sometimes anything at all; ends in a return. It starts by zeroing
/// the scratch memory: the libpcap of Debian 12 leaves it uninitialised (libpcap 1.10
/// reads stack garbage where spandump, like later libpcaps, reads 0).
fn random_program(rng: &mut capgen::Rng) -> Vec<spandump::bpf::Instruction> {
    use spandump::bpf::Instruction;
    let len = 1 + rng.below(24);
    let init = (0..16).map(|m| Instruction::stmt(0x02, m));
    let mut program: Vec<Instruction> = std::iter::once(Instruction::stmt(0x00, 0))
        .chain(init)
        .collect();
    program.extend((0..len - 1).map(|at| {
        let wild = rng.below(50) == 0;
        let code = if wild {
            rng.next() as u16
        } else {
            OPCODES[rng.below(OPCODES.len())]
        };
        let k = match rng.below(6) {
            0 => rng.next() as u32,
            1 => 0,
            _ => rng.below(70) as u32,
        };
        let room = (len - at - 1) as u64;
        let jump = |rng: &mut capgen::Rng| (rng.next() % (room + 1)) as u8;
        let (jt, jf) = (jump(rng), jump(rng));
        let k = if code == 0x05 && !wild {
            (rng.next() % room) as u32
        } else {
            k
        };
        Instruction { code, jt, jf, k }
    }));
    program.push(Instruction {
        code: if rng.below(2) == 0 { 0x06 } else { 0x16 },
        jt: 0,
        jf: 0,
        k: rng.below(3) as u32,
    });
    program
}

/// The validator refuses every program libpcap refuses, and on the programs both
/// accept (with forward jumps only: the libpcap of Debian 12 has no bound on backward
/// ones) the interpreter's verdict is libpcap's; the fuzz corpus is checked the same way.
#[test]
fn validator_and_interpreter_agree_with_libpcap_on_random_programs() {
    let Some(pcap) = libpcap() else { return };
    let mut frames: Vec<(Vec<u8>, u32)> = generated_frames()
        .into_iter()
        .map(|f| (f.data, f.wire_len))
        .collect();
    frames.truncate(200);
    let mut rng = capgen::Rng(0x5EED_B9F0);
    let (mut accepted, mut refused_by_both, mut compared) = (0, 0, 0);
    let mut check = |program: &[spandump::bpf::Instruction], frame: &[u8], wire_len: u32| {
        let theirs = pcap.validate(program);
        match spandump::bpf::Program::validate(program) {
            Ok(mine) => {
                assert!(theirs, "libpcap refuses what spandump accepts: {program:?}");
                accepted += 1;
                let forward_only = program.iter().all(|i| i.code != 0x05 || (i.k as i32) >= 0);
                if forward_only {
                    let want = pcap.offline_filter(&RawProgram::new(program), frame, wire_len);
                    let got = mine.run(Frame::new(&[], frame), wire_len);
                    assert_eq!(got, want, "{program:?} on {frame:02x?} ({wire_len})");
                    compared += 1;
                }
            }
            Err(_) => refused_by_both += u64::from(!theirs),
        }
    };
    for n in 0..40_000 {
        let program = random_program(&mut rng);
        let (frame, wire_len) = &frames[n % frames.len()];
        check(&program, frame, *wire_len);
    }
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/bpf_program");
    for entry in std::fs::read_dir(corpus).expect("corpus") {
        let data = std::fs::read(entry.expect("entry").path()).expect("read");
        let (program, wire_len, _, frame) = spandump::harness::split_bpf_input(&data);
        if !program.is_empty() {
            check(&program, frame, wire_len);
        }
    }
    eprintln!(
        "{accepted} programs accepted, {compared} verdicts compared, {refused_by_both} refused by both"
    );
    assert!(accepted > 8_000 && compared > 8_000 && refused_by_both > 1_000);
}
