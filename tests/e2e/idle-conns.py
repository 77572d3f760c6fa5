#!/usr/bin/env python3
"""Hold N idle TCP connections to HOST:PORT for SECONDS, from source
addresses SRC-PREFIX.1 .. SRC-PREFIX.K in turn; report as JSON how many were
made, refused, closed by the server (and how soon), and still open at the
end.  Bounded: N connections, SECONDS of holding, then everything closes."""
import errno
import json
import resource
import selectors
import socket
import sys
import time


def main():
    host, port, n, seconds, prefix, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        float(sys.argv[4]), sys.argv[5], int(sys.argv[6])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64 if hard == resource.RLIM_INFINITY else min(hard, n + 64)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    made = refused = 0
    closed = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("%s.%d" % (prefix, 1 + i % k), 0))
        s.setblocking(False)
        err = s.connect_ex((host, port))
        if err not in (0, errno.EINPROGRESS):
            refused += 1
            s.close()
            continue
        made += 1
        sel.register(s, selectors.EVENT_READ)
    deadline = start + seconds
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0.0, min(1.0, deadline - time.monotonic()))):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (ConnectionResetError, ConnectionRefusedError, OSError):
                data = b""
            if not data:
                closed.append(time.monotonic() - start)
                sel.unregister(s)
                s.close()
    still = len(sel.get_map())
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    print(json.dumps({"made": made, "refused": refused, "closed_by_server": len(closed),
                      "last_close_s": round(max(closed), 1) if closed else None,
                      "still_open": still}))


if __name__ == "__main__":
    main()
