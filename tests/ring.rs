//! Live capture through the AF_PACKET ring (`spandump::capture::ring`), driven through
//! the library: a [`RingSource`] opened in a "sink" network namespace on one end of a
//! veth pair, fed by tcpreplay from a "sender" namespace, read by a
//! [`Pipeline`] into a pcap file that is then compared with what was sent (or with the
//! offline `-r` decode of the same capture). Documentation addresses only; the
//! namespaces are removed when each test ends.
//!
//! Root is needed (namespaces, packet sockets); without it the tests pass with a note,
//! except on CI (env `CI` set). No sleeps as synchronisation: the tests wait, with a
//! deadline, for the ring's kernel counter to show the frames, then set the stop flag
//! and let the source drain.

mod common;

use common::capgen::{self, ErspanII, ErspanIII, Ethernet, Gre, VlanTag, ethertype};
use common::netns::{
    DEADLINE, Net, SENDER_MAC, SENDER_V4, SENDER_V6, SINK_MAC, SINK_V4, SINK_V6, root_or_skip,
    wait_until,
};
use common::read_capture;
use spandump::Timestamp;
use spandump::capture::ring::{FanoutMode, RingCounters, RingOptions, RingSource};
use spandump::capture::{Received, Source};
use spandump::pipeline::{Config, Destination, Pipeline};
use spandump::sink::{self, Format};
use spandump::stats::Stats;
use spandump::wire::decap::SkipCause;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Opens a ring in the sink namespace (on a thread there: the source moves back to
/// this one, which is what `Send` is for).
fn open(net: &Net, options: RingOptions) -> RingSource {
    net.in_sink(move || RingSource::open(&options).unwrap_or_else(|e| panic!("{e}")))
}

fn options(net: &Net) -> RingOptions {
    RingOptions::new(net.sink_if.clone())
}

/// What one pipeline run over the ring produced.
struct Captured {
    stats: Stats,
    frames: Vec<Vec<u8>>,
    timestamps: Vec<u64>,
    counters: RingCounters,
}

/// Runs a pipeline over `source` until `stop` ends it, into `name`.pcap.
fn run_pipeline(net: &Net, source: &mut RingSource, name: &str, stop: &AtomicBool) -> Captured {
    let path = net.path(&format!("{name}.pcap"));
    let file = std::fs::File::create(&path).expect("create output");
    let mut config = Config::new(Format::Pcap);
    config.destination = Destination::File(path.clone());
    let stats = {
        let mut pipeline = Pipeline::new(&config, sink::output(file));
        pipeline.run(source, stop).expect("pipeline run");
        pipeline.stats().clone()
    };
    let capture = read_capture(&path);
    assert!(capture.nanos, "the ring's timestamps are nanoseconds");
    Captured {
        stats,
        frames: capture.records.iter().map(|r| r.data.clone()).collect(),
        timestamps: capture.records.iter().map(|r| r.ts_ns).collect(),
        counters: source.counters(),
    }
}

/// Waits until the kernel has put `n` frames through the ring's filter, then stops
/// the source at once: the drain returns what the ring holds, the block the kernel
/// was still filling included.
fn drain(net: &Net, source: &mut RingSource, n: u64, name: &str) -> Captured {
    wait_until(&format!("{n} frames through the ring's filter"), || {
        source.counters().kernel_packets >= n
    });
    run_pipeline(net, source, name, &AtomicBool::new(true))
}

fn assert_frames(context: &str, got: &[Vec<u8>], want: &[Vec<u8>]) {
    let got: Vec<&[u8]> = got.iter().map(Vec::as_slice).collect();
    common::assert_frames_eq(context, &got, want);
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().expect("v6").octets()
}

const OTHER_V4: [u8; 4] = [198, 51, 100, 3];
const OTHER_V6: &str = "2001:db8:100::3";

/// One mirrored packet: the frame on the wire and the inner frame to be written.
#[derive(Clone)]
struct Mirrored {
    wire: Vec<u8>,
    inner: Vec<u8>,
}

/// Outer Ethernet (with `vlans`) / IPv4 or IPv6 / GRE from the sender to `dst`.
fn outer(gre: &Gre, payload: &[u8], ipv6: bool, to_sink: bool, vlans: &[VlanTag]) -> Vec<u8> {
    let mut eth;
    let ip = if ipv6 {
        eth = Ethernet::new(ethertype::IPV6);
        let dst = if to_sink { SINK_V6 } else { OTHER_V6 };
        capgen::ipv6_gre(v6(SENDER_V6), v6(dst), gre, payload)
    } else {
        eth = Ethernet::new(ethertype::IPV4);
        let dst = if to_sink { SINK_V4 } else { OTHER_V4 };
        capgen::ipv4_gre(SENDER_V4, dst, gre, payload)
    };
    eth = eth.macs(SENDER_MAC, SINK_MAC);
    for tag in vlans {
        eth = eth.vlan(tag.clone());
    }
    eth.build(&ip)
}

/// `count` mirrored packets: gretap with a key, ERSPAN II and III, L3 GRE, in sizes
/// from 60 to 1400 bytes; inner flows differ by packet.
fn mixed(ipv6: bool, count: usize, to_sink: bool, vlans: &[VlanTag]) -> Vec<Mirrored> {
    (0..count)
        .map(|i| {
            let inner = capgen::eth_udp_sized(60 + (i * 97) % 1340, i as u8);
            let seq = i as u32;
            let (wire, inner) = match i % 4 {
                0 => {
                    let gre = Gre::new(ethertype::TEB).key(99);
                    (outer(&gre, &inner, ipv6, to_sink, vlans), inner)
                }
                1 => {
                    let gre = Gre::new(ethertype::ERSPAN_II).seq(seq);
                    let payload = ErspanII::new(77, 0x1234).build(&inner);
                    (outer(&gre, &payload, ipv6, to_sink, vlans), inner)
                }
                2 => {
                    let gre = Gre::new(ethertype::ERSPAN_III).seq(seq);
                    let payload = ErspanIII::new(5).build(&inner);
                    (outer(&gre, &payload, ipv6, to_sink, vlans), inner)
                }
                _ => {
                    let ip = capgen::ipv4_icmp_echo([192, 0, 2, 7], [192, 0, 2, 8], i as u16, 64);
                    let gre = Gre::new(ethertype::IPV4);
                    (
                        outer(&gre, &ip, ipv6, to_sink, vlans),
                        capgen::synthesized_ethernet(&ip),
                    )
                }
            };
            Mirrored { wire, inner }
        })
        .collect()
}

fn wires(m: &[Mirrored]) -> Vec<Vec<u8>> {
    m.iter().map(|m| m.wire.clone()).collect()
}

fn inners(m: &[Mirrored]) -> Vec<Vec<u8>> {
    m.iter().map(|m| m.inner.clone()).collect()
}

/// Traffic that is not GRE: UDP and ICMP over IPv4 and IPv6, and ARP, to the sink.
fn not_gre(i: usize) -> Vec<u8> {
    let eth4 = Ethernet::new(ethertype::IPV4).macs(SENDER_MAC, SINK_MAC);
    let eth6 = Ethernet::new(ethertype::IPV6).macs(SENDER_MAC, SINK_MAC);
    match i % 5 {
        0 => eth4.build(&capgen::ip_udp(
            capgen::IpAddrs::V4(SENDER_V4, SINK_V4),
            40000,
            4789,
            &[0; 32],
        )),
        1 => eth4.build(&capgen::ipv4_icmp_echo(SENDER_V4, SINK_V4, i as u16, 32)),
        2 => eth6.build(&capgen::ip_udp(
            capgen::IpAddrs::V6(v6(SENDER_V6), v6(SINK_V6)),
            40000,
            4789,
            &[0; 32],
        )),
        3 => Ethernet::new(ethertype::ARP)
            .macs(SENDER_MAC, [0xff; 6])
            .build(&capgen::arp_request(SENDER_MAC, SENDER_V4, SINK_V4)),
        _ => Ethernet::new(ethertype::IPV4)
            .macs(SENDER_MAC, SINK_MAC)
            .vlan(VlanTag::dot1q(10))
            .build(&capgen::ip_udp(
                capgen::IpAddrs::V4(SENDER_V4, SINK_V4),
                40000,
                53,
                &[0; 16],
            )),
    }
}

/// IPv4 and IPv6 GRE of every kind, mixed with UDP, ICMP and ARP: the ring holds only
/// the GRE, and every inner frame is written byte for byte, in order, with timestamps
/// that go forward.
#[test]
fn writes_exactly_the_inner_frames_and_the_filter_keeps_only_gre() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new(1500);
    let mut source = open(&net, options(&net));
    let mut sent = Vec::new();
    let mut frames = Vec::new();
    for (i, (a, b)) in mixed(false, 40, true, &[])
        .into_iter()
        .zip(mixed(true, 40, true, &[]))
        .enumerate()
    {
        frames.push(a.wire.clone());
        frames.push(not_gre(i));
        frames.push(b.wire.clone());
        sent.push(a);
        sent.push(b);
    }
    net.send(&frames);
    let got = drain(&net, &mut source, sent.len() as u64, "mixed");
    assert_frames("GRE among other traffic", &got.frames, &inners(&sent));
    assert_eq!(got.stats.outer_packets, 80, "only GRE reaches the pipeline");
    assert_eq!(got.stats.skipped_total(), 0);
    assert_eq!(
        got.counters.kernel_packets, 80,
        "the kernel filter let only GRE in"
    );
    assert_eq!(got.counters.frames, 80);
    assert_eq!(got.counters.kernel_drops, 0);
    assert_eq!(got.stats.kernel_drops, Some(0));
    assert_eq!(got.counters.corrupt_blocks, 0);
    assert!(got.timestamps.windows(2).all(|w| w[0] <= w[1]));
}

