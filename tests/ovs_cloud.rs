//! Open vSwitch as a real VXLAN and GENEVE mirror sender, received by every receive path.
//!
//! `tests/ovs/fixture.sh up DIR TAG cloud` builds the hypervisor of `tests/ovs.rs` (OVS on
//! the userspace datapath, three pods on br-int, the underlay bridge br-phy towards the
//! sink namespace) and mirrors pod ports into OVS `vxlan` and `geneve` tunnel ports, IPv4
//! and IPv6 (the table `CLOUD`). OVS builds the tunnel headers itself and sends them out
//! of br-phy, so no vxlan / geneve kernel device is involved. Then, on the same traffic:
//!
//! * tcpdump captures the underlay in the sink: the reference. The test strips the
//!   VXLAN / GENEVE headers of its packets itself (not with spandump);
//! * spandump receives in the sink with `--udp` (both addresses, as uid 65534 with no
//!   capability at all), `--listen` (a ring, once per address family) and `-i eth0` (a
//!   ring, both families);
//! * each run must have written exactly the inner frames of tcpdump's packets of its
//!   families, byte for byte (as a multiset: flows of different outer source ports may
//!   be read in another order), skipped nothing, lost nothing in the kernel, and its
//!   `--stats-json` sessions must be the configured ones (sender, encapsulation, VNI)
//!   with the packet counts of the underlay;
//! * the underlay must carry exactly the configured (encapsulation, family, VNI)
//!   sessions, and every session every kind of traffic (`EXPECTED_KINDS`), so the
//!   comparison is not vacuous.
//!
//! Needs root and the OVS / tcpdump / setpriv tools; without them it prints a note and
//! passes, except on CI (env `CI` set). Documentation addresses only, in namespaces the
//! fixture makes and removes; every wait is a condition with a deadline.

mod common;
#[path = "ovs/harness.rs"]
mod harness;

use common::parse_summary;
use harness::{Capturer, Fixture, is_end_marker, missing_kinds};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    V4,
    V6,
}

/// One OVS mirror into a tunnel port (fixture.sh `mirrors_cloud`).
struct Mirror {
    /// "vxlan" or "geneve", as spandump names the encapsulation.
    encap: &'static str,
    /// The tunnel port's `key`.
    vni: u32,
    /// `select_src_port` (the pod's sent frames) rather than `select_dst_port`.
    from_pod: bool,
    family: Family,
}

/// pod1's sent frames, pod2's received frames (IPv4 underlay), pod3's both ways (IPv6).
const CLOUD: &[Mirror] = &[
    Mirror {
        encap: "vxlan",
        vni: 5_569_041,
        from_pod: true,
        family: Family::V4,
    },
    Mirror {
        encap: "geneve",
        vni: 4242,
        from_pod: false,
        family: Family::V4,
    },
    Mirror {
        encap: "geneve",
        vni: 100,
        from_pod: true,
        family: Family::V6,
    },
    Mirror {
        encap: "vxlan",
        vni: 7,
        from_pod: false,
        family: Family::V6,
    },
];

const SINK_V4: &str = "198.51.100.2";
const SINK_V6: &str = "2001:db8:100::2";

impl Family {
    /// The hypervisor's underlay address: the sessions' sender.
    fn source(self) -> &'static str {
        match self {
            Family::V4 => "198.51.100.1",
            Family::V6 => "2001:db8:100::1",
        }
    }
}

impl Mirror {
    /// End markers the session carries: a pod's own broadcast for its sent frames, the
    /// two other pods' for the frames it receives.
    fn end_markers(&self) -> usize {
        if self.from_pod { 1 } else { 2 }
    }
}

/// One underlay packet with its tunnel header taken off.
#[derive(Clone, Debug)]
struct Inner {
    family: Family,
    encap: &'static str,
    vni: u32,
    frame: Vec<u8>,
}

