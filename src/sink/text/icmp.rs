//! ICMP for IPv4: echo, unreachable (with the quoted packet's destination), redirect,
//! time exceeded, router advertisement, timestamps, address masks.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};
use std::net::Ipv4Addr;

use etherparse::{Icmpv4Slice, Ipv4HeaderSlice};

use super::line::{IpCtx, Line, MAX_NESTING, be16_at, be32_at, checksum_should_be, ipv4_at, num};
use crate::wire::gre::internet_checksum;
impl<W: Write> Line<'_, W> {
    pub(super) fn icmp(
        &mut self,
        ctx: &IpCtx,
        data: &[u8],
        len: usize,
        depth: u8,
    ) -> io::Result<()> {
        let Ok(icmp) = Icmpv4Slice::from_slice(data) else {
            return self.trunc("icmp");
        };
        let (t, code, rest) = (icmp.type_u8(), icmp.code_u8(), icmp.bytes5to8());
        let payload = icmp.payload();
        // The IP header quoted by error messages.
        let quoted_dst = ipv4_at(payload, 16);
        let id = u16::from_be_bytes([rest[0], rest[1]]);
        let seq = u16::from_be_bytes([rest[2], rest[3]]);
        match t {
            0 | 8 => write!(
                self.out,
                "ICMP echo {}, id {id}, seq {seq}",
                if t == 8 { "request" } else { "reply" }
            )?,
            3 => {
                let Some(odst) = quoted_dst else {
                    return self.trunc("icmp");
                };
                // Port unreachable also quotes the transport ports.
                let quoted_port = Ipv4HeaderSlice::from_slice(payload).ok().and_then(|q| {
                    let port = be16_at(payload, usize::from(q.ihl()) * 4 + 2)?;
                    Some((q.protocol().0, port))
                });
                if code == 3 && quoted_port.is_none() {
                    return self.trunc("icmp");
                }
                self.out.write_all(b"ICMP ")?;
                match code {
                    0 => write!(self.out, "net {odst} unreachable")?,
                    1 => write!(self.out, "host {odst} unreachable")?,
                    2 => write!(
                        self.out,
                        "{odst} protocol {} unreachable",
                        payload.get(9).copied().unwrap_or_default()
                    )?,
                    3 => match quoted_port {
                        Some((num::IP_TCP, port)) => {
                            write!(self.out, "{odst} tcp port {port} unreachable")?
                        }
                        Some((num::IP_UDP, port)) => {
                            write!(self.out, "{odst} udp port {port} unreachable")?
                        }
                        Some((other, port)) => {
                            write!(self.out, "{odst} protocol {other} port {port} unreachable")?
                        }
                        None => {}
                    },
                    4 => {
                        let mtu = u16::from_be_bytes([rest[2], rest[3]]);
                        write!(self.out, "{odst} unreachable - need to frag")?;
                        if mtu != 0 {
                            write!(self.out, " (mtu {mtu})")?;
                        }
                    }
                    5 => write!(self.out, "{odst} unreachable - source route failed")?,
                    6 => write!(self.out, "net {odst} unreachable - unknown")?,
                    7 => write!(self.out, "host {odst} unreachable - unknown")?,
                    8 => write!(self.out, "{odst} unreachable - source host isolated")?,
                    9 => write!(self.out, "net {odst} unreachable - admin prohibited")?,
                    10 => write!(self.out, "host {odst} unreachable - admin prohibited")?,
                    11 => write!(self.out, "net {odst} unreachable - tos prohibited")?,
                    12 => write!(self.out, "host {odst} unreachable - tos prohibited")?,
                    13 => write!(
                        self.out,
                        "host {odst} unreachable - admin prohibited filter"
                    )?,
                    14 => write!(
                        self.out,
                        "host {odst} unreachable - host precedence violation"
                    )?,
                    15 => write!(self.out, "host {odst} unreachable - precedence cutoff")?,
                    other => write!(self.out, "{odst} unreachable - #{other}")?,
                }
            }
            5 => {
                let Some(odst) = quoted_dst else {
                    return self.trunc("icmp");
                };
                let gw = Ipv4Addr::from(rest);
                match code {
                    0 => write!(self.out, "ICMP redirect {odst} to net {gw}")?,
                    1 => write!(self.out, "ICMP redirect {odst} to host {gw}")?,
                    2 => write!(self.out, "ICMP redirect-tos {odst} to net {gw}")?,
                    3 => write!(self.out, "ICMP redirect-tos {odst} to host {gw}")?,
                    other => write!(self.out, "ICMP redirect-#{other} {odst} to {gw}")?,
                }
            }
            9 => self.icmp_router_advertisement(rest, payload)?,
            11 => {
                if quoted_dst.is_none() {
                    return self.trunc("icmp");
                }
                match code {
                    0 => self.out.write_all(b"ICMP time exceeded in-transit")?,
                    1 => self.out.write_all(b"ICMP ip reassembly time exceeded")?,
                    other => write!(self.out, "ICMP time exceeded-#{other}")?,
                }
            }
            12 if code != 0 => write!(self.out, "ICMP parameter problem - code {code}")?,
            12 => write!(self.out, "ICMP parameter problem - octet {}", rest[0])?,
            13 => write!(self.out, "ICMP time stamp query id {id} seq {seq}")?,
            14 => {
                let slice = icmp.slice();
                let (Some(org), Some(recv), Some(xmit)) =
                    (be32_at(slice, 8), be32_at(slice, 12), be32_at(slice, 16))
                else {
                    return self.trunc("icmp");
                };
                write!(
                    self.out,
                    "ICMP time stamp reply id {id} seq {seq}: org {}, recv {}, xmit {}",
                    IcmpTimestamp(org),
                    IcmpTimestamp(recv),
                    IcmpTimestamp(xmit)
                )?;
            }
            18 => match be32_at(payload, 0) {
                Some(mask) => write!(self.out, "ICMP address mask is {mask:#010x}")?,
                None => return self.trunc("icmp"),
            },
            4 => self.out.write_all(b"ICMP source quench")?,
            10 => self.out.write_all(b"ICMP router solicitation")?,
            15 => self.out.write_all(b"ICMP information request")?,
            16 => self.out.write_all(b"ICMP information reply")?,
            17 => self.out.write_all(b"ICMP address mask request")?,
            other => write!(self.out, "ICMP type-#{other}")?,
        }
        write!(self.out, ", length {len}")?;
        if self.verbose()
            && !ctx.fragmented
            && let Some(message) = data.get(..len)
        {
            let computed = internet_checksum(message);
            if computed != 0 {
                let sent = icmp.checksum();
                write!(
                    self.out,
                    " (wrong icmp cksum {sent:x} (->{:x})!)",
                    checksum_should_be(sent, computed)
                )?;
            }
        }
        // tcpdump -v prints the packet an error quotes, as far as it was captured.
        if self.verbose() && matches!(t, 3 | 4 | 5 | 11 | 12) && depth < MAX_NESTING {
            let Some(quoted_len) = be16_at(payload, 2) else {
                return self.out.write_all(b" [|icmp]");
            };
            let quoted_len = usize::from(quoted_len);
            self.out.write_all(b"\n\t")?;
            let quoted = payload.get(..quoted_len).unwrap_or(payload);
            self.ipv4(quoted, quoted_len, depth + 1)?;
        }
        Ok(())
    }

    /// `ICMP router advertisement lifetime 30:00 2: {10.0.0.1 0} {10.0.0.2 0}`.
    pub(super) fn icmp_router_advertisement(
        &mut self,
        rest: [u8; 4],
        payload: &[u8],
    ) -> io::Result<()> {
        let (count, entry_size) = (rest[0], rest[1]);
        let lifetime = u16::from_be_bytes([rest[2], rest[3]]);
        if entry_size == 2 && payload.len() < usize::from(count) * 8 {
            return self.trunc("icmp");
        }
        self.out.write_all(b"ICMP router advertisement lifetime ")?;
        match lifetime {
            0..60 => write!(self.out, "{lifetime}")?,
            60..3600 => write!(self.out, "{}:{:02}", lifetime / 60, lifetime % 60)?,
            _ => write!(
                self.out,
                "{}:{:02}:{:02}",
                lifetime / 3600,
                lifetime % 3600 / 60,
                lifetime % 60
            )?,
        }
        write!(self.out, " {count}:")?;
        if entry_size != 2 {
            return write!(self.out, " [size {entry_size}]");
        }
        for entry in payload.chunks_exact(8).take(usize::from(count)) {
            let addr = Ipv4Addr::new(entry[0], entry[1], entry[2], entry[3]);
            let pref = u32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]]);
            write!(self.out, " {{{addr} {pref}}}")?;
        }
        Ok(())
    }
}

