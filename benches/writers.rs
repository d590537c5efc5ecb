//! Output writers: spandump's hand-written pcap / pcapng writers against pcap-file 2.0's
//! `PcapWriter`, and the record-writing strategies the pcap writer could have used.
//!
//! Every benchmark writes 100k synthetic frames of 64 or 600 bytes into one of four
//! outputs (see [`Output`]): a pre-sized `Vec<u8>` (formatting cost only), a 1 MiB
//! `BufWriter<io::Sink>` (the binary's path minus the syscall), the same `BufWriter`
//! over a `Box<dyn Write>`, and a `Box<dyn Write>` over the `BufWriter` (each
//! `write_all` an indirect call). "+head" variants pass the frame as a 14-byte
//! synthesized Ethernet header plus the rest (same total size): spandump takes the two
//! slices, pcap-file needs them concatenated into one (a reused buffer, so the cost is
//! the copy, not an allocation). Throughput is in frames.
//!
//! Before measuring, every pcap variant's output is checked byte for byte against the
//! built writer's, so the numbers compare equal work.

use std::hint::black_box;
use std::io::{self, BufWriter, IoSlice, Write};
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter as PcapFileWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use spandump::sink::pcap::PcapWriter;
use spandump::sink::pcapng::{EpbOptions, PcapNgWriter};
use spandump::{Timestamp, TsPrecision};

const FRAMES: usize = 100_000;
/// Distinct frame buffers cycled through, so the source is not one hot cache line.
const POOL: usize = 1024;
const SNAPLEN: u32 = 262_144;
const LINKTYPE_ETHERNET: u32 = 1;
const HEAD_LEN: usize = 14;
const SINK_BUFFER: usize = 1 << 20;

/// 100k frames of one size, with or without a separate synthesized head.
struct Workload {
    size: usize,
    with_head: bool,
    pool: Vec<Vec<u8>>,
    head: [u8; HEAD_LEN],
}

impl Workload {
    fn new(size: usize, with_head: bool) -> Self {
        let pool = (0..POOL)
            .map(|i| (0..size).map(|j| (i * 31 + j) as u8).collect())
            .collect();
        let head = [0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
        Workload {
            size,
            with_head,
            pool,
            head,
        }
    }

    /// Calls `f(ts, orig_len, head, data)` for each frame; `head.len() + data.len()` is
    /// always `size`.
    #[inline]
    fn for_each(&self, mut f: impl FnMut(Timestamp, u32, &[u8], &[u8])) {
        let mut ts = Timestamp::new(1_700_000_000, 0);
        let head: &[u8] = if self.with_head { &self.head } else { &[] };
        for i in 0..FRAMES {
            let frame = &self.pool[i % POOL];
            f(ts, self.size as u32, head, &frame[head.len()..]);
            ts.nanos += 1_234_567;
            if ts.nanos >= 1_000_000_000 {
                ts.nanos -= 1_000_000_000;
                ts.secs += 1;
            }
        }
    }

    /// Bytes the largest variant (pcapng with options) writes, to pre-size the `Vec`.
    fn max_output(&self) -> usize {
        1024 + FRAMES * (self.size + 80)
    }
}

fn spandump_pcap<W: Write>(out: W, load: &Workload) -> W {
    let mut w = PcapWriter::new(out, SNAPLEN, LINKTYPE_ETHERNET, TsPrecision::Micro).unwrap();
    load.for_each(|ts, orig, head, data| w.write_frame(ts, orig, head, data).unwrap());
    w.flush().unwrap();
    w.into_inner()
}

fn pcap_file_pcap<W: Write>(out: W, load: &Workload, scratch: &mut Vec<u8>) -> W {
    let header = PcapHeader {
        snaplen: SNAPLEN,
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::MicroSecond,
        endianness: Endianness::native(),
        ..Default::default()
    };
    let mut w = PcapFileWriter::with_header(out, header).unwrap();
    load.for_each(|ts, orig, head, data| {
        let time = Duration::new(ts.secs as u64, ts.nanos);
        let bytes = if head.is_empty() {
            data
        } else {
            scratch.clear();
            scratch.extend_from_slice(head);
            scratch.extend_from_slice(data);
            scratch.as_slice()
        };
        w.write_packet(&PcapPacket::new(time, orig, bytes)).unwrap();
    });
    let mut out = w.into_writer();
    out.flush().unwrap();
    out
}

fn spandump_pcapng<W: Write>(out: W, load: &Workload, with_options: bool) -> W {
    let mut w = PcapNgWriter::new(out).unwrap();
    let iface = w
        .add_interface(
            LINKTYPE_ETHERNET as u16,
            SNAPLEN,
            Some("erspan2:10.0.0.5:sess=10"),
            None,
        )
        .unwrap();
    let mut seq = 0u64;
    load.for_each(|ts, orig, head, data| {
        let opts = if with_options {
            seq += 1;
            EpbOptions {
                flags: Some(0b01),
                packet_id: Some(seq),
                ..Default::default()
            }
        } else {
            EpbOptions::default()
        };
        w.write_frame(iface, ts, orig, head, data, &opts).unwrap();
    });
    w.flush().unwrap();
    w.into_inner()
}

/// The 16-byte record header of a µs file, as one array.
#[inline]
fn record_header(ts: Timestamp, orig: u32, len: usize) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&(ts.secs as u32).to_ne_bytes());
    h[4..8].copy_from_slice(&(ts.nanos / 1000).to_ne_bytes());
    h[8..12].copy_from_slice(&(len as u32).to_ne_bytes());
    h[12..16].copy_from_slice(&orig.to_ne_bytes());
    h
}

