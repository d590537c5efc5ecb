//! pcapng blocks: sections and their byte order, interfaces with their link types and
//! timestamp units, and the packet blocks (enhanced and simple); every other block is
//! skipped by its length.
//!
//! It must never panic, never trust a block length beyond [`MAX_RECORD_LEN`], never
//! hold more than [`MAX_INTERFACES`] interfaces, and never copy a frame.

use super::*;

/// Whether the pcapng walk returns packets or stops in front of the first one (at open).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Read,
    StopBeforePacket,
}

/// The current pcapng section: its byte order and its interfaces, in IDB order.
#[derive(Debug)]
pub(super) struct Section {
    pub(super) big_endian: bool,
    pub(super) interfaces: Vec<Interface>,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Interface {
    pub(super) link: LinkType,
    pub(super) units: TsUnits,
    pub(super) offset_secs: i64,
}

impl Section {
    /// Walks blocks until a packet block, handling section and interface blocks on the
    /// way and skipping all others. `Ok(None)` at a clean end of file (or, with
    /// [`Mode::StopBeforePacket`], in front of a packet block, which stays unread).
    pub(super) fn next_packet(
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

    pub(super) fn interface_from_idb(
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

    pub(super) fn interface(
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
pub(super) fn checked_block_len(
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
pub(super) fn block_name(block_type: u32) -> &'static str {
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
pub(super) struct TsUnits {
    pub(super) per_sec: u64,
    pub(super) to_nanos: FractionToNanos,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum FractionToNanos {
    /// 10^-k with k <= 9: multiply by 10^(9-k).
    Multiply(u64),
    /// 10^-k with k > 9: divide by 10^(k-9), truncating.
    Divide(u64),
    /// 2^-k: multiply by 10^9, shift right by k (exact, then truncated).
    Shift(u32),
}

impl TsUnits {
    /// `None` for a resolution whose unit count per second does not fit in 64 bits.
    pub(super) fn from_tsresol(tsresol: u8) -> Option<TsUnits> {
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

    pub(super) fn timestamp(self, count: u64, offset_secs: i64) -> Timestamp {
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
