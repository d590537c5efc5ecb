//! A real kernel VXLAN mirror, received by every receive path: in the sender
//! namespace a pod's veth is mirrored with `tc ... action mirred egress mirror dev
//! vxlan0` into a Linux `vxlan` device (what Antrea's TrafficControl does), whose
//! packets cross a veth pair to the sink namespace. There `spandump --udp` (run as uid
//! 65534 with no capabilities), `spandump --listen` (ring) and `spandump -i` (ring)
//! receive the same mirror while tcpdump captures the underlay; each spandump's output
//! must equal, byte for byte, the inner frames of tcpdump's capture.
//!
//! Needs root (namespaces, tc, rings). Documentation addresses only; the namespaces
//! are removed when the test ends. Waits are conditions with deadlines.

mod common;

use common::netns::{self, DEADLINE, root_or_skip, sh};
use common::read_capture_bytes;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// VNI of the mirror (an AWS-sized one).
const VNI: &str = "5569041";
/// Outer Ethernet + IPv4 + UDP + VXLAN in front of each mirrored frame.
const VXLAN_OVERHEAD: usize = 14 + 20 + 8 + 8;

/// A process this test started, with its stderr in a file; killed on drop.
struct Proc {
    child: Child,
    stderr: PathBuf,
}

impl Proc {
    fn start(mut cmd: Command, stderr: PathBuf, stdout: Stdio) -> Proc {
        let file = fs::File::create(&stderr).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(file)
            .spawn()
            .expect("start");
        Proc { child, stderr }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn wait_for_stderr(&mut self, text: &str) {
        let start = Instant::now();
        while !self.stderr().contains(text) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("exited ({status}) early:\n{}", self.stderr());
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no {text:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGINT by PID, then waits for the exit.
    fn interrupt(&mut self) -> String {
        sh("kill", &["-INT", &self.child.id().to_string()]);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit {status}:\n{}", self.stderr());
                return self.stderr();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "did not stop:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The pod namespace, deleted on drop.
struct Pod(String);

impl Drop for Pod {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn records(path: &Path) -> Option<Vec<Vec<u8>>> {
    let bytes = fs::read(path).ok()?;
    let c = read_capture_bytes(&bytes).ok()?;
    Some(c.records.into_iter().map(|r| r.data).collect())
}

#[test]
fn kernel_vxlan_mirror_on_every_receive_path() {
    if !root_or_skip() || !common::have_tool("tcpdump") {
        return;
    }
    let net = netns::Net::new(1500);
    let pod = Pod(format!("{}-pod", net.sender));
    sh("ip", &["netns", "add", &pod.0]);
    let (host_if, pod_if) = (format!("{}h", net.sender_if), format!("{}p", net.sender_if));
    #[rustfmt::skip]
    let setup: &[&[&str]] = &[
        &["link", "add", &host_if, "address", "00:00:5e:00:53:11", "netns", &net.sender, "type", "veth",
          "peer", "name", &pod_if, "address", "00:00:5e:00:53:12", "netns", &pod.0],
        &["-n", &net.sender, "addr", "add", "203.0.113.1/24", "dev", &host_if],
        &["-n", &net.sender, "link", "set", &host_if, "up"],
        &["-n", &pod.0, "addr", "add", "203.0.113.2/24", "dev", &pod_if],
        &["-n", &pod.0, "link", "set", &pod_if, "up"],
        // Static neighbours: the mirrored traffic is exactly the 40 echo packets.
        &["-n", &net.sender, "neigh", "replace", "203.0.113.2", "lladdr", "00:00:5e:00:53:12",
          "nud", "permanent", "dev", &host_if],
        &["-n", &pod.0, "neigh", "replace", "203.0.113.1", "lladdr", "00:00:5e:00:53:11",
          "nud", "permanent", "dev", &pod_if],
        &["-n", &net.sender, "link", "add", "vxlan0", "type", "vxlan", "id", VNI,
          "local", "198.51.100.1", "remote", "198.51.100.2", "dstport", "4789", "nolearning"],
        &["-n", &net.sender, "link", "set", "vxlan0", "up"],
    ];
    // No IPv6 on the devices made here (pod link, vxlan0): no router solicitations or
    // MLD reports sent or mirrored at moments the test does not choose.
    for ns in [&net.sender, &pod.0] {
        #[rustfmt::skip]
        sh("ip", &["netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
    }
    for args in setup {
        sh("ip", args);
    }
    for dir in ["ingress", "egress"] {
        #[rustfmt::skip]
        let tc: &[&str] = &["-n", &net.sender, "filter", "add", "dev", &host_if, dir,
            "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", "vxlan0"];
        if dir == "ingress" {
            sh(
                "tc",
                &["-n", &net.sender, "qdisc", "add", "dev", &host_if, "clsact"],
            );
        }
        sh("tc", tc);
    }
    let exec = |program: &str| {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &net.sink, program]);
        c
    };
    // tcpdump on the underlay: the reference.
    let underlay = net.path("underlay.pcap");
    let mut tcpdump = exec("tcpdump");
    tcpdump
        .args(["-U", "-i", &net.sink_if, "-w"])
        .arg(&underlay);
    tcpdump.args(["udp dst port 4789"]);
    let mut tcpdump = Proc::start(tcpdump, net.path("tcpdump.err"), Stdio::null());
    tcpdump.wait_for_stderr("listening on");
    // --udp as nobody with no capabilities, two sockets sharing the port
    // (SO_REUSEPORT); its pcap goes to a file the test opened.
    let udp_out = net.path("udp.pcap");
    let mut udp = exec("setpriv");
    #[rustfmt::skip]
    udp.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
              "--bounding-set=-all", common::spandump_bin(), "--udp", "198.51.100.2:4789",
              "--threads", "2", "-U", "-w", "-"]);
    let file = fs::File::create(&udp_out).unwrap();
    let mut udp = Proc::start(udp, net.path("udp.err"), Stdio::from(file));
    udp.wait_for_stderr("spandump: listening on ");
    let listen_out = net.path("listen.pcap");
    let mut listen = exec(common::spandump_bin());
    listen
        .args(["--listen", "198.51.100.2", "-U", "-w"])
        .arg(&listen_out);
    let mut listen = Proc::start(listen, net.path("listen.err"), Stdio::null());
    listen.wait_for_stderr("spandump: listening on ");
    let ring_out = net.path("ring.pcap");
    let mut ring = exec(common::spandump_bin());
    ring.args(["-i", &net.sink_if, "-U", "-w"]).arg(&ring_out);
    let mut ring = Proc::start(ring, net.path("ring.err"), Stdio::null());
    ring.wait_for_stderr("spandump: listening on ");

    // Traffic through the pod's veth: 20 ICMP echo requests and replies, mirrored.
    sh(
        "ip",
        &[
            "netns",
            "exec",
            &pod.0,
            "ping",
            "-c",
            "20",
            "-i",
            "0.01",
            "-s",
            "1000",
            "203.0.113.1",
        ],
    );
    // Wait until tcpdump and every receiver hold the 40 mirror packets.
    let start = Instant::now();
    let want = loop {
        let reference = records(&underlay).unwrap_or_default();
        let got = [&udp_out, &listen_out, &ring_out].map(|p| records(p).map(|r| r.len()));
        if reference.len() == 40 && got.iter().all(|n| *n == Some(40)) {
            break reference;
        }
        if start.elapsed() > DEADLINE {
            let stderr = [udp.interrupt(), listen.interrupt(), ring.interrupt()];
            panic!(
                "underlay {} frames, receivers {got:?}:\n{}",
                reference.len(),
                stderr.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = [udp.interrupt(), listen.interrupt(), ring.interrupt()];
    tcpdump.interrupt();
    let inner: Vec<Vec<u8>> = want.iter().map(|f| f[VXLAN_OVERHEAD..].to_vec()).collect();
    // The reference is what the vxlan device sent: VNI in every header.
    let vni = u32::from_str_radix("54fa11", 16).unwrap();
    assert_eq!(vni.to_string(), VNI);
    assert!(want.iter().all(|f| f[46..49] == [0x54, 0xfa, 0x11]));
    // Packets of different inner flows have different outer source ports and may be
    // handled on different CPUs: compared as sorted lists (one flow keeps its order).
    let mut inner = inner;
    inner.sort();
    for (name, path) in [
        ("udp", &udp_out),
        ("listen", &listen_out),
        ("ring", &ring_out),
    ] {
        let mut got = records(path).unwrap();
        got.sort();
        let got: Vec<&[u8]> = got.iter().map(Vec::as_slice).collect();
        common::assert_frames_eq(name, &got, &inner);
    }
    for s in &stderr {
        assert!(s.contains(" 0 skipped"), "{s}");
        assert!(s.contains("0 packets dropped by kernel"), "{s}");
    }
}

/// `--listen` and `-i` receive VXLAN / GENEVE through the ring and hold a socket on
/// each mirror port that keeps nothing, so the kernel answers no mirror packet with
/// ICMP port unreachable; UDP to a port nobody holds (4790) is still answered, which
/// shows the count can move.
#[test]
fn ring_port_guards_stop_icmp_answers() {
    use common::capgen::{IpAddrs, eth_icmp_echo};
    use common::cloudgen::{eth_udp_to, geneve, vxlan};
    if !root_or_skip() {
        return;
    }
    let net = netns::Net::new(1500);
    let addrs = IpAddrs::V4(netns::SENDER_V4, netns::SINK_V4);
    let mac = |f: Vec<u8>| {
        let mut f = f;
        f[..6].copy_from_slice(&netns::SINK_MAC);
        f[6..12].copy_from_slice(&netns::SENDER_MAC);
        f
    };
    let inner: Vec<Vec<u8>> = (0..12).map(|i| eth_icmp_echo(i, 40)).collect();
    let mut mirror: Vec<Vec<u8>> = Vec::new();
    for (i, f) in inner.iter().enumerate() {
        mirror.push(mac(if i % 2 == 0 {
            eth_udp_to(addrs, 4789, &vxlan(0x08, 7, f))
        } else {
            eth_udp_to(addrs, 6081, &geneve(0x6558, 7, &[], f))
        }));
    }
    for mode in [&["--listen", "198.51.100.2"][..], &["-i", &net.sink_if]] {
        let out = net.path("guard.pcap");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &net.sink, common::spandump_bin()]);
        cmd.args(mode).args(["-U", "-w"]).arg(&out);
        let mut spandump = Proc::start(cmd, net.path("guard.err"), Stdio::null());
        spandump.wait_for_stderr("spandump: listening on ");
        let before = net.sink_unreachables();
        net.send(&mirror);
        let start = Instant::now();
        while records(&out).map_or(0, |r| r.len()) < inner.len() {
            assert!(
                start.elapsed() < DEADLINE,
                "{mode:?}: {}",
                spandump.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(net.sink_unreachables() - before, 0, "{mode:?}");
        // Control: a port no socket holds is answered.
        net.send(&[mac(eth_udp_to(addrs, 4790, &vxlan(0x08, 7, &inner[0])))]);
        let start = Instant::now();
        while net.sink_unreachables() == before {
            assert!(
                start.elapsed() < DEADLINE,
                "{mode:?}: no ICMP for port 4790"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        spandump.interrupt();
        let got = records(&out).unwrap();
        let got: Vec<&[u8]> = got.iter().map(Vec::as_slice).collect();
        common::assert_frames_eq(&format!("{mode:?}"), &got, &inner);
    }
}
