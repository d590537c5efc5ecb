//! UDP sockets for the UDP mirror encapsulations (VXLAN, GENEVE, GRE-in-UDP).
//!
//! * [`port_guards`]: sockets bound to the mirror ports that keep nothing (their
//!   filter drops every datagram). While one is bound the kernel does not answer each
//!   mirror packet with ICMP port unreachable; the rings receive the packets.
//! * [`UdpSource`] (`--udp ADDR[:PORT]`): plain UDP sockets. The ports are above 1024,
//!   so this needs no privilege at all. Datagrams come in batches (`recvmmsg`) with
//!   kernel timestamps, the socket's drop counter and the destination address
//!   (`IP_PKTINFO` / `IPV6_PKTINFO`); the sender is the socket's source address. UDP
//!   GRO stays off (the default; it is never asked for), so mirrored packets are never
//!   merged. `SO_REUSEPORT` lets `--threads` sockets share a port.
//!
//! This module knows addresses, ports and sockets, never what a VXLAN header holds.

use super::batch::{BatchLoop, Turn};
use super::bpf;
use super::sys::{self, RecvBatch};
use super::{Received, Source, reason};
use crate::TsPrecision;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::atomic::AtomicBool;

/// Datagrams per `recvmmsg`.
const BATCH: usize = 64;

/// Room per datagram: the largest UDP payload fits whole.
const SLOT_LEN: usize = 65_536;

/// How long one wait for data lasts, so that a stop request is seen soon.
const POLL_MS: i32 = 100;

/// Default receive buffer of a `--udp` socket.
pub const DEFAULT_RECV_BUFFER: usize = 8 << 20;

/// Why a UDP socket cannot be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum UdpError {
    #[error("cannot open UDP socket for {addr}: {}", reason(.cause))]
    Open { addr: SocketAddr, cause: io::Error },
    #[error("cannot bind UDP socket to {addr}: {}{}", reason(.cause), bind_hint(.cause))]
    Bind { addr: SocketAddr, cause: io::Error },
    #[error("UDP socket {addr}: cannot set {option}: {cause}")]
    Option {
        addr: SocketAddr,
        option: &'static str,
        cause: io::Error,
    },
    #[error("cannot receive on UDP socket {addr}: {cause}")]
    Recv { addr: SocketAddr, cause: io::Error },
}

fn bind_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EADDRNOTAVAIL) => " (not an address of this host; see `ip addr`)",
        Some(libc::EADDRINUSE) => {
            " (another program, or a vxlan / geneve device, already receives on that port)"
        }
        _ => "",
    }
}

fn udp_socket(addr: SocketAddr) -> Result<Socket, UdpError> {
    Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(|cause| UdpError::Open { addr, cause })
}

/// Binds a socket that keeps nothing to each of `ports` on `addr` (the unspecified
/// IPv4 and IPv6 addresses when `None`). A port some other socket already holds is
/// left to it (that socket stops the ICMP answers just as well).
///
/// Each mirrored datagram costs the kernel the socket lookup and the drop-all filter
/// (0.1 µs measured; nothing is queued, so the receive buffer never fills), against
/// 2.2 µs for the lookup that finds nothing and the ICMP port-unreachable attempt.
pub fn port_guards(addr: Option<IpAddr>, ports: &[u16]) -> Result<Vec<Socket>, UdpError> {
    let addrs = match addr {
        Some(a) => vec![a],
        None => vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ],
    };
    let mut guards = Vec::new();
    for ip in addrs {
        for &port in ports {
            let addr = SocketAddr::new(ip, port);
            let socket = udp_socket(addr)?;
            if ip.is_ipv6() {
                // The IPv4 wildcard has its own guard.
                let _ = socket.set_only_v6(true);
            }
            sys::attach_filter(&socket, &bpf::drop_all()).map_err(|cause| UdpError::Option {
                addr,
                option: "SO_ATTACH_FILTER",
                cause,
            })?;
            match socket.bind(&SockAddr::from(addr)) {
                Ok(()) => guards.push(socket),
                Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {}
                // No IPv6 on this host: nothing to guard there.
                Err(e) if ip.is_ipv6() && addr.ip().is_unspecified() => {
                    let _ = e;
                }
                Err(cause) => return Err(UdpError::Bind { addr, cause }),
            }
        }
    }
    Ok(guards)
}

/// What to open for one `--udp` source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpOptions {
    /// Local addresses and ports (mirror ports), one socket each, read by one thread.
    pub addrs: Vec<SocketAddr>,
    /// Receive buffer size in bytes, per socket.
    pub recv_buffer: usize,
    /// Share the ports with the other sources of this run (`--threads`).
    pub reuse_port: bool,
}

/// Bound UDP sockets read in turn by one thread, and their receive batch.
pub struct UdpSource {
    sockets: Vec<(Socket, SocketAddr)>,
    batch: RecvBatch,
    /// The socket the batch came from, and the next socket to try.
    filled_from: usize,
    next_socket: usize,
    /// Which datagram of the batch is next, idle and stop state.
    turns: BatchLoop,
    /// Per socket, the latest cumulative drop counter the kernel reported.
    drops: Vec<u64>,
    recv_buffer: usize,
}

