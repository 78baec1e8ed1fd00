"""The convolution lab: the lesson's arithmetic, taken one window at a time.

The one home of the lesson's numbers: the output-size formula, the classic hand-made kernels,
and the worked examples (:func:`lesson_report`), which the Help page and ``digitpad lesson``
both read. Every number comes from torch's ``conv2d`` / ``max_pool2d``, the code the models run;
the per-window products are listed beside it so a learner can follow the sum. torch (like every
deep-learning library) slides the kernel unflipped, i.e. computes cross-correlation; the
lesson's formula flips it (true convolution). :func:`correlate_steps` does both: ``flip=True``
is the same sliding with the kernel rotated by 180 degrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..nets.spec import parameter_rows, spec

__all__ = ["output_size", "KERNELS", "apply_kernel", "LESSON_RESULTS", "Step", "LabResult",
           "correlate_steps", "pool_steps", "SizeLayer", "chain_sizes", "SIZE_PRESETS",
           "PHOTO_7X7", "CONV3_POOL2", "model_chain", "lenet_parameters", "kernel_presets",
           "filter_image", "WORKED_IMAGE", "WORKED_KERNEL", "FLIP_NOTE", "lesson_report", "lesson_text"]


def output_size(in_: int, k: int, pad: int = 0, stride: int = 1) -> int:
    """Side of a conv or pool output: (in - k + 2*pad) / stride + 1, rounded down as torch does."""
    if in_ < 1 or k < 1 or pad < 0 or stride < 1:
        raise ValueError("sizes and stride must be positive and padding non-negative")
    span = in_ - k + 2 * pad
    if span < 0:
        raise ValueError(f"a {k}x{k} window does not fit in {in_} pixels with padding {pad}")
    return span // stride + 1


# The classic hand-made kernels a person can try on a drawing before seeing what a trained
# network learned instead: (kh, kw) float tensors, applied as cross-correlation like conv2d.
KERNELS: dict[str, torch.Tensor] = {
    "box blur": torch.full((3, 3), 1.0 / 9.0),
    "sharpen": torch.tensor([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]),
    "sobel x": torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]),
    "sobel y": torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]),
}


def apply_kernel(image: torch.Tensor, kernel: torch.Tensor, pad: int = 0, stride: int = 1) -> torch.Tensor:
    """One 2-D image (H, W) filtered by one kernel (kh, kw) -> (H', W')."""
    x = image.to(torch.float32)[None, None]
    w = kernel.to(torch.float32)[None, None]
    return F.conv2d(x, w, padding=pad, stride=stride)[0, 0]


# The lesson's own runs, quoted as history (they are measurements, not computations).
LESSON_RESULTS = {
    "dense_10_epochs": 0.942,
    "lenet_sgd_5_epochs": 0.301,
    "lenet_sgd_100_epochs": 0.978,
}

WORKED_IMAGE = np.arange(9, dtype=np.float32).reshape(3, 3)
WORKED_KERNEL = np.array([[0.0, 1.0], [2.0, 3.0]], dtype=np.float32)

FLIP_NOTE = (
    "Networks (torch's Conv2d included) slide the kernel as it is: cross-correlation. True "
    "convolution rotates the kernel by 180 degrees first. For a learned kernel it makes no "
    "difference: training would simply learn the rotated weights, and the network computes the "
    "same function. It only matters when you hand-write a kernel from a textbook formula.")


@dataclass(frozen=True)
class Step:
    """One window position: output cell (row, col), window top-left in the padded image."""

    row: int
    col: int
    top: int
    left: int
    patch: np.ndarray  # the window's values (kh, kw); -inf where pool padding is
    products: np.ndarray | None  # patch * kernel for a convolution, None for a pool
    value: float  # the output cell, from torch
    formula: str  # "0·0 + 1·1 + 3·2 + 4·3 = 19", or "max(0, 1, 3, 4) = 4"


def _num(v: float) -> str:
    if np.isneginf(v):
        return "-∞"
    return str(int(v)) if float(v).is_integer() else f"{v:.3g}"


@dataclass
class LabResult:
    """A whole sliding: the padded input, the kernel actually slid, the output, every step."""

    kind: str  # "cross-correlation", "convolution" or "max-pool"
    padded: np.ndarray
    kernel: np.ndarray | None  # as slid (already flipped for a true convolution)
    size: tuple[int, int]  # window (kh, kw)
    padding: int
    stride: int
    output: np.ndarray
    steps: list[Step] = field(default_factory=list)


def _as_2d(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"the {name} must be a non-empty 2-D grid of numbers")
    return a


def _check(image: np.ndarray, kh: int, kw: int, padding: int, stride: int) -> tuple[int, int]:
    return (output_size(image.shape[0], kh, padding, stride),
            output_size(image.shape[1], kw, padding, stride))


def correlate_steps(image, kernel, padding: int = 0, stride: int = 1, flip: bool = False) -> LabResult:
    """Slide ``kernel`` over ``image`` (zero padding), listing each window, products and sum.

    ``flip=False`` is what networks compute (cross-correlation); ``flip=True`` is the lesson's
    true convolution. The output is torch's ``conv2d``; the steps' sums match it.
    """
    img = _as_2d(image, "image")
    ker = _as_2d(kernel, "kernel")
    if flip:
        ker = ker[::-1, ::-1].copy()
    kh, kw = ker.shape
    _check(img, kh, kw, padding, stride)
    out = F.conv2d(torch.from_numpy(img)[None, None], torch.from_numpy(ker)[None, None],
                   padding=padding, stride=stride)[0, 0].numpy()
    padded = np.pad(img, padding)
    steps = []
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            top, left = r * stride, c * stride
            patch = padded[top:top + kh, left:left + kw].copy()
            value = float(out[r, c])
            text = " + ".join(f"{_num(a)}·{_num(b)}" for a, b in zip(patch.ravel(), ker.ravel()))
            steps.append(Step(r, c, top, left, patch, patch * ker, value, f"{text} = {_num(value)}"))
    kind = "convolution" if flip else "cross-correlation"
    return LabResult(kind, padded, ker, (kh, kw), padding, stride, out, steps)


def pool_steps(image, size: int = 2, stride: int | None = None, padding: int = 0) -> LabResult:
    """Max-pool ``image`` with a size x size window; padding counts as -inf, as in torch."""
    img = _as_2d(image, "image")
    stride = size if stride is None else stride
    if padding > size // 2:
        raise ValueError("pool padding can be at most half the window (as in torch)")
    _check(img, size, size, padding, stride)
    out = F.max_pool2d(torch.from_numpy(img)[None, None], size, stride=stride,
                       padding=padding)[0, 0].numpy()
    padded = np.pad(img, padding, constant_values=-np.inf)
    steps = []
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            top, left = r * stride, c * stride
            patch = padded[top:top + size, left:left + size].copy()
            value = float(out[r, c])
            text = f"max({', '.join(_num(v) for v in patch.ravel())}) = {_num(value)}"
            steps.append(Step(r, c, top, left, patch, None, value, text))
    return LabResult("max-pool", padded, None, (size, size), padding, stride, out, steps)


# --- output sizes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SizeLayer:
    kind: str  # "conv" or "pool"
    k: int
    pad: int = 0
    stride: int = 1
    channels: int | None = None  # conv output channels, for showing shapes

    def label(self) -> str:
        extra = (f" pad {self.pad}" if self.pad else "") + (f" stride {self.stride}" if self.stride != 1 else "")
        return f"{self.kind} {self.k}x{self.k}{extra}"


def chain_sizes(height: int, width: int, layers: list[SizeLayer]) -> list[tuple[str, int, int]]:
    """[(label, h, w)]: the input, then each layer's output; ValueError where a window won't fit."""
    rows = [("input", height, width)]
    h, w = height, width
    for layer in layers:
        try:
            h = output_size(h, layer.k, layer.pad, layer.stride)
            w = output_size(w, layer.k, layer.pad, layer.stride)
        except ValueError as exc:
            raise ValueError(f"{layer.label()}: {exc}") from None
        rows.append((layer.label(), h, w))
    return rows


def _conv(k, pad=0, stride=1, ch=None):
    return SizeLayer("conv", k, pad, stride, ch)


def _pool(k=2, stride=2):
    return SizeLayer("pool", k, 0, stride)


def model_chain(arch: str) -> list[SizeLayer]:
    """A CNN's windowed layers as the size calculator's chain, from the model's spec."""
    return [SizeLayer(l.kind, l.kernel, l.padding, l.stride, l.out if l.kind == "conv" else None)
            for l in spec(arch).layers if l.spatial]


