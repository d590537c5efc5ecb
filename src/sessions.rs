//! The mirror sessions seen so far: one entry per sender and session, numbered in
//! first-seen order, with what a person needs to tell them apart, and counters.
//!
//! An entry is keyed by [`SessionKey`]: outer source, encapsulation (GRE and ERSPAN
//! received in UDP, RFC 8086, apart from the same as IP protocol 47: `gre-udp`), GRE
//! key or ERSPAN session ID, payload kind and, for ERSPAN type III, the direction.
//! Direction is part of the key because the D bit is a property of the sender's
//! session configuration (Linux `erspan_dir`, OVS `erspan_dir`), and the JSON summary
//! reports one direction per session; a type III session that mirrors both ways
//! becomes two entries (its sequence numbers still share one counter: [`crate::seq`]
//! finds that out itself).
//!
//! The table is bounded: past [`SessionTable::new`]'s limit a new session is counted
//! and never allocated, and its packets are [`Observed::OverLimit`], which the caller
//! still writes (to a catch-all interface). The table never drops a frame.
//!
//! Its [`SessionNo`]s also name the sessions for [`crate::seq::SeqTracker`] (a session
//! over the limit has none, so its sequence numbers are not tracked);
//! [`SessionTable::update_seq`] brings the sequence counts back into the entries.
//!
//! The common case, a packet of one of the last few sessions seen, costs a few packed
//! key comparisons (three integers each) and builds no [`SessionKey`]; otherwise one
//! hash lookup.

use crate::seq::{SeqCounts, SeqTracker};
use crate::wire::decap::{Decapsulated, Encap, PayloadKind};
use crate::wire::erspan::Direction;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

/// Default bound on the number of sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 4096;

/// The encapsulation of a session, without the per-packet header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EncapKind {
    Gre,
    ErspanI,
    ErspanII,
    ErspanIII,
    Vxlan,
    Geneve,
}

impl EncapKind {
    pub fn of(encap: &Encap) -> EncapKind {
        match encap {
            Encap::Gre => EncapKind::Gre,
            Encap::ErspanI => EncapKind::ErspanI,
            Encap::ErspanII(_) => EncapKind::ErspanII,
            Encap::ErspanIII(_) => EncapKind::ErspanIII,
            Encap::Vxlan(_) => EncapKind::Vxlan,
            Encap::Geneve(_) => EncapKind::Geneve,
        }
    }

    /// Short name, as [`Encap::name`].
    pub fn name(self) -> &'static str {
        match self {
            EncapKind::Gre => "gre",
            EncapKind::ErspanI => "erspan-i",
            EncapKind::ErspanII => "erspan-ii",
            EncapKind::ErspanIII => "erspan-iii",
            EncapKind::Vxlan => "vxlan",
            EncapKind::Geneve => "geneve",
        }
    }

    /// Short name of the encapsulation as received: GRE and ERSPAN that came in UDP
    /// (RFC 8086 GRE-in-UDP) are `gre-udp`, `erspan-ii-udp`, ...
    pub fn name_over(self, over_udp: bool) -> &'static str {
        match (self, over_udp) {
            (EncapKind::Gre, true) => "gre-udp",
            (EncapKind::ErspanI, true) => "erspan-i-udp",
            (EncapKind::ErspanII, true) => "erspan-ii-udp",
            (EncapKind::ErspanIII, true) => "erspan-iii-udp",
            (kind, _) => kind.name(),
        }
    }

    fn long_name_over(self, over_udp: bool) -> &'static str {
        match (self, over_udp) {
            (EncapKind::Gre, true) => "GRE-in-UDP",
            (EncapKind::ErspanI, true) => "ERSPAN type I in GRE-in-UDP",
            (EncapKind::ErspanII, true) => "ERSPAN type II in GRE-in-UDP",
            (EncapKind::ErspanIII, true) => "ERSPAN type III in GRE-in-UDP",
            (kind, _) => kind.long_name(),
        }
    }

    fn long_name(self) -> &'static str {
        match self {
            EncapKind::Gre => "GRE",
            EncapKind::ErspanI => "ERSPAN type I",
            EncapKind::ErspanII => "ERSPAN type II",
            EncapKind::ErspanIII => "ERSPAN type III",
            EncapKind::Vxlan => "VXLAN",
            EncapKind::Geneve => "GENEVE",
        }
    }
}

