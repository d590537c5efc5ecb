//! Outer IPv4 / IPv6 headers: find the GRE bytes, delimit them by the IP length, and
//! report fragments (reassembly is stateful and lives outside `wire`).

use super::{be16, be32};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of GRE.
pub const PROTO_GRE: u8 = 47;

mod v4 {
    pub const MIN_LEN: usize = 20;
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const PROTO: usize = 9;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    pub const MF: u16 = 0x2000;
    pub const OFFSET_MASK: u16 = 0x1FFF;
}

mod v6 {
    pub const LEN: usize = 40;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;

    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const NO_NEXT: u8 = 59;
    pub const DEST_OPTS: u8 = 60;
    pub const FRAGMENT_LEN: usize = 8;
    pub const FRAG_OFFSET_MASK: u16 = 0xFFF8;
    pub const FRAG_M: u16 = 0x0001;
}

/// At most this many IPv6 extension headers are walked before giving up.
pub const MAX_IPV6_EXT_HEADERS: usize = 8;

/// Why an outer IP packet cannot carry GRE we can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpError {
    #[error("IP header truncated: needs {needed} bytes, {got} captured")]
    Truncated { needed: usize, got: usize },
    #[error("bad IPv{version} header: {what}")]
    BadHeader { version: u8, what: &'static str },
    #[error("more than {MAX_IPV6_EXT_HEADERS} IPv6 extension headers")]
    TooManyExtHeaders,
    #[error("IPv6 payload is ESP-encrypted or absent (next header {0})")]
    NoUpperLayer(u8),
}

/// Where a fragment sits in its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// IPv4 identification (16 bits) or IPv6 fragment identification.
    pub id: u32,
    /// Byte offset of this fragment's data in the reassembled payload.
    pub offset: usize,
    pub more: bool,
}

/// A parsed outer IP packet (IPv4 with options or IPv6 after its extension headers).
#[derive(Clone, Copy, Debug)]
pub struct OuterIp<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The upper-layer protocol (GRE is 47). For IPv6 fragments, the header that
    /// starts the fragmentable part.
    pub protocol: u8,
    /// Captured payload bytes, trimmed to the IP length (link padding removed).
    pub payload: &'a [u8],
    /// Payload length on the wire according to the IP header; larger than
    /// `payload.len()` when the capture cut the packet.
    pub payload_len: usize,
    /// Set when the packet is a fragment (not a whole datagram).
    pub fragment: Option<Fragment>,
}

/// Parses an outer IPv4 packet. IHL > 5 (options) is skipped, Total Length delimits
/// the payload.
#[inline]
pub fn parse_ipv4(b: &[u8]) -> Result<OuterIp<'_>, IpError> {
    if b.len() < v4::MIN_LEN {
        return Err(IpError::Truncated {
            needed: v4::MIN_LEN,
            got: b.len(),
        });
    }
    let version = b[v4::VER_IHL] >> 4;
    if version != 4 {
        return Err(IpError::BadHeader {
            version: 4,
            what: "version field is not 4",
        });
    }
    let header_len = usize::from(b[v4::VER_IHL] & 0x0F) * 4;
    if header_len < v4::MIN_LEN {
        return Err(IpError::BadHeader {
            version: 4,
            what: "IHL below 5",
        });
    }
    let total_len = usize::from(be16(b, v4::TOTAL_LEN));
    if total_len < header_len {
        return Err(IpError::BadHeader {
            version: 4,
            what: "total length shorter than the header",
        });
    }
    if b.len() < header_len {
        return Err(IpError::Truncated {
            needed: header_len,
            got: b.len(),
        });
    }
    let flags_frag = be16(b, v4::FLAGS_FRAG);
    let offset = usize::from(flags_frag & v4::OFFSET_MASK) * 8;
    let more = flags_frag & v4::MF != 0;
    let fragment = (more || offset != 0).then_some(Fragment {
        id: u32::from(be16(b, v4::IDENT)),
        offset,
        more,
    });
    let end = total_len.min(b.len());
    Ok(OuterIp {
        src: IpAddr::V4(Ipv4Addr::from(be32(b, v4::SRC))),
        dst: IpAddr::V4(Ipv4Addr::from(be32(b, v4::DST))),
        protocol: b[v4::PROTO],
        payload: &b[header_len..end],
        payload_len: total_len - header_len,
        fragment,
    })
}

