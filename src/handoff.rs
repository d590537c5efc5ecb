//! Live capture on capture threads and one writer thread.
//!
//! ```text
//!  ring / socket ──> capture thread: parse, filter, count ──┐  bounded channel of
//!  ring / socket ──> capture thread: parse, filter, count ──┼─> frames in pooled    ──> writer thread
//!        (one per --threads, PACKET_FANOUT)                 ┘  `bytes` buffers          (pcap, pcapng, text)
//! ```
//!
//! A capture thread parses and filters straight from the kernel's memory and copies
//! only the frames it keeps, each into a slice of its own arena ([`BytesMut`], split
//! off as [`Bytes`]: the arena's allocation is reused once the writer dropped every
//! frame cut from it, so the steady state allocates nothing). The writer thread owns
//! the output: a slow reader at the other end of a pipe stalls it, never the capture
//! threads. When the channel is full the frame is dropped and counted
//! (`channel_drops`), so the ring keeps moving and the loss is visible.
//!
//! It must never block a capture thread on the writer, nor leave behind on the way
//! anything a sink reads from a frame: each frame carries its decapsulation metadata,
//! GENEVE options (`-v`) included.
//!
//! Order: each capture thread sends in the order it read, and the channel keeps each
//! sender's order, so frames of one session stay in order as long as a session is
//! read by one thread (the fanout keeps each sender on one thread).

use crate::capture::Source;
use crate::pipeline::{Config, Decoder, DirectWriter, Emit, RunError};
use crate::report::{self, Board, Publisher};
use crate::sessions::{Session, SessionKey};
use crate::sink::Record;
use crate::stats::Stats;
use crate::wire::decap::{Decapsulated, Encap, GreInfo, Notes, PayloadKind};
use crate::{Timestamp, TsPrecision};
use bytes::{Bytes, BytesMut};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Frames the channel holds before a capture thread drops: about 24 MiB of 1500-byte
/// frames, half a second at 50 kpps of full frames.
pub const CHANNEL_FRAMES: usize = 16_384;

/// Frames per message: one channel operation, and at most one wake-up of the writer,
/// per batch rather than per frame (measured: per-frame messages cost as much CPU as
/// the whole decoding of a small frame).
const BATCH: usize = 64;

/// A batch waits at most this long (in packet time) for more frames; an idle source
/// sends it at once.
const BATCH_WAIT_NS: i128 = 1_000_000;

/// Size of each capture thread's arena allocation.
const ARENA_BYTES: usize = 4 << 20;

/// How long the writer waits for a frame before it looks at the stop flag again.
const WRITER_POLL: Duration = Duration::from_millis(50);

/// One kept frame, owned: the decapsulation metadata and the bytes to write (the
/// synthesized link header, if any, then the whole inner frame), followed by the
/// GENEVE options (for `-v`), which are not written.
#[derive(Debug)]
struct Frame {
    ts: Timestamp,
    src: IpAddr,
    dst: IpAddr,
    gre: GreInfo,
    encap: Encap,
    kind: PayloadKind,
    notes: Notes,
    /// The inner frame's length on the wire.
    inner_orig_len: usize,
    /// `bytes[..head_len]` is the synthesized link header.
    head_len: usize,
    /// Bytes of the inner frame to write (the snaplen may cut it).
    data_len: usize,
    /// `bytes[bytes.len() - options_len..]` are the GENEVE options.
    options_len: usize,
    /// The record's length on the wire, header included.
    orig_len: u32,
    session: Option<SessionKey>,
    dropcount: u32,
    bytes: Bytes,
}

#[derive(Debug)]
enum Message {
    Frames(Vec<Frame>),
    /// A capture thread ran dry: if nothing else is queued, flush.
    Idle,
}

/// The capture side of the channel: an [`Emit`] that copies each kept frame into the
/// thread's arena and sends it, or counts a drop when the channel is full.
pub struct Handoff {
    tx: Sender<Message>,
    arena: BytesMut,
    batch: Vec<Frame>,
    /// Packet time of the batch's first frame.
    batch_start: i128,
    /// Set by the writer once no more frames are wanted (`-c`, reader gone, error).
    writer_done: Arc<AtomicBool>,
    /// Set by the writer when the output failed: frames kept after that are lost to
    /// the output.
    writer_failed: Arc<AtomicBool>,
}

