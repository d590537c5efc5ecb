//! The capture interface going away under a live capture (`-i`, `--listen`, and the
//! `--listen` address removed): spandump says which interface or address and why,
//! flushes, prints the summary and exits 1, as tcpdump does; the file holds every
//! frame received before, complete. Each test builds its own namespaces and veth.

mod common;

use common::capgen::{self, Ethernet, Gre, ethertype};
use common::netns::{self, SENDER_MAC, SENDER_V4, SINK_MAC, SINK_V4, Spandump, sh};
use common::{parse_summary, read_capture_bytes};
use std::fs;
use std::path::Path;

fn mirrored(n: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    (0..n)
        .map(|i| {
            let inner = capgen::eth_udp_sized(100 + i * 10, i as u8);
            let gre = Gre::new(ethertype::TEB).key(7);
            let ip = capgen::ipv4_gre(SENDER_V4, SINK_V4, &gre, &inner);
            let wire = Ethernet::new(ethertype::IPV4)
                .macs(SENDER_MAC, SINK_MAC)
                .build(&ip);
            (wire, inner)
        })
        .unzip()
}

fn frames_in(path: &Path) -> Option<Vec<Vec<u8>>> {
    let bytes = fs::read(path).ok()?;
    let capture = read_capture_bytes(&bytes).ok()?;
    Some(capture.records.into_iter().map(|r| r.data).collect())
}

/// Starts spandump with `args` (plus `-w FILE`), sends frames, waits until they are in
/// the file, runs `break_it` on the network, and checks the stop: exit 1, `message`
/// in stderr, the summary, and the frames in the file.
fn stops_when(args: &[&str], break_it: impl FnOnce(&netns::Net), message: &[&str]) {
    if !netns::root_or_skip() {
        return;
    }
    let net = netns::Net::new(1500);
    let out = net.path("out.pcap");
    let mut argv = args.to_vec();
    let out_arg = out.display().to_string();
    argv.extend(["-w", &out_arg]);
    let argv: Vec<&str> = argv
        .iter()
        .map(|a| {
            if *a == "IFACE" {
                net.sink_if.as_str()
            } else {
                a
            }
        })
        .collect();
    let mut spandump = Spandump::start(&net, &argv);
    let (wires, inners) = mirrored(10);
    net.send(&wires);
    netns::wait_until("the frames in the file", || {
        frames_in(&out).is_some_and(|f| f.len() == inners.len())
    });
    break_it(&net);
    let (code, stderr) = spandump.wait();
    assert_eq!(code, Some(1), "exit code:\n{stderr}");
    for m in message {
        let m = m.replace("IFACE", &net.sink_if);
        assert!(stderr.contains(&m), "no {m:?} in:\n{stderr}");
    }
    let summary = parse_summary(&stderr).unwrap();
    assert_eq!(summary.written, inners.len() as u64, "{stderr}");
    assert_eq!(frames_in(&out).unwrap(), inners, "the file after the stop");
}

fn delete_veth(net: &netns::Net) {
    // Deleting one end deletes the pair.
    sh("ip", &["-n", &net.sender, "link", "del", &net.sender_if]);
}

fn delete_address(net: &netns::Net) {
    sh(
        "ip",
        &[
            "-n",
            &net.sink,
            "addr",
            "del",
            "198.51.100.2/24",
            "dev",
            &net.sink_if,
        ],
    );
}

#[test]
fn interface_deleted_under_i() {
    stops_when(&["-i", "IFACE"], delete_veth, &["IFACE disappeared"]);
}

#[test]
fn interface_down_under_i() {
    stops_when(
        &["-i", "IFACE"],
        |net| {
            sh(
                "ip",
                &["-n", &net.sink, "link", "set", &net.sink_if, "down"],
            );
        },
        &["IFACE went down"],
    );
}

#[test]
fn interface_deleted_under_listen() {
    stops_when(
        &["--listen", "198.51.100.2"],
        delete_veth,
        &["IFACE disappeared"],
    );
}

#[test]
fn address_removed_under_listen() {
    stops_when(
        &["--listen", "198.51.100.2"],
        delete_address,
        &["198.51.100.2 is no longer an address of IFACE"],
    );
}

#[test]
fn address_removed_under_listen_raw_socket() {
    stops_when(
        &["--listen", "198.51.100.2", "--raw-socket"],
        delete_address,
        &["198.51.100.2 is no longer an address of this host"],
    );
}

#[test]
fn interface_deleted_under_listen_raw_socket() {
    stops_when(
        &["--listen", "198.51.100.2", "--raw-socket"],
        delete_veth,
        &["198.51.100.2 is no longer an address of this host"],
    );
}

#[test]
fn interface_deleted_under_i_with_threads() {
    stops_when(
        &["-i", "IFACE", "--threads", "2"],
        delete_veth,
        &["IFACE disappeared"],
    );
}

/// The ring keeps receiving mirror packets sent to an address the host gave up (the
/// kernel filter passes them, IP would drop them): the check runs between blocks too,
/// so a busy capture stops as well.
#[test]
fn address_removed_under_listen_while_traffic_continues() {
    if !netns::root_or_skip() {
        return;
    }
    let net = netns::Net::new(1500);
    let out = net.path("out.pcap");
    let out_arg = out.display().to_string();
    let mut spandump = Spandump::start(&net, &["--listen", "198.51.100.2", "-w", &out_arg]);
    let (wires, _) = mirrored(10);
    let file = net.write_pcap("loop.pcap", &wires);
    let mut replay = net.start_replay(&file, false, &["--loop=0", "--pps=500"]);
    netns::wait_until("frames in the file", || {
        frames_in(&out).is_some_and(|f| f.len() >= 10)
    });
    delete_address(&net);
    let (code, stderr) = spandump.wait();
    let _ = replay.kill();
    let _ = replay.wait();
    assert_eq!(code, Some(1), "exit code:\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "198.51.100.2 is no longer an address of {}",
            net.sink_if
        )),
        "{stderr}"
    );
    let summary = parse_summary(&stderr).unwrap();
    let frames = frames_in(&out).expect("a complete file");
    assert_eq!(frames.len() as u64, summary.written, "{stderr}");
    assert!(summary.written >= 10, "{stderr}");
}
