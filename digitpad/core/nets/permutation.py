"""Reshuffled pixels: one fixed order of the 784 positions, the lesson's argument that a dense
net never used the 2-D neighbourhood (``TrainConfig.permute``)."""

from __future__ import annotations

import numpy as np
import torch

SIDE = 28


def pixel_permutation(seed: int = 0, n: int = SIDE * SIDE) -> np.ndarray:
    """One fixed permutation of the n pixel positions (the same for every image)."""
    return np.random.default_rng(seed).permutation(n)


def permute_pixels(images, perm: np.ndarray):
    """Images (..., 28, 28), numpy or torch, with pixel i moved from position perm[i]."""
    flat = images.reshape(*images.shape[:-2], -1)
    idx = perm if isinstance(images, np.ndarray) else torch.as_tensor(perm, device=images.device)
    return flat[..., idx].reshape(images.shape)


def unpermute_pixels(images, perm: np.ndarray):
    return permute_pixels(images, np.argsort(perm))
