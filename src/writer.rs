//! The writer side of a run: kept frames go to the configured format on the spot.
//!
//! [`DirectWriter`] starts the output lazily (a file's timestamp precision is known
//! only after its first packet), counts a frame as written once the writer took it,
//! and keeps a [`Ledger`] of where each record ends, so that when the output fails
//! (a full disk, an I/O error) the count of written frames is taken back to those
//! that reached the file, the rest are counted as lost to the output, and the file
//! is cut after its last complete record.
//!
//! With `-C` / `-G` it starts a new file before a frame when the [`Rotator`] says so:
//! the old file gets its end (pcapng statistics blocks) and is flushed and closed
//! before the `-z` command runs on it; the new one starts with its own header, so
//! every file is a complete capture and no frame is split or lost at a rotation.
//!
//! Live capture from a ring ([`crate::pipeline::Decoder::run_ring`]) writing pcap takes
//! a shorter way: between [`Emit::block_start`] and [`Emit::block_end`] the records of
//! one block are collected in a [`Batch`] (headers copied, frames as slices of the
//! block) and written with vectored writes before the block goes back to the kernel,
//! so a frame is copied once, from ring memory into the file. The ledger notes where
//! each of them ends as if they were buffered, so a failed write is accounted for in
//! the same way. `-U`, `-C` / `-G`, pcapng and text keep the output buffer.
//!
//! It must never count a frame as written that did not reach the output, write
//! after an output error, keep a batch open past its block's end, or decide what is
//! kept: that is the decoder's business.

use crate::TsPrecision;
use crate::bpf::Expression;
use crate::pipeline::{Config, Emit, RunError};
use crate::rotate::{Decision, Rotator};
use crate::sessions::Session;
use crate::sink::vectored::Batch;
use crate::sink::{self, Format, Ledger, Output, Record, Writer};
use crate::stats::Stats;
use std::fs::File;
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// Writes kept frames on the spot, in the configured format; starts the output lazily
/// (for files, once the input's timestamp precision is known).
pub struct DirectWriter<'c> {
    config: &'c Config,
    writer: Option<Writer>,
    /// The output stream until the writer is started with the input's precision.
    output: Option<Output>,
    /// Where the records in the output buffer end.
    ledger: Ledger,
    done: bool,
    /// The writer is started and nothing but writing happens per frame (no rotation,
    /// `-c`, `-U` or `--list-sessions`): [`Emit::frame`]'s short path. Cleared
    /// whenever the output stops.
    steady: bool,
    /// `-C` / `-G`: when to start a new file, and its name.
    rotator: Option<Rotator>,
    /// The output's name in messages (the current file's, with rotation).
    name: String,
    /// The timestamp precision the writer was started with (for the next files).
    precision: TsPrecision,
    /// The records of the ring block being read, when they are written from it.
    batch: Batch,
}

