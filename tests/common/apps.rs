//! Inner frames of the protocols the text printer decodes that no capture in
//! `testdata/` holds: DNS with every record type it names, a DNS message cut short,
//! a TCP connection from SYN to FIN and one seen mid-stream, DHCP, ICMPv6 neighbour
//! discovery. Built on the capture generator (`gen.rs`); each frame is an Ethernet
//! frame ready to be wrapped in GRE.

use super::capgen::{
    IpAddrs, Ipv6, Tcp, eth_ip, internet_checksum, ip_udp, ipproto, tcp_flags, v6,
};

/// A DNS name in wire form (no compression).
fn dns_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A pointer to the question name, which always starts at offset 12.
const QNAME_PTR: [u8; 2] = [0xC0, 12];

/// One resource record: owner (wire form), type, class IN, TTL 300, RDATA.
fn rr(owner: &[u8], rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut out = owner.to_vec();
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&300u32.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

/// A DNS query (RFC 1035 4.1) for `name` / `qtype`, recursion desired.
pub fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&dns_name(name));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// A DNS response for `example.com. A` with one answer of each type tcpdump names (A,
/// AAAA, CNAME, PTR, NS, MX, TXT, SRV, every owner a compression pointer), an SOA in
/// the authority section and an EDNS OPT record in the additional section.
pub fn dns_response_all_types() -> Vec<u8> {
    let mut m = 0x1234u16.to_be_bytes().to_vec();
    // QR, RD, RA; 1 question, 8 answers, 1 authority, 1 additional.
    m.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 8, 0, 1, 0, 1]);
    m.extend_from_slice(&dns_name("example.com"));
    m.extend_from_slice(&[0, 1, 0, 1]);
    let mut target = dns_name("www");
    target.pop();
    target.extend_from_slice(&QNAME_PTR);
    let mut mx = 10u16.to_be_bytes().to_vec();
    mx.extend_from_slice(&dns_name("mail.example.com"));
    let mut srv = vec![0, 1, 0, 5, 0x13, 0xC4];
    srv.extend_from_slice(&dns_name("sip.example.com"));
    let mut soa = dns_name("ns1.example.com");
    soa.extend_from_slice(&dns_name("hostmaster.example.com"));
    for v in [2024010101u32, 7200, 3600, 1209600, 300] {
        soa.extend_from_slice(&v.to_be_bytes());
    }
    let answers: [(u16, Vec<u8>); 8] = [
        (1, vec![192, 0, 2, 80]),
        (28, v6(0x80).to_vec()),
        (5, target.clone()),
        (12, dns_name("host.example.net")),
        (2, dns_name("ns1.example.com")),
        (15, mx),
        (16, b"\x0bhello world".to_vec()),
        (33, srv),
    ];
    for (t, rdata) in &answers {
        m.extend_from_slice(&rr(&QNAME_PTR, *t, rdata));
    }
    m.extend_from_slice(&rr(&QNAME_PTR, 6, &soa));
    // OPT (RFC 6891): root owner, class = UDP payload size 1232, TTL = 0.
    m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
    m
}

/// Ethernet/IPv4/UDP 53 -> 40000 carrying `dns`.
pub fn eth_dns(dns: &[u8], from_server: bool) -> Vec<u8> {
    let addrs = IpAddrs::V4([192, 0, 2, 53], [192, 0, 2, 10]);
    if from_server {
        eth_ip(&ip_udp(addrs, 53, 40000, dns))
    } else {
        let addrs = IpAddrs::V4([192, 0, 2, 10], [192, 0, 2, 53]);
        eth_ip(&ip_udp(addrs, 40000, 53, dns))
    }
}

/// A TCP segment of the connection 10.1.1.1:`sport` <-> 10.1.1.2:80.
fn tcp_segment(client: bool, sport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (a, b) = ([10, 1, 1, 1], [10, 1, 1, 2]);
    let (addrs, sp, dp) = if client {
        (IpAddrs::V4(a, b), sport, 80)
    } else {
        (IpAddrs::V4(b, a), 80, sport)
    };
    let seg = Tcp {
        sport: sp,
        dport: dp,
        seq,
        ack,
        flags,
        window: 29200,
    }
    .build(addrs, payload);
    eth_ip(&addrs.packet(ipproto::TCP, &seg))
}