/// Alternatives to the built writer's "header as two 8-byte `write_all`s built in
/// registers, then head, then data". They skip the built writer's range checks, which
/// only flatters them.
#[derive(Clone, Copy, Debug)]
enum Strategy {
    /// The header assembled in a 16-byte stack array, one `write_all`, then head and
    /// data (the first version of the built writer).
    ArrayHeader,
    /// pcap-file's way: one `write_all` per 4-byte field, then head, then data.
    WriteAllPerField,
    /// Header and head copied into one stack buffer, one `write_all`, then data.
    HeaderAndHeadOnStack,
    /// One `write_vectored` call of header, head and data (looping on short writes).
    Vectored,
    /// The writer's own 64 KiB buffer in front of `W`.
    OwnBuffer,
}

impl Strategy {
    const ALL: [Strategy; 5] = [
        Strategy::ArrayHeader,
        Strategy::WriteAllPerField,
        Strategy::HeaderAndHeadOnStack,
        Strategy::Vectored,
        Strategy::OwnBuffer,
    ];

    const fn from_u8(s: u8) -> Strategy {
        match s {
            0 => Strategy::ArrayHeader,
            1 => Strategy::WriteAllPerField,
            2 => Strategy::HeaderAndHeadOnStack,
            3 => Strategy::Vectored,
            _ => Strategy::OwnBuffer,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Strategy::ArrayHeader => "16-byte-array-header",
            Strategy::WriteAllPerField => "write_all-per-field",
            Strategy::HeaderAndHeadOnStack => "header+head-on-stack",
            Strategy::Vectored => "write_vectored",
            Strategy::OwnBuffer => "own-64KiB-buffer",
        }
    }
}

