"""Stop, pause and the one clock of a run, without torch.

A :class:`TrainControl` is shared by whoever drives a run (the app's buttons, the CLI's Ctrl+C)
and the step loop, which checks its flags between batches. Its :class:`RunClock` is the only
record of a run's time: the session's durations and ETA and the Training tab's labels all read
it, so pauses are subtracted once, the same way everywhere. Torch-free so that the app can make
a worker (``app.workers``) before torch is imported: the loader that imports torch runs in one.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class RunClock:
    """Training time of one run: from :meth:`start` (the loop's ``Started``, not while data
    loads) to :meth:`end`, pauses excluded. Thread-safe; every call is idempotent."""

    def __init__(self, now: Callable[[], float] = time.perf_counter) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._t0: float | None = None
        self._t_end: float | None = None
        self._paused_since: float | None = None
        self._paused_total = 0.0  # before start: pauses while loading, dropped at start

    @property
    def started(self) -> bool:
        return self._t0 is not None

    def start(self) -> None:
        with self._lock:
            if self._t0 is not None:
                return
            self._t0 = self._now()
            # time paused while loading is not training time: a pause still on starts now
            self._paused_total = 0.0
            if self._paused_since is not None:
                self._paused_since = self._t0

    def pause(self) -> None:
        with self._lock:
            if self._paused_since is None and self._t_end is None:
                self._paused_since = self._now()

    def resume(self) -> None:
        with self._lock:
            self._end_pause(self._now())

    def end(self) -> None:
        with self._lock:
            if self._t_end is None:
                self._t_end = self._now()
                self._end_pause(self._t_end)

    def _end_pause(self, now: float) -> None:
        if self._paused_since is not None:
            self._paused_total += now - self._paused_since
            self._paused_since = None

    def paused_seconds(self) -> float:
        """Time spent paused so far (the current pause included)."""
        with self._lock:
            extra = 0.0 if self._paused_since is None else self._now() - self._paused_since
            return self._paused_total + extra

    def active_seconds(self) -> float:
        """Training time from start to the end (or now), pauses excluded; 0 before start."""
        with self._lock:
            if self._t0 is None:
                return 0.0
            end = self._t_end if self._t_end is not None else self._now()
            paused = self._paused_total
            if self._paused_since is not None:
                paused += end - self._paused_since
            return max(0.0, end - self._t0 - paused)

    def eta_seconds(self, step: int, total_steps: int) -> float | None:
        """Seconds left at the pace so far (None before the first step or the start)."""
        if step <= 0 or not self.started:
            return None
        return self.active_seconds() / step * max(0, total_steps - step)


class TrainControl:
    """Thread-safe stop / pause flags the step loop checks between batches, and the run's
    clock (pause time is counted there, nowhere else)."""

    def __init__(self, clock: RunClock | None = None) -> None:
        self.clock = clock or RunClock()
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._room_until = 0.0  # time.monotonic() until which the person is drawing

    def stop(self) -> None:
        self._stop.set()
        self.clock.resume()
        self._running.set()  # a paused run must wake up to notice the stop

    def pause(self) -> None:
        self.clock.pause()
        self._running.clear()

    def resume(self) -> None:
        self.clock.resume()
        self._running.set()

    def paused_seconds(self) -> float:
        return self.clock.paused_seconds()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def make_room(self, seconds: float = 1.0) -> None:
        """The person is drawing: for ``seconds`` the step loop trains with one torch thread
        fewer, leaving a core to the window (safe from any thread; called per stroke move)."""
        self._room_until = time.monotonic() + seconds

    @property
    def room_wanted(self) -> bool:
        return time.monotonic() < self._room_until

    def wait_while_paused(self) -> None:
        while not self._running.wait(0.1):
            pass
