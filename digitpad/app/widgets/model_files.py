"""The Save-model dialog both the main window and the Training tab use."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

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
