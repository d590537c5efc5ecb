//! The NET_RAW-only claim, tested without a container runtime: spandump as an
//! unprivileged uid (65534) with only CAP_NET_RAW in its ambient set, as a pod with
//! `capabilities: {drop: [ALL], add: [NET_RAW]}` runs it, receives a replayed mirror
//! byte-exact on `--listen` (ring and raw socket) and on `-i`; without the capability
//! it fails with the CAP_NET_RAW message. Each test builds its own namespaces.

mod common;

use common::capgen::{self, ErspanII, ErspanIII, Ethernet, Gre, ethertype};
use common::netns::{self, SENDER_MAC, SENDER_V4, SINK_MAC, SINK_V4};
use common::{parse_summary, read_capture_bytes};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Child, Command, Stdio};

/// setpriv arguments: uid and gid 65534, no groups, and CAP_NET_RAW alone (ambient,
/// inheritable and bounding), or no capability at all.
fn setpriv(net_raw: bool) -> Vec<&'static str> {
    let caps = if net_raw { "-all,+net_raw" } else { "-all" };
    let leak = |s: String| &*Box::leak(s.into_boxed_str());
    vec![
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        leak(format!("--inh-caps={caps}")),
        leak(format!("--ambient-caps={caps}")),
        leak(format!("--bounding-set={caps}")),
    ]
}

/// Mirror packets of three kinds (gretap key 99, ERSPAN II session 77, ERSPAN III
/// session 5) to the sink, and their inner frames.
fn mirror(n: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    (0..n)
        .map(|i| {
            let inner = capgen::eth_udp_sized(64 + i * 23, i as u8);
            let (gre, payload) = match i % 3 {
                0 => (Gre::new(ethertype::TEB).key(99), inner.clone()),
                1 => (
                    Gre::new(ethertype::ERSPAN_II).seq(i as u32),
                    ErspanII::new(77, 0x77).build(&inner),
                ),
                _ => (
                    Gre::new(ethertype::ERSPAN_III).seq(i as u32),
                    ErspanIII::new(5).build(&inner),
                ),
            };
            let ip = capgen::ipv4_gre(SENDER_V4, SINK_V4, &gre, &payload);
            let wire = Ethernet::new(ethertype::IPV4)
                .macs(SENDER_MAC, SINK_MAC)
                .build(&ip);
            (wire, inner)
        })
        .unzip()
}

/// A process this test started, killed (by its PID) if the test ends first.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn receives_as_nobody_with_net_raw(args: &[&str]) {
    if !netns::root_or_skip() || !common::have_tool("setpriv") {
        return;
    }
    let net = netns::Net::new(1500);
    // A directory uid 65534 can reach and write.
    let out_dir = tempfile::tempdir().unwrap();
    fs::set_permissions(out_dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let out = out_dir.path().join("mirror.pcap");
    let stderr_path = net.path("stderr");
    let args: Vec<&str> = args
        .iter()
        .map(|a| {
            if *a == "IFACE" {
                net.sink_if.as_str()
            } else {
                a
            }
        })
        .collect();
    let mut child = Started(
        Command::new("ip")
            .args(["netns", "exec", &net.sink])
            .args(setpriv(true))
            .arg(common::spandump_bin())
            .args(&args)
            .arg("-w")
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let stderr = || fs::read_to_string(&stderr_path).unwrap_or_default();
    netns::wait_until("the listening line", || {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "spandump {args:?} ended:\n{}",
            stderr()
        );
        stderr().contains("spandump: listening on ")
    });
    // `ip netns exec` and setpriv exec: this PID is spandump's.
    let status = fs::read_to_string(format!("/proc/{}/status", child.0.id())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(field("Uid:"), "65534");
    // CAP_NET_RAW is bit 13, and the only one.
    assert_eq!(field("CapEff:"), "0000000000002000", "{status}");
    assert_eq!(field("CapBnd:"), "0000000000002000", "{status}");

    let (wires, inners) = mirror(30);
    net.send(&wires);
    netns::wait_until("every frame in the file", || {
        fs::read(&out)
            .ok()
            .and_then(|b| read_capture_bytes(&b).ok())
            .is_some_and(|c| c.records.len() >= inners.len())
    });
    Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap();
    let code = child.0.wait().unwrap().code();
    let stderr = stderr();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(parse_summary(&stderr).unwrap().written, inners.len() as u64);
    let capture = read_capture_bytes(&fs::read(&out).unwrap()).unwrap();
    common::assert_frames_eq("as nobody with CAP_NET_RAW", &capture.frames(), &inners);
    assert_eq!(
        fs::metadata(&out).unwrap().uid(),
        65534,
        "the file is nobody's"
    );
}

#[test]
fn listen_ring_as_nobody_with_net_raw() {
    receives_as_nobody_with_net_raw(&["--listen", "198.51.100.2"]);
}

#[test]
fn listen_raw_socket_as_nobody_with_net_raw() {
    receives_as_nobody_with_net_raw(&["--listen", "198.51.100.2", "--raw-socket"]);
}

#[test]
fn interface_ring_as_nobody_with_net_raw() {
    receives_as_nobody_with_net_raw(&["-i", "IFACE"]);
}

#[test]
fn without_net_raw_every_live_mode_names_the_capability() {
    if !netns::root_or_skip() || !common::have_tool("setpriv") {
        return;
    }
    let net = netns::Net::new(1500);
    let sink_if = net.sink_if.clone();
    for args in [
        vec!["--listen", "198.51.100.2"],
        vec!["--listen", "198.51.100.2", "--raw-socket"],
        vec!["-i", &sink_if],
    ] {
        let out = Command::new("ip")
            .args(["netns", "exec", &net.sink])
            .args(setpriv(false))
            .arg(common::spandump_bin())
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("Operation not permitted")
                && stderr.contains("grant CAP_NET_RAW: setcap cap_net_raw+ep"),
            "{args:?}: {stderr}"
        );
    }
}
