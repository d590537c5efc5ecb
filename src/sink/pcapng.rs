//! pcapng output (spec §5.2): one section, interfaces added as they appear, one
//! Enhanced Packet Block per inner frame, Interface Statistics Blocks on request.
//!
//! pcapng is what lets one file hold Ethernet and raw-IP payloads side by side (one
//! interface per link type, per sender and session) and carry the per-packet metadata
//! a mirror receiver knows: direction flags, drop counts, GRE sequence numbers as packet
//! ids, comments. Everything is written in the machine's native byte order, with
//! nanosecond timestamps (`if_tsresol` = 9 on every interface).
//!
//! It must never:
//! * buffer: the caller hands in a `BufWriter` (or a `Vec`), best as a concrete type so
//!   that the several small `write_all`s of a packet block inline (a `dyn Write` goes
//!   inside the `BufWriter`, not around it); the rare blocks (section header,
//!   interfaces, statistics) are assembled in one reused scratch buffer;
//! * allocate per frame, or panic on any argument;
//! * leave a half-written block behind on a caller error: an unknown interface id, a
//!   frame longer than the interface's snap length or an option too long for its 16-bit
//!   length is refused with [`io::ErrorKind::InvalidInput`] before any byte is written;
//! * know where frames come from (sockets, GRE, ERSPAN): the pipeline decides which
//!   interface a frame belongs to and what its options say.

use std::io::{self, Write};

use super::pcap::pack_u32_pair;
use crate::Timestamp;

/// Block type of the Section Header Block.
pub const SHB_TYPE: u32 = 0x0A0D_0D0A;
/// Block type of the Interface Description Block.
pub const IDB_TYPE: u32 = 0x0000_0001;
/// Block type of the Interface Statistics Block.
pub const ISB_TYPE: u32 = 0x0000_0005;
/// Block type of the Enhanced Packet Block.
pub const EPB_TYPE: u32 = 0x0000_0006;
/// Written in native order; readers learn the section's byte order from it.
pub const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;
const IF_FILTER: u16 = 11;
/// First byte of an `if_filter` value: the filter is a libpcap expression.
const IF_FILTER_LIBPCAP: u8 = 0;
const EPB_FLAGS: u16 = 2;
const EPB_DROPCOUNT: u16 = 4;
const EPB_PACKETID: u16 = 5;
const ISB_IFRECV: u16 = 4;
const ISB_IFDROP: u16 = 5;

/// `if_tsresol` value: 10^-9 s units.
const TSRESOL_NANOS: u8 = 9;
/// The application named in the section header.
const USER_APPLICATION: &str = concat!("spandump ", env!("CARGO_PKG_VERSION"));

/// Fixed part of an EPB before the packet bytes: type, total length, interface id,
/// timestamp high and low, captured length, original length.
const EPB_HEADER_LEN: usize = 28;
/// Size of the trailing copy of the block's total length.
const TRAILER_LEN: usize = 4;
const ZEROS: [u8; 3] = [0; 3];

/// `epb_flags` direction: inbound.
pub const EPB_FLAG_INBOUND: u32 = 0b01;
/// `epb_flags` direction: outbound.
pub const EPB_FLAG_OUTBOUND: u32 = 0b10;

/// Optional per-packet options of an Enhanced Packet Block; each is written only when
/// present.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpbOptions<'a> {
    /// `epb_flags` (code 2): direction in bits 0-1 (01 inbound, 10 outbound),
    /// reception type, FCS length, link errors (spec §5.2).
    pub flags: Option<u32>,
    /// `epb_dropcount` (code 4): packets lost on this interface since the previous one.
    pub dropcount: Option<u64>,
    /// `epb_packetid` (code 5): e.g. the GRE sequence number.
    pub packet_id: Option<u64>,
    /// `opt_comment` (code 1), UTF-8, at most 65535 bytes.
    pub comment: Option<&'a str>,
}

/// Writes one pcapng section to `W`.
#[derive(Debug)]
pub struct PcapNgWriter<W: Write> {
    out: W,
    /// Snap length of each interface added so far, indexed by interface id (0 = no limit).
    snaplens: Vec<u32>,
    /// `if_filter` of the interfaces added from now on: type 0 (a libpcap filter
    /// string), then the expression.
    if_filter: Option<Vec<u8>>,
    /// Reused to assemble the rare blocks, so that only the first one allocates.
    scratch: Vec<u8>,
}

impl<W: Write> PcapNgWriter<W> {
    /// Writes the Section Header Block at once: byte-order magic, version 1.0, section
    /// length -1 (unknown, as when streaming), `shb_userappl` = `"spandump <version>"`.
    pub fn new(out: W) -> io::Result<Self> {
        let mut w = PcapNgWriter {
            out,
            snaplens: Vec::new(),
            if_filter: None,
            scratch: Vec::with_capacity(128),
        };
        let mut b = BlockBuilder::start(&mut w.scratch, SHB_TYPE);
        b.buf.extend_from_slice(&BYTE_ORDER_MAGIC.to_ne_bytes());
        b.buf.extend_from_slice(&1u16.to_ne_bytes());
        b.buf.extend_from_slice(&0u16.to_ne_bytes());
        b.buf.extend_from_slice(&(-1i64).to_ne_bytes());
        b.option(SHB_USERAPPL, USER_APPLICATION.as_bytes())?;
        b.finish()?;
        w.out.write_all(&w.scratch)?;
        Ok(w)
    }

