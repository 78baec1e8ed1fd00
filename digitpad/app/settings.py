"""The app's persistent settings: one INI file in the app data dir.

An INI file (not the registry / plist) keeps settings next to the user's models and logs, and
lets tests isolate them with DIGITPAD_HOME.

The app must start whatever that folder holds. When ``settings.ini`` cannot be used as a
settings file (a FIFO, a folder, a device, unreadable, not an INI file) or the folder cannot be
written (read-only, a file in its place), the settings live in a throw-away file for this run
and :func:`storage_problem` says, in one sentence, what is not saved; the bad file is left as
it is.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings

from digitpad.core.io.files import not_regular_reason
from digitpad.core.io.paths import app_data_dir, resolve_data_dir

# Keys used across the app, in one place so tabs agree on them.
WINDOW_GEOMETRY = "window/geometry"
WINDOW_STATE = "window/state"
LAST_MODEL = "model/last"  # a shipped name ("digitnet") or a file path
RECENT_MODELS = "model/recent"  # list of file paths
DATA_DIR = "data/dir"
THEME = "ui/theme"  # system | light | dark
SHARED_SCALE = "maps/shared_scale"  # bool: one colour scale per layer instead of per map
TRAIN_DEVICE = "train/device"
INSIDE_OPEN = "draw/inside_open"  # bool: the Draw tab's "Inside the network" panel unfolded

SETTINGS_FILE = "settings.ini"

# settings file -> why it cannot be used; asked once per file per process (a FIFO is never
# opened twice, and every caller of make_settings agrees on the same throw-away file)
_checked: dict[str, str | None] = {}
_scratch: dict[str, str] = {}


def mnist_folder(settings: QSettings | None) -> Path:
    """Where the app looks for MNIST: the folder chosen in Training or Preferences, else the
    default (``$DIGITPAD_DATA`` or the user data folder). Every tab asks here: Mistakes once
    looked in the default only and said "MNIST is not in ..." beside a working Training tab."""
    return mnist_folder_named(settings.value(DATA_DIR, "", type=str) if settings is not None else "")


def mnist_folder_named(text: str) -> Path:
    """The folder a person typed (or the settings hold), else the default."""
    text = text.strip()
    return Path(text).expanduser() if text else resolve_data_dir()


def settings_path() -> Path:
    return app_data_dir() / SETTINGS_FILE


def write_probe(folder: Path) -> None:
    """Create the folder and a temp file in it, the way every save writes: OSError shows a
    read-only folder even where permission bits say otherwise (root, read-only mounts)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=folder)
    os.close(fd)
    os.unlink(probe)


def _problem_with(path: Path) -> str | None:
    """Why settings cannot be saved to ``path``, one sentence, or None. Never blocks: nothing
    is opened for reading before ``stat`` says it is a regular file."""
    folder = path.parent
    try:
        write_probe(folder)
    except OSError as exc:
        return (f"Nothing is saved to {folder} this run (settings, samples, logs): "
                f"{exc.strerror or exc}.")
    odd = not_regular_reason(path)
    if odd:
        return f"Settings are not saved this run: {path} is {odd} (left as it is)."
    if path.exists():
        try:  # non-blocking: a FIFO put there since the stat still cannot hang the start
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            try:
                os.read(fd, 1)
            finally:
                os.close(fd)
        except OSError as exc:
            return f"Settings are not saved this run: {path} cannot be read ({exc.strerror or exc})."
        probe = QSettings(str(path), QSettings.Format.IniFormat)
        probe.allKeys()
        if probe.status() != QSettings.Status.NoError:
            return (f"Settings are not saved this run: {path} is not a settings file "
                    "(left as it is).")
    return None


def storage_problem() -> str | None:
    """One sentence saying why settings are not saved this run, or None when they are."""
    path = settings_path()
    key = str(path)
    if key not in _checked:
        _checked[key] = _problem_with(path)
    return _checked[key]


def _scratch_file(key: str) -> str:
    if key not in _scratch:
        folder = tempfile.mkdtemp(prefix="digitpad-settings-")
        atexit.register(shutil.rmtree, folder, True)
        _scratch[key] = os.path.join(folder, SETTINGS_FILE)
    return _scratch[key]


def make_settings() -> QSettings:
    """The settings file, or this run's throw-away one when it cannot be used."""
    path = settings_path()
    if storage_problem() is None:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(_scratch_file(str(path)), QSettings.Format.IniFormat)
