//! Records written straight from ring memory: the frames of one block of an AF_PACKET
//! ring go to the output in vectored writes of record headers and slices of the block,
//! issued before the block goes back to the kernel, so a kept frame is copied once
//! (ring → file) instead of twice (ring → output buffer → file).
//!
//! A [`Batch`] is opened on a block, takes the block's records in arrival order, and is
//! written and closed before the block is handed back. It keeps no reference into the
//! block: a frame is taken as a slice of it only if its bytes lie inside the block
//! (compared by address), and is then remembered as an offset range; the write borrows
//! the block again and cuts the slices out of it with bounds checks. So no lifetime has
//! to run through the decoder, a bug can at worst write wrong bytes, never read memory
//! that is not the block's, and the block's borrow (which keeps its guard, and so the
//! block, alive) covers the write. Everything else (record headers, synthesized link
//! headers, frames reassembled from fragments, frames shorter than [`COPY_BELOW`]) is
//! copied into the batch's staging buffer, in order.
//!
//! It must never reorder records, keep anything of a block once [`Batch::write_to`] or
//! [`Batch::close`] returned, write a block other than the one it was opened on, retry
//! a write that failed (only an interrupted one is reissued), or decide what is kept.

use std::io::{self, IoSlice, Write};
use std::ops::Range;

/// The most slices one `writev` takes (Linux's `IOV_MAX`); a batch with more pieces
/// goes out in several calls.
pub const IOV_MAX: usize = 1024;

/// Frames shorter than this are copied into the staging buffer rather than given as a
/// slice of the block: an iovec of its own costs the kernel more than copying them.
pub const COPY_BELOW: usize = 256;

/// One contiguous piece of the byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    /// The staging buffer from the previous staged piece's end to this end.
    Staged { end: usize },
    /// Bytes of the block, by offset.
    Block { start: usize, end: usize },
}

/// The records of one block, until they are written.
#[derive(Debug, Default)]
pub struct Batch {
    /// Addresses of the block the batch is open on.
    block: Option<Range<usize>>,
    staged: Vec<u8>,
    pieces: Vec<Piece>,
    /// Bytes in the batch (staged and in the block).
    len: usize,
}

/// The address range of `bytes`, to tell whether a slice lies inside it.
fn addresses(bytes: &[u8]) -> Range<usize> {
    let start = bytes.as_ptr() as usize;
    start..start + bytes.len()
}

impl Batch {
    /// Starts collecting the records of `block`. A batch left open is emptied first.
    pub fn open(&mut self, block: &[u8]) {
        self.close();
        self.block = Some(addresses(block));
    }

    /// Whether the batch is open on a block.
    pub fn is_open(&self) -> bool {
        self.block.is_some()
    }

    /// Bytes taken and not written yet.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slices the batch would hand to the kernel (for tests and the chunking).
    pub fn pieces(&self) -> usize {
        self.pieces.len()
    }

    /// Appends bytes to copy.
    #[inline]
    pub fn stage(&mut self, bytes: &[u8]) {
        self.staged.extend_from_slice(bytes);
        self.len += bytes.len();
        let end = self.staged.len();
        match self.pieces.last_mut() {
            Some(Piece::Staged { end: last }) => *last = end,
            _ => self.pieces.push(Piece::Staged { end }),
        }
    }

    /// Appends a frame's bytes: as a slice of the block when they lie inside it and are
    /// not short, else copied.
    #[inline]
    pub fn frame(&mut self, data: &[u8]) {
        if data.len() >= COPY_BELOW
            && let Some(block) = &self.block
        {
            let at = addresses(data);
            if block.start <= at.start && at.end <= block.end {
                let start = at.start - block.start;
                self.pieces.push(Piece::Block {
                    start,
                    end: start + data.len(),
                });
                self.len += data.len();
                return;
            }
        }
        self.stage(data);
    }

    /// Forgets what the batch holds, written or not, and the block.
    pub fn close(&mut self) {
        self.block = None;
        self.staged.clear();
        self.pieces.clear();
        self.len = 0;
    }

    /// Writes the batch to `out` (the bytes in order, in vectored writes of at most
    /// [`IOV_MAX`] slices, short writes continued), cutting the block's slices out of
    /// `block`, which must be the block the batch was opened on; then closes the batch.
    /// On an error the batch is closed too: what `out` accepted before it is all that
    /// was written.
    pub fn write_to(&mut self, out: &mut impl Write, block: &[u8]) -> io::Result<()> {
        let result = self.write_pieces(out, block);
        self.close();
        result
    }

