//! Link-layer framings a capture file (or socket) can hand us, down to the outer IP.

/// The link types spandump reads: LINKTYPE_* values as files carry them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_NULL (0): 4-byte host-order address family (BSD loopback).
    Null,
    /// LINKTYPE_ETHERNET / EN10MB (1), with in-band 802.1Q / 802.1ad tags.
    Ethernet,
    /// LINKTYPE_RAW (101): IPv4 or IPv6, by the first nibble.
    Raw,
    /// LINKTYPE_LOOP (108): 4-byte network-order address family (OpenBSD loopback).
    Loop,
    /// LINKTYPE_LINUX_SLL (113): Linux "cooked" v1, 16-byte header.
    LinuxSll,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
    /// LINKTYPE_LINUX_SLL2 (276): Linux "cooked" v2, 20-byte header.
    LinuxSll2,
}

impl LinkType {
    /// Maps a LINKTYPE_* number to a supported link type.
    pub fn from_linktype(value: u32) -> Option<LinkType> {
        Some(match value {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            _ => return None,
        })
    }

    /// The LINKTYPE_* number.
    pub fn linktype(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
        }
    }
}

/// A human name for a LINKTYPE_* number, for error messages ("unsupported link type
/// 105 (IEEE802_11)").
pub fn linktype_name(value: u32) -> &'static str {
    match value {
        0 => "NULL",
        1 => "EN10MB",
        6 => "IEEE802",
        9 => "PPP",
        10 => "FDDI",
        50 => "PPP_HDLC",
        51 => "PPP_ETHER",
        101 => "RAW",
        104 => "C_HDLC",
        105 => "IEEE802_11",
        107 => "FRELAY",
        108 => "LOOP",
        113 => "LINUX_SLL",
        119 => "PRISM_HEADER",
        127 => "IEEE802_11_RADIOTAP",
        138 => "APPLE_IP_OVER_IEEE1394",
        143 => "DOCSIS",
        147..=162 => "USER",
        187 => "BLUETOOTH_HCI_H4",
        189 => "USB_LINUX",
        192 => "PPI",
        195 => "IEEE802_15_4",
        201 => "BLUETOOTH_HCI_H4_WITH_PHDR",
        220 => "USB_LINUX_MMAPPED",
        228 => "IPV4",
        229 => "IPV6",
        239 => "NFLOG",
        249 => "USBPCAP",
        252 => "WIRESHARK_UPPER_PDU",
        263 => "NETLINK",
        276 => "LINUX_SLL2",
        _ => "unknown",
    }
}

/// Offsets and constants of the link framings, in one place.
mod field {
    pub const ETH_TYPE: usize = 12;
    pub const VLAN_TAG: usize = 4;
    pub const TPID_8021Q: u16 = 0x8100;
    pub const TPID_8021AD: u16 = 0x88A8;
    /// Pre-standard QinQ outer tag still seen on some switches.
    pub const TPID_QINQ_OLD: u16 = 0x9100;
    pub const ETHERTYPE_IPV4: u16 = 0x0800;
    pub const ETHERTYPE_IPV6: u16 = 0x86DD;

    pub const SLL_HEADER: usize = 16;
    pub const SLL_PROTO: usize = 14;
    pub const SLL2_HEADER: usize = 20;
    pub const SLL2_PROTO: usize = 0;

    pub const NULL_HEADER: usize = 4;
    pub const AF_INET: u32 = 2;
    /// AF_INET6 differs by OS: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, macOS 30.
    pub const AF_INET6: [u32; 4] = [10, 24, 28, 30];
}

/// At most this many in-band VLAN tags are skipped (QinQ stacks are 2, rarely 3).
pub const MAX_VLAN_TAGS: usize = 4;

/// The network layer a link header announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetProto {
    Ipv4,
    Ipv6,
}

/// Why a frame has no outer IP packet for us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("link header truncated: needs {needed} bytes, {got} captured")]
    Truncated { needed: usize, got: usize },
    #[error("not IP (link protocol {0:#06x})")]
    NotIp(u32),
    #[error("more than {MAX_VLAN_TAGS} VLAN tags")]
    TooManyVlanTags,
}

