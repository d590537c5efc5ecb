//! Entry points shared by the fuzz targets (`fuzz/`) and the tests that replay their
//! corpora, so both drive exactly the same code with no fuzzer needed.
//!
//! Each takes arbitrary bytes and must return, never panic or hang.

use crate::capture::ring::BlockCursor;
use crate::capture::{FileSource, OuterFrame};
use crate::pipeline::{Config, DEFAULT_SNAPLEN, Pipeline};
use crate::sink::Format;
use crate::sink::text::{
    TextOptions, TextPrinter, TimeFormat, max_text_len, vxlan_carries_next_line,
};
use crate::stats::Stats;
use crate::wire::LinkType;
use crate::wire::decap::{Decapsulated, Encap, GreInfo, Notes, PayloadKind};
use crate::wire::gre::GreProto;
use crate::{Timestamp, TsPrecision};
use std::io::Cursor;
use std::sync::atomic::AtomicBool;

/// Link types a fuzzed packet can be read as; the first input byte picks one.
pub const LINK_TYPES: [LinkType; 8] = [
    LinkType::Ethernet,
    LinkType::Raw,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Null,
    LinkType::Loop,
];

fn config(format: Format) -> Config {
    Config {
        // The most detailed text line, so the printer's every branch is fuzzed.
        text: TextOptions {
            link_header: true,
            verbose: 2,
            time: TimeFormat::Epoch,
            ..TextOptions::default()
        },
        ..Config::new(format)
    }
}

/// One outer packet through the whole per-packet path (link, IP, GRE, ERSPAN,
/// filter, text printer): the first byte picks the link type, the rest is the frame.
/// Returns the counters; panics if the packet was not accounted exactly once.
pub fn outer_packet(data: &[u8]) -> Stats {
    let Some((&selector, frame)) = data.split_first() else {
        return Stats::default();
    };
    let link = LINK_TYPES[usize::from(selector) % LINK_TYPES.len()];
    let config = config(Format::Text);
    let mut pipeline = Pipeline::new(&config, crate::sink::output(std::io::sink()));
    let outer = OuterFrame {
        ts: Timestamp::new(1, 0),
        link,
        data: frame,
        orig_len: frame.len() as u32,
    };
    // Errors here can only come from the sink, which never fails.
    let _ = pipeline.process(outer, TsPrecision::Micro);
    let stats = pipeline.stats().clone();
    // Every packet that is not an outer fragment ends in exactly one outcome.
    if stats.fragments_held == 0 {
        assert_eq!(stats.outcomes(), 1, "one packet, one outcome: {stats:?}");
    }
    stats
}

/// A whole capture file (pcap or pcapng) through reader and pipeline into each output
/// format. Returns the counters of the pcap run, or the reader's error message.
pub fn capture_file(data: &[u8]) -> Result<Stats, String> {
    let mut first = None;
    for format in [Format::Pcap, Format::PcapNg, Format::Text] {
        let mut source = FileSource::from_reader(Box::new(Cursor::new(data.to_vec())), "fuzz")
            .map_err(|e| e.to_string())?;
        let config = config(format);
        let mut pipeline = Pipeline::new(&config, crate::sink::output(std::io::sink()));
        let result = pipeline.run(&mut source, &AtomicBool::new(false));
        let stats = pipeline.stats().clone();
        if let Some(first) = &first {
            // The output format must not change what is decoded.
            assert_eq!(first, &stats, "counters differ between output formats");
        }
        first.get_or_insert(stats);
        result.map_err(|e| e.to_string())?;
    }
    Ok(first.unwrap_or_default())
}

