"""Predicting without torch: the shipped architectures' forward pass in numpy.

Importing torch takes seconds on a cold disk (its libraries are hundreds of megabytes), so the
app reads the first drawing with this while torch loads in the background, then hands over
to :class:`digitpad.core.reading.predict.Predictor`. Same weights, same ``Prediction`` (probabilities
and every feature map); ``tests/core/test_numpy_predict.py`` holds the two to within float
rounding for every architecture. Eval mode only: batch norm folded, dropout off.
"""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..nets import spec as specs
from ..nets.spec import BN_EPS, DESCRIPTIONS, MNIST_MEAN, MNIST_STD
from ..io.files import MAX_MODEL_BYTES, MODEL_FORMAT, load_json
from .prediction import Prediction, empty_prediction, make_prediction, refuse_non_finite
from ..data.preprocess import ImageInput, Preprocessed, preprocess

__all__ = ["NumpyPredictor", "load_file", "load_shipped"]


def _shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """What the file must hold for numpy: the spec's weights less batch norm's step counter."""
    return {k: v for k, v in specs.weight_shapes(arch).items() if not k.endswith("num_batches_tracked")}


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int, stride: int = 1) -> np.ndarray:
    """Cross-correlation of a batch (N, H, W, C), channels last, with (O, C, k, k) kernels.

    The k*k shifted views side by side make one (N*OH*OW, k*k*C) matrix for a single
    product: three times faster than im2col over channels-first windows, batch or not.
    """
    return _conv_mat(x, _kernel_matrix(w), b, w.shape[2], pad, stride)


def _kernel_matrix(w: np.ndarray) -> np.ndarray:
    """(O, C, k, k) kernels as the (k*k*C, O) matrix :func:`_conv_mat` multiplies by, C-ordered:
    a strided view there (one input channel) sends numpy's product off BLAS, ten times slower."""
    o, c, k, _ = w.shape
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(k * k * c, o))


# the shifted views of this many bytes at a time: a batch's whole (N*OH*OW, k*k*C) matrix
# (11 MB for 12 candidates at conv2) leaves the cache between building and multiplying;
# 4 MB pieces read a canvas's 6-30 candidates 1.3-1.6x faster
COLS_BYTES = 4 << 20
# a batch up to this size keeps its maps until the next (~0.35 MB an image for digitnet)
RECENT_BATCH = 64


