"""Starting the desktop app: ``run_app(argv)``, used by ``digitpad`` and ``digitpad --self-test``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "digitpad"
EXIT_NO_DISPLAY = 3


def _has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux") or sys.platform.startswith("freebsd"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True  # Windows and macOS always have their native platform plugin


def _has_offscreen_plugin() -> bool:
    try:
        from PySide6.QtCore import QLibraryInfo
    except ImportError:
        return False
    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    return any("offscreen" in p.name for p in folder.glob("*")) if folder.is_dir() else False


def _parse(argv: list[str]) -> tuple[bool, list[str]]:
    """``--self-test`` is ours; everything else goes to Qt (e.g. -platform, -style)."""
    self_test, qt, _model = _parse_all(argv)
    return self_test, qt


def _parse_all(argv: list[str]) -> tuple[bool, list[str], str | None]:
    """(self-test, Qt's arguments, ``--model FILE`` to open)."""
    args = list(argv)
    if args and not args[0].startswith("-"):
        args = args[1:]  # the program name, as the CLI passes it
    from .platform_check import split_qt_args

    self_test = "--self-test" in args
    model = None
    if "--model" in args:
        i = args.index("--model")
        model = args[i + 1] if i + 1 < len(args) else None
        del args[i:i + 2]
    rest, qt = split_qt_args([a for a in args if a != "--self-test"])
    return self_test, [APP_NAME] + qt + rest, model


def _route_qt_messages() -> None:
    """Qt's warnings go to the log; known harmless noise of the offscreen plugin is dropped."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    from .errors import log

    harmless = ("does not support propagateSizeHints", "QFont::setPointSize")

    def handler(kind, context, message: str) -> None:
        if any(h in message for h in harmless):
            return
        if kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            log.error("Qt: %s", message)
            sys.stderr.write(f"Qt: {message}\n")
        elif kind == QtMsgType.QtWarningMsg:
            log.warning("Qt: %s", message)
        else:
            log.debug("Qt: %s", message)

    qInstallMessageHandler(handler)


def run_app(argv: list[str] | None = None) -> int:
    """Create the QApplication, apply the theme, show the main window and run the event loop."""
    argv = list(sys.argv if argv is None else argv)
    self_test, qt_args, model = _parse_all(argv)
    if not _has_display():
        if self_test and _has_offscreen_plugin():
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        elif self_test:
            print("digitpad: no display and no Qt offscreen plugin, so the self-test cannot open "
                  "its window.", file=sys.stderr)
            return EXIT_NO_DISPLAY
    # Qt aborts the process (SIGABRT) when no platform plugin starts; ask first, and say why.
    from .platform_check import check, message

    problem = check(qt_args)
    if problem is not None:
        print(message(problem), file=sys.stderr)
        return EXIT_NO_DISPLAY

    from PySide6.QtWidgets import QApplication

    from .errors import install_excepthook, log, setup_logging

    setup_logging()
    install_excepthook(show_dialog=not self_test)
    _route_qt_messages()
    from .widgets.canvas import keep_every_stroke_point

    keep_every_stroke_point()  # before the QApplication: no stroke point is merged away in a stall
    app = QApplication.instance() or QApplication(qt_args)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    log.info("starting digitpad (self-test=%s, platform=%s)", self_test, app.platformName())

    if self_test:
        from .self_test import run_self_test

        return run_self_test(app)

    from .main_window import MainWindow

    # shows at once; after its first paint a numpy copy of the model reads drawings while
    # torch and the models load in a background thread
    window = MainWindow(defer_load=True)
    window.model_at_start = model  # opened (in a worker) once the models are loaded
    window.show()
    code = int(app.exec())
    if window.isVisible():  # the loop was ended some other way than closing the window
        window.close()
    leave(code)
    return code  # not reached


def leave(code: int) -> None:
    """End the process now, without the interpreter's teardown.

    By the time the event loop returns, the window's close has joined its workers (each join
    bounded), written its saves and synced the settings; what remains is tearing down torch,
    Qt and every module, which took ~0.8-1.0 s of the quit for nothing the user keeps. Logs
    and the standard streams are flushed first, so no message is lost.
    """
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)
