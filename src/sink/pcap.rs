//! Classic pcap output (spec §5.1): one global header, then one record per inner frame.
//!
//! The writer turns a [`Timestamp`] plus the frame's bytes into the on-disk layout and
//! nothing more. It writes in the machine's native byte order (readers detect it by the
//! magic), µs or ns timestamps per [`TsPrecision`].
//!
//! It must never:
//! * buffer: the caller hands in a `BufWriter` (or a `Vec`) sized for its own needs; a
//!   second buffer here costs a copy of every frame and pays only if the caller hides
//!   its `BufWriter` behind `dyn Write` (the `writers` benchmark measures both);
//! * allocate per frame, or panic on any argument;
//! * write a record that readers reject: a frame longer than the snap length is refused
//!   with [`io::ErrorKind::InvalidInput`] before any byte of it is written, an original
//!   length below the captured one is raised to it, and timestamps outside the 32-bit
//!   seconds range are clamped;
//! * know where frames come from (sockets, GRE, ERSPAN): that is the pipeline's business.

use std::io::{self, Write};

use crate::{Timestamp, TsPrecision};

/// Magic number of a file with microsecond timestamps.
pub const MAGIC_MICROS: u32 = 0xA1B2_C3D4;
/// Magic number of a file with nanosecond timestamps.
pub const MAGIC_NANOS: u32 = 0xA1B2_3C4D;
/// Format version written in the global header (2.4, the only one in use).
pub const VERSION: (u16, u16) = (2, 4);
/// Size of the global file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Size of the header before each record's bytes.
pub const RECORD_HEADER_LEN: usize = 16;

const NANOS_PER_SEC: u32 = 1_000_000_000;

