#!/usr/bin/env python3
"""The two budgets issue 24 measures, each against the real command in a child process.

    .venv/bin/python scripts/measure_limits.py download [--deadline 30]
    .venv/bin/python scripts/measure_limits.py predict-memory [--side 8000] [--count 12]
        [--formats rgba-webp palette-png ...]

download: `digitpad download` behind a local server that sends its reply headers one byte a
second, (a) to GET after answering HEAD at once, (b) as a proxy answering CONNECT; prints the
seconds each took beside the deadline (goal: deadline + 10 s).

predict-memory: `digitpad predict` on COUNT images of SIDE x SIDE in each pixel format; prints
the child's peak RSS (ru_maxrss) in MiB beside the 1 GiB budget. Only local files, only
synthetic images.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MIB = 1024


def header_trickler(stop: threading.Event) -> str:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\nConnection: close\r\n" + b"X: y\r\n" * 90

    def serve(conn):
        with conn:
            try:
                if conn.recv(4096).startswith(b"HEAD"):
                    conn.sendall(head + b"\r\n")
                    return
                for byte in head:
                    if stop.wait(1.0):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                pass

    def loop():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return f"http://127.0.0.1:{srv.getsockname()[1]}/"


_DOWNLOAD = """
import sys
from digitpad import cli
from digitpad.core.data import mnist
mnist.MIRRORS = [sys.argv[1]]
mnist.DOWNLOAD_DEADLINE = float(sys.argv[3])
import time
real = mnist.download_mnist
def timed(*a, **k):  # from the call (before the first byte out) to its end
    t0 = time.monotonic()
    try:
        return real(*a, **k)
    finally:
        print(f"download_mnist took {time.monotonic() - t0:.1f} s", file=sys.stderr)
mnist.download_mnist = timed
sys.exit(cli.main(["download", "--data", sys.argv[2]]))
"""


def measure_download(deadline: float) -> None:
    stop = threading.Event()
    url = header_trickler(stop)
    try:
        for name, mirror, extra in (("GET headers trickle after HEAD", url, {}),
                                    ("proxy trickles its CONNECT reply", "https://mirror.invalid/",
                                     {"https_proxy": url})):
            env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
            env.update(PYTHONPATH=str(ROOT), **extra)
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.monotonic()
                proc = subprocess.run([sys.executable, "-c", _DOWNLOAD, mirror, tmp, str(deadline)],
                                      env=env, capture_output=True, text=True, timeout=deadline + 600)
                took = time.monotonic() - t0
            lines = proc.stderr.strip().splitlines()
            inner = next((ln for ln in lines if ln.startswith("download_mnist took")), "?")
            said = next((ln for ln in lines if ln.startswith("digitpad:")), "")
            print(f"{name}: {inner} (deadline {deadline:g} s, goal <= {deadline + 10:g} s); "
                  f"the process with its start-up {took:.1f} s, rc {proc.returncode}: {said[:110]}")
    finally:
        stop.set()


def measure_predict_memory(side, count, formats):
    raise SystemExit("not yet")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    d = sub.add_parser("download")
    d.add_argument("--deadline", type=float, default=30.0)
    m = sub.add_parser("predict-memory")
    m.add_argument("--side", type=int, default=8000)
    m.add_argument("--count", type=int, default=12)
    m.add_argument("--formats", nargs="*")
    args = ap.parse_args(argv)
    if args.what == "download":
        measure_download(args.deadline)
    else:
        measure_predict_memory(args.side, args.count, args.formats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
