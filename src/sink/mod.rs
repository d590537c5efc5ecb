//! Where inner frames go: classic pcap, pcapng, or tcpdump-like text lines.
//!
//! Sinks know frames and their decapsulation metadata, never sockets or files they
//! came from. [`Writer`] is the one entry point the pipeline uses.

pub mod output;
pub mod pcap;
pub mod pcapng;
pub mod text;
pub mod tunnel;
pub mod vectored;

use crate::sessions::{Session, SessionKey};
use crate::wire::decap::{Decapsulated, Encap, Note};
use crate::wire::erspan::Direction;
use crate::{Timestamp, TsPrecision};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::IpAddr;

pub use output::{Ledger, Loss, OUTPUT_BUFFER, Output, output, output_file};

/// LINKTYPE_ETHERNET: every output frame is Ethernet (raw IP gets a synthesized header).
pub const LINKTYPE_ETHERNET: u32 = 1;

/// Synthesized Ethernet header for raw IPv4 payloads: zero MACs, ethertype 0x0800.
pub const SYNTH_ETHERNET_IPV4: [u8; 14] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
/// Synthesized Ethernet header for raw IPv6 payloads: zero MACs, ethertype 0x86DD.
pub const SYNTH_ETHERNET_IPV6: [u8; 14] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0xDD];
/// Synthesized Ethernet header for bare ARP payloads (GENEVE 0x0806): ethertype 0x0806.
pub const SYNTH_ETHERNET_ARP: [u8; 14] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x06];

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNg,
    Text,
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
    /// The frame's session; `None` past the session table's bound.
    pub session: Option<&'a SessionKey>,
    /// Packets of this session lost just before this one (GRE sequence gap).
    pub dropcount: u32,
}

/// A writer of one output format.
pub enum Writer {
    Pcap(pcap::PcapWriter<Output>),
    PcapNg(Box<SessionInterfaces>),
    Text {
        printer: text::TextPrinter,
        out: Output,
    },
}

/// pcapng output with one interface per session: an Interface Description Block named
/// after the session (`gre 198.51.100.1 key 99`) before its first frame, per-frame
/// direction, drop count, sequence number and sender marks, and an Interface
/// Statistics Block per session at the end.
pub struct SessionInterfaces {
    writer: pcapng::PcapNgWriter<Output>,
    snaplen: u32,
    interfaces: HashMap<SessionKey, u32>,
    /// The previous frame's session and interface: the common case is one lookup less.
    last: Option<(SessionKey, u32)>,
    /// Frames of sessions past the session table's bound.
    other: Option<u32>,
    last_ts: Timestamp,
    /// Per interface of this file: its session (`None`: the other sessions), frames
    /// written and sequence losses charged to them.
    counts: Vec<(Option<SessionKey>, u64, u64)>,
    /// The same counts from the files a rotation closed before this one.
    earlier: HashMap<Option<SessionKey>, (u64, u64)>,
}

impl SessionInterfaces {
    fn interface(&mut self, r: &Record<'_>) -> io::Result<u32> {
        let Some(key) = r.session else {
            if let Some(id) = self.other {
                return Ok(id);
            }
            let id = self.writer.add_interface(
                LINKTYPE_ETHERNET as u16,
                self.snaplen,
                Some("other sessions"),
                Some("sessions past spandump's session table bound"),
            )?;
            self.other = Some(id);
            self.counts.push((None, 0, 0));
            return Ok(id);
        };
        if let Some((last, id)) = &self.last
            && last == key
        {
            return Ok(*id);
        }
        let id = match self.interfaces.get(key) {
            Some(&id) => id,
            None => {
                let id = self.writer.add_interface(
                    LINKTYPE_ETHERNET as u16,
                    self.snaplen,
                    Some(&key.label()),
                    Some(&key.description(&r.decap.encap)),
                )?;
                self.interfaces.insert(*key, id);
                self.counts.push((Some(*key), 0, 0));
                id
            }
        };
        self.last = Some((*key, id));
        Ok(id)
    }

    fn write(&mut self, r: &Record<'_>) -> io::Result<()> {
        let iface = self.interface(r)?;
        let mut comment = String::new();
        let opts = epb_options(r, &mut comment);
        self.last_ts = r.ts;
        self.writer
            .write_frame(iface, r.ts, r.orig_len, r.head, r.data, &opts)?;
        if let Some((_, frames, lost)) = self.counts.get_mut(iface as usize) {
            *frames += 1;
            *lost += u64::from(r.dropcount);
        }
        Ok(())
    }

    /// The end of a file a rotation closes: one statistics block per interface of the
    /// file, with the session's counts since the capture started (frames written to
    /// this file and the earlier ones, losses charged to them).
    fn finish_file(&mut self) -> io::Result<()> {
        for (id, (key, frames, lost)) in self.counts.iter().enumerate() {
            let (frames_before, lost_before) = self.earlier.get(key).copied().unwrap_or((0, 0));
            self.writer.write_interface_stats(
                id as u32,
                self.last_ts,
                Some(frames_before + frames),
                Some(lost_before + lost),
            )?;
        }
        Ok(())
    }

    /// Takes over the counts of the file before this one.
    fn carry_from(&mut self, before: &mut SessionInterfaces) {
        self.earlier = std::mem::take(&mut before.earlier);
        for (key, frames, lost) in before.counts.drain(..) {
            let total = self.earlier.entry(key).or_default();
            total.0 += frames;
            total.1 += lost;
        }
        self.last_ts = before.last_ts;
    }

