"""Inside the network, under the feature maps: why-map, receptive field, compare, shift test.

- Why-map: occlusion sensitivity or gradient x input for the predicted (or a chosen) class,
  over the 28x28 image the network saw. Computed off the GUI thread (``core.explain``, about
  0.1 s for digitnet); requests are coalesced: while one runs, only the newest drawing waits.
- Receptive field: a click on a unit of a feature map shows the input pixels it can see (the
  box, from the layer arithmetic) weighted by how much each one matters (its gradient).
- Compare: the drawing through every loaded shipped model at once.
- Shift test: the network's input moved (rotated, scaled) with no re-centring, and each
  model's confidence in the digit: where dense breaks and the CNNs hold.
- Reshuffled pixels: the input with its pixels in one fixed shuffled order.

The panel stays folded (and computes nothing) until "Inside the network" is ticked.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGraphicsRectItem, QHBoxLayout, QLabel,
                               QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from digitpad.core.insight.names import NO_MAPS, SHIFT_NAMES

from .. import theme
from ..workers import WorkerHandle

log = logging.getLogger("digitpad.app")

# Measured by scripts/bench_permuted.py (4 epochs each, same recipe and seed; see the README).
SHUFFLE_NOTE = ("Trained on shuffled digits instead, a dense net learns them as well as plain "
                "ones (98.52 % vs 98.44 %): it never knew which pixels are neighbours. LeNet's "
                "kernels and pooling assume they matter: 95.27 % instead of 98.99 %, now below "
                "the dense net.")
CURVE_COLORS = {"dense": "#d62728", "lenet": "#2ca02c", "digitnet": "#1f77d0"}


def _heat_lut(rgb: tuple[int, int, int]) -> np.ndarray:
    """(256, 4) transparent -> opaque ``rgb``: the heat lies over the drawing."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    lut[:, :3] = rgb
    lut[:, 3] = np.linspace(0, 220, 256).astype(np.uint8)
    return lut


