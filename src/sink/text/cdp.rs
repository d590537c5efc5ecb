//! Cisco Discovery Protocol (SNAP OUI 0x00000c, PID 0x2000) as tcpdump 4.99 prints
//! it: without `-v` the Device-ID and, as tcpdump does, a hex dump of every other TLV;
//! with `-v` one line per TLV.
//!
//! It must never panic, read past the captured bytes, allocate, loop more than once
//! per TLV or address (each step consumes bytes), or print packet bytes except as
//! tcpdump's escaped characters and hex.

use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::line::{BitNames, Line, be16_at, be32_at};

const HEADER_LEN: usize = 4;
const TLV_HEADER_LEN: usize = 4;
const T_DEV_ID: u16 = 0x01;
/// NLPID of IPv4; the LLC/SNAP header that marks an IPv6 address.
const NLPID_IP: u8 = 0xcc;
const PROT_IPV6: [u8; 8] = [0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, 0x86, 0xdd];

const CAPABILITIES: [(u32, &str); 7] = [
    (0x01, "Router"),
    (0x02, "Transparent Bridge"),
    (0x04, "Source Route Bridge"),
    (0x08, "L2 Switch"),
    (0x10, "L3 capable"),
    (0x20, "IGMP snooping"),
    (0x40, "L1 capable"),
];

/// How a TLV's value is printed (tcpdump's `cdptlvs` printers).
#[derive(Clone, Copy)]
enum Value {
    String,
    Addr,
    Capability,
    Version,
    Prefixes,
    /// Known, printed as nothing.
    Nothing,
    Uint16,
    Duplex,
    Ata186,
    Power,
    Mtu,
    Uint8x,
    PhysLoc,
}

