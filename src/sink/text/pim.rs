//! PIM (IP protocol 103) as tcpdump 4.99 prints it: `PIMv2, Hello, length 38`, and
//! with `-v` the checksum verdict and the message (`-vv`: each Hello option's bytes in
//! hex as well).
//!
//! Decoded with `-v` as tcpdump does: Hello (with `-vv` its address list), Register-Stop,
//! Join/Prune, Graft, Graft-Ack, Assert and Candidate-RP-Advertisement. Not decoded (their
//! header and checksum are): Register, Bootstrap, Prune Refresh and DF Election.
//!
//! It must never panic, read past the captured bytes, allocate, or print packet bytes
//! except as numbers, addresses and hex; each Hello option consumes at least 4 bytes and
//! each encoded address at least 4, so no count in a message outruns it.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::line::{IpCtx, Line, be16_at, be32_at, num};
use super::routing::pim_type_name;
use super::udpapp::RelTime;

/// What an encoded address holds (tcpdump's `pimv2_addrtype`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum AddrKind {
    Unicast,
    Group,
    Source,
}

fn hello_option_name(t: u16) -> &'static str {
    match t {
        1 => "Hold Time",
        2 => "LAN Prune Delay",
        18 => "DR Priority (Old)",
        19 => "DR Priority",
        20 => "Generation ID",
        21 => "State Refresh Capability",
        22 => "Bi-Directional Capability",
        24 => "Address List",
        65001 => "Address List (Old)",
        _ => "Unknown",
    }
}

/// The one's complement sum of `parts` (each of even length but the last), folded
/// and complemented: 0 for a packet whose checksum is right.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for part in parts {
        for pair in part.chunks(2) {
            let hi = u64::from(pair[0]) << 8;
            sum += hi | pair.get(1).map_or(0, |&b| u64::from(b));
        }
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

