//! The ring's dimensions: the defaults, the limits, and the checks that turn `-B` and
//! the block / frame sizes into a geometry the kernel accepts (`RingGeometry`), with
//! errors that name the value and the rule.
//!
//! Pure arithmetic on numbers: it never opens, maps or reads anything.

/// Default ring size, 32 MiB: 16 times tcpdump's 2 MiB `-B` default, because a mirror
/// session sends bursts of whatever the mirrored ports carry. It holds about 270 ms of
/// line rate at 1 Gbit/s (27 ms at 10 Gbit/s) while the writer is busy, and costs 32 MiB
/// of kernel memory per ring: N fan-out rings take N times that.
pub const DEFAULT_BUFFER_SIZE: u64 = 32 << 20;

/// Default block size, 1 MiB (`--block-size`): the ring's unit of hand-over. Small
/// enough that a 32 MiB ring has 32 blocks (the kernel keeps filling the others while
/// one is read), large enough to hold a 64 KiB GRO-merged packet whole and to spread
/// the cost of a hand-over (a wake-up, an output flush: 30-60 µs measured) over
/// hundreds of packets. Measured (README, *Block size and retire timeout*): 64 KiB
/// costs 16-37 % more per packet at top speed, 2 and 4 MiB gained nothing that held.
pub const DEFAULT_BLOCK_SIZE: u32 = 1 << 20;

/// Default frame size. TPACKET_V3 frames are variable-length; this only has to pass
/// the kernel's checks (a multiple of 16, at least a header, dividing the block).
pub const DEFAULT_FRAME_SIZE: u32 = 2048;

/// Default block timeout (`--block-timeout`): a block that is not full is handed over
/// after this many milliseconds, so a quiet mirror's packets still show up within
/// ~20 ms (11 ms on average, measured; tcpdump's: 100 ms at most), and the drain after
/// a stop request ends soon (it waits up to twice this). Shorter costs CPU on mirrors
/// slower than a block per timeout (at 20 kpps: 5 ms 1.5-1.8x, 1 ms 2.3-3.9x the
/// default's per packet); 50-100 ms saved at most 0.25 % of a core there.
pub const DEFAULT_BLOCK_TIMEOUT_MS: u32 = 20;

/// The largest ring accepted: the kernel counts frames in 32 bits, and this is kernel
/// memory, pinned for as long as the capture runs.
pub const MAX_BUFFER_SIZE: u64 = 4 << 30;

/// The largest block accepted (one allocation in the kernel).
pub const MAX_BLOCK_SIZE: u32 = 128 << 20;

/// The longest block timeout accepted, in milliseconds.
pub const MAX_BLOCK_TIMEOUT_MS: u32 = 10_000;

/// `TPACKET3_HDRLEN` rounded up to `TPACKET_ALIGNMENT`: the smallest frame the kernel
/// takes.
pub const MIN_FRAME_SIZE: u32 = 80;

const TPACKET_ALIGNMENT: u32 = libc::TPACKET_ALIGNMENT as u32;

/// A ring's dimensions, valid for the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingGeometry {
    pub block_size: u32,
    pub block_count: u32,
    pub frame_size: u32,
}

impl RingGeometry {
    /// Derives and checks the geometry of a ring of `buffer_size` bytes on a system
    /// with `page_size`-byte pages.
    pub fn new(
        buffer_size: u64,
        block_size: Option<u32>,
        frame_size: u32,
        page_size: usize,
    ) -> Result<RingGeometry, GeometryError> {
        let page = page_size as u64;
        if buffer_size > MAX_BUFFER_SIZE {
            return Err(GeometryError::BufferTooLarge {
                buffer: buffer_size,
            });
        }
        if buffer_size < page {
            return Err(GeometryError::BufferTooSmall {
                buffer: buffer_size,
                page,
            });
        }
        let block = match block_size {
            Some(block) => {
                if !block.is_power_of_two() {
                    return Err(GeometryError::BlockNotPowerOfTwo { block });
                }
                if !u64::from(block).is_multiple_of(page) {
                    return Err(GeometryError::BlockNotPageMultiple { block, page });
                }
                if block > MAX_BLOCK_SIZE {
                    return Err(GeometryError::BlockTooLarge { block });
                }
                if u64::from(block) > buffer_size {
                    return Err(GeometryError::BufferSmallerThanBlock {
                        buffer: buffer_size,
                        block,
                    });
                }
                block
            }
            None => {
                // The largest power of two that gives four blocks, within the page
                // size and the default.
                let quarter = (buffer_size / 4).max(1);
                let pow2 = 1u64 << (63 - quarter.leading_zeros());
                pow2.clamp(page, u64::from(DEFAULT_BLOCK_SIZE)) as u32
            }
        };
        if !frame_size.is_multiple_of(TPACKET_ALIGNMENT) {
            return Err(GeometryError::FrameNotAligned { frame: frame_size });
        }
        if frame_size < MIN_FRAME_SIZE {
            return Err(GeometryError::FrameTooSmall { frame: frame_size });
        }
        if frame_size > block {
            return Err(GeometryError::FrameLargerThanBlock {
                frame: frame_size,
                block,
            });
        }
        // Below 4 GiB / one page: fits in 32 bits, and so does the frame count.
        let block_count = (buffer_size / u64::from(block)) as u32;
        Ok(RingGeometry {
            block_size: block,
            block_count,
            frame_size,
        })
    }

    /// Frames as the kernel counts them (`tp_frame_nr`).
    pub fn frame_count(&self) -> u32 {
        (self.block_size / self.frame_size) * self.block_count
    }

    /// The ring's size in bytes.
    pub fn total(&self) -> u64 {
        u64::from(self.block_size) * u64::from(self.block_count)
    }
}

/// Why ring options cannot make a ring. Each message names the value and the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error(
        "ring buffer of {buffer} bytes is larger than the limit of {} bytes",
        MAX_BUFFER_SIZE
    )]
    BufferTooLarge { buffer: u64 },
    #[error("ring buffer of {buffer} bytes is smaller than one page ({page} bytes)")]
    BufferTooSmall { buffer: u64, page: u64 },
    #[error("ring buffer of {buffer} bytes cannot hold one block of {block} bytes")]
    BufferSmallerThanBlock { buffer: u64, block: u32 },
    #[error("block size {block} is not a power of two")]
    BlockNotPowerOfTwo { block: u32 },
    #[error("block size {block} is not a multiple of the page size ({page} bytes)")]
    BlockNotPageMultiple { block: u32, page: u64 },
    #[error(
        "block size {block} is larger than the limit of {} bytes",
        MAX_BLOCK_SIZE
    )]
    BlockTooLarge { block: u32 },
    #[error(
        "frame size {frame} is not a multiple of {} (TPACKET_ALIGNMENT)",
        TPACKET_ALIGNMENT
    )]
    FrameNotAligned { frame: u32 },
    #[error(
        "frame size {frame} is smaller than the packet header ({} bytes)",
        MIN_FRAME_SIZE
    )]
    FrameTooSmall { frame: u32 },
    #[error("frame size {frame} is larger than the block size {block}")]
    FrameLargerThanBlock { frame: u32, block: u32 },
    #[error("block timeout {ms} ms is outside 1..={} ms", MAX_BLOCK_TIMEOUT_MS)]
    BlockTimeout { ms: u32 },
}
