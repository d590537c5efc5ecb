//! Classic BPF programs for the packet socket: keep only GRE, so the ring holds nothing
//! else.
//!
//! [`gre_filter`] builds the program `SO_ATTACH_FILTER` runs on every frame of the
//! interface, before the frame takes room in the ring. It keeps:
//!
//! * IPv4 with protocol 47, every fragment included (each fragment carries the protocol
//!   field, and the pipeline reassembles them);
//! * IPv6 whose header chain reaches next header 47, walking up to
//!   [`MAX_IPV6_EXT_HEADERS`] extension headers (Hop-by-Hop, Routing, Destination
//!   Options, AH, Fragment) in between. A non-first IPv6 fragment is kept when its
//!   Fragment header names GRE or another extension header (the first fragment decides
//!   in the reassembler; the filter cannot look back). Any other next header (ESP, a
//!   chain longer than the limit, TCP, ...) is dropped: it cannot be GRE the pipeline
//!   could read;
//! * with up to two in-band 802.1Q / 802.1ad (or old 0x9100) tags before the IP header;
//! * when destinations are given, only packets whose outer destination address is one
//!   of them;
//! * with [`mirror_filter`], also UDP to the VXLAN / GENEVE / GRE-in-UDP ports, over
//!   IPv4 (IHL read from the header; a non-first fragment, which has no UDP header, is
//!   kept for the reassembler) and IPv6 (after the same extension-header walk; a later
//!   fragment whose Fragment header names UDP is kept).
//!
//! VLAN offload: when the kernel (or the NIC) moved the outer tag into packet metadata
//! (`TP_STATUS_VLAN_VALID`), the bytes this program sees are untagged, so the same
//! ethertype test matches; nothing is filtered on the VLAN ID, so the ancillary
//! `SKF_AD_VLAN_TAG_PRESENT` load is not needed.
//!
//! Pure, safe code: instructions as data, with labels resolved here. The socket code
//! hands them to the kernel, which verifies them again.

use std::collections::HashMap;
use std::net::IpAddr;

pub use crate::bpf::{Instruction, op};

/// What precedes the IP header in the frames the socket sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// An Ethernet header (14 bytes, then in-band tags, if any).
    Ethernet,
    /// Nothing: the frame starts with the IP header (tun, raw IP devices).
    RawIp,
}

/// At most this many destination addresses in one filter (each IPv6 address costs
/// nine instructions; conditional jumps reach 255 instructions at most).
pub const MAX_DESTINATIONS: usize = 16;

/// IPv6 extension headers walked before giving up on finding GRE.
pub const MAX_IPV6_EXT_HEADERS: usize = 4;

/// At most this many UDP ports in one filter.
pub const MAX_UDP_PORTS: usize = 16;

/// What the filter returns for a kept packet: all of it (the ring's block size is
/// what bounds the bytes stored).
pub const ACCEPT: u32 = u32::MAX;

/// `ret #0`: keep no byte of any packet (a socket kept open only for what binding it
/// does, such as the raw GRE socket that silences the kernel's ICMP answers).
pub fn drop_all() -> Vec<Instruction> {
    vec![Instruction {
        code: op::RET | op::K,
        jt: 0,
        jf: 0,
        k: 0,
    }]
}

/// Why no program could be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BpfError {
    #[error(
        "{given} destination addresses given, at most {MAX_DESTINATIONS} fit in the kernel filter"
    )]
    TooManyDestinations { given: usize },
    #[error("{given} UDP mirror ports given, at most {MAX_UDP_PORTS} fit in the kernel filter")]
    TooManyPorts { given: usize },
    /// A conditional jump would need an offset above 255 (a bug in the builder).
    #[error("classic BPF jump from instruction {from} to {to} is too far")]
    JumpTooFar { from: usize, to: usize },
}

mod field {
    /// Ethernet: header length and where the ethertype sits.
    pub const ETH_HEADER: u32 = 14;
    pub const ETH_TYPE: u32 = 12;
    pub const VLAN_TAG: u32 = 4;
    pub const TPIDS: [u32; 3] = [0x8100, 0x88A8, 0x9100];
    pub const ETHERTYPE_IPV4: u32 = 0x0800;
    pub const ETHERTYPE_IPV6: u32 = 0x86DD;

    /// IPv4 header fields, from its start.
    pub const IPV4_PROTOCOL: u32 = 9;
    pub const IPV4_FLAGS_FRAG: u32 = 6;
    pub const IPV4_OFFSET_MASK: u32 = 0x1FFF;
    pub const IPV4_IHL_MASK: u32 = 0x0F;
    /// UDP destination port, from the UDP header's start.
    pub const UDP_DST_PORT: u32 = 2;
    pub const PROTO_UDP: u32 = 17;
    pub const IPV4_DST: u32 = 16;

    /// IPv6 header fields, from its start.
    pub const IPV6_NEXT_HEADER: u32 = 6;
    pub const IPV6_DST: u32 = 24;
    pub const IPV6_HEADER: u32 = 40;
    /// Extension header fields, from the extension header's start.
    pub const EXT_NEXT_HEADER: u32 = 0;
    pub const EXT_LEN: u32 = 1;
    pub const FRAG_OFFSET: u32 = 2;
    pub const FRAG_HEADER: u32 = 8;
    pub const FRAG_OFFSET_MASK: u32 = 0xFFF8;

    pub const PROTO_GRE: u32 = 47;
    pub const HOP_BY_HOP: u32 = 0;
    pub const ROUTING: u32 = 43;
    pub const FRAGMENT: u32 = 44;
    pub const AH: u32 = 51;
    pub const DEST_OPTS: u32 = 60;