# The lesson's cases and the two CNNs, as (input height, input width, layers).
PHOTO_7X7 = "7x7 kernel on a 640x480 photo"
CONV3_POOL2 = "3x3 conv then 2x2 pool on 28x28"
SIZE_PRESETS: dict[str, tuple[int, int, list[SizeLayer]]] = {
    PHOTO_7X7: (480, 640, [_conv(7)]),
    CONV3_POOL2: (28, 28, [_conv(3), _pool()]),
    "LeNet": (28, 28, model_chain("lenet")),
    "digitnet": (28, 28, model_chain("digitnet")),
}


def lenet_parameters() -> list[tuple[str, str, int]]:
    """LeNet's parameters per layer as (layer, arithmetic, count), from the layer sizes alone."""
    return parameter_rows("lenet")


# --- kernels on images ----------------------------------------------------------------------

def kernel_presets(size: int = 3) -> dict[str, np.ndarray]:
    """The classic kernels (box blur, sharpen, Sobel x/y) at 3x3, or centred in a 5x5 grid."""
    out = {}
    for name, k in KERNELS.items():
        k = k.numpy().astype(np.float32)
        if size == 5:
            k = np.full((5, 5), 1 / 25, np.float32) if name == "box blur" else np.pad(k, 1)
        elif size != 3:
            raise ValueError("kernel presets come in 3x3 and 5x5")
        out[name] = k
    return out


