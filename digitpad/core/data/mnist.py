"""MNIST: finding it, downloading it when asked, and holding it as tensors on the device.

Training never goes through a per-sample Dataset/ToTensor loop: the whole set (60,000 x 28 x 28
bytes) is read once through torchvision's real IDX reader, kept as one float tensor on the
training device, and batches are made by indexing.
"""

from __future__ import annotations

import http.client
import math
import os
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..io.files import DigitpadError, not_regular_reason
from ..io.paths import resolve_data_dir

RAW_FILES = {
    "train-images-idx3-ubyte": 60000,
    "train-labels-idx1-ubyte": 60000,
    "t10k-images-idx3-ubyte": 10000,
    "t10k-labels-idx1-ubyte": 10000,
}


class DataError(DigitpadError, RuntimeError):
    """MNIST is missing, unreadable or could not be downloaded; the message says what to do."""


def raw_dir(root: str | os.PathLike) -> Path:
    return Path(root) / "MNIST" / "raw"


def has_mnist(root: str | os.PathLike) -> bool:
    """True when the four uncompressed IDX files torchvision reads are present."""
    raw = raw_dir(root)
    return all((raw / name).is_file() for name in RAW_FILES)


def _missing_message(root: Path) -> str:
    return (
        f"MNIST was not found in {root} (expected MNIST/raw/*-ubyte there). "
        "Download it with `digitpad download` or the Training tab, or point to a folder "
        "that holds it with --data DIR or the DIGITPAD_DATA environment variable."
    )


def load_split(root: str | os.PathLike, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 28, 28) uint8 and labels (N,) int64, read by torchvision's IDX reader."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    root = Path(root)
    split = "train" if train else "t10k"
    # only this split's files: eval reads the test files and must not care about the others
    files = [raw_dir(root) / f"{split}-{kind}" for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]
    for f in files:
        odd = not_regular_reason(f) if os.path.lexists(f) else None
        if odd:  # say what is there: "not found" would send the person looking elsewhere
            raise DataError(f"MNIST's {f.name} in {f.parent} is {odd}, not a regular file; "
                            "replace it with the real file (`digitpad download` fetches it).")
    if not all(f.is_file() for f in files):
        raise DataError(_missing_message(root))
    problem = mnist_problem(root, splits=(split,))
    if problem:
        raise DataError(f"MNIST in {raw_dir(root)} is damaged: {problem}. Run `digitpad download` "
                        "(or the Training tab's Download) to fetch it again.")
    try:  # torchvision's IDX reader on this split's two files (its MNIST class wants all four)
        images, labels = read_image_file(str(files[0])), read_label_file(str(files[1]))
    except Exception as exc:  # torchvision raises assorted errors for damaged files
        raise DataError(f"MNIST files in {raw_dir(root)} could not be read ({exc}). "
                        "They may be damaged: delete them and download again.") from exc
    if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28) or images.shape[0] != labels.shape[0]:
        raise DataError(f"MNIST files in {raw_dir(root)} have unexpected shapes "
                        f"{tuple(images.shape)} / {tuple(labels.shape)}.")
    if images.shape[0] == 0:
        raise DataError(f"MNIST files in {raw_dir(root)} hold no images.")
    if int(labels.min()) < 0 or int(labels.max()) > 9:
        raise DataError(f"MNIST labels in {raw_dir(root)} are outside 0..9: the files are damaged.")
    return images, labels.long()


@dataclass
class MnistTensors:
    """Both splits as float images in [0, 1], shape (N, 1, 28, 28), on one device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    root: Path

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    def to(self, device: torch.device | str) -> "MnistTensors":
        device = torch.device(device)
        if device == self.device:
            return self
        return MnistTensors(self.train_x.to(device), self.train_y.to(device),
                            self.test_x.to(device), self.test_y.to(device), self.root)


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    return images.unsqueeze(1).float().div_(255.0)


def load_mnist(root: str | os.PathLike | None = None, device: torch.device | str = "cpu",
               limit_train: int | None = None, limit_test: int | None = None) -> MnistTensors:
    """Read MNIST from ``root`` (resolved as --data > $DIGITPAD_DATA > user data dir)."""
    root = resolve_data_dir(root)
    train_x, train_y = load_split(root, train=True)
    test_x, test_y = load_split(root, train=False)
    if limit_train:
        train_x, train_y = train_x[:limit_train], train_y[:limit_train]
    if limit_test:
        test_x, test_y = test_x[:limit_test], test_y[:limit_test]
    device = torch.device(device)
    return MnistTensors(to_float_images(train_x).to(device), train_y.to(device),
                        to_float_images(test_x).to(device), test_y.to(device), root)


def load_test_set(root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Only the 10,000 test images (float, (N, 1, 28, 28)) and labels: what `eval` needs."""
    x, y = load_split(resolve_data_dir(root), train=False)
    return to_float_images(x), y


