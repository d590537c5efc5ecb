//! 802.3 frames: the LLC header, SNAP (Cisco CDP / DTP / VTP / UDLD / PVST+,
//! encapsulated ethertypes) and spanning tree BPDUs, as tcpdump prints them.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};

use super::line::{BitNames, Hex, Line, Mac, be16_at, be32_at, field, num};
use super::link::{Macs, ethertype_name};
pub(super) fn oui_name(oui: u32) -> &'static str {
    match oui {
        0x00_0000 => "Ethernet",
        0x00_000C => "Cisco",
        0x00_005E => "IANA",
        0x00_0081 => "Nortel Networks SONMP",
        0x00_00F8 => "Cisco bridged",
        0x00_80C2 => "Ethernet bridged",
        0x00_A03E => "ATM Forum",
        0x00_E02F => "DOCSIS Spanning Tree",
        0x08_0007 => "Appletalk",
        0x00_9069 => "Juniper",
        0x08_0009 => "Hewlett-Packard",
        0x00_120F => "IEEE 802.3 Private",
        0x00_12BB => "ANSI/TIA",
        0x00_1B21 => "DCBX",
        0x00_2320 => "Nicira Networks",
        0x5C_16C7 => "Big Switch Networks",
        0xB0_D2F5 => "Vello Systems",
        0x00_2481 => "HP",
        0x00_04EA => "HP-Labs",
        0x74_8771 => "Infoblox Inc",
        0xA4_2305 => "Open Networking Lab",
        0x00_049F => "Freescale",
        0x00_15AD => "Netronome",
        0x00_1018 => "Broadcom",
        0x00_E004 => "PMC-Sierra",
        0xD0_F0DB => "Ericsson",
        _ => "Unknown",
    }
}

pub(super) fn cisco_pid_name(pid: u16) -> Option<&'static str> {
    Some(match pid {
        field::PID_CISCO_CDP => "CDP",
        field::PID_CISCO_VTP => "VTP",
        field::PID_CISCO_DTP => "DTP",
        field::PID_CISCO_UDLD => "UDLD",
        field::PID_CISCO_PVST => "PVST",
        field::PID_CISCO_VLAN_BRIDGE => "VLAN Bridge",
        _ => return None,
    })
}

pub(super) fn llc_sap_name(sap: u8) -> &'static str {
    match sap {
        0x00 => "Null",
        0xFF => "Global",
        0x02 => "802.1B I",
        0x03 => "802.1B G",
        0x06 => "IP",
        0x04 => "SNA",
        0x0E => "ProWay NM",
        0x42 => "STP",
        0x4E => "RS511",
        0x7E => "ISO8208",
        0x8E => "ProWay",
        0xAA => "SNAP",
        0xE0 => "IPX",
        0xF0 => "NetBeui",
        0xFE => "OSI",
        _ => "Unknown",
    }
}

