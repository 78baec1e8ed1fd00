"""Model files: safetensors only, with metadata, validated on load, saved atomically.

A checkpoint is a ``.safetensors`` file whose header metadata (string -> string) holds
``format``, ``arch`` and a JSON ``meta`` blob: training config, preprocessing spec version,
dataset, epochs, test accuracy, history summary, digitpad version and date. Pickle-based
``.pt`` files are refused without being unpickled: loading one can run arbitrary code.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..io import files
from ..io.files import MAX_MODEL_BYTES, MODEL_FORMAT, TRAIN_STATE_FORMAT, load_json, read_regular_file
from .errors import CheckpointError
from .spec import MODEL_NAMES, weight_shapes
from ..data.preprocess import PREPROCESS_VERSION  # recorded in every checkpoint

FORMAT = MODEL_FORMAT


@dataclass
class Checkpoint:
    arch: str
    state: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)
    path: Path | None = None
    # metadata fields that were ignored on load because of a wrong type or value
    notes: list[str] = field(default_factory=list)

    @property
    def test_acc(self) -> float | None:
        return _fraction(self.meta.get("test_acc"))

    @property
    def val_acc(self) -> float | None:
        """Validation accuracy of the saved weights, when the file records one."""
        return _fraction(self.meta.get("val_acc"))

    @property
    def name(self) -> str:
        name = self.meta.get("name")
        return name if isinstance(name, str) and name else (self.path.stem if self.path else self.arch)

    def build(self, **kwargs):
        """The ready model (:func:`digitpad.core.nets.builder.build_checkpoint`)."""
        from .builder import build_checkpoint

        return build_checkpoint(self, **kwargs)


def make_meta(arch: str, **extra) -> dict:
    from ... import __version__

    meta = {
        "arch": arch,
        "preprocess_version": PREPROCESS_VERSION,
        "dataset": "MNIST",
        "digitpad_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta


def save_checkpoint(path: str | os.PathLike, arch: str, state: dict[str, torch.Tensor],
                    meta: dict | None = None, *, shipped: bool = False) -> Path:
    """Write atomically: a temp file in the same folder, fsync, then os.replace.

    A process killed at any point leaves either the old file or the new one, never a mix.
    The shipped resources/ folder is refused here too, not only by the claim every app and
    CLI writer takes first: a caller that skipped the claim still cannot replace a shipped
    model. Only ``scripts/train_shipped.py`` passes ``shipped=True``.
    """
    from safetensors.torch import save as st_save

    from ..io.outputs import is_shipped, real_output_path

    path = real_output_path(path)  # a symlink's target is locked and written, not the link
    if is_shipped(path) and not shipped:
        raise CheckpointError(f"{path} is in the folder of the models shipped with digitpad; "
                              "shipped models are never replaced. Choose another file.",
                              path, "shipped")
    if arch not in MODEL_NAMES:
        raise CheckpointError(f"Cannot save: unknown architecture {arch!r}.", path, "architecture")
    _check_state(arch, state, path)
    meta = dict(meta or make_meta(arch))
    meta.setdefault("arch", arch)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    header = {"format": FORMAT, "arch": arch, "meta": json.dumps(meta, sort_keys=True)}
    blob = st_save(tensors, metadata=header)
    from ..io.outputs import OutputBusy, OutputError, output_lock, remove_stale_temps

    try:
        # one writer at a time (a second one waits, then fails clearly); temp files that a
        # killed save left beside the target are removed while the lock is held
        with output_lock(path, wait=SAVE_LOCK_WAIT):
            remove_stale_temps(path)
            return _write_atomically(path, blob)
    except OutputError as exc:
        raise CheckpointError(str(exc), path,
                              "busy" if isinstance(exc, OutputBusy) else "unreadable") from exc


# How long a save waits for another writer of the same file before failing.
SAVE_LOCK_WAIT = 30.0


def _write_atomically(path: Path, blob: bytes) -> Path:
    try:
        # a model file is an ordinary document (0644 under umask 022)
        files.write_atomically(path, blob, 0o666 & ~_UMASK)
    except files.TempFileError as exc:
        folder = path.parent if str(path.parent) else Path(".")
        raise CheckpointError(f"Cannot write to {folder}: {exc.strerror or exc}.", path, "unreadable") from exc
    except OSError as exc:
        raise CheckpointError(f"Saving {path.name} failed: {exc.strerror or exc}. "
                              "Any previous file there is unchanged.", path, "unreadable") from exc
    return path


def write_atomically(path: str | os.PathLike, blob: bytes) -> Path:
    """Any file beside a model (e.g. its training state), written like a model file."""
    return _write_atomically(Path(path), blob)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# read once at import: os.umask can only be read by setting it, which is not thread-safe later
_UMASK = _read_umask()


_PICKLE_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def load_checkpoint(path: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Checkpoint:
    """Read and validate a model file; any problem raises CheckpointError with a clear message.

    A user's own state dict (.pt / .pth, read without unpickling code) is matched to a known
    architecture and its input convention scored (on MNIST test in ``data_dir`` when there,
    else synthesised digits): :mod:`.foreign`.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    path = Path(path)
    if not os.path.lexists(path):
        raise CheckpointError(f"Model file not found: {path}", path, "missing")
    # a regular file of at most MAX_MODEL_BYTES, checked before reading: a FIFO, a device
    # (/dev/zero) or a 1 GB file is refused at once instead of hanging or filling memory
    blob = read_regular_file(path, MAX_MODEL_BYTES,
                             lambda msg: CheckpointError(msg, path, "unreadable"), "model file")
    from .foreign import STATE_SUFFIXES, other_format

    if path.suffix.lower() in STATE_SUFFIXES:
        return _load_foreign(blob, path, data_dir)
    if path.suffix.lower() == ".onnx":
        # open_predictor runs it (onnxruntime); here a torch model is wanted (train, teach)
        raise CheckpointError(f"{path.name} is an ONNX model: it can be shown, predicted with "
                              "and evaluated, but not trained or taught (digitpad trains torch "
                              "networks of its own architectures; open a state dict for that).",
                              path, "onnx")
    refusal = other_format(path)
    if refusal:
        raise CheckpointError(refusal, path, "invalid")
    if blob.startswith(_PICKLE_MAGIC):
        raise CheckpointError(
            f"{path.name} is a PyTorch pickle file; loading a pickle can run arbitrary code, so "
            "digitpad opens .safetensors model files, and state dicts named .pth / .pt read as "
            "plain weights, never as code (rename it if it is a state dict).", path, "pickle")
    header = _read_header(blob, path)
    meta_raw = header.get("__metadata__") or {}
    if meta_raw.get("format") == TRAIN_STATE_FORMAT:
        raise CheckpointError(f"{path.name} is the training state saved beside a model (what "
                              "--resume continues from), not a model itself; open the model "
                              "file next to it.", path, "invalid")
    if meta_raw.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is a safetensors file but not a digitpad model "
                              "(its metadata has no digitpad format tag).", path, "invalid")
    arch = meta_raw.get("arch", "")
    if arch not in MODEL_NAMES:
        raise CheckpointError(f"{path.name} holds an unknown architecture {arch!r}; this digitpad "
                              f"knows {', '.join(MODEL_NAMES)}.", path, "architecture")
    try:
        meta = load_json(meta_raw.get("meta", "{}"))
        if not isinstance(meta, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        raise CheckpointError(f"{path.name} has damaged metadata ({exc}).", path, "corrupt") from exc
    try:
        state = st_load(blob)
    except (SafetensorError, Exception) as exc:
        raise CheckpointError(f"{path.name} is damaged or truncated and cannot be read ({exc}).",
                              path, "corrupt") from exc
    _check_state(arch, state, path)
    meta, notes = clean_meta(meta)
    return Checkpoint(arch=arch, state=state, meta=meta, path=path, notes=notes)


def _load_foreign(blob: bytes, path: Path, data_dir) -> Checkpoint:
    from .foreign import CONVENTIONS, detect_input, mnist_there, read_state_file
    from .input_memory import chosen_input, content_key

    arch, state, meta = read_state_file(blob, path)
    _check_state(arch, state, path)
    key = content_key(blob)
    meta["content_sha256"] = key
    meta.update(chosen_input(key, CONVENTIONS.__contains__,
                             lambda: detect_input(arch, state, data_dir), mnist_there(data_dir)))
    return Checkpoint(arch=arch, state=state, meta=meta, path=path)


def _fraction(value) -> float | None:
    """A recorded accuracy: a real number in [0, 1], else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if 0.0 <= value <= 1.0 else None


# What the known metadata fields must hold; anything else in a file is kept as it is.
_FRACTIONS = ("test_acc", "val_acc", "best_val_acc")
_TYPES = {"name": str, "created": str, "digitpad_version": str, "dataset": str, "arch": str,
          "resumed_from": str, "started_from": str, "epochs_run": int, "config": dict,
          "history": dict, "epochs": int, "run_id": str, "notes": list,
          "preprocess_version": int, "train_seconds": (int, float), "val_data": dict}


def clean_meta(meta: dict) -> tuple[dict, list[str]]:
    """(meta without the fields whose type or value is wrong, one note per dropped field).

    A file written by hand or by another tool may say ``"test_acc": "lots"``; such a field is
    ignored with a note rather than failing later with "could not convert string to float".
    """
    clean, notes = {}, []
    for key, value in meta.items():
        if value is None:
            continue
        if key in _FRACTIONS:
            if _fraction(value) is None:
                notes.append(f"ignored {key}: {_short(value)} is not an accuracy between 0 and 1")
                continue
        elif key in _TYPES:
            want = _TYPES[key]
            ok = isinstance(value, want) and not isinstance(value, bool)
            if ok and key in ("epochs", "train_seconds") and value < 0:
                ok = False
            if ok and key == "train_seconds" and not math.isfinite(value):
                ok = False
            if not ok:
                notes.append(f"ignored {key}: {_short(value)} is not a valid {key.replace('_', ' ')}")
                continue
        clean[key] = value
    return clean, notes


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_header(blob: bytes, path: str | os.PathLike) -> dict:
    """A safetensors header (dict), checked against the blob's length; CheckpointError if bad."""
    return _read_header(blob, Path(path))


def _read_header(blob: bytes, path: Path) -> dict:
    bad = CheckpointError(f"{path.name} is not a valid model file: it is damaged, truncated or "
                          "not a safetensors file at all.", path, "corrupt")
    if len(blob) < 8:
        raise bad
    (n,) = struct.unpack("<Q", blob[:8])
    if n <= 1 or n > min(len(blob) - 8, 100 * 1024 * 1024):
        raise bad
    try:
        header = load_json(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise bad from None
    if not isinstance(header, dict):
        raise bad
    meta = header.get("__metadata__", {})
    # safetensors' own rule (a map of strings to strings): anything else would reach the
    # readers below as an AttributeError instead of this sentence
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise bad
    end = 0
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            end = max(end, int(info["data_offsets"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise bad from None
    if 8 + n + end > len(blob):
        raise CheckpointError(f"{path.name} is truncated: it ends before its last tensor.", path, "corrupt")
    return header


def _check_state(arch: str, state: dict[str, torch.Tensor], path: Path | None) -> None:
    # the spec's weights: float32 everywhere but batch norm's int64 step counter
    expected = {k: (shape, torch.int64 if k.endswith("num_batches_tracked") else torch.float32)
                for k, shape in weight_shapes(arch).items()}
    name = path.name if path else "the model"
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
        if extra:
            parts.append(f"unexpected {', '.join(extra[:4])}{' ...' if len(extra) > 4 else ''}")
        raise CheckpointError(f"{name} does not match the {arch} architecture: {'; '.join(parts)}.",
                              path, "architecture")
    for key, (shape, dtype) in expected.items():
        t = state[key]
        if tuple(t.shape) != shape:
            raise CheckpointError(f"{name}: tensor {key} has shape {tuple(t.shape)}, but {arch} "
                                  f"needs {shape}.", path, "shapes")
        if t.dtype != dtype:
            raise CheckpointError(f"{name}: tensor {key} has type {t.dtype}, but {arch} needs "
                                  f"{dtype}.", path, "shapes")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{name}: tensor {key} holds NaN or infinite values.", path, "corrupt")


def shipped_model_path(arch: str):
    from ..io.paths import resource_path

    return resource_path(f"{arch}.safetensors")


# --- what an existing model file says about itself ----------------------------------------

def recorded(path: str | os.PathLike):
    """What an existing model file records about its figures (an ``outputs.Record``); raises
    CheckpointError when it is not a digitpad model."""
    from ..io.outputs import Record

    ckpt = load_checkpoint(path)
    val_data = ckpt.meta.get("val_data")
    return Record(ckpt.val_acc, ckpt.test_acc, val_data if isinstance(val_data, dict) else None)


def claim_model_output(path: str | os.PathLike, *, overwrite: bool = False, wait: float = 0.0):
    """:func:`digitpad.core.io.outputs.claim_output` for a model file: the one guarded way
    every writer (train, teach, the app's saves) takes to a model file."""
    from ..io.outputs import claim_output

    return claim_output(path, recorded, overwrite=overwrite, wait=wait)


def check_state(arch: str, state: dict[str, torch.Tensor], path: str | os.PathLike | None = None) -> None:
    """Raise CheckpointError unless ``state`` holds exactly ``arch``'s tensors (names, shapes,
    dtypes), all finite: what a model file must hold, for any other file of weights too."""
    _check_state(arch, state, None if path is None else Path(path))
