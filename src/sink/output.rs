//! The byte stream under a writer, and the ledger that knows which records reached it.
//!
//! A writer's records pass through a large buffer before the operating system takes
//! them, so "written" in the summary could mean "buffered". [`Target`] counts the bytes
//! the operating system accepted; [`Ledger`] remembers where each record ends in the
//! stream, so that after a failed write (a full disk, an I/O error, a file too large)
//! the run can say exactly how many frames reached the file, and cut the file back to
//! the end of its last complete record.
//!
//! This module must never retry a failed write, write after a failure (the buffered
//! bytes are discarded, not flushed by a drop), or cut anything but a regular file.

use std::fs::File;
use std::io::{self, BufWriter, Write};

/// Output buffer size: large writes, few system calls.
pub const OUTPUT_BUFFER: usize = 1 << 20;

/// The byte stream under a writer: a large buffer over a file or any byte sink. The
/// buffer is concrete so that the per-frame writes inline into it; only its refills go
/// through the target.
pub type Output = BufWriter<Target>;

/// Wraps a byte sink (stdout, a pipe, a test's buffer) in the output buffer.
pub fn output(w: impl Write + Send + 'static) -> Output {
    BufWriter::with_capacity(
        OUTPUT_BUFFER,
        Target {
            inner: Inner::Stream(Box::new(w)),
            accepted: 0,
        },
    )
}

/// Wraps a regular file in the output buffer: after a failed write it can be cut back
/// to a record boundary.
pub fn output_file(file: File) -> Output {
    BufWriter::with_capacity(
        OUTPUT_BUFFER,
        Target {
            inner: Inner::File(file),
            accepted: 0,
        },
    )
}

/// Where the buffered bytes go, counting those the operating system accepted.
pub struct Target {
    inner: Inner,
    accepted: u64,
}

enum Inner {
    File(File),
    Stream(Box<dyn Write + Send>),
}

impl Target {
    /// Bytes the operating system accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// The file under the buffer, if it is one.
    pub fn file(&self) -> Option<&File> {
        match &self.inner {
            Inner::File(f) => Some(f),
            Inner::Stream(_) => None,
        }
    }
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.inner {
            Inner::File(f) => f.write(buf)?,
            Inner::Stream(w) => w.write(buf)?,
        };
        self.accepted += n as u64;
        Ok(n)
    }

    /// A vectored write ([`super::vectored`]) goes to the file as one `writev`.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let n = match &mut self.inner {
            Inner::File(f) => f.write_vectored(bufs)?,
            Inner::Stream(w) => w.write_vectored(bufs)?,
        };
        self.accepted += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::File(f) => f.flush(),
            Inner::Stream(w) => w.flush(),
        }
    }
}

/// The stream position of `out`: bytes accepted plus bytes still buffered.
pub fn position(out: &Output) -> u64 {
    out.get_ref().accepted() + out.buffer().len() as u64
}

/// Where the records of one output end, until the operating system has taken them.
///
/// A record is noted with one push (its end offset, shifted left, with the low bit set
/// for a frame); the entries are settled against the bytes the operating system
/// accepted only when that count moved, which happens once per buffer flush. Noting
/// a record costs a few instructions, not a queue walk per frame.
#[derive(Debug, Default)]
pub struct Ledger {
    /// `end << 1 | frame` of records still (partly) in the buffer, in stream order.
    pending: Vec<u64>,
    /// End of the last record known to be complete in the file.
    complete: u64,
    /// The accepted byte count `pending` was last settled against.
    settled: u64,
}

/// What a failed output left: frames that never reached it, and whether the file was
/// cut back to its last complete record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss {
    /// Frames written to the buffer that did not reach the output whole.
    pub frames: u64,
    /// Where the file now ends (`None` for a stream, which cannot be cut).
    pub cut_at: Option<u64>,
}

impl Ledger {
    /// Notes that a record (a frame when `frame`, else a header or metadata block) now
    /// ends at the current position of `out`, and forgets the records that reached it.
    #[inline]
    pub fn record(&mut self, out: &Output, frame: bool) {
        self.record_at(out.get_ref().accepted(), position(out), frame);
    }

    /// Notes that a record ends at stream offset `end`, when the operating system has
    /// accepted `accepted` bytes: for records that wait outside the output buffer (a
    /// [`super::vectored::Batch`]), whose end is past the buffer's position.
    #[inline]
    pub fn record_at(&mut self, accepted: u64, end: u64, frame: bool) {
        if accepted != self.settled {
            self.settle(accepted);
        }
        self.pending.push(end << 1 | u64::from(frame));
    }

