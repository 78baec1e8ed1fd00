"""The app's safety net: a log file in the app data dir and a global exception hook.

An exception escaping a Qt slot would otherwise print to a console nobody sees (or abort a
frozen build). The hook writes the traceback to the log and tells the person in a dialog,
and the app carries on.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import traceback
from pathlib import Path

from digitpad.core.io.paths import log_dir

LOG_NAME = "digitpad.log"
log = logging.getLogger("digitpad")

_installed_handler: logging.Handler | None = None
_showing_dialog = False


def log_file() -> Path:
    return log_dir() / LOG_NAME


def setup_logging() -> Path | None:
    """Send the ``digitpad`` logger to a rotating file; returns its path (None if unwritable)."""
    global _installed_handler
    path = log_file()
    if _installed_handler is not None:
        if getattr(_installed_handler, "baseFilename", None) == str(path):
            return path
        log.removeHandler(_installed_handler)
        _installed_handler.close()
        _installed_handler = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=2,
                                                       encoding="utf-8")
    except OSError:
        return None  # a read-only home must not stop the app from starting
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    _installed_handler = handler
    return path


def format_exception(exc_type, exc, tb) -> str:
    return "".join(traceback.format_exception(exc_type, exc, tb))


def report_exception(exc_type, exc, tb, show_dialog: bool = True) -> None:
    """Log an unexpected exception and, on the GUI thread, tell the person in a dialog."""
    global _showing_dialog
    log.error("Unexpected error:\n%s", format_exception(exc_type, exc, tb))
    if not show_dialog or _showing_dialog:
        return
    try:
        from PySide6.QtWidgets import QApplication, QMessageBox
    except ImportError:
        return
    app = QApplication.instance()
    if app is None or threading.current_thread() is not threading.main_thread():
        return
    _showing_dialog = True
    try:
        where = log_file()
        QMessageBox.critical(
            app.activeWindow(), "digitpad: something went wrong",
            f"{exc_type.__name__}: {exc}\n\nThe app keeps running. Details were written to\n{where}")
    except Exception:  # never let the safety net itself raise
        pass
    finally:
        _showing_dialog = False


def install_excepthook(show_dialog: bool = True) -> None:
    """Replace sys.excepthook (and threading's) so errors are logged instead of aborting."""

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        sys.__stderr__ and sys.__stderr__.write(format_exception(exc_type, exc, tb))
        report_exception(exc_type, exc, tb, show_dialog)

    def thread_hook(args):
        if args.exc_type is SystemExit:
            return
        log.error("Unexpected error in thread %s:\n%s", getattr(args.thread, "name", "?"),
                  format_exception(args.exc_type, args.exc_value, args.exc_traceback))

    sys.excepthook = hook
    threading.excepthook = thread_hook
