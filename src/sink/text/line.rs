//! The line builder every printer writes through: the writer and options of the line
//! being printed, tcpdump's timestamp, the truncation marker, and the small formatting
//! helpers and field tables the protocol printers share.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Local, Offset, TimeZone};

use super::tcpseq::TcpSeqTable;
use super::{TextOptions, TimeFormat};
use crate::Timestamp;
/// EtherTypes and IP protocol numbers this module dispatches on.
pub(super) mod num {
    pub const ETH_IPV4: u16 = 0x0800;
    pub const ETH_ARP: u16 = 0x0806;
    pub const ETH_RARP: u16 = 0x8035;
    pub const ETH_IPV6: u16 = 0x86DD;
    pub const ETH_LLDP: u16 = 0x88CC;
    pub const ETH_TRAIL: u16 = 0x1000;
    pub const ETH_TEB: u16 = 0x6558;
    /// Largest value of the type/length field that is an 802.3 length.
    pub const ETH_MAX_LENGTH: u16 = 1500;
    /// Tag protocol identifiers tcpdump treats as VLAN tags.
    pub const VLAN_TPIDS: [u16; 4] = [0x8100, 0x88A8, 0x9100, 0x9200];

    pub const IP_ICMP: u8 = 1;
    pub const IP_IGMP: u8 = 2;
    pub const IP_IPIP: u8 = 4;
    pub const IP_TCP: u8 = 6;
    pub const IP_UDP: u8 = 17;
    pub const IP_IPV6: u8 = 41;
    pub const IP_GRE: u8 = 47;
    pub const IP_ESP: u8 = 50;
    pub const IP_AH: u8 = 51;
    pub const IP_ICMPV6: u8 = 58;
    pub const IP_NONE: u8 = 59;
    pub const IP_OSPF: u8 = 89;
    pub const IP_PIM: u8 = 103;
    pub const IP_VRRP: u8 = 112;
    pub const IP_SCTP: u8 = 132;
}

/// Field offsets of the small headers read by hand (etherparse has no view for them).
pub(super) mod field {
    /// IPv4 header: the byte holding the RES/DF/MF flags.
    pub const IPV4_FLAGS: usize = 6;
    pub const IPV4_RES: u8 = 0x80;
    pub const IPV4_DF: u8 = 0x40;
    pub const IPV4_MF: u8 = 0x20;
    pub const IPV4_TOS: usize = 1;
    pub const IPV6_HEADER_LEN: usize = 40;
    pub const TCP_MIN_HEADER: usize = 20;
    pub const UDP_HEADER: usize = 8;
    pub const SCTP_COMMON_HEADER: usize = 12;

    /// 802.2 LLC: DSAP, SSAP, control; SNAP: OUI (3) + protocol ID (2).
    pub const LLC_U_FORMAT: u8 = 0x03;
    pub const LLC_UI: u16 = 0x03;
    pub const LLC_U_HEADER: usize = 3;
    pub const LLC_IS_HEADER: usize = 4;
    pub const SAP_STP: u8 = 0x42;
    pub const SAP_SNAP: u8 = 0xAA;
    pub const SNAP_HEADER: usize = 5;
    pub const OUI_ENCAP_ETHERNET: u32 = 0x00_0000;
    pub const OUI_CISCO: u32 = 0x00_000C;
    pub const PID_CISCO_CDP: u16 = 0x2000;
    pub const PID_CISCO_PVST: u16 = 0x010B;
    pub const PID_CISCO_VLAN_BRIDGE: u16 = 0x010C;
    pub const PID_CISCO_VTP: u16 = 0x2003;
    pub const PID_CISCO_DTP: u16 = 0x2004;
    pub const PID_CISCO_UDLD: u16 = 0x0111;

    /// STP BPDU (IEEE 802.1D 9.3): offsets from the protocol identifier.
    pub const STP_VERSION: usize = 2;
    pub const STP_TYPE: usize = 3;
    pub const STP_FLAGS: usize = 4;
    pub const STP_ROOT_ID: usize = 5;
    pub const STP_ROOT_COST: usize = 13;
    pub const STP_BRIDGE_ID: usize = 17;
    /// Message age, max age, hello time, forward delay: 2 bytes each, 1/256 s.
    pub const STP_TIMERS: usize = 27;
    pub const STP_PORT_ID: usize = 25;
    pub const STP_CONFIG_LEN: usize = 35;
    pub const STP_RSTP_LEN: usize = 36;
    pub const STP_MSTP_MIN_LEN: usize = 102;

    /// OSPFv2 header: authentication type; MD5 adds a trailer after the packet.
    pub const OSPF_AUTH_TYPE: usize = 14;
    pub const OSPF_AUTH_MD5: u16 = 2;
    pub const OSPF_MD5_TRAILER: usize = 16;
    /// VRRP: version/type, VRID, priority, address count, auth type (v2) / interval.
    pub const VRRP_FIXED: usize = 6;
}