/// tcpdump's `cdptlvs`: name, printer, minimum and maximum value length (0: none).
fn tlv_info(t: u16) -> Option<(&'static str, Value, usize, usize)> {
    use Value::*;
    Some(match t {
        0x01 => ("Device-ID", String, 0, 0),
        0x02 => ("Address", Addr, 0, 0),
        0x03 => ("Port-ID", String, 0, 0),
        0x04 => ("Capability", Capability, 4, 4),
        0x05 => ("Version String", Version, 0, 0),
        0x06 => ("Platform", String, 0, 0),
        0x07 => ("Prefixes", Prefixes, 0, 0),
        0x08 => ("Protocol-Hello option", Nothing, 0, 0),
        0x09 => ("VTP Management Domain", String, 0, 0),
        0x0a => ("Native VLAN ID", Uint16, 2, 2),
        0x0b => ("Duplex", Duplex, 1, 1),
        0x0e => ("ATA-186 VoIP VLAN assignment", Ata186, 3, 3),
        0x0f => ("ATA-186 VoIP VLAN request", Ata186, 2, 3),
        0x10 => ("power consumption", Power, 1, 3),
        0x11 => ("MTU", Mtu, 4, 4),
        0x12 => ("AVVID trust bitmap", Uint8x, 1, 1),
        0x13 => ("AVVID untrusted ports CoS", Uint8x, 1, 1),
        0x14 => ("System Name", String, 0, 0),
        0x15 => ("System Object ID (not decoded)", Nothing, 0, 0),
        0x16 => ("Management Addresses", Addr, 4, 0),
        0x17 => ("Physical Location", PhysLoc, 1, 0),
        _ => return None,
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl<W: Write> Line<'_, W> {
    /// tcpdump's `cdp_print`; `len` is the length after the SNAP header.
    pub(super) fn cdp(&mut self, data: &[u8], len: usize) -> io::Result<()> {
        if len < HEADER_LEN {
            write!(self.out, " (packet length {len} < {HEADER_LEN})")?;
            return self.out.write_all(b" (invalid)");
        }
        let (Some(&version), Some(&ttl)) = (data.first(), data.get(1)) else {
            return self.out.write_all(b" [|cdp]");
        };
        write!(self.out, "CDPv{version}, ttl: {ttl}s")?;
        let Some(checksum) = be16_at(data, 2) else {
            return self.out.write_all(b" [|cdp]");
        };
        if self.verbose() {
            write!(
                self.out,
                ", checksum: 0x{checksum:04x} (unverified), length {len}"
            )?;
        }
        let mut at = HEADER_LEN;
        let mut left = len - HEADER_LEN;
        while left > 0 {
            if left < TLV_HEADER_LEN {
                write!(
                    self.out,
                    " (remaining packet length {left} < {TLV_HEADER_LEN})"
                )?;
                return self.out.write_all(b" (invalid)");
            }
            let (Some(t), Some(tlv_len)) = (be16_at(data, at), be16_at(data, at + 2)) else {
                return self.out.write_all(b" [|cdp]");
            };
            let tlv_len = usize::from(tlv_len);
            let info = tlv_info(t);
            let name = info.map_or("unknown field type", |i| i.0);
            if tlv_len < TLV_HEADER_LEN {
                if self.verbose() {
                    write!(
                        self.out,
                        "\n\t{name} (0x{t:02x}), TLV length: {tlv_len} byte{} (too short)",
                        plural(tlv_len)
                    )?;
                } else {
                    write!(self.out, ", {name} TLV length {tlv_len} too short")?;
                }
                return self.out.write_all(b" (invalid)");
            }
            if tlv_len > left {
                write!(self.out, " (TLV length {tlv_len} > {left})")?;
                return self.out.write_all(b" (invalid)");
            }
            at += TLV_HEADER_LEN;
            left -= TLV_HEADER_LEN;
            let vlen = tlv_len - TLV_HEADER_LEN;
            if !self.verbose() && t == T_DEV_ID {
                self.out.write_all(b", Device-ID ")?;
            } else if self.verbose() {
                write!(
                    self.out,
                    "\n\t{name} (0x{t:02x}), value length: {vlen} byte{}: ",
                    plural(vlen)
                )?;
            }
            let Some(value) = data.get(at..at + vlen) else {
                return self.out.write_all(b" [|cdp]");
            };
            let mut covered = false;
            if let Some((_, printer, min, max)) = info {
                if (min > 0 && vlen < min) || (max > 0 && vlen > max) {
                    self.out.write_all(b" (malformed TLV)")?;
                } else if self.verbose() || t == T_DEV_ID {
                    if !self.cdp_value(printer, value)? {
                        return self.out.write_all(b" [|cdp]");
                    }
                    covered = true;
                }
            }
            if !covered {
                self.hex_words(b"\n\t  ", value)?;
            }
            at += vlen;
            left -= vlen;
        }
        if !self.verbose() {
            write!(self.out, ", length {len}")?;
        }
        Ok(())
    }

    /// One TLV value; false when its bytes end early (tcpdump's truncation).
    fn cdp_value(&mut self, printer: Value, v: &[u8]) -> io::Result<bool> {
        match printer {
            Value::String => {
                self.out.write_all(b"'")?;
                for &c in v {
                    self.escaped_char(c)?;
                }
                self.out.write_all(b"'")?;
            }
            Value::Version => {
                self.out.write_all(b"\n\t  ")?;
                for &c in v {
                    if c == b'\n' {
                        self.out.write_all(b"\n\t  ")?;
                    } else {
                        self.escaped_char(c)?;
                    }
                }
            }
            Value::Addr => return self.cdp_addr(v),
            Value::Capability => {
                let bits = be32_at(v, 0).unwrap_or_default();
                let names = BitNames {
                    bits,
                    names: &CAPABILITIES,
                };
                write!(self.out, "(0x{bits:08x}): {names}")?;
            }
            Value::Prefixes => {
                if !v.len().is_multiple_of(5) {
                    write!(self.out, " [length {} is not a multiple of 5]", v.len())?;
                    return Ok(true);
                }
                write!(self.out, " IPv4 Prefixes ({}):", v.len() / 5)?;
                for p in v.chunks_exact(5) {
                    write!(self.out, " {}.{}.{}.{}/{}", p[0], p[1], p[2], p[3], p[4])?;
                }
            }
            Value::Nothing => {}
            Value::Uint16 => write!(self.out, "{}", be16_at(v, 0).unwrap_or_default())?,
            Value::Duplex => {
                let full = v.first().is_some_and(|&d| d != 0);
                self.out.write_all(if full { b"full" } else { b"half" })?;
            }
            Value::Ata186 => match v {
                [a, b] => write!(self.out, "unknown 0x{:04x}", u16::from_be_bytes([*a, *b]))?,
                [app, a, b, ..] => {
                    write!(self.out, "app {app}, vlan {}", u16::from_be_bytes([*a, *b]))?
                }
                _ => return Ok(false),
            },
            Value::Power => {
                let val = v.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
                write!(self.out, "{:.2}W", f64::from(val) / 1000.0)?;
            }
            Value::Mtu => write!(self.out, "{} bytes", be32_at(v, 0).unwrap_or_default())?,
            Value::Uint8x => write!(self.out, "0x{:02x}", v.first().copied().unwrap_or(0))?,
            Value::PhysLoc => {
                write!(self.out, "0x{:02x}", v.first().copied().unwrap_or(0))?;
                if v.len() > 1 {
                    self.out.write_all(b"/")?;
                    for &c in &v[1..] {
                        self.escaped_char(c)?;
                    }
                }
            }
        }
        Ok(true)
    }

    /// tcpdump's `cdp_print_addr`: a count, then (protocol type, length, protocol,
    /// address length, address) entries. Each entry consumes at least 4 bytes.
    fn cdp_addr(&mut self, v: &[u8]) -> io::Result<bool> {
        let Some(mut num) = be32_at(v, 0) else {
            self.out.write_all(b" (not enough space for num)")?;
            return Ok(true);
        };
        let mut p = 4;
        while num > 0 {
            let left = v.len() - p;
            if left < 2 {
                self.out.write_all(b" (not enough space for PT+PL)")?;
                return Ok(true);
            }
            let (pt, pl) = (v[p], usize::from(v[p + 1]));
            p += 2;
            if v.len() - p < pl + 2 {
                self.out.write_all(b" (not enough space for P+AL)")?;
                return Ok(true);
            }
            let proto = &v[p..p + pl];
            let al = usize::from(u16::from_be_bytes([v[p + pl], v[p + pl + 1]]));
            p += pl + 2;
            let Some(addr) = v.get(p..p + al) else {
                if pt == 1 && pl == 1 && proto[0] == NLPID_IP && al == 4
                    || pt == 2 && proto == PROT_IPV6 && al == 16
                {
                    self.out.write_all(b" (not enough space for A)")?;
                } else {
                    write!(self.out, "pt=0x{pt:02x}, pl={pl}, pb=")?;
                    for b in proto {
                        write!(self.out, " {b:02x}")?;
                    }
                    write!(self.out, ", al={al}, a= (not enough space for A)")?;
                }
                return Ok(true);
            };
            if pt == 1 && pl == 1 && proto[0] == NLPID_IP && al == 4 {
                let a = Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]);
                write!(self.out, "IPv4 ({num}) {a}")?;
            } else if pt == 2 && proto == PROT_IPV6 && al == 16 {
                let mut o = [0u8; 16];
                o.copy_from_slice(addr);
                write!(self.out, "IPv6 ({num}) {}", Ipv6Addr::from(o))?;
            } else {
                write!(self.out, "pt=0x{pt:02x}, pl={pl}, pb=")?;
                for b in proto {
                    write!(self.out, " {b:02x}")?;
                }
                write!(self.out, ", al={al}, a=")?;
                for b in addr {
                    write!(self.out, " {b:02x}")?;
                }
            }
            p += al;
            num -= 1;
            if num > 0 {
                self.out.write_all(b" ")?;
            }
        }
        if p < v.len() {
            write!(self.out, " ({} bytes of stray data)", v.len() - p)?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    /// A CDP frame (802.3, LLC/SNAP 0x00000c 0x2000) with the given TLVs.
    fn cdp_frame(tlvs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = vec![2, 180, 0x9a, 0x14];
        for (t, v) in tlvs {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&(v.len() as u16 + 4).to_be_bytes());
            body.extend_from_slice(v);
        }
        let mut frame = vec![0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcc];
        frame.extend_from_slice(&MAC_A);
        frame.extend_from_slice(&((body.len() + 8) as u16).to_be_bytes());
        frame.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0x0c, 0x20, 0x00]);
        frame.extend_from_slice(&body);
        frame
    }

    #[test]
    fn device_id_and_hex_of_the_rest() {
        let addr: &[u8] = &[0, 0, 0, 1, 1, 1, 0xcc, 0, 4, 23, 0, 0, 3];
        let frame = cdp_frame(&[(1, b"CSR3"), (2, addr), (0x1b, &[0])]);
        assert!(
            line(&gretap(&frame)).ends_with(
                "CDPv2, ttl: 180s, Device-ID 'CSR3'\n\t  0x0000:  0000 0001 0101 cc00 0417 \
                 0000 03\n\t  0x0000:  00, length 34\n"
            ),
            "{}",
            line(&gretap(&frame))
        );
        let v = verbose(1);
        let text = line_with(v, &gretap(&frame));
        assert!(
            text.ends_with(
                "CDPv2, ttl: 180s, checksum: 0x9a14 (unverified), length 34\n\tDevice-ID \
                 (0x01), value length: 4 bytes: 'CSR3'\n\tAddress (0x02), value length: 13 \
                 bytes: IPv4 (1) 23.0.0.3\n\tunknown field type (0x1b), value length: 1 \
                 byte: \n\t  0x0000:  00\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn malformed_and_cut_tlvs() {
        let v = verbose(1);
        let frame = cdp_frame(&[(4, &[0, 0]), (7, &[10, 0, 0, 0, 8, 1])]);
        let text = line_with(v, &gretap(&frame));
        assert!(
            text.ends_with(
                "Capability (0x04), value length: 2 bytes:  (malformed TLV)\n\t  0x0000:  \
                 0000\n\tPrefixes \
                 (0x07), value length: 6 bytes:  [length 6 is not a multiple of 5]\n"
            ),
            "{text}"
        );
        let frame = cdp_frame(&[(5, b"a\nb"), (6, b"x")]);
        let mut d = gretap(&frame[..frame.len() - 3]);
        d.orig_len = frame.len();
        let text = line_with(v, &d);
        assert!(text.ends_with(": \n\t  a\n\t  b [|cdp]\n"), "{text}");
    }
}