/// Appends `v` in the chosen byte order (capture headers built for the fuzzer).
fn put_u16(out: &mut Vec<u8>, v: u16, big_endian: bool) {
    out.extend_from_slice(&if big_endian {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn put_u32(out: &mut Vec<u8>, v: u32, big_endian: bool) {
    out.extend_from_slice(&if big_endian {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

/// Classic pcap records behind a valid file header, so the fuzzer spends its time on
/// record headers (caplen, orig_len, timestamps) instead of rediscovering the magic.
/// The first byte picks the link type (bits 0-2), big-endian (bit 3) and nanosecond
/// (bit 4) magic; the rest follows the 24-byte file header as it is.
pub fn pcap_records(data: &[u8]) -> Result<Stats, String> {
    let Some((&selector, records)) = data.split_first() else {
        return Ok(Stats::default());
    };
    let link = LINK_TYPES[usize::from(selector) % LINK_TYPES.len()];
    let be = selector & 0x08 != 0;
    let magic: u32 = if selector & 0x10 != 0 {
        0xA1B2_3C4D
    } else {
        0xA1B2_C3D4
    };
    let mut file = Vec::with_capacity(24 + records.len());
    put_u32(&mut file, magic, be);
    put_u16(&mut file, 2, be);
    put_u16(&mut file, 4, be);
    put_u32(&mut file, 0, be);
    put_u32(&mut file, 0, be);
    put_u32(&mut file, DEFAULT_SNAPLEN, be);
    put_u32(&mut file, link.linktype(), be);
    file.extend_from_slice(records);
    capture_file(&file)
}

/// pcapng blocks behind a valid section header and one interface description, so the
/// fuzzer works on packet, interface and other blocks (and further sections) rather
/// than on the file magic. The first byte picks the interface's link type (bits 0-2),
/// the section's byte order (bit 3) and an `if_tsresol` of 9 (bit 4); the rest
/// follows the two blocks as it is.
pub fn pcapng_blocks(data: &[u8]) -> Result<Stats, String> {
    let Some((&selector, blocks)) = data.split_first() else {
        return Ok(Stats::default());
    };
    let link = LINK_TYPES[usize::from(selector) % LINK_TYPES.len()];
    let be = selector & 0x08 != 0;
    let nanos = selector & 0x10 != 0;
    let mut file = Vec::with_capacity(64 + blocks.len());
    // Section header block: type (the same in both byte orders), length 28,
    // byte-order magic, version 1.0, section length -1, length again.
    put_u32(&mut file, 0x0A0D_0D0A, be);
    put_u32(&mut file, 28, be);
    put_u32(&mut file, 0x1A2B_3C4D, be);
    put_u16(&mut file, 1, be);
    put_u16(&mut file, 0, be);
    file.extend_from_slice(&[0xFF; 8]);
    put_u32(&mut file, 28, be);
    // Interface description block: link type, reserved, snaplen, then (for ns)
    // if_tsresol = 9 (code 9, length 1, padded) and the end of options.
    let idb_len: u32 = if nanos { 32 } else { 20 };
    put_u32(&mut file, 1, be);
    put_u32(&mut file, idb_len, be);
    put_u16(&mut file, link.linktype() as u16, be);
    put_u16(&mut file, 0, be);
    put_u32(&mut file, DEFAULT_SNAPLEN, be);
    if nanos {
        put_u16(&mut file, 9, be);
        put_u16(&mut file, 1, be);
        file.extend_from_slice(&[9, 0, 0, 0]);
        put_u32(&mut file, 0, be);
    }
    put_u32(&mut file, idb_len, be);
    file.extend_from_slice(blocks);
    capture_file(&file)
}

/// A TPACKET_V3 ring block as the kernel might hand it over, whatever its bytes: the
/// block cursor must end, every packet range it returns must lie inside the block,
/// and each packet goes through the per-packet path as the ring source would send it.
/// Returns the number of packets found.
pub fn ring_block(data: &[u8]) -> u64 {
    let Ok(mut cursor) = BlockCursor::new(data) else {
        return 0;
    };
    let config = config(Format::Pcap);
    let mut pipeline = Pipeline::new(&config, crate::sink::output(std::io::sink()));
    let mut packets = 0;
    while let Ok(Some(p)) = cursor.next_packet(data) {
        assert!(
            p.data.start <= p.data.end && p.data.end <= data.len(),
            "packet range {:?} outside a block of {} bytes",
            p.data,
            data.len()
        );
        let frame = &data[p.data.clone()];
        let outer = OuterFrame {
            ts: p.ts,
            link: LinkType::Ethernet,
            data: frame,
            orig_len: p.len.max(frame.len() as u32),
        };
        let _ = pipeline.process(outer, TsPrecision::Nano);
        packets += 1;
    }
    assert_eq!(pipeline.stats().outer_packets, packets);
    packets
}

/// A classic BPF program and a frame, from arbitrary bytes: 2 bytes of instruction
/// count (little-endian), then 8 bytes per instruction (code, jt, jf, k as
/// `struct bpf_insn` holds them, little-endian), then the frame's wire length (4
/// bytes), one byte saying where the frame splits into two pieces, and the frame.
/// Missing bytes read as zeros. The program is validated; a valid one runs on the
/// frame whole and in two pieces, which must agree. Returns the verdict of a valid
/// program, `None` for one the validator refused.
pub fn bpf_program(data: &[u8]) -> Option<u32> {
    let (program, wire_len, split, frame) = split_bpf_input(data);
    let program = crate::bpf::Program::validate(&program).ok()?;
    let whole = program.run(crate::bpf::Frame::new(&[], frame), wire_len);
    let split = usize::from(split).min(frame.len());
    let (head, body) = frame.split_at(split);
    let pieces = program.run(crate::bpf::Frame::new(head, body), wire_len);
    assert_eq!(
        whole, pieces,
        "the frame in two pieces gave another verdict"
    );
    Some(whole)
}

/// The parts of a [`bpf_program`] input: instructions, wire length, split point,
/// frame.
pub fn split_bpf_input(data: &[u8]) -> (Vec<crate::bpf::Instruction>, u32, u8, &[u8]) {
    let mut rest = data;
    let mut take = |n: usize| -> [u8; 8] {
        let mut out = [0u8; 8];
        let n = n.min(rest.len());
        out[..n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        out
    };
    let count = u16::from_le_bytes(take(2)[..2].try_into().unwrap_or_default());
    let program = (0..count)
        .map(|_| {
            let b = take(8);
            crate::bpf::Instruction {
                code: u16::from_le_bytes([b[0], b[1]]),
                jt: b[2],
                jf: b[3],
                k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            }
        })
        .collect();
    let wire = take(4);
    let wire_len = u32::from_le_bytes([wire[0], wire[1], wire[2], wire[3]]);
    let split = take(1)[0];
    (program, wire_len, split, rest)
}

/// Every text mode the printer has (`-e`, `-v` count, `-q`, `-S`).
pub fn text_modes() -> impl Iterator<Item = TextOptions> {
    (0..32u8).map(|bits| TextOptions {
        link_header: bits & 1 != 0,
        verbose: (bits >> 1) & 3,
        quiet: bits & 8 != 0,
        absolute_seq: bits & 16 != 0,
        time: TimeFormat::Epoch,
        nano: false,
    })
}

/// One inner frame through the text printer in every mode: the first byte picks what
/// the frame is (bits 0-1: Ethernet, raw IPv4, raw IPv6) and how much longer it was on
/// the wire (bits 2-7, in 64-byte steps); the rest is the frame. Each mode prints it
/// twice on one printer, so the second line meets the TCP table's entry the first one
/// made. Every frame's text must be one line plus continuation lines (starting with
/// white space), printable ASCII, and within [`max_text_len`]. Returns the bytes
/// printed.
pub fn text_printer(data: &[u8]) -> usize {
    let Some((&selector, frame)) = data.split_first() else {
        return 0;
    };
    let kind = match selector & 3 {
        0 | 3 => PayloadKind::Ethernet,
        1 => PayloadKind::Ipv4,
        _ => PayloadKind::Ipv6,
    };
    let d = Decapsulated {
        gre: GreInfo {
            flags: 0x2000,
            protocol: GreProto::TRANSPARENT_ETHERNET,
            checksum: None,
            key: Some(1),
            sequence: None,
            over_udp: false,
        },
        encap: Encap::Gre,
        kind,
        frame,
        orig_len: frame.len() + usize::from(selector >> 2) * 64,
        notes: Notes::default(),
        tunnel_options: &[],
    };
    let addr = std::net::IpAddr::from([192, 0, 2, 1]);
    let mut out = Vec::with_capacity(max_text_len(frame.len()));
    let mut printed = 0;
    for opts in text_modes() {
        // A small TCP table: allocating the full one per input would be most of the
        // fuzzer's time. Its bound is the same code at any size.
        let mut printer = TextPrinter::with_tcp_table(opts, 16);
        for _ in 0..2 {
            out.clear();
            // Writing to a Vec cannot fail.
            let _ = printer.write_line(&mut out, Timestamp::new(1, 0), addr, addr, &d);
            assert!(
                out.len() <= max_text_len(frame.len()),
                "{} bytes of text for a {}-byte frame",
                out.len(),
                frame.len()
            );
            assert!(out.ends_with(b"\n"), "{:?}", String::from_utf8_lossy(&out));
            assert!(
                out.iter()
                    .all(|&b| b == b'\n' || b == b'\t' || (b' '..=b'~').contains(&b)),
                "not printable ASCII: {:?}",
                String::from_utf8_lossy(&out)
            );
            let lines: Vec<&[u8]> = out[..out.len() - 1].split(|&b| b == b'\n').collect();
            for pair in lines.windows(2) {
                let [prev, line] = pair else { continue };
                assert!(
                    line.first().is_some_and(|b| *b == b' ' || *b == b'\t')
                        || vxlan_carries_next_line(prev),
                    "a continuation line must start with white space: {:?}",
                    String::from_utf8_lossy(&out)
                );
            }
            printed += out.len();
        }
    }
    printed
}

/// One UDP datagram (from its header on) to the VXLAN / GENEVE / GRE-in-UDP parsers:
/// straight through [`crate::wire::udp::decapsulate_udp`], then inside an outer IPv4
/// or IPv6 packet through the whole pipeline with `-v` text. The first byte picks:
/// bit 0 the nesting rule off, bit 1 an IPv6 outer header, bit 2 port 8472 as VXLAN.
/// Returns the counters of the pipeline run.
pub fn udp_mirror(data: &[u8]) -> Stats {
    use crate::wire::udp::{MirrorPorts, decapsulate_udp};
    let Some((&selector, udp)) = data.split_first() else {
        return Stats::default();
    };
    let mut ports = MirrorPorts {
        nested: selector & 1 == 0,
        ..MirrorPorts::default()
    };
    if selector & 4 != 0 {
        ports.vxlan.push(8472);
    }
    // The view is a slice of the input, and never longer on the wire than captured
    // bytes allow it to be shorter.
    if let Ok(u) = decapsulate_udp(&ports, udp, udp.len()) {
        let d = u.decap;
        assert!(d.orig_len >= d.frame.len());
        let base = data.as_ptr_range();
        let frame = d.frame.as_ptr_range();
        let nested = u.nested_addrs.is_some();
        assert!(nested || (frame.start >= base.start && frame.end <= base.end));
    }
    let mut packet = Vec::with_capacity(udp.len() + 40);
    if selector & 2 == 0 {
        packet.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0]);
        let total = (udp.len() + 20).min(usize::from(u16::MAX)) as u16;
        packet[2..4].copy_from_slice(&total.to_be_bytes());
        packet.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
    } else {
        packet.extend_from_slice(&[0x60, 0, 0, 0]);
        let len = udp.len().min(usize::from(u16::MAX)) as u16;
        packet.extend_from_slice(&len.to_be_bytes());
        packet.extend_from_slice(&[17, 64]);
        packet.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        packet.extend_from_slice(&[0; 11]);
        packet.push(1);
        packet.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        packet.extend_from_slice(&[0; 11]);
        packet.push(2);
    }
    packet.extend_from_slice(udp);
    let config = Config {
        udp_ports: ports,
        ..config(Format::Text)
    };
    let mut pipeline = Pipeline::new(&config, crate::sink::output(std::io::sink()));
    let outer = OuterFrame {
        ts: Timestamp::new(1, 0),
        link: LinkType::Raw,
        data: &packet,
        orig_len: packet.len() as u32,
    };
    let _ = pipeline.process(outer, TsPrecision::Micro);
    let stats = pipeline.stats().clone();
    assert_eq!(stats.outcomes(), 1, "one packet, one outcome: {stats:?}");
    stats
}