/// Strips Ethernet, IPv4 (options allowed) or IPv6 (no extension headers, as OVS sends
/// it), UDP and the VXLAN (4789) or GENEVE (6081, options by their length, Ethernet
/// protocol only) header: the test's own decoder, independent of spandump's.
fn strip(packet: &[u8]) -> Inner {
    let be16 = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    let (family, udp) = match be16(packet, 12) {
        0x0800 => {
            let ip = &packet[14..];
            assert_eq!(ip[9], 17, "not UDP");
            let end = usize::from(be16(ip, 2));
            (Family::V4, &ip[usize::from(ip[0] & 0x0f) * 4..end])
        }
        0x86dd => {
            let ip = &packet[14..];
            assert_eq!(ip[6], 17, "not UDP");
            (Family::V6, &ip[40..40 + usize::from(be16(ip, 4))])
        }
        other => panic!("outer ethertype {other:#06x}"),
    };
    assert_eq!(usize::from(be16(udp, 4)), udp.len(), "UDP length");
    let tunnel = &udp[8..];
    let vni = u32::from_be_bytes([0, tunnel[4], tunnel[5], tunnel[6]]);
    let (encap, frame) = match be16(udp, 2) {
        4789 => {
            assert_eq!(tunnel[0], 0x08, "VXLAN flags");
            ("vxlan", &tunnel[8..])
        }
        6081 => {
            assert_eq!(tunnel[0] >> 6, 0, "GENEVE version");
            assert_eq!(be16(tunnel, 2), 0x6558, "GENEVE protocol");
            ("geneve", &tunnel[8 + usize::from(tunnel[0] & 0x3f) * 4..])
        }
        port => panic!("UDP port {port}"),
    };
    Inner {
        family,
        encap,
        vni,
        frame: frame.to_vec(),
    }
}

fn sorted(frames: impl IntoIterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = frames.into_iter().collect();
    v.sort();
    v
}

/// A spandump run in the sink: what it receives and which families that covers.
struct Run {
    name: &'static str,
    families: &'static [Family],
    capturer: Capturer,
    stats: std::path::PathBuf,
}

