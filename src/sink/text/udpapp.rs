//! Small UDP protocols as tcpdump shows them: HSRP (port 1985) and syslog (514, `-v`:
//! the message).
//!
//! It must never panic, read past the captured bytes, or allocate; the strings from the
//! wire (HSRP's authentication data, syslog's message) are printed with tcpdump's
//! escapes.

use std::io::{self, Write};
use std::net::Ipv4Addr;

use super::line::Line;

pub(super) const PORT_NTP: u16 = 123;
pub(super) const PORT_SYSLOG: u16 = 514;
pub(super) const PORT_HSRP: u16 = 1985;

/// HSRP (RFC 2281): version, op code, state, hello time, hold time, priority, group,
/// reserved, 8 bytes of authentication data, virtual address.
const HSRP_LEN: usize = 20;
const HSRP_AUTH: usize = 8;
const HSRP_VIRTUAL_ADDR: usize = 16;

/// tcpdump's `unsigned_relts_print`: `1m30s`.
pub(super) struct RelTime(pub(super) u32);

impl core::fmt::Display for RelTime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const UNITS: [(u32, &str); 6] = [
            (31_536_000, "y"),
            (604_800, "w"),
            (86_400, "d"),
            (3600, "h"),
            (60, "m"),
            (1, "s"),
        ];
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut secs = self.0;
        for (unit, name) in UNITS {
            if secs >= unit {
                write!(f, "{}{name}", secs / unit)?;
                secs %= unit;
            }
        }
        Ok(())
    }
}

