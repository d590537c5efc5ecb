//! The receive loop the raw GRE socket ([`super::raw_socket`]) and the UDP sockets
//! ([`super::udp`]) share: lend the datagrams of a `recvmmsg` batch one by one, refill
//! without blocking when it is used up, report [`super::Received::Idle`] once each time
//! the sockets run dry, wait in short polls, and after a stop request return only what
//! the kernel received before it.
//!
//! It never touches a socket itself (the caller's `fill` and `wait` do), never blocks
//! longer than the caller's `wait`, and never lends a datagram received after the stop
//! request.

use super::sys::RecvBatch;
use crate::Timestamp;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where the loop stands in the current batch, and what it has told the consumer.
#[derive(Debug)]
pub(super) struct BatchLoop {
    /// The next datagram of the batch to lend.
    pub next: usize,
    /// Whether an idle event was already given since the last data.
    idle_reported: bool,
    /// When the stop request was first seen: datagrams the kernel received before it
    /// are still returned (the drain), later ones end the capture.
    stop_at: Option<Timestamp>,
}

/// What the caller of [`BatchLoop::turn`] does next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Turn {
    /// Lend datagram `next` of the batch (and advance `next`).
    Lend,
    /// Nothing now: the consumer may flush.
    Idle,
    /// The drain after the stop request is over.
    End,
}

impl BatchLoop {
    /// Before the first batch (no idle event due until data came).
    pub fn new() -> BatchLoop {
        BatchLoop {
            next: 0,
            idle_reported: true,
            stop_at: None,
        }
    }

    /// One step. `fill` receives a new batch without blocking and returns its size;
    /// `wait` blocks for one short poll and returns whether a socket became readable
    /// (its error, e.g. the address gone after a timeout, ends the capture).
    pub fn turn<E>(
        &mut self,
        stop: &AtomicBool,
        batch: &mut RecvBatch,
        mut fill: impl FnMut(&mut RecvBatch) -> Result<usize, E>,
        mut wait: impl FnMut() -> Result<bool, E>,
    ) -> Result<Turn, E> {
        if self.stop_at.is_none() && stop.load(Ordering::Relaxed) {
            // The same clock as SO_TIMESTAMPNS (CLOCK_REALTIME).
            self.stop_at = Some(Timestamp::now());
        }
        while self.next >= batch.len() {
            self.next = 0;
            if fill(batch)? > 0 {
                self.idle_reported = false;
                break;
            }
            if self.stop_at.is_some() {
                return Ok(Turn::End);
            }
            if !self.idle_reported {
                self.idle_reported = true;
                return Ok(Turn::Idle);
            }
            if !wait()? {
                // Nothing for a whole wait (or a signal): the consumer may look at its
                // stop flag and flush again.
                return Ok(Turn::Idle);
            }
        }
        if let (Some(stop_at), Some((_, meta))) = (self.stop_at, batch.get(self.next))
            && super::receive_time(meta).as_nanos() > stop_at.as_nanos()
        {
            return Ok(Turn::End);
        }
        Ok(Turn::Lend)
    }
}
