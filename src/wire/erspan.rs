//! ERSPAN type II and type III headers (draft-foschiano-erspan-03).
//!
//! Type I has no header at all, so it has no view here; which type a packet carries is
//! decided from the GRE header by [`super::decap`], never from these bytes. Narrow
//! fields have types that cannot hold out-of-range values.

use super::{be16, be32};

/// Masks and offsets of the ERSPAN headers, in one place.
mod field {
    /// Word 0 is common to type II and III.
    pub const W0: usize = 0;
    pub const VER_SHIFT: u32 = 28;
    pub const VLAN_MASK: u32 = 0x0FFF_0000;
    pub const VLAN_SHIFT: u32 = 16;
    pub const COS_MASK: u32 = 0x0000_E000;
    pub const COS_SHIFT: u32 = 13;
    /// En (type II) or BSO (type III).
    pub const EN_BSO_MASK: u32 = 0x0000_1800;
    pub const EN_BSO_SHIFT: u32 = 11;
    pub const T: u32 = 0x0000_0400;
    pub const SESSION_MASK: u32 = 0x0000_03FF;

    /// Type II word 1.
    pub const II_W1: usize = 4;
    pub const II_INDEX_MASK: u32 = 0x000F_FFFF;
    pub const II_LEN: usize = 8;

    /// Type III words 1 and 2.
    pub const III_TIMESTAMP: usize = 4;
    pub const III_SGT: usize = 8;
    pub const III_FLAGS: usize = 10;
    pub const III_P: u16 = 0x8000;
    pub const III_FT_MASK: u16 = 0x7C00;
    pub const III_FT_SHIFT: u32 = 10;
    pub const III_HWID_MASK: u16 = 0x03F0;
    pub const III_HWID_SHIFT: u32 = 4;
    pub const III_D: u16 = 0x0008;
    pub const III_GRA_MASK: u16 = 0x0006;
    pub const III_GRA_SHIFT: u32 = 1;
    pub const III_O: u16 = 0x0001;
    pub const III_LEN: usize = 12;
    /// Optional platform-specific sub-header (O = 1).
    pub const III_PLATFORM_LEN: usize = 8;
    pub const III_PLATFORM_ID_SHIFT: u32 = 58;
}

/// A 10-bit ERSPAN session ID (0-1023).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u16);

impl SessionId {
    pub const MAX: u16 = 1023;

    pub fn new(value: u16) -> Option<SessionId> {
        (value <= Self::MAX).then_some(SessionId(value))
    }

