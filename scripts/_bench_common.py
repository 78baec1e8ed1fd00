"""What the bench_* scripts share: the repo on sys.path, model discovery, MNIST, timing."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data"
MODEL_ORDER = ("lenet", "digitnet", "dense")


def shipped_files() -> dict[str, Path]:
    """arch -> resources/<arch>.safetensors for the shipped models that exist now."""
    from digitpad.core.nets.checkpoint import shipped_model_path

    found = {}
    for arch in MODEL_ORDER:
        p = Path(shipped_model_path(arch))
        if p.is_file():
            found[arch] = p
    return found


def load_predictors(files: list[str] | None):
    """[(label, Predictor)] from the given files, else every shipped model that exists."""
    from digitpad.core.reading.predict import Predictor

    if files:
        out = []
        for f in files:
            p = Predictor.from_file(f)
            label = f"{p.arch}:{Path(f).stem}" if Path(f).stem != p.arch else p.arch
            taken = {lb for lb, _ in out}
            if label in taken:  # same file name in two folders: tell them apart by the folder
                label = f"{p.arch}:{Path(f).parent.name}"
            n = 2
            while label in taken:
                label, n = f"{label}#{n}", n + 1
            out.append((label, p))
        return out
    return [(arch, Predictor.from_file(path)) for arch, path in shipped_files().items()]


def mnist_test(data: str | os.PathLike, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` MNIST test images (uint8, (N, 28, 28)) and labels."""
    from digitpad.core.data.mnist import load_split

    x, y = load_split(data, train=False)
    if limit:
        x, y = x[:limit], y[:limit]
    return x.numpy(), y.numpy()


def time_calls(fn: Callable[[], object], n: int, warmup: int = 20) -> np.ndarray:
    """Wall time of each of n calls, in milliseconds (after some warm-up calls)."""
    for _ in range(warmup):
        fn()
    out = np.empty(n)
    clock = time.perf_counter
    for i in range(n):
        t0 = clock()
        fn()
        out[i] = clock() - t0
    return out * 1000.0


def machine() -> str:
    import torch

    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average {os.getloadavg()[0]:.1f}"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores{load}; "
            f"torch {torch.__version__} with {torch.get_num_threads()} intra-op threads, "
            f"Python {platform.python_version()}")
