"""The lesson's arithmetic, for the app's "How this works" page and its tests.

Convolution output size, and the classic hand-made kernels a person can try on a drawing
before seeing what a trained network learned instead.
"""

from __future__ import annotations

import torch


def output_size(in_: int, k: int, pad: int = 0, stride: int = 1) -> int:
    """Side of a conv or pool output: (in - k + 2*pad) / stride + 1, rounded down as torch does."""
    if in_ < 1 or k < 1 or pad < 0 or stride < 1:
        raise ValueError("sizes and stride must be positive and padding non-negative")
    span = in_ - k + 2 * pad
    if span < 0:
        raise ValueError(f"a {k}x{k} window does not fit in {in_} pixels with padding {pad}")
    return span // stride + 1


# (kh, kw) float tensors, applied as cross-correlation like torch's conv2d.
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
    return torch.nn.functional.conv2d(x, w, padding=pad, stride=stride)[0, 0]
