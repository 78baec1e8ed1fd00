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
from ..nets.models import DigitModel, create_model
from ..io.paths import app_data_dir

CACHE_VERSION = 1


@dataclass
class Mistakes:
    labels: np.ndarray  # (N,) true digits
    probs: np.ndarray  # (N, 10) float32 softmax outputs

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def preds(self) -> np.ndarray:
        return self.probs.argmax(1)

    @property
    def confidence(self) -> np.ndarray:
        """Probability of the predicted class."""
        return self.probs.max(1)

    @property
    def accuracy(self) -> float:
        return float((self.preds == self.labels).mean()) if self.n else float("nan")

    @property
    def confusion(self) -> np.ndarray:
        """(10, 10) counts, [true, predicted]."""
        conf = np.zeros((10, 10), dtype=np.int64)
        np.add.at(conf, (self.labels, self.preds), 1)
        return conf

    @property
    def per_class(self) -> list[float]:
        conf = self.confusion
        totals = conf.sum(1)
        return [float(conf[i, i] / totals[i]) if totals[i] else float("nan") for i in range(10)]

    def cell(self, true: int, pred: int) -> np.ndarray:
        """Indices of test images of digit ``true`` read as ``pred``, most confident first."""
        idx = np.flatnonzero((self.labels == true) & (self.preds == pred))
        return idx[np.argsort(-self.probs[idx, pred], kind="stable")]

    def worst(self, n: int = 36) -> np.ndarray:
        """The ``n`` wrong predictions the model was surest of."""
        idx = np.flatnonzero(self.labels != self.preds)
        return idx[np.argsort(-self.confidence[idx], kind="stable")][:n]

    def summary(self) -> dict:
        return {"n": self.n, "accuracy": self.accuracy, "per_class": self.per_class,
                "confusion": self.confusion.tolist(), "errors": int((self.labels != self.preds).sum())}


@dataclass(frozen=True)
class Progress:
    done: int
    total: int


@dataclass(frozen=True)
class MistakesReady:
    mistakes: Mistakes
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


def _load(path: Path, n: int) -> Mistakes | None:
    try:
        with np.load(path) as z:
            m = Mistakes(z["labels"].astype(np.int64), z["probs"].astype(np.float32))
    except (OSError, KeyError, ValueError):
        return None  # a damaged cache file is recomputed, never trusted
    return m if m.n == n and m.probs.shape == (n, 10) else None


def _save(path: Path, m: Mistakes) -> None:
    # atomic, fsynced, and no temp file left behind by a failure or a kill: a reader never
    # sees half a file (and a damaged one would be recomputed anyway)
    buf = io.BytesIO()
    np.savez_compressed(buf, labels=m.labels.astype(np.uint8), probs=m.probs)
    write_atomically(path, buf.getvalue(), 0o644)


# --- computing ------------------------------------------------------------------------------

def iter_mistakes(model: DigitModel, x: torch.Tensor, y: torch.Tensor, key: str | None = None,
                  batch_size: int = 500, should_stop: Callable[[], bool] | None = None
                  ) -> Iterator[Progress | MistakesReady]:
    """Score ``model`` on (x, y) batch by batch; ``key`` (a model hash) enables the cache."""
    n = int(y.shape[0])
    path = cache_path(key, x, y) if key else None
    if path is not None and path.is_file():
        cached = _load(path, n)
        if cached is not None and np.array_equal(cached.labels, y.cpu().numpy()):
            yield MistakesReady(cached, True, path)
            return
    model.eval()
    probs = np.zeros((n, 10), dtype=np.float32)
    yield Progress(0, n)
    for start in range(0, n, batch_size):
        if should_stop is not None and should_stop():
            return
        with torch.inference_mode():
            logits = model.logits(x[start:start + batch_size])
            probs[start:start + batch_size] = torch.softmax(logits.float(), 1).cpu().numpy()
        yield Progress(min(start + batch_size, n), n)
    result = Mistakes(y.cpu().numpy().astype(np.int64), probs)
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


def build(arch: str, state: dict[str, torch.Tensor]) -> DigitModel:
    model = create_model(arch)
    model.load_state_dict(state)
    return model.eval()
