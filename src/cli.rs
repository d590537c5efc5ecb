//! The command line: tcpdump's flags where the meaning is the same, turned into a
//! validated [`Config`] before anything is opened. Doc comments are the `--help` text.

mod cloud;

use clap::error::ErrorKind;
use clap::{ArgAction, ArgGroup, CommandFactory, Parser};
use spandump::capture::raw_socket::DEFAULT_RECV_BUFFER;
use spandump::capture::{ListenOptions, ring};
use spandump::filter::{Filter, IpPrefix};
use spandump::pipeline::{Config, DEFAULT_SNAPLEN, Destination};
use spandump::reassembly;
use spandump::rotate::{self, Rotation};
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
#[command(group(ArgGroup::new("input").multiple(true).args(["read", "listen", "interface"])))]
#[command(
    after_help = "Filters of different kinds must all match; a filter given twice matches either value.\n\
EXPRESSION is tcpdump's filter language (man 7 pcap-filter), applied to the inner frames\n\
(libpcap is loaded to compile it). Numbers are decimal or 0x-hex. Examples:\n  \
spandump -r underlay.pcap -w inner.pcap\n  \
spandump -r underlay.pcap 'tcp port 80'\n  \
spandump --listen 198.51.100.2 --key 99 -w dns.pcap 'udp port 53'\n  \
spandump -r underlay.pcap --key 99 -w - | wireshark -k -i -\n  \
spandump -r underlay.pcap --session 77 -e -v\n  \
spandump --listen 198.51.100.2 --key 99 -w - | wireshark -k -i -\n  \
spandump --listen 198.51.100.2 --list-sessions\n  \
spandump -i eth1 --from 198.51.100.0/24 -w mirror.pcapng --stats-json stats.jsonl\n\n\
spandump --generate man|bash|zsh|fish prints the man page or a shell completion script."
)]
pub struct Args {
    /// Keep only inner frames that match this filter expression (tcpdump's language,
    /// man 7 pcap-filter); the words are joined with spaces.
    #[arg(value_name = "EXPRESSION")]
    pub expression: Vec<String>,

    /// Read the filter expression from FILE ('#' starts a comment to the end of the
    /// line), as tcpdump's -F.
    #[arg(short = 'F', value_name = "FILE")]
    pub filter_file: Option<PathBuf>,

    /// Print the compiled filter program and exit, as tcpdump does; twice for a C
    /// array, three times for decimal numbers.
    #[arg(short = 'd', action = ArgAction::Count)]
    pub dump_program: u8,

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
    #[arg(short = 'B', long = "buffer-size", value_name = "KIB", conflicts_with = "read",
          value_parser = clap::value_parser!(u32).range(1..=4_194_304))]
    pub buffer_kib: Option<u32>,

    /// Ring block size in KiB, the unit the kernel hands over: a power of two, a
    /// multiple of the page size, at most the ring (default 1024, or a quarter of a
    /// smaller ring).
    #[arg(long = "block-size", value_name = "KIB", conflicts_with_all = ["read", "raw_socket", "udp"],
          value_parser = clap::value_parser!(u32).range(1..=i64::from(ring::MAX_BLOCK_SIZE / 1024)))]
    pub block_kib: Option<u32>,

    /// Hand a ring block that is not full over after MS milliseconds (default 20): how
    /// long a lone packet may wait in the kernel on a quiet mirror.
    #[arg(long = "block-timeout", value_name = "MS", conflicts_with_all = ["read", "raw_socket", "udp"],
          value_parser = clap::value_parser!(u32).range(1..=i64::from(ring::MAX_BLOCK_TIMEOUT_MS)))]
    pub block_timeout_ms: Option<u32>,

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

    /// Before writing a frame, start a new file when the current one is larger than
    /// SIZE millions of bytes (or SIZE with a suffix k, m, g: KiB, MiB, GiB), as
    /// tcpdump: files after the first get the -w name with a number after it.
    #[arg(short = 'C', value_name = "SIZE", requires = "write", value_parser = parse_file_size)]
    pub file_size: Option<u64>,

    /// Start a new file every SECONDS (on the first frame after them, as tcpdump); the
    /// -w name goes through strftime(3), e.g. -w mirror-%Y%m%d-%H%M%S.pcap.
    #[arg(short = 'G', value_name = "SECONDS", requires = "write",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub rotate_seconds: Option<u64>,

    /// With -C: keep a ring of COUNT files (numbers zero-padded, reused from 0). With
    /// -G alone: stop after COUNT files.
    #[arg(short = 'W', value_name = "COUNT", value_parser = clap::value_parser!(u32).range(1..))]
    pub file_count: Option<u32>,

    /// With -C or -G: run COMMAND FILE on each file a rotation closed (directly, not
    /// through a shell), e.g. -z gzip.
    #[arg(short = 'z', value_name = "COMMAND")]
    pub post_rotate: Option<PathBuf>,

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

    /// Keep ERSPAN III frames mirrored in this direction: ingress, egress (or any).
    #[arg(long = "direction", value_name = "DIR", value_parser = parse_direction)]
    pub directions: Vec<Option<Direction>>,

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

    /// Link spandump into Wireshark's extcap folder, so that its capture dialog lists
    /// the mirror sessions as interfaces.
    #[arg(long = "extcap-install")]
    pub extcap_install: bool,

    #[command(flatten)]
    pub extcap: ExtcapArgs,

    #[command(flatten)]
    pub cloud: cloud::CloudArgs,

    /// With --stats-json: also write an object every SECS seconds.
    #[arg(long = "stats-interval", value_name = "SECS", requires = "stats_json",
          value_parser = parse_interval)]
    pub stats_interval: Option<Duration>,
}

