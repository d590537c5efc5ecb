//! The command line: tcpdump's flags where the meaning is the same, turned into a
//! validated [`Config`] before anything is opened. Doc comments are the `--help` text.

use clap::error::ErrorKind;
use clap::{ArgAction, ArgGroup, CommandFactory, Parser};
use spandump::capture::raw_socket::DEFAULT_RECV_BUFFER;
use spandump::capture::{ListenOptions, ring};
use spandump::filter::{Filter, IpPrefix};
use spandump::pipeline::{Config, DEFAULT_SNAPLEN, Destination};
use spandump::reassembly;
use spandump::sink::Format;
use spandump::sink::text::{TextOptions, TimeFormat};
use spandump::wire::erspan::{Direction, ErspanIndex, SessionId};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Decapsulate GRE / ERSPAN (type I, II, III) mirrored traffic and write the inner
/// frames as pcap, pcapng or tcpdump-like text.
#[derive(Debug, Parser)]
#[command(name = "spandump", version, about, max_term_width = 100)]
#[command(group(ArgGroup::new("input").required(true).multiple(true).args(["read", "listen", "interface"])))]
#[command(
    after_help = "Filters of different kinds must all match; a filter given twice matches either value.\n\
Numbers are decimal or 0x-hex. Examples:\n  \
spandump -r underlay.pcap -w inner.pcap\n  \
spandump -r underlay.pcap --key 99 -w - | wireshark -k -i -\n  \
spandump -r underlay.pcap --session 77 -e -v\n  \
spandump --listen 198.51.100.2 --key 99 -w - | wireshark -k -i -\n  \
spandump --listen 198.51.100.2 --list-sessions\n  \
spandump -i eth1 --from 198.51.100.0/24 -w mirror.pcapng --stats-json stats.jsonl"
)]
pub struct Args {
    /// Read outer (underlay) packets from a pcap or pcapng file; "-" reads stdin.
    #[arg(short = 'r', value_name = "FILE")]
    pub read: Option<PathBuf>,

    /// Capture live: receive the GRE / ERSPAN packets sent to ADDR, a local IPv4 or
    /// IPv6 address, through an AF_PACKET ring on the interfaces that hold ADDR (needs
    /// CAP_NET_RAW).
    #[arg(long = "listen", value_name = "ADDR", conflicts_with = "read")]
    pub listen: Option<IpAddr>,

    /// Capture live on IFACE through an AF_PACKET ring: every GRE packet it receives
    /// (only those to ADDR with --listen).
    #[arg(
        short = 'i',
        long = "interface",
        value_name = "IFACE",
        conflicts_with = "read"
    )]
    pub interface: Option<String>,

    /// With --listen: receive on a plain raw GRE socket instead of a ring.
    #[arg(long = "raw-socket", requires = "listen", conflicts_with = "interface")]
    pub raw_socket: bool,

    /// Capture threads, each with its own ring in one PACKET_FANOUT group per
    /// interface; each sender stays on one thread.
    #[arg(long = "threads", value_name = "N", default_value_t = 1, conflicts_with_all = ["read", "raw_socket"],
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,

    /// Kernel buffer in KiB, as tcpdump's -B: each ring (default 32768), or the raw
    /// socket's receive buffer (default 8192).
    #[arg(short = 'B', value_name = "KIB", conflicts_with = "read",
          value_parser = clap::value_parser!(u32).range(1..=4_194_304))]
    pub buffer_kib: Option<u32>,

    /// Drop privileges to USER (uid, gid, groups) once the socket and output are open.
    #[arg(short = 'Z', value_name = "USER")]
    pub user: Option<String>,

    /// Write inner frames to FILE ("-" = stdout): pcap, or pcapng when FILE ends in
    /// .pcapng. Without -w, print one line per frame.
    #[arg(short = 'w', value_name = "FILE")]
    pub write: Option<PathBuf>,

    /// Write pcapng whatever the file name.
    #[arg(long)]
    pub pcapng: bool,

    /// Write pcap with nanosecond timestamps (also: print 9 fraction digits).
    #[arg(long)]
    pub nano: bool,

    /// Keep at most SNAPLEN bytes of each inner frame.
    #[arg(short = 's', value_name = "SNAPLEN", default_value_t = DEFAULT_SNAPLEN,
          value_parser = parse_snaplen)]
    pub snaplen: u32,

    /// Stop after writing COUNT frames.
    #[arg(short = 'c', value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Flush the output after every frame (for pipes into Wireshark).
    #[arg(short = 'U', long = "packet-buffered")]
    pub packet_buffered: bool,

    /// Print the link-level header (MACs, ethertype, VLAN tags) of inner frames.
    #[arg(short = 'e')]
    pub link_header: bool,

    /// More detail: outer addresses and every GRE / ERSPAN field (-vv for more).
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,

    /// Shorter lines.
    #[arg(short = 'q')]
    pub quiet: bool,

    /// Print absolute TCP sequence numbers, not relative ones.
    #[arg(short = 'S', long = "absolute-tcp-sequence-numbers")]
    pub absolute_seq: bool,

    /// Accepted for tcpdump's habit: spandump never resolves names.
    #[arg(short = 'n', action = ArgAction::Count)]
    pub numeric: u8,

    /// -t: no timestamp; -tt: seconds since the epoch.
    #[arg(short = 't', action = ArgAction::Count)]
    pub time: u8,

    /// Keep frames of plain GRE with this key (OVN `mirror-add NAME gre KEY ...`).
    #[arg(long = "key", value_name = "KEY", value_parser = parse_u32)]
    pub keys: Vec<u32>,

    /// Keep ERSPAN II/III frames of this session ID, 0-1023 (OVN `mirror-add NAME erspan ID ...`).
    #[arg(long = "session", value_name = "ID", value_parser = parse_session)]
    pub sessions: Vec<SessionId>,

    /// Keep ERSPAN II frames with this 20-bit index.
    #[arg(long = "index", value_name = "INDEX", value_parser = parse_index)]
    pub indexes: Vec<ErspanIndex>,

    /// Keep ERSPAN III frames mirrored in this direction.
    #[arg(long = "direction", value_name = "DIR", value_parser = parse_direction)]
    pub directions: Vec<Direction>,

    /// Keep mirror packets sent from this outer source address or prefix.
    #[arg(long = "from", value_name = "ADDR[/LEN]", value_parser = parse_prefix)]
    pub sources: Vec<IpPrefix>,

    /// Print a table of the sessions arriving (sender, encapsulation, key / session /
    /// index / direction, packets, bytes, sequence losses) instead of writing frames;
    /// live, it refreshes every second on a terminal.
    #[arg(long = "list-sessions", conflicts_with_all = ["write", "count"])]
    pub list_sessions: bool,

    /// Write counters as JSON Lines to PATH ("-" = stdout when frames go elsewhere):
    /// one object at exit, and one every --stats-interval.
    #[arg(long = "stats-json", value_name = "PATH")]
    pub stats_json: Option<PathBuf>,

    /// With --stats-json: also write an object every SECS seconds.
    #[arg(long = "stats-interval", value_name = "SECS", requires = "stats_json",
          value_parser = parse_interval)]
    pub stats_interval: Option<Duration>,
}