impl<'c> DirectWriter<'c> {
    pub fn new(config: &'c Config, output: Output) -> DirectWriter<'c> {
        DirectWriter {
            config,
            writer: None,
            output: Some(output),
            ledger: Ledger::default(),
            done: false,
            steady: false,
            rotator: None,
            name: config.destination.name(),
            precision: TsPrecision::Micro,
            batch: Batch::default(),
        }
    }

    /// A writer whose first file is `output`, opened as `rotator.current()`, and whose
    /// next files the rotator names.
    pub fn rotating(config: &'c Config, output: Output, rotator: Rotator) -> DirectWriter<'c> {
        DirectWriter {
            name: rotator.current().display().to_string(),
            rotator: Some(rotator),
            ..DirectWriter::new(config, output)
        }
    }

    /// Starts the writer once the input's timestamp precision is known. Leaves no
    /// writer when the pipe closed at once.
    fn start_writer(&mut self, precision: TsPrecision, stats: &mut Stats) -> Result<(), RunError> {
        let precision = if self.config.nano {
            TsPrecision::Nano
        } else {
            precision
        };
        let Some(output) = self.output.take() else {
            return Ok(());
        };
        self.precision = precision;
        match Writer::open(
            self.config.format,
            output,
            self.config.snaplen,
            precision,
            self.config.text,
            self.config.expression.as_ref().map(Expression::text),
        ) {
            Ok(writer) => {
                self.ledger.record(writer.output(), false);
                self.writer = Some(writer);
                Ok(())
            }
            Err(e) => self.failed(e, stats),
        }
    }

    /// No more frames are wanted, or the output failed.
    fn stop(&mut self) {
        self.done = true;
        self.steady = false;
    }

    /// Whether nothing but writing happens per frame, so that [`Emit::frame`] can take
    /// its short path.
    fn is_steady(&self) -> bool {
        self.writer.is_some()
            && !self.done
            && self.rotator.is_none()
            && self.config.count.is_none()
            && !self.config.packet_buffered
    }

    /// Whether a frame given now would be written (the output is not done, and this
    /// run writes frames at all).
    pub fn wants_frames(&self) -> bool {
        !self.config.list_sessions && !self.done
    }

    /// Ends the output after `error`. A closed pipe (the reader went away) is a clean
    /// stop; any other error takes the frames that did not reach the output off the
    /// written count, counts them as lost to the output, cuts a file after its last
    /// complete record, and ends the run with a message naming the output.
    fn failed(&mut self, error: io::Error, stats: &mut Stats) -> Result<(), RunError> {
        self.stop();
        self.batch.close();
        if error.kind() == io::ErrorKind::BrokenPipe {
            return Ok(());
        }
        if let Some(writer) = self.writer.take() {
            let loss = std::mem::take(&mut self.ledger).fail(writer.into_output());
            stats.frames_written -= loss.frames.min(stats.frames_written);
            stats.output_lost += loss.frames;
        }
        Err(RunError::Output {
            name: self.name.clone(),
            source: error,
        })
    }

    /// Applies the rotation rules before a frame: possibly a new file, or the end of
    /// the run (`-G` with `-W`).
    fn rotate_if_due(&mut self, stats: &mut Stats) -> Result<(), RunError> {
        let (Some(rotator), Some(writer)) = (&mut self.rotator, &self.writer) else {
            return Ok(());
        };
        let size = sink::output::position(writer.output());
        match rotator.check(size, SystemTime::now()) {
            Decision::Keep => Ok(()),
            Decision::Rotate(next) => self.rotate(&next, stats),
            Decision::Stop => {
                eprintln!(
                    "spandump: maximum file limit reached: {}",
                    self.config.rotation.count.unwrap_or(0)
                );
                self.stop();
                Ok(())
            }
        }
    }

    /// Ends the current file (statistics blocks, flush, close), runs `-z` on it, and
    /// starts `next` with its own header.
    fn rotate(&mut self, next: &Path, stats: &mut Stats) -> Result<(), RunError> {
        let Some(mut old) = self.writer.take() else {
            return Ok(());
        };
        let ended = old.finish_file().and_then(|()| old.flush());
        if let Err(e) = ended {
            self.writer = Some(old);
            return self.failed(e, stats);
        }
        let closed = std::mem::replace(&mut self.name, next.display().to_string());
        self.ledger = Ledger::default();
        let file = match File::create(next) {
            Ok(file) => file,
            Err(e) => {
                self.stop();
                return Err(RunError::Output {
                    name: self.name.clone(),
                    source: e,
                });
            }
        };
        let mut writer = match Writer::open(
            self.config.format,
            sink::output_file(file),
            self.config.snaplen,
            self.precision,
            self.config.text,
            self.config.expression.as_ref().map(Expression::text),
        ) {
            Ok(writer) => writer,
            Err(e) => return self.failed(e, stats),
        };
        self.ledger.record(writer.output(), false);
        writer.carry_from(&mut old);
        self.writer = Some(writer);
        // Closes the old file before its command runs.
        drop(old);
        if let Some(rotator) = &mut self.rotator {
            rotator.closed(Path::new(&closed));
        }
        Ok(())
    }

    /// Pushes what the writer buffered to the output.
    fn flush(&mut self, stats: &mut Stats) -> Result<(), RunError> {
        if let Some(writer) = &mut self.writer
            && let Err(e) = writer.flush()
        {
            return self.failed(e, stats);
        }
        Ok(())
    }

    /// [`Emit::frame`] when the output is not steady: starting, rotating, counting
    /// `-c`, flushing each frame (`-U`), or done.
    fn frame_slow(
        &mut self,
        record: &Record<'_>,
        precision: TsPrecision,
        stats: &mut Stats,
    ) -> Result<(), RunError> {
        if !self.wants_frames() {
            // Counted in the session table; no frame is written (or no more are wanted).
            return Ok(());
        }
        if self.batch.is_open() {
            return self.frame_vectored(record, stats);
        }
        if self.writer.is_none() {
            self.start_writer(precision, stats)?;
        }
        if self.rotator.is_some() {
            self.rotate_if_due(stats)?;
            if self.done {
                return Ok(());
            }
        }
        let Some(writer) = &mut self.writer else {
            return Ok(());
        };
        if let Err(e) = writer.write(record) {
            return self.write_failed(e, stats);
        }
        self.ledger.record(writer.output(), true);
        stats.frames_written += 1;
        if self.config.packet_buffered
            && let Err(e) = writer.flush()
        {
            return self.failed(e, stats);
        }
        if self.config.count.is_some_and(|c| stats.frames_written >= c) {
            self.stop();
        }
        self.steady = self.is_steady();
        Ok(())
    }

    /// [`Emit::frame`] while a batch is open: the record header (and a synthesized link
    /// header) is staged, the frame's bytes are taken from the block when they are in
    /// it; the ledger notes the record's end past what the output buffer holds.
    fn frame_vectored(&mut self, record: &Record<'_>, stats: &mut Stats) -> Result<(), RunError> {
        // A batch is opened only over a pcap writer, and the writer changes only at a
        // rotation (none with a batch) or a failure (which closes the batch).
        let Some(Writer::Pcap(writer)) = &self.writer else {
            return Ok(());
        };
        let caplen = record.head.len() + record.data.len();
        let header = match writer.record_header(record.ts, record.orig_len, caplen) {
            Ok(header) => header,
            Err(e) => return self.write_failed(e, stats),
        };
        self.batch.stage(&header);
        if !record.head.is_empty() {
            self.batch.stage(record.head);
        }
        self.batch.frame(record.data);
        let out = writer.get_ref();
        let end = sink::output::position(out) + self.batch.len() as u64;
        self.ledger.record_at(out.get_ref().accepted(), end, true);
        stats.frames_written += 1;
        if self.config.count.is_some_and(|c| stats.frames_written >= c) {
            self.stop();
        }
        Ok(())
    }

    /// A frame that did not make it to the buffer whole: lost to the output (unless the
    /// reader went away), and the end of the output.
    #[cold]
    fn write_failed(&mut self, error: io::Error, stats: &mut Stats) -> Result<(), RunError> {
        if error.kind() != io::ErrorKind::BrokenPipe {
            stats.output_lost += 1;
        }
        self.failed(error, stats)
    }
}

impl Emit for DirectWriter<'_> {
    fn start(&mut self, precision: TsPrecision) -> Result<(), RunError> {
        if self.config.list_sessions {
            return Ok(());
        }
        // Nothing is written yet, so nothing can be lost.
        self.start_writer(precision, &mut Stats::default())
    }

    #[inline]
    fn frame(
        &mut self,
        record: &Record<'_>,
        precision: TsPrecision,
        stats: &mut Stats,
    ) -> Result<(), RunError> {
        if self.steady
            && let Some(writer) = &mut self.writer
        {
            return match writer.write(record) {
                Ok(()) => {
                    self.ledger.record(writer.output(), true);
                    stats.frames_written += 1;
                    Ok(())
                }
                Err(e) => self.write_failed(e, stats),
            };
        }
        self.frame_slow(record, precision, stats)
    }

    fn idle(&mut self, stats: &mut Stats) -> Result<(), RunError> {
        self.flush(stats)
    }

    /// Opens a batch on `block` when its records can be written from it: pcap, no
    /// rotation, no `-U`; the output buffer is pushed out first, to keep the order.
    fn block_start(&mut self, block: &[u8], stats: &mut Stats) -> Result<(), RunError> {
        let vectored = matches!(self.writer, Some(Writer::Pcap(_)))
            && self.wants_frames()
            && self.rotator.is_none()
            && !self.config.packet_buffered;
        if !vectored {
            return Ok(());
        }
        if let Some(writer) = &mut self.writer
            && !writer.output().buffer().is_empty()
            && let Err(e) = writer.flush()
        {
            return self.failed(e, stats);
        }
        self.batch.open(block);
        self.steady = false;
        Ok(())
    }

    /// Writes the batch, from `block`, before the block goes back to the kernel.
    fn block_end(&mut self, block: &[u8], stats: &mut Stats) -> Result<(), RunError> {
        if !self.batch.is_open() {
            return Ok(());
        }
        let written = match &mut self.writer {
            Some(writer) => self.batch.write_to(writer.output_mut().get_mut(), block),
            None => Ok(()),
        };
        self.batch.close();
        self.steady = self.is_steady();
        match written {
            Ok(()) => Ok(()),
            Err(e) => self.failed(e, stats),
        }
    }

    fn done(&self) -> bool {
        self.done
    }

    fn finish(
        &mut self,
        precision: TsPrecision,
        sessions: &[Session],
        stats: &mut Stats,
    ) -> Result<(), RunError> {
        if self.config.list_sessions {
            return Ok(());
        }
        if self.writer.is_none() && self.output.is_some() && self.config.format != Format::Text {
            // No frame at all: still write a valid, empty capture file.
            self.start_writer(precision, stats)?;
        }
        if let Some(writer) = &mut self.writer {
            stats.text_tcp_evictions = writer.text_tcp_evictions();
            match writer.finish(sessions) {
                Ok(()) => self.ledger.record(writer.output(), false),
                Err(e) => return self.failed(e, stats),
            }
        }
        let flushed = self.flush(stats);
        if let Some(rotator) = &mut self.rotator {
            rotator.wait_for_commands();
        }
        flushed
    }
}

#[cfg(test)]
mod tests {
    //! The vectored path of [`DirectWriter`] on a fake ring block, with an output that
    //! fills up after any number of bytes.

