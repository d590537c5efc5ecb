//! From the GRE header to the inner frame: which encapsulation a packet carries, its
//! metadata, and the inner frame as a slice of the input.
//!
//! Detection follows the spec's receive rules (§1.2, §2.4): the ERSPAN type is decided
//! by the GRE protocol, the GRE S bit and the ERSPAN Ver nibble, never by guessing
//! from the payload. Every rejection is a [`DecapError`] that maps to a [`SkipCause`],
//! so the pipeline can count drops by cause.

use super::erspan::{self, ErspanError, ErspanII, ErspanIII};
use super::geneve::{GeneveError, GeneveHeader, GeneveProto};
use super::gre::{self, GreError, GreHeader, GreProto};
use super::ip::IpError;
use super::link::LinkError;
use super::vxlan::{VxlanError, VxlanHeader};
use core::fmt;

/// Length of an Ethernet header without tags: shorter inner frames are runts.
pub const ETHERNET_HEADER_LEN: usize = 14;

/// What the inner frame starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    Ethernet,
    /// A raw IPv4 packet (L3 GRE 0x0800, ERSPAN III FT=2).
    Ipv4,
    /// A raw IPv6 packet (L3 GRE 0x86DD, ERSPAN III FT=2).
    Ipv6,
    /// A bare ARP packet (GENEVE 0x0806).
    Arp,
}

/// The encapsulation a frame arrived in, with the fields a user filters and reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encap {
    /// Plain GRE: transparent Ethernet (gretap, OVS/OVN `gre`) or L3 GRE.
    Gre,
    /// ERSPAN type I: no ERSPAN header.
    ErspanI,
    ErspanII(ErspanII),
    ErspanIII(ErspanIII),
    /// VXLAN (RFC 7348) on one of the VXLAN ports.
    Vxlan(VxlanHeader),
    /// GENEVE (RFC 8926) on one of the GENEVE ports.
    Geneve(GeneveHeader),
}

impl Encap {
    /// Short name as printed in text lines and summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Encap::Gre => "gre",
            Encap::ErspanI => "erspan-i",
            Encap::ErspanII(_) => "erspan-ii",
            Encap::ErspanIII(_) => "erspan-iii",
            Encap::Vxlan(_) => "vxlan",
            Encap::Geneve(_) => "geneve",
        }
    }

    /// The VXLAN or GENEVE virtual network identifier.
    pub fn vni(&self) -> Option<super::vxlan::Vni> {
        match self {
            Encap::Vxlan(h) => Some(h.vni),
            Encap::Geneve(h) => Some(h.vni),
            _ => None,
        }
    }

    pub fn session(&self) -> Option<erspan::SessionId> {
        match self {
            Encap::ErspanII(h) => Some(h.session),
            Encap::ErspanIII(h) => Some(h.session),
            Encap::Gre | Encap::ErspanI | Encap::Vxlan(_) | Encap::Geneve(_) => None,
        }
    }
}

/// The GRE header fields of a decapsulated packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GreInfo {
    pub flags: u16,
    pub protocol: GreProto,
    pub checksum: Option<u16>,
    pub key: Option<u32>,
    pub sequence: Option<u32>,
    /// The GRE packet arrived in UDP (RFC 8086 GRE-in-UDP), not as IP protocol 47: a
    /// session of its own, named `gre-udp` (see [`crate::sessions::SessionKey`]).
    pub over_udp: bool,
}

impl GreInfo {
    /// What a VXLAN or GENEVE frame, which has no GRE header, carries here.
    pub const NONE: GreInfo = GreInfo {
        flags: 0,
        protocol: GreProto(0),
        checksum: None,
        key: None,
        sequence: None,
        over_udp: false,
    };
}