fn ipv6_addr(b: &[u8], off: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[off..off + 16]);
    Ipv6Addr::from(a)
}

/// Parses an outer IPv6 packet and walks its extension headers (bounded) to the
/// upper-layer header or a fragment header.
pub fn parse_ipv6(b: &[u8]) -> Result<OuterIp<'_>, IpError> {
    if b.len() < v6::LEN {
        return Err(IpError::Truncated {
            needed: v6::LEN,
            got: b.len(),
        });
    }
    if b[0] >> 4 != 6 {
        return Err(IpError::BadHeader {
            version: 6,
            what: "version field is not 6",
        });
    }
    let payload_len = usize::from(be16(b, v6::PAYLOAD_LEN));
    if payload_len == 0 {
        return Err(IpError::BadHeader {
            version: 6,
            what: "jumbogram (payload length 0) is not supported",
        });
    }
    let end = (v6::LEN + payload_len).min(b.len());
    let walk = walk_ipv6_ext_headers(b[v6::NEXT_HEADER], &b[v6::LEN..end], payload_len)?;
    Ok(OuterIp {
        src: IpAddr::V6(ipv6_addr(b, v6::SRC)),
        dst: IpAddr::V6(ipv6_addr(b, v6::DST)),
        protocol: walk.protocol,
        payload: &b[v6::LEN + walk.offset..end],
        payload_len: payload_len - walk.offset,
        fragment: walk.fragment,
    })
}

/// Where an IPv6 extension-header walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Walk {
    pub protocol: u8,
    /// Bytes of extension headers skipped.
    pub offset: usize,
    pub fragment: Option<Fragment>,
}

/// Walks IPv6 extension headers starting with `next_header` over `b` (captured bytes
/// of a payload that is `wire_len` long). Stops at the first upper-layer protocol or
/// at a fragment header, whose data cannot be walked until reassembled. Also used on
/// a reassembled payload.
pub fn walk_ipv6_ext_headers(
    mut next_header: u8,
    b: &[u8],
    wire_len: usize,
) -> Result<Ipv6Walk, IpError> {
    let mut offset = 0;
    for _ in 0..=MAX_IPV6_EXT_HEADERS {
        let len = match next_header {
            v6::HOP_BY_HOP | v6::ROUTING | v6::DEST_OPTS => {
                let hdr = need(b, offset, 2)?;
                (usize::from(hdr[1]) + 1) * 8
            }
            v6::AH => {
                let hdr = need(b, offset, 2)?;
                (usize::from(hdr[1]) + 2) * 4
            }
            v6::FRAGMENT => {
                let hdr = need(b, offset, v6::FRAGMENT_LEN)?;
                let off_flags = be16(hdr, 2);
                let fragment = Fragment {
                    id: be32(hdr, 4),
                    offset: usize::from(off_flags & v6::FRAG_OFFSET_MASK),
                    more: off_flags & v6::FRAG_M != 0,
                };
                let protocol = hdr[0];
                let offset = offset + v6::FRAGMENT_LEN;
                if wire_len < offset {
                    return Err(IpError::BadHeader {
                        version: 6,
                        what: "extension headers longer than the payload",
                    });
                }
                // An atomic fragment (offset 0, no more) is a whole datagram.
                if fragment.offset == 0 && !fragment.more {
                    next_header = protocol;
                    return walk_rest(next_header, b, wire_len, offset);
                }
                return Ok(Ipv6Walk {
                    protocol,
                    offset,
                    fragment: Some(fragment),
                });
            }
            v6::ESP | v6::NO_NEXT => return Err(IpError::NoUpperLayer(next_header)),
            protocol => {
                return Ok(Ipv6Walk {
                    protocol,
                    offset,
                    fragment: None,
                });
            }
        };
        need(b, offset, len)?;
        next_header = b[offset];
        offset += len;
        if wire_len < offset {
            return Err(IpError::BadHeader {
                version: 6,
                what: "extension headers longer than the payload",
            });
        }
    }
    Err(IpError::TooManyExtHeaders)
}

