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


def worked_examples() -> dict:
    """The lesson's worked examples, computed (never copied) with the same ops the models use.

    The 3x3 image 0..8 cross-correlated with the 2x2 kernel [[0,1],[2,3]], 2x2 max-pooled with
    stride 1, and the output sizes the lesson quotes.
    """
    image = torch.arange(9.0).reshape(3, 3)
    kernel = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    pooled = torch.nn.functional.max_pool2d(image[None, None], 2, stride=1)[0, 0]
    return {
        "image": image.int().tolist(),
        "kernel": kernel.int().tolist(),
        "conv": apply_kernel(image, kernel).int().tolist(),
        "first_window_sum": " + ".join(f"{int(a)}·{int(b)}" for a, b in
                                        zip(image[:2, :2].flatten(), kernel.flatten())),
        "pool": pooled.int().tolist(),
        "photo_7x7": (output_size(640, 7), output_size(480, 7)),
        "conv3_pool2": (output_size(28, 3), output_size(output_size(28, 3), 2, stride=2)),
    }


# The lesson's own runs, quoted as history (they are measurements, not computations).
LESSON_RESULTS = {
    "dense_10_epochs": 0.942,
    "lenet_sgd_5_epochs": 0.301,
    "lenet_sgd_100_epochs": 0.978,
}