def _conv_mat(x: np.ndarray, wm: np.ndarray, b: np.ndarray, k: int, pad: int, stride: int = 1) -> np.ndarray:
    """:func:`_conv` with the kernels already as :func:`_kernel_matrix` gives them."""
    n, h, wd, c = x.shape
    if pad:  # into zeros made once: np.pad costs more than the copy
        padded = np.zeros((n, h + 2 * pad, wd + 2 * pad, c), x.dtype)
        padded[:, pad:pad + h, pad:pad + wd] = x
        x, h, wd = padded, h + 2 * pad, wd + 2 * pad
    oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
    kk = k * k * c
    step = max(1, min(n, COLS_BYTES // max(1, oh * ow * kk * x.itemsize)))
    cols = np.empty((step, oh, ow, kk), x.dtype)
    out = np.empty((n, oh, ow, wm.shape[1]), np.result_type(x, wm))
    for i in range(0, n, step):
        m = min(step, n - i)
        xs = x[i:i + m]
        for dy in range(k):
            for dx in range(k):
                j = (dy * k + dx) * c
                cols[:m, ..., j:j + c] = xs[:, dy:dy + (oh - 1) * stride + 1:stride,
                                            dx:dx + (ow - 1) * stride + 1:stride]
        np.matmul(cols[:m].reshape(-1, kk), wm, out=out[i:i + m].reshape(-1, wm.shape[1]))
    out += b  # in place: a second array of the output's size costs as much as the product's tail
    return out


def _pool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    n, h, w, c = x.shape
    if k == s:
        oh, ow = h // s, w // s
        return x[:, :oh * s, :ow * s].reshape(n, oh, s, ow, s, c).max(axis=(2, 4))
    return sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s].max(axis=(4, 5))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def _per_image(x: np.ndarray) -> np.ndarray:
    """One batch row of an intermediate as the maps are shown: (C, H, W) or (N,)."""
    return x.transpose(2, 0, 1) if x.ndim == 3 else x


class NumpyPredictor:
    """A shipped-format model run with numpy: ``predict`` like ``Predictor.predict``."""

    def __init__(self, arch: str, state: dict[str, np.ndarray], meta: dict | None = None,
                 name: str | None = None) -> None:
        if arch not in specs.SPECS:
            raise ValueError(f"no numpy forward pass for {arch!r}")
        want = _shapes(arch)
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
        self._recent: tuple | None = None  # the last small batch: its images, logits and maps
        self._mats = {n: (_kernel_matrix(w), b, w.shape[2]) for n, (w, b) in self._layers.items() if w.ndim == 4}

    @property
    def name(self) -> str:
        return self._name or self.meta.get("name") or self.arch

    @property
    def test_acc(self) -> float | None:
        acc = self.meta.get("test_acc")
        return float(acc) if isinstance(acc, (int, float)) and not isinstance(acc, bool) else None

    def _fold(self, s: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for layer in specs.spec(self.arch).layers:
            n = layer.name
            if layer.kind == "conv" and layer.batch_norm:
                scale = s[f"{n}.1.weight"] / np.sqrt(s[f"{n}.1.running_var"] + BN_EPS)
                out[n] = (s[f"{n}.0.weight"] * scale[:, None, None, None],
                          s[f"{n}.1.bias"] - s[f"{n}.1.running_mean"] * scale)
            elif layer.kind in ("conv", "fc"):
                out[n] = (s[f"{n}.weight"], s[f"{n}.bias"])
        return out

    def kernels(self) -> dict[str, np.ndarray]:
        """Conv layer name -> weight (out, in, kh, kw), as the file holds it (a copy)."""
        return {n: self._raw[specs.kernel_key(self.arch, n)].copy() for n in specs.conv_names(self.arch)}

    def feature_shapes(self) -> "OrderedDict[str, tuple[int, ...]]":
        """Names and shapes of the intermediates (the spec's)."""
        return specs.feature_shapes(self.arch)

    def forward(self, image: np.ndarray) -> tuple[np.ndarray, "OrderedDict[str, np.ndarray]"]:
        """(logits (10,), intermediates) for one 28x28 image in [0, 1], ink bright."""
        logits, f = self._forward(np.asarray(image, np.float32)[None], keep=True)
        return logits[0], OrderedDict((k, _per_image(v[0])) for k, v in f.items())

    def probs_batch(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10) float32 for a batch (N, 28, 28) in [0, 1], ink bright:
        the number reader's ``Classify``."""
        images = np.asarray(images, np.float32)
        if images.shape[0] == 0:
            return np.zeros((0, 10), np.float32)
        keep = images.shape[0] <= RECENT_BATCH
        logits, f = self._forward(images, keep=keep)
        # the pass computes every map anyway: kept, the canvas's chosen digit (one of these
        # candidates) gets its maps from predict() without a second pass
        self._recent = (images.copy(), logits, f) if keep else None
        z = logits.astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
        return refuse_non_finite(p, self.name)

    def _recent_row(self, image: np.ndarray):
        """``forward(image)`` from the last batch when it held this very image, else None.
        Read once: a worker's next batch may replace it meanwhile."""
        recent = self._recent
        if recent is None:
            return None
        images, logits, f = recent
        image = np.asarray(image, np.float32)
        if image.shape != images.shape[1:]:
            return None
        rows = np.flatnonzero((images == image).all(axis=(1, 2)))
        if len(rows) == 0:
            return None
        i = int(rows[0])
        return logits[i], OrderedDict((k, _per_image(v[i])) for k, v in f.items())

    def _forward(self, images: np.ndarray, keep: bool) -> tuple[np.ndarray, "OrderedDict[str, np.ndarray]"]:
        """The one forward pass: a batch (N, 28, 28) -> logits (N, 10) and, with ``keep``,
        each shown intermediate with its batch axis (channels last)."""
        with np.errstate(over="ignore", invalid="ignore"):  # refuse_non_finite says it once
            return self._forward_all(images, keep)

    def _forward_all(self, images: np.ndarray, keep: bool):
        L = self._layers
        f: OrderedDict[str, np.ndarray] = OrderedDict()
        x = ((images - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD))[..., None]
        for layer in specs.spec(self.arch).layers:
            if layer.kind == "conv":
                x = _conv_mat(x, *self._mats[layer.name], layer.padding, layer.stride)
            elif layer.kind == "pool":
                x = _pool(x, layer.kernel, layer.stride)
            elif layer.kind == "gap":
                x = x.mean(axis=(1, 2))
            elif layer.kind == "fc":
                w, b = L[layer.name]
                if x.ndim == 4:  # flattened channels first, as torch does
                    x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)
                x = x @ w.T + b
            if layer.relu:
                x = _relu(x)
            if keep and layer.shown:
                f[layer.name] = x
        return x, f

    def predict(self, image: ImageInput | Preprocessed, with_maps: bool = True) -> Prediction:
        """Preprocess ``image`` (unless it already is) and predict, with every feature map."""
        pre = image if isinstance(image, Preprocessed) else preprocess(image)
        if pre.empty or pre.image is None:
            return empty_prediction(pre)
        logits, maps = self._recent_row(pre.image) or self.forward(pre.image)
        z = logits.astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            p = np.exp(z - z.max())
            p = p / p.sum()
        maps = OrderedDict((k, np.ascontiguousarray(v, np.float32)) for k, v in maps.items()) \
            if with_maps else OrderedDict()
        return make_prediction(pre, refuse_non_finite(p.astype(np.float32), self.name), maps)

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
            meta = load_json(header.get("meta", "{}"))
            if not isinstance(meta, dict) or (meta.get("config") or {}).get("permute"):
                return None  # a --permute model's PixelOrder input layer exists only in torch (builder)
            state = {k: f.get_tensor(k) for k in f.keys()}
        quick = NumpyPredictor(header.get("arch", ""), state, meta)
        # finite weights can still give non-finite outputs (fc1 x 1e38): left to the torch
        # path, which refuses such a file with a sentence
        # one forward of the stroke-like probe (the last), the one image that sets every layer
        # to work: three would triple what this costs the window's first drawing
        with np.errstate(all="ignore"):  # the overflow is the answer, not a warning to print
            finite = bool(np.isfinite(quick.forward(specs.probe_images()[-1])[0]).all())
        return quick if finite else None
    except Exception:  # damaged, truncated, foreign: all left to the torch path's messages
        return None


def load_shipped(arch: str) -> NumpyPredictor | None:
    """The shipped model of ``arch`` (resources/<arch>.safetensors) for numpy, or None."""
    from ..io.paths import resource_path

    return load_file(resource_path(f"{arch}.safetensors"), arch)