/// Things worth counting about a frame that is still written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Note {
    /// GRE `s`, Recur or reserved flag bits were set and ignored.
    GreLegacyBits,
    /// The GRE checksum did not verify (the frame is written anyway).
    GreChecksumBad,
    /// ERSPAN Ver did not match the GRE protocol type (0x88BE + Ver 2, 0x22EB + Ver 1).
    ErspanVersionMismatch,
    /// ERSPAN type I (0x88BE without S) carried a GRE key or checksum.
    ErspanTypeIWithOptions,
    /// The sender marked the frame truncated (ERSPAN T bit).
    SenderTruncated,
    /// ERSPAN III BSO said the frame is short, oversized or had a bad CRC.
    SenderBadFrame,
    /// VXLAN reserved bits were set and ignored.
    VxlanReservedBits,
    /// A GENEVE option ran past the options length (the payload is still where the
    /// header says).
    GeneveBadOptions,
    /// A mirror packet inside a GENEVE packet (AWS GWLB) was stripped too.
    NestedMirror,
    /// Past the nesting bound: a mirror encapsulation inside was written as it is.
    NestingBound,
}

impl Note {
    pub const ALL: [Note; 10] = [
        Note::GreLegacyBits,
        Note::GreChecksumBad,
        Note::ErspanVersionMismatch,
        Note::ErspanTypeIWithOptions,
        Note::SenderTruncated,
        Note::SenderBadFrame,
        Note::VxlanReservedBits,
        Note::GeneveBadOptions,
        Note::NestedMirror,
        Note::NestingBound,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Note::GreLegacyBits => "gre-legacy-bits",
            Note::GreChecksumBad => "gre-checksum-bad",
            Note::ErspanVersionMismatch => "erspan-version-mismatch",
            Note::ErspanTypeIWithOptions => "erspan-type1-with-options",
            Note::SenderTruncated => "sender-truncated",
            Note::SenderBadFrame => "sender-bad-frame",
            Note::VxlanReservedBits => "vxlan-reserved-bits",
            Note::GeneveBadOptions => "geneve-bad-options",
            Note::NestedMirror => "nested-mirror",
            Note::NestingBound => "nesting-bound",
        }
    }
}

/// A small set of [`Note`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Notes(u16);

impl Notes {
    pub fn insert(&mut self, note: Note) {
        self.0 |= 1 << note as u8;
    }

    pub fn contains(self, note: Note) -> bool {
        self.0 & (1 << note as u8) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Note> {
        Note::ALL.into_iter().filter(move |n| self.contains(*n))
    }
}

/// A decapsulated inner frame and everything the encapsulation said about it.
#[derive(Clone, Copy, Debug)]
pub struct Decapsulated<'a> {
    pub gre: GreInfo,
    pub encap: Encap,
    pub kind: PayloadKind,
    /// The captured inner bytes (a slice of the outer packet).
    pub frame: &'a [u8],
    /// The inner frame's length as it arrived (>= `frame.len()`); when the sender
    /// truncated the frame (T bit) the original length is unknown and this is what
    /// was sent.
    pub orig_len: usize,
    pub notes: Notes,
    /// GENEVE options (empty for every other encapsulation), for `-v`.
    pub tunnel_options: &'a [u8],
}

