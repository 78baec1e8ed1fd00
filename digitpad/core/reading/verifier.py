"""The number reader's whole-digit verifier: "is this candidate exactly one whole digit?"

Torch-free, numpy only (the number reader runs before torch is loaded). The digit network
reads a fragment of a digit, or two touching digits, with high confidence, so in the
segmentation graph of a touching number the wrong path often scores best. This small network
(two 5x5 convolutions and a small dense layer: 11,745 weights) sees each candidate's 28x28
input, as the digit network does, plus where it lies in the line (its height and width in
line heights), and answers with the log-probability that it is one whole digit, which the
path adds (times ``number.VERIFY_WEIGHT``) to the candidate's score.

Trained by ``scripts/train_verifier.py`` only on MNIST *training* digits and synthesised
writers: positives are the candidates of composed numbers that hold one whole digit, negatives
the reader's own wrong candidates (fragments, two joined digits, a digit with a piece of its
neighbour). The file (``resources/verifier.safetensors``) is safetensors with a header like
the digit models' (``format``, ``arch``, ``meta`` JSON) but its own format name, so it is
never mistaken for a digit model; :func:`load_verifier` is the one place that builds it.
"""

from __future__ import annotations

import functools
import logging
import os

import numpy as np

from ..io.files import MAX_MODEL_BYTES, load_json
from ..nets.spec import MNIST_MEAN, MNIST_STD
from .numpy_predict import _conv, _pool, _relu

__all__ = ["Verifier", "VerifierError", "load_verifier", "shipped_verifier", "FORMAT", "ARCH", "SHAPES"]

FORMAT = "digitpad-verifier-1"
ARCH = "verifier-cnn-1"
GEOMETRY = 2  # the candidate's ink height and width, in line heights
# the weights the file must hold (torch's layouts: conv (out, in, k, k), fc (out, in))
SHAPES = {"conv1.weight": (8, 1, 5, 5), "conv1.bias": (8,),
          "conv2.weight": (16, 8, 5, 5), "conv2.bias": (16,),
          "fc1.weight": (32, 16 * 4 * 4 + GEOMETRY), "fc1.bias": (32,),
          "fc2.weight": (1, 32), "fc2.bias": (1,)}

log = logging.getLogger(__name__)


class VerifierError(ValueError):
    """A verifier file that cannot be used, with a sentence saying why."""


class Verifier:
    """The verifier's forward pass: ``log_whole(images, geometry)`` -> log P(one whole digit)."""

    def __init__(self, state: dict[str, np.ndarray], meta: dict | None = None) -> None:
        for key, shape in SHAPES.items():
            if key not in state or tuple(state[key].shape) != shape:
                raise VerifierError(f"the verifier's {key} is missing or not {shape}")
            if not np.isfinite(state[key]).all():
                raise VerifierError(f"the verifier's {key} holds NaN or infinite values")
        self.w = {k: np.array(state[k], np.float32) for k in SHAPES}
        self.meta = dict(meta or {})

    def features(self, images: np.ndarray) -> np.ndarray:
        """(N, 256) the convolutions' outputs for a batch (N, 28, 28) in [0, 1], ink bright:
        the part that depends on the 28x28 input alone (the number reader caches it)."""
        w = self.w
        x = ((np.asarray(images, np.float32) - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD))[..., None]
        with np.errstate(over="ignore", invalid="ignore"):
            x = _pool(_relu(_conv(x, w["conv1.weight"], w["conv1.bias"], 0)), 2, 2)
            x = _pool(_relu(_conv(x, w["conv2.weight"], w["conv2.bias"], 0)), 2, 2)
        return x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)  # flattened channels first, as torch does

    def head(self, features: np.ndarray, geometry: np.ndarray) -> np.ndarray:
        """(N,) logits from :meth:`features` and (N, 2) geometry (height, width in line heights)."""
        w = self.w
        x = np.concatenate([np.asarray(features, np.float32),
                            np.asarray(geometry, np.float32).reshape(len(features), GEOMETRY)], axis=1)
        with np.errstate(over="ignore", invalid="ignore"):
            x = _relu(x @ w["fc1.weight"].T + w["fc1.bias"])
            return (x @ w["fc2.weight"].T + w["fc2.bias"])[:, 0]

    def logits(self, images: np.ndarray, geometry: np.ndarray) -> np.ndarray:
        """(N,) logits for a batch (N, 28, 28) in [0, 1], ink bright, and (N, 2) geometry."""
        return self.head(self.features(images), geometry)

    @staticmethod
    def log_sigmoid(z: np.ndarray) -> np.ndarray:
        """log P(one whole digit) from logits, stable both ways, float32."""
        with np.errstate(over="ignore", invalid="ignore"):
            out = -np.logaddexp(0.0, -np.asarray(z, np.float64))
        return np.nan_to_num(out, nan=0.0, neginf=-50.0).astype(np.float32)

    def log_whole(self, images: np.ndarray, geometry: np.ndarray) -> np.ndarray:
        """(N,) float32 log-probabilities that each candidate is one whole digit."""
        if len(images) == 0:
            return np.zeros(0, np.float32)
        return self.log_sigmoid(self.logits(images, geometry))


def load_verifier(path: str | os.PathLike) -> Verifier:
    """A verifier file -> a :class:`Verifier`; any problem is a :class:`VerifierError`."""
    try:
        if not os.path.isfile(path):
            raise VerifierError(f"no verifier file at {path}")
        if os.path.getsize(path) > MAX_MODEL_BYTES:
            raise VerifierError(f"{path} is too large for a verifier file")
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            if header.get("format") != FORMAT or header.get("arch") != ARCH:
                raise VerifierError(f"{path} is not a digitpad verifier file ({FORMAT}, {ARCH})")
            meta = load_json(header.get("meta", "{}"))
            state = {k: f.get_tensor(k) for k in f.keys()}
    except VerifierError:
        raise
    except Exception as e:  # damaged, truncated, foreign: one sentence, never a crash
        raise VerifierError(f"{path} could not be read as a verifier file: {e}") from e
    return Verifier(state, meta if isinstance(meta, dict) else {})


@functools.lru_cache(maxsize=1)
def _shipped() -> tuple[Verifier | None, str]:
    from ..io.paths import resource_path

    try:
        return load_verifier(resource_path("verifier.safetensors")), ""
    except VerifierError as e:
        note = f"numbers are read without the whole-digit verifier: {e}"
        log.warning(note)
        return None, note


def shipped_verifier() -> tuple[Verifier | None, str]:
    """(the shipped verifier, "") or (None, a note saying why it is not used), read once."""
    return _shipped()
