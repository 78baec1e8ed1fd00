"""The Mistakes tab: the loaded model on MNIST's test set, and the images behind every number.

Scoring runs in a ``GeneratorWorker`` (10,000 images take a few seconds on a CPU) and is cached
per model by ``core.insight.mistakes``, so coming back to a model is instant. The confusion matrix is
one pyqtgraph ImageItem (created once; ``setImage`` per model) with one text item per cell;
clicking a cell fills the gallery with that cell's test images, surest first, and "Open in
canvas" hands one to the Draw tab through :attr:`MistakesTab.open_in_canvas` (the main window
wires it: tabs never import each other).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QGraphicsRectItem, QHBoxLayout, QLabel, QListView, QListWidget,
                               QListWidgetItem, QProgressBar, QPushButton, QSplitter, QVBoxLayout,
                               QWidget)

from .. import theme
from ..settings import mnist_folder
from ..widgets.focus import focus_ring
from ..widgets.square import SquareHolder
from ..workers import WorkerHandle
from .state import COMPUTING, READY, MistakesState

log = logging.getLogger("digitpad.app")


@dataclass(frozen=True)
class _TestImages:
    images: np.ndarray  # (N, 28, 28) uint8, ink bright


def score_events(ref, data_dir, control):
    """The worker's generator: the test images (for the gallery), then core.insight.mistakes' events."""
    import torch

    from digitpad.core.data.mnist import load_test_set
    from digitpad.core.insight.mistakes import file_key, iter_mistakes, state_key
    from digitpad.core.nets.builder import build

    x, y = load_test_set(data_dir)
    yield _TestImages((x[:, 0] * 255).round().to(torch.uint8).numpy())
    key = file_key(ref.path) if ref.path else state_key(ref.arch, ref.state)
    if (ref.meta or {}).get("foreign"):  # the same file fed another input convention scores otherwise
        key += "-" + str(ref.meta.get("input", ""))
    model = ref.predictor.as_module() if ref.predictor is not None else build(ref.arch, ref.state, ref.meta)
    yield from iter_mistakes(model, x, y, key, should_stop=lambda: control.stop_requested)


class _CellImage(pg.ImageItem):
    clicked = Signal(int, int)  # true digit (row), predicted digit (column)

    def mouseClickEvent(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        pos = ev.pos()
        row, col = int(pos.y()), int(pos.x())
        if 0 <= row < 10 and 0 <= col < 10:
            ev.accept()
            self.clicked.emit(row, col)


class MistakesTab(QWidget):
    open_in_canvas = Signal(object)  # (28, 28) uint8, ink bright
    status_message = Signal(str)
    scored = Signal()  # a result is shown (tests, screenshots)

    def __init__(self, settings=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = MistakesState()
        self.settings = settings
        self.images: np.ndarray | None = None
        self._worker: WorkerHandle | None = None
        self._worker_generation = 0

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.score_button = QPushButton("Score on the test set")
        self.score_button.clicked.connect(self.start)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.progress)
        top.addWidget(self.score_button)
        self.per_class = QLabel()
        self.per_class.setToolTip("Accuracy per true digit")

        self.plot_widget = pg.GraphicsLayoutWidget()
        self.plot = self.plot_widget.addPlot()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.invertY(True)
        self.plot.setLabel("bottom", "predicted")
        self.plot.setLabel("left", "true digit")
        ticks = [[(i + 0.5, str(i)) for i in range(10)]]
        for axis in ("bottom", "left"):
            self.plot.getAxis(axis).setTicks(ticks)
        self.cells = _CellImage(np.zeros((10, 10), dtype=np.float32), axisOrder="row-major")
        self.cells.setRect(QRectF(0, 0, 10, 10))  # one unit per cell: a click's position is the cell
        self.cells.clicked.connect(self.select_cell)
        focus_ring(self.plot_widget, "confusionMatrix")
        self.plot_widget.setToolTip("Click a cell, or use the arrow keys, to see its test images; "
                                    "Enter puts the first one on the canvas")
        self.plot_widget.installEventFilter(self)
        self.plot.addItem(self.cells)
        self.counts = []
        for r in range(10):
            for c in range(10):
                t = pg.TextItem("", anchor=(0.5, 0.5))
                t.setPos(c + 0.5, r + 0.5)
                self.plot.addItem(t)
                self.counts.append(t)
        self.marker = QGraphicsRectItem(0, 0, 1, 1)
        self.marker.setVisible(False)
        self.plot.addItem(self.marker)
        # square cells come from the square holder, not a locked aspect (which pads the
        # longer axis with empty range beside column 0)
        self.plot.setRange(xRange=(0, 10), yRange=(0, 10), padding=0)
        self.matrix_box = SquareHolder(self.plot_widget)

        self.gallery_title = QLabel()
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListView.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(56, 56))
        self.gallery.setGridSize(QSize(100, 56 + 2 * self.fontMetrics().lineSpacing() + 14))
        self.gallery.setWordWrap(True)
        self.gallery.setResizeMode(QListView.ResizeMode.Adjust)
        self.gallery.setMovement(QListView.Movement.Static)
        self.gallery.setUniformItemSizes(True)
        self.gallery.currentRowChanged.connect(self._gallery_row)
        self.gallery.itemDoubleClicked.connect(lambda _item: self.open_selected())
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setMinimumHeight(self.fontMetrics().lineSpacing() * 2 + 4)
        self.open_button = QPushButton("Open in canvas")
        self.open_button.setToolTip("Put this test image on the Draw tab to study its maps")
        self.open_button.clicked.connect(self.open_selected)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.gallery_title)
        rv.addWidget(self.gallery, 1)
        row = QHBoxLayout()
        row.addWidget(self.detail, 1)
        row.addWidget(self.open_button)
        rv.addLayout(row)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.matrix_box)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.per_class)
        layout.addWidget(split, 1)
        self.apply_theme(theme.current())
        self._render()

    # --- model and scoring ------------------------------------------------------------------

    def set_model(self, label: str, arch: str, state: dict, path: str | None = None,
                  meta: dict | None = None, predictor=None) -> None:
        """``predictor``: an ONNX model, scored through its own forward pass (no weights)."""
        self._stop_worker()
        self.state.set_model(label, arch, state, path, meta, predictor)
        self._render()
        if self.isVisible():
            self.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.state.stale and self.state.phase != "failed":
            self.start()

    def start(self) -> bool:
        """Score the current model in the background (from the cache when it was scored before)."""
        from digitpad.core.data.mnist import has_mnist

        ref = self.state.model
        if ref is None or self.state.phase == COMPUTING:
            return False
        root = mnist_folder(self.settings)
        if not has_mnist(root):
            self.state.on_error(f"MNIST is not in {root}; download it from the Training tab "
                                "or with `digitpad download`.", self.state.begin())
            self._render()
            return False
        self._stop_worker()
        generation = self.state.begin()
        handle = WorkerHandle(lambda control: score_events(ref, root, control), parent=self,
                              name="digitpad-mistakes")
        handle.yielded.connect(lambda ev, g=generation: self._on_event(ev, g))
        handle.errored.connect(lambda exc, g=generation: self._on_error(exc, g))
        handle.finished.connect(lambda g=generation, h=handle: self._on_finished(g, h))
        self._worker = handle
        handle.start()
        self._render()
        return True

    def _on_event(self, event, generation: int) -> None:
        if isinstance(event, _TestImages):
            if generation == self.state._generation:
                self.images = event.images
            return
        if self.state.on_event(event, generation):
            self._render(full=self.state.phase == READY)
            if self.state.phase == READY:
                self.scored.emit()

    def _on_error(self, exc: Exception, generation: int) -> None:
        log.warning("scoring failed: %s", exc)
        self.state.on_error(str(exc) or type(exc).__name__, generation)
        self._render()

    def _on_finished(self, generation: int, handle: WorkerHandle) -> None:
        if self._worker is handle:
            self._worker = None
        self.state.on_stopped(generation)
        self._render()

    def _stop_worker(self) -> None:
        handle, self._worker = self._worker, None
        if handle is not None:
            handle.retire()  # a model change never waits for the old scoring pass to end

    def shutdown(self, timeout_ms: int = 2000) -> None:
        handle, self._worker = self._worker, None
        if handle is not None:
            handle.shutdown(timeout_ms)

    def is_running(self) -> bool:
        return self._worker is not None and self._worker.is_running()

    # --- rendering --------------------------------------------------------------------------

    def _render(self, full: bool = True) -> None:
        s = self.state
        self.status.setText(s.status())
        busy = s.phase == COMPUTING
        self.progress.setVisible(busy)
        if busy:
            self.progress.setMaximum(s.total or 0)
            self.progress.setValue(s.done)
        self.score_button.setEnabled(s.model is not None and not busy)
        self.score_button.setText("Score again" if s.phase == READY else "Score on the test set")
        if not full:
            return
        self.per_class.setText(("Per digit:   " + s.per_class_text()) if s.mistakes is not None else "")
        self.cells.setImage(s.heat(), levels=(0, 1), lut=self._lut)
        conf = s.mistakes.confusion if s.mistakes is not None else None
        heat = s.heat()
        for r in range(10):
            for c in range(10):
                item = self.counts[r * 10 + c]
                n = 0 if conf is None else int(conf[r, c])
                item.setText(str(n) if n else "")
                item.setColor("#ffffff" if heat[r, c] > 0.55 else self._fg)
        self._render_gallery()

    def _render_gallery(self) -> None:
        s = self.state
        sel = s.selected
        self.marker.setVisible(sel is not None and s.mistakes is not None)
        if sel is not None:
            self.marker.setRect(QRectF(sel[1], sel[0], 1, 1))
        self.gallery_title.setText(s.gallery_title())
        self.gallery.clear()
        self._items = s.gallery()
        for it in self._items:
            w = QListWidgetItem(self._icon(it.index), it.caption())
            w.setToolTip(it.tooltip())
            self.gallery.addItem(w)
        if self._items:
            self.gallery.setCurrentRow(0)
        else:
            self.detail.setText("")
        self.open_button.setEnabled(bool(self._items) and self.images is not None)

    def _icon(self, index: int) -> QIcon:
        if self.images is None:
            return QIcon()
        a = np.ascontiguousarray(self.images[index])
        img = QImage(a.data, 28, 28, 28, QImage.Format.Format_Grayscale8).copy()
        return QIcon(QPixmap.fromImage(img).scaled(56, 56))

    def _gallery_row(self, row: int) -> None:
        if 0 <= row < len(self._items):
            it = self._items[row]
            self.detail.setText(f"test image #{it.index}, a {it.true}: read as {it.predicted} "
                                f"({it.confidence * 100:.1f}%). Top three: {it.tooltip()}")

    def select_cell(self, true: int, pred: int) -> None:
        if self.state.select(true, pred):
            self._render_gallery()

    _ARROWS = {Qt.Key.Key_Up: (-1, 0), Qt.Key.Key_Down: (1, 0), Qt.Key.Key_Left: (0, -1),
               Qt.Key.Key_Right: (0, 1)}

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
        if obj is self.plot_widget and event.type() == QEvent.Type.KeyPress:
            step = self._ARROWS.get(event.key())
            if step is not None:
                if self.state.move(*step):
                    self._render_gallery()
                return True
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.open_selected()
                return True
        return super().eventFilter(obj, event)

    def selected_item(self):
        row = self.gallery.currentRow()
        return self._items[row] if 0 <= row < len(self._items) else None

    def open_selected(self) -> None:
        it = self.selected_item()
        if it is None or self.images is None:
            return
        self.open_in_canvas.emit(self.images[it.index].copy())
        self.status_message.emit(f"Test image #{it.index} (a {it.true}) is on the canvas.")

    def apply_theme(self, colors: theme.Colors) -> None:
        self.plot_widget.setBackground(colors.plot_bg)
        self._fg = colors.plot_fg
        base = np.array([int(colors.plot_bg[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
        accent = np.array([int(colors.accent[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
        # towards a darker accent on white, a brighter one on black: rare mistakes must stand out
        deep = accent * (0.55 if colors.name == "light" else 0.9)
        t = np.linspace(0, 1, 256)[:, None] ** 0.8
        self._lut = (base + (deep - base) * t).clip(0, 255).astype(np.uint8)
        self.marker.setPen(pg.mkPen("#e0452b", width=3))
        self._render()
