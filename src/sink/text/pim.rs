//! PIM (IP protocol 103) as tcpdump 4.99 prints it: `PIMv2, Hello, length 38`, and
//! with `-v` the checksum verdict and a Hello's options (`-vv`: each option's bytes in
//! hex as well).
//!
//! Not decoded as tcpdump does with `-v`: the bodies of the other PIMv2 messages (their
//! header and checksum are), and with `-vv` the addresses of a Hello's address list
//! (their hex is).
//!
//! It must never panic, read past the captured bytes, allocate, or print packet bytes
//! except as numbers and hex; each Hello option consumes at least 4 bytes.

use std::io::{self, Write};
use std::net::IpAddr;

use super::line::{IpCtx, Line, be16_at, be32_at, num};
use super::routing::pim_type_name;
use super::udpapp::RelTime;

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
        if kind == 0 {
            return self.pim_hello(data.get(4..).unwrap_or_default(), len - 4);
        }
        Ok(())
    }

    /// The options of a PIMv2 Hello (tcpdump's `pimv2_print`, type Hello).
    fn pim_hello(&mut self, mut data: &[u8], mut len: usize) -> io::Result<()> {
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

    #[test]
    fn hello_options() {
        let frame = hello_frame();
        assert!(line(&gretap(&frame)).ends_with(": PIMv2, Hello, length 38\n"));
        let v = TextOptions {
            verbose: 1,
            ..opts()
        };
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
        let vv = TextOptions {
            verbose: 2,
            ..opts()
        };
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
