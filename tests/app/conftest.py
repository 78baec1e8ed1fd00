"""App fixtures: a main window with isolated settings, closed and joined after each test,
and helpers that draw with REAL mouse events (press, moves with the button held, release)."""

from __future__ import annotations

import pytest
from qt_helpers import canvas_point, mouse_stroke


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
        h = w.handwriting_tab
        if h is not None:  # its store is read in a worker: tests start from what it shows
            qtbot.waitUntil(lambda: h.view.loaded is not None and not h._reader.busy,
                            timeout=20000)
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


@pytest.fixture
def stroke(qtbot):
    """stroke(canvas, points): draw through canvas image points with real mouse events."""
    return lambda canvas, points: mouse_stroke(qtbot, canvas, points)


@pytest.fixture
def to_widget():
    """to_widget(canvas, x, y): widget coordinates of a canvas image point."""
    return canvas_point
