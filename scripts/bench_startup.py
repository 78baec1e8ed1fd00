#!/usr/bin/env python3
"""Launch to window, and launch to first prediction, of the real app in fresh processes.

    .venv/bin/python scripts/bench_startup.py [--runs 5] [--platform offscreen] [--cold]

Each run starts a new interpreter that does what ``digitpad`` does (the CLI module, then
``run_app``'s platform check, logging, QApplication and ``MainWindow(defer_load=True)``), shows
the window, draws a
7 at once as a person would, and exits as soon as the Draw tab shows its prediction. Times are
from the process's start (``/proc/self/stat``), so the interpreter's own start-up counts.
Prints every run and the median. The targets: window ≤ 1 s warm, first prediction ≤ 3 s. Also
the longest stall of the GUI thread from the window showing until every tab is built (a 5 ms
timer's longest gap, the tab building at the end included): what a stroke drawn in the first
seconds would feel; as wall time and as the GUI thread's own CPU time in a gap (on a loaded
machine the wall gap is mostly waiting for a core; waits for the GIL count only in the wall).

Warm runs only: the first run warms the page cache and is reported but not counted. (A cold
start needs ``echo 3 > /proc/sys/vm/drop_caches`` as root before each run: --cold does that
when it can.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import sys, time
import digitpad.__main__  # starts digitpad.app.startup's clock, as the console script does
import digitpad.cli  # noqa: F401  the entry path's own import
from digitpad.app.startup import seconds_since_start
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from digitpad.app.main import APP_NAME
from digitpad.app.platform_check import check  # run_app asks it before Qt starts
assert check([APP_NAME]) is None
from digitpad.app.errors import setup_logging
setup_logging()
app = QApplication([APP_NAME])
from digitpad.app.main_window import MainWindow
from digitpad.app.widgets.canvas import synthetic_digit_strokes
settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)
torch_at_window = "torch" in sys.modules  # imported by the main thread before the window?
w = MainWindow(settings=settings, defer_load=True)
w.show()
app.processEvents()
window_s = seconds_since_start()
# the longest the GUI thread went without running its event loop while the models loaded
# (a stroke drawn then would lose its points): a 5 ms timer's longest gap
from PySide6.QtCore import QTimer
ticks = [time.perf_counter(), 0.0, time.thread_time(), 0.0, True]
def tick():
    now, cpu = time.perf_counter(), time.thread_time()
    if ticks[4]:  # until the first tick after the last tab was built
        ticks[1] = max(ticks[1], now - ticks[0])
        ticks[3] = max(ticks[3], cpu - ticks[2])
        ticks[4] = not w.loaded
    ticks[0], ticks[2] = now, cpu
timer = QTimer()
timer.timeout.connect(tick)
timer.start(5)
window_cpu = time.process_time()  # CPU seconds of all threads: what a loaded machine hides
for stroke in synthetic_digit_strokes(7, w.draw_tab.canvas.canvas_size):
    w.draw_tab.canvas.draw_stroke(stroke)
draw = w.draw_tab
while draw.last_prediction is None or draw.last_prediction.empty:
    app.processEvents()
    time.sleep(0.002)
first_s = seconds_since_start()
first_cpu = time.process_time()
while not w.loaded:
    app.processEvents()
    time.sleep(0.002)
all_s = seconds_since_start()
while ticks[4]:  # the gap that ends with the tab building is counted
    app.processEvents()
    time.sleep(0.002)
print(f"RESULT {window_s:.3f} {first_s:.3f} {all_s:.3f} {int(torch_at_window)} "
      f"{window_cpu:.3f} {first_cpu:.3f} {ticks[1]:.3f} {ticks[3]:.3f}", flush=True)
w._closing = True
w.close()
"""


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def one_run(env: dict, settings: str) -> tuple[float, float, float, bool, float, float, float, float]:
    r = subprocess.run([sys.executable, "-c", CHILD, settings], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=300)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if r.returncode != 0 or line is None:
        raise SystemExit(f"run failed (rc {r.returncode}):\n{r.stdout}\n{r.stderr}")
    _, w, f, a, t, wc, fc, stall, stall_cpu = line.split()
    return (float(w), float(f), float(a), t == "1", float(wc), float(fc), float(stall),
            float(stall_cpu))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="counted runs (default 5)")
    ap.add_argument("--platform", default="offscreen", help="QT_QPA_PLATFORM (default offscreen)")
    ap.add_argument("--cold", action="store_true", help="drop the page cache before each run (root)")
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="digitpad-bench-startup-")
    env = dict(os.environ, QT_QPA_PLATFORM=args.platform, DIGITPAD_HOME=home,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    settings = str(Path(home) / "settings.ini")
    mode = "warm"
    if args.cold:
        if drop_caches():
            mode = "cold"
        else:
            print("cannot drop the page cache (not root): measuring warm starts")
    print(f"{mode} starts, {args.runs} runs, Qt platform {args.platform}, {os.cpu_count()} CPUs")
    if mode == "warm":
        w, f, a, *_ = one_run(env, settings)
        print(f"  warm-up run  window {w:.2f} s  first prediction {f:.2f} s  (not counted)")
    windows, firsts, alls, wcpu, fcpu, stalls, stall_cpus = [], [], [], [], [], [], []
    for i in range(args.runs):
        if mode == "cold":
            drop_caches()
        w, f, a, torch_early, wc, fc, stall, stall_cpu = one_run(env, settings)
        stalls.append(stall)
        stall_cpus.append(stall_cpu)
        wcpu.append(wc)
        fcpu.append(fc)
        windows.append(w)
        firsts.append(f)
        alls.append(a)
        note = "  (torch was imported before the window!)" if torch_early else ""
        print(f"  run {i + 1}  window {w:.2f} s  first prediction {f:.2f} s  all tabs {a:.2f} s"
              f"  longest GUI stall {stall * 1000:.0f} ms (GUI thread's CPU {stall_cpu * 1000:.0f} ms)"
              f"  (CPU {wc:.2f} / {fc:.2f} s){note}")
    print(f"median: window {statistics.median(windows):.2f} s (target 1 s), first prediction "
          f"{statistics.median(firsts):.2f} s (target 3 s), all tabs {statistics.median(alls):.2f} s, "
          f"longest GUI stall while loading {statistics.median(stalls) * 1000:.0f} ms "
          f"(GUI thread's CPU {statistics.median(stall_cpus) * 1000:.0f} ms)")
    print(f"median CPU time (all threads, from process start; about the wall time of an idle machine): window "
          f"{statistics.median(wcpu):.2f} s, first prediction {statistics.median(fcpu):.2f} s; "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
