"""What a model made of one image: the result type every predictor returns (no torch here)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ..data.preprocess import Preprocessed
from ..nets.errors import CheckpointError

__all__ = ["Prediction", "empty_prediction", "make_prediction", "refuse_non_finite"]


def refuse_non_finite(probs: np.ndarray, name: str | None = None, first: int = 0) -> np.ndarray:
    """``probs`` when every value is finite; else a CheckpointError (kind "unusable") that says
    so. The load-time probe sees a few images only: a model that overflows on some drawing
    (finite weights, one unit far too large) is caught here, at use, and never shown as a
    digit with "nan %" (issue 24, failure 3). ``first`` numbers the rows in the message."""
    bad = ~np.isfinite(probs).reshape(len(probs) if np.ndim(probs) > 1 else 1, -1).all(axis=1)
    if not bad.any():
        return probs
    where = "this image"
    if np.ndim(probs) > 1 and len(probs) > 1:
        rows = np.flatnonzero(bad)
        where = f"{len(rows):,} of {len(probs):,} images (the first: #{first + int(rows[0])})"
    raise CheckpointError(f"{name or 'The model'} is unusable on {where}: its outputs are NaN or "
                          "infinite (weights that overflow on this input, or damaged ones).",
                          None, "unusable")


@dataclass
class Prediction:
    """What the model made of one image.

    ``empty`` means nothing was drawn: then ``digit`` is None, ``confidence`` 0 and ``probs``
    all zero, and ``maps`` is empty. ``maps`` holds each intermediate of the model's
    ``forward_features`` for this one image (no batch axis), as float32 arrays.
    """

    empty: bool
    digit: int | None
    confidence: float
    probs: np.ndarray
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)
    image: np.ndarray | None = None
    maps: "OrderedDict[str, np.ndarray]" = field(default_factory=OrderedDict)


def empty_prediction(pre: Preprocessed, steps: bool = True) -> Prediction:
    return Prediction(True, None, 0.0, np.zeros(10, dtype=np.float32),
                      list(pre.steps) if steps else [], None, OrderedDict())


def make_prediction(pre: Preprocessed, probs: np.ndarray, maps: "OrderedDict[str, np.ndarray]",
                    steps: bool = True) -> Prediction:
    probs = np.ascontiguousarray(probs, dtype=np.float32)
    digit = int(probs.argmax())
    return Prediction(False, digit, float(probs[digit]), probs, list(pre.steps) if steps else [],
                      pre.image, maps)
