"""Shared fixtures: a tiny MNIST folder written as real IDX files, a quiet app home, and the
modal-dialog guard every test runs under (dialog_guard.py).

The tiny set is rendered glyphs of 0-9 with random shifts, sizes and stroke widths, so it is
learnable (a few training steps lower the loss) yet needs no download and no ../shared/data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# pytest puts this folder on sys.path for its conftest; a uniquely named module (not
# `conftest`, which tests/app has too) lets test files import the renderer.
from synthetic_digits import render_digits  # noqa: E402
from dialog_guard import dialogs  # noqa: E402,F401  (autouse: no test opens an undeclared dialog)


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory) -> Path:
    """A folder laid out like torchvision's MNIST (MNIST/raw/*-ubyte): 300 train, 100 test."""
    from digitpad.core.data.mnist import write_mnist_folder

    root = tmp_path_factory.mktemp("tiny_mnist")
    tx, ty = render_digits(300, seed=1)
    vx, vy = render_digits(100, seed=2)
    return write_mnist_folder(root, tx, ty, vx, vy)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own app data dir, so nothing touches the real user's files."""
    monkeypatch.setenv("DIGITPAD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DIGITPAD_DATA", raising=False)


@pytest.fixture
def shared_mnist() -> Path:
    from digitpad.core.data.mnist import has_mnist

    if not has_mnist(SHARED_DATA):
        pytest.skip(f"full MNIST not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _hang_watchdog(request):
    """pytest-timeout's thread needs the GIL to fire; a test stuck with the GIL held (seen once:
    a zip import's worker and the GUI thread both parked) would hang CI until its limit.
    faulthandler's watchdog is C-level: past the test's own limit plus a margin it prints every
    thread's stack and ends the run, so a hang is a failure with a stack, never a silent stall."""
    import faulthandler

    marker = request.node.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker and marker.args else float(
        request.config.getini("timeout") or 120)
    faulthandler.dump_traceback_later(limit + 60, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