impl<W: Write> Line<'_, W> {
    /// An 802.3 frame: LLC header, then STP, SNAP (CDP, PVST+, encapsulated
    /// ethertypes) or just the LLC fields.
    pub(super) fn llc(
        &mut self,
        data: &[u8],
        len: usize,
        macs: &Macs,
        depth: u8,
    ) -> io::Result<()> {
        let (Some(&dsap_field), Some(&ssap_field), Some(&ctrl)) =
            (data.first(), data.get(1), data.get(2))
        else {
            return self.trunc("llc");
        };
        if len < field::LLC_U_HEADER {
            return self.trunc("llc");
        }
        let (control, header_len) = if ctrl & field::LLC_U_FORMAT == field::LLC_U_FORMAT {
            (u16::from(ctrl), field::LLC_U_HEADER)
        } else {
            match data.get(3) {
                // I and S frames have a little-endian 2-byte control field.
                Some(&hi) if len >= field::LLC_IS_HEADER => {
                    (u16::from_le_bytes([ctrl, hi]), field::LLC_IS_HEADER)
                }
                _ => return self.trunc("llc"),
            }
        };
        let dsap = dsap_field & !1;
        let ssap = ssap_field & !1;
        let is_stp = dsap == field::SAP_STP && ssap == field::SAP_STP && control == field::LLC_UI;
        let is_snap =
            dsap == field::SAP_SNAP && ssap == field::SAP_SNAP && control == field::LLC_UI;
        let known = is_stp || is_snap;
        if !known && !self.opts.link_header {
            // tcpdump shows who sent an LLC frame it cannot decode.
            write!(self.out, "{} > {} ", Mac(&macs.src), Mac(&macs.dst))?;
        }
        if self.opts.link_header || !known {
            write!(
                self.out,
                "LLC, dsap {} ({dsap:#04x}) {}, ssap {} ({ssap:#04x}) {}, ",
                llc_sap_name(dsap),
                if dsap_field & 1 != 0 {
                    "Group"
                } else {
                    "Individual"
                },
                llc_sap_name(ssap),
                if ssap_field & 1 != 0 {
                    "Response"
                } else {
                    "Command"
                },
            )?;
            if header_len == field::LLC_U_HEADER {
                write!(self.out, "ctrl {control:#04x}")?;
            } else {
                write!(self.out, "ctrl {control:#06x}")?;
            }
            if !known {
                return write!(self.out, ", length {len}");
            }
            self.out.write_all(b": ")?;
        }
        let body = data.get(header_len..).unwrap_or_default();
        let body_len = len - header_len;
        if is_stp {
            self.stp(body, body_len)
        } else {
            // What tcpdump dumps in hex when it cannot decode the SNAP payload.
            let whole = data.get(..len).unwrap_or(data);
            self.snap(body, body_len, macs, depth, whole)
        }
    }

    /// A SNAP header (after LLC AA-AA-03) and what tcpdump decodes behind it.
    pub(super) fn snap(
        &mut self,
        data: &[u8],
        len: usize,
        macs: &Macs,
        depth: u8,
        llc_frame: &[u8],
    ) -> io::Result<()> {
        let (Some(oui_hi), Some(&oui_lo), Some(pid)) =
            (be16_at(data, 0), data.get(2), be16_at(data, 3))
        else {
            return self.trunc("snap");
        };
        if len < field::SNAP_HEADER {
            return self.trunc("snap");
        }
        let oui = u32::from(oui_hi) << 8 | u32::from(oui_lo);
        let body = data.get(field::SNAP_HEADER..).unwrap_or_default();
        let body_len = len - field::SNAP_HEADER;
        let encapsulated = oui == field::OUI_ENCAP_ETHERNET;
        let pid_name = if encapsulated {
            ethertype_name(pid)
        } else if oui == field::OUI_CISCO {
            cisco_pid_name(pid)
        } else {
            None
        };
        let known = match oui {
            field::OUI_ENCAP_ETHERNET => matches!(
                pid,
                num::ETH_IPV4 | num::ETH_IPV6 | num::ETH_ARP | num::ETH_RARP | num::ETH_LLDP
            ),
            field::OUI_CISCO => pid_name.is_some(),
            _ => false,
        };
        if self.opts.link_header || !known {
            if !self.opts.link_header {
                write!(self.out, "{} > {} SNAP, ", Mac(&macs.src), Mac(&macs.dst))?;
            }
            if encapsulated && !self.opts.link_header {
                write!(
                    self.out,
                    "ethertype {} ({pid:#06x}), length {body_len}",
                    pid_name.unwrap_or("Unknown")
                )?;
            } else {
                write!(
                    self.out,
                    "oui {} ({oui:#08x}), {} {} ({pid:#06x}), length {body_len}",
                    oui_name(oui),
                    if encapsulated { "ethertype" } else { "pid" },
                    pid_name.unwrap_or("Unknown")
                )?;
            }
            self.out.write_all(b": ")?;
            if !known {
                return self.hex_dump(llc_frame);
            }
        }
        if encapsulated {
            return self.ether_payload(pid, body, body_len, depth);
        }
        let Some(&first) = body.first() else {
            return self.trunc("snap");
        };
        match pid {
            field::PID_CISCO_PVST | field::PID_CISCO_VLAN_BRIDGE => self.stp(body, body_len),
            field::PID_CISCO_CDP => self.cdp(body, body_len),
            field::PID_CISCO_DTP => write!(self.out, "DTPv{first}, length {body_len}"),
            field::PID_CISCO_VTP => write!(self.out, "VTPv{first}, length {body_len}"),
            _ => write!(self.out, "UDLDv{}, length {body_len}", first >> 5),
        }
    }

    /// tcpdump's non-verbose STP line.
    pub(super) fn stp(&mut self, data: &[u8], len: usize) -> io::Result<()> {
        const FLAGS: [(u32, &str); 6] = [
            (0x01, "Topology change"),
            (0x02, "Proposal"),
            (0x10, "Learn"),
            (0x20, "Forward"),
            (0x40, "Agreement"),
            (0x80, "Topology change ACK"),
        ];
        if len < 4 {
            return self.out.write_all(b"STP (invalid)");
        }
        let (Some(protocol), Some(&version), Some(&bpdu_type)) = (
            be16_at(data, 0),
            data.get(field::STP_VERSION),
            data.get(field::STP_TYPE),
        ) else {
            return self.trunc("stp");
        };
        if protocol != 0 {
            return write!(self.out, "unknown STP version, length {len}");
        }
        match version {
            0 => self.out.write_all(b"STP 802.1d")?,
            2 => self.out.write_all(b"STP 802.1w")?,
            3 => self.out.write_all(b"STP 802.1s")?,
            4 => self.out.write_all(b"STP 802.1aq")?,
            other => return write!(self.out, "STP Unknown STP protocol ({other:#04x})"),
        }
        match bpdu_type {
            0x00 => self.out.write_all(b", Config")?,
            0x02 => self.out.write_all(b", Rapid STP")?,
            0x80 => return self.out.write_all(b", Topology Change"),
            other => return write!(self.out, ", Unknown BPDU Type ({other:#04x})"),
        }
        let config_len = match (bpdu_type, version) {
            (0x00, _) => field::STP_CONFIG_LEN,
            (_, 2) => field::STP_RSTP_LEN,
            _ => field::STP_MSTP_MIN_LEN,
        };
        if len < config_len {
            return self.out.write_all(b" (invalid)");
        }
        let Some(&flags) = data.get(field::STP_FLAGS) else {
            return self.trunc("stp");
        };
        let flags = BitNames {
            bits: u32::from(flags),
            names: &FLAGS,
        };
        if config_len == field::STP_MSTP_MIN_LEN {
            return write!(self.out, ", CIST Flags [{flags}], length {len}");
        }
        let (Some(bridge), Some(port)) = (
            data.get(field::STP_BRIDGE_ID..field::STP_BRIDGE_ID + 8),
            be16_at(data, field::STP_PORT_ID),
        ) else {
            return self.trunc("stp");
        };
        write!(
            self.out,
            ", Flags [{flags}], bridge-id {}.{}.{port:04x}, length {len}",
            Hex(&bridge[..2]),
            Mac(&bridge[2..])
        )?;
        if !self.verbose() {
            return Ok(());
        }
        // tcpdump -v: the timers (in 1/256 s) and the root on two more lines.
        let (Some(root), Some(cost), Some(timers)) = (
            data.get(field::STP_ROOT_ID..field::STP_ROOT_ID + 8),
            be32_at(data, field::STP_ROOT_COST),
            data.get(field::STP_TIMERS..field::STP_TIMERS + 8),
        ) else {
            return self.out.write_all(b" [|stp]");
        };
        let secs = |i: usize| f64::from(u16::from_be_bytes([timers[i], timers[i + 1]])) / 256.0;
        write!(
            self.out,
            "\n\tmessage-age {:.2}s, max-age {:.2}s, hello-time {:.2}s, forwarding-delay {:.2}s",
            secs(0),
            secs(2),
            secs(4),
            secs(6)
        )?;
        write!(
            self.out,
            "\n\troot-id {}.{}, root-pathcost {cost}",
            Hex(&root[..2]),
            Mac(&root[2..])
        )?;
        if version == 2 {
            let role = match (flags.bits & 0x0C) >> 2 {
                1 => "Alternate",
                2 => "Root",
                3 => "Designated",
                _ => "Unknown",
            };
            write!(self.out, ", port-role {role}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    #[test]
    fn stp_bpdu() {
        let frame = hex(ERSPAN2_STP);
        let d = erspan_ii(101, 43973, &frame);
        // Same as tcpdump -n on the capture's inner frame.
        assert_eq!(
            line(&d),
            "1700000000.123456 erspan-ii sid 101 idx 0xabc5: STP 802.1d, Config, Flags [none], \
             bridge-id 8000.00:19:69:df:dc:01.8015, length 35\n"
        );
        let e = TextOptions {
            link_header: true,
            ..opts()
        };
        assert_eq!(
            line_with(e, &d),
            "1700000000.123456 erspan-ii sid 101 idx 0xabc5: 00:19:69:df:dc:01 > \
             01:80:c2:00:00:00, 802.3, length 38: LLC, dsap STP (0x42) Individual, ssap STP \
             (0x42) Command, ctrl 0x03: STP 802.1d, Config, Flags [none], bridge-id \
             8000.00:19:69:df:dc:01.8015, length 35\n"
        );
        // tcpdump -v on the same frame.
        let v = verbose(1);
        assert!(line_with(v, &d).ends_with(
            "length 35\n\tmessage-age 0.00s, max-age 20.00s, hello-time 2.00s, \
             forwarding-delay 15.00s\n\troot-id 8000.00:19:69:df:dc:01, root-pathcost 0\n"
        ));
    }
}
