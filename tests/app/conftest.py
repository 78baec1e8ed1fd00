"""App fixtures: a main window with isolated settings, closed and joined after each test,
and helpers that draw with REAL mouse events (press, moves with the button held, release)."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QCoreApplication, QPoint, Qt


def _quiet_close(w) -> None:
    if w.training_tab is not None:  # None: the models never loaded
        w.training_tab.shutdown(2000)
    w._closing = True


@pytest.fixture
def make_window(qtbot):
    """Factory for MainWindows on the test's own settings file; all are closed at teardown."""
    from digitpad.app.main_window import MainWindow
    from digitpad.app.settings import make_settings

    windows = []

    def make(**kwargs):
        w = MainWindow(settings=kwargs.pop("settings", None) or make_settings(), **kwargs)
        # pytest-qt closes the window before this fixture's teardown: no question then either
        qtbot.addWidget(w, before_close_func=_quiet_close)
        w.show()
        qtbot.waitExposed(w)
        windows.append(w)
        return w

    yield make
    for w in windows:
        if w.training_tab is not None:  # None: the models never loaded
            w.training_tab.shutdown(2000)
            assert not w.training_tab.is_running()
        w._closing = True  # no "save the trained model?" question at teardown
        w.close()


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def lenet_window(window, qtbot):
    """A window drawing with LeNet (fast; shipped weights if present, else seeded random)."""
    assert window.draw_tab.select_model("lenet")
    return window


@pytest.fixture
def recorded_dialogs(dialogs):
    """The test expects message boxes: each is recorded as (kind, title, text) in the list this
    returns (file dialogs too, should any open); ``.answers`` queues the buttons they return."""
    return dialogs.allow("warning", "critical", "information", "question")


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


@pytest.fixture
def stroke(qtbot):
    """stroke(canvas, points): draw through canvas image points with real mouse events."""
    return lambda canvas, points: mouse_stroke(qtbot, canvas, points)


@pytest.fixture
def to_widget():
    """to_widget(canvas, x, y): widget coordinates of a canvas image point."""
    return canvas_point