# --- checking what is there -----------------------------------------------------------------

_IDX_KIND = {"images": (0x0803, 3), "labels": (0x0801, 1)}


def _idx_problem(path: Path, kind: str) -> tuple[str | None, int]:
    """(what is wrong with one IDX file or None, its item count)."""
    magic, ndim = _IDX_KIND[kind]
    if os.path.lexists(path) and not path.is_file():  # checked first: a FIFO would block open
        return f"{not_regular_reason(path) or 'a broken link'}, not a regular file", 0
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4 + 4 * ndim)
    except FileNotFoundError:
        return "missing", 0
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})", 0
    if len(head) < 4 + 4 * ndim or int.from_bytes(head[:4], "big") != magic:
        return "not an IDX file of this kind (wrong header)", 0
    dims = [int.from_bytes(head[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if kind == "images" and dims[1:] != [28, 28]:
        return f"images of {dims[1]}x{dims[2]} pixels, not 28x28", 0
    n_bytes = 4 + 4 * ndim + math.prod(dims)
    if size != n_bytes:
        return (f"truncated ({size:,} of {n_bytes:,} bytes)" if size < n_bytes
                else f"{size - n_bytes:,} bytes too long"), dims[0]
    return None, dims[0]


def mnist_problem(root: str | os.PathLike, splits=("train", "t10k")) -> str | None:
    """None when the IDX files of ``splits`` are present and whole; otherwise what is wrong,
    e.g. "t10k-images-idx3-ubyte is truncated (7,000 of 7,840,016 bytes)". Reads only headers."""
    raw = raw_dir(root)
    problems = []
    for split in splits:
        img_p, n_img = _idx_problem(raw / f"{split}-images-idx3-ubyte", "images")
        lab_p, n_lab = _idx_problem(raw / f"{split}-labels-idx1-ubyte", "labels")
        if img_p:
            problems.append(f"{split}-images-idx3-ubyte is {img_p}")
        if lab_p:
            problems.append(f"{split}-labels-idx1-ubyte is {lab_p}")
        if not img_p and not lab_p and n_img != n_lab:
            problems.append(f"{split}: {n_img:,} images but {n_lab:,} labels")
    return "; ".join(problems) or None


def damaged_files(root: str | os.PathLike) -> list[Path]:
    """The IDX files present but damaged (what a new download must replace)."""
    raw = raw_dir(root)
    out = []
    for name in RAW_FILES:
        p = raw / name
        if os.path.lexists(p) and _idx_problem(p, "images" if "images" in name else "labels")[0]:
            out.append(p)
    if not out and has_mnist(root) and mnist_problem(root):  # counts that disagree
        out = [raw / name for name in RAW_FILES]
    return out


# --- downloading --------------------------------------------------------------------------

ProgressFn = Callable[[str, int, int], None]  # (file name, bytes done, bytes total or 0)

# None: torchvision's mirrors. Tests point this at a local server.
MIRRORS: list[str] | None = None
# A transfer that receives nothing for this long is abandoned (per request, per read).
READ_TIMEOUT = 20.0
# The whole download, all four files: MNIST is 11 MB, so this allows about 40 KB/s. A proxy
# that trickles a byte every few seconds never trips READ_TIMEOUT; this ends it.
DOWNLOAD_DEADLINE = 300.0


class Cancelled(Exception):
    pass


class _Deadline:
    """Ends every connection opened under it when ``end`` (a monotonic time) passes.

    A socket timeout bounds one read, not a reply: a proxy that sends its headers (to CONNECT,
    HEAD or GET) a byte at a time never trips it, and http.client reads headers line by line
    with no overall limit. So each socket this opens is watched: at the deadline a timer shuts
    it down (``shutdown`` on a duplicate descriptor reaches the connection even after TLS
    wrapped it), the blocked read returns, and ``expired`` tells the caller why.
    """

    def __init__(self, end: float):
        import threading

        self.end = end
        self.expired = False
        self._fds: list[int] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, end - time.monotonic()), self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        with self._lock:
            for fd in self._fds:
                os.close(fd)
            self._fds.clear()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for fd in self._fds:
                try:
                    _shutdown(fd)
                except OSError:
                    pass

    def _connect(self, address, timeout=socket.getdefaulttimeout(), source_address=None, *args,
                 **kwargs):
        left = self.end - time.monotonic()
        if left <= 0:
            self.expired = True
            raise TimeoutError("the deadline had passed")
        if timeout is None or timeout > left:
            timeout = left
        sock = socket.create_connection(address, timeout, source_address, *args, **kwargs)
        with self._lock:
            self._fds.append(os.dup(sock.fileno()))
            if self.expired:
                _shutdown(self._fds[-1])
        return sock

    def open(self, request, timeout: float):
        """urllib's ``urlopen`` (proxies from the environment as usual) on watched sockets."""
        return urllib.request.build_opener(_WatchedHttp(self), _WatchedHttps(self)).open(
            request, timeout=min(timeout, max(0.01, self.end - time.monotonic())))


def _shutdown(fd: int) -> None:
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    finally:
        sock.close()


def _watched(connection_class, deadline: _Deadline):
    def make(*args, **kwargs):
        conn = connection_class(*args, **kwargs)
        conn._create_connection = deadline._connect  # the one hook http.client has for it
        return conn
    return make


class _WatchedHttp(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self._deadline = deadline

    def http_open(self, req):
        return self.do_open(_watched(http.client.HTTPConnection, self._deadline), req)


class _WatchedHttps(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self._deadline = deadline

    def https_open(self, req):
        return self.do_open(_watched(http.client.HTTPSConnection, self._deadline), req,
                            context=self._context)


def _probe(url: str, timeout: float) -> None:
    req = urllib.request.Request(url, method="HEAD")
    with _Deadline(time.monotonic() + timeout) as deadline:
        try:
            with deadline.open(req, timeout):
                pass
        except BaseException:
            if deadline.expired:
                raise TimeoutError("timed out") from None
            raise


def download_mnist(root: str | os.PathLike | None = None, timeout: float = 6.0,
                   progress: ProgressFn | None = None,
                   cancelled: Callable[[], bool] | None = None,
                   deadline: float | None = None) -> Path:
    """Fetch MNIST into ``root`` with torchvision's mirrors; a clear DataError when offline.

    ``timeout`` is one deadline for reaching any mirror, all mirrors together: offline or
    behind a proxy that never answers, the DataError comes within it. ``deadline`` (default
    ``DOWNLOAD_DEADLINE`` s) bounds the whole download: a connection that trickles bytes ends
    in a DataError that says how far it got. Every request has its own timeout (a stalled
    transfer ends after ``READ_TIMEOUT`` s); no process-wide socket setting is touched. A set
    already there and whole is left alone; a damaged one (say a truncated IDX file) is fetched
    again. ``.part`` files never outlive a failure.
    """
    from torchvision.datasets import MNIST

    root = resolve_data_dir(root)
    if has_mnist(root) and mnist_problem(root) is None:
        return root
    start = time.monotonic()
    whole = DOWNLOAD_DEADLINE if deadline is None else float(deadline)
    end = start + whole
    deadline = min(start + timeout, end)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"Cannot create the data folder {root}: {exc.strerror or exc}") from exc
    mirrors = list(MIRRORS if MIRRORS is not None else MNIST.mirrors)
    reachable = None
    errors = []
    for i, mirror in enumerate(mirrors):
        left = deadline - time.monotonic()
        if left <= 0.05:
            errors.append(f"{mirror}: not tried, the {timeout:g} s deadline had passed")
            continue
        first = mirror + MNIST.resources[0][0]
        try:
            # the mirrors share the deadline: a dead first one leaves time for the next
            _probe(first, left / (len(mirrors) - i))
            reachable = mirror
            break
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            errors.append(f"{mirror}: {_reason(exc)}")
    if reachable is None:
        raise DataError("MNIST could not be downloaded: no connection to its download mirrors "
                        f"({'; '.join(errors) or 'none configured'}). If you have the files, "
                        "choose the folder that holds MNIST/raw instead.")
    from torchvision.datasets.utils import check_integrity

    folder = raw_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    for damaged in damaged_files(root):  # extracted again from a checked download
        damaged.unlink(missing_ok=True)
    try:
        for filename, md5 in MNIST.resources:
            target = folder / filename
            if not check_integrity(str(target), md5):
                _fetch(reachable + filename, target, progress, cancelled, end, whole)
                if not check_integrity(str(target), md5):
                    target.unlink(missing_ok=True)
                    raise DataError(f"The download of {filename} was damaged (checksum mismatch); try again.")
            _extract(target)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DataError(f"MNIST download failed: {_reason(exc)}. Try again; what was "
                        "downloaded completely is kept.") from exc
    problem = mnist_problem(root)
    if problem:
        raise DataError(f"MNIST in {raw_dir(root)} is still damaged after the download: {problem}.")
    return root


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, (TimeoutError, socket.timeout)) or "timed out" in str(reason):
        return "no answer (timed out)"
    return str(reason) or type(reason).__name__


def _fetch(url: str, target: Path, progress: ProgressFn | None,
           cancelled: Callable[[], bool] | None, end: float, whole: float) -> None:
    part = target.with_name(target.name + ".part")
    done = total = 0

    def late() -> DataError:
        got = f"{done:,} of {total:,} bytes" if total else f"{done:,} bytes"
        return DataError(f"MNIST download did not finish within its {whole:g} s deadline "
                         f"({got} of {target.name} had arrived): the connection is too slow. "
                         "Try again later; what was downloaded completely is kept.")

    deadline = _Deadline(end)
    try:
        left = end - time.monotonic()
        if left <= 0:
            raise late()
        # each read waits at most READ_TIMEOUT; the deadline ends the connection itself, so
        # it holds while headers trickle too
        with deadline, deadline.open(url, READ_TIMEOUT) as resp, open(part, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0)
            while True:
                if cancelled is not None and cancelled():
                    raise Cancelled()
                if time.monotonic() >= end:
                    raise late()
                try:
                    # read1: whatever has arrived (read() would wait for the whole 64 KB, a
                    # byte at a time from a trickling proxy)
                    chunk = resp.read1(64 * 1024)
                except (TimeoutError, socket.timeout):
                    if time.monotonic() >= end - 0.05:
                        raise late() from None
                    raise
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(target.name, done, total)
            if total and done < total:
                raise OSError(f"the connection closed after {done:,} of {total:,} bytes of {target.name}")
        if time.monotonic() >= end:
            raise late()
        os.replace(part, target)
    except BaseException as exc:
        # any failure, a cancel, Ctrl+C or SIGTERM (the CLI turns it into an exception): no
        # half file stays
        part.unlink(missing_ok=True)
        if deadline.expired and isinstance(exc, Exception) and not isinstance(exc, DataError):
            raise late() from None  # the cut connection's own error would hide why
        raise


def _extract(gz: Path) -> None:
    import gzip
    import shutil

    out = gz.with_suffix("")
    if out.is_file():
        return
    tmp = out.with_name(out.name + ".part")
    try:
        with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- writing IDX (tests and fixtures make tiny MNIST folders with this) --------------------

def write_idx(path: str | os.PathLike, array) -> None:
    """Write a uint8 array as an IDX file (the format MNIST ships in)."""
    import numpy as np

    arr = np.ascontiguousarray(np.asarray(array, dtype=np.uint8))
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    Path(path).write_bytes(header + arr.tobytes())


def write_mnist_folder(root: str | os.PathLike, train_images, train_labels,
                       test_images, test_labels) -> Path:
    folder = raw_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte", train_images)
    write_idx(folder / "train-labels-idx1-ubyte", train_labels)
    write_idx(folder / "t10k-images-idx3-ubyte", test_images)
    write_idx(folder / "t10k-labels-idx1-ubyte", test_labels)
    return Path(root)


