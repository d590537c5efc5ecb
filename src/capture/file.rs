//! Capture files: a streaming reader of classic pcap and pcapng (a path, or `-` for stdin).
//!
//! [`FileSource`] reads the file through one buffer of its own, refilled with large `read`
//! calls, and lends each packet as an [`OuterFrame`] that borrows that buffer: nothing is
//! copied between the read and the consumer. pcap-parser's slice parsers do the header,
//! record and block parsing where they can do it without allocating; the framing (how many
//! bytes to ask for, and whether a claimed length is believable) is decided here.
//!
//! Capture files come from anywhere, including attackers and fuzzers. This module must
//! never panic, never hang, never allocate per packet, never read a whole file into memory
//! and never trust a claimed length beyond [`MAX_RECORD_LEN`]: memory stays flat (one
//! buffer, at most one record long beyond its initial size) whatever the file's size.
//! It knows link types and timestamps, never what is inside a frame.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pcap_parser::pcap::parse_pcap_header;
use pcap_parser::pcapng::{
    BOM_MAGIC, CB_MAGIC, DCB_MAGIC, DSB_MAGIC, EPB_MAGIC, IDB_MAGIC, ISB_MAGIC, NRB_MAGIC,
    OptionCode, SHB_MAGIC, SPB_MAGIC, parse_interfacedescriptionblock_be,
    parse_interfacedescriptionblock_le, parse_sectionheaderblock, parse_simplepacketblock_be,
    parse_simplepacketblock_le,
};

use super::{OuterFrame, sys};
use crate::wire::LinkType;
use crate::wire::link::linktype_name;
use crate::{Timestamp, TsPrecision};

/// The largest classic pcap record (captured bytes) or pcapng block (whole block) accepted.
///
/// Real packets, even GRO-merged ones, stay far below this; a bigger claim is corruption,
/// and believing it would let a 20-byte file make us allocate gigabytes.
pub const MAX_RECORD_LEN: u32 = 64 << 20;

/// Initial size of the read buffer; grown only for a single record larger than this.
const BUFFER_LEN: usize = 1 << 20;

/// Interfaces per pcapng section; keeps the interface table bounded like everything else.
const MAX_INTERFACES: usize = 1 << 16;

/// Classic pcap magics as read little-endian from the first four bytes of the file.
const PCAP_MAGIC_MICRO: u32 = 0xA1B2_C3D4;
const PCAP_MAGIC_NANO: u32 = 0xA1B2_3C4D;
const PCAP_MAGIC_MICRO_SWAPPED: u32 = 0xD4C3_B2A1;
const PCAP_MAGIC_NANO_SWAPPED: u32 = 0x4D3C_B2A1;
/// Alexey Kuznetsov's "modified" pcap (24-byte records), in either byte order.
const PCAP_MAGIC_MODIFIED: u32 = 0xA1B2_CD34;
const PCAP_MAGIC_MODIFIED_SWAPPED: u32 = 0x34CD_B2A1;

/// Classic pcap layout.
const PCAP_FILE_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

/// pcapng generic block layout: type, total length, body, total length.
const BLOCK_HEADER_LEN: usize = 8;
const BLOCK_TRAILER_LEN: usize = 4;
const BLOCK_MIN_LEN: u32 = 12;
const BLOCK_LEN: usize = 4;
/// Where the byte-order magic sits in a section header block.
const SHB_BOM: usize = 8;
/// EPB body: interface id, timestamp high, timestamp low, captured length, original length.
const EPB_INTERFACE: usize = 8;
const EPB_TS_HIGH: usize = 12;
const EPB_TS_LOW: usize = 16;
const EPB_CAPLEN: usize = 20;
const EPB_ORIGLEN: usize = 24;
const EPB_DATA: usize = 28;
/// SPB body: original length, then data.
const SPB_DATA: usize = 12;
/// `if_tsoffset` is a 64-bit integer.
const TSOFFSET_LEN: usize = 8;

/// Why a capture file cannot be read (further). Every message is one line that starts
/// with the file name (`stdin` for `-`).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A blocked read was interrupted by a signal after the stop flag was set (see
    /// [`FileSource::open_interruptible`]): not a failure, the run is asked to stop.
    #[error("{file}: reading interrupted")]
    Interrupted { file: String },
    #[error("{file}: cannot open")]
    Open {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{file}: cannot read")]
    Read {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{file}: empty file")]
    Empty { file: String },
    #[error("{file}: file too short for a {format} header ({got} bytes)")]
    ShortHeader {
        file: String,
        format: &'static str,
        got: usize,
    },
    #[error("{file}: not a pcap or pcapng file (magic {magic:#010x})")]
    NotCapture { file: String, magic: u32 },
    #[error(
        "{file}: modified (Kuznetsov) pcap is not supported (magic {magic:#010x}); convert it with `editcap -F pcap`"
    )]
    ModifiedPcap { file: String, magic: u32 },
    #[error(
        "{file}: unsupported link type {linktype} ({name}){}; spandump reads EN10MB, RAW, IPV4, IPV6, LINUX_SLL, LINUX_SLL2, NULL and LOOP",
        on_interface(.interface)
    )]
    UnsupportedLinkType {
        file: String,
        linktype: u32,
        name: &'static str,
        /// The pcapng interface that carries it (none for classic pcap).
        interface: Option<usize>,
    },
    #[error("{file}: record {record} claims {caplen} captured bytes (corrupt file?)")]
    HugeRecord {
        file: String,
        /// 1-based record number.
        record: u64,
        caplen: u32,
    },
    #[error("{file}: file ends in the middle of {} {what} (after {frames} packets)", article(.what))]
    Truncated {
        file: String,
        what: &'static str,
        frames: u64,
    },
    #[error("{file}: {kind} at offset {offset} claims {len} bytes (corrupt file?)")]
    HugeBlock {
        file: String,
        offset: u64,
        kind: &'static str,
        len: u32,
    },
    #[error("{file}: {kind} at offset {offset} has a bad length {len} ({why})")]
    BadBlockLength {
        file: String,
        offset: u64,
        kind: &'static str,
        len: u32,
        why: &'static str,
    },
    #[error(
        "{file}: {kind} at offset {offset} has length {len} at its start but {trailer} at its end"
    )]
    BlockLengthMismatch {
        file: String,
        offset: u64,
        kind: &'static str,
        len: u32,
        trailer: u32,
    },
    #[error(
        "{file}: section header block at offset {offset} has a bad byte-order magic {bom:#010x}"
    )]
    BadByteOrder { file: String, offset: u64, bom: u32 },
    #[error(
        "{file}: section header block at offset {offset} is pcapng version {major}.{minor}; spandump reads version 1"
    )]
    UnsupportedVersion {
        file: String,
        offset: u64,
        major: u16,
        minor: u16,
    },
    #[error("{file}: malformed {kind} at offset {offset}: {why}")]
    MalformedBlock {
        file: String,
        offset: u64,
        kind: &'static str,
        why: &'static str,
    },
    #[error(
        "{file}: interface description block at offset {offset} has an invalid if_tsresol {tsresol:#04x}"
    )]
    BadTsResol {
        file: String,
        offset: u64,
        tsresol: u8,
    },
    #[error(
        "{file}: interface description block at offset {offset} exceeds the limit of {max} interfaces per section"
    )]
    TooManyInterfaces {
        file: String,
        offset: u64,
        max: usize,
    },
    #[error(
        "{file}: {kind} at offset {offset} names interface {interface}, but its section has {count} interface(s)"
    )]
    UnknownInterface {
        file: String,
        offset: u64,
        kind: &'static str,
        interface: u32,
        count: usize,
    },
}

fn on_interface(interface: &Option<usize>) -> String {
    interface.map_or_else(String::new, |i| format!(" on interface {i}"))
}

fn article(what: &str) -> &'static str {
    match what.as_bytes().first() {
        Some(b'a' | b'e' | b'i' | b'o' | b'u') => "an",
        _ => "a",
    }
}

