//! A small generator of underlay captures: outer Ethernet / IPv4 / IPv6 / GRE / ERSPAN
//! packets around inner frames, written as classic pcap or pcapng.
//!
//! Used by the end-to-end tests (`tests/generated.rs`) and by the benchmark input
//! generator (`examples/gen-underlay.rs`, which includes this file with `#[path]`).
//! It must stay independent of spandump's own code: it is built from the RFCs and
//! draft-foschiano-erspan-03 (see `/work/shared/spec/wire-formats.md` §1, §2, §5), and
//! its output is checked against tshark by `generator_output_is_decoded_by_tshark`
//! in `tests/generated.rs`, so spandump is never tested against itself.
//!
//! Every layer is a plain builder struct with public fields; `build(payload)` returns
//! the layer's header followed by `payload`. Lengths and checksums are computed unless
//! a field says it overrides them (to make broken packets on purpose).
//!
//! Timestamps are nanoseconds since the Unix epoch (`u64`) everywhere.

#![allow(dead_code)]

use std::io::{self, Write};

/// A MAC address.
pub type Mac = [u8; 6];

/// EtherType / GRE protocol type values used here.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88A8;
    pub const IPV6: u16 = 0x86DD;
    /// Transparent Ethernet Bridging (gretap).
    pub const TEB: u16 = 0x6558;
    /// ERSPAN type I and II.
    pub const ERSPAN_II: u16 = 0x88BE;
    /// ERSPAN type III.
    pub const ERSPAN_III: u16 = 0x22EB;
    /// Cisco GRE keepalive uses protocol type 0.
    pub const KEEPALIVE: u16 = 0x0000;
}

/// IP protocol / IPv6 next-header numbers used here.
pub mod ipproto {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const IPV4: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const GRE: u8 = 47;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const NO_NEXT: u8 = 59;
    pub const DEST_OPTS: u8 = 60;
}

/// LINKTYPE_* values as stored in capture files.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW: u32 = 101;
    pub const LINUX_SLL: u32 = 113;
    pub const LINUX_SLL2: u32 = 276;
}

/// The Internet checksum (RFC 1071) over the concatenation of `chunks`.
pub fn internet_checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for chunk in chunks {
        for &b in chunk.iter() {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

// ---------------------------------------------------------------------------------
// Ethernet
// ---------------------------------------------------------------------------------

/// One 802.1Q / 802.1ad tag.
#[derive(Clone, Debug)]
pub struct VlanTag {
    /// Tag protocol identifier: 0x8100 (C-tag) or 0x88A8 (S-tag, QinQ outer).
    pub tpid: u16,
    /// Priority code point (3 bits).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN ID (12 bits).
    pub vid: u16,
}

impl VlanTag {
    pub fn dot1q(vid: u16) -> Self {
        VlanTag {
            tpid: ethertype::VLAN,
            pcp: 0,
            dei: false,
            vid,
        }
    }

    pub fn dot1ad(vid: u16) -> Self {
        VlanTag {
            tpid: ethertype::QINQ,
            ..VlanTag::dot1q(vid)
        }
    }

    fn tci(&self) -> u16 {
        (u16::from(self.pcp & 7) << 13) | (u16::from(self.dei) << 12) | (self.vid & 0x0FFF)
    }
}

/// An Ethernet II header with 0..n VLAN tags (outermost first). No FCS.
#[derive(Clone, Debug)]
pub struct Ethernet {
    pub dst: Mac,
    pub src: Mac,
    pub vlans: Vec<VlanTag>,
    /// EtherType of the payload (after the last tag).
    pub ethertype: u16,
}

impl Ethernet {
    pub fn new(ethertype: u16) -> Self {
        Ethernet {
            dst: [0x02, 0x00, 0x00, 0x00, 0x00, 0x02],
            src: [0x02, 0x00, 0x00, 0x00, 0x00, 0x01],
            vlans: Vec::new(),
            ethertype,
        }
    }

    pub fn macs(mut self, src: Mac, dst: Mac) -> Self {
        self.src = src;
        self.dst = dst;
        self
    }

    pub fn vlan(mut self, tag: VlanTag) -> Self {
        self.vlans.push(tag);
        self
    }

    pub fn header_len(&self) -> usize {
        14 + 4 * self.vlans.len()
    }

    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.header_len() + payload.len());
        out.extend_from_slice(&self.dst);
        out.extend_from_slice(&self.src);
        for tag in &self.vlans {
            out.extend_from_slice(&tag.tpid.to_be_bytes());
            out.extend_from_slice(&tag.tci().to_be_bytes());
        }
        out.extend_from_slice(&self.ethertype.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Like `build`, then zero-padded to the 60-byte Ethernet minimum (as a NIC sends it).
    pub fn build_padded(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = self.build(payload);
        if out.len() < 60 {
            out.resize(60, 0);
        }
        out
    }
}

// ---------------------------------------------------------------------------------
// IPv4
// ---------------------------------------------------------------------------------

/// An IPv4 header (RFC 791).
#[derive(Clone, Debug)]
pub struct Ipv4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub protocol: u8,
    pub ttl: u8,
    pub tos: u8,
    pub id: u16,
    /// Don't Fragment.
    pub df: bool,
    /// More Fragments.
    pub mf: bool,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
    /// Raw option bytes; zero-padded (EOL) to a multiple of 4. IHL = 5 + len/4.
    pub options: Vec<u8>,
    /// Overrides the computed Total Length.
    pub total_length: Option<u16>,
    /// Overrides the IHL nibble (for broken headers).
    pub ihl: Option<u8>,
    /// Overrides the computed header checksum.
    pub checksum: Option<u16>,
}

impl Ipv4 {
    pub fn new(src: [u8; 4], dst: [u8; 4], protocol: u8) -> Self {
        Ipv4 {
            src,
            dst,
            protocol,
            ttl: 64,
            tos: 0,
            id: 0x1234,
            df: false,
            mf: false,
            frag_offset: 0,
            options: Vec::new(),
            total_length: None,
            ihl: None,
            checksum: None,
        }
    }

    fn padded_options(&self) -> Vec<u8> {
        let mut opts = self.options.clone();
        while !opts.len().is_multiple_of(4) {
            opts.push(0);
        }
        opts
    }

    pub fn header_len(&self) -> usize {
        20 + self.padded_options().len()
    }

    /// The header alone, for a payload of `payload_len` bytes.
    pub fn header(&self, payload_len: usize) -> Vec<u8> {
        let opts = self.padded_options();
        let hlen = 20 + opts.len();
        assert!(hlen <= 60, "IPv4 options longer than 40 bytes");
        let ihl = self.ihl.unwrap_or((hlen / 4) as u8);
        let total = self
            .total_length
            .unwrap_or_else(|| u16::try_from(hlen + payload_len).expect("IPv4 packet too big"));
        let flags_frag =
            (u16::from(self.df) << 14) | (u16::from(self.mf) << 13) | (self.frag_offset & 0x1FFF);
        let mut h = Vec::with_capacity(hlen);
        h.push(0x40 | (ihl & 0x0F));
        h.push(self.tos);
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&self.id.to_be_bytes());
        h.extend_from_slice(&flags_frag.to_be_bytes());
        h.push(self.ttl);
        h.push(self.protocol);
        h.extend_from_slice(&[0, 0]);
        h.extend_from_slice(&self.src);
        h.extend_from_slice(&self.dst);
        h.extend_from_slice(&opts);
        let csum = self.checksum.unwrap_or_else(|| internet_checksum(&[&h]));
        h[10..12].copy_from_slice(&csum.to_be_bytes());
        h
    }

    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = self.header(payload.len());
        out.extend_from_slice(payload);
        out
    }

    /// Splits `payload` into fragments of at most `chunk` payload bytes (a multiple of
    /// 8) and returns the complete IPv4 packets, in order. Options are copied into every
    /// fragment (simplification; tests do not care about copy flags).
    pub fn fragments(&self, payload: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        assert!(
            chunk > 0 && chunk.is_multiple_of(8),
            "fragment size must be a multiple of 8"
        );
        let mut out = Vec::new();
        let mut off = 0;
        while off < payload.len() {
            let end = (off + chunk).min(payload.len());
            let mut frag = self.clone();
            frag.frag_offset = self.frag_offset + (off / 8) as u16;
            frag.mf = end < payload.len() || self.mf;
            out.push(frag.build(&payload[off..end]));
            off = end;
        }
        out
    }
}

