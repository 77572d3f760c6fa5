#!/usr/bin/env python3
"""Keep-alive HTTP connections for the fleet drills (standard library only).

Opens --conns connections to the given addresses (round robin), each sending
GET / every --interval seconds and reading the answer, whose X-Backend header
names the backend.  A connection is never reopened: one that is reset, closed,
or not answered within --stall seconds has failed.  Every 0.2 s the state goes
to --status (JSON: connected, alive, failed, requests, marks, min_since_mark);
SIGUSR1 sets the mark (marks counts them: a status with the new mark's count
is one made after it); SIGTERM (or --max-time) ends the run and writes --report:

  conns, kept (alive, same backend throughout), reset, stalled, closed,
  changed (answered by another backend), requests, failed_requests,
  max_gap_ms (longest wait between two answers on any connection, over the
  expected interval) and per-connection detail.
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import time


class Conn:
    def __init__(self, addr, port):
        self.addr, self.port = addr, port
        self.local = ""
        self.backend = None
        self.answers = 0
        self.at_mark = 0
        self.state = "connecting"   # alive, reset, stalled, closed, changed, refused
        self.why = ""
        self.max_gap = 0.0
        self.last = None


async def read_answer(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    length, backend = 0, None
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "x-backend":
            backend = value.strip()
    if length:
        await reader.readexactly(length)
    return head.split(b" ", 2)[1].decode(), backend


async def run_conn(c, args, stop):
    host = c.addr
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(c.addr, c.port), args.stall)
    except Exception as e:  # noqa: BLE001 - any failure to connect is reported
        c.state, c.why = "refused", repr(e)
        return
    sock = writer.get_extra_info("socket")
    c.local = "%s:%d" % sock.getsockname()[:2]
    c.state = "alive"
    req = ("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode()
    try:
        while not stop.is_set():
            sent = time.monotonic()
            writer.write(req)
            await writer.drain()
            status, backend = await asyncio.wait_for(read_answer(reader), args.stall)
            now = time.monotonic()
            if c.last is not None:
                c.max_gap = max(c.max_gap, now - c.last - args.interval)
            c.last = now
            c.answers += 1
            if status != "200":
                c.state, c.why = "changed", "status " + status
                break
            if c.backend is None:
                c.backend = backend
            elif backend != c.backend:
                c.state, c.why = "changed", "%s then %s" % (c.backend, backend)
                break
            left = args.interval - (time.monotonic() - sent)
            if left > 0:
                try:
                    await asyncio.wait_for(stop.wait(), left)
                except asyncio.TimeoutError:
                    pass
    except asyncio.TimeoutError:
        c.state, c.why = "stalled", "no answer within %.1f s" % args.stall
    except (ConnectionResetError, BrokenPipeError) as e:
        c.state, c.why = "reset", repr(e)
    except (asyncio.IncompleteReadError, OSError) as e:
        c.state, c.why = "closed", repr(e)
    finally:
        writer.close()


def status(conns, mark_set, marks):
    alive = [c for c in conns if c.state == "alive"]
    since = [c.answers - c.at_mark for c in alive]
    return {
        "connected": sum(c.state != "connecting" and c.state != "refused" for c in conns),
        "alive": len(alive),
        "failed": sum(c.state not in ("alive", "connecting") for c in conns),
        "requests": sum(c.answers for c in conns),
        "min_answers": min((c.answers for c in alive), default=0),
        "marked": mark_set,
        "marks": marks,
        "min_since_mark": min(since, default=0),
    }


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", action="append", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--stall", type=float, default=5.0)
    ap.add_argument("--max-time", type=float, default=300.0)
    ap.add_argument("--status", required=True)
    ap.add_argument("--report", required=True)
    args = ap.parse_args()

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    marked = [False, 0]
    conns = [Conn(args.addr[i % len(args.addr)], args.port) for i in range(args.conns)]

    def mark():
        for c in conns:
            c.at_mark = c.answers
        marked[0] = True
        marked[1] += 1

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, mark)
    tasks = []
    for c in conns:  # opened over about a second, not all at once
        tasks.append(asyncio.ensure_future(run_conn(c, args, stop)))
        await asyncio.sleep(1.0 / args.conns)
    end = time.monotonic() + args.max_time
    while not stop.is_set() and time.monotonic() < end:
        write_json(args.status, status(conns, marked[0], marked[1]))
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
        except asyncio.TimeoutError:
            pass
    stop.set()
    await asyncio.wait(tasks, timeout=args.stall + 1)
    count = {s: sum(c.state == s for c in conns)
             for s in ("reset", "stalled", "closed", "changed", "refused")}
    worst = max(conns, key=lambda c: c.max_gap)
    report = {
        "conns": len(conns),
        "kept": sum(c.state == "alive" and c.backend is not None for c in conns),
        **count,
        "requests": sum(c.answers for c in conns),
        "failed_requests": sum(c.state in ("reset", "stalled", "closed") for c in conns),
        "max_gap_ms": round(worst.max_gap * 1000),
        "max_gap_conn": worst.local,
        "backends": {b: sum(c.backend == b for c in conns)
                     for b in sorted({c.backend for c in conns if c.backend})},
        "detail": [{"addr": c.addr, "local": c.local, "backend": c.backend,
                    "state": c.state, "why": c.why, "answers": c.answers,
                    "max_gap_ms": round(c.max_gap * 1000)} for c in conns],
    }
    write_json(args.report, report)


if __name__ == "__main__":
    socket.setdefaulttimeout(10)
    asyncio.run(main())
