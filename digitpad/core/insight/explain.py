"""What a network looks at: receptive fields, why-maps, and the lesson's arguments run live.

- :func:`receptive_field` — the input pixels a unit of a feature map can see, from the layer
  arithmetic (kernel, stride, padding of every layer below it);
- :class:`Explainer` — for one model: occlusion sensitivity and gradient saliency for a class
  (28x28 heatmaps; all occlusion patches go through the network as ONE batch, which is what
  makes it interactive), and a unit's gradient-weighted receptive field;
- :func:`transform_image` / :func:`shift_test` — move, rotate or scale a 28x28 digit with
  preprocessing's centring off, and watch each model's confidence in the true class.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..nets.builder import build
from ..nets.models import DigitModel
from ..nets.spec import MODEL_NAMES, spatial_layers
from .names import NO_MAPS, SHIFT_NAMES


SIDE = 28

# (name, kernel, stride, padding) of every 2-D layer, in order: the receptive-field arithmetic.
LAYERS: dict[str, list[tuple[str, int, int, int]]] = {name: spatial_layers(name) for name in MODEL_NAMES}


class NoFeatureMaps(ValueError):
    pass


def _layers_up_to(arch: str, layer: str) -> list[tuple[str, int, int, int]]:
    layers = LAYERS.get(arch)
    if not layers:
        raise NoFeatureMaps(NO_MAPS if arch == "dense" else f"{arch} has no known 2-D layers")
    names = [name for name, *_ in layers]
    if layer not in names:
        raise ValueError(f"{arch} has no 2-D layer {layer!r}; it has {', '.join(names)}")
    return layers[:names.index(layer) + 1]


@dataclass(frozen=True)
class Box:
    """Input rows top..bottom-1, columns left..right-1 (clipped to the image)."""

    top: int
    left: int
    bottom: int
    right: int
    extent: int  # the unclipped side: how far the unit could see on an unbounded image

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


def receptive_field(arch: str, layer: str, row: int, col: int, side: int = SIDE) -> Box:
    """The input pixels unit (row, col) of ``layer`` depends on.

    Walks the layers downwards: output index range [a, b] of a layer with kernel k, stride s
    and padding p reads input range [a*s - p, b*s - p + k - 1].
    """
    r0 = r1 = row
    c0 = c1 = col
    for _, k, s, p in reversed(_layers_up_to(arch, layer)):
        r0, r1 = r0 * s - p, r1 * s - p + k - 1
        c0, c1 = c0 * s - p, c1 * s - p + k - 1
    return Box(max(r0, 0), max(c0, 0), min(r1 + 1, side), min(c1 + 1, side), r1 - r0 + 1)


def receptive_field_sizes(arch: str) -> "OrderedDict[str, int]":
    """Layer -> unclipped receptive-field side, the number that grows layer by layer."""
    return OrderedDict((name, receptive_field(arch, name, 0, 0, side=10**6).extent)
                       for name, *_ in LAYERS.get(arch, []))


# --- a model to explain ---------------------------------------------------------------------

@dataclass
class WhyMap:
    target: int  # the class explained
    prob: float  # the model's probability of it on the intact image
    occlusion: np.ndarray  # 28x28: drop in that probability when a patch around a pixel is blanked
    saliency: np.ndarray  # 28x28: |gradient x input| of the class's logit, scaled to max 1


@dataclass
class UnitField:
    box: Box
    weights: np.ndarray  # 28x28 |d unit / d pixel|, scaled to max 1; zeros when the unit is silent
    activation: float


class Explainer:
    """One model's explanations. Holds a private, ready copy of the weights (the builder's:
    batch norm folded, a --permute model's pixel order inside, so the maps are in the
    drawing's coordinates)."""

    gradients = True  # saliency and unit fields (ProbsExplainer: occlusion only)

    def __init__(self, arch: str, state: dict[str, torch.Tensor], meta: dict | None = None,
                 patch: int = 7, stride: int = 3, threads: int | None = 1) -> None:
        self.arch = arch
        self.model = build(arch, state, meta)
        self.conv = bool(LAYERS.get(arch))
        self.memory_format = torch.channels_last if self.conv else torch.contiguous_format
        self.fast = self.model.to(memory_format=self.memory_format)
        self.masks = occlusion_masks(patch, stride)
        # One intra-op thread, as the Predictor: for batches this small OpenMP's hand-offs cost
        # more than they save, and 10x more when other work (training) holds the cores.
        self.threads = threads

    @staticmethod
    def _input(image) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(image, dtype=np.float32)).reshape(1, 1, SIDE, SIDE)
        return x.contiguous()

    def probs(self, images: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            x = images.reshape(-1, 1, SIDE, SIDE).contiguous(memory_format=self.memory_format)
            return torch.softmax(self.fast.logits(x).float(), 1)

    def occlusion(self, image, target: int | None = None) -> tuple[int, float, np.ndarray]:
        """(target, its probability, 28x28 mean probability drop over the patches covering each pixel)."""
        x = self._input(image)
        m = self.masks
        # row 0 is the intact image; the rest blank one patch each (0 = MNIST's background)
        batch = torch.cat([x, x * (1.0 - m.unsqueeze(1))])
        p = self.probs(batch)
        if target is None:
            target = int(p[0].argmax())
        drop = p[0, target] - p[1:, target]
        heat = (drop[:, None, None] * m).sum(0) / m.sum(0)
        return target, float(p[0, target]), heat.numpy()

    def saliency(self, image, target: int | None = None, times_input: bool = True) -> np.ndarray:
        """|gradient x input| of the target's logit, scaled to max 1.

        The plain gradient (``times_input=False``) says where ink *would* change the logit, so
        for a CNN most of it lies in the empty field around the stroke; times the input it
        becomes each drawn pixel's first-order contribution: what the model reads.
        """
        x = self._input(image).requires_grad_(True)
        with torch.enable_grad():
            logits = self.fast.logits(x.contiguous(memory_format=self.memory_format))
            if target is None:
                target = int(logits[0].argmax())
            (grad,) = torch.autograd.grad(logits[0, target], x)
        g = (grad * x.detach() if times_input else grad)[0, 0].abs()
        return (g / g.max().clamp_min(1e-12)).numpy()

    def why(self, image, target: int | None = None) -> WhyMap:
        from ..nets.fold import torch_threads

        with torch_threads(self.threads):
            target, prob, occ = self.occlusion(image, target)
            return WhyMap(target, prob, occ, self.saliency(image, target))

    def unit_field(self, image, layer: str, channel: int, row: int, col: int) -> UnitField:
        """The unit's receptive field, each pixel weighted by |d activation / d pixel|."""
        box = receptive_field(self.arch, layer, row, col)
        x = self._input(image).requires_grad_(True)
        with torch.enable_grad():
            _, feats = self.model.forward_features(x)
            unit = feats[layer][0, channel, row, col]
            (grad,) = torch.autograd.grad(unit, x)
        g = grad[0, 0].abs()
        return UnitField(box, (g / g.max().clamp_min(1e-12)).numpy(), float(unit.detach()))


class ProbsExplainer(Explainer):
    """Occlusion only, for a model torch does not run (ONNX): it needs forward passes only,
    through ``probs_batch`` ((N, 28, 28) -> (N, 10)); there is no gradient, so no saliency
    and no receptive-field weights (``gradients`` is False)."""

    gradients = False

    def __init__(self, probs_batch, patch: int = 7, stride: int = 3) -> None:
        self.arch = "onnx"
        self.conv = False
        self.masks = occlusion_masks(patch, stride)
        self.threads = 1
        self._probs_batch = probs_batch

    def probs(self, images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self._probs_batch(
            images.reshape(-1, SIDE, SIDE).detach().cpu().numpy()), dtype=np.float32))

    def saliency(self, image, target: int | None = None, times_input: bool = True) -> np.ndarray:
        return np.zeros((SIDE, SIDE), np.float32)

    def unit_field(self, image, layer: str, channel: int, row: int, col: int) -> UnitField:
        raise NoFeatureMaps("A unit's receptive field needs gradients, which an ONNX model "
                            "run in onnxruntime does not give.")


