"""The networks digitpad knows as torch modules, built from :mod:`.spec`, each exposing its
named intermediates.

Every model takes a batch of 28x28 images with values in [0, 1] (ink bright, as in MNIST)
and returns ``(logits, features)`` from :meth:`DigitModel.forward_features`, where ``features``
is an ordered dict ``name -> tensor`` with every output the spec marks as shown (conv and pool
outputs after the activation, as the app shows them, and the hidden dense layers). ``forward``
returns logits only, so the models work with ordinary training code. Intermediates are returned
explicitly rather than caught with hooks, which would miss functional ReLUs. Module names are
the spec's layer names, so the weights' keys are the ones the shipped files hold.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# Models normalise internally with MNIST's pixel statistics, so every caller (training, the
# predictor, the CLI, a user's own script) feeds plain [0, 1] images and cannot forget it.
from .spec import MNIST_MEAN, MNIST_STD, SIDE, UnknownModelError, spec, walk

__all__ = ["DigitModel", "LeNet", "PixelOrder", "create_model", "count_parameters",
           "UnknownModelError"]


def _normalise(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return (x - MNIST_MEAN) / MNIST_STD


class PixelOrder(nn.Module):
    """The input layer of a model trained on reshuffled pixels: pixel i of what it reads is
    pixel ``order[i]`` of the drawing. A buffer, not a weight: the files' keys stay the same
    (the order is the file's config "permute"), and the ONNX graph holds it as one Gather."""

    def __init__(self, order) -> None:
        super().__init__()
        self.register_buffer("index", torch.as_tensor(order, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], x.shape[1], SIDE * SIDE)
        return torch.index_select(flat, 2, self.index).reshape(x.shape)


class DigitModel(nn.Module):
    """A network made from its spec: one module per conv / fc / dropout layer, named as in the
    spec (a conv with batch norm is ``Sequential(conv, norm)``)."""

    def __init__(self, arch: str) -> None:
        super().__init__()
        s = spec(arch)
        self.arch = arch
        self.description = s.description
        self.layers = s.layers
        # identity unless the builder gives a --permute model its PixelOrder
        self.inputs: nn.Module = nn.Identity()
        for layer, shape_in, _ in walk(arch):
            if layer.kind == "conv":
                conv = nn.Conv2d(shape_in[0], layer.out, layer.kernel, layer.stride, layer.padding,
                                 bias=not layer.batch_norm)
                module = nn.Sequential(conv, nn.BatchNorm2d(layer.out)) if layer.batch_norm else conv
            elif layer.kind == "fc":
                fin = 1
                for n in shape_in:
                    fin *= n
                module = nn.Linear(fin, layer.out)
            elif layer.kind == "dropout":
                module = nn.Dropout(layer.p)
            else:
                continue
            self.add_module(layer.name, module)

    def _run(self, x: torch.Tensor, keep: bool):
        f: OrderedDict[str, torch.Tensor] = OrderedDict()
        x = self.inputs(_normalise(x))
        for layer in self.layers:
            kind = layer.kind
            if kind == "pool":
                x = F.max_pool2d(x, layer.kernel, layer.stride)
            elif kind == "gap":
                x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
            else:
                if kind == "fc" and x.dim() > 2:
                    x = torch.flatten(x, 1)
                x = getattr(self, layer.name)(x)
                if layer.relu:
                    x = F.relu(x)
            if keep and layer.shown:
                f[layer.name] = x
        return x, f

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, "OrderedDict[str, torch.Tensor]"]:
        return self._run(x, True)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits without keeping intermediates (the training hot path)."""
        return self._run(x, False)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def conv_kernels(self) -> dict[str, torch.Tensor]:
        """Conv layer name -> weight (out, in, kh, kw), for showing what made each map."""
        out = {}
        for layer in self.layers:
            if layer.kind == "conv":
                module = getattr(self, layer.name)
                out[layer.name] = module[0].weight if layer.batch_norm else module.weight
        return out


class LeNet(DigitModel):
    """The lesson's LeNet, with a faster hand-written forward pass for CPU batches."""

    def __init__(self) -> None:
        super().__init__("lenet")

    def logits(self, x):
        x = self.inputs(_normalise(x))
        if x.device.type == "cpu" and x.shape[0] >= 16:
            # CPU batches: conv1 + pool1 as one strided convolution over the four pool phases
            # (see _phase_weight), which oneDNN runs about twice as fast as a 6-channel conv
            # followed by max_pool2d; conv2 runs channels-last, where max_pool2d is vectorised.
            y = F.conv2d(x.contiguous(), _phase_weight(self.conv1.weight),
                         self.conv1.bias.repeat(4), stride=2)
            x = _PhaseMaxReLU.apply(y.contiguous(), 4)
            x = self.conv2(x.contiguous(memory_format=torch.channels_last))
        else:
            x = self.conv2(F.relu(F.max_pool2d(self.conv1(x), 2)))
        # Pool before ReLU: the same values (ReLU is monotone) with a quarter of the ReLU work.
        x = F.relu(F.max_pool2d(x, 2))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc3(F.relu(self.fc2(x)))


def _phase_weight(w: torch.Tensor) -> torch.Tensor:
    """(C, 1, k, k) kernels -> (4C, 1, k+1, k+1): one copy per 2x2 pool position.

    Phase (a, b) is the kernel shifted by (a, b) inside a (k+1)x(k+1) window, so a stride-2
    convolution with it gives exactly the stride-1 output at rows 2i+a, columns 2j+b. The max
    over the four phases is then the 2x2 max pool, taken over contiguous channel blocks.
    """
    return torch.cat([F.pad(w, (b, 1 - b, a, 1 - a)) for a in (0, 1) for b in (0, 1)], 0)


class _PhaseMaxReLU(torch.autograd.Function):
    """relu(max over ``groups`` channel blocks): the pool of :func:`_phase_weight` outputs.

    The gradient goes to the FIRST maximal phase, exactly as max_pool2d's backward does (it
    keeps the first maximum in scan order, and the phases are in scan order). Ties are the
    rule, not the exception: on MNIST's flat background all four phases are equal, and a
    mask-based backward would send the gradient to all four of them (4x too much). Written
    out because autograd's amax backward costs more than the convolution it follows.
    """

    @staticmethod
    def forward(ctx, y: torch.Tensor, groups: int) -> torch.Tensor:
        phases = y.unflatten(1, (groups, -1))
        out, idx = phases.max(1)  # first occurrence on ties
        out.clamp_min_(0)
        ctx.save_for_backward(idx, out)
        ctx.groups = groups
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        idx, out = ctx.saved_tensors
        g = grad.masked_fill(out <= 0, 0.0)  # ReLU
        res = grad.new_zeros((grad.shape[0], ctx.groups) + tuple(grad.shape[1:]))
        res.scatter_(1, idx.unsqueeze(1), g.unsqueeze(1))
        return res.flatten(1, 2), None


_CLASSES = {"lenet": LeNet}


def create_model(name: str) -> DigitModel:
    """A fresh model of the named architecture (random weights, training mode)."""
    spec(name)  # UnknownModelError for a name digitpad does not know
    cls = _CLASSES.get(name)
    return cls() if cls is not None else DigitModel(name)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class InputConvention(nn.Module):
    """The input layer of a foreign model: from digitpad's normalised input z to the model's
    own convention (a * x + b of the ink-bright image x = z * std + mean)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        from .conventions import CONVENTIONS

        a, b = CONVENTIONS[name]
        self.convention = name
        self.scale = float(a * MNIST_STD)
        self.shift = float(a * MNIST_MEAN + b)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.scale + self.shift
