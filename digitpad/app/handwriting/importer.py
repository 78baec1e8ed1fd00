"""Importing samples in a worker: a progress bar with Cancel under the sample grid.

A zip of 49,000 drawings took 16 s of decoding and writing on the GUI thread; here the store's
``import_steps`` runs in a :class:`~digitpad.app.workers.WorkerHandle` and the window keeps
drawing. Cancel stops between two files: what was added stays, and the summary says so.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from digitpad.core.data.samples import ImportProgress, ImportReport, SampleStore

from ..workers import WorkerHandle

log = logging.getLogger(__name__)


class ImportPanel(QWidget):
    """Hidden until an import runs. ``done(report, cancelled)`` or ``failed(exc)`` ends it."""

    done = Signal(object, bool)
    failed = Signal(object)

    def __init__(self, store: SampleStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.bar = QProgressBar()
        self.bar.setFormat("importing %v of %m")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the import; the samples already imported stay")
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        self._worker: WorkerHandle | None = None
        self._report = ImportReport()
        self.loaded = None  # the store read back in the worker once the import is done
        self._cancelled = False
        self._error: BaseException | None = None
        self.hide()

    def is_running(self) -> bool:
        return self._worker is not None

    def start(self, source: str, read_back=None) -> bool:
        """``read_back()`` runs in the worker after the import: the store read for the grid
        (decoding every sample on the GUI thread stalled it for seconds after a big import);
        ``loaded`` then holds what it returned. By default ``store.load_all()``."""
        if self._worker is not None:
            return False
        self._report, self._cancelled, self._error = ImportReport(), False, None
        self.bar.setRange(0, 0)  # busy until the listing is done
        self.show()
        self.loaded = None
        read_back = read_back or self.store.load_all
        self._worker = WorkerHandle(lambda _control: self._work(source, read_back), parent=self,
                                    name="digitpad-import")
        self._worker.yielded.connect(self._progress)
        self._worker.errored.connect(self._errored)
        self._worker.finished.connect(self._finished)
        self._worker.start()
        return True

    def _work(self, source: str, read_back):
        yield from self.store.import_steps(source)
        yield _ReadBack(read_back())

    def cancel(self) -> None:
        """Stop between two files; the summary reports what was added until then."""
        if self._worker is not None:
            self._cancelled = True
            self._worker.shutdown(5000)  # one file at most: decoding plus one atomic write

    def _progress(self, step) -> None:
        if isinstance(step, _ReadBack):
            self.loaded = step.value  # the store as it is now, read in the worker
            return
        self._report = step.report
        self.bar.setRange(0, max(1, step.total))
        self.bar.setValue(step.done)

    def _errored(self, exc) -> None:
        self._error = exc

    def _finished(self) -> None:
        self._worker = None
        self.hide()
        if self._error is not None:
            log.warning("import failed: %s", self._error)
            self.failed.emit(self._error)
        else:
            self.done.emit(self._report, self._cancelled)

    def shutdown(self, timeout_ms: int = 1000) -> None:
        if self._worker is not None:
            self._worker.shutdown(timeout_ms)
            self._worker = None


class _ReadBack:
    """What ``read_back`` returned, told apart from the import's progress."""

    def __init__(self, value) -> None:
        self.value = value