/// A classic pcap or pcapng file read one packet at a time.
///
/// After an error the source is finished: later calls to [`FileSource::next_frame`]
/// return `Ok(None)`, so a loop that only logs errors still ends.
pub struct FileSource {
    input: Input,
    format: Format,
    precision: TsPrecision,
    frames: u64,
    failed: bool,
}

impl FileSource {
    /// Opens `path` ("-" = stdin), reads and checks the file header.
    ///
    /// For pcapng it also reads the interface descriptions that precede the first packet,
    /// so [`FileSource::precision`] is already right for ordinary files.
    pub fn open(path: &Path) -> Result<FileSource, CaptureError> {
        FileSource::open_interruptible(path, None)
    }

    /// [`FileSource::open`] for a run that a stop flag can end: once `interrupt` is set,
    /// a read that a signal interrupted (EINTR) returns [`CaptureError::Interrupted`]
    /// instead of being retried, so a read blocked on an idle pipe (even before the
    /// file header arrived) ends the run. The caller makes its stop signal interrupt
    /// system calls.
    pub fn open_interruptible(
        path: &Path,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<FileSource, CaptureError> {
        let (reader, name): (Box<dyn Read + Send>, String) = if path == Path::new("-") {
            let reader: Box<dyn Read + Send> = match &interrupt {
                Some(stop) => Box::new(StoppableReader {
                    inner: io::stdin(),
                    stop: Arc::clone(stop),
                }),
                None => Box::new(io::stdin()),
            };
            (reader, "-".to_owned())
        } else {
            let name = path.display().to_string();
            let file = File::open(path).map_err(|source| CaptureError::Open {
                file: name.clone(),
                source,
            })?;
            let regular = file.metadata().is_ok_and(|m| m.is_file());
            let reader: Box<dyn Read + Send> = match &interrupt {
                // A FIFO or a device can block for ever: look at the stop flag.
                Some(stop) if !regular => Box::new(StoppableReader {
                    inner: file,
                    stop: Arc::clone(stop),
                }),
                _ => Box::new(file),
            };
            (reader, name)
        };
        FileSource::with_buffer(reader, &name, BUFFER_LEN, interrupt)
    }

    /// Any `Read` (used by tests and fuzzing); `name` is used in messages.
    pub fn from_reader(
        reader: Box<dyn Read + Send>,
        name: &str,
    ) -> Result<FileSource, CaptureError> {
        FileSource::with_buffer(reader, name, BUFFER_LEN, None)
    }

    fn with_buffer(
        reader: Box<dyn Read + Send>,
        name: &str,
        buffer_len: usize,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<FileSource, CaptureError> {
        let name = if name == "-" { "stdin" } else { name };
        let mut input = Input {
            name: name.to_owned(),
            reader,
            buf: vec![0; buffer_len.max(PCAP_FILE_HEADER_LEN)],
            start: 0,
            end: 0,
            buf_offset: 0,
            eof: false,
            interrupt,
        };
        input.fill(PCAP_FILE_HEADER_LEN)?;
        let head = input.unparsed();
        let Some(magic) = head.get(..4).map(|b| read_u32(b, 0, false)) else {
            return Err(if head.is_empty() {
                CaptureError::Empty { file: input.file() }
            } else {
                CaptureError::ShortHeader {
                    file: input.file(),
                    format: "pcap or pcapng",
                    got: head.len(),
                }
            });
        };
        match magic {
            PCAP_MAGIC_MICRO
            | PCAP_MAGIC_NANO
            | PCAP_MAGIC_MICRO_SWAPPED
            | PCAP_MAGIC_NANO_SWAPPED => {
                let pcap = ClassicPcap::from_header(&input)?;
                input.consume(PCAP_FILE_HEADER_LEN);
                let precision = if pcap.nanos {
                    TsPrecision::Nano
                } else {
                    TsPrecision::Micro
                };
                Ok(FileSource {
                    input,
                    format: Format::Pcap(pcap),
                    precision,
                    frames: 0,
                    failed: false,
                })
            }
            PCAP_MAGIC_MODIFIED | PCAP_MAGIC_MODIFIED_SWAPPED => Err(CaptureError::ModifiedPcap {
                file: input.file(),
                magic,
            }),
            SHB_MAGIC => {
                let mut section = Section {
                    big_endian: false,
                    interfaces: Vec::new(),
                };
                let mut precision = TsPrecision::Micro;
                section.next_packet(&mut input, &mut precision, 0, Mode::StopBeforePacket)?;
                Ok(FileSource {
                    input,
                    format: Format::PcapNg(section),
                    precision,
                    frames: 0,
                    failed: false,
                })
            }
            _ => Err(CaptureError::NotCapture {
                file: input.file(),
                magic,
            }),
        }
    }

    /// The next packet, or Ok(None) at a clean end of file.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<OuterFrame<'_>>, CaptureError> {
        if self.failed {
            return Ok(None);
        }
        let next = match &mut self.format {
            Format::Pcap(pcap) => pcap.next_packet(&mut self.input, self.frames),
            Format::PcapNg(section) => section.next_packet(
                &mut self.input,
                &mut self.precision,
                self.frames,
                Mode::Read,
            ),
        };
        let packet = match next {
            Ok(Some(packet)) => packet,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.failed = true;
                return Err(e);
            }
        };
        self.frames += 1;
        Ok(Some(OuterFrame {
            ts: packet.ts,
            link: packet.link,
            data: &self.input.buf[packet.data_start..packet.data_start + packet.data_len],
            orig_len: packet.orig_len,
        }))
    }

    /// Finest timestamp precision seen so far: Nano for ns-magic pcap, or for pcapng
    /// interfaces whose if_tsresol is finer than microseconds; Micro otherwise.
    pub fn precision(&self) -> TsPrecision {
        self.precision
    }

    /// Number of packets (records) returned so far.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }
}

impl fmt::Debug for FileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSource")
            .field("file", &self.input.name)
            .field("format", &self.format)
            .field("precision", &self.precision)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

/// The reader and the one buffer every frame is lent from.
///
/// `buf[start..end]` holds read but unparsed bytes; `buf_offset` is the file offset of
/// `buf[0]`, for messages that name where a block starts.
struct Input {
    name: String,
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    buf_offset: u64,
    eof: bool,
    /// When set and a read fails with EINTR, stop instead of reading again.
    interrupt: Option<Arc<AtomicBool>>,
}

impl Input {
    fn file(&self) -> String {
        self.name.clone()
    }

