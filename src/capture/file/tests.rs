//! Every fixture is built byte by byte here, following the layouts in
//! draft-ietf-opsawg-pcap (classic pcap) and draft-ietf-opsawg-pcapng.

use std::io::Cursor;

use super::pcapng::TsUnits;
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
        Some("input.pcap: file ends in the middle of an enhanced packet block (after 1 packets)")
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
