"""The window's platform, checked before Qt can abort: one line naming the cause and the fix."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from digitpad.app import platform_check as pc

ROOT = Path(__file__).resolve().parents[2]
DEAD_DISPLAY = ":197"  # nothing listens there in tests


@pytest.mark.parametrize("soname, package", [
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libGL.so.1", "libgl1"),
    ("libglib-2.0.so.0", "libglib2.0-0"),
])
def test_debian_package_names(soname, package):
    assert pc.debian_package(soname) == package


def test_candidates_follow_qts_order(monkeypatch):
    for var in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(var, raising=False)
    assert pc.candidates(["digitpad"]) == ["xcb"]
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert pc.candidates(["digitpad"]) == ["wayland", "xcb"]
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen:size=800x600;xcb")
    assert pc.candidates(["digitpad"]) == ["offscreen", "xcb"]
    assert pc.candidates(["digitpad", "-platform", "minimal"]) == ["minimal"]


def test_a_bad_platform_name_lists_the_real_ones(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "nosuchplatform")
    problem = pc.check(["digitpad"])
    assert problem is not None and "'nosuchplatform'" in problem.cause
    assert "offscreen" in problem.fix and "xcb" in problem.fix


def test_offscreen_passes(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert pc.check(["digitpad"]) is None


def test_a_plugin_whose_libraries_are_missing_is_named_with_the_install_line(tmp_path, monkeypatch):
    real = pc._plugin_file(pc.plugins_dir(), "xcb")
    # Away from its Qt folder the copy cannot find libQt6XcbQpa & co: a real missing-library case.
    shutil.copy(real, tmp_path / real.name)
    monkeypatch.setattr(pc, "plugins_dir", lambda: tmp_path)
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    problem = pc.check(["digitpad"])
    assert problem is not None and problem.missing_libs
    assert any(lib.startswith("libQt6") for lib in problem.missing_libs)
    assert "apt-get install" in problem.fix
    assert pc.missing_packages("xcb")  # the same folder, as scripts/run asks


def _launch(env_changes: dict, drop=("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-m", "digitpad"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("env, words", [
    ({"DISPLAY": DEAD_DISPLAY}, None),  # the words depend on whether xcb's libraries are here
    ({"QT_QPA_PLATFORM": "bogus"}, "no Qt platform plugin named 'bogus'"),
    ({"WAYLAND_DISPLAY": "bogus-wayland"}, None),
])
def test_the_app_never_aborts_when_no_window_can_open(env, words, tmp_path):
    env = dict(env, DIGITPAD_HOME=str(tmp_path), XDG_RUNTIME_DIR=str(tmp_path))
    proc = _launch(env)
    assert proc.returncode == pc.EXIT_NO_WINDOW, (proc.returncode, proc.stderr)
    assert proc.returncode != -signal.SIGABRT
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("digitpad: cannot open the window: "), proc.stderr
    if words:
        assert words in lines[0]
    elif pc.missing_packages("xcb"):
        assert "apt-get install" in lines[0]
    elif "DISPLAY" in env:
        assert f"DISPLAY={DEAD_DISPLAY} does not answer" in lines[0]
    else:  # (with xcb's libraries installed; CI runs without two of them, so both ways run)
        assert "no Wayland compositor answers" in lines[0] and "bogus-wayland" in lines[0]


def test_the_display_probe_asks_again_before_calling_a_server_dead(monkeypatch):
    # right after a quit, one refused connection once made a launch fail; a slow server gets
    # a few more tries, a dead one is still named within the probe's time
    answers = iter([False, False, True])
    tries = []
    monkeypatch.setattr(pc, "_x_connect_once", lambda d: tries.append(d) or next(answers))
    monkeypatch.setattr(pc, "_local_socket_missing", lambda d: False)
    monkeypatch.setattr(pc.time, "sleep", lambda s: None)
    assert pc._x_server_answers(":5") is None and len(tries) == 3

    tries.clear()
    monkeypatch.setattr(pc, "_x_connect_once", lambda d: tries.append(d) and False)
    why = pc._x_server_answers(":5")
    assert why == "the X server at DISPLAY=:5 does not answer"
    assert 2 <= len(tries) <= len(pc._X_PROBE_PAUSES) + 1


def test_a_display_without_its_socket_is_named_at_once(monkeypatch):
    tries = []
    monkeypatch.setattr(pc, "_x_connect_once", lambda d: tries.append(d) and False)
    assert pc._local_socket_missing(DEAD_DISPLAY)
    assert "does not answer" in pc._x_server_answers(DEAD_DISPLAY)
    assert len(tries) == 1


def _fake_missing_xcb_libs(folder: Path) -> dict:
    """An environment in which the two libraries a fresh Debian lacks cannot load (empty files
    under their names come first on the search path), whatever this machine has installed."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("libxcb-icccm.so.4", "libxcb-keysyms.so.1"):
        (folder / name).write_bytes(b"")
    path = os.environ.get("LD_LIBRARY_PATH", "")
    return {"LD_LIBRARY_PATH": f"{folder}:{path}" if path else str(folder)}


def test_missing_xcb_libraries_are_named_in_one_line_with_their_packages(tmp_path):
    env = dict(_fake_missing_xcb_libs(tmp_path / "lib"), DISPLAY=DEAD_DISPLAY,
               DIGITPAD_HOME=str(tmp_path), XDG_RUNTIME_DIR=str(tmp_path))
    proc = _launch(env)
    assert proc.returncode == pc.EXIT_NO_WINDOW, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "libxcb-icccm4" in lines[0] and "libxcb-keysyms1" in lines[0]
    assert "apt-get install" in lines[0]
    packages = subprocess.run([sys.executable, "-m", "digitpad.app.platform_check", "--packages"],
                              cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                              text=True, timeout=60).stdout.split()
    assert {"libxcb-icccm4", "libxcb-keysyms1"} <= set(packages)


@pytest.mark.timeout(330)  # above the subprocess's own 300 s
@pytest.mark.parametrize("spelling", [["-platform=offscreen"], ["-platform", "offscreen"]])
def test_every_spelling_of_the_platform_flag_opens_the_window(spelling, tmp_path):
    """-platform=offscreen passed the check and then Qt aborted (it takes only '-platform
    NAME'); '-platform offscreen' was rejected by argparse. A DISPLAY that answers nothing
    makes Qt's default plugin fail, so only the flag can open the window."""
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=":65000", DIGITPAD_HOME=str(tmp_path / "home"),
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    r = subprocess.run([sys.executable, "-m", "digitpad", *spelling, "--self-test"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Qt platform: offscreen" in r.stdout


def test_qt_options_are_handed_on_as_qt_spells_them():
    rest, qt = pc.split_qt_args(["--platform=offscreen", "--style", "Fusion", "train", "--epochs", "1"])
    assert qt == ["-platform", "offscreen", "-style", "Fusion"]
    assert rest == ["train", "--epochs", "1"]
