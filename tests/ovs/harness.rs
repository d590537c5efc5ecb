//! The Open vSwitch fixture of `tests/ovs.rs` and `tests/ovs_cloud.rs`: `fixture.sh`
//! run from Rust, capture processes (tcpdump, spandump) started in its namespaces, and
//! the traffic kinds its `traffic` command makes.
//!
//! It must never kill a process it did not start (only its children, by PID, and the
//! daemons `fixture.sh down` finds by their pid files), nor wait on a fixed sleep:
//! every wait polls a condition with a deadline.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.

#![allow(dead_code)]

use crate::common::{self, Capture, read_capture, read_capture_bytes};
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ovs/fixture.sh");
pub const DEADLINE: Duration = Duration::from_secs(30);
/// The ethertype of the fixture's marker frames (IEEE 802 local experimental 1).
pub const MARKER_ETHERTYPE: u16 = 0x88B5;

/// True when the test of fixture mode `mode` can run: root and the tools (without root
/// the test prints a note and passes, except on CI, env `CI` set, where it fails).
pub fn prerequisites(mode: &str) -> bool {
    if !common::netns::is_root() {
        if std::env::var_os("CI").is_some() {
            panic!("the OVS / OVN mirror tests need root, and CI is set");
        }
        eprintln!("note: not root, skipping the {} mirror test", mode);
        return false;
    }
    let mut tools = vec![
        "ovsdb-tool",
        "ovsdb-server",
        "ovs-vswitchd",
        "ovs-vsctl",
        "ovs-appctl",
        "tcpdump",
        "python3",
        "ethtool",
        "ping",
    ];
    if mode == "ovn" {
        tools.extend(["ovn-northd", "ovn-controller", "ovn-nbctl"]);
    }
    // have_tool panics on CI when one is missing.
    tools.into_iter().all(common::have_tool)
}

fn fixture(args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(FIXTURE)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tests/ovs/fixture.sh")
}

/// The namespaces and daemons of one setup; `fixture.sh down` on drop.
pub struct Fixture {
    dir: tempfile::TempDir,
    tag: String,
}

