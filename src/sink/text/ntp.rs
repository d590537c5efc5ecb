//! NTP (UDP port 123) as tcpdump 4.99 prints it: `NTPv4, Client, length 48`, and with
//! `-v` the time message (stratum, poll, root delay and dispersion, reference ID, the
//! four timestamps and their differences) or the control message header.
//!
//! It must never panic, read past the captured bytes, allocate, or print packet bytes
//! except as tcpdump's escaped characters (a primary reference's ID).

use std::io::{self, Write};
use std::net::Ipv4Addr;

use chrono::DateTime;

use super::line::{Line, be16_at, be32_at};

const TIME_MSG_LEN: usize = 48;
const CONTROL_MSG_LEN: usize = 12;
/// Seconds from 1900 (NTP's era 0) to 1970.
const JAN_1970: i64 = 2_208_988_800;
const FMAXINT: f64 = 4_294_967_296.0;

const MODES: [&str; 8] = [
    "unspecified",
    "symmetric active",
    "symmetric passive",
    "Client",
    "Server",
    "Broadcast",
    "Control Message",
    "Reserved",
];

/// A 64-bit NTP timestamp (`p_ntp_time`): seconds, the fraction in parts per
/// billion, and the UTC date when the seconds are not 0.
struct NtpTime(u32, u32);

impl core::fmt::Display for NtpTime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let frac = (f64::from(self.1) / FMAXINT * 1_000_000_000.0) as u32;
        write!(f, "{}.{frac:09}", self.0)?;
        if self.0 != 0 {
            match DateTime::from_timestamp(i64::from(self.0) - JAN_1970, 0) {
                Some(t) => write!(f, " ({})", t.format("%Y-%m-%dT%H:%M:%SZ"))?,
                None => f.write_str(" (unrepresentable)")?,
            }
        }
        Ok(())
    }
}

/// tcpdump's `p_ntp_delta`: `new - old` with its sign.
fn ntp_delta(f: &mut impl Write, (ou, ouf): (u32, u32), (u, uf): (u32, u32)) -> io::Result<()> {
    if ou == 0 && ouf == 0 {
        return write!(f, "{}", NtpTime(u, uf));
    }
    let (sign, i, frac) = if u > ou {
        let borrow = u32::from(ouf > uf);
        ("+", u - ou - borrow, uf.wrapping_sub(ouf))
    } else if u < ou {
        let borrow = u32::from(uf > ouf);
        ("-", ou - u - borrow, ouf.wrapping_sub(uf))
    } else if uf > ouf {
        ("+", 0, uf - ouf)
    } else {
        ("-", 0, ouf - uf)
    };
    let frac = (f64::from(frac) / FMAXINT * 1_000_000_000.0) as u32;
    write!(f, "{sign}{i}.{frac:09}")
}

fn timestamp(d: &[u8], at: usize) -> Option<(u32, u32)> {
    Some((be32_at(d, at)?, be32_at(d, at + 4)?))
}

/// tcpdump's `p_sfix`: a 16.16 fixed-point value in parts per million.
fn sfix(d: &[u8], at: usize) -> Option<(u16, u32)> {
    let (i, f) = (be16_at(d, at)?, be16_at(d, at + 2)?);
    Some((i, (f64::from(f) / 65536.0 * 1_000_000.0) as u32))
}

