//! DHCPv6 (UDP ports 546, 547) as tcpdump 4.99 prints it: `dhcp6 solicit`, and with
//! `-v` the transaction ID or relay addresses and every option in parentheses
//! (tcpdump's `dhcp6opt_print`), options inside options to a bounded depth.
//!
//! Not decoded as tcpdump does (their parentheses are closed empty): authentication
//! (11), NTP server (56) and AFTR name (64) options.
//!
//! It must never panic, read past the captured bytes or the message, allocate, recurse
//! deeper than [`MAX_DEPTH`], or print packet bytes except as hex, addresses and
//! tcpdump's escaped characters.

use std::io::{self, Write};
use std::net::Ipv6Addr;

use super::line::{Line, be16_at, be32_at, ipv6_at};

/// Options inside options (IA_NA > IA_ADDR > status code) and relayed messages inside
/// relay messages decoded before the printer stops descending.
const MAX_DEPTH: u8 = 4;
pub(super) const PORT_CLIENT: u16 = 546;
pub(super) const PORT_SERVER: u16 = 547;
const RELAY_FORW: u8 = 12;
const RELAY_REPLY: u8 = 13;
const RELAY_HEADER: usize = 34;

fn msg_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        1 => "solicit",
        2 => "advertise",
        3 => "request",
        4 => "confirm",
        5 => "renew",
        6 => "rebind",
        7 => "reply",
        8 => "release",
        9 => "decline",
        10 => "reconfigure",
        11 => "inf-req",
        12 => "relay-fwd",
        13 => "relay-reply",
        14 => "leasequery",
        15 => "leasequery-reply",
        _ => return None,
    })
}

/// tcpdump's `dh6opt_str`.
fn opt_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "client-ID",
        2 => "server-ID",
        3 => "IA_NA",
        4 => "IA_TA",
        5 => "IA_ADDR",
        6 => "option-request",
        7 => "preference",
        8 => "elapsed-time",
        9 => "relay-message",
        11 => "authentication",
        12 => "server-unicast",
        13 => "status-code",
        14 => "rapid-commit",
        15 => "user-class",
        16 => "vendor-class",
        17 => "vendor-specific-info",
        18 => "interface-ID",
        19 => "reconfigure-message",
        20 => "reconfigure-accept",
        21 => "SIP-servers-domain",
        22 => "SIP-servers-address",
        23 => "DNS-server",
        24 => "DNS-search-list",
        25 => "IA_PD",
        26 => "IA_PD-prefix",
        27 => "NIS-server",
        28 => "NIS+-server",
        29 => "NIS-domain-name",
        30 => "NIS+-domain-name",
        31 => "SNTP-servers",
        32 => "lifetime",
        33 => "BCMCS-domain-name",
        34 => "BCMCS-server",
        36 => "Geoconf-Civic",
        37 => "Remote-ID",
        38 => "Subscriber-ID",
        39 => "Client-FQDN",
        40 => "PANA-agent",
        41 => "POSIX-timezone",
        42 => "POSIX-tz-database",
        43 => "Echo-request-option",
        44 => "Lease-query",
        45 => "LQ-client-data",
        46 => "Clt-time",
        47 => "LQ-relay-data",
        48 => "LQ-client-link",
        56 => "NTP-server",
        64 => "AFTR-Name",
        112 => "MUD-URL",
        _ => return None,
    })
}

/// `opt_N` for options tcpdump has no name for.
struct OptName(u16);

impl core::fmt::Display for OptName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match opt_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "opt_{}", self.0),
        }
    }
}

const STATUS_CODES: [&str; 11] = [
    "Success",
    "UnspecFail",
    "NoAddrsAvail",
    "NoBinding",
    "NotOnLink",
    "UseMulticast",
    "NoPrefixAvail",
    "UnknownQueryType",
    "MalformedQuery",
    "NotConfigured",
    "NotAllowed",
];

fn addr6(v: &[u8], at: usize) -> Ipv6Addr {
    ipv6_at(v, at).unwrap_or(Ipv6Addr::UNSPECIFIED)
}

