//! Walking one TPACKET_V3 block the kernel handed over: its descriptor, then each
//! packet's `tpacket3_hdr` and `sockaddr_ll`, giving where the frame's bytes are
//! (`PacketHeader::data`) and its metadata (timestamp, wire length, status, VLAN tag,
//! packet type).
//!
//! Every offset read from the block is checked against the block before use: a corrupt
//! one ends the block with a `BlockError`. This module never panics on any bytes
//! (a property test feeds it random ones), never reads past the slice it is given, never
//! hands a block back to the kernel (that is the ring's job, through `sys::UserBlock`),
//! and never interprets the frame's bytes.

use crate::Timestamp;
use std::ops::Range;

/// Layout of a block and of the packet headers in it (`linux/if_packet.h`), all fields
/// in host byte order. Checked against libc's structs at compile time.
mod field {
    use std::mem::offset_of;

    /// `struct tpacket_block_desc` with its `struct tpacket_hdr_v1`.
    pub const BLOCK_STATUS: usize = 8;
    pub const NUM_PKTS: usize = 12;
    pub const OFFSET_TO_FIRST_PKT: usize = 16;
    pub const BLK_LEN: usize = 20;
    pub const BLOCK_DESC: usize = 48;

    /// `struct tpacket3_hdr`.
    pub const NEXT_OFFSET: usize = 0;
    pub const SEC: usize = 4;
    pub const NSEC: usize = 8;
    pub const SNAPLEN: usize = 12;
    pub const LEN: usize = 16;
    pub const STATUS: usize = 20;
    pub const MAC: usize = 24;
    pub const VLAN_TCI: usize = 32;
    pub const HEADER: usize = 48;
    /// `struct sockaddr_ll` follows at TPACKET_ALIGN(sizeof(tpacket3_hdr)).
    pub const SLL_PKTTYPE: usize = HEADER + 10;
    /// TPACKET3_HDRLEN: where the frame may start at the earliest.
    pub const MIN_MAC: usize = HEADER + 20;

    const BD: usize = offset_of!(libc::tpacket_block_desc, hdr);
    const _: () = assert!(BD + offset_of!(libc::tpacket_hdr_v1, block_status) == BLOCK_STATUS);
    const _: () = assert!(BD + offset_of!(libc::tpacket_hdr_v1, num_pkts) == NUM_PKTS);
    const _: () =
        assert!(BD + offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt) == OFFSET_TO_FIRST_PKT);
    const _: () = assert!(BD + offset_of!(libc::tpacket_hdr_v1, blk_len) == BLK_LEN);
    const _: () = assert!(size_of::<libc::tpacket_block_desc>() == BLOCK_DESC);
    const _: () = assert!(offset_of!(libc::tpacket3_hdr, tp_next_offset) == NEXT_OFFSET);
    const _: () = assert!(offset_of!(libc::tpacket3_hdr, tp_sec) == SEC);
    const _: () = assert!(offset_of!(libc::tpacket3_hdr, tp_nsec) == NSEC);
    const _: () = assert!(offset_of!(libc::tpacket3_hdr, tp_snaplen) == SNAPLEN);
    const _: () = assert!(offset_of!(libc::tpacket3_hdr, tp_len) == LEN);
    const _: () = assert!(offset_of!(libc::tpacket3_hdr, tp_status) == STATUS);
    const _: () = assert!(offset_of!(libc::tpacket3_hdr, tp_mac) == MAC);
    const _: () = assert!(
        offset_of!(libc::tpacket3_hdr, hv1) + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tci)
            == VLAN_TCI
    );
    const _: () = assert!(size_of::<libc::tpacket3_hdr>() == HEADER);
    const _: () = assert!(offset_of!(libc::sockaddr_ll, sll_pkttype) == SLL_PKTTYPE - HEADER);
    const _: () = assert!(libc::TPACKET3_HDRLEN == MIN_MAC);
}

