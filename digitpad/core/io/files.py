"""Opening the files a person names (models, images) without hanging or swallowing memory,
and printing what they hold without letting it drive the terminal.

Every read of a user-named file goes through :func:`read_regular_file`: it opens without
blocking (a FIFO would otherwise wait forever for a writer), checks with ``fstat`` on the open
descriptor that it is a regular file (not a FIFO, device, socket or folder), checks the size
against a cap *before* reading, and only then reads. The caller's own error class carries the
message, so a model file fails with ``CheckpointError`` and an image with ``ImageError``.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import tempfile

MiB = 1024 * 1024

# The largest shipped model (dense) is 2.7 MB; 64 MiB leaves room for any model digitpad makes.
MAX_MODEL_BYTES = 64 * MiB
# The tag in every digitpad model file's safetensors metadata ("format"). Here, not in
# checkpoint (which imports torch), so core.reading.numpy_predict can check it too.
MODEL_FORMAT = "digitpad-model-1"
# the tag of the training state saved beside a model (what --resume continues from)
TRAIN_STATE_FORMAT = "digitpad-train-state-1"
# A drawing, photo or scan; PIL's decompression-bomb check still guards the decoded size.
MAX_IMAGE_BYTES = 64 * MiB


class DigitpadError(Exception):
    """Base of digitpad's typed errors: ``str(err)`` is a sentence a person understands."""


# The deepest JSON a digitpad file holds is 4 levels (meta > history > val_acc > list); 64
# leaves room for any honest writer, and far below where json's recursion would give out.
MAX_JSON_DEPTH = 64


def load_json(text: str | bytes):
    """json.loads for a file's header or metadata, with ValueError (never RecursionError) for
    a document nested deeper than MAX_JSON_DEPTH: a crafted ``[[[[...]]]]`` would otherwise
    escape every caller's ``except ValueError`` as "unexpected error: RecursionError", and a
    shallower but still deep one would blow up later in json.dumps or copy.deepcopy."""
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    # json gave out only near the interpreter's limit (~1000); walked without recursion
    level = [doc]
    for _ in range(MAX_JSON_DEPTH):
        level = [v for c in level if isinstance(c, (dict, list))
                 for v in (c.values() if isinstance(c, dict) else c)]
        if not level:
            return doc
    if any(isinstance(c, (dict, list)) for c in level):
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep")
    return doc


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def not_regular_reason(path: str | os.PathLike) -> str | None:
    """None for a regular file (following links); otherwise what it is, e.g. "a named pipe".

    Uses ``stat`` only: nothing is opened, so it never blocks.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None  # missing or unreadable: the caller's open reports that properly
    return None if stat.S_ISREG(st.st_mode) else _kind_of(st.st_mode)


def _a(noun: str) -> str:
    """ "a model file", "an image file" """
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def read_regular_file(path: str | os.PathLike, max_bytes: int, error, what: str = "file") -> bytes:
    """The whole content of ``path``, which must be a regular file of at most ``max_bytes``.

    ``error(message)`` builds the exception raised for any problem (missing, a folder, a FIFO,
    a device, too large, unreadable).
    """
    name = os.fspath(path)
    base = os.path.basename(name) or name
    try:
        # O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a
        # writer; for a regular file the flag changes nothing.
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{what.capitalize()} not found: {name}") from None
    except IsADirectoryError:
        raise error(f"{name} is a folder, not {_a(what)}.") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket or a FIFO opened for writing only
            raise error(f"{name} is not a regular file, so it cannot be {_a(what)}.") from None
        raise error(f"Cannot read {name}: {exc.strerror or exc}.") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{name} is {_kind_of(st.st_mode)}, not a regular file, so it cannot be "
                        f"{_a(what)}.")
        if st.st_size > max_bytes:
            raise error(f"{base} is too large to be {_a(what)} ({st.st_size / MiB:,.1f} MiB; "
                        f"digitpad reads at most {max_bytes // MiB} MiB).")
        chunks = []
        left = max_bytes + 1  # a file growing while read is still capped
        while left > 0:
            chunk = os.read(fd, min(left, 4 * MiB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        blob = b"".join(chunks)
        if len(blob) > max_bytes:
            raise error(f"{base} is too large to be {_a(what)} (more than {max_bytes // MiB} MiB).")
        return blob
    except OSError as exc:
        raise error(f"Cannot read {name}: {exc.strerror or exc}.") from exc
    finally:
        os.close(fd)


# --- printing what files hold -------------------------------------------------------------

# C0 and C1 control characters (ESC, CSI, BEL, backspace, carriage return, ...) and the
# Unicode bidi overrides that can make text display differently from what it is.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(value) -> str:
    """``str(value)`` with control characters shown as escapes (``\\x1b``), never executed."""
    text = value if isinstance(value, str) else str(value)

    def esc(m: re.Match) -> str:
        c = m.group()
        return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(c) or (
            f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")

    return _UNSAFE.sub(esc, text)


# --- allocation failures ------------------------------------------------------------------

_ALLOC_WORDS = ("can't allocate memory", "cannot allocate memory", "out of memory",
                "not enough memory", "failed to allocate")


def is_allocation_failure(exc: BaseException) -> bool:
    """MemoryError, torch's CPU allocator failure or a device out-of-memory error."""
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, RuntimeError):
        msg = str(exc).lower()
        return any(w in msg for w in _ALLOC_WORDS)
    return False


