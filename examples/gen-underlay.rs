//! Writes a large underlay capture for benchmarks.
//!
//! ```text
//! cargo run --release --example gen-underlay -- --packets 1000000 --mix imix OUT.pcap
//! ```
//!
//! Mixed encapsulations, in a fixed pseudo-random order: gretap with a key (40 %),
//! ERSPAN II (25 %), ERSPAN III (20 %), L3 GRE carrying IPv4 (15 %); the ERSPAN packets
//! carry one GRE sequence counter between them, as Open vSwitch sends. Inner frames are
//! IMIX-sized (`--mix imix`: 64 / 576 / 1500 bytes in the ratio 7:4:1), all 64 bytes
//! (`--mix small`) or all 1500 bytes (`--mix large`). `--mix tcp-flows` is different:
//! gretap only, each packet a TCP ACK of its own connection (a million packets, a
//! million flows: the text printer's connection table must stay bounded). Classic
//! pcap, µs timestamps 10 µs apart, Ethernet link type.
//! With `--encap vxlan`, every packet is instead VXLAN (UDP 4789, VNI 100, from
//! 192.0.2.1) around the same inner frames, as a cloud mirror sends.
//! The packets come from the test generator (`tests/common/gen.rs`, `gen_cloud.rs`), so
//! they are the same kind tshark has validated.

#[path = "../tests/common/gen.rs"]
mod capgen;
#[path = "../tests/common/gen_cloud.rs"]
mod cloudgen;

use std::fs::File;
use std::io::BufWriter;
use std::process::ExitCode;

use capgen::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mix {
    Imix,
    Small,
    Large,
    TcpFlows,
}

struct Args {
    packets: u64,
    mix: Mix,
    vxlan: bool,
    /// Spread the gretap packets over this many sessions (GRE keys 42, 43, ...) from
    /// up to 254 senders (192.0.2.1-254): memory must not grow with them.
    sessions: u32,
    out: String,
}

const USAGE: &str = "usage: gen-underlay [--packets N] [--mix imix|small|large|tcp-flows] \
                     [--encap mixed|vxlan] [--sessions N] OUT.pcap";

fn parse_args() -> Result<Args, String> {
    let mut packets = 1_000_000;
    let mut mix = Mix::Imix;
    let mut vxlan = false;
    let mut sessions = 1;
    let mut out = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--packets" => {
                let v = it.next().ok_or("--packets needs a value")?;
                packets = v
                    .parse()
                    .map_err(|_| format!("--packets: not a number: {v}"))?;
            }
            "--mix" => {
                let v = it.next().ok_or("--mix needs a value")?;
                mix = match v.as_str() {
                    "imix" => Mix::Imix,
                    "small" => Mix::Small,
                    "large" => Mix::Large,
                    "tcp-flows" => Mix::TcpFlows,
                    _ => {
                        return Err(format!(
                            "--mix: expected imix, small, large or tcp-flows, got {v}"
                        ));
                    }
                };
            }
            "--sessions" => {
                let v = it.next().ok_or("--sessions needs a value")?;
                sessions = v
                    .parse()
                    .ok()
                    .filter(|&n: &u32| n > 0)
                    .ok_or_else(|| format!("--sessions: not a positive number: {v}"))?;
            }
            "--encap" => {
                let v = it.next().ok_or("--encap needs a value")?;
                vxlan = match v.as_str() {
                    "mixed" => false,
                    "vxlan" => true,
                    _ => return Err(format!("--encap: expected mixed or vxlan, got {v}")),
                };
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            _ if out.is_none() && !a.starts_with("--") => out = Some(a),
            _ => return Err(format!("unexpected argument {a}\n{USAGE}")),
        }
    }
    Ok(Args {
        packets,
        mix,
        vxlan,
        sessions,
        out: out.ok_or(USAGE)?,
    })
}

/// Offset of the GRE sequence number in the ERSPAN templates: Ethernet (14), IPv4
/// without options (20), GRE flags and protocol (4).
const SEQ_AT: usize = 14 + 20 + 4;

/// Offsets in the gretap template: the IPv4 header checksum and source address, and
/// the GRE key (after the 4-byte GRE base header).
const IP_CHECKSUM_AT: usize = 14 + 10;
const IP_SRC_AT: usize = 14 + 12;
const KEY_AT: usize = 14 + 20 + 4;