// ---------------------------------------------------------------------------------
// IPv6
// ---------------------------------------------------------------------------------

/// One IPv6 extension header. The next-header fields are chained by [`Ipv6::build`].
#[derive(Clone, Debug)]
pub enum Ipv6Ext {
    /// Hop-by-Hop Options (next header 0); `options` are TLVs, padded with PadN.
    HopByHop { options: Vec<u8> },
    /// Routing header (43): type, segments left, then type-specific data (padded).
    Routing {
        routing_type: u8,
        segments_left: u8,
        data: Vec<u8>,
    },
    /// Destination Options (60); `options` are TLVs, padded with PadN.
    DestinationOptions { options: Vec<u8> },
    /// Fragment header (44): offset in 8-byte units, M flag, identification.
    Fragment { offset: u16, more: bool, id: u32 },
    /// Authentication Header (51): SPI, sequence, ICV (total padded to 8 bytes).
    Ah { spi: u32, seq: u32, icv: Vec<u8> },
}

impl Ipv6Ext {
    pub fn number(&self) -> u8 {
        match self {
            Ipv6Ext::HopByHop { .. } => ipproto::HOP_BY_HOP,
            Ipv6Ext::Routing { .. } => ipproto::ROUTING,
            Ipv6Ext::DestinationOptions { .. } => ipproto::DEST_OPTS,
            Ipv6Ext::Fragment { .. } => ipproto::FRAGMENT,
            Ipv6Ext::Ah { .. } => ipproto::AH,
        }
    }

    /// A Hop-by-Hop header with a Router Alert option (RFC 2711).
    pub fn hop_by_hop() -> Self {
        Ipv6Ext::HopByHop {
            options: vec![5, 2, 0, 0],
        }
    }

    /// A Destination Options header holding only padding.
    pub fn dest_opts() -> Self {
        Ipv6Ext::DestinationOptions {
            options: Vec::new(),
        }
    }

    /// A type-0 routing header with no segments left and one address.
    pub fn routing() -> Self {
        let mut data = vec![0u8; 4];
        data.extend_from_slice(&[
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99,
        ]);
        Ipv6Ext::Routing {
            routing_type: 0,
            segments_left: 0,
            data,
        }
    }

    /// An atomic fragment (offset 0, M = 0, RFC 6946).
    pub fn atomic_fragment(id: u32) -> Self {
        Ipv6Ext::Fragment {
            offset: 0,
            more: false,
            id,
        }
    }

