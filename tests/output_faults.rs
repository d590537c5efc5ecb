//! The output failing under spandump: a full disk (a small tmpfs this test mounts in
//! its own temporary directory) while reading a file and while capturing live. The run
//! ends with exit 1 and a message naming the file; the summary and `--stats-json` count
//! as written exactly the frames in the file, the rest as lost to the output; the file
//! ends after its last complete record.
//!
//! Needs root (mount, namespaces); without it the tests pass with a note, except on CI.

mod common;

use common::capgen::{self, Ethernet, Gre, PcapFormat, ethertype};
use common::netns::{self, DEADLINE, SENDER_MAC, SENDER_V4, SINK_MAC, SINK_V4, is_root, sh};
use common::{parse_summary, read_capture_bytes};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A tmpfs of `size` bytes mounted in a fresh temporary directory; unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: usize) -> SmallDisk {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().display().to_string();
        sh(
            "mount",
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", &path],
        );
        SmallDisk { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg(self.dir.path())
            .stderr(Stdio::null())
            .status();
    }
}

/// A process this test started, killed (by its PID) if the test ends before it does.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn root_or_skip() -> bool {
    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the output fault tests need root (mount), and CI is set"
        );
        eprintln!("note: not root, skipping this output fault test");
        return false;
    }
    true
}

/// `n` gretap packets (key 99) of about 1000 bytes each, and their inner frames.
fn mirrored(n: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    (0..n)
        .map(|i| {
            let inner = capgen::eth_udp_sized(900 + (i * 37) % 200, i as u8);
            let ip = capgen::ipv4_gre(
                SENDER_V4,
                SINK_V4,
                &Gre::new(ethertype::TEB).key(99),
                &inner,
            );
            let wire = Ethernet::new(ethertype::IPV4)
                .macs(SENDER_MAC, SINK_MAC)
                .build(&ip);
            (wire, inner)
        })
        .unzip()
}

