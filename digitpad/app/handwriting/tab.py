"""The My handwriting tab: collect your digits, look after them, and teach the model them.

Three columns: **Collect** ("draw a 7" rounds on a canvas of its own), **Your samples** (the
store as thumbnails per digit, with counts, delete, import and export), and **Teach**
(``core.learning.teach.run`` in the app's worker thread with the Training tab's live plots, then the
before/after figures and "Use this model" / "Save as…"). Nothing is used or saved unless the
person says so; the shipped model is never touched. The logic lives in ``state.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QFont, QIcon, QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QFileDialog, QGridLayout,
                               QGroupBox, QHBoxLayout, QLabel, QListView, QListWidget,
                               QListWidgetItem, QMessageBox, QProgressBar, QPushButton, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from digitpad.core.nets.checkpoint import Checkpoint
from digitpad.core.data.samples import SampleError, SampleStore
from digitpad.core.learning.config import TeachConfig
from digitpad.core.learning.events import (BatchDone, EpochDone, Failed, Measured, Notice, Started,
                                           Stopped, Taught)
from digitpad.core.learning.teach import run, taught_checkpoint

from .. import settings as keys
from .. import theme
from ..widgets.canvas import DrawingCanvas
from ..widgets.model_files import ask_save_path, start_model_save
from ..widgets.plots import TrainingPlots
from ..widgets.reflow import ReflowColumns
from ..workers import Latest, Saved, SaveJob, Saves, WorkerHandle, Writes
from .importer import ImportPanel
from .state import (IDLE, SUGGESTED_PER_DIGIT, TRAIN_BELOW_HELD_OUT, Collection, StoreView,
                    TeachState, digit_word)

log = logging.getLogger(__name__)

THUMB = 56  # px: a thumbnail's side
_mnist_cache: dict[str, object] = {}  # data folder -> MnistTensors, kept between runs


def thumbnail(drawing: np.ndarray, paper: int, ink: int, size: int = THUMB) -> QPixmap:
    """A stored drawing in the canvas's colours, whatever polarity it was stored in."""
    return QPixmap.fromImage(thumbnail_image(drawing, paper, ink, size))


def thumbnail_image(drawing: np.ndarray, paper: int, ink: int, size: int = THUMB) -> QImage:
    """:func:`thumbnail` as a QImage, which a worker thread may make (a QPixmap it may not)."""
    a = np.asarray(drawing)
    if a.ndim == 3:
        a = a[..., :3].mean(axis=2)
    a = a.astype(np.float32)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if float(np.median(border)) > 127:  # dark on light: make the ink the bright part
        a = 255.0 - a
    g = np.ascontiguousarray((paper + (ink - paper) * np.clip(a / 255.0, 0, 1)).round()
                             .astype(np.uint8))
    h, w = g.shape
    img = QImage(g.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return img.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                      Qt.TransformationMode.SmoothTransformation)


def read_store(store: SampleStore, paper: int, ink: int):
    """The store read whole, with every thumbnail: the work of a refresh, for a worker."""
    loaded = store.load_all()
    thumbs = {s.path: thumbnail_image(img, paper, ink) for s, img in zip(loaded.samples,
                                                                          loaded.images)}
    return loaded, thumbs


def _load_mnist_cached(folder: Path):
    """MNIST for replay and the forgetting check, read once per folder; None when absent."""
    from digitpad.core.data.mnist import DataError, has_mnist, load_mnist

    key = str(folder)
    if key not in _mnist_cache:
        if not has_mnist(folder):
            return None
        try:
            _mnist_cache[key] = load_mnist(folder, device="cpu")
        except DataError:
            return None
    return _mnist_cache[key]


MAX_SHOWN = 1000  # thumbnails in the grid at most (each ~0.5 ms to build on the GUI thread)


