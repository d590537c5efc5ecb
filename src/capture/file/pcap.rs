//! Classic pcap records: the 16-byte record header, its byte order and timestamp
//! precision, and where the frame sits in the input buffer.
//!
//! It must never panic, never trust a caplen beyond [`MAX_RECORD_LEN`], and never copy
//! a frame: a record is found in the input buffer and lent from there.

use super::*;

#[derive(Debug)]
pub(super) struct ClassicPcap {
    pub(super) big_endian: bool,
    pub(super) nanos: bool,
    pub(super) link: LinkType,
}

impl ClassicPcap {
    pub(super) fn from_header(input: &Input) -> Result<ClassicPcap, CaptureError> {
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
    pub(super) fn next_packet(
        &self,
        input: &mut Input,
        frames: u64,
    ) -> Result<Option<Packet>, CaptureError> {
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

/// A record time of whole seconds and `frac` units of 1 / `PER_SEC` s. Writers
/// sometimes leave the fraction un-normalised; it is carried into the seconds (the
/// divisions are by a constant, and skipped for a normal fraction).
#[inline]
pub(super) fn fraction_to_timestamp<const PER_SEC: u32>(secs: u32, frac: u32) -> Timestamp {
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
