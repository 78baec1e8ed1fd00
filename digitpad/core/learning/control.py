"""The stop / pause flags a running generator checks: plain Python, no torch.

Torch-free so that the app can make a worker (``app.workers``) before torch is imported: the
loader that imports torch runs in one.
"""

from __future__ import annotations

import threading
import time


class TrainControl:
    """Thread-safe stop / pause flags the generator checks between batches."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._lock = threading.Lock()
        self._paused_since: float | None = None
        self._paused_total = 0.0

    def stop(self) -> None:
        self._stop.set()
        self._end_pause()
        self._running.set()  # a paused run must wake up to notice the stop

    def pause(self) -> None:
        with self._lock:
            if self._paused_since is None:
                self._paused_since = time.perf_counter()
        self._running.clear()

    def resume(self) -> None:
        self._end_pause()
        self._running.set()

    def _end_pause(self) -> None:
        with self._lock:
            if self._paused_since is not None:
                self._paused_total += time.perf_counter() - self._paused_since
                self._paused_since = None

    def paused_seconds(self) -> float:
        """Time spent paused so far (the current pause included), for ETAs and durations."""
        with self._lock:
            extra = 0.0 if self._paused_since is None else time.perf_counter() - self._paused_since
            return self._paused_total + extra

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> None:
        while not self._running.wait(0.1):
            pass