class HandwritingTab(QWidget):
    use_model = Signal(object)  # a Checkpoint to draw with
    model_saved = Signal(str)  # the path a taught model was saved to
    status_message = Signal(str)
    running_changed = Signal(bool)
    samples_changed = Signal()
    imported = Signal(int)  # an import ended (finished or cancelled): samples added
    refreshed = Signal()  # the store's read in the worker has reached the grid
    exported = Signal(int)  # an export ended: samples written (0 when it failed)

    def __init__(self, settings=None, store: SampleStore | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.store = store or SampleStore()
        self.view = StoreView(self.store)
        self.collection: Collection | None = None
        self.teach = TeachState()
        self.base: Checkpoint | None = None
        self.taught: Checkpoint | None = None
        self._worker: WorkerHandle | None = None
        self._saves = Saves(self)  # Save as… runs in a worker; joined by shutdown
        self._reader = Latest(self, name="digitpad-sample-read")  # the store read whole
        self.writes = Writes(self, name="digitpad-sample-writes")  # keeps, undo, export
        self._changes = 0  # bumped by every change this window makes to the view
        self._icons: dict[Path, QIcon] = {}  # each sample's thumbnail, made once
        self._colors = theme.current()
        self.teach_config: TeachConfig | None = None  # None: the defaults on the settings' device

        # three columns side by side need ~960 px: on a smaller window Teach goes below
        # Collect and the samples instead of off the right edge
        self.columns = ReflowColumns([self._build_collect(), self._build_store(), self._build_teach()],
                                     stretches=[0, 2, 3], keep=2)
        self.splitter = self.columns.splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.columns)

        self.refresh()
        self._show_collection()
        self._update_teach()

    # --- building ----------------------------------------------------------------------------

    def _build_collect(self) -> QWidget:
        box = QGroupBox("Collect")
        self.prompt = QLabel("Draw your digits")
        f = QFont(self.font())
        f.setPointSize(18)
        f.setBold(True)
        self.prompt.setFont(f)
        self.prompt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # "Done: 60 drawings kept" in 18 pt bold is wider than the column at 1280x820: wrap
        self.prompt.setWordWrap(True)
        self.prompt.setAccessibleName("What to draw")
        self.round_label = QLabel()
        self.round_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.canvas = DrawingCanvas()
        self.canvas.setFixedSize(280, 280)  # square, as drawn: no bands above and below
        self.canvas.changed.connect(self._update_collect_buttons)
        self.keep_button = QPushButton("Keep")
        self.keep_button.setToolTip("Store this drawing as the digit asked for (Enter)")
        self.keep_button.setDefault(True)
        self.keep_button.clicked.connect(self.keep_drawing)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.canvas.clear)
        self.skip_button = QPushButton("Skip")
        self.skip_button.setToolTip("Leave this one out and go on")
        self.skip_button.clicked.connect(self.skip_drawing)
        row = QHBoxLayout()
        for b in (self.keep_button, self.clear_button, self.skip_button):
            row.addWidget(b)
        self.per_digit = QSpinBox()
        self.per_digit.setRange(1, 30)
        self.per_digit.setValue(SUGGESTED_PER_DIGIT)  # the figure the store's hint names
        self.per_digit.setSuffix(" of each digit")
        self.per_digit.setToolTip(f"How many rounds over the ten digits ({SUGGESTED_PER_DIGIT} of "
                                  "each work well)")
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Ask for every digit in turn, a fresh order each round")
        self.start_button.clicked.connect(lambda: self.start_collection(self.per_digit.value()))
        start_row = QHBoxLayout()
        start_row.addWidget(self.per_digit, 1)
        start_row.addWidget(self.start_button)
        v = QVBoxLayout(box)
        v.addLayout(start_row)
        v.addWidget(self.prompt)
        v.addWidget(self.round_label)
        v.addWidget(self.canvas, 0, Qt.AlignmentFlag.AlignHCenter)
        v.addLayout(row)
        v.addStretch(1)
        hint = QLabel("Tip: on the Draw tab, press the right digit (0–9) or click its bar when "
                      "a prediction is wrong: the drawing is kept here too.")
        hint.setWordWrap(True)
        hint.setObjectName("hint")
        v.addWidget(hint)
        box.setMinimumWidth(300)
        for seq in ("Return", "Enter"):
            sc = QShortcut(QKeySequence(seq), self.canvas)
            sc.setContext(Qt.ShortcutContext.WidgetShortcut)
            sc.activated.connect(self.keep_drawing)
        self.canvas.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        return box

    def _build_store(self) -> QWidget:
        box = QGroupBox("Your samples")
        self.filter_group = QButtonGroup(self)
        self.filter_group.setExclusive(True)
        self.filter_buttons: dict[int | None, QToolButton] = {}
        bar = QGridLayout()
        bar.setSpacing(3)
        for k, digit in enumerate([None, *range(10)]):
            b = QToolButton()
            b.setCheckable(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setMinimumWidth(44)
            b.clicked.connect(lambda _=False, d=digit: self.set_filter(d))
            self.filter_group.addButton(b)
            self.filter_buttons[digit] = b
            bar.addWidget(b, k // 6, k % 6)
        self.filter_buttons[None].setChecked(True)
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMB, THUMB))
        self.grid.setGridSize(QSize(THUMB + 14, THUMB + 22))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.grid.setAccessibleName("Your samples")
        self.grid.itemSelectionChanged.connect(self._update_store_buttons)
        # Delete removes the selected samples. Not a QShortcut: the window's Clear drawing owns
        # that key, so the grid claims it (ShortcutOverride) only while it has the focus
        self.grid.installEventFilter(self)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self.delete_selected)
        # Delete asks nothing: it can be undone (the files' bytes are kept until the next one)
        self.undo_delete_button = QPushButton("Undo")
        self.undo_delete_button.setToolTip("Put back the samples deleted last")
        self.undo_delete_button.clicked.connect(self.undo_delete)
        self.undo_delete_button.setEnabled(False)
        self._deleted: list[tuple] = []  # (sample, its file's bytes) of the last Delete
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Add images from a folder or .zip with subfolders 0 to 9")
        self.import_button.clicked.connect(lambda: self.import_samples())
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Copy every sample to a .zip (or a folder), 0 to 9 inside")
        self.export_button.clicked.connect(lambda: self.export_samples())
        row = QHBoxLayout()
        row.addWidget(self.delete_button)
        row.addWidget(self.undo_delete_button)
        row.addStretch(1)
        row.addWidget(self.import_button)
        row.addWidget(self.export_button)
        self.store_summary = QLabel()
        self.store_summary.setWordWrap(True)
        self.importer = ImportPanel(self.store)
        self.importer.done.connect(self._imported)
        self.importer.failed.connect(self._import_failed)
        v = QVBoxLayout(box)
        v.addLayout(bar)
        v.addWidget(self.grid, 1)
        v.addWidget(self.store_summary)
        v.addWidget(self.importer)
        v.addLayout(row)
        box.setMinimumWidth(300)
        return box

    def _build_teach(self) -> QWidget:
        box = QGroupBox("Teach")
        self.base_label = QLabel()
        self.base_label.setWordWrap(True)
        self.teach_button = QPushButton("Teach")
        self.teach_button.setToolTip("Fine-tune the model on your samples, mixed with MNIST so "
                                     "it does not forget everyone else's handwriting")
        self.teach_button.clicked.connect(lambda: self.start_teaching())
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_teaching)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.teach_label = QLabel()
        self.teach_label.setWordWrap(True)
        self.plots = TrainingPlots()
        self.plots.view.setMinimumSize(260, 260)
        self.plots.acc_plot.setLabel("bottom", "round")
        # a fine-tuning loss stays near 0.3: pyqtgraph would label the axis "(x0.001)"
        self.plots.loss_plot.getAxis("left").enableAutoSIPrefix(False)
        self._relabel_plots()
        self.plots.setToolTip(TRAIN_BELOW_HELD_OUT)
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.result_label.setToolTip("Held-out samples: drawings of yours the model did not learn "
                                     "from, as hits of how many, with a 95 % interval: a few "
                                     "drawings cannot pin a figure down. " + TRAIN_BELOW_HELD_OUT)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.result_label.setAccessibleName("Before and after")
        self.use_button = QPushButton("Use this model")
        self.use_button.setToolTip("Draw with the taught model (it is not saved yet)")
        self.use_button.clicked.connect(self.use_taught)
        self.save_button = QPushButton("Save as…")
        self.save_button.clicked.connect(lambda: self.save_taught())
        top = QHBoxLayout()
        top.addWidget(self.teach_button)
        top.addWidget(self.stop_button)
        top.addWidget(self.progress, 1)
        keep = QHBoxLayout()
        keep.addWidget(self.use_button)
        keep.addWidget(self.save_button)
        keep.addStretch(1)
        v = QVBoxLayout(box)
        v.addWidget(self.base_label)
        v.addLayout(top)
        v.addWidget(self.teach_label)
        v.addWidget(self.plots, 1)
        v.addWidget(self.result_label)
        v.addLayout(keep)
        return box

    def _relabel_plots(self) -> None:
        """The Training tab's plots, with this run's names: rounds, your samples, held-out."""
        names = {"train": "your samples (training)", "validation": "held-out samples"}
        legend = getattr(self.plots.acc_plot, "legend", None)
        if legend is None:
            return
        for sample, label in list(legend.items):
            if label.text in names:
                label.setText(names[label.text])
        legend.removeItem(self.plots.test_point)  # no test point: MNIST is in the table

    # --- the model taught ---------------------------------------------------------------------

    def set_current_model(self, ckpt: Checkpoint) -> None:
        """The Draw tab's model: what Teach starts from (the main window keeps it current)."""
        self.base = ckpt
        self._update_teach()

    # --- collection ---------------------------------------------------------------------------

    def start_collection(self, per_digit: int) -> None:
        self.collection = Collection(self.store, per_digit)
        self.canvas.clear()
        self._show_collection()
        self.canvas.setFocus()

    def keep_drawing(self) -> None:
        c = self.collection
        if c is None or c.done or self.canvas.is_empty():
            return
        digit = c.digit
        drawing = self.canvas.to_array()
        store = self.store

        def write(sample, image) -> None:  # encoding and fsyncs in the worker, in order
            self.writes.submit(lambda: store.write(sample, image),
                               on_error=lambda exc: self._not_stored(sample, exc))

        sample = c.keep(drawing, write)
        self.canvas.clear()
        self.view.added(sample, drawing)
        self._changed()
        self.status_message.emit(f"Kept {digit_word(digit)}: {self.view.counts()[digit]} in "
                                 "your samples")
        self._show_collection()

    def _not_stored(self, sample, exc) -> None:
        """A kept drawing's write failed (disk full, folder gone): out of the grid, said."""
        log.warning("could not store %s: %s", sample.path, exc)
        self.view.removed([sample])
        self._changed()
        QMessageBox.warning(self, "Cannot store the drawing",
                            f"Your {sample.digit} could not be stored: "
                            f"{getattr(exc, 'strerror', None) or exc}")

    def skip_drawing(self) -> None:
        if self.collection is not None:
            self.collection.skip()
            self.canvas.clear()
            self._show_collection()

    def _show_collection(self) -> None:
        c = self.collection
        if c is None:
            self.prompt.setText("Draw your digits")
            self.round_label.setText("Choose how many of each, then Start")
        else:
            self.prompt.setText(c.prompt())
            self.round_label.setText(c.progress_text())
        self._update_collect_buttons()

    def _update_collect_buttons(self) -> None:
        active = self.collection is not None and not self.collection.done
        self.keep_button.setEnabled(active and not self.canvas.is_empty())
        self.skip_button.setEnabled(active)
        finished = self.collection is not None and self.collection.done
        # the rounds are over: ink that could not be kept would only be lost
        self.canvas.setEnabled(not finished)
        self.canvas.setToolTip("All rounds done: Start asks for more" if finished else "")

    # --- the store ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the store again (an outside change, the theme), in a worker: decoding every
        sample on the GUI thread stalled it ~1 ms a sample. ``refreshed`` says it is shown."""
        c, changes = self._colors, self._changes
        store, paper, ink = self.store, c.paper, c.ink

        def work(_control):
            yield read_store(store, paper, ink)

        self._reader.submit(work, lambda result: self._read(result, changes, c),
                            self._read_failed)

    def _read(self, result, changes: int, colors) -> None:
        if self._reader.waiting:
            return  # a newer read was asked for (it may see files this one did not)
        if changes != self._changes or colors is not self._colors:
            self.refresh()  # the window changed the store meanwhile: the read may miss it
            return
        loaded, thumbs = result
        self.view.loaded = loaded
        self._icons = {path: QIcon(QPixmap.fromImage(img)) for path, img in thumbs.items()}
        for line in self.view.problems.lines():
            log.warning("sample store: skipped %s", line)
        self._fill_grid()
        self.refreshed.emit()

    def _read_failed(self, exc) -> None:
        log.warning("reading the sample store failed: %r", exc)
        self.store_summary.setText(f"Cannot read your samples: {exc}")

    def _changed(self) -> None:
        """The window changed the view itself (a keep, a delete, an undo, a correction)."""
        self._changes += 1
        self._fill_grid()
        self.samples_changed.emit()

    def sample_stored(self, sample) -> None:
        """The Draw tab kept (or moved) ``sample``: only that one file is read, if at all."""
        image = self.view.image_of(sample.id)
        if image is not None:  # moved to another digit: the same drawing under a new path
            old = [s for s in self.view.loaded.samples
                   if s.id == sample.id and s.path != sample.path and not s.path.exists()]
            self.view.removed(old)
            for s in old:
                icon = self._icons.pop(s.path, None)
                if icon is not None:
                    self._icons[sample.path] = icon
        else:
            try:
                image = self.store.read(sample)  # one PNG: well under a millisecond
            except Exception as exc:
                log.warning("could not read the sample just kept: %s", exc)
                return
        self.view.added(sample, image)
        self._changed()

    def _icon(self, sample, image) -> QIcon:
        icon = self._icons.get(sample.path)
        if icon is None:  # one just kept: the only thumbnail made here
            c = self._colors
            icon = self._icons[sample.path] = QIcon(thumbnail(image, c.paper, c.ink))
        return icon

    def set_filter(self, digit: int | None) -> None:
        self.view.filter = digit
        self.filter_buttons[digit].setChecked(True)
        self._fill_grid()

    def _fill_grid(self) -> None:
        counts = self.view.counts()
        self.filter_buttons[None].setText(f"All {sum(counts.values())}")
        all_button = self.filter_buttons[None]  # "All 1266" was cut to "Al…66"
        all_button.setMinimumWidth(max(44, all_button.fontMetrics().horizontalAdvance(
            all_button.text()) + 18))
        for d in range(10):
            self.filter_buttons[d].setText(f"{d} · {counts[d]}")
            self.filter_buttons[d].setToolTip(f"Show your {digit_word(d, 2).split(' ', 1)[1]} "
                                              f"({counts[d]})")
        self.grid.setUpdatesEnabled(False)
        self.grid.clear()
        shown = self.view.shown()
        kept = shown
        if len(shown) > MAX_SHOWN:
            # a grid of 49,000 thumbnails took seconds to build and nobody scrolls it: the
            # newest MAX_SHOWN (ids sort by age), in the grid's order, and the summary says so
            newest = {s.id for s, _ in sorted(shown, key=lambda p: p[0].id)[-MAX_SHOWN:]}
            kept = [(s, img) for s, img in shown if s.id in newest]
        for sample, img in kept:
            item = QListWidgetItem(self._icon(sample, img), str(sample.digit))
            item.setData(Qt.ItemDataRole.UserRole, sample)
            item.setToolTip(f"{sample.digit} · {sample.path.name}")
            self.grid.addItem(item)
        self.grid.setUpdatesEnabled(True)
        if self.grid.count():
            self.grid.scrollToBottom()  # the newest, just drawn, in view
        summary = self.view.summary()
        if len(shown) > MAX_SHOWN:
            summary += f" (the newest {MAX_SHOWN:,} shown)"
        self.store_summary.setText(summary)
        self._update_store_buttons()
        self._update_teach()

    def eventFilter(self, obj, event) -> bool:
        if obj is self.grid and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) \
                and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) \
                and self.grid.selectedItems():
            event.accept()
            if event.type() == QEvent.Type.KeyPress:
                self.delete_selected()
            return True
        return super().eventFilter(obj, event)

    def _update_store_buttons(self) -> None:
        self.delete_button.setEnabled(bool(self.grid.selectedItems()))
        self.export_button.setEnabled(self.view.total() > 0)

    def selected_samples(self) -> list:
        return [it.data(Qt.ItemDataRole.UserRole) for it in self.grid.selectedItems()]

    def delete_selected(self) -> int:
        chosen = self.selected_samples()
        if not chosen:
            return 0
        kept = []
        for s in chosen:
            try:
                kept.append((s, s.path.read_bytes(), self.view.image_of(s.id)))
            except OSError:
                pass  # gone already, or unreadable: nothing to put back
        n = self.view.delete(chosen)
        self._deleted = kept
        self.undo_delete_button.setEnabled(bool(kept))
        self.undo_delete_button.setText(f"Undo ({len(kept)})" if kept else "Undo")
        self._changed()
        self.status_message.emit(f"Deleted {n} sample{'s' if n != 1 else ''} (Undo puts them "
                                 "back)")
        return n

    def undo_delete(self) -> int:
        """Write the last deleted samples back, under their own names."""
        from digitpad.core.io.files import write_atomically

        back = 0
        for sample, blob, image in self._deleted:
            # the grid shows it at once; the file is written in the worker (its fsyncs)
            self.writes.submit(lambda p=sample.path, b=blob: write_atomically(p, b, 0o644),
                               on_error=lambda exc, s=sample: self._not_put_back(s, exc))
            back += 1
            if image is not None:  # the drawing is still in memory: nothing is decoded
                self.view.added(sample, image)
        self._deleted = []
        self.undo_delete_button.setEnabled(False)
        self.undo_delete_button.setText("Undo")
        self._changed()
        self.status_message.emit(f"Put back {back} sample{'s' if back != 1 else ''}")
        return back

    def _not_put_back(self, sample, exc) -> None:
        log.warning("could not put back %s: %s", sample.path, exc)
        self.view.removed([sample])
        self._changed()
        self.status_message.emit(f"Could not put back {sample.path.name}: "
                                 f"{getattr(exc, 'strerror', None) or exc}")

    def import_samples(self, path: str | None = None) -> bool:
        """Start importing a folder or zip in the worker (True when started); ``imported``
        says how many samples came in."""
        if path is None:
            box = QMessageBox(QMessageBox.Icon.Question, "Import samples",
                              "Import from a .zip file or from a folder? Either holds "
                              "subfolders named 0 to 9.", parent=self)
            zip_b = box.addButton("A .zip file…", QMessageBox.ButtonRole.AcceptRole)
            box.addButton("A folder…", QMessageBox.ButtonRole.AcceptRole)
            box.addButton(QMessageBox.StandardButton.Cancel)
            box.exec()
            clicked = box.clickedButton()
            if clicked is None or box.standardButton(clicked) == QMessageBox.StandardButton.Cancel:
                return False
            if clicked is zip_b:
                path, _ = QFileDialog.getOpenFileName(self, "Import samples", str(Path.home()),
                                                      "Zip archives (*.zip)")
            else:
                path = QFileDialog.getExistingDirectory(self, "Import samples", str(Path.home()))
            if not path:
                return False
        c = self._colors
        store, paper, ink = self.store, c.paper, c.ink
        if not self.importer.start(str(path), lambda: read_store(store, paper, ink)):
            return False
        self.import_button.setEnabled(False)
        return True

    def _import_failed(self, exc) -> None:
        self.import_button.setEnabled(True)
        QMessageBox.warning(self, "Cannot import", str(exc))

    def _imported(self, report, cancelled: bool) -> None:
        self.import_button.setEnabled(True)
        if self.importer.loaded is not None and not cancelled:
            self._changes += 1  # a read in flight started before the import: stale
            self._read(self.importer.loaded, self._changes, self._colors)  # read in the worker
            self.samples_changed.emit()
        else:
            self.refresh()
            self.samples_changed.emit()
        text = f"Imported {len(report.added)} sample{'s' if len(report.added) != 1 else ''}"
        if cancelled:
            text += " before the import was cancelled"
        if report.duplicates:
            text += f", {report.duplicates} already here"
        if report.problems:
            text += f", {len(report.problems)} skipped"
            QMessageBox.information(self, "Some files were skipped",
                                    text + ":\n\n" + "\n".join(report.problems.lines()[:20])
                                    + ("\n…" if len(report.problems) > 20 else ""))
        self.status_message.emit(text)
        self.imported.emit(len(report.added))

    def export_samples(self, path: str | None = None) -> bool:
        """Export in the worker (every file read, then written with fsyncs); True when it
        started. ``exported`` and the status bar say how it went."""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export samples", str(Path.home() / "my-digits.zip"),
                "Zip archive (*.zip);;Folder (*)")
            if not path:
                return False
        store = self.store
        self.export_button.setEnabled(False)
        self.status_message.emit(f"Exporting to {path}…")
        self.writes.submit(lambda: store.export_to(path),
                           on_done=lambda result: self._exported(path, *result),
                           on_error=self._export_failed)
        return True

    def _exported(self, path: str, n: int, problems) -> None:
        self._update_store_buttons()
        self.status_message.emit(f"Exported {n} sample{'s' if n != 1 else ''} to {path}"
                                 + (f" ({len(problems)} unreadable left out)" if problems else ""))
        self.exported.emit(n)

    def _export_failed(self, exc) -> None:
        self._update_store_buttons()
        if not isinstance(exc, (SampleError, OSError)):
            log.error("export failed unexpectedly: %r", exc)
        QMessageBox.warning(self, "Cannot export", str(exc))
        self.exported.emit(0)

    # --- teaching -----------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._worker is not None

    def make_room(self) -> None:
        """The person is drawing: teaching leaves a core to the window for a second."""
        if self._worker is not None:
            self._worker.control.make_room()

    def data_dir(self) -> Path:
        return keys.mnist_folder(self.settings)

    def device(self) -> str:
        dev = self.settings.value(keys.TRAIN_DEVICE, "", type=str) if self.settings else ""
        return dev or "auto"

    def start_teaching(self, config: TeachConfig | None = None) -> bool:
        if self.is_running() or self.base is None:
            return False
        images, labels, names = self.view.teach_inputs()
        if not images:
            self.teach_label.setText("No samples yet: collect some first.")
            return False
        config = config or self.teach_config or TeachConfig(device=self.device())
        base, folder = self.base, self.data_dir()
        self.taught = None
        self.teach.begin(config.steps)
        self.plots.clear(config.rounds)

        def work(control):
            data = _load_mnist_cached(folder)
            yield from run(base, images, labels, config, data=data, control=control,
                           names=names, use_mnist=data is not None)

        self._worker = WorkerHandle(work, parent=self, name="digitpad-teach")
        self._worker.yielded.connect(self._on_event)
        self._worker.errored.connect(self._on_error)
        self._worker.finished.connect(self._on_finished)
        self._worker.start()
        self.running_changed.emit(True)
        self._update_teach()
        return True

    def stop_teaching(self) -> None:
        if self._worker is not None:
            self.teach.stop()
            self._worker.stop()
            self._update_teach()

    def _on_event(self, ev) -> None:
        t = self.teach
        if isinstance(ev, Notice):
            t.notices.append(ev.message)
            self.status_message.emit(ev.message)
        elif isinstance(ev, Started):
            t.started(ev)
        elif isinstance(ev, Measured):
            t.measured(ev)
        elif isinstance(ev, BatchDone):
            t.batch(ev)
            self.plots.add_loss(ev.step, ev.loss)
        elif isinstance(ev, EpochDone):
            self.plots.add_epoch(ev.epoch, ev.train_acc, ev.val_acc)
        elif isinstance(ev, Taught):
            self.taught = taught_checkpoint(self.base, ev)
            t.finished(ev.report)
            a = ev.report.after
            self.status_message.emit(
                "Taught: held-out samples " + _pct(a.held_out_acc) + ", MNIST test "
                + _pct(a.mnist_acc) + ". Use this model or Save as… to keep it.")
        elif isinstance(ev, Stopped):
            t.ended("stopped")
        elif isinstance(ev, Failed):
            t.ended("failed", f"Teaching failed: {ev.message}")
        self._update_teach()

    def _on_error(self, exc) -> None:
        log.error("teaching raised %r", exc)
        self.teach.ended("failed", f"Teaching failed: {exc}")
        self._update_teach()

    def _on_finished(self) -> None:
        self._worker = None
        self.teach.ended("stopped")
        self.plots.flush()
        self.running_changed.emit(False)
        self._update_teach()

    def shutdown(self, timeout_ms: int = 1000) -> None:
        """Stop a run, an import and any save in flight, and join their threads (window
        closing, tests)."""
        self._saves.shutdown()
        self.writes.shutdown(max(timeout_ms, 1000))  # every sample kept is written first
        self._reader.shutdown(timeout_ms)
        self.importer.shutdown(timeout_ms)
        worker = self._worker
        if worker is not None:
            worker.shutdown(timeout_ms)
            self._worker = None

    def use_taught(self) -> bool:
        if self.taught is None:
            return False
        self.use_model.emit(self.taught)
        self.teach.used()
        self._update_teach()
        return True

    def save_taught(self, path: str | None = None) -> SaveJob | None:
        """Save the taught model in a worker (it may wait for the file's lock); None when
        there is nothing to save or the dialog was cancelled. The status bar says
        "Saving…", then the result; a failure is a dialog."""
        ck = self.taught
        if ck is None:
            return None
        if path is None:
            stem = ck.name.replace(" + ", "-plus-").replace(" ", "-")
            chosen = ask_save_path(self, "Save the taught model", stem)
            if chosen is None:
                return None
            path = str(chosen)
        self.status_message.emit(f"Saving {ck.name} to {path}…")
        self.save_button.setEnabled(False)
        return start_model_save(self, self._saves, path, ck, None,
                                lambda saved: self._saved(ck, saved))

    def _saved(self, ck: Checkpoint, saved: Saved) -> None:
        if not saved.ok:
            self._update_teach()
            if saved.error:  # else the person chose not to replace the file
                QMessageBox.warning(self, "Cannot save model", saved.error)
            return
        self.model_saved.emit(str(saved.path))
        self.teach.saved(str(saved.path))
        self._update_teach()
        self.status_message.emit(f"Saved {ck.name} to {saved.path}")

    def _update_teach(self) -> None:
        t = self.teach
        running = t.running
        base = self.base
        if base is None:
            self.base_label.setText("Teaches the model the Draw tab uses (loading…)")
        else:
            self.base_label.setText(f"Teaches <b>{_escape(base.name)}</b>, the Draw tab's model, "
                                    "into a new model: it is used and saved only if you say so.")
        has_samples = self.view.total() > 0
        self.teach_button.setEnabled(not running and base is not None and has_samples)
        self.stop_button.setEnabled(running and t.phase != "stopping")
        value, maximum, text = t.progress()
        self.progress.setRange(0, maximum)
        self.progress.setValue(value)
        self.progress.setFormat(text)
        msg = t.message or ("Collect or import some samples first." if not has_samples else
                            "Teach mixes your samples with MNIST (about 20 s on two CPU cores).")
        if t.notices and t.phase == IDLE and t.outcome == "finished":
            msg += "<br>" + "<br>".join(_escape(n) for n in t.notices[-3:])
        self.teach_label.setText(msg)
        rows = t.rows()
        if rows:
            cells = "".join(f"<tr><td>{_indent(w)}</td><td align='right'>&nbsp;&nbsp;{b}</td>"
                            f"<td align='right'>&nbsp;&nbsp;<b>{a}</b></td></tr>" for w, b, a in rows)
            self.result_label.setText("<table><tr><th></th><th align='right'>before</th>"
                                      f"<th align='right'>after</th></tr>{cells}</table>"
                                      f"<small>{_escape(TRAIN_BELOW_HELD_OUT)}</small>")
        else:
            self.result_label.setText("")
        self.use_button.setEnabled(self.taught is not None and not running)
        self.save_button.setEnabled(self.taught is not None and not running
                                    and not self._saves.busy)

    # --- theme --------------------------------------------------------------------------------

    def apply_theme(self, colors: theme.Colors) -> None:
        self._colors = colors
        self.canvas.set_colors(colors.paper, colors.ink)
        self.refresh()  # every thumbnail again, in the new colours: in the worker


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.2f} %"


def _indent(text: str) -> str:
    """Leading spaces kept in HTML (the per-digit rows sit under the held-out row)."""
    stripped = str(text).lstrip(" ")
    return "&nbsp;" * (len(str(text)) - len(stripped)) + _escape(stripped)


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