    /// Scratch memory slots.
    pub const MEM_TAGS: u32 = 0;
    pub const MEM_NEXT: u32 = 1;
}

/// Builds the GRE filter for `framing`; with `destinations`, only packets addressed to
/// one of them pass.
pub fn gre_filter(framing: Framing, destinations: &[IpAddr]) -> Result<Vec<Instruction>, BpfError> {
    mirror_filter(framing, destinations, &[])
}

/// [`gre_filter`], that also keeps UDP to one of `udp_ports` (the VXLAN, GENEVE and
/// GRE-in-UDP ports).
pub fn mirror_filter(
    framing: Framing,
    destinations: &[IpAddr],
    udp_ports: &[u16],
) -> Result<Vec<Instruction>, BpfError> {
    if destinations.len() > MAX_DESTINATIONS {
        return Err(BpfError::TooManyDestinations {
            given: destinations.len(),
        });
    }
    if udp_ports.len() > MAX_UDP_PORTS {
        return Err(BpfError::TooManyPorts {
            given: udp_ports.len(),
        });
    }
    let ports: Vec<u32> = udp_ports.iter().map(|p| u32::from(*p)).collect();
    let mut a = Asm::default();
    // X holds the bytes between the link header and the IP header (in-band tags).
    // `l` is the link header's length: offsets below are `[x + l + field]`.
    let l = match framing {
        Framing::Ethernet => {
            a.stmt(op::LDX | op::IMM, 0);
            a.stmt(op::LD | op::H | op::ABS, field::ETH_TYPE);
            for tags in 1..=2 {
                a.jump_any(op::JEQ, &field::TPIDS, &format!("tag{tags}"), "dispatch");
                a.label(&format!("tag{tags}"));
                a.stmt(op::LDX | op::IMM, tags * field::VLAN_TAG);
                a.stmt(
                    op::LD | op::H | op::ABS,
                    field::ETH_TYPE + tags * field::VLAN_TAG,
                );
            }
            a.label("dispatch");
            a.jump(op::JEQ, field::ETHERTYPE_IPV4, "ipv4", "not_ipv4");
            a.label("not_ipv4");
            a.jump(op::JEQ, field::ETHERTYPE_IPV6, "ipv6", "drop_link");
            a.label("drop_link");
            a.ret(0);
            field::ETH_HEADER
        }
        Framing::RawIp => {
            a.stmt(op::LDX | op::IMM, 0);
            a.stmt(op::LD | op::B | op::ABS, 0);
            a.stmt(op::ALU | op::AND | op::K, 0xF0);
            a.jump(op::JEQ, 0x40, "ipv4", "not_ipv4");
            a.label("not_ipv4");
            a.jump(op::JEQ, 0x60, "ipv6", "drop_link");
            a.label("drop_link");
            a.ret(0);
            0
        }
    };

    let v4: Vec<u32> = destinations
        .iter()
        .filter_map(|d| match d {
            IpAddr::V4(a) => Some(u32::from(*a)),
            IpAddr::V6(_) => None,
        })
        .collect();
    let v6: Vec<[u32; 4]> = destinations
        .iter()
        .filter_map(|d| match d {
            IpAddr::V6(a) => {
                let o = a.octets();
                Some(std::array::from_fn(|i| {
                    u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
                }))
            }
            IpAddr::V4(_) => None,
        })
        .collect();
    let any_destination = destinations.is_empty();

    // IPv4: protocol 47 (every fragment carries it), then the destination.
    a.label("ipv4");
    a.stmt(op::LD | op::B | op::IND, l + field::IPV4_PROTOCOL);
    if ports.is_empty() {
        a.jump(op::JEQ, field::PROTO_GRE, "ipv4_dst", "drop_ipv4");
    } else {
        a.jump(op::JEQ, field::PROTO_GRE, "ipv4_dst", "ipv4_not_gre");
        a.label("ipv4_not_gre");
        a.jump(op::JEQ, field::PROTO_UDP, "ipv4_udp", "drop_ipv4");
        // A non-first fragment has no UDP header: kept for the reassembler.
        a.label("ipv4_udp");
        a.stmt(op::LD | op::H | op::IND, l + field::IPV4_FLAGS_FRAG);
        a.jump(
            op::JSET,
            field::IPV4_OFFSET_MASK,
            "ipv4_dst",
            "ipv4_udp_header",
        );
        // X += IHL * 4 for the port load, then back to the tags for the address.
        a.label("ipv4_udp_header");
        a.stmt(op::STX, field::MEM_TAGS);
        a.stmt(op::LD | op::B | op::IND, l);
        a.stmt(op::ALU | op::AND | op::K, field::IPV4_IHL_MASK);
        a.stmt(op::ALU | op::LSH | op::K, 2);
        a.stmt(op::ALU | op::ADD | op::X, 0);
        a.stmt(op::MISC | op::TAX, 0);
        a.stmt(op::LD | op::H | op::IND, l + field::UDP_DST_PORT);
        a.stmt(op::LDX | op::MEM, field::MEM_TAGS);
        a.jump_any(op::JEQ, &ports, "ipv4_dst", "drop_ipv4");
    }
    a.label("drop_ipv4");
    a.ret(0);
    a.label("ipv4_dst");
    if any_destination {
        a.ret(ACCEPT);
    } else {
        if !v4.is_empty() {
            a.stmt(op::LD | op::W | op::IND, l + field::IPV4_DST);
            a.jump_any(op::JEQ, &v4, "accept_ipv4", "drop_ipv4_dst");
            a.label("accept_ipv4");
            a.ret(ACCEPT);
        }
        a.label("drop_ipv4_dst");
        a.ret(0);
    }

    // IPv6: walk the extension headers. X moves along with them (tags + bytes of
    // extension headers so far); M[tags] keeps the tags for the destination check.
    let ext = l + field::IPV6_HEADER;
    a.label("ipv6");
    a.stmt(op::STX, field::MEM_TAGS);
    a.stmt(op::LD | op::B | op::IND, l + field::IPV6_NEXT_HEADER);
    for step in 0..MAX_IPV6_EXT_HEADERS {
        let next = format!("step{}", step + 1);
        let (ext8, ah, frag) = (
            format!("ext8_{step}"),
            format!("ah_{step}"),
            format!("frag_{step}"),
        );
        // A = the type of the header at X.
        if ports.is_empty() {
            a.jump(op::JEQ, field::PROTO_GRE, "ipv6_dst", &format!("s{step}a"));
        } else {
            a.jump(op::JEQ, field::PROTO_GRE, "ipv6_dst", &format!("s{step}u"));
            a.label(&format!("s{step}u"));
            a.jump(op::JEQ, field::PROTO_UDP, "ipv6_udp", &format!("s{step}a"));
        }
        a.label(&format!("s{step}a"));
        a.jump_any(
            op::JEQ,
            &[field::HOP_BY_HOP, field::ROUTING, field::DEST_OPTS],
            &ext8,
            &format!("s{step}b"),
        );
        a.label(&format!("s{step}b"));
        a.jump(op::JEQ, field::AH, &ah, &format!("s{step}c"));
        a.label(&format!("s{step}c"));
        a.jump(op::JEQ, field::FRAGMENT, &frag, &format!("s{step}d"));
        a.label(&format!("s{step}d"));
        a.ret(0);
        // Length (hdr_ext_len + 1) * 8.
        a.label(&ext8);
        a.advance(ext, 1, 3, &next);
        // AH: length (payload_len + 2) * 4.
        a.label(&ah);
        a.advance(ext, 2, 2, &next);
        a.label(&frag);
        a.stmt(op::LD | op::H | op::IND, ext + field::FRAG_OFFSET);
        a.jump(
            op::JSET,
            field::FRAG_OFFSET_MASK,
            "ipv6_later_fragment",
            &format!("first_{step}"),
        );
        a.label(&format!("first_{step}"));
        a.stmt(op::LD | op::B | op::IND, ext + field::EXT_NEXT_HEADER);
        a.stmt(op::ST, field::MEM_NEXT);
        a.stmt(op::MISC | op::TXA, 0);
        a.stmt(op::ALU | op::ADD | op::K, field::FRAG_HEADER);
        a.stmt(op::MISC | op::TAX, 0);
        a.stmt(op::LD | op::MEM, field::MEM_NEXT);
        a.jump_always(&next);
        a.label(&next);
    }
    if ports.is_empty() {
        a.jump(op::JEQ, field::PROTO_GRE, "ipv6_dst", "drop_ipv6_chain");
    } else {
        a.jump(op::JEQ, field::PROTO_GRE, "ipv6_dst", "last_udp");
        a.label("last_udp");
        a.jump(op::JEQ, field::PROTO_UDP, "ipv6_udp", "drop_ipv6_chain");
    }
    a.label("drop_ipv6_chain");
    a.ret(0);
    // A later fragment: what its Fragment header says follows. GRE, or an extension
    // header that may lead to GRE, goes to the reassembler.
    a.label("ipv6_later_fragment");
    a.stmt(op::LD | op::B | op::IND, ext + field::EXT_NEXT_HEADER);
    let mut later = vec![
        field::PROTO_GRE,
        field::HOP_BY_HOP,
        field::ROUTING,
        field::AH,
        field::DEST_OPTS,
    ];
    if !ports.is_empty() {
        later.push(field::PROTO_UDP);
    }
    a.jump_any(op::JEQ, &later, "ipv6_dst", "drop_fragment");
    a.label("drop_fragment");
    a.ret(0);
    if !ports.is_empty() {
        // X = tags + extension headers: the UDP header is at [x + ext].
        a.label("ipv6_udp");
        a.stmt(op::LD | op::H | op::IND, ext + field::UDP_DST_PORT);
        a.jump_any(op::JEQ, &ports, "ipv6_dst", "drop_ipv6_udp");
        a.label("drop_ipv6_udp");
        a.ret(0);
    }

    a.label("ipv6_dst");
    if any_destination {
        a.ret(ACCEPT);
    } else {
        a.stmt(op::LDX | op::MEM, field::MEM_TAGS);
        for (i, words) in v6.iter().enumerate() {
            let miss = format!("v6miss{i}");
            for (w, word) in words.iter().enumerate() {
                a.stmt(op::LD | op::W | op::IND, l + field::IPV6_DST + 4 * w as u32);
                let hit = format!("v6_{i}_{w}");
                a.jump(op::JEQ, *word, &hit, &miss);
                a.label(&hit);
            }
            a.ret(ACCEPT);
            a.label(&miss);
        }
        a.ret(0);
    }
    a.assemble()
}

