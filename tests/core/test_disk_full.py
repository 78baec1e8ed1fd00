"""A full disk (issue 24.5) and the shipped folder (24.10): clear errors naming the file, and
nothing half-written left behind (no .lock, no 0-byte PNG)."""

from __future__ import annotations

import errno
import os
import resource
import signal
from contextlib import contextmanager

import numpy as np
import pytest

from digitpad.core.io import outputs
from digitpad.core.io.outputs import OutputError, lock_path, output_lock
from digitpad.core.reading.scoring import Scores


def test_a_full_disk_while_writing_the_lock_pid_names_the_path_and_leaves_no_lock(tmp_path, monkeypatch):
    target = tmp_path / "m.safetensors"
    real_write = os.write

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs.os, "write", full)
    try:
        with pytest.raises(OutputError, match=str(target)):
            with output_lock(target):
                pass
    finally:
        monkeypatch.setattr(outputs.os, "write", real_write)
    assert not lock_path(target).exists()
    with output_lock(target):  # and the next writer is not blocked
        assert lock_path(target).exists()


@contextmanager
def files_at_most(n_bytes: int):
    """Writes past n_bytes fail (EFBIG) as on a full disk: a real failed write, no root needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)


def _scores() -> tuple[Scores, np.ndarray]:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10), 40).astype(np.float32)
    return Scores(labels=rng.integers(0, 10, 40), probs=probs), rng.integers(0, 255, (40, 28, 28), np.uint8)


def test_eval_report_on_a_full_disk_leaves_no_empty_png(tmp_path):
    from digitpad.core.insight.report import write_report

    scores, images = _scores()
    out = tmp_path / "report"
    out.mkdir()
    with pytest.raises(OutputError, match="confusion.png"):
        with files_at_most(2048):
            write_report(out, scores, images, {"model": "m"})
    assert [p for p in out.iterdir() if p.stat().st_size == 0] == []
    assert not (out / "confusion.png").exists()
    paths = write_report(out, scores, images, {"model": "m"})  # room again: all three written
    assert all(p.stat().st_size > 0 for p in paths.values())


def test_eval_report_into_the_shipped_folder_is_refused(tmp_path, monkeypatch):
    from digitpad.core.insight.report import write_report

    # a stand-in for resources/: a failure here must not litter the real one
    shipped = tmp_path / "resources"
    shipped.mkdir()
    (shipped / "lenet.safetensors").write_bytes(b"x")
    monkeypatch.setattr(outputs, "resource_path", lambda *a: str(shipped))
    scores, images = _scores()
    before = sorted(os.listdir(shipped))
    for folder in (shipped, os.path.join(shipped, "reports")):
        with pytest.raises(OutputError, match="shipped"):
            write_report(folder, scores, images, {"model": "m"})
    assert sorted(os.listdir(shipped)) == before
    link = tmp_path / "res"
    link.symlink_to(shipped)
    with pytest.raises(OutputError, match="shipped"):
        write_report(link, scores, images, {"model": "m"})
    assert sorted(os.listdir(shipped)) == before