    pub fn ah() -> Self {
        Ipv6Ext::Ah {
            spi: 0x1000,
            seq: 1,
            icv: vec![0xAA; 12],
        }
    }

    /// Options padded to a total header length that is a multiple of 8 (PadN / Pad1).
    fn options_body(options: &[u8]) -> Vec<u8> {
        let mut body = options.to_vec();
        let pad = (8 - (2 + body.len()) % 8) % 8;
        match pad {
            0 => {}
            1 => body.push(0),
            n => {
                body.push(1);
                body.push((n - 2) as u8);
                body.extend(std::iter::repeat_n(0, n - 2));
            }
        }
        body
    }

    fn encode(&self, next: u8) -> Vec<u8> {
        match self {
            Ipv6Ext::HopByHop { options } | Ipv6Ext::DestinationOptions { options } => {
                let body = Self::options_body(options);
                let total = 2 + body.len();
                let mut h = vec![next, (total / 8 - 1) as u8];
                h.extend_from_slice(&body);
                h
            }
            Ipv6Ext::Routing {
                routing_type,
                segments_left,
                data,
            } => {
                let mut body = data.clone();
                while (4 + body.len()) % 8 != 0 {
                    body.push(0);
                }
                let total = 4 + body.len();
                let mut h = vec![next, (total / 8 - 1) as u8, *routing_type, *segments_left];
                h.extend_from_slice(&body);
                h
            }
            Ipv6Ext::Fragment { offset, more, id } => {
                let mut h = vec![next, 0];
                h.extend_from_slice(&((offset << 3) | u16::from(*more)).to_be_bytes());
                h.extend_from_slice(&id.to_be_bytes());
                h
            }
            Ipv6Ext::Ah { spi, seq, icv } => {
                let mut icv = icv.clone();
                while (12 + icv.len()) % 8 != 0 {
                    icv.push(0);
                }
                let total = 12 + icv.len();
                let mut h = vec![next, (total / 4 - 2) as u8, 0, 0];
                h.extend_from_slice(&spi.to_be_bytes());
                h.extend_from_slice(&seq.to_be_bytes());
                h.extend_from_slice(&icv);
                h
            }
        }
    }
}

/// An IPv6 header (RFC 8200) followed by extension headers.
#[derive(Clone, Debug)]
pub struct Ipv6 {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// The upper-layer protocol after the last extension header.
    pub next_header: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    /// 20 bits.
    pub flow_label: u32,
    /// Extension headers, in wire order.
    pub ext: Vec<Ipv6Ext>,
    /// Overrides the computed Payload Length.
    pub payload_length: Option<u16>,
}

impl Ipv6 {
    pub fn new(src: [u8; 16], dst: [u8; 16], next_header: u8) -> Self {
        Ipv6 {
            src,
            dst,
            next_header,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            ext: Vec::new(),
            payload_length: None,
        }
    }

    pub fn with_ext(mut self, ext: Ipv6Ext) -> Self {
        self.ext.push(ext);
        self
    }

    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        let mut exts = Vec::new();
        for (i, e) in self.ext.iter().enumerate() {
            let next = self
                .ext
                .get(i + 1)
                .map_or(self.next_header, Ipv6Ext::number);
            exts.extend_from_slice(&e.encode(next));
        }
        let first = self.ext.first().map_or(self.next_header, Ipv6Ext::number);
        let plen = self.payload_length.unwrap_or_else(|| {
            u16::try_from(exts.len() + payload.len()).expect("IPv6 payload too big")
        });
        let word0: u32 =
            (6 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xF_FFFF);
        let mut out = Vec::with_capacity(40 + exts.len() + payload.len());
        out.extend_from_slice(&word0.to_be_bytes());
        out.extend_from_slice(&plen.to_be_bytes());
        out.push(first);
        out.push(self.hop_limit);
        out.extend_from_slice(&self.src);
        out.extend_from_slice(&self.dst);
        out.extend_from_slice(&exts);
        out.extend_from_slice(payload);
        out
    }
}

/// `2001:db8::<last>`, a documentation address.
pub fn v6(last: u16) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0x20;
    a[1] = 0x01;
    a[2] = 0x0d;
    a[3] = 0xb8;
    a[14..].copy_from_slice(&last.to_be_bytes());
    a
}

// ---------------------------------------------------------------------------------
// GRE
// ---------------------------------------------------------------------------------

/// How the GRE checksum field is filled when C is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GreChecksum {
    /// C = 0, no checksum word.
    Absent,
    /// C = 1, correct checksum over GRE header + payload.
    Computed,
    /// C = 1 with this exact value (e.g. a wrong one).
    Value(u16),
}

/// A GRE header (RFC 2784 / 2890, RFC 1701 bits reachable through `extra_flags`).
#[derive(Clone, Debug)]
pub struct Gre {
    /// Protocol type (EtherType of the payload).
    pub protocol: u16,
    pub checksum: GreChecksum,
    /// K bit + key word.
    pub key: Option<u32>,
    /// S bit + sequence number word.
    pub seq: Option<u32>,
    /// Bits OR-ed into the flags word as they are: R 0x4000, s 0x0800, Recur 0x0700,
    /// reserved / A 0x00F8, version 0x0007. They add no fields, except that R forces the
    /// checksum/offset word (RFC 1701), and `routing` is appended after the sequence.
    pub extra_flags: u16,
    /// Raw RFC 1701 routing bytes appended after the optional words.
    pub routing: Vec<u8>,
}

