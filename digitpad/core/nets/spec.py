"""What each network is, as data: its layers, and everything that follows from them.

The one description of every architecture. The torch modules (:mod:`.models`), the numpy
forward pass (:mod:`digitpad.core.reading.numpy_predict`), the receptive-field arithmetic
(:mod:`digitpad.core.insight.explain`), the Lab's size chains and parameter table and every
parameter count shown anywhere are derived from :data:`SPECS`; nothing here imports torch, so the
window, the model picker and the numpy reader can use it before torch has loaded.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

# MNIST's pixel mean and standard deviation (ink bright, values in [0, 1]): every model
# normalises its input with these.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
SIDE = 28  # every model reads one 28x28 grey image
CLASSES = 10
BN_EPS = 1e-5  # torch.nn.BatchNorm2d's default


@dataclass(frozen=True)
class Layer:
    """One step of a network's forward pass.

    kind: "conv" (2-D convolution), "pool" (max pool), "gap" (global average pool, flattens),
    "fc" (fully connected; flattens a 2-D input first) or "dropout" (training only).
    ``shown``: its output is one of the model's named intermediates (the feature maps the
    app draws, ``forward_features``' dict). ``batch_norm``: a conv without bias followed by
    BatchNorm2d, stored as ``NAME.0`` (conv) and ``NAME.1`` (norm) in the weights.
    """

    name: str
    kind: str
    out: int = 0  # output channels (conv) or features (fc)
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    relu: bool = False
    batch_norm: bool = False
    shown: bool = True
    p: float = 0.0  # dropout probability

    @property
    def spatial(self) -> bool:
        """A layer with a window sliding over a 2-D input (receptive-field arithmetic)."""
        return self.kind in ("conv", "pool")


@dataclass(frozen=True)
class Spec:
    name: str
    summary: str  # the description, without the parameter count (derived)
    layers: tuple[Layer, ...]

    @property
    def description(self) -> str:
        return f"{self.summary}, {parameter_count(self.name):,} parameters"


def _conv(name, out, k, padding=0, bn=False):
    return Layer(name, "conv", out, k, 1, padding, relu=True, batch_norm=bn)


def _pool(name):
    return Layer(name, "pool", kernel=2, stride=2)


def _fc(name, out, relu=True):
    return Layer(name, "fc", out, relu=relu, shown=relu)


SPECS: dict[str, Spec] = {
    # The lesson's LeNet exactly: conv 5x5 (1->6) -> pool -> conv 5x5 (6->16) -> pool -> 120 -> 84 -> 10
    "lenet": Spec("lenet", "The lesson's LeNet: two 5x5 conv layers", (
        _conv("conv1", 6, 5), _pool("pool1"), _conv("conv2", 16, 5), _pool("pool2"),
        _fc("fc1", 120), _fc("fc2", 84), _fc("fc3", CLASSES, relu=False))),
    # The lesson's dense baseline: 784 -> 512 -> 512 -> 10
    "dense": Spec("dense", "Dense baseline: 784-512-512-10, no convolutions", (
        _fc("fc1", 512), _fc("fc2", 512), _fc("fc3", CLASSES, relu=False))),
    # digitpad's default, a small VGG-style CNN kept fast on a CPU: 28 -> 14 -> 7 -> 5 -> 1
    "digitnet": Spec("digitnet", "digitpad's CNN: five 3x3 conv layers with batch norm", (
        _conv("conv1", 32, 3, 1, bn=True), _conv("conv2", 32, 3, 1, bn=True), _pool("pool1"),
        _conv("conv3", 64, 3, 1, bn=True), _conv("conv4", 64, 3, 1, bn=True), _pool("pool2"),
        _conv("conv5", 128, 3, 0, bn=True), Layer("gap", "gap"),
        Layer("dropout", "dropout", shown=False, p=0.1), _fc("fc", CLASSES, relu=False))),
}

MODEL_NAMES: tuple[str, ...] = tuple(SPECS)


class UnknownModelError(ValueError):
    pass


def spec(name: str) -> Spec:
    try:
        return SPECS[name]
    except KeyError:
        raise UnknownModelError(
            f"Unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}") from None


def window_output(n: int, k: int, stride: int = 1, padding: int = 0) -> int:
    """Output side of a k-wide window sliding over n inputs: (n - k + 2p) // s + 1."""
    return (n + 2 * padding - k) // stride + 1


# --- shapes and weights -----------------------------------------------------------------------

