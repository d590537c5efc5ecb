//! Test fixtures shared by the printers' unit tests: frames from named captures, frames
//! built with etherparse, and a helper that prints one frame to a string.

#![allow(dead_code)]

pub(crate) use super::{TextOptions, TextPrinter, TimeFormat};
pub(crate) use crate::Timestamp;
pub(crate) use crate::wire::decap::{Decapsulated, Encap, GreInfo, Note, Notes, PayloadKind};
pub(crate) use crate::wire::erspan::{
    Direction, ErspanII, ErspanIII, ErspanIndex, PlatformInfo, SessionId, VlanId,
};
pub(crate) use crate::wire::gre::{GreProto, internet_checksum};
pub(crate) use etherparse::{Icmpv6Type, PacketBuilder, TcpOptionElement};
pub(crate) use std::net::IpAddr;

pub(crate) const TS: Timestamp = Timestamp::new(1_700_000_000, 123_456_789);
pub(crate) const MAC_A: [u8; 6] = [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];
pub(crate) const MAC_B: [u8; 6] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66];
pub(crate) const IP6_A: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
pub(crate) const IP6_B: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// zeek-erspanIII.pcap frame 1, inner frame: ICMP echo request 192.168.15.47 > 1.1.1.1.
pub(crate) const ZEEK_ERSPAN3_ECHO: &str = "025056564452005056bed55d080045000054e1bc00003f01c813c0a80f2f\
    010101010800097d013900005c38854c000c20b608090a0b0c0d0e0f101112131415161718191a1b1c\
    1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

/// tcpdump-erspan-type-iii-ft-0.pcap frame 1, inner frame: 802.1Q VLAN 20, ICMP echo.
pub(crate) const FT0_VLAN_ECHO: &str = "005056ac18a0f8c28890d27b810000140800450000549d1240003f016b47\
    0a1d0b010a1d14150800269c3fcb00e22264905d0000000015220a0000000000101112131415161718\
    191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

/// tcpdump-erspan-type-i-3.pcap frame 1, inner frame: 802.1Q VLAN 1, ARP request.
pub(crate) const ERSPAN1_ARP_REQUEST: &str = "ffffffffffff0015fadca1f781000001080600010800060400010015\
    fadca1f7c0a85a64000000000000c0a85afd000000000000000000000000000000000000";

/// suricata-verify bug-5633-gre-01 gre-udp.pcap frame 1, L3 GRE payload: IPv4/UDP
/// 2.2.2.3:12345 > 2.2.2.2:514, 4 bytes of syslog.
pub(crate) const SURICATA_L3_UDP: &str = "4500002000010000401172c4020202030202020230390202000c36f0\
    4556494c";

/// tcpdump-erspan-type-ii-3.pcap frame 1, inner frame: 802.3 LLC STP config BPDU.
pub(crate) const ERSPAN2_STP: &str = "0180c2000000001969dfdc01002642420300000000008000001969dfdc01\
    000000008000001969dfdc0180150000140002000f000000000000000000";

pub(crate) fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub(crate) fn gre(key: Option<u32>) -> GreInfo {
    GreInfo {
        flags: if key.is_some() { 0x2000 } else { 0 },
        protocol: GreProto::TRANSPARENT_ETHERNET,
        checksum: None,
        key,
        sequence: None,
        over_udp: false,
    }
}

pub(crate) fn decap(
    encap: Encap,
    gre: GreInfo,
    kind: PayloadKind,
    frame: &[u8],
) -> Decapsulated<'_> {
    Decapsulated {
        gre,
        encap,
        kind,
        frame,
        orig_len: frame.len(),
        notes: Notes::default(),
        tunnel_options: &[],
    }
}

pub(crate) fn gretap(frame: &[u8]) -> Decapsulated<'_> {
    decap(Encap::Gre, gre(None), PayloadKind::Ethernet, frame)
}

pub(crate) fn erspan_ii(session: u16, index: u32, frame: &[u8]) -> Decapsulated<'_> {
    let h = ErspanII {
        version: 1,
        vlan: VlanId::new(23).unwrap(),
        cos: 0,
        encap_type: 1,
        truncated: false,
        session: SessionId::new(session).unwrap(),
        index: ErspanIndex::new(index).unwrap(),
    };
    let mut g = gre(None);
    g.flags = 0x1000;
    g.protocol = GreProto::ERSPAN_I_II;
    g.sequence = Some(1794);
    decap(Encap::ErspanII(h), g, PayloadKind::Ethernet, frame)
}

