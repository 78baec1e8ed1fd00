"""The Save-model dialog both the main window and the Training tab use."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from digitpad.core.paths import models_dir

MODEL_FILTER = "digitpad models (*.safetensors);;All files (*)"


def ask_save_path(parent: QWidget, title: str, suggested_stem: str) -> Path | None:
    """A .safetensors path the user chose (in the app's models folder by default), or None."""
    folder = models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only data dir must not stop saving elsewhere
        folder = Path.home()
    chosen, _ = QFileDialog.getSaveFileName(parent, title, str(folder / f"{suggested_stem}.safetensors"),
                                            MODEL_FILTER)
    if not chosen:
        return None
    path = Path(chosen)
    if path.suffix.lower() != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    return path