/// Which header check of a block failed. The rest of the block is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block length {blk_len} outside {}..={block_size}", field::BLOCK_DESC)]
    BlockLength { blk_len: u32, block_size: usize },
    #[error("first packet at {offset}, outside the block's {end} bytes")]
    FirstPacket { offset: u32, end: usize },
    #[error("packet header at {offset} runs past the block's {end} bytes")]
    PacketHeader { offset: usize, end: usize },
    #[error("packet at {offset}: data offset {mac} is inside the header")]
    DataOffset { offset: usize, mac: u16 },
    #[error("packet at {offset}: {snaplen} bytes at {mac} run past the block's {end} bytes")]
    Data {
        offset: usize,
        mac: u16,
        snaplen: u32,
        end: usize,
    },
    #[error("packet at {offset}: next packet offset {next} leaves the block's {end} bytes")]
    NextOffset {
        offset: usize,
        next: u32,
        end: usize,
    },
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([b[0], b[1]]))
}

/// Where the next packet of a block is, and how many are left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockCursor {
    next: usize,
    remaining: u32,
    /// The block's used length (`blk_len`), within the block.
    end: usize,
}

impl BlockCursor {
    /// Reads a block's descriptor; the cursor stands on its first packet.
    pub fn new(block: &[u8]) -> Result<BlockCursor, BlockError> {
        let field = |at| u32_at(block, at).unwrap_or(0);
        let blk_len = field(field::BLK_LEN);
        if block.len() < field::BLOCK_DESC
            || (blk_len as usize) < field::BLOCK_DESC
            || blk_len as usize > block.len()
        {
            return Err(BlockError::BlockLength {
                blk_len,
                block_size: block.len(),
            });
        }
        let end = blk_len as usize;
        let num_pkts = field(field::NUM_PKTS);
        let first = field(field::OFFSET_TO_FIRST_PKT);
        if num_pkts > 0 && ((first as usize) < field::BLOCK_DESC || first as usize >= end) {
            return Err(BlockError::FirstPacket { offset: first, end });
        }
        Ok(BlockCursor {
            next: first as usize,
            remaining: num_pkts,
            end,
        })
    }

    /// Whether every packet of the block was read (or the rest skipped as corrupt).
    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// The next packet of `block` (the bytes [`BlockCursor::new`] read), or `None`
    /// after the last one.
    pub fn next_packet(&mut self, block: &[u8]) -> Result<Option<PacketHeader>, BlockError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let at = self.next;
        let end = self.end.min(block.len());
        // The header and its sockaddr_ll must lie inside the block: every read below is
        // at most that far from `at`.
        if at.checked_add(field::MIN_MAC).is_none_or(|e| e > end) {
            self.remaining = 0;
            return Err(BlockError::PacketHeader { offset: at, end });
        }
        let word = |off| u32_at(block, at + off).unwrap_or(0);
        let mac = u16_at(block, at + field::MAC).unwrap_or(0);
        let snaplen = word(field::SNAPLEN);
        if (mac as usize) < field::MIN_MAC {
            self.remaining = 0;
            return Err(BlockError::DataOffset { offset: at, mac });
        }
        let data_start = at + mac as usize;
        let data = data_start
            .checked_add(snaplen as usize)
            .filter(|&e| e <= end)
            .map(|e| data_start..e);
        let Some(data) = data else {
            self.remaining = 0;
            return Err(BlockError::Data {
                offset: at,
                mac,
                snaplen,
                end,
            });
        };
        self.remaining -= 1;
        if self.remaining > 0 {
            let next = word(field::NEXT_OFFSET);
            let fits = (next as usize) >= field::MIN_MAC
                && at
                    .checked_add(next as usize)
                    .and_then(|n| n.checked_add(field::MIN_MAC))
                    .is_some_and(|e| e <= end);
            if !fits {
                self.remaining = 0;
                return Err(BlockError::NextOffset {
                    offset: at,
                    next,
                    end,
                });
            }
            self.next = at + next as usize;
            // The next header (and the outer headers behind it) would be a cache miss
            // when it is read: nothing else reads the ring in order (the frames go to
            // the file straight from the ring, unread).
            crate::capture::sys::prefetch(block.get(self.next..).unwrap_or_default(), 3);
        }
        Ok(Some(PacketHeader {
            ts: Timestamp::new(
                i64::from(word(field::SEC)),
                word(field::NSEC).min(999_999_999),
            ),
            len: word(field::LEN),
            status: word(field::STATUS),
            vlan_tci: word(field::VLAN_TCI),
            pkttype: block.get(at + field::SLL_PKTTYPE).copied().unwrap_or(0),
            data,
        }))
    }
}