/// `S` is a `Strategy as u8`: a constant, so that each strategy gets its own
/// monomorphized loop without a per-frame branch, as a real writer would.
fn strategy_pcap<W: Write, const S: u8>(mut out: W, load: &Workload) -> W {
    let strategy = const { Strategy::from_u8(S) };
    let global = PcapWriter::new(Vec::new(), SNAPLEN, LINKTYPE_ETHERNET, TsPrecision::Micro)
        .unwrap()
        .into_inner();
    out.write_all(&global).unwrap();
    let mut own = Vec::with_capacity(64 * 1024);
    load.for_each(|ts, orig, head, data| {
        let len = head.len() + data.len();
        match strategy {
            Strategy::ArrayHeader => {
                out.write_all(&record_header(ts, orig, len)).unwrap();
                out.write_all(head).unwrap();
                out.write_all(data).unwrap();
            }
            Strategy::WriteAllPerField => {
                out.write_all(&(ts.secs as u32).to_ne_bytes()).unwrap();
                out.write_all(&(ts.nanos / 1000).to_ne_bytes()).unwrap();
                out.write_all(&(len as u32).to_ne_bytes()).unwrap();
                out.write_all(&orig.to_ne_bytes()).unwrap();
                out.write_all(head).unwrap();
                out.write_all(data).unwrap();
            }
            Strategy::HeaderAndHeadOnStack => {
                let mut first = [0u8; 16 + HEAD_LEN];
                first[..16].copy_from_slice(&record_header(ts, orig, len));
                first[16..16 + head.len()].copy_from_slice(head);
                out.write_all(&first[..16 + head.len()]).unwrap();
                out.write_all(data).unwrap();
            }
            Strategy::Vectored => {
                let h = record_header(ts, orig, len);
                let mut slices = [IoSlice::new(&h), IoSlice::new(head), IoSlice::new(data)];
                let mut slices = &mut slices[..];
                while !slices.is_empty() {
                    let n = out.write_vectored(slices).unwrap();
                    assert!(n > 0, "write_vectored wrote nothing");
                    IoSlice::advance_slices(&mut slices, n);
                }
            }
            Strategy::OwnBuffer => {
                own.extend_from_slice(&record_header(ts, orig, len));
                own.extend_from_slice(head);
                own.extend_from_slice(data);
                if own.len() >= 64 * 1024 {
                    out.write_all(&own).unwrap();
                    own.clear();
                }
            }
        }
    });
    out.write_all(&own).unwrap();
    out.flush().unwrap();
    out
}

/// Every variant writes the same bytes as the built writer (pcapng aside, which has
/// its own format): otherwise the comparison would be meaningless.
fn check_outputs_agree() {
    for size in [64, 600] {
        for with_head in [false, true] {
            let load = Workload::new(size, with_head);
            let ours = spandump_pcap(Vec::new(), &load);
            assert_eq!(ours.len(), 24 + FRAMES * (16 + size));
            assert_eq!(
                pcap_file_pcap(Vec::new(), &load, &mut Vec::new()),
                ours,
                "pcap-file"
            );
            for strategy in Strategy::ALL {
                assert_eq!(
                    Variant::Strategy(strategy).run(Vec::new(), &load, &mut Vec::new()),
                    ours,
                    "{strategy:?}"
                );
            }
            assert!(spandump_pcapng(Vec::new(), &load, true).len() <= load.max_output());
        }
    }
}

/// What one benchmark writes.
#[derive(Clone, Copy, Debug)]
enum Variant {
    SpandumpPcap,
    PcapFilePcap,
    SpandumpPcapNg { with_options: bool },
    Strategy(Strategy),
}

