"""From a drawing to a digit, its probabilities and every feature map on the way.

A :class:`Predictor` owns a private copy of a model's weights, so the app can keep predicting
while a training run changes its own model, and swapping weights (:meth:`Predictor.set_state`)
is one atomic reference change under a lock. Single predictions are tuned for latency:

- batch norm is folded into the preceding convolution, and conv models run channels-last
  (same outputs to ~1e-6, a third fewer operations); convs larger than 3x3 run one image as
  im2col + a matrix product instead of oneDNN's costly setup;
- the forward pass runs on one intra-op thread. For a single 28x28 image, splitting each op
  across threads costs more than it saves, and when the cores are busy (training in the
  background) OpenMP's hand-offs make it 10-20x slower. The thread count is set only for the
  calling thread and only for the duration of the call, never at import time.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nets.checkpoint import Checkpoint, CheckpointError, load_checkpoint, shipped_model_path
from ..nets.builder import build, for_inference
from ..nets.fold import torch_threads
from ..nets.models import DigitModel
from ..nets.spec import MODEL_NAMES
from .prediction import Prediction, empty_prediction, make_prediction, refuse_non_finite
from ..data.preprocess import ImageInput, Preprocessed, preprocess

__all__ = ["Prediction", "Predictor"]


class _MatmulConv(nn.Module):
    """A Conv2d that computes one image as im2col + one matrix product.

    For a single small image with a kernel larger than 3x3, PyTorch picks oneDNN, whose
    per-call setup costs more than the arithmetic (LeNet's 5x5 convs: ~2x slower). Batches
    still go through F.conv2d. Same results to float rounding.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self.weight2d = conv.weight.detach().reshape(conv.out_channels, -1).clone()
        self.bias2d = None if conv.bias is None else conv.bias.detach().reshape(-1, 1).clone()

    def __getattr__(self, name: str):
        # model code may read conv attributes directly (weight, bias, out_channels, ...)
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("conv"), name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        if x.shape[0] != 1 or x.device.type != "cpu":
            return c(x)
        kh, kw = c.kernel_size
        ph, pw = c.padding
        oh = (x.shape[2] + 2 * ph - c.dilation[0] * (kh - 1) - 1) // c.stride[0] + 1
        ow = (x.shape[3] + 2 * pw - c.dilation[1] * (kw - 1) - 1) // c.stride[1] + 1
        cols = F.unfold(x, c.kernel_size, c.dilation, c.padding, c.stride)[0]
        y = self.weight2d @ cols if self.bias2d is None else torch.addmm(self.bias2d, self.weight2d, cols)
        return y.view(1, c.out_channels, oh, ow)


def _small_image_convs(model: nn.Module) -> nn.Module:
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if (isinstance(child, nn.Conv2d) and child.groups == 1 and isinstance(child.padding, tuple)
                    and min(child.kernel_size) > 3):
                setattr(module, name, _MatmulConv(child))
    return model


class _Compiled:
    """One immutable set of weights ready to run: swapped whole by set_state."""

    def __init__(self, arch: str, state: dict[str, torch.Tensor], meta: dict,
                 device: torch.device, name: str | None) -> None:
        # the builder copies into the model's own tensors: later changes to ``state`` (a
        # training run's model) never reach this predictor
        plain = build(arch, state, meta, inference=False, name=name).eval()
        self.state = {k: v.detach().to("cpu", copy=True) for k, v in plain.state_dict().items()}
        self.kernels = {k: v.detach().to("cpu", copy=True).float().numpy()
                        for k, v in plain.conv_kernels().items()}
        fast = _small_image_convs(for_inference(plain, copy_first=False))
        self.conv = any(isinstance(m, nn.Conv2d) for m in fast.modules())
        self.memory_format = torch.channels_last if self.conv else torch.contiguous_format
        self.model: DigitModel = fast.to(device=device, memory_format=self.memory_format)
        for p in self.model.parameters():
            p.requires_grad_(False)


class Predictor:
    """A model ready to predict, holding its own copy of the weights.

    ``threads`` is the intra-op thread count for :meth:`predict` (None: leave torch's setting);
    batches (:meth:`predict_batch`) use torch's own setting.
    """

    def __init__(self, arch: str, state: dict[str, torch.Tensor], meta: dict | None = None,
                 name: str | None = None, device: str | torch.device = "cpu",
                 threads: int | None = 1, source: str | None = None) -> None:
        if arch not in MODEL_NAMES:
            raise CheckpointError(f"Unknown architecture {arch!r}; digitpad knows {', '.join(MODEL_NAMES)}.",
                                  None, "architecture")
        from ..nets.devices import resolve_device

        self._arch = arch
        self._device = resolve_device(device)
        self.meta: dict = dict(meta or {})
        self._name = name
        # what an error calls it: the file a person named, not the name its metadata claims
        # (an edited copy of the shipped file still says "digitnet (shipped)")
        self._source = source
        self.threads = threads if self._device.type == "cpu" else None
        self._lock = threading.Lock()
        self._compiled = _Compiled(arch, state, self.meta, self._device, source or name)

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint, device: str | torch.device = "cpu") -> "Predictor":
        source = None
        if ckpt.path is not None:
            from ..io.outputs import is_shipped

            source = ckpt.name if is_shipped(ckpt.path) else str(ckpt.path)
        return cls(ckpt.arch, ckpt.state, meta=ckpt.meta, name=ckpt.name, device=device,
                   source=source)

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> "Predictor":
        """Load a .safetensors model file; any problem raises CheckpointError."""
        return cls.from_checkpoint(load_checkpoint(path), device=device)

    @classmethod
    def shipped(cls, arch: str = "digitnet", device: str | torch.device = "cpu") -> "Predictor":
        """The model that ships with digitpad (resources/<arch>.safetensors)."""
        if arch not in MODEL_NAMES:
            raise CheckpointError(f"Unknown architecture {arch!r}; digitpad knows {', '.join(MODEL_NAMES)}.",
                                  None, "architecture")
        path = shipped_model_path(arch)
        if not os.path.exists(path):
            raise CheckpointError(
                f"The shipped {arch} model is not installed (expected {path}). Train it with "
                f"scripts/train_shipped.py --models {arch}, or open a model file instead.",
                path, "missing")
        return cls.from_file(path, device=device)

    # --- properties ---------------------------------------------------------------------

    @property
    def arch(self) -> str:
        return self._arch

    @property
    def name(self) -> str:
        return self._name or self.meta.get("name") or self._arch

    @name.setter
    def name(self, value: str | None) -> None:
        self._name = value

    @property
    def test_acc(self) -> float | None:
        acc = self.meta.get("test_acc")
        return float(acc) if acc is not None else None

    @property
    def device(self) -> torch.device:
        return self._device

    # --- weights --------------------------------------------------------------------------

    def set_state(self, state: dict[str, torch.Tensor], meta: dict | None = None) -> None:
        """Use new weights (copied). A prediction running meanwhile finishes with the old ones."""
        # built outside the lock
        compiled = _Compiled(self._arch, state, self.meta if meta is None else dict(meta),
                             self._device, self.name)
        with self._lock:
            self._compiled = compiled
            if meta is not None:
                self.meta = dict(meta)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """A copy of the weights as given (batch norm not folded), on the CPU."""
        with self._lock:
            compiled = self._compiled
        return {k: v.clone() for k, v in compiled.state.items()}

    def kernels(self) -> dict[str, np.ndarray]:
        """Conv layer name -> weight (out, in, kh, kw) as float32 arrays (a copy)."""
        with self._lock:
            compiled = self._compiled
        return {k: v.copy() for k, v in compiled.kernels.items()}

    def _current(self) -> _Compiled:
        with self._lock:
            return self._compiled

    # --- predicting -----------------------------------------------------------------------

    def predict(self, image: ImageInput | Preprocessed, with_maps: bool = True) -> Prediction:
        """Preprocess ``image`` (unless it already is) and predict, with every feature map."""
        pre = image if isinstance(image, Preprocessed) else preprocess(image)
        if pre.empty or pre.image is None:
            return empty_prediction(pre)
        c = self._current()
        x = torch.from_numpy(np.ascontiguousarray(pre.image, dtype=np.float32)).view(1, 1, 28, 28)
        with torch_threads(self.threads), torch.inference_mode():
            x = x.to(self._device)
            if with_maps:
                logits, feats = c.model.forward_features(x)
            else:
                logits, feats = c.model.logits(x), {}
            probs = torch.softmax(logits.float(), dim=1)[0].cpu().numpy()
            maps = OrderedDict((k, _to_numpy(v[0])) for k, v in feats.items())
        return make_prediction(pre, refuse_non_finite(probs, self._source or self.name), maps)

    def predict_batch(self, images: Iterable[ImageInput | Preprocessed],
                      batch_size: int = 256) -> list[Prediction]:
        """Predictions for many images, in order; the forward pass is batched.

        Feature maps and preprocessing steps are left out (they would cost memory per image).
        An unreadable image raises (ImageError) like :meth:`predict` does.
        """
        pres = [im if isinstance(im, Preprocessed) else preprocess(im, keep_steps=False) for im in images]
        todo = [i for i, p in enumerate(pres) if not (p.empty or p.image is None)]
        out: list[Prediction | None] = [None] * len(pres)
        for i, p in enumerate(pres):
            if p.empty or p.image is None:
                out[i] = empty_prediction(p, steps=False)
        if todo:
            probs = self.probs_batch(np.stack([pres[i].image for i in todo]), batch_size)
            for row, i in enumerate(todo):
                out[i] = make_prediction(pres[i], probs[row], OrderedDict(), steps=False)
        return out  # type: ignore[return-value]

    def probs_batch(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Probabilities (N, 10) float32 for a batch (N, 28, 28) of preprocessed images in
        [0, 1], ink bright: the number reader's ``Classify``, and :meth:`predict_batch`'s pass."""
        images = np.asarray(images, np.float32)
        out = np.zeros((images.shape[0], 10), np.float32)
        if images.shape[0] == 0:
            return out
        c = self._current()
        batch_size = max(1, int(batch_size))
        with torch.inference_mode():
            for start in range(0, images.shape[0], batch_size):
                x = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size]))
                x = x.unsqueeze(1).to(self._device).contiguous(memory_format=c.memory_format)
                out[start:start + x.shape[0]] = torch.softmax(c.model.logits(x).float(), dim=1).cpu().numpy()
        return refuse_non_finite(out, self._source or self.name)

    def __repr__(self) -> str:
        acc = f", test_acc={self.test_acc:.4f}" if self.test_acc is not None else ""
        return f"Predictor({self._arch!r}, name={self.name!r}{acc}, device={str(self._device)!r})"


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    # channels-last maps come back as strided views; the app wants plain C-ordered arrays
    return t.detach().to("cpu").float().contiguous().numpy()


def open_predictor(path: str | os.PathLike, input: str | None = None, data_dir=None):
    """The one way a model file becomes something that predicts: a digitpad file or a user's
    own state dict (a :class:`Predictor`), or an ONNX model (an ``OnnxPredictor``);
    ``input`` overrides a foreign model's scored input convention."""
    return open_model_file(path, input, data_dir)[0]


def open_model_file(path: str | os.PathLike, input: str | None = None, data_dir=None,
                    remember: bool = False):
    """(predictor, checkpoint or None for ONNX) of a model file: what :func:`open_predictor`
    gives, plus the checkpoint a torch model came from (the app saves, trains and teaches it).
    ``remember``: the chosen ``input`` is recorded for the file (the app's Input box)."""
    from pathlib import Path

    from ..nets.foreign import choose_input, set_input

    pick = choose_input if remember else set_input
    if Path(path).suffix.lower() == ".onnx":
        from .onnx_predict import open_onnx

        pred = open_onnx(path, None if remember else input, data_dir)
        if input and remember:
            pred.meta = pick(pred.meta, input)
        return pred, None
    ckpt = load_checkpoint(path, data_dir=data_dir)
    if input:
        ckpt.meta = pick(ckpt.meta, input)
    return Predictor.from_checkpoint(ckpt), ckpt
