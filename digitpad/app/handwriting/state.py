"""The My handwriting tab without Qt: guided collection, the store's view, a teaching run.

Tests drive these directly, with real files and no QApplication:

- :class:`Collection` is the "draw a 7" game: rounds over all ten digits (a fresh order each
  round, so the hand does not fall into a rhythm), N of each; each kept drawing is stored.
- :class:`StoreView` is what the sample grid shows: the store read once, filtered by digit,
  counts per digit, what was skipped, and the operations that change it.
- :class:`TeachState` is a teaching run's phase and the before/after figures to show.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digitpad.core.learning.events import Scores, TeachReport  # plain Python, like this module

# Plain Python: no Qt, and no import of core.data.samples either (it reaches torch through
# preprocessing). The store, its samples and what it loads arrive as objects:
SampleStore = Loaded = Sample = Any  # digitpad.core.data.samples' classes

IDLE, LOADING, RUNNING, STOPPING = "idle", "loading", "running", "stopping"
SUGGESTED_PER_DIGIT = 10  # what bench_teach measures: 10 per digit gives ~99 % on the writer


def digit_word(digit: int, n: int = 1) -> str:
    """"a 7" / "3 sevens": the digits' names read better than "3 7s"."""
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    if n == 1:
        return f"an {digit}" if digit == 8 else f"a {digit}"
    plural = "sixes" if digit == 6 else names[digit] + "s"
    return f"{n} {plural}"


# --- guided collection ------------------------------------------------------------------------

class Collection:
    """Rounds of "draw a <digit>" over all ten digits, ``per_digit`` rounds in all."""

    def __init__(self, store: SampleStore, per_digit: int = 5, seed: int | None = None) -> None:
        if per_digit < 1:
            raise ValueError("per_digit must be at least 1")
        self.store = store
        self.per_digit = per_digit
        rng = random.Random(seed)
        self.order: list[int] = []
        for _ in range(per_digit):
            round_ = list(range(10))
            rng.shuffle(round_)
            self.order += round_
        self.index = 0
        self.kept: list[Sample] = []
        self.skipped = 0

    @property
    def total(self) -> int:
        return len(self.order)

    @property
    def done(self) -> bool:
        return self.index >= self.total

    @property
    def digit(self) -> int | None:
        return None if self.done else self.order[self.index]

    @property
    def round(self) -> int:
        return min(self.index, self.total - 1) // 10 + 1

    def prompt(self) -> str:
        if self.done:
            n = len(self.kept)
            return f"Done: {n} drawing{'s' if n != 1 else ''} kept"
        return f"Draw {digit_word(self.digit)}"

    def progress_text(self) -> str:
        if self.done:
            return f"{len(self.kept)} kept, {self.skipped} skipped"
        return (f"round {self.round} of {self.per_digit} · drawing {self.index + 1} of "
                f"{self.total}")

    def keep(self, drawing: np.ndarray, write=None) -> Sample:
        """Store the drawing as the asked digit and move on. ``write(sample, drawing)``
        writes it (the app's does so in a worker); by default the store writes it now."""
        if self.done:
            raise RuntimeError("the collection is over")
        sample = self.store.new_sample(self.digit)
        (write or self.store.write)(sample, drawing)
        self.kept.append(sample)
        self.index += 1
        return sample

    def skip(self) -> None:
        if not self.done:
            self.skipped += 1
            self.index += 1


# --- the store, as the grid shows it ------------------------------------------------------------

