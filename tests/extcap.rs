//! spandump as a Wireshark extcap program (extcap(4)).
//!
//! * The protocol driven directly: every line of `--extcap-interfaces`, `--extcap-dlts`
//!   and `--extcap-config` parses per the grammar (`{key=value}` pairs, unique arg
//!   numbers, values of existing selectors, calls spandump accepts); both `--opt=value`
//!   and `--opt value`; capture-filter validation (nothing for a valid one, libpcap's
//!   message for an invalid one).
//! * A capture into a FIFO (root, in namespaces the test builds): the pcapng it writes
//!   holds the frames `-r` of the same underlay writes, one interface per session,
//!   with nothing on stderr; SIGTERM and a closed FIFO both end it cleanly.
//! * Through real tshark, headless, as an unprivileged user with only CAP_NET_RAW (as
//!   root, tshark ignores `WIRESHARK_EXTCAP_DIR`): `tshark -D` lists the interfaces,
//!   and `tshark -i spandump-interface -o extcap...:VALUE -f EXPR -c N -w out.pcapng`
//!   captures exactly the expected inner frames, per-session interface names kept, and
//!   leaves spandump gone and the file complete.

mod common;

use common::capgen::{self, ErspanII, Ethernet, Gre, ethertype};
use common::netns::{self, DEADLINE, SENDER_MAC, SENDER_V4, SINK_MAC, SINK_V4, root_or_skip, sh};
use common::{have_tool, read_capture, read_capture_bytes, run, spandump_bin};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LISTEN: &str = "spandump-listen";
const INTERFACE: &str = "spandump-interface";
const UDP: &str = "spandump-udp";

/// One line of extcap output: its sentence and its `{key=value}` pairs, in order.
fn parse_line(line: &str) -> (String, Vec<(String, String)>) {
    let (sentence, mut rest) = line
        .split_once(' ')
        .unwrap_or_else(|| panic!("no fields: {line:?}"));
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('{')
            .unwrap_or_else(|| panic!("field does not open with '{{': {line:?}"));
        let end = inner
            .find('}')
            .unwrap_or_else(|| panic!("unclosed field: {line:?}"));
        let field = &inner[..end];
        assert!(!field.contains('{'), "a brace inside a value: {line:?}");
        let (k, v) = field
            .split_once('=')
            .unwrap_or_else(|| panic!("field without '=': {line:?}"));
        assert!(
            !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase()),
            "key {k:?}: {line:?}"
        );
        fields.push((k.to_string(), v.to_string()));
        rest = &inner[end + 1..];
    }
    (sentence.to_string(), fields)
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn stdout_of(args: &[&str]) -> String {
    let r = run(args);
    r.expect_code(0);
    assert!(
        r.stderr.is_empty(),
        "{args:?} wrote to stderr: {}",
        r.stderr
    );
    r.stdout_text()
}

