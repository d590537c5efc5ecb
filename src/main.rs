//! spandump's binary: parse the command line, open the source (a capture file or a raw
//! GRE socket) and the output, drop privileges if asked, run the pipeline, print the
//! summary, and turn the outcome into tcpdump's exit codes (0 ok, 1 failure, 2 usage).

mod cli;

use clap::Parser;
use cli::Input;
use spandump::TsPrecision;
use spandump::capture::{
    CaptureError, FileSource, RawGreSocket, Received, Source, raw_socket, sys,
};
use spandump::handoff;
use spandump::pipeline::{Config, Destination, Pipeline, RunError};
use spandump::sink::{self, Output};
use std::fs::File;
use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

fn main() -> ExitCode {
    let invocation = cli::Args::parse().into_invocation();
    let mut config = invocation.config;
    // Lines for a person at a terminal appear as they come, as tcpdump's do.
    if config.write_is_text()
        && config.destination == Destination::Stdout
        && io::stdout().is_terminal()
    {
        config.packet_buffered = true;
    }
    match run(&config, &invocation.input, invocation.user.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("spandump: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &Config, input: &Input, user: Option<&str>) -> Result<(), String> {
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
    match input {
        Input::File(path) => {
            let source = match FileSource::open_interruptible(path, Some(Arc::clone(&stop))) {
                Ok(source) => Some(source),
                // Ctrl-C before the file header arrived: an empty output and a summary.
                Err(CaptureError::Interrupted { .. }) => None,
                Err(e) => return Err(chain(&e)),
            };
            let output = open_output(config)?;
            drop_privileges(user)?;
            match source {
                Some(mut source) => run_pipeline(config, &mut source, output, &stop),
                None => run_pipeline(config, &mut NoPackets, output, &stop),
            }
        }
        Input::Listen(options) => {
            for module in raw_socket::icmp_answering_gre_modules() {
                eprintln!(
                    "spandump: warning: the kernel module {module} is loaded: it answers every \
                     mirrored packet that matches no tunnel device with ICMP port-unreachable to \
                     the sender, even while spandump receives it; on a collector host unload it \
                     (modprobe -r ip_gre ip6_gre)"
                );
            }
            let socket = RawGreSocket::open(*options).map_err(|e| chain(&e))?;
            // The kernel reports twice the size it accounts for (its bookkeeping share).
            let granted = socket.recv_buffer() / 2;
            if granted < options.recv_buffer {
                eprintln!(
                    "spandump: warning: receive buffer limited to {} KiB (asked for {} KiB): \
                     without CAP_NET_ADMIN the kernel caps it at net.core.rmem_max",
                    granted / 1024,
                    options.recv_buffer / 1024
                );
            }
            let output = open_output(config)?;
            drop_privileges(user)?;
            eprintln!(
                "spandump: listening on {} (raw GRE socket, receive buffer {} KiB)",
                socket.addr(),
                granted / 1024
            );
            let (stats, result) = handoff::run(config, vec![socket], output, &stop);
            eprint!("{}", stats.summary());
            result.map_err(|e| chain(&e))
        }
    }
}

fn run_pipeline<S>(
    config: &Config,
    source: &mut S,
    output: Output,
    stop: &AtomicBool,
) -> Result<(), String>
where
    S: Source,
    RunError: From<S::Error>,
{
    let mut pipeline = Pipeline::new(config, output);
    let result = pipeline.run(source, stop);
    eprint!("{}", pipeline.stats().summary());
    result.map_err(|e| chain(&e))
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

fn open_output(config: &Config) -> Result<Output, String> {
    Ok(match &config.destination {
        Destination::File(path) => {
            let file =
                File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            sink::output(file)
        }
        Destination::Stdout => sink::output(io::stdout()),
    })
}
