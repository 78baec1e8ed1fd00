"""A model as ONNX, usable without digitpad: ``digitpad export MODEL --onnx FILE``.

The graph takes what :func:`digitpad.core.data.preprocess.preprocess` makes: a float32 batch
``(N, 1, 28, 28)`` in [0, 1], ink bright on black, digit centred MNIST's way (normalisation is
inside the model). It returns ``logits`` and ``probs`` (softmax), both ``(N, 10)``. The
preprocessing spec, the class names and the recorded accuracies are in the model's
``metadata_props``, so a program in any language can prepare its input.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .builder import build_checkpoint, probe
from .checkpoint import PREPROCESS_VERSION, SAVE_LOCK_WAIT, Checkpoint, write_atomically
from ..io.files import DigitpadError

OPSET = 17
CLASS_NAMES = [str(d) for d in range(10)]

PREPROCESS_SPEC = {
    "version": PREPROCESS_VERSION,
    "input": "float32 tensor (N, 1, 28, 28), values in [0, 1], ink bright (1) on a dark (0) "
             "background; the model normalises internally",
    "steps": [
        "grey levels in [0, 1]; invert a dark-on-light drawing so the ink is bright",
        "crop to the bounding box of the ink",
        "scale so the longer side is 20 px, keeping the aspect ratio (anti-aliased)",
        "paste into a 28x28 black field with the ink's centre of mass at pixel (14, 14)",
    ],
    "reference": "digitpad.core.data.preprocess.preprocess (the MNIST recipe)",
}


class ExportError(DigitpadError):
    """The model cannot be exported (a missing package, an unwritable file, ...)."""


class _Graph(nn.Module):
    """The ready model's plain forward pass (no CPU fast paths; a --permute model's pixel
    order included) with softmax probabilities."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        logits = self.model.forward_features(x)[0]
        return logits, torch.softmax(logits, dim=1)


def onnx_metadata(ckpt: Checkpoint) -> dict[str, str]:
    from ... import __version__

    def acc(value):
        return "" if value is None else f"{value:.6f}"

    return {
        "digitpad_version": __version__,
        "arch": ckpt.arch,
        "name": ckpt.name,
        "class_names": json.dumps(CLASS_NAMES),
        "preprocessing": json.dumps(PREPROCESS_SPEC),
        "input": "image: float32 (N, 1, 28, 28) in [0, 1], ink bright",
        "outputs": "logits: (N, 10); probs: (N, 10), softmax of the logits",
        "test_acc": acc(ckpt.test_acc),
        "val_acc": acc(ckpt.val_acc),
        "dataset": str(ckpt.meta.get("dataset") or "MNIST"),
    }


def export_onnx(ckpt: Checkpoint, path: str | os.PathLike, opset: int = OPSET) -> Path:
    """Write ``ckpt`` as an ONNX file (atomically, under the file's lock). A model whose
    outputs are not finite (on the probe images and on every single-pixel image) is refused
    (CheckpointError) before anything is written."""
    try:
        import onnx
    except ImportError:
        raise ExportError("Exporting to ONNX needs the onnx package: pip install onnx") from None
    from ..io.outputs import OutputError, check_writable, is_shipped, output_lock, real_output_path

    # the guarded output's first steps, as every model writer takes them: the path resolved
    # once (a symlink's target is locked and written, not the link replaced), and nothing
    # written into the shipped resources/
    path = real_output_path(path)
    if is_shipped(path):
        raise ExportError(f"{path} is inside the folder of the models shipped with digitpad; "
                          "nothing is written there. Choose another file.")
    check_writable(path)
    built = build_checkpoint(ckpt).float()
    # held to more than the load-time probe: others will run this file on any drawing
    probe(built, ckpt.path.name if ckpt.path else ckpt.name, wide=True)
    model = _Graph(built)
    example = torch.zeros(1, 1, 28, 28)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (example,), buf, input_names=["image"],
                          output_names=["logits", "probs"], opset_version=opset,
                          dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}, "probs": {0: "N"}},
                          dynamo=False)
    proto = onnx.load_from_string(buf.getvalue())
    proto.doc_string = (f"digitpad {ckpt.arch} digit classifier ({ckpt.name}): input 'image' "
                        "float32 (N, 1, 28, 28) in [0, 1], ink bright, MNIST-centred; outputs "
                        "'logits' and 'probs' (N, 10) for the digits 0-9.")
    del proto.metadata_props[:]
    for key, value in onnx_metadata(ckpt).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    try:
        with output_lock(path, wait=SAVE_LOCK_WAIT):
            write_atomically(path, proto.SerializeToString())
    except OutputError as exc:
        raise ExportError(str(exc)) from exc
    return path
