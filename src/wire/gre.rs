//! GRE header view (RFC 2784 + RFC 2890, with the RFC 1701 legacy bits recognised).
//!
//! Receive rules follow the spec (§1.2): version != 0 and the routing bit are errors;
//! the strict-route, recursion and reserved flag bits are accepted and reported as
//! legacy bits, as Linux does. The header view never panics after `new_checked`.

use super::{be16, be32};
use core::fmt;

/// Flag bits and field offsets of the GRE header, in one place.
mod field {
    pub const FLAGS: usize = 0;
    pub const PROTO: usize = 2;
    pub const FIXED_LEN: usize = 4;

    pub const C: u16 = 0x8000;
    pub const R: u16 = 0x4000;
    pub const K: u16 = 0x2000;
    pub const S: u16 = 0x1000;
    /// `s`, Recur and the reserved bits 8-12: ignored on receipt (RFC 2784, Linux).
    pub const LEGACY: u16 = 0x0FF8;
    pub const VERSION: u16 = 0x0007;
}

pub use field::{C as FLAG_CHECKSUM, K as FLAG_KEY, S as FLAG_SEQUENCE};

/// A GRE protocol type (an EtherType), with names for the ones mirrors use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GreProto(pub u16);

impl GreProto {
    /// Cisco keepalive (reserved value 0).
    pub const KEEPALIVE: GreProto = GreProto(0x0000);
    pub const IPV4: GreProto = GreProto(0x0800);
    pub const IPV6: GreProto = GreProto(0x86DD);
    /// Transparent Ethernet Bridging: gretap, OVS `gre`, OVN `gre` mirrors.
    pub const TRANSPARENT_ETHERNET: GreProto = GreProto(0x6558);
    /// ERSPAN type I (no header) and type II.
    pub const ERSPAN_I_II: GreProto = GreProto(0x88BE);
    /// ERSPAN type III.
    pub const ERSPAN_III: GreProto = GreProto(0x22EB);
}

impl fmt::Debug for GreProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GreProto({:#06x})", self.0)
    }
}

/// Why a GRE header was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GreError {
    #[error("GRE header truncated: needs {needed} bytes, {got} captured")]
    Truncated { needed: usize, got: usize },
    #[error("GRE routing bit set (RFC 1701 source routing is not supported)")]
    RoutingPresent,
    #[error("GRE version {0} is not supported (only version 0)")]
    UnsupportedVersion(u8),
}

/// A checked view of a GRE header and the payload after it.
#[derive(Clone, Copy, Debug)]
pub struct GreHeader<'a> {
    buf: &'a [u8],
    header_len: usize,
}

impl<'a> GreHeader<'a> {
    /// Checks version, routing bit and that every optional field is captured.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, GreError> {
        if buf.len() < field::FIXED_LEN {
            return Err(GreError::Truncated {
                needed: field::FIXED_LEN,
                got: buf.len(),
            });
        }
        let flags = be16(buf, field::FLAGS);
        let version = (flags & field::VERSION) as u8;
        if version != 0 {
            return Err(GreError::UnsupportedVersion(version));
        }
        if flags & field::R != 0 {
            return Err(GreError::RoutingPresent);
        }
        let header_len = field::FIXED_LEN
            + 4 * usize::from(flags & field::C != 0)
            + 4 * usize::from(flags & field::K != 0)
            + 4 * usize::from(flags & field::S != 0);
        if buf.len() < header_len {
            return Err(GreError::Truncated {
                needed: header_len,
                got: buf.len(),
            });
        }
        Ok(GreHeader { buf, header_len })
    }

    /// The whole flags-and-version word.
    pub fn flags(&self) -> u16 {
        be16(self.buf, field::FLAGS)
    }

    pub fn protocol(&self) -> GreProto {
        GreProto(be16(self.buf, field::PROTO))
    }

    /// The `s`, Recur and reserved bits, which are ignored but worth counting.
    pub fn legacy_bits(&self) -> u16 {
        self.flags() & field::LEGACY
    }

    pub fn checksum(&self) -> Option<u16> {
        (self.flags() & field::C != 0).then(|| be16(self.buf, field::FIXED_LEN))
    }

    pub fn key(&self) -> Option<u32> {
        let flags = self.flags();
        (flags & field::K != 0).then(|| {
            be32(
                self.buf,
                field::FIXED_LEN + 4 * usize::from(flags & field::C != 0),
            )
        })
    }

    pub fn sequence(&self) -> Option<u32> {
        let flags = self.flags();
        (flags & field::S != 0).then(|| {
            let off = field::FIXED_LEN
                + 4 * usize::from(flags & field::C != 0)
                + 4 * usize::from(flags & field::K != 0);
            be32(self.buf, off)
        })
    }

    /// Checksum, key and sequence number at once, reading the flags a single time
    /// (the per-packet path wants all three).
    #[inline]
    pub fn optional_fields(&self) -> (Option<u16>, Option<u32>, Option<u32>) {
        let flags = self.flags();
        let mut off = field::FIXED_LEN;
        let checksum = (flags & field::C != 0).then(|| be16(self.buf, off));
        off += 4 * usize::from(flags & field::C != 0);
        let key = (flags & field::K != 0).then(|| be32(self.buf, off));
        off += 4 * usize::from(flags & field::K != 0);
        let sequence = (flags & field::S != 0).then(|| be32(self.buf, off));
        (checksum, key, sequence)
    }

    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The captured bytes after the GRE header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..]
    }

    /// The whole GRE packet as given to `new_checked` (header and payload).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// The Internet checksum (RFC 1071) of `data`, as it would be verified: a packet whose
