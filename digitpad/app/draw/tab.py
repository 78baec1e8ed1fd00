"""The Draw tab: canvas, live prediction, what the network sees, and its feature maps.

Prediction is coalesced: every canvas change only sets a dirty flag and (re)starts a 0 ms
single-shot timer, so however fast a stroke arrives at most one prediction is pending and it
always reads the newest canvas. A prediction takes a millisecond or two, so it runs on the
GUI thread (a worker would cost more in hand-offs than it saves). Everything slower runs in
workers: a new entry's first forward pass (the warm-up), the live entry's new weights each
epoch (a ~0.1 s rebuild for digitnet), and the Inside panel; the GUI thread only paints.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QMessageBox, QSlider, QSplitter,
                               QToolButton, QVBoxLayout, QWidget)

from digitpad.core.nets.spec import DESCRIPTIONS
from digitpad.core.nets.errors import CheckpointError  # torch-free: what an unusable output raises

from .. import theme
from ..workers import Latest
from ..widgets.canvas import DEFAULT_BRUSH, MAX_BRUSH, MIN_BRUSH, DrawingCanvas
from .corrections import Corrections
from .feature_maps import FeatureMapView
from .inside import InsidePanel
from .number_view import NumberView
from .prediction_view import PredictionView
from .state import LIVE_KEY, SHIPPED_ORDER, DrawState, entry_label, live_label

# torch and the core's model code are imported when the models load (load_shipped_predictors,
# in a background thread at launch), so the window opens before torch is imported.
if TYPE_CHECKING:
    from digitpad.core.nets.checkpoint import Checkpoint
    from digitpad.core.reading.predict import Predictor

log = logging.getLogger("digitpad.app")


@dataclass
class ModelEntry:
    key: str  # "digitnet" for a shipped model, a file path, "trained:N" or "live"
    label: str  # what the picker shows
    predictor: Predictor
    source: str  # shipped | untrained | file | trained | live
    checkpoint: Checkpoint | None = None
    extra: dict = field(default_factory=dict)

    @property
    def arch(self) -> str:
        return self.predictor.arch

    @property
    def accuracy(self) -> float | None:
        acc = getattr(self.predictor, "test_acc", None)
        return float(acc) if acc is not None else None

    @property
    def torch_weights(self) -> bool:
        """Whether torch runs it (saves, training, teaching, Mistakes, Compare): not ONNX."""
        return self.arch != "onnx"

    def to_checkpoint(self) -> Checkpoint:
        from digitpad.core.nets.checkpoint import Checkpoint, CheckpointError

        if not self.torch_weights:
            raise CheckpointError(f"{self.label.split(' · ')[0]} is an ONNX model: onnxruntime "
                                  "runs it, so it cannot be saved, trained or taught here.",
                                  None, "onnx")

        state = {k: v.detach().cpu() for k, v in self.predictor.state_dict().items()} \
            if hasattr(self.predictor, "state_dict") else self.checkpoint.state
        meta = dict(self.predictor.meta or {})
        if self.source == "file":  # the picker's name, not the run's "lenet trained 21:22"
            meta["name"] = Path(self.key).name
        return Checkpoint(self.arch, state, meta, None)


def untrained_predictor(arch: str, seed: int = 0) -> Predictor:
    """A seeded random model, so the app works before any model file exists."""
    import torch

    from digitpad.core.nets.models import create_model
    from digitpad.core.reading.predict import Predictor

    torch.manual_seed(seed)
    model = create_model(arch)
    meta = {"name": f"{arch} (untrained)", "untrained": True}
    return Predictor(arch, model.state_dict(), meta=meta, name=f"{arch} (untrained)")


def load_shipped_predictors(archs: tuple[str, ...] = SHIPPED_ORDER) -> list[tuple[str, Predictor, str]]:
    """(arch, predictor, source) for digitnet, lenet and dense, each warmed up.

    Safe to call from a background thread: it imports torch, reads the files and pays
    torch's slow first forward pass; nothing here touches a widget. A missing or unusable
    file gives a seeded untrained stand-in (source "untrained").
    """
    from digitpad.core.nets.checkpoint import CheckpointError
    from digitpad.core.reading.predict import Predictor

    out = []
    for arch in archs:
        try:
            pred, source = Predictor.shipped(arch), "shipped"
        except CheckpointError as exc:
            if exc.kind != "missing":
                log.warning("shipped model %s unusable: %s", arch, exc)
            pred, source = untrained_predictor(arch), "untrained"
        try:
            pred.predict(WARMUP_DRAWING)  # torch's first forward pass is slow: pay it here
        except Exception:
            log.exception("warm-up prediction failed")
        out.append((arch, pred, source))
    return out


class ModelOpen(QObject):
    """A model file being opened in a worker (read, matched, input scored, built, warmed up):
    ``ended(ok)`` once it is in the picker or refused; ``wait()`` runs the event loop until
    then (tests, scripts); ``ms`` is the open's time to the first prediction it allows."""

    ended = Signal(bool)

    def __init__(self, path: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.ok: bool | None = None
        self.error: str | None = None
        self.ms: float | None = None
        self.t0 = time.perf_counter()

    def finish(self, ok: bool, error: str | None = None) -> None:
        if self.ok is None:
            self.ok, self.error = ok, error
            self.ms = (time.perf_counter() - self.t0) * 1000
            self.ended.emit(ok)

    def wait(self, timeout_ms: int = 60000) -> bool:
        if self.ok is None:
            loop = QEventLoop()
            self.ended.connect(loop.quit)
            QTimer.singleShot(timeout_ms, loop.quit)
            if self.ok is None:
                loop.exec()
        return bool(self.ok)

    def __bool__(self) -> bool:  # `if tab.open_model_file(p):` still reads "it worked"
        return self.wait()


MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".onnx")  # what Open model / drop / --model take