/// Parses a decimal or 0x-hex number.
fn parse_number(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse::<u64>(),
    };
    parsed.map_err(|_| format!("'{s}' is not a decimal or 0x-hex number"))
}

fn parse_u32(s: &str) -> Result<u32, String> {
    let n = parse_number(s)?;
    u32::try_from(n).map_err(|_| format!("{s} does not fit in 32 bits (GRE keys are 0-4294967295)"))
}

fn parse_snaplen(s: &str) -> Result<u32, String> {
    let n = parse_number(s)?;
    match n {
        // tcpdump's habit: 0 means the default.
        0 => Ok(DEFAULT_SNAPLEN),
        1..=0x7FFF_FFFF => Ok(n as u32),
        _ => Err(format!("snaplen {s} is too large")),
    }
}

fn parse_session(s: &str) -> Result<SessionId, String> {
    let n = parse_number(s)?;
    u16::try_from(n)
        .ok()
        .and_then(SessionId::new)
        .ok_or_else(|| format!("session {s} is out of range: ERSPAN session IDs are 0-1023"))
}

fn parse_index(s: &str) -> Result<ErspanIndex, String> {
    let n = parse_number(s)?;
    u32::try_from(n)
        .ok()
        .and_then(ErspanIndex::new)
        .ok_or_else(|| format!("index {s} is out of range: ERSPAN indexes are 0-0xfffff"))
}