#[test]
fn ovs_vxlan_and_geneve_mirrors_on_every_receive_path() {
    if !harness::prerequisites("cloud") || !common::have_tool("setpriv") {
        return;
    }
    let started = Instant::now();
    let fx = Fixture::up("cloud");
    let sink = fx.ns("sink");

    let mut underlay = Capturer::sink_underlay(&fx, "udp dst port 4789 or udp dst port 6081");

    // uid 65534 writes its capture and statistics in a directory of its own.
    let nobody = fx.path("nobody");
    fs::create_dir(&nobody).unwrap();
    fs::set_permissions(fx.path(""), fs::Permissions::from_mode(0o711)).unwrap();
    fs::set_permissions(&nobody, fs::Permissions::from_mode(0o777)).unwrap();
    let mut runs: Vec<Run> = Vec::new();
    #[rustfmt::skip]
    let setups: [(&str, &[Family], Vec<&str>); 4] = [
        ("udp", &[Family::V4, Family::V6], vec!["--udp", SINK_V4, "--udp", SINK_V6]),
        ("listen4", &[Family::V4], vec!["--listen", SINK_V4]),
        ("listen6", &[Family::V6], vec!["--listen", SINK_V6]),
        ("ring", &[Family::V4, Family::V6], vec!["-i", "eth0"]),
    ];
    for (name, families, receive) in setups {
        let dir = if name == "udp" {
            nobody.clone()
        } else {
            fx.path("")
        };
        let file = dir.join(format!("{name}.pcap"));
        let stats = dir.join(format!("{name}.json"));
        let mut args: Vec<String> = receive.iter().map(|s| s.to_string()).collect();
        args.extend(["-U", "-w", file.to_str().unwrap(), "--stats-json"].map(String::from));
        args.push(stats.to_str().unwrap().into());
        let (program, args) = if name == "udp" {
            #[rustfmt::skip]
            let mut setpriv: Vec<String> = ["--reuid=65534", "--regid=65534", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", common::spandump_bin()]
                .map(String::from).to_vec();
            setpriv.extend(args);
            ("setpriv", setpriv)
        } else {
            (common::spandump_bin(), args)
        };
        let what = format!("spandump {name} {}", args.join(" "));
        let capturer = Capturer::start(what, &sink, program, &args, file);
        runs.push(Run {
            name,
            families,
            capturer,
            stats,
        });
    }

    fx.traffic();

    let markers = |families: &[Family]| -> usize {
        CLOUD
            .iter()
            .filter(|m| families.contains(&m.family))
            .map(Mirror::end_markers)
            .sum()
    };
    let all = markers(&[Family::V4, Family::V6]);
    underlay.wait_until(&format!("{all} end markers inside"), |c| {
        let frames = c.frames_so_far();
        let ends = frames.iter().filter(|p| is_end_marker(&strip(p).frame));
        ends.count() >= all
    });
    let mut outputs = Vec::new();
    for run in runs.iter_mut() {
        run.capturer.wait_for_end_markers(markers(run.families));
        let (stderr, capture) = run.capturer.stop();
        let frames: Vec<Vec<u8>> = capture.records.into_iter().map(|r| r.data).collect();
        outputs.push((stderr, frames));
    }
    let (_, capture) = underlay.stop();
    let inner: Vec<Inner> = capture.records.iter().map(|r| strip(&r.data)).collect();

    let mut failures = Vec::new();
    // The underlay holds the configured sessions, each with every kind of traffic.
    let mut per_session: BTreeMap<(Family, &str, u32), Vec<&Inner>> = BTreeMap::new();
    for i in &inner {
        per_session
            .entry((i.family, i.encap, i.vni))
            .or_default()
            .push(i);
    }
    let configured: BTreeSet<(Family, &str, u32)> =
        CLOUD.iter().map(|m| (m.family, m.encap, m.vni)).collect();
    let seen: BTreeSet<(Family, &str, u32)> = per_session.keys().copied().collect();
    assert_eq!(seen, configured, "sessions on the underlay");
    for (session, frames) in &per_session {
        let missing = missing_kinds(frames.iter().map(|i| i.frame.as_slice()));
        if !missing.is_empty() {
            failures.push(format!("{session:?} carried no {missing:?}"));
        }
    }

    for (run, (stderr, got)) in runs.iter().zip(&outputs) {
        let mine = inner.iter().filter(|i| run.families.contains(&i.family));
        let want = sorted(mine.map(|i| i.frame.clone()));
        if sorted(got.iter().cloned()) != want {
            failures.push(format!(
                "{}: {} frames, not the {} inner frames of the underlay",
                run.name,
                got.len(),
                want.len()
            ));
        }
        let summary = parse_summary(stderr).unwrap_or_else(|e| panic!("{e}"));
        if summary.written != want.len() as u64
            || summary.skipped != 0
            || !summary.notes.is_empty()
            || !stderr.contains("0 packets dropped by kernel")
        {
            failures.push(format!("{}: {summary:?}\n{stderr}", run.name));
        }
        // The sessions of --stats-json (its last line): the configured senders and
        // VNIs, each with the packets the underlay holds for it.
        let text = fs::read_to_string(&run.stats).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        let mut sessions: Vec<(String, String, u64, u64)> = last["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["source"].as_str().unwrap().to_string(),
                    s["encap"].as_str().unwrap().to_string(),
                    s["vni"].as_u64().unwrap_or(u64::MAX),
                    s["packets_written"].as_u64().unwrap(),
                )
            })
            .collect();
        sessions.sort();
        let mut expected: Vec<(String, String, u64, u64)> = per_session
            .iter()
            .filter(|((family, _, _), _)| run.families.contains(family))
            .map(|(&(family, encap, vni), frames)| {
                let source = family.source().to_string();
                (
                    source,
                    encap.to_string(),
                    u64::from(vni),
                    frames.len() as u64,
                )
            })
            .collect();
        expected.sort();
        if sessions != expected {
            failures.push(format!(
                "{}: sessions {sessions:?}, expected {expected:?}",
                run.name
            ));
        }
    }
    eprintln!(
        "cloud: {} underlay packets, all in {:.1?}",
        inner.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} problems:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