/// Why a GRE packet yields no inner frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecapError {
    #[error(transparent)]
    Gre(#[from] GreError),
    #[error(transparent)]
    Erspan(#[from] ErspanError),
    #[error("GRE keepalive")]
    Keepalive,
    #[error("GRE protocol {0:?} is not a mirror payload")]
    UnsupportedProtocol(GreProto),
    #[error("ERSPAN III frame type {0} is neither Ethernet (0) nor IP (2)")]
    UnsupportedFrameType(u8),
    #[error("inner Ethernet frame of {0} bytes is shorter than an Ethernet header")]
    RuntInner(usize),
    #[error("inner packet is not IPv{expected} (first nibble {nibble})")]
    InnerNotIp { expected: u8, nibble: u8 },
    #[error(transparent)]
    Vxlan(#[from] VxlanError),
    #[error(transparent)]
    Geneve(#[from] GeneveError),
    #[error("GENEVE protocol {0:?} is not Ethernet, IPv4, IPv6 or ARP")]
    GeneveProtocol(GeneveProto),
    #[error("UDP header truncated: needs 8 bytes, {0} captured")]
    TruncatedUdp(usize),
    #[error("UDP length {udp} does not fit the IP payload of {ip} bytes")]
    BadUdpLength { udp: usize, ip: usize },
    #[error("UDP to port {0}, which is not a VXLAN, GENEVE or GRE-in-UDP port")]
    NotMirrorPort(u16),
}

/// Why an outer packet was skipped: one name per check, for the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipCause {
    TruncatedLink,
    NotIp,
    TruncatedIp,
    BadIpHeader,
    Ipv6ExtHeaders,
    NotGre,
    FragmentIncomplete,
    FragmentOverlap,
    TruncatedGre,
    GreRouting,
    GreVersion,
    GreKeepalive,
    GreProtocol(GreProto),
    TruncatedErspan,
    ErspanVersion,
    ErspanFrameType,
    RuntInner,
    InnerNotIp,
    TruncatedUdp,
    BadUdpLength,
    TruncatedVxlan,
    VxlanNoVni,
    TruncatedGeneve,
    GeneveVersion,
    GeneveOptionsPastPacket,
    GeneveProtocol(GeneveProto),
}

/// The two kinds of skip a user tells apart: broken input, or input that is fine but
/// not a mirror payload spandump writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipClass {
    /// Cut short, lying lengths, overlapping or never-completed fragments.
    Malformed,
    /// Well formed but not for us: not GRE, keepalives, PPTP, other payloads.
    Unsupported,
}

impl SkipCause {
    /// Whether the packet was broken or merely not a mirror payload.
    pub fn class(self) -> SkipClass {
        match self {
            SkipCause::TruncatedLink
            | SkipCause::TruncatedIp
            | SkipCause::BadIpHeader
            | SkipCause::FragmentIncomplete
            | SkipCause::FragmentOverlap
            | SkipCause::TruncatedGre
            | SkipCause::TruncatedErspan
            | SkipCause::RuntInner
            | SkipCause::InnerNotIp
            | SkipCause::TruncatedUdp
            | SkipCause::BadUdpLength
            | SkipCause::TruncatedVxlan
            | SkipCause::TruncatedGeneve
            | SkipCause::GeneveOptionsPastPacket => SkipClass::Malformed,
            SkipCause::NotIp
            | SkipCause::Ipv6ExtHeaders
            | SkipCause::NotGre
            | SkipCause::GreRouting
            | SkipCause::GreVersion
            | SkipCause::GreKeepalive
            | SkipCause::GreProtocol(_)
            | SkipCause::ErspanVersion
            | SkipCause::ErspanFrameType
            | SkipCause::VxlanNoVni
            | SkipCause::GeneveVersion
            | SkipCause::GeneveProtocol(_) => SkipClass::Unsupported,
        }
    }

    /// Human description for the summary.
    pub fn describe(self) -> &'static str {
        match self {
            SkipCause::TruncatedLink => "link header cut short",
            SkipCause::NotIp => "not an IP packet",
            SkipCause::TruncatedIp => "IP header cut short",
            SkipCause::BadIpHeader => "malformed IP header",
            SkipCause::Ipv6ExtHeaders => "too many IPv6 extension headers",
            SkipCause::NotGre => "IP packet that is neither GRE nor UDP to a mirror port",
            SkipCause::FragmentIncomplete => "outer fragment never reassembled",
            SkipCause::FragmentOverlap => "overlapping outer fragments",
            SkipCause::TruncatedGre => "GRE header cut short",
            SkipCause::GreRouting => "GRE routing bit set",
            SkipCause::GreVersion => "GRE version not 0 (PPTP)",
            SkipCause::GreKeepalive => "GRE keepalive",
            SkipCause::GreProtocol(_) => "GRE payload that is not a mirror",
            SkipCause::TruncatedErspan => "ERSPAN header cut short",
            SkipCause::ErspanVersion => "unknown ERSPAN version",
            SkipCause::ErspanFrameType => "ERSPAN III frame type not Ethernet or IP",
            SkipCause::RuntInner => "inner frame shorter than an Ethernet header",
            SkipCause::InnerNotIp => "L3 payload that is not IP",
            SkipCause::TruncatedUdp => "UDP header cut short",
            SkipCause::BadUdpLength => "UDP length does not fit the IP payload",
            SkipCause::TruncatedVxlan => "VXLAN header cut short",
            SkipCause::VxlanNoVni => "VXLAN I flag clear",
            SkipCause::TruncatedGeneve => "GENEVE header or options cut short",
            SkipCause::GeneveVersion => "GENEVE version not 0",
            SkipCause::GeneveOptionsPastPacket => "GENEVE options length past the packet",
            SkipCause::GeneveProtocol(_) => "GENEVE payload that is not a mirror",
        }
    }
}