/// What makes two packets the same session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionKey {
    /// Outer source address (the sender).
    pub source: IpAddr,
    pub encap: EncapKind,
    /// GRE or ERSPAN received in UDP (RFC 8086), not as IP protocol 47: another session
    /// than the same key sent as plain GRE.
    pub over_udp: bool,
    /// GRE key (plain GRE, and type I when a sender adds one), ERSPAN session ID
    /// (types II and III) or VNI (VXLAN, GENEVE).
    pub id: Option<u32>,
    pub payload: PayloadKind,
    /// ERSPAN type III only.
    pub direction: Option<Direction>,
}

impl SessionKey {
    /// The session of a packet from `source`.
    pub fn new(source: IpAddr, d: &Decapsulated<'_>) -> SessionKey {
        let (id, direction) = id_and_direction(d);
        SessionKey {
            source,
            encap: EncapKind::of(&d.encap),
            over_udp: d.gre.over_udp,
            id,
            payload: d.kind,
            direction,
        }
    }

    /// The details of the session as its packet with header `encap` shows them (see
    /// [`Session::description`]).
    pub fn description(&self, encap: &Encap) -> String {
        let (index, hwid, vlan) = match encap {
            Encap::ErspanII(h) => (Some(h.index.get()), None, Some(h.vlan.get())),
            Encap::ErspanIII(h) => (None, Some(h.hw_id), Some(h.vlan.get())),
            _ => (None, None, None),
        };
        describe(self, index, hwid, vlan)
    }

    /// A short name that tells entries apart, e.g. `gre 198.51.100.1 key 99`,
    /// `erspan-ii 198.51.100.1 sid 77`, `erspan-iii 198.51.100.1 sid 200 egress`,
    /// `gre 198.51.100.1 ipv4` (L3 GRE, no key), `gre-udp 198.51.100.1 key 5`
    /// (GRE-in-UDP). Fit for a pcapng `if_name`.
    pub fn label(&self) -> String {
        let mut s = format!("{} {}", self.encap_name(), self.source);
        if let Some(id) = self.id {
            let what = match self.encap {
                EncapKind::Gre | EncapKind::ErspanI => "key",
                EncapKind::ErspanII | EncapKind::ErspanIII => "sid",
                EncapKind::Vxlan | EncapKind::Geneve => "vni",
            };
            let _ = write!(s, " {what} {id}");
        }
        if let Some(direction) = self.direction {
            let _ = write!(s, " {}", direction.name());
        }
        if let Some(payload) = payload_name(self.payload) {
            let _ = write!(s, " {payload}");
        }
        s
    }
}

impl SessionKey {
    /// The encapsulation's short name, `-udp` added for GRE-in-UDP (see
    /// [`EncapKind::name_over`]).
    pub fn encap_name(&self) -> &'static str {
        self.encap.name_over(self.over_udp)
    }
}

/// Two fixed-size writes: std's SipHash costs per write, and the derived `Hash` makes
/// one per field.
impl Hash for SessionKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let address = match self.source {
            IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
            IpAddr::V6(a) => u128::from(a),
        };
        let rest = u64::from(self.id.unwrap_or(0))
            | u64::from(self.id.is_some()) << 32
            | (self.source.is_ipv4() as u64) << 33
            | (self.encap as u64) << 34
            | (self.payload as u64) << 37
            | (self.direction.map_or(0, |d| d as u64 + 1)) << 40
            | (self.over_udp as u64) << 42;
        state.write_u128(address);
        state.write_u64(rest);
    }
}