    /// One statistics block per session written: frames written, and packets its
    /// sequence numbers say were lost.
    fn finish(&mut self, sessions: &[Session]) -> io::Result<()> {
        for session in sessions {
            if let Some(&id) = self.interfaces.get(&session.key) {
                self.writer.write_interface_stats(
                    id,
                    self.last_ts,
                    Some(session.packets_written),
                    Some(session.seq.lost),
                )?;
            }
        }
        Ok(())
    }
}

/// The Enhanced Packet Block options of a frame: direction (ERSPAN III D), drop count
/// (a sequence gap just before it), packet id (the GRE sequence number), and a comment
/// when the sender marked the frame (kept in `comment`).
fn epb_options<'c>(r: &Record<'_>, comment: &'c mut String) -> pcapng::EpbOptions<'c> {
    let d = r.decap;
    let flags = match &d.encap {
        Encap::ErspanIII(h) => Some(match h.direction {
            Direction::Ingress => pcapng::EPB_FLAG_INBOUND,
            Direction::Egress => pcapng::EPB_FLAG_OUTBOUND,
        }),
        _ => None,
    };
    if d.notes.contains(Note::SenderTruncated) {
        comment.push_str("ERSPAN T: the sender truncated this frame");
    }
    if let Encap::ErspanIII(h) = &d.encap
        && h.bso != 0
    {
        if !comment.is_empty() {
            comment.push_str("; ");
        }
        let what = match h.bso {
            1 => "short frame (under 64 bytes)",
            2 => "oversized frame (over 1518 bytes)",
            _ => "frame with a bad CRC",
        };
        let _ = write!(comment, "ERSPAN BSO {}: {what}", h.bso);
    }
    pcapng::EpbOptions {
        flags,
        dropcount: (r.dropcount > 0).then_some(u64::from(r.dropcount)),
        packet_id: d.gre.sequence.map(u64::from),
        comment: (!comment.is_empty()).then_some(comment.as_str()),
    }
}

impl Writer {
    /// Starts the output: writes the file header now, so a reader at the other end of
    /// a pipe can start. `expression`, the filter expression the frames passed, is
    /// recorded in each pcapng interface.
    pub fn open(
        format: Format,
        out: Output,
        snaplen: u32,
        precision: TsPrecision,
        text: text::TextOptions,
        expression: Option<&str>,
    ) -> io::Result<Writer> {
        Ok(match format {
            Format::Pcap => Writer::Pcap(pcap::PcapWriter::new(
                out,
                snaplen,
                LINKTYPE_ETHERNET,
                precision,
            )?),
            Format::PcapNg => Writer::PcapNg(Box::new(SessionInterfaces {
                writer: {
                    let mut writer = pcapng::PcapNgWriter::new(out)?;
                    writer.set_interface_filter(expression);
                    writer
                },
                snaplen,
                interfaces: HashMap::new(),
                last: None,
                other: None,
                last_ts: Timestamp::new(0, 0),
                counts: Vec::new(),
                earlier: HashMap::new(),
            })),
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
            Writer::PcapNg(w) => w.write(r),
            Writer::Text { printer, out } => printer.write_line(out, r.ts, r.src, r.dst, r.decap),
        }
    }

    /// TCP connections the text printer forgot (0 for capture files).
    pub fn text_tcp_evictions(&self) -> u64 {
        match self {
            Writer::Text { printer, .. } => printer.tcp_evictions(),
            Writer::Pcap(_) | Writer::PcapNg(_) => 0,
        }
    }

    /// The end of the output: per-session statistics (pcapng). Does not flush.
    pub fn finish(&mut self, sessions: &[Session]) -> io::Result<()> {
        match self {
            Writer::PcapNg(w) => w.finish(sessions),
            Writer::Pcap(_) | Writer::Text { .. } => Ok(()),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Writer::Pcap(w) => w.flush(),
            Writer::PcapNg(w) => w.writer.flush(),
            Writer::Text { out, .. } => out.flush(),
        }
    }

    /// The end of a file a rotation closes: per-session statistics (pcapng) as of
    /// now. Does not flush.
    pub fn finish_file(&mut self) -> io::Result<()> {
        match self {
            Writer::PcapNg(w) => w.finish_file(),
            Writer::Pcap(_) | Writer::Text { .. } => Ok(()),
        }
    }

    /// Takes over what the writer of the previous file (`before`) counted, so that the
    /// statistics of later files cover the whole capture.
    pub fn carry_from(&mut self, before: &mut Writer) {
        if let (Writer::PcapNg(w), Writer::PcapNg(b)) = (self, before) {
            w.carry_from(b);
        }
    }

    /// The byte stream under the writer.
    pub fn output(&self) -> &Output {
        match self {
            Writer::Pcap(w) => w.get_ref(),
            Writer::PcapNg(w) => w.writer.get_ref(),
            Writer::Text { out, .. } => out,
        }
    }

    /// The byte stream under the writer, to write past the writer ([`vectored`]).
    pub fn output_mut(&mut self) -> &mut Output {
        match self {
            Writer::Pcap(w) => w.get_mut(),
            Writer::PcapNg(w) => w.writer.get_mut(),
            Writer::Text { out, .. } => out,
        }
    }

    /// Gives back the byte stream, without flushing it.
    pub fn into_output(self) -> Output {
        match self {
            Writer::Pcap(w) => w.into_inner(),
            Writer::PcapNg(w) => w.writer.into_inner(),
            Writer::Text { out, .. } => out,
        }
    }
}
