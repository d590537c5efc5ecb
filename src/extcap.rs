//! Wireshark's extcap protocol (extcap(4)): how Wireshark and tshark list spandump's
//! ways to receive as capture interfaces, ask for their options, check a capture
//! filter and start a capture into a FIFO.
//!
//! Three interfaces: `spandump-listen` (a mirror sink at a local address, `--listen`),
//! `spandump-interface` (every mirror packet on an interface, `-i`) and `spandump-udp`
//! (VXLAN / GENEVE / GRE-in-UDP mirrors on plain UDP sockets, `--udp`, no privilege). A capture writes
//! pcapng to the FIFO Wireshark reads, one interface block per mirror session, as
//! `-w file.pcapng` does; Wireshark's capture filter becomes the inner filter
//! expression.
//!
//! This module only speaks the protocol: the answers to Wireshark's questions, and
//! the command line of a capture. It must never print anything to stderr during a
//! normal capture (Wireshark shows any of it as an error), and never open a socket.

use crate::cli::Args;
use spandump::bpf::Expression;
use spandump::bpf::libpcap::LibPcap;
use spandump::capture::sys;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The interface that listens on an address.
pub const LISTEN: &str = "spandump-listen";
/// The interface that captures every mirror packet on a network interface.
pub const INTERFACE: &str = "spandump-interface";
/// The interface that receives UDP mirrors (VXLAN, GENEVE) on plain sockets.
pub const UDP: &str = "spandump-udp";

/// Where Wireshark's user finds help.
const HELP: &str = "man:spandump(1)";

/// What an extcap call asks, when it is not a capture.
pub enum Query {
    Interfaces,
    Dlts(String),
    Config(String),
    CheckFilter { interface: String, filter: String },
    Install,
}

impl Query {
    /// The question `args` asks, if any (a capture, or a plain run, asks none).
    pub fn of(args: &Args) -> Option<Query> {
        let e = &args.extcap;
        if args.extcap_install {
            return Some(Query::Install);
        }
        if e.interfaces {
            return Some(Query::Interfaces);
        }
        if e.capture {
            return None;
        }
        let interface = e.interface.clone()?;
        if e.dlts {
            return Some(Query::Dlts(interface));
        }
        if e.config {
            return Some(Query::Config(interface));
        }
        e.capture_filter
            .clone()
            .map(|filter| Query::CheckFilter { interface, filter })
    }

    /// Prints the answer on stdout; the exit code.
    pub fn answer(&self) -> ExitCode {
        let text = match self {
            Query::Interfaces => Ok(interfaces()),
            Query::Dlts(interface) => known(interface).map(|_| dlts()),
            Query::Config(interface) => known(interface).map(config),
            // Wireshark reads an empty answer as "valid", anything else as the message;
            // it looks at the first line only, and at no exit code.
            Query::CheckFilter { interface, filter } => known(interface).map(|_| {
                check_filter(filter)
                    .map_or_else(|message| format!("{message}\n"), |()| String::new())
            }),
            Query::Install => return install(),
        };
        match text {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("spandump: {message}");
                ExitCode::from(2)
            }
        }
    }
}

fn known(interface: &str) -> Result<&'static str, String> {
    match interface {
        LISTEN => Ok(LISTEN),
        INTERFACE => Ok(INTERFACE),
        UDP => Ok(UDP),
        _ => Err(format!(
            "unknown extcap interface '{interface}' (spandump has {LISTEN}, {INTERFACE} and {UDP})"
        )),
    }
}