    fn from_word(w0: u32) -> SessionId {
        SessionId((w0 & field::SESSION_MASK) as u16)
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// A 20-bit ERSPAN type II index (port index / direction, platform specific).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErspanIndex(u32);

impl ErspanIndex {
    pub const MAX: u32 = 0xF_FFFF;

    pub fn new(value: u32) -> Option<ErspanIndex> {
        (value <= Self::MAX).then_some(ErspanIndex(value))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A 12-bit VLAN ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VlanId(u16);

impl VlanId {
    pub fn new(value: u16) -> Option<VlanId> {
        (value <= 0xFFF).then_some(VlanId(value))
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// Direction of a mirrored frame relative to the mirrored port (ERSPAN III D bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// Why an ERSPAN header was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErspanError {
    #[error("ERSPAN header truncated: needs {needed} bytes, {got} captured")]
    Truncated { needed: usize, got: usize },
    #[error("ERSPAN version {0} is not supported (1 = type II, 2 = type III)")]
    UnsupportedVersion(u8),
}

/// The Ver nibble of an ERSPAN header (1 = type II, 2 = type III).
pub fn version(buf: &[u8]) -> Result<u8, ErspanError> {
    match buf.first() {
        Some(b) => Ok(b >> 4),
        None => Err(ErspanError::Truncated { needed: 1, got: 0 }),
    }
}

fn word0_fields(w0: u32) -> (u8, VlanId, u8, u8, bool, SessionId) {
    (
        (w0 >> field::VER_SHIFT) as u8,
        VlanId(((w0 & field::VLAN_MASK) >> field::VLAN_SHIFT) as u16),
        ((w0 & field::COS_MASK) >> field::COS_SHIFT) as u8,
        ((w0 & field::EN_BSO_MASK) >> field::EN_BSO_SHIFT) as u8,
        w0 & field::T != 0,
        SessionId::from_word(w0),
    )
}

/// The fields of an ERSPAN type II header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErspanII {
    pub version: u8,
    pub vlan: VlanId,
    pub cos: u8,
    /// 0 untagged, 1 ISL, 2 802.1Q tag removed (carried in `vlan`), 3 tag kept.
    pub encap_type: u8,
    /// The sender truncated the frame (T).
    pub truncated: bool,
    pub session: SessionId,
    pub index: ErspanIndex,
}

impl ErspanII {
    pub const LEN: usize = field::II_LEN;

    /// Parses the 8-byte header; returns it and the bytes after it.
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<(ErspanII, &[u8]), ErspanError> {
        if buf.len() < field::II_LEN {
            return Err(ErspanError::Truncated {
                needed: field::II_LEN,
                got: buf.len(),
            });
        }
        let (version, vlan, cos, encap_type, truncated, session) =
            word0_fields(be32(buf, field::W0));
        let index = ErspanIndex(be32(buf, field::II_W1) & field::II_INDEX_MASK);
        let header = ErspanII {
            version,
            vlan,
            cos,
            encap_type,
            truncated,
            session,
            index,
        };
        Ok((header, &buf[field::II_LEN..]))
    }
}

/// The platform-specific sub-header of ERSPAN type III (O = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformInfo {
    /// Platf ID, 6 bits.
    pub id: u8,
    /// The remaining 58 bits, uninterpreted.
    pub info: u64,
}

/// The fields of an ERSPAN type III header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErspanIII {
    pub version: u8,
    pub vlan: VlanId,
    pub cos: u8,
    /// Bad/short/oversized frame indication: 0 good, 1 short, 2 oversized, 3 bad CRC.
    pub bso: u8,
    pub truncated: bool,
    pub session: SessionId,
    /// Low 32 bits of the sender's timestamp, in `granularity` units.
    pub timestamp: u32,
    pub sgt: u16,
    /// P bit: payload is an Ethernet PDU (Linux sets it, OVS does not).
    pub pdu: bool,
    /// FT: 0 Ethernet, 2 IP, other values unknown.
    pub frame_type: u8,
    pub hw_id: u8,
    pub direction: Direction,
    /// Gra: 0 = 100 µs, 1 = 100 ns, 2 = IEEE 1588, 3 = custom.
    pub granularity: u8,
    pub platform: Option<PlatformInfo>,
}

impl ErspanIII {
    pub const FRAME_TYPE_ETHERNET: u8 = 0;
    pub const FRAME_TYPE_IP: u8 = 2;

    /// Parses the 12-byte header and, when O = 1, the 8-byte platform sub-header;
    /// returns it and the bytes after it.
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<(ErspanIII, &[u8]), ErspanError> {
        if buf.len() < field::III_LEN {
            return Err(ErspanError::Truncated {
                needed: field::III_LEN,
                got: buf.len(),
            });
        }
        let (version, vlan, cos, bso, truncated, session) = word0_fields(be32(buf, field::W0));
        let flags = be16(buf, field::III_FLAGS);
        let mut len = field::III_LEN;
        let platform = if flags & field::III_O != 0 {
            len += field::III_PLATFORM_LEN;
            if buf.len() < len {
                return Err(ErspanError::Truncated {
                    needed: len,
                    got: buf.len(),
                });
            }
            let raw = u64::from(be32(buf, field::III_LEN)) << 32
                | u64::from(be32(buf, field::III_LEN + 4));
            Some(PlatformInfo {
                id: (raw >> field::III_PLATFORM_ID_SHIFT) as u8,
                info: raw & ((1 << field::III_PLATFORM_ID_SHIFT) - 1),
            })
        } else {
            None
        };
        let header = ErspanIII {
            version,
            vlan,
            cos,
            bso,
            truncated,
            session,
            timestamp: be32(buf, field::III_TIMESTAMP),
            sgt: be16(buf, field::III_SGT),
            pdu: flags & field::III_P != 0,
            frame_type: ((flags & field::III_FT_MASK) >> field::III_FT_SHIFT) as u8,
            hw_id: ((flags & field::III_HWID_MASK) >> field::III_HWID_SHIFT) as u8,
            direction: if flags & field::III_D != 0 {
                Direction::Egress
            } else {
                Direction::Ingress
            },
            granularity: ((flags & field::III_GRA_MASK) >> field::III_GRA_SHIFT) as u8,
            platform,
        };
        Ok((header, &buf[len..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_ii_from_tcpdump_erspan_type_ii_1() {
        // tcpdump-erspan-type-ii-1.pcap frame 1, ERSPAN header: ver 1, VLAN 342, COS 6,
        // En 0, T 0, session 666, index 32760 (tshark decode in shared/captures/expected).
        let b = [0x11, 0x56, 0xC2, 0x9A, 0x00, 0x00, 0x7F, 0xF8, 0xAA];
        let (h, rest) = ErspanII::parse(&b).unwrap();
        assert_eq!(h.version, 1);
        assert_eq!(h.vlan.get(), 342);
        assert_eq!(h.cos, 6);
        assert_eq!(h.encap_type, 0);
        assert!(!h.truncated);
        assert_eq!(h.session.get(), 666);
        assert_eq!(h.index.get(), 32760);
        assert_eq!(rest, &[0xAA]);
    }

    #[test]
    fn type_ii_t_and_en() {
        // En 3, T 1, session 1023, index 0xFFFFF, reserved bits set (ignored).
        let b = [0x10, 0x00, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        let (h, rest) = ErspanII::parse(&b).unwrap();
        assert_eq!(h.encap_type, 3);
        assert!(h.truncated);
        assert_eq!(h.session.get(), 1023);
        assert_eq!(h.index.get(), 0xF_FFFF);
        assert!(rest.is_empty());
        assert_eq!(
            ErspanII::parse(&b[..7]).unwrap_err(),
            ErspanError::Truncated { needed: 8, got: 7 }
        );
    }

    #[test]
    fn type_iii_from_zeek_erspan_iii() {
        // zeek-erspanIII.pcap frame 2, ERSPAN header + first inner byte: ver 2, VLAN 20,
        // session 0, P=1, FT 0, HWID 3, D=1 (egress), Gra 0, O=0.
        let b = [
            0x20, 0x14, 0x00, 0x00, 0x00, 0x00, 0x14, 0x83, 0x00, 0x00, 0x80, 0x38, 0x00,
        ];
        let (h, rest) = ErspanIII::parse(&b).unwrap();
        assert_eq!(h.version, 2);
        assert_eq!(h.vlan.get(), 20);
        assert_eq!(h.session.get(), 0);
        assert_eq!(h.timestamp, 0x1483);
        assert!(h.pdu);
        assert_eq!(h.frame_type, 0);
        assert_eq!(h.hw_id, 3);
        assert_eq!(h.direction, Direction::Egress);
        assert_eq!(h.granularity, 0);
        assert_eq!(h.platform, None);
        assert_eq!(rest, &[0x00]);
    }

    #[test]
    fn type_iii_platform_subheader() {
        // zeek-gre-erspan3-dot1q.pcap frame 1: VLAN 10, session 0, Gra 3, O=1, platform
        // ID 3 with port index 3 and the upper timestamp word 0x15f742e8.
        let b = [
            0x20, 0x0A, 0x00, 0x00, 0x70, 0x50, 0x7E, 0x55, 0x00, 0x00, 0x00, 0x07, 0x0C, 0x00,
            0x00, 0x03, 0x15, 0xF7, 0x42, 0xE8, 0x00,
        ];
        let (h, rest) = ErspanIII::parse(&b).unwrap();
        assert_eq!(h.session.get(), 0);
        assert_eq!(h.vlan.get(), 10);
        assert_eq!(h.granularity, 3);
        assert_eq!(h.direction, Direction::Ingress);
        let p = h.platform.unwrap();
        assert_eq!(p.id, 3);
        assert_eq!(p.info, (3u64 << 32) | 0x15F7_42E8);
        assert_eq!(rest, &[0x00]);
        assert_eq!(
            ErspanIII::parse(&b[..19]).unwrap_err(),
            ErspanError::Truncated {
                needed: 20,
                got: 19
            }
        );
    }

    #[test]
    fn frame_type_and_bso() {
        // tcpdump-erspan-type-iii-ft-7.pcap frame 1: VLAN 1, BSO 3, T 0, session 101, FT 7.
        let b = [
            0x20, 0x01, 0x18, 0x65, 0x34, 0x76, 0x0B, 0x01, 0x00, 0x00, 0x1E, 0x00,
        ];
        let (h, _) = ErspanIII::parse(&b).unwrap();
        assert_eq!(h.frame_type, 7);
        assert_eq!(h.bso, 3);
        assert!(!h.truncated);
        assert_eq!(h.vlan.get(), 1);
        assert_eq!(h.session.get(), 101);
    }

    #[test]
    fn narrow_types_reject_out_of_range() {
        assert!(SessionId::new(1024).is_none());
        assert_eq!(SessionId::new(1023).map(SessionId::get), Some(1023));
        assert!(ErspanIndex::new(0x10_0000).is_none());
        assert!(VlanId::new(4096).is_none());
    }
}
