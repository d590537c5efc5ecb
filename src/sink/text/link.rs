//! The inner link layer: Ethernet II, VLAN tags (`-e`), and the dispatch to the
//! ethertypes printed (IPv4, IPv6, ARP, LLDP) or to 802.3 LLC.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};

use etherparse::{Ethernet2HeaderSlice, SingleVlanHeaderSlice};

use super::line::{Line, MAX_VLAN_TAGS, Mac, num};
#[derive(Clone, Copy, Default)]
pub(super) struct VlanTag {
    pub(super) tpid: u16,
    pub(super) vid: u16,
    pub(super) pcp: u8,
    pub(super) dei: bool,
}

/// Source and destination MAC of the frame being printed.
pub(super) struct Macs {
    pub(super) src: [u8; 6],
    pub(super) dst: [u8; 6],
}

pub(super) fn ethertype_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0x0800 => "IPv4",
        0x8847 => "MPLS unicast",
        0x8848 => "MPLS multicast",
        0x86DD => "IPv6",
        0x8100 => "802.1Q",
        0x9100 => "802.1Q-9100",
        0x88A8 => "802.1Q-QinQ",
        0x9200 => "802.1Q-9200",
        0x88E5 => "802.1AE MACsec",
        0x0200 => "PUP",
        0x0806 => "ARP",
        0x8035 => "Reverse ARP",
        0x0600 => "NS",
        0x0500 => "Sprite",
        0x1000 => "Trail",
        0x6001 => "MOP DL",
        0x6002 => "MOP RC",
        0x6003 => "DN",
        0x6004 => "LAT",
        0x6007 => "SCA",
        0x6558 => "TEB",
        0x8038 => "Lanbridge",
        0x803C => "DEC DNS",
        0x803E => "DEC DTS",
        0x805B => "VEXP",
        0x805C => "VPROD",
        0x809B => "Appletalk",
        0x80F3 => "Appletalk ARP",
        0x8137 => "IPX",
        0x880B => "PPP",
        0x8808 => "MPCP",
        0x8809 => "Slow Protocols",
        0x8863 => "PPPoE D",
        0x8864 => "PPPoE S",
        0x888E => "EAPOL",
        0x8899 => "Realtek protocols",
        0x886F => "MS NLB heartbeat",
        0x8870 => "Jumbo",
        0x894F => "NSH",
        0x9000 => "Loopback",
        0xFEFE => "OSI",
        0xABCD => "CFM (old)",
        0x8902 => "CFM",
        0x893A => "IEEE1905.1",
        0x88CC => "LLDP",
        0x88CA => "TIPC",
        0x0707 => "GeoNet (old)",
        0x8947 => "GeoNet",
        0x1111 => "CALM FAST",
        0x88A2 => "AoE",
        0x88F7 => "PTP",
        0xD28B => "Arista Vendor Specific Protocol",
        _ => return None,
    })
}