impl<W: Write> Line<'_, W> {
    /// tcpdump's `pim_print`; `len` is PIM's length per the IP header.
    pub(super) fn pim(&mut self, ctx: &IpCtx, data: &[u8], len: usize) -> io::Result<()> {
        let Some(&typever) = data.first() else {
            return self.trunc("pim");
        };
        let (version, kind) = (typever >> 4, typever & 0x0F);
        if version != 2 {
            return write!(self.out, "PIMv{version}, length {len}");
        }
        if !self.verbose() {
            return write!(self.out, "PIMv2, {}, length {len}", pim_type_name(kind));
        }
        write!(self.out, "PIMv2, length {len}\n\t{}", pim_type_name(kind))?;
        if len < 2 {
            return write!(self.out, "[length {len} < 2] (invalid)");
        }
        let Some(&rsv) = data.get(1) else {
            return self.out.write_all(b" [|pimv2]");
        };
        if rsv & 0x0f != 0 {
            self.out.write_all(b", RFC2117-encoding")?;
        }
        if len < 4 {
            return write!(self.out, "[length {len} < 4] (invalid)");
        }
        let Some(cksum) = be16_at(data, 2) else {
            return self.out.write_all(b" [|pimv2]");
        };
        write!(self.out, ", cksum 0x{cksum:04x} ")?;
        let verdict = match (cksum, data.get(..len)) {
            (0, _) | (_, None) => "(unverified)",
            (_, Some(msg)) => {
                // A Register's checksum may cover only its 8-byte header.
                let covers = |n: usize| -> bool {
                    let part = &msg[..n.min(msg.len())];
                    match (ctx.src, ctx.dst) {
                        (IpAddr::V4(_), _) => checksum(&[part]) == 0,
                        (IpAddr::V6(s), IpAddr::V6(d)) => {
                            let length = (n as u32).to_be_bytes();
                            let next = [0, 0, 0, num::IP_PIM];
                            checksum(&[&s.octets(), &d.octets(), &length, &next, part]) == 0
                        }
                        _ => false,
                    }
                };
                if covers(len) || (kind == 1 && len >= 8 && covers(8)) {
                    "(correct)"
                } else {
                    "(incorrect)"
                }
            }
        };
        self.out.write_all(verdict.as_bytes())?;
        let body = data.get(4..data.len().min(len)).unwrap_or_default();
        let addr_len = rsv & 0x0f;
        let done = match kind {
            0 => return self.pim_hello(body, len - 4, addr_len),
            2 => self.pim_register_stop(body, addr_len)?,
            3 | 6 | 7 => self.pim_join_prune(body, kind, addr_len)?,
            5 => self.pim_assert(body, addr_len)?,
            8 => self.pim_candidate_rp(body, len - 4, addr_len)?,
            _ => true,
        };
        if !done {
            self.out.write_all(b" [|pimv2]")?;
        }
        Ok(())
    }

    /// tcpdump's `pimv2_addr_print` for the encoded address at `at` of `body` (the
    /// message after its header, as captured): its size, or `None` when it is cut short
    /// or of an unknown family.
    fn pim_addr(
        &mut self,
        body: &[u8],
        at: usize,
        kind: AddrKind,
        addr_len: u8,
    ) -> io::Result<Option<usize>> {
        let b = body.get(at..).unwrap_or_default();
        let (v6, hdr) = match addr_len {
            0 => match b {
                [1, 0, ..] => (false, 2),
                [2, 0, ..] => (true, 2),
                _ => return Ok(None),
            },
            4 => (false, 0),
            16 => (true, 0),
            _ => return Ok(None),
        };
        let n = if v6 { 16 } else { 4 };
        let b = &b[hdr..];
        match kind {
            AddrKind::Unicast => {
                let Some(a) = b.get(..n) else {
                    return Ok(None);
                };
                self.pim_ip(a)?;
                Ok(Some(hdr + n))
            }
            AddrKind::Group | AddrKind::Source => {
                let Some(a) = b.get(..n + 2) else {
                    return Ok(None);
                };
                self.pim_ip(&a[2..])?;
                let full = if v6 { 128 } else { 32 };
                if a[1] != full {
                    write!(self.out, "/{}", a[1])?;
                }
                let flags = a[0];
                if flags != 0 {
                    if kind == AddrKind::Group {
                        write!(self.out, "(0x{flags:02x})")?;
                    } else {
                        self.out.write_all(b"(")?;
                        for (bit, c) in [(4, b"S"), (2, b"W"), (1, b"R")] {
                            if flags & bit != 0 {
                                self.out.write_all(c)?;
                            }
                        }
                        if flags & 0xf8 != 0 {
                            write!(self.out, "+0x{:02x}", flags & 0xf8)?;
                        }
                        self.out.write_all(b")")?;
                    }
                }
                Ok(Some(hdr + 2 + n))
            }
        }
    }

    fn pim_ip(&mut self, a: &[u8]) -> io::Result<()> {
        match a.len() {
            4 => write!(self.out, "{}", Ipv4Addr::new(a[0], a[1], a[2], a[3])),
            _ => {
                let mut o = [0u8; 16];
                o.copy_from_slice(&a[..16]);
                write!(self.out, "{}", Ipv6Addr::from(o))
            }
        }
    }

    /// Register-Stop: ` group=G source=S`; false when cut short.
    fn pim_register_stop(&mut self, body: &[u8], addr_len: u8) -> io::Result<bool> {
        self.out.write_all(b" group=")?;
        let Some(g) = self.pim_addr(body, 0, AddrKind::Group, addr_len)? else {
            return Ok(false);
        };
        self.out.write_all(b" source=")?;
        Ok(self
            .pim_addr(body, g, AddrKind::Unicast, addr_len)?
            .is_some())
    }

    /// Assert: ` group=G src=S [RPT] pref=P metric=M`; false when cut short.
    fn pim_assert(&mut self, body: &[u8], addr_len: u8) -> io::Result<bool> {
        self.out.write_all(b" group=")?;
        let Some(g) = self.pim_addr(body, 0, AddrKind::Group, addr_len)? else {
            return Ok(false);
        };
        self.out.write_all(b" src=")?;
        let Some(s) = self.pim_addr(body, g, AddrKind::Unicast, addr_len)? else {
            return Ok(false);
        };
        let (Some(pref), Some(metric)) = (be32_at(body, g + s), be32_at(body, g + s + 4)) else {
            return Ok(false);
        };
        if pref & 0x8000_0000 != 0 {
            self.out.write_all(b" RPT")?;
        }
        write!(self.out, " pref={} metric={metric}", pref & 0x7fff_ffff)?;
        Ok(true)
    }

    /// Candidate-RP-Advertisement: counts, the RP, then up to prefix-cnt groups while
    /// the message (`len` bytes after the header) lasts; false when cut short.
    fn pim_candidate_rp(&mut self, body: &[u8], len: usize, addr_len: u8) -> io::Result<bool> {
        let (Some(&count), true) = (body.first(), len >= 1) else {
            return Ok(false);
        };
        write!(self.out, " prefix-cnt={count}")?;
        let (Some(&prio), true) = (body.get(1), len >= 2) else {
            return Ok(false);
        };
        write!(self.out, " prio={prio}")?;
        let (Some(hold), true) = (be16_at(body, 2), len >= 4) else {
            return Ok(false);
        };
        write!(self.out, " holdtime={} RP=", RelTime(u32::from(hold)))?;
        let Some(n) = self.pim_addr(body, 4, AddrKind::Unicast, addr_len)? else {
            return Ok(false);
        };
        let mut at = 4 + n;
        for i in 0..count {
            if at >= len {
                break;
            }
            write!(self.out, " Group{i}=")?;
            let Some(n) = self.pim_addr(body, at, AddrKind::Group, addr_len)? else {
                return Ok(false);
            };
            at += n;
        }
        Ok(true)
    }

    /// Join/Prune, Graft and Graft-Ack: the upstream neighbor, then every group
    /// with its joined and pruned sources; false when cut short. Every source
    /// printed consumes at least 6 bytes, so the counts cannot outrun the message.
    fn pim_join_prune(&mut self, body: &[u8], kind: u8, addr_len: u8) -> io::Result<bool> {
        let mut at = 0;
        if kind != 7 {
            self.out.write_all(b", upstream-neighbor: ")?;
            let Some(n) = self.pim_addr(body, at, AddrKind::Unicast, addr_len)? else {
                return Ok(false);
            };
            at += n;
        }
        let Some(h) = body.get(at..at + 4) else {
            return Ok(false);
        };
        let (groups, holdtime) = (h[1], u16::from_be_bytes([h[2], h[3]]));
        write!(self.out, "\n\t  {groups} group(s)")?;
        if kind != 7 {
            self.out.write_all(b", holdtime: ")?;
            if holdtime == 0xffff {
                self.out.write_all(b"infinite")?;
            } else {
                write!(self.out, "{}", RelTime(u32::from(holdtime)))?;
            }
        }
        at += 4;
        for i in 1..=u32::from(groups) {
            write!(self.out, "\n\t    group #{i}: ")?;
            let Some(n) = self.pim_addr(body, at, AddrKind::Group, addr_len)? else {
                return Ok(false);
            };
            at += n;
            let (Some(joined), Some(pruned)) = (be16_at(body, at), be16_at(body, at + 2)) else {
                return Ok(false);
            };
            write!(
                self.out,
                ", joined sources: {joined}, pruned sources: {pruned}"
            )?;
            at += 4;
            for (label, count) in [("joined", joined), ("pruned", pruned)] {
                for j in 1..=u32::from(count) {
                    write!(self.out, "\n\t      {label} source #{j}: ")?;
                    let Some(n) = self.pim_addr(body, at, AddrKind::Source, addr_len)? else {
                        return Ok(false);
                    };
                    at += n;
                }
            }
        }
        Ok(true)
    }

    /// The options of a PIMv2 Hello (tcpdump's `pimv2_print`, type Hello).
    fn pim_hello(&mut self, mut data: &[u8], mut len: usize, addr_len: u8) -> io::Result<()> {
        while len > 0 {
            if len < 4 {
                return self.out.write_all(b" [|pimv2]");
            }
            let (Some(t), Some(olen)) = (be16_at(data, 0), be16_at(data, 2)) else {
                return self.out.write_all(b" [|pimv2]");
            };
            write!(
                self.out,
                "\n\t  {} Option ({t}), length {olen}, Value: ",
                hello_option_name(t)
            )?;
            let olen = usize::from(olen);
            len -= 4;
            if len < olen {
                return self.out.write_all(b" [|pimv2]");
            }
            let Some(v) = data.get(4..4 + olen) else {
                return self.out.write_all(b" [|pimv2]");
            };
            let wrong = |want: usize| -> Option<usize> { (olen != want).then_some(want) };
            let bad = match t {
                1 => wrong(2),
                2 | 20 | 21 => wrong(4),
                18 | 19 if olen != 0 => wrong(4),
                _ => None,
            };
            if let Some(want) = bad {
                return write!(self.out, "[option length {olen} != {want}] (invalid)");
            }
            let u32_at = |at: usize| be32_at(v, at).unwrap_or_default();
            match t {
                1 => write!(
                    self.out,
                    "{}",
                    RelTime(u32::from(be16_at(v, 0).unwrap_or_default()))
                )?,
                2 => {
                    let delay = be16_at(v, 0).unwrap_or_default();
                    write!(
                        self.out,
                        "\n\t    T-bit={}, LAN delay {}ms, Override interval {}ms",
                        delay >> 15,
                        delay & 0x7fff,
                        be16_at(v, 2).unwrap_or_default()
                    )?;
                }
                18 | 19 if olen == 0 => self.out.write_all(b"Bi-Directional Capability (Old)")?,
                18 | 19 => write!(self.out, "{}", u32_at(0))?,
                20 => write!(self.out, "0x{:08x}", u32_at(0))?,
                21 => {
                    write!(self.out, "v{}", v[0])?;
                    if v[1] != 0 {
                        write!(self.out, ", interval {}", RelTime(u32::from(v[1])))?;
                    }
                    let rest = be16_at(v, 2).unwrap_or_default();
                    if rest != 0 {
                        write!(self.out, " ?0x{rest:04x}?")?;
                    }
                }
                24 | 65001 if self.opts.verbose > 1 => {
                    // The addresses, each read from the rest of the message.
                    let mut at = 4;
                    while at < 4 + olen {
                        self.out.write_all(b"\n\t    ")?;
                        match self.pim_addr(data, at, AddrKind::Unicast, addr_len)? {
                            Some(n) => at += n,
                            None => return self.out.write_all(b" [|pimv2]"),
                        }
                    }
                }
                22 | 24 | 65001 => {}
                _ if self.opts.verbose <= 1 => self.hex_words(b"\n\t    ", v)?,
                _ => {}
            }
            if self.opts.verbose > 1 {
                self.hex_words(b"\n\t    ", v)?;
            }
            data = &data[4 + olen..];
            len -= olen;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    /// tcpdump-erspan-type-ii-1.pcap frame 1: a PIMv2 Hello from a Cisco router.
    fn hello_frame() -> Vec<u8> {
        let pim = hex(
            "2000c53000010002006900140004 2c6ceec0 0013000400000001 0015000401000000 fdec0000"
                .replace(' ', "")
                .as_str(),
        );
        let mut ip = vec![0x45, 0xc0, 0, 0, 0x5b, 0xf4, 0, 0, 1, 103, 0, 0];
        ip.extend_from_slice(&[10, 48, 6, 1, 224, 0, 0, 13]);
        let total = (ip.len() + pim.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let sum = internet_checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&pim);
        let mut frame = vec![0x01, 0x00, 0x5e, 0, 0, 0x0d];
        frame.extend_from_slice(&MAC_A);
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&ip);
        frame
    }

    /// A Join/Prune with a joined and a pruned source, as tcpdump -v prints it.
    #[test]
    fn join_prune_groups_and_sources() {
        let mut pim = vec![0x23, 0, 0, 0, 1, 0, 10, 0, 0, 2, 0, 1, 0, 210];
        pim.extend_from_slice(&[1, 0, 0, 32, 239, 1, 1, 1, 0, 1, 0, 1]);
        pim.extend_from_slice(&[1, 0, 4, 32, 10, 1, 1, 1, 1, 0, 7, 24, 10, 2, 2, 2]);
        let sum = internet_checksum(&pim);
        pim[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([10, 0, 0, 1], [224, 0, 0, 13], 1)
            .write(&mut frame, 103.into(), &pim)
            .unwrap();
        let v = verbose(1);
        let text = line_with(v, &gretap(&frame));
        assert!(
            text.ends_with(
                "PIMv2, length 42\n\tJoin / Prune, cksum 0x{:04x} (correct), \
                 upstream-neighbor: 10.0.0.2\n\t  1 group(s), holdtime: 3m30s\n\t    group \
                 #1: 239.1.1.1, joined sources: 1, pruned sources: 1\n\t      joined source \
                 #1: 10.1.1.1(S)\n\t      pruned source #1: 10.2.2.2/24(SWR)\n"
                    .replace("{:04x}", &format!("{sum:04x}"))
                    .as_str()
            ),
            "{text}"
        );
        // Cut inside the pruned source.
        let mut d = gretap(&frame[..frame.len() - 3]);
        d.orig_len = frame.len();
        let text = line_with(v, &d);
        assert!(text.ends_with("pruned source #1:  [|pimv2]\n"), "{text}");
    }

    #[test]
    fn hello_options() {
        let frame = hello_frame();
        assert!(line(&gretap(&frame)).ends_with(": PIMv2, Hello, length 38\n"));
        let v = verbose(1);
        let text = line_with(v, &gretap(&frame));
        assert!(
            text.ends_with(
                "10.48.6.1 > 224.0.0.13: PIMv2, length 38\n\tHello, cksum 0xc530 \
                 (correct)\n\t  Hold Time Option (1), length 2, Value: 1m45s\n\t  \
                 Generation ID Option (20), length 4, Value: 0x2c6ceec0\n\t  DR Priority \
                 Option (19), length 4, Value: 1\n\t  State Refresh Capability Option (21), \
                 length 4, Value: v1\n\t  Unknown Option (65004), length 0, Value: \n"
            ),
            "{text}"
        );
        let vv = verbose(2);
        let text = line_with(vv, &gretap(&frame));
        assert!(
            text.contains("Value: 1m45s\n\t    0x0000:  0069\n"),
            "{text}"
        );
        // A wrong checksum, and an option cut by the message's end.
        let mut bad = frame.clone();
        let at = bad.len() - 1;
        bad[at] = 1;
        let text = line_with(v, &gretap(&bad));
        assert!(text.contains("cksum 0xc530 (incorrect)"), "{text}");
        let mut d = gretap(&frame[..frame.len() - 6]);
        d.orig_len = frame.len();
        let text = line_with(v, &d);
        assert!(text.contains("(unverified)"), "{text}");
        assert!(text.ends_with(" [|pimv2]\n"), "{text}");
    }
}
