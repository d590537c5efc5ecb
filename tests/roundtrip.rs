//! Property tests: GRE / ERSPAN II / ERSPAN III headers built from arbitrary field values
//! by the independent generator (`tests/common/gen.rs`) parse back to the same values,
//! and every truncation of a valid packet gives an error or a truncated frame, never a
//! panic.

mod common;

use common::capgen::{self, ethertype};
use common::read_capture_bytes;
use proptest::prelude::*;
use spandump::capture::FileSource;
use spandump::harness;
use spandump::pipeline::{Config, Pipeline};
use spandump::sink::{self, Format};
use spandump::wire::decap::{DecapError, Encap, PayloadKind, decapsulate_gre};
use spandump::wire::erspan::{Direction, ErspanError, ErspanII, ErspanIII};
use spandump::wire::gre::{GreError, GreHeader, GreProto};
use std::io::{Cursor, Write};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

fn inner_frame() -> impl Strategy<Value = Vec<u8>> {
    // At least an Ethernet header, so a whole frame is never a runt.
    prop::collection::vec(any::<u8>(), 14..200)
}

fn gre_strategy() -> impl Strategy<Value = capgen::Gre> {
    (
        any::<u16>(),
        prop::option::of(any::<u16>()),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
        any::<u16>(),
    )
        .prop_map(|(protocol, checksum, key, seq, legacy)| {
            let mut g = capgen::Gre::new(protocol);
            g.checksum = checksum.map_or(capgen::GreChecksum::Absent, capgen::GreChecksum::Value);
            g.key = key;
            g.seq = seq;
            // s, Recur and the reserved bits: accepted and reported, never fields.
            g.extra_flags = legacy & 0x0FF8;
            g
        })
}

fn erspan2_strategy() -> impl Strategy<Value = capgen::ErspanII> {
    (
        0u16..4096,
        0u8..8,
        0u8..4,
        any::<bool>(),
        0u16..1024,
        0u32..(1 << 20),
    )
        .prop_map(|(vlan, cos, en, truncated, session, index)| {
            let mut h = capgen::ErspanII::new(session, index);
            h.vlan = vlan;
            h.cos = cos;
            h.en = en;
            h.truncated = truncated;
            h
        })
}

fn erspan3_strategy(frame_types: std::ops::Range<u8>) -> impl Strategy<Value = capgen::ErspanIII> {
    (
        (0u16..4096, 0u8..8, 0u8..4, any::<bool>(), 0u16..1024),
        (any::<u32>(), any::<u16>(), any::<bool>(), frame_types),
        (0u8..64, any::<bool>(), 0u8..4),
        prop::option::of((0u8..64, 0u64..(1 << 58))),
    )
        .prop_map(
            |(
                (vlan, cos, bso, truncated, session),
                (timestamp, sgt, p, ft),
                (hw_id, egress, gra),
                platform,
            )| {
                let mut h = capgen::ErspanIII::new(session);
                h.vlan = vlan;
                h.cos = cos;
                h.bso = bso;
                h.truncated = truncated;
                h.timestamp = timestamp;
                h.sgt = sgt;
                h.p = p;
                h.ft = ft;
                h.hw_id = hw_id;
                h.egress = egress;
                h.gra = gra;
                h.platform = platform
                    .map(|(platform_id, info)| capgen::PlatformSubHeader { platform_id, info });
                h
            },
        )
}

fn assert_erspan2_eq(got: &ErspanII, want: &capgen::ErspanII) {
    assert_eq!(got.version, want.version);
    assert_eq!(got.vlan.get(), want.vlan);
    assert_eq!(got.cos, want.cos);
    assert_eq!(got.encap_type, want.en);
    assert_eq!(got.truncated, want.truncated);
    assert_eq!(got.session.get(), want.session);
    assert_eq!(got.index.get(), want.index);
}