/// The details of a session whose last header had these fields (see
/// [`Session::description`]).
fn describe(key: &SessionKey, index: Option<u32>, hwid: Option<u8>, vlan: Option<u16>) -> String {
    let mut s = format!(
        "{} from {}",
        key.encap.long_name_over(key.over_udp),
        key.source
    );
    match key.encap {
        EncapKind::Gre | EncapKind::ErspanI => match key.id {
            Some(k) => {
                let _ = write!(s, ", key {k}");
            }
            None if key.encap == EncapKind::Gre => s.push_str(", no key"),
            None => {}
        },
        EncapKind::ErspanII | EncapKind::ErspanIII => {
            if let Some(id) = key.id {
                let _ = write!(s, ", session {id}");
            }
        }
        EncapKind::Vxlan | EncapKind::Geneve => {
            if let Some(id) = key.id {
                let _ = write!(s, ", VNI {id}");
            }
        }
    }
    if let Some(direction) = key.direction {
        let _ = write!(s, ", {}", direction.name());
    }
    // OVS reads `erspan_idx` as hexadecimal (spec §3.3): show both readings.
    if let Some(index) = index {
        let _ = write!(s, ", index {index} ({index:#x})");
    }
    if let Some(hwid) = hwid {
        let _ = write!(s, ", hwid {hwid}");
    }
    if let Some(vlan) = vlan {
        let _ = write!(s, ", VLAN {vlan}");
    }
    if let Some(payload) = payload_name(key.payload) {
        let _ = write!(s, ", {payload} payload");
    }
    s
}

/// Name of a payload that is not Ethernet (the usual case needs no mention).
fn payload_name(kind: PayloadKind) -> Option<&'static str> {
    match kind {
        PayloadKind::Ethernet => None,
        PayloadKind::Ipv4 => Some("ipv4"),
        PayloadKind::Ipv6 => Some("ipv6"),
        PayloadKind::Arp => Some("arp"),
    }
}

/// A session's number in first-seen order, from 0: stable for the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionNo(u32);

impl SessionNo {
    pub fn get(self) -> u32 {
        self.0
    }

    fn index(self) -> usize {
        self.0 as usize
    }
}

/// Where a packet's session stands in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    /// The first packet of a new session (time to describe it, e.g. a pcapng IDB).
    New(SessionNo),
    Seen(SessionNo),
    /// A new session over the bound: counted, not recorded.
    OverLimit,
}

impl Observed {
    pub fn session(self) -> Option<SessionNo> {
        match self {
            Observed::New(no) | Observed::Seen(no) => Some(no),
            Observed::OverLimit => None,
        }
    }
}

/// One mirror session and its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub no: SessionNo,
    pub key: SessionKey,
    /// ERSPAN type II Index, last seen.
    pub index: Option<u32>,
    /// ERSPAN type III Hw ID, last seen.
    pub hwid: Option<u8>,
    /// ERSPAN VLAN field (types II and III), last seen.
    pub vlan: Option<u16>,
    /// Packets decapsulated, kept by the filter or not.
    pub packets: u64,
    /// Inner frame bytes as on the wire (before any snap length).
    pub bytes: u64,
    /// Packets the filter kept (as told by [`SessionTable::record_written`]).
    pub packets_written: u64,
    /// Sequence counts as of the last [`SessionTable::update_seq`]; `seq.lost` is the
    /// session's `seq_lost`.
    pub seq: SeqCounts,
}

impl Session {
    fn new(no: SessionNo, key: SessionKey) -> Session {
        Session {
            no,
            key,
            index: None,
            hwid: None,
            vlan: None,
            packets: 0,
            bytes: 0,
            packets_written: 0,
            seq: SeqCounts::default(),
        }
    }

    /// GRE key (plain GRE and type I).
    pub fn gre_key(&self) -> Option<u32> {
        match self.key.encap {
            EncapKind::Gre | EncapKind::ErspanI => self.key.id,
            _ => None,
        }
    }

    /// VXLAN or GENEVE virtual network identifier.
    pub fn vni(&self) -> Option<u32> {
        match self.key.encap {
            EncapKind::Vxlan | EncapKind::Geneve => self.key.id,
            _ => None,
        }
    }

    /// ERSPAN session ID (types II and III).
    pub fn erspan_session(&self) -> Option<u16> {
        match self.key.encap {
            EncapKind::ErspanII | EncapKind::ErspanIII => self.key.id.map(|id| id as u16),
            _ => None,
        }
    }

    /// ERSPAN type III direction.
    pub fn direction(&self) -> Option<Direction> {
        self.key.direction
    }

    /// See [`SessionKey::label`].
    pub fn label(&self) -> String {
        self.key.label()
    }