/// A whole TCP connection (handshake, request, response, both FINs), then the middle
/// of another connection whose handshake was never seen.
pub fn tcp_connections() -> Vec<Vec<u8>> {
    use tcp_flags::{ACK, FIN, PSH, SYN};
    let (c, s) = (3_000_000_000u32, 4_000_000_000u32);
    let req = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let (rq, rs) = (req.len() as u32, resp.len() as u32);
    let mut frames = vec![
        tcp_segment(true, 41000, c, 0, SYN, &[]),
        tcp_segment(false, 41000, s, c + 1, SYN | ACK, &[]),
        tcp_segment(true, 41000, c + 1, s + 1, ACK, &[]),
        tcp_segment(true, 41000, c + 1, s + 1, PSH | ACK, req),
        tcp_segment(false, 41000, s + 1, c + 1 + rq, ACK, &[]),
        tcp_segment(false, 41000, s + 1, c + 1 + rq, PSH | ACK, resp),
        tcp_segment(true, 41000, c + 1 + rq, s + 1 + rs, FIN | ACK, &[]),
        tcp_segment(false, 41000, s + 1 + rs, c + 2 + rq, FIN | ACK, &[]),
        tcp_segment(true, 41000, c + 2 + rq, s + 2 + rs, ACK, &[]),
    ];
    // Mid-stream: the sequence numbers wrap around 2^32 on the way.
    let (m, n) = (u32::MAX - 10, 77u32);
    frames.push(tcp_segment(true, 42000, m, n, PSH | ACK, &[b'a'; 20]));
    frames.push(tcp_segment(false, 42000, n, m.wrapping_add(20), ACK, &[]));
    frames.push(tcp_segment(
        true,
        42000,
        m.wrapping_add(20),
        n,
        PSH | ACK,
        &[b'b'; 20],
    ));
    frames
}

/// A DHCPDISCOVER (RFC 2131) from 00:50:56:00:00:07, broadcast.
pub fn dhcp_discover() -> Vec<u8> {
    let mut m = vec![1, 1, 6, 0];
    m.extend_from_slice(&0x3903F326u32.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0x80, 0]);
    m.extend_from_slice(&[0; 16]);
    m.extend_from_slice(&[0x00, 0x50, 0x56, 0, 0, 7]);
    m.extend_from_slice(&[0; 10 + 64 + 128]);
    m.extend_from_slice(&[99, 130, 83, 99]);
    m.extend_from_slice(&[53, 1, 1]);
    m.extend_from_slice(&[55, 4, 1, 3, 6, 15]);
    m.push(255);
    m.resize(300, 0);
    let addrs = IpAddrs::V4([0, 0, 0, 0], [255, 255, 255, 255]);
    eth_ip(&ip_udp(addrs, 68, 67, &m))
}

/// An ICMPv6 message (RFC 4443) with its checksum, in IPv6 with hop limit 255.
fn eth_icmp6(src: [u8; 16], dst: [u8; 16], mut msg: Vec<u8>) -> Vec<u8> {
    let mut pseudo = src.to_vec();
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, ipproto::ICMPV6]);
    let c = internet_checksum(&[&pseudo, &msg]);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    let mut ip = Ipv6::new(src, dst, ipproto::ICMPV6);
    ip.hop_limit = 255;
    eth_ip(&ip.build(&msg))
}

/// Neighbour solicitation and advertisement, router solicitation and advertisement
/// (RFC 4861), each with the options a Linux host sends.
pub fn icmp6_nd() -> Vec<Vec<u8>> {
    let mac = [0x00, 0x50, 0x56, 0, 0, 9];
    let lladdr = |t: u8| {
        let mut o = vec![t, 1];
        o.extend_from_slice(&mac);
        o
    };
    let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
    ns.extend_from_slice(&v6(2));
    ns.extend_from_slice(&lladdr(1));
    let mut na = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
    na.extend_from_slice(&v6(2));
    na.extend_from_slice(&lladdr(2));
    let mut rs = vec![133, 0, 0, 0, 0, 0, 0, 0];
    rs.extend_from_slice(&lladdr(1));
    let mut ra = vec![134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
    ra.extend_from_slice(&lladdr(1));
    // Prefix information: 2001:db8::/64, on-link and autonomous.
    ra.extend_from_slice(&[3, 4, 64, 0xC0]);
    ra.extend_from_slice(&2_592_000u32.to_be_bytes());
    ra.extend_from_slice(&604_800u32.to_be_bytes());
    ra.extend_from_slice(&[0; 4]);
    ra.extend_from_slice(&v6(0));
    let all_routers = {
        let mut a = [0u8; 16];
        a[0] = 0xff;
        a[1] = 0x02;
        a[15] = 2;
        a
    };
    let all_nodes = {
        let mut a = all_routers;
        a[15] = 1;
        a
    };
    let solicited = {
        let mut a = all_routers;
        a[11] = 1;
        a[12] = 0xff;
        a[15] = 2;
        a
    };
    vec![
        eth_icmp6(v6(1), solicited, ns),
        eth_icmp6(v6(2), v6(1), na),
        eth_icmp6(v6(1), all_routers, rs),
        eth_icmp6(v6(0xfe), all_nodes, ra),
    ]
}
