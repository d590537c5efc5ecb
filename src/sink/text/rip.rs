//! RIP (UDP port 520) as tcpdump 4.99 prints it: `RIPv2, Response, length: 24`, and
//! with `-v` the RIPv1 and RIPv2 routes and RIPv2 authentication entries (`-vv`: the
//! whole message in hex as well).
//!
//! It must never panic, read past the captured bytes, allocate, or print packet bytes
//! except as addresses, numbers, hex and tcpdump's escaped characters; every entry
//! consumes at least 4 bytes.

use std::io::{self, Write};
use std::net::Ipv4Addr;

use super::line::{Line, be16_at, be32_at, ipv4_at};

pub(super) const PORT_RIP: u16 = 520;
const HEADER: usize = 4;
const ROUTE_LEN: usize = 20;
const ENTRY_HEADER: usize = 4;
const AUTH_LEN: usize = 16;
const AF_INET: u16 = 2;

/// tcpdump's `bsd_af_values`.
fn bsd_af_name(af: u16) -> Option<&'static str> {
    Some(match af {
        2 => "IPv4",
        6 => "NS",
        7 => "ISO",
        16 => "Appletalk",
        23 => "IPX",
        24 | 28 | 30 => "IPv6",
        _ => return None,
    })
}

/// tcpdump's `mask2plen`: the prefix length, or -1 for a mask that is not one.
fn mask2plen(mask: u32) -> i32 {
    if mask.leading_ones() + mask.trailing_zeros() == 32 || mask == 0 {
        mask.leading_ones() as i32
    } else {
        -1
    }
}

