"""Helpers the app tests import by name (conftest.py holds only fixtures: a module imported as
``conftest`` is whichever conftest.py pytest loaded last, tests/core's one included)."""

from __future__ import annotations

import threading

from PySide6.QtCore import QCoreApplication, QPoint, Qt


def deliver_posted_events() -> None:
    """Deliver what is already posted to the GUI thread (queued signals from a worker, layout
    requests, deferred resizes): what a check that something did NOT happen waits for, instead
    of a fixed sleep. Delivering may post more (a relayed signal, a layout pass after a resize);
    three rounds cover the chains the app has."""
    for _ in range(3):
        QCoreApplication.sendPostedEvents()
        QCoreApplication.processEvents()


def watch_parking(control) -> threading.Event:
    """An event set once a worker thread is held by ``control``'s pause (it called
    ``wait_while_paused`` while paused). From then on everything it yielded before is posted,
    and nothing more comes until resume or stop: a pause is checked without a clock."""
    parked = threading.Event()
    wait = control.wait_while_paused

    def watched() -> None:
        if control.paused:
            parked.set()
        wait()

    control.wait_while_paused = watched
    return parked


def canvas_point(canvas, x: float, y: float) -> QPoint:
    """Widget coordinates of canvas image point (x, y)."""
    side = min(canvas.width(), canvas.height())
    ox, oy = (canvas.width() - side) / 2, (canvas.height() - side) / 2
    s = side / canvas.canvas_size
    return QPoint(round(ox + x * s), round(oy + y * s))


def mouse_stroke(qtbot, canvas, points) -> None:
    """Press at the first point, move through the rest with the left button held, release."""
    pts = [canvas_point(canvas, x, y) for x, y in points]
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=pts[0])
    for p in pts[1:]:
        qtbot.mouseMove(canvas, p)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=pts[-1])


SEVEN = [(80, 60), (140, 60), (200, 60), (185, 95), (170, 130), (155, 170), (140, 210), (130, 235)]
BAR = [(60, 140), (110, 140), (160, 140), (220, 140)]


def reread(qtbot, tab) -> None:
    """My handwriting's store read again (in its worker) and shown in the grid."""
    with qtbot.waitSignal(tab.refreshed, timeout=20000):
        tab.refresh()


def written(qtbot, writes) -> None:
    """Every sample write asked of a ``workers.Writes`` is on disk and reported."""
    qtbot.waitUntil(lambda: writes.pending == 0, timeout=20000)


def open_inside_page(qtbot, tab, kind: str, index: int, timeout: int = 10000):
    """Unfold the Draw tab's Inside panel on page ``index`` and wait for its ``kind``
    ("compare", "shift", ...) to be computed for the drawing there; the panel."""
    panel = tab.inside
    panel.toggle.setChecked(True)
    with qtbot.waitSignal(panel.computed, timeout=timeout, check_params_cb=lambda k: k == kind):
        panel.pages.setCurrentIndex(index)
    return panel
