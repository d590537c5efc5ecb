//! Which mirror sessions to keep: GRE key, ERSPAN session / index / direction, sender.
//!
//! Different criteria combine with AND; several values of one criterion with OR. A
//! criterion that a packet's encapsulation does not carry never matches (a `--key`
//! filter leaves out all ERSPAN, a `--session` filter all plain GRE and type I).

use crate::wire::decap::{Decapsulated, Encap};
use crate::wire::erspan::{Direction, ErspanIndex, SessionId};
use crate::wire::vxlan::Vni;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 address prefix (`198.51.100.0/24`, `2001:db8::1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    pub fn new(addr: IpAddr, len: u8) -> Option<IpPrefix> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some(IpPrefix { addr, len })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(p), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(p) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(p), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(p) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpPrefix {
    type Err = String;

    fn from_str(s: &str) -> Result<IpPrefix, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{s}' is not an IPv4 or IPv6 address or prefix"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("prefix length '{l}' in '{s}' is not 0-{max}"))?,
        };
        Ok(IpPrefix { addr, len })
    }
}

/// The session filter; empty criteria match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub keys: Vec<u32>,
    pub sessions: Vec<SessionId>,
    pub indexes: Vec<ErspanIndex>,
    pub directions: Vec<Direction>,
    pub sources: Vec<IpPrefix>,
    /// VXLAN / GENEVE virtual network identifiers.
    pub vnis: Vec<Vni>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
            && self.sessions.is_empty()
            && self.indexes.is_empty()
            && self.directions.is_empty()
            && self.sources.is_empty()
            && self.vnis.is_empty()
    }

    /// Whether a frame from outer source `source` passes every criterion.
    pub fn matches(&self, source: IpAddr, d: &Decapsulated<'_>) -> bool {
        if !self.keys.is_empty() {
            let key = match d.encap {
                Encap::Gre => d.gre.key,
                _ => None,
            };
            if !key.is_some_and(|k| self.keys.contains(&k)) {
                return false;
            }
        }
        if !self.sessions.is_empty()
            && !d
                .encap
                .session()
                .is_some_and(|s| self.sessions.contains(&s))
        {
            return false;
        }
        if !self.indexes.is_empty() {
            let Encap::ErspanII(h) = d.encap else {
                return false;
            };
            if !self.indexes.contains(&h.index) {
                return false;
            }
        }
        if !self.directions.is_empty() {
            let Encap::ErspanIII(h) = d.encap else {
                return false;
            };
            if !self.directions.contains(&h.direction) {
                return false;
            }
        }
        if !self.vnis.is_empty() && !d.encap.vni().is_some_and(|v| self.vnis.contains(&v)) {
            return false;
        }
        self.sources.is_empty() || self.sources.iter().any(|p| p.contains(source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::decap::decapsulate_gre;

    fn frame_with(gre: &[u8]) -> Vec<u8> {
        let mut p = gre.to_vec();
        p.extend_from_slice(&[0u8; 14]);
        p
    }

    #[test]
    fn prefixes() {
        let p: IpPrefix = "198.51.100.0/24".parse().unwrap();
        assert!(p.contains("198.51.100.7".parse().unwrap()));
        assert!(!p.contains("198.51.101.7".parse().unwrap()));
        assert!(!p.contains("2001:db8::1".parse().unwrap()));
        let p: IpPrefix = "2001:db8::/32".parse().unwrap();
        assert!(p.contains("2001:db8:1::1".parse().unwrap()));
        let any: IpPrefix = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains("203.0.113.1".parse().unwrap()));
        let host: IpPrefix = "203.0.113.1".parse().unwrap();
        assert!(!host.contains("203.0.113.2".parse().unwrap()));
        assert!(
            "203.0.113.1/33"
                .parse::<IpPrefix>()
                .unwrap_err()
                .contains("0-32")
        );
        assert!("nonsense".parse::<IpPrefix>().is_err());
    }

    #[test]
    fn key_session_index_direction() {
        let src: IpAddr = "198.51.100.1".parse().unwrap();
        // gretap key 99.
        let gre = frame_with(&[0x20, 0, 0x65, 0x58, 0, 0, 0, 99]);
        let gre = decapsulate_gre(&gre, gre.len()).unwrap();
        // ERSPAN II session 77, index 0x77.
        let e2 = frame_with(&[
            0x10, 0, 0x88, 0xBE, 0, 0, 0, 1, 0x10, 0, 0, 77, 0, 0, 0, 0x77,
        ]);
        let e2 = decapsulate_gre(&e2, e2.len()).unwrap();
        // ERSPAN III session 77, egress.
        let e3 = frame_with(&[
            0x10, 0, 0x22, 0xEB, 0, 0, 0, 1, 0x20, 0, 0, 77, 0, 0, 0, 0, 0, 0, 0, 0x08,
        ]);
        let e3 = decapsulate_gre(&e3, e3.len()).unwrap();

        let all = Filter::default();
        assert!(all.matches(src, &gre) && all.matches(src, &e2) && all.matches(src, &e3));

        let keys = Filter {
            keys: vec![1, 99],
            ..Filter::default()
        };
        assert!(keys.matches(src, &gre));
        assert!(!keys.matches(src, &e2) && !keys.matches(src, &e3));

        let sessions = Filter {
            sessions: vec![SessionId::new(77).unwrap()],
            ..Filter::default()
        };
        assert!(!sessions.matches(src, &gre));
        assert!(sessions.matches(src, &e2) && sessions.matches(src, &e3));

        let index = Filter {
            indexes: vec![ErspanIndex::new(0x77).unwrap()],
            ..Filter::default()
        };
        assert!(index.matches(src, &e2) && !index.matches(src, &e3));

        let egress = Filter {
            directions: vec![Direction::Egress],
            ..Filter::default()
        };
        assert!(egress.matches(src, &e3) && !egress.matches(src, &e2));
        let ingress = Filter {
            directions: vec![Direction::Ingress],
            ..Filter::default()
        };
        assert!(!ingress.matches(src, &e3));

        let both = Filter {
            sessions: vec![SessionId::new(77).unwrap()],
            sources: vec!["203.0.113.0/24".parse().unwrap()],
            ..Filter::default()
        };
        assert!(!both.matches(src, &e2));
        assert!(both.matches("203.0.113.9".parse().unwrap(), &e2));
    }
}
