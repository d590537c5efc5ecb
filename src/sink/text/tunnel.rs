//! Tunnels found inside an inner frame (a mirrored overlay): GRE (IP protocol 47),
//! VXLAN (UDP port 4789) and GENEVE (6081), each its header, then the Ethernet or IP
//! it carries, to a bounded depth ([`MAX_NESTING`]), as tcpdump prints them (VXLAN's
//! inner frame on a line of its own).
//!
//! It must never panic, read past the captured bytes, allocate per packet, nest deeper
//! than [`MAX_NESTING`], or print packet bytes as text.

use std::io::{self, Write};

use super::line::{BitNames, Line, MAX_NESTING, be16_at, num};
use super::link::ethertype_name;
use crate::wire::gre::{GreError, GreHeader};
pub(super) const PORT_VXLAN: u16 = 4789;
pub(super) const PORT_GENEVE: u16 = 6081;
const VXLAN_HEADER: usize = 8;
const GENEVE_HEADER: usize = 8;

/// tcpdump's `geneve_flag_values`, printed without separators.
const GENEVE_FLAGS: [(u8, &str); 8] = [
    (0x80, "O"),
    (0x40, "C"),
    (0x20, "R1"),
    (0x10, "R2"),
    (0x08, "R3"),
    (0x04, "R4"),
    (0x02, "R5"),
    (0x01, "R6"),
];

/// tcpdump's `format_opt_class`.
fn geneve_opt_class(class: u16) -> &'static str {
    match class {
        0x0100 => "Linux",
        0x0101 => "Open vSwitch",
        0x0102 => "Open Virtual Networking (OVN)",
        0x0103 => "In-band Network Telemetry (INT)",
        0x0104 => "VMware",
        0..=0x00ff => "Standard",
        0xfff0.. => "Experimental",
        _ => "Unknown",
    }
}

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

