"""Running a plain generator in a QThread and turning what it yields into signals.

Modelled on superqt's ``GeneratorWorker``, but with a QObject moved to a QThread (not a
QRunnable in the global pool) so that every run can be stopped and joined by its owner:

* the work is any generator factory ``factory(control) -> Iterator``; the factory is called
  in the worker thread, so even its setup (loading MNIST) never blocks the GUI;
* every yielded item becomes ONE ``Signal(object)`` emission, in order;
* an exception in the generator becomes ``errored`` (the app never dies of it);
* stop and pause are flags in a :class:`~digitpad.core.learning.control.TrainControl` that the
  generator checks (the training loop does so between batches); the worker also honours
  pause between items, so generators that know nothing of the flags can be paused too;
* :meth:`WorkerHandle.shutdown` sets the stop flag, closes the generator at its next yield,
  then ``quit()`` + ``wait()`` on the thread.

On top of it, for work that follows the person's input (the Inside panel, warming a model up):
:class:`Latest` runs one request at a time and keeps at most the newest one waiting, so a fast
stroke never queues work; and :class:`SaveJob` writes a file in a worker, so a save that
waits for another writer's lock never holds the GUI thread (the window keeps painting and
says "saving…").

The worker never touches widgets. The handle lives in the GUI thread and re-emits the
worker's signals there (queued), so anything connected to the handle runs in the GUI thread,
even plain lambdas.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from contextlib import contextmanager
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

# torch-free: the loader that imports torch is itself a worker made before torch is loaded
from digitpad.core.learning.control import TrainControl

log = logging.getLogger(__name__)

GeneratorFactory = Callable[[TrainControl], Iterator[Any]]


class GeneratorWorker(QObject):
    """Iterates a generator in whatever thread it lives in; emits, never touches widgets."""

    yielded = Signal(object)
    errored = Signal(object)  # the exception
    finished = Signal()  # always the last signal, after the generator ended for any reason

    def __init__(self, factory: GeneratorFactory, control: TrainControl) -> None:
        super().__init__()
        self._factory = factory
        self.control = control
        self._abort = threading.Event()

    def abort(self) -> None:
        """Drop the rest of the work: the generator is closed at its next yield."""
        self._abort.set()
        self.control.stop()

    @Slot()
    def run(self) -> None:
        gen = None
        try:
            gen = self._factory(self.control)
            while not self._abort.is_set():
                # A generator that ignores the flags still pauses here, between items;
                # a stop wakes the wait so the generator can say how it ended.
                self.control.wait_while_paused()
                if self._abort.is_set():
                    break
                try:
                    item = next(gen)
                except StopIteration:
                    break
                if self._abort.is_set():
                    break
                self.yielded.emit(item)
        except Exception as exc:  # anything the work raises ends as a signal, not a crash
            log.debug("worker generator raised", exc_info=True)
            self.errored.emit(exc)
        finally:
            if gen is not None and hasattr(gen, "close"):
                try:
                    gen.close()
                except Exception:
                    log.debug("closing the generator raised", exc_info=True)
            self.finished.emit()


class WorkerHandle(QObject):
    """Owns one QThread + GeneratorWorker; its signals arrive in the GUI thread.

    Keep a reference to the handle until ``finished``: it holds the thread, and a QThread
    destroyed while running takes the process with it.
    """

    yielded = Signal(object)
    errored = Signal(object)
    finished = Signal()

    def __init__(self, factory: GeneratorFactory, control: TrainControl | None = None,
                 parent: QObject | None = None, name: str = "digitpad-worker") -> None:
        super().__init__(parent)
        self.control = control if control is not None else TrainControl()
        self._thread: QThread | None = QThread()
        self._thread.setObjectName(name)
        self._worker: GeneratorWorker | None = GeneratorWorker(factory, self.control)
        self._worker.moveToThread(self._thread)
        self._done = False
        self._muted = False  # retired: the owner moved on, items are dropped
        queued = Qt.ConnectionType.QueuedConnection
        self._worker.yielded.connect(self._relay_yielded, queued)
        self._worker.errored.connect(self._relay_errored, queued)
        # quit() is thread-safe: ask the thread's event loop to end as soon as run() returns
        self._worker.finished.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.started.connect(self._worker.run)
        self._thread.finished.connect(self._on_thread_finished, queued)

    def start(self) -> "WorkerHandle":
        assert self._thread is not None, "a WorkerHandle runs once"
        self._thread.start()
        return self

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    @property
    def done(self) -> bool:
        """True once ``finished`` was emitted (the thread is joined)."""
        return self._done

    def thread_object(self) -> QThread | None:
        return self._thread

    def report(self, item: object) -> None:
        """Emit ``item`` as if yielded; for callbacks of blocking calls inside the work.

        Safe from the worker thread (that is its point): it is delivered queued, in order.
        """
        worker = self._worker
        if worker is not None:
            worker.yielded.emit(item)

    def stop(self) -> None:
        """Ask the generator to end itself (training yields Stopped with its best epoch)."""
        self.control.stop()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    @property
    def paused(self) -> bool:
        return self.control.paused

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Abort, quit and join. True when the thread ended within ``timeout_ms``.

        If the work is stuck in one long step (an evaluation pass, a network timeout) the
        wait goes on rather than destroying a running QThread, which would crash.
        """
        if self._worker is not None:
            self._worker.abort()
        thread = self._thread
        if thread is None:
            return True
        thread.quit()
        joined = thread.wait(max(0, int(timeout_ms)))
        if not joined:
            if _bounded[0]:
                log.warning("worker thread %s still busy after %d ms; left to the process's "
                            "exit", thread.objectName(), timeout_ms)
                self.retire()
                return False
            log.warning("worker thread %s still busy after %d ms; waiting for it",
                        thread.objectName(), timeout_ms)
            thread.wait()
        self._finish()
        return joined

    def retire(self) -> None:
        """Abort and stop reporting, without waiting: the GUI thread moves on at once.

        The handle keeps itself (and so its QThread) alive until the thread has ended, so
        nothing running is destroyed; ``finished`` still comes then.
        """
        if self._worker is not None:
            self._worker.abort()
        self._muted = True
        thread = self._thread
        if thread is None or self._done:
            return
        thread.quit()
        _retired.add(self)
        self.finished.connect(lambda: _retired.discard(self))

    # After a shutdown the owner has moved on: items still queued for it are dropped.
    @Slot(object)
    def _relay_yielded(self, item: object) -> None:
        if not self._done and not self._muted:
            self.yielded.emit(item)

    @Slot(object)
    def _relay_errored(self, exc: object) -> None:
        if not self._done and not self._muted:
            self.errored.emit(exc)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        thread = self._thread
        if thread is not None:
            thread.wait()
        self._done = True
        self._worker = None  # its thread has ended: dropping the wrapper deletes it safely
        self._thread = None
        self.finished.emit()