/// What Wireshark passes to an extcap program (extcap(4)); hidden from `--help`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ExtcapArgs {
    #[arg(id = "extcap_interfaces", long = "extcap-interfaces", hide = true)]
    pub interfaces: bool,
    #[arg(
        id = "extcap_version",
        long = "extcap-version",
        value_name = "V",
        hide = true
    )]
    pub version: Option<String>,
    #[arg(
        id = "extcap_interface",
        long = "extcap-interface",
        value_name = "NAME",
        hide = true
    )]
    pub interface: Option<String>,
    #[arg(id = "extcap_dlts", long = "extcap-dlts", hide = true)]
    pub dlts: bool,
    #[arg(id = "extcap_config", long = "extcap-config", hide = true)]
    pub config: bool,
    #[arg(
        id = "extcap_capture_filter",
        long = "extcap-capture-filter",
        value_name = "EXPR",
        hide = true
    )]
    pub capture_filter: Option<String>,
    #[arg(id = "extcap_capture", long = "capture", hide = true)]
    pub capture: bool,
    #[arg(id = "extcap_fifo", long = "fifo", value_name = "PATH", hide = true)]
    pub fifo: Option<PathBuf>,
}

/// What `--generate` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generate {
    Man,
    Bash,
    Zsh,
    Fish,
}

/// The `--version` text: version, the git revision built from, and whether filter
/// expressions can load libpcap.
pub fn version_text() -> String {
    let libpcap = match spandump::bpf::libpcap::LibPcap::load() {
        Ok(pcap) => format!(
            "libpcap: found ({}, {}), filter expressions available",
            pcap.path(),
            pcap.version()
        ),
        Err(_) => format!(
            "libpcap: not found, filter expressions unavailable ({})",
            spandump::bpf::libpcap::INSTALL_HINT
        ),
    };
    format!(
        "{} (git {})\n{libpcap}",
        env!("CARGO_PKG_VERSION"),
        env!("SPANDUMP_GIT_REVISION")
    )
}

/// The command line definition, with the full `--version` text when it is asked for
/// (the libpcap probe costs a library load, so only then).
pub fn command() -> clap::Command {
    let asks_version = std::env::args_os().any(|a| a == "--version" || a == "-V");
    let cmd = Args::command();
    if asks_version {
        cmd.version(&*Box::leak(version_text().into_boxed_str()))
    } else {
        cmd
    }
}

