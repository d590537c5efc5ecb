//! UDP mirror encapsulations: VXLAN, GENEVE and GRE-in-UDP (RFC 8086), told apart by
//! the UDP destination port, and the one extra level AWS nests them in.
//!
//! The nesting rule: when a GENEVE packet carries bare IP (AWS Gateway Load Balancer)
//! and that IP packet is UDP to a VXLAN, GENEVE or GRE-in-UDP port, it is itself a
//! mirror packet (AWS Traffic Mirroring through a GWLB endpoint: GENEVE(IPv4) -> UDP
//! 4789 -> VXLAN -> the mirrored frame), and it is stripped too. That is one extra
//! level, never more: anything deeper is the mirrored traffic itself (a mirror of a
//! pod network overlay must show the overlay) and is written as it is. The extra
//! level is stripped only when it decapsulates cleanly; otherwise the GENEVE payload
//! is written as it came.
//!
//! Stateless like the rest of `wire`: one UDP datagram in, a view or a named error
//! out; no panic, no allocation on packet bytes.

use super::be16;
use super::decap::{DecapError, Decapsulated, Note, PayloadKind, decapsulate_geneve};
use super::decap::{decapsulate_gre, decapsulate_vxlan};
use super::ip::{self, OuterIp};
use std::net::IpAddr;

/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// Field offsets of the UDP header.
mod field {
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const LEN: usize = 8;
}

/// IANA's VXLAN port.
pub const VXLAN_PORT: u16 = 4789;
/// IANA's GENEVE port.
pub const GENEVE_PORT: u16 = 6081;
/// IANA's GRE-in-UDP port (RFC 8086).
pub const GRE_IN_UDP_PORT: u16 = 4754;

/// Which UDP encapsulation a destination port means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpMirror {
    Vxlan,
    Geneve,
    GreInUdp,
}

/// The UDP ports spandump reads as mirrors, and whether the extra nested level is
/// stripped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorPorts {
    pub vxlan: Vec<u16>,
    pub geneve: Vec<u16>,
    pub gre_in_udp: Vec<u16>,
    /// Strip a mirror packet found inside a GENEVE packet's bare IP (one level).
    pub nested: bool,
}

impl Default for MirrorPorts {
    fn default() -> MirrorPorts {
        MirrorPorts {
            vxlan: vec![VXLAN_PORT],
            geneve: vec![GENEVE_PORT],
            gre_in_udp: vec![GRE_IN_UDP_PORT],
            nested: true,
        }
    }
}

impl MirrorPorts {
    /// The encapsulation UDP datagrams to `port` carry, if any.
    pub fn classify(&self, port: u16) -> Option<UdpMirror> {
        if self.vxlan.contains(&port) {
            Some(UdpMirror::Vxlan)
        } else if self.geneve.contains(&port) {
            Some(UdpMirror::Geneve)
        } else if self.gre_in_udp.contains(&port) {
            Some(UdpMirror::GreInUdp)
        } else {
            None
        }
    }

    /// Every port, each once.
    pub fn all(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .vxlan
            .iter()
            .chain(&self.geneve)
            .chain(&self.gre_in_udp)
            .copied()
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// A checked UDP header: the destination port and the payload, delimited by the UDP
/// length.
#[derive(Clone, Copy, Debug)]
pub struct UdpDatagram<'a> {
    pub dst_port: u16,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload length on the wire (UDP length - 8).
    pub payload_len: usize,
}

impl<'a> UdpDatagram<'a> {
    /// `b` are the captured bytes of an IP payload of `wire_len` bytes on the wire.
    pub fn parse(b: &'a [u8], wire_len: usize) -> Result<UdpDatagram<'a>, DecapError> {
        if b.len() < field::LEN {
            return Err(DecapError::TruncatedUdp(b.len()));
        }
        let wire_len = wire_len.max(b.len());
        let udp_len = usize::from(be16(b, field::LENGTH));
        if udp_len < field::LEN || udp_len > wire_len {
            return Err(DecapError::BadUdpLength {
                udp: udp_len,
                ip: wire_len,
            });
        }
        Ok(UdpDatagram {
            dst_port: be16(b, field::DST_PORT),
            payload: &b[field::LEN..udp_len.min(b.len())],
            payload_len: udp_len - field::LEN,
        })
    }
}

/// A decapsulated UDP mirror packet.
#[derive(Clone, Copy, Debug)]
pub struct UdpDecapsulated<'a> {
    pub decap: Decapsulated<'a>,
    /// The addresses of the nested mirror packet, when the extra level was stripped:
    /// its sender is the session's sender.
    pub nested_addrs: Option<(IpAddr, IpAddr)>,
}

/// Decapsulates one UDP datagram: `b` are the captured bytes from the UDP header on
/// (trimmed to the IP length), `wire_len` their length on the wire.
pub fn decapsulate_udp<'a>(
    ports: &MirrorPorts,
    b: &'a [u8],
    wire_len: usize,
) -> Result<UdpDecapsulated<'a>, DecapError> {
    let udp = UdpDatagram::parse(b, wire_len)?;
    decapsulate_datagram(ports, &udp)
}

