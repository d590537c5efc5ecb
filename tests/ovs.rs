//! Real senders: Open vSwitch and OVN port mirrors, live.
//!
//! `tests/ovs/fixture.sh` builds, inside network namespaces it makes and removes, a
//! hypervisor running ovsdb-server and ovs-vswitchd on the userspace datapath (and, for
//! OVN, the NB / SB databases, ovn-northd and ovn-controller), three pods on br-int, and an
//! underlay bridge br-phy towards a sink namespace at 198.51.100.2 / 2001:db8:100::2. It
//! mirrors pod ports to GRE, ERSPAN II and ERSPAN III tunnels, IPv4 and IPv6, several
//! sessions at once (the tables `OVS` and `OVN` below say which). Then for each setup:
//!
//! * tcpdump runs on each mirrored pod's eth0, in the mirrored direction (`-Q out` for
//!   from-lport / `select_src_port`, `-Q in` for to-lport / `select_dst_port`): the
//!   ground truth;
//! * spandump runs in the sink once per *view* (a filter that must select exactly one
//!   session, or none to get them all), per receive mode (`RECEIVE`);
//! * the pods exchange ARP, ND, ICMP / ICMPv6 echo (small and 1400-byte payloads), UDP and
//!   TCP over both families, and 802.1Q-tagged frames, between broadcast marker frames;
//! * each view must have written exactly the frames tcpdump saw for its session: same
//!   bytes, same order, nothing missing, nothing extra (the unfiltered views: the same
//!   frames as all their sessions together), skip nothing, and note only the bad GRE
//!   checksums OVS really sent (counted here from the underlay). The underlay recorded in
//!   the sink, read back with `spandump -r`, must give the same frames as the live socket;
//! * every session must have carried every kind of traffic (`EXPECTED_KINDS`), so the
//!   comparison is not vacuous.
//!
//! The pods are kept quiet otherwise (no DAD, router solicitations or neighbour probes,
//! MLD reports sent at link up, no IPv6 on the hypervisor's ends of the pod links), so
//! the captures are compared whole. `filtered_out_frames_add_no_notes` runs offline on
//! the recorded `testdata/ovs-mirrors.pcap`.
//!
//! The tests need root and the OVS / OVN / tcpdump packages (`.ci/test` installs them).
//! Without them they print a note and pass, except on CI (env `CI` set), where they fail.
//! No sleeps as synchronisation: every wait is a poll with a deadline. The two setups use
//! their own namespace names and directories, so they may run in parallel.
//!
//! To refresh the recorded captures in `testdata/` (see `testdata/MANIFEST.md`), run with
//! `SPANDUMP_RECORD_DIR=DIR`: each setup copies its underlay capture to
//! `DIR/{ovs,ovn}-mirrors.pcap`.

mod common;
#[path = "ovs/harness.rs"]
mod harness;

use common::{Capture, Summary, parse_summary, read_capture};
use harness::{Capturer, Fixture, ethertype, missing_kinds};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn sink(self) -> &'static str {
        match self {
            Family::V4 => "198.51.100.2",
            Family::V6 => "2001:db8:100::2",
        }
    }
}

/// Which frames of a pod port a mirror copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    /// Frames the pod sends: OVN from-lport, OVS `select_src_port`, tcpdump `-Q out`.
    FromLport,
    /// Frames sent to the pod: OVN to-lport, OVS `select_dst_port`, tcpdump `-Q in`.
    ToLport,
}

/// One mirror session of a setup.
struct Session {
    name: &'static str,
    /// 1, 2 or 3.
    pod: u8,
    dir: Dir,
    family: Family,
    /// The GRE key of a plain GRE session (ERSPAN has none).
    key: Option<u32>,
}

/// One spandump run: its filter must select exactly these sessions.
struct View {
    args: &'static [&'static str],
    family: Family,
    sessions: &'static [&'static str],
}

struct Setup {
    mode: &'static str,
    sessions: &'static [Session],
    views: &'static [View],
}

const fn session(name: &'static str, pod: u8, dir: Dir, family: Family) -> Session {
    Session {
        name,
        pod,
        dir,
        family,
        key: None,
    }
}

const fn gre(name: &'static str, key: u32, pod: u8, dir: Dir, family: Family) -> Session {
    Session {
        key: Some(key),
        ..session(name, pod, dir, family)
    }
}

