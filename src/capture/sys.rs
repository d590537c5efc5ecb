//! The kernel-facing corner of live capture: every `unsafe` block of the crate is here.
//!
//! It exposes safe types and functions over the few system calls socket2 does not wrap:
//! batched receive (`recvmmsg`) with its control messages (kernel timestamp, socket drop
//! counter, IPv6 destination), integer socket options, `poll`, and dropping privileges;
//! for AF_PACKET, typed setters (ring, filter, statistics), the mapped TPACKET_V3 ring
//! and a guard that lends one retired block and gives it back on drop.
//! It must never interpret packet bytes: it returns them with their metadata.

#![allow(unsafe_code)]

use super::bpf::Instruction;
use std::ffi::CString;
use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Sets an integer socket option (`setsockopt(fd, level, name, &value, sizeof(int))`).
pub fn set_int_option(
    socket: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: every integer option reads a c_int.
    unsafe { set_struct_option(socket, level, name, &value) }
}

/// Makes `signal` interrupt blocking system calls (they fail with EINTR) instead of
/// having them restarted, keeping the handler already installed: a `read` blocked on
/// an idle pipe then returns, and the reader can look at its stop flag.
pub fn interrupt_blocking_calls(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: sigaction is plain old data; all zeroes is a valid value to be overwritten.
    let mut action: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: a null new action only reads the installed one into `action`, a live local.
    if unsafe { libc::sigaction(signal, std::ptr::null(), &raw mut action) } != 0 {
        return Err(io::Error::last_os_error());
    }
    action.sa_flags &= !libc::SA_RESTART;
    // SAFETY: reinstalls the same handler, mask and flags, with SA_RESTART cleared.
    if unsafe { libc::sigaction(signal, &raw const action, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Blocks `signals` in the calling thread, so that the kernel delivers them to a thread
/// that may be blocked in a system call they must interrupt (the main thread's read of an
/// idle pipe), never to a helper thread that sleeps.
pub fn block_signals_in_this_thread(signals: &[libc::c_int]) -> io::Result<()> {
    // SAFETY: sigset_t is plain old data, initialised by sigemptyset right below.
    let mut set: libc::sigset_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is a live local sigset_t for each call.
    unsafe {
        libc::sigemptyset(&raw mut set);
        for &signal in signals {
            libc::sigaddset(&raw mut set, signal);
        }
    }
    // SAFETY: changes only this thread's mask; `set` is initialised, the old mask is
    // not asked for.
    let rc =
        unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// The names of the interfaces that hold `addr` (`getifaddrs`), each once.
pub fn interfaces_with_address(addr: IpAddr) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for (name, found) in interface_addresses()? {
        if found == addr && !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// Every IPv4 and IPv6 address of this host's interfaces, with the interface's name
/// (`getifaddrs`), in the kernel's order.
pub fn interface_addresses() -> io::Result<Vec<(String, IpAddr)>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs stores a list it allocated into `list`, freed below.
    if unsafe { libc::getifaddrs(&raw mut list) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut addresses = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*entry };
        entry = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: a non-null ifa_addr points to a sockaddr of the family it names,
        // sockaddr_in for AF_INET and sockaddr_in6 for AF_INET6.
        let found = unsafe {
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
                }
                _ => continue,
            }
        };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        addresses.push((name.to_string_lossy().into_owned(), found));
    }
    // SAFETY: `list` came from getifaddrs and is freed once; nothing borrowed from it
    // outlives this call (the names were copied).
    unsafe { libc::freeifaddrs(list) };
    Ok(addresses)
}

/// `SO_MEMINFO` (asm-generic/socket.h; the same number on every Linux architecture
/// that defines it), which libc does not export.
const SO_MEMINFO: libc::c_int = 55;

/// The socket's cumulative count of datagrams dropped for want of receive buffer
/// (`SK_MEMINFO_DROPS` of `SO_MEMINFO`, the `drops` column of `/proc/net/raw`).
pub fn socket_drops(socket: &impl AsFd) -> io::Result<u32> {
    let mut info = [0u32; libc::SK_MEMINFO_DROPS as usize + 1];
    let mut len = mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `info`, which is that long,
    // and stores the length it wrote into `len`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let index = libc::SK_MEMINFO_DROPS as usize;
    if (len as usize) < (index + 1) * mem::size_of::<u32>() {
        return Err(io::Error::from(io::ErrorKind::Unsupported));
    }
    Ok(info[index])
}

/// Waits up to `timeout_ms` for the socket (or pipe) to become readable: `Ok(true)`
/// also when it has an error or hung up (the next read reports it), `Ok(false)` on
/// timeout or when a signal interrupted the wait (the caller checks its stop flag
/// either way).
pub fn wait_readable(socket: &impl AsFd, timeout_ms: i32) -> io::Result<bool> {
    Ok(wait_socket(socket, timeout_ms)? != Readiness::Timeout)
}

/// Room for the control messages asked for (timestamp 32, drop counter 24, IPv6
/// packet info 40 bytes with their headers), with slack; u64 keeps `cmsghdr` aligned.
const CONTROL_WORDS: usize = 32;

/// What the kernel said about one received datagram, besides its bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct DatagramInfo {
    /// Bytes stored in the slot (the datagram, or its start when it was larger).
    pub stored: usize,
    /// The datagram's real length (recvmmsg with MSG_TRUNC).
    pub len: usize,
    /// Sender address (`msg_name`).
    pub src: Option<IpAddr>,
    /// Destination address from `IPV6_PKTINFO`.
    pub dst_v6: Option<Ipv6Addr>,
    /// Destination address from `IP_PKTINFO`.
    pub dst_v4: Option<Ipv4Addr>,
    /// Kernel receive time from `SO_TIMESTAMPNS`: seconds, nanoseconds.
    pub ts: Option<(i64, u32)>,
    /// The socket's cumulative drop counter from `SO_RXQ_OVFL`.
    pub drops: Option<u32>,
}

