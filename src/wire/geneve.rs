//! GENEVE header view (RFC 8926): eight bytes, options, then the payload the protocol
//! type names (Ethernet, or bare IPv4 / IPv6 / ARP).
//!
//! Only version 0 is read. The options length is checked against the packet before
//! anything after the header is touched: a length past the packet is an error, never
//! a read. Options are walked generically by their own lengths, within the declared
//! options area; the critical bit is not a reason to drop a mirror. Nothing here
//! panics after the length checks or allocates.

use super::be16;
use super::vxlan::Vni;
use core::fmt;

/// Field offsets and bits, in one place.
mod field {
    pub const VER_OPTLEN: usize = 0;
    pub const FLAGS: usize = 1;
    pub const PROTO: usize = 2;
    pub const VNI_WORD: usize = 4;
    pub const LEN: usize = 8;
    pub const VERSION_SHIFT: u8 = 6;
    pub const OPT_LEN_MASK: u8 = 0x3F;
    pub const FLAG_OAM: u8 = 0x80;
    pub const FLAG_CRITICAL: u8 = 0x40;

    pub const OPT_CLASS: usize = 0;
    pub const OPT_TYPE: usize = 2;
    pub const OPT_LEN: usize = 3;
    pub const OPT_HEADER_LEN: usize = 4;
    pub const OPT_LEN_WORDS_MASK: u8 = 0x1F;
    pub const OPT_TYPE_CRITICAL: u8 = 0x80;
}

/// Length of the fixed GENEVE header (without options).
pub const HEADER_LEN: usize = field::LEN;

/// A GENEVE protocol type (an EtherType).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GeneveProto(pub u16);

impl GeneveProto {
    pub const ETHERNET: GeneveProto = GeneveProto(0x6558);
    pub const IPV4: GeneveProto = GeneveProto(0x0800);
    pub const IPV6: GeneveProto = GeneveProto(0x86DD);
    pub const ARP: GeneveProto = GeneveProto(0x0806);
}

impl fmt::Debug for GeneveProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GeneveProto({:#06x})", self.0)
    }
}

/// Why a GENEVE header was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeneveError {
    #[error("GENEVE header truncated: needs {needed} bytes, {got} captured")]
    Truncated { needed: usize, got: usize },
    #[error("GENEVE version {0} is not supported (only version 0)")]
    UnsupportedVersion(u8),
    #[error("GENEVE options length {declared} runs past the {available}-byte packet")]
    OptionsPastPacket { declared: usize, available: usize },
}

/// The fields of a GENEVE header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneveHeader {
    pub vni: Vni,
    pub protocol: GeneveProto,
    /// O: an OAM (control) packet.
    pub oam: bool,
    /// C: some option is critical.
    pub critical: bool,
    /// Length of the options in bytes.
    pub options_len: u16,
}

impl GeneveHeader {
    /// Parses the header at the start of `b` (captured bytes of a UDP payload that was
    /// `wire_len` bytes on the wire) and returns it with its options and the payload
    /// as captured.
    pub fn parse(b: &[u8], wire_len: usize) -> Result<(GeneveHeader, &[u8], &[u8]), GeneveError> {
        if b.len() < field::LEN {
            return Err(GeneveError::Truncated {
                needed: field::LEN,
                got: b.len(),
            });
        }
        let version = b[field::VER_OPTLEN] >> field::VERSION_SHIFT;
        if version != 0 {
            return Err(GeneveError::UnsupportedVersion(version));
        }
        let options_len = usize::from(b[field::VER_OPTLEN] & field::OPT_LEN_MASK) * 4;
        let header_len = field::LEN + options_len;
        let wire_len = wire_len.max(b.len());
        if header_len > wire_len {
            return Err(GeneveError::OptionsPastPacket {
                declared: options_len,
                available: wire_len - field::LEN,
            });
        }
        if header_len > b.len() {
            return Err(GeneveError::Truncated {
                needed: header_len,
                got: b.len(),
            });
        }
        let flags = b[field::FLAGS];
        let header = GeneveHeader {
            vni: Vni::from_high_bits(super::be32(b, field::VNI_WORD)),
            protocol: GeneveProto(be16(b, field::PROTO)),
            oam: flags & field::FLAG_OAM != 0,
            critical: flags & field::FLAG_CRITICAL != 0,
            options_len: options_len as u16,
        };
        Ok((header, &b[field::LEN..header_len], &b[header_len..]))
    }
}

/// One GENEVE option (class, type, data), borrowed from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneveOption<'a> {
    pub class: u16,
    /// The type byte, critical bit included.
    pub kind: u8,
    pub data: &'a [u8],
}