impl Handoff {
    fn new(
        tx: Sender<Message>,
        writer_done: Arc<AtomicBool>,
        writer_failed: Arc<AtomicBool>,
    ) -> Handoff {
        Handoff {
            tx,
            arena: BytesMut::with_capacity(ARENA_BYTES),
            batch: Vec::with_capacity(BATCH),
            batch_start: 0,
            writer_done,
            writer_failed,
        }
    }

    /// Sends the batch, or counts its frames as dropped when the channel is full.
    fn send_batch(&mut self, stats: &mut Stats) {
        if self.batch.is_empty() {
            return;
        }
        let frames = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let n = frames.len() as u64;
        if self.writer_failed.load(Ordering::Relaxed) {
            stats.output_lost += n;
            return;
        }
        match self.tx.try_send(Message::Frames(frames)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => stats.channel_drops += n,
            // The writer has stopped; `done` ends this thread's loop.
            Err(TrySendError::Disconnected(_)) => {
                if self.writer_failed.load(Ordering::Relaxed) {
                    stats.output_lost += n;
                }
                self.writer_done.store(true, Ordering::Relaxed);
            }
        }
    }

    fn copy(&mut self, parts: [&[u8]; 3]) -> Bytes {
        let len = parts.iter().map(|p| p.len()).sum();
        if self.arena.capacity() < len {
            // Reclaims the arena's allocation when the writer has dropped every frame
            // cut from it; allocates a fresh one otherwise.
            self.arena.reserve(ARENA_BYTES.max(len));
        }
        for part in parts {
            self.arena.extend_from_slice(part);
        }
        self.arena.split().freeze()
    }
}

impl Emit for Handoff {
    fn start(&mut self, _: TsPrecision) -> Result<(), RunError> {
        // The writer thread starts the output.
        Ok(())
    }

    fn frame(&mut self, r: &Record<'_>, _: TsPrecision, stats: &mut Stats) -> Result<(), RunError> {
        let d = r.decap;
        let bytes = self.copy([r.head, d.frame, d.tunnel_options]);
        let frame = Frame {
            ts: r.ts,
            src: r.src,
            dst: r.dst,
            gre: d.gre,
            encap: d.encap,
            kind: d.kind,
            notes: d.notes,
            inner_orig_len: d.orig_len,
            head_len: r.head.len(),
            data_len: r.data.len(),
            options_len: d.tunnel_options.len(),
            orig_len: r.orig_len,
            session: r.session.copied(),
            dropcount: r.dropcount,
            bytes,
        };
        let ts = r.ts.as_nanos();
        if self.batch.is_empty() {
            self.batch_start = ts;
        }
        self.batch.push(frame);
        if self.batch.len() >= BATCH || ts - self.batch_start >= BATCH_WAIT_NS {
            self.send_batch(stats);
        }
        Ok(())
    }

    fn idle(&mut self, stats: &mut Stats) -> Result<(), RunError> {
        self.send_batch(stats);
        // Only a hint: when the channel is full the writer is busy anyway.
        let _ = self.tx.try_send(Message::Idle);
        Ok(())
    }

    fn done(&self) -> bool {
        self.writer_done.load(Ordering::Relaxed)
    }

    fn finish(&mut self, _: TsPrecision, _: &[Session], stats: &mut Stats) -> Result<(), RunError> {
        self.send_batch(stats);
        Ok(())
    }
}