/// Buffers for one `recvmmsg` batch: a fixed slot per datagram, its sender address
/// and its control messages. Reused for every batch, so receiving allocates nothing.
pub struct RecvBatch {
    slot_len: usize,
    data: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    controls: Vec<[u64; CONTROL_WORDS]>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    received: Vec<DatagramInfo>,
}

// SAFETY: the raw pointers in `iovecs` and `headers` point into this batch's own heap
// buffers and are rebuilt before every `recvmmsg`; nothing else holds them, so the
// batch may move to another thread like the `Vec`s it owns.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    /// `slots` datagrams of at most `slot_len` bytes each per batch.
    pub fn new(slots: usize, slot_len: usize) -> RecvBatch {
        let slots = slots.max(1);
        RecvBatch {
            slot_len,
            data: vec![0; slots * slot_len],
            // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
            names: vec![unsafe { mem::zeroed() }; slots],
            controls: vec![[0; CONTROL_WORDS]; slots],
            iovecs: Vec::with_capacity(slots),
            headers: Vec::with_capacity(slots),
            received: Vec::with_capacity(slots),
        }
    }

    /// Number of datagrams from the last [`RecvBatch::recv`].
    pub fn len(&self) -> usize {
        self.received.len()
    }

    pub fn is_empty(&self) -> bool {
        self.received.is_empty()
    }

    /// Datagram `i` of the last batch: its stored bytes and metadata.
    pub fn get(&self, i: usize) -> Option<(&[u8], &DatagramInfo)> {
        let r = self.received.get(i)?;
        let start = i * self.slot_len;
        Some((&self.data[start..start + r.stored], r))
    }

    /// Receives what the socket holds, up to one batch, without blocking. Returns the
    /// number of datagrams (0 when there was nothing: EAGAIN).
    pub fn recv(&mut self, socket: &impl AsFd) -> io::Result<usize> {
        self.received.clear();
        let slots = self.names.len();
        self.iovecs.clear();
        self.headers.clear();
        for (i, chunk) in self.data.chunks_exact_mut(self.slot_len).enumerate() {
            if i == slots {
                break;
            }
            self.iovecs.push(libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: chunk.len(),
            });
        }
        for i in 0..slots {
            // SAFETY: mmsghdr is plain old data; all zeroes is valid, the fields that
            // matter are set right below.
            let mut h: libc::mmsghdr = unsafe { mem::zeroed() };
            h.msg_hdr.msg_name = (&raw mut self.names[i]).cast();
            h.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &raw mut self.iovecs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = self.controls[i].as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = mem::size_of::<[u64; CONTROL_WORDS]>() as _;
            self.headers.push(h);
        }
        // SAFETY: every header points into buffers owned by `self` (slot, address,
        // control buffer, iovec), each with its true size; none of those vectors is
        // resized until the call returns, and the count passed is the headers' length.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_fd().as_raw_fd(),
                self.headers.as_mut_ptr(),
                self.headers.len() as libc::c_uint,
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        for i in 0..n as usize {
            let h = &self.headers[i];
            let len = h.msg_len as usize;
            let mut r = DatagramInfo {
                stored: len.min(self.slot_len),
                len,
                src: sockaddr_ip(&self.names[i], h.msg_hdr.msg_namelen),
                ..DatagramInfo::default()
            };
            read_control(&h.msg_hdr, &mut r);
            self.received.push(r);
        }
        Ok(self.received.len())
    }
}