/// The stable identifier (`not-gre`, `gre-proto-0x2001`) used in summaries.
impl fmt::Display for SkipCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = match self {
            SkipCause::TruncatedLink => "truncated-link",
            SkipCause::NotIp => "not-ip",
            SkipCause::TruncatedIp => "truncated-ip",
            SkipCause::BadIpHeader => "bad-ip-header",
            SkipCause::Ipv6ExtHeaders => "ipv6-ext-headers",
            SkipCause::NotGre => "not-gre",
            SkipCause::FragmentIncomplete => "fragment-incomplete",
            SkipCause::FragmentOverlap => "fragment-overlap",
            SkipCause::TruncatedGre => "truncated-gre",
            SkipCause::GreRouting => "gre-routing",
            SkipCause::GreVersion => "gre-version",
            SkipCause::GreKeepalive => "gre-keepalive",
            SkipCause::GreProtocol(p) => return write!(f, "gre-proto-{:#06x}", p.0),
            SkipCause::TruncatedErspan => "truncated-erspan",
            SkipCause::ErspanVersion => "erspan-version",
            SkipCause::ErspanFrameType => "erspan-frame-type",
            SkipCause::RuntInner => "runt-inner",
            SkipCause::InnerNotIp => "inner-not-ip",
            SkipCause::TruncatedUdp => "truncated-udp",
            SkipCause::BadUdpLength => "bad-udp-length",
            SkipCause::TruncatedVxlan => "truncated-vxlan",
            SkipCause::VxlanNoVni => "vxlan-no-vni",
            SkipCause::TruncatedGeneve => "truncated-geneve",
            SkipCause::GeneveVersion => "geneve-version",
            SkipCause::GeneveOptionsPastPacket => "geneve-options-past-packet",
            SkipCause::GeneveProtocol(p) => return write!(f, "geneve-proto-{:#06x}", p.0),
        };
        f.write_str(id)
    }
}

impl From<LinkError> for SkipCause {
    fn from(e: LinkError) -> SkipCause {
        match e {
            LinkError::Truncated { .. } => SkipCause::TruncatedLink,
            LinkError::NotIp(_) | LinkError::TooManyVlanTags => SkipCause::NotIp,
        }
    }
}

impl From<IpError> for SkipCause {
    fn from(e: IpError) -> SkipCause {
        match e {
            IpError::Truncated { .. } => SkipCause::TruncatedIp,
            IpError::BadHeader { .. } => SkipCause::BadIpHeader,
            IpError::TooManyExtHeaders => SkipCause::Ipv6ExtHeaders,
            IpError::NoUpperLayer(_) => SkipCause::NotGre,
        }
    }
}

impl From<DecapError> for SkipCause {
    fn from(e: DecapError) -> SkipCause {
        match e {
            DecapError::Gre(GreError::Truncated { .. }) => SkipCause::TruncatedGre,
            DecapError::Gre(GreError::RoutingPresent) => SkipCause::GreRouting,
            DecapError::Gre(GreError::UnsupportedVersion(_)) => SkipCause::GreVersion,
            DecapError::Erspan(ErspanError::Truncated { .. }) => SkipCause::TruncatedErspan,
            DecapError::Erspan(ErspanError::UnsupportedVersion(_)) => SkipCause::ErspanVersion,
            DecapError::Keepalive => SkipCause::GreKeepalive,
            DecapError::UnsupportedProtocol(p) => SkipCause::GreProtocol(p),
            DecapError::UnsupportedFrameType(_) => SkipCause::ErspanFrameType,
            DecapError::RuntInner(_) => SkipCause::RuntInner,
            DecapError::InnerNotIp { .. } => SkipCause::InnerNotIp,
            DecapError::Vxlan(VxlanError::Truncated { .. }) => SkipCause::TruncatedVxlan,
            DecapError::Vxlan(VxlanError::NoVni(_)) => SkipCause::VxlanNoVni,
            DecapError::Geneve(GeneveError::Truncated { .. }) => SkipCause::TruncatedGeneve,
            DecapError::Geneve(GeneveError::UnsupportedVersion(_)) => SkipCause::GeneveVersion,
            DecapError::Geneve(GeneveError::OptionsPastPacket { .. }) => {
                SkipCause::GeneveOptionsPastPacket
            }
            DecapError::GeneveProtocol(p) => SkipCause::GeneveProtocol(p),
            DecapError::TruncatedUdp(_) => SkipCause::TruncatedUdp,
            DecapError::BadUdpLength { .. } => SkipCause::BadUdpLength,
            // Ordinary UDP traffic: as any other IP packet that is not a mirror.
            DecapError::NotMirrorPort(_) => SkipCause::NotGre,
        }
    }
}

