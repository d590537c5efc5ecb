//! Live capture on an interface (`-i IFACE`): an AF_PACKET socket with a TPACKET_V3
//! ring, read in place.
//!
//! The kernel copies each frame of the interface that passes the socket's classic BPF
//! filter ([`super::bpf`]: GRE only, optionally to given addresses) into a ring of
//! blocks shared with this process, and hands a block over when it is full or after
//! the block timeout. [`RingSource`] lends the frames straight from the ring memory as
//! [`OuterFrame`]s (link type Ethernet, or raw IP on tun-like devices) and gives each
//! block back to the kernel once it moved past it: no copy and no system call per
//! packet. Frames the host sends itself are ignored; the kernel's drops (ring full)
//! come from `PACKET_STATISTICS`.
//!
//! When the kernel (or the NIC) moved an outer VLAN tag into metadata
//! (`TP_STATUS_VLAN_VALID`), the frame in the ring is untagged; tags left in the bytes
//! are read by the link parser. Either way the outer IP header is found.
//!
//! This module reads the ring's block and packet headers with bounds checks (a corrupt
//! offset ends the block and is counted, never read past); every `unsafe` (the mapping,
//! the block hand-over) is in [`super::sys`]. It knows interfaces and rings, never what
//! a GRE header holds.

use super::bpf::{self, BpfError, Framing};
use super::gro::{self, GroDetector};
use super::sys::{self, Readiness, RingRequest, RxRing, UserBlock};
use super::{AddressWatch, OuterFrame, Received, Source, open_hint, reason};
use crate::wire::LinkType;
use crate::{Timestamp, TsPrecision};
use socket2::{Domain, Socket, Type};
use std::cell::Cell;
use std::io;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Default ring size, 32 MiB: 16 times tcpdump's 2 MiB `-B` default, because a mirror
/// session sends bursts of whatever the mirrored ports carry. It holds about 270 ms of
/// line rate at 1 Gbit/s (27 ms at 10 Gbit/s) while the writer is busy, and costs 32 MiB
/// of kernel memory per ring: N fan-out rings take N times that.
pub const DEFAULT_BUFFER_SIZE: u64 = 32 << 20;

/// Default block size, 1 MiB: the ring's unit of hand-over. Small enough that a 32 MiB
/// ring has 32 blocks (the kernel keeps filling the others while one is read), large
/// enough to hold a 64 KiB GRO-merged packet whole and to make the per-block cost
/// (one poll at most, one status write) vanish against hundreds of packets.
pub const DEFAULT_BLOCK_SIZE: u32 = 1 << 20;

/// Default frame size. TPACKET_V3 frames are variable-length; this only has to pass
/// the kernel's checks (a multiple of 16, at least a header, dividing the block).
pub const DEFAULT_FRAME_SIZE: u32 = 2048;

/// Default block timeout: a block that is not full is handed over after this many
/// milliseconds, so a quiet mirror's packets still show up within ~20 ms, and the
/// drain after a stop request ends soon.
pub const DEFAULT_BLOCK_TIMEOUT_MS: u32 = 20;

/// The largest ring accepted: the kernel counts frames in 32 bits, and this is kernel
/// memory, pinned for as long as the capture runs.
pub const MAX_BUFFER_SIZE: u64 = 4 << 30;

/// The largest block accepted (one allocation in the kernel).
pub const MAX_BLOCK_SIZE: u32 = 128 << 20;

/// The longest block timeout accepted, in milliseconds.
pub const MAX_BLOCK_TIMEOUT_MS: u32 = 10_000;

/// `TPACKET3_HDRLEN` rounded up to `TPACKET_ALIGNMENT`: the smallest frame the kernel
/// takes.
pub const MIN_FRAME_SIZE: u32 = 80;

const TPACKET_ALIGNMENT: u32 = libc::TPACKET_ALIGNMENT as u32;

/// How long one wait for a block lasts, so that a stop request is seen soon.
const POLL_MS: u64 = 100;

