"""Weights a user saved elsewhere (``torch.save(model.state_dict(), "model.pth")``), matched to
an architecture digitpad knows, and the input convention they were trained with.

Read with ``torch.load(weights_only=True)`` only: tensors and plain containers, never code; a
whole pickled model (``torch.save(model)``) is refused in one line. Matching is by names and
shapes, so the lesson's ``NeuralNetwork`` (conv1, pool, conv2, fc1, fc2, fc3) is digitpad's
lenet; an ``nn.Sequential`` numbering, a ``module.`` / ``model.`` prefix and a checkpoint dict
holding ``state_dict`` / ``model_state_dict`` are recognised too.

Input conventions: every digitpad model reads [0, 1] ink-bright images and normalises them
itself. A foreign model expects its own input (``ToTensor``, MNIST-normalised, 0-255, [-1, 1],
either ink polarity); the builder puts an :class:`InputConvention` layer in front, so every
caller (predict, eval, maps, why-map, Compare, Mistakes, teach) feeds it as any other model.
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from .conventions import CONVENTIONS, DESCRIBED, describe, input_summary  # noqa: F401 (re-exported)
from .errors import CheckpointError
from .models import InputConvention  # noqa: F401 (re-exported: the builder puts it in front)
from .spec import MNIST_MEAN, MNIST_STD, MODEL_NAMES, weight_shapes

_WRAPPERS = ("state_dict", "model_state_dict", "model", "net", "weights")
_PREFIXES = ("module.", "model.", "net.", "_orig_mod.")
STATE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".bin")
# a state dict's declared tensor may not exceed this many elements (64 MiB of float32)
MAX_ELEMENTS = 16 * 1024 * 1024


SAVE_STATE_DICT = ("Save a state dict instead: torch.save(model.state_dict(), \"model.pth\"), "
                   "or use a .safetensors model file, or export the network to ONNX.")
# what other frameworks write: named so the refusal says what to do instead
OTHER_FORMATS = {".h5": "Keras", ".hdf5": "Keras", ".keras": "Keras", ".pb": "TensorFlow",
                 ".tflite": "TensorFlow Lite", ".joblib": "a joblib pickle", ".npz": "NumPy"}


def other_format(path: Path) -> str | None:
    """The one-line refusal of a file another framework wrote, or None."""
    kind = OTHER_FORMATS.get(path.suffix.lower())
    if kind is None:
        return None
    return (f"{path.name} is a {kind} file, which digitpad does not open; export the network "
            "to ONNX (from Keras or TensorFlow: python -m tf2onnx.convert) and open the .onnx file.")


def _is_torchscript(blob: bytes) -> bool:
    """A TorchScript archive: a zip holding the module's code (``code/``) beside its data."""
    if not blob.startswith(b"PK\x03\x04"):
        return False
    import zipfile

    try:
        names = zipfile.ZipFile(io.BytesIO(blob)).namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return False
    return any("/code/" in n or n.endswith("/constants.pkl") for n in names[:10_000])


def read_state_file(blob: bytes, path: Path) -> tuple[str, dict[str, torch.Tensor], dict]:
    """(arch, digitpad-named state, meta) of a torch.save'd state dict; CheckpointError if it
    is not plain weights or matches no known architecture."""
    if _is_torchscript(blob):
        raise CheckpointError(
            f"{path.name} is a TorchScript model (torch.jit.save), which holds code; it is not "
            f"opened. {SAVE_STATE_DICT}", path, "pickle")
    import warnings

    try:
        with warnings.catch_warnings():  # torch's notes on odd files: the error says it all
            warnings.simplefilter("ignore")
            obj = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True, mmap=False)
    except Exception as exc:  # weights_only refuses any object that needs code
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "pickle" if "weights_only" in str(exc) or "Unsupported" in str(exc) else "corrupt"
        if kind == "pickle":
            raise CheckpointError(
                f"{path.name} is a PyTorch pickle holding more than weights (a whole model "
                "saved with torch.save(model)?); loading it could run arbitrary code, so it is "
                f"not opened. {SAVE_STATE_DICT}", path, "pickle") from exc
        raise CheckpointError(f"{path.name} is damaged or not a PyTorch file ({first[:120]}).",
                              path, "corrupt") from exc
    state = _unwrap(obj)
    if state is None:
        raise CheckpointError(
            f"{path.name} holds no state dict (found {type(obj).__name__}); save one with "
            "torch.save(model.state_dict(), \"model.pth\").", path, "invalid")
    for key, t in state.items():
        if t.numel() > MAX_ELEMENTS:
            raise CheckpointError(f"{path.name}: tensor {key} has {t.numel():,} values, more than "
                                  "any digit model needs.", path, "shapes")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{path.name}: tensor {key} holds NaN or infinite values.",
                                  path, "corrupt")
    arch, named = match(state, path)
    return arch, named, {"foreign": "pytorch state dict", "name": path.stem}


def _unwrap(obj) -> dict[str, torch.Tensor] | None:
    for _ in range(3):
        if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return OrderedDict((str(k), v) for k, v in obj.items())
        if not isinstance(obj, dict):
            return None
        inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            # a checkpoint dict with counters beside the weights: keep only the tensors
            tensors = OrderedDict((str(k), v) for k, v in obj.items() if isinstance(v, torch.Tensor))
            return tensors or None
        obj = inner
    return None


