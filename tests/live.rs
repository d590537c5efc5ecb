//! Live capture on a real network built by each test: `spandump --listen` on a raw GRE
//! socket in a "sink" network namespace, fed by tcpreplay from a "sender" namespace over
//! a veth pair. Documentation addresses only (RFC 5737, RFC 3849, RFC 7042 MACs); the
//! namespaces are removed when the test ends, even when it fails.
//!
//! The tests need root (namespaces, raw sockets). Without it they print a note and
//! pass, except on CI (env `CI` set), where they fail.
//!
//! No sleeps as synchronisation: the tests wait for spandump's "listening" line, for
//! records in its output file or for its exit, each with a deadline.

mod common;

use common::capgen::{self, ErspanII, ErspanIII, Ethernet, Gre, ethertype};
use common::netns::{
    self, DEADLINE, SENDER_MAC, SENDER_V4, SENDER_V6, SINK_MAC, SINK_V4, SINK_V6, root_or_skip, sh,
};
use common::{parse_summary, read_capture, read_capture_bytes};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Two namespaces joined by a veth pair (`common::netns`), with what these tests add:
/// spandump processes in the sink and the sink kernel's delivery counters.
struct Net(netns::Net);

impl std::ops::Deref for Net {
    type Target = netns::Net;
    fn deref(&self) -> &netns::Net {
        &self.0
    }
}

impl Net {
    fn new() -> Net {
        Net(netns::Net::new(1500))
    }

    /// Starts spandump in the sink namespace and waits until its socket is open.
    fn spandump(&self, name: &str, args: &[&str]) -> Spandump {
        self.spandump_with(name, args, Stdio::null())
    }

    fn spandump_with(&self, name: &str, args: &[&str], stdout: Stdio) -> Spandump {
        let stderr_path = self.path(&format!("{name}.stderr"));
        let stderr = fs::File::create(&stderr_path).expect("stderr file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.sink, common::spandump_bin()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start spandump");
        // `ip netns exec` execs the command: this PID is spandump's.
        let mut s = Spandump {
            child,
            stderr_path,
            exited: None,
        };
        s.wait_for_stderr("spandump: listening on ");
        s
    }

