"""Every point of a stroke reaches the canvas, in order, however long the GUI thread stalls.

Qt merges the pointer moves queued during a stall into the last one unless told not to
(AA_CompressHighFrequencyEvents, on by default): a 7 drawn while torch loaded lost its corner.
The end-to-end check runs a canvas in a real X window (xcb on Xvfb, moved by xdotool) and is
skipped where that stack is missing; the in-process checks run everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent

from digitpad.app.widgets.canvas import DrawingCanvas, keep_every_stroke_point

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("stroke_route_child.py")
SEVEN = [(60, 50), (110, 50), (160, 50), (210, 50), (195, 95), (180, 140), (165, 185), (150, 230)]


def test_the_app_asks_qt_for_every_pointer_move():
    attrs = (Qt.ApplicationAttribute.AA_CompressHighFrequencyEvents,
             Qt.ApplicationAttribute.AA_CompressTabletEvents)
    before = [QCoreApplication.testAttribute(a) for a in attrs]
    try:
        for a in attrs:
            QCoreApplication.setAttribute(a, True)  # Qt's default
        keep_every_stroke_point()
        assert [QCoreApplication.testAttribute(a) for a in attrs] == [False, False]
    finally:
        for a, b in zip(attrs, before):
            QCoreApplication.setAttribute(a, b)
    # and main() does it before its QApplication exists (the attribute is read from then on)
    src = (ROOT / "digitpad" / "app" / "main.py").read_text()
    assert 0 < src.index("keep_every_stroke_point()") < src.index("QApplication(qt_args)")


def _mouse(kind, canvas, x, y, buttons):
    side = min(canvas.width(), canvas.height())
    s = side / canvas.canvas_size
    pos = QPointF((canvas.width() - side) / 2 + x * s, (canvas.height() - side) / 2 + y * s)
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    return QMouseEvent(kind, pos, canvas.mapToGlobal(pos), button, buttons,
                       Qt.KeyboardModifier.NoModifier)


def test_a_stroke_queued_during_a_stall_is_drawn_point_by_point(qtbot):
    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(280, 280)
    canvas.show()
    qtbot.waitExposed(canvas)
    stalled = []
    QTimer.singleShot(0, lambda: (time.sleep(0.5), stalled.append(True)))
    left = Qt.MouseButton.LeftButton
    QCoreApplication.postEvent(canvas, _mouse(QEvent.Type.MouseButtonPress, canvas, *SEVEN[0], left))
    for x, y in SEVEN[1:]:
        QCoreApplication.postEvent(canvas, _mouse(QEvent.Type.MouseMove, canvas, x, y, left))
    QCoreApplication.postEvent(canvas, _mouse(QEvent.Type.MouseButtonRelease, canvas, *SEVEN[-1],
                                              Qt.MouseButton.NoButton))
    qtbot.waitUntil(lambda: bool(stalled) and canvas.can_undo() and not canvas._drawing,
                    timeout=5000)
    img = canvas.to_array()
    # the corner and each segment's middle carry ink: no point was merged away or reordered
    for (x0, y0), (x1, y1) in zip(SEVEN, SEVEN[1:]):
        mx, my = (x0 + x1) // 2, (y0 + y1) // 2
        assert img[my - 3:my + 4, mx - 3:mx + 4].max() > 128, ((x0, y0), (x1, y1))
    assert img[47:54, 207:214].max() > 128  # the 7's corner
    # and nothing was drawn across the 7's open side (what a merged move leaves: a ")")
    assert img[135:145, 95:105].max() == 0


def test_real_x_pointer_moves_survive_a_stalled_gui_thread(tmp_path):
    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        pytest.skip("needs Xvfb and xdotool")
    display = ":" + str(90 + os.getpid() % 100)
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "640x480x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        env = dict(os.environ, DISPLAY=display, PYTHONPATH=str(ROOT))
        env.pop("QT_QPA_PLATFORM", None)
        path = [(20 + i * 5, 20) for i in range(41)] + [(220, 20 + i * 5) for i in range(1, 41)]
        results = {}
        for mode in ("qt-default", "lossless"):
            child = subprocess.Popen([sys.executable, str(CHILD), mode], env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            first = child.stdout.readline()
            if "STALL" not in first:
                err = child.communicate(timeout=10)[1]
                if "platform plugin" in err:
                    pytest.skip("Qt's xcb plugin cannot load here: " + err.splitlines()[0])
                raise AssertionError(err)
            args = ["xdotool", "mousemove", *map(str, path[0]), "mousedown", "1"]
            for x, y in path[1:]:
                args += ["mousemove", str(x), str(y)]
            subprocess.run(args + ["mouseup", "1"], env=env, check=True, timeout=10)
            out, err = child.communicate(timeout=15)
            results[mode] = json.loads(out.strip().splitlines()[-1])["moves"]
        # the pointer's path, every point in order (the release's point may come as a move too)
        got = [tuple(p) for p in results["lossless"]]
        assert got[:len(path) - 1] == path[1:], (len(got), got[:10])
        # and the check can tell: Qt's default merged most of them away
        assert len(results["qt-default"]) < len(path) // 2
    finally:
        xvfb.kill()
        xvfb.wait()
