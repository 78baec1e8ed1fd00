"""Instant start: the window opens before torch is imported, then the models load behind it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from qt_helpers import SEVEN, deliver_posted_events

from digitpad.app.draw.state import percent


def test_the_app_path_imports_no_torch_before_the_window():
    """The CLI, the app's entry and the main window's modules import without torch."""
    code = ("import sys; import digitpad.__main__, digitpad.cli, digitpad.app.main, "
            "digitpad.app.main_window, digitpad.app.self_test; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_deferred_window_says_loading_and_reads_a_stroke_drawn_meanwhile(make_window, qtbot):
    w = make_window(defer_load=True)
    w.resize(1240, 820)  # wider than every tab's minimum (the Lab tab's, 1160 px, arrives late)
    deliver_posted_events()  # the layout at that size
    draw = w.draw_tab
    canvas_at = draw.canvas.mapTo(w, draw.canvas.rect().topLeft()), draw.canvas.size()
    if not w.loaded:  # on a fast machine the loader may already be done; usually it is not
        # "loading model…" until a model reads drawings: the numpy copy, or a torch model the
        # loader already handed over while other tabs are still being built
        ready = draw._quick or bool(draw.entries)
        assert draw.prediction.confidence_label.text() == ("Draw a digit" if ready else
                                                           "loading model…")
        assert w.training_tab is None
        assert [w.tabs.tabText(i) for i in range(w.tabs.count())][:2] == ["Draw", "Training"]
    draw.canvas.draw_stroke(SEVEN)  # drawing works at once
    assert not draw.canvas.is_empty()
    qtbot.waitUntil(lambda: w.loaded, timeout=60000)
    qtbot.waitUntil(lambda: draw.last_prediction is not None and not draw.last_prediction.empty,
                    timeout=5000)
    assert np.isclose(float(np.sum(draw.last_prediction.probs)), 1.0, atol=1e-3)
    assert w.training_tab is not None and w.tabs.widget(1) is w.training_tab
    assert draw.prediction.confidence_label.text().endswith("% sure")
    assert set(draw.entries) >= {"digitnet", "lenet", "dense"}
    deliver_posted_events()  # any layout pass the new picker entries and tabs asked for
    # the models arriving (picker text, feature-map rows) do not move the canvas under the pen
    assert (draw.canvas.mapTo(w, draw.canvas.rect().topLeft()), draw.canvas.size()) == canvas_at
    # the tabs built late know the model drawn with
    assert w.training_tab.continue_note.text() != "There is no current model to continue."


def test_the_first_drawing_is_read_before_torch_models_arrive(make_window, qtbot, monkeypatch, tmp_path):
    """The numpy copy of the first model reads the drawing while the loader is held back; the
    torch models then take over the picker without a duplicate entry and read it alike."""
    import threading

    import digitpad.app.main_window as mw

    gate = threading.Event()
    real = mw.load_everything

    def held_back(*args, **kwargs):
        assert gate.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(mw, "load_everything", held_back)
    w = make_window(defer_load=True)
    draw = w.draw_tab
    qtbot.waitUntil(lambda: draw._quick is not None, timeout=5000)
    assert draw.prediction.confidence_label.text() != "loading model…"
    assert [draw.model_box.itemText(i) for i in range(draw.model_box.count())] == \
        ["digitnet · shipped · " + percent(draw._quick.test_acc)]
    assert w.model_label.text() == "model: digitnet"
    draw.canvas.draw_stroke(SEVEN)
    qtbot.waitUntil(lambda: draw.last_prediction is not None and not draw.last_prediction.empty,
                    timeout=5000)
    quick = draw.last_prediction
    assert not w.loaded and draw.current_entry() is None and quick.digit == 7
    assert set(quick.maps) >= {"conv1", "pool1", "conv5", "gap"}
    assert draw.maps.layers["conv1"].data.max() > 0  # the feature maps show it too
    assert w.save_model("/nonexistent/x.safetensors") is None  # nothing to save yet: no crash
    # a model file opened meanwhile replaces the copy in the picker and survives the handover
    from digitpad.core.nets.checkpoint import load_checkpoint, shipped_model_path, save_checkpoint

    lenet = load_checkpoint(shipped_model_path("lenet"))
    mine = save_checkpoint(tmp_path / "mine.safetensors", "lenet", lenet.state, lenet.meta)
    assert draw.open_model_file(str(mine))
    assert draw._quick is None and draw.current_entry().key == str(mine)
    assert [draw.model_box.itemData(i) for i in range(draw.model_box.count())] == [str(mine)]
    gate.set()
    qtbot.waitUntil(lambda: w.loaded, timeout=60000)
    keys = [draw.model_box.itemData(i) for i in range(draw.model_box.count())]
    assert sorted(keys) == sorted(["digitnet", "lenet", "dense", str(mine)])
    assert draw.current_entry().key == str(mine)  # the user's choice stands
    draw.select_model("digitnet")
    np.testing.assert_allclose(draw.last_prediction.probs, quick.probs, atol=2e-5)


def test_the_torch_tabs_are_not_built_under_the_pen(make_window, qtbot, monkeypatch):
    """Building the four torch tabs holds the GUI thread (a tab per turn of the event loop,
    ~0.05 s each): none is built while the pen is down."""
    from PySide6.QtCore import Qt

    from digitpad.app.main_window import MainWindow
    from qt_helpers import canvas_point

    arrivals = []  # the pen's state at each step of building the tabs, in the GUI thread
    real = MainWindow._next_tab_step

    def recorded(self, steps, loaded):
        arrivals.append(self.draw_tab.canvas.is_drawing())
        real(self, steps, loaded)

    monkeypatch.setattr(MainWindow, "_next_tab_step", recorded)
    w = make_window(defer_load=True)
    canvas = w.draw_tab.canvas
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=canvas_point(canvas, 100, 60))
    assert canvas.is_drawing()
    # the loader's result arrived under the pen, and the building was put off again
    qtbot.waitUntil(lambda: len(arrivals) >= 2 or w.loaded, timeout=60000)
    assert all(arrivals)
    assert not w.loaded and w.training_tab is None
    qtbot.mouseMove(canvas, canvas_point(canvas, 140, 200))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=canvas_point(canvas, 140, 200))
    qtbot.waitUntil(lambda: w.loaded, timeout=30000)
    assert w.training_tab is not None and w.tabs.widget(1) is w.training_tab
    assert arrivals.count(False) >= 5  # four tabs, then the wiring, each in its own turn


def test_the_loader_starts_once_after_the_first_paint(make_window, qtbot, monkeypatch):
    """The first paint starts it (on X11 a loader started at show delayed the paint ~0.6 s);
    the one-second fallback for a window never painted must not start a second one."""
    import digitpad.app.main_window as mw
    from digitpad.app.main_window import MainWindow

    starts = []
    monkeypatch.setattr(MainWindow, "_start_loader", lambda self: starts.append(self._painted))
    monkeypatch.setattr(MainWindow, "_painted", False, raising=False)
    real_paint = MainWindow.paintEvent

    def paint(self, event):
        self._painted = True
        real_paint(self, event)

    monkeypatch.setattr(MainWindow, "paintEvent", paint)
    shots = []  # [delay in ms, fired] of every single-shot timer the window starts
    real_timer = mw.QTimer

    class RecordingTimer(real_timer):
        @staticmethod
        def singleShot(msec, func):
            shot = [msec, False]
            shots.append(shot)

            def fire():
                shot[1] = True
                func()
            real_timer.singleShot(msec, fire)

    monkeypatch.setattr(mw, "QTimer", RecordingTimer)
    make_window(defer_load=True)
    qtbot.waitUntil(lambda: len(starts) > 0, timeout=3000)
    assert starts == [True]  # painted before the loader started
    assert any(msec >= 1000 for msec, _ in shots)  # the fallback for a window never painted
    qtbot.waitUntil(lambda: all(fired for _, fired in shots), timeout=10_000)  # it went off
    assert starts == [True]


def test_self_test_reports_startup_times(tmp_path):
    import os

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DIGITPAD_HOME=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "digitpad", "--self-test"], capture_output=True,
                       text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("startup:"))
    parts = line.replace(",", "").split()
    window_s, first_s = float(parts[2]), float(parts[6])
    assert parts[1] == "window" and parts[4:6] == ["first", "prediction"]
    assert 0 < window_s < first_s


def test_the_inside_panels_shift_names_are_the_cores():
    from digitpad.app.draw.inside import SHIFT_NAMES
    from digitpad.core.insight.explain import SHIFT_KINDS

    assert tuple(SHIFT_KINDS) == SHIFT_NAMES


def test_building_and_showing_the_window_imports_no_torch(tmp_path):
    import os

    code = ("import sys; from PySide6.QtWidgets import QApplication; app = QApplication([]); "
            "from digitpad.app.main_window import MainWindow; w = MainWindow(defer_load=True); "
            "w.show(); print('torch' in sys.modules); w._closing = True; w.close()")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DIGITPAD_HOME=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "False"  # the loader thread starts after this


def test_closing_while_the_models_load_is_quiet(tmp_path):
    import os

    code = ("import sys; from PySide6.QtWidgets import QApplication; app = QApplication([]); "
            "from digitpad.app.main_window import MainWindow; w = MainWindow(defer_load=True); "
            "w.show(); app.processEvents(); w.close(); w.deleteLater(); app.processEvents(); "
            "print('closed', flush=True)")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DIGITPAD_HOME=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=env)
    assert r.returncode == 0, r.stderr
    assert "closed" in r.stdout and "Traceback" not in r.stderr, r.stderr