impl GeneveOption<'_> {
    /// The high bit of the type: a receiver that does not know it must drop the
    /// packet if it were forwarding; a mirror receiver only reads.
    pub fn critical(&self) -> bool {
        self.kind & field::OPT_TYPE_CRITICAL != 0
    }
}

/// Walks the options area; yields `Err(())` once, and then nothing, if an option runs
/// past the area.
#[derive(Clone, Debug)]
pub struct GeneveOptions<'a> {
    rest: &'a [u8],
}

impl<'a> GeneveOptions<'a> {
    pub fn new(options: &'a [u8]) -> GeneveOptions<'a> {
        GeneveOptions { rest: options }
    }

    /// Whether every option fits in the area.
    pub fn well_formed(options: &[u8]) -> bool {
        GeneveOptions::new(options).all(|o| o.is_ok())
    }
}

impl<'a> Iterator for GeneveOptions<'a> {
    type Item = Result<GeneveOption<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let b = self.rest;
        if b.len() < field::OPT_HEADER_LEN {
            self.rest = &[];
            return Some(Err(()));
        }
        let data_len = usize::from(b[field::OPT_LEN] & field::OPT_LEN_WORDS_MASK) * 4;
        let end = field::OPT_HEADER_LEN + data_len;
        if end > b.len() {
            self.rest = &[];
            return Some(Err(()));
        }
        self.rest = &b[end..];
        Some(Ok(GeneveOption {
            class: be16(b, field::OPT_CLASS),
            kind: b[field::OPT_TYPE],
            data: &b[field::OPT_HEADER_LEN..end],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tcpdump-geneve-gcp.pcap frame 1 (bytes 0x2a-0x59): the GENEVE header and its
    /// three class 0x0132 options (network ID, endpoint ID, profile ID).
    pub(crate) const GCP_HEADER: [u8; 48] = [
        0x0a, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x32, 0x01, 0x01, 0x80, 0x00, 0x00,
        0xd1, 0x01, 0x32, 0x02, 0x04, 0x08, 0x00, 0x00, 0x0d, 0xc0, 0xa8, 0x64, 0x02, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x32, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x12, 0x34,
    ];

    #[test]
    fn gcp_options_walked() {
        let mut p = GCP_HEADER.to_vec();
        p.extend_from_slice(&[0x45, 0, 0, 20]);
        let (h, options, payload) = GeneveHeader::parse(&p, p.len()).unwrap();
        assert_eq!(h.protocol, GeneveProto::IPV4);
        assert_eq!(h.vni.get(), 0);
        assert_eq!(h.options_len, 40);
        assert_eq!(payload, &[0x45, 0, 0, 20]);
        let opts: Vec<_> = GeneveOptions::new(options).map(Result::unwrap).collect();
        assert_eq!(opts.len(), 3);
        assert_eq!(opts[2].class, 0x0132);
        assert_eq!(opts[2].kind, 3);
        assert_eq!(opts[0].data, &[0x80, 0x00, 0x00, 0xd1]);
        assert_eq!(opts[1].data.len(), 16);
        assert_eq!(opts[2].data, &[0, 0, 0, 0, 0, 0, 0x12, 0x34]);
        assert!(!opts[0].critical());
    }

    #[test]
    fn options_length_past_the_packet_is_an_error_not_a_read() {
        let p = [0x3F, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 0];
        assert_eq!(
            GeneveHeader::parse(&p, p.len()).unwrap_err(),
            GeneveError::OptionsPastPacket {
                declared: 252,
                available: 2
            }
        );
        // The capture was cut (the wire had the bytes): truncated, not malformed.
        assert_eq!(
            GeneveHeader::parse(&p, 1000).unwrap_err(),
            GeneveError::Truncated {
                needed: 260,
                got: 10
            }
        );
    }

    #[test]
    fn version_and_short_header() {
        let p = [0x40, 0, 0x65, 0x58, 0, 0, 1, 0];
        assert_eq!(
            GeneveHeader::parse(&p, 8).unwrap_err(),
            GeneveError::UnsupportedVersion(1)
        );
        assert!(matches!(
            GeneveHeader::parse(&p[..5], 8),
            Err(GeneveError::Truncated { .. })
        ));
    }

    #[test]
    fn option_running_past_the_area_stops_the_walk() {
        // One option claiming 8 data bytes in a 4-byte area.
        let area = [0x01, 0x08, 0x81, 0x02];
        let mut it = GeneveOptions::new(&area);
        assert_eq!(it.next(), Some(Err(())));
        assert_eq!(it.next(), None);
        assert!(!GeneveOptions::well_formed(&area));
        let ok = [0x01, 0x08, 0x81, 0x00];
        let o = GeneveOptions::new(&ok).next().unwrap().unwrap();
        assert!(o.critical());
        assert!(o.data.is_empty());
    }
}