/// `--extcap-interfaces`.
pub fn interfaces() -> String {
    format!(
        "extcap {{version={}}}{{help={HELP}}}\n\
         interface {{value={LISTEN}}}{{display=GRE/ERSPAN mirror sink (listen on an address)}}\n\
         interface {{value={INTERFACE}}}{{display=GRE/ERSPAN mirror on an interface}}\n\
         interface {{value={UDP}}}{{display=VXLAN/GENEVE mirror sink (UDP, no privilege)}}\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `--extcap-dlts`: every inner frame is Ethernet.
pub fn dlts() -> String {
    "dlt {number=1}{name=EN10MB}{display=Ethernet (the mirrored frames)}\n".to_string()
}

/// One `arg` line and its `value` lines.
struct Arg<'a> {
    call: &'a str,
    display: &'a str,
    kind: &'a str,
    tooltip: &'a str,
    extra: String,
    values: Vec<(String, String, bool)>,
}

/// `--extcap-config`: the options of the command line, as Wireshark's dialog shows them.
///
/// The address and the interface are selectors of this host's own addresses and
/// interfaces (the only valid values), not editable selectors: Wireshark 4.0 keeps no
/// preference for an editable selector, so tshark could not set one with
/// `-o extcap.spandump_listen.listen:ADDR`.
fn config(interface: &str) -> String {
    let mut args = Vec::new();
    if interface == LISTEN {
        let addresses = sys::interface_addresses().unwrap_or_default();
        // The first address that is not a loopback or link-local one is the default.
        let default = addresses
            .iter()
            .position(|(_, a)| !a.is_loopback() && !is_link_local(a));
        args.push(Arg {
            call: "--listen",
            display: "Sink address",
            kind: "selector",
            tooltip: "The local IPv4 or IPv6 address the mirror sends to (the mirror's \
                      remote IP, OVN's sink); spandump receives the GRE / ERSPAN \
                      packets sent to it through a ring on the interfaces that hold it",
            extra: "{required=true}{group=Receive}".into(),
            values: addresses
                .iter()
                .enumerate()
                .map(|(i, (name, addr))| {
                    (
                        addr.to_string(),
                        format!("{addr} ({name})"),
                        Some(i) == default,
                    )
                })
                .collect(),
        });
    } else if interface == UDP {
        let addresses = sys::interface_addresses().unwrap_or_default();
        let wildcard = [
            (
                "0.0.0.0".to_string(),
                "every IPv4 address".to_string(),
                true,
            ),
            ("::".to_string(), "every IPv6 address".to_string(), false),
        ];
        args.push(Arg {
            call: "--udp",
            display: "Sink address",
            kind: "selector",
            tooltip: "The local address the cloud mirror sends to; spandump binds plain UDP \
                      sockets on it to the VXLAN (4789), GENEVE (6081) and GRE-in-UDP (4754) \
                      ports, with no privilege",
            extra: "{required=true}{group=Receive}".into(),
            values: wildcard
                .into_iter()
                .chain(
                    addresses
                        .iter()
                        .map(|(name, addr)| (addr.to_string(), format!("{addr} ({name})"), false)),
                )
                .collect(),
        });
    } else {
        let names = network_interfaces();
        let default = names.iter().position(|n| n != "lo");
        args.push(Arg {
            call: "--interface",
            display: "Interface",
            kind: "selector",
            tooltip: "The interface the mirror packets arrive on: every GRE / ERSPAN \
                      packet it receives is decapsulated",
            extra: "{required=true}{group=Receive}".into(),
            values: names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), n.clone(), Some(i) == default))
                .collect(),
        });
    }
    let sessions = "{group=Sessions}".to_string();
    args.push(Arg {
        call: "--vni",
        display: "VXLAN / GENEVE VNI",
        kind: "unsigned",
        tooltip: "Keep only VXLAN / GENEVE mirrors with this 24-bit network identifier \
                  (AWS: the session's VirtualNetworkId); empty: every session",
        extra: format!("{{range=0,16777215}}{sessions}"),
        values: Vec::new(),
    });
    args.push(Arg {
        call: "--key",
        display: "GRE key",
        kind: "unsigned",
        tooltip: "Keep only plain GRE mirrors with this key (OVN: mirror-add NAME gre KEY); \
                  empty: every session",
        extra: format!("{{range=0,4294967295}}{sessions}"),
        values: Vec::new(),
    });
    args.push(Arg {
        call: "--session",
        display: "ERSPAN session ID",
        kind: "unsigned",
        tooltip: "Keep only ERSPAN II / III mirrors of this session ID, 0-1023 \
                  (OVN: mirror-add NAME erspan ID); empty: every session",
        extra: format!("{{range=0,1023}}{sessions}"),
        values: Vec::new(),
    });
    args.push(Arg {
        call: "--index",
        display: "ERSPAN II index",
        kind: "unsigned",
        tooltip: "Keep only ERSPAN II frames with this 20-bit index; empty: any",
        extra: format!("{{range=0,1048575}}{sessions}"),
        values: Vec::new(),
    });
    args.push(Arg {
        call: "--direction",
        display: "ERSPAN III direction",
        kind: "selector",
        tooltip: "Keep only ERSPAN III frames mirrored in this direction",
        extra: sessions.clone(),
        values: vec![
            ("any".into(), "Any".into(), true),
            ("ingress".into(), "Ingress".into(), false),
            ("egress".into(), "Egress".into(), false),
        ],
    });
    args.push(Arg {
        call: "--from",
        display: "Mirror sender",
        kind: "string",
        tooltip: "Keep only mirror packets from this outer source address or prefix \
                  (198.51.100.1, 2001:db8::/32); empty: any sender",
        // No braces inside a value: extcap's grammar ends a value at the first `}`.
        extra: format!(
            "{{validation=^(([0-9]+\\.)+[0-9]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(/[0-9]+)?$}}{sessions}"
        ),
        values: Vec::new(),
    });
    let performance = "{group=Performance}";
    args.push(Arg {
        call: "--threads",
        display: "Capture threads",
        kind: "unsigned",
        tooltip: "Capture threads, each with its own ring (PACKET_FANOUT); each sender \
                  stays on one thread",
        extra: format!("{{range=1,64}}{{default=1}}{performance}"),
        values: Vec::new(),
    });
    args.push(Arg {
        call: "--buffer-size",
        display: "Kernel buffer (KiB)",
        kind: "unsigned",
        tooltip: "Size of each ring, or of the raw socket's receive buffer, in KiB (as \
                  tcpdump's -B); empty: 32768 for a ring, 8192 for a raw socket",
        extra: format!("{{range=1,4194304}}{performance}"),
        values: Vec::new(),
    });
    if interface == LISTEN {
        args.push(Arg {
            call: "--raw-socket",
            display: "Raw GRE socket instead of a ring",
            kind: "boolflag",
            tooltip: "Receive on a plain raw GRE socket rather than an AF_PACKET ring \
                      (more CPU per packet; for hosts where rings are not allowed)",
            extra: performance.to_string(),
            values: Vec::new(),
        });
    }
    let mut out = String::new();
    for (number, arg) in args.iter().enumerate() {
        let _ = writeln!(
            out,
            "arg {{number={number}}}{{call={}}}{{display={}}}{{type={}}}{{tooltip={}}}{}",
            arg.call,
            arg.display,
            arg.kind,
            squeeze(arg.tooltip),
            arg.extra
        );
        for (value, display, default) in &arg.values {
            let default = if *default { "{default=true}" } else { "" };
            let _ = writeln!(
                out,
                "value {{arg={number}}}{{value={value}}}{{display={display}}}{default}"
            );
        }
    }
    out
}

