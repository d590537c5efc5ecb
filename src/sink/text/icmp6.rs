//! ICMPv6: errors, echo, neighbour discovery, router solicitation / advertisement,
//! redirect and MLD, with the `-v` checksum verdict.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv6Addr};

use etherparse::{IcmpEchoHeader, Icmpv6Slice, Icmpv6Type, Ipv6HeaderSlice};

use super::line::{BitNames, IpCtx, Line, Mac, be16_at, be32_at, field, ipv6_at, num};
impl<W: Write> Line<'_, W> {
    pub(super) fn icmp6(&mut self, ctx: &IpCtx, data: &[u8], len: usize) -> io::Result<()> {
        const NA_FLAGS: [(u32, &str); 3] =
            [(0x80, "router"), (0x40, "solicited"), (0x20, "override")];
        if len == 0 {
            return self.out.write_all(b"ICMP6, length 0 (invalid)");
        }
        let Ok(icmp) = Icmpv6Slice::from_slice(data) else {
            return self.trunc("icmp6");
        };
        if self.verbose() && !ctx.fragmented {
            self.icmp6_checksum(ctx, data, len)?;
        }
        let (t, code, rest) = (icmp.type_u8(), icmp.code_u8(), icmp.bytes5to8());
        let payload = icmp.payload();
        let name = match t {
            1 => "destination unreachable",
            2 => "packet too big",
            3 => "time exceeded in-transit",
            4 => "parameter problem",
            128 => "echo request",
            129 => "echo reply",
            130 => "multicast listener query",
            131 => "multicast listener report",
            132 => "multicast listener done",
            133 => "router solicitation",
            134 => "router advertisement",
            135 => "neighbor solicitation",
            136 => "neighbor advertisement",
            137 => "redirect",
            138 => "router renumbering",
            141 => "inverse neighbor solicitation",
            142 => "inverse neighbor advertisement",
            143 => "multicast listener report v2",
            144 => "ha discovery request",
            145 => "ha discovery reply",
            146 => "mobile router solicitation",
            147 => "mobile router advertisement",
            139 => "node information query",
            140 => "node information reply",
            200 => "mtrace response",
            201 => "mtrace message",
            155 => "RPL",
            _ => "",
        };
        // Everything the type-specific part needs, checked before anything is printed.
        let quoted = Ipv6HeaderSlice::from_slice(payload).ok();
        let target = ipv6_at(payload, 0);
        let needs = match t {
            1 => quoted.is_some() && (code != 4 || be16_at(payload, 42).is_some()),
            3 if code == 0 => quoted.is_some(),
            130 | 131 | 132 | 135 | 136 => target.is_some(),
            137 => ipv6_at(payload, 16).is_some(),
            _ => true,
        };
        if !needs {
            return self.trunc("icmp6");
        }
        if name.is_empty() {
            write!(self.out, "ICMP6, unknown icmp6 type ({t})")?;
        } else {
            write!(self.out, "ICMP6, {name}")?;
        }
        if self.verbose() && matches!(t, 133..=137 | 145 | 147) {
            write!(self.out, ", length {len}")?;
        }
        match t {
            1 => {
                match code {
                    0 => self.out.write_all(b", unreachable route")?,
                    1 => self.out.write_all(b", unreachable prohibited")?,
                    2 => self.out.write_all(b", beyond scope")?,
                    3 => self.out.write_all(b", unreachable address")?,
                    4 => self.out.write_all(b", unreachable port")?,
                    other => write!(self.out, ", unknown unreach code ({other})")?,
                }
                if let Some(q) = &quoted {
                    let odst = q.destination_addr();
                    match code {
                        0 | 1 | 3 => write!(self.out, " {odst}")?,
                        2 => write!(self.out, " {odst}, source address {}", q.source_addr())?,
                        4 => {
                            let port =
                                be16_at(payload, field::IPV6_HEADER_LEN + 2).unwrap_or_default();
                            match q.next_header().0 {
                                num::IP_TCP => write!(self.out, ", {odst} tcp port {port}")?,
                                num::IP_UDP => write!(self.out, ", {odst} udp port {port}")?,
                                other => write!(
                                    self.out,
                                    ", {odst} protocol {other} port {port} unreachable"
                                )?,
                            }
                        }
                        _ => {}
                    }
                }
            }
            2 => write!(self.out, ", mtu {}", u32::from_be_bytes(rest))?,
            3 => match code {
                0 => {
                    if let Some(q) = &quoted {
                        write!(self.out, " for {}", q.destination_addr())?;
                    }
                }
                1 => self.out.write_all(b" (reassembly)")?,
                other => write!(self.out, ", unknown code ({other})")?,
            },
            4 => {
                let octet = u32::from_be_bytes(rest);
                match code {
                    0 => write!(self.out, ", erroneous - octet {octet}")?,
                    1 => write!(self.out, ", next header - octet {octet}")?,
                    2 => write!(self.out, ", option - octet {octet}")?,
                    3 => write!(self.out, ", incomplete header chain - octet {octet}")?,
                    other => write!(self.out, ", code-#{other}")?,
                }
            }
            128 | 129 => {
                if let Icmpv6Type::EchoRequest(IcmpEchoHeader { id, seq })
                | Icmpv6Type::EchoReply(IcmpEchoHeader { id, seq }) = icmp.icmp_type()
                {
                    write!(self.out, ", id {id}, seq {seq}")?;
                }
            }
            130 if len >= 28 => {
                write!(
                    self.out,
                    " v2 [gaddr {}",
                    target.unwrap_or(Ipv6Addr::UNSPECIFIED)
                )?;
                let sources = be16_at(payload, 18).unwrap_or_default();
                if sources > 0 {
                    write!(self.out, ", {sources} source(s)")?;
                }
                self.out.write_all(b"]")?;
            }
            130 if len != 24 => write!(self.out, " unknown-version (len {len}) ")?,
            130..=132 => write!(
                self.out,
                " max resp delay: {} addr: {}",
                u16::from_be_bytes([rest[0], rest[1]]),
                target.unwrap_or(Ipv6Addr::UNSPECIFIED)
            )?,
            135 => write!(
                self.out,
                ", who has {}",
                target.unwrap_or(Ipv6Addr::UNSPECIFIED)
            )?,
            136 => {
                write!(
                    self.out,
                    ", tgt is {}",
                    target.unwrap_or(Ipv6Addr::UNSPECIFIED)
                )?;
                if self.verbose() {
                    let flags = BitNames {
                        bits: u32::from(rest[0]),
                        names: &NA_FLAGS,
                    };
                    write!(self.out, ", Flags [{flags}]")?;
                }
            }
            137 => write!(
                self.out,
                ", {} to {}",
                ipv6_at(payload, 16).unwrap_or(Ipv6Addr::UNSPECIFIED),
                target.unwrap_or(Ipv6Addr::UNSPECIFIED)
            )?,
            143 => write!(
                self.out,
                ", {} group record(s)",
                u16::from_be_bytes([rest[2], rest[3]])
            )?,
            144 | 146 => write!(
                self.out,
                ", id {:#06x}",
                u16::from_be_bytes([rest[0], rest[1]])
            )?,
            _ if name.is_empty() => return write!(self.out, ", length {len}"),
            _ => {}
        }
        if !self.verbose() {
            write!(self.out, ", length {len}")?;
            return Ok(());
        }
        // tcpdump -v: the neighbour-discovery options, one per line.
        let message = data.get(..len).unwrap_or(data);
        if t == 134 {
            const RA_FLAGS: [(u32, &str); 4] = [
                (0x40, "other stateful"),
                (0x80, "managed"),
                (0x20, "home agent"),
                (0x04, "proxy"),
            ];
            let (Some(lifetime), Some(reachable), Some(retrans)) = (
                be16_at(message, 6),
                be32_at(message, 8),
                be32_at(message, 12),
            ) else {
                return self.out.write_all(b" [|icmp6]");
            };
            let pref = ["medium", "high", "rsv", "low"][usize::from(rest[1] & 0x18) >> 3];
            write!(
                self.out,
                "\n\thop limit {}, Flags [{}], pref {pref}, router lifetime {lifetime}s, \
                 reachable time {reachable}ms, retrans timer {retrans}ms",
                rest[0],
                BitNames {
                    bits: u32::from(rest[1]),
                    names: &RA_FLAGS
                }
            )?;
        }
        let options_at = match t {
            133 => 8,
            134 => 16,
            135 | 136 => 24,
            137 => 40,
            _ => return Ok(()),
        };
        if !self.nd_options(message, options_at, len)? {
            self.out.write_all(b" [|icmp6]")?;
        }
        Ok(())
    }

    /// tcpdump's `icmp6_opt_print`; false where it gives up (`goto trunc`).
    fn nd_options(&mut self, msg: &[u8], mut at: usize, len: usize) -> io::Result<bool> {
        let mut resid = len as isize - at as isize;
        while at < msg.len() {
            let (Some(&kind), Some(&units)) = (msg.get(at), msg.get(at + 1)) else {
                return Ok(false);
            };
            if resid <= 0 {
                return Ok(true);
            }
            let opt_len = usize::from(units) * 8;
            if units == 0 || at + opt_len > msg.len() {
                return Ok(false);
            }
            let name = match kind {
                1 => "source link-address",
                2 => "destination link-address",
                3 => "prefix info",
                4 => "redirected header",
                5 => "mtu",
                7 => "advertisement interval",
                8 => "homeagent information",
                24 => "route info",
                25 => "rdnss",
                31 => "dnssl",
                _ => "unknown",
            };
            write!(
                self.out,
                "\n\t  {name} option ({kind}), length {opt_len} ({units}): "
            )?;
            let body = &msg[at + 2..at + opt_len];
            match kind {
                1 | 2 => write!(self.out, "{}", Mac(body))?,
                3 => {
                    const PI_FLAGS: [(u32, &str); 3] =
                        [(0x80, "onlink"), (0x40, "auto"), (0x20, "router")];
                    let (Some(prefix), Some(valid), Some(preferred)) =
                        (ipv6_at(body, 14), be32_at(body, 2), be32_at(body, 6))
                    else {
                        return Ok(false);
                    };
                    let lifetime = |v: u32| match v {
                        u32::MAX => Lifetime::Infinity,
                        v => Lifetime::Secs(v),
                    };
                    write!(
                        self.out,
                        "{prefix}/{}{}, Flags [{}], valid time {}, pref. time {}",
                        body[0],
                        if units != 4 { "badlen" } else { "" },
                        BitNames {
                            bits: u32::from(body[1]),
                            names: &PI_FLAGS
                        },
                        lifetime(valid),
                        lifetime(preferred)
                    )?;
                }
                5 => match be32_at(body, 2) {
                    Some(mtu) => write!(
                        self.out,
                        " {mtu}{}",
                        if units != 1 { "bad option length" } else { "" }
                    )?,
                    None => return Ok(false),
                },
                _ if self.opts.verbose <= 1 => {
                    self.hex_words(b"\n\t  ", body)?;
                    return Ok(true);
                }
                _ => {}
            }
            if self.opts.verbose > 1 {
                self.hex_words(b"\n\t    ", body)?;
            }
            at += opt_len;
            resid -= opt_len as isize;
        }
        Ok(true)
    }

    /// `[icmp6 sum ok] ` when the whole message was captured.
    pub(super) fn icmp6_checksum(
        &mut self,
        ctx: &IpCtx,
        data: &[u8],
        len: usize,
    ) -> io::Result<()> {
        let (IpAddr::V6(src), IpAddr::V6(dst)) = (ctx.src, ctx.dst) else {
            return Ok(());
        };
        let Some(Ok(message)) = data.get(..len).map(Icmpv6Slice::from_slice) else {
            return Ok(());
        };
        let (src, dst) = (src.octets(), dst.octets());
        if message.is_checksum_valid(src, dst) {
            return self.out.write_all(b"[icmp6 sum ok] ");
        }
        match message
            .icmp_type()
            .calc_checksum(src, dst, message.payload())
        {
            Ok(c) => write!(
                self.out,
                "[bad icmp6 cksum {:#06x} -> {c:#06x}!] ",
                message.checksum()
            ),
            Err(_) => Ok(()),
        }
    }
}