impl<W: Write> Line<'_, W> {
    /// tcpdump's `ntp_print`; `len` is the UDP payload length.
    pub(super) fn ntp(&mut self, data: &[u8], len: usize) -> io::Result<()> {
        let Some(&status) = data.first() else {
            return self.out.write_all(b" [|ntp]");
        };
        let mode = usize::from(status & 0x07);
        write!(
            self.out,
            "NTPv{}, {}, length {len}",
            (status >> 3) & 0x07,
            MODES[mode]
        )?;
        if !self.verbose() {
            return Ok(());
        }
        let leap = status & 0xc0;
        let leap_name = match leap {
            0x00 => "",
            0x40 => "+1s",
            0x80 => "-1s",
            _ => "clock unsynchronized",
        };
        write!(self.out, "\n\tLeap indicator: {leap_name} ({leap})")?;
        let done = match mode {
            0..=5 => self.ntp_time(data, len)?,
            6 => self.ntp_control(data, len)?,
            _ => true,
        };
        if !done {
            self.out.write_all(b" [|ntp]")?;
        }
        Ok(())
    }

    /// tcpdump's `ntp_time_print`; false when the captured bytes end first.
    fn ntp_time(&mut self, d: &[u8], len: usize) -> io::Result<bool> {
        if len < TIME_MSG_LEN {
            self.out.write_all(b" (invalid)")?;
            return Ok(d.len() >= len);
        }
        let (Some(&stratum), Some(&poll), Some(&precision)) = (d.get(1), d.get(2), d.get(3)) else {
            return Ok(false);
        };
        let kind = match stratum {
            0 => "unspecified",
            1 => "primary reference",
            2..=15 => "secondary reference",
            _ => "reserved",
        };
        let (poll, precision) = (poll as i8, precision as i8);
        write!(self.out, ", Stratum {stratum} ({kind}), poll {poll}")?;
        if poll >= 0 {
            write!(self.out, " ({}s)", 1u32 << poll.min(31))?;
        } else if poll > -32 {
            write!(self.out, " (1/{}s)", 1u32 << (-poll))?;
        }
        write!(self.out, ", precision {precision}")?;
        let Some((di, df)) = sfix(d, 4) else {
            return Ok(false);
        };
        write!(self.out, "\n\tRoot Delay: {di}.{df:06}")?;
        let Some((si, sf)) = sfix(d, 8) else {
            return Ok(false);
        };
        write!(self.out, ", Root dispersion: {si}.{sf:06}")?;
        let Some(refid) = d.get(12..16) else {
            return Ok(false);
        };
        self.out.write_all(b", Reference-ID: ")?;
        let refid_addr = Ipv4Addr::new(refid[0], refid[1], refid[2], refid[3]);
        match stratum {
            0 => self.out.write_all(b"(unspec)")?,
            1 => {
                for &c in refid {
                    self.escaped_char(c)?;
                }
            }
            62 => {
                write!(self.out, "{refid_addr} INFO_QUERY")?;
                return Ok(true);
            }
            63 => {
                write!(self.out, "{refid_addr} INFO_REPLY")?;
                return Ok(true);
            }
            _ => write!(self.out, "0x{:08x}", u32::from(refid_addr))?,
        }
        let names = [
            "\n\t  Reference Timestamp:  ",
            "\n\t  Originator Timestamp: ",
            "\n\t  Receive Timestamp:    ",
            "\n\t  Transmit Timestamp:   ",
        ];
        let mut times = [(0, 0); 4];
        for (i, name) in names.iter().enumerate() {
            let Some(t) = timestamp(d, 16 + 8 * i) else {
                return Ok(false);
            };
            times[i] = t;
            write!(self.out, "{name}{}", NtpTime(t.0, t.1))?;
        }
        self.out
            .write_all(b"\n\t    Originator - Receive Timestamp:  ")?;
        ntp_delta(self.out, times[1], times[2])?;
        self.out
            .write_all(b"\n\t    Originator - Transmit Timestamp: ")?;
        ntp_delta(self.out, times[1], times[3])?;
        let key_id = be32_at(d, TIME_MSG_LEN);
        match len - TIME_MSG_LEN {
            0 => {}
            4 | 20 | 24 => {
                let Some(key_id) = key_id else {
                    return Ok(false);
                };
                write!(self.out, "\n\tKey id: {key_id}")?;
                let digest = len - TIME_MSG_LEN - 4;
                if digest > 0 {
                    let at = TIME_MSG_LEN + 4;
                    let Some(bytes) = d.get(at..at + digest) else {
                        return Ok(false);
                    };
                    self.out.write_all(b"\n\tAuthentication: ")?;
                    for b in bytes {
                        write!(self.out, "{b:02x}")?;
                    }
                }
            }
            more => write!(self.out, "\n\t({more} more bytes after the header)")?,
        }
        Ok(true)
    }

    /// tcpdump's `ntp_control_print`; false when the captured bytes end first.
    fn ntp_control(&mut self, d: &[u8], len: usize) -> io::Result<bool> {
        if len < CONTROL_MSG_LEN {
            self.out.write_all(b" (invalid)")?;
            return Ok(d.len() >= len);
        }
        let Some(&control) = d.get(1) else {
            return Ok(false);
        };
        writeln!(
            self.out,
            ", {}, {}, {}, OpCode={}",
            if control & 0x80 != 0 {
                "Response"
            } else {
                "Request"
            },
            if control & 0x40 != 0 { "Error" } else { "OK" },
            if control & 0x20 != 0 { "More" } else { "Last" },
            control & 0x1f
        )?;
        let field = |i: usize| be16_at(d, 2 + 2 * i);
        let Some(sequence) = field(0) else {
            return Ok(false);
        };
        write!(self.out, "\tSequence={sequence}")?;
        let Some(status) = field(1) else {
            return Ok(false);
        };
        if status == 0 {
            self.out.write_all(b", Status=0")?;
        } else {
            write!(self.out, ", Status={status:#x}")?;
        }
        let Some(assoc) = field(2) else {
            return Ok(false);
        };
        write!(self.out, ", Assoc.={assoc}")?;
        let Some(offset) = field(3) else {
            return Ok(false);
        };
        write!(self.out, ", Offset={offset}")?;
        let Some(count) = field(4) else {
            return Ok(false);
        };
        write!(self.out, ", Count={count}")?;
        let count = usize::from(count);
        if CONTROL_MSG_LEN + count > len {
            self.out.write_all(b" (invalid)")?;
            return Ok(d.len() >= len);
        }
        if count != 0 {
            if d.len() < CONTROL_MSG_LEN + count {
                return Ok(false);
            }
            self.out
                .write_all(b"\n\tTO-BE-DONE: data not interpreted")?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    fn udp_frame(payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([66, 59, 111, 190], [18, 26, 4, 105], 64)
            .udp(123, 123)
            .write(&mut frame, payload)
            .unwrap();
        frame
    }

    fn hexbytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// suricata-verify-bug-5633-gre-02-gre-sample.pcap frame 10, as tcpdump -v shows it.
    #[test]
    fn server_time_message() {
        let msg = hexbytes(
            "240206ee000003bc000002e4cdbcb921c290f098e430a000c290f0f5d98dac25c290f109\
             3be6f000c290f1093bf88000",
        );
        assert_eq!(msg.len(), 48);
        let v = verbose(1);
        let text = line_with(v, &gretap(&udp_frame(&msg)));
        let want = "NTPv4, Server, length 48\n\tLeap indicator:  (0), Stratum 2 (secondary \
                    reference), poll 6 (64s), precision -18\n\tRoot Delay: 0.014587, Root \
                    dispersion: 0.011291, Reference-ID: 0xcdbcb921\n\t  Reference \
                    Timestamp:  3264278680.891366958 (2003-06-11T00:04:40Z)\n\t  \
                    Originator Timestamp: 3264278773.849817999 (2003-06-11T00:06:13Z)\n\t  \
                    Receive Timestamp:    3264278793.233992576 (2003-06-11T00:06:33Z)\n\t  \
                    Transmit Timestamp:   3264278793.234260559 (2003-06-11T00:06:33Z)\n\t    \
                    Originator - Receive Timestamp:  +19.384174576\n\t    Originator - \
                    Transmit Timestamp: +19.384442559\n";
        assert!(text.ends_with(want), "{text}");
        assert!(line(&gretap(&udp_frame(&msg))).ends_with(": NTPv4, Server, length 48\n"));
        // Captured up to inside the timestamps.
        let frame = udp_frame(&msg);
        let mut d = gretap(&frame[..frame.len() - 10]);
        d.orig_len = frame.len();
        let text = line_with(v, &d);
        assert!(
            text.ends_with("Reference-ID: 0xcdbcb921\n\t  Reference Timestamp:  3264278680.891366958 (2003-06-11T00:04:40Z)\n\t  Originator Timestamp: 3264278773.849817999 (2003-06-11T00:06:13Z) [|ntp]\n"),
            "{text}"
        );
    }

    #[test]
    fn control_and_short_messages() {
        let v = verbose(1);
        let msg = [0x16, 0x82, 0, 1, 0x06, 0x15, 0, 0, 0, 0, 0, 0];
        let text = line_with(v, &gretap(&udp_frame(&msg)));
        assert!(
            text.ends_with(
                "NTPv2, Control Message, length 12\n\tLeap indicator:  (0), Response, OK, \
                 Last, OpCode=2\n\tSequence=1, Status=0x615, Assoc.=0, Offset=0, Count=0\n"
            ),
            "{text}"
        );
        let text = line_with(v, &gretap(&udp_frame(&[0xe3, 0, 0, 0])));
        assert!(
            text.ends_with(
                "NTPv4, Client, length 4\n\tLeap indicator: clock unsynchronized (192) (invalid)\n"
            ),
            "{text}"
        );
    }
}
