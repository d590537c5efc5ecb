//! TCP: flags, sequence numbers, window, options, `-v` checksum; `-q`'s `tcp N`.
//!
//! It must never panic, read past the captured bytes, allocate per packet, or print
//! packet bytes as text.

use std::io::{self, Write};
use std::net::IpAddr;

use etherparse::err::tcp as tcp_err;
use etherparse::{TcpOptionElement, TcpOptionReadError, TcpOptionsIterator, TcpSlice};

use super::line::{Hex, IpCtx, Line, field, ports};
/// tcpdump's names of TCP options etherparse does not decode.
pub(super) fn tcp_option_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        0 => "eol",
        1 => "nop",
        2 => "mss",
        3 => "wscale",
        4 => "sackOK",
        5 => "sack",
        6 => "echo",
        7 => "echoreply",
        8 => "TS",
        11 => "cc",
        12 => "ccnew",
        13 => "ccecho",
        19 => "md5",
        20 => "scps",
        28 => "uto",
        29 => "tcp-ao",
        30 => "mptcp",
        34 => "tfo",
        254 => "exp",
        _ => return None,
    })
}

impl<W: Write> Line<'_, W> {
    /// tcpdump's TCP line: relative sequence numbers (absolute with `-S`).
    pub(super) fn tcp(&mut self, ctx: &IpCtx, data: &[u8], len: usize) -> io::Result<()> {
        let Some(p) = ports(data) else {
            self.endpoints(ctx, None)?;
            return self.trunc("tcp");
        };
        self.endpoints(ctx, Some(p))?;
        let tcp = match TcpSlice::from_slice(data) {
            Ok(t) => t,
            Err(tcp_err::HeaderSliceError::Content(tcp_err::HeaderError::DataOffsetTooSmall {
                data_offset,
            })) => {
                let header_len = usize::from(data_offset) * 4;
                return write!(
                    self.out,
                    "tcp {} [bad hdr length {header_len} - too short, < {}]",
                    len.saturating_sub(header_len),
                    field::TCP_MIN_HEADER
                );
            }
            Err(tcp_err::HeaderSliceError::Len(_)) => return self.trunc("tcp"),
        };
        let header_len = usize::from(tcp.data_offset()) * 4;
        if self.opts.quiet {
            write!(self.out, "tcp {}", len.saturating_sub(header_len))?;
            if header_len > len {
                write!(
                    self.out,
                    " [bad hdr length {header_len} - too long, > {len}]"
                )?;
            }
            return Ok(());
        }
        self.out.write_all(b"Flags [")?;
        let flags = [
            (tcp.fin(), "F"),
            (tcp.syn(), "S"),
            (tcp.rst(), "R"),
            (tcp.psh(), "P"),
            (tcp.ack(), "."),
            (tcp.urg(), "U"),
            (tcp.ece(), "E"),
            (tcp.cwr(), "W"),
        ];
        if flags.iter().any(|f| f.0) {
            for (_, name) in flags.iter().filter(|f| f.0) {
                self.out.write_all(name.as_bytes())?;
            }
        } else {
            self.out.write_all(b"none")?;
        }
        self.out.write_all(b"]")?;
        // tcpdump numbers relative to a connection only on segments with ACK set.
        let (seq, ack, sack_base) = if !self.opts.absolute_seq && tcp.ack() {
            let r = self.tcp_seq.relative(
                ctx.src,
                ctx.dst,
                p.0,
                p.1,
                tcp.sequence_number(),
                tcp.acknowledgment_number(),
                tcp.syn(),
            );
            (r.seq, r.ack, r.sack_base)
        } else {
            (tcp.sequence_number(), tcp.acknowledgment_number(), 0)
        };
        if self.verbose() && !ctx.fragmented {
            self.tcp_checksum(ctx, tcp.checksum(), data, len)?;
        }
        if header_len > len {
            return write!(
                self.out,
                " [bad hdr length {header_len} - too long, > {len}]"
            );
        }
        let data_len = len - header_len;
        if self.opts.verbose > 1 || data_len > 0 || tcp.syn() || tcp.fin() || tcp.rst() {
            write!(self.out, ", seq {seq}")?;
            if data_len > 0 {
                write!(self.out, ":{}", seq.wrapping_add(data_len as u32))?;
            }
        }
        if tcp.ack() {
            write!(self.out, ", ack {ack}")?;
        }
        write!(self.out, ", win {}", tcp.window_size())?;
        if tcp.urg() {
            write!(self.out, ", urg {}", tcp.urgent_pointer())?;
        }
        if !tcp.options().is_empty() {
            self.tcp_options(tcp.options(), sack_base)?;
        }
        write!(self.out, ", length {data_len}")?;
        // tcpdump -v shows a reset's data instead (not decoded here).
        if data_len > 0 && !(tcp.rst() && self.verbose()) {
            let payload = data.get(header_len..).unwrap_or_default();
            self.tcp_text(p, payload, data_len)?;
        }
        Ok(())
    }

    /// `, cksum 0x1234 (correct)` when the whole segment was captured.
    pub(super) fn tcp_checksum(
        &mut self,
        ctx: &IpCtx,
        sent: u16,
        data: &[u8],
        len: usize,
    ) -> io::Result<()> {
        let Some(Ok(segment)) = data.get(..len).map(TcpSlice::from_slice) else {
            return Ok(());
        };
        let correct = match (ctx.src, ctx.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => segment.calc_checksum_ipv4(s.octets(), d.octets()),
            (IpAddr::V6(s), IpAddr::V6(d)) => segment.calc_checksum_ipv6(s.octets(), d.octets()),
            _ => return Ok(()),
        };
        match correct {
            Ok(c) if c == sent => write!(self.out, ", cksum {sent:#06x} (correct)"),
            Ok(c) => write!(self.out, ", cksum {sent:#06x} (incorrect -> {c:#06x})"),
            Err(_) => Ok(()),
        }
    }

    /// `, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7]`.
    pub(super) fn tcp_options(&mut self, options: &[u8], sack_base: u32) -> io::Result<()> {
        self.out.write_all(b", options [")?;
        let mut rest = options;
        let mut first = true;
        while !rest.is_empty() {
            if !first {
                self.out.write_all(b",")?;
            }
            first = false;
            let mut it = TcpOptionsIterator::from_slice(rest);
            match it.next() {
                None => {
                    // End of option list: tcpdump stops here.
                    self.out.write_all(b"eol")?;
                    break;
                }
                Some(Ok(option)) => {
                    match option {
                        TcpOptionElement::Noop => self.out.write_all(b"nop")?,
                        TcpOptionElement::MaximumSegmentSize(v) => write!(self.out, "mss {v}")?,
                        TcpOptionElement::WindowScale(v) => write!(self.out, "wscale {v}")?,
                        TcpOptionElement::SelectiveAcknowledgementPermitted => {
                            self.out.write_all(b"sackOK")?
                        }
                        TcpOptionElement::SelectiveAcknowledgement(first_block, more) => {
                            let n = 1 + more.iter().flatten().count();
                            write!(self.out, "sack {n} ")?;
                            for (s, e) in
                                core::iter::once(first_block).chain(more.into_iter().flatten())
                            {
                                let (s, e) = (s.wrapping_sub(sack_base), e.wrapping_sub(sack_base));
                                write!(self.out, "{{{s}:{e}}}")?;
                            }
                        }
                        TcpOptionElement::Timestamp(val, ecr) => {
                            write!(self.out, "TS val {val} ecr {ecr}")?
                        }
                    }
                    rest = it.rest();
                }
                Some(Err(TcpOptionReadError::UnknownId(kind))) => {
                    // etherparse stops at options it does not know; skip them by
                    // their length byte and show their data as tcpdump does.
                    match tcp_option_name(kind) {
                        Some(name) => self.out.write_all(name.as_bytes())?,
                        None => write!(self.out, "unknown-{kind}")?,
                    }
                    let option_len = rest.get(1).map_or(0, |&l| usize::from(l));
                    let Some(option_data) = rest.get(2..option_len) else {
                        self.out.write_all(b"[bad opt]")?;
                        break;
                    };
                    if !option_data.is_empty() {
                        write!(self.out, " 0x{}", Hex(option_data))?;
                    }
                    rest = &rest[option_len..];
                }
                Some(Err(
                    TcpOptionReadError::UnexpectedSize { option_id, .. }
                    | TcpOptionReadError::UnexpectedEndOfSlice { option_id, .. },
                )) => {
                    if let Some(name) = tcp_option_name(option_id) {
                        self.out.write_all(name.as_bytes())?;
                    }
                    self.out.write_all(b"[bad opt]")?;
                    break;
                }
            }
        }
        self.out.write_all(b"]")
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    #[test]
    fn tcp_data_prints_absolute_sequence_range() {
        let frame = tcp_data();
        assert_eq!(
            line(&gretap(&frame)),
            "1700000000.123456 gre: IP 10.0.0.1.45678 > 10.0.0.2.80: Flags [P.], \
             seq 1000:1100, ack 2000, win 512, length 100: HTTP\n"
        );
    }

    #[test]
    fn truncated_tcp_frames() {
        let frame = syn_ack();
        // Captured up to the middle of the TCP header: ports known, the rest not.
        let mut d = gretap(&frame[..14 + 20 + 10]);
        d.orig_len = frame.len();
        assert_eq!(
            line(&d),
            "1700000000.123456 gre: IP 10.0.0.2.80 > 10.0.0.1.45678: [|tcp]\n"
        );
        // Not even the ports.
        let mut d = gretap(&frame[..14 + 20 + 2]);
        d.orig_len = frame.len();
        assert_eq!(
            line(&d),
            "1700000000.123456 gre: IP 10.0.0.2 > 10.0.0.1: [|tcp]\n"
        );
        // Cut inside the IP header.
        let mut d = gretap(&frame[..14 + 10]);
        d.orig_len = frame.len();
        assert_eq!(line(&d), "1700000000.123456 gre: IP  [|ip]\n");
        // Cut by the sender (ERSPAN T bit): the wire length itself is short.
        let frame = tcp_data();
        let d = gretap(&frame[..70]);
        assert_eq!(
            line(&d),
            "1700000000.123456 gre: IP truncated-ip - 84 bytes missing! 10.0.0.1.45678 > \
             10.0.0.2.80: Flags [P.], seq 1000:1100, ack 2000, win 512, length 100: HTTP\n"
        );
    }
}
