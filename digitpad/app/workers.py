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

The worker never touches widgets. The handle lives in the GUI thread and re-emits the
worker's signals there (queued), so anything connected to the handle runs in the GUI thread,
even plain lambdas.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from digitpad.core.learning.control import TrainControl  # plain Python: no torch before the window

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

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

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
        self.control = control or TrainControl()
        self._thread: QThread | None = QThread()
        self._thread.setObjectName(name)
        self._worker: GeneratorWorker | None = GeneratorWorker(factory, self.control)
        self._worker.moveToThread(self._thread)
        self._done = False
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
            log.warning("worker thread %s still busy after %d ms; waiting for it",
                        thread.objectName(), timeout_ms)
            thread.wait()
        self._finish()
        return joined

    # After a shutdown the owner has moved on: items still queued for it are dropped.
    @Slot(object)
    def _relay_yielded(self, item: object) -> None:
        if not self._done:
            self.yielded.emit(item)

    @Slot(object)
    def _relay_errored(self, exc: object) -> None:
        if not self._done:
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


def start_worker(factory: GeneratorFactory, control: TrainControl | None = None,
                 parent: QObject | None = None, name: str = "digitpad-worker") -> WorkerHandle:
    """Create a handle, start its thread and return it."""
    return WorkerHandle(factory, control, parent, name).start()
