"""Writing model files without losing one: writability checked up front, one writer at a time,
no leftovers from killed saves, and an existing model replaced only by a better one.

- :func:`check_writable` proves a file can be created beside the target (a read-only folder
  or file system is found before training starts, not after its first epoch).
- :func:`output_lock` is an advisory ``fcntl.flock`` on a hidden sidecar ``.NAME.lock``: a
  second writer (another process, or another thread) waits up to ``wait`` seconds, then fails
  with :class:`OutputBusy`. The lock file is removed on release.
- :func:`remove_stale_temps` deletes ``.NAME.*.tmp`` files that a killed save left behind.
- ``nets.checkpoint.recorded_accuracy`` reads what an existing model file says about itself, so a new
  run can refuse to replace a model that is better on validation.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .files import DigitpadError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; saves stay atomic, a second writer is not detected
    fcntl = None

# A temp file of ours older than this is from a killed save: every save takes well under it.
STALE_TEMP_SECONDS = 60.0


class OutputError(DigitpadError):
    """The output file cannot be written (read-only folder, a folder in its place, ...)."""


class OutputBusy(OutputError):
    """Another digitpad process or thread is writing the same file."""


def lock_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def check_writable(path: str | os.PathLike) -> Path:
    """Raise :class:`OutputError` unless ``path`` can be written (its folder is created).

    The check creates and removes a temp file in the folder, the way a save does, so a
    read-only file system, missing permissions or a file where a folder should be all show.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name.")
    if os.path.lexists(path) and not path.is_file():
        raise OutputError(f"{path} exists and is not a regular file; choose another name.")
    folder = _folder(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"Cannot write {path}: {exc.strerror or exc} "
                          f"({exc.filename or folder}).") from exc
    os.close(fd)
    os.unlink(tmp)
    return path


# --- one writer at a time -----------------------------------------------------------------

_held: dict[tuple[str, int], list] = {}  # (lock file, thread id) -> [fd, depth]
_held_guard = threading.Lock()


def _holder(lock: Path) -> str:
    try:
        pid = lock.read_text().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


@contextmanager
def output_lock(path: str | os.PathLike, wait: float = 0.0,
                poll: float = 0.05) -> Iterator[None]:
    """Hold the advisory lock on ``path`` for the block; re-entrant within one thread.

    Waits up to ``wait`` seconds for another holder, then raises :class:`OutputBusy`.
    """
    path = Path(path)
    lock = lock_path(path)
    key = (os.path.abspath(lock), threading.get_ident())
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _held_guard:
                _held[key][1] -= 1
        return
    if fcntl is None:
        yield
        return
    fd = _acquire(path, lock, wait, poll)
    with _held_guard:
        _held[key] = [fd, 1]
    try:
        yield
    finally:
        with _held_guard:
            del _held[key]
        try:
            os.unlink(lock)  # while still holding it: a waiter then re-opens a fresh file
        except OSError:
            pass
        os.close(fd)


def _acquire(path: Path, lock: Path, wait: float, poll: float) -> int:
    deadline = time.monotonic() + max(0.0, wait)
    try:
        _folder(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise OutputError(f"Cannot write {path}: {exc.strerror or exc} ({lock.parent}).") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise OutputBusy(
                    f"{path} is being written by another digitpad run{_holder(lock)}; wait for "
                    "it to finish or choose another file.") from None
            time.sleep(poll)
            continue
        except OSError as exc:  # a file system without locks: carry on unlocked
            if getattr(exc, "errno", None) in (getattr(os, "ENOLCK", 37), 95):
                return fd
            os.close(fd)
            raise
        # The previous holder may have unlinked the file between our open and our lock: then
        # we hold a lock on a file nobody else will ever see. Start again with the current one.
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd


# --- leftovers of killed saves ------------------------------------------------------------

def remove_stale_temps(path: str | os.PathLike, older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete our temp files for ``path`` (``.NAME.*.tmp``) not touched for ``older_than``
    seconds; returns what was removed. Call it while holding :func:`output_lock`."""
    path = Path(path)
    folder = _folder(path)
    prefix, removed = f".{path.name}.", []
    now = time.time()
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        p = folder / name
        try:
            st = os.lstat(p)
            if now - st.st_mtime < older_than or not os.path.isfile(p):
                continue
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed
