//! Wires a source, the wire parser, the filter and a sink together, and counts.
//!
//! One outer frame at a time, borrowed from the source's buffer: link -> IP ->
//! (reassembly) -> GRE / ERSPAN -> filter -> writer, with no copy until the writer's
//! output buffer (outer fragments are the exception: they are copied to be joined).
//! A capture file and a live socket are both a [`Source`]: they share the filters,
//! the writers, `-c`, `-U`, the stop flag and the counters. A ring is read a block at
//! a time ([`Decoder::run_ring`]): the emitter sees the block's bytes around its
//! frames, so the writer can write kept frames from ring memory without the copy
//! into its output buffer ([`crate::sink::vectored`]).

use crate::bpf::Expression;
use crate::capture::{
    CaptureError, Lent, OuterFrame, Received, RingError, RingSource, SocketError, Source,
};
use crate::filter::Filter;
use crate::reassembly::{self, Outcome, Reassembler};
use crate::report::Publisher;
use crate::rotate::Rotation;
use crate::seq::{SeqSpace, SeqTracker};
use crate::sessions::{Observed, Session, SessionTable};
use crate::sink::{self, Format, Output, Record, text::TextOptions};
use crate::stats::Stats;
use crate::wire::decap::DecapError;
use crate::wire::decap::{Decapsulated, PayloadKind, SkipCause, decapsulate_gre};
use crate::wire::ip::{self, OuterIp, PROTO_GRE};
use crate::wire::link::{NetProto, strip_link};
use crate::wire::udp::{
    MirrorPorts, PROTO_UDP, UdpDecapsulated, decapsulate_udp, decapsulate_udp_payload,
};
pub use crate::writer::DirectWriter;
use crate::{Timestamp, TsPrecision};
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Default snapshot length, as tcpdump's.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// Where the output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

impl Destination {
    /// The name used in messages.
    pub fn name(&self) -> String {
        match self {
            Destination::Stdout => "stdout".to_string(),
            Destination::File(p) => p.display().to_string(),
        }
    }
}

/// Everything a run needs, validated (the command line becomes this).
#[derive(Clone, Debug)]
pub struct Config {
    /// Capture file to read with `-r`; "-" is stdin. Live capture opens its socket
    /// from the command line's own options and does not look at this.
    pub input: PathBuf,
    pub destination: Destination,
    pub format: Format,
    /// Write nanosecond pcap even when the input has microseconds.
    pub nano: bool,
    pub snaplen: u32,
    /// Stop after this many frames written.
    pub count: Option<u64>,
    /// Flush after every frame (`-U`).
    pub packet_buffered: bool,
    pub filter: Filter,
    /// The filter expression (tcpdump's language) the inner frames must pass.
    pub expression: Option<Expression>,
    pub text: TextOptions,
    pub reassembly: reassembly::Limits,
    /// `--list-sessions`: count and tabulate the sessions, write no frames.
    pub list_sessions: bool,
    /// `--stats-json`: where the JSON Lines counters go.
    pub stats_json: Option<Destination>,
    /// `--stats-interval`: how often a JSON line is written while running.
    pub stats_interval: Option<Duration>,
    /// The UDP ports read as VXLAN / GENEVE / GRE-in-UDP, and the nesting rule.
    pub udp_ports: MirrorPorts,
    /// `-C`, `-G`, `-W`, `-z`: output file rotation.
    pub rotation: Rotation,
}

impl Config {
    /// A run with tcpdump's defaults: read stdin, write `format` to stdout, snaplen
    /// 262144, no filter, no count, block-buffered output.
    pub fn new(format: Format) -> Config {
        Config {
            input: "-".into(),
            destination: Destination::Stdout,
            format,
            nano: false,
            snaplen: DEFAULT_SNAPLEN,
            count: None,
            packet_buffered: false,
            filter: Filter::default(),
            expression: None,
            text: TextOptions::default(),
            reassembly: reassembly::Limits::default(),
            list_sessions: false,
            stats_json: None,
            stats_interval: None,
            udp_ports: MirrorPorts::default(),
            rotation: Rotation::default(),
        }
    }