    /// Records `expression` (a libpcap filter expression) as the `if_filter` option of
    /// every interface added from now on; `None` stops recording one.
    pub fn set_interface_filter(&mut self, expression: Option<&str>) {
        self.if_filter = expression.map(|e| {
            let mut value = Vec::with_capacity(1 + e.len());
            value.push(IF_FILTER_LIBPCAP);
            value.extend_from_slice(e.as_bytes());
            value
        });
    }

    /// Writes an Interface Description Block and returns the new interface's id
    /// (0, 1, … in the order they are added).
    ///
    /// May be called at any time: an IDB later in the stream is valid as long as it
    /// precedes the interface's first packet. `snaplen` 0 means "no limit". Options:
    /// `if_name` and `if_description` when given (at most 65535 bytes each),
    /// `if_tsresol` = 9 (nanoseconds) always, `if_filter` when one was set.
    pub fn add_interface(
        &mut self,
        linktype: u16,
        snaplen: u32,
        name: Option<&str>,
        description: Option<&str>,
    ) -> io::Result<u32> {
        let id = u32::try_from(self.snaplens.len())
            .map_err(|_| invalid_input("pcapng section already has 2^32 interfaces".to_owned()))?;
        let mut b = BlockBuilder::start(&mut self.scratch, IDB_TYPE);
        b.buf.extend_from_slice(&linktype.to_ne_bytes());
        b.buf.extend_from_slice(&0u16.to_ne_bytes());
        b.buf.extend_from_slice(&snaplen.to_ne_bytes());
        if let Some(name) = name {
            b.option(IF_NAME, name.as_bytes())?;
        }
        if let Some(description) = description {
            b.option(IF_DESCRIPTION, description.as_bytes())?;
        }
        b.option(IF_TSRESOL, &[TSRESOL_NANOS])?;
        if let Some(filter) = &self.if_filter {
            b.option(IF_FILTER, filter)?;
        }
        b.finish()?;
        self.out.write_all(&self.scratch)?;
        self.snaplens.push(snaplen);
        Ok(id)
    }

    /// Writes one Enhanced Packet Block on interface `iface`: `head` then `data` as the
    /// packet bytes (captured length `head.len() + data.len()`, already clamped by the
    /// caller to the interface's snap length), `orig_len` (raised to the captured length
    /// if below it), the timestamp in nanoseconds (times before 1970 are written as 0),
    /// and the options of `opts` that are present.
    ///
    /// An `iface` that [`add_interface`](Self::add_interface) never returned is a caller
    /// bug and yields [`io::ErrorKind::InvalidInput`], as does a frame over the snap
    /// length or a comment over 65535 bytes; nothing is written then.
    #[inline]
    pub fn write_frame(
        &mut self,
        iface: u32,
        ts: Timestamp,
        orig_len: u32,
        head: &[u8],
        data: &[u8],
        opts: &EpbOptions<'_>,
    ) -> io::Result<()> {
        let snaplen = self.interface_snaplen(iface)?;
        let caplen = head.len() + data.len();
        let caplen = match u32::try_from(caplen) {
            Ok(len) if snaplen == 0 || len <= snaplen => len,
            _ => return Err(frame_too_long(caplen, iface, snaplen)),
        };
        let comment = opts.comment.map(str::as_bytes);
        let comment_len = match comment.map(|c| u16::try_from(c.len())) {
            None => None,
            Some(Ok(len)) => Some(len),
            Some(Err(_)) => {
                return Err(option_too_long(
                    "opt_comment",
                    opts.comment.map_or(0, str::len),
                ));
            }
        };

        let mut options_len = 0usize;
        options_len += opts.flags.map_or(0, |_| 4 + 4);
        options_len += opts.dropcount.map_or(0, |_| 4 + 8);
        options_len += opts.packet_id.map_or(0, |_| 4 + 8);
        options_len += comment_len.map_or(0, |len| 4 + padded(usize::from(len)));
        if options_len > 0 {
            options_len += 4; // opt_endofopt
        }
        let total_len = EPB_HEADER_LEN + padded(caplen as usize) + options_len + TRAILER_LEN;
        // caplen <= u32::MAX leaves a few hundred bytes of room in usize on 64-bit
        // targets, but not in the u32 the block length is written as.
        let total_len = u32::try_from(total_len)
            .map_err(|_| frame_too_long(caplen as usize, iface, snaplen))?;

        // Fields go out as 8-byte pairs, each built in a register (see
        // `pcap::pack_u32_pair` for why not one assembled header).
        let ts = timestamp_nanos(ts);
        let out = &mut self.out;
        out.write_all(&pack_u32_pair(EPB_TYPE, total_len))?;
        out.write_all(&pack_u32_pair(iface, (ts >> 32) as u32))?;
        out.write_all(&pack_u32_pair(ts as u32, caplen))?;
        out.write_all(&orig_len.max(caplen).to_ne_bytes())?;
        if !head.is_empty() {
            out.write_all(head)?;
        }
        out.write_all(data)?;
        let pad = pad_len(caplen as usize);
        if pad != 0 {
            out.write_all(&ZEROS[..pad])?;
        }
        if let Some(flags) = opts.flags {
            out.write_all(&pack_u32_pair(option_header(EPB_FLAGS, 4), flags))?;
        }
        if let Some(dropcount) = opts.dropcount {
            out.write_all(&option_header(EPB_DROPCOUNT, 8).to_ne_bytes())?;
            out.write_all(&dropcount.to_ne_bytes())?;
        }
        if let Some(packet_id) = opts.packet_id {
            out.write_all(&option_header(EPB_PACKETID, 8).to_ne_bytes())?;
            out.write_all(&packet_id.to_ne_bytes())?;
        }
        if let (Some(comment), Some(len)) = (comment, comment_len) {
            out.write_all(&option_header(OPT_COMMENT, len).to_ne_bytes())?;
            out.write_all(comment)?;
            let pad = pad_len(comment.len());
            if pad != 0 {
                out.write_all(&ZEROS[..pad])?;
            }
        }
        if options_len > 0 {
            out.write_all(&pack_u32_pair(option_header(OPT_ENDOFOPT, 0), total_len))
        } else {
            out.write_all(&total_len.to_ne_bytes())
        }
    }