impl<W: Write> Line<'_, W> {
    /// tcpdump's `vxlan_print`: the header, a line break, then the Ethernet frame.
    pub(super) fn vxlan(&mut self, data: &[u8], len: usize, depth: u8) -> io::Result<()> {
        self.out.write_all(b"VXLAN")?;
        if len < VXLAN_HEADER {
            return self.out.write_all(b" (invalid)");
        }
        let Some(&flags) = data.first() else {
            return self.out.write_all(b" [|vxlan]");
        };
        let name = if flags & 0x08 != 0 { "I" } else { "invalid" };
        write!(self.out, ", flags [{name}] (0x{flags:02x}), ")?;
        let (Some(&a), Some(&b), Some(&c)) = (data.get(4), data.get(5), data.get(6)) else {
            return self.out.write_all(b" [|vxlan]");
        };
        write!(
            self.out,
            "vni {}",
            u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c)
        )?;
        if depth >= MAX_NESTING {
            return Ok(());
        }
        self.out.write_all(b"\n")?;
        let Some(frame) = data.get(VXLAN_HEADER..) else {
            return self.out.write_all(b" [|vxlan]");
        };
        self.ethernet(frame, len - VXLAN_HEADER, depth + 1)
    }

    /// tcpdump's `geneve_print`: the header (`-v`: its options), then what it carries.
    pub(super) fn geneve(&mut self, data: &[u8], len: usize, depth: u8) -> io::Result<()> {
        self.out.write_all(b"Geneve")?;
        if len < GENEVE_HEADER {
            return write!(self.out, " [length {len} < 8] (invalid)");
        }
        let Some(h) = data.get(..GENEVE_HEADER) else {
            return self.out.write_all(b" [|geneve]");
        };
        let version = h[0] >> 6;
        if version != 0 {
            return write!(self.out, " ERROR: unknown-version {version}");
        }
        let flags = h[1];
        let proto = u16::from_be_bytes([h[2], h[3]]);
        let vni = u32::from(h[4]) << 16 | u32::from(h[5]) << 8 | u32::from(h[6]);
        self.out.write_all(b", Flags [")?;
        if flags == 0 {
            self.out.write_all(b"none")?;
        }
        for (bit, name) in GENEVE_FLAGS {
            if flags & bit != 0 {
                self.out.write_all(name.as_bytes())?;
            }
        }
        write!(self.out, "], vni 0x{vni:x}")?;
        if h[7] != 0 {
            write!(self.out, ", rsvd 0x{:x}", h[7])?;
        }
        if self.opts.link_header {
            write!(
                self.out,
                ", proto {} (0x{proto:04x})",
                ethertype_name(proto).unwrap_or("unknown")
            )?;
        }
        let opts_len = usize::from(h[0] & 0x3f) * 4;
        let left = len - GENEVE_HEADER;
        if left < opts_len {
            return write!(
                self.out,
                " truncated-geneve - {} bytes missing",
                opts_len - left
            );
        }
        let Some(opts) = data.get(GENEVE_HEADER..GENEVE_HEADER + opts_len) else {
            return self.out.write_all(b" [|geneve]");
        };
        if opts_len > 0 {
            self.out.write_all(b", options [")?;
            if self.verbose() {
                self.geneve_options(opts)?;
            } else {
                write!(self.out, "{opts_len} bytes")?;
            }
            self.out.write_all(b"]")?;
        }
        if depth >= MAX_NESTING {
            return Ok(());
        }
        self.out
            .write_all(if self.verbose() { b"\n\t" } else { b": " })?;
        let payload = data.get(GENEVE_HEADER + opts_len..).unwrap_or_default();
        let payload_len = left - opts_len;
        match proto {
            num::ETH_IPV4 | num::ETH_IPV6 | num::ETH_ARP | num::ETH_RARP | num::ETH_LLDP => {
                self.ether_payload(proto, payload, payload_len, depth + 1)
            }
            num::ETH_TEB => self.ethernet(payload, payload_len, depth + 1),
            _ => write!(self.out, "geneve-proto-0x{proto:x}"),
        }
    }

    /// tcpdump's `geneve_opts_print`; every option takes at least 4 bytes.
    fn geneve_options(&mut self, mut opts: &[u8]) -> io::Result<()> {
        let mut sep = "";
        while let [c0, c1, kind, len_byte, ..] = *opts {
            self.out.write_all(sep.as_bytes())?;
            sep = ", ";
            let class = u16::from_be_bytes([c0, c1]);
            let opt_len = 4 + usize::from(len_byte & 0x1f) * 4;
            let critical = if kind & 0x80 != 0 { "(C)" } else { "" };
            write!(
                self.out,
                "class {} (0x{class:x}) type 0x{kind:x}{critical} len {opt_len}",
                geneve_opt_class(class)
            )?;
            if opt_len > opts.len() {
                return self.out.write_all(b" [bad length]");
            }
            if self.opts.verbose > 1 && opt_len > 4 {
                self.out.write_all(b" data")?;
                for word in opts[4..opt_len].chunks_exact(4) {
                    write!(
                        self.out,
                        " {:08x}",
                        u32::from_be_bytes([word[0], word[1], word[2], word[3]])
                    )?;
                }
            }
            opts = &opts[opt_len..];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::line::MAX_NESTING;
    use super::super::vxlan_carries_next_line;

    /// Ethernet / IPv4 / UDP to `dport` carrying `payload`.
    fn udp_frame(dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(40001, dport)
            .write(&mut frame, payload)
            .unwrap();
        frame
    }

    fn vxlan(vni: u8, frame: &[u8]) -> Vec<u8> {
        let mut v = vec![0x08, 0, 0, 0, 0, 0, vni, 0];
        v.extend_from_slice(frame);
        udp_frame(4789, &v)
    }

    #[test]
    fn vxlan_in_vxlan_one_line_per_level_to_the_bound() {
        let inner = udp_frame(9, b"hi");
        let twice = vxlan(1, &vxlan(2, &inner));
        let text = line(&gretap(&twice));
        assert!(
            text.ends_with(
                "IP 10.0.0.1.40001 > 10.0.0.2.4789: VXLAN, flags [I] (0x08), vni 1\nIP \
                 10.0.0.1.40001 > 10.0.0.2.4789: VXLAN, flags [I] (0x08), vni 2\nIP \
                 10.0.0.1.40001 > 10.0.0.2.9: UDP, length 2\n"
            ),
            "{text}"
        );
        assert_one_frame(opts(), &gretap(&twice));
        // Nested far deeper than the bound: the levels past it are not decoded.
        let mut deep = inner;
        for vni in 0..3 * MAX_NESTING {
            deep = vxlan(vni, &deep);
        }
        let text = line(&gretap(&deep));
        assert_eq!(
            text.matches("VXLAN").count(),
            usize::from(MAX_NESTING) + 1,
            "{text}"
        );
        for opts in all_options() {
            assert_one_frame(opts, &gretap(&deep));
        }
    }

    #[test]
    fn geneve_header_options_and_payloads() {
        let mut g = vec![3, 0x80, 0x65, 0x58, 0, 0x12, 0x34, 0];
        g.extend_from_slice(&[1, 2, 0x81, 1, 0xde, 0xad, 0xbe, 0xef]);
        g.extend_from_slice(&[0xff, 0xf0, 1, 0]);
        g.extend_from_slice(&udp_frame(9, b"hi"));
        let frame = udp_frame(6081, &g);
        let text = line(&gretap(&frame));
        assert!(
            text.ends_with(
                "6081: Geneve, Flags [O], vni 0x1234, options [12 bytes]: IP 10.0.0.1.40001 > \
                 10.0.0.2.9: UDP, length 2\n"
            ),
            "{text}"
        );
        let vv = verbose(2);
        let text = line_with(vv, &gretap(&frame));
        assert!(
            text.contains(
                "Geneve, Flags [O], vni 0x1234, options [class Open Virtual Networking (OVN) (0x102) type \
                 0x81(C) len 8 data deadbeef, class Experimental (0xfff0) type 0x1 len 4]\n\t"
            ),
            "{text}"
        );
        // An option longer than the options: tcpdump's `[bad length]`.
        g[8 + 3] = 5;
        let text = line_with(vv, &gretap(&udp_frame(6081, &g)));
        assert!(text.contains("len 24 [bad length]]"), "{text}");
        assert!(
            line(&gretap(&udp_frame(6081, &[0, 0, 8, 0])))
                .ends_with(": Geneve [length 4 < 8] (invalid)\n")
        );
    }

    #[test]
    fn vxlan_line_ends() {
        assert!(vxlan_carries_next_line(
            b"IP 1.1.1.1.1 > 2.2.2.2.4789: VXLAN, flags [I] (0x08), vni 16777215"
        ));
        assert!(!vxlan_carries_next_line(b"VXLAN, flags [I] (0x08), vni "));
        assert!(!vxlan_carries_next_line(b"Geneve, Flags [O], vni 12"));
        assert!(!vxlan_carries_next_line(b"VXLAN, flags [I] (0x08), vni 1x"));
    }
}