/// Decapsulates the payload of a UDP datagram to `dst_port` whose UDP header the
/// kernel consumed (a UDP socket): `b` captured, `wire_len` long.
pub fn decapsulate_udp_payload<'a>(
    ports: &MirrorPorts,
    dst_port: u16,
    b: &'a [u8],
    wire_len: usize,
) -> Result<UdpDecapsulated<'a>, DecapError> {
    let udp = UdpDatagram {
        dst_port,
        payload: b,
        payload_len: wire_len.max(b.len()),
    };
    decapsulate_datagram(ports, &udp)
}

fn decapsulate_datagram<'a>(
    ports: &MirrorPorts,
    udp: &UdpDatagram<'a>,
) -> Result<UdpDecapsulated<'a>, DecapError> {
    let outer = decapsulate_port(ports, udp)?;
    if !ports.nested {
        return Ok(UdpDecapsulated {
            decap: outer,
            nested_addrs: None,
        });
    }
    let Some((addrs, inner_udp)) = nested_mirror(ports, &outer) else {
        return Ok(UdpDecapsulated {
            decap: outer,
            nested_addrs: None,
        });
    };
    let Ok(mut inner) = decapsulate_port(ports, &inner_udp) else {
        return Ok(UdpDecapsulated {
            decap: outer,
            nested_addrs: None,
        });
    };
    inner.notes.insert(Note::NestedMirror);
    if nested_mirror(ports, &inner).is_some() {
        inner.notes.insert(Note::NestingBound);
    }
    Ok(UdpDecapsulated {
        decap: inner,
        nested_addrs: Some(addrs),
    })
}

fn decapsulate_port<'a>(
    ports: &MirrorPorts,
    udp: &UdpDatagram<'a>,
) -> Result<Decapsulated<'a>, DecapError> {
    match ports.classify(udp.dst_port) {
        Some(UdpMirror::Vxlan) => decapsulate_vxlan(udp.payload, udp.payload_len),
        Some(UdpMirror::Geneve) => decapsulate_geneve(udp.payload, udp.payload_len),
        Some(UdpMirror::GreInUdp) => {
            let mut d = decapsulate_gre(udp.payload, udp.payload_len)?;
            d.gre.over_udp = true;
            Ok(d)
        }
        None => Err(DecapError::NotMirrorPort(udp.dst_port)),
    }
}