impl Gre {
    pub fn new(protocol: u16) -> Self {
        Gre {
            protocol,
            checksum: GreChecksum::Absent,
            key: None,
            seq: None,
            extra_flags: 0,
            routing: Vec::new(),
        }
    }

    pub fn key(mut self, key: u32) -> Self {
        self.key = Some(key);
        self
    }

    pub fn seq(mut self, seq: u32) -> Self {
        self.seq = Some(seq);
        self
    }

    pub fn checksum(mut self, c: GreChecksum) -> Self {
        self.checksum = c;
        self
    }

    pub fn flags_word(&self) -> u16 {
        let mut f = self.extra_flags;
        if self.checksum != GreChecksum::Absent {
            f |= 0x8000;
        }
        if self.key.is_some() {
            f |= 0x2000;
        }
        if self.seq.is_some() {
            f |= 0x1000;
        }
        f
    }

    fn has_checksum_word(&self) -> bool {
        self.flags_word() & 0xC000 != 0
    }

    pub fn header_len(&self) -> usize {
        4 + 4 * usize::from(self.has_checksum_word())
            + 4 * usize::from(self.key.is_some())
            + 4 * usize::from(self.seq.is_some())
            + self.routing.len()
    }

    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.header_len() + payload.len());
        out.extend_from_slice(&self.flags_word().to_be_bytes());
        out.extend_from_slice(&self.protocol.to_be_bytes());
        let csum_at = out.len();
        if self.has_checksum_word() {
            out.extend_from_slice(&[0, 0, 0, 0]);
        }
        if let Some(k) = self.key {
            out.extend_from_slice(&k.to_be_bytes());
        }
        if let Some(s) = self.seq {
            out.extend_from_slice(&s.to_be_bytes());
        }
        out.extend_from_slice(&self.routing);
        out.extend_from_slice(payload);
        let csum = match self.checksum {
            GreChecksum::Absent => None,
            GreChecksum::Computed => Some(internet_checksum(&[&out])),
            GreChecksum::Value(v) => Some(v),
        };
        if let Some(c) = csum {
            out[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
        }
        out
    }
}

// ---------------------------------------------------------------------------------
// ERSPAN
// ---------------------------------------------------------------------------------

/// ERSPAN type II header (8 bytes), draft-foschiano-erspan-03 §4.1.
#[derive(Clone, Debug)]
pub struct ErspanII {
    /// Version nibble: 1 for type II.
    pub version: u8,
    /// VLAN of the original frame (12 bits).
    pub vlan: u16,
    /// Class of service (3 bits).
    pub cos: u8,
    /// Encapsulation type (2 bits): 0 untagged, 1 ISL, 2 802.1Q stripped, 3 tag kept.
    pub en: u8,
    /// T: frame truncated by the sender.
    pub truncated: bool,
    /// Session ID (10 bits).
    pub session: u16,
    /// Port index / direction (20 bits).
    pub index: u32,
}

impl ErspanII {
    pub fn new(session: u16, index: u32) -> Self {
        ErspanII {
            version: 1,
            vlan: 0,
            cos: 0,
            en: 0,
            truncated: false,
            session,
            index,
        }
    }

    pub fn header(&self) -> [u8; 8] {
        let w0: u32 = (u32::from(self.version & 0xF) << 28)
            | (u32::from(self.vlan & 0x0FFF) << 16)
            | (u32::from(self.cos & 7) << 13)
            | (u32::from(self.en & 3) << 11)
            | (u32::from(self.truncated) << 10)
            | u32::from(self.session & 0x3FF);
        let w1: u32 = self.index & 0x000F_FFFF;
        let mut h = [0u8; 8];
        h[..4].copy_from_slice(&w0.to_be_bytes());
        h[4..].copy_from_slice(&w1.to_be_bytes());
        h
    }

    pub fn build(&self, frame: &[u8]) -> Vec<u8> {
        let mut out = self.header().to_vec();
        out.extend_from_slice(frame);
        out
    }
}

/// The 8-byte platform-specific sub-header of ERSPAN type III (present iff O = 1).
#[derive(Clone, Copy, Debug)]
pub struct PlatformSubHeader {
    /// Platf ID (6 bits).
    pub platform_id: u8,
    /// The remaining 58 bits (platform-specific info).
    pub info: u64,
}

/// ERSPAN type III header (12 bytes, + 8 with the sub-header), draft §4.2.
#[derive(Clone, Debug)]
pub struct ErspanIII {
    /// Version nibble: 2 for type III.
    pub version: u8,
    pub vlan: u16,
    pub cos: u8,
    /// Bad/Short/Oversized (2 bits).
    pub bso: u8,
    /// T: truncated by the sender.
    pub truncated: bool,
    pub session: u16,
    /// Low 32 bits of the timestamp, in Gra units.
    pub timestamp: u32,
    /// Security group tag.
    pub sgt: u16,
    /// P: payload is an Ethernet PDU.
    pub p: bool,
    /// Frame type (5 bits): 0 Ethernet, 2 IP.
    pub ft: u8,
    /// Hardware ID (6 bits).
    pub hw_id: u8,
    /// D: false = ingress, true = egress.
    pub egress: bool,
    /// Timestamp granularity (2 bits).
    pub gra: u8,
    /// Sub-header; its presence sets O.
    pub platform: Option<PlatformSubHeader>,
}

