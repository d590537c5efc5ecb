//! Builders of UDP mirror encapsulations for generated captures: VXLAN (RFC 7348),
//! GENEVE (RFC 8926, with AWS Gateway Load Balancer's options as aws-samples'
//! tunnel handler `GenevePacket.cpp` reads them), around outer IPv4 / IPv6 / UDP from
//! `gen.rs`. Independent of spandump's code; `tests/cloud_generated.rs` checks the
//! output against tshark.

#![allow(dead_code)]

use super::capgen::{IpAddrs, Udp, ipproto, outer_eth};

pub const VXLAN_PORT: u16 = 4789;
pub const GENEVE_PORT: u16 = 6081;
pub const GRE_IN_UDP_PORT: u16 = 4754;

/// VXLAN header (flags byte, VNI) + inner Ethernet frame.
pub fn vxlan(flags: u8, vni: u32, frame: &[u8]) -> Vec<u8> {
    let mut p = vec![flags, 0, 0, 0];
    p.extend_from_slice(&(vni << 8).to_be_bytes());
    p.extend_from_slice(frame);
    p
}

/// One GENEVE option: class, type, data (a multiple of 4 bytes).
pub fn geneve_option(class: u16, kind: u8, data: &[u8]) -> Vec<u8> {
    assert_eq!(data.len() % 4, 0);
    let mut o = class.to_be_bytes().to_vec();
    o.push(kind);
    o.push((data.len() / 4) as u8);
    o.extend_from_slice(data);
    o
}

/// AWS GWLB's three options: endpoint ID (8), attachment ID (8), flow cookie (4).
pub fn gwlb_options(endpoint: u64, attachment: u64, cookie: u32) -> Vec<u8> {
    let mut o = geneve_option(0x0108, 1, &endpoint.to_be_bytes());
    o.extend(geneve_option(0x0108, 2, &attachment.to_be_bytes()));
    o.extend(geneve_option(0x0108, 3, &cookie.to_be_bytes()));
    o
}

/// GENEVE header with `options` (Opt Len from their length) + payload.
pub fn geneve(protocol: u16, vni: u32, options: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let mut p = vec![(options.len() / 4) as u8, 0];
    p.extend_from_slice(&protocol.to_be_bytes());
    p.extend_from_slice(&(vni << 8).to_be_bytes());
    p.extend_from_slice(options);
    p.extend_from_slice(payload);
    p
}

/// An IP packet (v4 or v6 by `addrs`) carrying UDP to `dport` with `payload`.
pub fn ip_udp_to(addrs: IpAddrs, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp = Udp {
        sport: 49_152,
        dport,
    }
    .build(addrs, payload);
    addrs.packet(ipproto::UDP, &udp)
}

/// An outer Ethernet frame around `ip_udp_to`.
pub fn eth_udp_to(addrs: IpAddrs, dport: u16, payload: &[u8]) -> Vec<u8> {
    outer_eth(&ip_udp_to(addrs, dport, payload))
}
