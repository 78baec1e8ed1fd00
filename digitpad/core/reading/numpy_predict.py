"""Predicting without torch: the shipped architectures' forward pass in numpy.

Importing torch takes seconds on a cold disk (its libraries are hundreds of megabytes), so the
app reads the first drawing with this while torch loads in the background, then hands over
to :class:`digitpad.core.reading.predict.Predictor`. Same weights, same ``Prediction`` (probabilities
and every feature map); ``tests/core/test_numpy_predict.py`` holds the two to within float
rounding for every architecture. Eval mode only: batch norm folded, dropout off.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..nets.arch import DESCRIPTIONS, MNIST_MEAN, MNIST_STD
from ..io.files import MAX_MODEL_BYTES, MODEL_FORMAT
from .prediction import Prediction, empty_prediction, make_prediction
from ..data.preprocess import ImageInput, Preprocessed, preprocess

__all__ = ["NumpyPredictor", "load_file", "load_shipped"]

BN_EPS = 1e-5  # torch.nn.BatchNorm2d's default, which DigitNet uses

# parameter name -> shape, per architecture (what the file must hold)
_SHAPES: dict[str, dict[str, tuple[int, ...]]] = {
    "lenet": {"conv1.weight": (6, 1, 5, 5), "conv1.bias": (6,), "conv2.weight": (16, 6, 5, 5),
              "conv2.bias": (16,), "fc1.weight": (120, 256), "fc1.bias": (120,),
              "fc2.weight": (84, 120), "fc2.bias": (84,), "fc3.weight": (10, 84), "fc3.bias": (10,)},
    "dense": {"fc1.weight": (512, 784), "fc1.bias": (512,), "fc2.weight": (512, 512),
              "fc2.bias": (512,), "fc3.weight": (10, 512), "fc3.bias": (10,)},
    "digitnet": {**{f"conv{i}.0.weight": (o, c, 3, 3) for i, (c, o) in
                    enumerate([(1, 32), (32, 32), (32, 64), (64, 64), (64, 128)], 1)},
                 **{f"conv{i}.1.{p}": (o,) for i, o in enumerate([32, 32, 64, 64, 128], 1)
                    for p in ("weight", "bias", "running_mean", "running_var")},
                 "fc.weight": (10, 128), "fc.bias": (10,)},
}


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> np.ndarray:
    """Cross-correlation of one image (C, H, W) with (O, C, k, k) kernels, stride 1."""
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    o, c, k, _ = w.shape
    win = sliding_window_view(x, (k, k), axis=(1, 2))  # (C, OH, OW, k, k)
    oh, ow = win.shape[1:3]
    cols = win.transpose(1, 2, 0, 3, 4).reshape(oh * ow, c * k * k)
    return (cols @ w.reshape(o, -1).T + b).T.reshape(o, oh, ow)


def _pool(x: np.ndarray) -> np.ndarray:
    c, h, w = x.shape
    return x[:, :h // 2 * 2, :w // 2 * 2].reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


class NumpyPredictor:
    """A shipped-format model run with numpy: ``predict`` like ``Predictor.predict``."""

    def __init__(self, arch: str, state: dict[str, np.ndarray], meta: dict | None = None,
                 name: str | None = None) -> None:
        want = _SHAPES.get(arch)
        if want is None:
            raise ValueError(f"no numpy forward pass for {arch!r}")
        for key, shape in want.items():
            if key not in state or tuple(state[key].shape) != shape:
                raise ValueError(f"{arch}: {key} missing or not {shape}")
            if not np.isfinite(state[key]).all():
                raise ValueError(f"{arch}: {key} holds NaN or infinite values")
        self.arch = arch
        self.meta: dict = dict(meta or {})
        self._name = name
        self.description = DESCRIPTIONS[arch]
        self.device = "cpu"
        self._raw = {k: np.array(state[k], dtype=np.float32) for k in want}
        self._layers = self._fold(self._raw)

    @property
    def name(self) -> str:
        return self._name or self.meta.get("name") or self.arch

    @property
    def test_acc(self) -> float | None:
        acc = self.meta.get("test_acc")
        return float(acc) if isinstance(acc, (int, float)) and not isinstance(acc, bool) else None

    def _fold(self, s: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if self.arch != "digitnet":
            names = {k.rsplit(".", 1)[0] for k in s}
            return {n: (s[f"{n}.weight"], s[f"{n}.bias"]) for n in names}
        out = {"fc": (s["fc.weight"], s["fc.bias"])}
        for i in range(1, 6):
            scale = s[f"conv{i}.1.weight"] / np.sqrt(s[f"conv{i}.1.running_var"] + BN_EPS)
            out[f"conv{i}"] = (s[f"conv{i}.0.weight"] * scale[:, None, None, None],
                               s[f"conv{i}.1.bias"] - s[f"conv{i}.1.running_mean"] * scale)
        return out

    def kernels(self) -> dict[str, np.ndarray]:
        """Conv layer name -> weight (out, in, kh, kw), as the file holds it (a copy)."""
        if self.arch == "lenet":
            return {n: self._raw[f"{n}.weight"].copy() for n in ("conv1", "conv2")}
        if self.arch == "digitnet":
            return {f"conv{i}": self._raw[f"conv{i}.0.weight"].copy() for i in range(1, 6)}
        return {}

    def feature_shapes(self) -> "OrderedDict[str, tuple[int, ...]]":
        """Names and shapes of the intermediates, as ``models.feature_shapes`` gives them."""
        _, maps = self.forward(np.zeros((28, 28), np.float32))
        return OrderedDict((k, v.shape) for k, v in maps.items())

    def forward(self, image: np.ndarray) -> tuple[np.ndarray, "OrderedDict[str, np.ndarray]"]:
        """(logits (10,), intermediates) for one 28x28 image in [0, 1], ink bright."""
        L = self._layers
        f: OrderedDict[str, np.ndarray] = OrderedDict()
        x = ((np.asarray(image, np.float32) - MNIST_MEAN) / MNIST_STD)[None]
        if self.arch == "dense":
            x = f["fc1"] = _relu(L["fc1"][0] @ x.reshape(-1) + L["fc1"][1])
            x = f["fc2"] = _relu(L["fc2"][0] @ x + L["fc2"][1])
            return L["fc3"][0] @ x + L["fc3"][1], f
        if self.arch == "lenet":
            x = f["conv1"] = _relu(_conv(x, *L["conv1"], 0))
            x = f["pool1"] = _pool(x)
            x = f["conv2"] = _relu(_conv(x, *L["conv2"], 0))
            x = f["pool2"] = _pool(x)
            x = f["fc1"] = _relu(L["fc1"][0] @ x.reshape(-1) + L["fc1"][1])
            x = f["fc2"] = _relu(L["fc2"][0] @ x + L["fc2"][1])
            return L["fc3"][0] @ x + L["fc3"][1], f
        x = f["conv1"] = _relu(_conv(x, *L["conv1"], 1))
        x = f["conv2"] = _relu(_conv(x, *L["conv2"], 1))
        x = f["pool1"] = _pool(x)
        x = f["conv3"] = _relu(_conv(x, *L["conv3"], 1))
        x = f["conv4"] = _relu(_conv(x, *L["conv4"], 1))
        x = f["pool2"] = _pool(x)
        x = f["conv5"] = _relu(_conv(x, *L["conv5"], 0))
        x = f["gap"] = x.mean(axis=(1, 2))
        return L["fc"][0] @ x + L["fc"][1], f

    def predict(self, image: ImageInput | Preprocessed, with_maps: bool = True) -> Prediction:
        """Preprocess ``image`` (unless it already is) and predict, with every feature map."""
        pre = image if isinstance(image, Preprocessed) else preprocess(image)
        if pre.empty or pre.image is None:
            return empty_prediction(pre)
        logits, maps = self.forward(pre.image)
        z = logits.astype(np.float64)
        p = np.exp(z - z.max())
        maps = OrderedDict((k, np.ascontiguousarray(v, np.float32)) for k, v in maps.items()) \
            if with_maps else OrderedDict()
        return make_prediction(pre, (p / p.sum()).astype(np.float32), maps)

    def __repr__(self) -> str:
        return f"NumpyPredictor({self.arch!r}, name={self.name!r})"


def load_file(path: str | os.PathLike, arch: str | None = None) -> NumpyPredictor | None:
    """A digitpad model file for numpy, or None when it is unusable here or needs something
    only the torch path has (the torch loader then says what is wrong with it)."""
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > MAX_MODEL_BYTES:
            return None
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            if header.get("format") != MODEL_FORMAT or (arch is not None and header.get("arch") != arch):
                return None
            meta = json.loads(header.get("meta", "{}"))
            if not isinstance(meta, dict) or (meta.get("config") or {}).get("permute"):
                return None  # reshuffled-pixel models need explain's permutation (torch)
            state = {k: f.get_tensor(k) for k in f.keys()}
        return NumpyPredictor(header.get("arch", ""), state, meta)
    except Exception:  # damaged, truncated, foreign: all left to the torch path's messages
        return None


def load_shipped(arch: str) -> NumpyPredictor | None:
    """The shipped model of ``arch`` (resources/<arch>.safetensors) for numpy, or None."""
    from ..io.paths import resource_path

    return load_file(resource_path(f"{arch}.safetensors"), arch)
