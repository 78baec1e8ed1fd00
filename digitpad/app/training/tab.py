"""The Training tab: set up a run, watch it live, keep (use / save) the result.

The run itself is a ``core.learning.session.TrainingSession`` (the same one ``digitpad train``
drives) in a :class:`~digitpad.app.workers.WorkerHandle`;
MNIST is loaded inside that generator, so nothing here blocks the GUI. Each event arrives
as one queued signal and updates the plots, the progress bar and the result panel. The
session itself stays in the worker: what the GUI needs of it (the live weights after an
epoch, the run's model at its end) is built there and handed over as a :class:`Snapshot`,
so the GUI never reads the history while the worker appends to it. Nothing is written to
disk unless the person clicks Save as…, and that save runs in a worker too (it may wait for
the file's lock).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QFileDialog, QFormLayout,
                               QFrame, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMessageBox,
                               QProgressBar, QPushButton, QRadioButton, QScrollArea, QSizePolicy,
                               QSpinBox, QVBoxLayout, QWidget)

from digitpad.core.nets.checkpoint import Checkpoint
from digitpad.core.data.mnist import MnistTensors, has_mnist, mnist_problem
from digitpad.core.nets.devices import list_devices
from digitpad.core.nets.spec import DESCRIPTIONS
from digitpad.core.io.paths import resolve_data_dir
from digitpad.core.learning.session import TrainingSession
from digitpad.core.learning.config import RECIPES, TrainConfig, recipe_config
from digitpad.core.learning.control import TrainControl
from digitpad.core.learning.events import (BatchDone, EpochDone, Failed, Finished, Notice, Started,
                                           Stopped)

from .. import settings as keys, theme
from ..widgets.focus import display_only
from .kernels_view import KernelStrip
from .state import TrainingState, format_duration
from ..widgets.download_dialog import DownloadDialog
from ..widgets.model_files import ask_save_path, start_model_save
from ..widgets.plots import TrainingPlots
from ..widgets.steady_label import SteadyLabel
from ..workers import Saved, SaveJob, Saves, WorkerHandle

log = logging.getLogger(__name__)

FORM_KEY = "train/form"  # the setup form's last settings (JSON), restored at launch
# The GUI reports more often than the CLI so that small runs still draw a curve; the plots
# coalesce redraws, so a fast GPU costs no more than ~20 redraws a second.
GUI_REPORT_EVERY = 5
RECIPE_LABELS = {"fast": "fast (AdamW, one-cycle)", "lesson": "lesson (plain SGD, as taught)"}
_WARN_STYLE = "background: #fff3cd; color: #5c4400; border: 1px solid #e0c36a; border-radius: 4px;"


@dataclass(frozen=True)
class Snapshot:
    """An event with the checkpoint the worker built from the session for it (EpochDone: the
    live weights; Finished / Stopped: the run's model, None when no epoch completed)."""

    event: object
    checkpoint: Checkpoint | None


def session_events(session: TrainingSession, control: TrainControl):
    """The session's events for the GUI, run in the worker: the checkpoints the GUI needs
    are built here, from the session's state at that moment, and handed over read-only."""
    session.control = control  # the handle's flags: pause time counts from them
    for ev in session.events():
        if isinstance(ev, EpochDone):
            yield Snapshot(ev, session.live_checkpoint(ev))
        elif isinstance(ev, (Finished, Stopped)):
            name = f"{ev.config.model} trained {_dt.datetime.now():%H:%M}"
            yield Snapshot(ev, session.result_checkpoint(ev, name=name))
        else:
            yield ev


def find_mnist_root(folder: str | Path) -> Path | None:
    """The folder ``has_mnist`` accepts, also when the person picked MNIST/ or MNIST/raw/."""
    p = Path(folder).expanduser()
    for candidate in (p, p.parent, p.parent.parent):
        if has_mnist(candidate):
            return candidate
    return None


class TrainingTab(QWidget):
    use_model = Signal(object)  # Checkpoint (path None) the person chose to use
    live_weights = Signal(object)  # Checkpoint snapshot at each epoch end, when "live" is on
    status_message = Signal(str)
    running_changed = Signal(bool)
    model_saved = Signal(str)  # the path a trained model was saved to (for Open recent)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._handle: WorkerHandle | None = None
        self._current: Checkpoint | None = None  # the app's model: what "continue" starts from
        self._trained: Checkpoint | None = None  # the last run's best model
        self.state = TrainingState()  # phase, progress and what the controls allow
        self._run_config: TrainConfig | None = None
        self._run_started_from: str | None = None
        self._saves = Saves(self)  # Save as… runs in a worker; joined by shutdown
        self.batches_seen = 0  # BatchDone events received in the current run
        self.epochs_seen = 0
        self._build()
        self._fill_recipe_defaults()
        self._restore_form()
        self._check_data_dir()
        self._update_continue()
        self._set_running(False)

    # --- layout ----------------------------------------------------------------------

    def _build(self) -> None:
        # Setup form ------------------------------------------------------------------
        self.arch_combo = QComboBox()
        for name, description in DESCRIPTIONS.items():
            self.arch_combo.addItem(name, name)
            self.arch_combo.setItemData(self.arch_combo.count() - 1, description,
                                        Qt.ItemDataRole.ToolTipRole)
        self.arch_combo.setCurrentIndex(max(0, self.arch_combo.findData("digitnet")))
        self.recipe_combo = QComboBox()
        for name in RECIPES:
            self.recipe_combo.addItem(RECIPE_LABELS.get(name, name), name)
        self.recipe_combo.setToolTip(
            "<p><b>fast</b>: AdamW with a one-cycle learning rate, augmented and synthesised "
            "digits; high accuracy in a few epochs. <b>lesson</b>: plain SGD at a constant "
            "0.001, as the lesson teaches it; slow on purpose (about 30 % after 5 epochs).</p>")
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 8192)
        self.lr_edit = QLineEdit()
        self.lr_edit.setToolTip("Learning rate, e.g. 0.003 or 3e-3")
        self.device_combo = QComboBox()
        for dev in list_devices():
            self.device_combo.addItem(dev.label, dev.key)
        saved_dev = self.settings.value(keys.TRAIN_DEVICE, "", type=str)
        i = self.device_combo.findData(saved_dev) if saved_dev else -1
        self.device_combo.setCurrentIndex(i if i >= 0 else 0)  # list_devices puts CUDA first

        self.data_edit = QLineEdit()
        saved_data = self.settings.value(keys.DATA_DIR, "", type=str)
        self.data_edit.setText(saved_data or str(resolve_data_dir()))
        self.browse_button = QPushButton("Browse…")
        data_row = QHBoxLayout()
        data_row.setContentsMargins(0, 0, 0, 0)
        data_row.addWidget(self.data_edit, 1)
        data_row.addWidget(self.browse_button)

        self.data_banner = QFrame()
        self.data_banner.setObjectName("mnistBanner")
        self.data_banner.setStyleSheet(f"#mnistBanner {{ {_WARN_STYLE} }}")  # not its buttons
        self.data_banner_label = QLabel()
        self.data_banner_label.setWordWrap(True)
        self.data_banner_label.setStyleSheet("color: #5c4400;")
        self.download_button = QPushButton("Download MNIST…")
        self.choose_button = QPushButton("Choose folder…")
        banner = QVBoxLayout(self.data_banner)
        banner.setContentsMargins(8, 6, 8, 6)
        banner.addWidget(self.data_banner_label)
        banner_buttons = QHBoxLayout()
        banner_buttons.addWidget(self.download_button)
        banner_buttons.addWidget(self.choose_button)
        banner_buttons.addStretch(1)
        banner.addLayout(banner_buttons)

        self.scratch_radio = QRadioButton("From scratch")
        self.continue_radio = QRadioButton("Continue the current model")
        self.start_group = QButtonGroup(self)
        self.start_group.addButton(self.scratch_radio)
        self.start_group.addButton(self.continue_radio)
        self.scratch_radio.setChecked(True)
        self.continue_note = SteadyLabel(3)  # 1 to 3 lines: the Run buttons below stay put
        # a hint's grey in both themes ("palette(mid)" was the dark window's own colour)
        self.continue_note.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        self.permute_check = QCheckBox("Reshuffled pixels (the lesson's argument)")
        self.permute_check.setToolTip(  # rich text: Qt wraps it (plain, it was one 1,220 px line)
            "<p>Train on MNIST with every image's pixels in one fixed shuffled order. A dense net "
            "learns it as well as plain digits; a CNN loses its edge. The previous run stays on "
            "the accuracy chart, dashed, to compare.</p>")
        self.live_check = QCheckBox("Draw tab uses the live weights")
        self.live_check.setToolTip("After every epoch the Draw tab predicts with the newest weights.")

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Architecture", self.arch_combo)
        form.addRow("Recipe", self.recipe_combo)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Learning rate", self.lr_edit)
        form.addRow("Device", self.device_combo)
        form.addRow("Data folder", data_row)
        start_box = QVBoxLayout()
        start_box.setSpacing(2)
        start_box.addWidget(self.scratch_radio)
        start_box.addWidget(self.continue_radio)
        start_box.addWidget(self.continue_note)
        form.addRow("Start", start_box)

        self.setup_box = QGroupBox("Setup")
        setup = QVBoxLayout(self.setup_box)
        setup.addLayout(form)
        setup.addWidget(self.data_banner)
        setup.addWidget(self.permute_check)
        setup.addWidget(self.live_check)
        setup.addStretch(1)  # a tall window leaves the room below the last row, not between rows

        # Run controls ----------------------------------------------------------------
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.stop_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Not started")
        self.progress.setTextVisible(True)
        self.speed_label = QLabel(" ")
        self.run_box = QGroupBox("Run")
        run = QVBoxLayout(self.run_box)
        run.addLayout(buttons)
        run.addWidget(self.progress)
        run.addWidget(self.speed_label)

        # Result ----------------------------------------------------------------------
        self.result_label = SteadyLabel(4, "No run yet.")  # grows after saving: Use/Save stay put
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_button = QPushButton("Use this model")
        self.use_button.setToolTip("Load the best epoch of this run into the Draw tab")
        self.save_button = QPushButton("Save as…")
        result_buttons = QHBoxLayout()
        result_buttons.addWidget(self.use_button)
        result_buttons.addWidget(self.save_button)
        self.result_box = QGroupBox("Result")
        result = QVBoxLayout(self.result_box)
        result.addWidget(self.result_label)
        result.addLayout(result_buttons)

        # Only Setup scrolls: Start/Pause/Stop and Use/Save stay in view on a 568-px-high window
        scroll = QScrollArea()
        scroll.setWidget(self.setup_box)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumHeight(120)
        display_only(scroll)  # its fields are the Tab stops; Qt scrolls to the focused one
        self.setup_scroll = scroll
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addWidget(self.run_box)
        left_layout.addWidget(self.result_box)
        left.setMinimumWidth(360)
        left.setMaximumWidth(460)
        left.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

        self.plots = TrainingPlots()
        self.kernels = KernelStrip()
        right = QVBoxLayout()
        right.addWidget(self.plots, 1)
        right.addWidget(self.kernels)
        outer = QHBoxLayout(self)
        outer.addWidget(left)
        outer.addLayout(right, 1)

        # Wiring ----------------------------------------------------------------------
        self.arch_combo.currentIndexChanged.connect(self._on_arch_changed)
        self.recipe_combo.currentIndexChanged.connect(self._fill_recipe_defaults)
        self.device_combo.currentIndexChanged.connect(self._remember_device)
        self.data_edit.textChanged.connect(self._check_data_dir)
        self.data_edit.editingFinished.connect(self._remember_data_dir)
        self.browse_button.clicked.connect(self.choose_data_dir)
        self.choose_button.clicked.connect(self.choose_data_dir)
        self.download_button.clicked.connect(self.download_mnist)
        self.continue_radio.toggled.connect(self._update_continue)
        self.start_button.clicked.connect(self._on_start_clicked)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.use_button.clicked.connect(self._on_use)
        self.save_button.clicked.connect(lambda: self.save_trained_model(self))

    # --- setup -------------------------------------------------------------------------

    def _on_arch_changed(self) -> None:
        self._fill_recipe_defaults()  # "fast" differs per architecture
        self._update_continue()

    def _fill_recipe_defaults(self) -> None:
        cfg = recipe_config(self.recipe_combo.currentData(), self.arch_combo.currentData())
        self.epochs_spin.setValue(cfg.epochs)
        self.batch_spin.setValue(cfg.batch_size)
        self.lr_edit.setText(f"{cfg.lr:g}")

    def _remember_form(self) -> None:
        """The form's settings, for the next launch (saved when a run starts)."""
        self.settings.setValue(FORM_KEY, json.dumps({
            "model": self.arch_combo.currentData(), "recipe": self.recipe_combo.currentData(),
            "epochs": self.epochs_spin.value(), "batch_size": self.batch_spin.value(),
            "lr": self.lr_edit.text().strip(), "live": self.live_check.isChecked()}))

    def _restore_form(self) -> None:
        try:
            form = json.loads(str(self.settings.value(FORM_KEY, "") or "{}"))
        except ValueError:
            return
        if not isinstance(form, dict) or not form:
            return
        for combo, key in ((self.arch_combo, "model"), (self.recipe_combo, "recipe")):
            i = combo.findData(form.get(key))
            if i >= 0:
                combo.setCurrentIndex(i)  # refills the recipe's defaults, overridden below
        for spin, key in ((self.epochs_spin, "epochs"), (self.batch_spin, "batch_size")):
            if isinstance(form.get(key), int):
                spin.setValue(form[key])
        if isinstance(form.get("lr"), str) and form["lr"]:
            self.lr_edit.setText(form["lr"])
        self.live_check.setChecked(bool(form.get("live", False)))

    def _remember_device(self) -> None:
        self.settings.setValue(keys.TRAIN_DEVICE, self.device_combo.currentData())

    def _remember_data_dir(self) -> None:
        self.settings.setValue(keys.DATA_DIR, self.data_edit.text().strip())

    def data_dir(self) -> Path:
        return keys.mnist_folder_named(self.data_edit.text())  # as typed, saved or not

    def _check_data_dir(self) -> bool:
        """Show the banner when the folder holds no MNIST; True when it does."""
        folder = self.data_dir()
        ok = has_mnist(folder)
        problem = mnist_problem(folder) if ok else None  # headers only: a truncated file shows
        if not ok:
            self.data_banner_label.setText(
                f"MNIST is not in {folder} (it needs MNIST/raw/*-ubyte). Download it there "
                "(about 11 MB), or choose a folder that already holds it.")
        elif problem:
            self.data_banner_label.setText(
                f"MNIST in {folder} is damaged ({problem}). Download it again there (about "
                "11 MB), or choose a folder that holds a whole copy.")
        ok = ok and problem is None
        self.data_banner.setVisible(not ok)
        return ok

    def choose_data_dir(self) -> None:
        start = self.data_edit.text().strip() or str(resolve_data_dir())
        folder = QFileDialog.getExistingDirectory(self, "Folder holding MNIST", start)
        if not folder:
            return
        root = find_mnist_root(folder) or Path(folder)
        self.data_edit.setText(str(root))
        self._remember_data_dir()

    def download_mnist(self) -> bool:
        dialog = DownloadDialog(self.data_dir(), self)
        accepted = dialog.exec() == DownloadDialog.DialogCode.Accepted
        dialog.shutdown()
        if accepted:
            self._remember_data_dir()
            self.status_message.emit(f"MNIST downloaded to {self.data_dir()}")
        self._check_data_dir()
        dialog.deleteLater()
        return accepted

    # --- continuing the current model ----------------------------------------------------

    def set_current_model(self, ckpt: Checkpoint | None) -> None:
        self._current = ckpt
        self._update_continue()

    def _update_continue(self) -> None:
        arch = self.arch_combo.currentData()
        cur = self._current
        if cur is None:
            ok, note = False, "There is no current model to continue."
        elif cur.arch != arch:
            ok, note = False, (f"The current model is {cur.name}, a {cur.arch}: choose "
                               f"{cur.arch} above to continue training it.")
        else:
            acc = f", {100 * cur.test_acc:.2f} %" if cur.test_acc is not None else ""
            ok, note = True, f"Starts from {cur.name}{acc}."
        self.continue_radio.setEnabled(ok and not self.is_running())
        if not ok and self.continue_radio.isChecked():
            self.scratch_radio.setChecked(True)
        self.continue_note.setText(note)

    # --- starting and controlling a run ---------------------------------------------------

    def build_config(self) -> TrainConfig:
        """The run the form describes; ValueError with a readable message if it is invalid."""
        try:
            lr = float(self.lr_edit.text().strip())
        except ValueError:
            raise ValueError(f"The learning rate {self.lr_edit.text()!r} is not a number.") from None
        return recipe_config(
            self.recipe_combo.currentData(), self.arch_combo.currentData(),
            epochs=self.epochs_spin.value(), batch_size=self.batch_spin.value(), lr=lr,
            device=self.device_combo.currentData(), report_every=GUI_REPORT_EVERY,
            permute=self.permute_check.isChecked() or None)

    def _on_start_clicked(self) -> None:
        if self.is_running():
            return
        try:
            config = self.build_config()
        except ValueError as exc:
            self._show_failure(str(exc))
            return
        if not self._check_data_dir():
            self._show_failure(f"MNIST is not in {self.data_dir()}: download it or choose the "
                               "folder that holds it.")
            return
        if self.has_unsaved_model():
            answer = QMessageBox.question(
                self, "Unsaved model",
                f"The model from the last run ({self._trained.name}) is not saved. "
                "Start a new run anyway? (It stays available until the new run produces one.)",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._remember_data_dir()
        self._remember_device()
        self._remember_form()
        self.start_training(config)

    def _show_config(self, config: TrainConfig) -> None:
        """Make the form show the run's settings (a programmatic start may differ from it)."""
        widgets = (self.arch_combo, self.recipe_combo, self.epochs_spin, self.batch_spin, self.lr_edit)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.arch_combo.setCurrentIndex(max(0, self.arch_combo.findData(config.model)))
            self.recipe_combo.setCurrentIndex(max(0, self.recipe_combo.findData(config.recipe)))
            self.epochs_spin.setValue(config.epochs)
            self.batch_spin.setValue(config.batch_size)
            self.lr_edit.setText(f"{config.lr:g}")
        finally:
            for w in widgets:
                w.blockSignals(False)
        self._update_continue()

    def start_training(self, config: TrainConfig, data: MnistTensors | None = None) -> None:
        """Start a run with ``config``; ``data`` preloaded or read from the data folder."""
        if self.is_running():
            raise RuntimeError("A training run is already in progress.")
        self._show_config(config)
        initial = None
        from_name = None
        if self.continue_radio.isChecked() and self._current is not None:
            if self._current.arch == config.model:
                initial = self._current.state
                from_name = self._current.name
        data_dir = None if data is not None else str(self.data_dir())
        self._run_config = config
        self._run_started_from = from_name
        control = TrainControl()  # its clock is the run's one clock: the state reads it too
        self.state.begin(config.epochs, control.clock)
        self.batches_seen = 0
        self.epochs_seen = 0
        self.plots.clear(config.epochs, previous=getattr(self, "_run_name", None))
        self._run_name = config.model + (", reshuffled pixels" if config.permute else "")
        self.kernels.clear(config.model)
        self._show_progress()  # busy while MNIST loads in the worker
        self.speed_label.setText(" ")
        self._result_tone("")
        self.result_label.setText(
            f"Training {config.model} ({config.recipe}) "
            + (f"from {from_name}…" if from_name else "from scratch…"))

        # the session lives in the worker; the GUI gets Snapshots (session_events)
        session = TrainingSession(
            config, data=data, data_dir=data_dir, initial_state=initial, started_from=from_name,
            start_val_acc=self._current.val_acc if initial is not None else None,
            control=control,
            input_convention=(self._current.meta or {}).get("input") if initial is not None else None)
        handle = WorkerHandle(lambda c: session_events(session, c), control=control, parent=self,
                              name="digitpad-training")
        handle.yielded.connect(self._on_event)
        handle.errored.connect(self._on_error)
        handle.finished.connect(self._on_finished)
        self._handle = handle
        self._set_running(True)
        handle.start()
        self.status_message.emit(f"Training {config.model} started")

    def is_running(self) -> bool:
        return self._handle is not None

    def make_room(self) -> None:
        """The person is drawing: the run leaves a core to the window for a second."""
        if self._handle is not None:
            self._handle.control.make_room()

    def is_paused(self) -> bool:
        return self._handle is not None and self.state.paused

    def toggle_pause(self) -> None:
        if self._handle is None:
            return
        if self.state.paused:
            self.resume()
        else:
            self.pause()

    def pause(self) -> None:
        if self._handle is None or not self.state.pause():
            return
        self._handle.pause()
        self._apply_controls()
        self._show_progress()
        self.speed_label.setText("Paused (the current batch finishes first).")
        self.status_message.emit("Training paused")

    def resume(self) -> None:
        if self._handle is None or not self.state.resume():
            return
        self._handle.resume()
        self._apply_controls()
        self._show_progress()
        self.speed_label.setText("Resuming…")
        self.status_message.emit("Training resumed")

    def stop(self) -> None:
        """Stop after the current batch; the best completed epoch is kept."""
        if self._handle is None or not self.state.stop():
            return
        self._handle.stop()
        self._apply_controls()
        self._show_progress()
        self.speed_label.setText("Stopping after the current batch…")

    def close_question(self) -> str | None:
        """What closing the window must ask first: "running", "unsaved" or None."""
        return self.state.close_question()

    def stop_and_wait(self, timeout_s: float = 60.0) -> bool:
        """Stop the run and wait (events flowing) until it has ended and its result arrived.

        True when it ended within ``timeout_s``; the best completed epoch is then the
        trained model, as after the Stop button.
        """
        from PySide6.QtCore import QDeadlineTimer, QEventLoop, QThread
        from PySide6.QtWidgets import QApplication

        self.stop()
        deadline = QDeadlineTimer(int(timeout_s * 1000))
        while self._handle is not None and not deadline.hasExpired():
            QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            QThread.msleep(5)
        return self._handle is None

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Stop and join the worker thread (window closing); results still queued are dropped.

        True when the thread ended within ``timeout_ms`` (it is joined either way)."""
        self._saves.shutdown()
        handle = self._handle
        if handle is None:
            return True
        handle.finished.disconnect(self._on_finished)
        joined = handle.shutdown(timeout_ms)
        handle.deleteLater()
        self._handle = None
        self.state.stop()
        self.state.worker_finished()
        self._show_progress()
        self._set_running(False)
        return joined

    def _set_running(self, running: bool) -> None:
        self._apply_controls()
        self._update_continue()
        self.running_changed.emit(running)

    def _apply_controls(self) -> None:
        c = self.state.controls()
        self.start_button.setEnabled(c.start)
        self.pause_button.setEnabled(c.pause)
        self.pause_button.setText(c.pause_text)
        self.stop_button.setEnabled(c.stop)
        for w in (self.arch_combo, self.recipe_combo, self.epochs_spin, self.batch_spin,
                  self.lr_edit, self.device_combo, self.data_edit, self.browse_button,
                  self.download_button, self.choose_button, self.scratch_radio):
            w.setEnabled(c.form)
        keep = c.keep and self._trained is not None
        self.use_button.setEnabled(keep)
        self.save_button.setEnabled(keep and not self._saves.busy)

    def _show_progress(self) -> None:
        p = self.state.progress()
        self.progress.setRange(0, p.maximum)
        self.progress.setValue(p.value)
        self.progress.setFormat(p.text)

    # --- events from the worker -----------------------------------------------------------

    def _on_event(self, ev: object) -> None:
        checkpoint = None
        if isinstance(ev, Snapshot):
            ev, checkpoint = ev.event, ev.checkpoint
        if isinstance(ev, BatchDone):
            self._on_batch(ev)
        elif isinstance(ev, EpochDone):
            self._on_epoch(ev, checkpoint)
        elif isinstance(ev, Started):
            self._on_started(ev)
        elif isinstance(ev, (Finished, Stopped)):
            self._on_done(ev, checkpoint)
        elif isinstance(ev, Failed):
            self._show_failure(ev.message)
        elif isinstance(ev, Notice):  # e.g. torch.compile failed: the run goes on
            log.warning("training: %s", ev.message)
            self.status_message.emit(ev.message)

    def _on_started(self, ev: Started) -> None:
        self.state.started(ev.epochs, ev.batches_per_epoch)  # time counts from here
        self._show_progress()
        self.speed_label.setText(f"{ev.train_size:,} training images · {ev.parameters:,} "
                                 f"parameters · {ev.device}")

    def _on_batch(self, ev: BatchDone) -> None:
        self.batches_seen += 1
        self.state.batch_done(ev.epoch, ev.batch, ev.step)
        self.plots.add_loss(ev.step, ev.loss)
        self._show_progress()
        eta = self.state.eta_seconds()
        if self.state.phase != "running" or eta is None:
            return
        self.speed_label.setText(f"{ev.samples_per_s:,.0f} samples/s · loss {ev.loss:.4f} · "
                                 f"ETA {format_duration(eta)}")

    def _on_epoch(self, ev: EpochDone, live: Checkpoint | None = None) -> None:
        self.epochs_seen += 1
        self.state.epoch_done(ev.epoch)
        self.plots.add_epoch(ev.epoch, ev.train_acc, ev.val_acc)
        self.kernels.show_state(ev.state, ev.epoch)
        self.status_message.emit(f"Epoch {ev.epoch}/{ev.epochs}: validation accuracy "
                                 f"{100 * ev.val_acc:.2f} %")
        if self.live_check.isChecked() and live is not None:
            self.live_weights.emit(live)

    def _on_done(self, ev: Finished | Stopped, result: Checkpoint | None = None) -> None:
        self.plots.flush()
        cfg = ev.config
        ran = len(ev.history.epochs)
        self.state.ended("finished" if isinstance(ev, Finished) else "stopped", ran,
                         has_model=ev.best_state is not None)
        self._show_progress()
        seconds = self.state.active_seconds()  # the one duration every label shows
        if ev.best_state is None or result is None:
            self._result_tone("")
            # the last run's model stays (the start question promised it): say Use/Save act on it
            kept = (f" Use this model and Save as… still act on the last run's model "
                    f"({self._trained.name}).") if self._trained is not None else ""
            self.result_label.setText("Stopped before the first epoch finished: there is no "
                                      "new model to keep. The current model is unchanged." + kept)
            self.status_message.emit("Training stopped; no epoch completed")
            return
        tested = ev.test_acc is not None  # a stopped run is not scored on the test set
        self._trained = result  # built by the session in the worker: the one metadata shape
        how = (f"Finished {ran} epochs" if isinstance(ev, Finished)
               else f"Stopped after {ran} of {cfg.epochs} epochs")
        self._result_tone("ok")
        self.result_label.setText(
            f"{how} in {format_duration(seconds)}.\nBest validation accuracy "
            f"{100 * ev.best_val_acc:.2f} % at epoch {ev.best_epoch}"
            + (f"; test accuracy {100 * ev.test_acc:.2f} %" if tested else "") + ". Not saved yet.")
        if tested:
            self.plots.set_test(ev.best_epoch, ev.test_acc)
        self.status_message.emit(f"{how}: best validation accuracy {100 * ev.best_val_acc:.2f} %"
                                 + (f", test {100 * ev.test_acc:.2f} %" if tested else ""))

    def _result_tone(self, tone: str) -> None:
        """Colour the Result text "ok", "error" or plain, in the theme's readable shade."""
        self._tone = tone
        colors = theme.for_widget(self)
        self.result_label.setStyleSheet(f"color: {getattr(colors, tone)};" if tone else "")

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange and getattr(self, "_tone", ""):
            self._result_tone(self._tone)  # a theme switch: the dark shade, or the light one
        super().changeEvent(event)

    def _show_failure(self, message: str) -> None:
        if self.state.running:
            self.state.ended("failed")
        self._result_tone("error")
        self.result_label.setText(f"Training failed: {message}")
        self.status_message.emit(f"Training failed: {message}")

    def _on_error(self, exc: object) -> None:
        log.error("training worker raised: %r", exc)
        self._show_failure(str(exc) or type(exc).__name__)

    def _on_finished(self) -> None:
        self.plots.flush()
        if self._handle is not None:
            self._handle.deleteLater()  # its thread is joined; the QObject can go
        self._handle = None
        started = self.state.trained_any
        self.state.worker_finished()
        self._show_progress()
        if started:
            self.speed_label.setText(self.state.summary())
        self._set_running(False)

    # --- the result ------------------------------------------------------------------------

    def trained_model(self) -> Checkpoint | None:
        return self._trained

    def has_unsaved_model(self) -> bool:
        return self.state.unsaved and self._trained is not None

    def _on_use(self) -> None:
        if self._trained is None:
            return
        self.use_model.emit(self._trained)
        self.status_message.emit(f"Using {self._trained.name} in the Draw tab")

    def save_trained_model(self, parent: QWidget | None = None) -> SaveJob | None:
        """Save as… dialog, then an atomic save in a worker (it may wait for the file's lock).

        Returns the running save (None: nothing to save, or the dialog was cancelled); the
        result panel says "Saving…" and then where it went or why it failed.
        """
        ckpt = self._trained
        if ckpt is None:
            return None
        acc = f"-{100 * ckpt.test_acc:.2f}" if ckpt.test_acc is not None else ""
        path = ask_save_path(parent or self, "Save trained model", f"{ckpt.arch}{acc}")
        if path is None:
            return None
        meta = dict(ckpt.meta)
        meta["name"] = path.stem
        text = self.result_label.text().replace(" Not saved yet.", "")
        self.result_label.setText(f"{text}\nSaving to {path}…")
        self.save_button.setEnabled(False)
        return start_model_save(parent or self, self._saves, path, ckpt, meta,
                                lambda saved: self._saved(ckpt, meta, text, saved))

    def _saved(self, ckpt: Checkpoint, meta: dict, text: str, saved: Saved) -> None:
        self._apply_controls()
        if not saved.ok:
            if saved.error is None:  # the person chose not to replace the file
                self.result_label.setText(text)
                return
            self._result_tone("error")
            self.result_label.setText(f"{text}\nSaving failed: {saved.error}")
            self.status_message.emit(f"Saving failed: {saved.error}")
            return
        if self._trained is ckpt:  # not replaced by a newer run meanwhile
            self._trained = Checkpoint(ckpt.arch, ckpt.state, meta, saved.path)
            self.state.saved()
        self.model_saved.emit(str(saved.path))
        self.result_label.setText(f"{text}\nSaved to {saved.path}")
        self.status_message.emit(f"Saved {saved.path}")