    use super::*;
    use crate::Timestamp;
    use crate::wire::decap::decapsulate_gre;
    use std::io::{IoSlice, Write};
    use std::net::{IpAddr, Ipv4Addr};
    use std::ops::Range;
    use std::sync::{Arc, Mutex};

    /// Takes `room` bytes (the last write short), then fails like a full disk.
    struct FullDisk {
        room: usize,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let mut got = self.got.lock().unwrap();
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.room);
                got.extend_from_slice(&b[..take]);
                self.room -= take;
                n += take;
            }
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A block of `n` GRE packets (transparent Ethernet, no options) of 60-1500-byte
    /// inner frames, 48 bytes apart as a ring's packet headers keep them; the packets'
    /// places and the inner frames.
    fn block(n: usize) -> (Vec<u8>, Vec<Range<usize>>, Vec<Vec<u8>>) {
        let mut bytes = vec![0; 48];
        let (mut packets, mut inners) = (Vec::new(), Vec::new());
        for i in 0..n {
            let inner: Vec<u8> = (0..60 + (i * 7919) % 1440).map(|b| (b + i) as u8).collect();
            let start = bytes.len();
            bytes.extend_from_slice(&[0x00, 0x00, 0x65, 0x58]);
            bytes.extend_from_slice(&inner);
            packets.push(start..bytes.len());
            bytes.extend_from_slice(&[0xEE; 48]);
            inners.push(inner);
        }
        (bytes, packets, inners)
    }