impl<W: Write> Line<'_, W> {
    /// tcpdump's `ether_type_print`.
    pub(super) fn ether_type(&mut self, t: u16) -> io::Result<()> {
        match (self.opts.quiet, ethertype_name(t)) {
            (false, name) => write!(
                self.out,
                "ethertype {} ({t:#06x})",
                name.unwrap_or("Unknown")
            ),
            (true, Some(name)) => self.out.write_all(name.as_bytes()),
            (true, None) => write!(self.out, "Unknown Ethertype ({t:#06x})"),
        }
    }

    pub(super) fn ethernet(&mut self, frame: &[u8], wire_len: usize, depth: u8) -> io::Result<()> {
        let Ok(eth) = Ethernet2HeaderSlice::from_slice(frame) else {
            return self.trunc("ether");
        };
        let header_len = eth.slice().len();
        let mut rest = frame.get(header_len..).unwrap_or_default();
        let mut wire = wire_len.saturating_sub(header_len);
        let mut ether_type = eth.ether_type().0;
        let mut tags = [VlanTag::default(); MAX_VLAN_TAGS];
        let mut n_tags = 0;
        let mut vlan_cut = false;
        while num::VLAN_TPIDS.contains(&ether_type) {
            let vlan = match SingleVlanHeaderSlice::from_slice(rest) {
                Ok(v) if n_tags < MAX_VLAN_TAGS && wire >= v.slice().len() => v,
                _ => {
                    vlan_cut = true;
                    break;
                }
            };
            tags[n_tags] = VlanTag {
                tpid: ether_type,
                vid: vlan.vlan_identifier().value(),
                pcp: vlan.priority_code_point().value(),
                dei: vlan.drop_eligible_indicator(),
            };
            n_tags += 1;
            ether_type = vlan.ether_type().0;
            rest = rest.get(vlan.slice().len()..).unwrap_or_default();
            wire -= vlan.slice().len();
        }
        let (src, dst) = (eth.source(), eth.destination());
        let is_llc = ether_type <= num::ETH_MAX_LENGTH;
        // An 802.3 length field shorter than the frame cuts off the padding.
        let llc_len = if is_llc {
            wire.min(usize::from(ether_type))
        } else {
            wire
        };
        let printable = is_llc
            || matches!(
                ether_type,
                num::ETH_IPV4 | num::ETH_IPV6 | num::ETH_ARP | num::ETH_RARP | num::ETH_LLDP
            );

        if self.opts.link_header {
            write!(self.out, "{} > {}, ", Mac(&src), Mac(&dst))?;
            for (i, tag) in tags[..n_tags].iter().enumerate() {
                self.ether_type(tag.tpid)?;
                if i == 0 {
                    write!(self.out, ", length {wire_len}: ")?;
                } else {
                    self.out.write_all(b", ")?;
                }
                let dei = if tag.dei { ", DEI" } else { "" };
                write!(self.out, "vlan {}, p {}{dei}, ", tag.vid, tag.pcp)?;
            }
            if vlan_cut {
                return self.trunc("vlan");
            }
            if is_llc {
                self.out.write_all(b"802.3")?;
            } else {
                self.ether_type(ether_type)?;
            }
            match (n_tags, printable) {
                (0, true) => {
                    let shown = if is_llc { llc_len } else { wire_len };
                    write!(self.out, ", length {shown}: ")?;
                }
                (0, false) => {
                    write!(self.out, ", length {wire_len}: ")?;
                    return self.hex_dump(rest);
                }
                // tcpdump runs the LLC header on: `vlan 1, p 0, 802.3LLC, dsap ...`.
                (_, true) if is_llc => {}
                (_, true) => self.out.write_all(b", ")?,
                (_, false) => return Ok(()),
            }
        } else if vlan_cut {
            return self.trunc("vlan");
        } else if !printable {
            write!(self.out, "{} > {}, ", Mac(&src), Mac(&dst))?;
            self.ether_type(ether_type)?;
            write!(self.out, ", length {wire_len}: ")?;
            return self.hex_dump(rest);
        }

        if is_llc {
            return self.llc(rest, llc_len, &Macs { src, dst }, depth);
        }
        self.ether_payload(ether_type, rest, wire, depth)
    }

    /// The payload of an ethertype this module prints (IPv4, IPv6, ARP, LLDP).
    pub(super) fn ether_payload(
        &mut self,
        ether_type: u16,
        data: &[u8],
        wire: usize,
        depth: u8,
    ) -> io::Result<()> {
        match ether_type {
            num::ETH_IPV4 => self.ipv4(data, wire, depth),
            num::ETH_IPV6 => self.ipv6(data, wire, depth),
            num::ETH_ARP | num::ETH_RARP => self.arp(data, wire),
            num::ETH_LLDP => self.lldp(data, wire),
            other => {
                self.ether_type(other)?;
                write!(self.out, ", length {wire}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    #[test]
    fn runts_and_garbage() {
        assert_eq!(line(&gretap(&[])), "1700000000.123456 gre: [|ether]\n");
        assert_eq!(
            line(&gretap(&[1, 2, 3, 4, 5])),
            "1700000000.123456 gre: [|ether]\n"
        );
        let mut unknown = MAC_A.to_vec();
        unknown.extend_from_slice(&MAC_B);
        unknown.extend_from_slice(&[0x88, 0xb5, 0xde, 0xad]);
        assert_eq!(
            line(&gretap(&unknown)),
            "1700000000.123456 gre: 11:22:33:44:55:66 > aa:bb:cc:dd:ee:ff, ethertype Unknown \
             (0x88b5), length 16: \n\t0x0000:  dead                                     ..\n"
        );
        // An IPv4 ethertype carrying IPv6, and garbage after an IPv4 nibble.
        let mut wrong = MAC_A.to_vec();
        wrong.extend_from_slice(&MAC_B);
        wrong.extend_from_slice(&[0x08, 0x00, 0x60, 0, 0, 0]);
        assert_eq!(
            line(&gretap(&wrong)),
            "1700000000.123456 gre: IP6, wrong link-layer encapsulation (invalid)\n"
        );
        let d = decap(
            Encap::Gre,
            gre(None),
            PayloadKind::Ipv4,
            &[0x4f, 0xff, 0xff],
        );
        assert_eq!(line(&d), "1700000000.123456 gre: IP  [|ip]\n");
        let d = decap(Encap::Gre, gre(None), PayloadKind::Ipv4, &[0x41; 20]);
        assert_eq!(line(&d), "1700000000.123456 gre: IP bad-hlen 4\n");
        // A VLAN tag cut in half.
        let vlan = hex(FT0_VLAN_ECHO);
        assert_eq!(
            line(&gretap(&vlan[..16])),
            "1700000000.123456 gre: [|vlan]\n"
        );
    }
}