/// One 802.1Q tag, or an 802.1ad + 802.1Q pair, before the outer IP header. The
/// kernel moves the outermost tag into metadata on receive; the frames decode either way.
#[test]
fn vlan_tagged_outer_frames_are_read() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new(1500);
    let mut source = open(&net, options(&net));
    let dot1q = mixed(false, 12, true, &[VlanTag::dot1q(100)]);
    let qinq = mixed(true, 12, true, &[VlanTag::dot1ad(200), VlanTag::dot1q(300)]);
    let sent: Vec<Mirrored> = dot1q.into_iter().chain(qinq).collect();
    net.send(&wires(&sent));
    let got = drain(&net, &mut source, sent.len() as u64, "vlan");
    assert_frames("VLAN-tagged outer frames", &got.frames, &inners(&sent));
    assert_eq!(got.stats.skipped_total(), 0);
    eprintln!(
        "vlan: {} of {} frames had their outer tag in metadata",
        got.counters.vlan_offloaded,
        sent.len()
    );
}

/// With destinations (the `--listen` address), GRE to other addresses stays out.
#[test]
fn destination_filter_selects() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new(1500);
    let mut o = options(&net);
    o.destinations = vec![
        IpAddr::V4(Ipv4Addr::from(SINK_V4)),
        SINK_V6.parse().expect("v6"),
    ];
    let mut source = open(&net, o);
    let mut frames = Vec::new();
    let mut want = Vec::new();
    let to_sink =
        mixed(false, 10, true, &[])
            .into_iter()
            .chain(mixed(true, 10, true, &[VlanTag::dot1q(7)]));
    let elsewhere = mixed(false, 10, false, &[]).into_iter().chain(mixed(
        true,
        10,
        false,
        &[VlanTag::dot1q(7)],
    ));
    for (a, b) in to_sink.zip(elsewhere) {
        frames.push(b.wire);
        frames.push(a.wire);
        want.push(a.inner);
    }
    net.send(&frames);
    let got = drain(&net, &mut source, want.len() as u64, "dst");
    assert_frames("to the sink only", &got.frames, &want);
    assert_eq!(got.counters.kernel_packets, 20);
    assert_eq!(got.stats.outer_packets, 20);
}