impl ErspanIII {
    pub fn new(session: u16) -> Self {
        ErspanIII {
            version: 2,
            vlan: 0,
            cos: 0,
            bso: 0,
            truncated: false,
            session,
            timestamp: 0,
            sgt: 0,
            p: false,
            ft: 0,
            hw_id: 0,
            egress: false,
            gra: 0,
            platform: None,
        }
    }

    pub fn header(&self) -> Vec<u8> {
        let w0: u32 = (u32::from(self.version & 0xF) << 28)
            | (u32::from(self.vlan & 0x0FFF) << 16)
            | (u32::from(self.cos & 7) << 13)
            | (u32::from(self.bso & 3) << 11)
            | (u32::from(self.truncated) << 10)
            | u32::from(self.session & 0x3FF);
        let w2: u32 = (u32::from(self.sgt) << 16)
            | (u32::from(self.p) << 15)
            | (u32::from(self.ft & 0x1F) << 10)
            | (u32::from(self.hw_id & 0x3F) << 4)
            | (u32::from(self.egress) << 3)
            | (u32::from(self.gra & 3) << 1)
            | u32::from(self.platform.is_some());
        let mut h = Vec::with_capacity(20);
        h.extend_from_slice(&w0.to_be_bytes());
        h.extend_from_slice(&self.timestamp.to_be_bytes());
        h.extend_from_slice(&w2.to_be_bytes());
        if let Some(p) = self.platform {
            let v: u64 = (u64::from(p.platform_id & 0x3F) << 58) | (p.info & ((1 << 58) - 1));
            h.extend_from_slice(&v.to_be_bytes());
        }
        h
    }

    pub fn build(&self, frame: &[u8]) -> Vec<u8> {
        let mut out = self.header();
        out.extend_from_slice(frame);
        out
    }
}

// ---------------------------------------------------------------------------------
// Inner traffic
// ---------------------------------------------------------------------------------

/// TCP flag bits.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
}

/// Which IP version carries a transport segment (for the pseudo-header checksum).
#[derive(Clone, Copy, Debug)]
pub enum IpAddrs {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

impl IpAddrs {
    fn pseudo_header(&self, proto: u8, len: usize) -> Vec<u8> {
        let mut p = Vec::new();
        match self {
            IpAddrs::V4(s, d) => {
                p.extend_from_slice(s);
                p.extend_from_slice(d);
                p.push(0);
                p.push(proto);
                p.extend_from_slice(&(len as u16).to_be_bytes());
            }
            IpAddrs::V6(s, d) => {
                p.extend_from_slice(s);
                p.extend_from_slice(d);
                p.extend_from_slice(&(len as u32).to_be_bytes());
                p.extend_from_slice(&[0, 0, 0, proto]);
            }
        }
        p
    }

    /// Builds the IP packet (v4 or v6) carrying `payload` with protocol `proto`.
    pub fn packet(&self, proto: u8, payload: &[u8]) -> Vec<u8> {
        match *self {
            IpAddrs::V4(s, d) => Ipv4::new(s, d, proto).build(payload),
            IpAddrs::V6(s, d) => Ipv6::new(s, d, proto).build(payload),
        }
    }
}

/// A UDP header (RFC 768) with its checksum.
#[derive(Clone, Debug)]
pub struct Udp {
    pub sport: u16,
    pub dport: u16,
}

impl Udp {
    pub fn build(&self, addrs: IpAddrs, payload: &[u8]) -> Vec<u8> {
        let len = 8 + payload.len();
        let mut seg = Vec::with_capacity(len);
        seg.extend_from_slice(&self.sport.to_be_bytes());
        seg.extend_from_slice(&self.dport.to_be_bytes());
        seg.extend_from_slice(&(len as u16).to_be_bytes());
        seg.extend_from_slice(&[0, 0]);
        seg.extend_from_slice(payload);
        let mut c = internet_checksum(&[&addrs.pseudo_header(ipproto::UDP, len), &seg]);
        if c == 0 {
            c = 0xFFFF;
        }
        seg[6..8].copy_from_slice(&c.to_be_bytes());
        seg
    }
}

/// A TCP header (RFC 9293) without options, with its checksum.
#[derive(Clone, Debug)]
pub struct Tcp {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// See [`tcp_flags`].
    pub flags: u8,
    pub window: u16,
}

impl Tcp {
    pub fn build(&self, addrs: IpAddrs, payload: &[u8]) -> Vec<u8> {
        let len = 20 + payload.len();
        let mut seg = Vec::with_capacity(len);
        seg.extend_from_slice(&self.sport.to_be_bytes());
        seg.extend_from_slice(&self.dport.to_be_bytes());
        seg.extend_from_slice(&self.seq.to_be_bytes());
        seg.extend_from_slice(&self.ack.to_be_bytes());
        seg.push(5 << 4);
        seg.push(self.flags);
        seg.extend_from_slice(&self.window.to_be_bytes());
        seg.extend_from_slice(&[0, 0, 0, 0]);
        seg.extend_from_slice(payload);
        let c = internet_checksum(&[&addrs.pseudo_header(ipproto::TCP, len), &seg]);
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        seg
    }
}

/// An ICMPv4 echo request / reply (RFC 792).
#[derive(Clone, Debug)]
pub struct IcmpEcho {
    pub request: bool,
    pub id: u16,
    pub seq: u16,
    pub data: Vec<u8>,
}

impl IcmpEcho {
    pub fn build(&self) -> Vec<u8> {
        let mut m = vec![if self.request { 8 } else { 0 }, 0, 0, 0];
        m.extend_from_slice(&self.id.to_be_bytes());
        m.extend_from_slice(&self.seq.to_be_bytes());
        m.extend_from_slice(&self.data);
        let c = internet_checksum(&[&m]);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        m
    }
}

/// An Ethernet/IPv4 ARP request (RFC 826), 28 bytes.
pub fn arp_request(sender_mac: Mac, sender_ip: [u8; 4], target_ip: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1];
    a.extend_from_slice(&sender_mac);
    a.extend_from_slice(&sender_ip);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target_ip);
    a
}

