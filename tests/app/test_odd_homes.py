"""The app starts whatever its settings file and data folder are, and says what it cannot save."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qt_helpers import SEVEN

REPO = Path(__file__).resolve().parents[2]

# builds the real window on the default settings (make_settings), as a launch does
SCRIPT = """
from PySide6.QtWidgets import QApplication
app = QApplication(['digitpad', '-platform', 'offscreen'])
from digitpad.app.main_window import MainWindow
w = MainWindow(defer_load=True)
w.show()
app.processEvents()
print('notice:', w.storage_notice.text(), '|', w.storage_notice.toolTip())
w._closing = True
w.close()
"""


def launch(home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, DIGITPAD_HOME=str(home), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=str(REPO))
    # a FIFO used to block make_settings forever: the timeout turns a hang into a failure
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_fifo_settings_file_does_not_hang_the_start(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.mkfifo(home / "settings.ini")
    r = launch(home)
    assert r.returncode == 0, r.stderr
    assert "settings are not saved" in r.stdout
    assert "named pipe" in r.stdout
    assert (home / "settings.ini").is_fifo()  # left as it is


def test_a_file_in_place_of_the_data_folder_does_not_stop_the_start(tmp_path):
    home = tmp_path / "home"
    home.write_text("not a folder")
    r = launch(home)
    assert r.returncode == 0, r.stderr
    assert "nothing is saved" in r.stdout
    assert home.read_text() == "not a folder"


@pytest.mark.parametrize("kind", ["folder", "binary"])
def test_an_unusable_settings_file_is_named_and_left_alone(kind, make_window, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    path = home / "settings.ini"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(bytes(range(256)) * 8)
    before = path.read_bytes() if kind == "binary" else None
    w = make_window()
    assert w.storage_notice.text() == "⚠ settings are not saved"
    assert str(path) in w.storage_notice.toolTip()
    w.settings.setValue("ui/theme", "dark")
    w.save_settings()  # goes to the throw-away file, not over the person's file
    assert (path.is_dir() if kind == "folder" else path.read_bytes() == before)


def test_a_read_only_data_folder_starts_says_so_and_works(make_window, qtbot, monkeypatch, stroke):
    from digitpad.app import settings

    def read_only(folder):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(folder))

    monkeypatch.setattr(settings, "write_probe", read_only)
    w = make_window()
    assert w.storage_notice.text() == "⚠ nothing is saved"
    assert "Read-only file system" in w.storage_notice.toolTip()
    assert w.draw_tab.select_model("lenet")
    stroke(w.draw_tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: w.draw_tab.last_prediction is not None
                    and not w.draw_tab.last_prediction.empty, timeout=10000)


def test_a_usable_home_shows_no_notice(make_window):
    w = make_window()
    assert w.storage_notice.text() == ""
    assert not w.storage_notice.isVisible()