/// One packet's header, with where its bytes are in the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketHeader {
    pub ts: Timestamp,
    /// The frame's length on the wire (`tp_len`).
    pub len: u32,
    /// `tp_status` (TP_STATUS_VLAN_VALID, TP_STATUS_LOSING, ...).
    pub status: u32,
    /// The tag the kernel took out of the frame, if `status` says so.
    pub vlan_tci: u32,
    /// `sll_pkttype` (PACKET_HOST, PACKET_OUTGOING, ...).
    pub pkttype: u8,
    /// The captured bytes (`tp_snaplen` from `tp_mac`), within the block.
    pub data: Range<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block as the kernel writes it: descriptor, then packets at 16-byte aligned
    /// offsets, each a tpacket3_hdr + sockaddr_ll, the frame at `mac`.
    struct FakeBlock {
        bytes: Vec<u8>,
        at: usize,
        last: Option<usize>,
        count: u32,
    }

    const FIRST: usize = 48;
    const MAC: usize = 80;

    impl FakeBlock {
        fn new(size: usize) -> FakeBlock {
            let mut bytes = vec![0u8; size];
            bytes[0..4].copy_from_slice(&3u32.to_ne_bytes());
            bytes[8..12].copy_from_slice(&1u32.to_ne_bytes());
            bytes[16..20].copy_from_slice(&(FIRST as u32).to_ne_bytes());
            FakeBlock {
                bytes,
                at: FIRST,
                last: None,
                count: 0,
            }
        }

        fn put32(&mut self, at: usize, v: u32) {
            self.bytes[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        }

        fn push(&mut self, frame: &[u8], len: u32, pkttype: u8, status: u32) {
            let at = self.at;
            if let Some(last) = self.last {
                self.put32(last, (at - last) as u32);
            }
            self.put32(at + 4, 1_700_000_000);
            self.put32(at + 8, 123_456_789);
            self.put32(at + 12, frame.len() as u32);
            self.put32(at + 16, len);
            self.put32(at + 20, status);
            self.bytes[at + 24..at + 26].copy_from_slice(&(MAC as u16).to_ne_bytes());
            self.bytes[at + 58] = pkttype;
            self.bytes[at + MAC..at + MAC + frame.len()].copy_from_slice(frame);
            self.last = Some(at);
            self.at = (at + MAC + frame.len()).next_multiple_of(16);
            self.count += 1;
            let (count, used) = (self.count, self.at as u32);
            self.put32(12, count);
            self.put32(20, used);
        }

        fn read_all(&self) -> Result<Vec<(Vec<u8>, u32, u8)>, BlockError> {
            let mut cursor = BlockCursor::new(&self.bytes)?;
            let mut out = Vec::new();
            while let Some(p) = cursor.next_packet(&self.bytes)? {
                out.push((self.bytes[p.data.clone()].to_vec(), p.len, p.pkttype));
            }
            Ok(out)
        }
    }

    #[test]
    fn reads_the_packets_of_a_block() {
        let mut b = FakeBlock::new(4096);
        b.push(&[1; 60], 60, libc::PACKET_HOST, 0);
        b.push(
            &[2; 100],
            1500,
            libc::PACKET_OTHERHOST,
            libc::TP_STATUS_VLAN_VALID,
        );
        b.push(&[3; 1], 1, libc::PACKET_OUTGOING, 0);
        let got = b.read_all().unwrap();
        assert_eq!(
            got,
            vec![
                (vec![1; 60], 60, libc::PACKET_HOST),
                (vec![2; 100], 1500, libc::PACKET_OTHERHOST),
                (vec![3; 1], 1, libc::PACKET_OUTGOING),
            ]
        );
        let mut cursor = BlockCursor::new(&b.bytes).unwrap();
        let p = cursor.next_packet(&b.bytes).unwrap().unwrap();
        assert_eq!(p.ts, Timestamp::new(1_700_000_000, 123_456_789));
        // An empty block (a timeout with nothing in it) reads as no packets.
        let empty = FakeBlock::new(4096);
        let mut e = empty.bytes.clone();
        e[20..24].copy_from_slice(&48u32.to_ne_bytes());
        let mut cursor = BlockCursor::new(&e).unwrap();
        assert_eq!(cursor.next_packet(&e), Ok(None));
    }

    #[test]
    fn corrupt_offsets_end_the_block() {
        let mut b = FakeBlock::new(4096);
        b.push(&[1; 60], 60, 0, 0);
        b.push(&[2; 60], 60, 0, 0);
        let good = b.bytes.clone();

        // blk_len beyond the block / below the descriptor.
        let mut c = good.clone();
        c[20..24].copy_from_slice(&5000u32.to_ne_bytes());
        assert!(matches!(
            BlockCursor::new(&c),
            Err(BlockError::BlockLength { blk_len: 5000, .. })
        ));
        c[20..24].copy_from_slice(&4u32.to_ne_bytes());
        assert!(BlockCursor::new(&c).is_err());
        // First packet offset past the used length.
        let mut c = good.clone();
        c[16..20].copy_from_slice(&4000u32.to_ne_bytes());
        assert!(matches!(
            BlockCursor::new(&c),
            Err(BlockError::FirstPacket { offset: 4000, .. })
        ));
        // Snaplen running past the block.
        let mut c = good.clone();
        c[FIRST + 12..FIRST + 16].copy_from_slice(&u32::MAX.to_ne_bytes());
        let mut cursor = BlockCursor::new(&c).unwrap();
        assert!(matches!(
            cursor.next_packet(&c),
            Err(BlockError::Data { .. })
        ));
        assert_eq!(cursor.next_packet(&c), Ok(None), "the rest is skipped");
        // Data offset inside the header.
        let mut c = good.clone();
        c[FIRST + 24..FIRST + 26].copy_from_slice(&10u16.to_ne_bytes());
        let mut cursor = BlockCursor::new(&c).unwrap();
        assert!(matches!(
            cursor.next_packet(&c),
            Err(BlockError::DataOffset { mac: 10, .. })
        ));
        // Next offset zero, huge, or past the used length.
        for next in [0u32, 8, u32::MAX, 3000] {
            let mut c = good.clone();
            c[FIRST..FIRST + 4].copy_from_slice(&next.to_ne_bytes());
            let mut cursor = BlockCursor::new(&c).unwrap();
            assert!(matches!(
                cursor.next_packet(&c),
                Err(BlockError::NextOffset { .. })
            ));
        }
        // More packets claimed than present: the walk stops at the used length.
        let mut c = good.clone();
        c[12..16].copy_from_slice(&1000u32.to_ne_bytes());
        let mut cursor = BlockCursor::new(&c).unwrap();
        let mut n = 0;
        while let Ok(Some(_)) = cursor.next_packet(&c) {
            n += 1;
            assert!(n < 10);
        }
        assert!(n <= 2);
        // A block too short for its descriptor.
        assert!(BlockCursor::new(&[0u8; 20]).is_err());
    }

    proptest::proptest! {
        /// Whatever the bytes, reading a block ends without panicking and every packet
        /// lies inside it.
        #[test]
        fn any_block_bytes_are_safe(
            seed in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            patch in proptest::collection::vec((0usize..600, proptest::num::u32::ANY), 0..12),
        ) {
            let mut b = FakeBlock::new(512);
            b.push(&[7; 40], 40, 0, 0);
            b.push(&[8; 100], 100, 0, 0);
            let mut bytes = b.bytes.clone();
            for (i, v) in seed.iter().enumerate().take(bytes.len()) {
                bytes[i] ^= v;
            }
            for (at, v) in patch {
                if at + 4 <= bytes.len() {
                    bytes[at..at + 4].copy_from_slice(&v.to_ne_bytes());
                }
            }
            if let Ok(mut cursor) = BlockCursor::new(&bytes) {
                for _ in 0..1000 {
                    match cursor.next_packet(&bytes) {
                        Ok(Some(p)) => proptest::prop_assert!(p.data.end <= bytes.len()),
                        _ => break,
                    }
                }
            }
        }
    }
}