@dataclass
class StoreView:
    """The store as the grid shows it. Read whole once (``refresh``, in a worker: decoding
    every PNG took ~1 ms a sample), then kept current by what this window changes —
    :meth:`added`, :meth:`removed`, :meth:`delete` — without reading the store again."""

    store: SampleStore
    filter: int | None = None  # a digit, or None for all
    loaded: Loaded = None

    def refresh(self) -> Loaded:
        self.loaded = self.store.load_all()
        return self.loaded

    @property
    def problems(self) -> list:
        return self.loaded.problems if self.loaded is not None else []

    def counts(self) -> dict[int, int]:
        return self.loaded.counts() if self.loaded is not None else dict.fromkeys(range(10), 0)

    def total(self) -> int:
        return sum(self.counts().values())

    def shown(self) -> list[tuple[Sample, np.ndarray]]:
        """(sample, drawing) pairs to show, newest last, for the current filter."""
        if self.loaded is None:
            return []
        return [(s, img) for s, img in zip(self.loaded.samples, self.loaded.images)
                if self.filter is None or s.digit == self.filter]

    def image_of(self, sample_id: str) -> np.ndarray | None:
        """The drawing of the sample with this id (under any digit), None when not loaded."""
        if self.loaded is not None:
            for s, img in zip(self.loaded.samples, self.loaded.images):
                if s.id == sample_id:
                    return img
        return None

    def added(self, sample: Sample, image: np.ndarray) -> None:
        """A sample this window wrote (kept, put back, moved to another digit): in its place
        by (digit, id), replacing one at the same path."""
        if self.loaded is None:
            return  # the store's first read is still on its way and will hold it
        self.removed([sample])
        i = bisect.bisect(self.loaded.samples, sample)
        self.loaded.samples.insert(i, sample)
        self.loaded.images.insert(i, image)

    def removed(self, samples: list[Sample]) -> None:
        """Samples whose files are gone (deleted, moved): out of the view."""
        if self.loaded is None:
            return
        gone = {s.path for s in samples}
        keep = [k for k, s in enumerate(self.loaded.samples) if s.path not in gone]
        if len(keep) != len(self.loaded.samples):
            self.loaded.samples[:] = [self.loaded.samples[k] for k in keep]
            self.loaded.images[:] = [self.loaded.images[k] for k in keep]

    def delete(self, samples: list[Sample]) -> int:
        n = sum(1 for s in samples if self.store.delete(s))
        self.removed(samples)
        return n

    def summary(self) -> str:
        counts = self.counts()
        total = sum(counts.values())
        if total == 0:
            text = "No samples yet: draw some with Collect, correct the Draw tab, or import."
        else:
            low = [str(d) for d in range(10) if counts[d] < SUGGESTED_PER_DIGIT]
            text = f"{total} sample{'s' if total != 1 else ''}"
            if low:
                text += (f" · fewer than {SUGGESTED_PER_DIGIT} of {', '.join(low)}"
                         if len(low) < 10 else f" · {SUGGESTED_PER_DIGIT} of each digit work well")
        if self.problems:
            text += f" · {len(self.problems)} file(s) in the folder skipped (see the log)"
        return text

    def teach_inputs(self) -> tuple[list[np.ndarray], list[int], list[str]]:
        """What a teaching run learns from: every readable sample."""
        loaded = self.loaded
        if loaded is None:  # not read yet: Teach waits for it (its button is off until then)
            return [], [], []
        return list(loaded.images), loaded.labels, [str(s.path) for s in loaded.samples]


# --- a teaching run -----------------------------------------------------------------------------

def pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f} %"


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % interval of a share measured as hits of n (Wilson's: sound at 0 or n of n)."""
    if n <= 0:
        return 0.0, 1.0
    p = hits / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def count(v: float | None, n: int, interval: bool = False) -> str:
    """A share of a few samples as what it is: "18/20", with its interval when asked, since
    "100 %" of 2 drawings says little."""
    if v is None or n <= 0:
        return "–"
    hits = round(v * n)
    text = f"{hits}/{n}"
    if interval:
        lo, hi = wilson(hits, n)
        text += f" ({100 * lo:.0f}–{100 * hi:.0f} %)"
    return text


TRAIN_BELOW_HELD_OUT = ("\"Your samples (training)\" is measured on distorted copies (slanted, "
                        "thicker, thinner, stretched) mixed with MNIST while the model learns, "
                        "so it can sit below the held-out figure, which reads your drawings as "
                        "they are.")


@dataclass
class TeachState:
    phase: str = IDLE
    steps: int = 0
    step: int = 0
    rounds: int = 0
    notices: list[str] = field(default_factory=list)
    before: Scores | None = None
    after: Scores | None = None
    report: TeachReport | None = None  # once a run finished
    outcome: str | None = None  # finished | stopped | failed
    message: str = ""
    in_use: bool = False  # the taught model is the Draw tab's
    saved_to: str | None = None

    @property
    def running(self) -> bool:
        return self.phase != IDLE

    def begin(self, steps: int) -> None:
        self.phase = LOADING
        self.steps, self.step, self.rounds = steps, 0, 0
        self.notices = []
        self.before = self.after = self.report = None
        self.outcome = None
        self.in_use, self.saved_to = False, None
        self.message = "Reading your samples and MNIST…"

    def started(self, ev) -> None:
        self.phase = RUNNING
        self.steps = ev.config.steps
        self.message = (f"Teaching on {ev.device}: {ev.train_size} samples, {ev.test_size} held "
                        "out to measure before and after")

    def measured(self, ev) -> None:
        if ev.when == "before":
            self.before = ev.scores
        else:
            self.after = ev.scores

    def batch(self, ev) -> None:
        self.step = ev.step

    def stop(self) -> None:
        if self.running:
            self.phase = STOPPING
            self.message = "Stopping…"

    def finished(self, report) -> None:
        self.report = report
        self.outcome = "finished"
        self.message = (f"Taught in {report.seconds:.0f} s. Not used or saved yet: "
                        "Use this model to draw with it, Save as… to keep it.")

    def used(self) -> None:
        self.in_use = True
        self._kept_message()

    def saved(self, path: str) -> None:
        self.saved_to = str(path)
        self._kept_message()

    def _kept_message(self) -> None:
        took = f"Taught in {self.report.seconds:.0f} s. " if self.report is not None else ""
        if self.in_use and self.saved_to:
            self.message = f"{took}In use on the Draw tab and saved to {self.saved_to}."
        elif self.in_use:
            self.message = f"{took}In use on the Draw tab, not saved yet: Save as… to keep it."
        else:
            self.message = (f"{took}Saved to {self.saved_to}; not in use: Use this model to "
                            "draw with it.")

    def ended(self, outcome: str, message: str = "") -> None:
        """The worker is gone (after finished, or a stop, a failure, an error)."""
        self.phase = IDLE
        if self.outcome is None:
            self.outcome = outcome
            self.message = message or {"stopped": "Stopped: the model is unchanged.",
                                       "failed": "Teaching failed."}.get(outcome, "")

    def progress(self) -> tuple[int, int, str]:
        if self.phase == LOADING:
            return 0, 0, "preparing…"
        if self.steps <= 0:
            return 0, 1, ""
        return self.step, self.steps, f"step {self.step} of {self.steps}"

    def rows(self) -> list[tuple[str, str, str]]:
        """(what, before, after) rows of the result table; per digit where held out."""
        b, a = self.before, self.after
        if b is None:
            return []
        n = b.held_out_n
        rows = [(f"held-out samples ({n})" if n else "held-out samples (too few to hold any out)",
                 count(b.held_out_acc, n, interval=True),
                 count(a.held_out_acc if a is not None else None, n, interval=True))]
        if self.report is not None:
            for d in range(10):
                k = self.report.held_out_counts[d]
                if k:
                    rows.append((f"    digit {d}", count(b.held_out_per_digit[d], k),
                                 count(a.held_out_per_digit[d] if a is not None else None, k)))
        rows.append((f"MNIST test ({b.mnist_n:,})" if b.mnist_n else
                     "MNIST test (not found: forgetting not measured)",
                     pct(b.mnist_acc), pct(a.mnist_acc if a is not None else None)))
        return rows
