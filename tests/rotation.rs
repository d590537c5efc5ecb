//! Output rotation as tcpdump's `-C`, `-G`, `-W`, `-z`, checked against tcpdump itself
//! (`tcpdump -r inner.pcap -w X -C ...` on spandump's unrotated output) and read back
//! by tcpdump and tshark: every file complete on its own, the frames across the files
//! those of one unrotated run, byte-exact and in order.

mod common;

use common::capgen::{self, PcapFormat};
use common::netns::{DEADLINE, is_root};
use common::{have_tool, read_capture, read_capture_bytes, run, testdata};
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// About 2 MB of gretap mirror packets (key 1), inner frames of 60 to 1460 bytes.
fn big_outer(dir: &Path) -> PathBuf {
    let packets: Vec<(u64, Vec<u8>)> = (0..2600)
        .map(|i| {
            let inner = capgen::eth_udp_sized(60 + (i * 97) % 1400, i as u8);
            (
                1_700_000_000_000_000_000 + i as u64 * 1_000_000,
                capgen::gretap(Some(1), &inner),
            )
        })
        .collect();
    common::write_file(
        dir,
        "outer.pcap",
        &capgen::pcap_bytes(PcapFormat::ethernet(), &packets),
    )
}

/// Files in `dir` whose names start with `prefix`, sorted.
fn files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