/// Deterministic filler bytes.
pub fn filler(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

/// Inner IPv4 ICMP echo packet (no L2), `data_len` bytes of echo data.
pub fn ipv4_icmp_echo(src: [u8; 4], dst: [u8; 4], seq: u16, data_len: usize) -> Vec<u8> {
    let icmp = IcmpEcho {
        request: true,
        id: 0x4242,
        seq,
        data: filler(data_len, seq as u8),
    };
    Ipv4::new(src, dst, ipproto::ICMP).build(&icmp.build())
}

/// Inner IP/UDP packet (no L2).
pub fn ip_udp(addrs: IpAddrs, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp = Udp { sport, dport }.build(addrs, payload);
    addrs.packet(ipproto::UDP, &udp)
}

/// Inner IP/TCP packet (no L2) with the given flags.
pub fn ip_tcp(addrs: IpAddrs, sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let tcp = Tcp {
        sport,
        dport,
        seq: 1000,
        ack: if flags & tcp_flags::ACK != 0 { 2000 } else { 0 },
        flags,
        window: 65535,
    }
    .build(addrs, payload);
    addrs.packet(ipproto::TCP, &tcp)
}

/// Inner Ethernet frame (no FCS) around an IP packet; ethertype from the version nibble.
pub fn eth_ip(ip: &[u8]) -> Vec<u8> {
    let et = if ip.first().map(|b| b >> 4) == Some(6) {
        ethertype::IPV6
    } else {
        ethertype::IPV4
    };
    Ethernet::new(et)
        .macs(
            [0x00, 0x50, 0x56, 0x00, 0x00, 0x01],
            [0x00, 0x50, 0x56, 0x00, 0x00, 0x02],
        )
        .build(ip)
}

/// Inner Ethernet/IPv4/ICMP echo request frame.
pub fn eth_icmp_echo(seq: u16, data_len: usize) -> Vec<u8> {
    eth_ip(&ipv4_icmp_echo(
        [192, 168, 1, 1],
        [192, 168, 1, 2],
        seq,
        data_len,
    ))
}

/// Inner Ethernet/IPv4/UDP frame whose total length is exactly `frame_len` (>= 42).
pub fn eth_udp_sized(frame_len: usize, seed: u8) -> Vec<u8> {
    assert!(
        frame_len >= 42,
        "an Ethernet/IPv4/UDP frame has at least 42 bytes"
    );
    let payload = filler(frame_len - 42, seed);
    eth_ip(&ip_udp(
        IpAddrs::V4([10, 1, 0, 1], [10, 1, 0, 2]),
        40000 + u16::from(seed),
        53,
        &payload,
    ))
}

/// Inner Ethernet/IPv4/TCP frame with flags.
pub fn eth_tcp(flags: u8, payload: &[u8]) -> Vec<u8> {
    eth_ip(&ip_tcp(
        IpAddrs::V4([172, 16, 0, 1], [172, 16, 0, 2]),
        34567,
        80,
        flags,
        payload,
    ))
}

/// Inner Ethernet ARP request (broadcast), optionally 802.1Q-tagged.
pub fn eth_arp(vlan: Option<u16>) -> Vec<u8> {
    let src = [0x00, 0x50, 0x56, 0x00, 0x00, 0x03];
    let mut eth = Ethernet::new(ethertype::ARP).macs(src, [0xFF; 6]);
    if let Some(v) = vlan {
        eth = eth.vlan(VlanTag::dot1q(v));
    }
    eth.build(&arp_request(src, [10, 9, 0, 1], [10, 9, 0, 2]))
}

/// Inner 802.1Q-tagged Ethernet/IPv4/ICMP frame.
pub fn eth_vlan_icmp(vid: u16, seq: u16) -> Vec<u8> {
    Ethernet::new(ethertype::IPV4)
        .vlan(VlanTag::dot1q(vid))
        .build(&ipv4_icmp_echo([192, 168, 7, 1], [192, 168, 7, 2], seq, 32))
}

/// The frame spandump writes for an L3 payload: 14-byte Ethernet header with zero MACs
/// and ethertype 0x0800 / 0x86DD from the IP version nibble, then the IP packet.
pub fn synthesized_ethernet(ip: &[u8]) -> Vec<u8> {
    let et = if ip.first().map(|b| b >> 4) == Some(6) {
        ethertype::IPV6
    } else {
        ethertype::IPV4
    };
    Ethernet::new(et).macs([0; 6], [0; 6]).build(ip)
}

// ---------------------------------------------------------------------------------
// Outer packets (convenience)
// ---------------------------------------------------------------------------------

/// Default outer addresses (documentation ranges).
pub const OUTER_SRC: [u8; 4] = [192, 0, 2, 1];
pub const OUTER_DST: [u8; 4] = [198, 51, 100, 1];

/// Outer IPv4 packet carrying a GRE packet (`gre` header + `payload`), DF set.
pub fn ipv4_gre(src: [u8; 4], dst: [u8; 4], gre: &Gre, payload: &[u8]) -> Vec<u8> {
    let mut ip = Ipv4::new(src, dst, ipproto::GRE);
    ip.df = true;
    ip.build(&gre.build(payload))
}

/// Outer IPv6 packet carrying a GRE packet.
pub fn ipv6_gre(src: [u8; 16], dst: [u8; 16], gre: &Gre, payload: &[u8]) -> Vec<u8> {
    Ipv6::new(src, dst, ipproto::GRE).build(&gre.build(payload))
}

/// Outer Ethernet frame around an IP packet (ethertype from the version nibble).
pub fn outer_eth(ip: &[u8]) -> Vec<u8> {
    let et = if ip.first().map(|b| b >> 4) == Some(6) {
        ethertype::IPV6
    } else {
        ethertype::IPV4
    };
    Ethernet::new(et)
        .macs([0x02, 0xAA, 0, 0, 0, 1], [0x02, 0xBB, 0, 0, 0, 1])
        .build(ip)
}

/// Ethernet/IPv4/GRE(0x6558, key)/inner: a gretap packet.
pub fn gretap(key: Option<u32>, inner: &[u8]) -> Vec<u8> {
    let mut gre = Gre::new(ethertype::TEB);
    gre.key = key;
    outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, &gre, inner))
}

