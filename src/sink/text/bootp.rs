//! BOOTP / DHCP (UDP ports 67, 68) as tcpdump 4.99 prints it: `BOOTP/DHCP, Request
//! from MAC, length N`, and with `-v` the header fields worth showing and the RFC 1048
//! options (tcpdump's `bootp_print` and `rfc1048_print`).
//!
//! It must never panic, read past the captured bytes, allocate, or print packet bytes
//! except as numbers, hex, addresses and tcpdump's escaped characters; every option
//! consumes at least one byte.

use std::io::{self, Write};
use std::net::Ipv4Addr;

use super::line::{Line, Mac, be16_at, be32_at, ipv4_at};

pub(super) const PORT_BOOTPS: u16 = 67;
pub(super) const PORT_BOOTPC: u16 = 68;

/// Field offsets of the BOOTP header (RFC 951).
const HOPS: usize = 3;
const XID: usize = 4;
const SECS: usize = 8;
const FLAGS: usize = 10;
const CIADDR: usize = 12;
const CHADDR: usize = 28;
const SNAME: usize = 44;
const SNAME_LEN: usize = 64;
const FILE: usize = 108;
const FILE_LEN: usize = 128;
const VEND: usize = 236;
const RFC1048_COOKIE: [u8; 4] = [99, 130, 83, 99];
const CMU_COOKIE: [u8; 4] = *b"CMU\0";

const TAG_PAD: u8 = 0;
const TAG_END: u8 = 255;

/// tcpdump's `tag2str`: the first character is the value's format (`i` addresses, `l`
/// / `L` 32-bit numbers, `s` 16-bit, `b` / `x` bytes, `a` text, `B` booleans, `p`
/// address pairs, `$` decoded specially), then the name.
fn tag_info(tag: u8) -> &'static str {
    match tag {
        0 => " PAD",
        1 => "iSubnet-Mask",
        2 => "LTime-Zone",
        3 => "iDefault-Gateway",
        4 => "iTime-Server",
        5 => "iIEN-Name-Server",
        6 => "iDomain-Name-Server",
        7 => "iLOG",
        8 => "iCS",
        9 => "iLPR-Server",
        10 => "iIM",
        11 => "iRL",
        12 => "aHostname",
        13 => "sBS",
        14 => "aDP",
        15 => "aDomain-Name",
        16 => "iSS",
        17 => "aRP",
        18 => "aEP",
        19 => "BIPF",
        20 => "BSRT",
        21 => "pPF",
        22 => "sRSZ",
        23 => "bTTL",
        24 => "lMTU-Timeout",
        25 => "sMTU-Table",
        26 => "sMTU",
        27 => "BLSN",
        28 => "iBR",
        29 => "BMD",
        30 => "BMS",
        31 => "BRouter-Discovery",
        32 => "iRSA",
        33 => "pStatic-Route",
        34 => "BUT",
        35 => "lAT",
        36 => "BIE",
        37 => "bTT",
        38 => "lKI",
        39 => "BKG",
        40 => "aYD",
        41 => "iYS",
        42 => "iNTP",
        43 => "bVendor-Option",
        44 => "iNetbios-Name-Server",
        45 => "iWDD",
        46 => "$Netbios-Node",
        47 => "aNetbios-Scope",
        48 => "iXFS",
        49 => "iXDM",
        50 => "iRequested-IP",
        51 => "lLease-Time",
        52 => "$OO",
        53 => " DHCP-Message",
        54 => "iServer-ID",
        55 => "bParameter-Request",
        56 => "aMSG",
        57 => "sMSZ",
        58 => "lRN",
        59 => "lRB",
        60 => "aVendor-Class",
        61 => "$Client-ID",
        64 => "sN+D",
        65 => "iN+S",
        66 => "aTFTP",
        67 => "aBF",
        68 => "iMH",
        69 => "iSMTP",
        70 => "iPOP3",
        71 => "iNNTP",
        72 => "iWWW",
        73 => "iFG",
        74 => "iIRC",
        75 => "iSTS",
        76 => "iSTDA",
        77 => "$User-Class",
        78 => "bSLP-DA",
        79 => "bSLP-SCOPE",
        80 => "aSLP-NA",
        81 => "$FQDN",
        82 => "$Agent-Information",
        83 => "bARMT",
        88 => "aTZSTR",
        89 => "bFQDNS",
        90 => "bAUTH",
        91 => "LLast-Transaction-Time",
        92 => "iAssociated-IP",
        93 => "sARCH",
        94 => "bNDI",
        95 => "aLDAP",
        97 => "bGUID",
        98 => "aUAP",
        100 => "aPOSIX-TZ",
        101 => "aTZ-Name",
        112 => "iNI",
        113 => "aNITAG",
        114 => "aURL",
        116 => "BNOAUTO",
        117 => "sNSSEARCH",
        118 => "iSUBNET",
        121 => "$Classless-Static-Route",
        150 => "iTFTP-Server-Address",
        161 => "aMUD-URL",
        249 => "$Classless-Static-Route-Microsoft",
        255 => " END",
        _ => "?Unknown",
    }
}

