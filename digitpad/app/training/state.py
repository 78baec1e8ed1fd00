"""The Training tab's state machine, without Qt: what phase a run is in and what to show.

The tab feeds it the generator's events and the person's clicks; it answers with plain values
(the progress bar's value, maximum and text, which controls are enabled, what closing the
window must ask). Tests drive it directly, without a QApplication. It keeps no history and
builds no checkpoints: the run's numbers stay with ``core.learning.session``. It keeps
no clock of its own either: durations and the ETA are read from the run's
:class:`~digitpad.core.learning.control.RunClock`, the one the worker's control pauses.

    idle ──begin──▶ loading ──Started──▶ running ⇄ paused
                       │                    │ stop
                       │                    ▼
                       └──────────────▶ stopping ──worker ended──▶ idle
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from digitpad.core.learning.control import RunClock

IDLE, LOADING, RUNNING, PAUSED, STOPPING = "idle", "loading", "running", "paused", "stopping"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m:02d} min"
    if m:
        return f"{m} min {s:02d} s"
    return f"{s} s"


@dataclass(frozen=True)
class Controls:
    """Which of the tab's controls are enabled (and the pause button's text)."""
    start: bool
    pause: bool
    stop: bool
    pause_text: str
    form: bool  # the setup form (architecture, recipe, …)
    keep: bool  # Use this model / Save as…


@dataclass(frozen=True)
class Progress:
    value: int
    maximum: int  # 0: busy indicator
    text: str


class TrainingState:
    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._now = clock  # for a run whose clock is not handed in (tests)
        self.clock = RunClock(clock)  # the current run's: begin() replaces it
        self.phase = IDLE
        self.outcome: str | None = None  # finished | stopped | failed, once a run ended
        self.epochs = 0  # the run's epoch count
        self.batches_per_epoch = 0
        self.step = 0
        self.epoch = 0  # the epoch the last batch belonged to
        self.batch = 0
        self.epochs_done = 0
        self.has_result = False  # a model from a finished or stopped run is available
        self.unsaved = False

    # --- the run's life ----------------------------------------------------------------

    @property
    def running(self) -> bool:
        """A worker exists (loading, training, paused or stopping)."""
        return self.phase != IDLE

    @property
    def paused(self) -> bool:
        return self.phase == PAUSED

    @property
    def trained_any(self) -> bool:
        """The run got past loading (Started arrived)."""
        return self.clock.started

    def begin(self, epochs: int, clock: RunClock | None = None) -> None:
        """A new run; ``clock`` is its control's (the worker pauses it), else a new one."""
        if self.running:
            raise RuntimeError("A training run is already in progress.")
        self.phase = LOADING
        self.outcome = None
        self.epochs = int(epochs)
        self.batches_per_epoch = self.step = self.epoch = self.batch = self.epochs_done = 0
        self.clock = clock or RunClock(self._now)

    def started(self, epochs: int, batches_per_epoch: int) -> None:
        self.epochs = int(epochs)
        self.batches_per_epoch = int(batches_per_epoch)
        self.epoch = 1
        self.clock.start()  # the loop started it already; a pause while loading starts now
        if self.phase == LOADING:
            self.phase = RUNNING

    def batch_done(self, epoch: int, batch: int, step: int) -> None:
        self.epoch, self.batch, self.step = int(epoch), int(batch), int(step)

    def epoch_done(self, epoch: int) -> None:
        self.epochs_done = max(self.epochs_done, int(epoch))

    def pause(self) -> bool:
        if self.phase not in (LOADING, RUNNING):
            return False
        self.clock.pause()
        self.phase = PAUSED
        return True

    def resume(self) -> bool:
        if self.phase != PAUSED:
            return False
        self.clock.resume()
        self.phase = RUNNING if self.clock.started else LOADING
        return True

    def stop(self) -> bool:
        if self.phase not in (LOADING, RUNNING, PAUSED):
            return False
        self.clock.resume()
        self.phase = STOPPING
        return True

    def ended(self, outcome: str, epochs_done: int | None = None, has_model: bool = False) -> None:
        """The generator's last event: finished, stopped or failed."""
        self.clock.end()
        self.outcome = outcome
        if epochs_done is not None:
            self.epochs_done = int(epochs_done)
        if has_model:
            self.has_result = True
            self.unsaved = True

    def worker_finished(self) -> None:
        """The worker thread was joined (after the last event, or a failure while loading)."""
        self.clock.end()
        if self.outcome is None:
            self.outcome = "stopped" if self.phase == STOPPING else "failed"
        self.phase = IDLE

    def saved(self) -> None:
        self.unsaved = False

    # --- what to show ------------------------------------------------------------------

    def active_seconds(self) -> float:
        """Training time: from Started to the end, pauses excluded (0 before Started)."""
        return self.clock.active_seconds()

    @property
    def total_steps(self) -> int:
        return max(1, self.epochs * self.batches_per_epoch)

    def eta_seconds(self) -> float | None:
        return self.clock.eta_seconds(self.step, self.total_steps)

    def progress(self) -> Progress:
        if self.phase == LOADING or (self.running and not self.clock.started):
            return Progress(0, 0, "Loading MNIST…")
        if self.outcome is None and not self.running:
            return Progress(0, 1, "Not started")
        if not self.clock.started:  # ended before Started: failed while loading
            return Progress(0, 1, "Failed before training started" if self.outcome == "failed"
                            else "Stopped before training started")
        total = self.total_steps
        pct = f"{100 * min(self.step, total) / total:.0f} %"
        if self.outcome == "finished":
            return Progress(total, total, f"Finished · {self.epochs_done} of {self.epochs} epochs")
        if self.outcome == "stopped":
            return Progress(min(self.step, total), total,
                            f"Stopped at {pct} · {self.epochs_done} of {self.epochs} epochs completed")
        if self.outcome == "failed":
            return Progress(min(self.step, total), total, f"Failed in epoch {self.epoch} of {self.epochs}")
        text = f"Epoch {self.epoch}/{self.epochs} · batch {self.batch}/{self.batches_per_epoch} · {pct}"
        if self.phase == PAUSED:
            text += " · paused"
        elif self.phase == STOPPING:
            text += " · stopping"
        return Progress(min(self.step, total), total, text)

    def summary(self) -> str:
        """After the run: the one duration every label uses."""
        return f"Ran {format_duration(self.active_seconds())} ({self.step:,} batches)"

    def controls(self) -> Controls:
        running = self.running
        return Controls(start=not running,
                        pause=self.phase in (LOADING, RUNNING, PAUSED),
                        stop=self.phase in (LOADING, RUNNING, PAUSED),
                        pause_text="Resume" if self.phase == PAUSED else "Pause",
                        form=not running,
                        keep=self.has_result and not running)

    def close_question(self) -> str | None:
        """What closing the window must ask: "running", "unsaved" or nothing."""
        if self.running and self.phase != STOPPING:
            return "running"
        if self.has_result and self.unsaved:
            return "unsaved"
        return None