_retired: set[WorkerHandle] = set()  # retired handles whose threads still run: kept alive
_bounded = [False]  # inside bounded_joins(): a join that times out leaves the thread running


@contextmanager
def bounded_joins():
    """While the window closes: every ``shutdown`` waits at most its own timeout.

    A thread still busy after it (one long torch step) is retired, not waited for: the
    process ends right after the close (``main.leave``), which ends the thread with it.
    """
    _bounded[0] = True
    try:
        yield
    finally:
        _bounded[0] = False


def start_worker(factory: GeneratorFactory, control: TrainControl | None = None,
                 parent: QObject | None = None, name: str = "digitpad-worker") -> WorkerHandle:
    """Create a handle, start its thread and return it."""
    return WorkerHandle(factory, control, parent, name).start()


class Latest(QObject):
    """One request running, at most the newest one waiting; older waiting requests are dropped.

    ``submit(factory, on_item, on_error)``: ``factory(control)`` is a generator run in its own
    worker thread; each item it yields reaches ``on_item`` in the GUI thread. A request
    submitted while another runs replaces whatever waits. ``idle`` is emitted when nothing
    runs or waits any more.
    """

    idle = Signal()

    def __init__(self, parent: QObject | None = None, name: str = "digitpad-latest") -> None:
        super().__init__(parent)
        self._name = name
        self._handle: WorkerHandle | None = None
        self._spent: WorkerHandle | None = None  # the last finished handle (see _done)
        self._waiting: tuple | None = None

    @property
    def busy(self) -> bool:
        return self._handle is not None

    @property
    def waiting(self) -> bool:
        return self._waiting is not None

    def submit(self, factory: GeneratorFactory, on_item: Callable[[Any], None],
               on_error: Callable[[Exception], None] | None = None) -> None:
        request = (factory, on_item, on_error)
        if self._handle is not None:
            self._waiting = request  # the newest goes next; nothing queues up
            return
        self._start(request)

    def drop_waiting(self) -> None:
        self._waiting = None

    def _start(self, request: tuple) -> None:
        factory, on_item, on_error = request
        handle = WorkerHandle(factory, name=self._name)
        handle.yielded.connect(on_item)
        if on_error is not None:
            handle.errored.connect(on_error)
        else:
            handle.errored.connect(lambda exc: log.warning("%s failed: %r", self._name, exc))
        handle.finished.connect(self._done)
        self._handle = handle
        handle.start()

    def _done(self) -> None:
        # the handle is still emitting its finished signal: it is kept until the next one has
        # finished (deleting it now, or with deleteLater, crashed PySide6)
        self._spent, self._handle = self._handle, None
        request, self._waiting = self._waiting, None
        if request is not None:
            self._start(request)
        else:
            self.idle.emit()

    def shutdown(self, timeout_ms: int = 2000) -> None:
        """Drop what waits, abort and join what runs (its remaining items are dropped)."""
        self._waiting = None
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.finished.disconnect(self._done)
            handle.shutdown(timeout_ms)