/// The program for a `PACKET_FANOUT_CBPF` group: picks a ring by the outer source and
/// destination addresses, so every packet of one mirror session (one sender, one
/// collector address) lands on the same ring, in order.
///
/// The kernel's own hash mode does not do that: its flow dissector looks through GRE
/// and ERSPAN and hashes the *inner* flow, which spreads one session over every ring.
///
/// The kernel runs this program before the socket filter, on the frame from its
/// network header on (the link header is already pulled), with `skb->protocol` as the
/// ethertype; an outer VLAN tag is in metadata by then, a second one still in the bytes.
/// It returns a 32-bit mix of the addresses; the kernel takes it modulo the group size.
/// Anything that is not IP goes to the first ring (where the socket filter drops it).
pub fn fanout_by_outer_addresses() -> Result<Vec<Instruction>, BpfError> {
    const IPV4_SRC: u32 = 12;
    const IPV6_SRC: u32 = 8;
    // Scratch: the running hash, the offset of the IP header.
    const MEM_HASH: u32 = 0;
    const MEM_OFFSET: u32 = 1;
    let mut a = Asm::default();
    a.stmt(op::LDX | op::IMM, 0);
    a.stmt(op::LD | op::H | op::ABS, op::AD_PROTOCOL);
    a.jump_any(op::JEQ, &field::TPIDS, "tagged", "dispatch");
    a.label("tagged");
    a.stmt(op::LDX | op::IMM, field::VLAN_TAG);
    a.stmt(op::LD | op::H | op::ABS, 2);
    a.label("dispatch");
    a.jump(op::JEQ, field::ETHERTYPE_IPV4, "ipv4", "not_ipv4");
    a.label("not_ipv4");
    a.jump(op::JEQ, field::ETHERTYPE_IPV6, "ipv6", "other");
    a.label("other");
    a.ret(0);
    a.label("ipv4");
    a.stmt(op::LD | op::W | op::IND, IPV4_SRC);
    a.stmt(op::ST, MEM_HASH);
    a.stmt(op::LD | op::W | op::IND, field::IPV4_DST);
    a.stmt(op::LDX | op::MEM, MEM_HASH);
    a.stmt(op::ALU | op::XOR | op::X, 0);
    a.jump_always("mix");
    // The XOR of the eight words of source and destination address.
    a.label("ipv6");
    a.stmt(op::STX, MEM_OFFSET);
    a.stmt(op::LD | op::IMM, 0);
    a.stmt(op::ST, MEM_HASH);
    for w in 0..8 {
        a.stmt(op::LDX | op::MEM, MEM_OFFSET);
        a.stmt(op::LD | op::W | op::IND, IPV6_SRC + 4 * w);
        a.stmt(op::LDX | op::MEM, MEM_HASH);
        a.stmt(op::ALU | op::XOR | op::X, 0);
        a.stmt(op::ST, MEM_HASH);
    }
    // Fibonacci hashing: the high half of A * 2^32/phi, so that addresses differing
    // in a few low bits still spread over the rings.
    a.label("mix");
    a.stmt(op::ALU | op::MUL | op::K, 0x9E37_79B1);
    a.stmt(op::ALU | op::RSH | op::K, 16);
    a.stmt(op::RET | op::RET_A, 0);
    a.assemble()
}

