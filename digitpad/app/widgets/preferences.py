"""Settings > Preferences: theme, shared colour scale, brush size, default data folder."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QSpinBox,
                               QWidget)

from digitpad.core.io.paths import resolve_data_dir

from .. import settings as keys
from .canvas import DEFAULT_BRUSH, MAX_BRUSH, MIN_BRUSH
from ..theme import THEMES

BRUSH_SIZE = "draw/brush"  # only the Draw tab reads it, so it lives here rather than settings.py


def _as_bool(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "on")
    return bool(v)


def _as_int(v, default: int) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


@dataclass
class Preferences:
    theme: str = "system"
    shared_scale: bool = False
    brush: int = DEFAULT_BRUSH
    data_dir: str = ""

    @classmethod
    def load(cls, s: QSettings) -> "Preferences":
        theme = str(s.value(keys.THEME, "system") or "system")
        brush = _as_int(s.value(BRUSH_SIZE, DEFAULT_BRUSH), DEFAULT_BRUSH)
        return cls(theme=theme if theme in THEMES else "system",
                   shared_scale=_as_bool(s.value(keys.SHARED_SCALE, False)),
                   brush=min(MAX_BRUSH, max(MIN_BRUSH, brush)),
                   data_dir=str(s.value(keys.DATA_DIR, "") or ""))

    def save(self, s: QSettings) -> None:
        s.setValue(keys.THEME, self.theme)
        s.setValue(keys.SHARED_SCALE, self.shared_scale)
        s.setValue(BRUSH_SIZE, int(self.brush))
        if self.data_dir:
            s.setValue(keys.DATA_DIR, self.data_dir)
        else:
            s.remove(keys.DATA_DIR)
        s.sync()


class PreferencesDialog(QDialog):
    def __init__(self, prefs: Preferences, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.theme = QComboBox()
        for t in THEMES:
            self.theme.addItem({"system": "Follow the system", "light": "Light", "dark": "Dark"}[t], t)
        self.theme.setCurrentIndex(max(0, self.theme.findData(prefs.theme)))
        self.shared = QCheckBox("One colour scale per layer (instead of per map)")
        self.shared.setChecked(prefs.shared_scale)
        self.brush = QSpinBox()
        self.brush.setRange(MIN_BRUSH, MAX_BRUSH)
        self.brush.setSuffix(" px")
        self.brush.setValue(prefs.brush)
        self.data_dir = QLineEdit(prefs.data_dir)
        self.data_dir.setPlaceholderText(str(resolve_data_dir()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.data_dir, 1)
        row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("Theme", self.theme)
        form.addRow("Feature maps", self.shared)
        form.addRow("Brush size", self.brush)
        form.addRow("MNIST data folder", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        start = self.data_dir.text() or str(resolve_data_dir())
        folder = QFileDialog.getExistingDirectory(self, "MNIST data folder", start)
        if folder:
            self.data_dir.setText(folder)

    def preferences(self) -> Preferences:
        return Preferences(theme=self.theme.currentData(), shared_scale=self.shared.isChecked(),
                           brush=self.brush.value(), data_dir=self.data_dir.text().strip())
