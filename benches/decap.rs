//! Decapsulation throughput: the stateless wire parser alone, and the whole file
//! pipeline (read pcap from memory, decapsulate, write pcap to a sink), in packets/s
//! and bytes/s.
//!
//! Run: `cargo bench --bench decap`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use spandump::capture::FileSource;
use spandump::pipeline::{Config, Pipeline};
use spandump::sink::Format;
use spandump::wire::decap::decapsulate_gre;
use spandump::wire::ip::parse_ipv4;
use spandump::wire::link::{LinkType, strip_link};
use std::hint::black_box;
use std::io::Cursor;
use std::sync::atomic::AtomicBool;

/// An outer Ethernet + IPv4 (192.0.2.1 -> 192.0.2.2) + GRE packet around `inner`.
fn outer(gre: &[u8], inner_len: usize) -> Vec<u8> {
    let mut p = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + gre.len() + inner_len) as u16;
    p.extend_from_slice(&[
        0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 47, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
    ]);
    p[16..18].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(gre);
    // Inner Ethernet frame: MACs, IPv4 ethertype, then filler.
    let mut inner = vec![0x0a, 0, 0, 0, 0, 2, 0x0a, 0, 0, 0, 0, 1, 0x08, 0x00];
    inner.resize(inner_len, 0x45);
    p.extend_from_slice(&inner);
    p
}

/// The three encapsulations OVS/OVN and Linux send, in turn.
fn packets(inner_len: usize, n: usize) -> Vec<Vec<u8>> {
    let gretap_key: &[u8] = &[0x20, 0x00, 0x65, 0x58, 0, 0, 0, 99];
    let erspan_ii: &[u8] = &[
        0x10, 0x00, 0x88, 0xBE, 0, 0, 0, 1, 0x10, 0x00, 0x00, 77, 0, 0, 0, 0x77,
    ];
    let erspan_iii: &[u8] = &[
        0x10, 0x00, 0x22, 0xEB, 0, 0, 0, 1, 0x20, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0x80, 0x08,
    ];
    let kinds = [gretap_key, erspan_ii, erspan_iii];
    (0..n).map(|i| outer(kinds[i % 3], inner_len)).collect()
}

fn pcap_file(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    for v in [0xA1B2_C3D4u32, 0x0004_0002, 0, 0, 262_144, 1] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    for (i, p) in packets.iter().enumerate() {
        for v in [1_700_000_000 + i as u32, 0, p.len() as u32, p.len() as u32] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(p);
    }
    f
}

fn wire(c: &mut Criterion) {
    let mut group = c.benchmark_group("wire");
    for inner_len in [64usize, 576, 1500] {
        let pkts = packets(inner_len, 3000);
        let bytes: usize = pkts.iter().map(Vec::len).sum();
        group.throughput(Throughput::Elements(pkts.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("decap_pps", inner_len),
            &pkts,
            |b, pkts| {
                b.iter(|| {
                    let mut n = 0usize;
                    for p in pkts {
                        let (_, ip) = strip_link(LinkType::Ethernet, p).unwrap();
                        let ip = parse_ipv4(ip).unwrap();
                        let d = decapsulate_gre(ip.payload, ip.payload_len).unwrap();
                        n += d.frame.len();
                    }
                    black_box(n)
                })
            },
        );
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_with_input(
            BenchmarkId::new("decap_bytes", inner_len),
            &pkts,
            |b, pkts| {
                b.iter(|| {
                    for p in pkts {
                        let (_, ip) = strip_link(LinkType::Ethernet, p).unwrap();
                        let ip = parse_ipv4(ip).unwrap();
                        black_box(decapsulate_gre(ip.payload, ip.payload_len).unwrap());
                    }
                })
            },
        );
    }
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(20);
    for inner_len in [64usize, 576, 1500] {
        let pkts = packets(inner_len, 30_000);
        // Leaked so the reader can borrow it for 'static without a copy per iteration.
        let file: &'static [u8] = Box::leak(pcap_file(&pkts).into_boxed_slice());
        let config = Config::new(Format::Pcap);
        group.throughput(Throughput::Elements(pkts.len() as u64));
        group.bench_function(BenchmarkId::new("pcap_to_pcap", inner_len), |b| {
            b.iter(|| {
                let mut source =
                    FileSource::from_reader(Box::new(Cursor::new(file)), "bench").unwrap();
                let mut p = Pipeline::new(&config, spandump::sink::output(std::io::sink()));
                p.run(&mut source, &AtomicBool::new(false)).unwrap();
                assert_eq!(p.stats().frames_written, pkts.len() as u64);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, wire, pipeline);
criterion_main!(benches);