@dataclass(frozen=True)
class Saved:
    """How a :class:`SaveJob` ended: the path written, or the error's one line."""

    path: Path | None
    error: str | None = None
    needs_yes: bool = False  # refused only until the person confirms replacing the file

    @property
    def ok(self) -> bool:
        return self.error is None and self.path is not None


class SaveJob(QObject):
    """``write()`` (returns the path written) in a worker thread; ``done`` gives a :class:`Saved`.

    ``write`` may wait for another writer's lock or a slow disk: the GUI thread never does.
    Expected failures (``DigitpadError``: a busy or unwritable output) and ``OSError`` become
    ``Saved.error``; anything else is logged with its traceback and reported the same way.
    """

    done = Signal(object)  # Saved

    def __init__(self, write: Callable[[], Any], parent: QObject | None = None,
                 name: str = "digitpad-save") -> None:
        super().__init__(parent)
        self.result: Saved | None = None
        self._closed = False  # shut down: its owner is going away and hears nothing more

        def work(control):
            yield Path(write())

        self._handle = WorkerHandle(work, parent=self, name=name)
        self._handle.yielded.connect(lambda path: self._end(Saved(path)))
        self._handle.errored.connect(self._failed)
        self._handle.finished.connect(lambda: self._end(Saved(None, "the save was interrupted")))

    def start(self) -> "SaveJob":
        self._handle.start()
        return self

    @property
    def finished(self) -> bool:
        return self.result is not None

    def _failed(self, exc: object) -> None:
        from digitpad.core.io.files import DigitpadError
        from digitpad.core.io.outputs import NeedsConfirmation

        if not isinstance(exc, (DigitpadError, OSError)):
            log.error("saving failed unexpectedly: %r", exc)
        self._end(Saved(None, str(exc) or type(exc).__name__,
                        needs_yes=isinstance(exc, NeedsConfirmation)))

    def _end(self, saved: Saved) -> None:
        if self.result is None and not self._closed:
            self.result = saved
            self.done.emit(saved)

    def wait(self) -> Saved:
        """Wait for the result with the event loop running (the window keeps painting)."""
        from PySide6.QtCore import QEventLoop

        if self.result is None:
            loop = QEventLoop()
            self.done.connect(loop.quit)
            if self.result is None:
                loop.exec()
        return self.result  # type: ignore[return-value]

    def shutdown(self) -> None:
        """Join the thread; a write in progress is finished first (never cut off). Nothing is
        reported after this: the owner is closing."""
        self._closed = True
        thread = self._handle.thread_object()
        if thread is not None:
            thread.wait()  # not aborted: a save asked for is written even when closing at once
        self._handle.shutdown()


