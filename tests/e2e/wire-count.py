#!/usr/bin/python3
"""Count the frames a switch sends out of its ports, by how they carry a
client's packet (standard library only; run in the switch's namespace).

  wire-count.py --status FILE [--gue-port N] [--vip4 A] [--vip6 A] [--lb-mac MAC]
                [--max-time S] PORT=MAC...

For each PORT (a bridge port towards a backend whose MAC is MAC), every frame
the switch sends out of it (PACKET_OUTGOING) is one of:
  ipip4 / ipip6  IPv4 in IPv4 (protocol 4) / IPv6 in IPv6 (next header 41)
  gue4 / gue6    UDP to the GUE port (default 6080) over IPv4 / IPv6; the
                 outer source ports are kept (count, lowest, highest)
  plain4 / plain6  to the VIP (--vip4, --vip6) unchanged, from the
                 balancer's MAC (--lb-mac) to the backend's (L2 direct return)
  stray4 / stray6  to the VIP unchanged, but with other MACs
  other          anything else (ARP, neighbour discovery, health checks...)
Every 0.2 s the counts go to --status as JSON {PORT: {class: n, ...,
"gue_sports": n, "gue_sport_min": p, "gue_sport_max": p}}; SIGTERM (or
--max-time, default 120 s) writes them a last time and ends the run."""
import argparse
import ipaddress
import json
import os
import select
import signal
import socket
import struct
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
CLASSES = ("ipip4", "ipip6", "gue4", "gue6", "plain4", "plain6", "stray4", "stray6", "other")


def classify(frame, macs, vip4, vip6, gue_port):
    """(class, GUE source port or None) of one Ethernet frame."""
    off, etype = 14, struct.unpack_from("!H", frame, 12)[0]
    if etype == 0x8100 and len(frame) >= 18:    # one VLAN tag
        off, etype = 18, struct.unpack_from("!H", frame, 16)[0]
    if etype == 0x0800 and len(frame) >= off + 20:
        ihl = (frame[off] & 0x0F) * 4
        proto, dst = frame[off + 9], frame[off + 16:off + 20]
        l4 = off + ihl
        if proto == 4:
            return "ipip4", None
        if proto == 17 and len(frame) >= l4 + 8:
            sport, dport = struct.unpack_from("!HH", frame, l4)
            if dport == gue_port:
                return "gue4", sport
        if dst == vip4:
            return ("plain4" if frame[0:12] == macs else "stray4"), None
    elif etype == 0x86DD and len(frame) >= off + 40:
        nh, dst = frame[off + 6], frame[off + 24:off + 40]
        l4 = off + 40
        if nh == 41:
            return "ipip6", None
        if nh == 17 and len(frame) >= l4 + 8:
            sport, dport = struct.unpack_from("!HH", frame, l4)
            if dport == gue_port:
                return "gue6", sport
        if dst == vip6:
            return ("plain6" if frame[0:12] == macs else "stray6"), None
    return "other", None


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--status", required=True)
    ap.add_argument("--gue-port", type=int, default=6080)
    ap.add_argument("--vip4", default="192.0.2.10")
    ap.add_argument("--vip6", default="2001:db8:a::10")
    ap.add_argument("--lb-mac", default="02:00:cc:00:00:fe")
    ap.add_argument("--max-time", type=float, default=120.0)
    ap.add_argument("ports", nargs="+", metavar="PORT=MAC")
    args = ap.parse_args()
    vip4 = ipaddress.IPv4Address(args.vip4).packed
    vip6 = ipaddress.IPv6Address(args.vip6).packed
    ports = {}
    for p in args.ports:
        name, _, mac = p.partition("=")
        ports[name] = bytes.fromhex((mac + args.lb_mac).replace(":", ""))
    counts = {p: dict.fromkeys(CLASSES, 0) for p in ports}
    sports = {p: set() for p in ports}
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)

    def dump():
        out = {}
        for p in ports:
            sp = sports[p]
            out[p] = dict(counts[p], gue_sports=len(sp), gue_sport_min=min(sp, default=0),
                          gue_sport_max=max(sp, default=0))
        write_json(args.status, out)

    end = time.monotonic() + args.max_time
    last = 0.0
    while not stop[0] and time.monotonic() < end:
        try:
            ready, _, _ = select.select([s], [], [], 0.1)
        except InterruptedError:
            continue
        while ready:
            try:
                frame, addr = s.recvfrom(65535, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            if addr[0] not in ports or addr[2] != PACKET_OUTGOING:
                continue
            cls, sport = classify(frame, ports[addr[0]], vip4, vip6, args.gue_port)
            counts[addr[0]][cls] += 1
            if sport is not None:
                sports[addr[0]].add(sport)
        if time.monotonic() - last >= 0.2:
            dump()
            last = time.monotonic()
    dump()


if __name__ == "__main__":
    main()
