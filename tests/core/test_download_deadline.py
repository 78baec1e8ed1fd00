"""The download's one overall deadline and its signals (issue 15, failure 9): a proxy or mirror
that trickles bytes ends in a DataError saying how far it got; SIGTERM and SIGINT remove the
.part file. Only local servers on 127.0.0.1."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from digitpad.core.data import mnist as data_mod
from digitpad.core.data.mnist import DataError

# trains or starts digitpad in child processes: minutes on a loaded 2-core machine
pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
# The trickle gives up on its own after this long, so a download without a deadline ends in
# a different error (a cut connection) instead of hanging the test run.
TRICKLE_FOR = 60.0


@pytest.fixture
def trickle():
    """An HTTP server on 127.0.0.1 that answers HEAD at once and sends a GET's body one byte
    every 0.2 s (it claims 1 MB)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    stop = threading.Event()

    def serve(conn):
        with conn:
            try:
                request = conn.recv(4096).decode("latin-1")
                head = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n"
                conn.sendall(head.encode())
                if request.startswith("HEAD"):
                    return
                t0 = time.monotonic()
                while not stop.is_set() and time.monotonic() - t0 < TRICKLE_FOR:
                    conn.sendall(b"\x1f")
                    stop.wait(0.2)
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
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/"
    stop.set()
    srv.close()


def part_files(root: Path) -> list:
    return list(Path(root).rglob("*.part"))


def test_a_trickling_mirror_ends_at_the_deadline_saying_how_far_it_got(tmp_path, trickle,
                                                                        clean_urllib):
    clean_urllib.setattr(data_mod, "MIRRORS", [trickle])
    seen = []
    with pytest.raises(DataError) as err:
        data_mod.download_mnist(tmp_path / "d", deadline=2.0,
                                progress=lambda name, done, total: seen.append(done))
    msg = str(err.value)
    assert "did not finish within its 2 s deadline" in msg, msg
    assert "of 1,000,000 bytes of train-images-idx3-ubyte.gz had arrived" in msg
    assert seen and seen[-1] >= 1  # progress was reported while it trickled
    assert not part_files(tmp_path)


_DOWNLOAD = textwrap.dedent("""
    import sys
    from digitpad import cli
    from digitpad.core.data import mnist
    mnist.MIRRORS = [sys.argv[1]]
    sys.exit(cli.main(["download", "--data", sys.argv[2]]))
""")


@pytest.mark.parametrize("sig, rc", [(signal.SIGTERM, 128 + signal.SIGTERM),
                                     (signal.SIGINT, 130)])
def test_a_signal_mid_download_removes_the_part_file(sig, rc, tmp_path, trickle, clean_urllib):
    root = tmp_path / "d"
    env = dict(os.environ)  # clean_urllib took the proxy settings out
    env.update(PYTHONPATH=str(ROOT), DIGITPAD_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen([sys.executable, "-c", _DOWNLOAD, trickle, str(root)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not part_files(root) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting on a condition: the .part file appearing
        assert part_files(root), proc.communicate()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == rc, err
    assert not part_files(root)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


# --- issue 24, failure 1: reply headers that trickle -----------------------------------------

@pytest.fixture
def header_trickle():
    """A server on 127.0.0.1 that sends its reply headers one byte a second: to a GET (a HEAD
    is answered at once, as a mirror that looks healthy would) and to a proxy's CONNECT. It
    gives up after TRICKLE_FOR, so a download without a deadline fails differently."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    stop = threading.Event()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\nConnection: close\r\n" + b"X: y\r\n" * 40

    def serve(conn):
        with conn:
            try:
                request = conn.recv(4096).decode("latin-1")
                if request.startswith("HEAD"):
                    conn.sendall(head + b"\r\n")
                    return
                t0 = time.monotonic()
                for byte in head:  # never reaches the blank line in TRICKLE_FOR
                    if stop.is_set() or time.monotonic() - t0 > TRICKLE_FOR:
                        return
                    conn.sendall(bytes([byte]))
                    stop.wait(1.0)
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
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/"
    stop.set()
    srv.close()


def test_get_headers_trickling_after_a_quick_head_end_at_the_deadline(tmp_path, header_trickle,
                                                                      clean_urllib):
    clean_urllib.setattr(data_mod, "MIRRORS", [header_trickle])
    t0 = time.monotonic()
    with pytest.raises(DataError) as err:
        data_mod.download_mnist(tmp_path / "d", deadline=3.0)
    took = time.monotonic() - t0
    assert "did not finish within its 3 s deadline" in str(err.value), str(err.value)
    assert took < 3.0 + 10, took
    assert not part_files(tmp_path)


def test_a_proxy_trickling_its_connect_reply_ends_within_the_mirror_deadline(
        tmp_path, header_trickle, clean_urllib):
    clean_urllib.setattr(data_mod, "MIRRORS", ["https://mirror.invalid/"])
    clean_urllib.setenv("https_proxy", header_trickle)
    t0 = time.monotonic()
    with pytest.raises(DataError) as err:
        data_mod.download_mnist(tmp_path / "d", timeout=2.0, deadline=3.0)
    took = time.monotonic() - t0
    assert "no connection to its download mirrors" in str(err.value), str(err.value)
    assert "timed out" in str(err.value)
    assert took < 3.0 + 10, took
    assert not part_files(tmp_path)