    /// The frames of the complete records of a pcap stream, and whether it ends after
    /// one.
    fn records(bytes: &[u8]) -> (Vec<&[u8]>, bool) {
        let (mut at, mut frames) = (24, Vec::new());
        while at + 16 <= bytes.len() {
            let len = u32::from_ne_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            if at + 16 + len > bytes.len() {
                break;
            }
            frames.push(&bytes[at + 16..at + 16 + len]);
            at += 16 + len;
        }
        (frames, at == bytes.len())
    }

    /// What [`run`] left: the counters, the output's bytes, whether every step
    /// succeeded, the frames offered to the writer and the inner frames of the block.
    type Outcome = (Stats, Vec<u8>, bool, u64, Vec<Vec<u8>>);

    /// One block through a writer with `room` bytes of output and `-c count`.
    fn run(n: usize, room: usize, count: Option<u64>) -> Outcome {
        let (block, packets, inners) = block(n);
        let mut config = Config::new(Format::Pcap);
        config.count = count;
        let got = Arc::default();
        let output = sink::output(FullDisk {
            room,
            got: Arc::clone(&got),
        });
        let mut writer = DirectWriter::new(&config, output);
        let mut stats = Stats::default();
        let addr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let mut offered = 0;
        let mut ok = writer.start(TsPrecision::Nano).is_ok();
        ok &= writer.block_start(&block, &mut stats).is_ok();
        assert_eq!(writer.batch.is_open(), ok);
        for (i, packet) in packets.iter().enumerate() {
            if writer.done() {
                break;
            }
            let d = decapsulate_gre(&block[packet.clone()], packet.len()).unwrap();
            let record = Record {
                ts: Timestamp::new(1_700_000_000, i as u32),
                src: addr,
                dst: addr,
                decap: &d,
                head: &[],
                data: d.frame,
                orig_len: d.frame.len() as u32,
                session: None,
                dropcount: 0,
            };
            ok &= writer.frame(&record, TsPrecision::Nano, &mut stats).is_ok();
            offered += 1;
        }
        ok &= writer.block_end(&block, &mut stats).is_ok();
        assert!(!writer.batch.is_open());
        ok &= writer.finish(TsPrecision::Nano, &[], &mut stats).is_ok();
        let got = got.lock().unwrap().clone();
        (stats, got, ok, offered, inners)
    }