/// Writes classic pcap records to `W`.
///
/// Each [`write_frame`](Self::write_frame) issues two 8-byte `write_all`s for the record
/// header, one for `head` when it is not empty, and one for `data`. That is fastest
/// when `W` is a concrete type (`BufWriter<…>`, `Vec<u8>`) whose `write_all` inlines;
/// behind `dyn Write` each call is an indirect one, so wrap the trait object in the
/// `BufWriter`, not the other way round. `benches/writers.rs` measures the alternatives.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
    precision: TsPrecision,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte global header at once: native byte order, magic
    /// [`MAGIC_MICROS`] or [`MAGIC_NANOS`] per `precision`, version 2.4, `snaplen`,
    /// `linktype` (a `LINKTYPE_*` value, optionally with FCS bits in the top nibble).
    ///
    /// A `snaplen` of 0 is refused ([`io::ErrorKind::InvalidInput`]): the format has no
    /// "unlimited" value, and readers would reject every record. Use 262144.
    pub fn new(
        mut out: W,
        snaplen: u32,
        linktype: u32,
        precision: TsPrecision,
    ) -> io::Result<Self> {
        if snaplen == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "pcap snap length 0 is invalid (use 262144 for \"no limit\")",
            ));
        }
        let magic = match precision {
            TsPrecision::Micro => MAGIC_MICROS,
            TsPrecision::Nano => MAGIC_NANOS,
        };
        let mut header = [0u8; FILE_HEADER_LEN];
        header[0..4].copy_from_slice(&magic.to_ne_bytes());
        header[4..6].copy_from_slice(&VERSION.0.to_ne_bytes());
        header[6..8].copy_from_slice(&VERSION.1.to_ne_bytes());
        // 8..16: reserved (formerly thiszone, sigfigs), always 0.
        header[16..20].copy_from_slice(&snaplen.to_ne_bytes());
        header[20..24].copy_from_slice(&linktype.to_ne_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter {
            out,
            snaplen,
            precision,
        })
    }

    /// Writes one record: the record header, then `head`, then `data`.
    ///
    /// `head` is for bytes the pipeline synthesizes in front of the frame (e.g. a
    /// 14-byte Ethernet header for an IP payload) and is usually empty; passing it
    /// separately spares the caller a copy. The captured length is
    /// `head.len() + data.len()`, which the caller has already clamped to the snap
    /// length; a longer frame is refused with [`io::ErrorKind::InvalidInput`] and
    /// nothing is written. `orig_len` below the captured length is raised to it.
    ///
    /// The timestamp is written in µs (truncating) or ns per the file's precision;
    /// times before 1970 are written as 0, seconds past `u32::MAX` (year 2106)
    /// saturate, and `nanos` of a second or more carry into the seconds.
    #[inline]
    pub fn write_frame(
        &mut self,
        ts: Timestamp,
        orig_len: u32,
        head: &[u8],
        data: &[u8],
    ) -> io::Result<()> {
        let incl_len = match u32::try_from(head.len() + data.len()) {
            Ok(len) if len <= self.snaplen => len,
            _ => return Err(frame_too_long(head.len() + data.len(), self.snaplen)),
        };
        let (secs, frac) = record_time(ts, self.precision);

        self.out.write_all(&pack_u32_pair(secs, frac))?;
        self.out
            .write_all(&pack_u32_pair(incl_len, orig_len.max(incl_len)))?;
        if !head.is_empty() {
            self.out.write_all(head)?;
        }
        self.out.write_all(data)
    }

    /// The record header [`write_frame`](Self::write_frame) would write before `caplen`
    /// bytes of a frame, for a caller that writes the frame's bytes itself
    /// ([`super::vectored`]). A frame longer than the snap length is refused with
    /// [`io::ErrorKind::InvalidInput`].
    #[inline]
    pub fn record_header(
        &self,
        ts: Timestamp,
        orig_len: u32,
        caplen: usize,
    ) -> io::Result<[u8; RECORD_HEADER_LEN]> {
        let incl_len = match u32::try_from(caplen) {
            Ok(len) if len <= self.snaplen => len,
            _ => return Err(frame_too_long(caplen, self.snaplen)),
        };
        let (secs, frac) = record_time(ts, self.precision);
        let mut header = [0u8; RECORD_HEADER_LEN];
        header[..8].copy_from_slice(&pack_u32_pair(secs, frac));
        header[8..].copy_from_slice(&pack_u32_pair(incl_len, orig_len.max(incl_len)));
        Ok(header)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// The underlying writer, to write past this one (bytes written there must be whole
    /// records).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Gives back the underlying writer, without flushing it.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Two consecutive native-order u32 fields as the 8 bytes of one u64.
///
/// The record header goes out as two of these rather than as one 16-byte array built
/// from four 4-byte stores: into a `BufWriter` the array version wrote 64-byte frames
/// at about half the rate (`benches/writers.rs`, `pcap-record-strategy`), most likely
/// because copying the array reads it back with one wide load that the CPU cannot
/// forward from the narrow stores still in flight.
#[inline]
pub(super) fn pack_u32_pair(first: u32, second: u32) -> [u8; 8] {
    let (first, second) = (u64::from(first), u64::from(second));
    if cfg!(target_endian = "little") {
        (first | second << 32).to_ne_bytes()
    } else {
        (first << 32 | second).to_ne_bytes()
    }
}

/// Seconds and fraction (µs or ns) as a record header carries them.
#[inline]
fn record_time(ts: Timestamp, precision: TsPrecision) -> (u32, u32) {
    if ts.secs < 0 {
        return (0, 0);
    }
    let (carry, nanos) = (ts.nanos / NANOS_PER_SEC, ts.nanos % NANOS_PER_SEC);
    let secs = u32::try_from(ts.secs.saturating_add(i64::from(carry))).unwrap_or(u32::MAX);
    let frac = match precision {
        TsPrecision::Micro => nanos / 1000,
        TsPrecision::Nano => nanos,
    };
    (secs, frac)
}

#[cold]
fn frame_too_long(len: usize, snaplen: u32) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "pcap frame of {len} bytes exceeds the snap length {snaplen} (clamp before writing)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;
    use pcap_file::{DataLink, Endianness, TsResolution};
    use proptest::prelude::*;
    use std::time::Duration;

    const LINKTYPE_ETHERNET: u32 = 1;
    const LINKTYPE_RAW: u32 = 101;

    fn ne32(v: u32) -> [u8; 4] {
        v.to_ne_bytes()
    }

    /// The expected global header, assembled field by field from spec §5.1.
    fn expected_file_header(magic: u32, snaplen: u32, linktype: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&ne32(magic));
        h.extend_from_slice(&2u16.to_ne_bytes());
        h.extend_from_slice(&4u16.to_ne_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&ne32(snaplen));
        h.extend_from_slice(&ne32(linktype));
        h
    }

    #[test]
    fn global_header_bytes_micro_and_nano() {
        let w =
            PcapWriter::new(Vec::new(), 262_144, LINKTYPE_ETHERNET, TsPrecision::Micro).unwrap();
        assert_eq!(w.get_ref(), &expected_file_header(0xA1B2_C3D4, 262_144, 1));

        let w = PcapWriter::new(Vec::new(), 65_535, LINKTYPE_RAW, TsPrecision::Nano).unwrap();
        assert_eq!(
            w.into_inner(),
            expected_file_header(0xA1B2_3C4D, 65_535, 101)
        );
    }

    #[test]
    fn global_header_is_little_endian_on_this_machine_as_tcpdump_writes_it() {
        // On x86-64 / aarch64 the native order is little endian: d4 c3 b2 a1.
        if cfg!(target_endian = "little") {
            let w = PcapWriter::new(Vec::new(), 262_144, LINKTYPE_ETHERNET, TsPrecision::Micro)
                .unwrap();
            assert_eq!(
                w.get_ref().as_slice(),
                &[
                    0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x04,
                    0x00, 1, 0, 0, 0
                ]
            );
        }
    }

    #[test]
    fn record_bytes_are_header_then_head_then_data() {
        let mut w =
            PcapWriter::new(Vec::new(), 262_144, LINKTYPE_ETHERNET, TsPrecision::Micro).unwrap();
        let head = [0xEEu8; 14];
        let data = [1u8, 2, 3, 4, 5];
        w.write_frame(
            Timestamp::new(1_700_000_000, 123_456_789),
            1500,
            &head,
            &data,
        )
        .unwrap();
        let out = w.into_inner();
        let rec = &out[FILE_HEADER_LEN..];
        let mut expected = Vec::new();
        expected.extend_from_slice(&ne32(1_700_000_000));
        expected.extend_from_slice(&ne32(123_456)); // µs, truncated
        expected.extend_from_slice(&ne32(19));
        expected.extend_from_slice(&ne32(1500));
        expected.extend_from_slice(&head);
        expected.extend_from_slice(&data);
        assert_eq!(rec, expected.as_slice());
    }

    #[test]
    fn nano_record_keeps_nanoseconds() {
        let mut w = PcapWriter::new(Vec::new(), 262_144, LINKTYPE_RAW, TsPrecision::Nano).unwrap();
        w.write_frame(Timestamp::new(5, 999_999_999), 3, &[], &[0x45, 0, 0])
            .unwrap();
        let out = w.into_inner();
        assert_eq!(&out[24..28], &ne32(5));
        assert_eq!(&out[28..32], &ne32(999_999_999));
        assert_eq!(&out[32..36], &ne32(3));
        assert_eq!(&out[36..40], &ne32(3));
        assert_eq!(&out[40..], &[0x45, 0, 0]);
    }

    #[test]
    fn reads_back_with_pcap_file_at_micro_and_nano() {
        let frames: [(Timestamp, u32, &[u8], &[u8]); 3] = [
            (
                Timestamp::new(1_700_000_000, 123_456_789),
                60,
                &[],
                &[0xAA; 60],
            ),
            (
                Timestamp::new(1_700_000_001, 1_999),
                200,
                &[0x02; 14],
                &[0x45; 50],
            ),
            (Timestamp::new(0, 0), 1, &[], &[0x60]),
        ];
        for (precision, resolution) in [
            (TsPrecision::Micro, TsResolution::MicroSecond),
            (TsPrecision::Nano, TsResolution::NanoSecond),
        ] {
            let mut w = PcapWriter::new(Vec::new(), 1024, LINKTYPE_ETHERNET, precision).unwrap();
            for (ts, orig, head, data) in frames {
                w.write_frame(ts, orig, head, data).unwrap();
            }
            w.flush().unwrap();
            let bytes = w.into_inner();

            let mut r = PcapReader::new(bytes.as_slice()).unwrap();
            let h = r.header();
            assert_eq!((h.version_major, h.version_minor), (2, 4));
            assert_eq!((h.ts_correction, h.ts_accuracy), (0, 0));
            assert_eq!(h.snaplen, 1024);
            assert_eq!(h.datalink, DataLink::ETHERNET);
            assert_eq!(h.ts_resolution, resolution);
            assert_eq!(h.endianness, Endianness::native());

            let expect_nanos = |n: u32| match precision {
                TsPrecision::Micro => n / 1000 * 1000,
                TsPrecision::Nano => n,
            };
            for (ts, orig, head, data) in frames {
                let p = r.next_packet().unwrap().unwrap();
                assert_eq!(
                    p.timestamp,
                    Duration::new(ts.secs as u64, expect_nanos(ts.nanos)),
                    "{precision:?}"
                );
                assert_eq!(p.orig_len, orig);
                assert_eq!(p.data.len(), head.len() + data.len());
                assert_eq!(&p.data[..head.len()], head);
                assert_eq!(&p.data[head.len()..], data);
            }
            assert!(r.next_packet().is_none());
        }
        // The 1_999 ns frame: 1 µs in a µs file, 1999 ns in a ns file (checked above);
        // spelled out once so a wrong rounding direction is obvious.
        assert_eq!(
            record_time(Timestamp::new(7, 1_999), TsPrecision::Micro),
            (7, 1)
        );
        assert_eq!(
            record_time(Timestamp::new(7, 1_999), TsPrecision::Nano),
            (7, 1_999)
        );
    }

    #[test]
    fn out_of_range_timestamps_are_clamped_not_wrapped() {
        assert_eq!(
            record_time(Timestamp::new(-1, 500), TsPrecision::Nano),
            (0, 0)
        );
        assert_eq!(
            record_time(Timestamp::new(i64::MIN, 0), TsPrecision::Micro),
            (0, 0)
        );
        assert_eq!(
            record_time(Timestamp::new(1 << 40, 123_000), TsPrecision::Micro),
            (u32::MAX, 123)
        );
        assert_eq!(
            record_time(Timestamp::new(i64::MAX, 1_500_000_000), TsPrecision::Nano),
            (u32::MAX, 500_000_000)
        );
        // A nanos field of a second or more (invalid, but pub) carries instead of
        // producing a fraction readers reject.
        assert_eq!(
            record_time(Timestamp::new(10, 2_000_000_001), TsPrecision::Nano),
            (12, 1)
        );
        assert_eq!(
            record_time(Timestamp::new(10, 1_000_002_000), TsPrecision::Micro),
            (11, 2)
        );
    }

    #[test]
    fn frame_longer_than_snaplen_is_refused_and_nothing_is_written() {
        let mut w = PcapWriter::new(Vec::new(), 64, LINKTYPE_ETHERNET, TsPrecision::Micro).unwrap();
        let err = w
            .write_frame(Timestamp::new(1, 0), 100, &[0; 14], &[0; 51])
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            "pcap frame of 65 bytes exceeds the snap length 64 (clamp before writing)"
        );
        assert_eq!(w.get_ref().len(), FILE_HEADER_LEN);
        // Exactly the snap length is fine.
        w.write_frame(Timestamp::new(1, 0), 100, &[0; 14], &[0; 50])
            .unwrap();
        assert_eq!(w.get_ref().len(), FILE_HEADER_LEN + RECORD_HEADER_LEN + 64);
    }

    #[test]
    fn orig_len_below_captured_length_is_raised() {
        let mut w =
            PcapWriter::new(Vec::new(), 262_144, LINKTYPE_ETHERNET, TsPrecision::Micro).unwrap();
        w.write_frame(Timestamp::new(1, 0), 3, &[0; 14], &[0; 10])
            .unwrap();
        let out = w.into_inner();
        assert_eq!(&out[32..36], &ne32(24));
        assert_eq!(&out[36..40], &ne32(24));
    }

    #[test]
    fn snaplen_zero_is_refused() {
        let err =
            PcapWriter::new(Vec::new(), 0, LINKTYPE_ETHERNET, TsPrecision::Micro).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn truncated_frame_keeps_its_original_length() {
        // orig_len > snaplen is legal (a snapped frame); pcap-file's checked reader
        // rejects it, so read the raw record.
        let mut w = PcapWriter::new(Vec::new(), 128, LINKTYPE_ETHERNET, TsPrecision::Nano).unwrap();
        w.write_frame(Timestamp::new(42, 7), 9000, &[], &[0x5A; 128])
            .unwrap();
        let bytes = w.into_inner();
        let mut r = PcapReader::new(bytes.as_slice()).unwrap();
        let p = r.next_raw_packet().unwrap().unwrap();
        assert_eq!(
            (p.ts_sec, p.ts_frac, p.incl_len, p.orig_len),
            (42, 7, 128, 9000)
        );
        assert_eq!(&*p.data, &[0x5A; 128][..]);
    }

    /// `tshark` reads the file and sees the same times and lengths. Skipped (with a
    /// note) where tshark is not installed.
    #[test]
    fn tshark_reads_the_file() {
        if std::process::Command::new("tshark")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("note: tshark not on PATH, skipping tshark_reads_the_file");
            return;
        }
        let mut w =
            PcapWriter::new(Vec::new(), 262_144, LINKTYPE_ETHERNET, TsPrecision::Nano).unwrap();
        let eth_ipv4 = [
            0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, // Ethernet, type IPv4
        ];
        w.write_frame(
            Timestamp::new(1_700_000_000, 123_456_789),
            1514,
            &eth_ipv4,
            &[0x45; 46],
        )
        .unwrap();
        w.write_frame(Timestamp::new(1_700_000_001, 5), 60, &[], &[0xFF; 60])
            .unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), w.into_inner()).unwrap();

        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(file.path())
            .args([
                "-T",
                "fields",
                "-e",
                "frame.time_epoch",
                "-e",
                "frame.len",
                "-e",
                "frame.cap_len",
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
                "1700000000.123456789\t1514\t60",
                "1700000001.000000005\t60\t60"
            ]
        );
    }

    proptest! {
        /// Whatever the caller passes within the snap length, pcap-file reads back the
        /// same time (at the file's precision), lengths and bytes.
        #[test]
        fn round_trip(
            secs in 0i64..=i64::from(u32::MAX),
            nanos in 0u32..NANOS_PER_SEC,
            nano in any::<bool>(),
            head in proptest::collection::vec(any::<u8>(), 0..20),
            data in proptest::collection::vec(any::<u8>(), 0..300),
            extra in 0u32..1000,
        ) {
            let precision = if nano { TsPrecision::Nano } else { TsPrecision::Micro };
            let mut w = PcapWriter::new(Vec::new(), 2048, LINKTYPE_ETHERNET, precision).unwrap();
            let orig = (head.len() + data.len()) as u32 + extra;
            w.write_frame(Timestamp::new(secs, nanos), orig, &head, &data).unwrap();
            let bytes = w.into_inner();
            let mut r = PcapReader::new(bytes.as_slice()).unwrap();
            let p = r.next_packet().unwrap().unwrap();
            let frac = if nano { nanos } else { nanos / 1000 * 1000 };
            prop_assert_eq!(p.timestamp, Duration::new(secs as u64, frac));
            prop_assert_eq!(p.orig_len, orig);
            prop_assert_eq!(&p.data[..head.len()], head.as_slice());
            prop_assert_eq!(&p.data[head.len()..], data.as_slice());
            prop_assert!(r.next_packet().is_none());
        }
    }
}
