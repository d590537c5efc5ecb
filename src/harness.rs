//! Entry points shared by the fuzz targets (`fuzz/`) and the tests that replay their
//! corpora, so both drive exactly the same code with no fuzzer needed.
//!
//! Each takes arbitrary bytes and must return, never panic or hang.

use crate::capture::{FileSource, OuterFrame};
use crate::pipeline::{Config, DEFAULT_SNAPLEN, Destination, Pipeline};
use crate::sink::Format;
use crate::sink::text::{TextOptions, TimeFormat};
use crate::stats::Stats;
use crate::wire::LinkType;
use crate::{Timestamp, TsPrecision};
use std::io::Cursor;
use std::sync::atomic::AtomicBool;

/// Link types a fuzzed packet can be read as; the first input byte picks one.
pub const LINK_TYPES: [LinkType; 8] = [
    LinkType::Ethernet,
    LinkType::Raw,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Null,
    LinkType::Loop,
];

fn config(format: Format) -> Config {
    Config {
        input: "-".into(),
        destination: Destination::Stdout,
        format,
        nano: false,
        snaplen: DEFAULT_SNAPLEN,
        count: None,
        packet_buffered: false,
        filter: Default::default(),
        text: TextOptions {
            link_header: true,
            verbose: 2,
            time: TimeFormat::Epoch,
            ..TextOptions::default()
        },
        reassembly: Default::default(),
    }
}

/// One outer packet through the whole per-packet path (link, IP, GRE, ERSPAN,
/// filter, text printer): the first byte picks the link type, the rest is the frame.
/// Returns the counters; panics if the packet was not accounted exactly once.
pub fn outer_packet(data: &[u8]) -> Stats {
    let Some((&selector, frame)) = data.split_first() else {
        return Stats::default();
    };
    let link = LINK_TYPES[usize::from(selector) % LINK_TYPES.len()];
    let config = config(Format::Text);
    let mut pipeline = Pipeline::new(&config, crate::sink::output(std::io::sink()));
    let outer = OuterFrame {
        ts: Timestamp::new(1, 0),
        link,
        data: frame,
        orig_len: frame.len() as u32,
    };
    // Errors here can only come from the sink, which never fails.
    let _ = pipeline.process(outer, TsPrecision::Micro);
    let stats = pipeline.stats().clone();
    // Every packet that is not an outer fragment ends in exactly one outcome.
    if stats.fragments_held == 0 {
        let outcomes = stats.frames_written + stats.filtered_out + stats.skipped_total();
        assert_eq!(outcomes, 1, "one packet, one outcome: {stats:?}");
    }
    stats
}

/// A whole capture file (pcap or pcapng) through reader and pipeline into each output
/// format. Returns the counters of the pcap run, or the reader's error message.
pub fn capture_file(data: &[u8]) -> Result<Stats, String> {
    let mut first = None;
    for format in [Format::Pcap, Format::PcapNg, Format::Text] {
        let mut source = FileSource::from_reader(Box::new(Cursor::new(data.to_vec())), "fuzz")
            .map_err(|e| e.to_string())?;
        let config = config(format);
        let mut pipeline = Pipeline::new(&config, crate::sink::output(std::io::sink()));
        let result = pipeline.run(&mut source, &AtomicBool::new(false));
        let stats = pipeline.stats().clone();
        if let Some(first) = &first {
            // The output format must not change what is decoded.
            assert_eq!(first, &stats, "counters differ between output formats");
        }
        first.get_or_insert(stats);
        result.map_err(|e| e.to_string())?;
    }
    Ok(first.unwrap_or_default())
}
