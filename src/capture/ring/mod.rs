//! Live capture on an interface (`-i IFACE`): an AF_PACKET socket with a TPACKET_V3
//! ring, read in place.
//!
//! The kernel copies each frame of the interface that passes the socket's classic BPF
//! filter ([`super::bpf`]: GRE only, optionally to given addresses) into a ring of
//! blocks shared with this process, and hands a block over when it is full or after
//! the block timeout. [`RingSource`] lends the frames straight from the ring memory as
//! [`OuterFrame`]s (link type Ethernet, or raw IP on tun-like devices) and gives each
//! block back to the kernel once it moved past it: no copy and no system call per
//! packet. [`RingSource::next_block`] lends a whole block's frames together instead,
//! each borrowing the block until the consumer lets go of it, so that slices of many
//! frames can be written in one vectored write before the block goes back. Frames the
//! host sends itself are ignored; the kernel's drops (ring full)
//! come from `PACKET_STATISTICS`.
//!
//! When the kernel (or the NIC) moved an outer VLAN tag into metadata
//! (`TP_STATUS_VLAN_VALID`), the frame in the ring is untagged; tags left in the bytes
//! are read by the link parser. Either way the outer IP header is found.
//!
//! Along the data flow: [`geometry`] checks the ring's dimensions, this module opens the
//! socket (filter attached before the bind, so only filtered frames ever reach the
//! ring), maps the ring and steps from block to block, and [`block`] walks the packet
//! headers of one block. This module never parses a block's bytes itself (only
//! [`block`] does, with bounds checks: a corrupt offset ends the block and is counted,
//! never read past); every `unsafe` (the mapping, the block hand-over) is in
//! [`super::sys`]. It knows interfaces and rings, never what a GRE header holds.

pub mod block;
pub mod geometry;

pub use block::{BlockCursor, BlockError, PacketHeader};
pub use geometry::*;

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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// What [`RingSource::next_block`] lends next.
pub enum Lent<'a> {
    /// The frames of one block.
    Block(BlockFrames<'a>),
    /// The ring ran dry for now: a good moment to flush what is buffered.
    Idle,
    /// The drain after the stop request is over.
    End,
}

/// The frames of one block of the ring, each borrowing the whole block for `'a`.
pub struct BlockFrames<'a> {
    bytes: &'a [u8],
    cursor: &'a mut BlockCursor,
    counters: &'a mut RingCounters,
    last_corruption: &'a mut Option<BlockError>,
    gro: &'a mut GroDetector,
    /// When the stop was requested: later frames are not lent.
    drain: Option<Timestamp>,
    drained: &'a mut bool,
    link: LinkType,
}

impl<'a> BlockFrames<'a> {
    /// The whole block, from its descriptor on: every frame lent lies inside it.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The block's next frame, or `None` after its last one (or a corrupt header,
    /// counted, or the first frame received after the stop request).
    pub fn next_frame(&mut self) -> Option<OuterFrame<'a>> {
        loop {
            let packet = match self.cursor.next_packet(self.bytes) {
                Ok(Some(p)) => p,
                Ok(None) => return None,
                Err(e) => {
                    self.counters.corrupt_blocks += 1;
                    *self.last_corruption = Some(e);
                    return None;
                }
            };
            if !admit(&packet, self.counters, self.gro) {
                continue;
            }
            if self
                .drain
                .is_some_and(|at| packet.ts.as_nanos() > at.as_nanos())
            {
                *self.drained = true;
                return None;
            }
            let data = self.bytes.get(packet.data).unwrap_or_default();
            return Some(OuterFrame {
                ts: packet.ts,
                link: self.link,
                data,
                orig_len: packet.len.max(data.len() as u32),
            });
        }
    }
}

/// Counts a packet of a block; whether it is lent (frames this host sent are not).
fn admit(p: &PacketHeader, counters: &mut RingCounters, gro: &mut GroDetector) -> bool {
    if p.pkttype == libc::PACKET_OUTGOING {
        counters.outgoing_ignored += 1;
        return false;
    }
    counters.frames += 1;
    gro.observe(p);
    if p.status & libc::TP_STATUS_VLAN_VALID != 0 {
        counters.vlan_offloaded += 1;
    }
    true
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
    /// A block lent whole met a frame received after the stop request: the drain is
    /// over.
    drained: bool,
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
            drained: false,
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
                Ok(Some(p)) => {
                    return Ok(if admit(&p, &mut self.counters, &mut self.gro) {
                        Step::Packet(p)
                    } else {
                        Step::Again
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    self.counters.corrupt_blocks += 1;
                    self.last_corruption = Some(e);
                }
            }
            self.finish_block();
        }
        self.between_blocks()
    }

    /// No block is being read: takes the next one the kernel handed over, or waits
    /// for it (a short poll), or says the ring ran dry or the drain is over.
    fn between_blocks(&mut self) -> Result<Step, RingError> {
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

    /// Starts the drain once `stop` is set.
    fn note_stop(&mut self, stop: &AtomicBool) {
        if self.drain.is_none() && stop.load(Ordering::Relaxed) {
            // The kernel stamps frames with CLOCK_REALTIME too.
            self.drain = Some(Drain {
                at: Timestamp::now(),
                deadline: Instant::now() + 2 * self.block_timeout + DRAIN_SLACK,
            });
        }
    }

    /// The next block's frames, lent together: each frame borrows the block for as
    /// long as the returned [`BlockFrames`] lives, so a consumer can keep slices of
    /// several frames (a vectored write of them) until it drops it; the block goes
    /// back to the kernel on a later call, once every frame of it was taken, or when
    /// the source is dropped. Waits as [`Source::next_packet`] does, reporting
    /// [`Lent::Idle`] once each time the ring runs dry, and [`Lent::End`] after `stop`
    /// once the frames received before it were lent.
    pub fn next_block(&mut self, stop: &AtomicBool) -> Result<Lent<'_>, RingError> {
        self.note_stop(stop);
        if self.drained {
            return Ok(Lent::End);
        }
        loop {
            match &self.current {
                Some(current) if !current.cursor.is_done() => break,
                Some(_) => self.finish_block(),
                None => {}
            }
            match self.between_blocks()? {
                Step::Idle => return Ok(Lent::Idle),
                Step::End => return Ok(Lent::End),
                Step::Again | Step::Packet(_) => {}
            }
        }
        let Some(Current { block, cursor }) = &mut self.current else {
            return Ok(Lent::End);
        };
        Ok(Lent::Block(BlockFrames {
            bytes: block.bytes(),
            cursor,
            counters: &mut self.counters,
            last_corruption: &mut self.last_corruption,
            gro: &mut self.gro,
            drain: self.drain.map(|d| d.at),
            drained: &mut self.drained,
            link: self.link,
        }))
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
        self.note_stop(stop);
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
}
