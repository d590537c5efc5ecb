//! A network built by a test: "sender" and "sink" network namespaces joined by a veth
//! pair, with documentation addresses (RFC 5737, RFC 3849, RFC 7042 MACs), removed on
//! drop even when the test fails. Frames are sent with tcpreplay; waits are conditions
//! with deadlines, never fixed sleeps. Only processes started here are waited for.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::capgen;

pub const SENDER_MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x53, 0x01];
pub const SINK_MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x53, 0x02];
pub const SENDER_V4: [u8; 4] = [198, 51, 100, 1];
pub const SINK_V4: [u8; 4] = [198, 51, 100, 2];
pub const SENDER_V6: &str = "2001:db8:100::1";
pub const SINK_V6: &str = "2001:db8:100::2";
pub const DEADLINE: Duration = Duration::from_secs(15);

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0")
}

/// True when the test may build namespaces: root and tcpreplay. Without root the test
/// passes with a note, except on CI (env `CI` set), where it fails.
pub fn root_or_skip() -> bool {
    let root = is_root();
    if !root {
        if std::env::var_os("CI").is_some() {
            panic!("live capture tests need root, and CI is set");
        }
        eprintln!("note: not root, skipping this live capture test");
    }
    root && super::have_tool("tcpreplay")
}

/// Runs a command and asserts success.
pub fn sh(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Waits until `done` holds, or panics with `what` after [`DEADLINE`].
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for `child` to exit by itself; after `deadline`, panics with `stuck()` (what it
/// is and its stderr).
pub fn wait_exit(
    child: &mut Child,
    deadline: Duration,
    stuck: impl Fn() -> String,
) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(start.elapsed() < deadline, "{}", stuck());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Two namespaces joined by a veth pair; both are deleted on drop.
pub struct Net {
    pub sender: String,
    pub sink: String,
    pub sender_if: String,
    pub sink_if: String,
    pub dir: tempfile::TempDir,
}

impl Net {
    /// Namespaces, veth (MTU `mtu`), addresses, links up.
    pub fn new(mtu: u32) -> Net {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{:x}{n}", std::process::id() & 0xffff);
        let net = Net {
            sender: format!("spandump-{tag}-rsnd"),
            sink: format!("spandump-{tag}-rsnk"),
            sender_if: format!("rds{tag}"),
            sink_if: format!("rdk{tag}"),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        // The guard exists before the first namespace, so a failure below cleans up.
        sh("ip", &["netns", "add", &net.sender]);
        sh("ip", &["netns", "add", &net.sink]);
        let mac = |m: [u8; 6]| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        let mtu = mtu.to_string();
        #[rustfmt::skip]
        sh("ip", &[
            "link", "add", &net.sender_if, "mtu", &mtu, "address", &mac(SENDER_MAC),
            "netns", &net.sender, "type", "veth", "peer", "name", &net.sink_if,
            "mtu", &mtu, "address", &mac(SINK_MAC), "netns", &net.sink,
        ]);
        for (ns, dev, v4, v6) in [
            (&net.sender, &net.sender_if, "198.51.100.1/24", SENDER_V6),
            (&net.sink, &net.sink_if, "198.51.100.2/24", SINK_V6),
        ] {
            sh("ip", &["-n", ns, "addr", "add", v4, "dev", dev]);
            let v6 = format!("{v6}/64");
            sh("ip", &["-n", ns, "addr", "add", &v6, "dev", dev, "nodad"]);
            sh("ip", &["-n", ns, "link", "set", dev, "up"]);
            sh("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        net
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The ICMP answers the sink's kernel sent so far (`Icmp: OutDestUnreachs`).
    pub fn sink_unreachables(&self) -> u64 {
        let out = sh(
            "ip",
            &["netns", "exec", &self.sink, "cat", "/proc/net/snmp"],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let rows: Vec<Vec<&str>> = text
            .lines()
            .filter(|l| l.starts_with("Icmp:"))
            .map(|l| l.split_whitespace().collect())
            .collect();
        let i = rows[0]
            .iter()
            .position(|f| *f == "OutDestUnreachs")
            .unwrap();
        rows[1][i].parse().unwrap()
    }

    /// The sink namespace's file, for `setns`.
    pub fn sink_ns_path(&self) -> PathBuf {
        Path::new("/var/run/netns").join(&self.sink)
    }

    /// Runs `f` on a thread inside the sink namespace and returns its result (sockets
    /// opened there stay in that namespace wherever they are used afterwards).
    pub fn in_sink<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.sink_ns_path();
        std::thread::scope(|s| {
            s.spawn(move || {
                spandump::capture::sys::enter_network_namespace(&path)
                    .unwrap_or_else(|e| panic!("enter {}: {e}", path.display()));
                f()
            })
            .join()
            .expect("thread in the sink namespace")
        })
    }

    /// Writes `frames` (whole Ethernet frames) to a pcap file in the test's directory.
    pub fn write_pcap(&self, name: &str, frames: &[Vec<u8>]) -> PathBuf {
        let packets: Vec<(u64, Vec<u8>)> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| (1_700_000_000_000_000_000 + i as u64 * 1000, f.clone()))
            .collect();
        let file = self.path(name);
        fs::write(
            &file,
            capgen::pcap_bytes(capgen::PcapFormat::ethernet(), &packets),
        )
        .expect("write pcap");
        file
    }

    /// Sends `frames` from the sender end at top speed; returns when tcpreplay is done.
    pub fn send(&self, frames: &[Vec<u8>]) {
        let file = self.write_pcap("send.pcap", frames);
        self.replay_file(&file, false, &["--topspeed"]);
    }

    /// Sends `frames` out of the sink end (frames the sink host itself transmits).
    pub fn send_from_sink(&self, frames: &[Vec<u8>]) {
        let file = self.write_pcap("send-out.pcap", frames);
        self.replay_file(&file, true, &["--topspeed"]);
    }

    /// Replays a capture file from the sender end (or the sink end) and waits for it.
    pub fn replay_file(&self, file: &Path, from_sink: bool, options: &[&str]) {
        let status = self
            .start_replay(file, from_sink, options)
            .wait()
            .expect("wait for tcpreplay");
        assert!(status.success(), "tcpreplay failed: {status}");
    }

    /// Starts tcpreplay on `file` with `options`.
    pub fn start_replay(&self, file: &Path, from_sink: bool, options: &[&str]) -> Child {
        let (ns, dev) = if from_sink {
            (&self.sink, &self.sink_if)
        } else {
            (&self.sender, &self.sender_if)
        };
        Command::new("ip")
            .args(["netns", "exec", ns, "tcpreplay", "-q"])
            .args(options)
            .arg("-i")
            .arg(dev)
            .arg(file)
            .stdout(Stdio::null())
            .spawn()
            .expect("start tcpreplay")
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.sender, &self.sink] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A spandump a test started in the sink namespace of a [`Net`], its stdout discarded
/// and its stderr kept in a file; killed (by its PID) if the test ends first.
pub struct Spandump {
    child: Child,
    stderr: PathBuf,
}

impl Spandump {
    /// Starts `spandump ARGS` in `net`'s sink namespace and waits for its listening
    /// line.
    pub fn start(net: &Net, args: &[&str]) -> Spandump {
        let stderr = net.path("spandump.stderr");
        let child = Command::new("ip")
            .args(["netns", "exec", &net.sink, super::spandump_bin()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start spandump");
        let s = Spandump { child, stderr };
        s.wait_for("its listening line", || {
            s.stderr().contains("spandump: listening on ")
        });
        s
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until `done` holds, or panics with `what` and the stderr after
    /// [`DEADLINE`].
    pub fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Ctrl-C, as a terminal sends it.
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill -INT");
        assert!(status.success());
    }

    /// Waits for the exit (after [`DEADLINE`], panics): its code (`None` for a signal)
    /// and stderr.
    pub fn wait(&mut self) -> (Option<i32>, String) {
        let stderr = &self.stderr;
        let status = wait_exit(&mut self.child, DEADLINE, || {
            format!(
                "spandump did not exit:\n{}",
                fs::read_to_string(stderr).unwrap_or_default()
            )
        });
        (status.code(), self.stderr())
    }
}

impl Drop for Spandump {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
