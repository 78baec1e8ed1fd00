"""Quit time: from the close request (Ctrl+Q) to the process's end, the app's way (bounded
joins, then main.leave skipping the interpreter's teardown) against a normal interpreter exit.

Each run starts the real window offscreen, waits until every model is loaded, closes it and
prints when; this parent notes when the process has ended. Idle app (no run in progress).
Usage: nice -n 19 python scripts/bench_quit.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import sys, time
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
from digitpad.app.errors import setup_logging
from digitpad.app.main import leave
setup_logging()
app = QApplication(["digitpad"])
from digitpad.app.main_window import MainWindow
w = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat), defer_load=True)
w.show()
def maybe_close():
    if w.loaded:
        print("CLOSE %.6f" % time.time(), flush=True)
        w.close()
poll = QTimer(); poll.timeout.connect(maybe_close); poll.start(50)
code = app.exec()
if sys.argv[2] == "leave":
    leave(code)
"""


def one(mode: str, ini: str) -> float:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-c", CHILD, ini, mode], env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    closed = None
    for line in p.stdout:
        if line.startswith("CLOSE "):
            closed = float(line.split()[1])
    p.wait()
    end = time.time()
    assert closed is not None, "the window never finished loading"
    return end - closed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DIGITPAD_HOME"] = tmp
        ini = str(Path(tmp) / "settings.ini")
        res: dict[str, list[float]] = {"leave": [], "teardown": []}
        for _ in range(args.runs):  # interleaved: both see the same machine load
            for mode in res:
                res[mode].append(one(mode, ini))
    for mode, xs in res.items():
        print(f"quit ({mode:8s}): median {statistics.median(xs) * 1000:.0f} ms  "
              f"[{', '.join(f'{x * 1000:.0f}' for x in xs)}]")


if __name__ == "__main__":
    main()
