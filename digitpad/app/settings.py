"""The app's persistent settings: one INI file in the app data dir.

An INI file (not the registry / plist) keeps settings next to the user's models and logs, and
lets tests isolate them with DIGITPAD_HOME.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

from digitpad.core.io.paths import app_data_dir

# Keys used across the app, in one place so tabs agree on them.
WINDOW_GEOMETRY = "window/geometry"
WINDOW_STATE = "window/state"
LAST_MODEL = "model/last"  # a shipped name ("digitnet") or a file path
RECENT_MODELS = "model/recent"  # list of file paths
DATA_DIR = "data/dir"
THEME = "ui/theme"  # system | light | dark
SHARED_SCALE = "maps/shared_scale"  # bool: one colour scale per layer instead of per map
TRAIN_DEVICE = "train/device"


def make_settings() -> QSettings:
    folder = app_data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
