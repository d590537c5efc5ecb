//! UDP: ports, length checks, and the `-v` / `-vv` checksum verdicts.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};
use std::net::IpAddr;

use etherparse::UdpHeader;

use super::line::{IpCtx, Line, field, ports};
use super::{bootp, dhcp6, dns, rip, tunnel, udpapp};
impl<W: Write> Line<'_, W> {
    pub(super) fn udp(
        &mut self,
        ctx: &IpCtx,
        data: &[u8],
        len: usize,
        depth: u8,
    ) -> io::Result<()> {
        let Some(p) = ports(data) else {
            self.endpoints(ctx, None)?;
            return self.trunc("udp");
        };
        self.endpoints(ctx, Some(p))?;
        if len < field::UDP_HEADER {
            return write!(self.out, "truncated-udp {len}");
        }
        let Ok((header, _)) = UdpHeader::from_slice(data) else {
            return self.trunc("udp");
        };
        let mut udp_len = usize::from(header.length);
        // IPv6 jumbogram (RFC 2675): the length field is 0.
        if udp_len == 0 && len > 65_535 {
            udp_len = len;
        }
        if udp_len < field::UDP_HEADER {
            return write!(self.out, "truncated-udplength {udp_len}");
        }
        let udp_payload = udp_len - field::UDP_HEADER;
        let ip_payload = (len - field::UDP_HEADER).min(udp_payload);
        if !ctx.fragmented && (self.opts.verbose > 1 || (self.verbose() && !ctx.src.is_ipv4())) {
            self.udp_checksum(ctx, &header, data, ip_payload)?;
        }
        if udp_payload > ip_payload && !ctx.fragmented {
            return write!(self.out, "UDP, bad length {udp_payload} > {ip_payload}");
        }
        let payload = data.get(field::UDP_HEADER..).unwrap_or_default();
        let on = |port: u16| p.0 == port || p.1 == port;
        if !self.opts.quiet && !ctx.fragmented {
            if on(dns::PORT_DNS) {
                return self.dns(payload, ip_payload, false, false);
            }
            if on(dns::PORT_MDNS) {
                return self.dns(payload, ip_payload, false, true);
            }
            if on(bootp::PORT_BOOTPS) || on(bootp::PORT_BOOTPC) {
                return self.bootp(payload, ip_payload);
            }
            if on(rip::PORT_RIP) {
                return self.rip(payload, ip_payload);
            }
            if on(udpapp::PORT_NTP) {
                return self.ntp(payload, ip_payload);
            }
            if on(udpapp::PORT_SYSLOG) && self.syslog(payload, ip_payload)? {
                return Ok(());
            }
            if on(dhcp6::PORT_CLIENT) || on(dhcp6::PORT_SERVER) {
                return self.dhcp6(payload, ip_payload);
            }
            if on(tunnel::PORT_VXLAN) {
                return self.vxlan(payload, ip_payload, depth);
            }
            if on(tunnel::PORT_GENEVE) {
                return self.geneve(payload, ip_payload, depth);
            }
            if on(udpapp::PORT_HSRP) {
                return self.hsrp(payload, ip_payload);
            }
        }
        write!(self.out, "UDP, length {udp_payload}")
    }

    /// `[udp sum ok] ` and friends, printed before `UDP` as tcpdump does.
    pub(super) fn udp_checksum(
        &mut self,
        ctx: &IpCtx,
        header: &UdpHeader,
        data: &[u8],
        payload_len: usize,
    ) -> io::Result<()> {
        if ctx.src.is_ipv4() && header.checksum == 0 {
            return self.out.write_all(b"[no cksum] ");
        }
        let Some(payload) = data.get(field::UDP_HEADER..field::UDP_HEADER + payload_len) else {
            return Ok(());
        };
        let correct = match (ctx.src, ctx.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                header.calc_checksum_ipv4_raw(s.octets(), d.octets(), payload)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                header.calc_checksum_ipv6_raw(s.octets(), d.octets(), payload)
            }
            _ => return Ok(()),
        };
        match correct {
            Ok(c) if c == header.checksum => self.out.write_all(b"[udp sum ok] "),
            Ok(c) => write!(
                self.out,
                "[bad udp cksum {:#06x} -> {c:#06x}!] ",
                header.checksum
            ),
            Err(_) => Ok(()),
        }
    }
}