/// One item of a program being written: an instruction whose jump targets may still
/// be labels.
#[derive(Clone, Debug)]
enum Item {
    Stmt(u16, u32),
    Jump {
        code: u16,
        k: u32,
        jt: String,
        jf: String,
    },
    Always(String),
}

/// A tiny assembler: instructions with named jump targets, resolved at the end.
#[derive(Default)]
struct Asm {
    items: Vec<Item>,
    labels: HashMap<String, usize>,
}

impl Asm {
    fn stmt(&mut self, code: u16, k: u32) {
        self.items.push(Item::Stmt(code, k));
    }

    fn ret(&mut self, k: u32) {
        self.stmt(op::RET | op::K, k);
    }

    fn jump(&mut self, cmp: u16, k: u32, jt: &str, jf: &str) {
        self.items.push(Item::Jump {
            code: op::JMP | cmp | op::K,
            k,
            jt: jt.to_owned(),
            jf: jf.to_owned(),
        });
    }

    /// Jumps to `hit` if A equals any of `values`, else to `miss`.
    fn jump_any(&mut self, cmp: u16, values: &[u32], hit: &str, miss: &str) {
        for (i, v) in values.iter().enumerate() {
            if i + 1 == values.len() {
                self.jump(cmp, *v, hit, miss);
            } else {
                let next = format!("{miss}@{i}@{}", self.items.len());
                self.jump(cmp, *v, hit, &next);
                self.label(&next);
            }
        }
    }

    fn jump_always(&mut self, target: &str) {
        self.items.push(Item::Always(target.to_owned()));
    }

    /// Moves X past the extension header at `[x + ext]`: X += (len + add) << shift,
    /// with A = that header's next-header field afterwards; then jumps to `next`.
    fn advance(&mut self, ext: u32, add: u32, shift: u32, next: &str) {
        self.stmt(op::LD | op::B | op::IND, ext + field::EXT_NEXT_HEADER);
        self.stmt(op::ST, field::MEM_NEXT);
        self.stmt(op::LD | op::B | op::IND, ext + field::EXT_LEN);
        self.stmt(op::ALU | op::ADD | op::K, add);
        self.stmt(op::ALU | op::LSH | op::K, shift);
        self.stmt(op::ALU | op::ADD | op::X, 0);
        self.stmt(op::MISC | op::TAX, 0);
        self.stmt(op::LD | op::MEM, field::MEM_NEXT);
        self.jump_always(next);
    }

    fn label(&mut self, name: &str) {
        self.labels.insert(name.to_owned(), self.items.len());
    }

