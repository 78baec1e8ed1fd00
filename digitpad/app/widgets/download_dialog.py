"""The MNIST download dialog: a progress bar and Cancel, the download in a worker thread.

``core.data.download_mnist`` is a blocking function with progress/cancel callbacks; it runs
inside a one-item generator in a :class:`~digitpad.app.workers.WorkerHandle`, and its progress
callback emits through the same worker (throttled), so the GUI never waits on the network.
Offline, the core's first short probe fails and its DataError message is shown in the dialog.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QProgressBar, QVBoxLayout,
                               QWidget)

from digitpad.core.data import mnist as core_data
from digitpad.core.learning.control import TrainControl

from ..workers import WorkerHandle

PROBE_TIMEOUT_S = 6.0  # one deadline for reaching any mirror: offline is known within it
_PROGRESS_INTERVAL_S = 0.05


@dataclass
class DownloadProgress:
    file: str
    done: int
    total: int  # 0 when the server does not say


@dataclass
class DownloadDone:
    root: Path


def download_events(root: Path, control: TrainControl, report, timeout: float = PROBE_TIMEOUT_S):
    """Generator for the worker: runs the download, reporting progress through ``report``."""
    last = [0.0]

    def progress(name: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_INTERVAL_S or (total and done >= total):
            last[0] = now
            report(DownloadProgress(name, done, total))

    path = core_data.download_mnist(root, timeout=timeout, progress=progress,
                                    cancelled=lambda: control.stop_requested)
    yield DownloadDone(Path(path))


class DownloadDialog(QDialog):
    """Downloads MNIST into ``root`` when shown; accepted on success, rejected otherwise."""


    def __init__(self, root: str | Path, parent: QWidget | None = None,
                 timeout: float = PROBE_TIMEOUT_S) -> None:
        super().__init__(parent)
        self.setWindowTitle("Download MNIST")
        self.setMinimumWidth(460)
        self.root = Path(root)
        self.timeout = timeout
        self.result_path: Path | None = None
        self.error: str | None = None
        self._handle: WorkerHandle | None = None
        self._cancelling = False
        self._started = False

        self.message = QLabel(f"Downloading MNIST (about 11 MB) into\n{self.root}")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.file_label = QLabel("Connecting…")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy until the first byte tells the size
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.file_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.buttons)

    # --- running ---------------------------------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._started:
            self.start()

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        control = TrainControl()
        root, timeout = self.root, self.timeout  # the worker thread reads no widget
        handle = WorkerHandle(lambda ctl: download_events(root, ctl, handle.report, timeout),
                              control, parent=self, name="digitpad-download")
        handle.yielded.connect(self._on_event)
        handle.errored.connect(self._on_error)
        handle.finished.connect(self._on_finished)
        self._handle = handle
        handle.start()

    def is_running(self) -> bool:
        return self._handle is not None and not self._handle.done

    def _on_event(self, ev: object) -> None:
        if isinstance(ev, DownloadProgress):
            self.file_label.setText(f"{ev.file}: {ev.done / 1e6:.1f} MB"
                                    + (f" of {ev.total / 1e6:.1f} MB" if ev.total else ""))
            if ev.total:
                self.progress.setRange(0, 1000)
                self.progress.setValue(int(1000 * ev.done / ev.total))
        elif isinstance(ev, DownloadDone):
            self.result_path = ev.root

    def _on_error(self, exc: object) -> None:
        if isinstance(exc, core_data.Cancelled):
            return
        self.error = str(exc) or type(exc).__name__
        self.message.setText(self.error)
        self.message.setStyleSheet("color: #c62828;")
        self.file_label.setText("The download did not complete; nothing usable was written.")

    def _on_finished(self) -> None:
        self._handle = None
        if self.result_path is not None and not self._cancelling:
            self.accept()
            return
        if self._cancelling:
            super().reject()
            return
        # failed: keep the dialog open showing why, with a Close button
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Close)

    # --- cancelling ------------------------------------------------------------------

    def reject(self) -> None:
        """Cancel: the download stops at its next chunk (a running probe ends by timeout)."""
        if self.is_running():
            self._cancelling = True
            self.file_label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)
            self._handle.stop()
            return  # closed by _on_finished once the worker has ended
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.is_running():
            event.ignore()
            self.reject()
            return
        super().closeEvent(event)

    def shutdown(self, timeout_ms: int = 1000) -> None:
        if self._handle is not None:
            self._handle.shutdown(timeout_ms)