impl<W: Write> Line<'_, W> {
    /// tcpdump's `rip_print`; `length` is the UDP payload length.
    pub(super) fn rip(&mut self, data: &[u8], length: usize) -> io::Result<()> {
        let data = &data[..data.len().min(length)];
        let Some(header) = data.get(..HEADER) else {
            return self.out.write_all(b" [|rip]");
        };
        let (cmd, version) = (header[0], header[1]);
        if self.verbose() {
            self.out.write_all(b"\n\t")?;
        }
        write!(self.out, "RIPv{version}")?;
        if version == 0 {
            return self.hex_words(b"\n\t", data);
        }
        let name = match cmd {
            1 => "Request",
            2 => "Response",
            3 => "Trace on",
            4 => "Trace off",
            5 => "Poll",
            6 => "Poll Entry",
            _ => "",
        };
        if name.is_empty() {
            write!(self.out, ", unknown command ({cmd}), length: {length}")?;
        } else {
            write!(self.out, ", {name}, length: {length}")?;
        }
        if !self.verbose() {
            return Ok(());
        }
        match cmd {
            1 | 2 => match version {
                1 | 2 => {
                    let more = if version == 2 { " or less" } else { "" };
                    write!(self.out, ", routes: {}{more}", length / ROUTE_LEN)?;
                    let mut entries = &data[HEADER..];
                    while !entries.is_empty() {
                        let size = if version == 1 {
                            self.rip_entry_v1(entries)?
                        } else {
                            self.rip_entry_v2(entries)?
                        };
                        if size == 0 {
                            self.out.write_all(b" [|rip]")?;
                            break;
                        }
                        if entries.len() < size {
                            write!(
                                self.out,
                                " [remaining entries length {} < {size}] (invalid)",
                                entries.len()
                            )?;
                            break;
                        }
                        entries = &entries[size..];
                    }
                }
                _ => self.out.write_all(b", unknown version")?,
            },
            4..=6 => {}
            _ if self.opts.verbose <= 1 => self.hex_words(b"\n\t", data)?,
            _ => {}
        }
        if self.opts.verbose > 1 {
            self.hex_words(b"\n\t", data)?;
        }
        Ok(())
    }

    /// tcpdump's `rip_entry_print_v1`: the entry's size, 0 when cut short.
    fn rip_entry_v1(&mut self, e: &[u8]) -> io::Result<usize> {
        let Some(e) = e.get(..ROUTE_LEN) else {
            return Ok(0);
        };
        let family = be16_at(e, 0).unwrap_or_default();
        if family != AF_INET && family != 0 {
            self.out.write_all(b"\n\t AFI ")?;
            match bsd_af_name(family) {
                Some(n) => write!(self.out, "{n}, ")?,
                None => write!(self.out, "Unknown ({family}), ")?,
            }
            self.hex_words(b"\n\t  ", &e[ENTRY_HEADER..])?;
            return Ok(ROUTE_LEN);
        }
        if be16_at(e, 2) != Some(0) || be32_at(e, 8) != Some(0) || be32_at(e, 12) != Some(0) {
            self.hex_words(b"\n\t  ", e)?;
            return Ok(ROUTE_LEN);
        }
        let dest = ipv4_at(e, 4).unwrap_or(Ipv4Addr::UNSPECIFIED);
        let metric = be32_at(e, 16).unwrap_or_default();
        if family == 0 {
            write!(self.out, "\n\t  AFI 0, {dest}, metric: {metric}")?;
        } else {
            write!(self.out, "\n\t  {dest}, metric: {metric}")?;
        }
        Ok(ROUTE_LEN)
    }

    /// tcpdump's `rip_entry_print_v2`: the entry's size, 0 when cut short.
    fn rip_entry_v2(&mut self, e: &[u8]) -> io::Result<usize> {
        let (Some(family), Some(tag)) = (be16_at(e, 0), be16_at(e, 2)) else {
            return Ok(0);
        };
        let rest = &e[ENTRY_HEADER..];
        if family == 0xFFFF {
            match tag {
                2 => {
                    self.out
                        .write_all(b"\n\t  Simple Text Authentication data: ")?;
                    for &c in rest.iter().take(AUTH_LEN).take_while(|&&c| c != 0) {
                        self.escaped_char(c)?;
                    }
                    if rest.len() < AUTH_LEN && !rest.contains(&0) {
                        return Ok(0);
                    }
                }
                3 => {
                    let Some(ch) = rest.get(..16) else {
                        return Ok(0);
                    };
                    write!(
                        self.out,
                        "\n\t  Auth header: Packet Len {}, Key-ID {}, Auth Data Len {}, \
                         SeqNo {}, MBZ {}, MBZ {}",
                        be16_at(ch, 0).unwrap_or_default(),
                        ch[2],
                        ch[3],
                        be32_at(ch, 4).unwrap_or_default(),
                        be32_at(ch, 8).unwrap_or_default(),
                        be32_at(ch, 12).unwrap_or_default()
                    )?;
                }
                1 => {
                    self.out.write_all(b"\n\t  Auth trailer:")?;
                    self.hex_words(b"\n\t  ", rest)?;
                    return Ok(e.len());
                }
                other => {
                    write!(self.out, "\n\t  Unknown ({other}) Authentication data:")?;
                    self.hex_words(b"\n\t  ", rest)?;
                    return Ok(e.len());
                }
            }
        } else if family != AF_INET && family != 0 {
            self.out.write_all(b"\n\t  AFI ")?;
            match bsd_af_name(family) {
                Some(n) => self.out.write_all(n.as_bytes())?,
                None => write!(self.out, "Unknown ({family})")?,
            }
            self.hex_words(b"\n\t  ", &rest[..rest.len().min(ROUTE_LEN - ENTRY_HEADER)])?;
        } else {
            let Some(ni) = e.get(..ROUTE_LEN) else {
                return Ok(0);
            };
            let dest = ipv4_at(ni, 4).unwrap_or(Ipv4Addr::UNSPECIFIED);
            let plen = mask2plen(be32_at(ni, 8).unwrap_or_default());
            write!(
                self.out,
                "\n\t  AFI {}, {dest:>15}/{plen:<2}, tag 0x{tag:04x}, metric: {}, next-hop: ",
                bsd_af_name(family).unwrap_or("0"),
                be32_at(ni, 16).unwrap_or_default()
            )?;
            let router = ipv4_at(ni, 12).unwrap_or(Ipv4Addr::UNSPECIFIED);
            if router.is_unspecified() {
                self.out.write_all(b"self")?;
            } else {
                write!(self.out, "{router}")?;
            }
        }
        Ok(ROUTE_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    fn rip_frame(msg: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 1)
            .udp(520, 520)
            .write(&mut frame, msg)
            .unwrap();
        frame
    }

    /// RIPv1 routes and RIPv2 authentication, as tcpdump -v prints them.
    #[test]
    fn v1_routes_and_v2_authentication() {
        let v = verbose(1);
        let mut m = vec![2, 1, 0, 0, 0, 2, 0, 0, 10, 0, 0, 0];
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&[0, 0, 0, 1]);
        let text = line_with(v, &gretap(&rip_frame(&m)));
        assert!(
            text.ends_with(
                ".520: \n\tRIPv1, Response, length: 24, routes: 1\n\t  10.0.0.0, metric: 1\n"
            ),
            "{text}"
        );
        let mut m = vec![2, 2, 0, 0, 0xff, 0xff, 0, 2];
        m.extend_from_slice(b"secret\0\0\0\0\0\0\0\0\0\0");
        m.extend_from_slice(&[0, 2, 0, 7, 192, 168, 1, 0, 255, 255, 255, 0]);
        m.extend_from_slice(&[10, 0, 0, 254, 0, 0, 0, 3]);
        let text = line_with(v, &gretap(&rip_frame(&m)));
        assert!(
            text.ends_with(
                "RIPv2, Response, length: 44, routes: 2 or less\n\t  Simple Text \
                 Authentication data: secret\n\t  AFI IPv4,     192.168.1.0/24, tag 0x0007, \
                 metric: 3, next-hop: 10.0.0.254\n"
            ),
            "{text}"
        );
        // An entry cut by the message's end.
        let text = line_with(v, &gretap(&rip_frame(&m[..30])));
        assert!(text.ends_with("secret [|rip]\n"), "{text}");
        // Version 0: the message in hex.
        let text = line(&gretap(&rip_frame(&[2, 0, 0, 0, 1])));
        assert!(text.ends_with("RIPv0\n\t0x0000:  0200 0000 01\n"), "{text}");
    }
}