    fn assemble(self) -> Result<Vec<Instruction>, BpfError> {
        let target = |from: usize, name: &str| -> Result<usize, BpfError> {
            // Every label is placed by the builder above; an unknown one is a bug that
            // the unit tests catch, reported as an impossible jump.
            let to = *self.labels.get(name).ok_or(BpfError::JumpTooFar {
                from,
                to: usize::MAX,
            })?;
            if to <= from {
                return Err(BpfError::JumpTooFar { from, to });
            }
            Ok(to - from - 1)
        };
        let short = |from: usize, name: &str| -> Result<u8, BpfError> {
            let offset = target(from, name)?;
            u8::try_from(offset).map_err(|_| BpfError::JumpTooFar {
                from,
                to: from + 1 + offset,
            })
        };
        self.items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                Ok(match item {
                    Item::Stmt(code, k) => Instruction {
                        code: *code,
                        jt: 0,
                        jf: 0,
                        k: *k,
                    },
                    Item::Jump { code, k, jt, jf } => Instruction {
                        code: *code,
                        jt: short(i, jt)?,
                        jf: short(i, jf)?,
                        k: *k,
                    },
                    Item::Always(to) => Instruction {
                        code: op::JMP | op::JA,
                        jt: 0,
                        jf: 0,
                        k: target(i, to)? as u32,
                    },
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::Frame;
    use crate::bpf::vm::{Dialect, Program};
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Runs a program as the kernel would, on the crate's interpreter (Linux dialect:
    /// a load out of the packet ends the program with 0, that is, drop).
    fn run(program: &[Instruction], packet: &[u8]) -> u32 {
        run_with_protocol(program, packet, 0)
    }

    /// `run`, with `protocol` as the answer to the `SKF_AD_PROTOCOL` ancillary load.
    fn run_with_protocol(program: &[Instruction], packet: &[u8], protocol: u16) -> u32 {
        let program = Program::validate_dialect(program, Dialect::LinuxSocket)
            .unwrap_or_else(|e| panic!("invalid program: {e}"));
        program.run_with_protocol(Frame::new(&[], packet), packet.len() as u32, protocol)
    }

    const SRC4: [u8; 4] = [198, 51, 100, 1];
    const DST4: [u8; 4] = [198, 51, 100, 2];
    const SRC6: &str = "2001:db8:100::1";
    const DST6: &str = "2001:db8:100::2";

    fn v6(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    /// A minimal gretap GRE header and a few payload bytes (RFC 2784 layout).
    const GRE: [u8; 8] = [0x00, 0x00, 0x65, 0x58, 0xde, 0xad, 0xbe, 0xef];

    fn ipv4(protocol: u8, dst: [u8; 4], frag: u16, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
        p.extend_from_slice(&frag.to_be_bytes());
        p.extend_from_slice(&[64, protocol, 0, 0]);
        p.extend_from_slice(&SRC4);
        p.extend_from_slice(&dst);
        p.extend_from_slice(payload);
        p
    }

    /// IPv6 with `chain`: (header type, header bytes) pairs; the first entry's type
    /// goes into the fixed header, each header's first byte names the next.
    fn ipv6(first: u8, dst: &str, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(rest.len() as u16).to_be_bytes());
        p.extend_from_slice(&[first, 64]);
        p.extend_from_slice(&v6(SRC6));
        p.extend_from_slice(&v6(dst));
        p.extend_from_slice(rest);
        p
    }

    /// An 8-byte option-type extension header (Hop-by-Hop / Routing / Dest Options).
    fn ext8(next: u8) -> Vec<u8> {
        vec![next, 0, 1, 4, 0, 0, 0, 0]
    }

    fn fragment_header(next: u8, offset_units: u16, more: bool) -> Vec<u8> {
        let word = (offset_units << 3) | u16::from(more);
        let mut h = vec![next, 0];
        h.extend_from_slice(&word.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 7]);
        h
    }

    fn eth(tags: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0, 0, 0x5e, 0, 0x53, 2, 0, 0, 0x5e, 0, 0x53, 1];
        for (i, tpid) in tags.iter().enumerate() {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&(100 + i as u16).to_be_bytes());
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn udp() -> Vec<u8> {
        vec![0x30, 0x39, 0x00, 0x35, 0, 12, 0, 0, 1, 2, 3, 4]
    }

    fn keeps(program: &[Instruction], packet: &[u8]) -> bool {
        run(program, packet) != 0
    }

    fn any() -> Vec<Instruction> {
        gre_filter(Framing::Ethernet, &[]).unwrap()
    }

    #[test]
    fn keeps_ipv4_and_ipv6_gre() {
        let p = any();
        assert!(keeps(&p, &eth(&[], 0x0800, &ipv4(47, DST4, 0, &GRE))));
        assert!(keeps(&p, &eth(&[], 0x86DD, &ipv6(47, DST6, &GRE))));
        assert_eq!(run(&p, &eth(&[], 0x0800, &ipv4(47, DST4, 0, &GRE))), ACCEPT);
    }

    #[test]
    fn keeps_one_or_two_tags() {
        let p = any();
        for tags in [
            &[0x8100][..],
            &[0x88A8, 0x8100],
            &[0x9100, 0x8100],
            &[0x88A8],
        ] {
            assert!(keeps(&p, &eth(tags, 0x0800, &ipv4(47, DST4, 0, &GRE))));
            assert!(keeps(&p, &eth(tags, 0x86DD, &ipv6(47, DST6, &GRE))));
            assert!(!keeps(&p, &eth(tags, 0x0800, &ipv4(17, DST4, 0, &udp()))));
        }
        // Three tags: more than the filter looks through.
        let three = eth(&[0x88A8, 0x8100, 0x8100], 0x0800, &ipv4(47, DST4, 0, &GRE));
        assert!(!keeps(&p, &three));
    }

    #[test]
    fn drops_other_traffic() {
        let p = any();
        assert!(!keeps(&p, &eth(&[], 0x0800, &ipv4(17, DST4, 0, &udp()))));
        assert!(!keeps(
            &p,
            &eth(&[], 0x0800, &ipv4(1, DST4, 0, &[8, 0, 0, 0]))
        ));
        assert!(!keeps(&p, &eth(&[], 0x86DD, &ipv6(17, DST6, &udp()))));
        assert!(!keeps(&p, &eth(&[], 0x86DD, &ipv6(58, DST6, &[128, 0]))));
        // ARP (RFC 826 request, 28 bytes).
        let arp = [
            0, 1, 8, 0, 6, 4, 0, 1, 0, 0, 0x5e, 0, 0x53, 1, 198, 51, 100, 1, 0, 0, 0, 0, 0, 0, 198,
            51, 100, 2,
        ];
        assert!(!keeps(&p, &eth(&[], 0x0806, &arp)));
        assert!(!keeps(&p, &eth(&[0x8100], 0x0806, &arp)));
        // ESP after IPv6 cannot be followed.
        assert!(!keeps(&p, &eth(&[], 0x86DD, &ipv6(50, DST6, &[0; 16]))));
        // Cut short: loads past the end drop.
        assert!(!keeps(&p, &eth(&[], 0x0800, &[0x45, 0, 0])));
        assert!(!keeps(&p, &[0u8; 6]));
        assert!(!keeps(&p, &[]));
    }

    fn udp_to(port: u16) -> Vec<u8> {
        let mut u = vec![0xc3, 0x50];
        u.extend_from_slice(&port.to_be_bytes());
        u.extend_from_slice(&[0, 16, 0, 0, 8, 0, 0, 0, 0, 0, 0x64, 0]);
        u
    }

    #[test]
    fn mirror_filter_keeps_udp_to_the_mirror_ports() {
        let p = mirror_filter(Framing::Ethernet, &[], &[4789, 6081, 4754]).unwrap();
        for port in [4789, 6081, 4754] {
            for tags in [&[][..], &[0x8100], &[0x88A8, 0x8100]] {
                assert!(keeps(
                    &p,
                    &eth(tags, 0x0800, &ipv4(17, DST4, 0, &udp_to(port)))
                ));
                assert!(keeps(
                    &p,
                    &eth(tags, 0x86DD, &ipv6(17, DST6, &udp_to(port)))
                ));
            }
            // After IPv6 extension headers.
            let mut rest = ext8(17);
            rest.extend(udp_to(port));
            assert!(keeps(&p, &eth(&[], 0x86DD, &ipv6(60, DST6, &rest))));
        }
        // GRE still, other UDP not.
        assert!(keeps(&p, &eth(&[], 0x0800, &ipv4(47, DST4, 0, &GRE))));
        assert!(!keeps(
            &p,
            &eth(&[], 0x0800, &ipv4(17, DST4, 0, &udp_to(53)))
        ));
        assert!(!keeps(
            &p,
            &eth(&[], 0x86DD, &ipv6(17, DST6, &udp_to(8472)))
        ));
        // IPv4 options: the port is found behind the IHL.
        let mut opt = ipv4(17, DST4, 0, &[1, 1, 1, 1]);
        opt[0] = 0x46;
        opt.extend(udp_to(4789));
        assert!(keeps(&p, &eth(&[], 0x0800, &opt)));
        opt[0] = 0x45;
        assert!(!keeps(&p, &eth(&[], 0x0800, &opt)));
        // A later IPv4 fragment (no UDP header) is kept, a first one by its port.
        assert!(keeps(&p, &eth(&[], 0x0800, &ipv4(17, DST4, 185, &[0; 16]))));
        assert!(!keeps(
            &p,
            &eth(&[], 0x0800, &ipv4(17, DST4, 0x2000, &udp_to(53)))
        ));
        // A later IPv6 fragment of UDP.
        let frag = fragment_header(17, 100, false);
        assert!(keeps(&p, &eth(&[], 0x86DD, &ipv6(44, DST6, &frag))));
        // With destinations: the address still decides, tags restored for the load.
        let p = mirror_filter(Framing::Ethernet, &[IpAddr::from(DST4)], &[4789]).unwrap();
        assert!(keeps(
            &p,
            &eth(&[0x8100], 0x0800, &ipv4(17, DST4, 0, &udp_to(4789)))
        ));
        assert!(!keeps(
            &p,
            &eth(&[0x8100], 0x0800, &ipv4(17, SRC4, 0, &udp_to(4789)))
        ));
        // Raw IP framing.
        let p = mirror_filter(Framing::RawIp, &[], &[6081]).unwrap();
        assert!(keeps(&p, &ipv4(17, DST4, 0, &udp_to(6081))));
        assert!(!keeps(&p, &ipv4(17, DST4, 0, &udp_to(4789))));
        assert_eq!(
            mirror_filter(Framing::Ethernet, &[], &[1; 17]).unwrap_err(),
            BpfError::TooManyPorts { given: 17 }
        );
    }

    #[test]
    fn keeps_every_ipv4_gre_fragment() {
        let p = any();
        // First fragment (MF), a middle one and the last: all carry protocol 47.
        for frag in [0x2000, 0x2000 | 185, 370] {
            assert!(keeps(&p, &eth(&[], 0x0800, &ipv4(47, DST4, frag, &GRE))));
            assert!(!keeps(&p, &eth(&[], 0x0800, &ipv4(17, DST4, frag, &udp()))));
        }
    }

    #[test]
    fn walks_ipv6_extension_headers() {
        let p = any();
        // Destination Options before GRE, as tcpdump-erspan-type-iii-pb-1.pcap.
        let mut rest = ext8(47);
        rest.extend_from_slice(&GRE);
        assert!(keeps(&p, &eth(&[], 0x86DD, &ipv6(60, DST6, &rest))));
        // Hop-by-Hop, Routing, Destination Options, then GRE.
        let mut rest = ext8(43);
        rest.extend(ext8(60));
        rest.extend(ext8(47));
        rest.extend_from_slice(&GRE);
        assert!(keeps(&p, &eth(&[0x8100], 0x86DD, &ipv6(0, DST6, &rest))));
        // A longer Destination Options header (hdr_ext_len 1: 16 bytes).
        let mut rest = vec![47, 1];
        rest.extend_from_slice(&[1, 12]);
        rest.extend_from_slice(&[0; 12]);
        rest.extend_from_slice(&GRE);
        assert!(keeps(&p, &eth(&[], 0x86DD, &ipv6(60, DST6, &rest))));
        // AH (payload_len 4: (4 + 2) * 4 = 24 bytes), then GRE.
        let mut rest = vec![47, 4, 0, 0];
        rest.extend_from_slice(&[0; 20]);
        rest.extend_from_slice(&GRE);
        assert!(keeps(&p, &eth(&[], 0x86DD, &ipv6(51, DST6, &rest))));
        // The same chains ending in UDP are dropped.
        let mut rest = ext8(43);
        rest.extend(ext8(17));
        rest.extend(udp());
        assert!(!keeps(&p, &eth(&[], 0x86DD, &ipv6(0, DST6, &rest))));
        // Too many extension headers.
        let mut rest = Vec::new();
        for _ in 0..MAX_IPV6_EXT_HEADERS {
            rest.extend(ext8(60));
        }
        rest.extend(ext8(47));
        rest.extend_from_slice(&GRE);
        assert!(!keeps(&p, &eth(&[], 0x86DD, &ipv6(60, DST6, &rest))));
        // A chain cut short by the end of the frame.
        assert!(!keeps(&p, &eth(&[], 0x86DD, &ipv6(60, DST6, &[60]))));
    }

    #[test]
    fn ipv6_fragments() {
        let p = any();
        // First fragment: offset 0, M set, GRE follows.
        let mut rest = fragment_header(47, 0, true);
        rest.extend_from_slice(&GRE);
        assert!(keeps(&p, &eth(&[], 0x86DD, &ipv6(44, DST6, &rest))));
        // Later fragments: no GRE header inside, the Fragment header names it.
        let rest = fragment_header(47, 100, false);
        assert!(keeps(&p, &eth(&[], 0x86DD, &ipv6(44, DST6, &rest))));
        let rest = fragment_header(60, 100, true);
        assert!(keeps(&p, &eth(&[], 0x86DD, &ipv6(44, DST6, &rest))));
        let rest = fragment_header(17, 100, true);
        assert!(!keeps(&p, &eth(&[], 0x86DD, &ipv6(44, DST6, &rest))));
        let mut rest = fragment_header(17, 0, true);
        rest.extend(udp());
        assert!(!keeps(&p, &eth(&[], 0x86DD, &ipv6(44, DST6, &rest))));
        // Hop-by-Hop, then a first fragment, then Destination Options, then GRE.
        let mut rest = ext8(44);
        rest.extend(fragment_header(60, 0, true));
        rest.extend(ext8(47));
        rest.extend_from_slice(&GRE);
        assert!(keeps(&p, &eth(&[], 0x86DD, &ipv6(0, DST6, &rest))));
    }

    #[test]
    fn destinations_select() {
        let sink4 = IpAddr::V4(Ipv4Addr::from(DST4));
        let sink6 = IpAddr::V6(DST6.parse().unwrap());
        let other4 = [198, 51, 100, 3];
        let other6 = "2001:db8:100::3";
        // Only an IPv6 address differing in the last word, and in the first.
        let near6 = "2001:db9:100::2";

        let both = gre_filter(Framing::Ethernet, &[sink4, sink6]).unwrap();
        assert!(keeps(&both, &eth(&[], 0x0800, &ipv4(47, DST4, 0, &GRE))));
        assert!(!keeps(&both, &eth(&[], 0x0800, &ipv4(47, other4, 0, &GRE))));
        assert!(keeps(&both, &eth(&[0x8100], 0x86DD, &ipv6(47, DST6, &GRE))));
        assert!(!keeps(&both, &eth(&[], 0x86DD, &ipv6(47, other6, &GRE))));
        assert!(!keeps(&both, &eth(&[], 0x86DD, &ipv6(47, near6, &GRE))));
        let mut rest = ext8(47);
        rest.extend_from_slice(&GRE);
        assert!(keeps(
            &both,
            &eth(&[0x88A8, 0x8100], 0x86DD, &ipv6(60, DST6, &rest))
        ));
        assert!(!keeps(&both, &eth(&[], 0x86DD, &ipv6(60, other6, &rest))));
        // Still GRE only.
        assert!(!keeps(&both, &eth(&[], 0x0800, &ipv4(17, DST4, 0, &udp()))));

        // One family only: the other family is dropped entirely.
        let only4 = gre_filter(Framing::Ethernet, &[sink4]).unwrap();
        assert!(keeps(&only4, &eth(&[], 0x0800, &ipv4(47, DST4, 0, &GRE))));
        assert!(!keeps(&only4, &eth(&[], 0x86DD, &ipv6(47, DST6, &GRE))));
        let only6 = gre_filter(Framing::Ethernet, &[sink6]).unwrap();
        assert!(!keeps(&only6, &eth(&[], 0x0800, &ipv4(47, DST4, 0, &GRE))));
        assert!(keeps(&only6, &eth(&[], 0x86DD, &ipv6(47, DST6, &GRE))));
    }

    #[test]
    fn the_most_destinations_still_assemble() {
        let many: Vec<IpAddr> = (0..MAX_DESTINATIONS as u16)
            .map(|i| {
                if i % 2 == 0 {
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i))
                } else {
                    IpAddr::V4(Ipv4Addr::new(203, 0, 113, i as u8))
                }
            })
            .collect();
        let p = gre_filter(Framing::Ethernet, &many).unwrap();
        assert!(p.len() < 4096, "kernel limit BPF_MAXINSNS");
        let last6 = "2001:db8::e";
        assert!(keeps(&p, &eth(&[], 0x86DD, &ipv6(47, last6, &GRE))));
        assert!(keeps(
            &p,
            &eth(&[], 0x0800, &ipv4(47, [203, 0, 113, 15], 0, &GRE))
        ));
        assert!(!keeps(
            &p,
            &eth(&[], 0x0800, &ipv4(47, [203, 0, 113, 16], 0, &GRE))
        ));
        let too_many = vec![many[0]; MAX_DESTINATIONS + 1];
        assert_eq!(
            gre_filter(Framing::Ethernet, &too_many),
            Err(BpfError::TooManyDestinations {
                given: MAX_DESTINATIONS + 1
            })
        );
    }