def occlusion_masks(patch: int = 7, stride: int = 3, side: int = SIDE) -> torch.Tensor:
    """(P, side, side) 0/1 masks, one square patch each, tiling the image edge to edge."""
    starts = list(range(0, side - patch + 1, stride))
    if starts[-1] != side - patch:
        starts.append(side - patch)
    masks = torch.zeros(len(starts) ** 2, side, side)
    for i, (r, c) in enumerate((r, c) for r in starts for c in starts):
        masks[i, r:r + patch, c:c + patch] = 1.0
    return masks


# --- shift / rotate / scale -----------------------------------------------------------------

def transform_image(image, dx: float = 0.0, dy: float = 0.0, angle: float = 0.0,
                    scale: float = 1.0) -> np.ndarray:
    """A 28x28 image moved by (dx, dy) pixels (right, down), rotated by ``angle`` degrees
    (counter-clockwise) and scaled about its centre; what leaves the field is lost, what
    enters is background. Integer shifts are exact."""
    x = torch.as_tensor(np.asarray(image, dtype=np.float32)).reshape(1, 1, SIDE, SIDE)
    t = np.deg2rad(angle)
    # grid_sample maps output -> input coordinates: the inverse of scale * rotate, then shift
    cos, sin = np.cos(t) / scale, np.sin(t) / scale
    a = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float32)
    shift = torch.tensor([2 * dx / SIDE, 2 * dy / SIDE], dtype=torch.float32)
    theta = torch.cat([a, (-a @ shift)[:, None]], 1)[None]
    grid = F.affine_grid(theta, [1, 1, SIDE, SIDE], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[0, 0].numpy()


SHIFT_KINDS = dict(zip(SHIFT_NAMES, (
    (np.arange(-10, 11), lambda im, v: transform_image(im, dx=v)),
    (np.arange(-10, 11), lambda im, v: transform_image(im, dy=v)),
    (np.arange(-90, 91, 10), lambda im, v: transform_image(im, angle=v)),
    (np.round(np.arange(0.4, 1.61, 0.1), 2), lambda im, v: transform_image(im, scale=v)),
)))


@dataclass
class ShiftCurves:
    kind: str
    values: np.ndarray
    images: np.ndarray  # (V, 28, 28): what each model saw
    confidence: "OrderedDict[str, np.ndarray]"  # model name -> P(true class) per value


def shift_test(models: "dict[str, DigitModel]", image, label: int, kind: str = "shift x",
               values=None) -> ShiftCurves:
    """Each model's probability of ``label`` as the 28x28 ``image`` is moved (no re-centring)."""
    default, fn = SHIFT_KINDS[kind]
    values = np.asarray(default if values is None else values)
    images = np.stack([fn(image, float(v)) for v in values]).astype(np.float32)
    x = torch.from_numpy(images).unsqueeze(1)
    conf = OrderedDict()
    with torch.inference_mode():
        for name, model in models.items():
            model.eval()
            conf[name] = torch.softmax(model.logits(x).float(), 1)[:, label].numpy()
    return ShiftCurves(kind, values, images, conf)