/// Added to twice the block timeout: how long the drain after a stop request waits for
/// the kernel to hand over the block it was filling.
const DRAIN_SLACK: Duration = Duration::from_millis(50);

/// ARPHRD_RAWIP (`linux/if_arp.h`), which libc does not export.
const ARPHRD_RAWIP: u16 = 519;

/// `ETH_P_ALL`: every frame, whatever its ethertype.
const ETH_P_ALL: u16 = libc::ETH_P_ALL as u16;

/// What to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingOptions {
    /// The interface to capture on (`-i`).
    pub interface: String,
    /// Total ring size in bytes (`-B` KiB × 1024); rounded down to whole blocks.
    pub buffer_size: u64,
    /// Block size in bytes (a power of two, a multiple of the page size). `None`
    /// derives it from the buffer: [`DEFAULT_BLOCK_SIZE`], or less for a small buffer,
    /// so that it holds at least four blocks.
    pub block_size: Option<u32>,
    /// Frame size in bytes (a multiple of 16, at least [`MIN_FRAME_SIZE`]).
    pub frame_size: u32,
    /// Milliseconds after which the kernel hands over a block that is not full.
    pub block_timeout_ms: u32,
    /// Keep only packets whose outer destination is one of these (the `--listen`
    /// address); empty keeps GRE to any address.
    pub destinations: Vec<IpAddr>,
    /// Join this PACKET_FANOUT group (with IPv4 defragmentation first): N rings opened
    /// with the same id, on the same interface, share its frames as `fanout_mode` says.
    pub fanout: Option<u16>,
    pub fanout_mode: FanoutMode,
    /// Also keep UDP to these ports (VXLAN, GENEVE, GRE-in-UDP); empty keeps GRE only.
    pub udp_ports: Vec<u16>,
}

/// How a fan-out group spreads frames over its rings. Order is kept only within a ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FanoutMode {
    /// By outer source and destination address (`PACKET_FANOUT_CBPF` with
    /// [`bpf::fanout_by_outer_addresses`]): each mirror session stays on one ring, in
    /// order, so GRE sequence numbers can be followed per ring.
    #[default]
    OuterAddresses,
    /// The kernel's flow hash (`PACKET_FANOUT_HASH`). Its flow dissector looks through
    /// GRE and ERSPAN, so this hashes the *inner* flows: one session is spread over all
    /// rings (finer balance, but per-session order and sequence numbers are lost).
    KernelHash,
}

impl RingOptions {
    /// The defaults for `interface`.
    pub fn new(interface: impl Into<String>) -> RingOptions {
        RingOptions {
            interface: interface.into(),
            buffer_size: DEFAULT_BUFFER_SIZE,
            block_size: None,
            frame_size: DEFAULT_FRAME_SIZE,
            block_timeout_ms: DEFAULT_BLOCK_TIMEOUT_MS,
            destinations: Vec::new(),
            fanout: None,
            fanout_mode: FanoutMode::default(),
            udp_ports: Vec::new(),
        }
    }

    /// The ring these options ask for, checked against the kernel's rules.
    pub fn geometry(&self) -> Result<RingGeometry, GeometryError> {
        if self.block_timeout_ms == 0 || self.block_timeout_ms > MAX_BLOCK_TIMEOUT_MS {
            return Err(GeometryError::BlockTimeout {
                ms: self.block_timeout_ms,
            });
        }
        RingGeometry::new(
            self.buffer_size,
            self.block_size,
            self.frame_size,
            sys::page_size(),
        )
    }
}

/// A ring's dimensions, valid for the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingGeometry {
    pub block_size: u32,
    pub block_count: u32,
    pub frame_size: u32,
}

