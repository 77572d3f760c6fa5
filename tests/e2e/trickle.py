#!/usr/bin/python3
"""A slow fleet peer: accepts on ADDR:PORT and answers every connection one
byte every 0.5 s (an HTTP answer it never finishes in time)."""
import socket
import sys
import threading
import time


def answer(c):
    try:
        for b in b"HTTP/1.0 200 OK\r\n\r\nxlb_config_info{fingerprint=\"0\"} 1\n" * 100:
            c.send(bytes([b]))
            time.sleep(0.5)
    except OSError:
        pass
    c.close()


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=answer, args=(c,), daemon=True).start()