impl<W: Write> Line<'_, W> {
    /// tcpdump's `dhcp6_print`; `len` is the UDP payload length.
    pub(super) fn dhcp6(&mut self, data: &[u8], len: usize) -> io::Result<()> {
        self.name_budget = len + 1024;
        self.dhcp6_msg(data, len, 0)
    }

    fn dhcp6_msg(&mut self, data: &[u8], len: usize, depth: u8) -> io::Result<()> {
        self.out.write_all(b"dhcp6")?;
        let msg = &data[..data.len().min(len)];
        let Some(&kind) = data.first().filter(|_| data.len() >= 4) else {
            return self.out.write_all(b" [|dhcp6]");
        };
        match msg_name(kind) {
            Some(name) => write!(self.out, " {name}")?,
            None => write!(self.out, " msgtype-{kind}")?,
        }
        if !self.verbose() {
            return Ok(());
        }
        self.out.write_all(b" (")?;
        if kind != RELAY_FORW && kind != RELAY_REPLY {
            let xid = be32_at(data, 0).unwrap_or_default() & 0x00ff_ffff;
            write!(self.out, "xid={xid:x}")?;
            self.dhcp6_options(msg.get(4..).unwrap_or_default(), depth)?;
        } else {
            let (Some(link), Some(peer)) = (ipv6_at(data, 2), ipv6_at(data, 18)) else {
                return self.out.write_all(b" [|dhcp6]");
            };
            write!(self.out, "linkaddr={link} peeraddr={peer}")?;
            self.dhcp6_options(msg.get(RELAY_HEADER..).unwrap_or_default(), depth)?;
        }
        self.out.write_all(b")")
    }

    /// tcpdump's `dhcp6opt_print` over `opts` (captured and within the message).
    fn dhcp6_options(&mut self, mut opts: &[u8], depth: u8) -> io::Result<()> {
        while !opts.is_empty() {
            let (Some(t), Some(optlen)) = (be16_at(opts, 0), be16_at(opts, 2)) else {
                return self.out.write_all(b" [|dhcp6]");
            };
            let optlen = usize::from(optlen);
            let Some(v) = opts.get(4..4 + optlen) else {
                return self.out.write_all(b" [|dhcp6]");
            };
            write!(self.out, " ({}", OptName(t))?;
            self.dhcp6_option(t, v, depth)?;
            opts = &opts[4 + optlen..];
        }
        Ok(())
    }

    /// One option's value and its closing parenthesis.
    fn dhcp6_option(&mut self, t: u16, v: &[u8], depth: u8) -> io::Result<()> {
        let n = v.len();
        let u32_at = |at: usize| be32_at(v, at).unwrap_or_default();
        let bad = n < match t {
            1 | 2 | 13 => 2,
            4 | 32 | 46 | 37 => 4,
            3 | 25 => 12,
            5 => 24,
            26 => 25,
            47 => 16,
            44 => 17,
            41 | 42 | 112 => 5,
            _ => 0,
        } || match t {
            6 | 43 => !n.is_multiple_of(2),
            7 | 19 => n != 1,
            8 => n != 2,
            32 | 46 => n != 4,
            22 | 23 | 27 | 28 | 31 | 34 | 40 | 48 => !n.is_multiple_of(16),
            _ => false,
        };
        if bad {
            return self.out.write_all(b" ?)");
        }
        let inner = depth + 1 < MAX_DEPTH;
        match t {
            // Client and server DUIDs.
            1 | 2 => {
                let duid = be16_at(v, 0).unwrap_or_default();
                match duid {
                    1 if n >= 8 => {
                        write!(
                            self.out,
                            " hwaddr/time type {} time {} ",
                            be16_at(v, 2).unwrap_or_default(),
                            u32_at(4)
                        )?;
                        self.hex_run(&v[8..])?;
                    }
                    2 if n >= 10 => {
                        self.out.write_all(b" vid ")?;
                        self.hex_run(&v[2..10])?;
                    }
                    3 if n >= 4 => {
                        write!(
                            self.out,
                            " hwaddr type {} ",
                            be16_at(v, 2).unwrap_or_default()
                        )?;
                        self.hex_run(&v[4..])?;
                    }
                    1..=3 => return self.out.write_all(b" ?)"),
                    other => return write!(self.out, " type {other})"),
                }
            }
            5 => {
                write!(
                    self.out,
                    " {} pltime:{} vltime:{}",
                    addr6(v, 0),
                    u32_at(16),
                    u32_at(20)
                )?;
                if n > 24 && inner {
                    self.dhcp6_options(&v[24..], depth + 1)?;
                }
            }
            6 | 43 => {
                for pair in v.chunks_exact(2) {
                    write!(
                        self.out,
                        " {}",
                        OptName(u16::from_be_bytes([pair[0], pair[1]]))
                    )?;
                }
            }
            7 => write!(self.out, " {}", v[0])?,
            8 => write!(self.out, " {}", be16_at(v, 0).unwrap_or_default())?,
            9 => {
                self.out.write_all(b" (")?;
                if inner {
                    self.dhcp6_msg(v, n, depth + 1)?;
                }
                // tcpdump closes the option and the relayed message with one `)`.
                return self.out.write_all(b")");
            }
            18 | 38 => {
                self.out.write_all(b" ")?;
                self.hex_run(&v[..n.min(10)])?;
                self.out.write_all(b"...")?;
            }
            19 => {
                return match v[0] {
                    5 => self.out.write_all(b" for renew)"),
                    11 => self.out.write_all(b" for inf-req)"),
                    other => write!(self.out, " for ???({other:02x}))"),
                };
            }
            22 | 23 | 27 | 28 | 31 | 34 | 40 | 48 => {
                for a in v.chunks_exact(16) {
                    write!(self.out, " {}", addr6(a, 0))?;
                }
            }
            21 | 24 => {
                let mut at = 0;
                while at < n {
                    self.out.write_all(b" ")?;
                    match self.dns_name(v, at)? {
                        Some(next) if next > at => at = next,
                        _ => return self.out.write_all(b" [|dhcp6]"),
                    }
                }
            }
            13 => {
                let code = be16_at(v, 0).unwrap_or_default();
                match STATUS_CODES.get(usize::from(code)) {
                    Some(name) => write!(self.out, " {name}")?,
                    None if code > 255 => self.out.write_all(b" INVALID code")?,
                    None => write!(self.out, " code{code}")?,
                }
            }
            3 | 25 => {
                write!(
                    self.out,
                    " IAID:{} T1:{} T2:{}",
                    u32_at(0),
                    u32_at(4),
                    u32_at(8)
                )?;
                if n > 12 && inner {
                    self.dhcp6_options(&v[12..], depth + 1)?;
                }
            }
            4 => {
                write!(self.out, " IAID:{}", u32_at(0))?;
                if n > 4 && inner {
                    self.dhcp6_options(&v[4..], depth + 1)?;
                }
            }
            26 => {
                write!(
                    self.out,
                    " {}/{} pltime:{} vltime:{}",
                    addr6(v, 9),
                    v[8],
                    u32_at(0),
                    u32_at(4)
                )?;
                if n > 25 && inner {
                    self.dhcp6_options(&v[25..], depth + 1)?;
                }
            }
            32 | 46 => write!(self.out, " {}", u32_at(0))?,
            37 => {
                write!(self.out, " {} ", u32_at(0))?;
                self.hex_run(&v[4..n.min(14)])?;
                self.out.write_all(b"...")?;
            }
            44 => {
                match v[0] {
                    1 => self.out.write_all(b" by-address")?,
                    2 => self.out.write_all(b" by-clientID")?,
                    other => write!(self.out, " type_{other}")?,
                }
                write!(self.out, " {}", addr6(v, 1))?;
                if n > 17 && inner {
                    self.dhcp6_options(&v[17..], depth + 1)?;
                }
            }
            45 if n > 0 && inner => self.dhcp6_options(v, depth + 1)?,
            47 => {
                write!(self.out, " {} ", addr6(v, 0))?;
                self.hex_run(&v[16..n.min(26)])?;
                self.out.write_all(b"...")?;
            }
            41 | 42 | 112 => {
                self.out.write_all(b" ")?;
                for &c in v.iter().take_while(|&&c| c != 0) {
                    self.escaped_char(c)?;
                }
            }
            _ => {}
        }
        self.out.write_all(b")")
    }

    /// Bytes as continuous lowercase hex.
    fn hex_run(&mut self, bytes: &[u8]) -> io::Result<()> {
        bytes.iter().try_for_each(|b| write!(self.out, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    fn udp6_frame(payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv6(IP6_A, IP6_B, 1)
            .udp(546, 547)
            .write(&mut frame, payload)
            .unwrap();
        frame
    }

    fn opt(t: u16, v: &[u8]) -> Vec<u8> {
        let mut o = t.to_be_bytes().to_vec();
        o.extend_from_slice(&(v.len() as u16).to_be_bytes());
        o.extend_from_slice(v);
        o
    }

    /// zeek-erspan.pcap frame 9, as tcpdump -v prints it.
    #[test]
    fn solicit_as_tcpdump_prints_it() {
        let mut m = vec![1, 0x8e, 0x86, 0x6d];
        m.extend(opt(8, &[0x02, 0xbc]));
        m.extend(opt(
            1,
            &[
                0, 1, 0, 1, 0x1d, 0x11, 0x18, 0x8c, 0, 0x50, 0x56, 0x82, 0x08, 0xd1,
            ],
        ));
        m.extend(opt(3, &[0x0e, 0x00, 0x50, 0x56, 0, 0, 0, 0, 0, 0, 0, 0]));
        m.extend(opt(39, &[0, 4, b'h', b'o', b's', b't']));
        m.extend(opt(16, &[0, 0, 1, 0x37, 0, 4, b'M', b'S', b'F', b'T']));
        m.extend(opt(6, &[0, 24, 0, 23, 0, 17, 0, 39]));
        let v = verbose(1);
        let text = line_with(v, &gretap(&udp6_frame(&m)));
        assert!(
            text.ends_with(
                "dhcp6 solicit (xid=8e866d (elapsed-time 700) (client-ID hwaddr/time type 1 \
                 time 487659660 0050568208d1) (IA_NA IAID:234901590 T1:0 T2:0) (Client-FQDN) \
                 (vendor-class) (option-request DNS-search-list DNS-server \
                 vendor-specific-info Client-FQDN))\n"
            ),
            "{text}"
        );
        assert!(line(&gretap(&udp6_frame(&m))).ends_with(": dhcp6 solicit\n"));
    }

    #[test]
    fn nested_reply_relay_and_bad_lengths() {
        let mut ia_addr = IP6_A.to_vec();
        ia_addr.extend_from_slice(&[0, 0, 0, 100, 0, 0, 0, 200]);
        ia_addr.extend(opt(13, &[0, 2]));
        let mut ia = vec![0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        ia.extend(opt(5, &ia_addr));
        let mut m = vec![7, 0, 0, 1];
        m.extend(opt(3, &ia));
        m.extend(opt(24, b"\x07example\x03com\x00"));
        m.extend(opt(23, &IP6_B));
        m.extend(opt(8, &[1]));
        let mut relay = vec![13, 0];
        relay.extend_from_slice(&IP6_A);
        relay.extend_from_slice(&IP6_B);
        relay.extend(opt(9, &m));
        let v = verbose(1);
        let text = line_with(v, &gretap(&udp6_frame(&relay)));
        assert!(
            text.ends_with(
                "dhcp6 relay-reply (linkaddr=2001:db8::1 peeraddr=2001:db8::2 \
                 (relay-message (dhcp6 reply (xid=1 (IA_NA IAID:1 T1:2 T2:3 (IA_ADDR \
                 2001:db8::1 pltime:100 vltime:200 (status-code NoAddrsAvail))) \
                 (DNS-search-list example.com.) (DNS-server 2001:db8::2) (elapsed-time \
                 ?))))\n"
            ),
            "{text}"
        );
        // Relay messages inside relay messages stop at the depth bound.
        let mut deep = m.clone();
        for _ in 0..20 {
            let mut r = vec![12, 0];
            r.extend_from_slice(&IP6_A);
            r.extend_from_slice(&IP6_B);
            r.extend(opt(9, &deep));
            deep = r;
        }
        let text = line_with(v, &gretap(&udp6_frame(&deep)));
        assert!(text.matches("relay-fwd").count() <= usize::from(super::MAX_DEPTH));
        for o in all_options() {
            assert_one_frame(o, &gretap(&udp6_frame(&deep)));
        }
    }
}