def _strip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    changed = True
    while changed:
        changed = False
        for p in _PREFIXES:
            if state and all(k.startswith(p) for k in state):
                state = OrderedDict((k[len(p):], v) for k, v in state.items())
                changed = True
    return state


def match(state: dict[str, torch.Tensor], path: Path) -> tuple[str, dict[str, torch.Tensor]]:
    """(arch, the state under digitpad's names): by name first, else by the order and shapes
    of the tensors (an nn.Sequential's 0.weight, 3.weight ...)."""
    state = _strip(state)
    got = [(k, tuple(v.shape)) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    for arch in MODEL_NAMES:
        want = weight_shapes(arch)
        plain = [(k, s) for k, s in want.items() if not k.endswith("num_batches_tracked")]
        if {k: s for k, s in got} == dict(plain):
            return arch, _complete(arch, {k: state[k] for k, _ in plain})
        if [s for _, s in got] == [s for _, s in plain]:
            renamed = {k: state[src].float() for (k, _), (src, _) in zip(plain, got)}
            return arch, _complete(arch, renamed)
    shown = ", ".join(f"{k}{list(s)}" for k, s in got[:4]) + (" ..." if len(got) > 4 else "")
    raise CheckpointError(
        f"{path.name} is a state dict of {len(got)} tensors ({shown}) that matches none of the "
        f"networks digitpad can show ({', '.join(MODEL_NAMES)}, the lesson's NeuralNetwork = "
        "lenet); for any other network export it to ONNX, or use a .safetensors model file.",
        path, "architecture")


def _complete(arch: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = OrderedDict()
    for key in weight_shapes(arch):
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(0, dtype=torch.int64)
        else:
            out[key] = state[key].detach().to(torch.float32).contiguous()
    return out


# --- which input the weights expect ---------------------------------------------------------

def sample_images(n: int = 300, data_dir: str | os.PathLike | None = None):
    """(images (n, 1, 28, 28) in [0, 1], labels, where from): MNIST test when it is there,
    else synthesised digits."""
    from ..data.mnist import has_mnist, mnist_problem, raw_dir
    from ..io.paths import resolve_data_dir

    try:
        root = resolve_data_dir(data_dir)
        if has_mnist(root) and not mnist_problem(root, splits=("t10k",)):
            # n images spread over the test set, read straight from the IDX files: a few kB,
            # not the 10,000 images and torchvision's import (seconds) for a few hundred
            import numpy as np

            raw = raw_dir(root)
            images = np.memmap(raw / "t10k-images-idx3-ubyte", np.uint8, "r", offset=16)
            labels = np.memmap(raw / "t10k-labels-idx1-ubyte", np.uint8, "r", offset=8)
            count = len(labels)
            idx = np.arange(0, count, max(1, count // n))[:n]
            x = torch.from_numpy(images.reshape(count, 28, 28)[idx].astype(np.float32) / 255.0)
            y = torch.from_numpy(labels[idx].astype(np.int64))
            return x.unsqueeze(1), y, f"{len(idx)} MNIST test images"
    except Exception:  # unreadable data: fall back to synthesised digits
        pass
    from ..data.styles import render_digits

    imgs, labels, _ = render_digits(n, seed=1234)
    x = torch.from_numpy(imgs).float().div_(255.0).unsqueeze(1)
    return x, torch.from_numpy(labels), f"{n} synthesised digits"


def mnist_there(data_dir=None) -> bool:
    """Whether :func:`sample_images` would read MNIST test (not synthesised digits)."""
    from ..data.mnist import has_mnist
    from ..io.paths import resolve_data_dir

    try:
        return bool(has_mnist(resolve_data_dir(data_dir)))
    except Exception:  # unreadable data: sample_images falls back too
        return False


def score_conventions(model: nn.Module, n: int = 300, data_dir=None) -> tuple[dict[str, float], str]:
    """Accuracy of ``model`` (a DigitModel in eval mode) under each convention, on a few hundred
    images; the model's input layer is restored afterwards."""
    x, y, source = sample_images(n, data_dir)
    saved = model.inputs
    scores: dict[str, float] = {}
    try:
        with torch.inference_mode():
            for name in CONVENTIONS:
                model.inputs = InputConvention(name)
                scores[name] = float((model.logits(x).argmax(1) == y).float().mean())
    finally:
        model.inputs = saved
    return scores, source


def detect_input(arch: str, state: dict[str, torch.Tensor], data_dir=None) -> dict:
    """meta entries for a foreign state dict: the best-scoring convention and every score."""
    from .builder import build

    model = build(arch, state, {}, inference=True)
    scores, source = score_conventions(model, data_dir=data_dir)
    best = max(scores, key=lambda k: scores[k])
    return {"input": best, "input_scores": scores, "input_scored_on": source}


def set_input(meta: dict, name: str) -> dict:
    """``meta`` with the convention chosen by the user (``--input``)."""
    if name not in CONVENTIONS:
        raise CheckpointError(f"Unknown input convention {name!r}; choose one of "
                              f"{', '.join(CONVENTIONS)}.", None, "invalid")
    return {**meta, "input": name, "input_chosen": "by you"}


def choose_input(meta: dict, name: str) -> dict:
    """``meta`` with the user's convention (the app's Input box), remembered for the file."""
    from .input_memory import remember

    meta = set_input(meta, name)
    if meta.get("content_sha256"):
        remember(meta["content_sha256"], meta)
    return meta
