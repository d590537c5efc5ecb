//! spandump's binary: parse the command line, run the pipeline, print the summary,
//! and turn the outcome into tcpdump's exit codes (0 ok, 1 failure, 2 usage).

mod cli;

use clap::Parser;
use spandump::capture::FileSource;
use spandump::pipeline::{Config, Destination, Pipeline};
use spandump::sink::{self, Output};
use std::fs::File;
use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

fn main() -> ExitCode {
    let mut config = cli::Args::parse().into_config();
    // Lines for a person at a terminal appear as they come, as tcpdump's do.
    if config.write_is_text()
        && config.destination == Destination::Stdout
        && io::stdout().is_terminal()
    {
        config.packet_buffered = true;
    }
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("spandump: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &Config) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second Ctrl-C ends the process at once, as most tools do.
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    }
    let mut source = FileSource::open(&config.input).map_err(|e| chain(&e))?;
    let output = open_output(config)?;
    let mut pipeline = Pipeline::new(config, output);
    let result = pipeline.run(&mut source, &stop);
    eprint!("{}", pipeline.stats().summary());
    result.map_err(|e| chain(&e))
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
