//! Helpers shared by the end-to-end tests: run the real `spandump` binary, parse its
//! exit summary, read the capture files it writes, and ask tshark (the independent
//! oracle) about files.
//!
//! Every test binary includes this module with `mod common;` and uses a different
//! subset of it, hence the `dead_code` allowance.

#![allow(dead_code)]

/// The capture generator (file name `gen.rs`; `gen` is a reserved word in edition 2024).
#[path = "gen.rs"]
pub mod capgen;

/// Application-layer frames for the text printer's comparison with tcpdump.
pub mod apps;
/// VXLAN / GENEVE builders on top of the capture generator.
#[path = "gen_cloud.rs"]
pub mod cloudgen;

/// Namespaces and a veth pair for live tests that drive the library in-process.
pub mod netns;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

/// Path of the binary under test (built by cargo for integration tests).
pub fn spandump_bin() -> &'static str {
    env!("CARGO_BIN_EXE_spandump")
}

/// Path of a file in `testdata/`.
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// The exit summary spandump prints on stderr:
///
/// ```text
/// spandump: <R> outer packets read, <W> frames written, <F> filtered out, <S> skipped
///   rejected by the filter expression: <count>
///   skipped <cause-id>: <count>
///   note <id>: <count>
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub read: u64,
    pub written: u64,
    pub filtered: u64,
    pub skipped: u64,
    /// `rejected by the filter expression: <count>` (0 when absent).
    pub rejected: u64,
    /// `skipped <cause>: <count>` lines.
    pub skips: BTreeMap<String, u64>,
    /// `note <id>: <count>` lines.
    pub notes: BTreeMap<String, u64>,
}

impl Summary {
    pub fn skip(&self, cause: &str) -> u64 {
        self.skips.get(cause).copied().unwrap_or(0)
    }

    pub fn note(&self, id: &str) -> u64 {
        self.notes.get(id).copied().unwrap_or(0)
    }
}

fn parse_count(s: &str) -> Result<u64, String> {
    s.trim().parse().map_err(|_| format!("not a count: {s:?}"))
}

/// Parses the summary out of spandump's stderr (other lines may precede it).
pub fn parse_summary(stderr: &str) -> Result<Summary, String> {
    let mut lines = stderr.lines();
    let head = lines
        .by_ref()
        .find(|l| l.starts_with("spandump: ") && l.contains(" outer packets read, "))
        .ok_or_else(|| format!("no summary line in stderr:\n{stderr}"))?;
    // spandump: R outer packets read, W frames written, F filtered out, S skipped
    let rest = &head["spandump: ".len()..];
    let parts: Vec<&str> = rest.split(", ").collect();
    let suffixes = [
        " outer packets read",
        " frames written",
        " filtered out",
        " skipped",
    ];
    if parts.len() != 4 {
        return Err(format!("malformed summary line: {head:?}"));
    }
    let mut nums = [0u64; 4];
    for (i, (part, suffix)) in parts.iter().zip(suffixes).enumerate() {
        let n = part
            .strip_suffix(suffix)
            .ok_or_else(|| format!("malformed summary line (expected {suffix:?}): {head:?}"))?;
        nums[i] = parse_count(n)?;
    }
    let mut summary = Summary {
        read: nums[0],
        written: nums[1],
        filtered: nums[2],
        skipped: nums[3],
        ..Summary::default()
    };
    for line in lines {
        if let Some(n) = line.strip_prefix("  rejected by the filter expression: ") {
            summary.rejected = parse_count(n)?;
            continue;
        }
        let (map, body) = if let Some(b) = line.strip_prefix("  skipped ") {
            (&mut summary.skips, b)
        } else if let Some(b) = line.strip_prefix("  note ") {
            (&mut summary.notes, b)
        } else {
            break;
        };
        let (id, count) = body
            .rsplit_once(": ")
            .ok_or_else(|| format!("malformed summary detail line: {line:?}"))?;
        if map.insert(id.to_string(), parse_count(count)?).is_some() {
            return Err(format!("cause listed twice: {line:?}"));
        }
    }
    let per_cause: u64 = summary.skips.values().sum();
    if per_cause != summary.skipped {
        return Err(format!(
            "summary says {} skipped but the per-cause lines add up to {per_cause}:\n{stderr}",
            summary.skipped
        ));
    }
    Ok(summary)
}

/// Result of one spandump run.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The parsed summary; panics (showing the command and stderr) if there is none.
    pub fn summary(&self) -> Summary {
        match parse_summary(&self.stderr) {
            Ok(s) => s,
            Err(e) => panic!("spandump {}: {e}", self.args.join(" ")),
        }
    }

    /// Panics unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "spandump {} exited with {:?}, expected {code}; stderr:\n{}",
            self.args.join(" "),
            self.status,
            self.stderr
        );
        self
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// `spandump -r INPUT -w /dev/null --stats-json FILE`, which must succeed: its final
/// JSON line.
pub fn final_stats_of(input: &Path) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("stats.json");
    let input = input.display().to_string();
    let json_arg = json.display().to_string();
    run(&["-r", &input, "-w", "/dev/null", "--stats-json", &json_arg]).expect_code(0);
    let text = std::fs::read_to_string(&json).expect("stats JSON written");
    let last = text.lines().last().expect("a JSON line");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"))
}