    fn write_pieces(&self, out: &mut impl Write, block: &[u8]) -> io::Result<()> {
        if self.pieces.is_empty() {
            return Ok(());
        }
        if self.block.as_ref() != Some(&addresses(block)) {
            return Err(io::Error::other(
                "vectored batch written with another block than its own",
            ));
        }
        let mut slices = [IoSlice::new(&[]); IOV_MAX];
        let mut staged_at = 0;
        for chunk in self.pieces.chunks(IOV_MAX) {
            for (slot, piece) in slices.iter_mut().zip(chunk) {
                let bytes = match *piece {
                    Piece::Staged { end } => {
                        let bytes = &self.staged[staged_at..end];
                        staged_at = end;
                        bytes
                    }
                    Piece::Block { start, end } => block.get(start..end).ok_or_else(|| {
                        io::Error::other("vectored batch piece outside its block")
                    })?,
                };
                *slot = IoSlice::new(bytes);
            }
            write_all_vectored(out, &mut slices[..chunk.len()])?;
        }
        Ok(())
    }
}

/// Writes every byte of `slices`, continuing after short writes and reissuing a write
/// a signal interrupted.
fn write_all_vectored(out: &mut impl Write, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes at most `per_call` bytes and `max_slices` slices per call, fails with
    /// ENOSPC once `room` bytes were taken, and counts calls.
    struct Sink {
        got: Vec<u8>,
        room: usize,
        per_call: usize,
        max_slices: usize,
        calls: usize,
        interrupt_first: bool,
    }

    impl Sink {
        fn new(room: usize, per_call: usize) -> Sink {
            Sink {
                got: Vec::new(),
                room,
                per_call,
                max_slices: IOV_MAX,
                calls: 0,
                interrupt_first: false,
            }
        }
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            assert!(bufs.len() <= self.max_slices, "{} slices", bufs.len());
            if std::mem::take(&mut self.interrupt_first) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            self.calls += 1;
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.per_call - n).min(self.room);
                self.got.extend_from_slice(&b[..take]);
                self.room -= take;
                n += take;
                if take < b.len() {
                    break;
                }
            }
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A fake block and frames in it: frame `i` is `len(i)` bytes of value `i`.
    fn block_with(lens: &[usize]) -> (Vec<u8>, Vec<Range<usize>>) {
        let mut block = vec![0xEE; 64];
        let mut frames = Vec::new();
        for (i, &len) in lens.iter().enumerate() {
            let start = block.len() + 48;
            block.resize(start, 0xEE);
            block.extend(std::iter::repeat_n(i as u8, len));
            frames.push(start..start + len);
        }
        (block, frames)
    }

    /// Header `[i; 16]`, then the frame; every third frame comes from outside the
    /// block (as a reassembled one does).
    fn fill(batch: &mut Batch, block: &[u8], frames: &[Range<usize>], outside: &[Vec<u8>]) {
        batch.open(block);
        for (i, r) in frames.iter().enumerate() {
            batch.stage(&[i as u8; 16]);
            if i % 3 == 2 {
                batch.frame(&outside[i]);
            } else {
                batch.frame(&block[r.clone()]);
            }
        }
    }

    fn expected(frames: &[Range<usize>], block: &[u8], outside: &[Vec<u8>]) -> Vec<u8> {
        let mut want = Vec::new();
        for (i, r) in frames.iter().enumerate() {
            want.extend_from_slice(&[i as u8; 16]);
            if i % 3 == 2 {
                want.extend_from_slice(&outside[i]);
            } else {
                want.extend_from_slice(&block[r.clone()]);
            }
        }
        want
    }

    fn lens(n: usize) -> Vec<usize> {
        (0..n).map(|i| 40 + (i * 7919) % 1500).collect()
    }

    #[test]
    fn writes_the_records_in_order_across_many_writev_calls() {
        // 3000 frames: about 2 pieces each, so several IOV_MAX chunks.
        let lens = lens(3000);
        let (block, frames) = block_with(&lens);
        let outside: Vec<Vec<u8>> = lens.iter().map(|&n| vec![0xAB; n]).collect();
        let mut batch = Batch::default();
        fill(&mut batch, &block, &frames, &outside);
        let want = expected(&frames, &block, &outside);
        assert_eq!(batch.len(), want.len());
        assert!(batch.pieces() > 2 * IOV_MAX, "{} pieces", batch.pieces());
        let mut sink = Sink::new(usize::MAX, usize::MAX);
        sink.interrupt_first = true;
        batch.write_to(&mut sink, &block).unwrap();
        assert_eq!(sink.got, want);
        assert_eq!(sink.calls, batch_chunks(&lens));
        assert!(!batch.is_open() && batch.is_empty());
    }

    /// The number of writev calls the batch of `fill` needs with no short write.
    fn batch_chunks(lens: &[usize]) -> usize {
        let (block, frames) = block_with(lens);
        let outside: Vec<Vec<u8>> = lens.iter().map(|&n| vec![0xAB; n]).collect();
        let mut batch = Batch::default();
        fill(&mut batch, &block, &frames, &outside);
        batch.pieces().div_ceil(IOV_MAX)
    }

    #[test]
    fn short_frames_and_frames_outside_the_block_are_copied() {
        let (mut memory, frames) = block_with(&[COPY_BELOW - 1, COPY_BELOW, 1500]);
        let block_len = memory.len();
        memory.extend_from_slice(&[0x77; 1000]);
        let block = &memory[..block_len];
        let mut batch = Batch::default();
        batch.open(block);
        batch.stage(&[1; 16]);
        batch.frame(&block[frames[0].clone()]);
        // Header and short frame coalesce into one staged piece.
        assert_eq!(batch.pieces(), 1);
        batch.stage(&[2; 16]);
        batch.frame(&block[frames[1].clone()]);
        assert_eq!(batch.pieces(), 2);
        batch.stage(&[3; 16]);
        let outside = vec![9u8; 1500];
        batch.frame(&outside);
        assert_eq!(batch.pieces(), 3, "copied after the block's slice");
        // Straddling the block's end: copied, never cut from the block.
        let straddling = &memory[block_len - 300..block_len + 300];
        batch.frame(straddling);
        assert_eq!(batch.pieces(), 3);
        let mut sink = Sink::new(usize::MAX, usize::MAX);
        batch.write_to(&mut sink, block).unwrap();
        let mut want = vec![1; 16];
        want.extend_from_slice(&block[frames[0].clone()]);
        want.extend_from_slice(&[2; 16]);
        want.extend_from_slice(&block[frames[1].clone()]);
        want.extend_from_slice(&[3; 16]);
        want.extend_from_slice(&outside);
        want.extend_from_slice(straddling);
        assert_eq!(sink.got, want);
    }

    #[test]
    fn short_writes_continue_where_they_stopped() {
        let lens = lens(700);
        let (block, frames) = block_with(&lens);
        let outside: Vec<Vec<u8>> = lens.iter().map(|&n| vec![0xCD; n]).collect();
        let want = expected(&frames, &block, &outside);
        for per_call in [1, 7, 16, 1000, 65_536] {
            let mut batch = Batch::default();
            fill(&mut batch, &block, &frames, &outside);
            let mut sink = Sink::new(usize::MAX, per_call);
            batch.write_to(&mut sink, &block).unwrap();
            assert_eq!(sink.got, want, "{per_call} bytes per call");
        }
    }

    #[test]
    fn a_full_disk_stops_the_write_after_what_it_took() {
        let lens = lens(500);
        let (block, frames) = block_with(&lens);
        let outside: Vec<Vec<u8>> = lens.iter().map(|&n| vec![0x11; n]).collect();
        let want = expected(&frames, &block, &outside);
        for room in [0, 1, 100, 12_345, want.len() - 1] {
            let mut batch = Batch::default();
            fill(&mut batch, &block, &frames, &outside);
            let mut sink = Sink::new(room, 4096);
            let err = batch.write_to(&mut sink, &block).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
            assert_eq!(sink.got, want[..room], "room {room}");
            assert!(!batch.is_open() && batch.is_empty());
            // Nothing more is written after the failure.
            let calls = sink.calls;
            batch.write_to(&mut sink, &block).unwrap();
            assert_eq!(sink.calls, calls);
        }
    }

    #[test]
    fn refuses_another_block() {
        let (block, frames) = block_with(&[1000]);
        let other = block.clone();
        let mut batch = Batch::default();
        batch.open(&block);
        batch.frame(&block[frames[0].clone()]);
        let mut sink = Sink::new(usize::MAX, usize::MAX);
        assert!(batch.write_to(&mut sink, &other).is_err());
        assert!(sink.got.is_empty());
    }
}