    #[inline]
    fn unparsed(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// File offset of the first unparsed byte.
    fn offset(&self) -> u64 {
        self.buf_offset + self.start as u64
    }

    #[inline]
    fn consume(&mut self, len: usize) {
        self.start = (self.start + len).min(self.end);
    }

    /// Makes at least `need` unparsed bytes available; `false` if the file ends first.
    ///
    /// Callers bound `need` (at most [`MAX_RECORD_LEN`] plus a header) before asking; the
    /// buffer only grows past its initial size for a record that really is that long.
    #[inline]
    fn fill(&mut self, need: usize) -> Result<bool, CaptureError> {
        if self.end - self.start >= need {
            return Ok(true);
        }
        self.refill(need)
    }

    /// The slow path of [`Self::fill`]: compact, then read until `need` bytes are there.
    #[inline(never)]
    fn refill(&mut self, need: usize) -> Result<bool, CaptureError> {
        if self.start > 0 {
            // The tail is shorter than one record, so this copy is cheap, and it leaves
            // the rest of the buffer free for one big read.
            self.buf.copy_within(self.start..self.end, 0);
            self.buf_offset += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < need {
            if self.eof {
                return Ok(false);
            }
            if self.end == self.buf.len() {
                // Grow by doubling as the bytes arrive rather than to the claimed length
                // at once, so a short file that claims a huge record costs nothing.
                let grown = self.buf.len().saturating_mul(2).min(need);
                self.buf.resize(grown, 0);
            }
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                // `min` guards against a reader that claims more than it was given.
                Ok(n) => self.end = (self.end + n).min(self.buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if self
                        .interrupt
                        .as_ref()
                        .is_some_and(|f| f.load(Ordering::Relaxed))
                    {
                        return Err(CaptureError::Interrupted { file: self.file() });
                    }
                }
                Err(source) => {
                    return Err(CaptureError::Read {
                        file: self.file(),
                        source,
                    });
                }
            }
        }
        Ok(true)
    }

    fn truncated(&self, what: &'static str, frames: u64) -> CaptureError {
        CaptureError::Truncated {
            file: self.file(),
            what,
            frames,
        }
    }
}

#[derive(Debug)]
enum Format {
    Pcap(ClassicPcap),
    PcapNg(Section),
}

/// Where one packet sits in the buffer, and what to say about it.
struct Packet {
    ts: Timestamp,
    link: LinkType,
    data_start: usize,
    data_len: usize,
    orig_len: u32,
}

#[derive(Debug)]
struct ClassicPcap {
    big_endian: bool,
    nanos: bool,
    link: LinkType,
}

impl ClassicPcap {
    fn from_header(input: &Input) -> Result<ClassicPcap, CaptureError> {
        let head = input.unparsed();
        let Some(head) = head.get(..PCAP_FILE_HEADER_LEN) else {
            return Err(CaptureError::ShortHeader {
                file: input.file(),
                format: "pcap file",
                got: head.len(),
            });
        };
        let (_, header) = parse_pcap_header(head).map_err(|_| CaptureError::NotCapture {
            file: input.file(),
            magic: read_u32(head, 0, false),
        })?;
        // The upper bits carry FCS information, not the link type.
        let linktype = header.network.0 as u32 & 0xFFFF;
        let link =
            LinkType::from_linktype(linktype).ok_or_else(|| CaptureError::UnsupportedLinkType {
                file: input.file(),
                linktype,
                name: linktype_name(linktype),
                interface: None,
            })?;
        Ok(ClassicPcap {
            big_endian: header.is_bigendian(),
            nanos: header.is_nanosecond_precision(),
            link,
        })
    }

    #[inline]
    fn next_packet(&self, input: &mut Input, frames: u64) -> Result<Option<Packet>, CaptureError> {
        const WHAT: &str = "packet record";
        if !input.fill(PCAP_RECORD_HEADER_LEN)? {
            if input.unparsed().is_empty() {
                return Ok(None);
            }
            return Err(input.truncated(WHAT, frames));
        }
        // The 16-byte record header is read by hand, in one bounds check: the caplen
        // is needed first anyway, and pcap-parser's record parser cost ~50
        // instructions per packet on this path (callgrind, 1M 64-byte frames).
        let Some(header) = input.unparsed().first_chunk::<PCAP_RECORD_HEADER_LEN>() else {
            return Err(input.truncated(WHAT, frames));
        };
        let words: [u32; 4] = std::array::from_fn(|i| {
            u32::from_ne_bytes([
                header[4 * i],
                header[4 * i + 1],
                header[4 * i + 2],
                header[4 * i + 3],
            ])
        });
        // One byte-order decision per record, not one per field.
        let [ts_sec, ts_frac, caplen, origlen] = if self.big_endian == cfg!(target_endian = "big") {
            words
        } else {
            words.map(u32::swap_bytes)
        };
        if caplen > MAX_RECORD_LEN {
            return Err(CaptureError::HugeRecord {
                file: input.file(),
                record: frames + 1,
                caplen,
            });
        }
        let record_len = PCAP_RECORD_HEADER_LEN + caplen as usize;
        if !input.fill(record_len)? {
            return Err(input.truncated(WHAT, frames));
        }
        let ts = if self.nanos {
            fraction_to_timestamp::<1_000_000_000>(ts_sec, ts_frac)
        } else {
            fraction_to_timestamp::<1_000_000>(ts_sec, ts_frac)
        };
        let packet = Packet {
            ts,
            link: self.link,
            data_start: input.start + PCAP_RECORD_HEADER_LEN,
            data_len: caplen as usize,
            orig_len: origlen.max(caplen),
        };
        input.consume(record_len);
        Ok(Some(packet))
    }
}

/// Whether the pcapng walk returns packets or stops in front of the first one (at open).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    StopBeforePacket,
}

/// The current pcapng section: its byte order and its interfaces, in IDB order.
#[derive(Debug)]
struct Section {
    big_endian: bool,
    interfaces: Vec<Interface>,
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    units: TsUnits,
    offset_secs: i64,
}

impl Section {
    /// Walks blocks until a packet block, handling section and interface blocks on the
    /// way and skipping all others. `Ok(None)` at a clean end of file (or, with
    /// [`Mode::StopBeforePacket`], in front of a packet block, which stays unread).
    fn next_packet(
        &mut self,
        input: &mut Input,
        precision: &mut TsPrecision,
        frames: u64,
        mode: Mode,
    ) -> Result<Option<Packet>, CaptureError> {
        loop {
            let offset = input.offset();
            if !input.fill(BLOCK_HEADER_LEN)? {
                if input.unparsed().is_empty() {
                    return Ok(None);
                }
                return Err(input.truncated("block header", frames));
            }
            let raw_type = read_u32(input.unparsed(), 0, false);
            if raw_type == SHB_MAGIC {
                // The type reads the same in both byte orders; the byte-order magic after
                // the length says which one this section (and its length field) uses.
                if !input.fill(SHB_BOM + 4)? {
                    return Err(input.truncated(block_name(SHB_MAGIC), frames));
                }
                self.big_endian = match read_u32(input.unparsed(), SHB_BOM, false) {
                    BOM_MAGIC => false,
                    bom if bom == BOM_MAGIC.swap_bytes() => true,
                    bom => {
                        return Err(CaptureError::BadByteOrder {
                            file: input.file(),
                            offset,
                            bom,
                        });
                    }
                };
            }
            let be = self.big_endian;
            let block_type = if be { raw_type.swap_bytes() } else { raw_type };
            if mode == Mode::StopBeforePacket && matches!(block_type, EPB_MAGIC | SPB_MAGIC) {
                return Ok(None);
            }
            let kind = block_name(block_type);
            let len = checked_block_len(input, offset, block_type, be)?;
            if !input.fill(len)? {
                return Err(input.truncated(kind, frames));
            }
            let block = &input.unparsed()[..len];
            let trailer = read_u32(block, len - BLOCK_TRAILER_LEN, be);
            if trailer as usize != len {
                return Err(CaptureError::BlockLengthMismatch {
                    file: input.file(),
                    offset,
                    kind,
                    len: len as u32,
                    trailer,
                });
            }
            let malformed = |why| CaptureError::MalformedBlock {
                file: input.file(),
                offset,
                kind,
                why,
            };
            match block_type {
                SHB_MAGIC => {
                    let (_, shb) = parse_sectionheaderblock(block)
                        .map_err(|_| malformed("cannot parse its header or options"))?;
                    if shb.major_version != 1 {
                        return Err(CaptureError::UnsupportedVersion {
                            file: input.file(),
                            offset,
                            major: shb.major_version,
                            minor: shb.minor_version,
                        });
                    }
                    self.interfaces.clear();
                }
                IDB_MAGIC => {
                    let interface = self.interface_from_idb(input, block, offset)?;
                    if interface.units.per_sec > 1_000_000 {
                        *precision = TsPrecision::Nano;
                    }
                    self.interfaces.push(interface);
                }
                EPB_MAGIC => {
                    let interface_id = read_u32(block, EPB_INTERFACE, be);
                    let ts_high = read_u32(block, EPB_TS_HIGH, be);
                    let ts_low = read_u32(block, EPB_TS_LOW, be);
                    let caplen = read_u32(block, EPB_CAPLEN, be);
                    let origlen = read_u32(block, EPB_ORIGLEN, be);
                    if caplen as usize > len - EPB_DATA - BLOCK_TRAILER_LEN {
                        return Err(malformed("its captured length exceeds the block"));
                    }
                    let interface = self.interface(input, offset, kind, interface_id)?;
                    let count = (u64::from(ts_high) << 32) | u64::from(ts_low);
                    let packet = Packet {
                        ts: interface.units.timestamp(count, interface.offset_secs),
                        link: interface.link,
                        data_start: input.start + EPB_DATA,
                        data_len: caplen as usize,
                        orig_len: origlen.max(caplen),
                    };
                    input.consume(len);
                    return Ok(Some(packet));
                }
                SPB_MAGIC => {
                    let parsed = if be {
                        parse_simplepacketblock_be(block)
                    } else {
                        parse_simplepacketblock_le(block)
                    };
                    let (_, spb) = parsed.map_err(|_| malformed("cannot parse its header"))?;
                    // The data is padded to 4 bytes, and cut to the snaplen when the
                    // packet was longer: the captured part is the shorter of the two.
                    let data_len = spb.data.len().min(spb.origlen as usize);
                    let orig_len = spb.origlen;
                    let interface = self.interface(input, offset, kind, 0)?;
                    let packet = Packet {
                        ts: Timestamp::default(),
                        link: interface.link,
                        data_start: input.start + SPB_DATA,
                        data_len,
                        orig_len,
                    };
                    input.consume(len);
                    return Ok(Some(packet));
                }
                _ => {}
            }
            input.consume(len);
        }
    }