fn parse_direction(s: &str) -> Result<Direction, String> {
    match s {
        "ingress" | "in" => Ok(Direction::Ingress),
        "egress" | "out" => Ok(Direction::Egress),
        _ => Err(format!("direction '{s}' is neither 'ingress' nor 'egress'")),
    }
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.01..=86_400.0).contains(&secs) {
        return Err(format!("interval {s} s is outside 0.01 to 86400"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_prefix(s: &str) -> Result<IpPrefix, String> {
    s.parse()
}

/// Where the outer packets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    /// `--listen ADDR --raw-socket`.
    Listen(ListenOptions),
    /// `-i IFACE` and / or `--listen ADDR`.
    Ring(RingInput),
}

/// Live capture through AF_PACKET rings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingInput {
    /// `-i`; `None`: the interfaces that hold the `--listen` address.
    pub interface: Option<String>,
    /// `--listen`: keep only GRE to this address, and keep the kernel from answering it.
    pub listen: Option<IpAddr>,
    pub threads: u16,
    /// Bytes per ring.
    pub buffer: u64,
}

/// Everything the binary does, validated.
#[derive(Debug)]
pub struct Invocation {
    pub config: Config,
    pub input: Input,
    /// `-Z`: the user to become once everything is open.
    pub user: Option<String>,
}

impl Args {
    /// The validated invocation: input, run configuration, privileges.
    pub fn into_invocation(self) -> Invocation {
        let input = match (&self.read, self.listen, &self.interface) {
            (_, Some(addr), None) if self.raw_socket => Input::Listen(ListenOptions {
                addr,
                recv_buffer: self
                    .buffer_kib
                    .map_or(DEFAULT_RECV_BUFFER, |k| k as usize * 1024),
            }),
            (_, listen, interface) if listen.is_some() || interface.is_some() => {
                Input::Ring(RingInput {
                    interface: interface.clone(),
                    listen,
                    threads: self.threads,
                    buffer: self
                        .buffer_kib
                        .map_or(ring::DEFAULT_BUFFER_SIZE, |k| u64::from(k) * 1024),
                })
            }
            // clap's group makes one of them present.
            (read, _, _) => Input::File(read.clone().unwrap_or_else(|| "-".into())),
        };
        let user = self.user.clone();
        let config = self.into_config();
        if config.stats_json == Some(Destination::Stdout)
            && config.destination == Destination::Stdout
        {
            Args::command()
                .error(
                    ErrorKind::ArgumentConflict,
                    "--stats-json - needs stdout to itself: write frames with -w FILE",
                )
                .exit();
        }
        Invocation {
            config,
            input,
            user,
        }
    }

    /// The validated run configuration.
    pub fn into_config(self) -> Config {
        let (destination, format) = match &self.write {
            None => (Destination::Stdout, Format::Text),
            Some(p) => {
                let destination = if p.as_os_str() == "-" {
                    Destination::Stdout
                } else {
                    Destination::File(p.clone())
                };
                let pcapng_name = p
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("pcapng"));
                let format = if self.pcapng || pcapng_name {
                    Format::PcapNg
                } else {
                    Format::Pcap
                };
                (destination, format)
            }
        };
        let time = match self.time {
            0 => TimeFormat::Local,
            1 => TimeFormat::None,
            _ => TimeFormat::Epoch,
        };
        Config {
            input: self.read.unwrap_or_default(),
            destination,
            format,
            nano: self.nano,
            snaplen: self.snaplen,
            count: self.count,
            packet_buffered: self.packet_buffered,
            filter: Filter {
                keys: self.keys,
                sessions: self.sessions,
                indexes: self.indexes,
                directions: self.directions,
                sources: self.sources,
            },
            text: TextOptions {
                link_header: self.link_header,
                verbose: self.verbose,
                quiet: self.quiet,
                time,
                nano: self.nano,
                absolute_seq: self.absolute_seq,
            },
            reassembly: reassembly::Limits::default(),
            list_sessions: self.list_sessions,
            stats_json: self.stats_json.map(|p| {
                if p.as_os_str() == "-" {
                    Destination::Stdout
                } else {
                    Destination::File(p)
                }
            }),
            stats_interval: self.stats_interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ranges() {
        assert_eq!(parse_number("0x63"), Ok(99));
        assert_eq!(parse_number("99"), Ok(99));
        assert!(parse_number("9x").is_err());
        assert!(parse_session("5000").unwrap_err().contains("5000"));
        assert_eq!(parse_session("0x3ff").map(SessionId::get), Ok(1023));
        assert!(parse_index("0x100000").is_err());
        assert!(parse_u32("4294967296").is_err());
        assert_eq!(parse_snaplen("0"), Ok(DEFAULT_SNAPLEN));
    }

    #[test]
    fn output_format_from_name() {
        let args = Args::parse_from(["spandump", "-r", "x", "-w", "out.PCAPNG"]);
        assert_eq!(args.into_config().format, Format::PcapNg);
        let args = Args::parse_from(["spandump", "-r", "x", "-w", "-"]);
        let c = args.into_config();
        assert_eq!(
            (c.format, c.destination),
            (Format::Pcap, Destination::Stdout)
        );
        let args = Args::parse_from(["spandump", "-r", "x"]);
        assert_eq!(args.into_config().format, Format::Text);
    }

    #[test]
    fn exactly_one_input() {
        let err = |argv: &[&str]| Args::try_parse_from(argv).unwrap_err().kind();
        use clap::error::ErrorKind;
        assert_eq!(err(&["spandump"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            err(&["spandump", "-r", "x", "--listen", "198.51.100.2"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            err(&["spandump", "-r", "x", "-B", "64"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            err(&["spandump", "--listen", "nowhere"]),
            ErrorKind::ValueValidation
        );
        let inv = Args::parse_from([
            "spandump",
            "--listen",
            "2001:db8:100::2",
            "--raw-socket",
            "-B",
            "64",
        ])
        .into_invocation();
        assert_eq!(
            inv.input,
            Input::Listen(ListenOptions {
                addr: "2001:db8:100::2".parse().unwrap(),
                recv_buffer: 64 * 1024
            })
        );
        let inv = Args::parse_from(["spandump", "-r", "-", "-Z", "nobody"]).into_invocation();
        assert_eq!(
            (inv.input, inv.user.as_deref()),
            (Input::File("-".into()), Some("nobody"))
        );
    }
}