const fn view(
    args: &'static [&'static str],
    family: Family,
    sessions: &'static [&'static str],
) -> View {
    View {
        args,
        family,
        sessions,
    }
}

use Dir::{FromLport, ToLport};
use Family::{V4, V6};

/// Plain OVS mirrors (fixture.sh `mirrors_ovs`): gre key 99, ERSPAN II session 77
/// (erspan_idx=77, hexadecimal to OVS: index 0x77), ERSPAN III sessions 5 (dir 0, hwid
/// 0x1f) and 6 (dir 1, hwid 0x2a), ip6gre key 7, ip6erspan II session 300 index 0xabcde,
/// and a second mirror of pod3's sent frames to gre key 8 with `csum=true seq=true`.
const OVS: Setup = Setup {
    mode: "ovs",
    sessions: &[
        gre("gre99", 99, 1, FromLport, V4),
        session("span77", 1, ToLport, V4),
        session("span5", 2, FromLport, V4),
        session("span6", 2, ToLport, V4),
        gre("gre7", 7, 3, FromLport, V6),
        session("span300", 3, ToLport, V6),
        gre("gre8", 8, 3, FromLport, V4),
    ],
    views: &[
        view(&[], V4, &["gre99", "span77", "span5", "span6", "gre8"]),
        view(&["--key", "99"], V4, &["gre99"]),
        view(&["--session", "77"], V4, &["span77"]),
        view(&["--index", "0x77"], V4, &["span77"]),
        view(&["--session", "5"], V4, &["span5"]),
        view(&["--direction", "ingress"], V4, &["span5"]),
        view(&["--session", "6", "--direction", "egress"], V4, &["span6"]),
        view(&["--from", "198.51.100.1", "--key", "99"], V4, &["gre99"]),
        view(&["--key", "8"], V4, &["gre8"]),
        view(&[], V6, &["gre7", "span300"]),
        view(&["--key", "7"], V6, &["gre7"]),
        view(&["--session", "300"], V6, &["span300"]),
        view(&["--index", "0xabcde"], V6, &["span300"]),
    ],
};

/// OVN mirrors (fixture.sh `mirrors_ovn`): `mirror-add NAME gre|erspan INDEX
/// from-lport|to-lport SINK` + `lsp-attach-mirror`. OVN writes the decimal INDEX into
/// both `key` and `erspan_idx`, which OVS reads as hexadecimal: session 10 has index 0x10.
const OVN: Setup = Setup {
    mode: "ovn",
    sessions: &[
        gre("gre99", 99, 1, FromLport, V4),
        session("span10", 1, ToLport, V4),
        session("span77", 2, FromLport, V4),
        gre("gre7", 7, 3, ToLport, V6),
        session("span301", 3, FromLport, V6),
    ],
    views: &[
        view(&[], V4, &["gre99", "span10", "span77"]),
        view(&["--key", "99"], V4, &["gre99"]),
        view(&["--session", "10"], V4, &["span10"]),
        view(&["--index", "0x10"], V4, &["span10"]),
        view(&["--session", "77"], V4, &["span77"]),
        view(&["--index", "0x77"], V4, &["span77"]),
        // OVN never sends ERSPAN III: nothing has a direction bit.
        view(&["--direction", "ingress"], V4, &[]),
        view(&[], V6, &["gre7", "span301"]),
        view(&["--key", "7"], V6, &["gre7"]),
        view(&["--session", "301"], V6, &["span301"]),
    ],
};

/// How spandump receives the mirror in the sink namespace; every view runs once per mode,
/// all on the same traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Receive {
    /// `--listen ADDR`: AF_PACKET rings on the interface that holds the sink address.
    Listen,
    /// `--listen ADDR --raw-socket`: a raw GRE socket bound to the sink address.
    RawSocket,
    /// `-i eth0 --from SRC`: a ring on the sink's interface, both families on it, so the
    /// view keeps its family by the outer source.
    Interface,
}

const RECEIVE: &[Receive] = &[Receive::Listen, Receive::RawSocket, Receive::Interface];

