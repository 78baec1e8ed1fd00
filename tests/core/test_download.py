"""The MNIST download (issue 9): one deadline behind a dead proxy, no process-wide socket state,
no .part files after a failure, and a damaged set detected and fetched again. Only local
sockets on 127.0.0.1: no network needed."""

import functools
import gzip
import hashlib
import http.server
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from digitpad import cli
from digitpad.core.data import mnist as data_mod
from digitpad.core.data.mnist import DataError, load_test_set, mnist_problem, raw_dir
from offline import patch_urlopen




@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held, stop = [], threading.Event()

    def loop():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                pass

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    srv.close()


def no_part_files(root: Path) -> bool:
    return not list(Path(root).rglob("*.part"))


def test_dead_proxy_gives_up_within_the_deadline(tmp_path, clean_urllib, silent_server):
    proxy = f"http://127.0.0.1:{silent_server}"
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        clean_urllib.setenv(var, proxy)
    before = socket.getdefaulttimeout()
    t0 = time.monotonic()
    with pytest.raises(DataError) as err:
        data_mod.download_mnist(tmp_path / "d")  # the default deadline, as the CLI uses it
    took = time.monotonic() - t0
    assert took <= 12.0, f"took {took:.1f} s behind a proxy that never answers"
    assert "could not be downloaded" in str(err.value) and "timed out" in str(err.value)
    assert socket.getdefaulttimeout() == before
    assert no_part_files(tmp_path)


# --- a local mirror ----------------------------------------------------------------------------

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Truncating(_Quiet):
    """Announces the whole file, sends a third of it, and hangs up."""

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        blob = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob[: len(blob) // 3])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def mirror(tiny_mnist, tmp_path, clean_urllib):
    """The tiny set gzipped and served over HTTP on 127.0.0.1, torchvision's file list pointed
    at it (names and checksums of these files)."""
    from torchvision.datasets import MNIST

    served = tmp_path / "served"
    served.mkdir()
    resources = []
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        gz = served / f"{name}.gz"
        gz.write_bytes(gzip.compress((raw_dir(tiny_mnist) / name).read_bytes()))
        resources.append((gz.name, hashlib.md5(gz.read_bytes()).hexdigest()))
    clean_urllib.setattr(MNIST, "resources", resources)
    servers = []

    def start(handler=_Quiet):
        srv = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(served)))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        url = f"http://127.0.0.1:{srv.server_address[1]}/"
        clean_urllib.setattr(data_mod, "MIRRORS", [url], raising=False)
        return url

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_download_leaves_the_process_socket_timeout_alone(tmp_path, mirror):
    mirror()
    seen = []
    root = data_mod.download_mnist(tmp_path / "d",
                                   progress=lambda *a: seen.append(socket.getdefaulttimeout()))
    assert seen and set(seen) == {None}
    assert mnist_problem(root) is None and load_test_set(root)[0].shape[0] == 100


def test_a_broken_transfer_leaves_no_part_file(tmp_path, mirror):
    mirror(_Truncating)
    with pytest.raises(DataError, match="download failed"):
        data_mod.download_mnist(tmp_path / "d", timeout=5)
    assert no_part_files(tmp_path / "d")


def test_a_cancelled_download_leaves_no_part_file(tmp_path, mirror):
    mirror()
    with pytest.raises(data_mod.Cancelled):
        data_mod.download_mnist(tmp_path / "d", progress=lambda *a: None,
                                cancelled=lambda: True)
    assert no_part_files(tmp_path / "d")


# --- a damaged set -------------------------------------------------------------------------------

@pytest.fixture
def damaged(tiny_mnist, tmp_path) -> Path:
    root = tmp_path / "damaged"
    shutil.copytree(tiny_mnist, root)
    images = raw_dir(root) / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:5000])
    return root


def test_damaged_set_is_detected(damaged, tiny_mnist):
    assert mnist_problem(tiny_mnist) is None
    problem = mnist_problem(damaged)
    assert "t10k-images-idx3-ubyte" in problem and "truncated" in problem
    with pytest.raises(DataError, match="digitpad download"):
        load_test_set(damaged)


def test_download_does_not_call_a_damaged_set_already_there(damaged, monkeypatch, capsys):
    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    patch_urlopen(monkeypatch, offline)
    assert cli.main(["download", "--data", str(damaged)]) == 1
    out, err = capsys.readouterr()
    assert "already" not in out and "damaged" in out and "could not be downloaded" in err


def test_download_replaces_a_damaged_set(damaged, mirror, capsys):
    mirror()
    assert cli.main(["download", "--data", str(damaged)]) == 0
    assert "damaged" in capsys.readouterr().out
    assert mnist_problem(damaged) is None
    assert load_test_set(damaged)[0].shape[0] == 100


def test_a_fifo_in_place_of_an_idx_file_is_damage_not_a_hang(damaged):
    import os

    target = raw_dir(damaged) / "train-labels-idx1-ubyte"
    target.unlink()
    os.mkfifo(target)
    problem = mnist_problem(damaged)  # would block in open() if the FIFO were read
    assert "train-labels-idx1-ubyte is a named pipe (FIFO), not a regular file" in problem
    assert target in data_mod.damaged_files(damaged)