const ERSPAN_VERSION_II: u8 = 1;
const ERSPAN_VERSION_III: u8 = 2;

/// Decapsulates one GRE packet: `gre_bytes` are the captured bytes from the GRE header
/// on (trimmed to the IP length), `wire_len` their length on the wire.
pub fn decapsulate_gre(gre_bytes: &[u8], wire_len: usize) -> Result<Decapsulated<'_>, DecapError> {
    let header = GreHeader::new_checked(gre_bytes)?;
    let flags = header.flags();
    let protocol = header.protocol();
    let (checksum, key, sequence) = header.optional_fields();
    let mut notes = Notes::default();
    if header.legacy_bits() != 0 {
        notes.insert(Note::GreLegacyBits);
    }
    if checksum.is_some() && gre_bytes.len() == wire_len && gre::internet_checksum(gre_bytes) != 0 {
        notes.insert(Note::GreChecksumBad);
    }
    let payload = header.payload();
    let gre = GreInfo {
        flags,
        protocol,
        checksum,
        key,
        sequence,
        over_udp: false,
    };
    // Each arm builds its result in place: a (encap, kind, frame) tuple returned from
    // the match and then moved into the result cost ~20 instructions per packet.
    let done =
        |encap, kind, frame, notes| in_place(gre, encap, kind, frame, notes, gre_bytes, wire_len);
    match protocol {
        GreProto::TRANSPARENT_ETHERNET => done(Encap::Gre, PayloadKind::Ethernet, payload, notes),
        GreProto::IPV4 => done(Encap::Gre, PayloadKind::Ipv4, payload, notes),
        GreProto::IPV6 => done(Encap::Gre, PayloadKind::Ipv6, payload, notes),
        GreProto::ERSPAN_I_II if flags & gre::FLAG_SEQUENCE == 0 => {
            if flags & (gre::FLAG_KEY | gre::FLAG_CHECKSUM) != 0 {
                notes.insert(Note::ErspanTypeIWithOptions);
            }
            done(Encap::ErspanI, PayloadKind::Ethernet, payload, notes)
        }
        GreProto::ERSPAN_I_II | GreProto::ERSPAN_III => {
            let expected = if protocol == GreProto::ERSPAN_III {
                ERSPAN_VERSION_III
            } else {
                ERSPAN_VERSION_II
            };
            let version = erspan::version(payload)?;
            if version != expected {
                notes.insert(Note::ErspanVersionMismatch);
            }
            match version {
                ERSPAN_VERSION_II => {
                    let (h, rest) = ErspanII::parse(payload)?;
                    if h.truncated {
                        notes.insert(Note::SenderTruncated);
                    }
                    done(Encap::ErspanII(h), PayloadKind::Ethernet, rest, notes)
                }
                ERSPAN_VERSION_III => {
                    let (h, rest) = ErspanIII::parse(payload)?;
                    if h.truncated {
                        notes.insert(Note::SenderTruncated);
                    }
                    if h.bso != 0 {
                        notes.insert(Note::SenderBadFrame);
                    }
                    let kind = match h.frame_type {
                        ErspanIII::FRAME_TYPE_ETHERNET => PayloadKind::Ethernet,
                        ErspanIII::FRAME_TYPE_IP => match rest.first().map(|b| b >> 4) {
                            Some(4) => PayloadKind::Ipv4,
                            Some(6) => PayloadKind::Ipv6,
                            nibble => {
                                return Err(DecapError::InnerNotIp {
                                    expected: 4,
                                    nibble: nibble.unwrap_or(0),
                                });
                            }
                        },
                        other => return Err(DecapError::UnsupportedFrameType(other)),
                    };
                    done(Encap::ErspanIII(h), kind, rest, notes)
                }
                other => Err(ErspanError::UnsupportedVersion(other).into()),
            }
        }
        GreProto::KEEPALIVE => Err(DecapError::Keepalive),
        other => Err(DecapError::UnsupportedProtocol(other)),
    }
}