    #[test]
    fn raw_ip_framing() {
        let p = gre_filter(Framing::RawIp, &[IpAddr::V4(Ipv4Addr::from(DST4))]).unwrap();
        assert!(keeps(&p, &ipv4(47, DST4, 0, &GRE)));
        assert!(!keeps(&p, &ipv4(47, [198, 51, 100, 3], 0, &GRE)));
        assert!(!keeps(&p, &ipv4(17, DST4, 0, &udp())));
        let p = gre_filter(Framing::RawIp, &[]).unwrap();
        assert!(keeps(&p, &ipv6(47, DST6, &GRE)));
        assert!(!keeps(&p, &eth(&[], 0x0800, &ipv4(47, DST4, 0, &GRE))));
    }

    /// Every program ends every path in a `ret` and jumps only forward: what the
    /// kernel's checker demands.
    #[test]
    fn programs_are_well_formed() {
        for dsts in [
            vec![],
            vec![IpAddr::V4(Ipv4Addr::from(DST4))],
            vec![IpAddr::V6(DST6.parse().unwrap())],
        ] {
            for framing in [Framing::Ethernet, Framing::RawIp] {
                well_formed(&gre_filter(framing, &dsts).unwrap());
            }
        }
        well_formed(&fanout_by_outer_addresses().unwrap());
    }