    /// The details, e.g. `ERSPAN type II from 198.51.100.1, session 77, index 16
    /// (0x10), VLAN 0`; fit for a pcapng `if_description`.
    pub fn description(&self) -> String {
        describe(&self.key, self.index, self.hwid, self.vlan)
    }

    fn count(&mut self, d: &Decapsulated<'_>) {
        self.packets += 1;
        self.bytes += d.orig_len as u64;
        match &d.encap {
            Encap::ErspanII(h) => {
                self.index = Some(h.index.get());
                self.vlan = Some(h.vlan.get());
            }
            Encap::ErspanIII(h) => {
                self.hwid = Some(h.hw_id);
                self.vlan = Some(h.vlan.get());
            }
            _ => {}
        }
    }
}

/// The id (GRE key, ERSPAN session, VNI) and ERSPAN III direction that tell a packet's
/// session apart from the others of its sender and encapsulation.
#[inline]
fn id_and_direction(d: &Decapsulated<'_>) -> (Option<u32>, Option<Direction>) {
    match &d.encap {
        Encap::Gre | Encap::ErspanI => (d.gre.key, None),
        Encap::ErspanII(h) => (Some(u32::from(h.session.get())), None),
        Encap::ErspanIII(h) => (Some(u32::from(h.session.get())), Some(h.direction)),
        Encap::Vxlan(_) | Encap::Geneve(_) => (d.encap.vni().map(|v| v.get()), None),
    }
}

/// A [`SessionKey`] packed into three words, so that telling two keys apart is three
/// integer compares instead of a field-by-field walk through enums and options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct PackedKey {
    /// The source address (an IPv4 address in the low 32 bits).
    addr: u128,
    /// Bit 42: received in UDP (GRE-in-UDP); bit 41: IPv6; bits 39-40: direction;
    /// 36-38: payload; 33-35: encapsulation; bit 32: an id is present; 0-31: the id.
    rest: u64,
}

impl PackedKey {
    #[cfg(test)]
    fn of(key: &SessionKey) -> PackedKey {
        let packed = PackedKey::pack(key.source, key.encap, key.id, key.payload, key.direction);
        packed.over_udp(key.over_udp)
    }

    /// The packed key of a packet from `source`: [`SessionKey::new`] without building it.
    #[inline]
    fn of_packet(source: IpAddr, d: &Decapsulated<'_>) -> PackedKey {
        let (id, direction) = id_and_direction(d);
        PackedKey::pack(source, EncapKind::of(&d.encap), id, d.kind, direction)
            .over_udp(d.gre.over_udp)
    }

    /// Bit 42: GRE or ERSPAN received in UDP (RFC 8086).
    #[inline]
    fn over_udp(mut self, over_udp: bool) -> PackedKey {
        self.rest |= u64::from(over_udp) << 42;
        self
    }

    #[inline]
    fn pack(
        source: IpAddr,
        encap: EncapKind,
        id: Option<u32>,
        payload: PayloadKind,
        direction: Option<Direction>,
    ) -> PackedKey {
        let (addr, v6) = match source {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 0),
            IpAddr::V6(a) => (u128::from(a), 1),
        };
        let id = id.map_or(0, |id| 1 << 32 | u64::from(id));
        let direction = match direction {
            None => 0,
            Some(Direction::Ingress) => 1,
            Some(Direction::Egress) => 2,
        };
        PackedKey {
            addr,
            rest: id | (encap as u64) << 33 | (payload as u64) << 36 | direction << 39 | v6 << 41,
        }
    }
}

/// The last few sessions found, scanned before the hash map: a source's packets
/// interleave a handful of sessions, and comparing a few packed keys costs less than
/// hashing one (the map's hasher is std's, which resists crafted keys but is not fast).
#[derive(Clone, Copy, Debug, Default)]
struct Recent {
    keys: [PackedKey; Recent::LEN],
    nos: [u32; Recent::LEN],
    len: usize,
    next: usize,
}

impl Recent {
    const LEN: usize = 8;

    #[inline]
    fn find(&self, key: &PackedKey) -> Option<u32> {
        let i = self.keys[..self.len].iter().position(|k| k == key)?;
        Some(self.nos[i])
    }

