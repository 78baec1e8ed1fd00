"""Where things live: bundled resources (from source or frozen) and the user's data dir."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "digitpad"
DATA_ENV = "DIGITPAD_DATA"
HOME_ENV = "DIGITPAD_HOME"


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def resource_path(*parts: str) -> Path:
    """A file shipped with digitpad: resources/ in the source tree, or inside the bundle."""
    if is_frozen() and hasattr(sys, "_MEIPASS"):
        base = Path(sys._MEIPASS) / "resources"
    else:
        base = Path(__file__).resolve().parents[3] / "resources"
    return base.joinpath(*parts)


def app_data_dir() -> Path:
    """The per-user folder for settings-adjacent files: downloads, logs, trained models.

    DIGITPAD_HOME overrides it (tests and portable installs use this).
    """
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def default_data_dir() -> Path:
    """Where MNIST is looked for and downloaded to when nothing else is said."""
    return app_data_dir() / "data"


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """``--data DIR`` beats ``$DIGITPAD_DATA`` beats the platform's user data dir."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return default_data_dir()


def log_dir() -> Path:
    return app_data_dir() / "logs"


def models_dir() -> Path:
    return app_data_dir() / "models"
