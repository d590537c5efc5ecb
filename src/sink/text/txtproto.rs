//! Text protocols on TCP as tcpdump's `txtproto_print` shows them: HTTP (ports 80 and
//! 8080) prints `: HTTP` and, when the payload starts with a request or status line,
//! that line (`-v`: every text line, each on a continuation line); SSH (port 22)
//! prints its version banner.
//!
//! Only printable ASCII and tabs from the payload reach the output; a line holding
//! anything else ends the text, as in tcpdump. It must never panic, read past the
//! captured bytes, or allocate.

use std::io::{self, Write};

use super::line::Line;

pub(super) const PORT_HTTP: u16 = 80;
pub(super) const PORT_HTTP_ALT: u16 = 8080;
pub(super) const PORT_SSH: u16 = 22;

/// tcpdump's `MAX_TOKEN`: a longer first word is not a request method.
const MAX_TOKEN: usize = 128;

/// tcpdump's `httpcmds`.
const HTTP_METHODS: [&str; 37] = [
    "GET",
    "PUT",
    "COPY",
    "HEAD",
    "LOCK",
    "MOVE",
    "POLL",
    "POST",
    "BCOPY",
    "BMOVE",
    "MKCOL",
    "TRACE",
    "LABEL",
    "MERGE",
    "DELETE",
    "SEARCH",
    "UPDATE",
    "VERSION-CONTROL",
    "BDELETE",
    "SUBSCRIBE",
    "UNLOCK",
    "CHECKIN",
    "CHECKOUT",
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "BPROPFIND",
    "BPROPPATCH",
    "UNCHECKOUT",
    "MKACTIVITY",
    "MKWORKSPACE",
    "UNSUBSCRIBE",
    "RPC_CONNECT",
    "RPC_IN_DATA",
    "RPC_OUT_DATA",
    "NOTIFY",
    "CONNECT",
];

fn printable(c: u8) -> bool {
    (0x20..=0x7E).contains(&c)
}

/// tcpdump's `fetch_token`: the word at `idx` and where the next one starts, or `None`
/// when there is none (or it is not a printable word of at most [`MAX_TOKEN`] bytes).
fn fetch_token(data: &[u8], mut idx: usize, len: usize) -> Option<(&[u8], usize)> {
    let start = idx;
    while idx < len {
        let c = *data.get(idx)?;
        if !c.is_ascii() {
            return None;
        }
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            break;
        }
        if !printable(c) || idx - start + 1 > MAX_TOKEN {
            return None;
        }
        idx += 1;
    }
    if idx == start {
        return None;
    }
    let token = &data[start..idx];
    while idx < len {
        match data.get(idx) {
            Some(b' ' | b'\t') => idx += 1,
            _ => break,
        }
    }
    Some((token, idx))
}

/// How a text line ended.
enum LineEnd {
    /// At the byte after the line's CR-LF or LF.
    Next(usize),
    /// Binary data, a lone CR, or the end of the payload: stop quietly.
    Stop,
    /// The captured bytes ended inside the line.
    Truncated,
}