impl Variant {
    /// Monomorphized per output type, so that `write_all` inlines as in real use.
    fn run<W: Write>(self, out: W, load: &Workload, scratch: &mut Vec<u8>) -> W {
        match self {
            Variant::SpandumpPcap => spandump_pcap(out, load),
            Variant::PcapFilePcap => pcap_file_pcap(out, load, scratch),
            Variant::SpandumpPcapNg { with_options } => spandump_pcapng(out, load, with_options),
            Variant::Strategy(Strategy::ArrayHeader) => {
                strategy_pcap::<_, { Strategy::ArrayHeader as u8 }>(out, load)
            }
            Variant::Strategy(Strategy::WriteAllPerField) => {
                strategy_pcap::<_, { Strategy::WriteAllPerField as u8 }>(out, load)
            }
            Variant::Strategy(Strategy::HeaderAndHeadOnStack) => {
                strategy_pcap::<_, { Strategy::HeaderAndHeadOnStack as u8 }>(out, load)
            }
            Variant::Strategy(Strategy::Vectored) => {
                strategy_pcap::<_, { Strategy::Vectored as u8 }>(out, load)
            }
            Variant::Strategy(Strategy::OwnBuffer) => {
                strategy_pcap::<_, { Strategy::OwnBuffer as u8 }>(out, load)
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Output {
    /// A `Vec` pre-sized for the whole output, cleared between iterations.
    Vec,
    /// A reused 1 MiB `BufWriter` over `io::sink()`.
    BufWriterSink,
    /// The same `BufWriter` over a `Box<dyn Write + Send>`: only its (rare) flushes
    /// are indirect calls.
    BufWriterOverDyn,
    /// `Box<dyn Write + Send>` over the `BufWriter`: every `write_all` is an indirect
    /// call.
    DynOverBufWriter,
}

impl Output {
    const ALL: [Output; 4] = [
        Output::Vec,
        Output::BufWriterSink,
        Output::BufWriterOverDyn,
        Output::DynOverBufWriter,
    ];

    fn name(self) -> &'static str {
        match self {
            Output::Vec => "vec",
            Output::BufWriterSink => "bufwriter",
            Output::BufWriterOverDyn => "bufwriter-over-dyn",
            Output::DynOverBufWriter => "dyn-over-bufwriter",
        }
    }
}

fn bench_variant(
    group: &mut BenchmarkGroup<'_, WallTime>,
    output: Output,
    name: &str,
    load: &Workload,
    variant: Variant,
) {
    let mut scratch = Vec::with_capacity(load.size);
    match output {
        Output::Vec => {
            let mut buf = Vec::with_capacity(load.max_output());
            group.bench_function(name, |b| {
                b.iter(|| {
                    buf.clear();
                    variant.run(&mut buf, load, &mut scratch);
                    black_box(buf.len())
                })
            });
        }
        Output::BufWriterSink => {
            let mut out = BufWriter::with_capacity(SINK_BUFFER, io::sink());
            group.bench_function(name, |b| {
                b.iter(|| black_box(variant.run(&mut out, load, &mut scratch).buffer().len()))
            });
        }
        Output::BufWriterOverDyn => {
            let inner: Box<dyn Write + Send> = Box::new(io::sink());
            let mut out = BufWriter::with_capacity(SINK_BUFFER, inner);
            group.bench_function(name, |b| {
                b.iter(|| black_box(variant.run(&mut out, load, &mut scratch).buffer().len()))
            });
        }
        Output::DynOverBufWriter => {
            let mut out: Box<dyn Write + Send> =
                Box::new(BufWriter::with_capacity(SINK_BUFFER, io::sink()));
            group.bench_function(name, |b| {
                b.iter(|| {
                    variant.run(&mut out, load, &mut scratch);
                })
            });
        }
    }
}

fn writers(c: &mut Criterion) {
    check_outputs_agree();
    for size in [64, 600] {
        let loads = [Workload::new(size, false), Workload::new(size, true)];
        for output in Output::ALL {
            let mut group = c.benchmark_group(format!("writers/{}/{size}B", output.name()));
            group.throughput(Throughput::Elements(FRAMES as u64));
            for load in &loads {
                let suffix = if load.with_head { "+head" } else { "" };
                for (name, variant) in [
                    ("pcap{}/spandump", Variant::SpandumpPcap),
                    ("pcap{}/pcap-file", Variant::PcapFilePcap),
                    (
                        "pcapng{}/spandump",
                        Variant::SpandumpPcapNg {
                            with_options: false,
                        },
                    ),
                    (
                        "pcapng{}+flags+packetid/spandump",
                        Variant::SpandumpPcapNg { with_options: true },
                    ),
                ] {
                    let name = name.replace("{}", suffix);
                    bench_variant(&mut group, output, &name, load, variant);
                }
            }
            group.finish();
        }
    }
}

fn strategies(c: &mut Criterion) {
    let size = 64;
    let loads = [Workload::new(size, false), Workload::new(size, true)];
    for output in Output::ALL {
        let mut group =
            c.benchmark_group(format!("pcap-record-strategy/{}/{size}B", output.name()));
        group.throughput(Throughput::Elements(FRAMES as u64));
        for load in &loads {
            let suffix = if load.with_head { "+head" } else { "" };
            let name = format!("u32-pairs (built){suffix}");
            bench_variant(&mut group, output, &name, load, Variant::SpandumpPcap);
            for strategy in Strategy::ALL {
                let name = format!("{}{suffix}", strategy.name());
                bench_variant(&mut group, output, &name, load, Variant::Strategy(strategy));
            }
        }
        group.finish();
    }
}

criterion_group!(benches, writers, strategies);
criterion_main!(benches);