    fn remember(&mut self, key: PackedKey, no: u32) {
        self.keys[self.next] = key;
        self.nos[self.next] = no;
        self.next = (self.next + 1) % Recent::LEN;
        self.len = (self.len + 1).min(Recent::LEN);
    }
}

/// The sessions seen so far, bounded: see the module documentation.
#[derive(Clone, Debug)]
pub struct SessionTable {
    max_sessions: usize,
    sessions: Vec<Session>,
    index: HashMap<SessionKey, SessionNo>,
    recent: Recent,
    over_limit_packets: u64,
    over_limit_bytes: u64,
}

impl Default for SessionTable {
    fn default() -> SessionTable {
        SessionTable::new(DEFAULT_MAX_SESSIONS)
    }
}

impl SessionTable {
    /// A table of at most `max_sessions` entries (and at most 2^32).
    pub fn new(max_sessions: usize) -> SessionTable {
        SessionTable {
            max_sessions: max_sessions.min(u32::MAX as usize),
            sessions: Vec::new(),
            index: HashMap::new(),
            recent: Recent::default(),
            over_limit_packets: 0,
            over_limit_bytes: 0,
        }
    }

    /// Counts one decapsulated packet from `source` in its session
    /// ([`SessionKey::new`]), `d.orig_len` bytes, and updates the session's last-seen
    /// fields.
    #[inline]
    pub fn observe(&mut self, source: IpAddr, d: &Decapsulated<'_>) -> Observed {
        let packed = PackedKey::of_packet(source, d);
        if let Some(no) = self.recent.find(&packed) {
            self.sessions[no as usize].count(d);
            return Observed::Seen(SessionNo(no));
        }
        self.observe_slow(packed, SessionKey::new(source, d), d)
    }

    /// [`Self::observe`] past the recent cache: the hash map, or a new session.
    fn observe_slow(
        &mut self,
        packed: PackedKey,
        key: SessionKey,
        d: &Decapsulated<'_>,
    ) -> Observed {
        let observed = match self.index.get(&key) {
            Some(&no) => Observed::Seen(no),
            None if self.sessions.len() >= self.max_sessions => {
                self.over_limit_packets += 1;
                self.over_limit_bytes += d.orig_len as u64;
                return Observed::OverLimit;
            }
            None => {
                let no = SessionNo(self.sessions.len() as u32);
                self.sessions.push(Session::new(no, key));
                self.index.insert(key, no);
                Observed::New(no)
            }
        };
        if let Some(no) = observed.session() {
            self.sessions[no.index()].count(d);
            self.recent.remember(packed, no.0);
        }
        observed
    }

    /// Counts a packet of session `no` that the filter kept.
    pub fn record_written(&mut self, no: SessionNo) {
        if let Some(session) = self.sessions.get_mut(no.index()) {
            session.packets_written += 1;
        }
    }

    /// Copies each session's sequence counts from `seq`, which was fed with this
    /// table's [`SessionNo`]s (call before reporting).
    pub fn update_seq(&mut self, seq: &SeqTracker) {
        for report in seq.sessions() {
            if let Some(session) = self.sessions.get_mut(report.session as usize) {
                session.seq = report.counts;
            }
        }
    }

    pub fn get(&self, no: SessionNo) -> Option<&Session> {
        self.sessions.get(no.index())
    }

    /// The entry of `key`, if recorded.
    pub fn find(&self, key: &SessionKey) -> Option<&Session> {
        self.get(*self.index.get(key)?)
    }

    /// The sessions in first-seen order.
    pub fn as_slice(&self) -> &[Session] {
        &self.sessions
    }

    /// The sessions in first-seen order.
    pub fn iter(&self) -> impl Iterator<Item = &Session> + '_ {
        self.sessions.iter()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Packets of sessions that did not fit the table.
    pub fn over_limit_packets(&self) -> u64 {
        self.over_limit_packets
    }