fn dhcp_msg_name(t: u8) -> Option<&'static str> {
    Some(match t {
        1 => "Discover",
        2 => "Offer",
        3 => "Request",
        4 => "Decline",
        5 => "ACK",
        6 => "NACK",
        7 => "Release",
        8 => "Inform",
        10 => "LeaseQuery",
        11 => "LeaseUnassigned",
        12 => "LeaseUnknown",
        13 => "LeaseActive",
        _ => return None,
    })
}

impl<W: Write> Line<'_, W> {
    /// tcpdump's `bootp_print`; `len` is the UDP payload length.
    pub(super) fn bootp(&mut self, data: &[u8], len: usize) -> io::Result<()> {
        let data = &data[..data.len().min(len)];
        let (Some(&op), Some(&htype), Some(&hlen)) = (data.first(), data.get(1), data.get(2))
        else {
            return self.out.write_all(b"BOOTP/DHCP [|bootp]");
        };
        match op {
            1 => self.out.write_all(b"BOOTP/DHCP, Request")?,
            2 => self.out.write_all(b"BOOTP/DHCP, Reply")?,
            other => write!(self.out, "BOOTP/DHCP, unknown (0x{other:02x})")?,
        }
        let ether = htype == 1 && hlen == 6;
        if ether && op == 1 {
            let Some(mac) = data.get(CHADDR..CHADDR + 6) else {
                return self.out.write_all(b" [|bootp]");
            };
            write!(self.out, " from {}", Mac(mac))?;
        }
        write!(self.out, ", length {len}")?;
        if !self.verbose() {
            return Ok(());
        }
        if data.len() < SECS + 2 {
            return self.out.write_all(b" [|bootp]");
        }
        if htype != 1 {
            write!(self.out, ", htype {htype}")?;
        }
        if !ether {
            write!(self.out, ", hlen {hlen}")?;
        }
        if data[HOPS] != 0 {
            write!(self.out, ", hops {}", data[HOPS])?;
        }
        let xid = be32_at(data, XID).unwrap_or_default();
        if xid != 0 {
            write!(self.out, ", xid 0x{xid:x}")?;
        }
        let secs = be16_at(data, SECS).unwrap_or_default();
        if secs != 0 {
            write!(self.out, ", secs {secs}")?;
        }
        let Some(flags) = be16_at(data, FLAGS) else {
            return self.out.write_all(b" [|bootp]");
        };
        let broadcast = if flags & 0x8000 != 0 {
            "Broadcast"
        } else {
            "none"
        };
        write!(self.out, ", Flags [{broadcast}]")?;
        if self.opts.verbose > 1 {
            write!(self.out, " (0x{flags:04x})")?;
        }
        for (i, name) in ["Client-IP", "Your-IP", "Server-IP", "Gateway-IP"]
            .iter()
            .enumerate()
        {
            let Some(addr) = ipv4_at(data, CIADDR + 4 * i) else {
                return self.out.write_all(b" [|bootp]");
            };
            if !addr.is_unspecified() {
                write!(self.out, "\n\t  {name} {addr}")?;
            }
        }
        if ether {
            let Some(mac) = data.get(CHADDR..CHADDR + 6) else {
                return self.out.write_all(b" [|bootp]");
            };
            write!(self.out, "\n\t  Client-Ethernet-Address {}", Mac(mac))?;
        }
        for (at, n, name) in [(SNAME, SNAME_LEN, "sname"), (FILE, FILE_LEN, "file")] {
            let Some(&first) = data.get(at) else {
                return self.out.write_all(b" [|bootp]");
            };
            if first != 0 {
                write!(self.out, "\n\t  {name} \"")?;
                let field = &data[at..data.len().min(at + n)];
                let text = field.split(|&c| c == 0).next().unwrap_or_default();
                for &c in text {
                    self.escaped_char(c)?;
                }
                self.out.write_all(b"\"")?;
                // tcpdump's `nd_printztn` wants the NUL within the field.
                if text.len() == field.len() {
                    return self.out.write_all(b" [|bootp]");
                }
            }
        }
        let Some(cookie) = data.get(VEND..VEND + 4) else {
            return self.out.write_all(b" [|bootp]");
        };
        if cookie == RFC1048_COOKIE {
            self.rfc1048(&data[VEND..])
        } else if cookie == CMU_COOKIE {
            self.cmu(&data[VEND..])
        } else {
            let ul = be32_at(cookie, 0).unwrap_or_default();
            if ul != 0 {
                write!(self.out, "\n\t  Vendor-#0x{ul:x}")?;
            }
            Ok(())
        }
    }

    /// tcpdump's `cmu_print`: the CMU vendor area's flags and addresses.
    fn cmu(&mut self, vend: &[u8]) -> io::Result<()> {
        self.out.write_all(b" vend-cmu")?;
        let Some(&flags) = vend.get(4).filter(|_| vend.len() >= 8) else {
            return self.out.write_all(b" [|bootp]");
        };
        if flags & !1 != 0 {
            write!(self.out, " F:0x{flags:x}")?;
        }
        let smask = if flags & 1 != 0 { "SM" } else { "SM*" };
        let fields = [
            (12, "DG"),
            (8, smask),
            (16, "NS1"),
            (20, "NS2"),
            (24, "IEN1"),
            (28, "IEN2"),
            (32, "TS1"),
            (36, "TS2"),
        ];
        for (at, name) in fields {
            let Some(addr) = ipv4_at(vend, at) else {
                return self.out.write_all(b" [|bootp]");
            };
            if !addr.is_unspecified() {
                write!(self.out, " {name}:{addr}")?;
            }
        }
        Ok(())
    }

    /// tcpdump's `rfc1048_print` (without `-vvv`: no PAD or END lines).
    fn rfc1048(&mut self, vend: &[u8]) -> io::Result<()> {
        self.out.write_all(b"\n\t  Vendor-rfc1048 Extensions")?;
        write!(
            self.out,
            "\n\t    Magic Cookie 0x{:08x}",
            be32_at(vend, 0).unwrap_or_default()
        )?;
        let mut bp = 4;
        while let Some(&tag) = vend.get(bp) {
            bp += 1;
            if tag == TAG_PAD {
                continue;
            }
            if tag == TAG_END {
                return Ok(());
            }
            let info = tag_info(tag);
            let (mut fmt, name) = (info.as_bytes()[0], &info[1..]);
            let Some(&len) = vend.get(bp) else {
                return self.out.write_all(b" [|bootp]");
            };
            bp += 1;
            let sep = if len > 0 { ": " } else { "" };
            write!(self.out, "\n\t    {name} ({tag}), length {len}{sep}")?;
            let len = usize::from(len);
            let Some(v) = vend.get(bp..bp + len) else {
                return self.out.write_all(b" [|bootp]");
            };
            bp += len;
            if tag == 53 && len == 1 {
                match dhcp_msg_name(v[0]) {
                    Some(m) => self.out.write_all(m.as_bytes())?,
                    None => write!(self.out, "Unknown ({})", v[0])?,
                }
                continue;
            }
            if tag == 55 {
                for (i, &inner) in v.iter().enumerate() {
                    self.out
                        .write_all(if i % 4 == 0 { b"\n\t      " } else { b", " })?;
                    write!(self.out, "{} ({inner})", &tag_info(inner)[1..])?;
                }
                continue;
            }
            if fmt == b'?' {
                fmt = if len & 1 != 0 {
                    b'b'
                } else if len & 2 != 0 {
                    b's'
                } else {
                    b'l'
                };
            }
            let left = match fmt {
                b'a' => {
                    self.out.write_all(b"\"")?;
                    for &c in v {
                        self.escaped_char(c)?;
                    }
                    self.out.write_all(b"\"")?;
                    0
                }
                b'i' | b'l' | b'L' => {
                    for (i, w) in v.chunks_exact(4).enumerate() {
                        if i > 0 {
                            self.out.write_all(b",")?;
                        }
                        let u = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
                        match fmt {
                            b'i' => write!(self.out, "{}", Ipv4Addr::from(u))?,
                            b'L' => write!(self.out, "{}", u as i32)?,
                            _ => write!(self.out, "{u}")?,
                        }
                    }
                    len % 4
                }
                b'p' => {
                    for (i, w) in v.chunks_exact(8).enumerate() {
                        if i > 0 {
                            self.out.write_all(b",")?;
                        }
                        let a = Ipv4Addr::new(w[0], w[1], w[2], w[3]);
                        let b = Ipv4Addr::new(w[4], w[5], w[6], w[7]);
                        write!(self.out, "({a}:{b})")?;
                    }
                    len % 8
                }
                b's' => {
                    for (i, w) in v.chunks_exact(2).enumerate() {
                        if i > 0 {
                            self.out.write_all(b",")?;
                        }
                        write!(self.out, "{}", u16::from_be_bytes([w[0], w[1]]))?;
                    }
                    len % 2
                }
                b'B' => {
                    for (i, &b) in v.iter().enumerate() {
                        if i > 0 {
                            self.out.write_all(b",")?;
                        }
                        match b {
                            0 => self.out.write_all(b"N")?,
                            1 => self.out.write_all(b"Y")?,
                            other => write!(self.out, "{other}?")?,
                        }
                    }
                    0
                }
                b'$' => self.bootp_special(tag, v)?,
                _ => {
                    for (i, &b) in v.iter().enumerate() {
                        if fmt == b'x' {
                            if i > 0 {
                                self.out.write_all(b":")?;
                            }
                            write!(self.out, "{b:02x}")?;
                        } else {
                            if i > 0 {
                                self.out.write_all(b".")?;
                            }
                            write!(self.out, "{b}")?;
                        }
                    }
                    0
                }
            };
            if left > 0 {
                write!(self.out, "\n\t  trailing data length {left}")?;
            }
        }
        Ok(())
    }

    /// The options tcpdump decodes one by one; returns the bytes left undecoded.
    fn bootp_special(&mut self, tag: u8, v: &[u8]) -> io::Result<usize> {
        let len = v.len();
        match tag {
            46 | 52 => {
                let Some(&t) = v.first() else {
                    self.out.write_all(b"[ERROR: length < 1 bytes]")?;
                    return Ok(0);
                };
                let name = match (tag, t) {
                    (46, 1) => "b-node",
                    (46, 2) => "p-node",
                    (46, 4) => "m-node",
                    (46, 8) => "h-node",
                    (52, 1) => "file",
                    (52, 2) => "sname",
                    (52, 3) => "file+sname",
                    _ => "",
                };
                if name.is_empty() {
                    write!(self.out, "#{t}")?;
                } else {
                    self.out.write_all(name.as_bytes())?;
                }
                Ok(len - 1)
            }
            81 => {
                if len < 3 {
                    self.out.write_all(b"[ERROR: length < 3 bytes]")?;
                    return Ok(0);
                }
                if v[0] & 0xf0 != 0 {
                    write!(self.out, "[ERROR: MBZ nibble 0x{:x} != 0] ", v[0] >> 4)?;
                }
                if v[0] & 0x0f != 0 {
                    self.out.write_all(b"[")?;
                    for (bit, c) in [(1, b"S"), (2, b"O"), (4, b"E"), (8, b"N")] {
                        if v[0] & bit != 0 {
                            self.out.write_all(c)?;
                        }
                    }
                    self.out.write_all(b"] ")?;
                }
                if v[1] != 0 || v[2] != 0 {
                    write!(self.out, "{}/{} ", v[1], v[2])?;
                }
                self.out.write_all(b"\"")?;
                for &c in &v[3..] {
                    self.escaped_char(c)?;
                }
                self.out.write_all(b"\"")?;
                Ok(0)
            }
            61 => {
                let Some((&kind, rest)) = v.split_first() else {
                    self.out.write_all(b"[ERROR: length < 1 bytes]")?;
                    return Ok(0);
                };
                if kind == 0 {
                    self.out.write_all(b"\"")?;
                    for &c in rest {
                        self.escaped_char(c)?;
                    }
                    return self.out.write_all(b"\"").map(|()| 0);
                }
                match kind {
                    0x1 => self.out.write_all(b"ether ")?,
                    0x6 => self.out.write_all(b"ieee802 ")?,
                    0x7 => self.out.write_all(b"arcnet ")?,
                    0xf => self.out.write_all(b"frelay ")?,
                    0x17 => self.out.write_all(b"strip ")?,
                    0x18 => self.out.write_all(b"ieee1394 ")?,
                    other => write!(self.out, "hardware-type {other}, ")?,
                }
                write!(self.out, "{}", Mac(rest))?;
                Ok(0)
            }
            82 => {
                let mut at = 0;
                while len - at >= 2 {
                    let (sub, sublen) = (v[at], usize::from(v[at + 1]));
                    at += 2;
                    let name = match sub {
                        1 => "Circuit-ID",
                        2 => "Remote-ID",
                        6 => "Subscriber-ID",
                        _ => "Unknown",
                    };
                    write!(
                        self.out,
                        "\n\t      {name} SubOption {sub}, length {sublen}: "
                    )?;
                    if sublen > len - at {
                        self.out.write_all(b"length goes past end of option")?;
                        return Ok(0);
                    }
                    let s = &v[at..at + sublen];
                    if matches!(sub, 1 | 2 | 6) {
                        for &c in s {
                            self.escaped_char(c)?;
                        }
                    } else {
                        self.hex_words(b"\n\t\t", s)?;
                    }
                    at += sublen;
                }
                Ok(len - at)
            }
            121 | 249 => {
                if len < 5 {
                    self.out.write_all(b"[ERROR: length < 5 bytes]")?;
                    return Ok(0);
                }
                let mut at = 0;
                while at < len {
                    if at > 0 {
                        self.out.write_all(b",")?;
                    }
                    let width = v[at];
                    at += 1;
                    if width > 32 {
                        write!(self.out, "[ERROR: Mask width ({width}) > 32]")?;
                        return Ok(0);
                    }
                    let octets = usize::from(width).div_ceil(8);
                    if len - at < octets + 4 {
                        write!(
                            self.out,
                            "[ERROR: Remaining length ({}) < {} bytes]",
                            len - at,
                            octets + 4
                        )?;
                        return Ok(0);
                    }
                    self.out.write_all(b"(")?;
                    if width == 0 {
                        self.out.write_all(b"default")?;
                    } else {
                        for i in 0..4 {
                            if i > 0 {
                                self.out.write_all(b".")?;
                            }
                            let b = if i < octets { v[at + i] } else { 0 };
                            write!(self.out, "{b}")?;
                        }
                        write!(self.out, "/{width}")?;
                    }
                    let r = &v[at + octets..at + octets + 4];
                    write!(self.out, ":{})", Ipv4Addr::new(r[0], r[1], r[2], r[3]))?;
                    at += octets + 4;
                }
                Ok(0)
            }
            77 => {
                if len < 2 {
                    self.out.write_all(b"[ERROR: length < 2 bytes]")?;
                    return Ok(0);
                }
                let (mut at, mut n) = (0, 1);
                while at < len {
                    let sublen = usize::from(v[at]);
                    at += 1;
                    write!(self.out, "\n\t      instance#{n}: ")?;
                    if sublen == 0 {
                        self.out
                            .write_all(b"[ERROR: suboption length must be non-zero]")?;
                        return Ok(0);
                    }
                    if len - at < sublen {
                        self.out.write_all(b"[ERROR: invalid option]")?;
                        return Ok(0);
                    }
                    self.out.write_all(b"\"")?;
                    for &c in &v[at..at + sublen] {
                        self.escaped_char(c)?;
                    }
                    write!(self.out, "\", length {sublen}")?;
                    n += 1;
                    at += sublen;
                }
                Ok(0)
            }
            _ => {
                write!(self.out, "[unknown special tag {tag}, size {len}]")?;
                Ok(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    fn discover() -> Vec<u8> {
        let mut b = vec![1, 1, 6, 0, 0x39, 0x03, 0xf3, 0x26, 0, 0, 0x80, 0];
        b.resize(28, 0);
        b.extend_from_slice(&[0x00, 0x50, 0x56, 0, 0, 7]);
        b.resize(236, 0);
        b.extend_from_slice(&[99, 130, 83, 99, 53, 1, 1, 55, 4, 1, 3, 6, 15, 255]);
        b.resize(300, 0);
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([0, 0, 0, 0], [255, 255, 255, 255], 64)
            .udp(68, 67)
            .write(&mut frame, &b)
            .unwrap();
        frame
    }

    /// tests/text_tcpdump.rs's generated DHCP discover, as tcpdump -vv prints it.
    #[test]
    fn discover_as_tcpdump_prints_it() {
        let frame = discover();
        assert!(
            line(&gretap(&frame))
                .ends_with(": BOOTP/DHCP, Request from 00:50:56:00:00:07, length 300\n")
        );
        let vv = verbose(2);
        let text = line_with(vv, &gretap(&frame));
        assert!(
            text.ends_with(
                "BOOTP/DHCP, Request from 00:50:56:00:00:07, length 300, xid 0x3903f326, \
                 Flags [Broadcast] (0x8000)\n\t  Client-Ethernet-Address \
                 00:50:56:00:00:07\n\t  Vendor-rfc1048 Extensions\n\t    Magic Cookie \
                 0x63825363\n\t    DHCP-Message (53), length 1: Discover\n\t    \
                 Parameter-Request (55), length 4: \n\t      Subnet-Mask (1), \
                 Default-Gateway (3), Domain-Name-Server (6), Domain-Name (15)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn options_cut_short_and_unterminated_names() {
        let v = verbose(1);
        let frame = discover();
        // Captured up to inside the parameter list.
        let cut = frame.len() - 64 + 10;
        let mut d = gretap(&frame[..cut]);
        d.orig_len = frame.len();
        let text = line_with(v, &d);
        assert!(
            text.ends_with("Parameter-Request (55), length 4:  [|bootp]\n"),
            "{text}"
        );
        // A server name filling its 64 bytes without a NUL.
        let mut frame = discover();
        let sname = 14 + 20 + 8 + 44;
        frame[sname..sname + 64].fill(b'x');
        let text = line_with(v, &gretap(&frame));
        assert!(
            text.ends_with(&format!("sname \"{}\" [|bootp]\n", "x".repeat(64))),
            "{text}"
        );
    }
}