impl Fixture {
    pub fn up(mode: &str) -> Fixture {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let fx = Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
            tag: format!("{:x}{n}", std::process::id() & 0xffff),
        };
        let dir = fx.dir.path().to_str().unwrap().to_string();
        let out = fixture(&["up", &dir, &fx.tag, mode]);
        assert!(
            out.status.success(),
            "fixture.sh up {mode} failed:\n{}{}",
            String::from_utf8_lossy(&out.stderr),
            fx.logs()
        );
        fx
    }

    pub fn ns(&self, what: &str) -> String {
        format!("sd-{}-{what}", self.tag)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for entry in fs::read_dir(self.path("log"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let log = fs::read_to_string(entry.path()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            text += &format!("--- {}\n{}\n", entry.path().display(), tail.join("\n"));
        }
        text
    }

    pub fn traffic(&self) {
        let out = fixture(&["traffic", self.dir.path().to_str().unwrap()]);
        assert!(
            out.status.success(),
            "fixture.sh traffic failed:\n{}{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let out = fixture(&["down", self.dir.path().to_str().unwrap()]);
        if !out.status.success() {
            eprintln!(
                "fixture.sh down failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// A capture process (tcpdump or spandump) started in a namespace; stopped on drop.
pub struct Capturer {
    what: String,
    child: Child,
    file: PathBuf,
    stderr_path: PathBuf,
    exited: bool,
}

impl Capturer {
    /// Starts `program args` in `ns`, writing stderr to a file (beside `file`, the
    /// capture it writes), and waits for its `listening on` line.
    pub fn start(
        what: String,
        ns: &str,
        program: &str,
        args: &[String],
        file: PathBuf,
    ) -> Capturer {
        let stderr_path = file.with_extension("stderr");
        let stderr = fs::File::create(&stderr_path).expect("stderr file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        // `ip netns exec` execs the program: the child's pid is the capturer's.
        let mut c = Capturer {
            what,
            child,
            file,
            stderr_path,
            exited: false,
        };
        // tcpdump: "listening on eth0, ..."; spandump: "spandump: listening on ...".
        c.wait_until("its start", |c| c.stderr().contains("listening on"));
        c
    }

    /// tcpdump on the sink's `eth0`, writing the underlay that `filter` keeps to
    /// `underlay.pcap` (ns timestamps), for `spandump -r` and as the truth.
    pub fn sink_underlay(fx: &Fixture, filter: &str) -> Capturer {
        let file = fx.path("underlay.pcap");
        #[rustfmt::skip]
        let args: Vec<String> = [
            "-n", "-U", "-i", "eth0", "--time-stamp-precision", "nano", "-w",
            file.to_str().unwrap(), filter,
        ].map(String::from).to_vec();
        Capturer::start(
            "tcpdump on the sink".into(),
            &fx.ns("sink"),
            "tcpdump",
            &args,
            file,
        )
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn wait_until(&mut self, what: &str, done: impl Fn(&Capturer) -> bool) {
        let start = Instant::now();
        while !done(self) {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exited = true;
                panic!("{} exited ({status}) early:\n{}", self.what, self.stderr());
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{}: timed out waiting for {what}:\n{}",
                self.what,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the file holds so far (the writers flush whole records, but a read may catch
    /// a record half written: that is "not yet").
    pub fn frames_so_far(&self) -> Vec<Vec<u8>> {
        let bytes = fs::read(&self.file).unwrap_or_default();
        read_capture_bytes(&bytes)
            .map(|c| c.records.into_iter().map(|r| r.data).collect())
            .unwrap_or_default()
    }

    /// Waits until the file holds `n` end markers.
    pub fn wait_for_end_markers(&mut self, n: usize) {
        self.wait_until(&format!("{n} end marker frames"), |c| {
            c.frames_so_far()
                .iter()
                .filter(|f| is_end_marker(f))
                .count()
                >= n
        });
    }

    /// SIGINT, then waits for a clean exit; returns stderr and the file.
    pub fn stop(&mut self) -> (String, Capture) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-INT", &pid]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -INT {pid}");
        let (what, stderr) = (&self.what, &self.stderr_path);
        let status = common::netns::wait_exit(&mut self.child, DEADLINE, || {
            format!(
                "{what} did not stop:\n{}",
                fs::read_to_string(stderr).unwrap_or_default()
            )
        });
        self.exited = true;
        let stderr = self.stderr();
        assert!(status.success(), "{} exit {status}:\n{stderr}", self.what);
        (stderr, read_capture(&self.file))
    }
}

impl Drop for Capturer {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn ethertype(frame: &[u8]) -> u16 {
    frame
        .get(12..14)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
}

pub fn is_end_marker(frame: &[u8]) -> bool {
    ethertype(frame) == MARKER_ETHERTYPE && frame[14..].starts_with(b"spandump-end")
}

/// What kind of traffic a frame is, for checking that each session saw every kind.
pub fn kinds(frame: &[u8]) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    let (mut et, mut l3) = (ethertype(frame), 14);
    if et == 0x8100 {
        kinds.push("802.1Q");
        et = frame
            .get(16..18)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        l3 = 18;
    }
    let ip = &frame[l3.min(frame.len())..];
    match et {
        0x0806 => kinds.push("ARP"),
        MARKER_ETHERTYPE => kinds.push("marker"),
        0x0800 if ip.len() >= 20 => {
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            match ip[9] {
                1 if total >= 1400 => kinds.push("ICMP echo 1400"),
                1 => kinds.push("ICMP"),
                6 => kinds.push("TCP"),
                17 => kinds.push("UDP"),
                _ => {}
            }
        }
        0x86dd if ip.len() >= 41 => {
            let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            match (ip[6], ip[40]) {
                (58, 135 | 136) => kinds.push("ND"),
                (58, 128 | 129) if payload >= 1400 => kinds.push("ICMPv6 echo 1400"),
                (58, 128 | 129) => kinds.push("ICMPv6 echo"),
                (6, _) => kinds.push("TCPv6"),
                (17, _) => kinds.push("UDPv6"),
                _ => {}
            }
        }
        _ => {}
    }
    kinds
}

/// The [`EXPECTED_KINDS`] none of `frames` is.
pub fn missing_kinds<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Vec<&'static str> {
    let seen: Vec<&str> = frames.into_iter().flat_map(kinds).collect();
    EXPECTED_KINDS
        .iter()
        .copied()
        .filter(|k| !seen.contains(k))
        .collect()
}

/// The traffic kinds every session must have carried.
pub const EXPECTED_KINDS: &[&str] = &[
    "ARP",
    "ND",
    "ICMP",
    "ICMP echo 1400",
    "ICMPv6 echo",
    "ICMPv6 echo 1400",
    "UDP",
    "UDPv6",
    "TCP",
    "TCPv6",
    "802.1Q",
    "marker",
];
