//! Outer IPv4 / IPv6 fragment reassembly, one level only, with hard bounds.
//!
//! Capture files and AF_PACKET see the fragments a sender (often a switch) made of a
//! large mirror packet; raw sockets get them already reassembled by the kernel. This
//! module rebuilds the outer datagram so the GRE header and the whole inner frame can
//! be read. It is fed only outer packets: fragments found inside a decapsulated
//! payload are written as they are, never reassembled (no recursion).
//!
//! Bounds an attacker cannot exceed: a number of datagrams in progress, a total
//! number of buffered bytes, a largest datagram, and an age (in capture time) after
//! which a datagram is given up. Overlapping fragments drop the whole datagram
//! (RFC 5722); an exact duplicate is dropped alone.

use crate::Timestamp;
use crate::wire::decap::SkipCause;
use crate::wire::ip::{Fragment, OuterIp};
use std::net::IpAddr;

/// Limits of the reassembler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Datagrams in progress at once; the oldest is given up to make room.
    pub max_datagrams: usize,
    /// Bytes buffered over all datagrams in progress.
    pub max_buffered: usize,
    /// Largest reassembled payload (an IP datagram cannot carry more than 65535).
    pub max_payload: usize,
    /// Seconds of capture time after the first fragment before a datagram is given up
    /// (Linux's `ipfrag_time` default).
    pub timeout_secs: i64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_datagrams: 256,
            max_buffered: 8 << 20,
            max_payload: 65535,
            timeout_secs: 30,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    protocol: u8,
}

#[derive(Debug)]
struct Pending {
    key: Key,
    first_seen: Timestamp,
    data: Vec<u8>,
    /// Received byte ranges, sorted and non-overlapping.
    ranges: Vec<(usize, usize)>,
    /// Payload length, known once the last fragment (MF clear) arrived.
    total: Option<usize>,
    fragments: u64,
}

impl Pending {
    fn is_complete(&self) -> bool {
        self.total.is_some_and(|total| {
            let mut next = 0;
            for &(start, end) in &self.ranges {
                if start != next {
                    return false;
                }
                next = end;
            }
            next == total
        })
    }
}

/// A datagram rebuilt from fragments.
#[derive(Debug, PartialEq, Eq)]
pub struct Datagram {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The protocol (IPv4) or the first header of the fragmentable part (IPv6).
    pub protocol: u8,
    pub payload: Vec<u8>,
    pub fragments: u64,
}

/// What became of a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept, waiting for the rest.
    Held,
    /// Given up at once (counted in [`Reassembler::take_dropped`]).
    Dropped,
    /// It completed a datagram.
    Complete(Datagram),
}

/// Fragments given up, by cause: the caller counts each as a skipped outer packet.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub overlap: u64,
    pub incomplete: u64,
}

impl Dropped {
    pub fn causes(&self) -> [(SkipCause, u64); 2] {
        [
            (SkipCause::FragmentOverlap, self.overlap),
            (SkipCause::FragmentIncomplete, self.incomplete),
        ]
    }
}

/// The reassembler: state across packets, bounded by [`Limits`].
#[derive(Debug, Default)]
pub struct Reassembler {
    limits: Limits,
    pending: Vec<Pending>,
    buffered: usize,
    dropped: Dropped,
}

impl Reassembler {
    pub fn new(limits: Limits) -> Reassembler {
        Reassembler {
            limits,
            ..Reassembler::default()
        }
    }

    /// Takes the count of fragments given up since the last call.
    pub fn take_dropped(&mut self) -> Dropped {
        std::mem::take(&mut self.dropped)
    }

    /// Adds one fragment (`ip.fragment` must be set) seen at `ts`.
    pub fn push(&mut self, ts: Timestamp, ip: &OuterIp<'_>) -> Outcome {
        let Some(Fragment { id, offset, more }) = ip.fragment else {
            // Not a fragment: the caller should not have sent it; treat as whole.
            return Outcome::Complete(Datagram {
                src: ip.src,
                dst: ip.dst,
                protocol: ip.protocol,
                payload: ip.payload.to_vec(),
                fragments: 1,
            });
        };
        self.expire(ts);
        let key = Key {
            src: ip.src,
            dst: ip.dst,
            id,
            protocol: ip.protocol,
        };
        let start = offset;
        let end = offset + ip.payload_len;
        let pos = self.pending.iter().position(|p| p.key == key);
        // A fragment cut by the capture, or one that would make the datagram too
        // large, can never complete it.
        if ip.payload.len() < ip.payload_len || end > self.limits.max_payload {
            self.dropped.incomplete += 1;
            if let Some(pos) = pos {
                self.give_up(pos, false);
            }
            return Outcome::Dropped;
        }
        let pos = match pos {
            Some(pos) => pos,
            None => {
                while self.pending.len() >= self.limits.max_datagrams {
                    self.give_up(0, false);
                }
                self.pending.push(Pending {
                    key,
                    first_seen: ts,
                    data: Vec::new(),
                    ranges: Vec::new(),
                    total: None,
                    fragments: 0,
                });
                self.pending.len() - 1
            }
        };
        let p = &mut self.pending[pos];
        if p.ranges.contains(&(start, end)) {
            // An exact duplicate: drop it alone.
            self.dropped.overlap += 1;
            return Outcome::Dropped;
        }
        let overlaps = p.ranges.iter().any(|&(s, e)| start < e && s < end)
            || (!more && p.total.is_some())
            || p.total.is_some_and(|t| end > t)
            || (!more && p.ranges.iter().any(|&(_, e)| e > end));
        if overlaps || (start == end && more) {
            p.fragments += 1;
            self.give_up(pos, true);
            return Outcome::Dropped;
        }
        let grow = end.saturating_sub(p.data.len());
        if self.buffered + grow > self.limits.max_buffered {
            self.dropped.incomplete += 1;
            self.give_up(pos, false);
            return Outcome::Dropped;
        }
        if grow > 0 {
            p.data.resize(end, 0);
            self.buffered += grow;
        }
        p.data[start..end].copy_from_slice(ip.payload);
        let at = p.ranges.partition_point(|&(s, _)| s < start);
        p.ranges.insert(at, (start, end));
        p.fragments += 1;
        if !more {
            p.total = Some(end);
        }
        if !p.is_complete() {
            return Outcome::Held;
        }
        let done = self.pending.remove(pos);
        self.buffered -= done.data.len();
        Outcome::Complete(Datagram {
            src: done.key.src,
            dst: done.key.dst,
            protocol: done.key.protocol,
            payload: done.data,
            fragments: done.fragments,
        })
    }

