//! GRE found inside an inner frame (a mirrored overlay): its header, then the
//! Ethernet or IP it carries, to a bounded depth.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};

use super::line::{Line, MAX_NESTING, be16_at, num};
use super::link::ethertype_name;
use crate::wire::gre::{GreError, GreHeader};
impl<W: Write> Line<'_, W> {
    /// GRE inside the inner frame (a mirrored tunnel): its header, then what it carries
    /// when that is Ethernet or IP.
    pub(super) fn gre(&mut self, data: &[u8], len: usize, depth: u8) -> io::Result<()> {
        let Some(flags) = be16_at(data, 0) else {
            return self.trunc("gre");
        };
        write!(self.out, "GREv{}", flags & 0x0007)?;
        let gre = match GreHeader::new_checked(data) {
            Ok(g) => g,
            Err(GreError::Truncated { .. }) => return self.out.write_all(b" [|gre]"),
            Err(GreError::RoutingPresent | GreError::UnsupportedVersion(_)) => {
                return write!(self.out, ", length {len}");
            }
        };
        if let Some(key) = gre.key() {
            write!(self.out, ", key={key:#x}")?;
        }
        if let Some(seq) = gre.sequence() {
            write!(self.out, ", seq {seq}")?;
        }
        let proto = gre.protocol().0;
        if self.opts.link_header {
            write!(
                self.out,
                ", proto {} ({proto:#06x})",
                ethertype_name(proto).unwrap_or("unknown")
            )?;
        }
        write!(self.out, ", length {len}: ")?;
        let (payload, payload_len) = (gre.payload(), len.saturating_sub(gre.header_len()));
        match proto {
            _ if depth >= MAX_NESTING => write!(self.out, "gre-proto-{proto:#x}"),
            num::ETH_IPV4 => self.ipv4(payload, payload_len, depth + 1),
            num::ETH_IPV6 => self.ipv6(payload, payload_len, depth + 1),
            num::ETH_TEB => self.ethernet(payload, payload_len, depth + 1),
            _ => write!(self.out, "gre-proto-{proto:#x}"),
        }
    }
}
