"""Number mode's state, without Qt: which mode the Draw tab is in, the current reading, and
which of its digits the maps show.

* mode: "digit" (today's tab, one digit on the square canvas) or "number" (the wide strip,
  read by ``core.reading.number.read_number``).
* selection: a new reading selects the digit drawn last (the one under the newest stroke's
  start, else the nearest to it, else the rightmost); a click on a box or ←/→ changes it and
  it stays on that digit while later strokes leave the digit count alone.
* texts: the big number line, each box's caption, and the empty / not-a-number states.
"""

from __future__ import annotations

from .state import percent

DIGIT, NUMBER = "digit", "number"
EMPTY_TEXT = "Write a number"


def _contains(box, x: float, y: float, pad: float = 0.0) -> bool:
    x0, y0, x1, y1 = box
    return x0 - pad <= x < x1 + pad and y0 - pad <= y < y1 + pad


def _distance(box, x: float, y: float) -> float:
    x0, y0, x1, y1 = box
    dx = max(x0 - x, 0.0, x - x1)
    dy = max(y0 - y, 0.0, y - y1)
    return (dx * dx + dy * dy) ** 0.5


class NumberState:
    def __init__(self) -> None:
        self.mode = DIGIT
        self.reading = None  # core.reading.number.NumberReading, or None before the first
        self.selected: int | None = None
        self._picked = False  # the person chose a digit (click or arrow) for this drawing

    @property
    def active(self) -> bool:
        return self.mode == NUMBER

    def set_mode(self, mode: str) -> bool:
        """True when the mode changed."""
        if mode not in (DIGIT, NUMBER):
            raise ValueError(f"unknown mode {mode!r}")
        changed = mode != self.mode
        self.mode = mode
        return changed

    @property
    def digits(self) -> list:
        return list(self.reading.digits) if self.reading is not None else []

    def set_reading(self, reading, last_at: tuple[float, float] | None = None) -> None:
        """A new reading of the strip; ``last_at`` is where the newest stroke began."""
        before = len(self.digits)
        self.reading = reading
        n = len(self.digits)
        if n == 0:
            self.selected, self._picked = None, False
            return
        if self._picked and self.selected is not None and n == before and self.selected < n:
            return  # the person's choice stays while the digits stay the same ones
        self._picked = False
        self.selected = self._drawn_last(last_at)

    def _drawn_last(self, at) -> int:
        ds = self.digits
        if at is None:
            return len(ds) - 1
        x, y = at
        return min(range(len(ds)), key=lambda i: _distance(ds[i].box, x, y))

    def select(self, index: int) -> bool:
        if not 0 <= index < len(self.digits):
            return False
        self.selected, self._picked = index, True
        return True

    def step(self, delta: int) -> bool:
        """←/→: the previous or next digit (stops at the ends)."""
        if self.selected is None:
            return False
        return self.select(max(0, min(len(self.digits) - 1, self.selected + delta)))

    def hit(self, x: float, y: float, pad: float = 4.0) -> int | None:
        """The digit whose box holds image point (x, y), else None."""
        for i, d in enumerate(self.digits):
            if _contains(d.box, x, y, pad):
                return i
        return None

    def selected_digit(self):
        return self.digits[self.selected] if self.selected is not None else None

    # --- texts -----------------------------------------------------------------------------

    def number_text(self) -> str:
        """The big line: "2026", "2 0 or 6? 2 6", "Not a number" or the empty prompt."""
        r = self.reading
        if r is None or r.status == "empty":
            return EMPTY_TEXT
        if r.status != "number":
            return "Not a number"  # why goes beside it (confidence_text): the big line stays short
        if not r.digits:
            return EMPTY_TEXT
        if r.unsure:
            return " ".join(d.label for d in r.digits)
        return r.number

    def confidence_text(self) -> str:
        r = self.reading
        if r is None or r.status == "empty":
            return ""
        if r.status != "number":
            return r.reason
        return f"{percent(r.confidence, 1)} sure" + (" · unsure digits greyed" if r.unsure else "")

    @staticmethod
    def caption(digit) -> str:
        """Above a box: "7 · 98 %" or "0 or 1? · 48 %"."""
        return f"{digit.label} · {100 * digit.confidence:.0f} %"
