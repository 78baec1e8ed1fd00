"""The MNIST download dialog, with the network replaced: offline errors and Cancel."""

from __future__ import annotations

import io
import time
import urllib.error
import urllib.request

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from digitpad.app.widgets.download_dialog import DownloadDialog
from digitpad.core.data import mnist as core_data
from offline import patch_urlopen


@pytest.fixture
def no_network(monkeypatch):
    """Every urlopen in core.data fails as it does offline; calls are counted."""
    calls = []

    def offline(req, *args, **kwargs):
        calls.append(getattr(req, "full_url", req))
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    patch_urlopen(monkeypatch, offline)
    return calls


class _SlowResponse:
    """A fake HTTP response that trickles bytes forever (until the reader gives up)."""

    def __init__(self) -> None:
        self.headers = {"Content-Length": str(10_000_000)}
        self.reads = 0

    def read(self, n: int) -> bytes:
        self.reads += 1
        time.sleep(0.005)  # a slow mirror: the network is slow, the test does not wait on it
        return b"\0" * min(n, 4096)

    read1 = read  # the download reads what has arrived (HTTPResponse.read1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def slow_network(monkeypatch):
    """The mirror answers the probe, then sends the first file very slowly."""
    responses: list[_SlowResponse] = []

    def fake_urlopen(req, *args, **kwargs):
        if isinstance(req, urllib.request.Request) and req.get_method() == "HEAD":
            return io.BytesIO(b"")
        r = _SlowResponse()
        responses.append(r)
        return r

    patch_urlopen(monkeypatch, fake_urlopen)
    return responses


def _dialog(qtbot, root) -> DownloadDialog:
    dlg = DownloadDialog(root, timeout=1.0)
    qtbot.addWidget(dlg)
    return dlg


def test_offline_shows_the_core_error_message(qtbot, tmp_path, no_network):
    dlg = _dialog(qtbot, tmp_path / "data")
    dlg.show()
    qtbot.waitUntil(lambda: dlg.error is not None, timeout=10_000)
    qtbot.waitUntil(lambda: not dlg.is_running(), timeout=5000)
    assert "could not be downloaded" in dlg.message.text()
    assert "Temporary failure in name resolution" in dlg.message.text()
    assert no_network  # the probe really went through the patched urlopen
    assert dlg.isVisible()  # stays open to show why, with a Close button
    assert dlg.buttons.button(dlg.buttons.StandardButton.Close) is not None
    assert not core_data.has_mnist(tmp_path / "data")
    qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    assert dlg.result() == QDialog.DialogCode.Rejected
    assert not dlg.isVisible()


def test_cancel_stops_the_download_and_leaves_no_partial_file(qtbot, tmp_path, slow_network):
    root = tmp_path / "data"
    dlg = _dialog(qtbot, root)
    dlg.show()
    qtbot.waitUntil(lambda: bool(slow_network) and slow_network[0].reads > 5, timeout=10_000)
    qtbot.waitUntil(lambda: "MB" in dlg.file_label.text(), timeout=5000)  # progress shown
    assert dlg.progress.maximum() == 1000 and dlg.progress.value() >= 0
    qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=5000)
    assert dlg.result() == QDialog.DialogCode.Rejected
    assert dlg.error is None and dlg.result_path is None
    assert not dlg.is_running()
    leftovers = [p.name for p in core_data.raw_dir(root).glob("*")]
    assert leftovers == []  # the .part file was removed


def test_closing_the_window_while_downloading_cancels_and_joins(qtbot, tmp_path, slow_network):
    dlg = _dialog(qtbot, tmp_path / "data")
    dlg.show()
    qtbot.waitUntil(lambda: bool(slow_network), timeout=10_000)
    handle = dlg._handle
    thread = handle.thread_object()
    assert thread.isRunning()
    dlg.close()  # ignored while running: it cancels first, then closes
    assert dlg.isVisible() and "Cancelling" in dlg.file_label.text()
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=5000)
    assert handle.done and not thread.isRunning()