impl RingGeometry {
    /// Derives and checks the geometry of a ring of `buffer_size` bytes on a system
    /// with `page_size`-byte pages.
    pub fn new(
        buffer_size: u64,
        block_size: Option<u32>,
        frame_size: u32,
        page_size: usize,
    ) -> Result<RingGeometry, GeometryError> {
        let page = page_size as u64;
        if buffer_size > MAX_BUFFER_SIZE {
            return Err(GeometryError::BufferTooLarge {
                buffer: buffer_size,
            });
        }
        if buffer_size < page {
            return Err(GeometryError::BufferTooSmall {
                buffer: buffer_size,
                page,
            });
        }
        let block = match block_size {
            Some(block) => {
                if !block.is_power_of_two() {
                    return Err(GeometryError::BlockNotPowerOfTwo { block });
                }
                if !u64::from(block).is_multiple_of(page) {
                    return Err(GeometryError::BlockNotPageMultiple { block, page });
                }
                if block > MAX_BLOCK_SIZE {
                    return Err(GeometryError::BlockTooLarge { block });
                }
                if u64::from(block) > buffer_size {
                    return Err(GeometryError::BufferSmallerThanBlock {
                        buffer: buffer_size,
                        block,
                    });
                }
                block
            }
            None => {
                // The largest power of two that gives four blocks, within the page
                // size and the default.
                let quarter = (buffer_size / 4).max(1);
                let pow2 = 1u64 << (63 - quarter.leading_zeros());
                pow2.clamp(page, u64::from(DEFAULT_BLOCK_SIZE)) as u32
            }
        };
        if !frame_size.is_multiple_of(TPACKET_ALIGNMENT) {
            return Err(GeometryError::FrameNotAligned { frame: frame_size });
        }
        if frame_size < MIN_FRAME_SIZE {
            return Err(GeometryError::FrameTooSmall { frame: frame_size });
        }
        if frame_size > block {
            return Err(GeometryError::FrameLargerThanBlock {
                frame: frame_size,
                block,
            });
        }
        // Below 4 GiB / one page: fits in 32 bits, and so does the frame count.
        let block_count = (buffer_size / u64::from(block)) as u32;
        Ok(RingGeometry {
            block_size: block,
            block_count,
            frame_size,
        })
    }

    /// Frames as the kernel counts them (`tp_frame_nr`).
    pub fn frame_count(&self) -> u32 {
        (self.block_size / self.frame_size) * self.block_count
    }

    /// The ring's size in bytes.
    pub fn total(&self) -> u64 {
        u64::from(self.block_size) * u64::from(self.block_count)
    }
}

/// Why ring options cannot make a ring. Each message names the value and the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error(
        "ring buffer of {buffer} bytes is larger than the limit of {} bytes",
        MAX_BUFFER_SIZE
    )]
    BufferTooLarge { buffer: u64 },
    #[error("ring buffer of {buffer} bytes is smaller than one page ({page} bytes)")]
    BufferTooSmall { buffer: u64, page: u64 },
    #[error("ring buffer of {buffer} bytes cannot hold one block of {block} bytes")]
    BufferSmallerThanBlock { buffer: u64, block: u32 },
    #[error("block size {block} is not a power of two")]
    BlockNotPowerOfTwo { block: u32 },
    #[error("block size {block} is not a multiple of the page size ({page} bytes)")]
    BlockNotPageMultiple { block: u32, page: u64 },
    #[error(
        "block size {block} is larger than the limit of {} bytes",
        MAX_BLOCK_SIZE
    )]
    BlockTooLarge { block: u32 },
    #[error(
        "frame size {frame} is not a multiple of {} (TPACKET_ALIGNMENT)",
        TPACKET_ALIGNMENT
    )]
    FrameNotAligned { frame: u32 },
    #[error(
        "frame size {frame} is smaller than the packet header ({} bytes)",
        MIN_FRAME_SIZE
    )]
    FrameTooSmall { frame: u32 },
    #[error("frame size {frame} is larger than the block size {block}")]
    FrameLargerThanBlock { frame: u32, block: u32 },
    #[error("block timeout {ms} ms is outside 1..={} ms", MAX_BLOCK_TIMEOUT_MS)]
    BlockTimeout { ms: u32 },
}