class InsidePanel(QWidget):
    """``models()`` gives [(name, arch, predictor)] of the loaded shipped models (for compare/shift)."""

    computed = Signal(str)  # "why", "field", "compare", "shift", "shuffle": a result is shown

    def __init__(self, models: Callable[[], list], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._models = models
        self.image: np.ndarray | None = None  # the network's 28x28 input
        self.digit: int | None = None
        self.arch: str | None = None
        self._state = None
        self._meta: dict = {}
        self._explainer = None
        self._worker: WorkerHandle | None = None
        self._pending = False
        self.last_why = None
        self.last_field = None
        self.last_compare: list[tuple] = []
        self.last_shift = None
        self.last_shuffled = None
        self.why_ms = 0.0

        self.toggle = QCheckBox("Inside the network: why-map, receptive field, compare, shift test")
        self.toggle.toggled.connect(self._toggled)
        self.pages = QTabWidget()
        self.pages.addTab(self._build_why(), "Why")
        self.pages.addTab(self._build_compare(), "Compare models")
        self.pages.addTab(self._build_shift(), "Shift test")
        self.pages.addTab(self._build_shuffle(), "Reshuffled pixels")
        self.pages.currentChanged.connect(lambda _i: self.refresh())
        self.pages.setVisible(False)
        self.pages.setMinimumHeight(230)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.toggle)
        lay.addWidget(self.pages)
        self._timer = QTimer(self)  # compare and shift run on the GUI thread: coalesce them
        self._timer.setSingleShot(True)
        self._timer.setInterval(120)
        self._timer.timeout.connect(self._refresh_now)
        self.apply_theme(theme.current())

    # --- pages -----------------------------------------------------------------------------

    def _build_why(self) -> QWidget:
        page = QWidget()
        v = QHBoxLayout(page)
        self.why_plot = pg.GraphicsLayoutWidget()
        self.why_view = self.why_plot.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.base_image = pg.ImageItem(axisOrder="row-major")
        self.heat_image = pg.ImageItem(axisOrder="row-major")
        self.field_box = QGraphicsRectItem(0, 0, 1, 1)
        self.field_box.setPen(pg.mkPen("#ffb000", width=2))
        self.field_box.setVisible(False)
        for item in (self.base_image, self.heat_image, self.field_box):
            self.why_view.addItem(item)
        self.why_view.setRange(QRectF(0, 0, 28, 28), padding=0.02)
        self.why_plot.setMinimumSize(180, 180)
        v.addWidget(self.why_plot, 1)
        side = QVBoxLayout()
        self.method_box = QComboBox()
        self.method_box.addItems(["occlusion", "gradient × input"])
        self.method_box.setToolTip("Occlusion: how much the class's probability drops when a 7x7 "
                                   "patch is blanked. Gradient × input: each drawn pixel's "
                                   "first-order contribution to the class's score.")
        self.class_box = QComboBox()
        self.class_box.addItems(["predicted digit"] + [f"digit {d}" for d in range(10)])
        for box in (self.method_box, self.class_box):
            box.currentIndexChanged.connect(lambda _i: self._request_why())
        self.why_caption = QLabel("Tick the box above, draw, and see what the network looks at. "
                                  "Click a unit in a feature map to see its receptive field.")
        self.why_caption.setWordWrap(True)
        side.addWidget(self.method_box)
        side.addWidget(self.class_box)
        side.addWidget(self.why_caption, 1)
        v.addLayout(side, 1)
        return page

    def _build_compare(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        self.compare_table = QTableWidget(0, 6)
        self.compare_table.setHorizontalHeaderLabels(
            ["model", "reads", "confidence", "parameters", "test accuracy", "latency"])
        self.compare_table.verticalHeader().setVisible(False)
        self.compare_table.horizontalHeader().setStretchLastSection(True)
        v.addWidget(self.compare_table)
        self.compare_note = QLabel("The same drawing through each shipped model (latency: one "
                                   "prediction with every feature map, on this machine).")
        self.compare_note.setWordWrap(True)
        v.addWidget(self.compare_note)
        return page

    def _build_shift(self) -> QWidget:
        page = QWidget()
        v = QHBoxLayout(page)
        self.shift_plot = pg.PlotWidget()
        self.shift_plot.setMenuEnabled(False)
        self.shift_plot.setMouseEnabled(False, False)
        self.shift_plot.hideButtons()
        self.shift_plot.setYRange(0, 1.02, padding=0)
        self.shift_plot.setLabel("left", "P(true digit)")
        self.shift_plot.addLegend(offset=(6, 6))
        self.curves: dict[str, pg.PlotDataItem] = {}
        v.addWidget(self.shift_plot, 2)
        side = QVBoxLayout()
        self.shift_kind = QComboBox()
        self.shift_kind.addItems(list(SHIFT_NAMES))
        self.shift_kind.currentIndexChanged.connect(lambda _i: self.refresh())
        self.true_box = QComboBox()
        self.true_box.addItems(["predicted digit"] + [f"digit {d}" for d in range(10)])
        self.true_box.setToolTip("The digit you meant")
        self.true_box.currentIndexChanged.connect(lambda _i: self.refresh())
        self.shift_caption = QLabel("The network's 28x28 input moved pixel by pixel with "
                                    "preprocessing's centring off.")
        self.shift_caption.setWordWrap(True)
        side.addWidget(self.shift_kind)
        side.addWidget(self.true_box)
        side.addWidget(self.shift_caption, 1)
        v.addLayout(side, 1)
        return page

    def _build_shuffle(self) -> QWidget:
        page = QWidget()
        v = QHBoxLayout(page)
        self.shuffle_plot = pg.GraphicsLayoutWidget()
        self.shuffle_images = []
        for col in range(2):
            vb = self.shuffle_plot.addViewBox(row=0, col=col, lockAspect=True, invertY=True, enableMouse=False)
            item = pg.ImageItem(axisOrder="row-major")
            vb.addItem(item)
            vb.setRange(QRectF(0, 0, 28, 28), padding=0.02)
            self.shuffle_images.append(item)
        v.addWidget(self.shuffle_plot, 2)
        self.shuffle_caption = QLabel()
        self.shuffle_caption.setWordWrap(True)
        v.addWidget(self.shuffle_caption, 1)
        return page

    # --- inputs ----------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.toggle.isChecked()

    def _toggled(self, on: bool) -> None:
        self.pages.setVisible(on)
        self.refresh()

    def set_model(self, arch: str, state_fn: Callable[[], dict], meta: dict | None = None) -> None:
        """The model drawn with (or its new weights); ``state_fn`` is read only when needed,
        ``meta`` says what the builder puts inside it (a --permute model's pixel order)."""
        self.arch = arch
        self._state = state_fn
        self._meta = dict(meta or {})
        self._explainer = None  # rebuilt lazily, in the worker
        self.last_field = None
        self.field_box.setVisible(False)
        self.refresh()

    def set_input(self, image: np.ndarray | None, digit: int | None) -> None:
        self.image = None if image is None else np.asarray(image, dtype=np.float32)
        self.digit = digit
        self.last_field = None
        self.refresh()

    def refresh(self) -> None:
        if not self.active:
            return
        page = self.pages.currentIndex()
        if page == 0:
            self._request_why()
        else:
            self._timer.start()

    def _refresh_now(self) -> None:
        if not self.active:
            return
        page = self.pages.currentIndex()
        if page == 1:
            self.run_compare()
        elif page == 2:
            self.run_shift()
        elif page == 3:
            self.run_shuffle()

    # --- why-map, off the GUI thread -------------------------------------------------------

    def _target(self, box: QComboBox) -> int | None:
        i = box.currentIndex()
        return None if i <= 0 else i - 1

    def _request_why(self) -> None:
        if not self.active or self.pages.currentIndex() != 0:
            return
        if self.image is None or self._state is None:
            self.heat_image.clear()
            self.base_image.clear()
            self.why_caption.setText("Nothing drawn yet.")
            return
        if self._worker is not None:
            self._pending = True  # the newest drawing goes next; nothing queues up
            return
        self._start_why()

    def _start_why(self) -> None:
        self._pending = False
        image, target = self.image.copy(), self._target(self.class_box)
        method = self.method_box.currentIndex()
        explainer = self._explainer
        arch, state_fn, meta = self.arch, self._state, self._meta

        def work(control):
            nonlocal explainer
            from digitpad.core.insight.explain import Explainer

            t0 = time.perf_counter()
            if explainer is None:
                explainer = Explainer(arch, state_fn(), meta)
                yield ("explainer", explainer)
                t0 = time.perf_counter()
            why = explainer.why(image, target)
            yield ("why", image, method, why, (time.perf_counter() - t0) * 1000)

        self._worker = WorkerHandle(work, parent=self, name="digitpad-why")
        self._worker.yielded.connect(self._on_why)
        self._worker.errored.connect(lambda exc: self.why_caption.setText(f"Could not compute: {exc}"))
        self._worker.finished.connect(self._why_done)
        self._worker.start()

    def _on_why(self, item) -> None:
        if item[0] == "explainer":
            self._explainer = item[1]
            return
        _, image, method, why, ms = item
        self.last_why, self.why_ms = why, ms
        self.base_image.setImage(image, levels=(0, 1), lut=self._gray)
        heat = why.occlusion if method == 0 else why.saliency
        top = float(heat.max())
        self.heat_image.setImage(np.clip(heat, 0, None), levels=(0, max(top, 1e-6)), lut=self._lut)
        self.field_box.setVisible(False)
        name = "occlusion" if method == 0 else "gradient × input"
        self.why_caption.setText(
            f"{name} for digit {why.target} (p = {why.prob * 100:.1f}%): the brighter, the more "
            f"the network relies on that part. {ms:.0f} ms, off the GUI thread.")
        self.computed.emit("why")

    def _why_done(self) -> None:
        self._worker = None
        if self._pending:
            self._request_why()

    # --- receptive field (a click on a feature-map unit) -----------------------------------

    def show_unit(self, layer: str, channel: int, row: int, col: int) -> None:
        if self.arch == "dense":
            self.why_caption.setText(NO_MAPS)
            return
        if self.image is None or self._state is None:
            return
        from digitpad.core.insight.explain import Explainer

        if self._explainer is None:  # a click is rare: building it here costs one model copy
            self._explainer = Explainer(self.arch, self._state(), self._meta)
        if not self.active:
            self.toggle.setChecked(True)
        self.pages.setCurrentIndex(0)
        f = self._explainer.unit_field(self.image, layer, channel, row, col)
        self.last_field = (layer, channel, row, col, f)
        self.base_image.setImage(self.image, levels=(0, 1), lut=self._gray)
        self.heat_image.setImage(f.weights, levels=(0, 1), lut=self._lut)
        b = f.box
        self.field_box.setRect(QRectF(b.left, b.top, b.width, b.height))
        self.field_box.setVisible(True)
        state = "silent for this drawing (its gradient is zero)" if f.activation <= 0 else \
            f"active ({f.activation:.2f}); brighter pixels matter more to it"
        self.why_caption.setText(
            f"{layer}, map {channel + 1}, unit ({row + 1}, {col + 1}) sees {b.extent}x{b.extent} "
            f"input pixels (box; clipped at the border). It is {state}.")
        self.computed.emit("field")

    # --- compare and shift (GUI thread: each prediction takes a few ms) --------------------

    def run_compare(self) -> None:
        rows = []
        for name, arch, pred in self._models():
            if self.image is None:
                rows.append((name, "–", None, pred, None))
                continue
            t0 = time.perf_counter()
            p = pred.predict(self._preprocessed())
            rows.append((name, p.digit, p.confidence, pred, (time.perf_counter() - t0) * 1000))
        self.last_compare = rows
        t = self.compare_table
        t.setRowCount(len(rows))
        from digitpad.core.nets.spec import parameter_count

        for r, (name, digit, conf, pred, ms) in enumerate(rows):
            acc = pred.test_acc
            cells = [name, str(digit), "–" if conf is None else f"{conf * 100:.1f}%",
                     f"{parameter_count(pred.arch):,}",
                     "–" if acc is None else f"{acc * 100:.2f}%",
                     "–" if ms is None else f"{ms:.1f} ms"]
            for c, text in enumerate(cells):
                t.setItem(r, c, QTableWidgetItem(text))
        t.resizeColumnsToContents()
        self.computed.emit("compare")

    def _preprocessed(self):
        return self._make_input(self.image)

    @staticmethod
    def _make_input(image: np.ndarray):
        from digitpad.core.data.preprocess import Preprocessed

        # every model gets exactly this 28x28 input, with no second preprocessing
        return Preprocessed(np.ascontiguousarray(image, dtype=np.float32), False)

    def run_shift(self) -> None:
        if self.image is None:
            return
        import torch

        from digitpad.core.insight.explain import shift_test
        from digitpad.core.nets.builder import build

        models = {arch: build(arch, pred.state_dict(), pred.meta) for _name, arch, pred in self._models()}
        if not models:
            return
        label = self._target(self.true_box)
        label = self.digit if label is None else label
        if label is None:
            return
        with torch.inference_mode():
            curves = shift_test(models, self.image, int(label), self.shift_kind.currentText())
        self.last_shift = curves
        for name, conf in curves.confidence.items():
            curve = self.curves.get(name)
            if curve is None:
                curve = self.curves[name] = self.shift_plot.plot(
                    pen=pg.mkPen(CURVE_COLORS.get(name, "#888888"), width=2), name=name)
            curve.setData(curves.values.astype(float), conf)
        self.shift_plot.setLabel("bottom", curves.kind)
        worst = {n: float(c.min()) for n, c in curves.confidence.items()}
        self.shift_caption.setText(f"True digit {label}. Lowest confidence over the range: " +
                                   ", ".join(f"{n} {v * 100:.0f}%" for n, v in worst.items()))
        self.computed.emit("shift")

    def run_shuffle(self) -> None:
        """The input and the same pixels in one fixed shuffled order, as each model reads it."""
        if self.image is None:
            return
        from digitpad.core.nets.permutation import permute_pixels, pixel_permutation

        shuffled = permute_pixels(self.image, pixel_permutation(0))
        self.last_shuffled = shuffled
        for item, img in zip(self.shuffle_images, (self.image, shuffled)):
            item.setImage(img, levels=(0, 1), lut=self._gray)
        reads = []
        for name, _arch, pred in self._models():
            p = pred.predict(self._make_input(shuffled))
            reads.append(f"{name} {p.digit} ({p.confidence * 100:.0f}%)")
        self.shuffle_caption.setText(
            "Left: what the network sees. Right: the same pixels, moved by one fixed shuffle "
            "(the same for every image). Models trained on plain MNIST read it as: "
            + ", ".join(reads) + ". " + SHUFFLE_NOTE)
        self.computed.emit("shuffle")

    # --- misc ------------------------------------------------------------------------------

    def apply_theme(self, colors: theme.Colors) -> None:
        dark = colors.name == "dark"
        self._lut = _heat_lut((255, 140, 0) if dark else (230, 40, 20))
        g = np.linspace(0, 255, 256)
        # ink bright on black in both themes, as the network sees it; lighter in the light theme
        self._gray = np.stack([g * (0.7 if dark else 0.55)] * 3, 1).astype(np.uint8)
        self.why_plot.setBackground(colors.plot_bg)
        self.shift_plot.setBackground(colors.plot_bg)
        self.shuffle_plot.setBackground(colors.plot_bg)

    def hideEvent(self, event) -> None:
        # the window closing (or another tab shown): join the worker, drop what waits
        self.shutdown()
        super().hideEvent(event)

    def shutdown(self, timeout_ms: int = 2000) -> None:
        self._timer.stop()
        handle, self._worker = self._worker, None
        self._pending = False
        if handle is not None:
            handle.shutdown(timeout_ms)