/// Ethernet/IPv4/GRE(S, 0x88BE)/ERSPAN II/inner.
pub fn erspan2(hdr: &ErspanII, seq: u32, inner: &[u8]) -> Vec<u8> {
    let gre = Gre::new(ethertype::ERSPAN_II).seq(seq);
    outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, &gre, &hdr.build(inner)))
}

/// Ethernet/IPv4/GRE(S, 0x22EB)/ERSPAN III/inner.
pub fn erspan3(hdr: &ErspanIII, seq: u32, inner: &[u8]) -> Vec<u8> {
    let gre = Gre::new(ethertype::ERSPAN_III).seq(seq);
    outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, &gre, &hdr.build(inner)))
}

/// Ethernet/IPv4/GRE(0x88BE, no flags)/inner: ERSPAN type I.
pub fn erspan1(inner: &[u8]) -> Vec<u8> {
    let gre = Gre::new(ethertype::ERSPAN_II);
    outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, &gre, inner))
}

/// Ethernet/IPv4/GRE(inner IP ethertype)/IP: L3 GRE.
pub fn l3gre(key: Option<u32>, ip: &[u8]) -> Vec<u8> {
    let proto = if ip.first().map(|b| b >> 4) == Some(6) {
        ethertype::IPV6
    } else {
        ethertype::IPV4
    };
    let mut gre = Gre::new(proto);
    gre.key = key;
    outer_eth(&ipv4_gre(OUTER_SRC, OUTER_DST, &gre, ip))
}

// ---------------------------------------------------------------------------------
// Other outer link layers
// ---------------------------------------------------------------------------------

/// Linux "cooked" v1 header (LINKTYPE_LINUX_SLL, 16 bytes) + payload.
/// `packet_type`: 0 to us, 4 outgoing; ARPHRD_ETHER, 6-byte source address.
pub fn sll(protocol: u16, packet_type: u16, src: Mac, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + payload.len());
    out.extend_from_slice(&packet_type.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&6u16.to_be_bytes());
    out.extend_from_slice(&src);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Linux "cooked" v2 header (LINKTYPE_LINUX_SLL2, 20 bytes) + payload.
pub fn sll2(protocol: u16, ifindex: u32, packet_type: u8, src: Mac, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + payload.len());
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&ifindex.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.push(packet_type);
    out.push(6);
    out.extend_from_slice(&src);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    out
}

/// BSD loopback address families as found in LINKTYPE_NULL headers.
pub const AF_INET: u32 = 2;
/// AF_INET6 on Linux.
pub const AF_INET6_LINUX: u32 = 10;
/// AF_INET6 on NetBSD/OpenBSD/FreeBSD... (24), as tcpdump's tests use.
pub const AF_INET6_BSD: u32 = 24;

/// LINKTYPE_NULL header: the address family as a 4-byte integer in the byte order of
/// the machine that captured it (which is the file's byte order).
pub fn null(af: u32, big_endian: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + payload.len());
    if big_endian {
        out.extend_from_slice(&af.to_be_bytes());
    } else {
        out.extend_from_slice(&af.to_le_bytes());
    }
    out.extend_from_slice(payload);
    out
}

// ---------------------------------------------------------------------------------
// Capture files
// ---------------------------------------------------------------------------------

fn put_u16(out: &mut Vec<u8>, v: u16, big: bool) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn put_u32(out: &mut Vec<u8>, v: u32, big: bool) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

/// Format of a classic pcap file.
#[derive(Clone, Copy, Debug)]
pub struct PcapFormat {
    pub link_type: u32,
    /// ns magic 0xA1B23C4D instead of µs 0xA1B2C3D4.
    pub nanos: bool,
    pub big_endian: bool,
    /// Packets longer than this are cut (orig_len keeps the full length).
    pub snaplen: u32,
}

impl PcapFormat {
    pub fn ethernet() -> Self {
        PcapFormat {
            link_type: linktype::ETHERNET,
            nanos: false,
            big_endian: false,
            snaplen: 262_144,
        }
    }

    pub fn link(link_type: u32) -> Self {
        PcapFormat {
            link_type,
            ..Self::ethernet()
        }
    }
}

