//! The routing and redundancy protocols mirrors carry: OSPF, PIM's type name, VRRP.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};

use super::line::{BitNames, IpCtx, Line, be16_at, be32_at, field, ipv4_at};
impl<W: Write> Line<'_, W> {
    pub(super) fn ospf(&mut self, data: &[u8], len: usize, v4: bool) -> io::Result<()> {
        let (Some(&version), Some(&t)) = (data.first(), data.get(1)) else {
            return self.trunc(if v4 { "ospf2" } else { "ospf3" });
        };
        let mut len = len;
        if v4 {
            let Some(auth) = be16_at(data, field::OSPF_AUTH_TYPE) else {
                return self.trunc("ospf2");
            };
            // The MD5 digest trails the packet and is not part of it.
            if auth == field::OSPF_AUTH_MD5 {
                len = len.saturating_sub(field::OSPF_MD5_TRAILER);
            }
        }
        let name = match t {
            1 => "Hello",
            2 => "Database Description",
            3 => "LS-Request",
            4 => "LS-Update",
            5 => "LS-Ack",
            other => {
                return write!(
                    self.out,
                    "OSPFv{version}, unknown LS-type {other}, length {len}"
                );
            }
        };
        write!(self.out, "OSPFv{version}, {name}, length {len}")?;
        if self.verbose() && v4 && version == 2 {
            self.ospf2_details(data, t)?;
        }
        Ok(())
    }

    /// tcpdump -v on OSPFv2: the router and area, the authentication type and, for a
    /// Hello, its options, timers, designated routers and neighbours (other packet
    /// types' bodies are not written yet).
    fn ospf2_details(&mut self, data: &[u8], t: u8) -> io::Result<()> {
        const OPTIONS: [(u32, &str); 8] = [
            (0x01, "MultiTopology"),
            (0x02, "External"),
            (0x04, "Multicast"),
            (0x08, "NSSA"),
            (0x10, "LLS"),
            (0x20, "Demand Circuit"),
            (0x40, "Opaque"),
            (0x80, "Up/Down"),
        ];
        let (Some(router), Some(area), Some(auth)) = (
            ipv4_at(data, 4),
            ipv4_at(data, 8),
            be16_at(data, field::OSPF_AUTH_TYPE),
        ) else {
            return self.out.write_all(b" [|ospf2]");
        };
        write!(self.out, "\n\tRouter-ID {router}")?;
        if area.is_unspecified() {
            self.out.write_all(b", Backbone Area")?;
        } else {
            write!(self.out, ", Area {area}")?;
        }
        let auth_name = match auth {
            0 => "none",
            1 => "simple",
            2 => "MD5",
            _ => "unknown",
        };
        write!(self.out, ", Authentication Type: {auth_name} ({auth})")?;
        if auth != 0 || t != 1 {
            return Ok(());
        }
        let (
            Some(mask),
            Some(hello),
            Some(&options),
            Some(&priority),
            Some(dead),
            Some(dr),
            Some(bdr),
        ) = (
            ipv4_at(data, 24),
            be16_at(data, 28),
            data.get(30),
            data.get(31),
            be32_at(data, 32),
            ipv4_at(data, 36),
            ipv4_at(data, 40),
        )
        else {
            return self.out.write_all(b" [|ospf2]");
        };
        let options = BitNames {
            bits: u32::from(options),
            names: &OPTIONS,
        };
        write!(
            self.out,
            "\n\tOptions [{options}]\n\t  Hello Timer {hello}s, Dead Timer {dead}s, Mask {mask}, \
             Priority {priority}"
        )?;
        if !dr.is_unspecified() {
            write!(self.out, "\n\t  Designated Router {dr}")?;
        }
        if !bdr.is_unspecified() {
            write!(self.out, ", Backup Designated Router {bdr}")?;
        }
        // Neighbours up to the packet's own length (capped by what was captured).
        let end = be16_at(data, 2).map_or(0, usize::from).min(data.len());
        let neighbours = data.get(44..end).unwrap_or_default();
        if !neighbours.is_empty() {
            self.out.write_all(b"\n\t  Neighbor List:")?;
        }
        for n in neighbours.chunks(4) {
            match <[u8; 4]>::try_from(n) {
                Ok(a) => write!(self.out, "\n\t    {}", std::net::Ipv4Addr::from(a))?,
                Err(_) => return self.out.write_all(b" [|ospf2]"),
            }
        }
        Ok(())
    }

    pub(super) fn vrrp(&mut self, ctx: &IpCtx, data: &[u8], len: usize) -> io::Result<()> {
        let Some(&first) = data.first() else {
            return self.trunc("vrrp");
        };
        let (version, t) = (first >> 4, first & 0x0F);
        if t == 1 {
            write!(self.out, "VRRPv{version}, Advertisement")?;
        } else {
            write!(self.out, "VRRPv{version}, unknown type ({t})")?;
        }
        if ctx.ttl != 255 {
            write!(self.out, ", (ttl {})", ctx.ttl)?;
        }
        if !(2..=3).contains(&version) || t != 1 {
            return Ok(());
        }
        let Some(fixed) = data.get(..field::VRRP_FIXED) else {
            return self.out.write_all(b" [|vrrp]");
        };
        write!(self.out, ", vrid {}, prio {}", fixed[1], fixed[2])?;
        if version == 2 {
            match fixed[4] {
                0 => self.out.write_all(b", authtype none")?,
                1 => self.out.write_all(b", authtype simple")?,
                2 => self.out.write_all(b", authtype ah")?,
                other => write!(self.out, ", authtype {other}")?,
            }
            write!(self.out, ", intvl {}s, length {len}", fixed[5])
        } else {
            let interval = u16::from(fixed[4] & 0x0F) << 8 | u16::from(fixed[5]);
            write!(self.out, ", intvl {interval}cs, length {len}")
        }
    }
}

pub(super) fn pim_type_name(t: u8) -> &'static str {
    match t {
        0 => "Hello",
        1 => "Register",
        2 => "Register Stop",
        3 => "Join / Prune",
        4 => "Bootstrap",
        5 => "Assert",
        6 => "Graft",
        7 => "Graft Acknowledgement",
        8 => "Candidate RP Advertisement",
        9 => "Prune Refresh",
        10 => "DF Election",
        11 => "ECMP Redirect",
        _ => "Unknown Type",
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    /// tcpdump-erspan-type-i-4.pcap: an OSPFv2 Hello from 10.1.1.1 (router 50.1.1.1),
    /// here with one neighbour.
    #[test]
    fn ospf_hello_verbose() {
        let mut hello = vec![2, 1, 0, 48, 50, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        hello.extend_from_slice(&[0; 8]);
        hello.extend_from_slice(&[255, 255, 255, 0, 0, 10, 0x02, 1, 0, 0, 0, 40]);
        hello.extend_from_slice(&[10, 1, 1, 1, 0, 0, 0, 0, 50, 1, 1, 2]);
        let frame = ipv4_frame(89, 0, &hello);
        assert!(line(&gretap(&frame)).ends_with("OSPFv2, Hello, length 48\n"));
        let v = verbose(1);
        assert!(line_with(v, &gretap(&frame)).ends_with(
            "OSPFv2, Hello, length 48\n\tRouter-ID 50.1.1.1, Backbone Area, Authentication \
             Type: none (0)\n\tOptions [External]\n\t  Hello Timer 10s, Dead Timer 40s, Mask \
             255.255.255.0, Priority 1\n\t  Designated Router 10.1.1.1\n\t  Neighbor List:\n\t    \
             50.1.1.2\n"
        ));
    }
}