/// Strips the link header and outer VLAN tags; returns the IP version and the IP
/// packet bytes (still including any link padding: IP lengths trim it).
#[inline]
pub fn strip_link(link: LinkType, frame: &[u8]) -> Result<(NetProto, &[u8]), LinkError> {
    if link == LinkType::Ethernet {
        return strip_ethernet(frame);
    }
    strip_other(link, frame)
}

/// [`strip_link`] for every link type but Ethernet.
fn strip_other(link: LinkType, frame: &[u8]) -> Result<(NetProto, &[u8]), LinkError> {
    match link {
        LinkType::Ethernet => strip_ethernet(frame),
        LinkType::Raw => match frame.first().map(|b| b >> 4) {
            Some(4) => Ok((NetProto::Ipv4, frame)),
            Some(6) => Ok((NetProto::Ipv6, frame)),
            Some(v) => Err(LinkError::NotIp(u32::from(v))),
            None => Err(LinkError::Truncated { needed: 1, got: 0 }),
        },
        LinkType::Ipv4 => Ok((NetProto::Ipv4, frame)),
        LinkType::Ipv6 => Ok((NetProto::Ipv6, frame)),
        LinkType::LinuxSll => by_ethertype(frame, field::SLL_HEADER, field::SLL_PROTO),
        LinkType::LinuxSll2 => by_ethertype(frame, field::SLL2_HEADER, field::SLL2_PROTO),
        LinkType::Null | LinkType::Loop => {
            let hdr = header(frame, field::NULL_HEADER)?;
            let raw = [hdr[0], hdr[1], hdr[2], hdr[3]];
            let family = if link == LinkType::Loop {
                u32::from_be_bytes(raw)
            } else {
                // Host byte order of the capturing machine: accept either.
                let le = u32::from_le_bytes(raw);
                if le < 0x1_0000 {
                    le
                } else {
                    u32::from_be_bytes(raw)
                }
            };
            let rest = &frame[field::NULL_HEADER..];
            if family == field::AF_INET {
                Ok((NetProto::Ipv4, rest))
            } else if field::AF_INET6.contains(&family) {
                Ok((NetProto::Ipv6, rest))
            } else {
                Err(LinkError::NotIp(family))
            }
        }
    }
}

fn header(frame: &[u8], len: usize) -> Result<&[u8], LinkError> {
    frame.get(..len).ok_or(LinkError::Truncated {
        needed: len,
        got: frame.len(),
    })
}

fn by_ethertype(
    frame: &[u8],
    header_len: usize,
    type_at: usize,
) -> Result<(NetProto, &[u8]), LinkError> {
    let hdr = header(frame, header_len)?;
    let ethertype = super::be16(hdr, type_at);
    net_proto(ethertype).map(|p| (p, &frame[header_len..]))
}

fn net_proto(ethertype: u16) -> Result<NetProto, LinkError> {
    match ethertype {
        field::ETHERTYPE_IPV4 => Ok(NetProto::Ipv4),
        field::ETHERTYPE_IPV6 => Ok(NetProto::Ipv6),
        other => Err(LinkError::NotIp(u32::from(other))),
    }
}

/// Untagged IPv4 and IPv6, the common case, without the tag walk.
#[inline]
fn strip_ethernet(frame: &[u8]) -> Result<(NetProto, &[u8]), LinkError> {
    if let Some(hdr) = frame.first_chunk::<{ field::ETH_TYPE + 2 }>() {
        let rest = &frame[field::ETH_TYPE + 2..];
        match u16::from_be_bytes([hdr[field::ETH_TYPE], hdr[field::ETH_TYPE + 1]]) {
            field::ETHERTYPE_IPV4 => return Ok((NetProto::Ipv4, rest)),
            field::ETHERTYPE_IPV6 => return Ok((NetProto::Ipv6, rest)),
            _ => {}
        }
    }
    strip_ethernet_tagged(frame)
}

