//! The kernel-facing corner of live capture: every `unsafe` block of the crate is here.
//!
//! It exposes safe types and functions over the few system calls socket2 does not wrap:
//! batched receive (`recvmmsg`) with its control messages (kernel timestamp, socket drop
//! counter, IPv6 destination), integer socket options, `poll`, and dropping privileges.
//! It must never interpret packet bytes: it returns them with their metadata.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};

/// Sets an integer socket option (`setsockopt(fd, level, name, &value, sizeof(int))`).
pub fn set_int_option(
    socket: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the fd is open for the borrow's lifetime, and the option value points to
    // a live c_int whose size is passed along with it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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

/// Waits up to `timeout_ms` for the socket to become readable. `Ok(false)` on timeout
/// or when a signal interrupted the wait (the caller checks its stop flag either way).
pub fn wait_readable(socket: &impl AsFd, timeout_ms: i32) -> io::Result<bool> {
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
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(rc > 0)
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

/// Becomes `user` (its uid, gid and supplementary groups), as tcpdump's `-Z` does.
/// Already open sockets and files stay usable.
pub fn drop_privileges(user: &str) -> Result<(), DropPrivilegesError> {
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
    let (uid, gid) = (pwd.pw_uid, pwd.pw_gid);
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