#[test]
fn interfaces_and_dlts_follow_the_grammar() {
    for args in [
        &["--extcap-interfaces"][..],
        &["--extcap-interfaces", "--extcap-version=4.0.17"],
        &["--extcap-interfaces", "--extcap-version", "4.2.6"],
    ] {
        let text = stdout_of(args);
        let lines: Vec<_> = text.lines().map(parse_line).collect();
        assert_eq!(lines[0].0, "extcap");
        assert_eq!(
            field(&lines[0].1, "version"),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert!(field(&lines[0].1, "help").is_some());
        let interfaces: Vec<_> = lines[1..]
            .iter()
            .map(|(s, f)| {
                assert_eq!(s, "interface");
                assert!(field(f, "display").is_some_and(|d| d.contains("mirror")));
                field(f, "value").unwrap().to_string()
            })
            .collect();
        assert_eq!(interfaces, [LISTEN, INTERFACE, UDP]);
    }
    for iface in [LISTEN, INTERFACE, UDP] {
        let joined = format!("--extcap-interface={iface}");
        for args in [
            vec!["--extcap-dlts", "--extcap-interface", iface],
            vec!["--extcap-dlts", joined.as_str()],
        ] {
            let text = stdout_of(&args);
            let (sentence, fields) = parse_line(text.trim_end());
            assert_eq!(sentence, "dlt");
            assert_eq!(field(&fields, "number"), Some("1"));
            assert_eq!(field(&fields, "name"), Some("EN10MB"));
        }
    }
    let unknown = run(&["--extcap-config", "--extcap-interface", "nope"]);
    unknown.expect_code(2);
    assert!(unknown.stdout.is_empty());
    assert_eq!(unknown.stderr.lines().count(), 1, "{}", unknown.stderr);
}

#[test]
fn config_follows_the_grammar_and_offers_the_command_line() {
    let help = run(&["--help"]).stdout_text();
    for iface in [LISTEN, INTERFACE, UDP] {
        let text = stdout_of(&["--extcap-config", "--extcap-interface", iface]);
        let mut args: BTreeMap<u32, (String, String)> = BTreeMap::new();
        let mut values: BTreeMap<u32, Vec<(String, bool)>> = BTreeMap::new();
        for line in text.lines() {
            let (sentence, fields) = parse_line(line);
            match sentence.as_str() {
                "arg" => {
                    let number: u32 = field(&fields, "number").unwrap().parse().unwrap();
                    let call = field(&fields, "call").unwrap().to_string();
                    let kind = field(&fields, "type").unwrap().to_string();
                    for key in ["display", "tooltip"] {
                        assert!(field(&fields, key).is_some_and(|v| !v.is_empty()), "{line}");
                    }
                    assert!(
                        [
                            "unsigned",
                            "string",
                            "selector",
                            "boolflag",
                            "editselector",
                            "integer"
                        ]
                        .contains(&kind.as_str()),
                        "{line}"
                    );
                    if let Some(range) = field(&fields, "range") {
                        let (lo, hi) = range.split_once(',').unwrap();
                        assert!(lo.parse::<u64>().unwrap() <= hi.parse::<u64>().unwrap());
                    }
                    // Every call is one of spandump's own options.
                    assert!(help.contains(&call), "{call} is not in --help");
                    assert!(
                        args.insert(number, (call, kind)).is_none(),
                        "arg number {number} twice"
                    );
                }
                "value" => {
                    let arg: u32 = field(&fields, "arg").unwrap().parse().unwrap();
                    let value = field(&fields, "value").unwrap().to_string();
                    assert!(field(&fields, "display").is_some(), "{line}");
                    let default = field(&fields, "default") == Some("true");
                    values.entry(arg).or_default().push((value, default));
                }
                other => panic!("unexpected sentence {other}: {line}"),
            }
        }
        let calls: BTreeSet<&str> = args.values().map(|(c, _)| c.as_str()).collect();
        for want in [
            "--vni",
            "--key",
            "--session",
            "--index",
            "--direction",
            "--from",
            "--threads",
            "--buffer-size",
        ] {
            assert!(calls.contains(want), "{iface}: no {want}");
        }
        let source = match iface {
            LISTEN => "--listen",
            UDP => "--udp",
            _ => "--interface",
        };
        assert!(calls.contains(source));
        assert_eq!(calls.contains("--raw-socket"), iface == LISTEN);
        for (arg, vals) in &values {
            let (call, kind) = args.get(arg).expect("value of an existing arg");
            assert!(kind.contains("selector"), "{call}: values on a {kind}");
            assert!(vals.iter().filter(|(_, d)| *d).count() <= 1, "{call}");
            // Each value is one the command line takes.
            for (value, _) in vals {
                if call == "--direction" {
                    let r = run(&["-r", "/dev/null", "--direction", value]);
                    assert_ne!(r.code(), Some(2), "--direction {value}: {}", r.stderr);
                }
            }
        }
        // The source selector offers this host's addresses or interfaces.
        let source_arg = args.iter().find(|(_, (c, _))| c == source).unwrap().0;
        let offered: Vec<&str> = values[source_arg].iter().map(|(v, _)| v.as_str()).collect();
        match iface {
            LISTEN => assert!(offered.contains(&"127.0.0.1"), "{offered:?}"),
            UDP => assert!(offered.contains(&"0.0.0.0"), "{offered:?}"),
            _ => assert!(offered.contains(&"lo"), "{offered:?}"),
        }
    }
}

#[test]
fn capture_filter_validation_answers_as_wireshark_expects() {
    if !have_tool("tcpdump") {
        return;
    }
    let valid = run(&[
        "--extcap-capture-filter",
        "udp port 53",
        "--extcap-interface",
        LISTEN,
    ]);
    valid.expect_code(0);
    assert!(valid.stdout.is_empty() && valid.stderr.is_empty());
    let valid = run(&["--extcap-capture-filter=", "--extcap-interface", INTERFACE]);
    valid.expect_code(0);
    assert!(valid.stdout.is_empty());
    let input = common::testdata("ovs-mirrors.pcap").display().to_string();
    for bad in ["udp port", "tcp[tcpflags] & tcp-nope != 0", "host"] {
        let r = run(&["--extcap-capture-filter", bad, "--extcap-interface", LISTEN]);
        r.expect_code(0);
        let message = common::tcpdump_filter_error(&input, bad);
        assert_eq!(r.stdout_text(), format!("{message}\n"), "'{bad}'");
    }
}

/// An inner frame and its ERSPAN session, if it has one.
type Inner = (Option<u16>, Vec<u8>);

/// Mirror packets from the sender: ERSPAN II sessions 77 and 5 and GRE key 99 carrying
/// UDP, and L3 GRE carrying ICMP (which a `udp` filter rejects).
fn mirrored(count: usize) -> (Vec<Vec<u8>>, Vec<Inner>) {
    let mut wire = Vec::new();
    let mut inner = Vec::new();
    for i in 0..count {
        let udp = capgen::eth_udp_sized(60 + (i * 53) % 900, i as u8);
        let (gre, payload, session, frame) = match i % 4 {
            0 | 1 => {
                let session = if i % 4 == 0 { 77 } else { 5 };
                let gre = Gre::new(ethertype::ERSPAN_II).seq(i as u32);
                let payload = ErspanII::new(session, 7).build(&udp);
                (gre, payload, Some(session), udp)
            }
            2 => (Gre::new(ethertype::TEB).key(99), udp.clone(), None, udp),
            _ => {
                let ip = capgen::ipv4_icmp_echo([192, 0, 2, 7], [192, 0, 2, 8], i as u16, 32);
                let frame = capgen::synthesized_ethernet(&ip);
                (Gre::new(ethertype::IPV4), ip, None, frame)
            }
        };
        let ip = capgen::ipv4_gre(SENDER_V4, SINK_V4, &gre, &payload);
        wire.push(
            Ethernet::new(ethertype::IPV4)
                .macs(SENDER_MAC, SINK_MAC)
                .build(&ip),
        );
        inner.push((session, frame));
    }
    (wire, inner)
}

/// Reads a FIFO to its end on a thread; the bytes so far are in the returned buffer.
fn read_fifo(
    path: &Path,
    stop_after: Option<usize>,
) -> (Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::clone(&buffer);
    let path = path.to_path_buf();
    let reader = std::thread::spawn(move || {
        let mut fifo = fs::File::open(&path).expect("open the FIFO");
        let mut chunk = [0u8; 65536];
        loop {
            let n = fifo.read(&mut chunk).unwrap_or(0);
            if n == 0 {
                return;
            }
            let mut b = shared.lock().unwrap();
            b.extend_from_slice(&chunk[..n]);
            if stop_after.is_some_and(|limit| b.len() >= limit) {
                // Close the FIFO, as a Wireshark that went away would.
                return;
            }
        }
    });
    (buffer, reader)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
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

impl Started {
    fn wait(&mut self) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "the process did not stop");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// `-r` of the same underlay: the reference output (pcapng, one interface per session).
fn reference(net: &netns::Net, wire: &[Vec<u8>], args: &[&str]) -> PathBuf {
    let input = net.write_pcap("underlay.pcap", wire);
    let out = net.path("reference.pcapng");
    let mut all = vec![
        "-r".to_string(),
        input.display().to_string(),
        "-w".into(),
        out.display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    run(&all).expect_code(0);
    out
}

fn interface_names(path: &Path) -> Vec<String> {
    common::tshark_fields(path, None, &["frame.interface_name"], &[])
        .into_iter()
        .map(|row| row[0].clone())
        .collect()
}

#[test]
fn capture_into_a_fifo_writes_what_w_writes_and_nothing_on_stderr() {
    if !root_or_skip() || !have_tool("tshark") {
        return;
    }
    let net = netns::Net::new(1500);
    let fifo = net.path("fifo");
    sh("mkfifo", &[fifo.to_str().unwrap()]);
    let (buffer, reader) = read_fifo(&fifo, None);
    let stderr_path = net.path("stderr");
    #[rustfmt::skip]
    let child = Command::new("ip")
        .args(["netns", "exec", &net.sink, spandump_bin(),
               "--capture", "--extcap-interface", INTERFACE, "--fifo", fifo.to_str().unwrap(),
               "--interface", &net.sink_if, "--extcap-capture-filter", "udp"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("start spandump");
    let mut spandump = Started(child);
    // The section header arrives once the ring is bound and filtering.
    wait_for("the pcapng header", || buffer.lock().unwrap().len() >= 28);
    let (wire, inner) = mirrored(80);
    net.send(&wire);
    let want: Vec<Vec<u8>> = inner
        .iter()
        .filter(|(_, f)| f.len() >= 24 && f[23] == 17)
        .map(|(_, f)| f.clone())
        .collect();
    assert_eq!(want.len(), 60);
    wait_for("every kept frame in the FIFO", || {
        read_capture_bytes(&buffer.lock().unwrap()).is_ok_and(|c| c.records.len() >= want.len())
    });
    sh("kill", &["-TERM", &spandump.0.id().to_string()]);
    assert!(spandump.wait().success());
    reader.join().expect("reader");
    assert_eq!(
        fs::read_to_string(&stderr_path).unwrap(),
        "",
        "stderr must stay empty"
    );
    let got = net.path("got.pcapng");
    fs::write(&got, buffer.lock().unwrap().as_slice()).unwrap();
    let captured = read_capture(&got);
    assert!(captured.pcapng);
    common::assert_frames_eq("extcap capture", &captured.frames(), &want);
    // The same frames and the same per-session interfaces as `-w` of the same input.
    let reference = reference(&net, &wire, &["udp"]);
    assert_eq!(captured.frames(), read_capture(&reference).frames());
    let names = interface_names(&got);
    assert_eq!(names, interface_names(&reference));
    let distinct: BTreeSet<&String> = names.iter().collect();
    assert_eq!(distinct.len(), 3, "{distinct:?}");
}

#[test]
fn a_closed_fifo_ends_the_capture_cleanly() {
    if !root_or_skip() {
        return;
    }
    let net = netns::Net::new(1500);
    let fifo = net.path("fifo");
    sh("mkfifo", &[fifo.to_str().unwrap()]);
    // The reader takes the section header, then goes away.
    let (_, reader) = read_fifo(&fifo, Some(1));
    let stderr_path = net.path("stderr");
    #[rustfmt::skip]
    let child = Command::new("ip")
        .args(["netns", "exec", &net.sink, spandump_bin(),
               "--capture", "--extcap-interface", LISTEN, "--fifo", fifo.to_str().unwrap(),
               "--listen", "198.51.100.2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("start spandump");
    let mut spandump = Started(child);
    reader.join().expect("reader");
    let (wire, _) = mirrored(8);
    // Frames keep coming until spandump notices the reader is gone.
    let start = Instant::now();
    while spandump.0.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < DEADLINE,
            "spandump kept running on a closed FIFO"
        );
        net.send(&wire);
    }
    assert!(spandump.wait().success());
    assert_eq!(fs::read_to_string(&stderr_path).unwrap(), "");
}

/// Whether process `pid` has a file open whose path contains `part`.
fn has_open(pid: u32, part: &str) -> bool {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| fs::read_link(e.ok()?.path()).ok())
                .any(|target| target.to_string_lossy().contains(part))
        })
        .unwrap_or(false)
}

/// tshark run as uid 65534 with only CAP_NET_RAW (ambient, so spandump inherits it),
/// with spandump in a private extcap folder.
fn tshark_as_user(net: &netns::Net, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    #[rustfmt::skip]
    cmd.args(["netns", "exec", &net.sink,
              "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
              "--inh-caps=-all,+net_raw", "--ambient-caps=-all,+net_raw",
              "--bounding-set=-all,+net_raw", "env"])
        .arg(format!("HOME={}", dir.display()))
        .arg(format!("WIRESHARK_EXTCAP_DIR={}", dir.display()))
        .arg("tshark")
        .args(args);
    cmd
}

#[test]
fn tshark_lists_and_captures_through_the_extcap() {
    if !root_or_skip() || !have_tool("tshark") || !have_tool("setpriv") {
        return;
    }
    let net = netns::Net::new(1500);
    // A folder the unprivileged user can read, holding a copy of the binary.
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let extcap = dir.path().join("spandump");
    fs::copy(spandump_bin(), &extcap).unwrap();
    fs::set_permissions(&extcap, fs::Permissions::from_mode(0o755)).unwrap();

    let listed = tshark_as_user(&net, dir.path(), &["-D"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains(&format!("{LISTEN} (GRE/ERSPAN mirror sink")),
        "{listed}"
    );
    assert!(listed.contains(&format!("{INTERFACE} (GRE/ERSPAN mirror on an interface")));

    let (wire, inner) = mirrored(80);
    // Session 77 and the expression: the udp frames of that session.
    let want: Vec<Vec<u8>> = inner
        .iter()
        .filter(|(s, _)| *s == Some(77))
        .map(|(_, f)| f.clone())
        .collect();
    let out = dir.path().join("out.pcapng");
    let count = want.len().to_string();
    let iface_pref = format!("extcap.spandump_interface.interface:{}", net.sink_if);
    #[rustfmt::skip]
    let child = tshark_as_user(&net, dir.path(), &[
        "-i", INTERFACE, "-o", &iface_pref, "-o", "extcap.spandump_interface.session:77",
        "-f", "udp", "-c", &count, "-w", out.to_str().unwrap(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(fs::File::create(net.path("tshark.stderr")).unwrap())
    .spawn()
    .expect("start tshark");
    let mut tshark = Started(child);
    let tshark_pid = tshark.0.id();
    // spandump has the FIFO open once its ring is bound and filtering.
    let mut spandump_pid = None;
    wait_for("spandump started by tshark, writing its FIFO", || {
        spandump_pid = common::descendants_named(tshark_pid, "spandump")
            .first()
            .copied();
        spandump_pid.is_some_and(|pid| has_open(pid, "wireshark_extcap"))
    });
    let spandump_pid = spandump_pid.unwrap();
    net.send(&wire);
    let status = tshark.wait();
    let stderr = fs::read_to_string(net.path("tshark.stderr")).unwrap();
    assert!(status.success(), "tshark: {stderr}");
    // tshark stopped spandump (SIGTERM) and the file is complete.
    wait_for("spandump to end", || {
        !Path::new(&format!("/proc/{spandump_pid}")).exists()
            || fs::read_to_string(format!("/proc/{spandump_pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
    let got = read_capture(&out);
    common::assert_frames_eq("tshark -i spandump-interface", &got.frames(), &want);
    let names = interface_names(&out);
    assert_eq!(names.len(), want.len());
    assert!(
        names.iter().all(|n| n == "erspan-ii 198.51.100.1 sid 77"),
        "{names:?}"
    );
    assert!(
        !stderr.contains("spandump:"),
        "spandump wrote to stderr: {stderr}"
    );
}

#[test]
fn extcap_install_links_into_wiresharks_folder() {
    // A stand-in tshark that names a personal extcap folder, as Wireshark 4.2+ does.
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("personal/extcap");
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let fake = bin.join("tshark");
    fs::write(
        &fake,
        format!(
            "#!/bin/sh\nprintf 'Temp:\\t/tmp\\nExtcap path:\\t/nonexistent/global\\nPersonal Extcap path:\\t{}\\n'\n",
            folder.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for _ in 0..2 {
        // Twice: a second install replaces the link.
        let out = Command::new(spandump_bin())
            .arg("--extcap-install")
            .env("PATH", &path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let link = folder.join("spandump");
        assert!(stdout.contains(&link.display().to_string()), "{stdout}");
        assert!(stdout.contains("setcap cap_net_raw+ep"), "{stdout}");
        let target = fs::read_link(&link).unwrap();
        assert_eq!(target, Path::new(spandump_bin()).canonicalize().unwrap());
    }
    // The real tshark of Debian 12 names only the global folder, which a user cannot
    // write: a one-line error that says to use sudo.
    if netns::is_root() && have_tool("tshark") && have_tool("setpriv") {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg("env")
            .arg(format!("HOME={}", dir.path().display()))
            .arg(spandump_bin())
            .arg("--extcap-install")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            // Wireshark 4.2+: the personal folder under the user's home.
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains(&dir.path().display().to_string()),
                "{stdout}"
            );
        } else {
            assert_eq!(out.status.code(), Some(1));
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(
                stderr.contains("sudo spandump --extcap-install"),
                "{stderr}"
            );
        }
    }
}

/// Real errors of a capture: one line on stderr that says what to do, a non-zero exit,
/// and nothing written into Wireshark's FIFO.
#[test]
fn capture_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo").display().to_string();
    let capture = |extra: &[&str]| {
        let mut args = vec!["--capture", "--extcap-interface", LISTEN, "--fifo", &fifo];
        args.extend_from_slice(extra);
        run(&args)
    };
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["--listen", "203.0.113.9"],
            1,
            "not an address of this host",
        ),
        (
            vec![
                "--listen",
                "127.0.0.1",
                "--extcap-capture-filter",
                "tcp port",
            ],
            2,
            "syntax error",
        ),
        (vec![], 2, "needs the sink address"),
    ];
    for (extra, code, says) in cases {
        let r = capture(&extra);
        r.expect_code(code);
        assert_eq!(r.stderr.lines().count(), 1, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{extra:?}: {}", r.stderr);
        assert!(!Path::new(&fifo).exists(), "{extra:?} created the output");
    }
    if netns::is_root() && have_tool("setpriv") {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["--inh-caps=-all", "--bounding-set=-all"])
            .arg(spandump_bin())
            .args(["--capture", "--extcap-interface", LISTEN, "--fifo", &fifo])
            .args(["--listen", "127.0.0.1"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
    }
}

/// The UDP interface needs no privilege: a capture into a FIFO from VXLAN datagrams
/// sent to a loopback port, as an ordinary user would run it from Wireshark.
#[test]
fn udp_capture_into_a_fifo_needs_no_privilege() {
    use common::cloudgen as cloud;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    sh("mkfifo", &[fifo.to_str().unwrap()]);
    // A free loopback port, declared a VXLAN port.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (buffer, reader) = read_fifo(&fifo, None);
    let mut cmd = if netns::is_root() && have_tool("setpriv") {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["--inh-caps=-all", "--bounding-set=-all"])
            .arg(spandump_bin());
        // The FIFO must be writable by that user.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        fs::set_permissions(&fifo, fs::Permissions::from_mode(0o666)).unwrap();
        c
    } else {
        Command::new(spandump_bin())
    };
    let stderr_path = dir.path().join("stderr");
    let bind = format!("127.0.0.1:{port}");
    let port_arg = port.to_string();
    #[rustfmt::skip]
    cmd.args(["--capture", "--extcap-interface", UDP, "--fifo", fifo.to_str().unwrap(),
              "--udp", &bind, "--vxlan-port", &port_arg, "--vni", "77"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr_path).unwrap());
    let mut spandump = Started(cmd.spawn().expect("start spandump"));
    wait_for("the pcapng header", || buffer.lock().unwrap().len() >= 28);
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut want = Vec::new();
    for i in 0..20usize {
        let frame = capgen::eth_udp_sized(60 + i * 20, i as u8);
        let vni = if i % 2 == 0 { 77 } else { 78 };
        sender
            .send_to(&cloud::vxlan(0x08, vni, &frame), &bind)
            .unwrap();
        if vni == 77 {
            want.push(frame);
        }
    }
    wait_for("the VNI 77 frames in the FIFO", || {
        read_capture_bytes(&buffer.lock().unwrap()).is_ok_and(|c| c.records.len() >= want.len())
    });
    sh("kill", &["-TERM", &spandump.0.id().to_string()]);
    assert!(spandump.wait().success());
    reader.join().expect("reader");
    assert_eq!(fs::read_to_string(&stderr_path).unwrap(), "");
    let got = read_capture_bytes(&buffer.lock().unwrap()).unwrap();
    assert!(got.pcapng);
    common::assert_frames_eq("spandump-udp", &got.frames(), &want);
}