/// Why the ring cannot be opened or read. Each message is complete on its own (with
/// the system's reason and what to do), so no variant has a `source()`.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("-i {interface}: {problem}")]
    Geometry {
        interface: String,
        problem: GeometryError,
    },
    #[error("-i {interface}: {problem}")]
    Filter {
        interface: String,
        problem: BpfError,
    },
    #[error("no interface named {interface:?} (see `ip link`)")]
    NoSuchInterface { interface: String },
    #[error("cannot look up interface {interface}: {cause}")]
    Interface { interface: String, cause: io::Error },
    #[error("cannot open packet socket on {interface}: {}{}", reason(.cause), open_hint(.cause))]
    Open { interface: String, cause: io::Error },
    #[error("cannot bind packet socket to {interface}: {cause}")]
    Bind { interface: String, cause: io::Error },
    #[error(
        "{interface} has hardware type {hatype} (ARPHRD_*); only Ethernet, loopback and \
         raw IP interfaces can be captured on"
    )]
    UnsupportedLink { interface: String, hatype: u16 },
    #[error("packet socket on {interface}: cannot set {option}: {cause}")]
    Option {
        interface: String,
        option: &'static str,
        cause: io::Error,
    },
    #[error(
        "cannot set up a {bytes}-byte ring on {interface}: {}{}",
        reason(.cause),
        ring_hint(.cause)
    )]
    Ring {
        interface: String,
        bytes: u64,
        cause: io::Error,
    },
    #[error(
        "cannot join fan-out group {group} on {interface}: {} (every ring of a group must \
         use the same interface, and the interface must be up)",
        reason(.cause)
    )]
    Fanout {
        interface: String,
        group: u16,
        cause: io::Error,
    },
    #[error("cannot receive on {interface}: {cause}")]
    Recv { interface: String, cause: io::Error },
    #[error("{interface} went down: nothing more can be captured on it")]
    InterfaceDown { interface: String },
    #[error("{interface} disappeared: the interface was deleted")]
    InterfaceGone { interface: String },
    #[error(
        "{addr} is no longer an address of {interface}: the mirror sent to it cannot \
         arrive here any more (see `ip addr`)"
    )]
    AddressGone { addr: IpAddr, interface: String },
}

fn ring_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOMEM) => " (ask for a smaller ring with -B)",
        _ => "",
    }
}

/// What the ring has seen, besides what the pipeline counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingCounters {
    /// Blocks handed over by the kernel and read.
    pub blocks: u64,
    /// Frames lent to the pipeline.
    pub frames: u64,
    /// Frames this host sent, skipped (kernels without `PACKET_IGNORE_OUTGOING`).
    pub outgoing_ignored: u64,
    /// Frames whose outer VLAN tag the kernel moved into metadata.
    pub vlan_offloaded: u64,
    /// Blocks whose headers pointed outside the block: the rest of each was skipped.
    pub corrupt_blocks: u64,
    /// Frames that passed the filter, per the kernel (dropped ones included).
    pub kernel_packets: u64,
    /// Frames that passed the filter but found the ring full.
    pub kernel_drops: u64,
    /// Times the ring was full and the kernel froze it.
    pub kernel_freezes: u64,
}

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

/// The block being read and where in it.
struct Current {
    block: UserBlock,
    cursor: BlockCursor,
}

/// The stop request: when it came, and how long the drain may wait for blocks.
#[derive(Clone, Copy)]
struct Drain {
    at: Timestamp,
    deadline: Instant,
}

/// What one step of the reader found.
enum Step {
    Packet(PacketHeader),
    Idle,
    End,
    Again,
}

/// An AF_PACKET socket bound to one interface, with its TPACKET_V3 ring.
pub struct RingSource {
    socket: Socket,
    ring: RxRing,
    interface: String,
    ifindex: u32,
    link: LinkType,
    geometry: RingGeometry,
    block_timeout: Duration,
    /// The block to read after the current one.
    next_block: usize,
    current: Option<Current>,
    /// Whether an idle event was already given since the last data.
    idle_reported: bool,
    drain: Option<Drain>,
    counters: RingCounters,
    last_corruption: Option<BlockError>,
    /// The kernel's counters, accumulated (reading them resets them in the kernel).
    kernel: Cell<(u64, u64, u64)>,
    /// `--listen`: the address must stay on this interface.
    address: Option<AddressWatch>,
    /// Packets the interface merged with GRO.
    gro: GroDetector,
}

