//! Text output: one `tcpdump -n`-style line per inner frame, for `spandump` without `-w`.
//!
//! A line reads `<time> <encap tag>: <inner summary>`:
//!
//! ```text
//! 1700000000.123456 gre key 99: IP 192.168.15.47 > 1.1.1.1: ICMP echo request, id 1, seq 2, length 64
//! 12:00:14.232092 erspan-ii sid 100 idx 0x1abcd: ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 46
//! 12:00:14.236397 erspan-iii sid 200 egress: IP 10.0.0.2.80 > 10.0.0.1.45678: Flags [S.], seq 7, ack 2, win 512, length 0
//! ```
//!
//! The tag names the encapsulation and its filter keys; `-v` adds every encapsulation
//! field in parentheses. Everything after `<encap tag>: ` is what tcpdump 4.99 prints
//! for the frame the pcap sink writes (`tcpdump MODE -r inner.pcap`, in the modes
//! `-e`, `-v`, `-vv`, `-q`, `-S`, `-t`, `-tt`), continuation lines included:
//! `tests/text_tcpdump.rs` compares the two frame by frame. IP, TCP, UDP, ICMP, ARP
//! and VLAN headers are read with etherparse; the modules read by hand only the fixed
//! fields of what etherparse does not cover (LLC, STP, OSPF, PIM, VRRP, ESP, DNS,
//! HTTP).
//!
//! Deliberate differences from tcpdump (the README lists them with the protocols not
//! yet decoded): the tag; a bounded TCP connection table ([`tcpseq`]); no byte from
//! the wire is printed except as printable ASCII where tcpdump prints it.
//!
//! One module per protocol family, each an `impl` block of the line builder
//! ([`line`]): `encap` (the tag), `link` with `lldp`, `llc` with `cdp`, `arp`, `ip`,
//! `tcp` with `tcpseq` (relative sequence numbers) and `txtproto` (HTTP, SSH), `udp`
//! with `dns`, `ntp`, `bootp`, `dhcp6`, `rip`, `tunnel` (VXLAN, GENEVE) and `udpapp`
//! (HSRP, syslog), `icmp`, `icmp6`, `igmp`, `routing` (OSPF, VRRP), `pim`, `tunnel`
//! (GRE).
//!
//! This module must never panic on any frame (runt, garbage, cut short by the snap
//! length or by the sender), allocate per line (everything is written straight into the
//! caller's writer), keep state across frames other than the bounded TCP table, read
//! past the captured bytes, or write more than [`max_text_len`] bytes for one frame.

mod arp;
mod bootp;
mod cdp;
mod dhcp6;
mod dns;
mod encap;
#[cfg(test)]
mod fixtures;
mod icmp;
mod icmp6;
mod igmp;
mod ip;
mod line;
mod link;
mod llc;
mod lldp;
mod ntp;
mod pim;
mod rip;
mod routing;
mod tcp;
pub mod tcpseq;
mod tunnel;
mod txtproto;
mod udp;
mod udpapp;

use std::io::{self, Write};
use std::net::IpAddr;

use crate::Timestamp;
use crate::wire::decap::{Decapsulated, PayloadKind};
use line::{Line, Mac};
use tcpseq::TcpSeqTable;

/// How the line starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeFormat {
    /// `HH:MM:SS.ffffff` in local time, as tcpdump prints by default.
    #[default]
    Local,
    /// `HH:MM:SS.ffffff` in UTC (deterministic: tests, and runs without a time zone).
    Utc,
    /// Seconds since the epoch, `1700000000.123456` (tcpdump `-tt`).
    Epoch,
    /// No time stamp at all (tcpdump `-t`).
    None,
}

/// What a line shows; the fields mirror tcpdump's flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextOptions {
    /// `-e`: print the inner link-layer header (MAC addresses, ethertype, VLAN tags).
    pub link_header: bool,
    /// `-v` count: 1 adds encapsulation fields and IP header details, 2 also prints
    /// TCP sequence numbers on every segment and IPv4 UDP checksums.
    pub verbose: u8,
    /// `-q`: shorter transport summaries (`tcp 0`).
    pub quiet: bool,
    pub time: TimeFormat,
    /// Print 9 fraction digits instead of 6.
    pub nano: bool,
    /// `-S`: absolute TCP sequence numbers instead of relative ones.
    pub absolute_seq: bool,
}