/// Streaming classic pcap writer.
pub struct PcapWriter<W: Write> {
    out: W,
    fmt: PcapFormat,
    buf: Vec<u8>,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header.
    pub fn new(mut out: W, fmt: PcapFormat) -> io::Result<Self> {
        let big = fmt.big_endian;
        let mut h = Vec::with_capacity(24);
        put_u32(
            &mut h,
            if fmt.nanos { 0xA1B2_3C4D } else { 0xA1B2_C3D4 },
            big,
        );
        put_u16(&mut h, 2, big);
        put_u16(&mut h, 4, big);
        put_u32(&mut h, 0, big);
        put_u32(&mut h, 0, big);
        put_u32(&mut h, fmt.snaplen, big);
        put_u32(&mut h, fmt.link_type, big);
        out.write_all(&h)?;
        Ok(PcapWriter {
            out,
            fmt,
            buf: Vec::with_capacity(16),
        })
    }

    /// Writes one packet whose wire length is its data length (cut at the snaplen).
    pub fn write(&mut self, ts_ns: u64, data: &[u8]) -> io::Result<()> {
        self.write_with_orig_len(ts_ns, data, data.len() as u32)
    }

    /// Writes one packet, recording `orig_len` as its wire length.
    pub fn write_with_orig_len(
        &mut self,
        ts_ns: u64,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let big = self.fmt.big_endian;
        let cap = data.len().min(self.fmt.snaplen as usize);
        let sec = (ts_ns / 1_000_000_000) as u32;
        let sub = (ts_ns % 1_000_000_000) as u32;
        let frac = if self.fmt.nanos { sub } else { sub / 1000 };
        self.buf.clear();
        put_u32(&mut self.buf, sec, big);
        put_u32(&mut self.buf, frac, big);
        put_u32(&mut self.buf, cap as u32, big);
        put_u32(&mut self.buf, orig_len.max(cap as u32), big);
        self.out.write_all(&self.buf)?;
        self.out.write_all(&data[..cap])
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A whole classic pcap file in memory.
pub fn pcap_bytes(fmt: PcapFormat, packets: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), fmt).expect("write to Vec");
    for (ts, data) in packets {
        w.write(*ts, data).expect("write to Vec");
    }
    w.into_inner()
}

/// Streaming pcapng writer: one section, any number of interfaces.
pub struct PcapngWriter<W: Write> {
    out: W,
    big_endian: bool,
    /// if_tsresol of each interface (power of ten exponent).
    tsresol: Vec<u8>,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the Section Header Block (section length -1).
    pub fn new(out: W, big_endian: bool) -> io::Result<Self> {
        let mut w = PcapngWriter {
            out,
            big_endian,
            tsresol: Vec::new(),
        };
        let mut body = Vec::new();
        put_u32(&mut body, 0x1A2B_3C4D, big_endian);
        put_u16(&mut body, 1, big_endian);
        put_u16(&mut body, 0, big_endian);
        // Section length -1 (unknown): all bits set, the same in both byte orders.
        body.extend_from_slice(&[0xFF; 8]);
        put_u32(&mut body, 0, big_endian); // opt_endofopt
        w.block(0x0A0D_0D0A, &body)?;
        Ok(w)
    }

    fn block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        let big = self.big_endian;
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        let mut b = Vec::with_capacity(total as usize);
        put_u32(&mut b, block_type, big);
        put_u32(&mut b, total, big);
        b.extend_from_slice(body);
        b.resize(8 + padded, 0);
        put_u32(&mut b, total, big);
        self.out.write_all(&b)
    }

    /// Adds an Interface Description Block; returns its interface ID.
    /// `tsresol` is the decimal exponent written as if_tsresol (6 = µs, 9 = ns).
    pub fn add_interface(&mut self, link_type: u16, snaplen: u32, tsresol: u8) -> io::Result<u32> {
        assert!(
            tsresol <= 9,
            "only power-of-ten resolutions up to ns are supported"
        );
        let big = self.big_endian;
        let mut body = Vec::new();
        put_u16(&mut body, link_type, big);
        put_u16(&mut body, 0, big);
        put_u32(&mut body, snaplen, big);
        // if_tsresol (9), length 1, value, 3 bytes padding
        put_u16(&mut body, 9, big);
        put_u16(&mut body, 1, big);
        body.extend_from_slice(&[tsresol, 0, 0, 0]);
        put_u32(&mut body, 0, big); // opt_endofopt
        self.block(1, &body)?;
        self.tsresol.push(tsresol);
        Ok((self.tsresol.len() - 1) as u32)
    }

    /// Writes an Enhanced Packet Block; the timestamp is converted to the interface's
    /// resolution (truncating).
    pub fn write_packet(
        &mut self,
        if_id: u32,
        ts_ns: u64,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let big = self.big_endian;
        let res = self.tsresol[if_id as usize];
        let units = ts_ns / 10u64.pow(9 - u32::from(res));
        let mut body = Vec::with_capacity(20 + data.len() + 3);
        put_u32(&mut body, if_id, big);
        put_u32(&mut body, (units >> 32) as u32, big);
        put_u32(&mut body, units as u32, big);
        put_u32(&mut body, data.len() as u32, big);
        put_u32(&mut body, orig_len.max(data.len() as u32), big);
        body.extend_from_slice(data);
        body.resize(body.len().div_ceil(4) * 4, 0);
        self.block(6, &body)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A small deterministic generator (xorshift64*, no dependency), so generated inputs
/// and failures are reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (> 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