/// The IP address of a `sockaddr_in` / `sockaddr_in6` the kernel filled in.
fn sockaddr_ip(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<IpAddr> {
    let len = len as usize;
    match i32::from(storage.ss_family) {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, the length says
            // it is complete, and sockaddr_storage is large and aligned enough for it.
            let sin = unsafe { &*(&raw const *storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*(&raw const *storage).cast::<libc::sockaddr_in6>() };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// Reads the control messages spandump asks for into `r`; ignores any other.
fn read_control(msg: &libc::msghdr, r: &mut DatagramInfo) {
    // SAFETY: `msg` is the header recvmmsg just filled in: msg_control points to our
    // control buffer and msg_controllen is the length the kernel wrote, so the CMSG_*
    // macros walk only inside it; each payload is read unaligned, with its size
    // checked against the cmsg length first.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            let data = libc::CMSG_DATA(cmsg);
            let payload = (c.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            match (c.cmsg_level, c.cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS)
                    if payload >= mem::size_of::<libc::timespec>() =>
                {
                    let t = std::ptr::read_unaligned(data.cast::<libc::timespec>());
                    r.ts = Some((t.tv_sec, t.tv_nsec.clamp(0, 999_999_999) as u32));
                }
                (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) if payload >= mem::size_of::<u32>() => {
                    r.drops = Some(std::ptr::read_unaligned(data.cast::<u32>()));
                }
                (libc::IPPROTO_IP, libc::IP_PKTINFO)
                    if payload >= mem::size_of::<libc::in_pktinfo>() =>
                {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                    r.dst_v4 = Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                    if payload >= mem::size_of::<libc::in6_pktinfo>() =>
                {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    r.dst_v6 = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
}

/// Why privileges could not be dropped.
#[derive(Debug, thiserror::Error)]
pub enum DropPrivilegesError {
    #[error("-Z {user}: no such user")]
    NoSuchUser { user: String },
    #[error("-Z {user}: cannot {what}: {cause}")]
    Call {
        user: String,
        what: &'static str,
        cause: io::Error,
    },
}

/// The uid and primary gid of `user` (the password database).
pub fn user_ids(user: &str) -> Result<(u32, u32), DropPrivilegesError> {
    let no_user = || DropPrivilegesError::NoSuchUser {
        user: user.to_owned(),
    };
    let name = CString::new(user).map_err(|_| no_user())?;
    // SAFETY: passwd is plain old data; getpwnam_r fills it in.
    let mut pwd: libc::passwd = unsafe { mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to a live local of the stated size; the strings
    // getpwnam_r stores in `pwd` point into `buf`, which outlives their use here.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &raw mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &raw mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return Err(no_user());
    }
    Ok((pwd.pw_uid, pwd.pw_gid))
}

/// Becomes `user` (its uid, gid and supplementary groups), as tcpdump's `-Z` does.
/// Already open sockets and files stay usable.
pub fn drop_privileges(user: &str) -> Result<(), DropPrivilegesError> {
    let (uid, gid) = user_ids(user)?;
    let name = CString::new(user).map_err(|_| DropPrivilegesError::NoSuchUser {
        user: user.to_owned(),
    })?;
    let call = |what: &'static str, rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(DropPrivilegesError::Call {
                user: user.to_owned(),
                what,
                cause: io::Error::last_os_error(),
            })
        }
    };
    // SAFETY: plain system calls on integers and a NUL-terminated name we own.
    call("set supplementary groups", unsafe {
        libc::initgroups(name.as_ptr(), gid)
    })?;
    // SAFETY: as above.
    call("setgid", unsafe { libc::setgid(gid) })?;
    // SAFETY: as above.
    call("setuid", unsafe { libc::setuid(uid) })?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// AF_PACKET with a TPACKET_V3 receive ring (capture::ring). The ring's memory is shared
// with the kernel; this part hands it out one retired block at a time, as a guard that
// gives the block back when dropped. The layout of the bytes inside a block is read by
// capture::ring, with bounds checks, from the guard's slice.

/// Where `block_status` sits in a block (`struct tpacket_block_desc`: version,
/// offset_to_priv, then `struct tpacket_hdr_v1` starting with block_status).
const BLOCK_STATUS_OFFSET: usize = 8;
const _: () = assert!(mem::offset_of!(libc::tpacket_block_desc, hdr) == BLOCK_STATUS_OFFSET);
const _: () = assert!(mem::offset_of!(libc::tpacket_hdr_v1, block_status) == 0);

/// Sets an option whose value is a C struct.
///
/// # Safety
/// `T` must be the plain-old-data type the kernel expects for `level`/`name`.
unsafe fn set_struct_option<T>(
    socket: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` is a live T of the size passed; the caller vouches for the type.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The index of the network interface `name` in the calling thread's network namespace.
pub fn interface_index(name: &str) -> io::Result<u32> {
    let name = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
    // SAFETY: a NUL-terminated string we own, alive for the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}

/// Binds a packet socket to interface `ifindex` for frames of `protocol` (an ETH_P_*
/// value in host order; ETH_P_ALL for every frame). Until this, a packet socket opened
/// with protocol 0 receives nothing.
pub fn bind_packet(socket: &impl AsFd, ifindex: u32, protocol: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex as libc::c_int;
    // SAFETY: a complete sockaddr_ll and its size.
    let rc = unsafe {
        libc::bind(
            socket.as_fd().as_raw_fd(),
            (&raw const sll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The ARPHRD_* hardware type of the interface a packet socket is bound to.
pub fn packet_hardware_type(socket: &impl AsFd) -> io::Result<u16> {
    // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `sll`, which is that long.
    let rc = unsafe {
        libc::getsockname(
            socket.as_fd().as_raw_fd(),
            (&raw mut sll).cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sll.sll_hatype)
}

/// Ring geometry as `PACKET_RX_RING` takes it for TPACKET_V3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingRequest {
    pub block_size: u32,
    pub block_nr: u32,
    pub frame_size: u32,
    pub frame_nr: u32,
    /// Milliseconds after which the kernel retires a block that is not full.
    pub retire_blk_tov: u32,
}

/// Sets `PACKET_RX_RING` (the socket must be TPACKET_V3 already).
pub fn set_rx_ring(socket: &impl AsFd, r: &RingRequest) -> io::Result<()> {
    let req = libc::tpacket_req3 {
        tp_block_size: r.block_size,
        tp_block_nr: r.block_nr,
        tp_frame_size: r.frame_size,
        tp_frame_nr: r.frame_nr,
        tp_retire_blk_tov: r.retire_blk_tov,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    };
    // SAFETY: tpacket_req3 is what PACKET_RX_RING reads for TPACKET_V3.
    unsafe { set_struct_option(socket, libc::SOL_PACKET, libc::PACKET_RX_RING, &req) }
}

/// Attaches a classic BPF program (`SO_ATTACH_FILTER`); the kernel checks it.
pub fn attach_filter(socket: &impl AsFd, program: &[Instruction]) -> io::Result<()> {
    set_program(socket, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, program)
}

/// Gives the socket's fan-out group (mode `PACKET_FANOUT_CBPF`) its classic BPF
/// program (`PACKET_FANOUT_DATA`): its return value, modulo the group's size, picks
/// the socket.
pub fn set_fanout_program(socket: &impl AsFd, program: &[Instruction]) -> io::Result<()> {
    set_program(socket, libc::SOL_PACKET, libc::PACKET_FANOUT_DATA, program)
}

fn set_program(
    socket: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    program: &[Instruction],
) -> io::Result<()> {
    let program: Vec<libc::sock_filter> = program
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let len =
        u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: sock_fprog is what SO_ATTACH_FILTER and PACKET_FANOUT_DATA read; it
    // points to `len` live instructions, which the kernel copies before returning.
    unsafe { set_struct_option(socket, level, name, &prog) }
}

/// The ring's counters since the last read (`PACKET_STATISTICS`, tpacket_stats_v3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketStats {
    /// Packets that passed the filter, dropped ones included.
    pub packets: u32,
    /// Packets that passed the filter but found no room in the ring.
    pub drops: u32,
    /// Times the ring was full and the kernel froze the queue.
    pub freeze_q_cnt: u32,
}

/// Reads and resets the ring's counters.
pub fn packet_statistics(socket: &impl AsFd) -> io::Result<PacketStats> {
    let mut st = libc::tpacket_stats_v3 {
        tp_packets: 0,
        tp_drops: 0,
        tp_freeze_q_cnt: 0,
    };
    let mut len = mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `st`, which is that long.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&raw mut st).cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PacketStats {
        packets: st.tp_packets,
        drops: st.tp_drops,
        freeze_q_cnt: st.tp_freeze_q_cnt,
    })
}

/// Waits up to `timeout_ms` until one of `sockets` is readable (or has an error):
/// `Ok(false)` on timeout or a signal, as [`wait_readable`].
pub fn wait_any_readable(sockets: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<bool> {
    let mut pfds: Vec<libc::pollfd> = sockets
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` holds `pfds.len()` valid pollfds, the count passed; the fds stay
    // open for the call (they are borrowed).
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(rc > 0)
}

/// What one wait on a socket ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Readable,
    /// The socket has a pending error (read it with `SO_ERROR`).
    Error,
    /// Nothing within the timeout, or a signal interrupted the wait.
    Timeout,
}

/// Waits up to `timeout_ms` for the socket to become readable or report an error.
pub fn wait_socket(socket: &impl AsFd, timeout_ms: i32) -> io::Result<Readiness> {
    let mut pfd = libc::pollfd {
        fd: socket.as_fd().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and we pass a count of one.
    let rc = unsafe { libc::poll(&raw mut pfd, 1, timeout_ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(Readiness::Timeout)
        } else {
            Err(e)
        };
    }
    Ok(if rc == 0 {
        Readiness::Timeout
    } else if pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
        Readiness::Error
    } else {
        Readiness::Readable
    })
}

/// Moves the calling thread (only it) into the network namespace at `path`, e.g.
/// `/var/run/netns/NAME`, as `ip netns exec` does for a process. Sockets the thread
/// opens afterwards belong to that namespace, and stay there when used elsewhere.
pub fn enter_network_namespace(path: &Path) -> io::Result<()> {
    let file = std::fs::File::open(path)?;
    // SAFETY: a plain system call on a file descriptor we own, open for the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The mapped ring: `len` bytes at `ptr`, unmapped on drop, and which blocks are lent.
struct RingMap {
    ptr: NonNull<u8>,
    len: usize,
    block_size: usize,
    /// One flag per block: a [`UserBlock`] for it exists.
    lent: Box<[AtomicBool]>,
}

// SAFETY: the mapping is memory shared with the kernel, not tied to a thread; all
// access to it follows the block protocol (an atomic status word per block, and the
// `lent` flags that keep a block lent to one guard at a time), from any thread.
unsafe impl Send for RingMap {}
// SAFETY: as above: `&RingMap` only reads block bytes that a guard owns, or the
// status words atomically.
unsafe impl Sync for RingMap {}

impl RingMap {
    /// The status word of block `i` (< block count).
    fn status(&self, i: usize) -> &AtomicU32 {
        // SAFETY: block `i` lies inside the mapping (i < block count, checked by the
        // callers), its start is page aligned, so the word at offset 8 is 4-byte
        // aligned, and it lives as long as `self`. The kernel writes it too, but only
        // as the block protocol allows: it is the ring's synchronisation word.
        unsafe {
            AtomicU32::from_ptr(
                self.ptr
                    .as_ptr()
                    .add(i * self.block_size + BLOCK_STATUS_OFFSET)
                    .cast::<u32>(),
            )
        }
    }
}

impl Drop for RingMap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, and no guard is alive:
        // each holds an Arc to this map.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// A TPACKET_V3 receive ring mapped into this process.
pub struct RxRing {
    map: Arc<RingMap>,
    block_nr: usize,
}

impl RxRing {
    /// Maps the ring set up on `socket` by [`set_rx_ring`] with these dimensions.
    pub fn map(socket: &impl AsFd, block_size: usize, block_nr: usize) -> io::Result<RxRing> {
        let len = block_size
            .checked_mul(block_nr)
            .filter(|&l| l > 0)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: a fresh shared mapping of the socket's ring, at an address the
        // kernel chooses; nothing else in this process refers to that memory.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                socket.as_fd().as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        let lent = (0..block_nr).map(|_| AtomicBool::new(false)).collect();
        Ok(RxRing {
            map: Arc::new(RingMap {
                ptr,
                len,
                block_size,
                lent,
            }),
            block_nr,
        })
    }

    pub fn block_size(&self) -> usize {
        self.map.block_size
    }

    pub fn block_count(&self) -> usize {
        self.block_nr
    }

    /// Block `i` if the kernel has retired it to user space and no other guard holds
    /// it; `None` otherwise (still being filled, or out of range).
    pub fn take(&self, i: usize) -> Option<UserBlock> {
        if i >= self.block_nr {
            return None;
        }
        // Acquire: the kernel's writes of the block's packets happen before it stores
        // TP_STATUS_USER, and must be visible once we see that status.
        if self.map.status(i).load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
            return None;
        }
        if self.map.lent[i].swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(UserBlock {
            map: Arc::clone(&self.map),
            index: i,
        })
    }
}

/// One block the kernel handed to user space. Its bytes can be read while the guard
/// lives; dropping it gives the block back to the kernel.
pub struct UserBlock {
    map: Arc<RingMap>,
    index: usize,
}

impl UserBlock {
    /// The block's number in the ring.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The whole block, from its descriptor on.
    pub fn bytes(&self) -> &[u8] {
        let size = self.map.block_size;
        // SAFETY: the block lies inside the mapping (index < block count, checked in
        // `take`); the kernel does not write a block whose status is TP_STATUS_USER
        // (the acquire load in `take` saw it), and only this guard may hand it back,
        // which happens in `drop`, after every borrow of these bytes ended.
        unsafe { std::slice::from_raw_parts(self.map.ptr.as_ptr().add(self.index * size), size) }
    }
}

impl Drop for UserBlock {
    fn drop(&mut self) {
        // Release: our reads of the block happen before the kernel may refill it.
        self.map
            .status(self.index)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.map.lent[self.index].store(false, Ordering::Release);
    }
}

/// Asks the CPU to bring the first `lines` cache lines of `bytes` into its caches for a
/// read soon: a hint, with no effect on memory or on any result.
#[inline]
pub fn prefetch(bytes: &[u8], lines: usize) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    for line in bytes.chunks(64).take(lines) {
        // SAFETY: PREFETCHT0 is only a hint: it never faults and never writes, whatever
        // the address (here that of a live slice), and SSE, which it needs, is enabled
        // at compile time (the cfg above; it is part of x86-64's baseline).
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            );
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = (bytes, lines);
}

/// The system's page size in bytes.
pub fn page_size() -> usize {
    // SAFETY: sysconf with a valid name has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096).max(1)
}