/// Runs spandump with `args` and no stdin.
pub fn run<S: AsRef<str>>(args: &[S]) -> Run {
    run_with_stdin(args, None)
}

/// Runs spandump with `args`, feeding `stdin` (if any) from a thread.
pub fn run_with_stdin<S: AsRef<str>>(args: &[S], stdin: Option<Vec<u8>>) -> Run {
    let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
    let mut child = Command::new(spandump_bin())
        .args(&args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spandump");
    let feeder = stdin.map(|data| {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        std::thread::spawn(move || {
            // spandump may stop reading early (e.g. -c); a broken pipe is fine.
            let _ = pipe.write_all(&data);
        })
    });
    let out = child.wait_with_output().expect("wait for spandump");
    if let Some(f) = feeder {
        f.join().expect("stdin feeder thread");
    }
    Run {
        args,
        status: out.status,
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One packet record of a capture file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Timestamp in nanoseconds since the epoch (exact for the file's resolution).
    pub ts_ns: u64,
    pub orig_len: u32,
    pub data: Vec<u8>,
    /// Link type of the record (the file's, or its interface's in pcapng).
    pub link_type: u32,
}

/// A capture file as read back.
#[derive(Clone, Debug)]
pub struct Capture {
    pub pcapng: bool,
    /// Classic pcap: ns magic. pcapng: every interface has if_tsresol 9.
    pub nanos: bool,
    /// Classic pcap: the file's link type. pcapng: the first interface's.
    pub link_type: u32,
    pub records: Vec<Record>,
}

impl Capture {
    pub fn frames(&self) -> Vec<&[u8]> {
        self.records.iter().map(|r| r.data.as_slice()).collect()
    }
}

fn datalink_u32(d: DataLink) -> u32 {
    u32::from(d)
}

/// Reads a classic pcap or pcapng file (decided by the magic).
pub fn read_capture(path: &Path) -> Capture {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    read_capture_bytes(&bytes).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Reads a classic pcap or pcapng file from memory.
pub fn read_capture_bytes(bytes: &[u8]) -> Result<Capture, String> {
    if bytes.len() >= 4 && bytes[..4] == [0x0A, 0x0D, 0x0D, 0x0A] {
        read_pcapng(bytes)
    } else {
        read_pcap(bytes)
    }
}

fn read_pcap(bytes: &[u8]) -> Result<Capture, String> {
    let mut reader = PcapReader::new(bytes).map_err(|e| format!("pcap header: {e}"))?;
    let header = reader.header();
    let nanos = header.ts_resolution == pcap_file::TsResolution::NanoSecond;
    let link_type = datalink_u32(header.datalink);
    let mut records = Vec::new();
    while let Some(pkt) = reader.next_raw_packet() {
        let pkt = pkt.map_err(|e| format!("pcap record {}: {e}", records.len() + 1))?;
        let frac = u64::from(pkt.ts_frac);
        let sub_ns = if nanos { frac } else { frac * 1000 };
        if pkt.incl_len as usize != pkt.data.len() || pkt.incl_len > pkt.orig_len {
            return Err(format!(
                "pcap record {}: incl_len {} orig_len {} data {}",
                records.len() + 1,
                pkt.incl_len,
                pkt.orig_len,
                pkt.data.len()
            ));
        }
        records.push(Record {
            ts_ns: u64::from(pkt.ts_sec) * 1_000_000_000 + sub_ns,
            orig_len: pkt.orig_len,
            data: pkt.data.into_owned(),
            link_type,
        });
    }
    Ok(Capture {
        pcapng: false,
        nanos,
        link_type,
        records,
    })
}

fn read_pcapng(bytes: &[u8]) -> Result<Capture, String> {
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
    let mut reader = PcapNgReader::new(bytes).map_err(|e| format!("pcapng SHB: {e}"))?;
    // (link type, units per second) of each interface, in IDB order.
    let mut interfaces: Vec<(u32, u64)> = Vec::new();
    let mut records = Vec::new();
    while let Some(block) = reader.next_block() {
        let block = block.map_err(|e| format!("pcapng block: {e}"))?;
        match block {
            Block::InterfaceDescription(idb) => {
                let mut per_sec = 1_000_000u64;
                for opt in &idb.options {
                    if let InterfaceDescriptionOption::IfTsResol(r) = opt {
                        per_sec = if r & 0x80 != 0 {
                            1u64 << (r & 0x7F)
                        } else {
                            10u64.pow(u32::from(*r))
                        };
                    }
                }
                interfaces.push((datalink_u32(idb.linktype), per_sec));
            }
            Block::EnhancedPacket(epb) => {
                let &(link_type, per_sec) = interfaces
                    .get(epb.interface_id as usize)
                    .ok_or_else(|| format!("EPB for unknown interface {}", epb.interface_id))?;
                // pcap-file reports the raw 64-bit unit count as nanoseconds.
                let units = epb.timestamp.as_nanos() as u64;
                let ts_ns = (u128::from(units) * 1_000_000_000 / u128::from(per_sec)) as u64;
                records.push(Record {
                    ts_ns,
                    orig_len: epb.original_len,
                    data: epb.data.into_owned(),
                    link_type,
                });
            }
            Block::SimplePacket(_) => return Err("unexpected Simple Packet Block".into()),
            _ => {}
        }
    }
    Ok(Capture {
        pcapng: true,
        nanos: !interfaces.is_empty() && interfaces.iter().all(|&(_, p)| p == 1_000_000_000),
        link_type: interfaces.first().map_or(0, |&(l, _)| l),
        records,
    })
}

/// True if `tool` is on the PATH. When it is missing: on CI (env `CI` set) this panics,
/// because CI installs the tools and a silent skip would hide a broken setup; elsewhere
/// it prints a note and the caller skips.
pub fn have_tool(tool: &str) -> bool {
    static CACHE: OnceLock<std::sync::Mutex<BTreeMap<String, bool>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    let found = *map.entry(tool.to_string()).or_insert_with(|| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("{tool} is not installed but CI is set: .ci/run must install it");
        }
        eprintln!("note: {tool} not found, skipping this test (install it to run it)");
    }
    found
}

/// Runs `tshark -r file [-Y filter] -T fields -e f1 -e f2 ... [extra]` and returns one
/// row per frame, one column per field. `extra` can add `-E occurrence=a` etc.
pub fn tshark_fields(
    file: &Path,
    filter: Option<&str>,
    fields: &[&str],
    extra: &[&str],
) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(file);
    if let Some(f) = filter {
        cmd.arg("-Y").arg(f);
    }
    cmd.args(["-T", "fields", "-E", "separator=/t"]);
    for f in fields {
        cmd.arg("-e").arg(f);
    }
    cmd.args(extra);
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    p
}

/// Reads from `r` until `n` bytes arrived or EOF; returns what was read.
pub fn read_at_least<R: Read>(r: &mut R, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    buf.truncate(got);
    buf
}

/// Hex dump for assertion messages.
pub fn hex(data: &[u8]) -> String {
    data.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts that `got` frames equal `want` byte for byte, with a readable message.
pub fn assert_frames_eq(context: &str, got: &[&[u8]], want: &[Vec<u8>]) {
    assert_eq!(
        got.len(),
        want.len(),
        "{context}: {} frames written, expected {}",
        got.len(),
        want.len()
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            *g == w.as_slice(),
            "{context}: frame {} differs\n got  ({} bytes): {}\n want ({} bytes): {}",
            i + 1,
            g.len(),
            hex(g),
            w.len(),
            hex(w)
        );
    }
}

/// One spandump run on a capture held in memory (`spandump -r IN -w OUT.pcap ARGS`).
pub struct FileRun {
    pub run: Run,
    /// The output file as read back; `None` when spandump left none (or an unreadable
    /// one: `output_error` says why).
    pub out: Option<Capture>,
    pub output_error: Option<String>,
    pub dir: tempfile::TempDir,
}

impl FileRun {
    /// The written capture; panics with stderr if there is none.
    pub fn capture(&self) -> &Capture {
        match &self.out {
            Some(c) => c,
            None => panic!(
                "spandump {}: no readable output ({:?}); stderr:\n{}",
                self.run.args.join(" "),
                self.output_error,
                self.run.stderr
            ),
        }
    }
}

/// Writes `input` to a temporary `name`, runs spandump on it writing a pcap, and
/// reads the output back (whatever the exit code).
pub fn run_on_bytes(input: &[u8], name: &str, args: &[&str]) -> FileRun {
    let dir = tempfile::tempdir().expect("tempdir");
    let inp = write_file(dir.path(), name, input);
    let out = dir.path().join("out.pcap");
    let mut argv: Vec<String> = vec![
        "-r".into(),
        inp.display().to_string(),
        "-w".into(),
        out.display().to_string(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    let run = run(&argv);
    let (out, output_error) = match std::fs::read(&out) {
        Ok(bytes) => match read_capture_bytes(&bytes) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e)),
        },
        Err(e) => (None, Some(e.to_string())),
    };
    FileRun {
        run,
        out,
        output_error,
        dir,
    }
}

/// What tcpdump says of a filter expression it cannot compile: its `tcpdump: ` line,
/// without the prefix (libpcap's message), when reading `input`.
pub fn tcpdump_filter_error(input: &str, expression: &str) -> String {
    let out = Command::new("tcpdump")
        .args(["-r", input, expression])
        .output()
        .expect("run tcpdump");
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("tcpdump: "))
        .unwrap_or_else(|| panic!("tcpdump said: {stderr}"))
        .to_string()
}

/// The PIDs of `pid`'s descendants whose command name is `comm` (from /proc).
pub fn descendants_named(pid: u32, comm: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let mut parents = vec![pid];
    while let Some(parent) = parents.pop() {
        let children = format!("/proc/{parent}/task/{parent}/children");
        for child in std::fs::read_to_string(children)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            let name = std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
            if name.trim_end() == comm {
                found.push(child);
            }
            parents.push(child);
        }
    }
    found
}
