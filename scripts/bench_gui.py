#!/usr/bin/env python3
"""How long from a mouse move on the canvas to repainted prediction, bars and feature maps.

    .venv/bin/python scripts/bench_gui.py [--models lenet digitnet] [--moves 300]

Runs the real main window offscreen. Each sample sends one real mouse-move event (left button
held) to the canvas, then spins the event loop until the coalesced prediction has run and
every pending paint (canvas, bars, previews, map mosaics) is done. Prints the median and the
90th percentile per model; the target for LeNet on a CPU is a median of 16 ms or less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DIGITPAD_HOME", tempfile.mkdtemp(prefix="digitpad-bench-"))

TARGET_MS = 16.0


def stroke_points(n: int) -> list[tuple[float, float]]:
    """A looping path over the canvas (image coordinates), n points."""
    import math

    pts = []
    for i in range(n):
        t = i / 20.0
        pts.append((140 + 80 * math.sin(t * 1.3), 140 + 90 * math.sin(t * 0.7 + 0.5)))
    return pts


def bench_model(window, app, arch: str, moves: int) -> list[float]:
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent

    tab = window.draw_tab
    if not tab.select_model(arch):
        raise SystemExit(f"unknown model {arch}")
    canvas = tab.canvas
    canvas.clear()
    app.processEvents()

    def widget_pos(x: float, y: float) -> QPointF:
        side = min(canvas.width(), canvas.height())
        s = side / canvas.canvas_size
        return QPointF((canvas.width() - side) / 2 + x * s, (canvas.height() - side) / 2 + y * s)

    def send(kind, pos: QPointF, button, buttons) -> None:
        ev = QMouseEvent(kind, pos, canvas.mapToGlobal(pos), button, buttons,
                         Qt.KeyboardModifier.NoModifier)
        app.sendEvent(canvas, ev)

    L, NB = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    pts = stroke_points(moves + 20)
    samples: list[float] = []
    send(QEvent.Type.MouseButtonPress, widget_pos(*pts[0]), L, L)
    app.processEvents()
    for i, p in enumerate(pts[1:], start=1):
        if i % 60 == 0:  # lift the pen now and then, as a person does; keeps the drawing varied
            send(QEvent.Type.MouseButtonRelease, widget_pos(*p), L, NB)
            canvas.clear()
            send(QEvent.Type.MouseButtonPress, widget_pos(*p), L, L)
            app.processEvents()
            continue
        done = []
        conn = tab.prediction_shown.connect(lambda: done.append(1))
        t0 = time.perf_counter()
        send(QEvent.Type.MouseMove, widget_pos(*p), NB, L)
        while not done and time.perf_counter() - t0 < 1.0:
            app.processEvents()
        app.processEvents()  # the paints the update requested
        dt = (time.perf_counter() - t0) * 1000
        tab.prediction_shown.disconnect(conn)
        if not done:  # the move was too small to add ink: nothing to predict
            continue
        if i > 20:  # the first moves warm caches
            samples.append(dt)
        if len(samples) >= moves:
            break
    send(QEvent.Type.MouseButtonRelease, widget_pos(*pts[-1]), L, NB)
    app.processEvents()
    return samples


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lenet", "digitnet"])
    ap.add_argument("--moves", type=int, default=300)
    args = ap.parse_args(argv)

    import torch
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from digitpad.app import theme
    from digitpad.app.main_window import MainWindow

    app = QApplication.instance() or QApplication(["bench_gui"])
    theme.apply_theme(app, "light")
    tmp = tempfile.mkdtemp(prefix="digitpad-bench-settings-")
    window = MainWindow(settings=QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1280, 820)
    window.show()
    app.processEvents()
    print(f"platform {app.platformName()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs")
    status = 0
    for arch in args.models:
        samples = bench_model(window, app, arch, args.moves)
        entry = window.draw_tab.current_entry()
        med = statistics.median(samples)
        p90 = statistics.quantiles(samples, n=10)[-1]
        note = ""
        if arch == "lenet":
            note = "  (target <= 16 ms: " + ("met)" if med <= TARGET_MS else "MISSED)")
            status = 0 if med <= TARGET_MS else 1
        print(f"{arch:9s} {entry.label}: stroke -> repainted prediction + maps: "
              f"median {med:.2f} ms, p90 {p90:.2f} ms over {len(samples)} moves{note}")
        print(f"{'':9s} of which predict (preprocess + forward + maps): "
              f"{window.draw_tab.last_predict_ms:.2f} ms (last move)")
    window._closing = True
    window.close()
    app.processEvents()
    return status


if __name__ == "__main__":
    sys.exit(main())