impl<W: Write> Line<'_, W> {
    /// tcpdump's `hsrp_print`; `len` is the UDP payload length.
    pub(super) fn hsrp(&mut self, data: &[u8], len: usize) -> io::Result<()> {
        let Some(&version) = data.first() else {
            return self.out.write_all(b" [|hsrp]");
        };
        write!(self.out, "HSRPv{version}")?;
        if version != 0 {
            return Ok(());
        }
        let Some(h) = data.get(..HSRP_LEN) else {
            return self.out.write_all(b" [|hsrp]");
        };
        let op = match h[1] {
            0 => "hello",
            1 => "coup",
            2 => "resign",
            _ => "",
        };
        if op.is_empty() {
            write!(self.out, "-unknown ({}) ", h[1])?;
        } else {
            write!(self.out, "-{op} ")?;
        }
        write!(self.out, "{len}: ")?;
        let state = match h[2] {
            0 => "initial",
            1 => "learn",
            2 => "listen",
            4 => "speak",
            8 => "standby",
            16 => "active",
            _ => "",
        };
        if state.is_empty() {
            write!(self.out, "state=Unknown ({}) ", h[2])?;
        } else {
            write!(self.out, "state={state} ")?;
        }
        write!(self.out, "group={} ", h[6])?;
        if h[7] != 0 {
            write!(self.out, "[reserved={}!] ", h[7])?;
        }
        let addr = Ipv4Addr::new(
            h[HSRP_VIRTUAL_ADDR],
            h[HSRP_VIRTUAL_ADDR + 1],
            h[HSRP_VIRTUAL_ADDR + 2],
            h[HSRP_VIRTUAL_ADDR + 3],
        );
        write!(self.out, "addr={addr}")?;
        if self.verbose() {
            write!(
                self.out,
                " hellotime={} holdtime={} priority={} auth=\"",
                RelTime(u32::from(h[3])),
                RelTime(u32::from(h[4])),
                h[5]
            )?;
            // tcpdump's nd_printjnp: up to the first NUL.
            for &c in h[8..8 + HSRP_AUTH].iter().take_while(|&&c| c != 0) {
                self.escaped_char(c)?;
            }
            self.out.write_all(b"\"")?;
        }
        Ok(())
    }

    /// tcpdump's `syslog_print`: `SYSLOG daemon.info, length: 80` (`-v`: facility,
    /// severity and the message on lines of their own), or ` (invalid)` when the
    /// message does not start with `<PRI>`. Always true (the message was printed).
    pub(super) fn syslog(&mut self, data: &[u8], len: usize) -> io::Result<bool> {
        const FACILITIES: [&str; 24] = [
            "kernel", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
            "authpriv", "ftp", "ntp", "security", "console", "cron", "local0", "local1", "local2",
            "local3", "local4", "local5", "local6", "local7",
        ];
        const SEVERITIES: [&str; 8] = [
            "emergency",
            "alert",
            "critical",
            "error",
            "warning",
            "notice",
            "info",
            "debug",
        ];
        let mut at = 0;
        let byte = |at: usize| data.get(at).copied();
        match byte(at) {
            None => {
                self.out.write_all(b" [|syslog]")?;
                return Ok(true);
            }
            Some(b'<') => at += 1,
            Some(_) => {
                self.out.write_all(b" (invalid)")?;
                return Ok(true);
            }
        }
        let mut pri: u32 = 0;
        while at <= 3 {
            match byte(at) {
                Some(d @ b'0'..=b'9') => {
                    pri = pri * 10 + u32::from(d - b'0');
                    at += 1;
                }
                _ => break,
            }
        }
        match byte(at) {
            None => {
                self.out.write_all(b" [|syslog]")?;
                return Ok(true);
            }
            Some(b'>') => {}
            Some(_) => {
                self.out.write_all(b" (invalid)")?;
                return Ok(true);
            }
        }
        let (facility, severity) = ((pri & 0x03F8) >> 3, pri & 0x07);
        let severity_name = SEVERITIES[severity as usize];
        if !self.verbose() {
            match FACILITIES.get(facility as usize) {
                Some(name) => write!(self.out, "SYSLOG {name}.")?,
                None => write!(self.out, "SYSLOG unknown ({facility}).")?,
            }
            write!(self.out, "{severity_name}, length: {len}")?;
            return Ok(true);
        }
        write!(self.out, "SYSLOG, length: {len}\n\tFacility ")?;
        match FACILITIES.get(facility as usize) {
            Some(name) => write!(self.out, "{name} ({facility})")?,
            None => write!(self.out, "unknown ({facility}) ({facility})")?,
        }
        write!(self.out, ", Severity {severity_name} ({severity})\n\tMsg: ")?;
        // The whole message, control characters escaped as tcpdump does.
        let msg_off = at + 1;
        let end = len.max(msg_off);
        for &c in data.get(msg_off..end.min(data.len())).unwrap_or_default() {
            self.escaped_char(c)?;
        }
        if data.len() < end {
            self.out.write_all(b" [|syslog]")?;
            return Ok(true);
        }
        if self.opts.verbose > 1 {
            self.hex_words(b"\n\t", &data[..len.min(data.len())])?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::RelTime;

    fn udp_frame(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([10, 200, 101, 2], [224, 0, 0, 2], 1)
            .udp(sport, dport)
            .write(&mut frame, payload)
            .unwrap();
        frame
    }

    /// tcpdump-erspan-type-ii-2.pcap: an HSRPv0 hello from the active router.
    #[test]
    fn hsrp_hello() {
        let mut h = vec![0, 0, 16, 1, 3, 105, 254, 0];
        h.extend_from_slice(b"cisco\0\0\0");
        h.extend_from_slice(&[10, 200, 101, 1]);
        let frame = udp_frame(1985, 1985, &h);
        assert!(
            line(&gretap(&frame))
                .ends_with("1985: HSRPv0-hello 20: state=active group=254 addr=10.200.101.1\n")
        );
        let v = verbose(1);
        assert!(
            line_with(v, &gretap(&frame)).ends_with(
                "addr=10.200.101.1 hellotime=1s holdtime=3s priority=105 auth=\"cisco\"\n"
            )
        );
    }

    #[test]
    fn bootp_and_rip() {
        let mut bootp = vec![1, 1, 6, 0];
        bootp.resize(28, 0);
        bootp.extend_from_slice(&[0x00, 0x50, 0x56, 0, 0, 7]);
        bootp.resize(300, 0);
        let frame = udp_frame(68, 67, &bootp);
        assert!(
            line(&gretap(&frame))
                .ends_with(": BOOTP/DHCP, Request from 00:50:56:00:00:07, length 300\n")
        );
        let frame = udp_frame(520, 520, &[2, 2, 0, 0, 0, 2]);
        assert!(line(&gretap(&frame)).ends_with(": RIPv2, Response, length: 6\n"));
        // zeek-gre-within-gre.pcap: one route, as tcpdump -v shows it.
        let mut rip = vec![2, 2, 0, 0, 0, 2, 0, 0, 192, 168, 1, 0, 255, 255, 255, 0];
        rip.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        let v = verbose(1);
        assert!(line_with(v, &gretap(&udp_frame(520, 520, &rip))).ends_with(
            ".520: \n\tRIPv2, Response, length: 24, routes: 1 or less\n\t  AFI IPv4,     \
             192.168.1.0/24, tag 0x0000, metric: 1, next-hop: self\n"
        ));
    }

    #[test]
    fn syslog_and_times() {
        let frame = udp_frame(12345, 514, b"EVIL");
        assert!(line(&gretap(&frame)).ends_with(".514:  (invalid)\n"));
        let frame = udp_frame(12345, 514, b"<30>Dec  6 sshd: hi");
        assert!(line(&gretap(&frame)).ends_with(": SYSLOG daemon.info, length: 19\n"));
        let v = verbose(1);
        let frame = udp_frame(12345, 514, b"<999>x\0y\x7f\xe9");
        let text = line_with(v, &gretap(&frame));
        assert!(
            text.ends_with(
                ": SYSLOG, length: 10\n\tFacility unknown (124) (124), Severity debug \
                 (7)\n\tMsg: x^@y^?M-i\n"
            ),
            "{text}"
        );
        let vv = verbose(2);
        let text = line_with(vv, &gretap(&udp_frame(12345, 514, b"<13>hi")));
        assert!(
            text.ends_with("Severity notice (5)\n\tMsg: hi\n\t0x0000:  3c31 333e 6869\n"),
            "{text}"
        );
        assert_eq!(RelTime(90061).to_string(), "1d1h1m1s");
        assert_eq!(RelTime(0).to_string(), "0s");
    }
}