/// checksum field is included sums to 0.
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        sum += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    sum += u64::from(u32::from_be_bytes(tail));
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    // tcpdump-various_gre.pcap frame 1: Cisco keepalive, flags 0x2000 (K), key 0x28.
    const KEEPALIVE_WITH_KEY: [u8; 8] = [0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x28];

    #[test]
    fn key_only() {
        let g = GreHeader::new_checked(&KEEPALIVE_WITH_KEY).unwrap();
        assert_eq!(g.protocol(), GreProto::KEEPALIVE);
        assert_eq!(g.key(), Some(0x28));
        assert_eq!(g.sequence(), None);
        assert_eq!(g.checksum(), None);
        assert_eq!(g.header_len(), 8);
        assert!(g.payload().is_empty());
    }

    #[test]
    fn checksum_key_sequence_order() {
        // RFC 2890 §2: checksum word, then key, then sequence number.
        let b = [
            0xB0, 0x00, 0x65, 0x58, 0xAB, 0xCD, 0x00, 0x00, 0x00, 0x00, 0x00, 0x63, 0x00, 0x00,
            0x01, 0x02, 0xEE,
        ];
        let g = GreHeader::new_checked(&b).unwrap();
        assert_eq!(g.checksum(), Some(0xABCD));
        assert_eq!(g.key(), Some(99));
        assert_eq!(g.sequence(), Some(0x0102));
        assert_eq!(g.header_len(), 16);
        assert_eq!(g.payload(), &[0xEE]);
        assert_eq!(g.protocol(), GreProto::TRANSPARENT_ETHERNET);
        assert_eq!(g.optional_fields(), (Some(0xABCD), Some(99), Some(0x0102)));
    }

    #[test]
    fn routing_bit_rejected() {
        // tcpdump-gre-heapoverflow-2.pcap: flags 0xC030 (C + R), proto 0x3030.
        let b = [0xC0, 0x30, 0x30, 0x30, 0, 0, 0, 0];
        assert_eq!(
            GreHeader::new_checked(&b).unwrap_err(),
            GreError::RoutingPresent
        );
    }

    #[test]
    fn version_one_rejected() {
        // tcpdump-pptp.pcap: enhanced GRE, flags 0x3001, proto 0x880B.
        let b = [0x30, 0x01, 0x88, 0x0B, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            GreHeader::new_checked(&b).unwrap_err(),
            GreError::UnsupportedVersion(1)
        );
    }

    #[test]
    fn legacy_bits_accepted() {
        // tcpdump-erspan-type-iii-pb-1.pcap: flags 0x1D00 (S + s + Recur 5).
        let b = [0x1D, 0x00, 0x22, 0xEB, 0, 0, 0, 7];
        let g = GreHeader::new_checked(&b).unwrap();
        assert_eq!(g.legacy_bits(), 0x0D00);
        assert_eq!(g.sequence(), Some(7));
    }

    #[test]
    fn truncated_optional_fields() {
        let b = [0x30, 0x00, 0x88, 0xBE, 0, 0, 0, 1, 0, 0];
        assert_eq!(
            GreHeader::new_checked(&b).unwrap_err(),
            GreError::Truncated {
                needed: 12,
                got: 10
            }
        );
        assert_eq!(
            GreHeader::new_checked(&b[..3]).unwrap_err(),
            GreError::Truncated { needed: 4, got: 3 }
        );
    }

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 §3 example bytes: sum 0xddf2, checksum 0x220d.
        let b = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&b), 0x220d);
        assert_eq!(internet_checksum(&[0x00, 0x01, 0xf2]), !0xf201u16);
    }
}
