"""The Save-model dialog and the one way the app writes a model file (main window, Training
tab, My handwriting tab)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from digitpad.core.io.paths import models_dir

MODEL_FILTER = "digitpad models (*.safetensors);;All files (*)"
# what Open model takes: digitpad's files, a user's own state dict or ONNX model (issue 25)
OPEN_FILTER = ("Models (*.safetensors *.pth *.pt *.onnx);;digitpad models (*.safetensors);;"
               "PyTorch state dicts (*.pth *.pt);;ONNX models (*.onnx);;All files (*)")


MODEL_FOLDER = "dialogs/model_folder"  # the folder the last model was opened from or saved to


def last_model_folder() -> Path:
    """Where the Open and Save dialogs start: the last folder used, else the models folder."""
    from ..settings import make_settings

    saved = str(make_settings().value(MODEL_FOLDER, "") or "")
    if saved and Path(saved).is_dir():
        return Path(saved)
    folder = models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only data dir must not stop saving elsewhere
        folder = Path.home()
    return folder


def remember_model_folder(path: str | Path) -> None:
    from ..settings import make_settings

    s = make_settings()
    s.setValue(MODEL_FOLDER, str(Path(path).expanduser().resolve().parent))
    s.sync()


def ask_open_path(parent: QWidget, title: str = "Open model") -> Path | None:
    chosen, _ = QFileDialog.getOpenFileName(parent, title, str(last_model_folder()), OPEN_FILTER)
    if not chosen:
        return None
    remember_model_folder(chosen)
    return Path(chosen)


def ask_save_path(parent: QWidget, title: str, suggested_stem: str) -> Path | None:
    """A .safetensors path the user chose (in the last folder used by default), or None."""
    folder = last_model_folder()
    chosen, _ = QFileDialog.getSaveFileName(parent, title, str(folder / f"{suggested_stem}.safetensors"),
                                            MODEL_FILTER)
    if not chosen:
        return None
    path = Path(chosen)
    if path.suffix.lower() != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    remember_model_folder(path)
    return path




def write_model_file(path: str | Path, ckpt, meta: dict, overwrite: bool = False) -> Path:
    """Worker side: write ``ckpt`` with ``meta`` through the core's guarded output (never a
    shipped model; the lock waited for here, off the GUI thread). A file holding a model as good
    or better on the same validation data, one measured on other data, or something that is
    not a model raises :class:`NeedsConfirmation` unless ``overwrite``."""
    from digitpad.core.io.outputs import NeedsConfirmation, NotComparable
    from digitpad.core.nets.checkpoint import SAVE_LOCK_WAIT, claim_model_output, save_checkpoint

    val_data = meta.get("val_data") if isinstance(meta.get("val_data"), dict) else None
    try:
        with claim_model_output(path, overwrite=overwrite, wait=SAVE_LOCK_WAIT) as claim:
            why = claim.refusal(ckpt.val_acc, val_data)
            if why is None:
                return save_checkpoint(claim.path, ckpt.arch, ckpt.state, meta)
    except NotComparable as exc:
        why = str(exc).replace(" (--overwrite)", "")
    raise NeedsConfirmation(why)


def start_model_save(parent: QWidget, saves, path: str | Path, ckpt, meta: dict | None,
                     on_done: Callable):
    """Save in a worker (``saves``: the widget's :class:`~digitpad.app.workers.Saves`); a
    replacement that needs the person's yes is asked here, on the GUI thread with the file
    unlocked, and then written with ``overwrite``. ``on_done(Saved)``: ``ok``, or an ``error``
    to show, or neither when the person declined."""
    from ..workers import Saved

    meta = dict(ckpt.meta if meta is None else meta)

    def start(overwrite: bool):
        return saves.start(lambda: write_model_file(path, ckpt, meta, overwrite),
                           lambda saved: ended(saved, overwrite))

    def ended(saved, overwrite: bool) -> None:
        if saved.ok or not saved.needs_yes or overwrite:
            on_done(saved)
            return
        why = saved.error
        answer = QMessageBox.question(
            parent, "Replace the model?", f"{why[0].upper()}{why[1:]}.\n\nReplace it anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer == QMessageBox.StandardButton.Yes:
            start(True)
        else:
            on_done(Saved(None, None))

    return start(False)


