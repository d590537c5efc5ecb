//! Filter expressions: spandump's interpreter against libpcap's own
//! (`pcap_offline_filter`), the same compiled program on the same frames, in frames/s.
//!
//! Run: `cargo bench --bench filter` (needs libpcap: `apt-get install libpcap0.8`).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use spandump::bpf::libpcap::{LibPcap, RawProgram};
use spandump::bpf::{Expression, Frame};
use std::hint::black_box;

/// A mix of inner frames: TCP to port 80 (SYN and data), UDP DNS, ICMP, an IPv6 frame
/// with a hop-by-hop header before ICMPv6, a VLAN-tagged TCP SYN.
fn frames() -> Vec<Vec<u8>> {
    let eth = |ethertype: u16, payload: &[u8]| {
        let mut f = vec![0x00, 0x50, 0x56, 0, 0, 2, 0x00, 0x50, 0x56, 0, 0, 1];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    };
    let ipv4 = |proto: u8, l4: &[u8]| {
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 192, 0, 2, 11, 192, 0, 2, 12,
        ];
        ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        ip.extend_from_slice(l4);
        ip
    };
    let tcp = |dport: u16, flags: u8, payload: usize| {
        let mut t = vec![
            0x9C, 0x40, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0x04, 0, 0, 0, 0, 0,
        ];
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t.resize(20 + payload, 0x41);
        t
    };
    let udp = |dport: u16, payload: usize| {
        let mut u = vec![0x04, 0x00, 0, 0, 0, 0, 0, 0];
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u[4..6].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
        u.resize(8 + payload, 0);
        u
    };
    let mut ipv6 = vec![0x60, 0, 0, 0, 0, 16, 0, 64];
    ipv6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    ipv6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    ipv6.extend_from_slice(&[58, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop, next ICMPv6
    ipv6.extend_from_slice(&[128, 0, 0, 0, 0, 1, 0, 1]);
    let mut vlan = vec![0x00, 100, 0x08, 0x00];
    vlan.extend(ipv4(6, &tcp(443, 0x02, 0)));
    vec![
        eth(0x0800, &ipv4(6, &tcp(80, 0x02, 0))),
        eth(0x0800, &ipv4(6, &tcp(80, 0x18, 512))),
        eth(0x0800, &ipv4(17, &udp(53, 40))),
        eth(0x0800, &ipv4(1, &[8, 0, 0, 0, 0, 1, 0, 1])),
        eth(0x86DD, &ipv6),
        eth(0x8100, &vlan),
    ]
}

fn filter(c: &mut Criterion) {
    let pcap = match LibPcap::load() {
        Ok(pcap) => pcap,
        Err(e) => {
            eprintln!("filter bench skipped: {e}");
            return;
        }
    };
    let frames = frames();
    let mut group = c.benchmark_group("filter");
    group.throughput(Throughput::Elements(frames.len() as u64));
    for text in [
        "tcp port 80",
        "udp port 53",
        "vlan and tcp[tcpflags] & tcp-syn != 0",
        "ip6 protochain 58",
    ] {
        let expression = Expression::compile(&pcap, text).expect("compiles");
        let program = expression.program();
        let raw = RawProgram::new(program.instructions());
        group.bench_with_input(BenchmarkId::new("spandump", text), &frames, |b, frames| {
            b.iter(|| {
                let mut kept = 0u32;
                for f in frames {
                    kept +=
                        u32::from(program.run(Frame::new(&[], black_box(f)), f.len() as u32) != 0);
                }
                kept
            })
        });
        group.bench_with_input(BenchmarkId::new("libpcap", text), &frames, |b, frames| {
            b.iter(|| {
                let mut kept = 0u32;
                for f in frames {
                    kept += u32::from(pcap.offline_filter(&raw, black_box(f), f.len() as u32) != 0);
                }
                kept
            })
        });
    }
    group.finish();
}

criterion_group!(benches, filter);
criterion_main!(benches);