/// GRE the sink host sends itself is not captured; GRE it receives is.
#[test]
fn outgoing_frames_are_ignored() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new(1500);
    let mut source = open(&net, options(&net));
    // Out of the sink interface: the kernel shows these to packet sockets as
    // PACKET_OUTGOING (tcpreplay's frames go through dev_queue_xmit).
    let outgoing = mixed(false, 30, false, &[]);
    net.send_from_sink(&wires(&outgoing));
    let incoming = mixed(true, 10, true, &[]);
    net.send(&wires(&incoming));
    let got = drain(&net, &mut source, 10, "outgoing");
    assert_frames("incoming only", &got.frames, &inners(&incoming));
    // PACKET_IGNORE_OUTGOING keeps them out of the ring; before Linux 4.20 the
    // source skips them by packet type instead.
    assert_eq!(
        got.counters.kernel_packets,
        10 + got.counters.outgoing_ignored,
        "{:?}",
        got.counters
    );
    assert_eq!(got.stats.outer_packets, 10);
}

/// A tiny ring under a burst it cannot hold: every frame is either written or counted
/// as dropped by the kernel.
#[test]
fn tiny_ring_reports_drops_that_add_up() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new(1500);
    let mut o = options(&net);
    // Four 4 KiB blocks: a few dozen of these frames at most.
    o.buffer_size = 16 << 10;
    let mut source = open(&net, o);
    assert_eq!(source.geometry().block_count, 4);
    let sent = mixed(false, 400, true, &[]);
    // Nobody reads while the burst arrives.
    net.send(&wires(&sent));
    let got = drain(&net, &mut source, sent.len() as u64, "tiny");
    let written = got.frames.len() as u64;
    let drops = got.stats.kernel_drops.expect("the ring reports drops");
    assert!(drops > 0, "a 16 KiB ring must overflow: {:?}", got.counters);
    assert_eq!(written + drops, 400, "{:?}", got.counters);
    assert_eq!(got.stats.frames_written, written);
    assert_eq!(got.counters.kernel_drops, drops);
    assert!(got.counters.kernel_freezes > 0, "{:?}", got.counters);
    // What was written is what was sent, minus the dropped ones: in order.
    let want = inners(&sent);
    let mut at = 0;
    for (i, f) in got.frames.iter().enumerate() {
        let found = want[at..].iter().position(|w| w == f);
        at += found.unwrap_or_else(|| panic!("frame {i} was not sent, or out of order")) + 1;
    }
}