/// Ethernet with up to [`MAX_VLAN_TAGS`] VLAN tags, or not IP, or cut short.
fn strip_ethernet_tagged(frame: &[u8]) -> Result<(NetProto, &[u8]), LinkError> {
    let mut type_at = field::ETH_TYPE;
    for _ in 0..=MAX_VLAN_TAGS {
        let hdr = header(frame, type_at + 2)?;
        let ethertype = super::be16(hdr, type_at);
        match ethertype {
            field::TPID_8021Q | field::TPID_8021AD | field::TPID_QINQ_OLD => {
                type_at += field::VLAN_TAG;
            }
            _ => {
                let start = type_at + 2;
                return net_proto(ethertype).map(|p| (p, &frame[start..]));
            }
        }
    }
    Err(LinkError::TooManyVlanTags)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACS: [u8; 12] = [0, 0x1f, 0x9e, 0xd2, 0xa9, 0x80, 1, 2, 3, 4, 5, 6];

    #[test]
    fn ethernet_with_qinq() {
        let mut f = MACS.to_vec();
        f.extend_from_slice(&[
            0x88, 0xA8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xC8, 0x08, 0x00, 0x45,
        ]);
        assert_eq!(
            strip_link(LinkType::Ethernet, &f),
            Ok((NetProto::Ipv4, &[0x45][..]))
        );
        let mut f = MACS.to_vec();
        f.extend_from_slice(&[0x86, 0xDD, 0x60]);
        assert_eq!(
            strip_link(LinkType::Ethernet, &f),
            Ok((NetProto::Ipv6, &[0x60][..]))
        );
    }

    #[test]
    fn ethernet_not_ip_and_limits() {
        let mut f = MACS.to_vec();
        f.extend_from_slice(&[0x08, 0x06, 0x00]);
        assert_eq!(
            strip_link(LinkType::Ethernet, &f),
            Err(LinkError::NotIp(0x0806))
        );
        let mut f = MACS.to_vec();
        for _ in 0..5 {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x01]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        assert_eq!(
            strip_link(LinkType::Ethernet, &f),
            Err(LinkError::TooManyVlanTags)
        );
        assert_eq!(
            strip_link(LinkType::Ethernet, &MACS[..10]),
            Err(LinkError::Truncated {
                needed: 14,
                got: 10
            })
        );
        let mut f = MACS.to_vec();
        f.extend_from_slice(&[0x81, 0x00, 0x00]);
        assert_eq!(
            strip_link(LinkType::Ethernet, &f),
            Err(LinkError::Truncated {
                needed: 18,
                got: 15
            })
        );
    }

    #[test]
    fn cooked_and_loopback() {
        // LINUX_SLL: packet type, ARPHRD, addr len, 8-byte address, protocol.
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x86, 0xDD, 0x60];
        assert_eq!(
            strip_link(LinkType::LinuxSll, &sll),
            Ok((NetProto::Ipv6, &[0x60][..]))
        );
        sll.truncate(15);
        assert!(matches!(
            strip_link(LinkType::LinuxSll, &sll),
            Err(LinkError::Truncated { .. })
        ));
        // LINUX_SLL2: protocol first.
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0; 18]);
        sll2.push(0x45);
        assert_eq!(
            strip_link(LinkType::LinuxSll2, &sll2),
            Ok((NetProto::Ipv4, &[0x45][..]))
        );
        // NULL in either byte order, LOOP in network order.
        assert_eq!(
            strip_link(LinkType::Null, &[2, 0, 0, 0, 0x45]),
            Ok((NetProto::Ipv4, &[0x45][..]))
        );
        assert_eq!(
            strip_link(LinkType::Null, &[0, 0, 0, 30, 0x60]),
            Ok((NetProto::Ipv6, &[0x60][..]))
        );
        assert_eq!(
            strip_link(LinkType::Loop, &[0, 0, 0, 24, 0x60]),
            Ok((NetProto::Ipv6, &[0x60][..]))
        );
        assert_eq!(
            strip_link(LinkType::Loop, &[0, 0, 0, 7, 0x60]),
            Err(LinkError::NotIp(7))
        );
        assert_eq!(
            strip_link(LinkType::Raw, &[0x45]),
            Ok((NetProto::Ipv4, &[0x45][..]))
        );
        assert_eq!(strip_link(LinkType::Raw, &[0x15]), Err(LinkError::NotIp(1)));
    }

    #[test]
    fn linktype_numbers_round_trip() {
        for n in [0, 1, 101, 108, 113, 228, 229, 276] {
            assert_eq!(LinkType::from_linktype(n).map(LinkType::linktype), Some(n));
        }
        assert_eq!(LinkType::from_linktype(105), None);
        assert_eq!(linktype_name(105), "IEEE802_11");
    }
}