/// The result of [`decapsulate_gre`]: `frame` (the inner bytes) is the tail of
/// `gre_bytes`, which were `wire_len` bytes on the wire.
#[inline(always)]
fn in_place<'a>(
    gre: GreInfo,
    encap: Encap,
    kind: PayloadKind,
    frame: &'a [u8],
    notes: Notes,
    gre_bytes: &'a [u8],
    wire_len: usize,
) -> Result<Decapsulated<'a>, DecapError> {
    let orig_len = wire_len.saturating_sub(gre_bytes.len() - frame.len());
    check_inner(kind, frame, orig_len)?;
    Ok(Decapsulated {
        gre,
        encap,
        kind,
        frame,
        orig_len,
        notes,
        tunnel_options: &[],
    })
}

/// Checks that an inner payload of `kind` (`frame` captured, `orig_len` on the wire)
/// starts as it should: an Ethernet header's worth, or the right IP version.
pub(crate) fn check_inner(
    kind: PayloadKind,
    frame: &[u8],
    orig_len: usize,
) -> Result<(), DecapError> {
    match kind {
        PayloadKind::Ethernet if orig_len < ETHERNET_HEADER_LEN => {
            Err(DecapError::RuntInner(orig_len))
        }
        PayloadKind::Ethernet => Ok(()),
        PayloadKind::Arp if orig_len == 0 => Err(DecapError::RuntInner(0)),
        PayloadKind::Arp => Ok(()),
        PayloadKind::Ipv4 | PayloadKind::Ipv6 => {
            let expected = if kind == PayloadKind::Ipv4 { 4 } else { 6 };
            match frame.first().map(|b| b >> 4) {
                None if orig_len == 0 => Err(DecapError::RuntInner(0)),
                Some(nibble) if nibble != expected => {
                    Err(DecapError::InnerNotIp { expected, nibble })
                }
                _ => Ok(()),
            }
        }
    }
}

/// Decapsulates a VXLAN packet: `b` are the captured bytes of the UDP payload,
/// `wire_len` its length on the wire.
pub fn decapsulate_vxlan(b: &[u8], wire_len: usize) -> Result<Decapsulated<'_>, DecapError> {
    let (header, frame) = VxlanHeader::parse(b)?;
    let mut notes = Notes::default();
    if header.reserved_bits {
        notes.insert(Note::VxlanReservedBits);
    }
    let orig_len = wire_len.max(b.len()) - (b.len() - frame.len());
    check_inner(PayloadKind::Ethernet, frame, orig_len)?;
    Ok(Decapsulated {
        gre: GreInfo::NONE,
        encap: Encap::Vxlan(header),
        kind: PayloadKind::Ethernet,
        frame,
        orig_len,
        notes,
        tunnel_options: &[],
    })
}

