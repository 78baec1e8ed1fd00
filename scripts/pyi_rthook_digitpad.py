"""PyInstaller runtime hook: runs inside the frozen digitpad before its entry script.

A windowed build (or a launch with its output streams closed) starts with sys.stdout and
sys.stderr set to None; torch and Qt may write while they are imported, before digitpad's
own entry point can repair the streams, so the null device stands in from the start.
"""

import os
import sys

if sys.stdout is None:
    sys.stdout = open(os.devnull, "w", encoding="utf-8")
if sys.stderr is None:
    sys.stderr = open(os.devnull, "w", encoding="utf-8")
