"""Inference helpers for a built model: batch norm folded into its convolution, and a block run
with a chosen number of torch threads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

# devices reads the configured thread count at import: before torch_threads first changes it
from . import devices  # noqa: F401


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with n intra-op threads in this thread, then restore the old count."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    if old == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d in a Sequential."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (name_a, a), (name_b, b) in zip(children, children[1:]):
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d) and b.track_running_stats:
                setattr(module, name_a, fuse_conv_bn_eval(a, b))
                setattr(module, name_b, nn.Identity())
    return model
