"""What a model made of one image: the result type every predictor returns (no torch here)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ..data.preprocess import Preprocessed

__all__ = ["Prediction", "empty_prediction", "make_prediction"]


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