/// Public captures replayed onto the wire: the ring writes exactly the frames the
/// offline decode (`spandump -r`) of the same file writes, and reads only its GRE
/// (fragments included: `zeek-erspan.pcap` has 55).
#[test]
fn testdata_captures_match_the_offline_decode() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new(9000);
    for name in [
        "zeek-erspan.pcap",
        "suricata-verify-bug-5633-gre-01-gre-udp.pcap",
        "tcpdump-erspan-type-i-4.pcap",
        "tcpdump-erspan-type-ii-3.pcap",
        "tcpdump-erspan-type-iii-ft-0.pcap",
        "zeek-gre-within-gre.pcap",
        "zeek-gre-erspan3-dot1q.pcap",
        "zeek-erspanIII.pcap",
        "suricata-verify-bug-5437-02-input.pcap",
        "suricata-verify-decode-erspan-typeI-02-input.pcap",
        "tcpdump-NHRP_registration.pcap",
    ] {
        let input = common::testdata(name);
        let offline_path = net.path(&format!("{name}.offline.pcap"));
        let offline = common::run(&[
            "-r",
            input.to_str().unwrap(),
            "-w",
            offline_path.to_str().unwrap(),
        ]);
        offline.expect_code(0);
        let summary = offline.summary();
        let gre = summary.read - summary.skip("not-gre") - summary.skip("not-ip");
        let want: Vec<Vec<u8>> = read_capture(&offline_path)
            .records
            .into_iter()
            .map(|r| r.data)
            .collect();

        let mut source = open(&net, options(&net));
        net.replay_file(&input, false, &["--topspeed"]);
        let got = drain(&net, &mut source, gre, name);
        assert_frames(name, &got.frames, &want);
        assert_eq!(got.stats.outer_packets, gre, "{name}: {:?}", got.counters);
        assert_eq!(got.stats.skipped(SkipCause::NotGre), 0, "{name}");
        assert_eq!(got.stats.skipped(SkipCause::NotIp), 0, "{name}");
        assert_eq!(
            got.stats.fragments_reassembled,
            summary.note("fragments-reassembled"),
            "{name}"
        );
    }
}

