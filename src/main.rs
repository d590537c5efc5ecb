//! spandump's binary: parse the command line, open the source (a capture file or a raw
//! GRE socket) and the output, drop privileges if asked, run the pipeline, print the
//! summary, and turn the outcome into tcpdump's exit codes (0 ok, 1 failure, 2 usage).

mod cli;
mod extcap;

use clap::FromArgMatches;
use cli::{Input, RingInput};
use spandump::TsPrecision;
use spandump::bpf::Expression;
use spandump::bpf::libpcap::{self, LibPcap};
use spandump::capture::{
    CaptureError, FileSource, RawGreSocket, Received, RingOptions, RingSource, Source, raw_socket,
    sys,
};
use spandump::handoff;
use spandump::pipeline::{Config, Decoder, Destination, DirectWriter, RunError};
use spandump::report::{self, Board, Reporter, ReporterOptions};
use spandump::rotate::Rotator;
use spandump::sessions::Session;
use spandump::sink;
use spandump::stats::Stats;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

fn main() -> ExitCode {
    if let Some(what) = cli::generate_request() {
        let mut stdout = io::stdout().lock();
        return match cli::generate(what, &mut stdout).and_then(|()| stdout.flush()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("spandump: cannot write stdout: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let args =
        cli::Args::from_arg_matches(&cli::command().get_matches()).unwrap_or_else(|e| e.exit());
    if let Some(query) = extcap::Query::of(&args) {
        return query.answer();
    }
    // Started by Wireshark: whatever reaches stderr is shown as an error, so a normal
    // capture prints nothing there.
    let quiet = args.extcap.capture;
    let args = if quiet {
        match extcap::capture_args(args) {
            Ok(args) => args,
            Err(message) => {
                eprintln!("spandump: {message}");
                return ExitCode::from(2);
            }
        }
    } else {
        args
    };
    let invocation = args.into_invocation();
    let mut config = invocation.config;
    if invocation.expression.is_some() || invocation.dump_program > 0 {
        let text = invocation.expression.as_deref().unwrap_or("");
        let (pcap, expression) = match compile_expression(text) {
            Ok(compiled) => compiled,
            Err((message, code)) => {
                eprintln!("spandump: {message}");
                return ExitCode::from(code);
            }
        };
        if invocation.dump_program > 0 {
            return dump_program(&pcap, &expression, invocation.dump_program);
        }
        config.expression = Some(expression);
    }
    // Lines for a person at a terminal appear as they come, as tcpdump's do.
    if config.write_is_text()
        && config.destination == Destination::Stdout
        && io::stdout().is_terminal()
    {
        config.packet_buffered = true;
    }
    match run(
        &config,
        &invocation.input,
        invocation.user.as_deref(),
        quiet,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("spandump: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Loads libpcap and compiles the filter expression; on failure, the message and the
/// exit code (1: no libpcap here, 2: a bad expression, as a usage error).
fn compile_expression(text: &str) -> Result<(LibPcap, Expression), (String, u8)> {
    let pcap = LibPcap::load().map_err(|e| (e.to_string(), 1))?;
    let expression = Expression::compile(&pcap, text).map_err(|e| (e.to_string(), 2))?;
    Ok((pcap, expression))
}

/// `-d`, `-dd`, `-ddd`: the program as tcpdump prints it, on stdout.
fn dump_program(pcap: &LibPcap, expression: &Expression, level: u8) -> ExitCode {
    let program = expression.program().instructions();
    let text = match level {
        1 => pcap.dump(program),
        2 => libpcap::dump_c(program),
        _ => libpcap::dump_decimal(program),
    };
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spandump: cannot write stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One run; `quiet`: no banner, warning or summary on stderr (Wireshark's extcap).
fn run(config: &Config, input: &Input, user: Option<&str>, quiet: bool) -> Result<(), String> {
    if quiet {
        spandump::capture::gro::silence_warning();
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second Ctrl-C ends the process at once, as most tools do.
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
        // So that a read blocked on an idle pipe (`-r -`) returns on Ctrl-C.
        sys::interrupt_blocking_calls(signal)
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    }
    // SIGUSR1 prints the summary so far and goes on, as tcpdump's does.
    let summary_request = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&summary_request))
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let board = Arc::new(Board::default());
    let live = !matches!(input, Input::File(_));
    let (stats, sessions, result) = match input {
        Input::File(path) => {
            let source = match FileSource::open_interruptible(path, Some(Arc::clone(&stop))) {
                Ok(source) => Some(source),
                // Ctrl-C before the file header arrived: an empty output and a summary.
                Err(CaptureError::Interrupted { .. }) => None,
                Err(e) => return Err(chain(&e)),
            };
            let writer = open_writer(config, user)?;
            let reporter = start_reporter(config, &board, summary_request, live)?;
            drop_privileges(user)?;
            let mut pipeline = Decoder::with_emit(config, writer);
            pipeline.set_publisher(board.publisher());
            let result = match source {
                Some(mut source) => pipeline.run(&mut source, &stop),
                None => pipeline.run(&mut NoPackets, &stop),
            };
            let (stats, sessions, _) = pipeline.into_parts();
            let sessions = sessions.as_slice().to_vec();
            let report = finish_report(config, reporter, &stats, &sessions);
            (stats, sessions, result.map_err(|e| chain(&e)).and(report))
        }
        Input::Listen(options) => {
            if !quiet {
                warn_about_ip_gre();
            }
            let socket = RawGreSocket::open(*options).map_err(|e| chain(&e))?;
            // The kernel reports twice the size it accounts for (its bookkeeping share).
            let granted = socket.recv_buffer() / 2;
            if granted < options.recv_buffer && !quiet {
                eprintln!(
                    "spandump: warning: receive buffer limited to {} KiB (asked for {} KiB): \
                     without CAP_NET_ADMIN the kernel caps it at net.core.rmem_max",
                    granted / 1024,
                    options.recv_buffer / 1024
                );
            }
            let writer = open_writer(config, user)?;
            let reporter = start_reporter(config, &board, summary_request, live)?;
            drop_privileges(user)?;
            if !quiet {
                eprintln!(
                    "spandump: listening on {} (raw GRE socket, receive buffer {} KiB)",
                    socket.addr(),
                    granted / 1024
                );
            }
            let (stats, sessions, result) = capture(config, vec![socket], writer, &stop, &board);
            let report = finish_report(config, reporter, &stats, &sessions);
            (stats, sessions, result.map_err(|e| chain(&e)).and(report))
        }
        Input::Ring(ring) => {
            let (rings, _silencers) = open_rings(ring, quiet)?;
            let writer = open_writer(config, user)?;
            let reporter = start_reporter(config, &board, summary_request, live)?;
            drop_privileges(user)?;
            let geometry = rings[0].geometry();
            let mut names: Vec<&str> = rings.iter().map(|r| r.interface()).collect();
            names.dedup();
            if !quiet {
                eprintln!(
                    "spandump: listening on {} (AF_PACKET ring{}: {} blocks of {} KiB, {} capture \
                 thread{}, kernel filter: GRE{})",
                    names.join(", "),
                    if names.len() > 1 { "s" } else { "" },
                    geometry.block_count,
                    geometry.block_size / 1024,
                    rings.len(),
                    if rings.len() > 1 { "s" } else { "" },
                    ring.listen.map_or_else(String::new, |a| format!(" to {a}")),
                );
            }
            let (stats, sessions, result) = capture_rings(config, rings, writer, &stop, &board);
            let report = finish_report(config, reporter, &stats, &sessions);
            (stats, sessions, result.map_err(|e| chain(&e)).and(report))
        }
        Input::Udp(udp) => {
            let sources = udp.open()?;
            let writer = open_writer(config, user)?;
            let reporter = start_reporter(config, &board, summary_request, live)?;
            drop_privileges(user)?;
            if !quiet {
                let addrs: Vec<String> = sources[0].addrs().iter().map(|a| a.to_string()).collect();
                eprintln!(
                    "spandump: listening on {} (UDP socket{}, receive buffer {} KiB, {} capture thread{})",
                    addrs.join(", "),
                    if addrs.len() > 1 { "s" } else { "" },
                    sources[0].recv_buffer() / 2 / 1024,
                    sources.len(),
                    if sources.len() > 1 { "s" } else { "" },
                );
            }
            let (stats, sessions, result) = capture(config, sources, writer, &stop, &board);
            let report = finish_report(config, reporter, &stats, &sessions);
            (stats, sessions, result.map_err(|e| chain(&e)).and(report))
        }
    };
    if !quiet {
        eprint!("{}", stats.summary());
    }
    if config.list_sessions {
        let table = report::session_table(&sessions);
        let mut stdout = io::stdout().lock();
        stdout
            .write_all(table.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("cannot write stdout: {e}"))?;
    }
    result
}

/// Live capture: one source is decoded and written on this thread, straight from the
/// kernel's memory to the output buffer (a ring: to the file, [`capture_rings`]); several (`--threads`) are decoded on a thread
/// each and written on this one ([`handoff`]). Measured on 2 cores (README): the
/// hand-off costs about as much CPU per small frame as the decoding, and a writer
/// thread competing with a busy capture thread for a core fell behind.
fn capture<S>(
    config: &Config,
    mut sources: Vec<S>,
    writer: DirectWriter<'_>,
    stop: &AtomicBool,
    board: &Arc<Board>,
) -> (Stats, Vec<Session>, Result<(), RunError>)
where
    S: Source + Send,
    RunError: From<S::Error>,
{
    if sources.len() > 1 {
        return handoff::run(config, sources, writer, stop, Some(board));
    }
    let mut pipeline = Decoder::with_emit(config, writer);
    pipeline.set_publisher(board.publisher());
    let result = pipeline.run(&mut sources[0], stop);
    let (mut stats, sessions, _) = pipeline.into_parts();
    stats.gro_merged = sources[0].gro_merged();
    (stats, sessions.as_slice().to_vec(), result)
}

/// [`capture`] for rings: one is read a block at a time, so that the kept frames of a
/// block are written straight from ring memory (`Decoder::run_ring`).
fn capture_rings(
    config: &Config,
    mut rings: Vec<RingSource>,
    writer: DirectWriter<'_>,
    stop: &AtomicBool,
    board: &Arc<Board>,
) -> (Stats, Vec<Session>, Result<(), RunError>) {
    if rings.len() != 1 {
        return capture(config, rings, writer, stop, board);
    }
    let mut pipeline = Decoder::with_emit(config, writer);
    pipeline.set_publisher(board.publisher());
    let result = pipeline.run_ring(&mut rings[0], stop);
    let (mut stats, sessions, _) = pipeline.into_parts();
    stats.gro_merged = rings[0].gro_merged();
    (stats, sessions.as_slice().to_vec(), result)
}

/// Opens the rings of `-i` / `--listen` (one per interface and thread), and, for
/// `--listen`, the socket that keeps the kernel from answering the mirrored packets.
fn open_rings(
    input: &RingInput,
    quiet: bool,
) -> Result<(Vec<RingSource>, Vec<socket2::Socket>), String> {
    let interfaces = match (&input.interface, input.listen) {
        (Some(interface), _) => vec![interface.clone()],
        (None, Some(addr)) => {
            let found = sys::interfaces_with_address(addr)
                .map_err(|e| format!("cannot list the interfaces' addresses: {e}"))?;
            if found.is_empty() {
                return Err(format!(
                    "{addr} is not an address of this host: --listen receives the mirror \
                     packets sent to a local address (see `ip addr`)"
                ));
            }
            found
        }
        (None, None) => unreachable!("clap requires -i or --listen"),
    };
    let silencer = match input.listen {
        Some(addr) => {
            if !quiet {
                warn_about_ip_gre();
            }
            Some(raw_socket::silent_gre_socket(addr).map_err(|e| chain(&e))?)
        }
        None => None,
    };
    // UDP mirrors: a socket on each port keeps the kernel from answering them.
    let guards = spandump::capture::udp::port_guards(input.listen, &input.udp_ports)
        .map_err(|e| chain(&e))?;
    let mut rings = Vec::new();
    for (i, interface) in interfaces.iter().enumerate() {
        // One fan-out group per interface, unique to this process.
        let group = (std::process::id() as u16).wrapping_add(i as u16);
        for _ in 0..input.threads {
            let options = RingOptions {
                buffer_size: input.buffer,
                destinations: input.listen.into_iter().collect(),
                fanout: (input.threads > 1).then_some(group),
                udp_ports: input.udp_ports.clone(),
                ..RingOptions::new(interface.clone())
            };
            rings.push(RingSource::open(&options).map_err(|e| chain(&e))?);
        }
    }
    // Kept open for the run: the raw GRE socket and the UDP port guards.
    let mut silencers: Vec<socket2::Socket> = silencer.into_iter().collect();
    silencers.extend(guards);
    Ok((rings, silencers))
}

/// The kernel's GRE modules answer mirrored packets even while spandump receives them.
fn warn_about_ip_gre() {
    for module in raw_socket::icmp_answering_gre_modules() {
        eprintln!(
            "spandump: warning: the kernel module {module} is loaded: it answers every \
             mirrored packet that matches no tunnel device with ICMP port-unreachable to \
             the sender, even while spandump receives it; on a collector host unload it \
             (modprobe -r ip_gre ip6_gre)"
        );
    }
}

/// Opens `--stats-json` and starts the thread that answers SIGUSR1 and the timers.
fn start_reporter(
    config: &Config,
    board: &Arc<Board>,
    summary_request: Arc<AtomicBool>,
    live: bool,
) -> Result<Reporter, String> {
    let json: Option<Box<dyn Write + Send>> = match &config.stats_json {
        None => None,
        Some(Destination::Stdout) => Some(Box::new(io::stdout())),
        Some(Destination::File(path)) => {
            Some(Box::new(File::create(path).map_err(|e| {
                format!("cannot create {}: {e}", path.display())
            })?))
        }
    };
    let table_refresh = (config.list_sessions && live && io::stdout().is_terminal())
        .then_some(Duration::from_secs(1));
    Reporter::spawn(
        Arc::clone(board),
        ReporterOptions {
            json,
            json_interval: config.stats_interval,
            table_refresh,
            summary_request,
        },
    )
    .map_err(|e| format!("cannot start the reporter thread: {e}"))
}

/// Stops the reporter and writes the final `--stats-json` line.
fn finish_report(
    config: &Config,
    reporter: Reporter,
    stats: &Stats,
    sessions: &[Session],
) -> Result<(), String> {
    let written = reporter.finish().and_then(|json| match json {
        Some(mut out) => {
            let line = report::json_line(stats, sessions, SystemTime::now(), true);
            writeln!(out, "{line}").and_then(|()| out.flush())
        }
        None => Ok(()),
    });
    written.map_err(|e| {
        let name = config.stats_json.as_ref().map(Destination::name);
        format!("cannot write {}: {e}", name.unwrap_or_default())
    })
}

/// The input of a run stopped before its file header arrived: nothing to read.
struct NoPackets;

impl Source for NoPackets {
    type Error = CaptureError;

    fn next_packet(&mut self, _: &AtomicBool) -> Result<Option<Received<'_>>, CaptureError> {
        Ok(None)
    }

    fn precision(&self) -> TsPrecision {
        TsPrecision::Micro
    }
}

/// `-Z USER`, once the source and the output are open.
fn drop_privileges(user: Option<&str>) -> Result<(), String> {
    match user {
        Some(user) => sys::drop_privileges(user).map_err(|e| chain(&e)),
        None => Ok(()),
    }
}

/// An error and its causes on one line: `input.pcap: cannot read: Is a directory`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        message.push_str(": ");
        message.push_str(&e.to_string());
        cause = e.source();
    }
    message
}

/// Opens the output (the first file of a rotation) and the writer over it. With `-Z`
/// the file is given to USER, as the files created after privileges are dropped are.
fn open_writer<'c>(config: &'c Config, user: Option<&str>) -> Result<DirectWriter<'c>, String> {
    let path = match &config.destination {
        Destination::Stdout => {
            return Ok(DirectWriter::new(config, sink::output(io::stdout())));
        }
        Destination::File(path) => path,
    };
    let rotator = config
        .rotation
        .is_active()
        .then(|| Rotator::new(config.rotation.clone(), path.clone(), SystemTime::now()));
    let path = rotator.as_ref().map_or(path.as_path(), Rotator::current);
    let file = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    if let Some(user) = user {
        let (uid, gid) = sys::user_ids(user).map_err(|e| chain(&e))?;
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
            .map_err(|e| format!("cannot give {} to {user}: {e}", path.display()))?;
    }
    let output = sink::output_file(file);
    Ok(match rotator {
        Some(rotator) => DirectWriter::rotating(config, output, rotator),
        None => DirectWriter::new(config, output),
    })
}