pub(crate) fn erspan_iii(session: u16, direction: Direction, frame: &[u8]) -> Decapsulated<'_> {
    let h = ErspanIII {
        version: 2,
        vlan: VlanId::new(20).unwrap(),
        cos: 5,
        bso: 0,
        truncated: false,
        session: SessionId::new(session).unwrap(),
        timestamp: 5251,
        sgt: 7,
        pdu: true,
        frame_type: 0,
        hw_id: 3,
        direction,
        granularity: 1,
        platform: None,
    };
    let mut g = gre(None);
    g.protocol = GreProto::ERSPAN_III;
    decap(Encap::ErspanIII(h), g, PayloadKind::Ethernet, frame)
}

pub(crate) fn opts() -> TextOptions {
    TextOptions {
        time: TimeFormat::Epoch,
        ..TextOptions::default()
    }
}

/// [`opts`] at `-v` (1), `-vv` (2), ...
pub(crate) fn verbose(level: u8) -> TextOptions {
    TextOptions {
        verbose: level,
        ..opts()
    }
}

pub(crate) fn line_with(opts: TextOptions, d: &Decapsulated<'_>) -> String {
    let mut out = Vec::new();
    let src = IpAddr::from([198, 51, 100, 1]);
    let dst = IpAddr::from([198, 51, 100, 2]);
    TextPrinter::new(opts)
        .write_line(&mut out, TS, src, dst, d)
        .unwrap();
    String::from_utf8(out).unwrap()
}

pub(crate) fn line(d: &Decapsulated<'_>) -> String {
    line_with(opts(), d)
}

/// A TCP SYN-ACK 10.0.0.2:80 > 10.0.0.1:45678 with Linux's option set, built here.
pub(crate) fn syn_ack() -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
        .tcp(80, 45678, 7, 512)
        .syn()
        .ack(2)
        .options(&[
            TcpOptionElement::MaximumSegmentSize(1460),
            TcpOptionElement::SelectiveAcknowledgementPermitted,
            TcpOptionElement::Timestamp(1, 0),
            TcpOptionElement::Noop,
            TcpOptionElement::WindowScale(7),
        ])
        .unwrap()
        .write(&mut frame, &[])
        .unwrap();
    frame
}

/// A TCP segment with 100 bytes of data, built here.
pub(crate) fn tcp_data() -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(45678, 80, 1000, 512)
        .psh()
        .ack(2000)
        .write(&mut frame, &[b'x'; 100])
        .unwrap();
    frame
}

pub(crate) fn icmp6_echo() -> Vec<u8> {
    let mut packet = Vec::new();
    PacketBuilder::ipv6(IP6_A, IP6_B, 64)
        .icmpv6_echo_request(1, 1)
        .write(&mut packet, &[0x5a; 56])
        .unwrap();
    packet
}

pub(crate) fn ipv4_frame(proto: u8, flags_offset: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = MAC_B.to_vec();
    frame.extend_from_slice(&MAC_A);
    frame.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1]);
    ip.extend_from_slice(&flags_offset.to_be_bytes());
    ip.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    let sum = !internet_checksum(&ip);
    ip[10..12].copy_from_slice(&(!sum).to_be_bytes());
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(payload);
    frame
}

/// Every option combination, so each printer branch runs on the input.
pub(crate) fn all_options() -> impl Iterator<Item = TextOptions> {
    (0..16u8).map(|bits| TextOptions {
        link_header: bits & 1 != 0,
        verbose: (bits >> 1) & 3,
        quiet: bits & 8 != 0,
        time: TimeFormat::Epoch,
        nano: false,
        absolute_seq: bits & 4 != 0,
    })
}

/// One frame's text: a first line, then only continuation lines (starting with white
/// space, as tcpdump's), within the bound [`super::max_text_len`] promises.
pub(crate) fn assert_one_frame(opts: TextOptions, d: &Decapsulated<'_>) {
    let text = line_with(opts, d);
    assert!(text.ends_with('\n'), "{text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|first| !first.starts_with([' ', '\t'])),
        "{text:?}"
    );
    // Continuation lines start with white space, except the frame VXLAN carries.
    for pair in lines.windows(2) {
        assert!(
            pair[1].starts_with([' ', '\t']) || super::vxlan_carries_next_line(pair[0].as_bytes()),
            "{text:?}"
        );
    }
    assert!(text.len() <= super::max_text_len(d.frame.len()), "{text:?}");
}
