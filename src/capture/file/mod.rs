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
//!
//! Here: the source, its input buffer and the errors; `pcap.rs` reads classic pcap
//! records, `pcapng.rs` walks pcapng blocks; their tests are in `tests.rs`.

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

mod pcap;
mod pcapng;
#[cfg(test)]
mod tests;

use crate::wire::LinkType;
use crate::wire::link::linktype_name;
use crate::{Timestamp, TsPrecision};
use pcap::ClassicPcap;
use pcapng::{Mode, Section};

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