/// Mirrored packets from several senders (198.51.100.`hosts`), round robin, each
/// sender alternating ERSPAN II and gretap with a key and sequence numbers; the inner
/// flows differ by packet.
fn from_senders(hosts: &[u8], per_sender: usize) -> Vec<(u8, Mirrored)> {
    (0..per_sender * hosts.len())
        .map(|i| {
            let host = hosts[i % hosts.len()];
            let inner = capgen::eth_udp_sized(60 + (i * 53) % 900, i as u8);
            let seq = (i / hosts.len()) as u32;
            let (gre, payload) = if i % 2 == 0 {
                let gre = Gre::new(ethertype::ERSPAN_II).seq(seq);
                (gre, ErspanII::new(u16::from(host), 0).build(&inner))
            } else {
                let gre = Gre::new(ethertype::TEB).key(u32::from(host)).seq(seq);
                (gre, inner.clone())
            };
            let ip = capgen::ipv4_gre([198, 51, 100, host], SINK_V4, &gre, &payload);
            let wire = Ethernet::new(ethertype::IPV4)
                .macs(SENDER_MAC, SINK_MAC)
                .build(&ip);
            (host, Mirrored { wire, inner })
        })
        .collect()
}

/// Opens `n` rings in one fan-out group, sends `sent`, and drains each ring.
fn fanout_run(net: &Net, mode: FanoutMode, n: usize, sent: &[Vec<u8>]) -> Vec<Captured> {
    let mut o = options(net);
    o.fanout = Some(0x5d00 | (std::process::id() as u16 & 0xff));
    o.fanout_mode = mode;
    let mut rings: Vec<RingSource> = (0..n).map(|_| open(net, o.clone())).collect();
    net.send(sent);
    wait_until("every frame through the rings", || {
        rings
            .iter()
            .map(|r| r.counters().kernel_packets)
            .sum::<u64>()
            >= sent.len() as u64
    });
    rings
        .iter_mut()
        .enumerate()
        .map(|(i, r)| {
            run_pipeline(
                net,
                r,
                &format!("fanout-{mode:?}-{i}"),
                &AtomicBool::new(true),
            )
        })
        .collect()
}

/// Which ring each sent frame landed on; asserts each ring kept the order sent and
/// that every frame landed exactly once.
fn rings_of(sent: &[Mirrored], got: &[Captured]) -> Vec<usize> {
    let mut ring_of = vec![usize::MAX; sent.len()];
    for (r, c) in got.iter().enumerate() {
        let mut at = 0;
        for f in &c.frames {
            let found = sent[at..]
                .iter()
                .position(|m| &m.inner == f)
                .unwrap_or_else(|| panic!("ring {r}: a frame not sent, or out of order"));
            at += found;
            assert_eq!(ring_of[at], usize::MAX, "frame {at} landed twice");
            ring_of[at] = r;
            at += 1;
        }
    }
    assert!(
        ring_of.iter().all(|&r| r != usize::MAX),
        "frames lost: {ring_of:?}"
    );
    ring_of
}

/// Rings in one fan-out group share the interface's frames, each frame once, each
/// ring in the order sent; by default every sender (mirror session) stays on one
/// ring, and the senders spread over the rings.
#[test]
fn fanout_keeps_each_session_on_one_ring() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new(1500);
    let hosts = [1, 4, 5, 6, 7, 8, 9, 10];
    let sent = from_senders(&hosts, 20);
    let mirrored: Vec<Mirrored> = sent.iter().map(|(_, m)| m.clone()).collect();
    let got = fanout_run(&net, FanoutMode::OuterAddresses, 2, &wires(&mirrored));
    let ring_of = rings_of(&mirrored, &got);
    for host in hosts {
        let rings: std::collections::BTreeSet<usize> = sent
            .iter()
            .zip(&ring_of)
            .filter(|((h, _), _)| *h == host)
            .map(|(_, r)| *r)
            .collect();
        assert_eq!(rings.len(), 1, "sender .{host} split over rings {rings:?}");
    }
    assert!(
        got.iter().all(|c| !c.frames.is_empty()),
        "one ring got nothing"
    );
}

/// The kernel's hash mode, for comparison: it hashes the inner flows, so one session
/// lands on several rings (printed, not asserted: that is the kernel's business).
#[test]
fn fanout_kernel_hash_shares_the_frames() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new(1500);
    let sent = from_senders(&[1], 120);
    let mirrored: Vec<Mirrored> = sent.iter().map(|(_, m)| m.clone()).collect();
    let got = fanout_run(&net, FanoutMode::KernelHash, 2, &wires(&mirrored));
    rings_of(&mirrored, &got);
    eprintln!(
        "kernel hash: one session's 120 frames landed {} / {} on two rings",
        got[0].frames.len(),
        got[1].frames.len()
    );
}