fn spandump_ok(args: &[&str]) -> String {
    let r = run(args);
    r.expect_code(0);
    r.stderr
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// The same frames in each file as tcpdump's rotation of the same inner frames, with
/// and without -W (file names, wrap-around and contents byte for byte).
#[test]
fn size_rotation_matches_tcpdump() {
    if !have_tool("tcpdump") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let outer = &big_outer(d);
    let inner = d.join("inner.pcap");
    spandump_ok(&["-r", &path(outer), "-w", &path(&inner)]);
    for (flags, prefix) in [
        (&["-C", "1"][..], "plain"),
        (&["-C", "1", "-W", "2"][..], "ring2"),
        (&["-C", "1", "-W", "11"][..], "ring11"),
    ] {
        let ours = format!("s-{prefix}");
        let theirs = format!("t-{prefix}");
        let outer = path(outer);
        let mut args = vec!["-r", &outer];
        let w = path(&d.join(&ours));
        args.extend(["-w", &w]);
        args.extend(flags);
        spandump_ok(&args);
        let mut tcpdump = Command::new("tcpdump");
        tcpdump
            .arg("-r")
            .arg(&inner)
            .arg("-w")
            .arg(d.join(&theirs))
            .args(flags);
        if is_root() {
            // Debian's tcpdump becomes the user tcpdump before writing, unless told.
            tcpdump.args(["-Z", "root"]);
        }
        let out = tcpdump.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let ours_files = files(d, &ours);
        let theirs_files = files(d, &theirs);
        let strip = |names: &[String], p: &str| -> Vec<String> {
            names.iter().map(|n| n[p.len()..].to_string()).collect()
        };
        assert_eq!(
            strip(&ours_files, &ours),
            strip(&theirs_files, &theirs),
            "file names with {flags:?}"
        );
        assert!(ours_files.len() >= 2, "{flags:?} rotated: {ours_files:?}");
        for (a, b) in ours_files.iter().zip(&theirs_files) {
            assert!(
                fs::read(d.join(a)).unwrap() == fs::read(d.join(b)).unwrap(),
                "{a} differs from tcpdump's {b}"
            );
        }
    }
    // -W 2 wrapped around: 3 files' worth, 2 names.
    assert_eq!(files(d, "s-ring2"), ["s-ring20", "s-ring21"]);
    assert_eq!(files(d, "s-ring11")[..2], ["s-ring1100", "s-ring1101"]);
}

/// Reads `file` with tcpdump and tshark; returns tshark's frame count.
fn readable_by_both(file: &Path) -> usize {
    let out = Command::new("tcpdump")
        .args(["-n", "-r"])
        .arg(file)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tcpdump cannot read {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    common::tshark_fields(file, None, &["frame.number"], &[]).len()
}

/// pcapng block types in order.
fn pcapng_blocks(bytes: &[u8]) -> Vec<u32> {
    let mut at = 0;
    let mut types = Vec::new();
    while at + 12 <= bytes.len() {
        types.push(u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap()));
        at += u32::from_ne_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    assert_eq!(at, bytes.len(), "blocks end with the file");
    types
}

fn rotated_files_hold_the_unrotated_frames(pcapng: bool) {
    if !have_tool("tcpdump") || !have_tool("tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // OVN's five mirror sessions: one pcapng interface each.
    let input = path(&testdata("ovn-mirrors.pcap"));
    let ext = if pcapng { "pcapng" } else { "pcap" };
    let whole = d.join(format!("whole.{ext}"));
    spandump_ok(&["-r", &input, "-w", &path(&whole)]);
    let template = d.join(format!("part.{ext}"));
    spandump_ok(&["-r", &input, "-w", &path(&template), "-C", "16k"]);
    let parts = files(d, "part.");
    assert!(parts.len() >= 4, "rotated into {parts:?}");
    let want = read_capture(&whole);
    let mut got = Vec::new();
    for name in &parts {
        let file = d.join(name);
        let bytes = fs::read(&file).unwrap();
        let capture = read_capture_bytes(&bytes).unwrap();
        assert_eq!(
            readable_by_both(&file),
            capture.records.len(),
            "tshark reads every frame of {name}"
        );
        if pcapng {
            let blocks = pcapng_blocks(&bytes);
            let idbs = blocks.iter().filter(|&&t| t == 1).count();
            let isbs = blocks.iter().filter(|&&t| t == 5).count();
            assert_eq!(blocks[0], 0x0A0D_0D0A, "{name} starts with a section");
            assert!(idbs >= 1 && isbs == idbs, "{name}: {blocks:?}");
            assert!(
                blocks.iter().rev().take(isbs).all(|&t| t == 5),
                "{name} ends with its statistics: {blocks:?}"
            );
            let interfaces = tshark_interfaces(&file);
            assert_eq!(
                interfaces.len(),
                idbs,
                "{name}: one interface per session held"
            );
        }
        got.extend(capture.records);
    }
    assert_eq!(got.len(), want.records.len(), "frames across the files");
    for (i, (g, w)) in got.iter().zip(&want.records).enumerate() {
        assert!(g == w, "frame {i} differs from the unrotated run");
    }
}

/// Interface names of the frames of a pcapng file, distinct.
fn tshark_interfaces(file: &Path) -> std::collections::BTreeSet<String> {
    common::tshark_fields(file, None, &["frame.interface_name"], &[])
        .into_iter()
        .map(|row| row.join(""))
        .collect()
}

#[test]
fn rotated_pcap_files_hold_the_unrotated_frames() {
    rotated_files_hold_the_unrotated_frames(false);
}

#[test]
fn rotated_pcapng_files_hold_the_unrotated_frames() {
    rotated_files_hold_the_unrotated_frames(true);
}

/// -z runs once per file a rotation closed, directly (a name full of shell syntax
/// arrives as one argument), after the file is complete; not on the last file.
#[test]
fn post_rotate_command_runs_once_per_closed_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = d.join("log");
    let script = d.join("record");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ $# -eq 1 ] || exit 1\nprintf '%s %s\\n' \"$(wc -c < \"$1\")\" \"$1\" >> '{}'\n",
            log.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let template = d.join("m $(touch pwned);'x.pcap");
    spandump_ok(&[
        "-r",
        &path(&big_outer(d)),
        "-w",
        &path(&template),
        "-C",
        "1",
        "-z",
        &path(&script),
    ]);
    let parts = files(d, "m ");
    assert_eq!(parts.len(), 3, "{parts:?}");
    let logged = fs::read_to_string(&log).unwrap();
    let mut lines: Vec<&str> = logged.lines().collect();
    lines.sort();
    let want: Vec<String> = parts[..2]
        .iter()
        .map(|n| {
            let p = d.join(n);
            format!("{} {}", fs::metadata(&p).unwrap().len(), p.display())
        })
        .collect();
    assert_eq!(lines, want, "once per closed file, with the file complete");
    assert!(!d.join("pwned").exists(), "the name went through a shell");
}

/// Files created after -Z USER belong to USER, the first one included.
#[test]
fn rotated_files_belong_to_the_z_user() {
    if !is_root() {
        assert!(std::env::var_os("CI").is_none(), "needs root on CI");
        eprintln!("note: not root, skipping the -Z ownership test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let outer = big_outer(d);
    let out = d.join("out");
    fs::create_dir(&out).unwrap();
    fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    spandump_ok(&[
        "-r",
        &path(&outer),
        "-w",
        &path(&out.join("z.pcap")),
        "-C",
        "1",
        "-Z",
        "nobody",
    ]);
    let parts = files(&out, "z.pcap");
    assert_eq!(parts.len(), 3, "{parts:?}");
    for name in parts {
        let meta = fs::metadata(out.join(&name)).unwrap();
        assert_eq!(meta.uid(), 65534, "{name} belongs to nobody");
    }
}

/// -G: a new file on the first frame once SECONDS passed, named by strftime; with -W
/// alone, the run stops after COUNT files.
#[test]
fn time_rotation_names_by_strftime_and_stops_at_w() {
    for (stop_after_one, ext) in [(false, "pcap"), (true, "pcap"), (false, "pcapng")] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let template = d.join(format!("g-%s.{ext}"));
        let mut args = vec!["-r".to_string(), "-".into(), "-w".into(), path(&template)];
        args.extend(["-G", "1", "-U"].map(String::from));
        if stop_after_one {
            args.extend(["-W", "1"].map(String::from));
        }
        let before = unix_now();
        let mut child = Command::new(common::spandump_bin())
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let frames: Vec<Vec<u8>> = (0..6).map(|i| capgen::eth_udp_sized(100, i)).collect();
        let packet = |i: usize| {
            let mut w = capgen::PcapWriter::new(Vec::new(), PcapFormat::ethernet()).unwrap();
            w.write(
                1_700_000_000_000_000_000 + i as u64,
                &capgen::gretap(None, &frames[i]),
            )
            .unwrap();
            w.into_inner()
        };
        // The header, then three packets; wait until they are in the first file.
        stdin.write_all(&packet(0)).unwrap();
        for i in 1..3 {
            stdin.write_all(&packet(i)[24..]).unwrap();
        }
        stdin.flush().unwrap();
        let first = wait_for(d, 3);
        let stamp = |n: &str| -> u64 { n["g-".len()..n.len() - ext.len() - 1].parse().unwrap() };
        let opened = stamp(&first);
        let after = unix_now();
        assert!(
            (before..=after).contains(&opened),
            "{first} named by its opening time"
        );
        // Once the period is over (whole seconds of the clock since the file was opened,
        // as tcpdump), three more.
        let start = Instant::now();
        while unix_now() < opened + 1 {
            assert!(start.elapsed() < DEADLINE);
            std::thread::sleep(Duration::from_millis(20));
        }
        for i in 3..6 {
            stdin.write_all(&packet(i)[24..]).unwrap_or(());
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let names = files(d, "g-");
        let frames_in = |n: &str| read_capture(&d.join(n)).records.len();
        assert_eq!(frames_in(&first), 3);
        if stop_after_one {
            assert_eq!(names, std::slice::from_ref(&first), "{stderr}");
            assert!(stderr.contains("maximum file limit reached: 1"), "{stderr}");
        } else {
            assert_eq!(names.len(), 2, "{names:?}");
            assert!(stamp(&names[1]) > stamp(&first));
            assert_eq!(frames_in(&names[1]), 3);
        }
        if have_tool("tcpdump") && have_tool("tshark") {
            for name in &names {
                assert_eq!(readable_by_both(&d.join(name)), 3, "{name}");
            }
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits until the one `g-` file in `dir` holds `n` frames; returns its name.
fn wait_for(dir: &Path, n: usize) -> String {
    let start = Instant::now();
    loop {
        if let [name] = &files(dir, "g-")[..]
            && read_capture_bytes(&fs::read(dir.join(name)).unwrap_or_default())
                .is_ok_and(|c| c.records.len() >= n)
        {
            return name.clone();
        }
        assert!(start.elapsed() < DEADLINE, "no file with {n} frames");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn rotation_flags_need_a_capture_file() {
    let input = path(&testdata("ovn-mirrors.pcap"));
    for args in [
        &["-C", "1"][..],
        &["-C", "1", "-w", "-"][..],
        &["-W", "3", "-w", "/dev/null"][..],
        &["-z", "gzip", "-w", "/dev/null"][..],
        &["-G", "5", "-w", "bad-%Q"][..],
        &["-C", "0", "-w", "/dev/null"][..],
        &["-C", "1x", "-w", "/dev/null"][..],
    ] {
        let mut argv = vec!["-r", &input];
        argv.extend(args);
        run(&argv).expect_code(2);
    }
}