    #[cold]
    fn settle(&mut self, accepted: u64) {
        // The ends only grow, so the complete records are a prefix.
        let done = self
            .pending
            .partition_point(|&entry| entry >> 1 <= accepted);
        if done > 0 {
            self.complete = self.pending[done - 1] >> 1;
            self.pending.drain(..done);
        }
        self.settled = accepted;
    }

    /// Frames the buffer holds that have not reached the output yet.
    pub fn frames_pending(&self) -> u64 {
        self.pending.iter().filter(|&&entry| entry & 1 == 1).count() as u64
    }

    /// After a failed write: drops what is still buffered (without writing it), counts
    /// the frames that did not reach the output, and cuts a file back to the end of its
    /// last complete record.
    pub fn fail(mut self, out: Output) -> Loss {
        let (target, _buffered) = out.into_parts();
        self.settle(target.accepted());
        let frames = self.frames_pending();
        let cut_at = target.file().map(|file| {
            // A cut that fails leaves a partial record at the end; the error that ended
            // the run is already reported, and readers stop at the cut record.
            let _ = file.set_len(self.complete);
            self.complete
        });
        Loss { frames, cut_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts `room` bytes, then fails like a full disk; a short write first.
    struct FullDisk {
        room: usize,
        got: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.got.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Records of many sizes over many buffer flushes (the ledger settles only when the
    /// accepted count moves), then a full disk at every kind of place: the frames
    /// counted as pending are exactly those that did not reach the output whole.
    #[test]
    fn settles_across_many_flushes_and_fails_at_any_byte() {
        let sizes: Vec<usize> = (0..3000).map(|i| 30 + (i * 7919) % 1500).collect();
        let total: usize = sizes.iter().sum::<usize>() + 24;
        for room in [
            0,
            23,
            24,
            25,
            1 << 20,
            (1 << 20) + 1,
            3 << 20,
            total - 1,
            total,
        ] {
            let got = std::sync::Arc::default();
            let mut out = output(FullDisk {
                room,
                got: std::sync::Arc::clone(&got),
            });
            let mut ledger = Ledger::default();
            let mut failed = false;
            let mut given = 0u64;
            failed |= out.write_all(&[0; 24]).is_err();
            ledger.record(&out, false);
            for &n in &sizes {
                if failed {
                    break;
                }
                if out.write_all(&vec![1; n]).is_err() {
                    failed = true;
                    break;
                }
                given += 1;
                ledger.record(&out, true);
            }
            if !failed {
                failed = out.flush().is_err();
            }
            assert_eq!(failed, room < total, "room {room}");
            let reached = got.lock().unwrap().len();
            let mut end = 24;
            let whole = sizes
                .iter()
                .take(given as usize)
                .take_while(|&&n| {
                    end += n;
                    end <= reached
                })
                .count() as u64;
            let loss = ledger.fail(out);
            assert_eq!(loss.frames, given - whole, "room {room}");
        }
    }

    #[test]
    fn counts_only_records_that_reached_the_output() {
        let got = std::sync::Arc::default();
        let mut out = output(FullDisk {
            room: 250,
            got: std::sync::Arc::clone(&got),
        });
        let mut ledger = Ledger::default();
        out.write_all(&[0; 24]).unwrap();
        ledger.record(&out, false);
        for _ in 0..5 {
            out.write_all(&[1; 100]).unwrap();
            ledger.record(&out, true);
        }
        assert_eq!(ledger.frames_pending(), 5);
        let err = out.flush().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(got.lock().unwrap().len(), 250);
        // 24 + 2 * 100 = 224 complete; the third frame is cut, the rest never went out.
        let loss = ledger.fail(out);
        assert_eq!(
            loss,
            Loss {
                frames: 3,
                cut_at: None
            }
        );
    }

    #[test]
    fn cuts_a_file_after_its_last_complete_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let mut out = output_file(file);
        let mut ledger = Ledger::default();
        out.write_all(&[0; 24]).unwrap();
        ledger.record(&out, false);
        out.write_all(&[1; 100]).unwrap();
        ledger.record(&out, true);
        out.flush().unwrap();
        // A partial record reaches the file, as a short write on a full disk leaves it.
        out.get_mut().write_all(&[2; 40]).unwrap();
        out.write_all(&[2; 60]).unwrap();
        ledger.record(&out, true);
        let loss = ledger.fail(out);
        assert_eq!(
            loss,
            Loss {
                frames: 1,
                cut_at: Some(124)
            }
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 124);
    }
}