    fn well_formed(p: &[Instruction]) {
        assert_eq!(p.last().map(|i| i.code & 0x07), Some(op::RET));
        for (i, ins) in p.iter().enumerate() {
            if ins.code & 0x07 == op::JMP {
                let far = if ins.code & 0xF0 == op::JA {
                    ins.k as usize
                } else {
                    usize::from(ins.jt.max(ins.jf))
                };
                assert!(i + 1 + far < p.len(), "jump out of program at {i}");
            }
        }
    }

    fn ipv4_from(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut p = ipv4(47, dst, 0, payload);
        p[12..16].copy_from_slice(&src);
        p
    }

    #[test]
    fn fanout_keeps_one_session_on_one_ring() {
        let p = fanout_by_outer_addresses().unwrap();
        let ring = |packet: &[u8], protocol: u16| run_with_protocol(&p, packet, protocol);
        let a = ipv4_from(SRC4, DST4, &GRE);
        let mut other_payload = GRE.to_vec();
        other_payload.extend_from_slice(&[9; 40]);
        let a2 = ipv4_from(SRC4, DST4, &other_payload);
        assert_eq!(
            ring(&a, 0x0800),
            ring(&a2, 0x0800),
            "the payload does not count"
        );
        // A second tag still in the bytes (QinQ with the outer one in metadata).
        let mut tagged = vec![0x00, 0x64, 0x08, 0x00];
        tagged.extend_from_slice(&a);
        assert_eq!(ring(&tagged, 0x8100), ring(&a, 0x0800));
        // IPv6 likewise, extension headers and all.
        let b = ipv6(47, DST6, &GRE);
        let mut rest = ext8(47);
        rest.extend_from_slice(&GRE);
        let b2 = ipv6(60, DST6, &rest);
        assert_eq!(ring(&b, 0x86DD), ring(&b2, 0x86DD));
        assert_ne!(
            ring(&b, 0x86DD),
            ring(&ipv6(47, "2001:db8:100::9", &GRE), 0x86DD)
        );
        // Not IP: the first ring.
        assert_eq!(ring(&[0; 28], 0x0806), 0);
        // Cut short: the kernel's answer for a failed load, 0, is the first ring too.
        assert_eq!(ring(&a[..14], 0x0800), 0);
    }

    #[test]
    fn fanout_spreads_senders() {
        let p = fanout_by_outer_addresses().unwrap();
        for rings in [2u32, 3, 4] {
            let mut used = vec![0; rings as usize];
            for host in 1..=16u8 {
                let packet = ipv4_from([198, 51, 100, host], DST4, &GRE);
                used[(run_with_protocol(&p, &packet, 0x0800) % rings) as usize] += 1;
            }
            assert!(used.iter().all(|&n| n > 0), "{rings} rings: {used:?}");
        }
    }
}
