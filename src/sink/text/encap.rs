//! spandump's encapsulation tag (`gre key 99`, `erspan-ii sid 100 idx 0x1`, `gre-udp
//! key 5` for RFC 8086 GRE-in-UDP) and, with `-v`, every GRE / ERSPAN field in
//! parentheses.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};
use std::net::IpAddr;

use super::line::Line;
use crate::wire::decap::{Decapsulated, Encap, Note};
impl<W: Write> Line<'_, W> {
    pub(super) fn encap(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        d: &Decapsulated<'_>,
    ) -> io::Result<()> {
        // GRE and ERSPAN received in UDP (RFC 8086): a session apart, as in the
        // session labels.
        let udp = if d.gre.over_udp { "-udp" } else { "" };
        match &d.encap {
            Encap::Gre => {
                write!(self.out, "gre{udp}")?;
                if let Some(key) = d.gre.key {
                    write!(self.out, " key {key}")?;
                }
            }
            Encap::ErspanI => write!(self.out, "erspan-i{udp}")?,
            Encap::ErspanII(h) => write!(
                self.out,
                "erspan-ii{udp} sid {} idx {:#x}",
                h.session.get(),
                h.index.get()
            )?,
            Encap::ErspanIII(h) => write!(
                self.out,
                "erspan-iii{udp} sid {} {}",
                h.session.get(),
                h.direction.name()
            )?,
            Encap::Vxlan(_) | Encap::Geneve(_) => {
                crate::sink::tunnel::write_tag(self.out, &d.encap)?
            }
        }
        if !self.verbose() {
            return Ok(());
        }
        write!(self.out, " ({src} > {dst}")?;
        if d.notes.contains(Note::GreLegacyBits) {
            write!(self.out, ", flags {:#06x}", d.gre.flags)?;
        }
        if d.encap == Encap::Gre {
            write!(self.out, ", proto {:#06x}", d.gre.protocol.0)?;
        }
        if let Some(csum) = d.gre.checksum {
            write!(self.out, ", csum {csum:#06x}")?;
        }
        if let (Some(key), false) = (d.gre.key, d.encap == Encap::Gre) {
            write!(self.out, ", key {key}")?;
        }
        if let Some(seq) = d.gre.sequence {
            write!(self.out, ", seq {seq}")?;
        }
        match &d.encap {
            Encap::Gre | Encap::ErspanI => {}
            Encap::Vxlan(_) | Encap::Geneve(_) => crate::sink::tunnel::write_verbose(self.out, d)?,
            Encap::ErspanII(h) => write!(
                self.out,
                ", ver {}, vlan {}, cos {}, en {}, t {}",
                h.version,
                h.vlan.get(),
                h.cos,
                h.encap_type,
                u8::from(h.truncated)
            )?,
            Encap::ErspanIII(h) => {
                write!(
                    self.out,
                    ", ver {}, vlan {}, cos {}, bso {}, t {}, timestamp {}, sgt {}, p {}, ft {}, \
                     hwid {}, gra {}",
                    h.version,
                    h.vlan.get(),
                    h.cos,
                    h.bso,
                    u8::from(h.truncated),
                    h.timestamp,
                    h.sgt,
                    u8::from(h.pdu),
                    h.frame_type,
                    h.hw_id,
                    h.granularity
                )?;
                if let Some(p) = h.platform {
                    write!(self.out, ", platform id {} info {:#x}", p.id, p.info)?;
                }
            }
        }
        for note in d.notes.iter() {
            write!(self.out, ", {}", note.id())?;
        }
        self.out.write_all(b")")
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    #[test]
    fn gretap_key_icmp_echo_request() {
        let frame = hex(ZEEK_ERSPAN3_ECHO);
        let d = decap(Encap::Gre, gre(Some(99)), PayloadKind::Ethernet, &frame);
        assert_eq!(
            line(&d),
            "1700000000.123456 gre key 99: IP 192.168.15.47 > 1.1.1.1: ICMP echo request, \
             id 313, seq 0, length 64\n"
        );
    }

    #[test]
    fn gre_in_udp_tag() {
        let frame = hex(ZEEK_ERSPAN3_ECHO);
        let mut info = gre(Some(5));
        info.over_udp = true;
        let d = decap(Encap::Gre, info, PayloadKind::Ethernet, &frame);
        assert_eq!(
            line(&d),
            "1700000000.123456 gre-udp key 5: IP 192.168.15.47 > 1.1.1.1: ICMP echo request, \
             id 313, seq 0, length 64\n"
        );
    }

    #[test]
    fn erspan_ii_link_header_and_vlan() {
        let frame = hex(FT0_VLAN_ECHO);
        let d = erspan_ii(100, 0x1abcd, &frame);
        let e = TextOptions {
            link_header: true,
            ..opts()
        };
        // tcpdump -n -e prints the same after the tag.
        assert_eq!(
            line_with(e, &d),
            "1700000000.123456 erspan-ii sid 100 idx 0x1abcd: f8:c2:88:90:d2:7b > \
             00:50:56:ac:18:a0, ethertype 802.1Q (0x8100), length 102: vlan 20, p 0, \
             ethertype IPv4 (0x0800), 10.29.11.1 > 10.29.20.21: ICMP echo request, id 16331, \
             seq 226, length 64\n"
        );
        // Without -e tcpdump does not show the tag at all.
        assert_eq!(
            line(&d),
            "1700000000.123456 erspan-ii sid 100 idx 0x1abcd: IP 10.29.11.1 > 10.29.20.21: \
             ICMP echo request, id 16331, seq 226, length 64\n"
        );
    }

    #[test]
    fn erspan_iii_egress_tcp_syn_ack() {
        let frame = syn_ack();
        let d = erspan_iii(200, Direction::Egress, &frame);
        assert_eq!(
            line(&d),
            "1700000000.123456 erspan-iii sid 200 egress: IP 10.0.0.2.80 > 10.0.0.1.45678: \
             Flags [S.], seq 7, ack 2, win 512, options [mss 1460,sackOK,TS val 1 ecr 0,nop,\
             wscale 7], length 0\n"
        );
    }

    #[test]
    fn verbose_erspan_ii_and_ip_details() {
        let frame = hex(FT0_VLAN_ECHO);
        let d = erspan_ii(100, 0, &frame);
        let v = verbose(1);
        assert_eq!(
            line_with(v, &d),
            "1700000000.123456 erspan-ii sid 100 idx 0x0 (198.51.100.1 > 198.51.100.2, \
             seq 1794, ver 1, vlan 23, cos 0, en 1, t 0): IP (tos 0x0, ttl 63, id 40210, \
             offset 0, flags [DF], proto ICMP (1), length 84)\n    10.29.11.1 > 10.29.20.21: \
             ICMP echo request, id 16331, seq 226, length 64\n"
        );
    }

    #[test]
    fn verbose_erspan_iii_fields_and_notes() {
        let frame = syn_ack();
        let mut d = erspan_iii(200, Direction::Ingress, &frame);
        if let Encap::ErspanIII(h) = &mut d.encap {
            h.truncated = true;
            h.platform = Some(PlatformInfo {
                id: 3,
                info: 0x3_15f7_42e8,
            });
        }
        d.gre.flags = 0x1d00;
        d.gre.sequence = Some(7);
        d.notes.insert(Note::GreLegacyBits);
        d.notes.insert(Note::SenderTruncated);
        let v = verbose(1);
        assert_eq!(
            line_with(v, &d),
            "1700000000.123456 erspan-iii sid 200 ingress (198.51.100.1 > 198.51.100.2, \
             flags 0x1d00, seq 7, ver 2, vlan 20, cos 5, bso 0, t 1, timestamp 5251, sgt 7, \
             p 1, ft 0, hwid 3, gra 1, platform id 3 info 0x315f742e8, gre-legacy-bits, \
             sender-truncated): IP (tos 0x0, ttl 64, id 0, offset 0, flags [DF], proto TCP (6), \
             length 60)\n    10.0.0.2.80 > 10.0.0.1.45678: Flags [S.], cksum 0x7f25 (correct), \
             seq 7, ack 2, win 512, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], \
             length 0\n"
        );
    }

    #[test]
    fn verbose_plain_gre_shows_checksum_and_key() {
        let frame = hex(ZEEK_ERSPAN3_ECHO);
        let mut g = gre(Some(99));
        g.flags = 0xb000;
        g.checksum = Some(0xabcd);
        g.sequence = Some(5);
        let mut d = decap(Encap::Gre, g, PayloadKind::Ethernet, &frame);
        d.notes.insert(Note::GreChecksumBad);
        let v = verbose(1);
        let text = line_with(v, &d);
        assert!(
            text.starts_with(
                "1700000000.123456 gre key 99 (198.51.100.1 > 198.51.100.2, proto 0x6558, \
                 csum 0xabcd, seq 5, gre-checksum-bad): IP (tos 0x0, ttl 63, id 57788, "
            ),
            "{text}"
        );
    }
}
