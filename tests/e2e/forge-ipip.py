#!/usr/bin/env python3
"""Send IP-in-IP as a host that is not a balancer would: outer to a backend,
inner UDP from an arbitrary client address to the VIP (stdlib only).  With
--gue GUE_PORT: GUE instead (UDP to the backend's GUE_PORT, the inner packet
its payload), from this host's own address (a plain UDP socket).

    forge-ipip.py [--gue GUE_PORT] BACKEND CLIENT VIP PORT COUNT
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


def inner4(src, dst, port, payload):
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, socket.IPPROTO_UDP,
                      0, socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + udp


def inner6(src, dst, port, payload):
    s6, d6 = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    length = 8 + len(payload)
    udp = struct.pack("!HHHH", 40000, port, length, 0) + payload
    pseudo = s6 + d6 + struct.pack("!I3xB", length, socket.IPPROTO_UDP)
    udp = udp[:6] + struct.pack("!H", csum(pseudo + udp) or 0xFFFF) + udp[8:]
    return struct.pack("!IHBB16s16s", 6 << 28, length, socket.IPPROTO_UDP, 64, s6, d6) + udp


def main():
    args, gue = sys.argv[1:], 0
    if args[0] == "--gue":
        gue, args = int(args[1]), args[2:]
    backend, client, vip, port, count = args[:5]
    v6 = ":" in backend
    if gue:
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        backend = (backend, gue)
    elif v6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_IPV6)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IPIP)
    for i in range(int(count)):
        payload = b"forged %d" % i
        pkt = (inner6 if v6 else inner4)(client, vip, int(port), payload)
        s.sendto(pkt, backend if gue else (backend, 0))


if __name__ == "__main__":
    main()
