"""The Save-model dialog and the one way the app writes a model file (main window, Training
tab, My handwriting tab)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from digitpad.core.io.paths import models_dir

MODEL_FILTER = "digitpad models (*.safetensors);;All files (*)"


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
    chosen, _ = QFileDialog.getOpenFileName(parent, title, str(last_model_folder()), MODEL_FILTER)
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


def save_model_file(parent: QWidget, path: str | Path, ckpt, meta: dict | None = None
                    ) -> tuple[Path | None, str | None]:
    """Write ``ckpt`` (with ``meta``, default its own) to ``path`` through the core's guarded
    output: (the path written, None), (None, why it failed) or (None, None) when the person
    declined. Never a shipped model. A file that holds a model as good or better on the same
    validation data, one measured on other data, or something that is not a model, is
    replaced only after the person confirms (asked with the file unlocked)."""
    from digitpad.core.io.outputs import NotComparable, OutputError
    from digitpad.core.nets.checkpoint import CheckpointError, claim_model_output, save_checkpoint

    meta = dict(ckpt.meta if meta is None else meta)
    val_data = meta.get("val_data") if isinstance(meta.get("val_data"), dict) else None
    overwrite = False
    while True:
        try:
            with claim_model_output(path, overwrite=overwrite) as claim:
                why = claim.refusal(ckpt.val_acc, val_data)
                if why is None:
                    return save_checkpoint(claim.path, ckpt.arch, ckpt.state, meta), None
        except NotComparable as exc:
            why = str(exc).replace(" (--overwrite)", "")
        except (OutputError, CheckpointError) as exc:
            return None, str(exc)
        if overwrite:  # cannot happen: an overwrite claim refuses nothing it could ask about
            return None, why
        answer = QMessageBox.question(
            parent, "Replace the model?", f"{why[0].upper()}{why[1:]}.\n\nReplace it anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return None, None
        overwrite = True