impl Receive {
    /// spandump's arguments for receiving what is sent to the sink's `family` address.
    fn args(self, family: Family) -> Vec<String> {
        match self {
            Receive::Listen => vec!["--listen".into(), family.sink().into()],
            Receive::RawSocket => vec![
                "--listen".into(),
                family.sink().into(),
                "--raw-socket".into(),
            ],
            Receive::Interface => vec![
                "-i".into(),
                "eth0".into(),
                "--from".into(),
                outer_source(family).into(),
            ],
        }
    }
}

fn sorted(frames: impl IntoIterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = frames.into_iter().collect();
    v.sort();
    v
}

/// One whole setup: build it, capture, make traffic, compare.
fn mirrors(setup: &Setup) {
    for v in setup.views {
        for name in v.sessions {
            let s = setup.sessions.iter().find(|s| s.name == *name).expect(name);
            assert_eq!(
                s.family,
                v.family,
                "{name} is not sent to {}",
                v.family.sink()
            );
        }
    }
    if !harness::prerequisites(setup.mode) {
        return;
    }
    let started = Instant::now();
    let fx = Fixture::up(setup.mode);
    let up_took = started.elapsed();

    // Ground truth: tcpdump on each mirrored pod port, in the mirrored direction.
    let mut truth: BTreeMap<&str, Capturer> = BTreeMap::new();
    for s in setup.sessions {
        let q = if s.dir == FromLport { "out" } else { "in" };
        let file = fx.path(&format!("{}-pod{}-{q}.pcap", s.name, s.pod));
        #[rustfmt::skip]
        let args: Vec<String> = [
            "-n", "-U", "-i", "eth0", "-Q", q, "--time-stamp-precision", "nano", "-w",
            file.to_str().unwrap(),
        ].map(String::from).to_vec();
        let what = format!("tcpdump on pod{} -Q {q} ({})", s.pod, s.name);
        let ns = fx.ns(&format!("pod{}", s.pod));
        truth.insert(s.name, Capturer::start(what, &ns, "tcpdump", &args, file));
    }
    // The underlay as it reached the sink, for `spandump -r` and for testdata/.
    let mut underlay = Capturer::sink_underlay(&fx, "ip proto 47 or ip6 proto 47");
    let underlay_file = fx.path("underlay.pcap");
    // spandump: every view in every receive mode.
    let mut views = Vec::new();
    for &receive in RECEIVE {
        for (i, v) in setup.views.iter().enumerate() {
            let file = fx.path(&format!("{receive:?}-view{i}.pcap"));
            let mut args = receive.args(v.family);
            args.extend(v.args.iter().map(|s| s.to_string()));
            args.extend(["-w".to_string(), file.to_str().unwrap().to_string()]);
            let what = format!("spandump {}", args.join(" "));
            let c = Capturer::start(what, &fx.ns("sink"), common::spandump_bin(), &args, file);
            views.push((receive, v, c));
        }
    }

    let traffic_started = Instant::now();
    fx.traffic();
    let traffic_took = traffic_started.elapsed();

    // Every pod sends one broadcast end marker: a from-lport session carries its own pod's,
    // a to-lport session the two others'.
    let end_markers = |name: &str| {
        let s = setup.sessions.iter().find(|s| s.name == name).unwrap();
        if s.dir == FromLport { 1 } else { 2 }
    };
    let mut want: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
    for (name, c) in truth.iter_mut() {
        c.wait_for_end_markers(end_markers(name));
        let (_, cap) = c.stop();
        want.insert(name, cap.records.into_iter().map(|r| r.data).collect());
    }
    let mut failures = Vec::new();
    for (name, frames) in &want {
        let missing = missing_kinds(frames.iter().map(Vec::as_slice));
        if !missing.is_empty() {
            failures.push(format!(
                "{}: session {name} carried no {missing:?} (the traffic did not cross it)",
                setup.mode
            ));
        }
    }

    let mut outputs: Vec<(Receive, &View, Summary, Vec<Vec<u8>>)> = Vec::new();
    for (receive, v, c) in views.iter_mut() {
        let n: usize = v.sessions.iter().map(|s| end_markers(s)).sum();
        c.wait_for_end_markers(n);
        let (stderr, cap) = c.stop();
        let summary = parse_summary(&stderr).unwrap_or_else(|e| panic!("{e}:\n{stderr}"));
        let frames = cap.records.into_iter().map(|r| r.data).collect();
        outputs.push((*receive, *v, summary, frames));
    }
    // One outer packet per mirrored frame; tcpdump may hold the last ones in its ring
    // for a while (no immediate mode).
    let outer_packets: usize = want.values().map(Vec::len).sum();
    underlay.wait_until(&format!("{outer_packets} packets"), |c| {
        c.frames_so_far().len() >= outer_packets
    });
    underlay.stop();
    let bad_by_key = bad_gre_checksums(&read_capture(&underlay_file));
    let bad_checksums = |name: &str| {
        let s = setup.sessions.iter().find(|s| s.name == name).unwrap();
        s.key
            .map_or(0, |k| bad_by_key.get(&k).copied().unwrap_or(0))
    };

    for (receive, v, summary, got) in &outputs {
        let ctx = format!(
            "{} {receive:?} {} [{}]",
            setup.mode,
            v.family.sink(),
            v.args.join(" ")
        );
        if let Err(e) = compare(v, &want, got) {
            failures.push(format!("{ctx}: {e}"));
        }
        if summary.written != got.len() as u64 || summary.skipped != 0 {
            failures.push(format!("{ctx}: summary {summary:?}, {} frames", got.len()));
        }
        // The only note real senders earn is a bad GRE checksum (OVS's, see gre8 and
        // `filtered_out_frames_add_no_notes`), once per written frame that has one.
        let want_bad: u64 = v.sessions.iter().map(|s| bad_checksums(s)).sum();
        let family_bad: u64 = setup
            .sessions
            .iter()
            .filter(|s| s.family == v.family)
            .map(|s| bad_checksums(s.name))
            .sum();
        let got_bad = summary.note("gre-checksum-bad");
        let other_notes = summary.notes.keys().any(|n| n != "gre-checksum-bad");
        // spandump also counts the notes of frames its filter drops: a view that drops
        // noted frames is held to "at least" here, exactly in that offline test.
        let exact = want_bad == family_bad;
        if other_notes || got_bad < want_bad || (exact && got_bad != want_bad) {
            failures.push(format!(
                "{ctx}: notes {:?}, expected gre-checksum-bad: {want_bad}",
                summary.notes
            ));
        }
        // Every view of a family read the same packets.
        let all = outputs
            .iter()
            .find(|(r, o, _, _)| r == receive && o.family == v.family && o.args.is_empty())
            .map(|o| o.2.read)
            .unwrap();
        if summary.read != all || summary.read != summary.written + summary.filtered {
            failures.push(format!(
                "{ctx}: read {} of {all}: {summary:?}",
                summary.read
            ));
        }
    }

    // The recorded underlay, read back from the file, gives the same frames per view.
    for v in setup.views {
        let mut args: Vec<String> = vec![];
        args.extend(v.args.iter().map(|s| s.to_string()));
        if v.args.is_empty() {
            // The file holds both families.
            args.extend(["--from".into(), outer_source(v.family).into()]);
        }
        let out = fx.path("offline.pcap");
        let mut argv: Vec<String> = vec![
            "-r".into(),
            underlay_file.to_str().unwrap().into(),
            "-w".into(),
            out.to_str().unwrap().into(),
        ];
        argv.extend(args.iter().cloned());
        let run = common::run(&argv);
        run.expect_code(0);
        let got: Vec<Vec<u8>> = read_capture(&out)
            .records
            .into_iter()
            .map(|r| r.data)
            .collect();
        if let Err(e) = compare(v, &want, &got) {
            failures.push(format!(
                "{}: spandump -r underlay [{}]: {e}",
                setup.mode,
                args.join(" ")
            ));
        }
    }

    if let Some(dir) = std::env::var_os("SPANDUMP_RECORD_DIR") {
        let to = Path::new(&dir).join(format!("{}-mirrors.pcap", setup.mode));
        fs::copy(&underlay_file, &to).expect("copy the underlay capture");
        eprintln!("recorded {}", to.display());
    }
    eprintln!(
        "{}: fixture up in {:.1?}, traffic in {:.1?}, all in {:.1?}",
        setup.mode,
        up_took,
        traffic_took,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} problems:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// Per GRE key, the packets of an underlay capture whose GRE checksum is present and
/// wrong (Ethernet, outer IPv4 or IPv6 without extension headers, as OVS sends them).
fn bad_gre_checksums(underlay: &Capture) -> BTreeMap<u32, u64> {
    let mut bad = BTreeMap::new();
    for r in &underlay.records {
        let ip = &r.data[14..];
        let gre = match ethertype(&r.data) {
            0x0800 if ip[9] == 47 => {
                let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
                &ip[usize::from(ip[0] & 0x0f) * 4..total]
            }
            0x86dd if ip[6] == 47 => {
                let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
                &ip[40..40 + payload]
            }
            _ => continue,
        };
        let flags = u16::from_be_bytes([gre[0], gre[1]]);
        if flags & 0x8000 == 0 {
            continue;
        }
        // RFC 2784: the ones' complement sum of the GRE header and payload, checksum
        // field included, is all ones.
        let mut sum: u32 = gre
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let key = if flags & 0x2000 != 0 {
            u32::from_be_bytes([gre[8], gre[9], gre[10], gre[11]])
        } else {
            0
        };
        if sum != 0xffff {
            *bad.entry(key).or_insert(0) += 1;
        }
    }
    bad
}

/// The underlay source address of the hypervisor.
fn outer_source(family: Family) -> &'static str {
    match family {
        Family::V4 => "198.51.100.1",
        Family::V6 => "2001:db8:100::1",
    }
}

