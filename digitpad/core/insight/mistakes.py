"""A model's mistakes on MNIST's test set: every prediction kept, so any cell of the confusion
matrix can be opened and its images sorted by how sure the model was.

:func:`iter_mistakes` is a generator (``Progress`` ..., then ``MistakesReady``) so the app runs
it in its ``GeneratorWorker`` and the CLI simply drains it. Results are cached in the app data
dir as ``.npz``, keyed by the model's content hash (the file's bytes, or the weights' bytes for
a model that was never saved) and the test set's hash: the same model is never scored twice.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..io.files import write_atomically
from ..io.paths import app_data_dir
from ..nets.models import DigitModel
from ..reading.scoring import Scores, as_labels, score_batches

CACHE_VERSION = 1


@dataclass(frozen=True)
class Progress:
    done: int
    total: int


@dataclass(frozen=True)
class MistakesReady:
    mistakes: Scores
    cached: bool
    cache_file: Path | None


# --- keys and cache -------------------------------------------------------------------------

def file_key(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:20]


def state_key(arch: str, state: dict[str, torch.Tensor]) -> str:
    """Content hash of in-memory weights (a model trained in the app and not saved yet)."""
    h = hashlib.sha256(arch.encode())
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def data_key(x: torch.Tensor, y: torch.Tensor) -> str:
    h = hashlib.sha256(y.cpu().numpy().astype(np.int64).tobytes())
    h.update(x.cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def cache_dir() -> Path:
    return app_data_dir() / "cache" / "mistakes"


def cache_path(model_key: str, x: torch.Tensor, y: torch.Tensor) -> Path:
    return cache_dir() / f"v{CACHE_VERSION}-{model_key}-{data_key(x, y)}.npz"


def _load(path: Path, n: int) -> Scores | None:
    try:
        with np.load(path) as z:
            m = Scores(z["labels"].astype(np.int64), z["probs"].astype(np.float32))
    except (OSError, KeyError, ValueError):
        return None  # a damaged cache file is recomputed, never trusted
    return m if m.n == n and m.probs.shape == (n, 10) else None


def _save(path: Path, m: Scores) -> None:
    # atomic, fsynced, and no temp file left behind by a failure or a kill: a reader never
    # sees half a file (and a damaged one would be recomputed anyway)
    buf = io.BytesIO()
    np.savez_compressed(buf, labels=m.labels.astype(np.uint8), probs=m.probs)
    write_atomically(path, buf.getvalue(), 0o644)


# --- computing ------------------------------------------------------------------------------

def iter_mistakes(model: DigitModel, x: torch.Tensor, y: torch.Tensor, key: str | None = None,
                  batch_size: int = 500, should_stop: Callable[[], bool] | None = None
                  ) -> Iterator[Progress | MistakesReady]:
    """Score ``model`` (a ready one: :func:`digitpad.core.nets.builder.build`) on (x, y) batch
    by batch; ``key`` (a model hash) enables the cache."""
    n = int(y.shape[0])
    path = cache_path(key, x, y) if key else None
    if path is not None and path.is_file():
        cached = _load(path, n)
        if cached is not None and np.array_equal(cached.labels, y.cpu().numpy()):
            yield MistakesReady(cached, True, path)
            return
    probs = np.zeros((n, 10), dtype=np.float32)
    yield Progress(0, n)
    done = 0
    for start, chunk in score_batches(model, x, batch_size, should_stop):
        probs[start:start + len(chunk)] = chunk
        done = start + len(chunk)
        yield Progress(done, n)
    if done < n:
        return  # stopped
    result = Scores(as_labels(y), probs)
    if path is not None:
        try:
            _save(path, result)
        except OSError:
            path = None  # a read-only home still gets its answer, just not cached
    yield MistakesReady(result, False, path)


def compute(model: DigitModel, x: torch.Tensor, y: torch.Tensor, key: str | None = None) -> MistakesReady:
    """:func:`iter_mistakes` drained: the CLI's way."""
    last = None
    for last in iter_mistakes(model, x, y, key):
        pass
    assert isinstance(last, MistakesReady)
    return last

