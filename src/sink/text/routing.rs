//! The routing and redundancy protocols mirrors carry: OSPF, PIM's type name, VRRP.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};

use super::line::{IpCtx, Line, be16_at, field};
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
        write!(self.out, "OSPFv{version}, {name}, length {len}")
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