fn assert_erspan3_eq(got: &ErspanIII, want: &capgen::ErspanIII) {
    assert_eq!(got.version, want.version);
    assert_eq!(got.vlan.get(), want.vlan);
    assert_eq!(got.cos, want.cos);
    assert_eq!(got.bso, want.bso);
    assert_eq!(got.truncated, want.truncated);
    assert_eq!(got.session.get(), want.session);
    assert_eq!(got.timestamp, want.timestamp);
    assert_eq!(got.sgt, want.sgt);
    assert_eq!(got.pdu, want.p);
    assert_eq!(got.frame_type, want.ft);
    assert_eq!(got.hw_id, want.hw_id);
    let direction = if want.egress {
        Direction::Egress
    } else {
        Direction::Ingress
    };
    assert_eq!(got.direction, direction);
    assert_eq!(got.granularity, want.gra);
    assert_eq!(
        got.platform.map(|p| (p.id, p.info)),
        want.platform.map(|p| (p.platform_id, p.info))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn gre_header_round_trip(gre in gre_strategy(), payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let bytes = gre.build(&payload);
        let h = GreHeader::new_checked(&bytes).expect("a version-0 header without R parses");
        prop_assert_eq!(h.flags(), gre.flags_word());
        prop_assert_eq!(h.protocol(), GreProto(gre.protocol));
        let checksum = match gre.checksum {
            capgen::GreChecksum::Value(v) => Some(v),
            _ => None,
        };
        prop_assert_eq!(h.checksum(), checksum);
        prop_assert_eq!(h.key(), gre.key);
        prop_assert_eq!(h.sequence(), gre.seq);
        prop_assert_eq!(h.optional_fields(), (checksum, gre.key, gre.seq));
        prop_assert_eq!(h.legacy_bits(), gre.extra_flags);
        prop_assert_eq!(h.header_len(), gre.header_len());
        prop_assert_eq!(h.payload(), &payload[..]);
        // Any cut inside the header is a length error naming both lengths.
        for cut in 0..gre.header_len() {
            prop_assert_eq!(
                GreHeader::new_checked(&bytes[..cut]).unwrap_err(),
                GreError::Truncated { needed: if cut < 4 { 4 } else { gre.header_len() }, got: cut }
            );
        }
    }

    #[test]
    fn gre_version_and_routing_are_errors(gre in gre_strategy(), version in 1u16..8, routing in any::<bool>()) {
        let mut gre = gre;
        gre.extra_flags = (gre.extra_flags & 0x0FF8) | version;
        let bytes = gre.build(&[0; 16]);
        prop_assert_eq!(
            GreHeader::new_checked(&bytes).unwrap_err(),
            GreError::UnsupportedVersion(version as u8)
        );
        if routing {
            gre.extra_flags = (gre.extra_flags & 0x0FF8) | 0x4000;
            let bytes = gre.build(&[0; 16]);
            prop_assert_eq!(GreHeader::new_checked(&bytes).unwrap_err(), GreError::RoutingPresent);
        }
    }

    #[test]
    fn erspan2_round_trip(h in erspan2_strategy(), seq in any::<u32>(), key in prop::option::of(any::<u32>()), inner in inner_frame()) {
        let bytes = h.build(&inner);
        let (got, rest) = ErspanII::parse(&bytes).expect("8-byte header");
        assert_erspan2_eq(&got, &h);
        prop_assert_eq!(rest, &inner[..]);
        // Through the decapsulator: GRE S + 0x88BE (a key is allowed too).
        let mut gre = capgen::Gre::new(ethertype::ERSPAN_II).seq(seq);
        gre.key = key;
        let packet = gre.build(&bytes);
        let d = decapsulate_gre(&packet, packet.len()).expect("valid type II");
        let Encap::ErspanII(got) = d.encap else { panic!("{:?}", d.encap) };
        assert_erspan2_eq(&got, &h);
        prop_assert_eq!(d.gre.sequence, Some(seq));
        prop_assert_eq!(d.gre.key, key);
        prop_assert_eq!(d.kind, PayloadKind::Ethernet);
        prop_assert_eq!(d.frame, &inner[..]);
        prop_assert_eq!(d.orig_len, inner.len());
        prop_assert_eq!(d.notes.contains(spandump::wire::decap::Note::SenderTruncated), h.truncated);
    }

    #[test]
    fn erspan3_round_trip(h in erspan3_strategy(0..32), with_s in any::<bool>(), inner in inner_frame()) {
        let bytes = h.build(&inner);
        let (got, rest) = ErspanIII::parse(&bytes).expect("12- or 20-byte header");
        assert_erspan3_eq(&got, &h);
        prop_assert_eq!(rest, &inner[..]);
        // Through the decapsulator, with and without the GRE S bit (Cisco sends flags 0).
        let mut gre = capgen::Gre::new(ethertype::ERSPAN_III);
        if with_s {
            gre = gre.seq(7);
        }
        let packet = gre.build(&bytes);
        match (h.ft, decapsulate_gre(&packet, packet.len())) {
            (0, Ok(d)) => {
                let Encap::ErspanIII(got) = d.encap else { panic!("{:?}", d.encap) };
                assert_erspan3_eq(&got, &h);
                prop_assert_eq!(d.kind, PayloadKind::Ethernet);
                prop_assert_eq!(d.frame, &inner[..]);
            }
            // FT = 2 is IP: the random frame's first nibble decides.
            (2, Ok(d)) => prop_assert!(matches!(d.kind, PayloadKind::Ipv4 | PayloadKind::Ipv6)),
            (2, Err(e)) => prop_assert!(matches!(e, DecapError::InnerNotIp { .. }), "{e:?}"),
            (ft, Err(e)) => prop_assert_eq!(e, DecapError::UnsupportedFrameType(ft)),
            (ft, Ok(d)) => prop_assert!(false, "FT {ft} decoded as {:?}", d.kind),
        }
    }

    #[test]
    fn erspan_truncated_headers_are_length_errors(h2 in erspan2_strategy(), h3 in erspan3_strategy(0..1)) {
        let b2 = h2.header();
        for cut in 0..b2.len() {
            prop_assert_eq!(
                ErspanII::parse(&b2[..cut]).unwrap_err(),
                ErspanError::Truncated { needed: 8, got: cut }
            );
        }
        let b3 = h3.header();
        for cut in 0..b3.len() {
            let needed = if cut < 12 { 12 } else { 20 };
            prop_assert_eq!(
                ErspanIII::parse(&b3[..cut]).unwrap_err(),
                ErspanError::Truncated { needed, got: cut }
            );
        }
    }

    /// The decapsulator on every cut of a GRE packet whose wire length is known:
    /// inside the headers a length error, after them the captured prefix of the frame
    /// with the frame's full original length.
    #[test]
    fn gre_truncation_gives_error_or_truncated_frame(case in encap_case(), cut_at in any::<prop::sample::Index>()) {
        let packet = case.gre_packet();
        let cut = cut_at.index(packet.len() + 1);
        let headers = packet.len() - case.inner.len();
        match decapsulate_gre(&packet[..cut], packet.len()) {
            Ok(d) => {
                prop_assert!(cut >= headers, "decoded a packet cut at {cut} inside {headers} header bytes");
                prop_assert_eq!(d.frame, &case.inner[..cut - headers]);
                prop_assert_eq!(d.orig_len, case.inner.len());
            }
            Err(e) => {
                prop_assert!(cut < headers, "cut at {cut} after the headers ({headers}): {e:?}");
                prop_assert!(
                    matches!(e, DecapError::Gre(GreError::Truncated { .. }) | DecapError::Erspan(ErspanError::Truncated { .. })),
                    "{e:?}"
                );
            }
        }
    }

    /// Random truncations of a whole outer packet through the fuzz entry point (which
    /// also asserts one outcome per packet): the header then claims more than arrived.
    #[test]
    fn outer_packet_truncation_never_panics(case in encap_case(), cut_at in any::<prop::sample::Index>()) {
        let outer = case.outer_packet();
        let cut = cut_at.index(outer.len() + 1);
        let mut input = vec![0u8]; // LINK_TYPES[0]: Ethernet
        input.extend_from_slice(&outer[..cut]);
        let stats = harness::outer_packet(&input);
        prop_assert_eq!(stats.outer_packets, 1);
        if cut == outer.len() {
            prop_assert_eq!(stats.frames_written, 1, "{:?}", stats);
        } else {
            prop_assert_eq!(stats.frames_written, 0, "{:?}", stats);
            let cause = stats.skipped_by_cause().next().map(|(c, _)| c.to_string());
            prop_assert!(
                matches!(cause.as_deref(), Some("truncated-link" | "truncated-ip" | "bad-ip-header")),
                "{cause:?}"
            );
        }
    }

    /// The same cuts as a capture's snaplen makes them (orig_len says the packet was
    /// longer): through the reader and the pipeline into a pcap, either the captured
    /// prefix of the inner frame is written with the inner frame's whole length, or
    /// the packet is skipped as truncated at the layer where the cut fell.
    #[test]
    fn snaplen_cut_writes_prefix_or_counts_truncation(case in encap_case(), cut_at in any::<prop::sample::Index>()) {
        let outer = case.outer_packet();
        let cut = cut_at.index(outer.len() + 1);
        let mut file = Vec::new();
        let mut w = capgen::PcapWriter::new(&mut file, capgen::PcapFormat::ethernet()).unwrap();
        w.write_with_orig_len(1_700_000_000_000_000_000, &outer[..cut], outer.len() as u32).unwrap();
        drop(w);
        let (stats, written) = run_pipeline(&file);
        prop_assert_eq!(stats.outer_packets, 1);
        let headers = outer.len() - case.inner.len();
        let gre_start = 14 + 20;
        if cut >= headers {
            let cap = read_capture_bytes(&written).expect("a readable pcap");
            prop_assert_eq!(cap.records.len(), 1, "{:?}", stats);
            let (want, orig_len) = case.written_prefix(cut - headers);
            prop_assert_eq!(&cap.records[0].data, &want);
            prop_assert_eq!(cap.records[0].orig_len as usize, orig_len);
        } else {
            let want = if cut < 14 {
                "truncated-link"
            } else if cut < gre_start {
                "truncated-ip"
            } else if cut < gre_start + case.gre.header_len() {
                "truncated-gre"
            } else {
                "truncated-erspan"
            };
            let causes: Vec<String> = stats.skipped_by_cause().map(|(c, n)| format!("{c}:{n}")).collect();
            prop_assert_eq!(causes, vec![format!("{want}:1")], "cut at {} of {}", cut, outer.len());
        }
    }
}

/// One encapsulation around an inner frame.
#[derive(Clone, Debug)]
struct EncapCase {
    gre: capgen::Gre,
    /// ERSPAN header bytes between GRE and the inner frame.
    erspan: Vec<u8>,
    inner: Vec<u8>,
    l3: bool,
}

impl EncapCase {
    fn gre_packet(&self) -> Vec<u8> {
        let mut body = self.erspan.clone();
        body.extend_from_slice(&self.inner);
        self.gre.build(&body)
    }

    fn outer_packet(&self) -> Vec<u8> {
        let mut body = self.erspan.clone();
        body.extend_from_slice(&self.inner);
        capgen::outer_eth(&capgen::ipv4_gre(
            capgen::OUTER_SRC,
            capgen::OUTER_DST,
            &self.gre,
            &body,
        ))
    }

    /// What spandump writes for the first `n` captured inner bytes, and its orig_len.
    fn written_prefix(&self, n: usize) -> (Vec<u8>, usize) {
        if self.l3 {
            let whole = capgen::synthesized_ethernet(&self.inner);
            (whole[..14 + n].to_vec(), whole.len())
        } else {
            (self.inner[..n].to_vec(), self.inner.len())
        }
    }
}

fn encap_case() -> impl Strategy<Value = EncapCase> {
    let gretap = (prop::option::of(any::<u32>()), inner_frame()).prop_map(|(key, inner)| {
        let mut gre = capgen::Gre::new(ethertype::TEB);
        gre.key = key;
        EncapCase {
            gre,
            erspan: Vec::new(),
            inner,
            l3: false,
        }
    });
    let type1 = inner_frame().prop_map(|inner| EncapCase {
        gre: capgen::Gre::new(ethertype::ERSPAN_II),
        erspan: Vec::new(),
        inner,
        l3: false,
    });
    let type2 =
        (erspan2_strategy(), any::<u32>(), inner_frame()).prop_map(|(h, seq, inner)| EncapCase {
            gre: capgen::Gre::new(ethertype::ERSPAN_II).seq(seq),
            erspan: h.header().to_vec(),
            inner,
            l3: false,
        });
    let type3 =
        (erspan3_strategy(0..1), any::<bool>(), inner_frame()).prop_map(|(h, with_s, inner)| {
            let mut gre = capgen::Gre::new(ethertype::ERSPAN_III);
            if with_s {
                gre = gre.seq(1);
            }
            EncapCase {
                gre,
                erspan: h.header(),
                inner,
                l3: false,
            }
        });
    let l3 = (1u8..60, any::<u16>()).prop_map(|(len, seq)| {
        let ip = capgen::ipv4_icmp_echo([10, 1, 0, 1], [10, 1, 0, 2], seq, usize::from(len));
        EncapCase {
            gre: capgen::Gre::new(ethertype::IPV4).checksum(capgen::GreChecksum::Computed),
            erspan: Vec::new(),
            inner: ip,
            l3: true,
        }
    });
    prop_oneof![gretap, type1, type2, type3, l3]
}

/// A `Write` that keeps what it was given, shared with the test.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs a capture file held in memory through the reader and the pipeline into a pcap
/// held in memory.
fn run_pipeline(file: &[u8]) -> (spandump::stats::Stats, Vec<u8>) {
    let config = Config::new(Format::Pcap);
    let out = SharedBuf::default();
    let mut source =
        FileSource::from_reader(Box::new(Cursor::new(file.to_vec())), "test").expect("header");
    let mut pipeline = Pipeline::new(&config, sink::output(out.clone()));
    pipeline
        .run(&mut source, &AtomicBool::new(false))
        .expect("a well-formed file");
    let stats = pipeline.stats().clone();
    drop(pipeline);
    let bytes = out.0.lock().unwrap().clone();
    (stats, bytes)
}