/// `spandump --generate WHAT`, kept out of `--help` (and of the usage line): when the
/// first argument is `--generate`, what it asks for; a bad value exits with 2.
pub fn generate_request() -> Option<Generate> {
    let first = std::env::args_os().nth(1)?;
    if !first.to_string_lossy().starts_with("--generate") {
        return None;
    }
    let matches = clap::Command::new("spandump")
        .about("Print the man page or a shell completion script")
        .arg(
            clap::Arg::new("generate")
                .long("generate")
                .value_name("WHAT")
                .required(true)
                .value_parser(clap::value_parser!(Generate)),
        )
        .get_matches();
    matches.get_one::<Generate>("generate").copied()
}

/// Writes what `--generate` asks for to `out`.
pub fn generate(what: Generate, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut cmd = Args::command();
    let shell = match what {
        Generate::Man => return clap_mangen::Man::new(cmd).render(out),
        Generate::Bash => clap_complete::Shell::Bash,
        Generate::Zsh => clap_complete::Shell::Zsh,
        Generate::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "spandump", out);
    Ok(())
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

/// A direction, or `None` for "any" (what Wireshark's selector sends for no filter).
fn parse_direction(s: &str) -> Result<Option<Direction>, String> {
    match s {
        "ingress" | "in" => Ok(Some(Direction::Ingress)),
        "egress" | "out" => Ok(Some(Direction::Egress)),
        "any" => Ok(None),
        _ => Err(format!(
            "direction '{s}' is neither 'ingress', 'egress' nor 'any'"
        )),
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

/// tcpdump's -C: millions of bytes, or KiB / MiB / GiB with a k / m / g suffix.
fn parse_file_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1_000_000),
    };
    let n: u64 = digits.parse().map_err(|_| {
        format!("file size '{s}' is not a whole number (millions of bytes, or with k, m, g)")
    })?;
    match n.checked_mul(unit) {
        Some(bytes) if n > 0 => Ok(bytes),
        _ => Err(format!("file size '{s}' is out of range")),
    }
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
    /// `--udp ADDR[:PORT]`: plain UDP sockets.
    Udp(cloud::UdpInput),
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
    /// `--block-size` in bytes; `None`: derived from the buffer.
    pub block_size: Option<u32>,
    /// `--block-timeout`.
    pub block_timeout_ms: u32,
    /// UDP mirror ports the rings also keep (and guard against ICMP answers).
    pub udp_ports: Vec<u16>,
}

impl RingInput {
    /// What each ring on `interface` is opened with (before the fan-out group).
    pub fn ring_options(&self, interface: &str) -> ring::RingOptions {
        ring::RingOptions {
            buffer_size: self.buffer,
            block_size: self.block_size,
            block_timeout_ms: self.block_timeout_ms,
            destinations: self.listen.into_iter().collect(),
            udp_ports: self.udp_ports.clone(),
            ..ring::RingOptions::new(interface)
        }
    }
}

/// A ring geometry the kernel would refuse, as a usage error naming the option(s) the
/// bad value came from (`--block-size 12: block size 12288 is not a power of two`).
fn geometry_usage(args: &Args, problem: &ring::GeometryError) -> String {
    use ring::GeometryError as E;
    let buffer = || match args.buffer_kib {
        Some(kib) => format!("-B {kib}"),
        None => format!("-B {} (the default)", ring::DEFAULT_BUFFER_SIZE / 1024),
    };
    let block = || format!("--block-size {}", args.block_kib.unwrap_or_default());
    let option = match problem {
        E::BufferTooLarge { .. } | E::BufferTooSmall { .. } => buffer(),
        E::BufferSmallerThanBlock { .. } => format!("{} with {}", block(), buffer()),
        E::BlockNotPowerOfTwo { .. } | E::BlockNotPageMultiple { .. } | E::BlockTooLarge { .. } => {
            block()
        }
        E::BlockTimeout { ms } => format!("--block-timeout {ms}"),
        // The frame size has no option: its checks cannot fail from the command line.
        E::FrameNotAligned { .. } | E::FrameTooSmall { .. } | E::FrameLargerThanBlock { .. } => {
            "the ring".to_string()
        }
    };
    format!("{option}: {problem}")
}