/// Decapsulates a GENEVE packet: `b` are the captured bytes of the UDP payload,
/// `wire_len` its length on the wire.
pub fn decapsulate_geneve(b: &[u8], wire_len: usize) -> Result<Decapsulated<'_>, DecapError> {
    let (header, options, frame) = GeneveHeader::parse(b, wire_len)?;
    let kind = match header.protocol {
        GeneveProto::ETHERNET => PayloadKind::Ethernet,
        GeneveProto::IPV4 => PayloadKind::Ipv4,
        GeneveProto::IPV6 => PayloadKind::Ipv6,
        GeneveProto::ARP => PayloadKind::Arp,
        other => return Err(DecapError::GeneveProtocol(other)),
    };
    let mut notes = Notes::default();
    if !super::geneve::GeneveOptions::well_formed(options) {
        notes.insert(Note::GeneveBadOptions);
    }
    let orig_len = wire_len.max(b.len()) - (b.len() - frame.len());
    check_inner(kind, frame, orig_len)?;
    Ok(Decapsulated {
        gre: GreInfo::NONE,
        encap: Encap::Geneve(header),
        kind,
        frame,
        orig_len,
        notes,
        tunnel_options: options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::erspan::Direction;

    fn eth_frame(first_byte: u8) -> Vec<u8> {
        let mut f = vec![
            first_byte, 0x25, 0x9e, 0x81, 0xb3, 0x54, 1, 2, 3, 4, 5, 6, 0x08, 0x00,
        ];
        f.extend_from_slice(&[0x45; 20]);
        f
    }

    fn gre(flags: u16, proto: u16, opts: &[u32], rest: &[u8]) -> Vec<u8> {
        let mut p = flags.to_be_bytes().to_vec();
        p.extend_from_slice(&proto.to_be_bytes());
        for o in opts {
            p.extend_from_slice(&o.to_be_bytes());
        }
        p.extend_from_slice(rest);
        p
    }

    #[test]
    fn gretap_with_key() {
        // OVN `mirror-add m gre 99`: flags 0x2000, key 99, proto 0x6558 (spec §3.3).
        let f = eth_frame(0);
        let p = gre(0x2000, 0x6558, &[99], &f);
        let d = decapsulate_gre(&p, p.len()).unwrap();
        assert_eq!(d.encap, Encap::Gre);
        assert_eq!(d.gre.key, Some(99));
        assert_eq!(d.kind, PayloadKind::Ethernet);
        assert_eq!(d.frame, &f[..]);
        assert_eq!(d.orig_len, f.len());
        assert!(d.notes.is_empty());
    }

    #[test]
    fn type_i_decided_by_flags_not_nibble() {
        // tcpdump-erspan-type-i-2.pcap: the inner MAC starts with 0x10, which looks
        // like an ERSPAN Ver 1 header; flags 0 say type I.
        let f = eth_frame(0x10);
        let p = gre(0x0000, 0x88BE, &[], &f);
        let d = decapsulate_gre(&p, p.len()).unwrap();
        assert_eq!(d.encap, Encap::ErspanI);
        assert_eq!(d.frame, &f[..]);
        let p = gre(0x2000, 0x88BE, &[5], &f);
        let d = decapsulate_gre(&p, p.len()).unwrap();
        assert_eq!(d.encap, Encap::ErspanI);
        assert!(d.notes.contains(Note::ErspanTypeIWithOptions));
    }

    #[test]
    fn type_ii_and_mismatched_versions() {
        let f = eth_frame(0);
        let mut body = vec![0x10, 0x17, 0x18, 0x64, 0x00, 0x01, 0xAB, 0xCD];
        body.extend_from_slice(&f);
        let p = gre(0x1000, 0x88BE, &[1794], &body);
        let d = decapsulate_gre(&p, p.len()).unwrap();
        let Encap::ErspanII(h) = d.encap else {
            panic!("{:?}", d.encap)
        };
        assert_eq!(h.session.get(), 100);
        assert_eq!(h.index.get(), 0x1ABCD);
        assert_eq!(h.vlan.get(), 23);
        assert_eq!(d.gre.sequence, Some(1794));
        assert_eq!(d.frame, &f[..]);
        assert!(d.notes.is_empty());
        // The same header under 0x22EB: parsed as type II, counted as a mismatch.
        let p = gre(0x1000, 0x22EB, &[1], &body);
        let d = decapsulate_gre(&p, p.len()).unwrap();
        assert!(matches!(d.encap, Encap::ErspanII(_)));
        assert!(d.notes.contains(Note::ErspanVersionMismatch));
        // Ver 3 is unknown.
        body[0] = 0x30;
        let p = gre(0x1000, 0x88BE, &[1], &body);
        assert_eq!(
            decapsulate_gre(&p, p.len()).unwrap_err(),
            DecapError::Erspan(ErspanError::UnsupportedVersion(3))
        );
    }

    fn type_iii(flags_w2: u16, extra: &[u8], inner: &[u8]) -> Vec<u8> {
        let mut b = vec![0x20, 0x14, 0x00, 0xC8, 0, 0, 0, 1, 0, 0];
        b.extend_from_slice(&flags_w2.to_be_bytes());
        b.extend_from_slice(extra);
        b.extend_from_slice(inner);
        b
    }

    #[test]
    fn type_iii_variants() {
        let f = eth_frame(0);
        // Linux/OVS: S set, D = egress.
        let p = gre(0x1000, 0x22EB, &[7], &type_iii(0x0008, &[], &f));
        let d = decapsulate_gre(&p, p.len()).unwrap();
        let Encap::ErspanIII(h) = d.encap else {
            panic!()
        };
        assert_eq!(h.session.get(), 200);
        assert_eq!(h.direction, Direction::Egress);
        assert_eq!(d.frame, &f[..]);
        // Cisco/Pensando: flags 0, O = 1 platform sub-header skipped.
        let p = gre(
            0x0000,
            0x22EB,
            &[],
            &type_iii(0x0007, &[0x0C, 0, 0, 3, 0, 0, 0, 1], &f),
        );
        let d = decapsulate_gre(&p, p.len()).unwrap();
        assert_eq!(d.frame, &f[..]);
        // 0x88BE + S + Ver 2: old Linux ip6erspan, type III layout.
        let p = gre(0x1000, 0x88BE, &[7], &type_iii(0, &[], &f));
        let d = decapsulate_gre(&p, p.len()).unwrap();
        assert!(matches!(d.encap, Encap::ErspanIII(_)));
        assert!(d.notes.contains(Note::ErspanVersionMismatch));
        // FT = 2: raw IP.
        let ip = [0x60, 0, 0, 0];
        let p = gre(0x1000, 0x22EB, &[7], &type_iii(2 << 10, &[], &ip));
        let d = decapsulate_gre(&p, p.len()).unwrap();
        assert_eq!(d.kind, PayloadKind::Ipv6);
        assert_eq!(d.frame, &ip);
        // FT = 7: skipped.
        let p = gre(0x1000, 0x22EB, &[7], &type_iii(7 << 10, &[], &f));
        assert_eq!(
            decapsulate_gre(&p, p.len()).unwrap_err(),
            DecapError::UnsupportedFrameType(7)
        );
    }

    #[test]
    fn sender_truncation_and_capture_cut() {
        let f = eth_frame(0);
        let mut body = vec![0x10, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00];
        body.extend_from_slice(&f);
        let p = gre(0x1000, 0x88BE, &[1], &body);
        // The capture kept only 30 bytes of a packet that was p.len() + 100 long.
        let d = decapsulate_gre(&p[..30], p.len() + 100).unwrap();
        assert!(d.notes.contains(Note::SenderTruncated));
        assert_eq!(d.frame, &f[..14]);
        assert_eq!(d.orig_len, f.len() + 100);
    }

    #[test]
    fn skips_by_cause() {
        let p = gre(0x2000, 0x0000, &[0x28], &[]);
        assert_eq!(
            decapsulate_gre(&p, p.len()).unwrap_err(),
            DecapError::Keepalive
        );
        let p = gre(0x0000, 0x2001, &[], &[0; 20]);
        let e = decapsulate_gre(&p, p.len()).unwrap_err();
        assert_eq!(SkipCause::from(e).to_string(), "gre-proto-0x2001");
        let p = gre(0x0000, 0x6558, &[], &[0; 13]);
        assert_eq!(
            decapsulate_gre(&p, p.len()).unwrap_err(),
            DecapError::RuntInner(13)
        );
        let p = gre(0x0000, 0x0800, &[], &[0x60; 20]);
        assert_eq!(
            decapsulate_gre(&p, p.len()).unwrap_err(),
            DecapError::InnerNotIp {
                expected: 4,
                nibble: 6
            }
        );
        let p = gre(0x1000, 0x88BE, &[1], &[0x10, 0, 0]);
        assert_eq!(
            SkipCause::from(decapsulate_gre(&p, p.len()).unwrap_err()),
            SkipCause::TruncatedErspan
        );
    }

    #[test]
    fn checksum_verified_when_complete() {
        let f = eth_frame(0);
        let mut p = gre(0x8000, 0x6558, &[0], &f);
        let sum = gre::internet_checksum(&p);
        p[4..6].copy_from_slice(&sum.to_be_bytes());
        let d = decapsulate_gre(&p, p.len()).unwrap();
        assert!(!d.notes.contains(Note::GreChecksumBad));
        assert_eq!(d.gre.checksum, Some(sum));
        p[20] ^= 0xFF;
        let d = decapsulate_gre(&p, p.len()).unwrap();
        assert!(d.notes.contains(Note::GreChecksumBad));
    }
}
