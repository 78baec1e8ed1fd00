"""The networks digitpad knows, each exposing its named intermediates.

Every model takes a batch of 28x28 images with values in [0, 1] (ink bright, as in MNIST)
and returns ``(logits, features)`` from :meth:`forward_features`, where ``features`` is an
ordered dict ``name -> tensor`` with every conv and pool output (after the activation, as the
app shows them) and the hidden dense layers. ``forward`` returns logits only, so the models
work with ordinary training code. Intermediates are returned explicitly rather than caught
with hooks, which would miss functional ReLUs.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

# Models normalise internally with MNIST's pixel statistics, so every caller (training, the
# predictor, the CLI, a user's own script) feeds plain [0, 1] images and cannot forget it.
from .arch import DESCRIPTIONS, MNIST_MEAN, MNIST_STD

Features = "OrderedDict[str, torch.Tensor]"


def _normalise(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return (x - MNIST_MEAN) / MNIST_STD


class DigitModel(nn.Module):
    """Base: subclasses implement ``forward_features`` and set ``arch`` and ``description``."""

    arch: str = ""
    description: str = ""

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, "OrderedDict[str, torch.Tensor]"]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits without keeping intermediates (the training hot path)."""
        return self.forward_features(x)[0]

    def conv_kernels(self) -> dict[str, torch.Tensor]:
        """Conv layer name -> weight (out, in, kh, kw), for showing what made each map."""
        return {}


class LeNet(DigitModel):
    """The lesson's LeNet exactly: 44,426 parameters.

    conv(1->6, 5x5) -> ReLU -> maxpool 2 -> conv(6->16, 5x5) -> ReLU -> maxpool 2
    -> flatten 256 -> fc 120 -> fc 84 -> fc 10
    """

    arch = "lenet"
    description = DESCRIPTIONS["lenet"]

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward_features(self, x):
        f: OrderedDict[str, torch.Tensor] = OrderedDict()
        x = _normalise(x)
        x = f["conv1"] = F.relu(self.conv1(x))
        x = f["pool1"] = F.max_pool2d(x, 2)
        x = f["conv2"] = F.relu(self.conv2(x))
        x = f["pool2"] = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        x = f["fc1"] = F.relu(self.fc1(x))
        x = f["fc2"] = F.relu(self.fc2(x))
        return self.fc3(x), f

    def logits(self, x):
        x = _normalise(x)
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

    def forward(self, x):
        return self.logits(x)

    def conv_kernels(self):
        return {"conv1": self.conv1.weight, "conv2": self.conv2.weight}


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


class DenseNet(DigitModel):
    """The lesson's dense baseline: 784 -> 512 -> 512 -> 10, 669,706 parameters."""

    arch = "dense"
    description = DESCRIPTIONS["dense"]

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 512)
        self.fc2 = nn.Linear(512, 512)
        self.fc3 = nn.Linear(512, 10)

    def forward_features(self, x):
        f: OrderedDict[str, torch.Tensor] = OrderedDict()
        x = torch.flatten(_normalise(x), 1)
        x = f["fc1"] = F.relu(self.fc1(x))
        x = f["fc2"] = F.relu(self.fc2(x))
        return self.fc3(x), f

    def logits(self, x):
        x = torch.flatten(_normalise(x), 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    def forward(self, x):
        return self.logits(x)


class _ConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, padding: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, padding=padding, bias=False), nn.BatchNorm2d(cout))


class DigitNet(DigitModel):
    """digitpad's default: a small VGG-style CNN with batch norm, built to stay fast on a CPU.

    conv 3x3 (1->C) pad 1 -> conv 3x3 (C->C) pad 1 -> maxpool 2          28 -> 14
    conv 3x3 (C->2C) pad 1 -> conv 3x3 (2C->2C) pad 1 -> maxpool 2        14 -> 7
    conv 3x3 (2C->4C) (no pad) -> global average pool -> dropout -> fc 10  7 -> 5 -> 1
    """

    arch = "digitnet"
    description = DESCRIPTIONS["digitnet"]

    def __init__(self, width: int = 32, dropout: float = 0.1) -> None:
        super().__init__()
        c = width
        self.width = width
        self.conv1 = _ConvBN(1, c, 1)
        self.conv2 = _ConvBN(c, c, 1)
        self.conv3 = _ConvBN(c, 2 * c, 1)
        self.conv4 = _ConvBN(2 * c, 2 * c, 1)
        self.conv5 = _ConvBN(2 * c, 4 * c, 0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(4 * c, 10)

    def forward_features(self, x):
        f: OrderedDict[str, torch.Tensor] = OrderedDict()
        x = _normalise(x)
        x = f["conv1"] = F.relu(self.conv1(x))
        x = f["conv2"] = F.relu(self.conv2(x))
        x = f["pool1"] = F.max_pool2d(x, 2)
        x = f["conv3"] = F.relu(self.conv3(x))
        x = f["conv4"] = F.relu(self.conv4(x))
        x = f["pool2"] = F.max_pool2d(x, 2)
        x = f["conv5"] = F.relu(self.conv5(x))
        x = f["gap"] = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(self.dropout(x)), f

    def logits(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(_normalise(x)))))
        x = F.relu(self.conv4(F.relu(self.conv3(F.max_pool2d(x, 2)))))
        x = F.relu(self.conv5(F.max_pool2d(x, 2)))
        return self.fc(self.dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))

    def forward(self, x):
        return self.logits(x)

    def conv_kernels(self):
        return {f"conv{i}": getattr(self, f"conv{i}")[0].weight for i in range(1, 6)}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    factory: Callable[[], DigitModel]
    description: str


MODELS: dict[str, ModelInfo] = {
    "lenet": ModelInfo("lenet", LeNet, LeNet.description),
    "dense": ModelInfo("dense", DenseNet, DenseNet.description),
    "digitnet": ModelInfo("digitnet", DigitNet, DigitNet.description),
}


class UnknownModelError(ValueError):
    pass


def create_model(name: str) -> DigitModel:
    try:
        return MODELS[name].factory()
    except KeyError:
        raise UnknownModelError(
            f"Unknown model {name!r}; choose one of: {', '.join(MODELS)}"
        ) from None


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def feature_shapes(name: str) -> "OrderedDict[str, tuple[int, ...]]":
    """Names and per-sample shapes of a model's intermediates, without trained weights."""
    model = create_model(name).eval()
    with torch.inference_mode():
        _, feats = model.forward_features(torch.zeros(1, 1, 28, 28))
    return OrderedDict((k, tuple(v.shape[1:])) for k, v in feats.items())
