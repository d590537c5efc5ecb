//! DNS (port 53, also over TCP) and mDNS (5353) as tcpdump's `domain_print` shows
//! them (LLMNR, port 5355, tcpdump 4.99 leaves as UDP): a query's id, opcode, RD / CD
//! marks, unusual counts (`[1au]`) and questions (`A? example.com.`); a response's id, opcode, rcode
//! (extended by an OPT record), AA / RA / TC / AD marks, `an/ns/ar` counts and its
//! answers (A, AAAA, CNAME, NS, PTR, DNAME, MX, TXT, SRV, OPT by value, other types by
//! name); then the message length in parentheses. A record cut short ends in
//! `[|domain]`. `-v` adds each record's owner name and SOA data, `-vv` the question
//! of a response and the other sections.
//!
//! Names are followed through compression pointers only backwards, as tcpdump (and
//! BIND) require, so a loop is impossible, and printed with tcpdump's escapes for
//! bytes that are not printable ASCII (`^A`, `M-x`). One message prints at most its
//! length plus 1024 characters of names (tcpdump has no such bound: pointers let a
//! 1500-byte message print megabytes); past that it ends in `[|domain]`. It must never panic, read past
//! the captured bytes of the message, or allocate.

use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::line::{Line, be16_at, be32_at};

pub(super) const PORT_DNS: u16 = 53;
pub(super) const PORT_MDNS: u16 = 5353;

const HEADER_LEN: usize = 12;
const POINTER: u8 = 0xC0;
const EXTENDED_LABEL: u8 = 0x40;
/// tcpdump's `NS_MAXDNAME`: characters of a name printed before `..`.
const MAX_NAME: usize = 1025;
/// Characters of names one message may print beyond its own length.
const NAME_BUDGET_EXTRA: usize = 1024;

const T_A: u16 = 1;
const T_NS: u16 = 2;
const T_CNAME: u16 = 5;
const T_SOA: u16 = 6;
const T_PTR: u16 = 12;
const T_MX: u16 = 15;
const T_TXT: u16 = 16;
const T_AAAA: u16 = 28;
const T_SRV: u16 = 33;
const T_DNAME: u16 = 39;
const T_OPT: u16 = 41;
const C_IN: u16 = 1;
/// mDNS: the top bit of a question's class asks for a unicast answer, of a record's
/// class flushes caches.
const C_MDNS_BIT: u16 = 0x8000;

/// tcpdump's `ns_ops`, by opcode.
const OPCODES: [&str; 16] = [
    "",
    " inv_q",
    " stat",
    " op3",
    " notify",
    " update",
    " op6",
    " op7",
    " op8",
    " updateA",
    " updateD",
    " updateDA",
    " updateM",
    " updateMA",
    " zoneInit",
    " zoneRef",
];

/// tcpdump's `ns_type2str`.
fn type_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        22 => "NSAP",
        23 => "NSAP_PTR",
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        31 => "EID",
        32 => "NIMLOC",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        38 => "A6",
        39 => "DNAME",
        40 => "SINK",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        55 => "HIP",
        56 => "NINFO",
        57 => "RKEY",
        58 => "TALINK",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        62 => "CSYNC",
        99 => "SPF",
        100 => "UINFO",
        101 => "UID",
        102 => "GID",
        103 => "UNSPEC",
        104 => "NID",
        105 => "L32",
        106 => "L64",
        107 => "LP",
        108 => "EUI48",
        109 => "EUI64",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        253 => "MAILB",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        258 => "AVC",
        259 => "DOA",
        260 => "AMTRELAY",
        32768 => "TA",
        32769 => "DLV",
        _ => return None,
    })
}

/// tcpdump's `ns_rcode`, with a leading space ("" for NoError).
fn rcode_name(rcode: u16) -> Option<&'static str> {
    Some(match rcode {
        0 => "",
        1 => " FormErr",
        2 => " ServFail",
        3 => " NXDomain",
        4 => " NotImp",
        5 => " Refused",
        6 => " YXDomain",
        7 => " YXRRSet",
        8 => " NXRRSet",
        9 => " NotAuth",
        10 => " NotZone",
        16 => " BadVers",
        17 => " BadKey",
        18 => " BadTime",
        19 => " BadMode",
        20 => " BadName",
        21 => " BadAlg",
        22 => " BadTrunc",
        23 => " BadCookie",
        _ => return None,
    })
}