/// Continues a walk after an atomic fragment header, keeping the overall bound.
fn walk_rest(
    next_header: u8,
    b: &[u8],
    wire_len: usize,
    offset: usize,
) -> Result<Ipv6Walk, IpError> {
    let rest = walk_ipv6_ext_headers(next_header, &b[offset..], wire_len - offset)?;
    if rest.fragment.is_some() {
        return Err(IpError::BadHeader {
            version: 6,
            what: "two fragment headers",
        });
    }
    Ok(Ipv6Walk {
        offset: offset + rest.offset,
        ..rest
    })
}

fn need(b: &[u8], offset: usize, len: usize) -> Result<&[u8], IpError> {
    b.get(offset..offset + len).ok_or(IpError::Truncated {
        needed: offset + len,
        got: b.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Outer IPv4 header of tcpdump-erspan-type-ii-1.pcap frame 1 (192.0.2-style values
    // aside, these are the capture's own: 1.1.1.2 -> 192.168.255.5, DF, proto 47).
    const V4_HDR: [u8; 20] = [
        0x45, 0xfc, 0x00, 0x6c, 0x00, 0xab, 0x40, 0x00, 0xfb, 0x2f, 0xbc, 0x0a, 0x01, 0x01, 0x01,
        0x02, 0xc0, 0xa8, 0xff, 0x05,
    ];

    fn v4_packet(total: u16, payload: &[u8], pad: usize) -> Vec<u8> {
        let mut p = V4_HDR.to_vec();
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(payload);
        p.extend(std::iter::repeat_n(0, pad));
        p
    }

    #[test]
    fn ipv4_trims_padding_and_reports_addresses() {
        let p = v4_packet(24, &[1, 2, 3, 4], 6);
        let ip = parse_ipv4(&p).unwrap();
        assert_eq!(ip.src, "1.1.1.2".parse::<IpAddr>().unwrap());
        assert_eq!(ip.dst, "192.168.255.5".parse::<IpAddr>().unwrap());
        assert_eq!(ip.protocol, PROTO_GRE);
        assert_eq!(ip.payload, &[1, 2, 3, 4]);
        assert_eq!(ip.payload_len, 4);
        assert_eq!(ip.fragment, None);
    }

    #[test]
    fn ipv4_truncated_capture_keeps_wire_length() {
        let p = v4_packet(1000, &[1, 2], 0);
        let ip = parse_ipv4(&p).unwrap();
        assert_eq!(ip.payload, &[1, 2]);
        assert_eq!(ip.payload_len, 980);
    }

    #[test]
    fn ipv4_options_skipped() {
        // IHL 6: one 4-byte option word (NOP x4) before the payload.
        let mut p = V4_HDR.to_vec();
        p[0] = 0x46;
        p[2..4].copy_from_slice(&26u16.to_be_bytes());
        p.extend_from_slice(&[1, 1, 1, 1, 0xAA, 0xBB]);
        let ip = parse_ipv4(&p).unwrap();
        assert_eq!(ip.payload, &[0xAA, 0xBB]);
    }

    #[test]
    fn ipv4_bad_headers() {
        let mut p = v4_packet(20, &[], 0);
        p[0] = 0x44;
        assert!(matches!(parse_ipv4(&p), Err(IpError::BadHeader { .. })));
        let p = v4_packet(19, &[], 0);
        assert!(matches!(parse_ipv4(&p), Err(IpError::BadHeader { .. })));
        let mut p = v4_packet(40, &[0; 20], 0);
        p[0] = 0x4F;
        assert_eq!(
            parse_ipv4(&p[..30]).unwrap_err(),
            IpError::BadHeader {
                version: 4,
                what: "total length shorter than the header"
            }
        );
        assert_eq!(
            parse_ipv4(&p[..10]).unwrap_err(),
            IpError::Truncated {
                needed: 20,
                got: 10
            }
        );
    }

    #[test]
    fn ipv4_fragments() {
        let mut p = v4_packet(28, &[0; 8], 0);
        p[6..8].copy_from_slice(&0x2000u16.to_be_bytes());
        let f = parse_ipv4(&p).unwrap().fragment.unwrap();
        assert_eq!(
            f,
            Fragment {
                id: 0xab,
                offset: 0,
                more: true
            }
        );
        p[6..8].copy_from_slice(&0x0003u16.to_be_bytes());
        let f = parse_ipv4(&p).unwrap().fragment.unwrap();
        assert_eq!(
            f,
            Fragment {
                id: 0xab,
                offset: 24,
                more: false
            }
        );
    }

    fn v6_packet(next: u8, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(rest.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(rest);
        p
    }

    #[test]
    fn ipv6_destination_options_then_gre() {
        // Shape of tcpdump-erspan-type-iii-pb-1.pcap: Destination Options before GRE.
        let mut rest = vec![47, 0, 1, 4, 0, 0, 0, 0];
        rest.extend_from_slice(&[0x10, 0x00, 0x22, 0xEB]);
        let p = v6_packet(60, &rest);
        let ip = parse_ipv6(&p).unwrap();
        assert_eq!(ip.protocol, PROTO_GRE);
        assert_eq!(ip.payload, &[0x10, 0x00, 0x22, 0xEB]);
        assert_eq!(ip.payload_len, 4);
        assert_eq!(ip.src, "2001:db8::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv6_ah_and_routing_lengths() {
        // Routing (hdr_ext_len 1 = 16 bytes), then AH (payload len 1 = 12 bytes).
        let mut rest = vec![51, 1];
        rest.extend_from_slice(&[0; 14]);
        rest.extend_from_slice(&[47, 1]);
        rest.extend_from_slice(&[0; 10]);
        rest.push(0xEE);
        let p = v6_packet(43, &rest);
        let ip = parse_ipv6(&p).unwrap();
        assert_eq!(ip.protocol, PROTO_GRE);
        assert_eq!(ip.payload, &[0xEE]);
    }

    #[test]
    fn ipv6_fragment_and_limits() {
        let rest = [47, 0, 0x00, 0x01, 0, 0, 0, 9, 0xAB];
        let p = v6_packet(44, &rest);
        let ip = parse_ipv6(&p).unwrap();
        assert_eq!(
            ip.fragment,
            Some(Fragment {
                id: 9,
                offset: 0,
                more: true
            })
        );
        assert_eq!(ip.payload, &[0xAB]);
        // An atomic fragment is a whole datagram.
        let rest = [47, 0, 0x00, 0x00, 0, 0, 0, 9, 0xAB];
        let p = v6_packet(44, &rest);
        let ip = parse_ipv6(&p).unwrap();
        assert_eq!(ip.fragment, None);
        assert_eq!(ip.payload, &[0xAB]);
        // A chain of nine Hop-by-Hop-shaped headers exceeds the bound.
        let mut rest = Vec::new();
        for _ in 0..9 {
            rest.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(
            parse_ipv6(&v6_packet(60, &rest)).unwrap_err(),
            IpError::TooManyExtHeaders
        );
        assert_eq!(
            parse_ipv6(&v6_packet(50, &[0; 8])).unwrap_err(),
            IpError::NoUpperLayer(50)
        );
        let p = v6_packet(60, &[47, 3]);
        assert!(matches!(parse_ipv6(&p), Err(IpError::Truncated { .. })));
    }
}