def open_in_worker(path: str, input: str | None, data_dir, remember: bool):
    """The worker's half of opening a model (core.reading.predict.open_model_file), warmed up
    and its maps' shapes and kernels read, so the GUI thread only adds the entry."""
    from digitpad.core.nets.spec import feature_shapes
    from digitpad.core.reading.predict import open_model_file

    pred, ckpt = open_model_file(path, input, data_dir, remember=remember)
    pred.predict(WARMUP_DRAWING)
    shapes = pred.feature_shapes() if hasattr(pred, "feature_shapes") else feature_shapes(pred.arch)
    return pred, ckpt, shapes, _numpy_kernels(pred)


class DrawTab(QWidget):
    model_changed = Signal(object)  # the ModelEntry now drawn with
    status_message = Signal(str)
    prediction_shown = Signal()  # after bars, steps and maps were updated (bench, tests)

    def __init__(self, parent: QWidget | None = None, device: str = "cpu") -> None:
        super().__init__(parent)
        self.device = device
        self.entries: dict[str, ModelEntry] = {}
        self._current: ModelEntry | None = None
        self._trained_count = 0
        self.state = DrawState()  # loading → ready, coalesced predictions
        self.last_prediction = None
        self.last_predict_ms = 0.0
        self._quick = None  # core.numpy_predict's copy of the first model, until torch's arrives
        self._test_image: tuple[np.ndarray, np.ndarray] | None = None  # (canvas, 28x28) from Mistakes

        self.canvas = DrawingCanvas()
        self.prediction = PredictionView()
        self.maps = FeatureMapView()

        self.model_box = QComboBox()
        self.model_box.setToolTip("Which network reads your drawing")
        self.model_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_box.currentIndexChanged.connect(self._on_model_index)
        self.brush = QSlider(Qt.Orientation.Horizontal)
        self.brush.setRange(MIN_BRUSH, MAX_BRUSH)
        self.brush.setValue(DEFAULT_BRUSH)
        self.brush.setToolTip("Brush size")
        self.brush.setMaximumWidth(140)
        self.brush.valueChanged.connect(self.canvas.set_brush_size)
        # Number mode (number_view.py): a wide strip read as a whole number; the buttons act
        # on whichever canvas is shown
        self.number = NumberView(lambda: self._current.predictor if self._current else self._quick)
        self.number.hide()
        self.number.digit_chosen.connect(self._show_digit)
        self.model_changed.connect(lambda _entry: self.number.forget())
        self.mode_button = self._tool("Number mode", self.set_number_mode,
                                      "Write a whole number on a wide strip instead of one digit")
        self.mode_button.setCheckable(True)
        self.undo_button = self._tool("Undo", lambda: self.active_canvas().undo(), "Undo the last stroke")
        self.redo_button = self._tool("Redo", lambda: self.active_canvas().redo(), "Redo the stroke you undid")
        self.clear_button = self._tool("Clear", lambda: self.active_canvas().clear(), "Start a new drawing")

        # a foreign model's input convention (core.nets.foreign), shown for such models only
        from digitpad.core.nets.conventions import CONVENTION_NAMES, describe

        self.input_label = QLabel("Input:")
        self.input_box = QComboBox()
        for name in CONVENTION_NAMES:
            self.input_box.addItem(describe(name), name)
        self.input_box.currentIndexChanged.connect(
            lambda i: self.set_input_convention(self.input_box.itemData(i)))
        self.input_label.hide()
        self.input_box.hide()
        self.data_dir = None  # where MNIST is, for scoring a foreign model's input (the window sets it)
        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model:"))
        model_row.addWidget(self.model_box, 1)
        model_row.addWidget(self.input_label)
        model_row.addWidget(self.input_box)
        tools = QHBoxLayout()
        tools.addWidget(QLabel("Brush"))
        tools.addWidget(self.brush)
        tools.addStretch(1)
        for b in (self.mode_button, self.undo_button, self.redo_button, self.clear_button):
            tools.addWidget(b)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(6, 6, 6, 6)
        lv.addLayout(model_row)
        lv.addWidget(self.canvas, 3)
        lv.addLayout(tools)
        lv.addWidget(self.prediction, 0)
        self.corrections = Corrections(self)  # 0-9 or a bar click keeps the drawing as a sample
        lv.addWidget(self.corrections.note)
        # at least 300 px, and never less than its contents need: an explicit minimum alone
        # would let the splitter squeeze the preprocessing previews past the pane's edge
        left.setMinimumWidth(max(300, lv.minimumSize().width()))

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(6, 6, 6, 6)
        rv.addWidget(self.maps)
        self.inside = InsidePanel(self._shipped_predictors, compared=self._compared_predictors)
        rv.addWidget(self.inside)
        self.maps.unit_clicked.connect(self.inside.show_unit)
        self.prediction_shown.connect(self._feed_inside)
        self.model_changed.connect(self._model_to_inside)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # Number mode's strip spans the tab above both panes: a 4:1 strip squeezed into the
        # left pane was ~80 px high at the minimum window size
        self.number.setContentsMargins(6, 6, 6, 0)
        layout.addWidget(self.number, 1)
        layout.addWidget(self.splitter, 2)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._predict_now)
        self.canvas.changed.connect(self.request_prediction)
        self._warmups = Latest(self, name="digitpad-warmup")
        self._opens = Latest(self, name="digitpad-open-model")
        self._open_job: ModelOpen | None = None
        self._live_jobs = Latest(self, name="digitpad-live")
        self.canvas.history_changed.connect(self._update_buttons)
        self.number.canvas.history_changed.connect(self._update_buttons)
        self.number.status_message.connect(self.status_message)
        self.number.correct.connect(lambda d, k: self.corrections.keep_image(
            self.number.selected_crop(), k, d))
        self._update_buttons()
        self.apply_theme(theme.current())
        self.prediction.show_status(self.state.status_text(True))

    # --- inside the network (inside.py) ---------------------------------------------------

    def _shipped_predictors(self) -> list:
        return [(e.label.split(" · ")[0], e.arch, e.predictor) for k in SHIPPED_ORDER
                if (e := self.entries.get(k)) is not None]

    def _compared_predictors(self) -> list:
        """Compare's rows: the shipped models, then the one drawn with when it is a file."""
        rows = self._shipped_predictors()
        e = self.current_entry()
        if e is not None and e.source == "file" and not any(p is e.predictor for *_, p in rows):
            rows.append((e.label.split(" · ")[0], e.arch, e.predictor))
        return rows

    def _feed_inside(self) -> None:
        p = self.last_prediction
        empty = p is None or p.empty
        self.inside.set_input(None if empty else p.image, None if empty else p.digit)

    def _model_to_inside(self, entry: ModelEntry) -> None:
        if not entry.torch_weights:  # ONNX: occlusion through its own forward pass only
            self.inside.set_model(entry.arch, lambda: {}, entry.predictor.meta, None,
                                  probs_batch=entry.predictor.probs_batch)
            return
        self.inside.set_model(entry.arch, entry.predictor.state_dict, entry.predictor.meta,
                              None if entry.source == "shipped" else entry.label.split(" · ")[0])

    def _tool(self, text: str, slot, tip: str) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.clicked.connect(slot)
        return b

    def _update_buttons(self) -> None:
        c = self.active_canvas()
        self.undo_button.setEnabled(c.can_undo())
        self.redo_button.setEnabled(c.can_redo())

    # --- number mode (number_view.py) ------------------------------------------------------

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # the strip takes at most a third of the tab's height: the chosen digit's bars,
        # previews and maps below keep the room they need at the minimum window size
        self.number.setMaximumHeight(max(150, self.height() // 3))


    def active_canvas(self) -> DrawingCanvas:
        return self.number.canvas if self.number.state.active else self.canvas

    def set_number_mode(self, on: bool) -> None:
        """Number mode (a wide strip read as a number) or the single-digit canvas."""
        if not self.number.state.set_mode("number" if on else "digit"):
            return
        blocked = self.mode_button.blockSignals(True)
        self.mode_button.setChecked(bool(on))
        self.mode_button.blockSignals(blocked)
        self.canvas.setVisible(not on)
        self.number.setVisible(bool(on))
        self.corrections.note.setVisible(not on)
        self._update_buttons()
        if on:
            self.number.canvas.setFocus()
            self.number.read_now()
            self._show_digit(self.number.state.selected_digit())
        else:
            self._predict_now()

    def _show_digit(self, digit) -> None:
        """Number mode chose a digit: its maps, bars and Inside view, as if drawn alone."""
        predictor = self._current.predictor if self._current is not None else self._quick
        if predictor is None:
            return
        if digit is None:
            self.last_prediction = None
            self.prediction.show_empty("Write a number")
            self.maps.clear_maps()
            self.prediction_shown.emit()
            return
        t0 = time.perf_counter()
        try:
            pred = predictor.predict(digit.pre)
        except CheckpointError as exc:
            self._show_unusable(exc)
            return
        self._show(pred, t0)

    # --- models ----------------------------------------------------------------------------

    def use_quick(self, quick) -> None:
        """Read drawings with a numpy copy of the first model (``core.numpy_predict``) while torch
        loads: the first prediction needs no torch. The picker shows it under its own label;
        :meth:`add_loaded_models` hands over to the torch models. Not a model entry: saving,
        training and the Inside panel wait for those."""
        if self._current is not None or self.entries:
            return
        self._quick = quick
        blocked = self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItem(entry_label(quick.arch, "shipped", quick.test_acc), QUICK_KEY)
        self.model_box.setItemData(0, quick.description, Qt.ItemDataRole.ToolTipRole)
        self.model_box.blockSignals(blocked)
        self.maps.set_model(quick.feature_shapes(), quick.kernels())
        self.state.model_ready()
        self.prediction.show_status(self.state.status_text(self.canvas.is_empty()))
        self._predict_now()  # a stroke drawn before it was ready (a no-op on an empty canvas)

    def _drop_quick(self) -> None:
        """A real entry arrived (torch's models, or a file opened meanwhile): the copy goes."""
        if self._quick is None:
            return
        self._quick = None
        blocked = self.model_box.blockSignals(True)
        i = self.model_box.findData(QUICK_KEY)
        if i >= 0:
            self.model_box.removeItem(i)
        self.model_box.blockSignals(blocked)

    def add_loaded_models(self, loaded: list[tuple[str, Predictor, str]]) -> list[str]:
        """The result of :func:`load_shipped_predictors`: add the entries, leave "loading"."""
        missing = []
        order = {a: i for i, a in enumerate(SHIPPED_ORDER)}
        for arch, pred, source in sorted(loaded, key=lambda item: order.get(item[0], 99)):
            if arch in self.entries:
                continue
            if source == "untrained":
                missing.append(arch)
            entry = ModelEntry(arch, entry_label(arch, source, pred.test_acc), pred, source)
            entry.extra["warm"] = True
            self._add_entry(entry, select=False)
        if self.state.model_ready() and self._current is not None:
            self._predict_now()  # a stroke drawn while loading
        return missing

    def _add_entry(self, entry: ModelEntry, select: bool = True) -> ModelEntry:
        self._drop_quick()
        if entry.key in self.entries:
            i = self.model_box.findData(entry.key)
            self.entries[entry.key] = entry
            self.model_box.setItemText(i, entry.label)
            if entry is not self._current and self._current is not None \
                    and self._current.key == entry.key:
                self._activate(entry)
        else:
            self.entries[entry.key] = entry
            # the first item becomes current by itself; activation waits for select_model
            blocked = self.model_box.blockSignals(not select or self._current is None)
            self.model_box.addItem(entry.label, entry.key)
            self.model_box.blockSignals(blocked)
            self.model_box.setItemData(self.model_box.count() - 1,
                                       DESCRIPTIONS.get(entry.arch, entry.arch), Qt.ItemDataRole.ToolTipRole)
        if select:
            self.select_model(entry.key)
        return entry

    def add_checkpoint_in_worker(self, ckpt: Checkpoint, source: str = "trained") -> ModelOpen:
        """:meth:`add_checkpoint` with the model built, folded, probed and warmed up in a worker
        (Use this model of the Training and My handwriting tabs); the job says when it is in."""
        job = ModelOpen(ckpt.name, self)

        def work(control):
            from digitpad.core.reading.predict import Predictor

            pred = Predictor.from_checkpoint(ckpt)
            pred.predict(WARMUP_DRAWING)
            yield pred

        def done(pred) -> None:
            try:
                entry = self.add_checkpoint(ckpt, source, select=False, predictor=pred)
                entry.extra["warm"] = True
                self.select_model(entry.key)
            except Exception as exc:
                failed(exc)
                return
            job.finish(True)

        def failed(exc) -> None:
            log.warning("could not use %s: %r", ckpt.name, exc)
            job.finish(False, str(exc))

        self._submit_open(job, work, done, failed)
        return job

    def _submit_open(self, job: ModelOpen, work, done, failed) -> None:
        if self._open_job is not None and self._opens.waiting:
            self._open_job.finish(False, "replaced by a newer open")  # Latest drops it
        self._open_job = job
        self._opens.submit(work, done, failed)

    def add_checkpoint(self, ckpt: Checkpoint, source: str = "trained", select: bool = True,
                       predictor=None) -> ModelEntry:
        """A model from a file or from training: add it to the picker (and draw with it);
        ``predictor``: already built from ``ckpt`` (in a worker)."""
        from digitpad.core.reading.predict import Predictor

        pred = predictor if predictor is not None else Predictor.from_checkpoint(ckpt)
        if source == "file" and ckpt.path is not None:
            key = str(ckpt.path)
            name = ckpt.path.name
        else:
            self._trained_count += 1
            key = f"trained:{self._trained_count}"
            name = f"{ckpt.arch} #{self._trained_count}"
            if ckpt.meta.get("taught"):  # taught your handwriting: its name says so
                name = f"{ckpt.meta.get('name') or ckpt.arch} #{self._trained_count}"
            pred.meta = dict(pred.meta or {})
            pred.meta.setdefault("name", name)
        entry = ModelEntry(key, entry_label(name, source, pred.test_acc), pred, source, ckpt)
        return self._add_entry(entry, select)

    def open_model_file(self, path: str, input: str | None = None, data_dir=None,
                        remember: bool = False, quiet: bool = False) -> ModelOpen:
        """Open a model file in a worker (digitpad's, a state dict, ONNX); any problem shows
        the core's message (unless ``quiet``: the start-up reopen) and keeps the current model.
        ``input``: a foreign model's convention (``remember``: recorded, the Input box)."""
        job = ModelOpen(str(path), self)
        self.status_message.emit(f"Opening {Path(path).name}…")

        def work(control):
            yield open_in_worker(str(path), input, data_dir, remember)

        def done(item) -> None:
            pred, ckpt, shapes, kernels = item
            try:
                entry = self._file_entry(str(path), pred, ckpt)
                entry.extra.update(warm=True, shapes=shapes, kernels=kernels)
                self._add_entry(entry)
            except Exception as exc:
                log.exception("could not show model %s", path)
                failed(exc)
                return
            job.finish(True)
            from digitpad.core.nets.conventions import input_summary

            note = input_summary(pred.meta or {})
            self.status_message.emit(f"Opened {path} in {job.ms:.0f} ms" + (f" · {note}" if note else ""))

        def failed(exc) -> None:
            from digitpad.core.nets.checkpoint import CheckpointError

            if isinstance(exc, CheckpointError):
                log.warning("could not open model %s: %s", path, exc)
                text = str(exc)
            else:  # anything else a strange file can cause
                log.error("unexpected error opening %s: %r", path, exc)
                text = f"{path} could not be used as a model: {exc}"
            job.finish(False, text)
            if not quiet:
                QMessageBox.warning(self, "Cannot open model", text)
            self.status_message.emit(f"Cannot open {Path(path).name}")

        self._submit_open(job, work, done, failed)
        return job

    def _file_entry(self, path: str, pred, ckpt) -> ModelEntry:
        label = entry_label(Path(path).name, "file", getattr(pred, "test_acc", None))
        return ModelEntry(str(Path(path)), label, pred, "file", ckpt)

    def set_input_convention(self, name: str) -> ModelOpen | None:
        """The Input box: reopen the foreign model drawn with under convention ``name``,
        remembered for the file."""
        e = self._current
        if e is None or not (e.predictor.meta or {}).get("foreign") or e.source != "file":
            return None
        if (e.predictor.meta or {}).get("input") == name:
            return None
        return self.open_model_file(e.key, name, self.data_dir, remember=True)

    def _show_input_box(self, entry: ModelEntry) -> None:
        meta = entry.predictor.meta or {}
        foreign = bool(meta.get("foreign")) and entry.source == "file"
        self.input_label.setVisible(foreign)
        self.input_box.setVisible(foreign)
        if foreign:
            blocked = self.input_box.blockSignals(True)
            self.input_box.setCurrentIndex(max(0, self.input_box.findData(meta.get("input"))))
            self.input_box.blockSignals(blocked)
            from digitpad.core.nets.conventions import input_summary

            self.input_box.setToolTip("The input this network was trained on (scored on a few "
                                      "hundred digits; choose another to override it).\n"
                                      + input_summary(meta))

    def select_model(self, key: str) -> bool:
        i = self.model_box.findData(key)
        if i < 0:
            return False
        if i == self.model_box.currentIndex():
            self._on_model_index(i)
        else:
            self.model_box.setCurrentIndex(i)
        return True

    def _on_model_index(self, index: int) -> None:
        key = self.model_box.itemData(index)
        entry = self.entries.get(key)
        if entry is None or entry is self._current:
            return
        self._activate(entry)

    def _activate(self, entry: ModelEntry) -> None:
        from digitpad.core.nets.spec import feature_shapes

        self.state.model_ready()
        self._current = entry
        pred = entry.predictor
        shapes = entry.extra.get("shapes") or feature_shapes(pred.arch)
        kernels = entry.extra.get("kernels")
        self.maps.set_model(shapes, _numpy_kernels(pred) if kernels is None else kernels)
        self._show_input_box(entry)
        self.model_changed.emit(entry)
        if entry.extra.get("warm"):
            self.state.warmed()
            self._predict_now()
        else:
            self._warm_up(entry)

    def _warm_up(self, entry: ModelEntry) -> None:
        """A model's first forward pass is slow (torch sets up its kernels): pay it in a worker.

        Until it is done the drawing waits for this model (``DrawState.warming``); the newest
        model chosen is warmed next, older waiting ones are dropped.
        """
        self.state.begin_warmup()
        pred = entry.predictor

        def work(control):
            pred.predict(WARMUP_DRAWING)
            yield entry

        def done(_item=None) -> None:
            entry.extra["warm"] = True
            if entry is self._current and self.state.warmed():
                self._predict_now()

        def failed(exc) -> None:
            log.error("warm-up prediction of %s failed: %r", entry.label, exc)
            done()  # the prediction itself reports the problem

        self._warmups.submit(work, done, failed)

    def current_entry(self) -> ModelEntry | None:
        return self._current

    def set_live_weights(self, ckpt: Checkpoint) -> None:
        """Training finished an epoch: the Draw tab switches to the "live" entry and redraws.

        The weights are rebuilt into the live predictor in a worker (about 0.1 s for
        digitnet); the newest epoch wins when epochs come faster than that.
        """
        self.state.live_running = True
        meta = dict(ckpt.meta or {})
        live = self.entries.get(LIVE_KEY)
        reuse = live.predictor if live is not None and live.arch == ckpt.arch else None

        def work(control):
            from digitpad.core.reading.predict import Predictor

            if reuse is not None:
                reuse.set_state(ckpt.state, meta)  # an atomic swap: safe while the GUI predicts
                pred = reuse
            else:
                pred = Predictor.from_checkpoint(ckpt)
                pred.predict(WARMUP_DRAWING)
            yield pred

        def refused(exc) -> None:
            from digitpad.core.nets.checkpoint import CheckpointError

            if isinstance(exc, CheckpointError):  # outputs that overflow: keep what is drawn
                epoch = int(meta.get("epochs") or 0)
                self.status_message.emit(f"Not drawing with epoch {epoch}'s weights: {exc}")
            else:
                log.error("live weights not loaded: %r", exc)

        self._live_jobs.submit(work, lambda pred: self._show_live(ckpt, pred), refused)

    def _show_live(self, ckpt: Checkpoint, pred: Predictor) -> None:
        """The live entry's predictor holds ``ckpt``'s weights (built by set_live_weights)."""
        meta = dict(ckpt.meta or {})
        epoch = int(meta.get("epochs") or 0)
        acc = ckpt.val_acc if getattr(ckpt, "val_acc", None) is not None else ckpt.test_acc
        label = live_label(ckpt.arch, epoch, acc, running=self.state.live_running)
        live = self.entries.get(LIVE_KEY)
        if live is not None and live.predictor is pred:
            live.checkpoint = ckpt
            live.label = label
            self.model_box.setItemText(self.model_box.findData(LIVE_KEY), label)
            if live is self._current:
                self.maps.set_kernels(_numpy_kernels(live.predictor))
                self.model_changed.emit(live)
                self._predict_now()
            else:
                self.select_model(LIVE_KEY)
        else:
            if live is not None:  # a new run of another architecture replaces the old entry
                self.entries.pop(LIVE_KEY)
                self.model_box.removeItem(self.model_box.findData(LIVE_KEY))
                if self._current is live:
                    self._current = None
            entry = ModelEntry(LIVE_KEY, label, pred, "live", ckpt)
            entry.extra["warm"] = True
            self._add_entry(entry, select=True)
        self.status_message.emit(f"Drawing with the live weights of {ckpt.arch} after epoch {epoch}")

    def end_live(self) -> None:
        """The run that fed the live entry ended: it is a model trained here now."""
        live = self.entries.get(LIVE_KEY)
        self.state.live_running = False
        if live is None or live.source != "live":
            return
        meta = live.predictor.meta or {}
        acc = live.checkpoint.val_acc if live.checkpoint is not None and \
            getattr(live.checkpoint, "val_acc", None) is not None else live.accuracy
        live.label = live_label(live.arch, int(meta.get("epochs") or 0), acc, running=False)
        self.model_box.setItemText(self.model_box.findData(LIVE_KEY), live.label)
        if live is self._current:
            self.model_changed.emit(live)

    def key_holding(self, state: dict) -> str | None:
        """The entry drawing with exactly these weights (the same tensors), if any."""
        for key, e in self.entries.items():
            if e.checkpoint is not None and e.checkpoint.state is state:
                return key
        return None

    def became_file(self, key: str, path: str) -> bool:
        """A model trained here was saved to ``path``: from now on it is that file, one name
        in the picker (not "lenet #2 · trained here" beside "lenet-99.03.safetensors"), and
        the next launch reopens it."""
        from dataclasses import replace
        from pathlib import Path

        e = self.entries.get(key)
        if e is None or e.source not in ("trained", "file"):
            return False
        path = str(Path(path))
        ckpt = e.checkpoint
        if ckpt is not None:
            ckpt = replace(ckpt, path=Path(path))
        moved = replace(e, key=path, source="file", checkpoint=ckpt,
                        label=entry_label(Path(path).name, "file", e.accuracy))
        del self.entries[key]
        self.entries.pop(path, None)
        i = self.model_box.findData(key)
        old = self.model_box.findData(path)  # the same file opened before: one entry stays
        self.entries[path] = moved
        if old >= 0 and old != i:
            self.model_box.removeItem(old)
            i = self.model_box.findData(key)
        self.model_box.setItemData(i, path)
        self.model_box.setItemText(i, moved.label)
        if self._current is e:
            self._current = moved
            self.model_changed.emit(moved)
        return True

    def key_for_settings(self) -> str | None:
        """What to remember as the last model: a shipped name or a file path."""
        e = self._current
        if e is None or e.source in ("trained", "live"):
            return None
        return e.key

    # --- prediction ------------------------------------------------------------------------

    def request_prediction(self) -> None:
        if self.state.request() and not self._timer.isActive():
            self._timer.start()

    def _predict_now(self) -> None:
        self._timer.stop()
        predictor = self._current.predictor if self._current is not None else self._quick
        if predictor is None or not self.state.take():
            return
        if self.number.state.active:
            self.number.read_now()  # a new model reads the strip; it hands on the chosen digit
            self._show_digit(self.number.state.selected_digit())
            return
        t0 = time.perf_counter()
        try:
            pred = predictor.predict(self._as_scored(self.canvas.to_array()))
        except CheckpointError as exc:  # non-finite outputs on this drawing (issue 24.3)
            self._show_unusable(exc)
            return
        except Exception:
            log.exception("prediction failed")
            self.status_message.emit("Prediction failed; details are in the log file.")
            return
        self._show(pred, t0)

    def show_test_image(self, image: np.ndarray) -> None:
        """A 28x28 MNIST test image (ink bright) onto the canvas, scaled up to fill it."""
        from PIL import Image

        side = self.canvas.canvas_size
        self.canvas.set_array(np.asarray(Image.fromarray(image).resize(
            (side, side), Image.Resampling.BILINEAR)))
        self._test_image = (self.canvas.to_array(), np.asarray(image, dtype=np.uint8))

    def _as_scored(self, drawing: np.ndarray):
        # Mistakes scores the test image's own 28x28 pixels; read back from the scaled-up copy
        # (re-boxed, re-centred) it gave another figure (82.8 % there, 68.5 % here). Until the
        # drawing changes, the Draw tab reads the pixels Mistakes scored.
        held = self._test_image
        if held is None or not np.array_equal(drawing, held[0]):
            return drawing
        from digitpad.core.data.preprocess import Preprocessed

        image = held[1].astype(np.float32) / 255.0
        return Preprocessed(image, False, [("as scored", image)])

    def _show_unusable(self, exc: Exception) -> None:
        """The model gave NaN or infinite outputs for this drawing: no digit, no "nan %"."""
        self.last_prediction = None
        self.prediction.show_empty("unusable")
        self.maps.clear_maps()
        self.status_message.emit(str(exc))
        self.prediction_shown.emit()

    def _show(self, pred, t0: float) -> None:
        self.last_prediction = pred
        self.last_predict_ms = (time.perf_counter() - t0) * 1000
        if pred.empty:
            self.prediction.show_empty()
            self.maps.clear_maps()
        else:
            self.prediction.show_prediction(pred.digit, pred.confidence, pred.probs)
            self.prediction.set_steps(list(pred.steps))
            self.maps.update_maps(pred.maps)
        self.prediction_shown.emit()

    @property
    def busy(self) -> bool:
        """A warm-up or new live weights are being prepared in a worker."""
        return self._warmups.busy or self._live_jobs.busy or self.number.busy or self._opens.busy

    def shutdown(self, timeout_ms: int = 2000) -> None:
        """Window closing: no new prediction; every worker of the tab joined."""
        self._timer.stop()
        self.corrections.writes.shutdown(max(timeout_ms, 1000))  # a sample kept is written
        self._warmups.shutdown(timeout_ms)
        self._opens.shutdown(timeout_ms)
        self._live_jobs.shutdown(timeout_ms)
        self.inside.shutdown(timeout_ms)
        self.number.shutdown(timeout_ms)

    # --- theme -----------------------------------------------------------------------------

    def apply_theme(self, colors: theme.Colors) -> None:
        self.canvas.set_colors(colors.paper, colors.ink)
        self.number.canvas.set_colors(colors.paper, colors.ink)
        self.prediction.apply_theme(colors)
        self.maps.apply_theme(colors)


QUICK_KEY = "numpy-copy"  # the picker's item for use_quick's model; never a ModelEntry key

# a bar drawn on a small canvas: what warm-ups predict (the result is thrown away)
WARMUP_DRAWING = np.zeros((56, 56), dtype=np.uint8)
WARMUP_DRAWING[10:46, 24:32] = 255


def _numpy_kernels(pred: Predictor) -> dict[str, np.ndarray]:
    try:
        ks = pred.kernels()
    except Exception:
        log.exception("could not read kernels")
        return {}
    return {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)) for k, v in ks.items()}
