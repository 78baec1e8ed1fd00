"""The Lab tab: the lesson's convolution arithmetic, one window at a time.

Three panels: the sliding window (step, play, speed; editable image, kernel, padding, stride;
cross-correlation vs true convolution vs max-pool), the output-size calculator, and a kernel
editor applied live to the current drawing. All numbers come from ``core.insight.lab`` (torch's own
conv2d / max_pool2d for the lesson's examples; the live filter in numpy, held to conv2d by a
test, since it runs on the GUI thread at every edit); the state lives in :mod:`.state`, which
the tests drive without Qt.
The drawing and the model's kernels arrive through :meth:`LabTab.set_drawing` and
:meth:`LabTab.set_model`; the main window wires them, so this tab imports no other tab.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPushButton, QSizePolicy, QSlider,
                               QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from digitpad.core.insight import lab

from .. import theme
from ..widgets.focus import display_only
from ..widgets.reflow import ReflowColumns
from .grid_view import GridView
from .state import MODES, KernelState, SlideState, format_grid, parse_grid, size_parameters, size_rows


class LabTab(QWidget):
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slide = SlideState()
        self.kernel_state = KernelState()
        self.drawing: np.ndarray | None = None
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)

        # The sliding window and the two calculators need ~1,150 px side by side: on a smaller
        # window the calculators go below the sliding window instead of off the right edge.
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self._build_sizes(), 1)
        right_layout.addWidget(self._build_kernel(), 1)
        self.scroll = ReflowColumns([self._build_slide(), right], stretches=[3, 2])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)
        self.apply_theme(theme.current())
        self._sync_slide_inputs()
        self._render_slide()
        self.load_size_preset(next(iter(lab.SIZE_PRESETS)))
        self._render_kernel()

    # --- sliding window ---------------------------------------------------------------------

    def _build_slide(self) -> QGroupBox:
        box = QGroupBox("Sliding window")
        v = QVBoxLayout(box)
        top = QHBoxLayout()
        self.conv_example = QPushButton("Convolution example")
        self.conv_example.setToolTip("The lesson's 3x3 image 0..8 with the 2x2 kernel [[0,1],[2,3]]")
        self.conv_example.clicked.connect(lambda: self._example("conv"))
        self.pool_example = QPushButton("Max-pool example")
        self.pool_example.setToolTip("The lesson's 2x2 max-pool with stride 1 on the same image")
        self.pool_example.clicked.connect(lambda: self._example("pool"))
        self.mode_box = QComboBox()
        self.mode_box.addItems(list(MODES))
        _narrow(self.mode_box, 12)
        self.mode_box.currentTextChanged.connect(lambda m: self._change(mode=m))
        self.compare = QCheckBox("Compare")
        self.compare.setToolTip("Show cross-correlation and true convolution side by side")
        self.compare.setChecked(True)
        self.compare.toggled.connect(self._render_slide)
        for w in (self.conv_example, self.pool_example, QLabel("Operation:"), self.mode_box, self.compare):
            top.addWidget(w)
        top.addStretch(1)
        v.addLayout(top)

        form = QHBoxLayout()
        self.image_edit = QLineEdit()
        self.image_edit.setToolTip("The image: numbers separated by spaces, rows by ';'")
        self.kernel_edit = QLineEdit()
        self.kernel_edit.setToolTip("The kernel, written the same way")
        self.image_edit.editingFinished.connect(self._grid_edited)
        self.kernel_edit.editingFinished.connect(self._grid_edited)
        self.pad_spin = _spin(0, 3, "Zero padding around the image")
        self.stride_spin = _spin(1, 4, "How far the window moves each step")
        self.pool_spin = _spin(1, 4, "Max-pool window size")
        self.pad_spin.valueChanged.connect(lambda n: self._change(padding=n))
        self.stride_spin.valueChanged.connect(lambda n: self._change(stride=n))
        self.pool_spin.valueChanged.connect(lambda n: self._change(pool_size=n))
        for label, w, stretch in (("Image", self.image_edit, 3), ("Kernel", self.kernel_edit, 2),
                                  ("Padding", self.pad_spin, 0), ("Stride", self.stride_spin, 0),
                                  ("Pool", self.pool_spin, 0)):
            form.addWidget(QLabel(label))
            form.addWidget(w, stretch)
        v.addLayout(form)

        grids = QHBoxLayout()
        self.input_view = GridView("input (padding shaded)")
        self.kernel_view = GridView("kernel")
        self.products_view = GridView("window × kernel")
        # room for the longest header it shows, so the sum appearing moves nothing
        self.products_view.setMinimumWidth(
            self.products_view.fontMetrics().horizontalAdvance("window × kernel, sum -000.00") + 8)
        self.output_view = GridView("output")
        self.other_view = GridView("")
        for g in self._grids():
            grids.addWidget(g, 0, Qt.AlignmentFlag.AlignTop)
        grids.addStretch(1)
        v.addLayout(grids)

        self.caption = QLabel()
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.TypeWriter)
        mono.setPointSizeF(self.font().pointSizeF() * 1.25)
        self.caption.setFont(mono)
        self.caption.setWordWrap(True)
        # the formula's length must not set the panel's width (it grew on the first Step)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.caption)

        controls = QHBoxLayout()
        self.back_button = QPushButton("◀ Back")
        self.step_button = QPushButton("Step ▶")
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.reset_button = QPushButton("Reset")
        self.all_button = QPushButton("Show all")
        self.back_button.clicked.connect(lambda: self._move(self.slide.back))
        self.step_button.clicked.connect(lambda: self._move(self.slide.step))
        self.play_button.toggled.connect(self.set_playing)
        self.reset_button.clicked.connect(lambda: self._move(self.slide.rewind))
        self.all_button.clicked.connect(lambda: self._move(self.slide.finish))
        self.speed = QSlider(Qt.Orientation.Horizontal)
        self.speed.setRange(1, 10)
        self.speed.setValue(2)
        self.speed.setToolTip("Steps per second while playing")
        self.speed.setMaximumWidth(160)
        self.speed.valueChanged.connect(self._speed_changed)
        self.speed_label = QLabel()
        for w in (self.back_button, self.step_button, self.play_button, self.reset_button, self.all_button):
            controls.addWidget(w)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Speed"))
        controls.addWidget(self.speed)
        controls.addWidget(self.speed_label)
        controls.addStretch(1)
        v.addLayout(controls)
        self._speed_changed(self.speed.value())

        self.flip_note = QLabel(lab.FLIP_NOTE)
        self.flip_note.setWordWrap(True)
        v.addWidget(self.flip_note)
        v.addStretch(1)
        return box

    def _grids(self) -> tuple[GridView, ...]:
        return (self.input_view, self.kernel_view, self.products_view, self.output_view, self.other_view)

    def _example(self, which: str) -> None:
        self.set_playing(False)
        self.slide.worked_example(which)
        self._sync_slide_inputs()
        self._render_slide()

    def _sync_slide_inputs(self) -> None:
        s = self.slide
        for w, value in ((self.pad_spin, s.padding), (self.stride_spin, s.stride), (self.pool_spin, s.pool_size)):
            blocked = w.blockSignals(True)
            w.setValue(value)
            w.blockSignals(blocked)
        blocked = self.mode_box.blockSignals(True)
        self.mode_box.setCurrentText(s.mode)
        self.mode_box.blockSignals(blocked)
        self.image_edit.setText(format_grid(s.image))
        self.kernel_edit.setText(format_grid(s.kernel))

    def _grid_edited(self) -> None:
        try:
            image = parse_grid(self.image_edit.text())
            kernel = parse_grid(self.kernel_edit.text())
        except ValueError as exc:
            self.caption.setText(f"Cannot read that: {exc}.")
            return
        if image.shape != self.slide.image.shape or kernel.shape != self.slide.kernel.shape or \
                not (np.array_equal(image, self.slide.image) and np.array_equal(kernel, self.slide.kernel)):
            self._change(image=image, kernel=kernel)

    def _change(self, **changes) -> None:
        self.set_playing(False)
        self.slide.set(**changes)
        self._render_slide()

    def _move(self, action) -> None:
        if action is not self.slide.step:
            self.set_playing(False)
        action()
        self._render_slide()

    def set_playing(self, on: bool) -> None:
        on = bool(on) and self.slide.result is not None
        if on and self.slide.at_end:
            self.slide.rewind()
        if on:
            self._timer.start()
        else:
            self._timer.stop()
        if self.play_button.isChecked() != on:
            blocked = self.play_button.blockSignals(True)
            self.play_button.setChecked(on)
            self.play_button.blockSignals(blocked)
        self.play_button.setText("Pause" if on else "Play")

    def _speed_changed(self, value: int) -> None:
        self._timer.setInterval(int(1000 / value))
        self.speed_label.setText(f"{value}/s")

    def _tick(self) -> None:
        if not self.slide.step():
            self.set_playing(False)
        self._render_slide()

    def _render_slide(self) -> None:
        s = self.slide
        pool = s.mode == "max-pool"
        self.kernel_edit.setEnabled(not pool)
        self.pool_spin.setEnabled(pool)
        self.compare.setEnabled(not pool)
        self.flip_note.setVisible(not pool)
        res = s.result
        self.caption.setText(s.caption())
        for b in (self.step_button, self.play_button, self.all_button):
            b.setEnabled(res is not None and (b is self.play_button or not s.at_end))
        self.back_button.setEnabled(s.cursor >= 0)
        if res is None:
            for g in self._grids():
                g.set_grid(np.zeros((0, 0)))
            return
        step = s.current
        window = None if step is None else (step.top, step.left, *res.size)
        self.products_view.reserved = tuple(res.size)  # the window's cells, shown or not
        self.input_view.set_grid(res.padded, res.padding, window)
        if pool:
            self.kernel_view.title = f"{res.size[0]}x{res.size[1]} max"
            self.kernel_view.set_grid(np.zeros((0, 0)))
        else:
            self.kernel_view.title = "kernel as slid" + (" (flipped)" if s.mode == "convolution" else "")
            self.kernel_view.set_grid(res.kernel)
        if step is None:  # no window yet: no sum of a window shown before
            self.products_view.title = "window (max taken)" if pool else "window × kernel"
            self.products_view.set_grid(np.zeros((0, 0)))
        elif pool:
            self.products_view.title = "window (max taken)"
            self.products_view.set_grid(step.patch)
        else:
            self.products_view.title = f"window × kernel, sum {step.products.sum():g}"
            self.products_view.set_grid(step.products)
        self.output_view.title = s.mode
        self.output_view.set_grid(s.filled_output(), marked=None if step is None else (step.row, step.col))
        show_other = not pool and self.compare.isChecked() and s.other is not None
        self.other_view.setVisible(show_other)
        if show_other:
            self.other_view.title = s.other.kind + " (all)"
            self.other_view.set_grid(s.other.output)

    # --- output sizes -----------------------------------------------------------------------

    def _build_sizes(self) -> QGroupBox:
        box = QGroupBox("Output size: (in - k + 2·pad) / stride + 1")
        v = QVBoxLayout(box)
        row = QHBoxLayout()
        self.preset_box = QComboBox()
        self.preset_box.addItems(list(lab.SIZE_PRESETS))
        self.preset_box.setPlaceholderText("custom")  # shown once the layers are no preset's
        _narrow(self.preset_box, 16)
        self.preset_box.textActivated.connect(self.load_size_preset)
        self.in_h = _spin(1, 4096, "Input height")
        self.in_w = _spin(1, 4096, "Input width")
        self.in_h.valueChanged.connect(self._render_sizes)
        self.in_w.valueChanged.connect(self._render_sizes)
        row.addWidget(QLabel("Preset"))
        row.addWidget(self.preset_box, 1)
        row.addWidget(QLabel("Input"))
        row.addWidget(self.in_w)
        row.addWidget(QLabel("x"))
        row.addWidget(self.in_h)
        v.addLayout(row)
        self.size_table = QTableWidget(0, 5)
        self.size_table.setHorizontalHeaderLabels(["layer", "k", "pad", "stride", "output (w x h)"])
        header = self.size_table.horizontalHeader()
        # the small columns as wide as their numbers, the output column takes the rest: with
        # all stretched, "output (w x h)" was cut under the scrollbar at the minimum size
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.size_table.setMinimumWidth(header.fontMetrics().horizontalAdvance(
            "layer  k  pad  stride  output (w x h)") + 90)
        self.size_table.verticalHeader().setVisible(False)
        self.size_table.itemChanged.connect(self._size_item_changed)
        v.addWidget(self.size_table, 1)
        buttons = QHBoxLayout()
        for text, kind in (("Add conv", "conv"), ("Add pool", "pool")):
            b = QPushButton(text)
            b.clicked.connect(lambda _=False, k=kind: self.add_size_layer(k))
            buttons.addWidget(b)
        remove = QPushButton("Remove last")
        remove.clicked.connect(self.remove_size_layer)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        v.addLayout(buttons)
        self.params_label = QLabel()  # follows the layers shown (_render_sizes)
        self.params_label.setWordWrap(True)
        v.addWidget(self.params_label)
        return box

    def load_size_preset(self, name: str) -> None:
        h, w, layers = lab.SIZE_PRESETS[name]
        self._size_layers = list(layers)
        for spin, value in ((self.in_h, h), (self.in_w, w)):
            blocked = spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(blocked)
        if self.preset_box.currentText() != name:
            self.preset_box.setCurrentText(name)
        self._render_sizes()

    def add_size_layer(self, kind: str) -> None:
        # a new conv keeps the last conv's width: "16 in, 1 out" read as a mistake
        last = next((x.channels for x in reversed(self._size_layers) if x.kind == "conv"), None)
        self._size_layers.append(lab.SizeLayer("conv", 3, channels=last) if kind == "conv"
                                 else lab.SizeLayer("pool", 2, 0, 2))
        self._render_sizes()

    def remove_size_layer(self) -> None:
        if self._size_layers:
            self._size_layers.pop()
            self._render_sizes()

    def _size_item_changed(self, item: QTableWidgetItem) -> None:
        if getattr(self, "_filling", False) or item.column() not in (1, 2, 3):
            return
        r = item.row() - 1
        if not 0 <= r < len(self._size_layers):
            return
        try:
            value = int(item.text())
        except ValueError:
            self._render_sizes()
            return
        old = self._size_layers[r]
        field = {1: "k", 2: "pad", 3: "stride"}[item.column()]
        params = {"k": old.k, "pad": old.pad, "stride": old.stride, field: value}
        self._size_layers[r] = lab.SizeLayer(old.kind, params["k"], params["pad"], params["stride"], old.channels)
        self._render_sizes()

    def size_results(self):
        return size_rows(self.in_h.value(), self.in_w.value(), self._size_layers)

    def _render_sizes(self) -> None:
        rows = self.size_results()
        self._filling = True
        try:
            t = self.size_table
            t.setRowCount(len(self._size_layers) + 1)
            for i in range(len(self._size_layers) + 1):
                layer = self._size_layers[i - 1] if i else None
                res = rows[i] if i < len(rows) else None
                cells = ["input", "", "", ""] if layer is None else \
                    [layer.kind, str(layer.k), str(layer.pad), str(layer.stride)]
                if res is None:
                    out = ""
                elif res.error:
                    out = res.error
                else:
                    out = f"{res.width} x {res.height}"
                for c, text in enumerate(cells + [out]):
                    item = QTableWidgetItem(text)
                    if c == 4 and res is not None and res.error:
                        item.setToolTip(res.error)  # a long reason is cut in its cell
                    editable = layer is not None and c in (1, 2, 3)
                    flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                    item.setFlags(flags | Qt.ItemFlag.ItemIsEditable if editable else flags)
                    t.setItem(i, c, item)
        finally:
            self._filling = False
        preset = next((n for n, (h, w, layers) in lab.SIZE_PRESETS.items()
                       if (h, w, list(layers)) == (self.in_h.value(), self.in_w.value(),
                                                   self._size_layers)), None)
        if preset is None:
            self.preset_box.setCurrentIndex(-1)  # "custom": a preset's name after Add conv was stale
        elif self.preset_box.currentText() != preset:
            self.preset_box.setCurrentText(preset)
        line, tip = size_parameters(self.in_h.value(), self.in_w.value(), self._size_layers)
        self.params_label.setText(line)
        self.params_label.setToolTip(tip)

    # --- kernel editor ----------------------------------------------------------------------

    def _build_kernel(self) -> QGroupBox:
        box = QGroupBox("A kernel on your drawing")
        v = QVBoxLayout(box)
        row = QHBoxLayout()
        self.ksize_box = QComboBox()
        self.ksize_box.addItems(["3x3", "5x5"])
        self.ksize_box.currentIndexChanged.connect(lambda i: self._kernel_size(3 if i == 0 else 5))
        self.kpreset_box = QComboBox()
        self.kpreset_box.addItems(list(lab.kernel_presets(3)))
        self.kpreset_box.setCurrentText("sobel x")
        self.kpreset_box.textActivated.connect(self.use_kernel_preset)
        self.model_k = _spin(0, 0, "Which of conv1's kernels")
        self.model_k_button = QPushButton("Use conv1 kernel")
        self.model_k_button.clicked.connect(lambda: self.use_model_kernel(self.model_k.value()))
        self.model_k.valueChanged.connect(
            lambda k: self.use_model_kernel(k) if self.kernel_state.source.startswith("model") else None)
        for w in (self.ksize_box, self.kpreset_box, self.model_k_button, self.model_k):
            row.addWidget(w)
        row.addStretch(1)
        v.addLayout(row)
        self.model_note = QLabel()
        self.model_note.setWordWrap(True)
        v.addWidget(self.model_note)
        body = QHBoxLayout()
        self.kernel_table = QTableWidget(3, 3)
        self.kernel_table.horizontalHeader().setVisible(False)
        self.kernel_table.verticalHeader().setVisible(False)
        self.kernel_table.horizontalHeader().setDefaultSectionSize(58)
        self.kernel_table.verticalHeader().setDefaultSectionSize(28)
        self.kernel_table.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.kernel_table.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        self.kernel_table.itemChanged.connect(self._kernel_item_changed)
        body.addWidget(self.kernel_table, 0, Qt.AlignmentFlag.AlignTop)
        self.kernel_plot = _KernelView()
        self.kernel_plot.setMinimumSize(150, 100)
        display_only(self.kernel_plot)
        self.kernel_images = []
        for i, title in enumerate(("what the network sees", "filtered")):
            vb = self.kernel_plot.addViewBox(row=0, col=i, lockAspect=True, invertY=True, enableMouse=False)
            item = pg.ImageItem(axisOrder="row-major")
            vb.addItem(item)
            self.kernel_images.append(item)
        body.addWidget(self.kernel_plot, 1)
        v.addLayout(body, 1)
        self.kernel_caption = QLabel()
        self.kernel_caption.setWordWrap(True)
        v.addWidget(self.kernel_caption)
        return box

    def _kernel_size(self, size: int) -> None:
        self.kernel_state.set_size(size)
        self._render_kernel()

    def use_kernel_preset(self, name: str) -> None:
        self.kernel_state.use_preset(name)
        self._render_kernel()

    def use_model_kernel(self, k: int) -> None:
        try:
            self.kernel_state.use_model_kernel(int(k))
        except ValueError as exc:
            self.status_message.emit(str(exc))
            return
        self._render_kernel()

    def _kernel_item_changed(self, item: QTableWidgetItem) -> None:
        if getattr(self, "_filling_kernel", False):
            return
        try:
            self.kernel_state.set_value(item.row(), item.column(), float(item.text()))
        except ValueError:
            pass
        self._render_kernel()

    def set_drawing(self, image: np.ndarray | None) -> None:
        """The 28x28 image the network sees (None: nothing drawn)."""
        self.drawing = None if image is None else np.asarray(image, dtype=np.float32)
        if self.isVisible():
            self._render_kernel()

    def set_model(self, arch: str, kernels: dict) -> None:
        self.kernel_state.set_model(arch, kernels)
        n = self.kernel_state.model_count
        blocked = self.model_k.blockSignals(True)
        self.model_k.setRange(0, max(0, n - 1))
        self.model_k.blockSignals(blocked)
        self.model_k.setEnabled(n > 0)
        self.model_k_button.setEnabled(n > 0)
        if self.kernel_state.source.startswith("model"):
            if n:
                self.kernel_state.use_model_kernel(min(self.model_k.value(), n - 1))
            else:
                self.kernel_state.use_preset("sobel x")
        self._render_kernel()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._render_kernel()

    def _render_kernel(self) -> None:
        ks = self.kernel_state
        self.model_note.setText(ks.model_note)
        k = ks.kernel
        self._filling_kernel = True
        try:
            blocked = self.ksize_box.blockSignals(True)
            self.ksize_box.setCurrentIndex(0 if ks.size == 3 else 1)
            self.ksize_box.blockSignals(blocked)
            # blank when the kernel is the model's or hand-edited: the box names presets only
            self.kpreset_box.setCurrentIndex(self.kpreset_box.findText(ks.source))
            t = self.kernel_table
            t.setRowCount(k.shape[0])
            t.setColumnCount(k.shape[1])
            for r in range(k.shape[0]):
                for c in range(k.shape[1]):
                    v = float(k[r, c])
                    item = QTableWidgetItem(f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v)))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    t.setItem(r, c, item)
            t.setFixedSize(58 * k.shape[1] + 4, 28 * k.shape[0] + 4)
        finally:
            self._filling_kernel = False
        filtered = ks.apply(self.drawing)
        if self.drawing is None:
            for item in self.kernel_images:
                item.clear()
            self.kernel_caption.setText(f"Kernel: {ks.source}. Draw on the Draw tab: your digit "
                                        "appears here with the kernel applied.")
            return
        self.kernel_images[0].setImage(self.drawing, levels=(0, 1))
        lim = float(np.abs(filtered).max()) or 1.0
        self.kernel_images[1].setImage(filtered, levels=(-lim, lim), lut=self._diverging)
        self.kernel_caption.setText(f"Kernel: {ks.source}. Blue is negative, red positive; "
                                    f"range ±{lim:.2f}. A conv layer does exactly this, then adds a bias.")

    def apply_theme(self, colors: theme.Colors) -> None:
        self.kernel_plot.setBackground(colors.plot_bg)
        self._diverging = _diverging_lut(colors.plot_bg, colors.name == "dark")
        if self.drawing is not None:
            self._render_kernel()

    def shutdown(self) -> None:
        self._timer.stop()


def _narrow(box: QComboBox, chars: int) -> None:
    # long item texts must not set the tab's minimum width (the window is 1280 px by default)
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(chars)


def _spin(lo: int, hi: int, tip: str) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setToolTip(tip)
    return s


def _diverging_lut(mid: str, dark: bool = False) -> np.ndarray:
    """Blue -> the background colour -> red, so zero vanishes into the plot in either theme.

    On the dark background the ends are brighter and the ramp rises faster (gamma 0.6):
    linear to a deep blue, half a response was barely above black ("dim on black")."""
    m = np.array([int(mid[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    if dark:
        blue, red = np.array([90, 160, 255.0]), np.array([255, 100, 80.0])
    else:
        blue, red = np.array([40, 90, 220.0]), np.array([220, 50, 40.0])
    t = np.linspace(-1, 1, 256)[:, None]
    w = np.abs(t) ** (0.6 if dark else 1.0)
    lut = np.where(t < 0, m + (blue - m) * w, m + (red - m) * w)
    return lut.clip(0, 255).astype(np.uint8)


class _KernelView(pg.GraphicsLayoutWidget):
    """The kernel applied to the drawing: a 28x28 picture. Below the sliding window on a small
    window it takes this height, not a graphics view's default 480 px of mostly blank space."""

    def sizeHint(self) -> QSize:
        return QSize(280, 280)