    fn interface_from_idb(
        &self,
        input: &Input,
        block: &[u8],
        offset: u64,
    ) -> Result<Interface, CaptureError> {
        if self.interfaces.len() >= MAX_INTERFACES {
            return Err(CaptureError::TooManyInterfaces {
                file: input.file(),
                offset,
                max: MAX_INTERFACES,
            });
        }
        let parsed = if self.big_endian {
            parse_interfacedescriptionblock_be(block)
        } else {
            parse_interfacedescriptionblock_le(block)
        };
        let (_, idb) = parsed.map_err(|_| CaptureError::MalformedBlock {
            file: input.file(),
            offset,
            kind: block_name(IDB_MAGIC),
            why: "cannot parse its header or options",
        })?;
        let linktype = idb.linktype.0 as u32;
        let link =
            LinkType::from_linktype(linktype).ok_or_else(|| CaptureError::UnsupportedLinkType {
                file: input.file(),
                linktype,
                name: linktype_name(linktype),
                interface: Some(self.interfaces.len()),
            })?;
        // Read the options here rather than through pcap-parser's if_tsoffset, which
        // decodes the value little-endian even in big-endian sections.
        let mut tsresol = None;
        let mut tsoffset = None;
        for option in &idb.options {
            let Ok(value) = option.as_bytes() else {
                continue;
            };
            if option.code == OptionCode::IfTsresol && tsresol.is_none() {
                tsresol = value.first().copied();
            } else if option.code == OptionCode::IfTsoffset
                && tsoffset.is_none()
                && let Ok(bytes) = <[u8; TSOFFSET_LEN]>::try_from(value)
            {
                tsoffset = Some(if self.big_endian {
                    i64::from_be_bytes(bytes)
                } else {
                    i64::from_le_bytes(bytes)
                });
            }
        }
        let tsresol = tsresol.unwrap_or(6);
        let units = TsUnits::from_tsresol(tsresol).ok_or_else(|| CaptureError::BadTsResol {
            file: input.file(),
            offset,
            tsresol,
        })?;
        Ok(Interface {
            link,
            units,
            offset_secs: tsoffset.unwrap_or(0),
        })
    }

    fn interface(
        &self,
        input: &Input,
        offset: u64,
        kind: &'static str,
        interface: u32,
    ) -> Result<Interface, CaptureError> {
        self.interfaces
            .get(interface as usize)
            .copied()
            .ok_or_else(|| CaptureError::UnknownInterface {
                file: input.file(),
                offset,
                kind,
                interface,
                count: self.interfaces.len(),
            })
    }
}

/// Reads and checks the total length of the pcapng block at the start of the unparsed
/// bytes (its header is there).
fn checked_block_len(
    input: &Input,
    offset: u64,
    block_type: u32,
    big_endian: bool,
) -> Result<usize, CaptureError> {
    let kind = block_name(block_type);
    let len = read_u32(input.unparsed(), BLOCK_LEN, big_endian);
    let bad = |why| CaptureError::BadBlockLength {
        file: input.file(),
        offset,
        kind,
        len,
        why,
    };
    if len < BLOCK_MIN_LEN {
        return Err(bad("shorter than a block header and trailer"));
    }
    if !len.is_multiple_of(4) {
        return Err(bad("not a multiple of 4"));
    }
    if len > MAX_RECORD_LEN {
        return Err(CaptureError::HugeBlock {
            file: input.file(),
            offset,
            kind,
            len,
        });
    }
    let min_len = match block_type {
        SHB_MAGIC => 28,
        IDB_MAGIC => 20,
        EPB_MAGIC => 32,
        SPB_MAGIC => 16,
        _ => BLOCK_MIN_LEN,
    };
    if len < min_len {
        return Err(bad("too short for its type"));
    }
    Ok(len as usize)
}

/// A name for a pcapng block type, for messages.
fn block_name(block_type: u32) -> &'static str {
    match block_type {
        SHB_MAGIC => "section header block",
        IDB_MAGIC => "interface description block",
        EPB_MAGIC => "enhanced packet block",
        SPB_MAGIC => "simple packet block",
        NRB_MAGIC => "name resolution block",
        ISB_MAGIC => "interface statistics block",
        DSB_MAGIC => "decryption secrets block",
        CB_MAGIC | DCB_MAGIC => "custom block",
        2 => "obsolete packet block",
        _ => "block",
    }
}

/// A pcapng interface's timestamp unit (`if_tsresol`), and how to turn a count of them
/// into seconds and nanoseconds with integer math only.
#[derive(Clone, Copy, Debug)]
struct TsUnits {
    per_sec: u64,
    to_nanos: FractionToNanos,
}

#[derive(Clone, Copy, Debug)]
enum FractionToNanos {
    /// 10^-k with k <= 9: multiply by 10^(9-k).
    Multiply(u64),
    /// 10^-k with k > 9: divide by 10^(k-9), truncating.
    Divide(u64),
    /// 2^-k: multiply by 10^9, shift right by k (exact, then truncated).
    Shift(u32),
}

impl TsUnits {
    /// `None` for a resolution whose unit count per second does not fit in 64 bits.
    fn from_tsresol(tsresol: u8) -> Option<TsUnits> {
        let exp = u32::from(tsresol & 0x7F);
        if tsresol & 0x80 == 0 {
            let per_sec = 10u64.checked_pow(exp)?;
            let to_nanos = if exp <= 9 {
                FractionToNanos::Multiply(10u64.pow(9 - exp))
            } else {
                FractionToNanos::Divide(10u64.pow(exp - 9))
            };
            Some(TsUnits { per_sec, to_nanos })
        } else {
            let per_sec = 1u64.checked_shl(exp)?;
            Some(TsUnits {
                per_sec,
                to_nanos: FractionToNanos::Shift(exp),
            })
        }
    }

    fn timestamp(self, count: u64, offset_secs: i64) -> Timestamp {
        // Constant divisors for the common units compile to multiplications, which keeps a
        // hardware division off the per-packet path.
        let (whole, fraction) = match self.per_sec {
            1_000_000 => (count / 1_000_000, count % 1_000_000),
            1_000_000_000 => (count / 1_000_000_000, count % 1_000_000_000),
            per_sec => (count / per_sec, count % per_sec),
        };
        // Each arm stays below 10^9 because `fraction` is below `per_sec`.
        let nanos = match self.to_nanos {
            FractionToNanos::Multiply(m) => fraction * m,
            FractionToNanos::Divide(d) => fraction / d,
            FractionToNanos::Shift(k) => ((u128::from(fraction) * 1_000_000_000) >> k) as u64,
        };
        let secs = i64::try_from(whole)
            .unwrap_or(i64::MAX)
            .saturating_add(offset_secs);
        Timestamp::new(secs, nanos as u32)
    }
}

