//! GRO on the receiving interface: a gretap mirror without sequence numbers carrying
//! one TCP flow, sent over a veth whose receive side merges packets (GRO on, with a
//! flush timeout so that a burst is merged; this kernel's GRE GRO does that). spandump
//! on `-i` counts the merged packets by name and warns once with the fix. The
//! detection itself (ring status bit, length past the MTU) is unit-tested in
//! `src/capture/gro.rs`.

mod common;

use common::capgen::{Ethernet, Gre, IpAddrs, Ipv4, Tcp, ethertype, ipproto, tcp_flags};
use common::netns::{self, SENDER_MAC, SENDER_V4, SINK_MAC, SINK_V4, sh};
use common::parse_summary;
use std::fs;
use std::process::{Command, Stdio};

/// `n` gretap packets (no key, no sequence number) carrying consecutive segments of
/// one TCP flow, ACK only: what GRO merges.
fn one_flow(n: usize) -> Vec<Vec<u8>> {
    let (a, b) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    let mut seq = 1000u32;
    (0..n)
        .map(|i| {
            let payload = vec![i as u8; 1000];
            let tcp = Tcp {
                sport: 40000,
                dport: 80,
                seq,
                ack: 1,
                flags: tcp_flags::ACK,
                window: 65535,
            }
            .build(IpAddrs::V4(a, b), &payload);
            seq = seq.wrapping_add(payload.len() as u32);
            let mut inner_ip = Ipv4::new(a, b, ipproto::TCP);
            inner_ip.id = i as u16;
            inner_ip.df = true;
            let inner = Ethernet::new(ethertype::IPV4)
                .macs([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .build(&inner_ip.build(&tcp));
            let mut outer_ip = Ipv4::new(SENDER_V4, SINK_V4, ipproto::GRE);
            outer_ip.id = i as u16 + 1;
            outer_ip.df = true;
            let gre = Gre::new(ethertype::TEB).build(&inner);
            Ethernet::new(ethertype::IPV4)
                .macs(SENDER_MAC, SINK_MAC)
                .build(&outer_ip.build(&gre))
        })
        .collect()
}

#[test]
fn merged_packets_are_counted_and_warned_about_once() {
    if !netns::root_or_skip() || !common::have_tool("ethtool") {
        return;
    }
    let net = netns::Net::new(1500);
    let dev = net.sink_if.clone();
    // GRO toggled on (veth then receives in NAPI), and held a millisecond per poll.
    for state in ["off", "on"] {
        sh(
            "ip",
            &[
                "netns", "exec", &net.sink, "ethtool", "-K", &dev, "gro", state,
            ],
        );
    }
    let sysfs = |name: &str, value: &str| {
        sh(
            "ip",
            &[
                "netns",
                "exec",
                &net.sink,
                "sh",
                "-c",
                &format!("echo {value} > /sys/class/net/{dev}/{name}"),
            ],
        );
    };
    // The sender's transmit offloads off, as a NIC mirror port has none.
    #[rustfmt::skip]
    sh("ip", &[
        "netns", "exec", &net.sender, "ethtool", "-K", &net.sender_if, "tx", "off", "tso", "off",
        "gso", "off",
    ]);
    sysfs("gro_flush_timeout", "1000000");
    sysfs("napi_defer_hard_irqs", "10");

    let out = net.path("gro.pcap");
    let stderr_path = net.path("stderr");
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.sink,
            common::spandump_bin(),
            "-i",
            &dev,
            "-w",
        ])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let stderr = || fs::read_to_string(&stderr_path).unwrap_or_default();
    let kill = |child: &mut std::process::Child| {
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        child.wait().unwrap()
    };
    netns::wait_until("the listening line", || {
        stderr().contains("spandump: listening on ")
    });
    let sent = one_flow(200);
    // Bursts until the kernel merged some (each burst is one tcpreplay run).
    let mut bursts = 0;
    while !stderr().contains("gro off") && bursts < 5 {
        net.send(&sent);
        bursts += 1;
        let start = std::time::Instant::now();
        while !stderr().contains("gro off") && start.elapsed() < std::time::Duration::from_secs(1) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    let status = kill(&mut child);
    let stderr = stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let warning = format!("ethtool -K {dev} gro off");
    assert_eq!(
        stderr.matches(&warning).count(),
        1,
        "one warning:\n{stderr}"
    );
    let summary = parse_summary(&stderr).unwrap();
    let merged = summary.note("gro-merged");
    assert!(merged > 0, "{stderr}");
    // Merged packets are fewer frames than were sent, and still all written.
    let capture = common::read_capture(&out);
    assert_eq!(capture.records.len() as u64, summary.written);
    assert!(summary.written < (bursts * sent.len()) as u64, "{stderr}");
    let big = capture
        .records
        .iter()
        .filter(|r| r.data.len() > 1514)
        .count() as u64;
    assert!(
        big > 0 && big <= merged,
        "{big} large frames, {merged} merged"
    );
}