def filter_image(image, kernel, same: bool = True) -> np.ndarray:
    """A 2-D image filtered by a kernel (cross-correlation, as a conv layer does).

    ``same`` zero-pads so the result keeps the image's size (odd kernels).

    Computed in numpy, not torch's conv2d: the Lab runs it on the GUI thread at every edit,
    and a torch call there waited for torch's first-call set-up (0.77 s once) and competed
    with a training run's threads; a 28x28 image and a 5x5 kernel take ~0.2 ms either way.
    ``tests/core/test_lab.py`` holds it to conv2d.
    """
    img = _as_2d(image, "image")
    ker = _as_2d(kernel, "kernel")
    ph, pw = (ker.shape[0] // 2, ker.shape[1] // 2) if same else (0, 0)
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(img, ((ph, ph), (pw, pw))),
                                                       ker.shape)
    return np.einsum("ijkl,kl->ij", windows, ker).astype(np.float32)


# --- the lesson as a document (`digitpad lesson`) -------------------------------------------

def lesson_report() -> dict:
    """The lesson's worked examples, computed: what `digitpad lesson --json` prints and what
    the Help page shows (the 3x3 image 0..8 and the 2x2 kernel [[0,1],[2,3]], cross-correlated
    and truly convolved, 2x2 max-pooled with stride 1, and the output sizes the lesson quotes)."""
    corr = correlate_steps(WORKED_IMAGE, WORKED_KERNEL)
    conv = correlate_steps(WORKED_IMAGE, WORKED_KERNEL, flip=True)
    pool = pool_steps(WORKED_IMAGE, 2, stride=1)

    def part(res: LabResult) -> dict:
        return {"output": _ints(res.output), "steps": [s.formula for s in res.steps]}

    params = lenet_parameters()
    return {
        "image": _ints(WORKED_IMAGE),
        "kernel": _ints(WORKED_KERNEL),
        "cross_correlation": part(corr),
        "convolution": {"flipped_kernel": _ints(conv.kernel), **part(conv)},
        "max_pool": {"size": 2, "stride": 1, **part(pool)},
        "which_networks_use": FLIP_NOTE,
        "output_sizes": {name: [{"layer": label, "height": h, "width": w}
                                for label, h, w in chain_sizes(hh, ww, layers)]
                         for name, (hh, ww, layers) in SIZE_PRESETS.items()},
        "lenet_parameters": {"layers": [{"layer": n, "arithmetic": a, "count": c} for n, a, c in params],
                             "total": sum(c for *_, c in params)},
    }


def _ints(a: np.ndarray) -> list:
    return [[int(v) if float(v).is_integer() else float(v) for v in row] for row in a]


def lesson_text(doc: dict) -> str:
    """The report as the lesson would write it on the board."""
    def grid(rows: list) -> list[str]:
        width = max(len(str(v)) for r in rows for v in r)
        return ["  " + " ".join(f"{v:>{width}}" for v in r) for r in rows]

    out = ["The 3x3 image 0..8:", *grid(doc["image"]), "the 2x2 kernel:", *grid(doc["kernel"]), ""]
    for key, title in (("cross_correlation", "Cross-correlation (what torch's Conv2d computes)"),
                       ("convolution", "True convolution (the kernel rotated 180 degrees first)")):
        part = doc[key]
        out.append(title + ":")
        if "flipped_kernel" in part:
            out += ["  kernel as slid:", *("  " + line for line in grid(part["flipped_kernel"]))]
        out += [f"  {s}" for s in part["steps"]] + ["  output:", *("  " + line for line in grid(part["output"]))] + [""]
    out += ["Max-pool 2x2, stride 1:", *(f"  {s}" for s in doc["max_pool"]["steps"]),
            "  output:", *("  " + line for line in grid(doc["max_pool"]["output"])), ""]
    out += ["Which one networks use: " + doc["which_networks_use"], ""]
    out.append("Output sizes (width x height), (in - k + 2*pad) / stride + 1:")
    for name, rows in doc["output_sizes"].items():
        out.append(f"  {name}: " + " -> ".join(f"{r['width']}x{r['height']}" for r in rows))
    out += ["", "LeNet's parameters:"]
    for r in doc["lenet_parameters"]["layers"]:
        out.append(f"  {r['layer']:<6}{r['arithmetic']:<34}{r['count']:>8,}")
    out.append(f"  {'total':<40}{doc['lenet_parameters']['total']:>8,}")
    return "\n".join(out)
