"""Weights become a ready model: the one place a model is made from a file or a state dict.

Everything that belongs to the model is put inside it, so it reads the same wherever it is
used (eval, the Predictor, Mistakes, the why-map, compare, the shift test, export, teach):

- a foreign model (a user's own state dict, :mod:`.foreign`) gets the input layer of the
  convention it was trained with (meta "input"), so it too takes drawings as they are;
- a model trained on reshuffled pixels (config "permute" in its metadata) gets its
  :class:`~.models.PixelOrder` input layer, so it takes drawings as they are, and the ONNX
  graph holds the shuffle too;
- for inference, batch norm is folded into the convolution before it (the same outputs to
  ~1e-6, a third fewer operations), the module is in eval mode and needs no gradients;
- its outputs are probed: weights that are finite but give NaN or infinite outputs (fc1 x 1e38)
  are refused with a :class:`~.checkpoint.CheckpointError`, not read as "confidence NaN".
"""

from __future__ import annotations

import copy

import torch

from .errors import CheckpointError
from .fold import fold_batch_norm
from .models import DigitModel, PixelOrder, create_model
from .permutation import pixel_permutation
from .spec import probe_images


def permuted(meta: dict | None) -> bool:
    """Whether a model's metadata says it was trained on reshuffled pixels."""
    config = meta.get("config") if isinstance(meta, dict) else None
    return isinstance(config, dict) and bool(config.get("permute"))


def build(arch: str, state: dict[str, torch.Tensor], meta: dict | None = None, *,
          inference: bool = True, device: str | torch.device | None = None,
          name: str | None = None) -> DigitModel:
    """A ready model of ``arch`` holding a copy of ``state`` (ignoring later changes to it).

    ``inference=False`` gives the plain trainable module (training mode untouched, batch norm
    not folded): what teach continues training. Either way the input permutation is inside
    and the outputs are probed; ``name`` is what an error calls the model.
    """
    model = create_model(arch)
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{name or 'the model'} does not fit the {arch} architecture: "
                              f"{str(exc).splitlines()[0]}", None, "architecture") from exc
    if permuted(meta):
        model.inputs = PixelOrder(pixel_permutation(0))
    convention = meta.get("input") if isinstance(meta, dict) else None
    if convention:
        # a foreign model's own input (ToTensor, 0-255, ink dark ...): see nets/foreign.py
        from .conventions import CONVENTIONS
        from .models import InputConvention

        if convention not in CONVENTIONS:
            raise CheckpointError(f"{name or 'the model'} records an unknown input convention "
                                  f"{convention!r}.", None, "invalid")
        model.inputs = InputConvention(convention)
    if device is not None:
        model.to(device)
    probe(model, name)
    if inference:
        model = for_inference(model, copy_first=False)
    return model


def build_checkpoint(ckpt, **kwargs) -> DigitModel:
    """:func:`build` for a loaded model file (a :class:`~.checkpoint.Checkpoint`)."""
    kwargs.setdefault("name", ckpt.path.name if ckpt.path else ckpt.name)
    try:
        return build(ckpt.arch, ckpt.state, ckpt.meta, **kwargs)
    except CheckpointError as exc:
        exc.path = exc.path or ckpt.path
        raise


def for_inference(model: DigitModel, copy_first: bool = True) -> DigitModel:
    """Eval mode, batch norm folded, no gradients to weights; a copy unless told otherwise
    (a model still being trained keeps its own batch norm)."""
    if copy_first:
        model = copy.deepcopy(model)
    model = fold_batch_norm(model.eval()).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def single_pixel_images():
    """(784, 28, 28) float32: each pixel inked alone. A unit that overflows when one pixel is
    inked (finite weights, one far too large) passes the three probe images; these catch it."""
    import numpy as np

    return np.eye(28 * 28, dtype=np.float32).reshape(-1, 28, 28)


def probe(model: DigitModel, name: str | None = None, wide: bool = False) -> None:
    """Refuse a model whose outputs are not finite on the probe images (CheckpointError).

    ``wide`` adds every single-pixel image (a few milliseconds more): what a file written for
    others (``export``) is held to. Every reader also refuses non-finite outputs at use
    (``reading.prediction.refuse_non_finite``), as no probe sees every drawing."""
    import numpy as np

    images = probe_images()
    if wide:
        images = np.concatenate([images, single_pixel_images()])
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        with torch.inference_mode():
            logits = model.logits(torch.from_numpy(images).unsqueeze(1).to(device))
    finally:
        model.train(was_training)
    if not bool(torch.isfinite(logits).all()):
        raise CheckpointError(
            f"{name or 'The model'} is unusable: its outputs are NaN or infinite on a plain test "
            "image (its weights are finite but far too large, or damaged).", None, "corrupt")
