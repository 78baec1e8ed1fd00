"""The Draw tab's state machine, without Qt or torch: what the tab shows and when it predicts.

* loading → ready: the window opens before torch is imported; until the first model is ready
  (the numpy copy of the shipped one, a moment after the first paint; else torch's) the tab
  says "loading model…" and strokes only mark a prediction as wanted.
* coalescing: every canvas change asks for a prediction; at most one is pending and it always
  reads the newest canvas (``request`` says whether to schedule one, ``take`` whether to run it).
* labels: one format for a model's name, where it came from and its accuracy, and one
  percentage format everywhere ("99.73 %").
* warming: a model's first forward pass runs in a worker; until it is done predictions wait
  (``begin_warmup``) and the one wanted meanwhile runs when it ends (``warmed``).
* the live entry: "being trained" while a run feeds it, "trained here" once the run ended.
"""

from __future__ import annotations

LOADING, READY = "loading", "ready"
SHIPPED_ORDER = ("digitnet", "lenet", "dense")
LIVE_KEY = "live"
LOADING_TEXT = "loading model…"

_SOURCES = {"shipped": "shipped", "untrained": "untrained, random weights", "file": "file",
            "trained": "trained here", "live": "being trained"}


def percent(fraction: float | None, digits: int = 2) -> str:
    """The one percentage format: ``percent(0.9973) == "99.73 %"``; None → "n/a"."""
    if fraction is None:
        return "n/a"
    return f"{100 * float(fraction):.{digits}f} %"


def entry_label(name: str, source: str, acc: float | None = None) -> str:
    """What the model picker shows: ``digitnet · shipped · 99.73 %``.

    A name that already carries its source in brackets ("digitnet (shipped)") is trimmed,
    so no label reads "(digitnet (shipped))".
    """
    name = str(name).strip()
    if name.endswith(")") and " (" in name:
        name = name[: name.index(" (")]
    parts = [name, _SOURCES.get(source, source)]
    if acc is not None:
        parts.append(percent(acc))
    return " · ".join(parts)


def live_label(arch: str, epoch: int, acc: float | None, running: bool) -> str:
    if running:
        return entry_label(f"{arch} epoch {epoch}", "live", acc)
    return entry_label(f"{arch} epoch {epoch}", "trained", acc)


class DrawState:
    def __init__(self) -> None:
        self.phase = LOADING
        self.pending = False  # a prediction was asked for and has not run yet
        self.live_running = False
        self.warming = False  # the model drawn with is being warmed up in a worker

    @property
    def ready(self) -> bool:
        return self.phase == READY

    def request(self) -> bool:
        """The canvas changed. True: schedule a prediction (none is pending yet)."""
        schedule = not self.pending and self.ready
        self.pending = True
        return schedule

    def take(self) -> bool:
        """The scheduled moment came (or a model changed). True: predict now."""
        if not self.ready or self.warming:
            return False
        self.pending = False
        return True

    def begin_warmup(self) -> None:
        """The model drawn with is warmed up first; it reads the drawing once that is done."""
        self.warming = True
        self.pending = True

    def warmed(self) -> bool:
        """The model drawn with is warm. True: predict now (a prediction is wanted)."""
        self.warming = False
        return self.pending and self.ready

    def model_ready(self) -> bool:
        """The first model is loaded. True: a stroke drawn meanwhile still needs its prediction."""
        was_loading = self.phase == LOADING
        self.phase = READY
        return was_loading and self.pending

    def status_text(self, canvas_empty: bool) -> str | None:
        """What the prediction area says instead of an answer (None: show the answer)."""
        if not self.ready:
            return LOADING_TEXT
        return "Draw a digit" if canvas_empty else None