/// A record time of whole seconds and `frac` units of 1 / `PER_SEC` s. Writers
/// sometimes leave the fraction un-normalised; it is carried into the seconds (the
/// divisions are by a constant, and skipped for a normal fraction).
#[inline]
fn fraction_to_timestamp<const PER_SEC: u32>(secs: u32, frac: u32) -> Timestamp {
    let nanos_per_unit = 1_000_000_000 / PER_SEC;
    if frac < PER_SEC {
        Timestamp::new(i64::from(secs), frac * nanos_per_unit)
    } else {
        Timestamp::new(
            i64::from(secs) + i64::from(frac / PER_SEC),
            frac % PER_SEC * nanos_per_unit,
        )
    }
}

/// Reads a u32 at `off` in the given byte order; callers have checked the length (past
/// the end it reads 0 rather than panic).
#[inline]
fn read_u32(b: &[u8], off: usize, big_endian: bool) -> u32 {
    let Some(&bytes) = b.get(off..).and_then(<[u8]>::first_chunk::<4>) else {
        return 0;
    };
    if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    }
}

/// A pipe, FIFO or terminal read that wakes every 100 ms to look at the stop flag. A
/// signal interrupts a blocked `read` (EINTR), but one that lands just before the call
/// would be missed and the read would block until more input came: the wait closes
/// that gap. Once the flag is set, a read fails with `Interrupted`, which the reader
/// turns into [`CaptureError::Interrupted`].
struct StoppableReader<R> {
    inner: R,
    stop: Arc<AtomicBool>,
}

impl<R: Read + AsFd> Read for StoppableReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            if sys::wait_readable(&self.inner, STOP_POLL_MS)? {
                return self.inner.read(buf);
            }
        }
    }
}

/// How often a blocked read looks at the stop flag.
const STOP_POLL_MS: i32 = 100;

#[cfg(test)]
mod tests {
    //! Every fixture is built byte by byte here, following the layouts in
    //! draft-ietf-opsawg-pcap (classic pcap) and draft-ietf-opsawg-pcapng.

    use std::io::Cursor;

    use super::*;

    const LINKTYPE_ETHERNET: u32 = 1;
    const LINKTYPE_RAW: u32 = 101;
    const LINKTYPE_LINUX_SLL: u32 = 113;
    const LINKTYPE_IPV4: u32 = 228;
    const LINKTYPE_IEEE802_11: u32 = 105;

    const IF_TSRESOL: u16 = 9;
    const IF_TSOFFSET: u16 = 14;

    fn put16(out: &mut Vec<u8>, v: u16, be: bool) {
        out.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
    }

    fn put32(out: &mut Vec<u8>, v: u32, be: bool) {
        out.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
    }

    /// A classic pcap file: the global header, then records added one by one.
    struct Pcap {
        be: bool,
        out: Vec<u8>,
    }

    impl Pcap {
        fn new(magic: u32, be: bool, linktype: u32) -> Pcap {
            let mut out = Vec::new();
            put32(&mut out, magic, be);
            put16(&mut out, 2, be);
            put16(&mut out, 4, be);
            put32(&mut out, 0, be);
            put32(&mut out, 0, be);
            put32(&mut out, 262_144, be);
            put32(&mut out, linktype, be);
            Pcap { be, out }
        }

        fn record(mut self, secs: u32, frac: u32, data: &[u8], orig_len: u32) -> Pcap {
            self.record_header(secs, frac, data.len() as u32, orig_len);
            self.out.extend_from_slice(data);
            self
        }

        fn record_header(&mut self, secs: u32, frac: u32, caplen: u32, orig_len: u32) {
            put32(&mut self.out, secs, self.be);
            put32(&mut self.out, frac, self.be);
            put32(&mut self.out, caplen, self.be);
            put32(&mut self.out, orig_len, self.be);
        }
    }

    /// A pcapng file: blocks in the byte order of the current section.
    struct Ng {
        be: bool,
        out: Vec<u8>,
    }

    impl Ng {
        fn new(be: bool) -> Ng {
            Ng {
                be,
                out: Vec::new(),
            }
            .shb(be)
        }

        /// One block: type, length, body padded to 4, length.
        fn block(mut self, block_type: u32, body: &[u8]) -> Ng {
            let padded = body.len().div_ceil(4) * 4;
            let len = (12 + padded) as u32;
            put32(&mut self.out, block_type, self.be);
            put32(&mut self.out, len, self.be);
            self.out.extend_from_slice(body);
            self.out.resize(self.out.len() + padded - body.len(), 0);
            put32(&mut self.out, len, self.be);
            self
        }

        fn shb(mut self, be: bool) -> Ng {
            self.be = be;
            let mut body = Vec::new();
            put32(&mut body, BOM_MAGIC, be);
            put16(&mut body, 1, be);
            put16(&mut body, 0, be);
            body.extend_from_slice(&(-1i64).to_le_bytes());
            self.block(SHB_MAGIC, &body)
        }

        fn idb(self, linktype: u16, options: &[(u16, &[u8])]) -> Ng {
            let be = self.be;
            let mut body = Vec::new();
            put16(&mut body, linktype, be);
            put16(&mut body, 0, be);
            put32(&mut body, 0, be);
            if !options.is_empty() {
                for (code, value) in options {
                    put16(&mut body, *code, be);
                    put16(&mut body, value.len() as u16, be);
                    body.extend_from_slice(value);
                    body.resize(body.len().div_ceil(4) * 4, 0);
                }
                put32(&mut body, 0, be);
            }
            self.block(IDB_MAGIC, &body)
        }

        fn epb(self, interface: u32, ts: u64, data: &[u8], orig_len: u32) -> Ng {
            let be = self.be;
            let mut body = Vec::new();
            put32(&mut body, interface, be);
            put32(&mut body, (ts >> 32) as u32, be);
            put32(&mut body, ts as u32, be);
            put32(&mut body, data.len() as u32, be);
            put32(&mut body, orig_len, be);
            body.extend_from_slice(data);
            self.block(EPB_MAGIC, &body)
        }

        fn spb(self, orig_len: u32, data: &[u8]) -> Ng {
            let mut body = Vec::new();
            put32(&mut body, orig_len, self.be);
            body.extend_from_slice(data);
            self.block(SPB_MAGIC, &body)
        }

        fn tsoffset(&self, secs: i64) -> [u8; 8] {
            if self.be {
                secs.to_be_bytes()
            } else {
                secs.to_le_bytes()
            }
        }
    }

    /// A reader that hands out 1 to 7 bytes per call, so every header and record is split
    /// across refills somewhere.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        calls: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            let n = (1 + self.calls % 7)
                .min(buf.len())
                .min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn open(bytes: Vec<u8>) -> Result<FileSource, CaptureError> {
        FileSource::from_reader(Box::new(Cursor::new(bytes)), "input.pcap")
    }

    /// What a test compares: everything an `OuterFrame` carries, owned.
    #[derive(Debug, PartialEq)]
    struct Frame {
        ts: Timestamp,
        link: LinkType,
        data: Vec<u8>,
        orig_len: u32,
    }

    fn frame(secs: i64, nanos: u32, link: LinkType, data: &[u8], orig_len: u32) -> Frame {
        Frame {
            ts: Timestamp::new(secs, nanos),
            link,
            data: data.to_vec(),
            orig_len,
        }
    }

    fn next(source: &mut FileSource) -> Option<Frame> {
        source.next_frame().unwrap().map(|f| Frame {
            ts: f.ts,
            link: f.link,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
        })
    }

    /// Reads every frame, then returns them with the error that ended the file, if any.
    fn read_all(mut source: FileSource) -> (Vec<Frame>, Option<String>) {
        let mut frames = Vec::new();
        loop {
            match source.next_frame() {
                Ok(Some(f)) => frames.push(Frame {
                    ts: f.ts,
                    link: f.link,
                    data: f.data.to_vec(),
                    orig_len: f.orig_len,
                }),
                Ok(None) => return (frames, None),
                Err(e) => return (frames, Some(e.to_string())),
            }
        }
    }

    fn open_err(bytes: Vec<u8>) -> String {
        open(bytes).unwrap_err().to_string()
    }

