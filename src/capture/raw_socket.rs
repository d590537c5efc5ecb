//! Live capture at the sink address: a raw IP socket for protocol 47 bound to it.
//!
//! The kernel delivers every GRE datagram addressed to that address, reassembled, with
//! a kernel timestamp. An IPv4 socket returns the IPv4 header too, so its datagrams are
//! lent as [`OuterFrame`]s of link type IPv4; an IPv6 socket returns only what follows
//! the IPv6 header, so its datagrams are lent as [`Received::Ipv6Payload`] with the
//! addresses from the socket. Datagrams come in batches (`recvmmsg`) into buffers owned
//! by the socket and are lent from there: no copy, no allocation per packet.
//!
//! This module knows addresses and sockets, never what a GRE header holds.

use super::batch::{BatchLoop, Turn};
use super::bpf;
use super::sys::{self, RecvBatch};
use super::{AddressWatch, OuterFrame, Received, Source, open_hint, reason};
use crate::TsPrecision;
use crate::wire::LinkType;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::AtomicBool;

/// IP protocol number of GRE.
const IPPROTO_GRE: i32 = 47;

/// Default receive buffer: a burst of mirrored traffic must fit while the writer is busy.
pub const DEFAULT_RECV_BUFFER: usize = 8 << 20;

/// Datagrams per `recvmmsg`.
const BATCH: usize = 64;

/// Room per datagram: the largest IPv4 datagram (65535 bytes) fits whole, and so do
/// GRO-merged GRE packets.
const SLOT_LEN: usize = 65_536;

/// How long one wait for data lasts, so that a stop request is seen soon.
const POLL_MS: i32 = 100;

/// What to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenOptions {
    /// The local address mirrored traffic is sent to.
    pub addr: IpAddr,
    /// Receive buffer size in bytes.
    pub recv_buffer: usize,
}

/// Why the socket cannot be opened or read. Each message is complete on its own (with
/// the system's reason and what to do), so no variant has a `source()`.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("cannot open raw GRE socket on {addr}: {}{}", reason(.cause), open_hint(.cause))]
    Open { addr: IpAddr, cause: io::Error },
    #[error("cannot bind raw GRE socket to {addr}: {}{}", reason(.cause), bind_hint(.addr, .cause))]
    Bind { addr: IpAddr, cause: io::Error },
    #[error("raw GRE socket on {addr}: cannot set {option}: {cause}")]
    Option {
        addr: IpAddr,
        option: &'static str,
        cause: io::Error,
    },
    #[error("cannot receive on raw GRE socket {addr}: {cause}")]
    Recv { addr: IpAddr, cause: io::Error },
    #[error(
        "{addr} is no longer an address of this host (removed, or its interface went \
         away): the mirror sent to it cannot arrive here any more (see `ip addr`)"
    )]
    AddressGone { addr: IpAddr },
}

fn bind_hint(addr: &IpAddr, e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EADDRNOTAVAIL) => format!(
            " ({addr} is not an address of this host: a raw socket receives only packets \
             addressed to a local address; see `ip addr`)"
        ),
        _ => open_hint(e).to_owned(),
    }
}

/// A raw GRE socket bound to the sink address, and its receive batch.
pub struct RawGreSocket {
    socket: Socket,
    addr: IpAddr,
    batch: RecvBatch,
    /// Which datagram of the batch is next, idle and stop state.
    turns: BatchLoop,
    /// The latest cumulative drop counter the kernel reported.
    drops: u64,
    /// Receive buffer the kernel granted (bytes, as `SO_RCVBUF` reads it).
    recv_buffer: usize,
    /// The bound address must stay local.
    watch: AddressWatch,
}

impl RawGreSocket {
    /// Opens and binds the socket and asks for timestamps, drop counts and (IPv6) the
    /// destination address of each datagram.
    pub fn open(options: ListenOptions) -> Result<RawGreSocket, SocketError> {
        let addr = options.addr;
        let socket = gre_socket(addr)?;
        let option = |option: &'static str| {
            move |cause: io::Error| SocketError::Option {
                addr,
                option,
                cause,
            }
        };
        // Ask for the buffer before binding, so no burst meets the default size.
        let size = options.recv_buffer.min(i32::MAX as usize / 2) as i32;
        if sys::set_int_option(&socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size).is_err() {
            // Without CAP_NET_ADMIN the kernel caps the size at net.core.rmem_max.
            socket
                .set_recv_buffer_size(size as usize)
                .map_err(option("SO_RCVBUF"))?;
        }
        sys::set_int_option(&socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
            .map_err(option("SO_TIMESTAMPNS"))?;
        sys::set_int_option(&socket, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)
            .map_err(option("SO_RXQ_OVFL"))?;
        if addr.is_ipv6() {
            sys::set_int_option(&socket, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
                .map_err(option("IPV6_RECVPKTINFO"))?;
        }
        socket
            .bind(&SockAddr::from(SocketAddr::new(addr, 0)))
            .map_err(|cause| SocketError::Bind { addr, cause })?;
        let recv_buffer = socket.recv_buffer_size().unwrap_or(0);
        Ok(RawGreSocket {
            socket,
            addr,
            batch: RecvBatch::new(BATCH, SLOT_LEN),
            turns: BatchLoop::new(),
            drops: 0,
            recv_buffer,
            watch: AddressWatch::new(addr),
        })
    }

    /// The address the socket is bound to.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The receive buffer the kernel granted, in bytes.
    pub fn recv_buffer(&self) -> usize {
        self.recv_buffer
    }

    fn lend(&mut self) -> Option<Received<'_>> {
        let (data, meta) = self.batch.get(self.turns.next)?;
        self.turns.next += 1;
        if let Some(d) = meta.drops {
            // The socket's total so far (a 32-bit counter in the kernel).
            self.drops = self.drops.max(u64::from(d));
        }
        let ts = super::receive_time(meta);
        let orig_len = meta.len.min(u32::MAX as usize) as u32;
        Some(match self.addr {
            IpAddr::V4(_) => Received::Frame(OuterFrame {
                ts,
                link: LinkType::Ipv4,
                data,
                orig_len,
            }),
            IpAddr::V6(bound) => {
                let src = match meta.src {
                    Some(IpAddr::V6(a)) => a,
                    _ => Ipv6Addr::UNSPECIFIED,
                };
                Received::Ipv6Payload {
                    ts,
                    src,
                    dst: meta.dst_v6.unwrap_or(bound),
                    payload: data,
                    orig_len,
                }
            }
        })
    }
}