/// The most bytes of text one frame of `captured` bytes can produce: the fixed
/// fields of a few nested headers, tcpdump's hex dump of undecoded bytes (68
/// characters for every 16 bytes), DNS records (names within their budget, see
/// `dns`). The fuzz target holds the printer to it.
pub fn max_text_len(captured: usize) -> usize {
    8192 + captured * 10
}

/// Whether the text line after `line` belongs to the same frame although it starts
/// without white space: tcpdump prints the frame VXLAN carries on a line of its own,
/// right after VXLAN's header (`..: VXLAN, flags [I] (0x08), vni 2`). Every other
/// continuation line of a frame starts with a space or a tab.
pub fn vxlan_carries_next_line(line: &[u8]) -> bool {
    let Some(at) = line.windows(6).rposition(|w| w == b", vni ") else {
        return false;
    };
    let digits = &line[at + 6..];
    !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && line[..at].windows(14).any(|w| w == b"VXLAN, flags [")
}

/// Writes text lines. Its only state across frames is the bounded table of TCP
/// connections behind relative sequence numbers.
#[derive(Clone, Debug)]
pub struct TextPrinter {
    opts: TextOptions,
    tcp_seq: TcpSeqTable,
}

impl TextPrinter {
    pub fn new(opts: TextOptions) -> TextPrinter {
        TextPrinter {
            opts,
            tcp_seq: TcpSeqTable::default(),
        }
    }

    /// A printer whose TCP table holds `connections` connections instead of
    /// [`tcpseq::SLOTS`] (tests and fuzzing: a small table is quick to allocate).
    pub fn with_tcp_table(opts: TextOptions, connections: usize) -> TextPrinter {
        TextPrinter {
            opts,
            tcp_seq: TcpSeqTable::with_capacity(connections),
        }
    }

    /// TCP connections forgotten to stay within the table's bound
    /// ([`tcpseq::SLOTS`]); their next segments print absolute numbers again.
    pub fn tcp_evictions(&self) -> u64 {
        self.tcp_seq.evictions()
    }

    pub fn options(&self) -> TextOptions {
        self.opts
    }