/// One session: the same frames in the same order. Several: the same frames, as a
/// multiset (their interleaving is the order OVS sent them in, which tcpdump on the pods
/// cannot tell).
fn compare(v: &View, want: &BTreeMap<&str, Vec<Vec<u8>>>, got: &[Vec<u8>]) -> Result<(), String> {
    match v.sessions {
        [one] => {
            let w = &want[one];
            if got == w.as_slice() {
                return Ok(());
            }
            let first = got.iter().zip(w).position(|(g, w)| g != w);
            Err(format!(
                "{} frames, expected the {} of session {one}; first difference at {:?}{}",
                got.len(),
                w.len(),
                first.map(|i| i + 1),
                first.map_or(String::new(), |i| format!(
                    "\n    got  {}\n    want {}",
                    common::hex(&got[i]),
                    common::hex(&w[i])
                ))
            ))
        }
        sessions => {
            let w = sorted(sessions.iter().flat_map(|s| want[s].iter().cloned()));
            if sorted(got.iter().cloned()) == w {
                Ok(())
            } else {
                Err(format!(
                    "{} frames, expected the {} of sessions {sessions:?}",
                    got.len(),
                    w.len()
                ))
            }
        }
    }
}

#[test]
fn ovs_mirrors_deliver_exactly_the_pod_frames() {
    mirrors(&OVS);
}

