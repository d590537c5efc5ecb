//! Packets the receiving interface merged with GRO before any socket saw them.
//!
//! A GRE mirror without sequence numbers (OVN's `gre` mirror) can be merged by the
//! underlay interface's generic receive offload: several mirrored TCP segments arrive
//! as one GRE packet, one "frame" in the capture that is really several glued
//! together. The kernel marks such packets in the ring (`TP_STATUS_GSO_TCP`); a packet
//! larger than the interface's MTU allows is the other sign. [`GroDetector`] counts
//! them and warns once per process with the fix.
//!
//! It must never drop or change a packet: the merged frame is still written.

use super::ring::PacketHeader;
use crate::wire::LinkType;
use std::sync::atomic::{AtomicBool, Ordering};

/// `tp_status` bit: the packet is a GSO / GRO TCP super-packet (linux/if_packet.h).
pub const TP_STATUS_GSO_TCP: u32 = 1 << 8;

/// Room for the link header and two VLAN tags above the MTU.
const ETHERNET_OVERHEAD: u32 = 14 + 8;

/// One warning per process, whatever the number of rings.
static WARNED: AtomicBool = AtomicBool::new(false);

/// Keeps the warning off stderr for this process (Wireshark's extcap shows whatever
/// reaches stderr as an error); merged packets are still counted.
pub fn silence_warning() {
    WARNED.store(true, Ordering::Relaxed);
}

/// Counts merged packets on one ring.
#[derive(Debug)]
pub struct GroDetector {
    interface: String,
    /// Longest frame the interface's MTU allows; larger ones were merged.
    max_len: u32,
    merged: u64,
}

impl GroDetector {
    /// A detector for `interface` with this MTU (`None`: unknown, only the ring's
    /// status bit counts).
    pub fn new(interface: &str, link: LinkType, mtu: Option<u32>) -> GroDetector {
        let overhead = match link {
            LinkType::Raw => 0,
            _ => ETHERNET_OVERHEAD,
        };
        GroDetector {
            interface: interface.to_string(),
            max_len: mtu.map_or(u32::MAX, |m| m.saturating_add(overhead)),
            merged: 0,
        }
    }

    /// Looks at one packet of the ring; true when it was merged.
    #[inline]
    pub fn observe(&mut self, p: &PacketHeader) -> bool {
        let flagged = p.status & TP_STATUS_GSO_TCP != 0;
        if !flagged && p.len <= self.max_len {
            return false;
        }
        self.merged += 1;
        if !WARNED.swap(true, Ordering::Relaxed) {
            let why = if flagged {
                "marked as a GRO/GSO TCP packet by the kernel".to_string()
            } else {
                format!("{} bytes, more than its MTU allows", p.len)
            };
            eprintln!(
                "spandump: warning: {} delivered a packet merged by GRO ({why}): mirrored \
                 frames without GRE sequence numbers may be glued together; switch GRO off \
                 on the interface that receives the mirror: ethtool -K {} gro off",
                self.interface, self.interface
            );
        }
        true
    }

    /// Merged packets seen so far.
    pub fn merged(&self) -> u64 {
        self.merged
    }
}

/// The MTU of `interface` in this network namespace, from sysfs.
pub fn interface_mtu(interface: &str) -> Option<u32> {
    if interface.contains('/') || interface.starts_with('.') {
        return None;
    }
    std::fs::read_to_string(format!("/sys/class/net/{interface}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    fn header(len: u32, status: u32) -> PacketHeader {
        PacketHeader {
            ts: Timestamp::new(0, 0),
            len,
            status,
            vlan_tci: 0,
            pkttype: 0,
            data: 0..0,
        }
    }

    #[test]
    fn the_status_bit_or_a_length_past_the_mtu_marks_a_merge() {
        let mut d = GroDetector::new("eth9", LinkType::Ethernet, Some(1500));
        assert!(!d.observe(&header(1514, 0)));
        // Two VLAN tags in the bytes still fit.
        assert!(!d.observe(&header(1522, libc::TP_STATUS_VLAN_VALID)));
        assert!(d.observe(&header(1523, 0)));
        assert!(d.observe(&header(200, TP_STATUS_GSO_TCP)));
        assert_eq!(d.merged(), 2);
        let mut raw = GroDetector::new("gre9", LinkType::Raw, Some(1476));
        assert!(raw.observe(&header(1477, 0)));
        let mut unknown = GroDetector::new("x", LinkType::Ethernet, None);
        assert!(!unknown.observe(&header(65_000, 0)));
        assert!(unknown.observe(&header(65_000, TP_STATUS_GSO_TCP)));
    }

    #[test]
    fn mtu_of_loopback() {
        // Every network namespace has lo; its MTU is 65536 unless changed.
        if std::path::Path::new("/sys/class/net/lo/mtu").exists() {
            assert!(interface_mtu("lo").is_some_and(|m| m >= 1280));
        }
        assert_eq!(interface_mtu("../../etc"), None);
    }
}