    #[test]
    fn classic_pcap_all_four_magics() {
        // (magic as written, byte order, fraction written, nanoseconds expected, precision)
        let cases = [
            (
                PCAP_MAGIC_MICRO,
                false,
                123_456,
                123_456_000,
                TsPrecision::Micro,
            ),
            (
                PCAP_MAGIC_MICRO,
                true,
                123_456,
                123_456_000,
                TsPrecision::Micro,
            ),
            (
                PCAP_MAGIC_NANO,
                false,
                123_456_789,
                123_456_789,
                TsPrecision::Nano,
            ),
            (
                PCAP_MAGIC_NANO,
                true,
                123_456_789,
                123_456_789,
                TsPrecision::Nano,
            ),
        ];
        for (magic, be, frac, nanos, precision) in cases {
            let file = Pcap::new(magic, be, LINKTYPE_ETHERNET)
                .record(1_700_000_000, frac, &[0xde, 0xad, 0xbe, 0xef, 0x01], 60)
                .record(1_700_000_001, 0, &[0x42], 1)
                .out;
            let mut source = open(file).unwrap();
            assert_eq!(source.precision(), precision, "magic {magic:#x} be {be}");
            assert_eq!(
                next(&mut source),
                Some(frame(
                    1_700_000_000,
                    nanos,
                    LinkType::Ethernet,
                    &[0xde, 0xad, 0xbe, 0xef, 0x01],
                    60
                )),
                "magic {magic:#x} be {be}"
            );
            assert_eq!(
                next(&mut source),
                Some(frame(1_700_000_001, 0, LinkType::Ethernet, &[0x42], 1))
            );
            assert_eq!(next(&mut source), None);
            assert_eq!(source.frames_read(), 2);
        }
    }

    #[test]
    fn classic_pcap_unnormalised_fraction_and_long_caplen() {
        let file = Pcap::new(PCAP_MAGIC_MICRO, false, LINKTYPE_RAW)
            // 2.5 s written as microseconds; caplen 3 above orig_len 2.
            .record(10, 2_500_000, &[0x45, 0, 0], 2)
            .out;
        let mut source = open(file).unwrap();
        assert_eq!(
            next(&mut source),
            Some(frame(12, 500_000_000, LinkType::Raw, &[0x45, 0, 0], 3))
        );
        let file = Pcap::new(PCAP_MAGIC_NANO, true, LINKTYPE_RAW)
            .record(u32::MAX, 3_000_000_001, &[], 0)
            .out;
        let mut source = open(file).unwrap();
        assert_eq!(
            next(&mut source),
            Some(frame(4_294_967_298, 1, LinkType::Raw, &[], 0))
        );
    }

    #[test]
    fn classic_pcap_link_type_keeps_low_16_bits() {
        // FCS length 4 present (bit 27 + top nibble) on Ethernet.
        let file = Pcap::new(PCAP_MAGIC_MICRO, false, 0x4800_0000 | LINKTYPE_ETHERNET)
            .record(1, 2, &[7], 7)
            .out;
        let mut source = open(file).unwrap();
        assert_eq!(next(&mut source).unwrap().link, LinkType::Ethernet);
    }

    #[test]
    fn pcapng_little_and_big_endian() {
        for be in [false, true] {
            let file = Ng::new(be)
                .idb(LINKTYPE_ETHERNET as u16, &[])
                .epb(0, 1_700_000_000_123_456, &[1, 2, 3, 4, 5], 1514)
                .epb(0, 999_999, &[9; 8], 8)
                .out;
            let mut source = open(file).unwrap();
            assert_eq!(source.precision(), TsPrecision::Micro);
            assert_eq!(
                next(&mut source),
                Some(frame(
                    1_700_000_000,
                    123_456_000,
                    LinkType::Ethernet,
                    &[1, 2, 3, 4, 5],
                    1514
                )),
                "big endian {be}"
            );
            assert_eq!(
                next(&mut source),
                Some(frame(0, 999_999_000, LinkType::Ethernet, &[9; 8], 8))
            );
            assert_eq!(next(&mut source), None);
            assert_eq!(source.frames_read(), 2);
        }
    }

    #[test]
    fn pcapng_interfaces_with_their_own_link_type_resolution_and_offset() {
        for be in [false, true] {
            let ng = Ng::new(be);
            let offset_100 = ng.tsoffset(100);
            let offset_minus_5 = ng.tsoffset(-5);
            let file = ng
                // 0: raw IP, microseconds spelled out.
                .idb(LINKTYPE_RAW as u16, &[(IF_TSRESOL, &[6])])
                // 1: Linux cooked, nanoseconds, 100 s later than the counts say.
                .idb(
                    LINKTYPE_LINUX_SLL as u16,
                    &[(IF_TSRESOL, &[9]), (IF_TSOFFSET, &offset_100)],
                )
                // 2: IPv4, 2^-20 s units, 5 s earlier.
                .idb(
                    LINKTYPE_IPV4 as u16,
                    &[(IF_TSOFFSET, &offset_minus_5), (IF_TSRESOL, &[0x80 | 20])],
                )
                .epb(1, 1_700_000_000_987_654_321, &[0x11], 1)
                .epb(0, 1_700_000_000_000_001, &[0x00], 1)
                // 2^19 units = 0.5 s.
                .epb(2, (1_700_000_000 << 20) | (1 << 19), &[0x22], 1)
                // 3 units = 3 * 10^9 / 2^20 ns = 2861.02 ns.
                .epb(2, (1_700_000_000 << 20) | 3, &[0x23], 1)
                .out;
            let mut source = open(file).unwrap();
            // All three IDBs precede the first packet, so the precision is known at open.
            assert_eq!(source.precision(), TsPrecision::Nano);
            assert_eq!(
                next(&mut source),
                Some(frame(
                    1_700_000_100,
                    987_654_321,
                    LinkType::LinuxSll,
                    &[0x11],
                    1
                ))
            );
            assert_eq!(
                next(&mut source),
                Some(frame(1_700_000_000, 1_000, LinkType::Raw, &[0x00], 1))
            );
            assert_eq!(
                next(&mut source),
                Some(frame(
                    1_699_999_995,
                    500_000_000,
                    LinkType::Ipv4,
                    &[0x22],
                    1
                ))
            );
            assert_eq!(
                next(&mut source),
                Some(frame(1_699_999_995, 2_861, LinkType::Ipv4, &[0x23], 1))
            );
            assert_eq!(next(&mut source), None);
        }
    }

    #[test]
    fn timestamp_units_finer_than_nanoseconds_truncate() {
        let pico = TsUnits::from_tsresol(12).unwrap();
        assert_eq!(
            pico.timestamp(1_234_567_890_123_456_789, 0),
            Timestamp::new(1_234_567, 890_123_456)
        );
        let finest_decimal = TsUnits::from_tsresol(19).unwrap();
        assert_eq!(
            finest_decimal.timestamp(u64::MAX, 0),
            Timestamp::new(1, 844_674_407)
        );
        let finest_binary = TsUnits::from_tsresol(0x80 | 63).unwrap();
        assert_eq!(
            finest_binary.timestamp(u64::MAX, 0),
            Timestamp::new(1, 999_999_999)
        );
        let seconds = TsUnits::from_tsresol(0).unwrap();
        assert_eq!(
            seconds.timestamp(u64::MAX, i64::MAX),
            Timestamp::new(i64::MAX, 0)
        );
        assert!(TsUnits::from_tsresol(20).is_none());
        assert!(TsUnits::from_tsresol(0x80 | 64).is_none());
    }

    #[test]
    fn pcapng_bad_tsresol_is_an_error() {
        let file = Ng::new(false)
            .idb(LINKTYPE_ETHERNET as u16, &[(IF_TSRESOL, &[20])])
            .out;
        assert_eq!(
            open_err(file),
            "input.pcap: interface description block at offset 28 has an invalid if_tsresol 0x14"
        );
    }

    #[test]
    fn pcapng_simple_packet_block() {
        let file = Ng::new(false)
            .idb(LINKTYPE_ETHERNET as u16, &[(IF_TSRESOL, &[9])])
            .spb(5, &[1, 2, 3, 4, 5])
            // Cut to a snaplen of 8: the block holds 8 of 100 bytes.
            .spb(100, &[8; 8])
            .out;
        let mut source = open(file).unwrap();
        assert_eq!(
            next(&mut source),
            Some(frame(0, 0, LinkType::Ethernet, &[1, 2, 3, 4, 5], 5))
        );
        assert_eq!(
            next(&mut source),
            Some(frame(0, 0, LinkType::Ethernet, &[8; 8], 100))
        );
        assert_eq!(next(&mut source), None);
        assert_eq!(source.frames_read(), 2);
    }

