//! ARP and RARP, as tcpdump's `arp_print`.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};
use std::net::Ipv4Addr;

use etherparse::ArpPacketSlice;

use super::line::{Line, Mac, num};
use super::link::ethertype_name;
impl<W: Write> Line<'_, W> {
    pub(super) fn arp(&mut self, data: &[u8], wire: usize) -> io::Result<()> {
        let Ok(arp) = ArpPacketSlice::from_slice(data) else {
            return self.trunc("arp");
        };
        if !self.opts.link_header {
            self.out.write_all(b"ARP, ")?;
        }
        let hrd = arp.hw_addr_type().0;
        let pro = arp.proto_addr_type().0;
        let (hln, pln) = (arp.hw_addr_size(), arp.proto_addr_size());
        let ip_like = (pro == num::ETH_IPV4 || pro == num::ETH_TRAIL) && pln == 4;
        if !ip_like || hln == 0 || self.verbose() {
            match hrd {
                1 => write!(self.out, "Ethernet (len {hln}), ")?,
                other => write!(self.out, "Unknown Hardware ({other}) (len {hln}), ")?,
            }
            match ethertype_name(pro) {
                Some(name) => write!(self.out, "{name} (len {pln})")?,
                None => write!(self.out, "Unknown Protocol ({pro:#06x}) (len {pln})")?,
            }
            if !self.verbose() {
                return write!(self.out, ", length {wire}");
            }
            self.out.write_all(b", ")?;
        }
        let op = arp.operation().0;
        let name = match op {
            1 => "Request",
            2 => "Reply",
            3 => "Reverse Request",
            4 => "Reverse Reply",
            8 => "Inverse Request",
            9 => "Inverse Reply",
            10 => "NACK Reply",
            _ => "",
        };
        if name.is_empty() {
            write!(self.out, "Unknown ({op}) ")?;
        } else {
            write!(self.out, "{name} ")?;
        }
        let (sha, tha) = (Mac(arp.sender_hw_addr()), Mac(arp.target_hw_addr()));
        let proto_addr = |a: &[u8]| -> ArpProtoAddr {
            if pro != num::ETH_IPV4 && pro != num::ETH_TRAIL {
                ArpProtoAddr::WrongType
            } else {
                match <[u8; 4]>::try_from(a) {
                    Ok(b) => ArpProtoAddr::Ip(Ipv4Addr::from(b)),
                    Err(_) => ArpProtoAddr::WrongLen,
                }
            }
        };
        let spa = proto_addr(arp.sender_protocol_addr());
        let tpa = proto_addr(arp.target_protocol_addr());
        match op {
            1 => {
                write!(self.out, "who-has {tpa}")?;
                if arp.target_hw_addr().iter().any(|&b| b != 0) {
                    write!(self.out, " ({tha})")?;
                }
                write!(self.out, " tell {spa}")?;
            }
            2 => write!(self.out, "{spa} is-at {sha}")?,
            3 | 8 => write!(self.out, "who-is {tha} tell {sha}")?,
            4 => write!(self.out, "{tha} at {tpa}")?,
            9 => write!(self.out, "{sha} at {spa}")?,
            _ => {}
        }
        write!(self.out, ", length {wire}")
    }
}

/// An ARP protocol address, or tcpdump's complaint about it.
pub(super) enum ArpProtoAddr {
    Ip(Ipv4Addr),
    WrongType,
    WrongLen,
}

impl core::fmt::Display for ArpProtoAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ArpProtoAddr::Ip(a) => write!(f, "{a}"),
            ArpProtoAddr::WrongType => f.write_str("<wrong proto type>"),
            ArpProtoAddr::WrongLen => f.write_str("<wrong len>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    #[test]
    fn arp_request_and_reply() {
        let frame = hex(ERSPAN1_ARP_REQUEST);
        let d = decap(Encap::ErspanI, gre(None), PayloadKind::Ethernet, &frame);
        assert_eq!(
            line(&d),
            "1700000000.123456 erspan-i: ARP, Request who-has 192.168.90.253 tell \
             192.168.90.100, length 46\n"
        );
        // The reply is built here: 10.0.0.2 is at 11:22:33:44:55:66.
        let mut reply = MAC_A.to_vec();
        reply.extend_from_slice(&MAC_B);
        reply.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
        reply.extend_from_slice(&MAC_B);
        reply.extend_from_slice(&[10, 0, 0, 2]);
        reply.extend_from_slice(&MAC_A);
        reply.extend_from_slice(&[10, 0, 0, 1]);
        assert_eq!(
            line(&gretap(&reply)),
            "1700000000.123456 gre: ARP, Reply 10.0.0.2 is-at 11:22:33:44:55:66, length 28\n"
        );
        let v = TextOptions {
            verbose: 1,
            link_header: true,
            ..opts()
        };
        assert_eq!(
            line_with(v, &gretap(&reply)),
            "1700000000.123456 gre (198.51.100.1 > 198.51.100.2, proto 0x6558): \
             11:22:33:44:55:66 > aa:bb:cc:dd:ee:ff, ethertype ARP (0x0806), length 42: \
             Ethernet (len 6), IPv4 (len 4), Reply 10.0.0.2 is-at 11:22:33:44:55:66, length 28\n"
        );
    }
}
