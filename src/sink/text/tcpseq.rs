//! The one piece of state the text printer keeps: tcpdump's table of the initial
//! sequence numbers of each TCP connection, so lines show relative sequence and
//! acknowledgement numbers as `tcpdump` (without `-S`) prints them.
//!
//! tcpdump (print-tcp.c, `tcp_seq_hash`) keys a connection by both addresses and ports
//! in one order for both directions, records the numbers of the first segment with
//! ACK set (or again at every SYN with ACK: a new connection), prints that first
//! segment's numbers as they are, and subtracts them from every later one. Its table
//! grows without limit; this one has a fixed number of slots, allocated once, in sets
//! of [`WAYS`]: a new connection whose set is full takes the least recently used slot
//! and the eviction is counted. An evicted connection's next segment is a new
//! connection again, printed with absolute numbers and recorded, which is what
//! tcpdump does for a connection it has not seen.
//!
//! It must never allocate per packet (only once, at the first segment with ACK), grow
//! past [`SLOTS`] connections, or panic.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;

/// Connections remembered (a power of two); about 48 bytes each.
pub const SLOTS: usize = 1 << 16;
/// Slots per set: a new connection can only evict one of the `WAYS` in its set.
pub const WAYS: usize = 4;

/// A connection in tcpdump's collating order (`rev` says the segment goes the other
/// way), IPv4 addresses mapped into IPv6.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct ConnKey {
    src: [u8; 16],
    dst: [u8; 16],
    /// `sport << 16 | dport` of the collated direction.
    ports: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    key: ConnKey,
    /// tcpdump's `th->seq` and `th->ack`.
    seq: u32,
    ack: u32,
    /// Last use (the table's clock), 0 for a free slot.
    used: u64,
}

/// What a segment prints: its sequence and acknowledgement numbers (relative unless
/// the connection was just recorded) and the bases of SACK blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relative {
    pub seq: u32,
    pub ack: u32,
    /// Subtracted from both edges of each SACK block (tcpdump's `thack`, or `thseq`
    /// for a segment in the reverse direction).
    pub sack_base: u32,
}

/// The bounded table; see the module documentation.
#[derive(Clone, Debug)]
pub struct TcpSeqTable {
    slots: Vec<Slot>,
    /// Slots allocated at the first use.
    capacity: usize,
    hasher: RandomState,
    clock: u64,
    evictions: u64,
}

impl Default for TcpSeqTable {
    fn default() -> Self {
        TcpSeqTable::with_capacity(SLOTS)
    }
}

fn mapped(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

impl TcpSeqTable {
    /// A table of `connections` slots (rounded up to a power of two, at least
    /// [`WAYS`]), for tests and fuzzing; spandump uses [`SLOTS`].
    pub fn with_capacity(connections: usize) -> Self {
        TcpSeqTable {
            slots: Vec::new(),
            capacity: connections.max(WAYS).next_power_of_two(),
            hasher: RandomState::new(),
            clock: 0,
            evictions: 0,
        }
    }

    /// Connections forgotten to make room for new ones.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// tcpdump's relative numbering of a segment with ACK set (`syn`: also SYN).
    #[allow(clippy::too_many_arguments)]
    pub fn relative(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        syn: bool,
    ) -> Relative {
        let (s, d) = (mapped(src), mapped(dst));
        let rev = sport > dport || (sport == dport && s > d);
        let key = if rev {
            ConnKey {
                src: d,
                dst: s,
                ports: u32::from(dport) << 16 | u32::from(sport),
            }
        } else {
            ConnKey {
                src: s,
                dst: d,
                ports: u32::from(sport) << 16 | u32::from(dport),
            }
        };
        if self.slots.is_empty() {
            self.slots = vec![Slot::default(); self.capacity];
        }
        self.clock += 1;
        let set = (self.hasher.hash_one(key) as usize % (self.capacity / WAYS)) * WAYS;
        let ways = &mut self.slots[set..set + WAYS];
        if let Some(slot) = ways.iter_mut().find(|w| w.used != 0 && w.key == key)
            && !syn
        {
            slot.used = self.clock;
            let (seq, ack) = if rev {
                (seq.wrapping_sub(slot.ack), ack.wrapping_sub(slot.seq))
            } else {
                (seq.wrapping_sub(slot.seq), ack.wrapping_sub(slot.ack))
            };
            return Relative {
                seq,
                ack,
                sack_base: if rev { slot.seq } else { slot.ack },
            };
        }
        // New connection (or a SYN restarting one): record, print as is.
        let slot = match ways.iter().position(|w| w.used != 0 && w.key == key) {
            Some(i) => &mut ways[i],
            None => {
                let oldest = ways
                    .iter_mut()
                    .min_by_key(|w| w.used)
                    .expect("a set has WAYS slots");
                if oldest.used != 0 {
                    self.evictions += 1;
                }
                oldest
            }
        };
        let (th_seq, th_ack) = if rev {
            (ack.wrapping_sub(1), seq)
        } else {
            (seq, ack.wrapping_sub(1))
        };
        *slot = Slot {
            key,
            seq: th_seq,
            ack: th_ack,
            used: self.clock,
        };
        Relative {
            seq,
            ack,
            sack_base: if rev { th_seq } else { th_ack },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn handshake_then_relative_both_ways() {
        let mut t = TcpSeqTable::default();
        // SYN-ACK from the server: recorded, printed as it is.
        let r = t.relative(B, A, 80, 40000, 500, 1001, true);
        assert_eq!((r.seq, r.ack), (500, 1001));
        // The client's ACK: seq 1, ack 1, as tcpdump prints it.
        let r = t.relative(A, B, 40000, 80, 1001, 501, false);
        assert_eq!((r.seq, r.ack), (1, 1));
        let r = t.relative(B, A, 80, 40000, 601, 1101, false);
        assert_eq!((r.seq, r.ack), (101, 101));
        assert_eq!(t.evictions(), 0);
    }

    #[test]
    fn mid_stream_first_segment_is_absolute_then_relative_with_wraparound() {
        let mut t = TcpSeqTable::default();
        let r = t.relative(A, B, 40000, 80, u32::MAX - 1, 77, false);
        assert_eq!((r.seq, r.ack), (u32::MAX - 1, 77));
        let r = t.relative(A, B, 40000, 80, 8, 77, false);
        assert_eq!((r.seq, r.ack), (10, 1));
    }

    #[test]
    fn the_table_is_bounded_and_counts_evictions() {
        let mut t = TcpSeqTable::default();
        let n = SLOTS + 1000;
        for i in 0..n {
            t.relative(
                A,
                B,
                (i % 60000) as u16 + 1024,
                (i / 60000) as u16 + 1,
                1,
                1,
                false,
            );
        }
        assert_eq!(t.slots.len(), SLOTS);
        assert!(t.evictions() >= 1000, "{}", t.evictions());
        assert!(t.evictions() <= n as u64);
    }
}