#[test]
fn ovn_mirrors_deliver_exactly_the_pod_frames() {
    mirrors(&OVN);
}

/// Offline, on the recorded capture (no root needed): Open vSwitch 3.1's userspace
/// datapath computes the GRE checksum before it writes the sequence number
/// (`netdev_gre_push_header` in lib/netdev-native-tnl.c), so every packet of the
/// `csum=true seq=true` mirror (key 8) but the first, sequence number 0, carries a
/// checksum that is wrong for its bytes; tshark says Bad too. spandump notes them, and
/// the README calls notes "about frames that were still written": a filter that drops
/// those frames must not report them.
#[test]
fn filtered_out_frames_add_no_notes() {
    let file = common::testdata("ovs-mirrors.pcap");
    let bad = bad_gre_checksums(&read_capture(&file));
    assert_eq!(bad, BTreeMap::from([(8, 47)]), "bad GRE checksums per key");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.pcap");
    let mut wrong = Vec::new();
    for (args, want) in [
        (&[][..], 47),
        (&["--key", "8"][..], 47),
        (&["--key", "99"][..], 0),
        (&["--session", "77"][..], 0),
        (&["--from", "2001:db8:100::1"][..], 0),
    ] {
        let mut argv = vec!["-r", file.to_str().unwrap(), "-w", out.to_str().unwrap()];
        argv.extend(args);
        let run = common::run(&argv);
        run.expect_code(0);
        let got = run.summary().note("gre-checksum-bad");
        if got != want {
            wrong.push(format!(
                "spandump {}: note gre-checksum-bad: {got}, expected {want} ({} frames written)",
                args.join(" "),
                run.summary().written
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
