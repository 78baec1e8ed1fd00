"""Reading a whole number: an image of one or more digits -> the number, each digit and its box.

The one reader every caller uses (the Draw tab's Number mode, Open image / drop, ``digitpad
predict --number``, scripts/bench_numbers.py). Torch-free: the classifier comes in as a
function of a batch of 28x28 images, so the numpy, torch and foreign predictors all fit.

STUB (API agreed for this round; the segmentation below is the naive first version: one
digit per ink component). Keep the names and fields; improve the inside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from ..data.preprocess import ImageInput, Polarity, Preprocessed

__all__ = ["Classify", "DigitRead", "NumberReading", "read_number"]

# batch (N, 28, 28) float32 in [0, 1], ink bright -> probabilities (N, 10) float32
Classify = Callable[[np.ndarray], np.ndarray]

Status = Literal["empty", "number", "not a number"]


@dataclass
class DigitRead:
    """One digit of a number.

    ``box`` is (x0, y0, x1, y1) in the input image's pixels, exclusive ends (PIL's convention).
    ``pre`` is this digit preprocessed on its own (own crop, 20 px box, centred by mass), so
    ``predictor.predict(digit.pre)`` gives its maps. ``unsure`` is set when the top two
    classes are close; ``alternative`` is then the runner-up. ``parts`` is how many ink
    components were merged into it (1 usually; 0 when it was cut out of a touching pair).
    """

    box: tuple[int, int, int, int]
    pre: Preprocessed
    probs: np.ndarray
    digit: int
    confidence: float
    unsure: bool = False
    alternative: int | None = None
    parts: int = 1


@dataclass
class NumberReading:
    """What the reader made of an image.

    ``status``: "empty" (no ink), "number" or "not a number" (``reason`` says why: a scribble,
    letters, too many pieces). ``number`` is the digits as text ("" unless status is
    "number"); ``confidence`` is the whole number's (the product of its digits'). ``steps``
    are (title, payload) pairs the app can show: components found, merges, cuts.
    """

    status: Status
    digits: list[DigitRead] = field(default_factory=list)
    number: str = ""
    confidence: float = 0.0
    reason: str = ""
    polarity: str = "light-on-dark"
    steps: list[tuple[str, object]] = field(default_factory=list)

    @property
    def unsure(self) -> bool:
        return any(d.unsure for d in self.digits)

    @property
    def several(self) -> bool:
        return len(self.digits) > 1


def read_number(image: ImageInput, classify: Classify, polarity: Polarity = "auto",
                keep_steps: bool = False) -> NumberReading:
    """Read the number written in ``image`` (gray/RGB/RGBA array or path, either polarity)."""
    raise NotImplementedError("stub: the numbers-core work fills this in")