/// One line being written.
pub(super) struct Line<'o, W: Write> {
    pub(super) out: &'o mut W,
    pub(super) opts: TextOptions,
    /// Initial sequence numbers of the TCP connections seen so far.
    pub(super) tcp_seq: &'o mut TcpSeqTable,
    /// Characters of DNS names and strings the current message may still print.
    pub(super) name_budget: usize,
}

/// The IP header facts transport printers need.
#[derive(Clone, Copy)]
pub(super) struct IpCtx {
    pub(super) src: IpAddr,
    pub(super) dst: IpAddr,
    /// TTL or hop limit.
    pub(super) ttl: u8,
    /// Part of a fragmented datagram: lengths and checksums cannot be checked.
    pub(super) fragmented: bool,
    /// Addresses were already printed (tcpdump prints them before the first header
    /// that is not TCP/UDP/SCTP, and only ports after it).
    pub(super) addrs_done: bool,
}

/// Nested tunnels (IP in IP, GRE in the inner frame) decoded before the summary stops.
pub(super) const MAX_NESTING: u8 = 4;
/// VLAN tags read before giving up with `[|vlan]` (each one is 4 captured bytes anyway).
pub(super) const MAX_VLAN_TAGS: usize = 8;
/// Years 1..=9999: the range in which the local time zone is asked for an offset.
pub(super) const LOCAL_TIME_RANGE: core::ops::RangeInclusive<i64> =
    -62_135_596_800..=253_402_300_799;

/// A MAC (or any link-layer) address printed as colon-separated hex.
pub(super) struct Mac<'a>(pub(super) &'a [u8]);

impl core::fmt::Display for Mac<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Bytes printed as continuous hex.
pub(super) struct Hex<'a>(pub(super) &'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// tcpdump's `bittok2str`: the names of the set bits, comma separated, or `none`.
pub(super) struct BitNames<'a> {
    pub(super) bits: u32,
    pub(super) names: &'a [(u32, &'static str)],
}

impl core::fmt::Display for BitNames<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut any = false;
        for &(bit, name) in self.names {
            if self.bits & bit != 0 {
                if any {
                    f.write_str(", ")?;
                }
                f.write_str(name)?;
                any = true;
            }
        }
        if !any {
            f.write_str("none")?;
        }
        Ok(())
    }
}

pub(super) fn be16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(off)?, *b.get(off + 1)?]))
}

pub(super) fn be32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

pub(super) fn ipv4_at(b: &[u8], off: usize) -> Option<Ipv4Addr> {
    be32_at(b, off).map(Ipv4Addr::from)
}

pub(super) fn ipv6_at(b: &[u8], off: usize) -> Option<Ipv6Addr> {
    let s: [u8; 16] = b.get(off..off + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(s))
}

/// Source and destination port of a TCP/UDP/SCTP header, if captured.
pub(super) fn ports(b: &[u8]) -> Option<(u16, u16)> {
    Some((be16_at(b, 0)?, be16_at(b, 2)?))
}

/// tcpdump's `in_cksum_shouldbe`: the checksum field value that would have verified,
/// from the field as sent and the Internet checksum computed over the data including it.
pub(super) fn checksum_should_be(field: u16, computed: u16) -> u16 {
    let mut sum = u32::from(field) + u32::from(computed);
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum as u16
}

/// Protocols whose printer shows `address.port`, so the IP layer does not print the
/// addresses first.
pub(super) fn has_ports(proto: u8) -> bool {
    matches!(proto, num::IP_TCP | num::IP_UDP | num::IP_SCTP)
}