/// Makes gretap packet `pkt` one of session `n`: key 42 + n, sender 192.0.2.(1 + n % 254).
fn set_session(pkt: &mut [u8], n: u32) {
    pkt[KEY_AT..KEY_AT + 4].copy_from_slice(&(42 + n).to_be_bytes());
    pkt[IP_SRC_AT..IP_SRC_AT + 4].copy_from_slice(&[192, 0, 2, 1 + (n % 254) as u8]);
    pkt[IP_CHECKSUM_AT..IP_CHECKSUM_AT + 2].copy_from_slice(&[0, 0]);
    let sum = pkt[14..34]
        .chunks_exact(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let folded = (sum & 0xFFFF) + (sum >> 16);
    let checksum = !((folded & 0xFFFF) + (folded >> 16)) as u16;
    pkt[IP_CHECKSUM_AT..IP_CHECKSUM_AT + 2].copy_from_slice(&checksum.to_be_bytes());
}

/// One outer packet template per (encapsulation, inner size).
fn templates(sizes: &[usize]) -> Vec<[Vec<u8>; 4]> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let inner = eth_udp_sized(size, i as u8);
            let mut e2 = ErspanII::new(10, 0x1abcd);
            e2.vlan = 100;
            let mut e3 = ErspanIII::new(20);
            e3.egress = true;
            e3.hw_id = 1;
            e3.p = true;
            [
                gretap(Some(42), &inner),
                erspan2(&e2, 1, &inner),
                erspan3(&e3, 1, &inner),
                // L3 GRE: the inner IP packet of the same frame (frame size - 14).
                l3gre(None, &inner[14..]),
            ]
        })
        .collect()
}

/// A gretap packet carrying a TCP ACK of connection number `i`: its own client address
/// (10.0.0.0/8 by `i`) and port.
fn tcp_flow(i: u64) -> Vec<u8> {
    let client = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    let sport = 1024 + (i >> 24) as u16;
    let tcp = Tcp {
        sport,
        dport: 443,
        seq: i as u32,
        ack: !(i as u32),
        flags: tcp_flags::ACK,
        window: 502,
    };
    let addrs = IpAddrs::V4(client, [192, 0, 2, 80]);
    let seg = tcp.build(addrs, &[]);
    gretap(Some(42), &eth_ip(&addrs.packet(ipproto::TCP, &seg)))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gen-underlay: {e}");
            return ExitCode::from(2);
        }
    };
    let sizes: &[usize] = match args.mix {
        Mix::Imix => &[64, 576, 1500],
        Mix::Small => &[64],
        Mix::Large | Mix::TcpFlows => &[1500],
    };
    let mut tpl = templates(sizes);
    if args.vxlan {
        let addrs = IpAddrs::V4(OUTER_SRC, OUTER_DST);
        for (i, t) in tpl.iter_mut().enumerate() {
            let inner = eth_udp_sized(sizes[i], i as u8);
            let packet = cloudgen::eth_udp_to(addrs, 4789, &cloudgen::vxlan(0x08, 100, &inner));
            *t = std::array::from_fn(|_| packet.clone());
        }
    }
    let mut erspan_seq: u32 = 0;
    let file = match File::create(&args.out) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gen-underlay: cannot create {}: {e}", args.out);
            return ExitCode::from(1);
        }
    };
    let result = (|| -> std::io::Result<u64> {
        let mut w = PcapWriter::new(
            BufWriter::with_capacity(1 << 20, file),
            PcapFormat::ethernet(),
        )?;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut bytes = 24;
        let t0: u64 = 1_700_000_000_000_000_000;
        for i in 0..args.packets {
            let r = rng.next();
            // 7:4:1 over 12 slots for IMIX.
            let size_idx = match (args.mix, r % 12) {
                (Mix::Small | Mix::Large | Mix::TcpFlows, _) => 0,
                (Mix::Imix, 0..=6) => 0,
                (Mix::Imix, 7..=10) => 1,
                (Mix::Imix, _) => 2,
            };
            let encap = match (r >> 8) % 20 {
                0..=7 => 0,
                8..=12 => 1,
                13..=16 => 2,
                _ => 3,
            };
            if args.mix == Mix::TcpFlows {
                let pkt = tcp_flow(i);
                w.write(t0 + i * 10_000, &pkt)?;
                bytes += 16 + pkt.len() as u64;
                continue;
            }
            let pkt = &mut tpl[size_idx][encap];
            if args.sessions > 1 && !args.vxlan && encap == 0 {
                set_session(pkt, (i % u64::from(args.sessions)) as u32);
            }
            if !args.vxlan && (encap == 1 || encap == 2) {
                // ERSPAN II and III count on one counter, as Open vSwitch does: the
                // sequence number follows the 4-byte GRE base header.
                pkt[SEQ_AT..SEQ_AT + 4].copy_from_slice(&erspan_seq.to_be_bytes());
                erspan_seq = erspan_seq.wrapping_add(1);
            }
            w.write(t0 + i * 10_000, pkt)?;
            bytes += 16 + pkt.len() as u64;
        }
        use std::io::Write;
        w.into_inner().flush()?;
        Ok(bytes)
    })();
    match result {
        Ok(bytes) => {
            eprintln!(
                "gen-underlay: wrote {} packets ({} bytes, mix {:?}) to {}",
                args.packets, bytes, args.mix, args.out
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-underlay: writing {}: {e}", args.out);
            ExitCode::from(1)
        }
    }
}