fn open_socket(addr: SocketAddr, options: &UdpOptions) -> Result<Socket, UdpError> {
    let socket = udp_socket(addr)?;
    let option = |option: &'static str| {
        move |cause: io::Error| UdpError::Option {
            addr,
            option,
            cause,
        }
    };
    let size = options.recv_buffer.min(i32::MAX as usize / 2);
    if sys::set_int_option(&socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size as i32).is_err() {
        // Unprivileged: the kernel caps the size at net.core.rmem_max.
        socket
            .set_recv_buffer_size(size)
            .map_err(option("SO_RCVBUF"))?;
    }
    if options.reuse_port {
        socket
            .set_reuse_port(true)
            .map_err(option("SO_REUSEPORT"))?;
    }
    sys::set_int_option(&socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
        .map_err(option("SO_TIMESTAMPNS"))?;
    sys::set_int_option(&socket, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)
        .map_err(option("SO_RXQ_OVFL"))?;
    if addr.is_ipv6() {
        sys::set_int_option(&socket, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
            .map_err(option("IPV6_RECVPKTINFO"))?;
    } else {
        sys::set_int_option(&socket, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
            .map_err(option("IP_PKTINFO"))?;
    }
    socket
        .bind(&SockAddr::from(addr))
        .map_err(|cause| UdpError::Bind { addr, cause })?;
    Ok(socket)
}

impl UdpSource {
    /// Opens and binds the sockets; asks for timestamps, drop counts and the
    /// destination address of each datagram.
    pub fn open(options: &UdpOptions) -> Result<UdpSource, UdpError> {
        let mut sockets = Vec::new();
        for &addr in &options.addrs {
            sockets.push((open_socket(addr, options)?, addr));
        }
        let recv_buffer = sockets
            .first()
            .and_then(|(s, _)| s.recv_buffer_size().ok())
            .unwrap_or(0);
        let n = sockets.len();
        Ok(UdpSource {
            sockets,
            batch: RecvBatch::new(BATCH, SLOT_LEN),
            filled_from: 0,
            next_socket: 0,
            turns: BatchLoop::new(),
            drops: vec![0; n],
            recv_buffer,
        })
    }

    /// The addresses the sockets are bound to.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().map(|(_, a)| *a).collect()
    }

    /// The receive buffer the kernel granted (per socket), in bytes.
    pub fn recv_buffer(&self) -> usize {
        self.recv_buffer
    }

    fn lend(&mut self) -> Option<Received<'_>> {
        let (data, meta) = self.batch.get(self.turns.next)?;
        self.turns.next += 1;
        let from = self.filled_from;
        if let Some(d) = meta.drops {
            self.drops[from] = self.drops[from].max(u64::from(d));
        }
        let local = self.sockets[from].1;
        let unspecified = match local {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let dst = meta
            .dst_v4
            .map(IpAddr::V4)
            .or(meta.dst_v6.map(IpAddr::V6))
            .unwrap_or(local.ip());
        Some(Received::UdpPayload {
            ts: super::receive_time(meta),
            src: meta.src.unwrap_or(unspecified),
            dst,
            dst_port: local.port(),
            payload: data,
            orig_len: meta.len.min(u32::MAX as usize) as u32,
        })
    }
}

/// Fills `batch` from the first of `sockets`, in turn from `*next_socket`, that holds
/// datagrams; records which one in `*filled_from` and moves `*next_socket` past it, so
/// that none starves.
fn fill_from(
    sockets: &[(Socket, SocketAddr)],
    next_socket: &mut usize,
    filled_from: &mut usize,
    batch: &mut RecvBatch,
) -> Result<usize, UdpError> {
    let n = sockets.len();
    for k in 0..n {
        let i = (*next_socket + k) % n;
        let (socket, addr) = &sockets[i];
        let got = batch
            .recv(socket)
            .map_err(|cause| UdpError::Recv { addr: *addr, cause })?;
        if got > 0 {
            *filled_from = i;
            *next_socket = (i + 1) % n;
            return Ok(got);
        }
    }
    Ok(0)
}

impl Source for UdpSource {
    type Error = UdpError;

    /// As the raw GRE socket's: blocks in short waits, reports [`Received::Idle`] when
    /// dry, and after `stop` returns what the kernel received before it.
    fn next_packet(&mut self, stop: &AtomicBool) -> Result<Option<Received<'_>>, UdpError> {
        let sockets = &self.sockets;
        let (next_socket, filled_from) = (&mut self.next_socket, &mut self.filled_from);
        let turn = self.turns.turn(
            stop,
            &mut self.batch,
            |batch| fill_from(sockets, next_socket, filled_from, batch),
            || {
                let fds: Vec<_> = sockets.iter().map(|(s, _)| s.as_fd()).collect();
                sys::wait_any_readable(&fds, POLL_MS).map_err(|cause| UdpError::Recv {
                    addr: sockets[0].1,
                    cause,
                })
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
        // Each socket's own counter includes drops after its last datagram read.
        let total = self
            .sockets
            .iter()
            .zip(&self.drops)
            .map(|((s, _), seen)| (*seen).max(sys::socket_drops(s).map_or(0, u64::from)))
            .sum();
        Some(total)
    }
}