/// tcpdump's `get_lifetime`.
enum Lifetime {
    Infinity,
    Secs(u32),
}

impl core::fmt::Display for Lifetime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Lifetime::Infinity => f.write_str("infinity"),
            Lifetime::Secs(s) => write!(f, "{s}s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    #[test]
    fn raw_ipv6_icmpv6_echo() {
        let packet = icmp6_echo();
        let mut g = gre(None);
        g.protocol = GreProto::IPV6;
        let d = decap(Encap::Gre, g, PayloadKind::Ipv6, &packet);
        assert_eq!(
            line(&d),
            "1700000000.123456 gre: IP6 2001:db8::1 > 2001:db8::2: ICMP6, echo request, \
             id 1, seq 1, length 64\n"
        );
        // tcpdump -v checks the checksum and, for echo, drops the length.
        let v = verbose(1);
        assert_eq!(
            line_with(v, &d),
            "1700000000.123456 gre (198.51.100.1 > 198.51.100.2, proto 0x86dd): IP6 (hlim 64, \
             next-header ICMPv6 (58) payload length: 64) 2001:db8::1 > 2001:db8::2: \
             [icmp6 sum ok] ICMP6, echo request, id 1, seq 1\n"
        );
    }

    #[test]
    fn icmpv6_neighbor_discovery_by_name() {
        // A neighbor solicitation for 2001:db8::2 with a source link-layer address option.
        let mut body = IP6_B.to_vec();
        body.extend_from_slice(&[1, 1, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        let mut packet = Vec::new();
        PacketBuilder::ipv6(IP6_A, IP6_B, 255)
            .icmpv6(Icmpv6Type::NeighborSolicitation)
            .write(&mut packet, &body)
            .unwrap();
        let d = decap(Encap::ErspanI, gre(None), PayloadKind::Ipv6, &packet);
        assert_eq!(
            line(&d),
            "1700000000.123456 erspan-i: IP6 2001:db8::1 > 2001:db8::2: ICMP6, neighbor \
             solicitation, who has 2001:db8::2, length 32\n"
        );
        // tcpdump -v lists the options on their own lines.
        let v = verbose(1);
        assert!(line_with(v, &d).ends_with(
            "ICMP6, neighbor solicitation, length 32, who has 2001:db8::2\n\t  source \
             link-address option (1), length 8 (1): aa:bb:cc:dd:ee:ff\n"
        ));
        let mut packet = Vec::new();
        PacketBuilder::ipv6(IP6_A, IP6_B, 255)
            .icmpv6(Icmpv6Type::RouterSolicitation)
            .write(&mut packet, &[])
            .unwrap();
        let d = decap(Encap::ErspanI, gre(None), PayloadKind::Ipv6, &packet);
        assert_eq!(
            line(&d),
            "1700000000.123456 erspan-i: IP6 2001:db8::1 > 2001:db8::2: ICMP6, router \
             solicitation, length 8\n"
        );
    }
}