    /// Writes one line (ending in '\n') for an inner frame received in outer packet
    /// `src` -> `dst` at `ts`.
    pub fn write_line<W: Write>(
        &mut self,
        out: &mut W,
        ts: Timestamp,
        src: IpAddr,
        dst: IpAddr,
        d: &Decapsulated<'_>,
    ) -> io::Result<()> {
        let mut line = Line {
            out,
            opts: self.opts,
            tcp_seq: &mut self.tcp_seq,
            name_budget: 0,
        };
        line.time(ts)?;
        line.encap(src, dst, d)?;
        line.out.write_all(b": ")?;
        // The wire length can never be below what was captured.
        let wire_len = d.orig_len.max(d.frame.len());
        match d.kind {
            PayloadKind::Ethernet => line.ethernet(d.frame, wire_len, 0)?,
            PayloadKind::Ipv4 | PayloadKind::Ipv6 => {
                // The Ethernet header the pcap sink synthesizes (zero MACs), as
                // tcpdump shows it for the frames spandump writes.
                if self.opts.link_header {
                    let (ether_type, synth) = if d.kind == PayloadKind::Ipv4 {
                        (line::num::ETH_IPV4, &super::SYNTH_ETHERNET_IPV4)
                    } else {
                        (line::num::ETH_IPV6, &super::SYNTH_ETHERNET_IPV6)
                    };
                    write!(line.out, "{} > {}, ", Mac(&synth[6..12]), Mac(&synth[..6]))?;
                    line.ether_type(ether_type)?;
                    write!(line.out, ", length {}: ", wire_len + synth.len())?;
                }
                if d.kind == PayloadKind::Ipv4 {
                    line.ipv4(d.frame, wire_len, 0)?;
                } else {
                    line.ipv6(d.frame, wire_len, 0)?;
                }
            }
            // Bare ARP (GENEVE 0x0806), behind the header the sink synthesizes.
            PayloadKind::Arp => {
                if self.opts.link_header {
                    let synth = &super::SYNTH_ETHERNET_ARP;
                    write!(line.out, "{} > {}, ", Mac(&synth[6..12]), Mac(&synth[..6]))?;
                    line.ether_type(line::num::ETH_ARP)?;
                    write!(line.out, ", length {}: ", wire_len + synth.len())?;
                }
                line.arp(d.frame, wire_len)?;
            }
        }
        line.out.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use proptest::prelude::*;

    #[test]
    fn quiet_variants() {
        let q = TextOptions {
            quiet: true,
            ..opts()
        };
        let frame = syn_ack();
        assert_eq!(
            line_with(q, &gretap(&frame)),
            "1700000000.123456 gre: IP 10.0.0.2.80 > 10.0.0.1.45678: tcp 0\n"
        );
        let eq = TextOptions {
            link_header: true,
            ..q
        };
        assert_eq!(
            line_with(eq, &gretap(&frame)),
            "1700000000.123456 gre: aa:bb:cc:dd:ee:ff > 11:22:33:44:55:66, IPv4, length 74: \
             10.0.0.2.80 > 10.0.0.1.45678: tcp 0\n"
        );
        let packet = hex(SURICATA_L3_UDP);
        let d = decap(Encap::Gre, gre(None), PayloadKind::Ipv4, &packet);
        assert_eq!(
            line_with(q, &d),
            "1700000000.123456 gre: IP 2.2.2.3.12345 > 2.2.2.2.514: UDP, length 4\n"
        );
    }

    #[test]
    fn every_prefix_of_every_fixture_prints_one_frame() {
        let fixtures = [
            hex(ZEEK_ERSPAN3_ECHO),
            hex(FT0_VLAN_ECHO),
            hex(ERSPAN1_ARP_REQUEST),
            hex(ERSPAN2_STP),
            syn_ack(),
            tcp_data(),
        ];
        for frame in &fixtures {
            for cut in 0..=frame.len() {
                for opts in all_options() {
                    let mut d = gretap(&frame[..cut]);
                    d.orig_len = frame.len();
                    assert_one_frame(opts, &d);
                    // Sender truncation: the wire length is the captured one.
                    assert_one_frame(opts, &gretap(&frame[..cut]));
                }
            }
        }
        for packet in [hex(SURICATA_L3_UDP), icmp6_echo()] {
            let kind = if packet[0] >> 4 == 6 {
                PayloadKind::Ipv6
            } else {
                PayloadKind::Ipv4
            };
            for cut in 0..=packet.len() {
                for opts in all_options() {
                    let mut d = decap(Encap::Gre, gre(None), kind, &packet[..cut]);
                    d.orig_len = packet.len();
                    assert_one_frame(opts, &d);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_garbage(
            frame in proptest::collection::vec(any::<u8>(), 0..200),
            kind in 0..3u8,
            extra in 0..100usize,
            bits in 0..16u8,
        ) {
            let kind = [PayloadKind::Ethernet, PayloadKind::Ipv4, PayloadKind::Ipv6][usize::from(kind)];
            let opts = all_options().nth(usize::from(bits)).unwrap();
            let mut d = decap(Encap::Gre, gre(None), kind, &frame);
            d.orig_len = frame.len() + extra;
            assert_one_frame(opts, &d);
        }

        #[test]
        fn never_panics_on_garbage_behind_real_headers(
            tail in proptest::collection::vec(any::<u8>(), 0..120),
            proto in any::<u8>(),
            ether_type in prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x0806), Just(0x8100), 0u16..1600],
            bits in 0..16u8,
        ) {
            let opts = all_options().nth(usize::from(bits)).unwrap();
            let ip = ipv4_frame(proto, 0, &tail);
            assert_one_frame(opts, &gretap(&ip));
            let mut raw6 = vec![0x60, 0, 0, 0];
            raw6.extend_from_slice(&(tail.len() as u16).to_be_bytes());
            raw6.extend_from_slice(&[proto, 64]);
            raw6.extend_from_slice(&IP6_A);
            raw6.extend_from_slice(&IP6_B);
            raw6.extend_from_slice(&tail);
            assert_one_frame(opts, &decap(Encap::Gre, gre(None), PayloadKind::Ipv6, &raw6));
            let mut eth = MAC_A.to_vec();
            eth.extend_from_slice(&MAC_B);
            eth.extend_from_slice(&ether_type.to_be_bytes());
            eth.extend_from_slice(&tail);
            assert_one_frame(opts, &gretap(&eth));
        }
    }
}