def walk(name: str) -> list[tuple[Layer, tuple[int, ...], tuple[int, ...]]]:
    """[(layer, input shape, output shape)] per sample: (C, H, W) for 2-D, (N,) once flat."""
    shape: tuple[int, ...] = (1, SIDE, SIDE)
    rows = []
    for layer in spec(name).layers:
        if layer.kind == "conv":
            side = window_output(shape[1], layer.kernel, layer.stride, layer.padding)
            out = (layer.out, side, window_output(shape[2], layer.kernel, layer.stride, layer.padding))
        elif layer.kind == "pool":
            out = (shape[0], shape[1] // layer.stride, shape[2] // layer.stride)
        elif layer.kind == "gap":
            out = (shape[0],)
        elif layer.kind == "fc":
            out = (layer.out,)
        else:
            out = shape
        rows.append((layer, shape, out))
        shape = out
    return rows


def feature_shapes(name: str) -> "OrderedDict[str, tuple[int, ...]]":
    """Names and per-sample shapes of a model's shown intermediates, in order."""
    return OrderedDict((layer.name, out) for layer, _, out in walk(name) if layer.shown)


def _flat(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def weight_shapes(name: str) -> "OrderedDict[str, tuple[int, ...]]":
    """Every tensor of the model's weights (state dict key -> shape), in the torch modules' order.

    Batch norm's ``num_batches_tracked`` counter (an int64 scalar) is included: the files hold it.
    """
    out: OrderedDict[str, tuple[int, ...]] = OrderedDict()
    for layer, shape_in, _ in walk(name):
        n = layer.name
        if layer.kind == "conv":
            w = (layer.out, shape_in[0], layer.kernel, layer.kernel)
            if layer.batch_norm:
                out[f"{n}.0.weight"] = w
                for part in ("weight", "bias", "running_mean", "running_var"):
                    out[f"{n}.1.{part}"] = (layer.out,)
                out[f"{n}.1.num_batches_tracked"] = ()
            else:
                out[f"{n}.weight"], out[f"{n}.bias"] = w, (layer.out,)
        elif layer.kind == "fc":
            out[f"{n}.weight"], out[f"{n}.bias"] = (layer.out, _flat(shape_in)), (layer.out,)
    return out


def parameter_rows(name: str) -> list[tuple[str, str, int]]:
    """Trainable parameters per layer as (layer, arithmetic, count), e.g.
    ("conv1", "1·5·5·6 weights + 6 biases", 156)."""
    rows = []
    for layer, shape_in, _ in walk(name):
        if layer.kind == "conv":
            cin, k, c = shape_in[0], layer.kernel, layer.out
            if layer.batch_norm:
                rows.append((layer.name, f"{cin}·{k}·{k}·{c} weights + {c}·2 batch-norm scales and shifts",
                             cin * k * k * c + 2 * c))
            else:
                rows.append((layer.name, f"{cin}·{k}·{k}·{c} weights + {c} biases", cin * k * k * c + c))
        elif layer.kind == "fc":
            fin = _flat(shape_in)
            rows.append((layer.name, f"{fin}·{layer.out} weights + {layer.out} biases",
                         fin * layer.out + layer.out))
    return rows


def parameter_count(name: str) -> int:
    return sum(count for *_, count in parameter_rows(name))


def spatial_layers(name: str) -> list[tuple[str, int, int, int]]:
    """(name, kernel, stride, padding) of every 2-D windowed layer, in order."""
    return [(l.name, l.kernel, l.stride, l.padding) for l in spec(name).layers if l.spatial]


def conv_names(name: str) -> list[str]:
    return [l.name for l in spec(name).layers if l.kind == "conv"]


def kernel_key(name: str, layer: str) -> str:
    """The weights' key of a conv layer's kernels (out, in, kh, kw)."""
    (lay,) = [l for l in spec(name).layers if l.name == layer and l.kind == "conv"]
    return f"{layer}.0.weight" if lay.batch_norm else f"{layer}.weight"


DESCRIPTIONS: dict[str, str] = {n: SPECS[n].description for n in MODEL_NAMES}


def probe_images():
    """(3, 28, 28) float32: blank, full and a bar: inputs every usable model reads with finite
    outputs. Finite weights can still overflow (fc1 x 1e38): torch's builder refuses a model
    that does on any of the three; the numpy reader runs only the bar (the one input that
    sets every layer to work) and, when that overflows, leaves the file to the torch path,
    which refuses it with a sentence. Outputs at use are checked too
    (``reading.prediction.refuse_non_finite``)."""
    import numpy as np

    images = np.zeros((3, SIDE, SIDE), np.float32)
    images[1] = 1.0
    images[2, 4:24, 12:16] = 1.0
    return images
