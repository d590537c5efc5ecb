//! VXLAN header view (RFC 7348): eight bytes after the UDP header, then an Ethernet
//! frame.
//!
//! The I flag (VNI valid) is required; every other flag and reserved bit is
//! ignored (Linux VXLAN-GBP and user-defined bits set them) and reported so that the
//! caller can count it. Nothing here panics after the length check or allocates.

use super::be32;
use core::fmt;

/// Field offsets and flag bits, in one place.
mod field {
    pub const FLAGS: usize = 0;
    /// VNI in the top 24 bits of the second word; the low byte is reserved.
    pub const VNI_WORD: usize = 4;
    pub const LEN: usize = 8;
    pub const FLAG_I: u8 = 0x08;
    /// Every bit of the first word but I, and the low byte of the second.
    pub const RESERVED_WORD0: u32 = 0xF7FF_FFFF;
    pub const RESERVED_WORD1: u32 = 0x0000_00FF;
}

/// Length of the VXLAN header.
pub const HEADER_LEN: usize = field::LEN;

/// A 24-bit virtual network identifier (VXLAN VNI, GENEVE VNI): cannot hold more.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Vni(u32);

impl Vni {
    pub const MAX: u32 = 0x00FF_FFFF;

    /// `None` when `v` does not fit in 24 bits.
    pub fn new(v: u32) -> Option<Vni> {
        (v <= Vni::MAX).then_some(Vni(v))
    }

    /// The 24 bits at the top of a header word.
    pub(crate) fn from_high_bits(word: u32) -> Vni {
        Vni(word >> 8)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vni({})", self.0)
    }
}

impl fmt::Display for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a VXLAN header was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VxlanError {
    #[error("VXLAN header truncated: needs {needed} bytes, {got} captured")]
    Truncated { needed: usize, got: usize },
    #[error("VXLAN I flag clear (flags {0:#04x}): no valid VNI")]
    NoVni(u8),
}

/// The fields of a VXLAN header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VxlanHeader {
    /// The first byte (0x08 when only I is set).
    pub flags: u8,
    pub vni: Vni,
    /// Some reserved bit was set (ignored, as RFC 7348 asks).
    pub reserved_bits: bool,
}

impl VxlanHeader {
    /// Parses the header at the start of `b` and returns it with the bytes after it
    /// (the inner Ethernet frame, as captured).
    pub fn parse(b: &[u8]) -> Result<(VxlanHeader, &[u8]), VxlanError> {
        if b.len() < field::LEN {
            return Err(VxlanError::Truncated {
                needed: field::LEN,
                got: b.len(),
            });
        }
        let flags = b[field::FLAGS];
        if flags & field::FLAG_I == 0 {
            return Err(VxlanError::NoVni(flags));
        }
        let word0 = be32(b, field::FLAGS);
        let word1 = be32(b, field::VNI_WORD);
        let reserved_bits =
            word0 & field::RESERVED_WORD0 != 0 || word1 & field::RESERVED_WORD1 != 0;
        Ok((
            VxlanHeader {
                flags,
                vni: Vni::from_high_bits(word1),
                reserved_bits,
            },
            &b[field::LEN..],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // tcpdump-vxlan.pcap frame 1 (bytes 0x2a-0x31): flags 0x08, VNI 100.
    const TCPDUMP_VXLAN_1: [u8; 8] = [0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, 0x00];

    #[test]
    fn tcpdump_vxlan_frame_1() {
        let mut p = TCPDUMP_VXLAN_1.to_vec();
        p.extend_from_slice(&[0xAA; 14]);
        let (h, rest) = VxlanHeader::parse(&p).unwrap();
        assert_eq!(h.vni.get(), 100);
        assert_eq!(h.flags, 0x08);
        assert!(!h.reserved_bits);
        assert_eq!(rest, &[0xAA; 14]);
    }

    #[test]
    fn reserved_bits_are_reported_not_rejected() {
        // suricata-verify vxlan-non-zero-reserved-fields: GBP-style bits set.
        let p = [0x88, 0x00, 0x12, 0x34, 0x00, 0x00, 0x01, 0xFF];
        let (h, rest) = VxlanHeader::parse(&p).unwrap();
        assert!(h.reserved_bits);
        assert_eq!(h.vni.get(), 1);
        assert!(rest.is_empty());
    }

    #[test]
    fn i_flag_and_length_checked() {
        assert_eq!(
            VxlanHeader::parse(&[0x00, 0, 0, 0, 0, 0, 1, 0]).unwrap_err(),
            VxlanError::NoVni(0)
        );
        assert_eq!(
            VxlanHeader::parse(&TCPDUMP_VXLAN_1[..7]).unwrap_err(),
            VxlanError::Truncated { needed: 8, got: 7 }
        );
    }

    #[test]
    fn vni_is_24_bits() {
        assert_eq!(Vni::new(0xFF_FFFF).map(Vni::get), Some(0xFF_FFFF));
        assert_eq!(Vni::new(0x100_0000), None);
    }
}