/// Everything the binary does, validated.
#[derive(Debug)]
pub struct Invocation {
    pub config: Config,
    pub input: Input,
    /// `-Z`: the user to become once everything is open.
    pub user: Option<String>,
    /// The filter expression's text (from the arguments or `-F`), to be compiled.
    pub expression: Option<String>,
    /// `-d` (1), `-dd` (2), `-ddd` (3): print the program instead of capturing.
    pub dump_program: u8,
}

/// What `-F FILE` holds as an expression: tcpdump's `read_infile`, which blanks
/// everything from `#` to the end of the line.
pub fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| line.split_once('#').map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Args {
    /// A source is needed, unless only the compiled program is to be printed (`-d`).
    pub fn check_source(&self) -> Result<(), clap::Error> {
        if self.read.is_none()
            && self.listen.is_none()
            && self.interface.is_none()
            && self.cloud.udp.is_empty()
            && self.dump_program == 0
        {
            return Err(Args::command().error(
                ErrorKind::MissingRequiredArgument,
                "say where the mirrored packets come from: -r FILE, --listen ADDR or -i IFACE",
            ));
        }
        Ok(())
    }

    /// The validated invocation: input, run configuration, privileges.
    pub fn into_invocation(mut self) -> Invocation {
        let usage =
            |kind: ErrorKind, message: String| -> ! { Args::command().error(kind, message).exit() };
        if let Err(e) = self.check_source() {
            e.exit();
        }
        let expression = match (&self.filter_file, self.expression.is_empty()) {
            (Some(file), false) => usage(
                ErrorKind::ArgumentConflict,
                format!(
                    "a filter expression is given both with -F {} and on the command line \
                     ('{}'): give it one way",
                    file.display(),
                    self.expression.join(" ")
                ),
            ),
            (Some(file), true) => match std::fs::read_to_string(file) {
                Ok(text) => Some(strip_comments(&text)),
                Err(e) => usage(
                    ErrorKind::Io,
                    format!("cannot read the filter file {}: {e}", file.display()),
                ),
            },
            (None, false) => Some(std::mem::take(&mut self.expression).join(" ")),
            (None, true) => None,
        };
        let dump_program = self.dump_program;
        let input = match (&self.read, self.listen, &self.interface) {
            _ if !self.cloud.udp.is_empty() => Input::Udp(cloud::UdpInput {
                addrs: cloud::udp_addrs(&self.cloud.udp, &self.cloud.ports()),
                threads: self.threads,
                recv_buffer: self
                    .buffer_kib
                    .map_or(cloud::DEFAULT_UDP_BUFFER, |k| k as usize * 1024),
            }),
            (_, Some(addr), None) if self.raw_socket => Input::Listen(ListenOptions {
                addr,
                recv_buffer: self
                    .buffer_kib
                    .map_or(DEFAULT_RECV_BUFFER, |k| k as usize * 1024),
            }),
            (_, listen, interface) if listen.is_some() || interface.is_some() => {
                let ring = RingInput {
                    interface: interface.clone(),
                    listen,
                    threads: self.threads,
                    buffer: self
                        .buffer_kib
                        .map_or(ring::DEFAULT_BUFFER_SIZE, |k| u64::from(k) * 1024),
                    // At most MAX_BLOCK_SIZE / 1024 KiB (clap): fits in 32 bits.
                    block_size: self.block_kib.map(|k| k * 1024),
                    block_timeout_ms: self
                        .block_timeout_ms
                        .unwrap_or(ring::DEFAULT_BLOCK_TIMEOUT_MS),
                    udp_ports: self.cloud.ports().all(),
                };
                // Checked now, not when the first ring opens: a usage error (2).
                if let Err(problem) = ring.ring_options("").geometry() {
                    usage(ErrorKind::ValueValidation, geometry_usage(&self, &problem));
                }
                Input::Ring(ring)
            }
            // clap's group makes one of them present.
            (read, _, _) => Input::File(read.clone().unwrap_or_else(|| "-".into())),
        };
        let user = self.user.clone();
        let config = self.into_config();
        let usage = |message: String| {
            Args::command()
                .error(ErrorKind::ArgumentConflict, message)
                .exit()
        };
        let rotation = &config.rotation;
        if rotation.is_active() {
            match &config.destination {
                Destination::File(path) if config.format != Format::Text => {
                    if let Err(e) = rotate::check_template(path, rotation) {
                        usage(e.to_string());
                    }
                }
                _ => usage("-C and -G rotate capture files: give -w FILE (not -)".into()),
            }
        } else if rotation.count.is_some() || rotation.command.is_some() {
            usage("-W and -z go with -C or -G".into());
        }
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
            expression,
            dump_program,
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
                // "any" adds no criterion: all of them, or none at all, match.
                directions: if self.directions.contains(&None) {
                    Vec::new()
                } else {
                    self.directions.into_iter().flatten().collect()
                },
                sources: self.sources,
                vnis: self.cloud.vnis.clone(),
            },
            // Compiled by the caller, which loads libpcap.
            expression: None,
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
            udp_ports: self.cloud.ports(),
            rotation: Rotation {
                size: self.file_size,
                seconds: self.rotate_seconds,
                count: self.file_count,
                command: self.post_rotate,
            },
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
    fn ring_options_reach_every_ring() {
        let ring = |argv: &[&str]| match Args::parse_from(argv).into_invocation().input {
            Input::Ring(ring) => ring,
            other => panic!("{argv:?}: {other:?}"),
        };
        let r = ring(&["spandump", "-i", "eth1", "--threads", "2"]);
        let o = r.ring_options("eth1");
        assert_eq!(
            (o.buffer_size, o.block_size, o.block_timeout_ms),
            (
                ring::DEFAULT_BUFFER_SIZE,
                None,
                ring::DEFAULT_BLOCK_TIMEOUT_MS
            )
        );
        #[rustfmt::skip]
        let r = ring(&[
            "spandump", "--listen", "198.51.100.2", "-B", "8192", "--block-size", "256",
            "--block-timeout", "5",
        ]);
        let o = r.ring_options("eth1");
        assert_eq!(
            (o.buffer_size, o.block_size, o.block_timeout_ms),
            (8 << 20, Some(256 << 10), 5)
        );
        assert_eq!(o.destinations, ["198.51.100.2".parse::<IpAddr>().unwrap()]);
        let g = o.geometry().unwrap();
        assert_eq!((g.block_count, g.block_size), (32, 256 << 10));
    }

    #[test]
    fn geometry_errors_name_the_option() {
        let message = |argv: &[&str], o: ring::RingOptions| {
            geometry_usage(&Args::parse_from(argv), &o.geometry().unwrap_err())
        };
        let with = |buffer_kib: u64, block_kib: u32| ring::RingOptions {
            buffer_size: buffer_kib * 1024,
            block_size: Some(block_kib * 1024),
            ..ring::RingOptions::new("eth1")
        };
        assert_eq!(
            message(
                &["spandump", "-i", "eth1", "--block-size", "12"],
                with(32768, 12)
            ),
            "--block-size 12: block size 12288 is not a power of two"
        );
        assert_eq!(
            message(
                &["spandump", "-i", "eth1", "-B", "64", "--block-size", "128"],
                with(64, 128)
            ),
            "--block-size 128 with -B 64: ring buffer of 65536 bytes cannot hold one block \
             of 131072 bytes"
        );
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
        let source = |argv: &[&str]| Args::parse_from(argv).check_source().map_err(|e| e.kind());
        assert_eq!(
            source(&["spandump", "tcp", "port", "80"]),
            Err(ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(source(&["spandump", "-d", "tcp"]), Ok(()));
        assert_eq!(source(&["spandump", "-r", "-", "tcp"]), Ok(()));
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
        assert_eq!(
            err(&["spandump", "-r", "x", "--block-size", "64"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            err(&[
                "spandump",
                "--listen",
                "198.51.100.2",
                "--raw-socket",
                "--block-timeout",
                "5"
            ]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            err(&["spandump", "-i", "eth1", "--block-timeout", "0"]),
            ErrorKind::ValueValidation
        );
        let inv = Args::parse_from(["spandump", "-r", "-", "-Z", "nobody"]).into_invocation();
        assert_eq!(
            (inv.input, inv.user.as_deref()),
            (Input::File("-".into()), Some("nobody"))
        );
    }
}