impl<W: Write> Line<'_, W> {
    /// The payload of a TCP segment on a port with a text printer; `len` is its length
    /// per the headers, `data` what was captured of it.
    pub(super) fn tcp_text(
        &mut self,
        ports: (u16, u16),
        data: &[u8],
        len: usize,
    ) -> io::Result<()> {
        let on = |p: u16| ports.0 == p || ports.1 == p;
        if on(super::dns::PORT_DNS) {
            self.dns(data, len, true, false)
        } else if on(PORT_SSH) {
            self.ssh_banner(data, len)
        } else if on(PORT_HTTP) || on(PORT_HTTP_ALT) {
            self.out.write_all(b": ")?;
            self.http(data, len)
        } else {
            Ok(())
        }
    }

    fn http(&mut self, data: &[u8], len: usize) -> io::Result<()> {
        let mut print_this = false;
        if let Some((token, next)) = fetch_token(data, 0, len) {
            print_this = HTTP_METHODS
                .iter()
                .any(|m| m.as_bytes().eq_ignore_ascii_case(token));
            // A status line's code is its second word.
            if let Some((code, _)) = fetch_token(data, next, len) {
                print_this |= code.len() == 3 && code.iter().all(u8::is_ascii_digit);
            }
        }
        self.out.write_all(b"HTTP")?;
        if !print_this {
            return Ok(());
        }
        if !self.verbose() {
            if let LineEnd::Truncated = self.text_line(b": ", data, 0, len)? {
                self.trunc_spaced("http")?;
            }
            return Ok(());
        }
        write!(self.out, ", length: {len}")?;
        let mut idx = 0;
        while idx < len {
            match self.text_line(b"\n\t", data, idx, len)? {
                LineEnd::Next(next) => idx = next,
                LineEnd::Stop => break,
                LineEnd::Truncated => return self.trunc_spaced("http"),
            }
        }
        Ok(())
    }

    /// tcpdump's `print_txt_line`: the line at `idx` after `prefix`, if it is text.
    fn text_line(
        &mut self,
        prefix: &[u8],
        data: &[u8],
        start: usize,
        len: usize,
    ) -> io::Result<LineEnd> {
        let mut idx = start;
        while idx < len {
            let Some(&c) = data.get(idx) else {
                return Ok(LineEnd::Truncated);
            };
            let (end, next) = match c {
                b'\n' => (idx, idx + 1),
                b'\r' => match data.get(idx + 1) {
                    _ if idx + 1 >= len => return Ok(LineEnd::Stop),
                    Some(b'\n') => (idx, idx + 2),
                    Some(_) => return Ok(LineEnd::Stop),
                    None => return Ok(LineEnd::Truncated),
                },
                c if printable(c) || c == b'\t' => {
                    idx += 1;
                    continue;
                }
                _ => return Ok(LineEnd::Stop),
            };
            self.out.write_all(prefix)?;
            self.out.write_all(&data[start..end])?;
            return Ok(LineEnd::Next(next));
        }
        // All text, but no line end: tcpdump prints it as cut short.
        self.out.write_all(prefix)?;
        self.out
            .write_all(data.get(start..len).unwrap_or_default())?;
        self.trunc_spaced("http")?;
        Ok(LineEnd::Stop)
    }

    /// tcpdump's `ssh_print`: `: SSH: SSH-2.0-...` when the payload is a complete
    /// version line.
    fn ssh_banner(&mut self, data: &[u8], len: usize) -> io::Result<()> {
        if len < 4 || !data.starts_with(b"SSH-") {
            return Ok(());
        }
        let mut idx = 4;
        while idx < len {
            let Some(&c) = data.get(idx) else {
                return Ok(());
            };
            match c {
                b'\n' => break,
                b'\r' if data.get(idx + 1) == Some(&b'\n') && idx + 1 < len => break,
                c if printable(c) => idx += 1,
                _ => return Ok(()),
            }
        }
        if idx >= len {
            return Ok(());
        }
        self.out.write_all(b": SSH: ")?;
        self.out.write_all(&data[..idx])
    }

    /// tcpdump's `nd_print_trunc`: ` [|proto]`.
    fn trunc_spaced(&mut self, proto: &str) -> io::Result<()> {
        write!(self.out, " [|{proto}]")
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    fn http_frame(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(sport, dport, 1000, 512)
            .psh()
            .ack(2000)
            .write(&mut frame, payload)
            .unwrap();
        frame
    }

    #[test]
    fn http_request_status_and_body() {
        let req = http_frame(40000, 80, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(
            line(&gretap(&req)).ends_with("length 27: HTTP: GET / HTTP/1.1\n"),
            "{}",
            line(&gretap(&req))
        );
        let v = verbose(1);
        assert!(
            line_with(v, &gretap(&req))
                .ends_with("length 27: HTTP, length: 27\n\tGET / HTTP/1.1\n\tHost: a\n\t\n")
        );
        let status = http_frame(80, 40000, b"HTTP/1.1 404 Not Found\r\n");
        assert!(line(&gretap(&status)).ends_with(": HTTP: HTTP/1.1 404 Not Found\n"));
        let body = http_frame(80, 40000, b"\x1f\x8b\x08\x00");
        assert!(line(&gretap(&body)).ends_with("length 4: HTTP\n"));
        let no_end = http_frame(8080, 40000, b"POST /x HTTP/1.1");
        assert!(line(&gretap(&no_end)).ends_with(": HTTP: POST /x HTTP/1.1 [|http]\n"));
    }

    #[test]
    fn ssh_banner_only_when_complete() {
        let banner = http_frame(22, 40000, b"SSH-2.0-OpenSSH_9.2\r\n");
        assert!(line(&gretap(&banner)).ends_with("length 21: SSH: SSH-2.0-OpenSSH_9.2\n"));
        let cut = http_frame(22, 40000, b"SSH-2.0-Open");
        assert!(line(&gretap(&cut)).ends_with("length 12\n"));
    }
}
