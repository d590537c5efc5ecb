//! Where inner frames go: classic pcap, pcapng, or tcpdump-like text lines.
//!
//! Sinks know frames and their decapsulation metadata, never sockets or files they
//! came from. [`Writer`] is the one entry point the pipeline uses.

pub mod pcap;
pub mod pcapng;
pub mod text;

use crate::wire::decap::Decapsulated;
use crate::{Timestamp, TsPrecision};
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;

/// LINKTYPE_ETHERNET: every output frame is Ethernet (raw IP gets a synthesized header).
pub const LINKTYPE_ETHERNET: u32 = 1;

/// Synthesized Ethernet header for raw IPv4 payloads: zero MACs, ethertype 0x0800.
pub const SYNTH_ETHERNET_IPV4: [u8; 14] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
/// Synthesized Ethernet header for raw IPv6 payloads: zero MACs, ethertype 0x86DD.
pub const SYNTH_ETHERNET_IPV6: [u8; 14] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0xDD];

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNg,
    Text,
}

/// The byte stream under a writer: a large buffer over a file or stdout. The buffer
/// is concrete so that the per-frame writes inline into it; only its refills go
/// through the trait object.
pub type Output = BufWriter<Box<dyn Write + Send>>;

/// Output buffer size: large writes, few system calls.
pub const OUTPUT_BUFFER: usize = 1 << 20;

/// Wraps a file, stdout or any byte sink in the output buffer.
pub fn output(w: impl Write + Send + 'static) -> Output {
    BufWriter::with_capacity(OUTPUT_BUFFER, Box::new(w))
}

/// One inner frame to write: the bytes to store (`head` then `data`, already cut to
/// the snaplen) and the metadata a text line or pcapng block shows.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub ts: Timestamp,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub decap: &'a Decapsulated<'a>,
    pub head: &'a [u8],
    pub data: &'a [u8],
    pub orig_len: u32,
}

/// A writer of one output format.
pub enum Writer {
    Pcap(pcap::PcapWriter<Output>),
    PcapNg {
        writer: pcapng::PcapNgWriter<Output>,
        interface: u32,
    },
    Text {
        printer: text::TextPrinter,
        out: Output,
    },
}

impl Writer {
    /// Starts the output: writes the file header now, so a reader at the other end of
    /// a pipe can start.
    pub fn open(
        format: Format,
        out: Output,
        snaplen: u32,
        precision: TsPrecision,
        text: text::TextOptions,
    ) -> io::Result<Writer> {
        Ok(match format {
            Format::Pcap => Writer::Pcap(pcap::PcapWriter::new(
                out,
                snaplen,
                LINKTYPE_ETHERNET,
                precision,
            )?),
            Format::PcapNg => {
                let mut writer = pcapng::PcapNgWriter::new(out)?;
                let interface = writer.add_interface(
                    LINKTYPE_ETHERNET as u16,
                    snaplen,
                    Some("spandump"),
                    Some("inner frames of GRE / ERSPAN mirror traffic"),
                )?;
                Writer::PcapNg { writer, interface }
            }
            Format::Text => Writer::Text {
                printer: text::TextPrinter::new(text),
                out,
            },
        })
    }

    #[inline]
    pub fn write(&mut self, r: &Record<'_>) -> io::Result<()> {
        match self {
            Writer::Pcap(w) => w.write_frame(r.ts, r.orig_len, r.head, r.data),
            Writer::PcapNg { writer, interface } => writer.write_frame(
                *interface,
                r.ts,
                r.orig_len,
                r.head,
                r.data,
                &pcapng::EpbOptions::default(),
            ),
            Writer::Text { printer, out } => printer.write_line(out, r.ts, r.src, r.dst, r.decap),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Writer::Pcap(w) => w.flush(),
            Writer::PcapNg { writer, .. } => writer.flush(),
            Writer::Text { out, .. } => out.flush(),
        }
    }
}