/// An ICMP timestamp (ms since midnight UT) as tcpdump prints it.
pub(super) struct IcmpTimestamp(u32);

impl core::fmt::Display for IcmpTimestamp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ms = self.0;
        let secs = ms / 1000;
        write!(
            f,
            "{:02}:{:02}:{:02}.{:03}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            ms % 1000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    #[test]
    fn icmp_errors_quote_the_original_packet() {
        // The quoted datagram: UDP 10.0.0.1:5353 > 10.0.0.2:53 (IP header + 8 bytes).
        let udp = [0x14, 0xe9, 0, 53, 0, 30, 0, 0];
        let quoted = ipv4_frame(17, 0, &udp)[14..].to_vec();
        let icmp = |t: u8, code: u8, rest: [u8; 4], quoted: &[u8]| {
            let mut m = vec![t, code, 0, 0];
            m.extend_from_slice(&rest);
            m.extend_from_slice(quoted);
            ipv4_frame(1, 0, &m)
        };
        let frame = icmp(3, 3, [0; 4], &quoted);
        assert_eq!(
            line(&gretap(&frame)),
            "1700000000.123456 gre: IP 10.0.0.1 > 10.0.0.2: ICMP 10.0.0.2 udp port 53 \
             unreachable, length 36\n"
        );
        // tcpdump -v adds the quoted datagram on continuation lines.
        let v = verbose(1);
        let text = line_with(v, &gretap(&frame));
        assert!(
            text.contains("length 36 (wrong icmp cksum 0 (->")
                && text.contains(
                    ")!)\n\tIP (tos 0x0, ttl 64, id 1, offset 0, flags [none], proto \
                     UDP (17), length 28)\n    10.0.0.1.5353 > 10.0.0.2.53: "
                ),
            "{text}"
        );
        let frame = icmp(3, 4, [0, 0, 0x05, 0xdc], &quoted);
        assert_eq!(
            line(&gretap(&frame)),
            "1700000000.123456 gre: IP 10.0.0.1 > 10.0.0.2: ICMP 10.0.0.2 unreachable - need \
             to frag (mtu 1500), length 36\n"
        );
        let frame = icmp(11, 0, [0; 4], &quoted);
        assert_eq!(
            line(&gretap(&frame)),
            "1700000000.123456 gre: IP 10.0.0.1 > 10.0.0.2: ICMP time exceeded in-transit, \
             length 36\n"
        );
        // The quote is cut before the ports: tcpdump prints only the marker.
        let frame = icmp(3, 3, [0; 4], &quoted[..22]);
        assert_eq!(
            line(&gretap(&frame)),
            "1700000000.123456 gre: IP 10.0.0.1 > 10.0.0.2: [|icmp]\n"
        );
    }
}