impl RingSource {
    /// Opens the socket, attaches the GRE filter, sets up and maps the ring, then
    /// binds to the interface (and joins the fan-out group): only filtered frames ever
    /// reach the ring.
    pub fn open(options: &RingOptions) -> Result<RingSource, RingError> {
        let interface = options.interface.clone();
        let geometry = options.geometry().map_err(|problem| RingError::Geometry {
            interface: interface.clone(),
            problem,
        })?;
        let ifindex = sys::interface_index(&interface).map_err(|cause| {
            if cause.raw_os_error() == Some(libc::ENODEV) {
                RingError::NoSuchInterface {
                    interface: interface.clone(),
                }
            } else {
                RingError::Interface {
                    interface: interface.clone(),
                    cause,
                }
            }
        })?;
        // Protocol 0: the socket receives nothing until the last bind below names one.
        let socket =
            Socket::new(Domain::PACKET, Type::RAW, None).map_err(|cause| RingError::Open {
                interface: interface.clone(),
                cause,
            })?;
        let bind_error = |cause| RingError::Bind {
            interface: interface.clone(),
            cause,
        };
        let option = |option: &'static str| {
            let interface = interface.clone();
            move |cause: io::Error| RingError::Option {
                interface,
                option,
                cause,
            }
        };
        // Bound with protocol 0 to learn the link type, still receiving nothing.
        sys::bind_packet(&socket, ifindex, 0).map_err(bind_error)?;
        let hatype = sys::packet_hardware_type(&socket).map_err(option("getsockname"))?;
        let (link, framing) = match hatype {
            libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => (LinkType::Ethernet, Framing::Ethernet),
            libc::ARPHRD_NONE | ARPHRD_RAWIP => (LinkType::Raw, Framing::RawIp),
            _ => {
                return Err(RingError::UnsupportedLink {
                    interface: interface.clone(),
                    hatype,
                });
            }
        };
        let program = bpf::mirror_filter(framing, &options.destinations, &options.udp_ports)
            .map_err(|problem| RingError::Filter {
                interface: interface.clone(),
                problem,
            })?;
        sys::attach_filter(&socket, &program).map_err(option("SO_ATTACH_FILTER"))?;
        sys::set_int_option(
            &socket,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            libc::tpacket_versions::TPACKET_V3 as libc::c_int,
        )
        .map_err(option("PACKET_VERSION TPACKET_V3"))?;
        match sys::set_int_option(&socket, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1) {
            // Before Linux 4.20: outgoing frames are skipped by their packet type.
            Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => {}
            r => r.map_err(option("PACKET_IGNORE_OUTGOING"))?,
        }
        let ring_error = |cause| RingError::Ring {
            interface: interface.clone(),
            bytes: geometry.total(),
            cause,
        };
        let request = RingRequest {
            block_size: geometry.block_size,
            block_nr: geometry.block_count,
            frame_size: geometry.frame_size,
            frame_nr: geometry.frame_count(),
            retire_blk_tov: options.block_timeout_ms,
        };
        sys::set_rx_ring(&socket, &request).map_err(ring_error)?;
        let ring = RxRing::map(
            &socket,
            geometry.block_size as usize,
            geometry.block_count as usize,
        )
        .map_err(ring_error)?;
        // Now every frame: through the filter, into the ring.
        sys::bind_packet(&socket, ifindex, ETH_P_ALL).map_err(bind_error)?;
        if let Some(group) = options.fanout {
            let fanout_error = |cause| RingError::Fanout {
                interface: interface.clone(),
                group,
                cause,
            };
            let mode = match options.fanout_mode {
                FanoutMode::OuterAddresses => libc::PACKET_FANOUT_CBPF,
                FanoutMode::KernelHash => libc::PACKET_FANOUT_HASH,
            };
            let arg = u32::from(group) | ((mode | libc::PACKET_FANOUT_FLAG_DEFRAG) << 16);
            sys::set_int_option(
                &socket,
                libc::SOL_PACKET,
                libc::PACKET_FANOUT,
                arg as libc::c_int,
            )
            .map_err(fanout_error)?;
            if options.fanout_mode == FanoutMode::OuterAddresses {
                // Every member sets the same program; until the first one did, the
                // group sends everything to its first ring.
                let program =
                    bpf::fanout_by_outer_addresses().map_err(|problem| RingError::Filter {
                        interface: interface.clone(),
                        problem,
                    })?;
                sys::set_fanout_program(&socket, &program).map_err(fanout_error)?;
            }
        }
        Ok(RingSource {
            socket,
            ring,
            interface,
            ifindex,
            link,
            geometry,
            block_timeout: Duration::from_millis(u64::from(options.block_timeout_ms)),
            next_block: 0,
            current: None,
            idle_reported: true,
            drain: None,
            counters: RingCounters::default(),
            last_corruption: None,
            kernel: Cell::new((0, 0, 0)),
            gro: GroDetector::new(
                &options.interface,
                link,
                gro::interface_mtu(&options.interface),
            ),
            address: match options.destinations[..] {
                [addr] => Some(AddressWatch::new(addr)),
                _ => None,
            },
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The link type of the frames lent (Ethernet, or raw IP on tun-like devices).
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    pub fn geometry(&self) -> RingGeometry {
        self.geometry
    }

    /// The ring's counters, with the kernel's read now.
    pub fn counters(&self) -> RingCounters {
        self.read_kernel_counters();
        let (packets, drops, freezes) = self.kernel.get();
        RingCounters {
            kernel_packets: packets,
            kernel_drops: drops,
            kernel_freezes: freezes,
            ..self.counters
        }
    }

    /// What was wrong with the last corrupt block, if any was seen.
    pub fn last_corruption(&self) -> Option<BlockError> {
        self.last_corruption
    }

    /// Adds what the kernel counted since the last read.
    fn read_kernel_counters(&self) {
        if let Ok(st) = sys::packet_statistics(&self.socket) {
            let (p, d, f) = self.kernel.get();
            self.kernel.set((
                p + u64::from(st.packets),
                d + u64::from(st.drops),
                f + u64::from(st.freeze_q_cnt),
            ));
        }
    }

    /// Gives the current block back and moves to the next.
    fn finish_block(&mut self) {
        self.current = None;
        self.next_block = (self.next_block + 1) % self.ring.block_count();
    }

    fn step(&mut self) -> Result<Step, RingError> {
        if let Some(current) = &mut self.current {
            match current.cursor.next_packet(current.block.bytes()) {
                Ok(Some(p)) if p.pkttype == libc::PACKET_OUTGOING => {
                    self.counters.outgoing_ignored += 1;
                    return Ok(Step::Again);
                }
                Ok(Some(p)) => {
                    self.counters.frames += 1;
                    self.gro.observe(&p);
                    if p.status & libc::TP_STATUS_VLAN_VALID != 0 {
                        self.counters.vlan_offloaded += 1;
                    }
                    return Ok(Step::Packet(p));
                }
                Ok(None) => {}
                Err(e) => {
                    self.counters.corrupt_blocks += 1;
                    self.last_corruption = Some(e);
                }
            }
            self.finish_block();
        }
        // Between blocks, busy or idle: mirror packets to an address given up would
        // still arrive here.
        self.check_address()?;
        if let Some(block) = self.ring.take(self.next_block) {
            self.idle_reported = false;
            match BlockCursor::new(block.bytes()) {
                Ok(cursor) => {
                    self.counters.blocks += 1;
                    self.current = Some(Current { block, cursor });
                }
                Err(e) => {
                    self.counters.corrupt_blocks += 1;
                    self.last_corruption = Some(e);
                    drop(block);
                    self.finish_block();
                }
            }
            return Ok(Step::Again);
        }
        // The kernel still fills the next block.
        let wait_ms = match self.drain {
            Some(drain) => {
                let left = drain.deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Step::End);
                }
                left.as_millis().min(u128::from(POLL_MS)) as i32 + 1
            }
            None if !self.idle_reported => {
                self.idle_reported = true;
                return Ok(Step::Idle);
            }
            None => POLL_MS as i32,
        };
        let recv_error = |cause| RingError::Recv {
            interface: self.interface.clone(),
            cause,
        };
        match sys::wait_socket(&self.socket, wait_ms).map_err(recv_error)? {
            Readiness::Readable => Ok(Step::Again),
            Readiness::Timeout if self.drain.is_some() => Ok(Step::Again),
            // Nothing for a whole wait (or a signal): the consumer may flush again.
            Readiness::Timeout => Ok(Step::Idle),
            Readiness::Error => match self.socket.take_error().map_err(recv_error)? {
                // The kernel unhooks the socket when its interface goes down or is
                // deleted: nothing would arrive any more (tcpdump stops too).
                Some(e) if e.raw_os_error() == Some(libc::ENETDOWN) => Err(self.went_away()),
                Some(e) => Err(recv_error(e)),
                None => Ok(Step::Idle),
            },
        }
    }