    #[test]
    fn pcapng_skips_other_blocks() {
        let file = Ng::new(false)
            .block(NRB_MAGIC, &[0, 0, 0, 0])
            .idb(LINKTYPE_ETHERNET as u16, &[])
            .block(DSB_MAGIC, &[0x4b, 0x53, 0x4c, 0x54, 0, 0, 0, 0])
            .epb(0, 1, &[1], 1)
            .block(ISB_MAGIC, &[0; 12])
            .block(CB_MAGIC, &[0, 0, 0x7e, 0x7e, 1, 2, 3])
            .block(0x1234_5678, &[])
            .block(DCB_MAGIC, &[0; 4])
            .block(2, &[0; 20])
            .epb(0, 2, &[2], 1)
            .out;
        let (frames, error) = read_all(open(file).unwrap());
        assert_eq!(error, None);
        assert_eq!(
            frames,
            vec![
                frame(0, 1_000, LinkType::Ethernet, &[1], 1),
                frame(0, 2_000, LinkType::Ethernet, &[2], 1)
            ]
        );
    }

    #[test]
    fn pcapng_second_section_resets_interfaces_and_byte_order() {
        let file = Ng::new(false)
            .idb(LINKTYPE_ETHERNET as u16, &[])
            .epb(0, 5_000_001, &[0xe0], 60)
            .shb(true)
            .idb(LINKTYPE_RAW as u16, &[(IF_TSRESOL, &[9])])
            .epb(0, 7_000_000_002, &[0x45], 20)
            .out;
        let (frames, error) = read_all(open(file).unwrap());
        assert_eq!(error, None);
        assert_eq!(
            frames,
            vec![
                frame(5, 1_000, LinkType::Ethernet, &[0xe0], 60),
                frame(7, 2, LinkType::Raw, &[0x45], 20)
            ]
        );
    }

    #[test]
    fn pcapng_interface_from_a_previous_section_is_gone() {
        let file = Ng::new(false)
            .idb(LINKTYPE_ETHERNET as u16, &[])
            .idb(LINKTYPE_RAW as u16, &[])
            .epb(1, 0, &[1], 1)
            .shb(false)
            .idb(LINKTYPE_RAW as u16, &[])
            .epb(1, 0, &[2], 1)
            .out;
        // SHB 28 + 2 IDBs 20 + EPB 36 + SHB 28 + IDB 20 = 152.
        let (frames, error) = read_all(open(file).unwrap());
        assert_eq!(frames.len(), 1);
        assert_eq!(
            error.as_deref(),
            Some(
                "input.pcap: enhanced packet block at offset 152 names interface 1, but its section has 1 interface(s)"
            )
        );
    }

    #[test]
    fn pcapng_packet_before_any_interface() {
        let file = Ng::new(false).spb(1, &[1]).out;
        let mut source = open(file).unwrap();
        assert_eq!(
            source.next_frame().unwrap_err().to_string(),
            "input.pcap: simple packet block at offset 28 names interface 0, but its section has 0 interface(s)"
        );
        // An error ends the source.
        assert!(source.next_frame().unwrap().is_none());
    }

    /// Reads `file` through a reader of 1..7 bytes per call and a tiny buffer that has to be
    /// compacted and grown, and checks it reads the same as in one piece.
    fn assert_same_through_trickle(file: Vec<u8>) -> usize {
        let whole = read_all(open(file.clone()).unwrap());
        for buffer_len in [1, 30, 64, 1000, BUFFER_LEN] {
            let trickle = Trickle {
                data: file.clone(),
                pos: 0,
                calls: 0,
            };
            let source =
                FileSource::with_buffer(Box::new(trickle), "input.pcap", buffer_len, None).unwrap();
            assert_eq!(read_all(source), whole, "buffer of {buffer_len} bytes");
        }
        whole.0.len()
    }

    #[test]
    fn records_split_across_refills() {
        let data: Vec<u8> = (0..=255).collect();
        let mut pcap = Pcap::new(PCAP_MAGIC_NANO, true, LINKTYPE_ETHERNET);
        let mut ng = Ng::new(false).idb(LINKTYPE_ETHERNET as u16, &[(IF_TSRESOL, &[9])]);
        for i in 0..40u32 {
            let len = (i as usize * 37) % 200;
            pcap = pcap.record(i, i * 1000, &data[..len], 1000);
            ng = ng.epb(0, u64::from(i) * 1_000_000_007, &data[..len], 1000);
            if i % 9 == 0 {
                ng = ng
                    .block(ISB_MAGIC, &[0; 12])
                    .shb(i % 2 == 1)
                    .idb(LINKTYPE_ETHERNET as u16, &[(IF_TSRESOL, &[9])]);
            }
        }
        // One record bigger than the default buffer, to make it grow.
        let big = vec![0x5a; BUFFER_LEN + 3];
        pcap = pcap.record(99, 0, &big, big.len() as u32);
        ng = ng.epb(0, 0, &big, big.len() as u32);
        assert_eq!(assert_same_through_trickle(pcap.out), 41);
        assert_eq!(assert_same_through_trickle(ng.out), 41);
    }

    #[test]
    fn truncated_classic_pcap_keeps_complete_records() {
        let mut file = Pcap::new(PCAP_MAGIC_MICRO, false, LINKTYPE_ETHERNET);
        for i in 0..41 {
            file = file.record(i, 0, &[i as u8; 10], 10);
        }
        let whole = file.record(41, 0, &[0xff; 10], 10).out;
        // Cut in the data and in the record header.
        for cut in [whole.len() - 1, whole.len() - 26 + 5] {
            let (frames, error) = read_all(open(whole[..cut].to_vec()).unwrap());
            assert_eq!(frames.len(), 41);
            assert_eq!(frames[40], frame(40, 0, LinkType::Ethernet, &[40; 10], 10));
            assert_eq!(
                error.as_deref(),
                Some("input.pcap: file ends in the middle of a packet record (after 41 packets)")
            );
        }
    }

    #[test]
    fn truncated_pcapng_names_the_block() {
        let whole = Ng::new(false)
            .idb(LINKTYPE_ETHERNET as u16, &[])
            .epb(0, 0, &[1, 2, 3], 3)
            .epb(0, 0, &[4, 5, 6], 3)
            .out;
        let (frames, error) = read_all(open(whole[..whole.len() - 4].to_vec()).unwrap());
        assert_eq!(frames.len(), 1);
        assert_eq!(
            error.as_deref(),
            Some(
                "input.pcap: file ends in the middle of an enhanced packet block (after 1 packets)"
            )
        );
        let (frames, error) = read_all(open(whole[..whole.len() - 33].to_vec()).unwrap());
        assert_eq!(frames.len(), 1);
        assert_eq!(
            error.as_deref(),
            Some("input.pcap: file ends in the middle of a block header (after 1 packets)")
        );
        assert_eq!(
            open_err(whole[..40].to_vec()),
            "input.pcap: file ends in the middle of an interface description block (after 0 packets)"
        );
    }

