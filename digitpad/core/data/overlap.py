"""Which of the user's samples are copies of MNIST test images.

The Mistakes tab opens test images on the Draw tab's canvas (scaled up, bilinear). Kept as a
sample and taught, such an image would be scored again as "MNIST test" after the model had
learnt it, and the forgetting figure would flatter. A stored drawing is a copy when, shrunk
back to 28x28 (area average) with its ink scaled to 0..1, it matches a test image that went
through the same round trip within a rounding error: two different people's digits, or two
near-duplicate MNIST digits, differ by far more.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# mean squared difference per pixel (ink in [0, 1]) under which a drawing is that test image:
# the canvas round trip of a test image stays under 1e-4 (1e-6 on the default canvas), a
# train image on the canvas is at least 8e-4 from its nearest test image
COPY_MSE = 2e-4
_ROUND_TRIP = 280  # the canvas side test images are scaled to (the app's default canvas)
_cache: dict[tuple, torch.Tensor] = {}


def _as_28(drawing: np.ndarray) -> np.ndarray | None:
    """A square drawing as 28x28 ink in [0, 1] (ink bright); None for anything not square."""
    a = np.asarray(drawing)
    if a.ndim == 3:
        a = a[..., :3].mean(axis=2)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 28:
        return None
    a = a.astype(np.float32)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if float(np.median(border)) > 0.5 * float(a.max()):  # dark ink on light paper
        a = a.max() - a
    v = np.asarray(Image.fromarray(a, mode="F").resize((28, 28), Image.Resampling.BOX))
    lo, hi = float(v.min()), float(v.max())
    return (v - lo) / (hi - lo) if hi > lo else None


def _round_trip_matrix() -> torch.Tensor:
    """(28, 28): one axis scaled up to the canvas (linear) and shrunk back by area averaging.
    Both steps are separable, so an image's round trip is M @ image @ M.T."""
    eye = torch.eye(28).unsqueeze(1)  # 28 signals of length 28
    big = F.interpolate(eye, size=_ROUND_TRIP, mode="linear", align_corners=False)
    return F.avg_pool1d(big, _ROUND_TRIP // 28)[:, 0].T


def _test_round_trip(test_x: torch.Tensor) -> torch.Tensor:
    """Every test image scaled up onto the canvas and shrunk back, ink scaled to 0..1 (cached)."""
    key = (test_x.data_ptr(), tuple(test_x.shape))
    if key not in _cache:
        m = _round_trip_matrix()
        t = m @ test_x.float().cpu().reshape(-1, 28, 28) @ m.T
        t = t - t.amin((1, 2), keepdim=True)
        t = t / t.amax((1, 2), keepdim=True).clamp_min(1e-6)
        _cache.clear()
        _cache[key] = t.reshape(t.shape[0], -1)
    return _cache[key]


def mnist_test_copies(drawings: Sequence[np.ndarray], test_x: torch.Tensor) -> list[bool]:
    """For each drawing (as stored: any size, either polarity), whether it is an MNIST test
    image opened on the canvas. ``test_x``: the test images, (N, 1, 28, 28) or (N, 28, 28)."""
    small = [_as_28(d) for d in drawings]
    rows = [i for i, s in enumerate(small) if s is not None]
    found = [False] * len(small)
    if not rows or test_x.shape[0] == 0:
        return found
    ref = _test_round_trip(test_x)
    a = torch.from_numpy(np.stack([small[i] for i in rows])).reshape(len(rows), -1)
    d = (a * a).sum(1, keepdim=True) + (ref * ref).sum(1)[None, :] - 2.0 * a @ ref.T
    hit = (d.min(1).values / a.shape[1]) < COPY_MSE
    for i, h in zip(rows, hit.tolist()):
        found[i] = h
    return found


def shows_image(drawing: np.ndarray, image: np.ndarray, tolerance: float = 0.1) -> bool:
    """Whether a square drawing still shows ``image`` (28x28 uint8, ink bright) as "Open in
    canvas" put it there, strokes drawn over it or not: every inked pixel of the image is
    still at least as bright (ink scaled to 0..1, mean shortfall under ``tolerance``)."""
    small = _as_28(drawing)
    if small is None:
        return False
    ref = _test_round_trip(torch.from_numpy(np.asarray(image, dtype=np.uint8)[None].copy()))[0]
    ref = ref.reshape(28, 28).numpy()
    inked = ref > 0.3
    if not inked.any():
        return False
    # strokes added on top only raise pixels; the brightest may then be a stroke, so the
    # image's ink is compared after scaling both to the image's own brightest pixel
    scale = float(small[inked].max()) or 1.0
    return float(np.clip(ref[inked] - small[inked] / scale, 0, None).mean()) < tolerance