    /// Packets the sink's kernel has handed to raw sockets (IPv4 and IPv6 InDelivers),
    /// or found no handler for (InUnknownProtos: no raw socket open, `-i` alone), plus
    /// those raw sockets dropped for want of buffer space: once this grew by N, the N
    /// packets have passed every packet socket (rings see them before IP does) and sit
    /// in the sockets or rings or were counted as lost.
    fn sink_delivered(&self) -> u64 {
        #[rustfmt::skip]
        let out = sh("ip", &[
            "netns", "exec", &self.sink, "cat", "/proc/net/snmp", "/proc/net/snmp6",
            "/proc/net/raw", "/proc/net/raw6",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut total = 0;
        let mut ip_header: Option<Vec<&str>> = None;
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.first().copied() {
                Some("Ip:") if ip_header.is_none() => ip_header = Some(fields),
                Some("Ip:") => {
                    let header = ip_header.as_ref().unwrap();
                    for counter in ["InDelivers", "InUnknownProtos"] {
                        let i = header.iter().position(|f| *f == counter).unwrap();
                        total += fields[i].parse::<u64>().unwrap();
                    }
                }
                Some("Ip6InDelivers" | "Ip6InUnknownProtos") => {
                    total += fields[1].parse::<u64>().unwrap()
                }
                // Socket lines of /proc/net/raw{,6} start with "sl:"; drops is the last column.
                Some(sl) if sl.ends_with(':') && sl[..sl.len() - 1].parse::<u32>().is_ok() => {
                    total += fields.last().unwrap().parse::<u64>().unwrap();
                }
                _ => {}
            }
        }
        total
    }

    /// Sends `frames` (whole Ethernet frames) from the sender end with tcpreplay, and
    /// waits until the sink's kernel has delivered (or dropped) every one of them.
    fn send(&self, frames: &[Vec<u8>]) {
        let before = self.sink_delivered();
        self.replay(frames);
        let start = Instant::now();
        while self.sink_delivered() < before + frames.len() as u64 {
            assert!(
                start.elapsed() < DEADLINE,
                "the sink never received the {} packets sent",
                frames.len()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends `frames` with tcpreplay and returns when tcpreplay is done.
    fn replay(&self, frames: &[Vec<u8>]) {
        let mut tcpreplay = self.start_replay(frames, &["--topspeed"]);
        let status = tcpreplay.wait().expect("wait for tcpreplay");
        assert!(status.success(), "tcpreplay failed: {status}");
    }

    /// Starts tcpreplay on `frames` with `options` in the sender namespace.
    fn start_replay(&self, frames: &[Vec<u8>], options: &[&str]) -> Child {
        let packets: Vec<(u64, Vec<u8>)> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| (1_700_000_000_000_000_000 + i as u64 * 1000, f.clone()))
            .collect();
        let file = self.path("send.pcap");
        fs::write(
            &file,
            capgen::pcap_bytes(capgen::PcapFormat::ethernet(), &packets),
        )
        .expect("write send.pcap");
        Command::new("ip")
            .args(["netns", "exec", &self.sender, "tcpreplay", "-q"])
            .args(options)
            .arg("-i")
            .arg(&self.sender_if)
            .arg(&file)
            .stdout(Stdio::null())
            .spawn()
            .expect("start tcpreplay")
    }
}

/// A spandump process this test started; killed on drop if still running.
struct Spandump {
    child: Child,
    stderr_path: PathBuf,
    exited: Option<std::process::ExitStatus>,
}

impl Spandump {
    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    fn wait_for_stderr(&mut self, text: &str) {
        let start = Instant::now();
        while !self.stderr().contains(text) {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("spandump exited ({status}) early:\n{}", self.stderr());
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no {text:?} from spandump:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends a signal to this process (by its PID only).
    fn signal(&self, signal: &str) {
        sh("kill", &[signal, &self.child.id().to_string()]);
    }

    /// Waits for the process to end by itself; returns (exit code, stderr).
    fn wait(&mut self) -> (i32, String) {
        let path = &self.stderr_path;
        let status = netns::wait_exit(&mut self.child, DEADLINE, || {
            format!(
                "spandump did not stop:\n{}",
                fs::read_to_string(path).unwrap_or_default()
            )
        });
        self.exited = Some(status);
        (status.code().unwrap_or(-1), self.stderr())
    }

    /// SIGINT, then waits; asserts the clean exit.
    fn interrupt(&mut self) -> String {
        self.signal("-INT");
        let (code, stderr) = self.wait();
        assert_eq!(code, 0, "exit code after SIGINT:\n{stderr}");
        stderr
    }
}

impl Drop for Spandump {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until the pcap file at `path` holds `n` complete records.
fn wait_for_records(path: &Path, n: usize, spandump: &Spandump) {
    let start = Instant::now();
    loop {
        let bytes = fs::read(path).unwrap_or_default();
        if let Ok(c) = read_capture_bytes(&bytes)
            && c.records.len() >= n
        {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{} never held {n} frames:\n{}",
            path.display(),
            spandump.stderr()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `N packets dropped by kernel` count of the summary.
fn kernel_drops(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("spandump: ")?
                .strip_suffix(" packets dropped by kernel")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no kernel drops line:\n{stderr}"))
}

/// One mirrored packet: what goes on the wire and the inner frame spandump must write.
struct Mirrored {
    wire: Vec<u8>,
    inner: Vec<u8>,
    key: Option<u32>,
    session: Option<u16>,
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().expect("v6").octets()
}

fn outer(gre: &Gre, payload: &[u8], ipv6: bool) -> Vec<u8> {
    if ipv6 {
        let ip = capgen::ipv6_gre(v6(SENDER_V6), v6(SINK_V6), gre, payload);
        Ethernet::new(ethertype::IPV6)
            .macs(SENDER_MAC, SINK_MAC)
            .build(&ip)
    } else {
        let ip = capgen::ipv4_gre(SENDER_V4, SINK_V4, gre, payload);
        Ethernet::new(ethertype::IPV4)
            .macs(SENDER_MAC, SINK_MAC)
            .build(&ip)
    }
}

/// A mix of what mirrors send: gretap with keys 99 and 7, ERSPAN II and III in
/// sessions 77 and 5, L3 GRE, in sizes from 60 to 1400 bytes.
fn mixed(ipv6: bool, count: usize) -> Vec<Mirrored> {
    (0..count)
        .map(|i| {
            let inner = capgen::eth_udp_sized(60 + (i * 97) % 1340, i as u8);
            let seq = i as u32;
            match i % 6 {
                0 | 3 => {
                    let key = if i % 6 == 0 { 99 } else { 7 };
                    let gre = Gre::new(ethertype::TEB).key(key);
                    Mirrored {
                        wire: outer(&gre, &inner, ipv6),
                        inner,
                        key: Some(key),
                        session: None,
                    }
                }
                1 | 4 => {
                    let session = if i % 6 == 1 { 77 } else { 5 };
                    let gre = Gre::new(ethertype::ERSPAN_II).seq(seq);
                    let payload = ErspanII::new(session, 0x1234).build(&inner);
                    Mirrored {
                        wire: outer(&gre, &payload, ipv6),
                        inner,
                        key: None,
                        session: Some(session),
                    }
                }
                2 => {
                    let gre = Gre::new(ethertype::ERSPAN_III).seq(seq);
                    let payload = ErspanIII::new(77).build(&inner);
                    Mirrored {
                        wire: outer(&gre, &payload, ipv6),
                        inner,
                        key: None,
                        session: Some(77),
                    }
                }
                _ => {
                    let ip = capgen::ipv4_icmp_echo([192, 0, 2, 7], [192, 0, 2, 8], i as u16, 64);
                    let gre = Gre::new(ethertype::IPV4);
                    Mirrored {
                        wire: outer(&gre, &ip, ipv6),
                        inner: capgen::synthesized_ethernet(&ip),
                        key: None,
                        session: None,
                    }
                }
            }
        })
        .collect()
}

fn wires(m: &[Mirrored]) -> Vec<Vec<u8>> {
    m.iter().map(|m| m.wire.clone()).collect()
}

fn inners<'a>(m: impl IntoIterator<Item = &'a Mirrored>) -> Vec<Vec<u8>> {
    m.into_iter().map(|m| m.inner.clone()).collect()
}

/// Every inner frame, byte for byte, and the filters select exactly, for one family.
/// How spandump receives: `--listen ADDR` (rings on the interfaces that hold ADDR),
/// `--listen ADDR --raw-socket`, or `-i IFACE` (a ring on the sink's interface).
#[derive(Clone, Copy, Debug)]
enum Mode {
    Listen,
    RawSocket,
    Interface,
}

impl Mode {
    fn args(self, net: &Net, addr: &str) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect();
        match self {
            Mode::Listen => v(&["--listen", addr]),
            Mode::RawSocket => v(&["--listen", addr, "--raw-socket"]),
            Mode::Interface => v(&["-i", &net.sink_if]),
        }
    }
}

fn frames_and_filters(ipv6: bool, mode: Mode) {
    if !root_or_skip() {
        return;
    }
    let net = Net::new();
    let addr = if ipv6 { SINK_V6 } else { "198.51.100.2" };
    let how = mode.args(&net, addr);
    let start = |name: &str, args: &[&str]| {
        let mut all: Vec<&str> = how.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        net.spandump(name, &all)
    };
    let all_path = net.path("all.pcap");
    let key_path = net.path("key99.pcap");
    let session_path = net.path("session77.pcapng");
    let all_file = all_path.to_str().unwrap();
    let key_file = key_path.to_str().unwrap();
    let session_file = session_path.to_str().unwrap();
    // Each socket or ring gets its own copy of every packet: three filters, one burst.
    let mut all = start("all", &["-w", all_file]);
    let mut key = start("key", &["--key", "99", "-w", key_file]);
    let mut session = start("session", &["--session", "77", "-w", session_file]);
    let sent = mixed(ipv6, 60);
    net.send(&wires(&sent));
    wait_for_records(&all_path, sent.len(), &all);

    let context = format!("{} {mode:?}", if ipv6 { "IPv6" } else { "IPv4" });
    let context = context.as_str();
    let stderr = all.interrupt();
    let summary = parse_summary(&stderr).unwrap();
    assert_eq!(
        (summary.read, summary.written, summary.skipped),
        (60, 60, 0),
        "{stderr}"
    );
    assert_eq!(kernel_drops(&stderr), 0);
    let got = read_capture(&all_path);
    assert!(got.nanos, "live capture keeps the kernel's nanoseconds");
    common::assert_frames_eq(context, &got.frames(), &inners(&sent));
    let mut last = 0;
    for r in &got.records {
        assert!(r.ts_ns >= last, "timestamps go forward");
        last = r.ts_ns;
    }

    let want_key = inners(sent.iter().filter(|m| m.key == Some(99)));
    wait_for_records(&key_path, want_key.len(), &key);
    let stderr = key.interrupt();
    let summary = parse_summary(&stderr).unwrap();
    assert_eq!((summary.written, summary.filtered), (10, 50), "{stderr}");
    common::assert_frames_eq(context, &read_capture(&key_path).frames(), &want_key);

    let want_session = inners(sent.iter().filter(|m| m.session == Some(77)));
    wait_for_records(&session_path, want_session.len(), &session);
    session.interrupt();
    let got = read_capture(&session_path);
    assert!(got.pcapng);
    common::assert_frames_eq(context, &got.frames(), &want_session);
}

#[test]
fn ipv4_writes_exactly_the_inner_frames_and_filters_select() {
    frames_and_filters(false, Mode::Listen);
}

#[test]
fn ipv4_raw_socket_writes_exactly_the_inner_frames_and_filters_select() {
    frames_and_filters(false, Mode::RawSocket);
}

#[test]
fn interface_ring_writes_exactly_the_inner_frames_and_filters_select() {
    frames_and_filters(false, Mode::Interface);
    frames_and_filters(true, Mode::Interface);
}

#[test]
fn ipv6_writes_exactly_the_inner_frames_and_filters_select() {
    frames_and_filters(true, Mode::Listen);
}

#[test]
fn ipv6_raw_socket_writes_exactly_the_inner_frames_and_filters_select() {
    frames_and_filters(true, Mode::RawSocket);
}

/// Frames the socket already holds when SIGINT arrives are written, and the file is
/// complete: SIGINT comes as soon as the kernel delivered the packets, with no wait
/// for spandump.
#[test]
fn sigint_drains_the_socket_and_flushes_a_complete_file() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new();
    let path = net.path("out.pcap");
    let mut spandump = net.spandump(
        "sigint",
        &["--listen", "198.51.100.2", "-w", path.to_str().unwrap()],
    );
    // Stopped, spandump cannot read while the packets arrive: all of them wait in the
    // socket, and only the drain after SIGINT can write them.
    spandump.signal("-STOP");
    let sent = mixed(false, 200);
    net.send(&wires(&sent));
    spandump.signal("-INT");
    spandump.signal("-CONT");
    let (code, stderr) = spandump.wait();
    assert_eq!(code, 0, "{stderr}");
    let summary = parse_summary(&stderr).unwrap();
    assert_eq!((summary.read, summary.written), (200, 200), "{stderr}");
    common::assert_frames_eq(
        "after SIGINT",
        &read_capture(&path).frames(),
        &inners(&sent),
    );
}

/// SIGINT while the mirror keeps sending: the drain ends at the stop, not when the
/// traffic does.
#[test]
fn sigint_stops_promptly_under_continuous_traffic() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new();
    let path = net.path("out.pcap");
    let mut spandump = net.spandump(
        "steady",
        &["--listen", "198.51.100.2", "-w", path.to_str().unwrap()],
    );
    // 20 000 packets at 2000 per second: 10 s of traffic, far longer than the test.
    let sent = mixed(false, 60);
    let frames: Vec<Vec<u8>> = wires(&sent).into_iter().cycle().take(20_000).collect();
    let mut tcpreplay = net.start_replay(&frames, &["--pps", "2000"]);
    wait_for_records(&path, 100, &spandump);
    let stopped = Instant::now();
    let stderr = spandump.interrupt();
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "took {:?} to stop",
        stopped.elapsed()
    );
    // `ip netns exec` execs tcpreplay: this PID is the one we started.
    let _ = tcpreplay.kill();
    let _ = tcpreplay.wait();
    let summary = parse_summary(&stderr).unwrap();
    let got = read_capture(&path);
    assert_eq!(got.records.len() as u64, summary.written);
    assert!(
        summary.written >= 100 && summary.written < 20_000,
        "{stderr}"
    );
    let want: Vec<Vec<u8>> = sent
        .iter()
        .map(|m| m.inner.clone())
        .cycle()
        .take(got.records.len())
        .collect();
    common::assert_frames_eq("continuous", &got.frames(), &want);
}

#[test]
fn count_stops_after_n_frames() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new();
    let path = net.path("out.pcap");
    let mut spandump = net.spandump(
        "count",
        &[
            "--listen",
            "198.51.100.2",
            "-c",
            "25",
            "-w",
            path.to_str().unwrap(),
        ],
    );
    let sent = mixed(false, 60);
    // Once spandump stopped, the kernel answers the rest with ICMP: no delivery to wait for.
    net.replay(&wires(&sent));
    let (code, stderr) = spandump.wait();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(parse_summary(&stderr).unwrap().written, 25);
    common::assert_frames_eq("-c 25", &read_capture(&path).frames(), &inners(&sent[..25]));
}

/// `-w -` into `tshark -r -`: the header goes out at once, every frame arrives.
#[test]
fn stdout_pipe_into_tshark_reads_every_frame() {
    if !root_or_skip() || !common::have_tool("tshark") {
        return;
    }
    let net = Net::new();
    let mut spandump = net.spandump_with(
        "pipe",
        &["--listen", "198.51.100.2", "--key", "99", "-w", "-"],
        Stdio::piped(),
    );
    let stdout = spandump.child.stdout.take().expect("stdout");
    let tshark = Command::new("tshark")
        .args([
            "-n",
            "-r",
            "-",
            "-T",
            "fields",
            "-e",
            "frame.len",
            "-e",
            "eth.src",
        ])
        .stdin(stdout)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tshark");
    let sent = mixed(false, 60);
    net.send(&wires(&sent));
    let want: Vec<Vec<u8>> = inners(sent.iter().filter(|m| m.key == Some(99)));
    let stderr = spandump.interrupt();
    assert_eq!(parse_summary(&stderr).unwrap().written, want.len() as u64);
    let out = tshark.wait_with_output().expect("tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = want
        .iter()
        .map(|f| {
            let mac = f[6..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            format!("{}\t{mac}", f.len())
        })
        .collect();
    assert_eq!(lines, expected);
}

/// A tiny receive buffer under a burst: every packet is either written or reported as
/// dropped by the kernel.
/// A tiny kernel buffer (a 1 KiB socket buffer, a 16 KiB ring) under a burst while
/// spandump is stopped: what was written plus the drops reported is what was sent.
fn drops_add_up(mode: Mode, buffer_kib: &str) {
    if !root_or_skip() {
        return;
    }
    let net = Net::new();
    let path = net.path("out.pcap");
    let mut args = mode.args(&net, "198.51.100.2");
    args.extend(["-B", buffer_kib, "-w", path.to_str().unwrap()].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut spandump = net.spandump("drops", &args);
    spandump.signal("-STOP");
    let sent = mixed(false, 100);
    net.send(&wires(&sent));
    spandump.signal("-INT");
    spandump.signal("-CONT");
    let (code, stderr) = spandump.wait();
    assert_eq!(code, 0, "{stderr}");
    let written = read_capture(&path).records.len() as u64;
    let drops = kernel_drops(&stderr);
    assert!(
        drops > 0,
        "a {buffer_kib} KiB buffer must overflow ({mode:?}):\n{stderr}"
    );
    assert_eq!(written + drops, 100, "{mode:?}: {stderr}");
    assert_eq!(parse_summary(&stderr).unwrap().written, written);
}

#[test]
fn drops_are_counted_and_add_up() {
    drops_add_up(Mode::RawSocket, "1");
    drops_add_up(Mode::Listen, "16");
    drops_add_up(Mode::Interface, "16");
}

#[test]
fn refuses_without_cap_net_raw_and_off_host_addresses() {
    if !root_or_skip() || !common::have_tool("setpriv") {
        return;
    }
    let net = Net::new();
    let hint = "(run as root or grant CAP_NET_RAW: setcap cap_net_raw+ep $(command -v spandump))";
    let sink_if = net.sink_if.clone();
    for (args, opening) in [
        (
            vec!["--listen", "198.51.100.2"],
            "cannot open raw GRE socket on 198.51.100.2".to_string(),
        ),
        (
            vec!["--listen", "198.51.100.2", "--raw-socket"],
            "cannot open raw GRE socket on 198.51.100.2".to_string(),
        ),
        (
            vec!["-i", &sink_if],
            format!("cannot open packet socket on {sink_if}"),
        ),
    ] {
        #[rustfmt::skip]
        let out = Command::new("ip")
            .args([
                "netns", "exec", &net.sink, "setpriv", "--reuid", "65534", "--regid", "65534",
                "--clear-groups", "--inh-caps=-all", common::spandump_bin(),
            ])
            .args(&args)
            .output()
            .expect("run spandump");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("spandump: {opening}: Operation not permitted {hint}\n"),
            "{args:?}"
        );
    }

    for (args, message) in [
        (
            vec!["--listen", "198.51.100.9"],
            "spandump: 198.51.100.9 is not an address of this host: --listen receives the \
             mirror packets sent to a local address (see `ip addr`)\n",
        ),
        (
            vec!["--listen", "198.51.100.9", "--raw-socket"],
            "spandump: cannot bind raw GRE socket to 198.51.100.9: Cannot assign requested \
             address (198.51.100.9 is not an address of this host: a raw socket receives only \
             packets addressed to a local address; see `ip addr`)\n",
        ),
        (
            vec!["-i", "nosuch0"],
            "spandump: no interface named \"nosuch0\" (see `ip link`)\n",
        ),
    ] {
        let out = Command::new("ip")
            .args(["netns", "exec", &net.sink, common::spandump_bin()])
            .args(&args)
            .output()
            .expect("run spandump");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), message, "{args:?}");
    }
}

/// `-Z` runs the capture as the named user, with the socket and file opened before.
#[test]
fn drop_privileges_after_opening() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new();
    let path = net.path("out.pcap");
    let mut spandump = net.spandump(
        "user",
        &[
            "--listen",
            "198.51.100.2",
            "-Z",
            "nobody",
            "-w",
            path.to_str().unwrap(),
        ],
    );
    let status = fs::read_to_string(format!("/proc/{}/status", spandump.child.id())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(uid.split_whitespace().nth(2), Some("65534"), "{uid}");
    let sent = mixed(false, 12);
    net.send(&wires(&sent));
    wait_for_records(&path, 12, &spandump);
    spandump.interrupt();
    common::assert_frames_eq("-Z nobody", &read_capture(&path).frames(), &inners(&sent));
}

#[test]
fn read_and_listen_are_exclusive() {
    let run = common::run(&["-r", "x.pcap", "--listen", "198.51.100.2"]);
    run.expect_code(2);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    common::run::<&str>(&[]).expect_code(2);
    common::run(&["--listen", "not-an-address"]).expect_code(2);
}

/// `--block-size` and `--block-timeout` are checked before anything is opened (the
/// interface does not exist, and no privilege is needed): a usage error (2) naming the
/// option and the rule broken.
#[test]
fn bad_ring_options_are_usage_errors_naming_the_option() {
    for (args, message) in [
        (
            &["--block-size", "12"][..],
            "error: --block-size 12: block size 12288 is not a power of two\n",
        ),
        (
            &["--block-size", "2"],
            "error: --block-size 2: block size 2048 is not a multiple of the page size \
             (4096 bytes)\n",
        ),
        (
            &["-B", "64", "--block-size", "128"],
            "error: --block-size 128 with -B 64: ring buffer of 65536 bytes cannot hold one \
             block of 131072 bytes\n",
        ),
        (
            &["--block-size", "65536"],
            "error: --block-size 65536 with -B 32768 (the default): ring buffer of 33554432 \
             bytes cannot hold one block of 67108864 bytes\n",
        ),
        (
            &["--block-size", "262144"],
            "error: invalid value '262144' for '--block-size <KIB>': 262144 is not in \
             1..=131072\n",
        ),
        (
            &["--block-timeout", "0"],
            "error: invalid value '0' for '--block-timeout <MS>': 0 is not in 1..=10000\n",
        ),
        (
            &["--block-timeout", "10001"],
            "error: invalid value '10001' for '--block-timeout <MS>': 10001 is not in \
             1..=10000\n",
        ),
    ] {
        for source in [&["-i", "nosuch0"][..], &["--listen", "198.51.100.9"]] {
            let argv: Vec<&str> = source.iter().chain(args).copied().collect();
            let run = common::run(&argv);
            run.expect_code(2);
            // clap's usage lines follow the message.
            assert!(run.stderr.starts_with(message), "{argv:?}: {}", run.stderr);
        }
    }
    for args in [
        &["-r", "x.pcap", "--block-size", "64"][..],
        &[
            "--listen",
            "198.51.100.9",
            "--raw-socket",
            "--block-timeout",
            "5",
        ],
        &["--udp", "198.51.100.9", "--block-size", "64"],
    ] {
        let run = common::run(args);
        run.expect_code(2);
        assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    }
}

/// Rings with a non-default block size and timeout (page-sized blocks, so that nearly
/// every frame crosses a block boundary; and the fan-out rings of `--threads`) write
/// every inner frame byte for byte, and say what they opened.
#[test]
fn block_size_and_timeout_options_keep_every_frame_exact() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new();
    let sink_if = net.sink_if.clone();
    for (name, how, banner) in [
        (
            "listen-4k",
            "--listen 198.51.100.2 --block-size 4 --block-timeout 5".to_string(),
            "8192 blocks of 4 KiB, block timeout 5 ms, 1 capture thread",
        ),
        (
            "threads-8k",
            format!("-i {sink_if} --threads 2 -B 1024 --block-size 8 --block-timeout 3"),
            "128 blocks of 8 KiB, block timeout 3 ms, 2 capture threads",
        ),
    ] {
        let path = net.path(&format!("{name}.pcap"));
        let mut args: Vec<&str> = how.split_whitespace().collect();
        args.extend(["-w", path.to_str().unwrap()]);
        let mut spandump = net.spandump(name, &args);
        assert!(spandump.stderr().contains(banner), "{}", spandump.stderr());
        let sent = mixed(false, 120);
        net.send(&wires(&sent));
        wait_for_records(&path, sent.len(), &spandump);
        let stderr = spandump.interrupt();
        let summary = parse_summary(&stderr).unwrap();
        assert_eq!((summary.read, summary.written), (120, 120), "{stderr}");
        assert_eq!(kernel_drops(&stderr), 0, "{stderr}");
        // One sender: one ring of the fan-out group gets it all, in order.
        common::assert_frames_eq(name, &read_capture(&path).frames(), &inners(&sent));
    }
}

/// A lone frame on a quiet mirror sits in a block that is not full: the block timeout
/// hands it over with no more traffic and no stop (5 ms here; asserted loosely, within
/// 3 s, as the machine may be busy). With a long timeout (1 s), a frame still in the
/// kernel's block when SIGINT comes is written: the drain waits for that timeout. With
/// the longest (10 s) and nothing in the kernel's block, SIGINT stops at once: the
/// drain does not wait for a block that holds nothing (it used to wait 20 s; asserted
/// within 5 s).
#[test]
fn block_timeout_hands_over_a_lone_frame() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new();
    let path = net.path("short.pcap");
    #[rustfmt::skip]
    let mut spandump = net.spandump("short", &[
        "--listen", "198.51.100.2", "--block-timeout", "5", "-w", path.to_str().unwrap(),
    ]);
    let sent = mixed(false, 1);
    net.send(&wires(&sent));
    let delivered = Instant::now();
    wait_for_records(&path, 1, &spandump);
    let waited = delivered.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "a lone frame took {waited:?} with a 5 ms block timeout"
    );
    spandump.interrupt();
    common::assert_frames_eq("5 ms", &read_capture(&path).frames(), &inners(&sent));

