//! Where outer frames come from: capture files, and for live capture raw GRE sockets
//! (`--listen`), an AF_PACKET ring on an interface (`-i`), or UDP sockets on the
//! VXLAN / GENEVE / GRE-in-UDP ports (`--udp`, [`udp`]).
//!
//! A source lends one frame at a time from its own buffer ([`OuterFrame`] borrows it),
//! so nothing is copied between the read and the writer; a ring can also lend a whole
//! block's frames at once ([`RingSource::next_block`]), for a writer that writes them
//! from ring memory. Sources know link types,
//! addresses and timestamps, never GRE. All `unsafe` of the crate lives in [`sys`].

mod batch;
pub mod bpf;
pub mod file;
pub mod gro;
pub mod raw_socket;
pub mod ring;
pub mod sys;
pub mod udp;

use crate::wire::LinkType;
use crate::{Timestamp, TsPrecision};
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, Ordering};

/// One outer frame as captured, borrowed from the source's buffer.
#[derive(Clone, Copy, Debug)]
pub struct OuterFrame<'a> {
    pub ts: Timestamp,
    pub link: LinkType,
    /// The captured bytes (may be cut short of `orig_len` by the capture's snaplen).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub orig_len: u32,
}

/// What a source hands over next.
#[derive(Clone, Copy, Debug)]
pub enum Received<'a> {
    /// An outer frame, from its link-layer header on.
    Frame(OuterFrame<'a>),
    /// The payload of an IPv6 packet whose header the kernel kept (an AF_INET6 raw
    /// socket returns only what follows the IPv6 and extension headers).
    Ipv6Payload {
        ts: Timestamp,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        payload: &'a [u8],
        /// The payload's length as received.
        orig_len: u32,
    },
    /// The payload of a UDP datagram a UDP socket received (`--udp`): what follows
    /// the UDP header, to local port `dst_port`.
    UdpPayload {
        ts: Timestamp,
        src: std::net::IpAddr,
        dst: std::net::IpAddr,
        dst_port: u16,
        payload: &'a [u8],
        /// The payload's length as received.
        orig_len: u32,
    },
    /// A live source ran dry for now: a good moment to flush what is buffered.
    Idle,
}

/// A source of outer packets: a capture file or a live socket.
pub trait Source {
    type Error: std::error::Error;

    /// The next packet, or `None` at the end: end of file, or (live) once `stop` is set
    /// and what the kernel already held was returned.
    fn next_packet(&mut self, stop: &AtomicBool) -> Result<Option<Received<'_>>, Self::Error>;

    /// Finest timestamp precision of the packets so far.
    fn precision(&self) -> TsPrecision;

    /// Live sources write the output header at once and never end on their own.
    fn is_live(&self) -> bool {
        false
    }

    /// Packets the kernel dropped before the source could read them (live only).
    fn kernel_drops(&self) -> Option<u64> {
        None
    }

    /// Packets the receiving interface merged with GRO (AF_PACKET rings only).
    fn gro_merged(&self) -> u64 {
        0
    }
}

impl Source for FileSource {
    type Error = CaptureError;

    /// A file stops at once when asked: the rest of it is not waiting anywhere.
    #[inline]
    fn next_packet(&mut self, stop: &AtomicBool) -> Result<Option<Received<'_>>, CaptureError> {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match self.next_frame() {
            // A read of an idle pipe interrupted by the stop signal: a clean end.
            Err(CaptureError::Interrupted { .. }) => Ok(None),
            result => Ok(result?.map(Received::Frame)),
        }
    }

    fn precision(&self) -> TsPrecision {
        FileSource::precision(self)
    }
}

/// Hint appended when the kernel refuses a raw or packet socket.
const CAP_NET_RAW_HINT: &str =
    " (run as root or grant CAP_NET_RAW: setcap cap_net_raw+ep $(command -v spandump))";

/// The system's reason without std's " (os error N)" suffix, since a hint follows.
fn reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The CAP_NET_RAW hint for an error that says permission was denied.
fn open_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        CAP_NET_RAW_HINT
    } else {
        ""
    }
}

/// The kernel's receive time, or now if it gave none.
pub(crate) fn receive_time(meta: &sys::DatagramInfo) -> Timestamp {
    match meta.ts {
        Some((s, ns)) => Timestamp::new(s, ns),
        None => Timestamp::now(),
    }
}

pub use file::{CaptureError, FileSource};
pub use raw_socket::{ListenOptions, RawGreSocket, SocketError};
pub use ring::{BlockFrames, Lent, RingError, RingOptions, RingSource};

/// Watches that the `--listen` address is still local: a mirror sent to an address the
/// host gave up can no longer arrive, and a capture must not idle on silently.
#[derive(Debug)]
struct AddressWatch {
    addr: std::net::IpAddr,
    next_check: std::time::Instant,
}

impl AddressWatch {
    /// Looked at most this often (a `getifaddrs` each time).
    const PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

    fn new(addr: std::net::IpAddr) -> AddressWatch {
        AddressWatch {
            addr,
            next_check: std::time::Instant::now() + Self::PERIOD,
        }
    }

    /// The interfaces holding the address now, when a check is due and the list could
    /// be read; `None` otherwise.
    fn holders(&mut self) -> Option<Vec<String>> {
        let now = std::time::Instant::now();
        if now < self.next_check {
            return None;
        }
        self.next_check = now + Self::PERIOD;
        sys::interfaces_with_address(self.addr).ok()
    }
}
