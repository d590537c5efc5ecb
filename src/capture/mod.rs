//! Where outer frames come from: capture files today, sockets later.
//!
//! A source lends one frame at a time from its own buffer ([`OuterFrame`] borrows it),
//! so nothing is copied between the read and the writer. Sources know link types and
//! timestamps, never GRE.

pub mod file;

use crate::Timestamp;
use crate::wire::LinkType;

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

pub use file::{CaptureError, FileSource};
