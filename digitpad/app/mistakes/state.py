"""The Mistakes tab's state, without Qt: which model, how far the scoring is, what is selected.

The tab feeds it the worker's events (``core.insight.mistakes.Progress`` / ``MistakesReady``) and the
person's clicks; it answers with plain values: the status line, the heatmap's values, the
gallery of the selected cell. Tests drive it without a QApplication.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from digitpad.core.insight.mistakes import MistakesReady, Progress
from digitpad.core.reading.scoring import Scores

IDLE, COMPUTING, READY, FAILED = "idle", "computing", "ready", "failed"
GALLERY_LIMIT = 60  # thumbnails shown per cell (a diagonal cell holds ~1,000)


@dataclass(frozen=True)
class ModelRef:
    """What the tab analyses: enough to rebuild the model in a worker and name it."""

    label: str
    arch: str
    state: dict  # name -> CPU tensor (a private copy)
    path: str | None  # a model file (hashed for the cache), or None for in-memory weights
    generation: int = 0  # bumps for every new model, so a late result for an old one is dropped
    meta: dict | None = None  # the model's metadata: the builder reads its config (permute)
    predictor: object = None  # an ONNX model (no torch weights): scored through its own forward pass


@dataclass(frozen=True)
class GalleryItem:
    index: int  # in the test set
    true: int
    predicted: int
    confidence: float
    probs: np.ndarray

    def caption(self) -> str:
        # two lines: "#1901  87%" on one was cut to "#1901 8…" in the gallery's cell
        return f"#{self.index}\n{self.confidence * 100:.0f}%"

    def tooltip(self) -> str:
        top = np.argsort(-self.probs)[:3]
        return "  ".join(f"{d}: {self.probs[d] * 100:.1f}%" for d in top)


class MistakesState:
    def __init__(self) -> None:
        self.model: ModelRef | None = None
        self.phase = IDLE
        self.done = 0
        self.total = 0
        self.mistakes: Scores | None = None
        self.cached = False
        self.error: str | None = None
        self.selected: tuple[int, int] | None = None
        self._generation = 0

    def set_model(self, label: str, arch: str, state: dict, path: str | None,
                  meta: dict | None = None, predictor=None) -> ModelRef:
        self._generation += 1
        self.model = ModelRef(label, arch, state, path, self._generation, meta, predictor)
        self.phase, self.mistakes, self.error, self.selected = IDLE, None, None, None
        self.done = self.total = 0
        return self.model

    @property
    def stale(self) -> bool:
        """A model is set and has not been scored (nor is being scored)."""
        return self.model is not None and self.phase in (IDLE, FAILED)

    def begin(self) -> int:
        self.phase, self.error, self.done = COMPUTING, None, 0
        return self._generation

    def on_event(self, event, generation: int) -> bool:
        """Take one worker event; False when it belongs to a model no longer shown."""
        if generation != self._generation:
            return False
        if isinstance(event, Progress):
            self.done, self.total = event.done, event.total
        elif isinstance(event, MistakesReady):
            self.mistakes, self.cached, self.phase = event.mistakes, event.cached, READY
            self.done = self.total = event.mistakes.n
            c = event.mistakes.confusion.copy()
            np.fill_diagonal(c, 0)
            # open on the commonest confusion: the most interesting cell to look at first
            self.selected = tuple(int(v) for v in np.unravel_index(c.argmax(), c.shape)) if c.any() else (0, 0)
        return True

    def on_error(self, message: str, generation: int) -> None:
        if generation == self._generation:
            self.phase, self.error = FAILED, message

    def on_stopped(self, generation: int) -> None:
        if generation == self._generation and self.phase == COMPUTING:
            self.phase = IDLE

    # --- what to show -----------------------------------------------------------------------

    def status(self) -> str:
        if self.model is None:
            return "No model loaded."
        if self.phase == FAILED:
            return f"Could not score {self.model.label}: {self.error}"
        if self.phase == COMPUTING:
            return f"Scoring {self.model.label} on MNIST's test set… {self.done:,} of {self.total or 10000:,}"
        if self.phase == IDLE or self.mistakes is None:
            return f"{self.model.label}: not scored yet."
        m = self.mistakes
        wrong = int((m.labels != m.preds).sum())
        src = " (from the cache)" if self.cached else ""
        return (f"{self.model.label}: accuracy {m.accuracy * 100:.2f}% on {m.n:,} test images, "
                f"{wrong:,} wrong{src}. Click a cell to see its images.")

    def per_class_text(self) -> str:
        if self.mistakes is None:
            return ""
        return "   ".join(f"{d}: {'n/a' if math.isnan(a) else f'{a * 100:.1f}%'}"
                          for d, a in enumerate(self.mistakes.per_class))

    def heat(self) -> np.ndarray:
        """(10, 10) display values in [0, 1]: row share on a log scale, so rare mistakes show."""
        if self.mistakes is None:
            return np.zeros((10, 10), dtype=np.float32)
        conf = self.mistakes.confusion
        share = conf / np.maximum(conf.sum(1, keepdims=True), 1)
        return (np.log10(1 + 999 * share) / 3).astype(np.float32)

    def select(self, true: int, pred: int) -> bool:
        if self.mistakes is None or not (0 <= true < 10 and 0 <= pred < 10):
            return False
        self.selected = (true, pred)
        return True

    def move(self, rows: int, cols: int) -> bool:
        """The arrow keys: the selected cell moves, stopping at the matrix's edges."""
        t, p = self.selected if self.selected is not None else (0, 0)
        return self.select(min(max(t + rows, 0), 9), min(max(p + cols, 0), 9))

    def gallery(self, limit: int = GALLERY_LIMIT) -> list[GalleryItem]:
        if self.mistakes is None or self.selected is None:
            return []
        m = self.mistakes
        t, p = self.selected
        return [GalleryItem(int(i), int(m.labels[i]), int(m.preds[i]), float(m.probs[i, p]), m.probs[i])
                for i in m.cell(t, p)[:limit]]

    def gallery_title(self) -> str:
        if self.mistakes is None or self.selected is None:
            return ""
        t, p = self.selected
        n = int(self.mistakes.confusion[t, p])
        what = "read correctly" if t == p else f"read as {p}"
        more = f"; the {GALLERY_LIMIT} surest shown" if n > GALLERY_LIMIT else ""
        return f"True {t}, {what}: {n:,} test image{'s' if n != 1 else ''}{more}, surest first"
