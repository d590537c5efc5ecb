//! IGMP v1, v2 and v3 queries, reports and leaves.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};
use std::net::Ipv4Addr;

use etherparse::IgmpSlice;

use super::line::{Line, be16_at};
use crate::wire::gre::internet_checksum;
impl<W: Write> Line<'_, W> {
    pub(super) fn igmp(&mut self, data: &[u8], len: usize) -> io::Result<()> {
        if self.opts.quiet {
            return self.out.write_all(b"igmp");
        }
        let Ok(igmp) = IgmpSlice::from_slice(data) else {
            return self.trunc("igmp");
        };
        let t = igmp.type_u8();
        let code = igmp.max_resp_code_or_reserved();
        let group = Ipv4Addr::from(igmp.bytes4to7());
        match t {
            0x11 if len >= 12 => {
                self.out.write_all(b"igmp query v3")?;
                if len & 0x03 != 0 {
                    return write!(self.out, " [invalid len {len}]");
                }
                if code != 100 {
                    // RFC 3376 4.1.1: codes from 128 on are a floating-point value.
                    let tenths = if code < 128 {
                        u32::from(code)
                    } else {
                        (u32::from(code & 0x0F) | 0x10) << (((code & 0x70) >> 4) + 3)
                    };
                    write!(
                        self.out,
                        " [max resp time {}.{}s]",
                        tenths / 10,
                        tenths % 10
                    )?;
                }
                if !group.is_unspecified() {
                    write!(self.out, " [gaddr {group}")?;
                    let sources = be16_at(data, 10).unwrap_or_default();
                    if sources > 0 {
                        write!(self.out, ", {sources} source(s)")?;
                    }
                    self.out.write_all(b"]")?;
                }
            }
            0x11 => {
                self.out.write_all(b"igmp query")?;
                if code != 0 {
                    self.out.write_all(b" v2")?;
                    if code != 100 {
                        write!(self.out, " [max resp time {code}]")?;
                    }
                } else {
                    self.out.write_all(b" v1")?;
                }
                if !group.is_unspecified() {
                    write!(self.out, " [gaddr {group}]")?;
                }
                if len != 8 {
                    write!(self.out, " [len {len}]")?;
                }
            }
            0x12 => {
                write!(self.out, "igmp v1 report {group}")?;
                if len != 8 {
                    write!(self.out, " [len {len}]")?;
                }
            }
            0x16 => write!(self.out, "igmp v2 report {group}")?,
            0x17 => write!(self.out, "igmp leave {group}")?,
            0x22 => {
                self.out.write_all(b"igmp v3 report")?;
                if len < 16 || len & 0x03 != 0 {
                    write!(self.out, " [invalid len {len}]")?;
                } else {
                    let groups = u16::from_be_bytes([igmp.bytes4to7()[2], igmp.bytes4to7()[3]]);
                    write!(self.out, ", {groups} group record(s)")?;
                }
            }
            0x13 => self.out.write_all(b"igmp dvmrp")?,
            0x14 => self.out.write_all(b"igmp pimv1")?,
            0x1E => self.out.write_all(b"igmp mresp")?,
            0x1F => self.out.write_all(b"igmp mtrace")?,
            other => write!(self.out, "igmp-{other}")?,
        }
        if self.verbose()
            && len >= 4
            && let Some(message) = data.get(..len)
            && internet_checksum(message) != 0
        {
            write!(self.out, " bad igmp cksum {:x}!", igmp.checksum())?;
        }
        Ok(())
    }
}
