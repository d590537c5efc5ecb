//! GRE found inside an inner frame (a mirrored overlay): its header, then the
//! Ethernet or IP it carries, to a bounded depth.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};

use super::line::{BitNames, Line, MAX_NESTING, be16_at, num};
use super::link::ethertype_name;
use crate::wire::gre::{GreError, GreHeader};
/// tcpdump's `gre_flag_values`.
const GRE_FLAGS: [(u32, &str); 6] = [
    (0x8000, "checksum present"),
    (0x4000, "routing present"),
    (0x2000, "key present"),
    (0x1000, "sequence# present"),
    (0x0800, "source routing present"),
    (0x0080, "acknowledgment present"),
];

impl<W: Write> Line<'_, W> {
    /// GRE inside the inner frame (a mirrored tunnel): its header, then what it carries
    /// when that is Ethernet or IP.
    pub(super) fn gre(&mut self, data: &[u8], len: usize, depth: u8) -> io::Result<()> {
        let Some(flags) = be16_at(data, 0) else {
            return self.trunc("gre");
        };
        let version = flags & 0x0007;
        write!(self.out, "GREv{version}")?;
        if version > 1 {
            return self.out.write_all(b" ERROR: unknown-version");
        }
        if self.verbose() && version == 0 {
            let names = BitNames {
                bits: u32::from(flags),
                names: &GRE_FLAGS,
            };
            write!(self.out, ", Flags [{names}]")?;
        }
        let gre = match GreHeader::new_checked(data) {
            Ok(g) => g,
            Err(GreError::Truncated { .. }) => return self.out.write_all(b" [|gre]"),
            Err(GreError::RoutingPresent | GreError::UnsupportedVersion(_)) => {
                return write!(self.out, ", length {len}");
            }
        };
        if let Some(sum) = gre.checksum() {
            // tcpdump: the checksum (with -v) and the routing offset that follows it.
            if self.verbose() {
                write!(self.out, ", sum {sum:#x}")?;
            }
            write!(
                self.out,
                ", off {:#x}",
                be16_at(data, 6).unwrap_or_default()
            )?;
        }
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
        write!(self.out, ", length {len}")?;
        // tcpdump -v continues on a new line.
        if self.verbose() {
            self.out.write_all(b"\n\t")?;
        } else {
            self.out.write_all(b": ")?;
        }
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