    /// Gives up every datagram older than the timeout at capture time `now`.
    pub fn expire(&mut self, now: Timestamp) {
        while let Some(pos) = self
            .pending
            .iter()
            .position(|p| now.secs.saturating_sub(p.first_seen.secs) > self.limits.timeout_secs)
        {
            self.give_up(pos, false);
        }
    }

    /// Gives up everything still in progress (end of input).
    pub fn finish(&mut self) {
        while !self.pending.is_empty() {
            self.give_up(0, false);
        }
    }

    fn give_up(&mut self, pos: usize, overlap: bool) {
        let p = self.pending.remove(pos);
        self.buffered -= p.data.len();
        if overlap {
            self.dropped.overlap += p.fragments;
        } else {
            self.dropped.incomplete += p.fragments;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag<'a>(payload: &'a [u8], offset: usize, more: bool, id: u32) -> OuterIp<'a> {
        OuterIp {
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            protocol: 47,
            payload,
            payload_len: payload.len(),
            fragment: Some(Fragment { id, offset, more }),
        }
    }

    const T0: Timestamp = Timestamp::new(1000, 0);

    #[test]
    fn in_order_and_out_of_order() {
        let data: Vec<u8> = (0..=255).collect();
        let mut r = Reassembler::new(Limits::default());
        assert_eq!(r.push(T0, &frag(&data[..16], 0, true, 1)), Outcome::Held);
        assert_eq!(
            r.push(T0, &frag(&data[32..40], 32, false, 1)),
            Outcome::Held
        );
        let Outcome::Complete(d) = r.push(T0, &frag(&data[16..32], 16, true, 1)) else {
            panic!("not complete")
        };
        assert_eq!(d.payload, &data[..40]);
        assert_eq!(d.fragments, 3);
        assert_eq!(r.take_dropped(), Dropped::default());
        assert_eq!(r.buffered, 0);
    }

    #[test]
    fn overlap_drops_datagram_duplicate_drops_one() {
        let data = [7u8; 64];
        let mut r = Reassembler::new(Limits::default());
        r.push(T0, &frag(&data[..16], 0, true, 2));
        r.push(T0, &frag(&data[..16], 0, true, 2));
        assert_eq!(
            r.take_dropped(),
            Dropped {
                overlap: 1,
                incomplete: 0
            }
        );
        assert_eq!(r.push(T0, &frag(&data[..16], 8, true, 2)), Outcome::Dropped);
        assert_eq!(
            r.take_dropped(),
            Dropped {
                overlap: 2,
                incomplete: 0
            }
        );
        assert!(r.pending.is_empty());
    }

    #[test]
    fn bounds_and_timeout() {
        let data = [1u8; 16];
        let limits = Limits {
            max_datagrams: 2,
            max_buffered: 40,
            ..Limits::default()
        };
        let mut r = Reassembler::new(limits);
        r.push(T0, &frag(&data, 0, true, 1));
        r.push(T0, &frag(&data, 0, true, 2));
        r.push(T0, &frag(&data, 0, true, 3));
        // The oldest was given up to make room.
        assert_eq!(
            r.take_dropped(),
            Dropped {
                overlap: 0,
                incomplete: 1
            }
        );
        // 16 + 16 buffered; 16 more at offset 16 would exceed 40.
        r.push(T0, &frag(&data, 16, true, 3));
        assert_eq!(
            r.take_dropped(),
            Dropped {
                overlap: 0,
                incomplete: 2
            }
        );
        r.push(Timestamp::new(T0.secs + 31, 0), &frag(&data, 0, true, 9));
        assert_eq!(
            r.take_dropped(),
            Dropped {
                overlap: 0,
                incomplete: 1
            }
        );
        r.finish();
        assert_eq!(
            r.take_dropped(),
            Dropped {
                overlap: 0,
                incomplete: 1
            }
        );
        assert_eq!(r.buffered, 0);
    }

    #[test]
    fn too_large_or_cut_fragments() {
        let data = [1u8; 16];
        let mut r = Reassembler::new(Limits::default());
        r.push(T0, &frag(&data, 65528, true, 4));
        assert_eq!(
            r.take_dropped(),
            Dropped {
                overlap: 0,
                incomplete: 1
            }
        );
        let mut cut = frag(&data, 0, true, 5);
        cut.payload_len = 100;
        r.push(T0, &cut);
        assert_eq!(
            r.take_dropped(),
            Dropped {
                overlap: 0,
                incomplete: 1
            }
        );
        assert!(r.pending.is_empty());
    }
}