    let path = net.path("long.pcap");
    #[rustfmt::skip]
    let mut spandump = net.spandump("long", &[
        "--listen", "198.51.100.2", "--block-timeout", "1000", "-w", path.to_str().unwrap(),
    ]);
    net.send(&wires(&sent));
    let stderr = spandump.interrupt();
    assert_eq!(parse_summary(&stderr).unwrap().written, 1, "{stderr}");
    common::assert_frames_eq("1000 ms", &read_capture(&path).frames(), &inners(&sent));

    let path = net.path("quiet.pcap");
    #[rustfmt::skip]
    let mut spandump = net.spandump("quiet", &[
        "--listen", "198.51.100.2", "--block-timeout", "10000", "-w", path.to_str().unwrap(),
    ]);
    let stopped = Instant::now();
    let stderr = spandump.interrupt();
    assert_eq!(parse_summary(&stderr).unwrap().written, 0, "{stderr}");
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "a stop with nothing in the kernel's block took {:?}",
        stopped.elapsed()
    );
}

/// SIGUSR1 prints the summary so far and spandump goes on; `--stats-interval` writes
/// JSON lines while it runs, and a final one at the stop.
#[test]
fn sigusr1_and_stats_interval_report_while_running() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new();
    let out = net.path("out.pcap");
    let json = net.path("stats.json");
    #[rustfmt::skip]
    let mut spandump = net.spandump("report", &[
        "--listen", "198.51.100.2", "-w", out.to_str().unwrap(),
        "--stats-json", json.to_str().unwrap(), "--stats-interval", "0.1",
    ]);
    let sent = mixed(false, 30);
    net.send(&wires(&sent));
    wait_for_records(&out, 30, &spandump);
    spandump.signal("-USR1");
    spandump.wait_for_stderr("30 outer packets read, 30 frames written");
    assert!(
        spandump.child.try_wait().unwrap().is_none(),
        "SIGUSR1 must not stop spandump"
    );
    // Periodic lines show the frames while spandump still runs.
    let start = Instant::now();
    let running_line = loop {
        let text = fs::read_to_string(&json).unwrap_or_default();
        let last = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .next_back();
        if let Some(v) = last.filter(|v| v["frames_written"] == 30) {
            break v;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no interval line with 30 frames:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(running_line["final"], false);
    assert_eq!(running_line["outer_packets"], 30);
    net.send(&wires(&sent[..10]));
    let stderr = spandump.interrupt();
    let text = fs::read_to_string(&json).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["final"], true, "{text}");
    assert_eq!(last["frames_written"], 40);
    assert_eq!(lines.iter().filter(|v| v["final"] == true).count(), 1);
    assert!(lines.len() >= 2, "{text}");
    let sessions = last["sessions"].as_array().unwrap();
    let packets: u64 = sessions
        .iter()
        .map(|s| s["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(packets, 40, "{text}");
    assert!(
        stderr.contains("40 outer packets read, 40 frames written"),
        "{stderr}"
    );
}

/// `--list-sessions` live: no frames, the table of what arrived at Ctrl-C.
#[test]
fn list_sessions_live_prints_the_table_at_the_stop() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new();
    let table = net.path("table.txt");
    let mut spandump = net.spandump_with(
        "list",
        &["--listen", "198.51.100.2", "--list-sessions"],
        Stdio::from(fs::File::create(&table).unwrap()),
    );
    let sent = mixed(false, 40);
    net.send(&wires(&sent));
    let stderr = spandump.interrupt();
    let text = fs::read_to_string(&table).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert!(text.starts_with("SOURCE"), "{text}");
    // The offline table of the same packets is the same table.
    let offline = net.path("sent.pcap");
    let packets: Vec<(u64, Vec<u8>)> = wires(&sent).into_iter().map(|w| (0, w)).collect();
    fs::write(
        &offline,
        capgen::pcap_bytes(capgen::PcapFormat::ethernet(), &packets),
    )
    .unwrap();
    let run = common::run(&["-r", offline.to_str().unwrap(), "--list-sessions"]);
    let want = String::from_utf8(run.stdout).unwrap();
    assert_eq!(text, want, "live and offline tables differ");
    assert!(rows.len() >= 2, "{text}");
    assert!(stderr.contains("0 frames written"), "{stderr}");
}

/// `--listen` receives through a ring and keeps a raw GRE socket open that takes
/// nothing, so that the kernel does not answer each mirrored packet with ICMP
/// protocol-unreachable; `-i` alone opens no such socket, and the kernel answers.
#[test]
fn listen_keeps_the_kernel_from_answering_the_sender() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new();
    let sent = mixed(false, 24);
    for (mode, answered) in [(Mode::Listen, false), (Mode::Interface, true)] {
        let path = net.path("out.pcap");
        let mut args = mode.args(&net, "198.51.100.2");
        args.extend(["-w", path.to_str().unwrap()].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut spandump = net.spandump("quiet", &args);
        let before = net.sink_unreachables();
        net.send(&wires(&sent));
        wait_for_records(&path, sent.len(), &spandump);
        spandump.interrupt();
        let answers = net.sink_unreachables() - before;
        assert_eq!(answers > 0, answered, "{mode:?}: {answers} ICMP answers");
        common::assert_frames_eq("quiet", &read_capture(&path).frames(), &inners(&sent));
    }
}

/// `--threads 2`: two rings in one fan-out group. Mirrors from four senders, each
/// with its own ERSPAN session and sequence numbers: every frame is written, and each
/// session's frames stay in order (so no sequence number looks reordered).
#[test]
fn threads_fan_out_and_keep_each_session_in_order() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new();
    let path = net.path("out.pcapng");
    let json = net.path("stats.json");
    #[rustfmt::skip]
    let mut spandump = net.spandump("threads", &[
        "-i", &net.sink_if, "--threads", "2", "-w", path.to_str().unwrap(),
        "--stats-json", json.to_str().unwrap(),
    ]);
    let sources: [[u8; 4]; 4] = [
        [203, 0, 113, 1],
        [203, 0, 113, 2],
        [203, 0, 113, 3],
        [203, 0, 113, 4],
    ];
    let mut frames = Vec::new();
    let mut per_session: Vec<Vec<Vec<u8>>> = vec![Vec::new(); sources.len()];
    for i in 0..400usize {
        let s = i % sources.len();
        let inner = capgen::eth_udp_sized(60 + (i * 37) % 1000, i as u8);
        let gre = Gre::new(ethertype::ERSPAN_II).seq((i / sources.len()) as u32);
        let payload = ErspanII::new(100 + s as u16, 1).build(&inner);
        let ip = capgen::ipv4_gre(sources[s], SINK_V4, &gre, &payload);
        frames.push(
            Ethernet::new(ethertype::IPV4)
                .macs(SENDER_MAC, SINK_MAC)
                .build(&ip),
        );
        per_session[s].push(inner);
    }
    net.replay(&frames);
    wait_for_records(&path, frames.len(), &spandump);
    let stderr = spandump.interrupt();
    assert!(stderr.contains("2 capture threads"), "{stderr}");
    let summary = parse_summary(&stderr).unwrap();
    assert_eq!((summary.read, summary.written), (400, 400), "{stderr}");
    let rows = common::tshark_fields(&path, None, &["frame.interface_name"], &[]);
    let got = read_capture(&path);
    for (s, want) in per_session.iter().enumerate() {
        let name = format!("erspan-ii 203.0.113.{} sid {}", s + 1, 100 + s);
        let frames: Vec<&[u8]> = got
            .records
            .iter()
            .zip(&rows)
            .filter(|(_, row)| row[0] == name)
            .map(|(r, _)| r.data.as_slice())
            .collect();
        common::assert_frames_eq(&name, &frames, want);
    }
    let text = fs::read_to_string(&json).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    for key in [
        "seq_lost",
        "seq_reordered",
        "seq_duplicate",
        "channel_drops",
        "kernel_drops",
    ] {
        assert_eq!(v[key], 0, "{key}: {text}");
    }
    assert_eq!(v["sessions"].as_array().unwrap().len(), 4);
}

