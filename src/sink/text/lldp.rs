//! LLDP (EtherType 0x88cc) as tcpdump 4.99 prints it: `LLDP, length 120: switch1`
//! (the System Name), and with `-v` one line per TLV (`-vv`: each TLV's bytes in hex).
//!
//! Not decoded as tcpdump does with `-v`: the organization-specific TLVs of IEEE
//! 802.1, IEEE 802.3, IANA, TIA and DCBX (their OUI and hex are printed; tcpdump decodes
//! their subtypes).
//!
//! It must never panic, read past the captured bytes, allocate, or print packet bytes
//! except as addresses, numbers, hex and tcpdump's escaped characters; every TLV
//! consumes at least 2 bytes.

use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::line::{BitNames, Line, Mac, be16_at, be32_at};
use super::llc::oui_name;

const CAPABILITIES: [(u32, &str); 8] = [
    (1 << 0, "Other"),
    (1 << 1, "Repeater"),
    (1 << 2, "Bridge"),
    (1 << 3, "WLAN AP"),
    (1 << 4, "Router"),
    (1 << 5, "Telephone"),
    (1 << 6, "Docsis"),
    (1 << 7, "Station Only"),
];

fn tlv_name(t: u16) -> &'static str {
    match t {
        0 => "End",
        1 => "Chassis ID",
        2 => "Port ID",
        3 => "Time to Live",
        4 => "Port Description",
        5 => "System Name",
        6 => "System Description",
        7 => "System Capabilities",
        8 => "Management Address",
        127 => "Organization specific",
        _ => "Unknown",
    }
}

/// tcpdump's `af_values` (IANA address families).
fn af_name(af: u8) -> &'static str {
    match af {
        0 => "Reserved",
        1 => "IPv4",
        2 => "IPv6",
        3 => "NSAP",
        4 => "HDLC",
        5 => "BBN 1822",
        6 => "802",
        7 => "E.163",
        8 => "E.164",
        9 => "F.69",
        10 => "X.121",
        11 => "Novell IPX",
        12 => "Appletalk",
        13 => "Decnet IV",
        14 => "Banyan Vines",
        15 => "E.164 with NSAP subaddress",
        _ => "Unknown",
    }
}

/// Whether `lldp_network_addr_print` accepts `v` (family byte, then the address).
fn network_addr_ok(v: &[u8]) -> bool {
    match v.split_first() {
        None => false,
        Some((1, a)) => a.len() >= 4,
        Some((2, a)) => a.len() >= 16,
        Some((6, a)) => a.len() >= 6,
        Some(_) => true,
    }
}