/// Runs one capture thread per source and writes on the calling thread. Returns the
/// merged counters and sessions, and the first error. Ends when every source has ended (after
/// `stop`, each drains what its kernel buffer held) or the writer is done.
pub fn run<S>(
    config: &Config,
    sources: Vec<S>,
    mut writer: DirectWriter<'_>,
    stop: &AtomicBool,
    board: Option<&Arc<Board>>,
) -> (Stats, Vec<Session>, Result<(), RunError>)
where
    S: Source + Send,
    RunError: From<S::Error>,
{
    let (tx, rx) = crossbeam_channel::bounded(CHANNEL_FRAMES / BATCH);
    let writer_done = Arc::new(AtomicBool::new(false));
    let writer_failed = Arc::new(AtomicBool::new(false));
    let mut stats = Stats::default();
    let mut result = writer.start(TsPrecision::Nano);
    if result.is_err() {
        writer_done.store(true, Ordering::Relaxed);
    }
    let capture_results = std::thread::scope(|scope| {
        let threads: Vec<_> = sources
            .into_iter()
            .enumerate()
            .map(|(i, mut source)| {
                let handoff = Handoff::new(
                    tx.clone(),
                    Arc::clone(&writer_done),
                    Arc::clone(&writer_failed),
                );
                let publisher = board.map(Board::publisher);
                std::thread::Builder::new()
                    .name(format!("capture-{i}"))
                    .spawn_scoped(scope, move || {
                        let mut decoder = Decoder::with_emit(config, handoff);
                        if let Some(publisher) = publisher {
                            decoder.set_publisher(publisher);
                        }
                        let result = decoder.run(&mut source, stop);
                        let (mut stats, sessions, _) = decoder.into_parts();
                        stats.gro_merged = source.gro_merged();
                        (stats, sessions, result)
                    })
                    .expect("spawning a capture thread")
            })
            .collect();
        // Only the capture threads hold senders now: the channel disconnects when the
        // last of them ends.
        drop(tx);
        if result.is_ok() {
            let mut publisher = board.map(Board::publisher);
            result = write_all(&mut writer, &rx, &mut stats, &mut publisher);
        }
        // Whatever happened, the capture threads stop now if the writer cannot go on.
        if result.is_err() {
            writer_failed.store(true, Ordering::Relaxed);
        }
        if result.is_err() || writer.done() {
            writer_done.store(true, Ordering::Relaxed);
        }
        // After a failure the queue stays open until the capture threads are gone, so
        // that every frame still in it is counted as lost to the output.
        let queue = result.is_err().then_some(rx);
        let joined = threads
            .into_iter()
            .map(|t| t.join().expect("a capture thread panicked"))
            .collect::<Vec<_>>();
        for message in queue.iter().flat_map(Receiver::try_iter) {
            if let Message::Frames(frames) = message {
                stats.output_lost += frames.len() as u64;
            }
        }
        joined
    });
    let mut tables = Vec::with_capacity(capture_results.len());
    for (thread_stats, table, thread_result) in capture_results {
        stats.merge(&thread_stats);
        tables.push(table);
        if result.is_ok() {
            result = thread_result;
        }
    }
    let sessions = report::merge(&tables);
    let finish = writer.finish(TsPrecision::Nano, &sessions, &mut stats);
    (stats, sessions, result.and(finish))
}

/// The writer thread's loop: writes every frame until all capture threads are gone or
/// no more frames are wanted.
fn write_all(
    writer: &mut DirectWriter<'_>,
    rx: &Receiver<Message>,
    stats: &mut Stats,
    publisher: &mut Option<Publisher>,
) -> Result<(), RunError> {
    while !writer.done() {
        if let Some(p) = publisher
            && p.wanted()
        {
            // The writer's share of the counters: frames written.
            p.publish(stats, &[]);
        }
        let message = match rx.recv_timeout(WRITER_POLL) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match message {
            Message::Frames(frames) => {
                let count = frames.len();
                for (i, f) in frames.into_iter().enumerate() {
                    let (written, options) = f.bytes.split_at(f.bytes.len() - f.options_len);
                    let inner = &written[f.head_len..];
                    let decap = Decapsulated {
                        gre: f.gre,
                        encap: f.encap,
                        kind: f.kind,
                        frame: inner,
                        orig_len: f.inner_orig_len,
                        notes: f.notes,
                        tunnel_options: options,
                    };
                    let record = Record {
                        ts: f.ts,
                        src: f.src,
                        dst: f.dst,
                        decap: &decap,
                        head: &written[..f.head_len],
                        data: &inner[..f.data_len],
                        orig_len: f.orig_len,
                        session: f.session.as_ref(),
                        dropcount: f.dropcount,
                    };
                    if let Err(e) = writer.frame(&record, TsPrecision::Nano, stats) {
                        // The rest of the batch never reaches the output.
                        stats.output_lost += (count - i - 1) as u64;
                        return Err(e);
                    }
                    if !writer.wants_frames() {
                        break;
                    }
                }
            }
            Message::Idle if rx.is_empty() => writer.idle(stats)?,
            Message::Idle => {}
        }
    }
    Ok(())
}
