#!/usr/bin/env python3
"""Traffic helpers run inside a pod namespace of the OVS / OVN fixture (tests/ovs/fixture.sh).

    pod.py serve [OWNER]              UDP and TCP echo on port 7 (all addresses), forever;
                                      OWNER only marks the command line for the fixture
    pod.py mark WHAT NAME             one broadcast frame, ethertype 0x88B5 (IEEE local
                                      experimental), payload "spandump-WHAT NAME"
    pod.py vlan DSTMAC VID SRCIP DSTIP   an 802.1Q-tagged IPv4/UDP frame (the kernel has no
                                      8021q module here, so it is built by hand)
    pod.py udp ADDR SIZE              one UDP datagram to ADDR port 7; waits for the echo
    pod.py tcp ADDR SIZE              a TCP connection to ADDR port 7: send SIZE bytes,
                                      read the echo, close

Every frame is sent on eth0. Waits have deadlines; nothing sleeps to synchronise.
"""

import socket
import struct
import sys
import threading

IFACE = "eth0"
MARK_ETHERTYPE = 0x88B5
DEADLINE = 10.0


def raw_send(frame):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((IFACE, 0))
    s.send(frame)
    s.close()


def own_mac():
    with open(f"/sys/class/net/{IFACE}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


def mac_bytes(text):
    return bytes.fromhex(text.replace(":", ""))


def mark(what, name):
    payload = f"spandump-{what} {name}".encode()
    frame = b"\xff" * 6 + own_mac() + struct.pack("!H", MARK_ETHERTYPE) + payload
    raw_send(frame.ljust(60, b"\0"))


def ip_checksum(header):
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def vlan(dst, vid, src_ip, dst_ip):
    payload = b"spandump 802.1Q test frame"
    src = socket.inet_aton(src_ip)
    dst_a = socket.inet_aton(dst_ip)
    udp_len = 8 + len(payload)
    pseudo = src + dst_a + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", 40000, 9, udp_len, 0) + payload
    udp_sum = ip_checksum(pseudo + udp + (b"\0" if len(udp) % 2 else b"")) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0x5344, 0x4000, 64, 17, 0, src, dst_a)
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    tci = (3 << 13) | int(vid)  # priority 3, so the PCP bits are not all zero
    frame = mac_bytes(dst) + own_mac() + struct.pack("!HHH", 0x8100, tci, 0x0800) + ip + udp
    raw_send(frame)


def serve(_owner=None):
    def bound(family, kind, addr):
        s = socket.socket(family, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, 7))
        return s

    def udp_loop(family, addr):
        s = bound(family, socket.SOCK_DGRAM, addr)
        while True:
            data, peer = s.recvfrom(65535)
            s.sendto(data, peer)

    def tcp_conn(c):
        with c:
            while True:
                data = c.recv(65535)
                if not data:
                    return
                c.sendall(data)

    def tcp_loop(family, addr):
        s = bound(family, socket.SOCK_STREAM, addr)
        s.listen(16)
        while True:
            c, _ = s.accept()
            threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()

    threads = [
        threading.Thread(target=f, args=a, daemon=True)
        for f in (udp_loop, tcp_loop)
        for a in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::"))
    ]
    for t in threads:
        t.start()
    # Ready: the fixture waits for this line.
    print("serving", flush=True)
    for t in threads:
        t.join()


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def udp(addr, size):
    s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
    s.settimeout(DEADLINE)
    payload = bytes(i & 0xFF for i in range(int(size)))
    s.sendto(payload, (addr, 7))
    data, _ = s.recvfrom(65535)
    assert data == payload, "UDP echo differs"


def tcp(addr, size):
    s = socket.create_connection((addr, 7), timeout=DEADLINE)
    payload = bytes((i * 7) & 0xFF for i in range(int(size)))
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = s.recv(65535)
        if not chunk:
            break
        got += chunk
    assert got == payload, "TCP echo differs"
    s.shutdown(socket.SHUT_WR)
    assert s.recv(1) == b""
    s.close()


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"serve": serve, "mark": mark, "vlan": vlan, "udp": udp, "tcp": tcp}[cmd](*args)


if __name__ == "__main__":
    main()
