"""The main window: the Draw tab at once, the tabs that need torch (MODEL_TABS) once it has
loaded; menus, status bar, remembered settings, saving, closing."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QLabel,
                               QMainWindow, QMessageBox, QTabWidget, QTextBrowser, QVBoxLayout,
                               QWidget)


from . import settings as keys
from . import theme
from .close_question import ask_close_running
from .draw.state import SHIPPED_ORDER, entry_label, percent
from .draw.open_image import IMAGE_FILTER, ImageDrop, image_for_canvas
from .draw.tab import MODEL_SUFFIXES, DrawTab, ModelEntry, ModelOpen, load_shipped_predictors
from .workers import Latest, SaveJob, Saved, Saves, WorkerHandle, bounded_joins
from .widgets.help_text import HELP_LINK, about_html, how_this_works_html
from .widgets.model_files import ask_open_path, ask_save_path, start_model_save
from .widgets.plots import TrainingPlots
from .widgets.pictures import PictureMenu, ask_and_save, save_picture
from .widgets.preferences import BRUSH_SIZE, Preferences, PreferencesDialog

log = logging.getLogger("digitpad.app")

MAX_RECENT = 8
# Tabs whose modules import torch: built once the models are loaded (see _model_tab_steps),
# so the window and its canvas show before torch is imported. Placeholders until then.
MODEL_TABS = ("Training", "Lab", "Mistakes", "My handwriting")


def _import_model_tabs() -> None:
    """Import the torch-using tab modules (from the loader thread, so building them is quick)."""
    from .lab import tab as _lab  # noqa: F401
    from .mistakes import tab as _mistakes  # noqa: F401
    from .training import tab as _training  # noqa: F401
    from .handwriting import tab as _handwriting  # noqa: F401


def first_shipped(last: str) -> str:
    """The shipped model to draw with first: the last one used, if it was a shipped one."""
    return last if last in SHIPPED_ORDER else "digitnet"


def load_everything(first: str = "digitnet", on_first=None, stopped=None):
    """What the loader thread does: torch, the shipped models (warmed up), the tab modules.

    ``first`` is loaded first and handed to ``on_first`` at once, so the first prediction
    need not wait for the other models and tabs. ``stopped()`` true after that (the window
    is closing): the rest is skipped, so closing waits for one step at most.
    """
    first = first_shipped(first)
    loaded = load_shipped_predictors((first,))
    if on_first is not None:
        on_first(loaded)
    if stopped is not None and stopped():
        return loaded
    loaded += load_shipped_predictors(tuple(a for a in SHIPPED_ORDER if a != first))
    _import_model_tabs()
    from digitpad.core.nets.devices import list_devices

    list_devices()  # the device probe (CUDA's can take 100s of ms) here, not in the tab's build
    return loaded


class MainWindow(QMainWindow):
    models_loaded = Signal()  # the models are ready and every tab is built

    def __init__(self, settings: QSettings | None = None, device: str = "cpu",
                 defer_load: bool = False) -> None:
        """``defer_load``: show at once and load torch and the models in a background thread
        (the app's launch); otherwise everything is ready when the constructor returns."""
        super().__init__()
        from .settings import make_settings

        self.settings = settings if settings is not None else make_settings()
        self.prefs = Preferences.load(self.settings)
        self.setWindowTitle("digitpad")
        self._closing = False

        self.loaded = False
        self.draw_tab = DrawTab(device=device)
        self.tabs = QTabWidget()
        # One tab per room of digitpad/app/<tab>/. The Draw tab is built now (no torch
        # needed to draw); the others in _model_tab_steps, when torch is imported.
        self.tabs.addTab(self.draw_tab, "Draw")
        self.training_tab = self.lab_tab = self.mistakes_tab = None
        self.handwriting_tab = None
        for title in MODEL_TABS:
            placeholder = QLabel("loading…")
            placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.tabs.addTab(placeholder, title)
        self.setCentralWidget(self.tabs)
        self.tabs.currentChanged.connect(self._tab_shown)

        self.model_label = QLabel()
        self.device_label = QLabel(f"device: {device}")
        self.acc_label = QLabel()
        self.input_label = QLabel()  # a foreign model's input convention and its score
        self.input_label.hide()
        for w in (self.model_label, self.input_label, self.device_label, self.acc_label):
            w.setContentsMargins(6, 0, 6, 0)
            self.statusBar().addPermanentWidget(w)
        self._show_storage_notice()

        self._build_menus()
        self.draw_tab.model_changed.connect(self._on_model_changed)
        self.draw_tab.status_message.connect(self._show_status)
        self.draw_tab.canvas.history_changed.connect(self._update_edit_actions)
        self.draw_tab.maps.shared_box.toggled.connect(self._remember_shared_scale)
        inside = self.draw_tab.inside.toggle
        inside.setChecked(self.settings.value(keys.INSIDE_OPEN, False, type=bool))
        inside.toggled.connect(lambda on: self.settings.setValue(keys.INSIDE_OPEN, bool(on)))
        self.draw_tab.model_changed.connect(self._model_to_lab_tabs)
        self.draw_tab.prediction_shown.connect(self._drawing_to_lab)
        self.picture_menus: dict[str, PictureMenu] = {}
        self._attach_picture_menus()
        self.image_drop = ImageDrop(self.draw_tab.canvas)
        self.image_drop.dropped.connect(self.open_dropped)

        app = QApplication.instance()
        if app is not None:
            try:
                app.styleHints().colorSchemeChanged.connect(self._system_scheme_changed)
            except AttributeError:
                pass
        self.apply_preferences(self.prefs, save=False)
        self._restore_geometry()
        self._update_edit_actions()
        self._loader: WorkerHandle | None = None
        self.model_at_start: str | None = None  # `digitpad --model FILE` (main.run_app)
        self._saves = Saves(self)  # saves in flight: joined before the window goes
        self._loader_pending = defer_load
        self._deferred = defer_load  # launch: the torch tabs are built a step at a time
        if defer_load:
            self._show_status("loading the models…")  # the loader starts once the window shows
        else:
            self._finish_loading(load_everything())

    def _show_storage_notice(self) -> None:
        """Said once, and it stays: a settings file or data folder that cannot be written
        never stops the app, but the person should know what this run will not keep."""
        from .settings import storage_problem

        self.storage_notice = QLabel()
        self.storage_notice.setObjectName("storageNotice")
        problem = storage_problem()
        if problem is None:
            return
        log.warning("%s", problem)
        self.storage_notice.setText("⚠ " + ("nothing is saved" if problem.startswith("Nothing")
                                           else "settings are not saved"))
        self.storage_notice.setToolTip(problem)
        self.storage_notice.setContentsMargins(6, 0, 6, 0)
        self.statusBar().addPermanentWidget(self.storage_notice)

    # --- loading ---------------------------------------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._loader_pending:  # normally the first paint starts it; a window never painted
            QTimer.singleShot(1000, self._kick_loader)  # (minimised, covered) still loads

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self._loader_pending:
            # after the first paint, not after show: on X11 the window is exposed (and painted)
            # a round trip after show, and a loader started in between delayed that by ~0.6 s
            QTimer.singleShot(0, self._kick_loader)

    def _kick_loader(self) -> None:
        if self._loader_pending and not self._closing:
            self._loader_pending = False
            self._start_loader()

    def _start_loader(self) -> None:
        # the first model in numpy (milliseconds, no torch): drawings are read while torch loads
        from digitpad.core.reading.numpy_predict import load_shipped

        first = first_shipped(str(self.settings.value(keys.LAST_MODEL, "") or ""))
        quick = load_shipped(first)
        if quick is not None and not self._closing:
            self.draw_tab.use_quick(quick)
            self._show_model_labels(entry_label(quick.arch, "shipped", quick.test_acc),
                                    quick.test_acc, "shipped")
        # torch, the models and the tab modules in a QThread that closeEvent joins: a window
        # closed during start-up waits for the step in progress (at most torch's import)
        def work(control):
            report = self._loader.report  # set before the thread starts
            yield ("all", load_everything(first, lambda loaded: report(("first", loaded)),
                                          lambda: control.stop_requested))

        self._loader = WorkerHandle(work, parent=self, name="digitpad-loader")
        self._loader.yielded.connect(self._loader_item)
        self._loader.errored.connect(self._finish_loading)
        self._loader.start()

    def _loader_item(self, item) -> None:
        kind, loaded = item
        if kind == "first":
            self._first_model_loaded(loaded)
        else:
            self._finish_loading(loaded)

    def _first_model_loaded(self, loaded) -> None:
        """Draw with the first model while the others load (the first prediction comes sooner)."""
        if self.loaded or self._closing:
            return
        self.draw_tab.add_loaded_models(loaded)
        if self.draw_tab.current_entry() is None and loaded:
            self.draw_tab.select_model(loaded[0][0])

    def _model_tab_steps(self):
        """Build the tabs that need torch, in place of their placeholders, one per step (a
        generator: at launch each step is one turn of the event loop, ~0.03-0.1 s of GUI
        work instead of all four at once), then wire them."""
        from .lab.tab import LabTab
        from .mistakes.tab import MistakesTab
        from .handwriting.tab import HandwritingTab
        from .training.tab import TrainingTab

        makers = (("training_tab", lambda: TrainingTab(self.settings)), ("lab_tab", LabTab),
                  ("mistakes_tab", lambda: MistakesTab(self.settings)),
                  ("handwriting_tab", lambda: HandwritingTab(self.settings)))
        built = []
        for title, (attr, make) in zip(MODEL_TABS, makers):
            built.append((attr, title, make()))
            yield
        # the tabs go in together: no tab is reachable before the window knows them all
        current = self.tabs.currentIndex()
        for attr, title, tab in built:
            setattr(self, attr, tab)
            i = next(k for k in range(self.tabs.count()) if self.tabs.tabText(k) == title)
            old = self.tabs.widget(i)
            self.tabs.removeTab(i)
            self.tabs.insertTab(i, tab, title)
            old.deleteLater()
        self.tabs.setCurrentIndex(current)
        t = self.training_tab
        t.use_model.connect(self._use_trained_model)
        t.live_weights.connect(self.draw_tab.set_live_weights)
        t.running_changed.connect(lambda running: running or self.draw_tab.end_live())
        t.status_message.connect(self._show_status)
        t.model_saved.connect(self._add_recent)
        t.model_saved.connect(lambda path: self._trained_saved(self.training_tab.trained_model(), path))
        self.lab_tab.status_message.connect(self._show_status)
        self.mistakes_tab.status_message.connect(self._show_status)
        self.mistakes_tab.open_in_canvas.connect(self.open_in_canvas)
        h = self.handwriting_tab
        h.use_model.connect(self._use_taught_model)
        h.status_message.connect(self._show_status)
        h.model_saved.connect(self._add_recent)
        h.model_saved.connect(lambda path: self._trained_saved(self.handwriting_tab.taught, path))
        self.draw_tab.corrections.stored.connect(h.sample_stored)  # that one sample, not a re-read
        # while the person draws, a run trains with one torch thread fewer (a core for the window)
        for canvas in (self.draw_tab.canvas, self.draw_tab.number.canvas, h.canvas):
            canvas.changed.connect(self._drawing_now)
        self._attach_picture_menus()

    def _drawing_now(self) -> None:
        self.training_tab.make_room()
        self.handwriting_tab.make_room()

    def _finish_loading(self, loaded) -> None:
        if self._closing:
            return
        if isinstance(loaded, BaseException):
            log.error("loading the models failed: %r", loaded)
            self.draw_tab.prediction.show_status("no model: see the log")
            QMessageBox.critical(self, "digitpad cannot load its models", str(loaded))
            return
        steps = self._model_tab_steps()
        if self._deferred:
            self._next_tab_step(steps, loaded)
        else:
            for _ in steps:
                pass
            self._tabs_built(loaded)

    def _next_tab_step(self, steps, loaded) -> None:
        """One tab per turn of the event loop, and none while the pen is down."""
        if self._closing:
            return
        if self.draw_tab.canvas.is_drawing():
            QTimer.singleShot(40, lambda: self._next_tab_step(steps, loaded))
            return
        try:
            next(steps)
        except StopIteration:
            self._tabs_built(loaded)
            return
        QTimer.singleShot(0, lambda: self._next_tab_step(steps, loaded))

    def _tabs_built(self, loaded) -> None:
        last = str(self.settings.value(keys.LAST_MODEL, "") or "")
        self.draw_tab.add_loaded_models(loaded)
        missing = [arch for arch, _pred, source in loaded if source == "untrained"]
        self._restore_last_model(last)
        if self.model_at_start:  # `digitpad --model FILE`: opened in a worker, errors shown
            self.open_model(self.model_at_start)
        current = self.draw_tab.current_entry()
        if current is not None:  # the tabs built just now learn the model drawn with
            self._on_model_changed(current)
            self._model_to_lab_tabs(current)
        self.apply_preferences(self.prefs, save=False)  # the new tabs' plots take the theme
        self.statusBar().clearMessage()
        if missing:
            self._show_status(f"No trained file for {', '.join(missing)} yet: using untrained "
                              "stand-ins. Train one in the Training tab.", 10000)
        self.loaded = True
        self.models_loaded.emit()

    # --- menus -----------------------------------------------------------------------------

    def _action(self, menu, text: str, slot, key=None, tip: str = "") -> QAction:
        act = QAction(text, self)
        if key is not None:
            seqs = key if isinstance(key, list) else [key]
            shortcuts: list[QKeySequence] = []
            for k in seqs:
                for seq in (QKeySequence.keyBindings(k) if isinstance(k, QKeySequence.StandardKey)
                            else [QKeySequence(k)]):
                    # the same key twice on one action (or on two) is "ambiguous" to Qt: dropped
                    if not seq.isEmpty() and seq not in shortcuts and seq not in self._taken_keys:
                        shortcuts.append(seq)
            self._taken_keys.update(shortcuts)
            act.setShortcuts(shortcuts)
        if tip:
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        SK = QKeySequence.StandardKey
        self._taken_keys: set[QKeySequence] = set()
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self.open_action = self._action(f, "&Open model…", self.open_model_dialog, SK.Open,
                                        "Open a model: a digitpad .safetensors file, a PyTorch state dict "
                                        "(.pth / .pt) or an ONNX model")
        self.open_image_action = self._action(f, "Open &image…", self.open_image_dialog,
                                              "Ctrl+Shift+O", "Read a digit from an image file")
        self.recent_menu = f.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.export_menu = f.addMenu("&Export picture")
        self.export_menu.aboutToShow.connect(self._fill_export_menu)
        self.save_action = self._action(f, "&Save model…", self.save_model_dialog, [SK.Save, SK.SaveAs],
                                        "Save the model you are drawing with")
        f.addSeparator()
        # one binding per key: StandardKey.Quit is already Ctrl+Q on Linux and Windows, and a
        # second "Ctrl+Q" made Qt report an ambiguous shortcut and do nothing
        self.quit_action = self._action(f, "&Quit", self.close, [SK.Quit, "Ctrl+Q"])
        e = mb.addMenu("&Edit")
        c = self.draw_tab.canvas
        self.undo_action = self._action(e, "&Undo stroke", c.undo, SK.Undo)
        self.redo_action = self._action(e, "&Redo stroke", c.redo, [SK.Redo, "Ctrl+Y", "Ctrl+Shift+Z"])
        self.clear_action = self._action(e, "&Clear drawing", c.clear, [SK.Delete, SK.New, "Ctrl+L"])
        v = mb.addMenu("&View")
        theme_menu = v.addMenu("&Theme")
        self.theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for name in theme.THEMES:
            act = theme_menu.addAction(name.capitalize())
            act.setCheckable(True)
            act.setData(name)
            self.theme_group.addAction(act)
            act.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            self.theme_actions[name] = act
        s = mb.addMenu("&Settings")
        self.prefs_action = self._action(s, "&Preferences…", self.preferences_dialog,
                                         [SK.Preferences, "Ctrl+,"])
        h = mb.addMenu("&Help")
        self._action(h, "&How this works", self.show_help, SK.HelpContents)
        self._action(h, "&About digitpad", self.show_about)

    def pictures(self) -> list[tuple[str, QWidget]]:
        """Every picture the app can export, by name, of the tabs built so far."""
        d = self.draw_tab
        out = [("feature maps", d.maps.glw), ("probabilities", d.prediction.plot),
               ("why-map", d.inside.why_plot), ("shift test", d.inside.shift_plot)]
        if self.training_tab is not None:
            out.append(("training plots", self.training_tab.plots.view))
        if self.mistakes_tab is not None:
            out.append(("confusion matrix", self.mistakes_tab.plot_widget))
        if self.handwriting_tab is not None:
            out.append(("teaching plots", self.handwriting_tab.plots.view))
        return out

    def _attach_picture_menus(self) -> None:
        for name, view in self.pictures():
            if name not in self.picture_menus:
                self.picture_menus[name] = PictureMenu(view, name)

    def _fill_export_menu(self) -> None:
        self.export_menu.clear()
        for name, view in self.pictures():
            self.export_menu.addAction(name.capitalize() + "…",
                                       lambda v=view, n=name: self.export_picture(n, v))

    def export_picture(self, name: str, view: QWidget, path: str | None = None) -> Path | None:
        """File › Export picture: the named view as PNG or SVG (a dialog when no path)."""
        if path is None:
            saved = ask_and_save(self, view, name)
        else:
            try:
                saved = save_picture(view, path)
            except OSError as exc:
                QMessageBox.warning(self, "Cannot export the picture", str(exc))
                return None
        if saved is not None:
            self._show_status(f"Saved the {name} to {saved}")
        return saved

    def _update_edit_actions(self) -> None:
        c = self.draw_tab.canvas
        self.undo_action.setEnabled(c.can_undo())
        self.redo_action.setEnabled(c.can_redo())

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self._recent()
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for path in recent:
            act = self.recent_menu.addAction(path)
            act.triggered.connect(lambda _=False, p=path: self.open_model(p))

    def _recent(self) -> list[str]:
        v = self.settings.value(keys.RECENT_MODELS, [])
        if isinstance(v, str):
            v = [v] if v else []
        return [str(p) for p in (v or [])]

    def _add_recent(self, path: str) -> None:
        recent = [p for p in self._recent() if p != path]
        self.settings.setValue(keys.RECENT_MODELS, ([path] + recent)[:MAX_RECENT])

    # --- models ----------------------------------------------------------------------------

    def open_model_dialog(self) -> None:
        path = ask_open_path(self, "Open model")
        if path is not None:
            self.open_model(str(path))

    def open_model(self, path: str, quiet: bool = False) -> ModelOpen:
        """Open a model file (digitpad's, a state dict, ONNX) in a worker: the window keeps
        painting; once it is in the picker it is a recent file and the Draw tab shows. The
        returned job's ``wait()`` (or truth value) says whether it opened."""
        from .settings import mnist_folder

        self.draw_tab.data_dir = mnist_folder(self.settings)
        job = self.draw_tab.open_model_file(path, data_dir=self.draw_tab.data_dir, quiet=quiet)

        def ended(ok: bool) -> None:
            if ok:
                self._add_recent(str(Path(path)))
                self.tabs.setCurrentWidget(self.draw_tab)

        job.ended.connect(ended)
        return job

    def open_dropped(self, path: str) -> bool:
        """A file dropped on the canvas: a model file opens as a model, anything else is an image."""
        if Path(path).suffix.lower() in MODEL_SUFFIXES:
            self.open_model(path)
            return True
        return self.open_image(path)

    def save_model_dialog(self) -> bool:
        entry = self.draw_tab.current_entry()
        if entry is None:
            return False
        name = str(entry.predictor.name or entry.arch).split(" (")[0].replace(" ", "-").replace("#", "")
        path = ask_save_path(self, "Save model", name)
        if path is None:
            return False
        return self.save_model(str(path), entry)

    def save_model(self, path: str, entry: ModelEntry | None = None) -> SaveJob | None:
        """Save the model drawn with (or ``entry``) in a worker; None when there is none.

        The write waits for the file's lock if another writer holds it: never on the GUI
        thread. The status bar says "Saving…", then the result; a failure is a dialog.
        """
        entry = entry or self.draw_tab.current_entry()
        if entry is None:
            return None
        from digitpad.core.nets.checkpoint import CheckpointError, make_meta

        try:
            ckpt = entry.to_checkpoint()
        except CheckpointError as exc:  # an ONNX model: nothing digitpad can write
            self._show_status(str(exc), 10000)
            return None
        meta = dict(ckpt.meta) if ckpt.meta else make_meta(ckpt.arch)
        meta["name"] = Path(path).stem
        self._show_status(f"Saving {path}…", 0)
        return start_model_save(self, self._saves, path, ckpt, meta,
                                lambda saved, key=entry.key: self._model_saved(path, key, saved))

    def _model_saved(self, path: str, key: str, saved: Saved) -> None:
        if not saved.ok:
            self._show_status(f"Saving {path} failed" if saved.error else f"{path} kept as it was")
            if saved.error:  # else the person chose not to replace the file
                QMessageBox.warning(self, "Cannot save model", saved.error)
            return
        self._add_recent(str(Path(path)))
        self.draw_tab.became_file(key, path)
        self._show_status(f"Saved {path}")

    def _trained_saved(self, ckpt, path: str) -> None:
        """A tab saved its model: the Draw tab's entry for it becomes that file."""
        key = self.draw_tab.key_holding(ckpt.state) if ckpt is not None else None
        if key is not None:
            self.draw_tab.became_file(key, path)

    def _use_trained_model(self, ckpt, message: str = "Drawing with the model you just trained.") -> ModelOpen:
        """Use this model: built and warmed up in a worker (issue 21), then drawn with."""
        job = self.draw_tab.add_checkpoint_in_worker(ckpt, source="trained")

        def ended(ok: bool) -> None:
            if not ok:
                if job.error != "replaced by a newer open":
                    QMessageBox.warning(self, "Cannot use model",
                                        f"The trained model could not be loaded: {job.error}")
                return
            self.tabs.setCurrentWidget(self.draw_tab)
            self._show_status(message)

        job.ended.connect(ended)
        return job

    def _use_taught_model(self, ckpt) -> ModelOpen:
        return self._use_trained_model(
            ckpt, f"Drawing with {ckpt.name} (not saved yet: My handwriting > Save as…).")

    def _show_model_labels(self, label: str, acc: float | None, source: str) -> None:
        self.model_label.setText(f"model: {label.split(' · ')[0]}")
        self.model_label.setToolTip(label)
        self.acc_label.setText("test accuracy: " + (percent(acc) if acc is not None else
                                                   "untrained" if source == "untrained" else "n/a"))

    def _on_model_changed(self, entry: ModelEntry) -> None:
        pred = entry.predictor
        self._show_model_labels(entry.label, entry.accuracy, entry.source)
        from digitpad.core.nets.conventions import input_summary

        note = input_summary(pred.meta or {})  # a foreign model: the input it is fed
        self.input_label.setText(note)
        self.input_label.setVisible(bool(note))
        if not entry.torch_weights:
            # ONNX runs in onnxruntime: Training, My handwriting and Mistakes keep their model
            self.input_label.setToolTip("An ONNX model: predictions, feature maps, kernels and "
                                        "the occlusion why-map work; continue training, teach "
                                        "and Mistakes need a torch model (open a state dict).")
            return
        self.device_label.setText(f"device: {getattr(pred, 'device', 'cpu')}")
        key = self.draw_tab.key_for_settings()
        if key is not None:
            self.settings.setValue(keys.LAST_MODEL, key)
        if entry.source != "live" and self.training_tab is not None:
            try:
                self.training_tab.set_current_model(entry.to_checkpoint())
            except Exception:
                log.exception("could not hand the model to the Training tab")
        if entry.source != "live" and self.handwriting_tab is not None:
            try:
                self.handwriting_tab.set_current_model(entry.to_checkpoint())
            except Exception:
                log.exception("could not hand the model to the My handwriting tab")

    def _restore_last_model(self, last: str) -> None:
        """The model drawn with at the last close; a file is reopened in a worker (the
        drawing goes on with digitnet until it is in), refused quietly (a log line)."""
        if last and last in self.draw_tab.entries:
            self.draw_tab.select_model(last)
        elif last and Path(last).is_file():
            job = self.open_model(last, quiet=True)
            job.ended.connect(lambda ok: ok or log.warning("last model %s not reopened: %s",
                                                          last, job.error))
            if not self._deferred:
                job.wait()  # MainWindow(defer_load=False): everything done in the constructor
        if self.draw_tab.current_entry() is None:
            self.draw_tab.select_model("digitnet")

    # --- Lab and Mistakes: fed from the Draw tab (tabs never import each other) -------------

    def _model_to_lab_tabs(self, entry: ModelEntry) -> None:
        if self.lab_tab is None or self.mistakes_tab is None:
            return
        pred = entry.predictor
        if not entry.torch_weights:  # ONNX: Mistakes scores its forward pass; the Lab needs weights
            self.mistakes_tab.set_model(entry.label, entry.arch, {}, entry.key, pred.meta,
                                        predictor=pred)
            return
        self.lab_tab.set_model(entry.arch, pred.kernels())
        if entry.source == "live":
            return  # weights change every epoch: score the model once it is kept
        path = entry.checkpoint.path if entry.checkpoint is not None else None
        if path is None and entry.source == "shipped":
            from digitpad.core.nets.checkpoint import shipped_model_path

            path = shipped_model_path(entry.arch)
        self.mistakes_tab.set_model(entry.label, entry.arch, pred.state_dict(),
                                    str(path) if path else None, pred.meta)

    def _drawing_to_lab(self) -> None:
        if self.lab_tab is None:
            return
        pred = self.draw_tab.last_prediction
        self.lab_tab.set_drawing(None if pred is None or pred.empty else pred.image)

    def open_image_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, "Open image", str(Path.home()), IMAGE_FILTER)
        if path:
            self.open_image(path)

    def open_image(self, path: str) -> bool:
        """An image file (or a folder's first image) onto the Draw tab's canvas, read as
        ``digitpad predict`` reads it; a file that cannot be read leaves the drawing as it is."""
        from digitpad.core.data.preprocess import ImageError

        if self.draw_tab.number.state.active:  # read as a number, decoded in a worker
            self.draw_tab.number.open_image(path)
            self.tabs.setCurrentWidget(self.draw_tab)
            return True
        try:
            array, read = image_for_canvas(path, self.draw_tab.canvas.canvas_size)
        except ImageError as exc:
            self._show_status(f"Cannot open {Path(path).name}: {exc}", 10000)
            QMessageBox.warning(self, "Cannot open image", str(exc))
            return False
        self.draw_tab.canvas.set_array(array)  # one undo step: Undo brings the drawing back
        self.tabs.setCurrentWidget(self.draw_tab)
        self._show_status(f"Reading {read.name}: press the right digit (0–9) if it is wrong")
        return True

    def open_in_canvas(self, image) -> None:
        """A 28x28 test image (ink bright) onto the Draw tab's canvas, scaled up to fill it."""
        self.draw_tab.show_test_image(image)
        self.draw_tab.corrections.opened_test_image(np.asarray(image, dtype=np.uint8))
        self.tabs.setCurrentWidget(self.draw_tab)

    # --- settings and theme ----------------------------------------------------------------

    def apply_preferences(self, prefs: Preferences, save: bool = True) -> None:
        self.prefs = prefs
        act = self.theme_actions.get(prefs.theme)
        if act is not None:
            act.setChecked(True)
        app = QApplication.instance()
        colors = theme.apply_theme(app, prefs.theme) if app is not None else theme.current()
        theme.restyle_plots(self, colors)
        self.draw_tab.apply_theme(colors)
        for tab in (self.lab_tab, self.mistakes_tab, self.handwriting_tab):  # None until loaded
            if tab is not None:
                tab.apply_theme(colors)
        for plots in self.findChildren(TrainingPlots):  # Training's and My handwriting's
            plots.apply_theme(colors)
        self.draw_tab.brush.setValue(prefs.brush)
        self.draw_tab.maps.set_shared_scale(prefs.shared_scale)
        if save:
            prefs.save(self.settings)

    def set_theme(self, name: str) -> None:
        """View > Theme: the same setting as in Preferences."""
        if name in theme.THEMES:
            self.prefs.brush = int(self.draw_tab.canvas.brush_size())
            self.prefs.theme = name
            self.apply_preferences(self.prefs)

    def _system_scheme_changed(self, *_args) -> None:
        if self.prefs.theme == "system":
            self.apply_preferences(self.prefs, save=False)

    def _remember_shared_scale(self, on: bool) -> None:
        self.prefs.shared_scale = bool(on)
        self.settings.setValue(keys.SHARED_SCALE, bool(on))

    def preferences_dialog(self) -> None:
        self.prefs.brush = int(self.draw_tab.canvas.brush_size())
        dlg = PreferencesDialog(self.prefs, self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.apply_preferences(dlg.preferences())

    def _restore_geometry(self) -> None:
        geo = self.settings.value(keys.WINDOW_GEOMETRY)
        if isinstance(geo, QByteArray) and not geo.isEmpty() and self.restoreGeometry(geo):
            state = self.settings.value(keys.WINDOW_STATE)
            if isinstance(state, QByteArray):
                self.restoreState(state)
            return
        screen = QApplication.primaryScreen()
        avail = screen.availableGeometry() if screen else None
        w, h = 1280, 820
        if avail is not None:
            w, h = min(w, avail.width() - 40), min(h, avail.height() - 40)
        self.resize(max(w, 800), max(h, 560))

    def save_settings(self) -> None:
        self.settings.setValue(keys.WINDOW_GEOMETRY, self.saveGeometry())
        self.settings.setValue(keys.WINDOW_STATE, self.saveState())
        self.settings.setValue(BRUSH_SIZE, int(self.draw_tab.canvas.brush_size()))
        key = self.draw_tab.key_for_settings()
        if key is not None:
            self.settings.setValue(keys.LAST_MODEL, key)
        self.settings.sync()

    # --- help ------------------------------------------------------------------------------

    def _html_dialog(self, title: str, html: str) -> QDialog:
        dlg = QDialog(self)
        dlg.setWindowTitle(title)
        view = QTextBrowser()
        view.setOpenExternalLinks(True)
        view.setHtml(html)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dlg.reject)
        lay = QVBoxLayout(dlg)
        lay.addWidget(view)
        lay.addWidget(buttons)
        dlg.resize(620, 640)
        return dlg

    def _page(self, build, show) -> None:
        """Build a Help page's HTML in a worker, then ``show(html)`` here: the lesson's numbers
        run torch, About reads torch's version and the devices, and while torch is still
        loading (the first seconds) either waited for the import on the GUI thread."""
        if getattr(self, "_pages", None) is None:
            self._pages = Latest(self, name="digitpad-help-page")

        def work(_control):
            yield build()

        def failed(exc) -> None:
            log.error("building a help page failed: %r", exc)
            self._show_status(f"Cannot show the page: {exc}")

        self._pages.submit(work, show, failed)

    def show_help(self) -> None:
        def show(html: str) -> None:
            self._help = self._html_dialog("How this works", html)
            self._help.show()

        self._page(how_this_works_html, show)

    def show_about(self) -> None:
        device, mnist = self.draw_tab.device, keys.mnist_folder(self.settings)
        self._page(lambda: about_html(device, mnist), self._about_dialog)

    def _about_dialog(self, about: str) -> None:
        dlg = self._html_dialog("About digitpad", about)
        view = dlg.findChild(QTextBrowser)
        view.setOpenLinks(False)  # the lesson link opens the help page; others the browser

        def follow(url) -> None:
            if url.toString() == HELP_LINK:
                dlg.accept()
                self.show_help()
            else:
                from PySide6.QtGui import QDesktopServices

                QDesktopServices.openUrl(url)

        view.anchorClicked.connect(follow)
        dlg.setObjectName("aboutDialog")
        dlg.resize(640, 520)
        dlg.exec()

    def _show_status(self, text: str, ms: int = 5000) -> None:
        self._status_tab = self.tabs.currentWidget()  # a message is about the tab it came on
        self.statusBar().showMessage(text, ms)

    def _tab_shown(self, _index: int) -> None:
        # "Cannot open x.png" stayed for 10 s on whichever tab one went to next
        if getattr(self, "_status_tab", None) is not self.tabs.currentWidget():
            self.statusBar().clearMessage()

    # --- closing ---------------------------------------------------------------------------

    def _confirm_close(self) -> bool:
        """Ask about a run in progress or an unsaved trained model; False keeps the window."""
        t = self.training_tab
        if t is None:
            return True
        B = QMessageBox.StandardButton
        question = t.close_question()
        if question == "running":
            answer = ask_close_running(self, t)
            if answer == B.Cancel:
                return False
            if answer == B.Save:
                if not t.stop_and_wait():
                    QMessageBox.warning(self, "Training did not stop",
                                        "The run did not stop in time; nothing was saved.")
                    return False
                return t.trained_model() is None or self._saved_before_close(t.save_trained_model(self))
            if answer is not None:
                return True  # stop and discard
            question = t.close_question()  # the run ended behind the question: its model?
        if question == "unsaved":
            answer = QMessageBox.question(
                self, "Save the trained model?",
                "You trained a model that is not saved yet. Save it before quitting?",
                B.Save | B.Discard | B.Cancel, B.Save)
            if answer == B.Cancel or (answer == B.Save and
                                      not self._saved_before_close(t.save_trained_model(self))):
                return False
        return True

    def _saved_before_close(self, job: SaveJob | None) -> bool:
        """Wait (the window painting, saying "saving…") for a save asked for on quitting."""
        if job is None:
            return False
        self._show_status("Saving the trained model before quitting…", 0)
        return job.wait().ok

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing and not self._confirm_close():
            event.ignore()
            return
        self._closing = True
        with bounded_joins():  # each join waits its timeout at most: quitting takes < 1 s
            try:
                if self.training_tab is not None:
                    self.training_tab.shutdown(300)
            except Exception:
                log.exception("stopping training on close failed")
            self.draw_tab.shutdown()
            if self._loader is not None:
                self._loader.shutdown(300)  # the rest of the models are not loaded
                self._loader = None
            self._saves.shutdown()  # a save in flight is finished, never cut off
            if getattr(self, "_pages", None) is not None:
                self._pages.shutdown(200)
            if self.lab_tab is not None:
                self.lab_tab.shutdown()
            if self.mistakes_tab is not None:
                self.mistakes_tab.shutdown(200)
            if self.handwriting_tab is not None:
                self.handwriting_tab.shutdown(200)
        self.save_settings()
        event.accept()