def allocation_message(exc: BaseException) -> str:
    m = re.search(r"tried to allocate ([0-9.]+ ?[KMGT]?i?B|\d+ bytes)", str(exc))
    size = ""
    if m:
        raw = m.group(1)
        if raw.endswith(" bytes"):
            n = int(raw.split()[0])
            raw = f"{n / 1024 ** 3:,.1f} GiB" if n >= 1024 ** 3 else f"{n / MiB:,.1f} MiB"
        size = f" ({raw} were asked for)"
    return (f"Not enough memory{size}. Try a smaller batch size, fewer images at once, or "
            "close other programs.")


def fsync_dir(folder) -> None:
    """Make a rename inside ``folder`` durable (best effort: some filesystems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if os.name == "nt" or pid <= 0:
        return True  # Windows' os.kill(pid, 0) would end the process: left to the age rule
    if pid == os.getpid():
        return True  # a save of ours in another thread
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process (EPERM): alive
    return True


def temp_pid(name: str, target_name: str) -> int | None:
    """The writer's pid in a temp file's name ``.NAME.<pid>.XXXX.tmp``, else None."""
    prefix = f".{target_name}."
    if not (name.startswith(prefix) and name.endswith(".tmp")):
        return None
    head = name[len(prefix):].split(".", 1)[0]
    return int(head) if head.isdigit() and len(head) <= 10 else None


def remove_dead_temps(path) -> list[str]:
    """Delete ``path``'s temp files (``.NAME.<pid>.*.tmp``) whose writer is no longer running:
    what a killed save left, cleaned at the next start of any writer, whatever its age.
    Returns the names removed. A live writer's temp is never touched."""
    from pathlib import Path

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        pid = temp_pid(name, path.name)
        if pid is None or _pid_alive(pid):
            continue
        try:
            if stat.S_ISREG(os.lstat(folder / name).st_mode):
                os.unlink(folder / name)
                removed.append(name)
        except OSError:
            pass
    return removed


class TempFileError(OSError):
    """The temp file beside the target could not be made: the folder is not writable."""


def write_atomically(path, blob: bytes, mode: int) -> None:
    """Write ``blob`` to ``path`` so a killed process leaves the old file or the new one, never
    a mix: a temp file in the same folder, fsync, ``os.replace``, then the folder's fsync.
    The temp file is removed on any failure. Raises OSError (TempFileError before any write).
    """
    from pathlib import Path

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_dead_temps(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise TempFileError(exc.errno, exc.strerror, exc.filename) from exc
    try:
        os.fchmod(fd, mode)  # mkstemp makes 0600 files
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(folder)
