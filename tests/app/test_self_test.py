"""``digitpad --self-test`` in a fresh process, and the no-display message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_self_test_passes_in_a_subprocess(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DIGITPAD_HOME=str(tmp_path / "home"))
    code = "import sys; from digitpad.app.main import run_app; sys.exit(run_app(['--self-test']))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "self-test passed" in proc.stdout
    assert "feature maps:" in proc.stdout and "training:" in proc.stdout
    assert "Destroyed while thread" not in proc.stderr
    # the user's settings were not touched by the self-test's window
    assert not (tmp_path / "home" / "settings.ini").exists()


def test_no_display_gives_a_readable_message(monkeypatch, capsys):
    from digitpad.app import platform_check
    from digitpad.app.main import EXIT_NO_DISPLAY, run_app

    # Whatever this machine has installed: with xcb's libraries all present, the missing
    # display is what is named (the missing-libraries case has its own tests).
    monkeypatch.setattr(platform_check, "_missing_libraries", lambda plugin: ())
    for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert run_app(["digitpad"]) == EXIT_NO_DISPLAY
    err = capsys.readouterr().err
    assert "no X display" in err and "--self-test" in err
    assert err.count("\n") == 1  # one line