impl<W: Write> Line<'_, W> {
    pub(super) fn verbose(&self) -> bool {
        self.opts.verbose > 0
    }

    /// tcpdump's default printer for bytes it does not decode (`hex_and_ascii_print`
    /// with the indent `\n\t`): 16 bytes a line as hex in groups of two, then the
    /// printable ASCII characters (anything else as `.`).
    pub(super) fn hex_dump(&mut self, data: &[u8]) -> io::Result<()> {
        // tcpdump -q leaves it out.
        if self.opts.quiet {
            return Ok(());
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, chunk) in data.chunks(16).enumerate() {
            write!(self.out, "\n\t0x{:04x}: ", i * 16)?;
            // 8 groups of " hhhh" (40 columns), 2 spaces, up to 16 characters.
            let mut buf = [b' '; 40 + 2 + 16];
            for (j, &b) in chunk.iter().enumerate() {
                let at = j / 2 * 5 + 1 + j % 2 * 2;
                buf[at] = HEX[usize::from(b >> 4)];
                buf[at + 1] = HEX[usize::from(b & 0xF)];
                buf[42 + j] = if b.is_ascii_graphic() { b } else { b'.' };
            }
            self.out.write_all(&buf[..42 + chunk.len()])?;
        }
        Ok(())
    }

    /// tcpdump's `hex_print` (`print_unknown_data`): 16 bytes a line after `indent`,
    /// as ` hhhh` groups, no ASCII column.
    pub(super) fn hex_words(&mut self, indent: &[u8], data: &[u8]) -> io::Result<()> {
        for (i, chunk) in data.chunks(16).enumerate() {
            self.out.write_all(indent)?;
            write!(self.out, "0x{:04x}: ", i * 16)?;
            for pair in chunk.chunks(2) {
                match pair {
                    [a, b] => write!(self.out, " {a:02x}{b:02x}")?,
                    [a] => write!(self.out, " {a:02x}")?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// tcpdump's truncation marker: the captured bytes end inside `proto`.
    pub(super) fn trunc(&mut self, proto: &str) -> io::Result<()> {
        write!(self.out, "[|{proto}]")
    }

    pub(super) fn time(&mut self, ts: Timestamp) -> io::Result<()> {
        let nanos = ts.nanos.min(999_999_999);
        let (digits, frac) = if self.opts.nano {
            (9, nanos)
        } else {
            (6, nanos / 1000)
        };
        match self.opts.time {
            TimeFormat::None => Ok(()),
            TimeFormat::Epoch => {
                // -1.5 s is secs -2 + 0.5 s: print the sign and the magnitude.
                let (sign, whole, frac) = match (ts.secs < 0, nanos > 0) {
                    (true, true) => {
                        let f = if self.opts.nano {
                            1_000_000_000 - nanos
                        } else {
                            (1_000_000_000 - nanos) / 1000
                        };
                        ("-", (ts.secs + 1).unsigned_abs(), f)
                    }
                    (true, false) => ("-", ts.secs.unsigned_abs(), 0),
                    (false, _) => ("", ts.secs.unsigned_abs(), frac),
                };
                write!(self.out, "{sign}{whole}.{frac:0digits$} ")
            }
            TimeFormat::Local | TimeFormat::Utc => {
                let offset = if self.opts.time == TimeFormat::Local {
                    local_offset(ts.secs)
                } else {
                    0
                };
                let day_secs = ts.secs.saturating_add(offset).rem_euclid(86_400);
                write!(
                    self.out,
                    "{:02}:{:02}:{:02}.{frac:0digits$} ",
                    day_secs / 3600,
                    day_secs / 60 % 60,
                    day_secs % 60
                )
            }
        }
    }
}

/// Seconds east of UTC of the local time zone at `secs` (0 outside years 1..=9999,
/// where time zone rules are not worth asking about).
pub(super) fn local_offset(secs: i64) -> i64 {
    if !LOCAL_TIME_RANGE.contains(&secs) {
        return 0;
    }
    DateTime::from_timestamp(secs, 0).map_or(0, |utc| {
        i64::from(
            Local
                .offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    #[test]
    fn time_formats() {
        let frame = hex(ZEEK_ERSPAN3_ECHO);
        let d = gretap(&frame);
        let with = |time, nano| {
            let text = line_with(
                TextOptions {
                    time,
                    nano,
                    ..TextOptions::default()
                },
                &d,
            );
            text.split("gre:").next().unwrap().trim_end().to_string()
        };
        assert_eq!(with(TimeFormat::Utc, false), "22:13:20.123456");
        assert_eq!(with(TimeFormat::Utc, true), "22:13:20.123456789");
        assert_eq!(with(TimeFormat::Epoch, true), "1700000000.123456789");
        assert_eq!(with(TimeFormat::None, false), "");
        let local = with(TimeFormat::Local, false);
        assert_eq!(local.len(), "22:13:20.123456".len(), "{local}");
        assert!(local.ends_with(":20.123456"), "{local}");
        let mut out = Vec::new();
        let mut p = TextPrinter::new(opts());
        let src = IpAddr::from([0, 0, 0, 0]);
        p.write_line(&mut out, Timestamp::new(-2, 500_000_000), src, src, &d)
            .unwrap();
        p.write_line(&mut out, Timestamp::new(-3, 0), src, src, &d)
            .unwrap();
        p.write_line(&mut out, Timestamp::new(i64::MIN, u32::MAX), src, src, &d)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        let stamps: Vec<_> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(
            stamps,
            ["-1.500000", "-3.000000", "-9223372036854775807.000000"]
        );
        let mut out = Vec::new();
        let utc = TextOptions {
            time: TimeFormat::Utc,
            ..opts()
        };
        TextPrinter::new(utc)
            .write_line(&mut out, Timestamp::new(-1, 0), src, src, &d)
            .unwrap();
        assert!(out.starts_with(b"23:59:59.000000 "));
    }
}
