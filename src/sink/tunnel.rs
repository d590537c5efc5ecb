//! How VXLAN and GENEVE frames are named in text lines: the tag (`vxlan vni 5569041`,
//! `geneve vni 0`) and, with `-v`, the header fields and the GENEVE options, with AWS
//! Gateway Load Balancer's (class 0x0108) and Google's (class 0x0132) named.
//!
//! Kept apart from the text printer, which calls these two functions. Never reads
//! past an option's own length (the options were walked by `wire::geneve`).

use crate::wire::decap::{Decapsulated, Encap};
use crate::wire::geneve::{GeneveOption, GeneveOptions};
use std::io::{self, Write};

/// AWS Gateway Load Balancer's option class.
pub const CLASS_AWS_GWLB: u16 = 0x0108;
/// Google's first option class (network security integration, packet mirroring).
pub const CLASS_GOOGLE: u16 = 0x0132;

/// Writes the tag of a VXLAN or GENEVE frame; nothing for other encapsulations.
pub fn write_tag<W: Write>(out: &mut W, encap: &Encap) -> io::Result<()> {
    match encap {
        Encap::Vxlan(h) => write!(out, "vxlan vni {}", h.vni),
        Encap::Geneve(h) => write!(out, "geneve vni {}", h.vni),
        _ => Ok(()),
    }
}

/// Writes the `-v` details of a VXLAN or GENEVE frame (each item starts with ", ").
pub fn write_verbose<W: Write>(out: &mut W, d: &Decapsulated<'_>) -> io::Result<()> {
    match &d.encap {
        Encap::Vxlan(h) => write!(out, ", flags {:#04x}", h.flags),
        Encap::Geneve(h) => {
            write!(out, ", proto {:#06x}", h.protocol.0)?;
            if h.oam {
                out.write_all(b", oam")?;
            }
            if h.critical {
                out.write_all(b", critical")?;
            }
            write!(out, ", options [{} bytes]", h.options_len)?;
            for option in GeneveOptions::new(d.tunnel_options) {
                match option {
                    Ok(o) => write_option(out, &o)?,
                    Err(()) => out.write_all(b", bad option length")?,
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The name of a vendor option, when known.
fn option_name(class: u16, kind: u8) -> Option<&'static str> {
    Some(match (class, kind & 0x7F) {
        (CLASS_AWS_GWLB, 1) => "gwlb endpoint id",
        (CLASS_AWS_GWLB, 2) => "gwlb attachment id",
        (CLASS_AWS_GWLB, 3) => "gwlb flow cookie",
        (CLASS_GOOGLE, 1) => "gcp network id",
        (CLASS_GOOGLE, 2) => "gcp endpoint id",
        (CLASS_GOOGLE, 3) => "gcp profile id",
        _ => return None,
    })
}

fn write_option<W: Write>(out: &mut W, o: &GeneveOption<'_>) -> io::Result<()> {
    match option_name(o.class, o.kind) {
        Some(name) => write!(out, ", {name} ")?,
        None => write!(out, ", class {:#06x} type {:#04x} ", o.class, o.kind)?,
    }
    if o.data.is_empty() {
        out.write_all(b"-")?;
    }
    for b in o.data {
        write!(out, "{b:02x}")?;
    }
    if o.critical() {
        out.write_all(b" (critical)")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::decap::decapsulate_geneve;

    #[test]
    fn gwlb_options_named() {
        // The three GWLB options as aws-samples' GenevePacket.cpp reads them.
        let mut p = vec![8, 0, 0x08, 0x00, 0, 0, 5, 0];
        p.extend_from_slice(&[0x01, 0x08, 0x01, 0x02, 1, 2, 3, 4, 5, 6, 7, 8]);
        p.extend_from_slice(&[0x01, 0x08, 0x02, 0x02, 9, 9, 9, 9, 9, 9, 9, 9]);
        p.extend_from_slice(&[0x01, 0x08, 0x03, 0x01, 0xC0, 0x0C, 0x1E, 0x00]);
        p.extend_from_slice(&[0x01, 0x00, 0x85, 0x00]);
        p.extend_from_slice(&[0x45, 0, 0, 20]);
        p[0] = 9;
        let d = decapsulate_geneve(&p, p.len()).unwrap();
        let mut tag = Vec::new();
        write_tag(&mut tag, &d.encap).unwrap();
        assert_eq!(String::from_utf8(tag).unwrap(), "geneve vni 5");
        let mut v = Vec::new();
        write_verbose(&mut v, &d).unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            ", proto 0x0800, options [36 bytes], gwlb endpoint id 0102030405060708, \
             gwlb attachment id 0909090909090909, gwlb flow cookie c00c1e00, \
             class 0x0100 type 0x85 - (critical)"
        );
    }
}
