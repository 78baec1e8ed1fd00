"""Quitting skips the interpreter's teardown (torch and Qt took ~1 s of it) yet loses nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import logging, sys
import torch  # noqa: F401  what made the teardown slow
from digitpad.app.errors import setup_logging, log
from digitpad.app.main import leave
setup_logging()
log.warning("the last words before quitting")
print("printed, not flushed", end="")
class Late:  # the normal teardown would run this; leave() must not
    def __del__(self):
        open(sys.argv[1], "w").write("teardown ran")
keep = Late()
leave(5)
"""


def test_leave_flushes_logs_and_streams_and_skips_teardown(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITPAD_HOME", str(tmp_path / "home"))
    marker = tmp_path / "teardown"
    r = subprocess.run([sys.executable, "-c", CHILD, str(marker)], cwd=ROOT, capture_output=True,
                       text=True, timeout=60, env={**__import__("os").environ,
                                                   "PYTHONPATH": str(ROOT)})
    assert r.returncode == 5, r.stderr
    assert r.stdout == "printed, not flushed"
    assert not marker.exists()
    logs = list((tmp_path / "home").rglob("*.log"))
    assert logs and "the last words before quitting" in "".join(p.read_text() for p in logs)