    /// Writes an Interface Statistics Block for `iface` at time `ts`, with
    /// `isb_ifrecv` (packets received) and `isb_ifdrop` (packets dropped) when given.
    /// An unknown `iface` yields [`io::ErrorKind::InvalidInput`] and writes nothing.
    pub fn write_interface_stats(
        &mut self,
        iface: u32,
        ts: Timestamp,
        received: Option<u64>,
        dropped: Option<u64>,
    ) -> io::Result<()> {
        self.interface_snaplen(iface)?;
        let ts = timestamp_nanos(ts);
        let mut b = BlockBuilder::start(&mut self.scratch, ISB_TYPE);
        b.buf.extend_from_slice(&iface.to_ne_bytes());
        b.buf.extend_from_slice(&((ts >> 32) as u32).to_ne_bytes());
        b.buf.extend_from_slice(&(ts as u32).to_ne_bytes());
        if let Some(received) = received {
            b.option(ISB_IFRECV, &received.to_ne_bytes())?;
        }
        if let Some(dropped) = dropped {
            b.option(ISB_IFDROP, &dropped.to_ne_bytes())?;
        }
        b.finish()?;
        self.out.write_all(&self.scratch)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Gives back the underlying writer, without flushing it.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn interface_snaplen(&self, iface: u32) -> io::Result<u32> {
        match self.snaplens.get(iface as usize) {
            Some(&snaplen) => Ok(snaplen),
            None => Err(unknown_interface(iface, self.snaplens.len())),
        }
    }
}

/// Assembles a rare block (SHB, IDB, ISB) in a reused buffer: type and a length
/// placeholder, then the fixed body and options pushed by the caller, then
/// [`finish`](Self::finish) ends the options and fills in both length fields.
struct BlockBuilder<'a> {
    buf: &'a mut Vec<u8>,
    has_options: bool,
}

impl<'a> BlockBuilder<'a> {
    fn start(buf: &'a mut Vec<u8>, block_type: u32) -> Self {
        buf.clear();
        buf.extend_from_slice(&block_type.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        BlockBuilder {
            buf,
            has_options: false,
        }
    }

    /// Appends one option, value padded to 4 bytes.
    fn option(&mut self, code: u16, value: &[u8]) -> io::Result<()> {
        let len = u16::try_from(value.len())
            .map_err(|_| option_too_long(option_name(code), value.len()))?;
        self.buf.extend_from_slice(&code.to_ne_bytes());
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.extend_from_slice(&ZEROS[..pad_len(value.len())]);
        self.has_options = true;
        Ok(())
    }

    fn finish(self) -> io::Result<()> {
        if self.has_options {
            self.buf.extend_from_slice(&OPT_ENDOFOPT.to_ne_bytes());
            self.buf.extend_from_slice(&0u16.to_ne_bytes());
        }
        let total_len = self.buf.len() + TRAILER_LEN;
        let total_len = u32::try_from(total_len)
            .map_err(|_| invalid_input(format!("pcapng block of {total_len} bytes is too long")))?;
        self.buf[4..8].copy_from_slice(&total_len.to_ne_bytes());
        self.buf.extend_from_slice(&total_len.to_ne_bytes());
        Ok(())
    }
}

/// An option's code and length as the u32 they form in native order.
#[inline]
fn option_header(code: u16, len: u16) -> u32 {
    let (code, len) = (u32::from(code), u32::from(len));
    if cfg!(target_endian = "little") {
        code | len << 16
    } else {
        code << 16 | len
    }
}

/// Nanoseconds since the epoch as a 64-bit count; before 1970 is 0, after 2554 saturates.
#[inline]
fn timestamp_nanos(ts: Timestamp) -> u64 {
    match u64::try_from(ts.secs) {
        Ok(secs) => secs
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(ts.nanos)),
        Err(_) => 0,
    }
}

#[inline]
fn pad_len(len: usize) -> usize {
    (4 - len % 4) % 4
}

#[inline]
fn padded(len: usize) -> usize {
    len + pad_len(len)
}

fn option_name(code: u16) -> &'static str {
    match code {
        IF_NAME => "if_name",
        IF_DESCRIPTION => "if_description",
        IF_FILTER => "if_filter",
        _ => "option",
    }
}

fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cold]
fn unknown_interface(iface: u32, count: usize) -> io::Error {
    invalid_input(format!(
        "pcapng interface {iface} does not exist ({count} added so far; add_interface must come first)"
    ))
}