    /// Whether the output is text lines rather than a capture file.
    pub fn write_is_text(&self) -> bool {
        self.format == Format::Text
    }
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error(transparent)]
    Ring(#[from] RingError),
    #[error(transparent)]
    Udp(#[from] crate::capture::udp::UdpError),
    #[error("cannot write {name}")]
    Output { name: String, source: io::Error },
}

/// Where the frames a [`Decoder`] keeps go: written on the spot ([`DirectWriter`], one
/// thread), or handed to a writer thread (live capture with several threads).
pub trait Emit {
    /// Starts the output at once (live sources: a reader at the other end of a pipe
    /// starts before the first frame).
    fn start(&mut self, precision: TsPrecision) -> Result<(), RunError>;
    /// Takes one kept frame; counts it in `stats` as written (or as dropped).
    fn frame(
        &mut self,
        record: &Record<'_>,
        precision: TsPrecision,
        stats: &mut Stats,
    ) -> Result<(), RunError>;
    /// The source ran dry for now: push out what is buffered.
    fn idle(&mut self, stats: &mut Stats) -> Result<(), RunError>;
    /// The frames up to the next [`Emit::block_end`] are read from `block`, which
    /// stays unchanged and in place until then: the emitter may refer to the bytes of
    /// those frames that lie inside it instead of copying them.
    fn block_start(&mut self, _block: &[u8], _stats: &mut Stats) -> Result<(), RunError> {
        Ok(())
    }
    /// The end of the frames read from `block` (the same bytes as at
    /// [`Emit::block_start`]): whatever refers to them must be written now, as the
    /// block goes back to the kernel afterwards. Called even when a frame failed.
    fn block_end(&mut self, _block: &[u8], _stats: &mut Stats) -> Result<(), RunError> {
        Ok(())
    }
    /// No more frames are wanted (`-c` reached, or the reader went away).
    fn done(&self) -> bool;
    /// The end of the run: an empty capture file if nothing came, the sessions'
    /// final counts (pcapng statistics blocks), then flush.
    fn finish(
        &mut self,
        precision: TsPrecision,
        sessions: &[Session],
        stats: &mut Stats,
    ) -> Result<(), RunError>;
}

/// Parses, filters and counts outer packets, and emits the inner frames it keeps.
/// The counters stay readable whatever happens.
pub struct Decoder<'c, E> {
    config: &'c Config,
    stats: Stats,
    reassembler: Reassembler,
    sessions: SessionTable,
    seq: SeqTracker,
    emit: E,
    publisher: Option<Publisher>,
    /// No session criteria (`--key`, `--session`, ...): every frame passes them.
    no_session_filter: bool,
}

/// The one-thread pipeline: decode and write in the same loop.
pub type Pipeline<'c> = Decoder<'c, DirectWriter<'c>>;

