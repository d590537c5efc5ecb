//! spandump: receive mirrored traffic (GRE, ERSPAN I/II/III; VXLAN, GENEVE and
//! GRE-in-UDP) and write the inner frames.
//!
//! The data flows one way, and the modules show it:
//!
//! ```text
//! capture (outer frames: pcap / pcapng files, rings, raw GRE sockets, UDP sockets)
//!    -> wire (parse + strip link / IP / GRE / ERSPAN / UDP / VXLAN / GENEVE, zero-copy,
//!       stateless)
//!    -> filter (key, session, index, direction, sender)
//!    -> sink (pcap, pcapng, tcpdump-like text)
//! ```
//!
//! [`pipeline`] wires them together (live capture: [`handoff`] runs the decoding on
//! capture threads and the writing on another); [`stats`] counts every outcome, so that every
//! outer packet ends as a written frame, a filtered one or a skip with a named cause.
//! State that spans packets lives beside the pipeline, each with hard bounds: outer
//! fragment reassembly in [`reassembly`], GRE sequence accounting in [`seq`], the
//! table of mirror sessions in [`sessions`]. `wire` depends on nothing else in the crate,
//! `capture` knows nothing about GRE and `sink` nothing about where frames came from.
//! The library never parses command-line arguments: `main.rs` turns them into a
//! [`pipeline::Config`].

pub mod bpf;
pub mod capture;
pub mod filter;
pub mod handoff;
pub mod harness;
pub mod pipeline;
pub mod reassembly;
pub mod report;
pub mod rotate;
pub mod seq;
pub mod sessions;
pub mod sink;
pub mod stats;
pub mod timestamp;
pub mod wire;
pub mod writer;

pub use timestamp::{Timestamp, TsPrecision};