/// The `N frames lost to the output` line of the summary (0 when absent).
fn output_lost(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("spandump: ")?
                .split_once(" frames lost to the output")?
                .0
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The last `--stats-json` line.
fn last_json(path: &Path) -> serde_json::Value {
    let text = fs::read_to_string(path).expect("stats json");
    let line = text.lines().last().expect("a JSON line");
    serde_json::from_str(line).expect("JSON")
}

/// Asserts that `bytes` is a capture ending exactly after its last record (pcap: the
/// records' lengths add up to the file; pcapng: the blocks do), holding `written`
/// frames equal to the first `written` of `inners`.
fn assert_complete(bytes: &[u8], written: u64, inners: &[Vec<u8>], pcapng: bool) {
    let capture = read_capture_bytes(bytes).expect("the file stays readable");
    assert_eq!(capture.records.len() as u64, written, "frames in the file");
    common::assert_frames_eq(
        "file after a full disk",
        &capture.frames(),
        &inners[..written as usize],
    );
    let mut at = if pcapng { 0 } else { 24 };
    while at < bytes.len() {
        let len = if pcapng {
            u32::from_ne_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize
        } else {
            16 + u32::from_ne_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize
        };
        assert!(at + len <= bytes.len(), "a cut record at offset {at}");
        at += len;
    }
}

fn full_disk_during_read(pcapng: bool) {
    if !root_or_skip() {
        return;
    }
    let disk = SmallDisk::mount(64 * 1024);
    let scratch = tempfile::tempdir().unwrap();
    let (wires, inners) = mirrored(300);
    let packets: Vec<(u64, Vec<u8>)> = wires
        .into_iter()
        .enumerate()
        .map(|(i, w)| (1_700_000_000_000_000_000 + i as u64 * 1000, w))
        .collect();
    let input = common::write_file(
        scratch.path(),
        "in.pcap",
        &capgen::pcap_bytes(PcapFormat::ethernet(), &packets),
    );
    let out = disk.path(if pcapng { "out.pcapng" } else { "out.pcap" });
    let json = scratch.path().join("stats.jsonl");
    let run = common::run(&[
        "-r",
        &input.display().to_string(),
        "-w",
        &out.display().to_string(),
        "--stats-json",
        &json.display().to_string(),
    ]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(&out.display().to_string()) && run.stderr.contains("No space left"),
        "the message names the file and the cause:\n{}",
        run.stderr
    );
    let summary = run.summary();
    let lost = output_lost(&run.stderr);
    assert!(
        summary.written > 0 && lost > 0,
        "some frames fit, some not:\n{}",
        run.stderr
    );
    assert_eq!(
        summary.written + lost,
        summary.read,
        "every frame read is written or lost:\n{}",
        run.stderr
    );
    let stats = last_json(&json);
    assert_eq!(stats["frames_written"], summary.written);
    assert_eq!(stats["output_lost"], lost);
    assert_complete(&fs::read(&out).unwrap(), summary.written, &inners, pcapng);
}

#[test]
fn full_disk_during_read_counts_only_frames_in_the_file_pcap() {
    full_disk_during_read(false);
}

#[test]
fn full_disk_during_read_counts_only_frames_in_the_file_pcapng() {
    full_disk_during_read(true);
}

#[test]
fn full_disk_during_live_capture_counts_only_frames_in_the_file() {
    full_disk_during_live_capture(&["--listen", "198.51.100.2"], 20);
}

/// The same with a writer thread: frames queued to it when the disk filled count as
/// lost too.
#[test]
fn full_disk_during_threaded_live_capture_counts_only_frames_in_the_file() {
    full_disk_during_live_capture(&["--listen", "198.51.100.2", "--threads", "2"], 20);
}

/// All 200 frames (200 KB) at once into the ring (`-i`): they arrive in one or two
/// blocks, whose records go out in one vectored write each (`sink::vectored`), and the
/// 64 KiB disk fills in the middle of it: a short `writev`, then ENOSPC. Exactly the
/// frames in the file count as written, and the file ends after its last whole record.
#[test]
fn full_disk_during_a_vectored_write_from_the_ring() {
    full_disk_during_live_capture(&["-i", RING_INTERFACE], 200);
}

/// Stands for the sink end of the veth pair in [`full_disk_during_live_capture`]'s
/// arguments.
const RING_INTERFACE: &str = "<sink interface>";

fn full_disk_during_live_capture(args: &[&str], burst: usize) {
    if !root_or_skip() || !netns::root_or_skip() {
        return;
    }
    let net = netns::Net::new(1500);
    let disk = SmallDisk::mount(64 * 1024);
    let out = disk.path("live.pcap");
    let json = net.path("stats.jsonl");
    let stderr_path = net.path("spandump.stderr");
    let args: Vec<&str> = args
        .iter()
        .map(|&a| if a == RING_INTERFACE { &net.sink_if } else { a })
        .collect();
    let mut child = KillOnDrop(
        Command::new("ip")
            .args(["netns", "exec", &net.sink, common::spandump_bin()])
            .args(&args)
            .arg("-w")
            .arg(&out)
            .arg("--stats-json")
            .arg(&json)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("start spandump"),
    );
    let stderr = || fs::read_to_string(&stderr_path).unwrap_or_default();
    netns::wait_until("spandump's listening line", || {
        stderr().contains("spandump: listening on ")
    });
    let (wires, inners) = mirrored(200);
    // Sent in bursts: each idle moment flushes, so the disk fills mid-capture.
    let start = Instant::now();
    let mut sent = 0;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        if sent < wires.len() {
            net.send(&wires[sent..sent + burst]);
            sent += burst;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "spandump did not stop on a full disk:\n{}",
            stderr()
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = stderr();
    assert_eq!(status.code(), Some(1), "exit code:\n{stderr}");
    assert!(
        stderr.contains(&out.display().to_string()),
        "the message names the file:\n{stderr}"
    );
    let summary = parse_summary(&stderr).unwrap();
    let lost = output_lost(&stderr);
    assert!(summary.written > 0 && lost > 0, "{stderr}");
    assert_eq!(summary.written + lost, summary.read, "{stderr}");
    let stats = last_json(&json);
    assert_eq!(stats["frames_written"], summary.written);
    assert_eq!(stats["output_lost"], lost);
    assert_complete(&fs::read(&out).unwrap(), summary.written, &inners, false);
}