/// Collapses the runs of spaces a wrapped string literal leaves.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_link_local(addr: &std::net::IpAddr) -> bool {
    match addr {
        std::net::IpAddr::V4(a) => a.is_link_local(),
        std::net::IpAddr::V6(a) => a.segments()[0] & 0xFFC0 == 0xFE80,
    }
}

/// This host's network interfaces, in name order.
fn network_interfaces() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|dir| {
            dir.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether `filter` compiles; libpcap's message if not.
fn check_filter(filter: &str) -> Result<(), String> {
    if filter.trim().is_empty() {
        return Ok(());
    }
    let pcap = LibPcap::load().map_err(|e| e.to_string())?;
    Expression::compile(&pcap, filter)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Turns the arguments of an extcap capture into a run's: pcapng into the FIFO,
/// flushed per frame, Wireshark's capture filter as the expression. Checks that the
/// interface's source was given.
pub fn capture_args(mut args: Args) -> Result<Args, String> {
    let interface = args.extcap.interface.clone().unwrap_or_default();
    match known(&interface)? {
        LISTEN if args.listen.is_none() => {
            return Err(format!("{LISTEN} needs the sink address (--listen ADDR)"));
        }
        UDP if args.cloud.udp.is_empty() => {
            return Err(format!("{UDP} needs the sink address (--udp ADDR)"));
        }
        INTERFACE if args.interface.is_none() => {
            return Err(format!(
                "{INTERFACE} needs the interface (--interface IFACE)"
            ));
        }
        _ => {}
    }
    let fifo = args
        .extcap
        .fifo
        .clone()
        .ok_or("--capture needs --fifo PATH (Wireshark gives it)")?;
    args.write = Some(fifo);
    args.pcapng = true;
    args.packet_buffered = true;
    if let Some(filter) = args.extcap.capture_filter.take()
        && !filter.trim().is_empty()
    {
        args.expression = vec![filter];
        args.filter_file = None;
    }
    Ok(args)
}

/// `--extcap-install`: a link to this binary in Wireshark's extcap folder (the
/// personal one where Wireshark has it, 4.2 and later; else the global one).
fn install() -> ExitCode {
    match install_link() {
        Ok((link, target)) => {
            println!(
                "spandump: linked {} -> {}",
                link.display(),
                target.display()
            );
            println!(
                "spandump: restart Wireshark: its capture dialog lists \"GRE/ERSPAN mirror sink\" \
                 and \"GRE/ERSPAN mirror on an interface\""
            );
            println!(
                "spandump: to capture without root, give the binary CAP_NET_RAW: \
                 sudo setcap cap_net_raw+ep {}",
                target.display()
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("spandump: {message}");
            ExitCode::FAILURE
        }
    }
}

fn install_link() -> Result<(PathBuf, PathBuf), String> {
    let target = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| format!("cannot find spandump's own path: {e}"))?;
    let out = Command::new("tshark")
        .args(["-G", "folders"])
        .output()
        .map_err(|e| {
            format!("cannot run tshark -G folders to find Wireshark's extcap folder: {e}")
        })?;
    let folders = String::from_utf8_lossy(&out.stdout);
    let folder = extcap_folder(&folders).ok_or_else(|| {
        "tshark -G folders names no extcap folder: is Wireshark installed?".to_string()
    })?;
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let link = folder.join("spandump");
    if std::fs::symlink_metadata(&link).is_ok() {
        std::fs::remove_file(&link)
            .map_err(|e| format!("cannot replace {}: {e}", link.display()))?;
    }
    std::os::unix::fs::symlink(&target, &link).map_err(|e| {
        format!(
            "cannot link {}: {e} (the global folder needs root: sudo spandump --extcap-install)",
            link.display()
        )
    })?;
    Ok((link, target))
}

/// The personal extcap folder of `tshark -G folders` if it names one, else the global.
pub fn extcap_folder(folders: &str) -> Option<PathBuf> {
    let find = |key: &str| {
        folders.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| Path::new(v.trim()).to_path_buf())
        })
    };
    find("Personal Extcap path").or_else(|| find("Extcap path"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_from_tshark() {
        let v40 = "Temp:                \t/tmp\nExtcap path:         \t/usr/lib/x86_64-linux-gnu/wireshark/extcap\n";
        assert_eq!(
            extcap_folder(v40),
            Some(PathBuf::from("/usr/lib/x86_64-linux-gnu/wireshark/extcap"))
        );
        let v42 = format!("{v40}Personal Extcap path:\t/home/u/.local/lib/wireshark/extcap\n");
        assert_eq!(
            extcap_folder(&v42),
            Some(PathBuf::from("/home/u/.local/lib/wireshark/extcap"))
        );
        assert_eq!(extcap_folder("Temp: /tmp\n"), None);
    }
}