    #[test]
    fn huge_caplen_is_refused_before_reading_it() {
        let mut file = Pcap::new(PCAP_MAGIC_MICRO, false, LINKTYPE_ETHERNET)
            .record(0, 0, &[1], 1)
            .record(0, 0, &[2], 1);
        file.record_header(0, 0, u32::MAX, u32::MAX);
        let (frames, error) = read_all(open(file.out).unwrap());
        assert_eq!(frames.len(), 2);
        assert_eq!(
            error.as_deref(),
            Some("input.pcap: record 3 claims 4294967295 captured bytes (corrupt file?)")
        );

        // The bound itself is allowed: it is the file that is short.
        let mut file = Pcap::new(PCAP_MAGIC_MICRO, false, LINKTYPE_ETHERNET);
        file.record_header(0, 0, MAX_RECORD_LEN, MAX_RECORD_LEN);
        let mut source = open(file.out).unwrap();
        assert_eq!(
            source.next_frame().unwrap_err().to_string(),
            "input.pcap: file ends in the middle of a packet record (after 0 packets)"
        );
        // The claim alone did not make the buffer grow.
        assert_eq!(source.input.buf.len(), BUFFER_LEN);
        let mut file = Pcap::new(PCAP_MAGIC_MICRO, false, LINKTYPE_ETHERNET);
        file.record_header(0, 0, MAX_RECORD_LEN + 1, 0);
        let (_, error) = read_all(open(file.out).unwrap());
        assert_eq!(
            error.as_deref(),
            Some("input.pcap: record 1 claims 67108865 captured bytes (corrupt file?)")
        );
    }

    #[test]
    fn pcapng_bogus_block_lengths_name_the_offset() {
        let good = Ng::new(false).idb(LINKTYPE_ETHERNET as u16, &[]).out;
        let with_len = |len: u32| {
            let mut file = good.clone();
            file.extend_from_slice(&EPB_MAGIC.to_le_bytes());
            file.extend_from_slice(&len.to_le_bytes());
            file.extend_from_slice(&[0; 64]);
            file
        };
        let cases = [
            (
                8,
                "input.pcap: enhanced packet block at offset 48 has a bad length 8 (shorter than a block header and trailer)",
            ),
            (
                14,
                "input.pcap: enhanced packet block at offset 48 has a bad length 14 (not a multiple of 4)",
            ),
            (
                28,
                "input.pcap: enhanced packet block at offset 48 has a bad length 28 (too short for its type)",
            ),
            (
                0xFFFF_FFFC,
                "input.pcap: enhanced packet block at offset 48 claims 4294967292 bytes (corrupt file?)",
            ),
            (
                64,
                "input.pcap: enhanced packet block at offset 48 has length 64 at its start but 0 at its end",
            ),
        ];
        for (len, message) in cases {
            let (frames, error) = read_all(open(with_len(len)).unwrap());
            assert!(frames.is_empty());
            assert_eq!(error.as_deref(), Some(message));
        }

        // A captured length that runs past the block.
        let mut file = Ng::new(false)
            .idb(LINKTYPE_ETHERNET as u16, &[])
            .epb(0, 0, &[1, 2, 3, 4], 4)
            .out;
        file[48 + EPB_CAPLEN] = 9;
        let (_, error) = read_all(open(file).unwrap());
        assert_eq!(
            error.as_deref(),
            Some(
                "input.pcap: malformed enhanced packet block at offset 48: its captured length exceeds the block"
            )
        );

        // A section header with a byte-order magic from neither order.
        let mut file = Ng::new(false).out;
        file[8] = 0x99;
        assert_eq!(
            open_err(file),
            "input.pcap: section header block at offset 0 has a bad byte-order magic 0x1a2b3c99"
        );

        // pcapng 2.0.
        let mut file = Ng::new(false).out;
        file[12] = 2;
        assert_eq!(
            open_err(file),
            "input.pcap: section header block at offset 0 is pcapng version 2.0; spandump reads version 1"
        );
    }

    #[test]
    fn empty_text_and_short_input() {
        assert_eq!(open_err(Vec::new()), "input.pcap: empty file");
        assert_eq!(
            open_err(b"Hello, world\n".to_vec()),
            "input.pcap: not a pcap or pcapng file (magic 0x6c6c6548)"
        );
        assert_eq!(
            open_err(vec![0xd4, 0xc3]),
            "input.pcap: file too short for a pcap or pcapng header (2 bytes)"
        );
        let header = Pcap::new(PCAP_MAGIC_MICRO, false, LINKTYPE_ETHERNET).out;
        assert_eq!(
            open_err(header[..10].to_vec()),
            "input.pcap: file too short for a pcap file header (10 bytes)"
        );
        assert_eq!(
            open_err(Ng::new(false).out[..20].to_vec()),
            "input.pcap: file ends in the middle of a section header block (after 0 packets)"
        );
        assert_eq!(
            open_err(Pcap::new(PCAP_MAGIC_MODIFIED, false, LINKTYPE_ETHERNET).out),
            "input.pcap: modified (Kuznetsov) pcap is not supported (magic 0xa1b2cd34); convert it with `editcap -F pcap`"
        );
        // A header alone is a capture with no packets.
        let mut source = open(header).unwrap();
        assert!(source.next_frame().unwrap().is_none());
        assert_eq!(source.frames_read(), 0);
        let mut source = open(Ng::new(true).out).unwrap();
        assert!(source.next_frame().unwrap().is_none());
    }

    #[test]
    fn unsupported_link_types_are_named() {
        assert_eq!(
            open_err(Pcap::new(PCAP_MAGIC_NANO, true, LINKTYPE_IEEE802_11).out),
            "input.pcap: unsupported link type 105 (IEEE802_11); spandump reads EN10MB, RAW, IPV4, IPV6, LINUX_SLL, LINUX_SLL2, NULL and LOOP"
        );
        let file = Ng::new(false)
            .idb(LINKTYPE_ETHERNET as u16, &[])
            .epb(0, 0, &[1], 1)
            .idb(LINKTYPE_IEEE802_11 as u16, &[])
            .out;
        let (frames, error) = read_all(open(file).unwrap());
        assert_eq!(frames.len(), 1);
        assert_eq!(
            error.as_deref(),
            Some(
                "input.pcap: unsupported link type 105 (IEEE802_11) on interface 1; spandump reads EN10MB, RAW, IPV4, IPV6, LINUX_SLL, LINUX_SLL2, NULL and LOOP"
            )
        );
    }

    #[test]
    fn stdin_is_named_stdin_and_io_errors_carry_the_name() {
        let err = FileSource::from_reader(Box::new(Cursor::new(Vec::new())), "-").unwrap_err();
        assert_eq!(err.to_string(), "stdin: empty file");

        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let err = FileSource::from_reader(Box::new(Broken), "input.pcap").unwrap_err();
        assert_eq!(err.to_string(), "input.pcap: cannot read");
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "disk on fire"
        );

        let err = FileSource::open(Path::new("/nonexistent/input.pcap")).unwrap_err();
        assert_eq!(err.to_string(), "/nonexistent/input.pcap: cannot open");
        assert_eq!(
            std::error::Error::source(&err)
                .unwrap()
                .downcast_ref::<io::Error>()
                .unwrap()
                .kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn mutated_files_never_panic_or_hang() {
        let pcap = Pcap::new(PCAP_MAGIC_MICRO, false, LINKTYPE_ETHERNET)
            .record(1, 2, &[1, 2, 3, 4, 5, 6], 60)
            .record(3, 4, &[7; 20], 20)
            .out;
        let ng = Ng::new(false)
            .idb(LINKTYPE_ETHERNET as u16, &[(IF_TSRESOL, &[0x80 | 20])])
            .epb(0, 12345, &[1, 2, 3, 4, 5, 6], 60)
            .spb(20, &[7; 20])
            .shb(true)
            .idb(
                LINKTYPE_RAW as u16,
                &[(IF_TSOFFSET, &[0, 0, 0, 0, 0, 0, 0, 9])],
            )
            .epb(0, 1, &[9], 1)
            .out;
        // xorshift64: deterministic, so a failure reproduces.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000 {
            let mut file = if round % 2 == 0 {
                pcap.clone()
            } else {
                ng.clone()
            };
            for _ in 0..1 + random() % 4 {
                let at = (random() % file.len() as u64) as usize;
                file[at] = random() as u8;
            }
            file.truncate(file.len() - (random() % 8) as usize);
            if let Ok(mut source) = open(file) {
                // Every file here is small, so a loop that long means a hang.
                for _ in 0..100 {
                    match source.next_frame() {
                        Ok(Some(frame)) => assert!(frame.ts.nanos < 1_000_000_000),
                        Ok(None) | Err(_) => break,
                    }
                }
                assert!(source.frames_read() < 10);
            }
        }
    }
}