#[cold]
fn frame_too_long(len: usize, iface: u32, snaplen: u32) -> io::Error {
    invalid_input(format!(
        "pcapng frame of {len} bytes exceeds the snap length {snaplen} of interface {iface} (clamp before writing)"
    ))
}

#[cold]
fn option_too_long(name: &str, len: usize) -> io::Error {
    invalid_input(format!(
        "pcapng {name} of {len} bytes exceeds the 65535-byte option limit"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
    use pcap_file::pcapng::blocks::interface_statistics::InterfaceStatisticsOption;
    use pcap_file::pcapng::blocks::section_header::SectionHeaderOption;
    use pcap_file::pcapng::{Block, PcapNgReader};
    use pcap_file::{DataLink, Endianness};
    use std::borrow::Cow;
    use std::time::Duration;

    const LINKTYPE_ETHERNET: u16 = 1;
    const LINKTYPE_RAW: u16 = 101;

    /// Builds expected bytes field by field, in native order.
    #[derive(Default)]
    struct Bytes(Vec<u8>);
    impl Bytes {
        fn u16(mut self, v: u16) -> Self {
            self.0.extend_from_slice(&v.to_ne_bytes());
            self
        }
        fn u32(mut self, v: u32) -> Self {
            self.0.extend_from_slice(&v.to_ne_bytes());
            self
        }
        fn u64(mut self, v: u64) -> Self {
            self.0.extend_from_slice(&v.to_ne_bytes());
            self
        }
        fn raw(mut self, v: &[u8]) -> Self {
            self.0.extend_from_slice(v);
            self
        }
    }

    /// A block as found in the byte stream, checked for framing: lengths agree,
    /// multiple of 4, body options well-formed.
    #[derive(Debug)]
    struct RawBlock<'a> {
        block_type: u32,
        body: &'a [u8],
    }

    fn ne_u16(b: &[u8], off: usize) -> u16 {
        u16::from_ne_bytes(b[off..off + 2].try_into().unwrap())
    }
    fn ne_u32(b: &[u8], off: usize) -> u32 {
        u32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
    }
    fn ne_u64(b: &[u8], off: usize) -> u64 {
        u64::from_ne_bytes(b[off..off + 8].try_into().unwrap())
    }

    fn split_blocks(mut bytes: &[u8]) -> Vec<RawBlock<'_>> {
        let mut blocks = Vec::new();
        while !bytes.is_empty() {
            let block_type = ne_u32(bytes, 0);
            let len = ne_u32(bytes, 4) as usize;
            assert_eq!(len % 4, 0, "block length {len} not a multiple of 4");
            assert!(len >= 12 && len <= bytes.len(), "block length {len}");
            assert_eq!(
                ne_u32(bytes, len - 4) as usize,
                len,
                "trailing length differs"
            );
            blocks.push(RawBlock {
                block_type,
                body: &bytes[8..len - 4],
            });
            bytes = &bytes[len..];
        }
        blocks
    }

    /// Parses an option list: (code, value) pairs, checking padding is zero and that
    /// the list ends with opt_endofopt exactly at the end (or is empty).
    fn parse_options(mut opts: &[u8]) -> Vec<(u16, &[u8])> {
        let mut out = Vec::new();
        while !opts.is_empty() {
            let code = ne_u16(opts, 0);
            let len = ne_u16(opts, 2) as usize;
            if code == OPT_ENDOFOPT {
                assert_eq!(len, 0);
                assert_eq!(opts.len(), 4, "bytes after opt_endofopt");
                return out;
            }
            let value = &opts[4..4 + len];
            assert!(
                opts[4 + len..4 + padded(len)].iter().all(|&b| b == 0),
                "non-zero padding"
            );
            out.push((code, value));
            opts = &opts[4 + padded(len)..];
        }
        assert!(out.is_empty(), "option list without opt_endofopt");
        out
    }

    /// An EPB's fields, parsed by hand.
    #[derive(Debug, PartialEq)]
    struct Epb<'a> {
        iface: u32,
        ts: u64,
        caplen: u32,
        orig_len: u32,
        data: &'a [u8],
        options: Vec<(u16, &'a [u8])>,
    }

    fn parse_epb(body: &[u8]) -> Epb<'_> {
        let caplen = ne_u32(body, 12);
        let end = 20 + caplen as usize;
        assert!(
            body[end..20 + padded(caplen as usize)]
                .iter()
                .all(|&b| b == 0)
        );
        Epb {
            iface: ne_u32(body, 0),
            ts: (u64::from(ne_u32(body, 4)) << 32) | u64::from(ne_u32(body, 8)),
            caplen,
            orig_len: ne_u32(body, 16),
            data: &body[20..end],
            options: parse_options(&body[20 + padded(caplen as usize)..]),
        }
    }

    /// pcap-file 2.0 reads the ISB timestamp as one u64 in the section's byte order
    /// instead of high and low u32 halves (as it does, correctly, for the EPB), so on a
    /// little-endian section the halves come back swapped. Undo that; the hand-parsed
    /// test below checks the halves themselves.
    fn pcap_file_isb_time(ts: u64) -> u64 {
        if cfg!(target_endian = "little") {
            ts.rotate_left(32)
        } else {
            ts
        }
    }

    fn expected_shb() -> Vec<u8> {
        let appl = USER_APPLICATION.as_bytes();
        let appl_padded = padded(appl.len());
        let total = (4 + 4 + 4 + 2 + 2 + 8 + 4 + appl_padded + 4 + 4) as u32;
        Bytes::default()
            .u32(0x0A0D_0D0A)
            .u32(total)
            .u32(0x1A2B_3C4D)
            .u16(1)
            .u16(0)
            .u64(u64::MAX) // -1
            .u16(4)
            .u16(appl.len() as u16)
            .raw(appl)
            .raw(&ZEROS[..appl_padded - appl.len()])
            .u32(0)
            .u32(total)
            .0
    }

    #[test]
    fn section_header_bytes() {
        assert_eq!(
            USER_APPLICATION,
            format!("spandump {}", env!("CARGO_PKG_VERSION"))
        );
        let w = PcapNgWriter::new(Vec::new()).unwrap();
        assert_eq!(w.get_ref(), &expected_shb());
        if cfg!(target_endian = "little") && USER_APPLICATION == "spandump 0.1.0" {
            // Literal bytes, as Wireshark's "Show packet bytes" of the SHB would list them.
            assert_eq!(
                w.get_ref().as_slice(),
                b"\x0a\x0d\x0d\x0a\x34\x00\x00\x00\x4d\x3c\x2b\x1a\x01\x00\x00\x00\
                  \xff\xff\xff\xff\xff\xff\xff\xff\x04\x00\x0e\x00spandump 0.1.0\x00\x00\
                  \x00\x00\x00\x00\x34\x00\x00\x00"
            );
        }
    }

    #[test]
    fn interface_description_bytes() {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        let shb_len = w.get_ref().len();
        assert_eq!(
            w.add_interface(
                LINKTYPE_ETHERNET,
                262_144,
                Some("gre:10.0.0.5:key=42"),
                Some("GRE key 42")
            )
            .unwrap(),
            0
        );
        // 19-byte name -> 20 padded; 10-byte description -> 12 padded.
        let total = 8 + 8 + (4 + 20) + (4 + 12) + (4 + 4) + 4 + 4;
        let expected = Bytes::default()
            .u32(1)
            .u32(total)
            .u16(1)
            .u16(0)
            .u32(262_144)
            .u16(2)
            .u16(19)
            .raw(b"gre:10.0.0.5:key=42\0")
            .u16(3)
            .u16(10)
            .raw(b"GRE key 42\0\0")
            .u16(9)
            .u16(1)
            .raw(&[9, 0, 0, 0])
            .u32(0)
            .u32(total)
            .0;
        assert_eq!(&w.get_ref()[shb_len..], expected.as_slice());

        // Without name and description only if_tsresol remains.
        let before = w.get_ref().len();
        assert_eq!(w.add_interface(LINKTYPE_RAW, 0, None, None).unwrap(), 1);
        let expected = Bytes::default()
            .u32(1)
            .u32(32)
            .u16(101)
            .u16(0)
            .u32(0)
            .u16(9)
            .u16(1)
            .raw(&[9, 0, 0, 0])
            .u32(0)
            .u32(32)
            .0;
        assert_eq!(&w.get_ref()[before..], expected.as_slice());
    }

    #[test]
    fn enhanced_packet_bytes_without_and_with_options() {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.add_interface(LINKTYPE_ETHERNET, 262_144, None, None)
            .unwrap();
        let start = w.get_ref().len();
        let ts = Timestamp::new(1_700_000_000, 123_456_789);
        let ns: u64 = 1_700_000_000_123_456_789;

        // No options: no option list at all (not even opt_endofopt).
        w.write_frame(0, ts, 100, &[0xEE; 2], &[1, 2, 3], &EpbOptions::default())
            .unwrap();
        let expected = Bytes::default()
            .u32(6)
            .u32(28 + 8 + 4)
            .u32(0)
            .u32((ns >> 32) as u32)
            .u32(ns as u32)
            .u32(5)
            .u32(100)
            .raw(&[0xEE, 0xEE, 1, 2, 3, 0, 0, 0])
            .u32(40)
            .0;
        assert_eq!(&w.get_ref()[start..], expected.as_slice());

        let start = w.get_ref().len();
        let opts = EpbOptions {
            flags: Some(0b01),
            dropcount: Some(7),
            packet_id: Some(0x1_0000_0002),
            comment: Some("ERSPAN truncated (T=1)"), // 22 bytes -> 24
        };
        w.write_frame(0, ts, 4, &[], &[9, 8, 7, 6], &opts).unwrap();
        let total = 28 + 4 + 8 + 12 + 12 + (4 + 24) + 4 + 4;
        let expected = Bytes::default()
            .u32(6)
            .u32(total)
            .u32(0)
            .u32((ns >> 32) as u32)
            .u32(ns as u32)
            .u32(4)
            .u32(4)
            .raw(&[9, 8, 7, 6])
            .u16(2)
            .u16(4)
            .u32(1)
            .u16(4)
            .u16(8)
            .u64(7)
            .u16(5)
            .u16(8)
            .u64(0x1_0000_0002)
            .u16(1)
            .u16(22)
            .raw(b"ERSPAN truncated (T=1)\0\0")
            .u32(0)
            .u32(total)
            .0;
        assert_eq!(&w.get_ref()[start..], expected.as_slice());
    }

    #[test]
    fn reads_back_with_pcap_file() {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        let eth = w
            .add_interface(
                LINKTYPE_ETHERNET,
                262_144,
                Some("erspan2:10.0.0.5:sess=10"),
                Some("ERSPAN II"),
            )
            .unwrap();
        let t1 = Timestamp::new(1_700_000_000, 123_456_789);
        w.write_frame(eth, t1, 1514, &[], &[0xAB; 61], &EpbOptions::default())
            .unwrap();
        // Added after the first packet: late IDBs are valid.
        let raw = w
            .add_interface(LINKTYPE_RAW, 128, Some("gre:10.0.0.6:key=42"), None)
            .unwrap();
        let t2 = Timestamp::new(1_700_000_001, 1);
        let opts = EpbOptions {
            flags: Some(0b10),
            dropcount: Some(3),
            packet_id: Some(42),
            comment: Some("outer fragment reassembled"),
        };
        w.write_frame(raw, t2, 20, &[0x45, 0], &[0; 18], &opts)
            .unwrap();
        let t3 = Timestamp::new(1_700_000_002, 999_999_999);
        w.write_frame(
            eth,
            t3,
            60,
            &[0x02; 14],
            &[0x11; 46],
            &EpbOptions {
                comment: Some("é"),
                ..Default::default()
            },
        )
        .unwrap();
        w.write_interface_stats(eth, Timestamp::new(1_700_000_003, 0), Some(2), Some(5))
            .unwrap();
        w.write_interface_stats(raw, Timestamp::new(1_700_000_003, 500), None, None)
            .unwrap();
        w.flush().unwrap();
        let bytes = w.into_inner();

        let mut r = PcapNgReader::new(bytes.as_slice()).unwrap();
        let s = r.section();
        assert_eq!(s.endianness, Endianness::native());
        assert_eq!((s.major_version, s.minor_version), (1, 0));
        assert_eq!(s.section_length, -1);
        assert_eq!(
            s.options,
            vec![SectionHeaderOption::UserApplication(Cow::Borrowed(
                USER_APPLICATION
            ))]
        );

        let mut blocks = Vec::new();
        while let Some(block) = r.next_block() {
            blocks.push(block.unwrap().into_owned());
        }
        assert_eq!(blocks.len(), 7);

        let Block::InterfaceDescription(idb) = &blocks[0] else {
            panic!("{:?}", blocks[0])
        };
        assert_eq!(idb.linktype, DataLink::ETHERNET);
        assert_eq!(idb.snaplen, 262_144);
        assert_eq!(
            idb.options,
            vec![
                InterfaceDescriptionOption::IfName("erspan2:10.0.0.5:sess=10".into()),
                InterfaceDescriptionOption::IfDescription("ERSPAN II".into()),
                InterfaceDescriptionOption::IfTsResol(9),
            ]
        );

        let Block::EnhancedPacket(p) = &blocks[1] else {
            panic!("{:?}", blocks[1])
        };
        assert_eq!(p.interface_id, 0);
        assert_eq!(p.timestamp, Duration::new(1_700_000_000, 123_456_789));
        assert_eq!(p.original_len, 1514);
        assert_eq!(&*p.data, &[0xAB; 61][..]);
        assert!(p.options.is_empty());

        let Block::InterfaceDescription(idb) = &blocks[2] else {
            panic!("{:?}", blocks[2])
        };
        assert_eq!(idb.linktype, DataLink::RAW);
        assert_eq!(idb.snaplen, 128);
        assert_eq!(
            idb.options,
            vec![
                InterfaceDescriptionOption::IfName("gre:10.0.0.6:key=42".into()),
                InterfaceDescriptionOption::IfTsResol(9),
            ]
        );

        let Block::EnhancedPacket(p) = &blocks[3] else {
            panic!("{:?}", blocks[3])
        };
        assert_eq!(p.interface_id, 1);
        assert_eq!(p.timestamp, Duration::new(1_700_000_001, 1));
        assert_eq!(p.original_len, 20);
        let mut expected_data = vec![0x45, 0];
        expected_data.extend_from_slice(&[0; 18]);
        assert_eq!(&*p.data, expected_data.as_slice());
        assert_eq!(p.options.len(), 4);
        assert_eq!(p.options[0], EnhancedPacketOption::Flags(0b10));
        assert_eq!(p.options[1], EnhancedPacketOption::DropCount(3));
        // pcap-file 2.0 does not know epb_packetid (and cannot name its UnknownOption).
        let EnhancedPacketOption::Unknown(packet_id) = &p.options[2] else {
            panic!("{:?}", p.options[2])
        };
        assert_eq!((packet_id.code, packet_id.length), (5, 8));
        assert_eq!(&*packet_id.value, &42u64.to_ne_bytes());
        assert_eq!(
            p.options[3],
            EnhancedPacketOption::Comment("outer fragment reassembled".into())
        );

        let Block::EnhancedPacket(p) = &blocks[4] else {
            panic!("{:?}", blocks[4])
        };
        assert_eq!(p.interface_id, 0);
        assert_eq!(p.timestamp, Duration::new(1_700_000_002, 999_999_999));
        assert_eq!(p.original_len, 60);
        assert_eq!(&p.data[..14], &[0x02; 14]);
        assert_eq!(&p.data[14..], &[0x11; 46]);
        assert_eq!(p.options, vec![EnhancedPacketOption::Comment("é".into())]);

        let Block::InterfaceStatistics(isb) = &blocks[5] else {
            panic!("{:?}", blocks[5])
        };
        assert_eq!(isb.interface_id, 0);
        assert_eq!(pcap_file_isb_time(isb.timestamp), 1_700_000_003_000_000_000);
        assert_eq!(
            isb.options,
            vec![
                InterfaceStatisticsOption::IsbIfRecv(2),
                InterfaceStatisticsOption::IsbIfDrop(5)
            ]
        );
        let Block::InterfaceStatistics(isb) = &blocks[6] else {
            panic!("{:?}", blocks[6])
        };
        assert_eq!(isb.interface_id, 1);
        assert_eq!(pcap_file_isb_time(isb.timestamp), 1_700_000_003_000_000_500);
        assert!(isb.options.is_empty());
    }

    /// The same stream, walked by hand: framing and the option values pcap-file does
    /// not decode (epb_packetid) or decodes loosely.
    #[test]
    fn raw_blocks_and_options_parsed_by_hand() {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        let a = w
            .add_interface(LINKTYPE_ETHERNET, 1500, Some("a"), Some("first"))
            .unwrap();
        let b = w.add_interface(LINKTYPE_RAW, 0, None, None).unwrap();
        for i in 0..5u32 {
            let opts = EpbOptions {
                flags: (i.is_multiple_of(2)).then_some(i),
                dropcount: (i.is_multiple_of(3)).then_some(u64::from(i) * 1000),
                packet_id: Some(u64::MAX - u64::from(i)),
                comment: (i == 4).then_some("x"),
            };
            let data = vec![i as u8; i as usize];
            w.write_frame(
                i % 2,
                Timestamp::new(i64::from(i), i * 10),
                1000 + i,
                &[0xF0],
                &data,
                &opts,
            )
            .unwrap();
        }
        w.write_interface_stats(b, Timestamp::new(9, 9), Some(u64::MAX), None)
            .unwrap();
        let bytes = w.into_inner();
        let blocks = split_blocks(&bytes);
        let types: Vec<u32> = blocks.iter().map(|b| b.block_type).collect();
        assert_eq!(
            types,
            [SHB_TYPE, IDB_TYPE, IDB_TYPE, 6, 6, 6, 6, 6, ISB_TYPE]
        );

        let shb_opts = parse_options(&blocks[0].body[16..]);
        assert_eq!(shb_opts, [(4, USER_APPLICATION.as_bytes())]);
        assert_eq!(ne_u16(blocks[1].body, 0), 1);
        assert_eq!(ne_u32(blocks[1].body, 4), 1500);
        assert_eq!(
            parse_options(&blocks[1].body[8..]),
            [(2, &b"a"[..]), (3, &b"first"[..]), (9, &[9][..])]
        );
        assert_eq!(ne_u16(blocks[2].body, 0), 101);
        assert_eq!(ne_u32(blocks[2].body, 4), 0);
        assert_eq!(parse_options(&blocks[2].body[8..]), [(9, &[9][..])]);

        for (i, block) in blocks[3..8].iter().enumerate() {
            let i = i as u32;
            let epb = parse_epb(block.body);
            assert_eq!(epb.iface, if i.is_multiple_of(2) { a } else { b });
            assert_eq!(epb.ts, u64::from(i) * 1_000_000_000 + u64::from(i) * 10);
            assert_eq!(epb.caplen, 1 + i);
            assert_eq!(epb.orig_len, 1000 + i);
            assert_eq!(epb.data[0], 0xF0);
            assert!(epb.data[1..].iter().all(|&d| d == i as u8));
            let mut expected: Vec<(u16, Vec<u8>)> = Vec::new();
            if i.is_multiple_of(2) {
                expected.push((2, i.to_ne_bytes().to_vec()));
            }
            if i.is_multiple_of(3) {
                expected.push((4, (u64::from(i) * 1000).to_ne_bytes().to_vec()));
            }
            expected.push((5, (u64::MAX - u64::from(i)).to_ne_bytes().to_vec()));
            if i == 4 {
                expected.push((1, b"x".to_vec()));
            }
            let got: Vec<(u16, Vec<u8>)> =
                epb.options.iter().map(|&(c, v)| (c, v.to_vec())).collect();
            assert_eq!(got, expected, "frame {i}");
        }

        let isb = blocks[8].body;
        assert_eq!(ne_u32(isb, 0), 1);
        assert_eq!(
            (u64::from(ne_u32(isb, 4)) << 32) | u64::from(ne_u32(isb, 8)),
            9_000_000_009
        );
        let opts = parse_options(&isb[12..]);
        assert_eq!(opts.len(), 1);
        assert_eq!(opts[0].0, 4);
        assert_eq!(ne_u64(opts[0].1, 0), u64::MAX);
    }

    #[test]
    fn unknown_interface_is_an_error_and_writes_nothing() {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        let len = w.get_ref().len();
        let err = w
            .write_frame(
                0,
                Timestamp::new(1, 0),
                1,
                &[],
                &[0],
                &EpbOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            "pcapng interface 0 does not exist (0 added so far; add_interface must come first)"
        );
        w.add_interface(LINKTYPE_ETHERNET, 0, None, None).unwrap();
        let len_with_idb = w.get_ref().len();
        assert!(len_with_idb > len);
        let err = w
            .write_frame(
                1,
                Timestamp::new(1, 0),
                1,
                &[],
                &[0],
                &EpbOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = w
            .write_interface_stats(u32::MAX, Timestamp::new(1, 0), Some(1), None)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(w.get_ref().len(), len_with_idb);
    }

    #[test]
    fn oversized_frame_and_comment_are_errors_and_write_nothing() {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        let iface = w.add_interface(LINKTYPE_ETHERNET, 64, None, None).unwrap();
        let len = w.get_ref().len();
        let err = w
            .write_frame(
                iface,
                Timestamp::new(1, 0),
                65,
                &[0; 14],
                &[0; 51],
                &EpbOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            "pcapng frame of 65 bytes exceeds the snap length 64 of interface 0 (clamp before writing)"
        );
        let long = "c".repeat(65_536);
        let opts = EpbOptions {
            comment: Some(&long),
            ..Default::default()
        };
        let err = w
            .write_frame(iface, Timestamp::new(1, 0), 1, &[], &[0], &opts)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            "pcapng opt_comment of 65536 bytes exceeds the 65535-byte option limit"
        );
        let err = w
            .add_interface(LINKTYPE_ETHERNET, 64, Some(&long), None)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(w.get_ref().len(), len);

        // The limits themselves are fine: exactly the snap length, a 65535-byte comment.
        let longest = "c".repeat(65_535);
        let opts = EpbOptions {
            comment: Some(&longest),
            ..Default::default()
        };
        w.write_frame(iface, Timestamp::new(1, 0), 64, &[0; 14], &[0; 50], &opts)
            .unwrap();
        let bytes = w.into_inner();
        let blocks = split_blocks(&bytes);
        let epb = parse_epb(blocks.last().unwrap().body);
        assert_eq!(epb.caplen, 64);
        assert_eq!(epb.options, [(1, longest.as_bytes())]);
    }

    #[test]
    fn timestamps_clamp_and_orig_len_is_raised() {
        assert_eq!(timestamp_nanos(Timestamp::new(-1, 999_999_999)), 0);
        assert_eq!(timestamp_nanos(Timestamp::new(i64::MIN, 0)), 0);
        assert_eq!(timestamp_nanos(Timestamp::new(0, 1)), 1);
        assert_eq!(timestamp_nanos(Timestamp::new(i64::MAX, 5)), u64::MAX);
        assert_eq!(
            timestamp_nanos(Timestamp::new(1, 1_500_000_000)),
            2_500_000_000
        );

        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.add_interface(LINKTYPE_ETHERNET, 0, None, None).unwrap();
        w.write_frame(
            0,
            Timestamp::new(-5, 7),
            1,
            &[1, 2],
            &[3],
            &EpbOptions::default(),
        )
        .unwrap();
        let bytes = w.into_inner();
        let blocks = split_blocks(&bytes);
        assert_eq!(
            parse_epb(blocks[2].body),
            Epb {
                iface: 0,
                ts: 0,
                caplen: 3,
                orig_len: 3,
                data: &[1, 2, 3],
                options: vec![],
            }
        );
    }

    /// tshark (Wireshark's dissectors, not just another Rust reader) sees the interface
    /// names, comments, drop counts, packet ids and directions. Skipped (with a note)
    /// where tshark is not installed.
    #[test]
    fn tshark_reads_interfaces_and_options() {
        if std::process::Command::new("tshark")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("note: tshark not on PATH, skipping tshark_reads_interfaces_and_options");
            return;
        }
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        let eth = w
            .add_interface(
                LINKTYPE_ETHERNET,
                262_144,
                Some("erspan2:10.0.0.5:sess=10"),
                Some("ERSPAN II"),
            )
            .unwrap();
        let eth_ipv4 = [
            0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, // Ethernet, type IPv4
        ];
        w.write_frame(
            eth,
            Timestamp::new(1_700_000_000, 1),
            60,
            &eth_ipv4,
            &[0; 46],
            &EpbOptions {
                flags: Some(0b01),
                dropcount: Some(3),
                packet_id: Some(42),
                comment: Some("ERSPAN truncated (T=1)"),
            },
        )
        .unwrap();
        let raw = w
            .add_interface(LINKTYPE_RAW, 0, Some("gre:10.0.0.6:key=7"), None)
            .unwrap();
        w.write_frame(
            raw,
            Timestamp::new(1_700_000_000, 2),
            20,
            &[],
            &[
                0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
            ],
            &EpbOptions {
                flags: Some(0b10),
                ..Default::default()
            },
        )
        .unwrap();
        w.write_frame(
            eth,
            Timestamp::new(1_700_000_000, 3),
            60,
            &eth_ipv4,
            &[0; 46],
            &EpbOptions::default(),
        )
        .unwrap();
        w.write_interface_stats(eth, Timestamp::new(1_700_000_001, 0), Some(2), Some(3))
            .unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), w.into_inner()).unwrap();

        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(file.path())
            .args(["-T", "fields", "-E", "occurrence=a"])
            .args([
                "-e",
                "frame.interface_name",
                "-e",
                "frame.comment",
                "-e",
                "frame.drop_count",
            ])
            .args([
                "-e",
                "frame.packet_id",
                "-e",
                "frame.packet_flags_direction",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "erspan2:10.0.0.5:sess=10\tERSPAN truncated (T=1)\t3\t42\t0x00000001",
                "gre:10.0.0.6:key=7\t\t\t\t0x00000002",
                "erspan2:10.0.0.5:sess=10\t\t\t\t",
            ]
        );
    }
}
