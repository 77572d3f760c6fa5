#!/usr/bin/env python3
"""The lab backends' upload endpoint (behind nginx's /upload): reads a POST or
PUT body whole and answers "NAME LENGTH SHA256", so a test knows the backend
received exactly the bytes the client sent.  Standard library only.

    upload-sum.py --name bN --listen 127.0.0.1:8081 --pidfile FILE
"""
import argparse
import hashlib
import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def body_sum(self):
        h, n = hashlib.sha256(), 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                left = size
                while left:
                    chunk = self.rfile.read(min(left, 65536))
                    if not chunk:
                        raise ConnectionError("body cut short")
                    h.update(chunk)
                    left -= len(chunk)
                n += size
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    raise ConnectionError("body cut short")
                h.update(chunk)
                n += len(chunk)
                left -= len(chunk)
        return n, h.hexdigest()

    def answer(self):
        n, digest = self.body_sum()
        out = ("%s %d %s\n" % (self.server.name, n, digest)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_POST = answer
    do_PUT = answer

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--listen", default="127.0.0.1:8081")
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    srv = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    srv.name = a.name
    srv.daemon_threads = True
    if os.fork():
        return 0
    os.setsid()
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    # a daemon holds no caller's pipe open (`tools/lab up | sed` waits for EOF)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
