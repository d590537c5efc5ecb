//! Zero-copy views of the outer headers and the mirror encapsulations: GRE / ERSPAN,
//! and over UDP VXLAN, GENEVE and GRE-in-UDP.
//!
//! Everything here is stateless: one packet in, a view or a named error out. Every
//! view has a checked constructor; after it, no getter can panic. Payload accessors
//! return slices of the input, so link -> IP -> GRE -> ERSPAN -> inner frame is a chain
//! of re-borrows without a copy. Nothing here allocates on packet bytes.
//!
//! This module must never depend on the rest of the crate.

pub mod decap;
pub mod erspan;
pub mod geneve;
pub mod gre;
pub mod ip;
pub mod link;
pub mod udp;
pub mod vxlan;

pub use decap::{Decapsulated, Encap, PayloadKind, SkipCause, decapsulate_gre};
pub use link::LinkType;

/// Reads a big-endian u16 at `off`; callers have checked the length.
#[inline]
pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Reads a big-endian u32 at `off`; callers have checked the length.
#[inline]
pub(crate) fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