/// A raw GRE socket bound to `addr` that keeps nothing: its filter drops every packet.
///
/// While a raw socket for protocol 47 is bound to the sink address, the kernel delivers
/// GRE packets for that address to it and does not answer them with ICMP
/// protocol-unreachable (which it does when no socket or tunnel claims them). The ring
/// path of `--listen` receives through AF_PACKET and keeps this socket open only for
/// that; its filter runs before any queueing, so it costs no buffer and no data copy.
/// It is not free: `raw_v4_input` clones each matching packet's `sk_buff` for the
/// socket before the filter drops it (0.45 µs per packet measured), but without it the
/// kernel attempts an ICMP answer for every packet, route lookup included, before its
/// rate limit refuses most of them (1.4 µs): the socket is the cheaper of the two.
pub fn silent_gre_socket(addr: IpAddr) -> Result<Socket, SocketError> {
    let socket = gre_socket(addr)?;
    sys::attach_filter(&socket, &bpf::drop_all()).map_err(|cause| SocketError::Option {
        addr,
        option: "SO_ATTACH_FILTER",
        cause,
    })?;
    socket
        .bind(&SockAddr::from(SocketAddr::new(addr, 0)))
        .map_err(|cause| SocketError::Bind { addr, cause })?;
    Ok(socket)
}

/// A raw socket for IP protocol 47 of `addr`'s family (not yet bound).
fn gre_socket(addr: IpAddr) -> Result<Socket, SocketError> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_GRE)))
        .map_err(|cause| SocketError::Open { addr, cause })
}

impl Source for RawGreSocket {
    type Error = SocketError;

    /// The next datagram. Blocks in short waits until one arrives, reporting
    /// [`Received::Idle`] once each time the socket runs dry. Once `stop` is set, returns
    /// what the kernel received before that moment, then `None`: the drain ends even
    /// when mirrored traffic keeps coming.
    fn next_packet(&mut self, stop: &AtomicBool) -> Result<Option<Received<'_>>, SocketError> {
        let (socket, addr, watch) = (&self.socket, self.addr, &mut self.watch);
        let recv_error = |cause| SocketError::Recv { addr, cause };
        let turn = self.turns.turn(
            stop,
            &mut self.batch,
            |batch| batch.recv(socket).map_err(recv_error),
            || {
                let ready = sys::wait_readable(socket, POLL_MS).map_err(recv_error)?;
                if !ready && watch.holders().is_some_and(|h| h.is_empty()) {
                    return Err(SocketError::AddressGone { addr });
                }
                Ok(ready)
            },
        )?;
        Ok(match turn {
            Turn::Lend => self.lend(),
            Turn::Idle => Some(Received::Idle),
            Turn::End => None,
        })
    }

    fn precision(&self) -> TsPrecision {
        TsPrecision::Nano
    }

    fn is_live(&self) -> bool {
        true
    }

    fn kernel_drops(&self) -> Option<u64> {
        // The socket's own counter includes drops after the last datagram read; the
        // cmsg value stands in if the kernel cannot say.
        let now = sys::socket_drops(&self.socket).map_or(0, u64::from);
        Some(self.drops.max(now))
    }
}

/// Kernel modules that answer mirrored packets with ICMP port-unreachable when no
/// tunnel device matches them, even while a raw socket receives the packets.
pub fn icmp_answering_gre_modules() -> Vec<&'static str> {
    let listed = std::fs::read_to_string("/proc/modules").unwrap_or_default();
    ["ip_gre", "ip6_gre"]
        .into_iter()
        .filter(|m| {
            listed.lines().any(|l| l.split(' ').next() == Some(*m))
                || std::path::Path::new("/sys/module").join(m).exists()
        })
        .collect()
}
