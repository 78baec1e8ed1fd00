"""MNIST: finding it, downloading it when asked, and holding it as tensors on the device.

Training never goes through a per-sample Dataset/ToTensor loop: the whole set (60,000 x 28 x 28
bytes) is read once through torchvision's real IDX reader, kept as one float tensor on the
training device, and batches are made by indexing.
"""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .files import DigitpadError
from .paths import resolve_data_dir

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
    """Images (N, 28, 28) uint8 and labels (N,) int64, read by torchvision's MNIST class."""
    from torchvision.datasets import MNIST

    root = Path(root)
    if not has_mnist(root):
        raise DataError(_missing_message(root))
    try:
        ds = MNIST(str(root), train=train, download=False)
        images, labels = ds.data, ds.targets
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


# --- downloading --------------------------------------------------------------------------

ProgressFn = Callable[[str, int, int], None]  # (file name, bytes done, bytes total or 0)


class Cancelled(Exception):
    pass


def _probe(url: str, timeout: float) -> None:
    req = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(req, timeout=timeout):
        pass


def download_mnist(root: str | os.PathLike | None = None, timeout: float = 8.0,
                   progress: ProgressFn | None = None,
                   cancelled: Callable[[], bool] | None = None) -> Path:
    """Fetch MNIST into ``root`` with torchvision's mirrors; a clear DataError when offline.

    A first short request to each mirror decides within ``timeout`` seconds whether any is
    reachable, so an offline machine gets its answer quickly instead of hanging.
    """
    from torchvision.datasets import MNIST

    root = resolve_data_dir(root)
    if has_mnist(root):
        return root
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"Cannot create the data folder {root}: {exc.strerror or exc}") from exc
    mirrors = list(MNIST.mirrors)
    reachable = None
    errors = []
    for mirror in mirrors:
        first = mirror + MNIST.resources[0][0]
        try:
            _probe(first, timeout)
            reachable = mirror
            break
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"{mirror}: {getattr(exc, 'reason', exc)}")
    if reachable is None:
        raise DataError("MNIST could not be downloaded: no connection to its download mirrors "
                        f"({'; '.join(errors) or 'none configured'}). If you have the files, "
                        "choose the folder that holds MNIST/raw instead.")
    from torchvision.datasets.utils import check_integrity

    folder = raw_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(max(timeout, 30.0))
    try:
        for filename, md5 in MNIST.resources:
            target = folder / filename
            if not check_integrity(str(target), md5):
                _fetch(reachable + filename, target, progress, cancelled)
                if not check_integrity(str(target), md5):
                    target.unlink(missing_ok=True)
                    raise DataError(f"The download of {filename} was damaged (checksum mismatch); try again.")
            _extract(target)
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"MNIST download failed: {getattr(exc, 'reason', exc)}") from exc
    finally:
        socket.setdefaulttimeout(old)
    if not has_mnist(root):
        raise DataError(_missing_message(root))
    return root


def _fetch(url: str, target: Path, progress: ProgressFn | None,
           cancelled: Callable[[], bool] | None) -> None:
    part = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url) as resp, open(part, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0)
        done = 0
        while True:
            if cancelled is not None and cancelled():
                out.close()
                part.unlink(missing_ok=True)
                raise Cancelled()
            chunk = resp.read(64 * 1024)
            if not chunk:
                break
            out.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(target.name, done, total)
    os.replace(part, target)


def _extract(gz: Path) -> None:
    import gzip
    import shutil

    out = gz.with_suffix("")
    if out.is_file():
        return
    tmp = out.with_name(out.name + ".part")
    with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.replace(tmp, out)


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