/// Stopped while the mirror keeps sending: the pipeline reads live (idle flushes,
/// blocks as they come), and the stop ends the run promptly with a complete file.
#[test]
fn stops_promptly_under_continuous_traffic() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new(1500);
    let mut source = open(&net, options(&net));
    let sent = mixed(false, 60, true, &[]);
    let frames: Vec<Vec<u8>> = wires(&sent).into_iter().cycle().take(20_000).collect();
    let file = net.write_pcap("steady.pcap", &frames);
    // 20 000 frames at 2000 per second: 10 s, far longer than the test.
    let mut tcpreplay = net.start_replay(&file, false, &["--pps", "2000"]);
    let stop = AtomicBool::new(false);
    let path = net.path("steady-out.pcap");
    let (got, stopped) = std::thread::scope(|s| {
        let reader = s.spawn(|| run_pipeline(&net, &mut source, "steady-out", &stop));
        wait_until("100 frames in the output", || {
            std::fs::read(&path)
                .ok()
                .and_then(|b| common::read_capture_bytes(&b).ok())
                .is_some_and(|c| c.records.len() >= 100)
        });
        let stopped = Instant::now();
        stop.store(true, Ordering::Relaxed);
        let got = reader.join().expect("reader thread");
        (got, stopped.elapsed())
    });
    // `ip netns exec` execs tcpreplay: this PID is the one started here.
    let _ = tcpreplay.kill();
    let _ = tcpreplay.wait();
    assert!(stopped < Duration::from_secs(1), "took {stopped:?} to stop");
    assert!(got.frames.len() >= 100 && got.frames.len() < 20_000);
    let want: Vec<Vec<u8>> = inners(&sent)
        .into_iter()
        .cycle()
        .take(got.frames.len())
        .collect();
    assert_frames("continuous", &got.frames, &want);
    assert_eq!(got.stats.kernel_drops, Some(0));
}

/// A stop with nothing in flight ends after about twice the block timeout.
#[test]
fn stop_without_traffic_returns_at_once() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new(1500);
    let mut source = open(&net, options(&net));
    let stop = AtomicBool::new(true);
    let start = Instant::now();
    let mut n = 0;
    while let Some(r) = source.next_packet(&stop).expect("next_packet") {
        assert!(matches!(r, Received::Idle), "no frames were sent");
        n += 1;
        assert!(n < 1000);
    }
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    assert!(start.elapsed() < DEADLINE);
}

#[test]
fn errors_name_the_interface_and_the_privilege() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new(1500);
    let err = net
        .in_sink(|| RingSource::open(&RingOptions::new("nosuch0")).err())
        .expect("no such interface");
    assert_eq!(
        err.to_string(),
        "no interface named \"nosuch0\" (see `ip link`)"
    );

    // Without CAP_NET_RAW: this test binary again, as nobody with no capabilities,
    // running only `unprivileged_open_child`.
    if !common::have_tool("setpriv") {
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&exe)
        .args(["--exact", "unprivileged_open_child", "--nocapture"])
        .env("SPANDUMP_RING_CHILD", "lo")
        .output()
        .expect("run the test binary unprivileged");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "open error: cannot open packet socket on lo: Operation not permitted (run as \
             root or grant CAP_NET_RAW: setcap cap_net_raw+ep $(command -v spandump))"
        ),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The child half of the privilege test; does nothing unless started by it.
#[test]
fn unprivileged_open_child() {
    let Some(interface) = std::env::var_os("SPANDUMP_RING_CHILD") else {
        return;
    };
    let o = RingOptions::new(interface.to_string_lossy());
    match RingSource::open(&o) {
        Ok(_) => println!("open succeeded"),
        Err(e) => println!("open error: {e}"),
    }
}

/// The timestamps are the kernel's receive times: close to now.
#[test]
fn timestamps_are_receive_times() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new(1500);
    let mut source = open(&net, options(&net));
    let before = now_ns();
    let sent = mixed(false, 4, true, &[]);
    net.send(&wires(&sent));
    let got = drain(&net, &mut source, 4, "ts");
    let after = now_ns();
    assert_eq!(got.frames.len(), 4);
    for ts in got.timestamps {
        assert!(
            ts >= before && ts <= after,
            "{ts} outside {before}..{after}"
        );
    }
}

fn now_ns() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let t = Timestamp::new(d.as_secs() as i64, d.subsec_nanos());
    t.as_nanos() as u64
}