/// A child process this test started, killed (by its PID) if the test ends first.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `--list-sessions` live on a terminal (a pty from `script`): the table is redrawn
/// while mirrors arrive, and printed once more at Ctrl-C.
#[test]
fn list_sessions_redraws_on_a_terminal() {
    if !root_or_skip() || !common::have_tool("script") {
        return;
    }
    let net = Net::new();
    let out_path = net.path("tty.txt");
    let command = format!(
        "ip netns exec {} {} --listen 198.51.100.2 --list-sessions",
        net.sink,
        common::spandump_bin()
    );
    let mut script = KillOnDrop(
        Command::new("script")
            .args(["-qfec", &command, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::from(fs::File::create(&out_path).unwrap()))
            .stderr(Stdio::null())
            .spawn()
            .expect("start script"),
    );
    let output = || fs::read_to_string(&out_path).unwrap_or_default();
    netns::wait_until("a first redraw", || output().contains("Ctrl-C to stop"));
    let sent = mixed(false, 30);
    net.send(&wires(&sent));
    // A later redraw shows the sessions and the 30 packets.
    netns::wait_until("a redraw with the sessions", || {
        let text = output();
        let last = text.rsplit("\x1b[H\x1b[2J").next().unwrap_or_default();
        last.contains("198.51.100.1") && last.contains("30 outer packets")
    });
    assert!(
        output().matches("\x1b[H\x1b[2J").count() >= 2,
        "{}",
        output()
    );
    // spandump runs under script (and ip netns exec, which execs it): stop it by its PID.
    let pids = common::descendants_named(script.0.id(), "spandump");
    assert_eq!(pids.len(), 1, "{pids:?}");
    sh("kill", &["-INT", &pids[0].to_string()]);
    let start = Instant::now();
    while script.0.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < DEADLINE,
            "spandump did not stop:\n{}",
            output()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let text = output();
    let final_table = text.rsplit("Ctrl-C to stop").next().unwrap();
    assert!(final_table.contains("SOURCE"), "{text}");
    assert!(
        final_table.contains("30 outer packets read, 0 frames written"),
        "{text}"
    );
}

/// A filter expression on every live source (ring by address, raw socket, ring on an
/// interface with two threads, text output): exactly the inner frames libpcap's own
/// `pcap_offline_filter` keeps, combined with the session flags by AND.
#[test]
fn filter_expressions_select_on_every_live_source() {
    if !root_or_skip() {
        return;
    }
    let pcap = match spandump::bpf::libpcap::LibPcap::load() {
        Ok(pcap) => pcap,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("note: {e}; skipping");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let net = Net::new();
    let sent = mixed(false, 120);
    let keeps = |text: &str, session: Option<u16>| -> Vec<Vec<u8>> {
        let program = spandump::bpf::Expression::compile(&pcap, text).expect("compiles");
        let raw = spandump::bpf::libpcap::RawProgram::new(program.program().instructions());
        sent.iter()
            .filter(|m| session.is_none() || m.session == session)
            .filter(|m| {
                let i = &m.inner;
                pcap.offline_filter(&raw, i, i.len() as u32) != 0
            })
            .map(|m| m.inner.clone())
            .collect()
    };
    let runs: [(&str, Vec<&str>, &str, Option<u16>); 4] = [
        ("ring", vec!["--listen", "198.51.100.2"], "icmp", None),
        (
            "raw",
            vec!["--listen", "198.51.100.2", "--raw-socket"],
            "greater 700",
            None,
        ),
        (
            "threads",
            vec!["-i", &net.sink_if, "--threads", "2", "--session", "77"],
            "udp and greater 700",
            Some(77),
        ),
        ("text", vec!["-i", &net.sink_if], "icmp", None),
    ];
    let mut started = Vec::new();
    for (name, how, text, session) in &runs {
        let path = net.path(&format!("{name}.pcapng"));
        let mut args = how.clone();
        let path_str = path.to_str().unwrap().to_string();
        let text_out = *name == "text";
        if !text_out {
            args.extend(["-w", path_str.as_str()]);
        }
        args.push(text);
        let spandump = if text_out {
            let out = fs::File::create(&path).expect("text output");
            net.spandump_with(name, &args, Stdio::from(out))
        } else {
            net.spandump(name, &args)
        };
        let want = keeps(text, *session);
        assert!(
            !want.is_empty() && want.len() < sent.len(),
            "{name}: '{text}'"
        );
        started.push((spandump, path, want, *name, *text));
    }
    net.send(&wires(&sent));
    for (mut spandump, path, want, name, text) in started {
        if name == "text" {
            let start = Instant::now();
            while fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .count()
                < want.len()
            {
                assert!(start.elapsed() < DEADLINE, "{name}: too few lines");
                std::thread::sleep(Duration::from_millis(5));
            }
        } else {
            wait_for_records(&path, want.len(), &spandump);
        }
        let stderr = spandump.interrupt();
        let summary = parse_summary(&stderr).unwrap();
        assert_eq!(
            summary.written,
            want.len() as u64,
            "{name} '{text}': {stderr}"
        );
        assert_eq!(
            summary.written + summary.rejected + summary.filtered,
            sent.len() as u64,
            "{name} '{text}': {stderr}"
        );
        if name == "text" {
            let lines = fs::read_to_string(&path).unwrap();
            assert_eq!(lines.lines().count(), want.len(), "{lines}");
            assert!(
                lines.lines().all(|l| l.contains("ICMP echo request")),
                "{lines}"
            );
        } else {
            common::assert_frames_eq(name, &read_capture(&path).frames(), &want);
        }
    }
}
