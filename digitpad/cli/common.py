"""Shared by the commands: exit codes, error reporting, model and path helpers, signals."""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import signal
import sys
from pathlib import Path
from ..core.nets.spec import MODEL_NAMES  # torch-free: `digitpad --help` stays quick


EXIT_OK = 0


EXIT_ERROR = 1


EXIT_USAGE = 2


EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A problem with what was asked for; the message is printed as it is."""


# OS errors that mean "this path you named cannot be used", not a bug.
_USER_PATH_ERRNOS = {"ENOENT", "EACCES", "EPERM", "EISDIR", "ENOTDIR", "ENOSPC", "EROFS",
                     "EDQUOT", "ENAMETOOLONG", "ELOOP", "EEXIST", "ETXTBSY", "EFBIG", "ENXIO"}


def _is_expected(exc: BaseException) -> bool:
    """Our typed errors and specific OS errors on a named path; anything else is a bug and
    is reported as unexpected (``--debug`` shows its traceback)."""
    import errno

    expected: tuple[type[BaseException], ...] = (CliError,)
    try:
        from ..core.io.files import DigitpadError

        expected += (DigitpadError,)
    except ImportError:
        pass
    for module, name in (("..core.learning.config", "ConfigError"), ("..core.nets.devices", "DeviceError")):
        try:
            expected += (getattr(importlib.import_module(module, __package__), name),)
        except (ImportError, AttributeError):
            pass
    if isinstance(exc, expected):
        return True
    if isinstance(exc, OSError) and exc.filename is not None and exc.errno is not None:
        return errno.errorcode.get(exc.errno) in _USER_PATH_ERRNOS
    return False


def _is_allocation_failure(exc: BaseException) -> bool:
    try:
        from ..core.io.files import is_allocation_failure
    except ImportError:
        return isinstance(exc, MemoryError)
    return is_allocation_failure(exc)


def _allocation_message(exc: BaseException) -> str:
    from ..core.io.files import allocation_message

    return allocation_message(exc)


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror and exc.filename and (
            str(exc.filename) not in msg or msg.startswith("[Errno")):
        msg = f"{exc.strerror}: {exc.filename}"
    return _printable(msg)


def _printable(value) -> str:
    """Text from files and paths with control characters escaped (no terminal escapes)."""
    from ..core.io.files import printable

    return printable(value)


def resolve_model_path(spec: str | None) -> Path:
    """A model file, or a shipped name (lenet / dense / digitnet) -> the file's path."""
    from ..core.nets.checkpoint import CheckpointError, shipped_model_path

    if spec is None:
        spec = "digitnet"
    path = Path(spec).expanduser()
    if spec in MODEL_NAMES and not path.exists():
        shipped = Path(shipped_model_path(spec))
        if not shipped.is_file():
            raise CheckpointError(f"The shipped {spec} model is missing ({shipped}); "
                                  "this installation is incomplete.", shipped, "missing")
        return shipped
    return path


def load_model(spec: str | None, input: str | None = None, data_dir=None):
    """The Checkpoint of a model file or shipped name; a foreign state dict with its input
    convention (``--input`` beats the scored choice)."""
    from ..core.nets.checkpoint import load_checkpoint
    from ..core.nets.foreign import set_input

    ckpt = load_checkpoint(resolve_model_path(spec), data_dir=data_dir)
    if input:
        ckpt.meta = set_input(ckpt.meta, input)
    return ckpt


def input_lines(meta: dict) -> list[str]:
    """What info and eval say about a foreign model's input convention."""
    from ..core.nets.foreign import describe

    if not meta.get("input"):
        return []
    how = meta.get("input_chosen") or f"best on {meta.get('input_scored_on', 'sample images')}"
    lines = [f"input     {meta['input']} ({describe(meta['input'])}; {how})"]
    scores = meta.get("input_scores") or {}
    if scores:
        lines.append("scores    " + ", ".join(f"{k} {v * 100:.0f}%" for k, v in
                                             sorted(scores.items(), key=lambda kv: -kv[1])))
    return lines


def _progress_bar(**kw):
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal (logs, pipes, tests stay clean)
    return tqdm(file=sys.stderr, disable=None, dynamic_ncols=True, **kw)


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * 100:.2f}%"


@contextlib.contextmanager
def _claim(out: Path, overwrite: bool):
    """Claim ``out`` before any work (see ``core.io.outputs.claim_output``): the lock is held
    until the block ends; says what an existing file holds and what replaces it."""
    from ..core.nets.checkpoint import claim_model_output

    with claim_model_output(out, overwrite=overwrite) as claim:
        for p in claim.removed:
            print(f"removed {_printable(p.name)}, left by an interrupted save", flush=True)
        ex = claim.existing
        if ex is not None:
            held = (f"{_pct(ex.val_acc)} on validation" if ex.val_acc is not None else
                    f"{_pct(ex.test_acc)} on test" if ex.test_acc is not None else "no accuracy")
            print(f"{_printable(out)} exists ({held}): it is replaced only by a model better on "
                  "the same validation data (--overwrite replaces it anyway)", flush=True)
        _check_train_state_writable(claim.path)
        yield claim


def _check_train_state_writable(out: Path) -> None:
    """The training state is written beside the model after every epoch: a folder or other
    non-file in its place would end the run after its first epoch, so it is refused now."""
    from ..core.io.outputs import OutputError, check_writable
    from ..core.learning.train_state import train_state_path

    side = train_state_path(out)
    try:
        check_writable(side)
    except OutputError as exc:
        raise CliError(f"the training state is saved beside {_printable(out.name)} as "
                       f"{_printable(side)}, which cannot be written: {_one_line(exc)}") from exc


def _install_sigint(control):
    """First Ctrl+C asks training to stop after the current batch; a second one aborts."""

    def handler(signum, frame):
        if control.stop_requested:
            raise KeyboardInterrupt
        control.stop()
        print("\nstopping after this batch (Ctrl+C again to abort)...", file=sys.stderr, flush=True)

    return _set_handler(signal.SIGINT, handler)


def _set_handler(sig, handler):
    """Install ``handler`` for ``sig``; the previous one, or None where Python cannot (a
    thread other than the main one, an embedding that forbids it)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.signal(sig, handler)
    except (ValueError, OSError):
        return None


def _restore_handler(sig, previous) -> None:
    if previous is not None:
        try:
            signal.signal(sig, previous)
        except (ValueError, OSError):
            pass


def _json_line(doc) -> str:
    """One JSON document; NaN and Infinity are not JSON, so a figure that is not a number
    (a class absent from the data) is null and nothing else can slip through."""
    return json.dumps(_json_safe(doc), allow_nan=False)


def _json_safe(obj):
    """NaN is not JSON: a class absent from the data gets null."""
    if isinstance(obj, float):
        return None if not math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


class Terminated(BaseException):
    """SIGTERM as an exception, so cleanup (the download's .part file) runs on the way out."""


def _raise_on_sigterm():
    def handler(signum, frame):
        raise Terminated()

    return _set_handler(signal.SIGTERM, handler)