    /// Inner frame bytes of those packets.
    pub fn over_limit_bytes(&self) -> u64 {
        self.over_limit_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq::SeqSpace;
    use crate::wire::decap::decapsulate_gre;

    fn source() -> IpAddr {
        "198.51.100.1".parse().unwrap()
    }

    fn gre(flags: u16, proto: u16, opts: &[u32], rest: &[u8]) -> Vec<u8> {
        let mut p = flags.to_be_bytes().to_vec();
        p.extend_from_slice(&proto.to_be_bytes());
        for o in opts {
            p.extend_from_slice(&o.to_be_bytes());
        }
        p.extend_from_slice(rest);
        p
    }

    fn with_frame(mut header: Vec<u8>, frame_len: usize) -> Vec<u8> {
        header.extend(std::iter::repeat_n(0u8, frame_len));
        header
    }

    /// OVN `mirror-add m gre 99` (spec §3.3): K, key 99, 0x6558.
    fn gretap_key(key: u32, frame_len: usize) -> Vec<u8> {
        with_frame(gre(0x2000, 0x6558, &[key], &[]), frame_len)
    }

    /// ERSPAN II (S, 0x88BE): VLAN 23, session `sid`, index `index`.
    fn erspan_ii(sid: u16, index: u32, seq: u32) -> Vec<u8> {
        let w0 = 0x1000_0000 | (23 << 16) | u32::from(sid);
        let mut body = w0.to_be_bytes().to_vec();
        body.extend_from_slice(&index.to_be_bytes());
        with_frame(gre(0x1000, 0x88BE, &[seq], &body), 60)
    }

    /// ERSPAN III (S, 0x22EB): session `sid`, hwid 5, `egress` sets D.
    fn erspan_iii(sid: u16, egress: bool) -> Vec<u8> {
        let w0 = 0x2000_0000 | (10 << 16) | u32::from(sid);
        let mut body = w0.to_be_bytes().to_vec();
        body.extend_from_slice(&[0, 0, 0, 1, 0, 0]);
        let flags: u16 = (5 << 4) | if egress { 0x0008 } else { 0 };
        body.extend_from_slice(&flags.to_be_bytes());
        with_frame(gre(0x1000, 0x22EB, &[7], &body), 60)
    }

    fn observe(t: &mut SessionTable, packet: &[u8]) -> Observed {
        let d = decapsulate_gre(packet, packet.len()).unwrap();
        t.observe(source(), &d)
    }

    fn key_of(packet: &[u8]) -> SessionKey {
        SessionKey::new(source(), &decapsulate_gre(packet, packet.len()).unwrap())
    }

    #[test]
    fn labels() {
        let cases: [(Vec<u8>, &str); 7] = [
            (
                erspan_iii(200, false),
                "erspan-iii 198.51.100.1 sid 200 ingress",
            ),
            (
                erspan_iii(200, true),
                "erspan-iii 198.51.100.1 sid 200 egress",
            ),
            (gretap_key(99, 60), "gre 198.51.100.1 key 99"),
            (erspan_ii(77, 0, 1), "erspan-ii 198.51.100.1 sid 77"),
            (with_frame(gre(0, 0x6558, &[], &[]), 60), "gre 198.51.100.1"),
            (
                with_frame(gre(0, 0x88BE, &[], &[]), 60),
                "erspan-i 198.51.100.1",
            ),
            (gre(0, 0x0800, &[], &[0x45; 20]), "gre 198.51.100.1 ipv4"),
        ];
        for (packet, label) in cases {
            assert_eq!(key_of(&packet).label(), label);
        }
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        let p = gretap_key(1, 60);
        let key = SessionKey::new(v6, &decapsulate_gre(&p, p.len()).unwrap());
        assert_eq!(key.label(), "gre 2001:db8::7 key 1");
    }

    /// The recent cache compares packed keys: two packets pack alike exactly when their
    /// session keys are equal, and packing a packet equals packing its key.
    #[test]
    fn packed_keys_tell_sessions_apart_as_keys_do() {
        let packets = [
            erspan_iii(200, false),
            erspan_iii(200, true),
            erspan_iii(201, true),
            gretap_key(99, 60),
            gretap_key(98, 60),
            erspan_ii(99, 0, 1),
            with_frame(gre(0, 0x6558, &[], &[]), 60),
            with_frame(gre(0, 0x88BE, &[], &[]), 60),
            gre(0, 0x0800, &[], &[0x45; 20]),
            gre(0, 0x86DD, &[], &[0x60; 40]),
        ];
        let sources: [IpAddr; 3] = [
            source(),
            "198.51.100.2".parse().unwrap(),
            "2001:db8::c633:6401".parse().unwrap(),
        ];
        let mut seen = Vec::new();
        for source in sources {
            for (p, over_udp) in packets.iter().flat_map(|p| [(p, false), (p, true)]) {
                let mut d = decapsulate_gre(p, p.len()).unwrap();
                d.gre.over_udp = over_udp;
                let key = SessionKey::new(source, &d);
                let packed = PackedKey::of_packet(source, &d);
                assert_eq!(packed, PackedKey::of(&key), "{}", key.label());
                seen.push((key, packed));
            }
        }
        for (a, pa) in &seen {
            for (b, pb) in &seen {
                assert_eq!(a == b, pa == pb, "{} vs {}", a.label(), b.label());
            }
        }
    }

    #[test]
    fn descriptions() {
        let mut t = SessionTable::default();
        observe(&mut t, &erspan_ii(10, 0x10, 1));
        observe(&mut t, &erspan_iii(200, true));
        observe(&mut t, &gretap_key(99, 60));
        observe(&mut t, &with_frame(gre(0, 0x6558, &[], &[]), 60));
        observe(&mut t, &gre(0, 0x86DD, &[], &[0x60; 40]));
        let descriptions: Vec<_> = t.iter().map(Session::description).collect();
        assert_eq!(
            descriptions,
            [
                "ERSPAN type II from 198.51.100.1, session 10, index 16 (0x10), VLAN 23",
                "ERSPAN type III from 198.51.100.1, session 200, egress, hwid 5, VLAN 10",
                "GRE from 198.51.100.1, key 99",
                "GRE from 198.51.100.1, no key",
                "GRE from 198.51.100.1, no key, ipv6 payload",
            ]
        );
    }

    #[test]
    fn first_seen_order_and_counters() {
        let mut t = SessionTable::default();
        let a = erspan_ii(77, 1, 1);
        let b = gretap_key(99, 100);
        assert_eq!(observe(&mut t, &a), Observed::New(SessionNo(0)));
        assert_eq!(observe(&mut t, &a), Observed::Seen(SessionNo(0)));
        assert_eq!(observe(&mut t, &b), Observed::New(SessionNo(1)));
        // Back to the first after another.
        assert_eq!(
            observe(&mut t, &erspan_ii(77, 2, 2)),
            Observed::Seen(SessionNo(0))
        );
        assert_eq!(observe(&mut t, &b), Observed::Seen(SessionNo(1)));
        t.record_written(SessionNo(1));
        let first = t.get(SessionNo(0)).unwrap();
        assert_eq!(first.packets, 3);
        assert_eq!(first.bytes, 180);
        assert_eq!(first.index, Some(2), "last seen");
        assert_eq!(first.vlan, Some(23));
        assert_eq!(first.erspan_session(), Some(77));
        assert_eq!(first.gre_key(), None);
        assert_eq!(first.packets_written, 0);
        let second = t.get(SessionNo(1)).unwrap();
        assert_eq!(
            (second.packets, second.bytes, second.packets_written),
            (2, 200, 1)
        );
        assert_eq!(second.gre_key(), Some(99));
        assert_eq!(t.len(), 2);
        assert_eq!(t.find(&key_of(&b)).unwrap().no, SessionNo(1));
    }

    #[test]
    fn many_interleaved_sessions_keep_their_numbers() {
        // More sessions than the recent-lookup cache holds, round robin.
        let mut t = SessionTable::default();
        for round in 0..3 {
            for key in 0..20 {
                let observed = observe(&mut t, &gretap_key(key, 60));
                let expected = if round == 0 {
                    Observed::New(SessionNo(key))
                } else {
                    Observed::Seen(SessionNo(key))
                };
                assert_eq!(observed, expected);
            }
        }
        assert!(
            t.iter()
                .all(|s| s.packets == 3 && s.gre_key() == Some(s.no.get()))
        );
    }

    #[test]
    fn type_iii_directions_are_two_sessions() {
        let mut t = SessionTable::default();
        assert_eq!(
            observe(&mut t, &erspan_iii(200, false)),
            Observed::New(SessionNo(0))
        );
        assert_eq!(
            observe(&mut t, &erspan_iii(200, true)),
            Observed::New(SessionNo(1))
        );
        let directions: Vec<_> = t
            .iter()
            .map(|s| s.direction().map(Direction::name))
            .collect();
        assert_eq!(directions, [Some("ingress"), Some("egress")]);
        assert_eq!(t.get(SessionNo(0)).unwrap().hwid, Some(5));
    }

    #[test]
    fn sources_and_payloads_separate_sessions() {
        let mut t = SessionTable::default();
        let p = gretap_key(5, 60);
        let d = decapsulate_gre(&p, p.len()).unwrap();
        let other: IpAddr = "203.0.113.9".parse().unwrap();
        t.observe(source(), &d);
        t.observe(other, &d);
        let l3 = gre(0x2000, 0x0800, &[5], &[0x45; 20]);
        observe(&mut t, &l3);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn gre_in_udp_is_a_session_apart_from_plain_gre() {
        let mut t = SessionTable::default();
        let p = gretap_key(5, 60);
        let plain = decapsulate_gre(&p, p.len()).unwrap();
        let mut in_udp = plain;
        in_udp.gre.over_udp = true;
        let (k_plain, k_udp) = (
            SessionKey::new(source(), &plain),
            SessionKey::new(source(), &in_udp),
        );
        assert_ne!(k_plain, k_udp);
        assert_eq!(t.observe(source(), &plain), Observed::New(SessionNo(0)));
        assert_eq!(t.observe(source(), &in_udp), Observed::New(SessionNo(1)));
        assert_eq!(t.observe(source(), &in_udp), Observed::Seen(SessionNo(1)));
        assert_eq!(k_plain.label(), "gre 198.51.100.1 key 5");
        assert_eq!(k_udp.label(), "gre-udp 198.51.100.1 key 5");
        assert_eq!(
            t.get(SessionNo(1)).unwrap().description(),
            "GRE-in-UDP from 198.51.100.1, key 5"
        );
        assert_eq!(t.get(SessionNo(1)).unwrap().gre_key(), Some(5));
        let e = erspan_ii(77, 0, 1);
        let mut d = decapsulate_gre(&e, e.len()).unwrap();
        d.gre.over_udp = true;
        assert_eq!(
            SessionKey::new(source(), &d).label(),
            "erspan-ii-udp 198.51.100.1 sid 77"
        );
    }

    #[test]
    fn over_the_bound_is_counted_not_recorded() {
        let mut t = SessionTable::new(3);
        for key in 0..3 {
            assert!(matches!(
                observe(&mut t, &gretap_key(key, 60)),
                Observed::New(_)
            ));
        }
        assert_eq!(observe(&mut t, &gretap_key(3, 60)), Observed::OverLimit);
        assert_eq!(observe(&mut t, &gretap_key(3, 60)).session(), None);
        assert_eq!(t.len(), 3);
        assert_eq!(t.over_limit_packets(), 2);
        assert_eq!(t.over_limit_bytes(), 120);
        // Known sessions still count.
        assert_eq!(
            observe(&mut t, &gretap_key(0, 60)),
            Observed::Seen(SessionNo(0))
        );
        assert!(t.find(&key_of(&gretap_key(3, 60))).is_none());
    }

    #[test]
    fn sequence_counts_reach_the_sessions() {
        let mut t = SessionTable::default();
        let mut seq = SeqTracker::default();
        // Two type II sessions on one OVS counter, 3 and 6 missing.
        for (n, sid) in [(0, 1), (1, 2), (2, 1), (4, 2), (5, 1), (7, 1), (8, 2)] {
            let p = erspan_ii(sid, 0, n);
            let d = decapsulate_gre(&p, p.len()).unwrap();
            let no = t.observe(source(), &d).session().unwrap();
            let (space, number) = SeqSpace::of(&d).unwrap();
            seq.observe(no.get(), source(), space, number);
        }
        t.update_seq(&seq);
        let lost: Vec<_> = t.iter().map(|s| s.seq.lost).collect();
        // Each gap is charged to the session whose packet revealed it.
        assert_eq!(lost, [1, 1]);
        assert_eq!(seq.totals().lost, 2);
    }
}