fn class_name(class: u16) -> Option<&'static str> {
    Some(match class {
        1 => "IN",
        3 => "CHAOS",
        4 => "HS",
        255 => "ANY",
        _ => return None,
    })
}

/// tcpdump's `ns_nskip`: the offset after the name at `at`, without following
/// pointers.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    let mut len = *msg.get(at)?;
    at += 1;
    while len != 0 {
        match len & POINTER {
            POINTER => return Some(at + 1),
            EXTENDED_LABEL => {
                // Only the bit-string label (RFC 2673) has a known length.
                if len & !POINTER != 1 {
                    return None;
                }
                let bits = match *msg.get(at)? {
                    0 => 256,
                    b => usize::from(b),
                };
                at += 1 + bits.div_ceil(8);
            }
            _ => at += usize::from(len),
        }
        len = *msg.get(at)?;
        at += 1;
    }
    Some(at)
}

impl<W: Write> Line<'_, W> {
    /// One character of a name or string as tcpdump's `fn_print_char` escapes it.
    pub(super) fn escaped_char(&mut self, c: u8) -> io::Result<()> {
        let mut c = c;
        if !c.is_ascii() {
            c &= 0x7F;
            self.out.write_all(b"M-")?;
        }
        if !(0x20..=0x7E).contains(&c) {
            c ^= 0x40;
            self.out.write_all(b"^")?;
        }
        self.out.write_all(&[c])
    }

    /// tcpdump's `nd_printn`: `n` characters from `at`; false if the message ends first
    /// or the message's name budget is spent.
    fn escaped(&mut self, msg: &[u8], at: usize, n: usize) -> io::Result<bool> {
        let Some(left) = self.name_budget.checked_sub(n) else {
            return Ok(false);
        };
        self.name_budget = left;
        let end = at.saturating_add(n);
        let avail = msg.get(at..end.min(msg.len())).unwrap_or_default();
        for &c in avail {
            self.escaped_char(c)?;
        }
        Ok(avail.len() == n)
    }

    /// tcpdump's `fqdn_print`: the name at `at`, and the offset after it where it was
    /// written (not where a pointer led), or `None` when it is cut short or bad.
    pub(super) fn dns_name(&mut self, msg: &[u8], at: usize) -> io::Result<Option<usize>> {
        let Some(&first) = msg.get(at) else {
            return Ok(None);
        };
        if first == 0 {
            self.out.write_all(b".")?;
            return Ok(Some(at + 1));
        }
        // Pointers may only go backwards: each one lowers this bound.
        let mut max_offset = at;
        let mut cp = at;
        let mut after: Option<usize> = None;
        let mut chars = 0usize;
        loop {
            let Some(&len) = msg.get(cp) else {
                return Ok(None);
            };
            if len == 0 {
                cp += 1;
                break;
            }
            match len & POINTER {
                POINTER => {
                    let Some(&lo) = msg.get(cp + 1) else {
                        return Ok(None);
                    };
                    after.get_or_insert(cp + 2);
                    let offset = usize::from(u16::from_be_bytes([len, lo]) & 0x3FFF);
                    if offset >= max_offset {
                        self.out.write_all(b"<BAD PTR>")?;
                        return Ok(None);
                    }
                    max_offset = offset;
                    cp = offset;
                    continue;
                }
                EXTENDED_LABEL => {
                    // Bit-string labels (RFC 2673, never deployed) are not printed.
                    let elt = len & !POINTER;
                    if elt != 1 {
                        write!(self.out, "<ELT {elt}>")?;
                    }
                    return Ok(None);
                }
                _ => {}
            }
            let l = usize::from(len);
            if chars + l <= MAX_NAME {
                if !self.escaped(msg, cp + 1, l)? {
                    return Ok(None);
                }
            } else if chars < MAX_NAME && !self.escaped(msg, cp + 1, MAX_NAME - chars)? {
                return Ok(None);
            }
            chars += l;
            cp += 1 + l;
            if chars <= MAX_NAME {
                self.out.write_all(b".")?;
            }
            chars += 1;
        }
        if chars > MAX_NAME {
            self.out.write_all(b"..")?;
        }
        Ok(Some(after.unwrap_or(cp)))
    }

    /// tcpdump's `ns_qprint`: ` A? name.`
    fn dns_question(&mut self, msg: &[u8], at: usize, mdns: bool) -> io::Result<Option<usize>> {
        let Some(end) = skip_name(msg, at) else {
            return Ok(None);
        };
        let (Some(qtype), Some(qclass)) = (be16_at(msg, end), be16_at(msg, end + 2)) else {
            return Ok(None);
        };
        match type_name(qtype) {
            Some(name) => write!(self.out, " {name}")?,
            None => write!(self.out, " Type{qtype}")?,
        }
        let class = if mdns { qclass & !C_MDNS_BIT } else { qclass };
        if class != C_IN {
            match class_name(class) {
                Some(name) => write!(self.out, " {name}")?,
                None => write!(self.out, " (Class {class})")?,
            }
        }
        if mdns {
            let unicast = qclass & C_MDNS_BIT != 0;
            self.out
                .write_all(if unicast { b" (QU)" } else { b" (QM)" })?;
        }
        self.out.write_all(b"? ")?;
        Ok(self.dns_name(msg, at)?.map(|after| after + 4))
    }

    /// tcpdump's `ns_rprint` without `-v`: ` TYPE data`.
    fn dns_record(&mut self, msg: &[u8], at: usize, mdns: bool) -> io::Result<RecordEnd> {
        let cp = if self.verbose() {
            self.out.write_all(b" ")?;
            match self.dns_name(msg, at)? {
                Some(cp) => Some(cp),
                None => return Ok(RecordEnd::Truncated),
            }
        } else {
            skip_name(msg, at)
        };
        let Some(cp) = cp else {
            return Ok(RecordEnd::Stop);
        };
        if msg.len() < cp + 10 {
            return Ok(RecordEnd::Stop);
        }
        let (Some(rtype), Some(rclass), Some(rdlen)) =
            (be16_at(msg, cp), be16_at(msg, cp + 2), be16_at(msg, cp + 8))
        else {
            return Ok(RecordEnd::Stop);
        };
        let class = if mdns { rclass & !C_MDNS_BIT } else { rclass };
        if class != C_IN && rtype != T_OPT {
            match class_name(class) {
                Some(name) => write!(self.out, " {name}")?,
                None => write!(self.out, " (Class {class})")?,
            }
        }
        if mdns && rclass & C_MDNS_BIT != 0 {
            self.out.write_all(b" (Cache flush)")?;
        }
        let rdata = cp + 10;
        let end = rdata + usize::from(rdlen);
        match type_name(rtype) {
            Some(name) => write!(self.out, " {name}")?,
            None => write!(self.out, " Type{rtype}")?,
        }
        if end > msg.len() {
            return Ok(RecordEnd::Truncated);
        }
        let ok = match rtype {
            T_A => match msg.get(rdata..rdata + 4) {
                Some(a) => {
                    write!(self.out, " {}", Ipv4Addr::new(a[0], a[1], a[2], a[3]))?;
                    true
                }
                None => false,
            },
            T_AAAA => match msg
                .get(rdata..rdata + 16)
                .and_then(|a| <[u8; 16]>::try_from(a).ok())
            {
                Some(a) => {
                    write!(self.out, " {}", Ipv6Addr::from(a))?;
                    true
                }
                None => false,
            },
            T_NS | T_CNAME | T_PTR | T_DNAME => {
                self.out.write_all(b" ")?;
                self.dns_name(msg, rdata)?.is_some()
            }
            T_MX => {
                self.out.write_all(b" ")?;
                match be16_at(msg, rdata) {
                    Some(pref) if self.dns_name(msg, rdata + 2)?.is_some() => {
                        write!(self.out, " {pref}")?;
                        true
                    }
                    _ => false,
                }
            }
            T_TXT => {
                let mut cp = rdata;
                let mut ok = true;
                while cp < end {
                    self.out.write_all(b" \"")?;
                    let Some(&n) = msg.get(cp) else {
                        ok = false;
                        break;
                    };
                    if !self.escaped(msg, cp + 1, usize::from(n))? {
                        ok = false;
                        break;
                    }
                    cp += 1 + usize::from(n);
                    self.out.write_all(b"\"")?;
                }
                ok
            }
            T_SRV => {
                self.out.write_all(b" ")?;
                match (
                    be16_at(msg, rdata),
                    be16_at(msg, rdata + 2),
                    be16_at(msg, rdata + 4),
                ) {
                    (Some(prio), Some(weight), Some(port))
                        if self.dns_name(msg, rdata + 6)?.is_some() =>
                    {
                        write!(self.out, ":{port} {prio} {weight}")?;
                        true
                    }
                    _ => false,
                }
            }
            T_SOA if self.verbose() => {
                self.out.write_all(b" ")?;
                match self.dns_name(msg, rdata)? {
                    Some(next) => {
                        self.out.write_all(b" ")?;
                        match self.dns_name(msg, next)? {
                            Some(numbers) if numbers + 20 <= msg.len() => {
                                for i in 0..5 {
                                    let v = be32_at(msg, numbers + 4 * i).unwrap_or_default();
                                    write!(self.out, " {v}")?;
                                }
                                true
                            }
                            _ => false,
                        }
                    }
                    None => false,
                }
            }
            T_OPT => {
                write!(self.out, " UDPsize={rclass}")?;
                if be16_at(msg, cp + 6).is_some_and(|f| f & 0x8000 != 0) {
                    self.out.write_all(b" DO")?;
                }
                // EDNS options are only shown by -vv and later tcpdump versions.
                true
            }
            _ => true,
        };
        Ok(if ok {
            RecordEnd::Next(end)
        } else {
            RecordEnd::Truncated
        })
    }

    /// `count` records from `cp` after `label`, comma separated; false if the message
    /// ends inside one (tcpdump's `goto trunc`).
    fn dns_section(
        &mut self,
        msg: &[u8],
        cp: &mut usize,
        count: u16,
        label: &[u8],
        mdns: bool,
    ) -> io::Result<bool> {
        if count == 0 {
            return Ok(true);
        }
        self.out.write_all(label)?;
        let mut left = count;
        while left > 0 {
            if left != count {
                if *cp >= msg.len() {
                    break;
                }
                self.out.write_all(b",")?;
            }
            match self.dns_record(msg, *cp, mdns)? {
                RecordEnd::Next(next) => *cp = next,
                RecordEnd::Stop => *cp = msg.len(),
                RecordEnd::Truncated => return Ok(false),
            }
            left -= 1;
        }
        Ok(left == 0)
    }

    /// `-vv`: the authority and additional sections, each only if bytes are left.
    fn dns_more_sections(
        &mut self,
        msg: &[u8],
        cp: &mut usize,
        ns: u16,
        ar: u16,
        mdns: bool,
    ) -> io::Result<bool> {
        for (count, label) in [(ns, &b" ns:"[..]), (ar, &b" ar:"[..])] {
            // Counted records the bytes never reach are a truncation too.
            let complete = if *cp < msg.len() {
                self.dns_section(msg, cp, count, label, mdns)?
            } else {
                count == 0
            };
            if !complete {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// A DNS message on UDP (or, `tcp`, behind its two-byte length); `len` is its
    /// length per the headers, `msg` what was captured of it.
    pub(super) fn dns(&mut self, msg: &[u8], len: usize, tcp: bool, mdns: bool) -> io::Result<()> {
        let msg = msg.get(..len).unwrap_or(msg);
        let (msg, len) = if tcp {
            if len < 2 {
                return write!(self.out, " [DNS over TCP: length {len} < 2] (invalid)");
            }
            let prefix = be16_at(msg, 0);
            match prefix {
                Some(p) if usize::from(p) == len - 2 => {
                    self.out.write_all(b" ")?;
                    (msg.get(2..).unwrap_or_default(), len - 2)
                }
                Some(p) => {
                    return write!(
                        self.out,
                        " [prefix length({p}) != length({})] (invalid)",
                        len - 2
                    );
                }
                None => return self.out.write_all(b" [|domain]"),
            }
        } else {
            (msg, len)
        };
        if len < HEADER_LEN {
            return write!(self.out, "domain [length {len} < {HEADER_LEN}] (invalid)");
        }
        // Compression pointers let a few bytes print a long name again and again;
        // tcpdump prints them all, spandump stops at [|domain] past this budget.
        self.name_budget = len + NAME_BUDGET_EXTRA;
        let (Some(id), Some(flags), Some(qd), Some(an), Some(ns), Some(ar)) = (
            be16_at(msg, 0),
            be16_at(msg, 2),
            be16_at(msg, 4),
            be16_at(msg, 6),
            be16_at(msg, 8),
            be16_at(msg, 10),
        ) else {
            return self.out.write_all(b" [|domain]");
        };
        let opcode = OPCODES[usize::from(flags >> 11 & 0xF)];
        if flags & 0x8000 != 0 {
            let rcode = extended_rcode(msg, flags, qd, an, ns, ar);
            write!(self.out, "{id}{opcode}")?;
            match rcode_name(rcode) {
                Some(name) => self.out.write_all(name.as_bytes())?,
                None => write!(self.out, " Rcode{rcode}")?,
            }
            for (bit, mark) in [(0x0400, "*"), (0x0200, "|"), (0x0020, "$")] {
                if bit == 0x0200 && flags & 0x0080 == 0 {
                    self.out.write_all(b"-")?;
                }
                if flags & bit != 0 {
                    self.out.write_all(mark.as_bytes())?;
                }
            }
            if qd != 1 {
                write!(self.out, " [{qd}q]")?;
            }
            let mut cp = HEADER_LEN;
            for i in 0..qd {
                if self.opts.verbose > 1 {
                    if i != 0 {
                        self.out.write_all(b",")?;
                    }
                    self.out.write_all(b" q:")?;
                    match self.dns_question(msg, cp, mdns)? {
                        Some(next) => cp = next,
                        None => return self.out.write_all(b" [|domain]"),
                    }
                    continue;
                }
                match skip_name(msg, cp) {
                    Some(end) => cp = end + 4,
                    None => return self.out.write_all(b" [|domain]"),
                }
            }
            write!(self.out, " {an}/{ns}/{ar}")?;
            if !self.dns_section(msg, &mut cp, an, b"", mdns)? {
                return self.out.write_all(b" [|domain]");
            }
            if self.opts.verbose > 1 && !self.dns_more_sections(msg, &mut cp, ns, ar, mdns)? {
                return self.out.write_all(b" [|domain]");
            }
        } else {
            write!(self.out, "{id}{opcode}")?;
            if flags & 0x0100 != 0 {
                self.out.write_all(b"+")?;
            }
            if flags & 0x0010 != 0 {
                self.out.write_all(b"%")?;
            }
            if flags & 0x06CF != 0 {
                write!(self.out, " [b2&3={flags:#x}]")?;
            }
            if flags >> 11 & 0xF == 1 {
                if qd != 0 {
                    write!(self.out, " [{qd}q]")?;
                }
                if an != 1 {
                    write!(self.out, " [{an}a]")?;
                }
            } else {
                if an != 0 {
                    write!(self.out, " [{an}a]")?;
                }
                if qd != 1 {
                    write!(self.out, " [{qd}q]")?;
                }
            }
            if ns != 0 {
                write!(self.out, " [{ns}n]")?;
            }
            if ar != 0 {
                write!(self.out, " [{ar}au]")?;
            }
            let mut cp = HEADER_LEN;
            let mut left = qd;
            while left > 0 {
                if left != qd && cp >= msg.len() {
                    break;
                }
                match self.dns_question(msg, cp, mdns)? {
                    Some(next) => cp = next,
                    None => return self.out.write_all(b" [|domain]"),
                }
                left -= 1;
            }
            if left > 0 {
                return self.out.write_all(b" [|domain]");
            }
            if self.opts.verbose > 1 {
                if !self.dns_section(msg, &mut cp, an, b" an:", mdns)? {
                    return self.out.write_all(b" [|domain]");
                }
                if !self.dns_more_sections(msg, &mut cp, ns, ar, mdns)? {
                    return self.out.write_all(b" [|domain]");
                }
            }
        }
        write!(self.out, " ({len})")
    }
}

/// How printing a resource record ended.
enum RecordEnd {
    Next(usize),
    /// tcpdump's `ns_rprint` returned the end of the captured bytes: stop quietly.
    Stop,
    Truncated,
}

/// The response code, with the upper bits an OPT record in the additional section
/// carries (tcpdump looks for it before printing, within the captured bytes).
fn extended_rcode(msg: &[u8], flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> u16 {
    let mut rcode = flags & 0xF;
    let mut cp = HEADER_LEN;
    for _ in 0..qd {
        match skip_name(msg, cp) {
            Some(end) if end + 4 < msg.len() => cp = end + 4,
            _ => return rcode,
        }
    }
    for _ in 0..u32::from(an) + u32::from(ns) {
        let Some(end) = skip_name(msg, cp) else {
            return rcode;
        };
        let Some(rdlen) = be16_at(msg, end + 8) else {
            return rcode;
        };
        cp = end + 10 + usize::from(rdlen);
    }
    for _ in 0..ar {
        let Some(end) = skip_name(msg, cp) else {
            return rcode;
        };
        let Some(rtype) = be16_at(msg, end) else {
            return rcode;
        };
        if rtype == T_OPT {
            if let Some(&ext) = msg.get(end + 4) {
                rcode |= u16::from(ext) << 4;
            }
            return rcode;
        }
        let Some(rdlen) = be16_at(msg, end + 8) else {
            return rcode;
        };
        cp = end + 10 + usize::from(rdlen);
    }
    rcode
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    fn dns_frame(sport: u16, dport: u16, msg: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(sport, dport)
            .write(&mut frame, msg)
            .unwrap();
        frame
    }

    /// A query like the Kube-OVN guide's (`16025+ [1au] AAAA? kube-ovn.io.`), with EDNS.
    #[test]
    fn query_with_edns() {
        let mut q = vec![0x3E, 0x99, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        q.extend_from_slice(b"\x08kube-ovn\x02io\x00\x00\x1c\x00\x01");
        q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        let text = line(&gretap(&dns_frame(50472, 53, &q)));
        assert!(
            text.ends_with(": 16025+ [1au] AAAA? kube-ovn.io. (40)\n"),
            "{text}"
        );
    }

    /// 100 answers whose owner and target both point at a 60-character name: tcpdump
    /// -v would print 12 000 characters of names; the budget cuts it.
    #[test]
    fn pointer_amplification_is_cut() {
        let mut r = vec![0, 9, 0x81, 0x80, 0, 1, 0, 100, 0, 0, 0, 0];
        for _ in 0..6 {
            r.push(9);
            r.extend_from_slice(b"abcdefghi");
        }
        r.extend_from_slice(&[0, 0, 5, 0, 1]);
        for _ in 0..100 {
            r.extend_from_slice(&[0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xC0, 12]);
        }
        let frame = dns_frame(53, 50472, &r);
        let v = verbose(1);
        let text = line_with(v, &gretap(&frame));
        assert!(text.ends_with(" [|domain]\n"), "{text}");
        assert!(text.len() < r.len() + 1024 + 2000, "{} bytes", text.len());
        assert!(text.len() <= crate::sink::text::max_text_len(frame.len()));
    }

    #[test]
    fn nxdomain_response_and_pointer_loops() {
        // id 34511, QR AA RD, NXDomain, 1 question, 0/1/0 with a cut-off authority.
        let mut r = vec![0x86, 0xCF, 0x85, 0x03, 0, 1, 0, 0, 0, 1, 0, 0];
        r.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
        let text = line(&gretap(&dns_frame(53, 50472, &r)));
        assert!(text.ends_with(": 34511 NXDomain*- 0/1/0 (19)\n"), "{text}");
        // A CNAME whose target points at itself: refused, never followed.
        let mut r = vec![0, 7, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0];
        r.extend_from_slice(&[0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xC0, 24]);
        let text = line(&gretap(&dns_frame(53, 50472, &r)));
        assert!(
            text.ends_with(" 1/0/0 CNAME <BAD PTR> [|domain]\n"),
            "{text}"
        );
    }
}