class Writes(QObject):
    """Small file writes (the user's samples) in a worker thread, in the order asked for.

    A sample kept then moved to another digit, or deleted then put back, reaches the disk in
    that order, since one thread runs them one after the other. ``submit(write, on_done,
    on_error)``: ``write()`` runs in the worker (a PNG's encoding and its fsyncs took 2-25 ms
    each on the GUI thread); its result or exception comes back in the GUI thread. The thread
    runs while there is work and ends when the queue is empty (no idle thread to join).
    ``shutdown`` lets every write asked for finish, never cut off.
    """

    def __init__(self, parent: QObject | None = None, name: str = "digitpad-writes") -> None:
        super().__init__(parent)
        self._name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._handle: WorkerHandle | None = None
        self._spent: WorkerHandle | None = None  # kept until the next one ends (see Latest)
        self._pending = 0
        self._closed = False

    @property
    def pending(self) -> int:
        """Writes asked for whose result has not come back yet."""
        return self._pending

    def submit(self, write: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[Exception], None] | None = None) -> None:
        if self._closed:  # the window is closing: nothing is lost, nothing reports
            write()
            return
        self._pending += 1
        self._queue.put((write, on_done, on_error))
        if self._handle is None:
            self._start()

    def _start(self) -> None:
        jobs = self._queue

        def work(_control):
            while True:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    return
                try:
                    yield job, job[0](), None
                except Exception as exc:  # one write failing never stops the ones after it
                    yield job, None, exc

        handle = WorkerHandle(work, parent=self, name=self._name)
        handle.yielded.connect(self._done)
        handle.finished.connect(self._ended)
        self._handle = handle
        handle.start()

    def _done(self, item) -> None:
        (_write, on_done, on_error), result, exc = item
        self._pending -= 1
        if self._closed:
            return
        if exc is None:
            if on_done is not None:
                on_done(result)
        elif on_error is not None:
            on_error(exc)
        else:
            log.warning("%s: a write failed: %r", self._name, exc)

    def _ended(self) -> None:
        self._spent, self._handle = self._handle, None
        if not self._closed and not self._queue.empty():
            self._start()  # submitted as the thread found the queue empty

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """Finish every write asked for (within ``timeout_ms`` when bounded; a write is
        never cut off), then end the thread. Nothing is reported after this. True when all
        were written in time."""
        self._closed = True
        deadline = time.monotonic() + max(0, timeout_ms) / 1000
        handle = self._handle
        if handle is not None:
            thread = handle.thread_object()
            if thread is not None:
                left = max(0, int((deadline - time.monotonic()) * 1000))
                if not thread.wait(left):
                    log.warning("%s: writes still running after %d ms", self._name, timeout_ms)
                    handle.retire()
                    return False
            handle.shutdown(0)
            self._handle = None
        while True:  # asked for as the thread ended: written here, it is a few ms
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return True
            try:
                job[0]()
            except Exception as exc:
                log.warning("%s: a write failed while closing: %r", self._name, exc)


class Saves(QObject):
    """The saves one widget started: each a :class:`SaveJob`; ``shutdown`` joins them all."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[SaveJob] = []

    def start(self, write: Callable[[], Any], on_done: Callable[[Saved], None]) -> SaveJob:
        job = SaveJob(write, parent=self)
        self._jobs.append(job)
        job.done.connect(lambda saved: self._ended(job, saved, on_done))
        return job.start()

    def _ended(self, job: SaveJob, saved: Saved, on_done: Callable[[Saved], None]) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        on_done(saved)

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def shutdown(self) -> None:
        """Join every save in flight: a write is finished, never cut off."""
        jobs, self._jobs = self._jobs, []
        for job in jobs:
            job.shutdown()