    /// `--listen`: the address must still be on this interface (checked at most once
    /// a second).
    fn check_address(&mut self) -> Result<(), RingError> {
        if let Some(watch) = &mut self.address
            && let Some(holders) = watch.holders()
            && !holders.contains(&self.interface)
        {
            return Err(RingError::AddressGone {
                addr: watch.addr,
                interface: self.interface.clone(),
            });
        }
        Ok(())
    }

    /// Why the interface stopped delivering: deleted (its index is gone or another
    /// interface's), or down.
    fn went_away(&self) -> RingError {
        let interface = self.interface.clone();
        match sys::interface_index(&self.interface) {
            Ok(index) if index == self.ifindex => RingError::InterfaceDown { interface },
            _ => RingError::InterfaceGone { interface },
        }
    }
}

impl Source for RingSource {
    type Error = RingError;

    /// The next frame from the ring. Waits in short polls until the kernel hands over
    /// a block, reporting [`Received::Idle`] once each time the ring runs dry. Once
    /// `stop` is set, returns the frames the kernel received before that moment,
    /// waiting up to twice the block timeout for the block it was filling, then `None`.
    fn next_packet(&mut self, stop: &AtomicBool) -> Result<Option<Received<'_>>, RingError> {
        if self.drain.is_none() && stop.load(Ordering::Relaxed) {
            // The kernel stamps frames with CLOCK_REALTIME too.
            self.drain = Some(Drain {
                at: Timestamp::now(),
                deadline: Instant::now() + 2 * self.block_timeout + DRAIN_SLACK,
            });
        }
        let packet = loop {
            match self.step()? {
                Step::Packet(p) => break p,
                Step::Idle => return Ok(Some(Received::Idle)),
                Step::End => return Ok(None),
                Step::Again => {}
            }
        };
        if let Some(drain) = self.drain
            && packet.ts.as_nanos() > drain.at.as_nanos()
        {
            return Ok(None);
        }
        let data = match &self.current {
            Some(current) => current.block.bytes().get(packet.data).unwrap_or_default(),
            None => &[],
        };
        Ok(Some(Received::Frame(OuterFrame {
            ts: packet.ts,
            link: self.link,
            data,
            orig_len: packet.len.max(data.len() as u32),
        })))
    }

    fn precision(&self) -> TsPrecision {
        TsPrecision::Nano
    }

    fn gro_merged(&self) -> u64 {
        self.gro.merged()
    }

    fn is_live(&self) -> bool {
        true
    }

    fn kernel_drops(&self) -> Option<u64> {
        self.read_kernel_counters();
        Some(self.kernel.get().1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;

    fn geometry(
        buffer: u64,
        block: Option<u32>,
        frame: u32,
    ) -> Result<RingGeometry, GeometryError> {
        RingGeometry::new(buffer, block, frame, PAGE)
    }

    #[test]
    fn default_geometry() {
        let g = RingOptions::new("eth0").geometry().unwrap();
        assert_eq!(g.block_size, DEFAULT_BLOCK_SIZE);
        assert_eq!(g.block_count, 32);
        assert_eq!(g.frame_count(), 32 * 512);
        assert_eq!(g.total(), DEFAULT_BUFFER_SIZE);
    }

    #[test]
    fn derived_blocks_follow_the_buffer() {
        // tcpdump's -B 2048 (2 MiB): four blocks of 512 KiB.
        let g = geometry(2 << 20, None, 2048).unwrap();
        assert_eq!((g.block_size, g.block_count), (512 << 10, 4));
        // A tiny ring: page-sized blocks.
        let g = geometry(16 << 10, None, 2048).unwrap();
        assert_eq!((g.block_size, g.block_count), (4096, 4));
        let g = geometry(4096, None, 2048).unwrap();
        assert_eq!((g.block_size, g.block_count), (4096, 1));
        // Large: capped at the default block size; a remainder is dropped.
        let g = geometry((1 << 30) + 12345, None, 2048).unwrap();
        assert_eq!((g.block_size, g.block_count), (1 << 20, 1024));
        let g = geometry(MAX_BUFFER_SIZE, Some(MAX_BLOCK_SIZE), MIN_FRAME_SIZE).unwrap();
        assert_eq!(g.total(), MAX_BUFFER_SIZE);
        assert!(u64::from(g.frame_count()) * u64::from(g.frame_size) <= g.total());
    }

    #[test]
    fn geometry_errors_name_the_values() {
        let cases: [(Result<RingGeometry, GeometryError>, &str); 9] = [
            (
                geometry(1 << 20, Some(3 << 12), 2048),
                "block size 12288 is not a power of two",
            ),
            (
                geometry(1 << 20, Some(2048), 2048),
                "block size 2048 is not a multiple of the page size (4096 bytes)",
            ),
            (
                geometry(1 << 20, None, 2008),
                "frame size 2008 is not a multiple of 16 (TPACKET_ALIGNMENT)",
            ),
            (
                geometry(1 << 20, None, 64),
                "frame size 64 is smaller than the packet header (80 bytes)",
            ),
            (
                geometry(1 << 20, Some(4096), 8192),
                "frame size 8192 is larger than the block size 4096",
            ),
            (
                geometry(1024, None, 2048),
                "ring buffer of 1024 bytes is smaller than one page (4096 bytes)",
            ),
            (
                geometry(1 << 20, Some(2 << 20), 2048),
                "ring buffer of 1048576 bytes cannot hold one block of 2097152 bytes",
            ),
            (
                geometry(MAX_BUFFER_SIZE + 1, None, 2048),
                "ring buffer of 4294967297 bytes is larger than the limit of 4294967296 bytes",
            ),
            (
                geometry(1 << 30, Some(256 << 20), 2048),
                "block size 268435456 is larger than the limit of 134217728 bytes",
            ),
        ];
        for (result, message) in cases {
            assert_eq!(result.unwrap_err().to_string(), message);
        }
        let mut o = RingOptions::new("eth0");
        o.block_timeout_ms = 0;
        assert_eq!(
            o.geometry().unwrap_err().to_string(),
            "block timeout 0 ms is outside 1..=10000 ms"
        );
    }

    #[test]
    fn open_errors_say_what_to_do() {
        let e = RingError::Open {
            interface: "eth0".into(),
            cause: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert_eq!(
            e.to_string(),
            "cannot open packet socket on eth0: Operation not permitted (run as root or \
             grant CAP_NET_RAW: setcap cap_net_raw+ep $(command -v spandump))"
        );
        let e = RingError::NoSuchInterface {
            interface: "nope0".into(),
        };
        assert_eq!(
            e.to_string(),
            "no interface named \"nope0\" (see `ip link`)"
        );
        let e = RingError::Ring {
            interface: "eth0".into(),
            bytes: 1 << 30,
            cause: io::Error::from_raw_os_error(libc::ENOMEM),
        };
        assert!(
            e.to_string().ends_with("(ask for a smaller ring with -B)"),
            "{e}"
        );
    }

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
