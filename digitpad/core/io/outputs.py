"""Writing model files without losing one: writability checked up front, one writer at a time,
no leftovers from killed saves, and an existing model replaced only by a better one.

- :func:`claim_output` is the one guarded way to a model file, for every writer (``train``,
  ``teach``, resume, the app's saves), taken before any work: the path resolved once (a
  symlink's target is locked and written), shipped models refused, the folder checked, the
  lock held, stale temps removed, and what the existing file records read, so that
  :meth:`Claim.refusal` replaces it only by a model better on the *same* validation data
  (or when the person said overwrite).
- :func:`check_writable` proves a file can be created beside the target (a read-only folder
  or file system is found before training starts, not after its first epoch).
- :func:`output_lock` is an advisory ``fcntl.flock`` on a hidden sidecar ``.NAME.lock``: a
  second writer (another process, or another thread) waits up to ``wait`` seconds, then fails
  with :class:`OutputBusy`. The lock file is removed on release.
- :func:`remove_stale_temps` deletes ``.NAME.*.tmp`` files that a killed save left behind.
- ``nets.checkpoint.claim_model_output`` is :func:`claim_output` with the reader of what an
  existing model file records (``nets.checkpoint.recorded``).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .files import DigitpadError, remove_dead_temps
from .paths import is_frozen, resource_path

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


class NotComparable(OutputError):
    """The file there is not a model digitpad can read: only replaced on purpose."""


class NeedsConfirmation(OutputError):
    """Replacing the file needs an explicit yes (the app asks; the CLI's --overwrite)."""


def lock_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a folder (None: all is well)."""
    for parent in path.parents:
        if os.path.lexists(parent):
            return None if parent.is_dir() else parent
    return None


def check_writable(path: str | os.PathLike) -> Path:
    """Raise :class:`OutputError` unless ``path`` can be written (its folder is created).

    The check creates and removes a temp file in the folder, the way a save does, so a
    read-only file system, missing permissions or a file where a folder should be all show.
    """
    path = Path(path)
    blocker = _file_in_the_way(path)
    if blocker is not None:
        raise OutputError(f"Cannot write {path}: {blocker} is a file, not a folder.")
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name.")
    if os.path.lexists(path) and not path.is_file():
        raise OutputError(f"{path} exists and is not a regular file; choose another name.")
    folder = _folder(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
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
        try:
            os.ftruncate(fd, 0)
            if os.write(fd, f"{os.getpid()}\n".encode()) == 0:
                raise OSError(28, os.strerror(28))
        except OSError as exc:  # a full disk (ENOSPC) or quota: no lock left behind
            try:
                os.unlink(lock)  # still holding it, as a release does
            except OSError:
                pass
            os.close(fd)
            raise OutputError(f"Cannot write {path}: {exc.strerror or exc} (while writing its "
                              f"lock file {lock}).") from exc
        return fd


# --- leftovers of killed saves ------------------------------------------------------------

def remove_stale_temps(path: str | os.PathLike, older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete our temp files for ``path`` (``.NAME.*.tmp``) whose writer's pid is gone (at
    once), or, for a name without a pid or a pid now reused, not touched for ``older_than``
    seconds; returns what was removed. Call it while holding :func:`output_lock`."""
    path = Path(path)
    folder = _folder(path)
    removed = [folder / n for n in remove_dead_temps(path)]  # a dead writer's: at once
    prefix = f".{path.name}."
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


# --- the one guarded output -------------------------------------------------------------------

def real_output_path(path: str | os.PathLike) -> Path:
    """``path`` with ``~`` expanded and symlinks resolved, once: the lock and the write then
    act on the link's target (``os.replace`` onto a link would replace the link itself)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def shipped_folders() -> list[Path]:
    """Where the shipped models live: resources/ (source tree or bundle), and the whole
    bundle when frozen."""
    folders = [Path(os.path.realpath(resource_path()))]
    if is_frozen():
        import sys

        base = getattr(sys, "_MEIPASS", None)
        folders.append(Path(os.path.realpath(base)) if base else
                       Path(os.path.realpath(sys.executable)).parent)
    return folders


def is_shipped(path: str | os.PathLike) -> bool:
    real = real_output_path(path)
    return any(real == f or f in real.parents for f in shipped_folders())


@dataclass(frozen=True)
class Record:
    """What an existing model file says its figures were measured on."""

    val_acc: float | None
    test_acc: float | None
    val_data: dict | None  # fingerprint of the validation data: {"sha256", "count"}


def same_data(a: dict | None, b: dict | None) -> bool:
    return (isinstance(a, dict) and isinstance(b, dict) and bool(a.get("sha256"))
            and a.get("sha256") == b.get("sha256") and a.get("count") == b.get("count"))


def _pct(x: float) -> str:
    return f"{x * 100:.2f} %"


@dataclass
class Claim:
    """A model file claimed for writing; hold it (the lock) for the whole run."""

    path: Path  # resolved: lock, temps and the write all use this
    overwrite: bool
    existing: Record | None  # what the file there records (None: no file, or overwrite)
    removed: list[Path]  # temp files of killed saves that were cleaned up

    def comparable(self, val_data: dict | None) -> str | None:
        """Why no model measured on ``val_data`` could replace the file (None: one could)."""
        if self.overwrite or self.existing is None:
            return None
        ex, name = self.existing, self.path.name
        if ex.val_data is None:
            return (f"{name} holds a model that does not record what data its accuracy was "
                    "measured on, so a new model cannot be compared with it")
        if not same_data(ex.val_data, val_data):
            count = ex.val_data.get("count")
            return (f"{name} holds a model whose accuracy was measured on other validation "
                    f"data ({count} images{'' if ex.val_acc is None else ', ' + _pct(ex.val_acc)}), "
                    "so a model from this run cannot be compared with it")
        if ex.val_acc is None:
            return f"{name} holds a model that records no validation accuracy"
        return None

    def refusal(self, val_acc: float | None, val_data: dict | None) -> str | None:
        """None when a model with ``val_acc`` on ``val_data`` may replace the file, else why not."""
        why = self.comparable(val_data)
        if why or self.overwrite or self.existing is None:
            return why
        if val_acc is None or not val_acc > self.existing.val_acc:
            new = "no validation accuracy" if val_acc is None else f"{_pct(val_acc)} on validation"
            return (f"the new model ({new}) is not better than the one in {self.path.name} "
                    f"({_pct(self.existing.val_acc)} on the same validation data)")
        return None

    def allows(self, val_acc: float | None, val_data: dict | None) -> bool:
        return self.refusal(val_acc, val_data) is None


@contextmanager
def claim_output(path: str | os.PathLike, read_record: Callable[[Path], Record], *,
                 overwrite: bool = False, wait: float = 0.0) -> Iterator[Claim]:
    """Claim ``path`` for a model file before any work; the lock is held for the block.

    Raises :class:`OutputError` for a shipped model (``overwrite`` or not), a folder or other
    non-file in the way, a folder that cannot be written; :class:`OutputBusy` when another
    writer holds it; and, without ``overwrite``, when the file there cannot be read as a
    model (``read_record`` raises a DigitpadError), because it could not be compared.
    """
    real = real_output_path(path)
    if is_shipped(real):
        raise OutputError(f"{path} is a model shipped with digitpad; shipped models are never "
                          "replaced. Choose another file.")
    check_writable(real)
    with output_lock(real, wait=wait):
        removed = remove_stale_temps(real)
        existing = None
        if not overwrite and os.path.lexists(real):
            try:
                existing = read_record(real)
            except DigitpadError as exc:
                raise NotComparable(f"{path} already exists and is not a model digitpad can "
                                  f"compare with ({' '.join(str(exc).split())}); choose another "
                                  "file or replace it on purpose (--overwrite).") from exc
        yield Claim(real, overwrite, existing, removed)
