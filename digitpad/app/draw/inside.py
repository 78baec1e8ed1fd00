"""Inside the network, under the feature maps: why-map, receptive field, compare, shift test.

- Why-map: occlusion sensitivity or gradient x input for the predicted (or a chosen) class,
  over the 28x28 image the network saw (``core.explain``, about 0.1 s for digitnet).
- Receptive field: a click on a unit of a feature map shows the input pixels it can see (the
  box, from the layer arithmetic) weighted by how much each one matters (its gradient).
- Compare: the drawing through every loaded shipped model at once.
- Shift test: the network's input moved (rotated, scaled) with no re-centring, and each
  model's confidence in the digit: where dense breaks and the CNNs hold.
- Reshuffled pixels: the input with its pixels in one fixed shuffled order.

Every page computes in one worker (``workers.Latest``): one request runs, only the newest
waits, so a fast stroke never queues work and the GUI thread only paints the results (the
shift test alone is ~0.7 s of torch for three models). The inputs are copied when a request
is made; predictors are shared, which is safe (``Predictor`` swaps its weights atomically).
The panel stays folded (and computes nothing) until "Inside the network" is ticked.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGraphicsRectItem, QHBoxLayout, QLabel,
                               QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from digitpad.core.insight.names import NO_MAPS, SHIFT_NAMES

from .. import theme
from ..workers import Latest
from ..widgets.focus import display_only

log = logging.getLogger("digitpad.app")

# Measured by scripts/bench_permuted.py (4 epochs each, same recipe and seed; see the README).
SHUFFLE_NOTE = ("Trained on shuffled digits instead, a dense net learns them as well as plain "
                "ones (98.52 % vs 98.44 %): it never knew which pixels are neighbours. LeNet's "
                "kernels and pooling assume they matter: 95.27 % instead of 98.99 %, now below "
                "the dense net.")
CURVE_COLORS = {"dense": "#d62728", "lenet": "#2ca02c", "digitnet": "#1f77d0"}
IN_USE_COLOR = "#9467bd"  # the Draw tab's own model when it is not a shipped one
SHIFT_Y_TOP = 1.45  # the shift plot's headroom above P = 1 holds its legend (two rows)


def _make_input(image: np.ndarray):
    from digitpad.core.data.preprocess import Preprocessed

    # every model gets exactly this 28x28 input, with no second preprocessing
    return Preprocessed(np.ascontiguousarray(image, dtype=np.float32), False)


def _heat_lut(rgb: tuple[int, int, int]) -> np.ndarray:
    """(256, 4) transparent -> opaque ``rgb``: the heat lies over the drawing."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    lut[:, :3] = rgb
    lut[:, 3] = np.linspace(0, 220, 256).astype(np.uint8)
    return lut


class InsidePanel(QWidget):
    """``models()`` gives [(name, arch, predictor)] of the loaded shipped models (for compare/shift)."""

    computed = Signal(str)  # "why", "field", "compare", "shift", "shuffle": a result is shown

    def __init__(self, models: Callable[[], list], parent: QWidget | None = None,
                 compared: Callable[[], list] | None = None) -> None:
        super().__init__(parent)
        self._models = models
        # compare: the shipped models plus the one drawn with when it is not shipped (a
        # user's own state dict or ONNX model), which the shift test leaves out
        self._compared = compared or models
        self.image: np.ndarray | None = None  # the network's 28x28 input
        self.digit: int | None = None
        self.arch: str | None = None
        self._probs_batch = None
        self.own_name: str | None = None  # the model drawn with, when it is not a shipped one
        self._state = None
        self._meta: dict = {}
        self._explainer = None  # core.insight.explain.Explainer, built (in the worker) on demand
        self._generation = 0  # bumped by set_model: results for older weights are not cached
        self._quiet = False  # show_unit opens the page without asking for a why-map
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
        # every page's computation, one at a time, the newest request next: nothing queues up
        self._jobs = Latest(self, name="digitpad-inside")
        self.apply_theme(theme.current())

    # --- pages -----------------------------------------------------------------------------

    def _build_why(self) -> QWidget:
        page = QWidget()
        v = QHBoxLayout(page)
        self.why_plot = pg.GraphicsLayoutWidget()
        display_only(self.why_plot)
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
        display_only(self.shift_plot)
        self.shift_plot.setMenuEnabled(False)
        self.shift_plot.setMouseEnabled(False, False)
        self.shift_plot.hideButtons()
        # the legend in two rows above P = 1, in headroom of its own: over the curves it hid
        # the top of the range, where every model starts
        self.shift_plot.setYRange(0, SHIFT_Y_TOP, padding=0)
        self.shift_plot.getAxis("left").setTicks([[(v / 5, f"{v / 5:.1f}") for v in range(6)]])
        self.shift_plot.setLabel("left", "P(true digit)")
        self.shift_plot.addLegend(offset=(6, 2), colCount=2)
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
        display_only(self.shuffle_plot)
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
    def busy(self) -> bool:
        """A computation runs or waits (benchmarks wait for the last result)."""
        return self._jobs.busy

    @property
    def active(self) -> bool:
        return self.toggle.isChecked()

    def _toggled(self, on: bool) -> None:
        self.pages.setVisible(on)
        self.refresh()

    def set_model(self, arch: str, state_fn: Callable[[], dict], meta: dict | None = None,
                  own_name: str | None = None, probs_batch: Callable | None = None) -> None:
        """The model drawn with (or its new weights); ``state_fn`` is read only when needed,
        in the worker (``Predictor.state_dict`` is safe from any thread); ``meta`` says what
        the builder puts inside it (a --permute model's pixel order). ``own_name``: its name
        when it is not a shipped model (the shift test plots it too)."""
        self.arch = arch
        self.own_name = own_name
        self._probs_batch = probs_batch  # a model torch does not run (ONNX): occlusion only
        self._state = state_fn
        self._meta = dict(meta or {})
        self._generation += 1  # an explainer built for the old weights is not kept
        self._explainer = None
        self.last_field = None
        self.field_box.setVisible(False)
        self.refresh()

    def set_input(self, image: np.ndarray | None, digit: int | None) -> None:
        self.image = None if image is None else np.asarray(image, dtype=np.float32)
        self.digit = digit
        self.last_field = None
        self.refresh()

    def refresh(self) -> None:
        """Ask for the shown page's result; the worker runs the newest request only."""
        if not self.active or self._quiet:
            return
        page = self.pages.currentIndex()
        if page == 0:
            self._request_why()
        elif page == 1:
            self.run_compare()
        elif page == 2:
            self.run_shift()
        elif page == 3:
            self.run_shuffle()

    # --- every computation runs in the worker; the GUI thread only paints the results -----

    def _submit(self, factory) -> None:
        self._jobs.submit(factory, self._on_result, self._on_error)

    def _on_error(self, exc: object) -> None:
        log.warning("inside the network: %r", exc)
        self.why_caption.setText(f"Could not compute: {exc}")

    def _on_result(self, item) -> None:
        kind = item[0]
        if kind == "explainer":
            _, generation, explainer = item
            if generation == self._generation:  # still the model drawn with
                self._explainer = explainer
        elif kind == "why":
            self._show_why(*item[1:])
        elif kind == "field":
            self._show_field(*item[1:])
        elif kind == "compare":
            self._show_compare(item[1])
        elif kind == "shift":
            self._show_shift(*item[1:])
        elif kind == "shuffle":
            self._show_shuffle(*item[1:])

    def _explainer_work(self):
        """A generator step for the worker: the cached explainer, or a new one announced."""
        explainer, generation = self._explainer, self._generation
        arch, state_fn, meta = self.arch, self._state, self._meta
        probs_batch = getattr(self, "_probs_batch", None)

        def get(control):
            nonlocal explainer
            if explainer is None:
                from digitpad.core.insight.explain import Explainer, ProbsExplainer

                explainer = ProbsExplainer(probs_batch) if probs_batch is not None else \
                    Explainer(arch, state_fn(), meta)
                yield ("explainer", generation, explainer)
            return explainer
        return get

    # --- why-map ---------------------------------------------------------------------------

    def _target(self, box: QComboBox) -> int | None:
        i = box.currentIndex()
        return None if i <= 0 else i - 1

    def _request_why(self) -> None:
        if not self.active or self.pages.currentIndex() != 0:
            return
        if self.image is None or self._state is None:
            self._jobs.drop_waiting()
            self.heat_image.clear()
            self.base_image.clear()
            self.why_caption.setText("Nothing drawn yet.")
            return
        image, target = self.image.copy(), self._target(self.class_box)
        method = self.method_box.currentIndex()
        explainer = self._explainer_work()

        def work(control):
            e = yield from explainer(control)
            t0 = time.perf_counter()
            why = e.why(image, target)
            yield ("why", image, method, why, (time.perf_counter() - t0) * 1000)

        self._submit(work)

    def _show_why(self, image, method, why, ms) -> None:
        self.last_why, self.why_ms = why, ms
        self.base_image.setImage(image, levels=(0, 1), lut=self._gray)
        if method != 0 and getattr(self, "_probs_batch", None) is not None:
            method = 0  # no gradients from onnxruntime: occlusion needs forward passes only
            self.why_caption.setText("gradient × input needs torch's gradients; this ONNX model "
                                     "shows occlusion.")
        heat = why.occlusion if method == 0 else why.saliency
        top = float(heat.max())
        self.heat_image.setImage(np.clip(heat, 0, None), levels=(0, max(top, 1e-6)), lut=self._lut)
        self.field_box.setVisible(False)
        name = "occlusion" if method == 0 else "gradient × input"
        if getattr(self, "_probs_batch", None) is not None:
            name = "occlusion (ONNX: no gradients, so no gradient × input)"
        self.why_caption.setText(
            f"{name} for digit {why.target} (p = {why.prob * 100:.1f}%): the brighter, the more "
            f"the network relies on that part. {ms:.0f} ms, off the GUI thread.")
        self.computed.emit("why")

    # --- receptive field (a click on a feature-map unit) -----------------------------------

    def show_unit(self, layer: str, channel: int, row: int, col: int) -> None:
        if self.arch == "dense":
            self.why_caption.setText(NO_MAPS)
            return
        if getattr(self, "_probs_batch", None) is not None:
            self.why_caption.setText("A unit's receptive field needs gradients, which an ONNX "
                                     "model run in onnxruntime does not give.")
            return
        if self.image is None or self._state is None:
            return
        self._quiet = True  # opening the page must not ask for a why-map first
        try:
            if not self.active:
                self.toggle.setChecked(True)
            self.pages.setCurrentIndex(0)
        finally:
            self._quiet = False
        image = self.image.copy()
        explainer = self._explainer_work()

        def work(control):  # autograd through the model: ~0.1-0.3 s, never on the GUI thread
            e = yield from explainer(control)
            yield ("field", image, layer, channel, row, col,
                   e.unit_field(image, layer, channel, row, col))

        self._submit(work)

    def _show_field(self, image, layer, channel, row, col, f) -> None:
        self.last_field = (layer, channel, row, col, f)
        self.base_image.setImage(image, levels=(0, 1), lut=self._gray)
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

    # --- compare, shift test, reshuffled pixels --------------------------------------------

    def run_compare(self) -> None:
        models = list(self._compared())  # (name, arch, predictor): predictors are thread-safe
        image = None if self.image is None else self.image.copy()

        def work(control):
            rows = []
            from digitpad.core.nets.spec import parameter_count

            for name, arch, pred in models:
                # an ONNX model counts its initialisers; a state dict is one of the spec's
                params = pred.parameters if arch == "onnx" else parameter_count(arch)
                if image is None:
                    rows.append((name, "–", None, pred.test_acc, params, None))
                    continue
                t0 = time.perf_counter()
                p = pred.predict(_make_input(image))
                rows.append((name, p.digit, p.confidence, pred.test_acc, params,
                             (time.perf_counter() - t0) * 1000))
            yield ("compare", rows)

        self._submit(work)

    def _show_compare(self, rows) -> None:
        self.last_compare = rows
        t = self.compare_table
        t.setRowCount(len(rows))
        for r, (name, digit, conf, acc, params, ms) in enumerate(rows):
            cells = [name, str(digit), "–" if conf is None else f"{conf * 100:.1f}%",
                     f"{params:,}", "–" if acc is None else f"{acc * 100:.2f}%",
                     "–" if ms is None else f"{ms:.1f} ms"]
            for c, text in enumerate(cells):
                t.setItem(r, c, QTableWidgetItem(text))
        t.resizeColumnsToContents()
        self.computed.emit("compare")

    def run_shift(self) -> None:
        if self.image is None:
            return
        chosen = self._target(self.true_box)
        label = self.digit if chosen is None else chosen
        models = [(arch, arch, pred.state_dict, pred.meta) for _name, arch, pred in self._models()]
        if self.own_name is not None and self._state is not None and self.arch is not None:
            # the model the Draw tab reads with, beside the shipped ones
            models.append((f"{self.own_name} (in use)", self.arch, self._state, self._meta))
        if label is None or not models:
            return
        image, kind = self.image.copy(), self.shift_kind.currentText()

        def work(control):
            from digitpad.core.insight.explain import shift_test
            from digitpad.core.nets.builder import build

            nets = {name: build(arch, state_fn(), meta) for name, arch, state_fn, meta in models}
            yield ("shift", int(label), chosen, shift_test(nets, image, int(label), kind))

        self._submit(work)

    def _show_shift(self, label, chosen, curves) -> None:
        self.last_shift = curves
        for name, conf in curves.confidence.items():
            curve = self.curves.get(name)
            if curve is None:
                curve = self.curves[name] = self.shift_plot.plot(
                    pen=pg.mkPen(CURVE_COLORS.get(name, IN_USE_COLOR), width=2), name=name)
            curve.setData(curves.values.astype(float), conf)
        for name, curve in list(self.curves.items()):  # a model no longer in use leaves
            if name not in curves.confidence:
                self.shift_plot.removeItem(curve)
                del self.curves[name]
        self.shift_plot.setLabel("bottom", curves.kind)
        self.shift_plot.setLabel("left", f"P({label})")
        worst = {n: float(c.min()) for n, c in curves.confidence.items()}
        # the box's "predicted digit" is what the network read, not what was meant
        said = (f"Digit {label}, the prediction (choose the digit you meant above if it is "
                f"wrong)." if chosen is None else f"True digit {label}.")
        self.shift_caption.setText(f"{said} Lowest confidence over the range: " +
                                   ", ".join(f"{n} {v * 100:.0f}%" for n, v in worst.items()))
        self.computed.emit("shift")

    def run_shuffle(self) -> None:
        """The input and the same pixels in one fixed shuffled order, as each model reads it."""
        if self.image is None:
            return
        models = list(self._models())
        image = self.image.copy()

        def work(control):
            from digitpad.core.nets.permutation import permute_pixels, pixel_permutation

            shuffled = permute_pixels(image, pixel_permutation(0))
            reads = []
            for name, _arch, pred in models:
                p = pred.predict(_make_input(shuffled))
                reads.append(f"{name} {p.digit} ({p.confidence * 100:.0f}%)")
            yield ("shuffle", image, shuffled, reads)

        self._submit(work)

    def _show_shuffle(self, image, shuffled, reads) -> None:
        self.last_shuffled = shuffled
        for item, img in zip(self.shuffle_images, (image, shuffled)):
            item.setImage(img, levels=(0, 1), lut=self._gray)
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
        self._jobs.shutdown(timeout_ms)
