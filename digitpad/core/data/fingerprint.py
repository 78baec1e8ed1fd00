"""What a validation figure was measured on: a fingerprint of the images and labels.

Every model file records the fingerprint of the data its validation accuracy comes from, so
that a file is only ever replaced by a model better on the same data (a run on a folder of
only 1s reaches 100 % on its own validation split, which says nothing against MNIST's).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def fingerprint(images: torch.Tensor, labels: torch.Tensor) -> dict:
    """{"sha256": hex digest of the images (float32) and labels (int64), "count": images}."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images.detach().to("cpu", torch.float32).numpy()).tobytes())
    h.update(np.ascontiguousarray(labels.detach().to("cpu", torch.int64).numpy()).tobytes())
    return {"sha256": h.hexdigest(), "count": int(labels.shape[0])}