impl<'c> Pipeline<'c> {
    /// Prepares a run that writes to `output`.
    pub fn new(config: &'c Config, output: Output) -> Pipeline<'c> {
        Decoder::with_emit(config, DirectWriter::new(config, output))
    }
}

impl<'c, E: Emit> Decoder<'c, E> {
    /// Prepares a run that hands kept frames to `emit`.
    pub fn with_emit(config: &'c Config, emit: E) -> Decoder<'c, E> {
        Decoder {
            config,
            stats: Stats::default(),
            reassembler: Reassembler::new(config.reassembly),
            sessions: SessionTable::default(),
            seq: SeqTracker::default(),
            emit,
            publisher: None,
            no_session_filter: config.filter.is_empty(),
        }
    }

    /// Lets a reporter (`--stats-interval`, SIGUSR1, `--list-sessions`) read this
    /// run's counters while it runs.
    pub fn set_publisher(&mut self, publisher: Publisher) {
        self.publisher = Some(publisher);
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The sessions seen so far, with their sequence counts as of the last
    /// [`Decoder::update_counts`] (the end of a run updates them).
    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    /// Brings the sequence counts in the stats and the session table up to date.
    pub fn update_counts(&mut self) {
        let seq = self.seq.totals();
        self.stats.seq_lost = seq.lost;
        self.stats.seq_reordered = seq.reordered;
        self.stats.seq_duplicate = seq.duplicate;
        self.stats.seq_restarts = seq.restart;
        self.stats.seq_untracked = self.seq.untracked();
        self.sessions.update_seq(&self.seq);
    }

    /// The counters, the sessions and what frames went to, once the run is over.
    pub fn into_parts(self) -> (Stats, SessionTable, E) {
        (self.stats, self.sessions, self.emit)
    }

    /// Reads `source` to its end (or `-c`, or `stop`), then flushes. On an error the
    /// frames before it are written and flushed, and the counters stay valid.
    ///
    /// A live source gets its output header written at once (so a reader at the other
    /// end of a pipe starts), its buffered frames flushed whenever it runs dry, and,
    /// after `stop`, the packets the kernel already held.
    pub fn run<S>(&mut self, source: &mut S, stop: &AtomicBool) -> Result<(), RunError>
    where
        S: Source,
        RunError: From<S::Error>,
    {
        let mut result = Ok(());
        if source.is_live() {
            result = self.emit.start(source.precision());
        }
        if result.is_ok() {
            result = self.read_all(source, stop);
        }
        self.stats.kernel_drops = source.kernel_drops();
        let finish = self.finish(source.precision());
        result.and(finish)
    }

    /// [`Decoder::run`] for a ring read a block at a time: the emitter sees each
    /// block's bytes before its frames and after them, before the block goes back to
    /// the kernel ([`Emit::block_start`], [`Emit::block_end`]), so it can write the
    /// kept frames straight from ring memory.
    pub fn run_ring(&mut self, source: &mut RingSource, stop: &AtomicBool) -> Result<(), RunError> {
        let precision = source.precision();
        let mut result = self.emit.start(precision);
        if result.is_ok() {
            result = self.read_blocks(source, stop);
        }
        self.stats.kernel_drops = source.kernel_drops();
        let finish = self.finish(precision);
        result.and(finish)
    }

    fn read_blocks(&mut self, source: &mut RingSource, stop: &AtomicBool) -> Result<(), RunError> {
        let precision = source.precision();
        while !self.emit.done() {
            match source.next_block(stop)? {
                Lent::Block(mut frames) => {
                    let block = frames.bytes();
                    let mut result = self.emit.block_start(block, &mut self.stats);
                    while result.is_ok() && !self.emit.done() {
                        let Some(frame) = frames.next_frame() else {
                            break;
                        };
                        result = self.process(frame, precision);
                    }
                    let written = self.emit.block_end(block, &mut self.stats);
                    result.and(written)?;
                }
                Lent::Idle => {
                    self.emit.idle(&mut self.stats)?;
                    self.stats.kernel_drops = source.kernel_drops();
                }
                Lent::End => break,
            }
            if self.publisher.as_ref().is_some_and(Publisher::wanted) {
                self.stats.kernel_drops = source.kernel_drops();
                self.publish();
            }
        }
        Ok(())
    }

    fn read_all<S>(&mut self, source: &mut S, stop: &AtomicBool) -> Result<(), RunError>
    where
        S: Source,
        RunError: From<S::Error>,
    {
        while !self.emit.done() {
            // The precision is known once the header (pcap) or the interface
            // (pcapng) of the first packet was read.
            let precision = source.precision();
            let Some(received) = source.next_packet(stop)? else {
                break;
            };
            match received {
                Received::Frame(frame) => self.process(frame, precision)?,
                Received::Ipv6Payload {
                    ts,
                    src,
                    dst,
                    payload,
                    orig_len,
                } => self.process_ipv6_payload(ts, src, dst, payload, orig_len, precision)?,
                Received::UdpPayload {
                    ts,
                    src,
                    dst,
                    dst_port,
                    payload,
                    orig_len,
                } => {
                    self.stats.outer_packets += 1;
                    let wire_len = (orig_len as usize).max(payload.len());
                    let result = decapsulate_udp_payload(
                        &self.config.udp_ports,
                        dst_port,
                        payload,
                        wire_len,
                    );
                    self.deliver_udp(ts, src, dst, result, precision)?
                }
                Received::Idle => {
                    self.emit.idle(&mut self.stats)?;
                    self.stats.kernel_drops = source.kernel_drops();
                }
            }
            if self.publisher.as_ref().is_some_and(Publisher::wanted) {
                self.stats.kernel_drops = source.kernel_drops();
                self.publish();
            }
        }
        Ok(())
    }

    #[cold]
    fn publish(&mut self) {
        self.update_counts();
        if let Some(publisher) = &mut self.publisher {
            publisher.publish(&self.stats, self.sessions.as_slice());
        }
    }

    /// Handles the payload of one outer IPv6 packet whose header the kernel consumed
    /// (an IPv6 raw GRE socket): `payload` starts at the GRE header and `orig_len` is
    /// its length as received.
    pub fn process_ipv6_payload(
        &mut self,
        ts: Timestamp,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        payload: &[u8],
        orig_len: u32,
        precision: TsPrecision,
    ) -> Result<(), RunError> {
        self.stats.outer_packets += 1;
        let wire_len = (orig_len as usize).max(payload.len());
        self.decapsulate(ts, src.into(), dst.into(), payload, wire_len, precision)
    }

    /// Handles one outer frame.
    pub fn process(
        &mut self,
        frame: OuterFrame<'_>,
        precision: TsPrecision,
    ) -> Result<(), RunError> {
        self.stats.outer_packets += 1;
        // Each IP version goes on by reference: an `OuterIp` returned from a shared
        // match and moved on cost ~25 instructions per packet.
        match strip_link(frame.link, frame.data) {
            Ok((NetProto::Ipv4, bytes)) => match ip::parse_ipv4(bytes) {
                Ok(ip) => self.process_ip(&frame, &ip, precision),
                Err(e) => self.skip(e.into()),
            },
            Ok((NetProto::Ipv6, bytes)) => match ip::parse_ipv6(bytes) {
                Ok(ip) => self.process_ip(&frame, &ip, precision),
                Err(e) => self.skip(e.into()),
            },
            Err(e) => self.skip(e.into()),
        }
    }

    /// Handles the IP packet `ip` of the outer frame `frame`.
    fn process_ip(
        &mut self,
        frame: &OuterFrame<'_>,
        ip: &OuterIp<'_>,
        precision: TsPrecision,
    ) -> Result<(), RunError> {
        // The IP header claims more bytes than arrived although the capture kept the
        // whole frame: the header lies (a cut frame is fine and written as it is).
        let frame_complete = frame.data.len() >= frame.orig_len as usize;
        if frame_complete && ip.payload.len() < ip.payload_len {
            return self.skip(SkipCause::BadIpHeader);
        }
        if ip.fragment.is_some() {
            return self.fragment(frame.ts, ip, precision);
        }
        if ip.protocol == PROTO_UDP {
            return self.decapsulate_udp(
                frame.ts,
                ip.src,
                ip.dst,
                ip.payload,
                ip.payload_len,
                precision,
            );
        }
        if ip.protocol != PROTO_GRE {
            return self.skip(SkipCause::NotGre);
        }
        self.decapsulate(
            frame.ts,
            ip.src,
            ip.dst,
            ip.payload,
            ip.payload_len,
            precision,
        )
    }

    fn fragment(
        &mut self,
        ts: Timestamp,
        ip: &OuterIp<'_>,
        precision: TsPrecision,
    ) -> Result<(), RunError> {
        let may_be_gre = ip.protocol == PROTO_GRE
            || ip.protocol == PROTO_UDP
            || (ip.src.is_ipv6() && is_ipv6_ext_header(ip.protocol));
        if !may_be_gre {
            return self.skip(SkipCause::NotGre);
        }
        self.stats.fragments_held += 1;
        let outcome = self.reassembler.push(ts, ip);
        self.count_dropped_fragments();
        let Outcome::Complete(datagram) = outcome else {
            return Ok(());
        };
        self.stats.fragments_reassembled += 1;
        let (protocol, start) = if datagram.src.is_ipv6() {
            match ip::walk_ipv6_ext_headers(
                datagram.protocol,
                &datagram.payload,
                datagram.payload.len(),
            ) {
                Ok(walk) if walk.fragment.is_none() => (walk.protocol, walk.offset),
                Ok(_) => return self.skip(SkipCause::BadIpHeader),
                Err(e) => return self.skip(e.into()),
            }
        } else {
            (datagram.protocol, 0)
        };
        let payload = &datagram.payload[start..];
        if protocol == PROTO_UDP {
            let len = payload.len();
            return self.decapsulate_udp(ts, datagram.src, datagram.dst, payload, len, precision);
        }
        if protocol != PROTO_GRE {
            return self.skip(SkipCause::NotGre);
        }
        let gre = payload;
        self.decapsulate(ts, datagram.src, datagram.dst, gre, gre.len(), precision)
    }

    fn count_dropped_fragments(&mut self) {
        for (cause, n) in self.reassembler.take_dropped().causes() {
            for _ in 0..n {
                self.stats.skip(cause);
            }
        }
    }

    #[inline]
    fn decapsulate(
        &mut self,
        ts: Timestamp,
        src: IpAddr,
        dst: IpAddr,
        gre: &[u8],
        wire_len: usize,
        precision: TsPrecision,
    ) -> Result<(), RunError> {
        // The frame is delivered where the parser left it, not moved out first.
        match decapsulate_gre(gre, wire_len) {
            Ok(d) => self.deliver(ts, src, dst, &d, precision),
            Err(e) => self.skip(e.into()),
        }
    }

    /// A UDP datagram from the UDP header on: VXLAN, GENEVE or GRE-in-UDP by its
    /// destination port. A nested mirror packet (AWS GWLB) has its own sender.
    fn decapsulate_udp(
        &mut self,
        ts: Timestamp,
        src: IpAddr,
        dst: IpAddr,
        udp: &[u8],
        wire_len: usize,
        precision: TsPrecision,
    ) -> Result<(), RunError> {
        let result = decapsulate_udp(&self.config.udp_ports, udp, wire_len);
        self.deliver_udp(ts, src, dst, result, precision)
    }

    fn deliver_udp(
        &mut self,
        ts: Timestamp,
        src: IpAddr,
        dst: IpAddr,
        result: Result<UdpDecapsulated<'_>, DecapError>,
        precision: TsPrecision,
    ) -> Result<(), RunError> {
        match &result {
            Ok(u) => {
                let (src, dst) = u.nested_addrs.unwrap_or((src, dst));
                self.deliver(ts, src, dst, &u.decap, precision)
            }
            Err(e) => self.skip((*e).into()),
        }
    }

    /// Counts, filters and emits one decapsulated frame from sender `src`.
    #[inline]
    fn deliver(
        &mut self,
        ts: Timestamp,
        src: IpAddr,
        dst: IpAddr,
        d: &Decapsulated<'_>,
        precision: TsPrecision,
    ) -> Result<(), RunError> {
        let observed = self.sessions.observe(src, d);
        if observed == Observed::OverLimit {
            self.stats.sessions_over_limit += 1;
        }
        let dropcount = match (observed.session(), SeqSpace::of(d)) {
            (Some(no), Some((space, seq))) => {
                self.seq.observe(no.get(), src, space, seq).dropcount()
            }
            _ => 0,
        };
        if !self.no_session_filter && !self.config.filter.matches(src, d) {
            self.stats.filtered_out += 1;
            return Ok(());
        }
        let head: &[u8] = match d.kind {
            PayloadKind::Ethernet => &[],
            PayloadKind::Ipv4 => &sink::SYNTH_ETHERNET_IPV4,
            PayloadKind::Ipv6 => &sink::SYNTH_ETHERNET_IPV6,
            PayloadKind::Arp => &sink::SYNTH_ETHERNET_ARP,
        };
        let orig_len = (d.orig_len + head.len()).min(u32::MAX as usize) as u32;
        // The expression sees the frame as written, before `-s` cuts it.
        if let Some(expression) = &self.config.expression
            && !expression.matches(head, d.frame, orig_len)
        {
            self.stats.expression_rejected += 1;
            return Ok(());
        }
        if let Some(no) = observed.session() {
            self.sessions.record_written(no);
        }
        // Notes are about the frames written.
        if !d.notes.is_empty() {
            for note in d.notes.iter() {
                self.stats.note(note);
            }
        }
        let snaplen = self.config.snaplen as usize;
        let (head, data) = if head.len() + d.frame.len() > snaplen {
            self.stats.snaplen_truncated += 1;
            let head = &head[..head.len().min(snaplen)];
            (head, &d.frame[..snaplen - head.len()])
        } else {
            (head, d.frame)
        };
        let record = Record {
            ts,
            src,
            dst,
            decap: d,
            head,
            data,
            orig_len,
            session: observed
                .session()
                .and_then(|no| self.sessions.get(no))
                .map(|s| &s.key),
            dropcount,
        };
        self.emit.frame(&record, precision, &mut self.stats)
    }

    fn finish(&mut self, precision: TsPrecision) -> Result<(), RunError> {
        self.reassembler.finish();
        self.count_dropped_fragments();
        self.update_counts();
        self.emit
            .finish(precision, self.sessions.as_slice(), &mut self.stats)
    }

    fn skip(&mut self, cause: SkipCause) -> Result<(), RunError> {
        self.stats.skip(cause);
        Ok(())
    }
}

fn is_ipv6_ext_header(protocol: u8) -> bool {
    matches!(protocol, 0 | 43 | 51 | 60)
}