    #[test]
    fn writes_a_block_byte_exact() {
        let (stats, got, ok, _, inners) = run(3000, usize::MAX, None);
        assert!(ok);
        assert_eq!(stats.frames_written, 3000);
        let (frames, whole) = records(&got);
        assert!(whole);
        assert_eq!(frames, inners.iter().map(Vec::as_slice).collect::<Vec<_>>());
    }

    #[test]
    fn count_stops_inside_the_block() {
        let (stats, got, ok, _, inners) = run(500, usize::MAX, Some(123));
        assert!(ok);
        assert_eq!(stats.frames_written, 123);
        let (frames, whole) = records(&got);
        assert!(whole);
        assert_eq!(
            frames,
            inners[..123].iter().map(Vec::as_slice).collect::<Vec<_>>()
        );
    }

    /// A full disk at every kind of place in the vectored write (in the file header,
    /// a record header, a frame, between records): the run fails, counts as written
    /// exactly the frames that reached the output whole, and the rest as lost.
    #[test]
    fn a_full_disk_counts_only_the_records_that_reached_the_output() {
        let n = 400;
        let (_, all, _, _, _) = run(n, usize::MAX, None);
        let mut rooms: Vec<usize> = (0..all.len()).step_by(997).collect();
        rooms.extend([0, 23, 24, 25, 24 + 16, all.len() - 1]);
        for room in rooms {
            let (stats, got, ok, offered, inners) = run(n, room, None);
            assert!(!ok, "room {room}");
            assert_eq!(got, all[..room], "room {room}");
            let (frames, _) = records(&got);
            assert_eq!(stats.frames_written, frames.len() as u64, "room {room}");
            assert_eq!(
                stats.frames_written + stats.output_lost,
                offered,
                "room {room}"
            );
            assert_eq!(offered, if room < 24 { 0 } else { n as u64 }, "room {room}");
            let want: Vec<&[u8]> = inners[..frames.len()].iter().map(Vec::as_slice).collect();
            assert_eq!(frames, want, "room {room}");
        }
    }
}