impl<W: Write> Line<'_, W> {
    /// tcpdump's `lldp_print`; `len` is the frame's length after the EtherType.
    pub(super) fn lldp(&mut self, data: &[u8], len: usize) -> io::Result<()> {
        write!(self.out, "LLDP, length {len}")?;
        let mut at = 0;
        let mut left = len;
        while left >= 2 {
            let Some(tlv) = be16_at(data, at) else {
                return self.out.write_all(b" [|lldp]");
            };
            let (t, tlv_len) = (tlv >> 9, usize::from(tlv & 0x01ff));
            left -= 2;
            at += 2;
            if self.verbose() {
                write!(self.out, "\n\t{} TLV ({t}), length {tlv_len}", tlv_name(t))?;
            }
            if t == 0 || tlv_len == 0 {
                break;
            }
            let Some(v) = data.get(at..at + tlv_len) else {
                return self.out.write_all(b" [|lldp]");
            };
            if left < tlv_len {
                return self.out.write_all(b" [|lldp]");
            }
            let Some(hexdump) = self.lldp_tlv(t, v)? else {
                return self.out.write_all(b" [|lldp]");
            };
            if self.opts.verbose > 1 || (self.verbose() && hexdump) {
                self.hex_words(b"\n\t  ", v)?;
            }
            left -= tlv_len;
            at += tlv_len;
        }
        Ok(())
    }

    /// One TLV's value: whether tcpdump adds its hex with `-v`, or `None` when it is
    /// too short for its kind.
    fn lldp_tlv(&mut self, t: u16, v: &[u8]) -> io::Result<Option<bool>> {
        let n = v.len();
        if t == 5 {
            // The system name is printed without -v too.
            self.out.write_all(b": ")?;
            self.lldp_text(v)?;
            return Ok(Some(false));
        }
        if !self.verbose() {
            return Ok(Some(!matches!(t, 1..=8 | 127)));
        }
        match t {
            1 | 2 => {
                if n < 2 {
                    return Ok(None);
                }
                let sub = v[0];
                let name = match (t, sub) {
                    (1, 1) => "Chassis component",
                    (1, 2) | (2, 1) => "Interface alias",
                    (1, 3) | (2, 2) => "Port component",
                    (1, 4) | (2, 3) => "MAC address",
                    (1, 5) => "Network address",
                    (2, 4) => "Network Address",
                    (1, 6) => "Interface name",
                    (2, 5) => "Interface Name",
                    (2, 6) => "Agent circuit ID",
                    (_, 7) => "Local",
                    _ => "Unknown",
                };
                write!(self.out, "\n\t  Subtype {name} ({sub}): ")?;
                let mac = if t == 1 { 4 } else { 3 };
                let net = if t == 1 { 5 } else { 4 };
                match sub {
                    s if s == mac => {
                        if n < 7 {
                            return Ok(None);
                        }
                        write!(self.out, "{}", Mac(&v[1..7]))?;
                    }
                    s if s == net => {
                        if !self.lldp_network_addr(&v[1..])? {
                            return Ok(None);
                        }
                    }
                    1..=7 => self.lldp_text(&v[1..])?,
                    _ => return Ok(Some(true)),
                }
            }
            3 => {
                let Some(ttl) = be16_at(v, 0) else {
                    return Ok(None);
                };
                write!(self.out, ": TTL {ttl}s")?;
            }
            4 => {
                self.out.write_all(b": ")?;
                self.lldp_text(v)?;
            }
            6 => {
                self.out.write_all(b"\n\t  ")?;
                self.lldp_text(v)?;
            }
            7 => {
                let (Some(cap), Some(enabled)) = (be16_at(v, 0), be16_at(v, 2)) else {
                    return Ok(None);
                };
                for (label, bits) in [
                    ("System  Capabilities", cap),
                    ("Enabled Capabilities", enabled),
                ] {
                    let names = BitNames {
                        bits: u32::from(bits),
                        names: &CAPABILITIES,
                    };
                    write!(self.out, "\n\t  {label} [{names}] (0x{bits:04x})")?;
                }
            }
            8 => return Ok(self.lldp_mgmt_addr(v)?.then_some(false)),
            127 => {
                if n < 3 {
                    return Ok(None);
                }
                let oui = u32::from(v[0]) << 16 | u32::from(v[1]) << 8 | u32::from(v[2]);
                write!(self.out, ": OUI {} (0x{oui:06x})", oui_name(oui))?;
                return Ok(Some(true));
            }
            _ => return Ok(Some(true)),
        }
        Ok(Some(false))
    }

    /// tcpdump's `nd_printjnp`: up to the first NUL, escaped.
    fn lldp_text(&mut self, v: &[u8]) -> io::Result<()> {
        for &c in v.iter().take_while(|&&c| c != 0) {
            self.escaped_char(c)?;
        }
        Ok(())
    }

    /// tcpdump's `lldp_network_addr_print`; false when too short.
    fn lldp_network_addr(&mut self, v: &[u8]) -> io::Result<bool> {
        let Some((&af, addr)) = v.split_first() else {
            return Ok(false);
        };
        let name = af_name(af);
        match af {
            1 if addr.len() >= 4 => write!(
                self.out,
                "AFI {name} ({af}): {}",
                Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])
            )?,
            2 if addr.len() >= 16 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(&addr[..16]);
                write!(self.out, "AFI {name} ({af}): {}", Ipv6Addr::from(o))?;
            }
            6 if addr.len() >= 6 => write!(self.out, "AFI {name} ({af}): {}", Mac(&addr[..6]))?,
            1 | 2 | 6 => return Ok(false),
            _ => write!(self.out, "AFI {name} ({af}), no AF printer !")?,
        }
        Ok(true)
    }

    /// tcpdump's `lldp_mgmt_addr_tlv_print`; false when too short.
    fn lldp_mgmt_addr(&mut self, v: &[u8]) -> io::Result<bool> {
        let Some((&addr_len, rest)) = v.split_first() else {
            return Ok(false);
        };
        let addr_len = usize::from(addr_len);
        let Some(addr) = rest.get(..addr_len) else {
            return Ok(false);
        };
        // tcpdump checks the address before printing anything.
        if !network_addr_ok(addr) {
            return Ok(false);
        }
        write!(self.out, "\n\t  Management Address length {addr_len}, ")?;
        self.lldp_network_addr(addr)?;
        let rest = &rest[addr_len..];
        let Some(num) = rest.get(..5) else {
            return Ok(false);
        };
        let sub = num[0];
        let sub_name = match sub {
            2 => "Interface Index",
            3 => "System Port Number",
            _ => "Unknown",
        };
        write!(
            self.out,
            "\n\t  {sub_name} Interface Numbering ({sub}): {}",
            be32_at(num, 1).unwrap_or_default()
        )?;
        let rest = &rest[5..];
        if let Some((&oid_len, oid)) = rest.split_first() {
            let oid_len = usize::from(oid_len);
            let Some(oid) = oid.get(..oid_len) else {
                return Ok(false);
            };
            if oid_len > 0 {
                write!(self.out, "\n\t  OID length {oid_len}")?;
                self.lldp_text(oid)?;
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    fn tlv(t: u16, v: &[u8]) -> Vec<u8> {
        let mut o = ((t << 9) | v.len() as u16).to_be_bytes().to_vec();
        o.extend_from_slice(v);
        o
    }

    fn lldp_frame(tlvs: &[Vec<u8>]) -> Vec<u8> {
        let mut frame = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e];
        frame.extend_from_slice(&MAC_A);
        frame.extend_from_slice(&[0x88, 0xcc]);
        tlvs.iter().for_each(|t| frame.extend_from_slice(t));
        frame.resize(frame.len().max(60), 0);
        frame
    }

    #[test]
    fn system_name_summary_and_verbose_tlvs() {
        let frame = lldp_frame(&[
            tlv(1, &[4, 0, 0x11, 0x22, 0x33, 0x44, 0x55]),
            tlv(2, b"\x05Gi0/1"),
            tlv(3, &[0, 120]),
            tlv(5, b"switch1"),
            tlv(7, &[0, 0x14, 0, 4]),
            tlv(8, &[5, 1, 10, 0, 0, 1, 2, 0, 0, 0, 7, 0]),
            tlv(127, &[0, 0x80, 0xc2, 1, 0, 1]),
            tlv(0, &[]),
        ]);
        assert!(line(&gretap(&frame)).ends_with(": LLDP, length 60: switch1\n"));
        let v = verbose(1);
        let text = line_with(v, &gretap(&frame));
        assert!(
            text.ends_with(
                "LLDP, length 60\n\tChassis ID TLV (1), length 7\n\t  Subtype MAC address \
                 (4): 00:11:22:33:44:55\n\tPort ID TLV (2), length 6\n\t  Subtype Interface \
                 Name (5): Gi0/1\n\tTime to Live TLV (3), length 2: TTL 120s\n\tSystem Name \
                 TLV (5), length 7: switch1\n\tSystem Capabilities TLV (7), length 4\n\t  \
                 System  Capabilities [Bridge, Router] (0x0014)\n\t  Enabled Capabilities [Bridge] \
                 (0x0004)\n\tManagement Address TLV (8), length 12\n\t  Management Address \
                 length 5, AFI IPv4 (1): 10.0.0.1\n\t  Interface Index Interface Numbering \
                 (2): 7\n\tOrganization specific TLV (127), length 6: OUI Ethernet bridged \
                 (0x0080c2)\n\t  0x0000:  0080 c201 0001\n\tEnd TLV (0), length 0\n"
            ),
            "{text}"
        );
        // A TLV longer than what was captured.
        let mut d = gretap(&frame[..20]);
        d.orig_len = frame.len();
        assert!(
            line(&d).ends_with(": LLDP, length 60 [|lldp]\n"),
            "{}",
            line(&d)
        );
    }
}