/// The mirror packet a GENEVE bare-IP payload holds, if it is one: whole (not a
/// fragment), UDP, to a mirror port.
fn nested_mirror<'a>(
    ports: &MirrorPorts,
    d: &Decapsulated<'a>,
) -> Option<((IpAddr, IpAddr), UdpDatagram<'a>)> {
    if !matches!(d.encap, super::decap::Encap::Geneve(_)) {
        return None;
    }
    let parsed: OuterIp<'a> = match d.kind {
        PayloadKind::Ipv4 => ip::parse_ipv4(d.frame).ok()?,
        PayloadKind::Ipv6 => ip::parse_ipv6(d.frame).ok()?,
        PayloadKind::Ethernet | PayloadKind::Arp => return None,
    };
    if parsed.fragment.is_some() || parsed.protocol != PROTO_UDP {
        return None;
    }
    let udp = UdpDatagram::parse(parsed.payload, parsed.payload_len).ok()?;
    ports.classify(udp.dst_port)?;
    Some(((parsed.src, parsed.dst), udp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::decap::Encap;

    fn udp(dst: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0xc3, 0x50];
        p.extend_from_slice(&dst.to_be_bytes());
        p.extend_from_slice(&((payload.len() + 8) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    fn ipv4_udp(src: [u8; 4], dst: [u8; 4], udp: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, PROTO_UDP, 0, 0];
        p[2..4].copy_from_slice(&((udp.len() + 20) as u16).to_be_bytes());
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(udp);
        p
    }

    fn vxlan(vni: u32, frame: &[u8]) -> Vec<u8> {
        let mut p = vec![0x08, 0, 0, 0];
        p.extend_from_slice(&(vni << 8).to_be_bytes());
        p.extend_from_slice(frame);
        p
    }

    /// GENEVE with AWS GWLB's three class 0x0108 options (endpoint ID, attachment ID,
    /// flow cookie: 32 bytes), as aws-samples' GenevePacket.cpp reads them.
    fn gwlb(proto: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![8, 0];
        p.extend_from_slice(&proto.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.extend_from_slice(&[0x01, 0x08, 0x01, 0x02, 1, 2, 3, 4, 5, 6, 7, 8]);
        p.extend_from_slice(&[0x01, 0x08, 0x02, 0x02, 9, 9, 9, 9, 9, 9, 9, 9]);
        p.extend_from_slice(&[0x01, 0x08, 0x03, 0x01, 0xC0, 0x0C, 0x1E, 0x00]);
        p.extend_from_slice(payload);
        p
    }

    fn eth() -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        f.extend_from_slice(&[0x45; 20]);
        f
    }

    #[test]
    fn vxlan_on_default_and_configured_ports() {
        let f = eth();
        let p = udp(4789, &vxlan(5_569_041, &f));
        let d = decapsulate_udp(&MirrorPorts::default(), &p, p.len()).unwrap();
        assert_eq!(d.decap.encap.vni().map(|v| v.get()), Some(5_569_041));
        assert_eq!(d.decap.frame, &f[..]);
        assert!(d.nested_addrs.is_none());
        let p = udp(8472, &vxlan(1, &f));
        let e = decapsulate_udp(&MirrorPorts::default(), &p, p.len()).unwrap_err();
        assert_eq!(e, DecapError::NotMirrorPort(8472));
        let ports = MirrorPorts {
            vxlan: vec![4789, 8472],
            ..MirrorPorts::default()
        };
        assert!(decapsulate_udp(&ports, &p, p.len()).is_ok());
    }

    #[test]
    fn gre_in_udp_uses_the_gre_code() {
        let f = eth();
        let mut gre = vec![0x20, 0x00, 0x65, 0x58, 0, 0, 0, 42];
        gre.extend_from_slice(&f);
        let p = udp(4754, &gre);
        let d = decapsulate_udp(&MirrorPorts::default(), &p, p.len()).unwrap();
        assert_eq!(d.decap.encap, Encap::Gre);
        assert_eq!(d.decap.gre.key, Some(42));
        assert!(d.decap.gre.over_udp);
        assert_eq!(d.decap.frame, &f[..]);
    }

    #[test]
    fn aws_gwlb_nesting_is_stripped_once() {
        let f = eth();
        let mirrored = udp(4789, &vxlan(77, &f));
        let ip = ipv4_udp([192, 0, 2, 10], [192, 0, 2, 20], &mirrored);
        let p = udp(6081, &gwlb(0x0800, &ip));
        let d = decapsulate_udp(&MirrorPorts::default(), &p, p.len()).unwrap();
        assert!(matches!(d.decap.encap, Encap::Vxlan(_)));
        assert_eq!(d.decap.frame, &f[..]);
        assert!(d.decap.notes.contains(Note::NestedMirror));
        assert!(!d.decap.notes.contains(Note::NestingBound));
        assert_eq!(
            d.nested_addrs,
            Some(("192.0.2.10".parse().unwrap(), "192.0.2.20".parse().unwrap()))
        );
        // The flag turns it off: the GENEVE payload (bare IPv4) is written.
        let off = MirrorPorts {
            nested: false,
            ..MirrorPorts::default()
        };
        let d = decapsulate_udp(&off, &p, p.len()).unwrap();
        assert!(matches!(d.decap.encap, Encap::Geneve(_)));
        assert_eq!(d.decap.kind, PayloadKind::Ipv4);
        assert_eq!(d.decap.frame, &ip[..]);
        assert_eq!(d.decap.tunnel_options.len(), 32);
    }

    #[test]
    fn nesting_past_the_bound_is_written_as_it_is() {
        let f = eth();
        let level3 = ipv4_udp([192, 0, 2, 1], [192, 0, 2, 2], &udp(4789, &vxlan(3, &f)));
        let level2 = ipv4_udp(
            [192, 0, 2, 3],
            [192, 0, 2, 4],
            &udp(6081, &gwlb(0x0800, &level3)),
        );
        let p = udp(6081, &gwlb(0x0800, &level2));
        let d = decapsulate_udp(&MirrorPorts::default(), &p, p.len()).unwrap();
        assert!(matches!(d.decap.encap, Encap::Geneve(_)));
        assert_eq!(d.decap.frame, &level3[..]);
        assert!(d.decap.notes.contains(Note::NestedMirror));
        assert!(d.decap.notes.contains(Note::NestingBound));
    }

    #[test]
    fn broken_nested_packet_keeps_the_outer_level() {
        // The inner VXLAN header is cut short (AWS truncation): the GENEVE payload is
        // written, nothing is lost.
        let mut inner = udp(4789, &[0x08, 0, 0]);
        inner[4..6].copy_from_slice(&200u16.to_be_bytes());
        let mut ip = ipv4_udp([192, 0, 2, 1], [192, 0, 2, 2], &inner);
        ip[2..4].copy_from_slice(&220u16.to_be_bytes());
        let p = udp(6081, &gwlb(0x0800, &ip));
        let d = decapsulate_udp(&MirrorPorts::default(), &p, p.len()).unwrap();
        assert!(matches!(d.decap.encap, Encap::Geneve(_)));
        assert_eq!(d.decap.frame, &ip[..]);
        assert!(d.decap.notes.is_empty());
    }

    #[test]
    fn every_geneve_protocol_type() {
        let v6 = [0x60, 0, 0, 0];
        let arp = [0, 1, 8, 0, 6, 4, 0, 1];
        for (proto, payload, kind) in [
            (0x6558, &eth()[..], PayloadKind::Ethernet),
            (0x0800, &[0x45, 0, 0, 20][..], PayloadKind::Ipv4),
            (0x86DD, &v6[..], PayloadKind::Ipv6),
            (0x0806, &arp[..], PayloadKind::Arp),
        ] {
            let p = udp(6081, &gwlb(proto, payload));
            let d = decapsulate_udp(&MirrorPorts::default(), &p, p.len()).unwrap();
            assert_eq!(d.decap.kind, kind, "{proto:#x}");
            assert_eq!(d.decap.frame, payload);
        }
        let p = udp(6081, &gwlb(0x8847, &[0; 8]));
        assert_eq!(
            decapsulate_udp(&MirrorPorts::default(), &p, p.len()).unwrap_err(),
            DecapError::GeneveProtocol(super::super::geneve::GeneveProto(0x8847))
        );
    }

    #[test]
    fn udp_lengths_checked() {
        let p = udp(4789, &vxlan(1, &eth()));
        assert_eq!(
            decapsulate_udp(&MirrorPorts::default(), &p[..7], 100).unwrap_err(),
            DecapError::TruncatedUdp(7)
        );
        let mut bad = p.clone();
        bad[4..6].copy_from_slice(&4u16.to_be_bytes());
        assert!(matches!(
            decapsulate_udp(&MirrorPorts::default(), &bad, bad.len()),
            Err(DecapError::BadUdpLength { udp: 4, .. })
        ));
        // A capture cut inside the VXLAN header.
        assert!(matches!(
            decapsulate_udp(&MirrorPorts::default(), &p[..12], p.len()),
            Err(DecapError::Vxlan(_))
        ));
        // A capture cut inside the inner frame: written, with its wire length.
        let d = decapsulate_udp(&MirrorPorts::default(), &p[..30], p.len()).unwrap();
        assert_eq!(d.decap.frame.len(), 14);
        assert_eq!(d.decap.orig_len, eth().len());
    }
}
