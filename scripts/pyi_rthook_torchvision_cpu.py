"""PyInstaller runtime hook of the CPU-only bundle (dist/digitpad-cpu) only.

PyPI's torchvision wheels are CUDA builds: their compiled ops (torchvision/_C) cannot load
beside a CPU-only torch. torchvision copes with that, except that importing it registers fake
kernels for two of those ops (nms, qnms) without checking they exist, and so fails. Declaring
the two schemas just before that lets torchvision import; the ops stay unimplemented, and
digitpad never calls them (it reads MNIST through torchvision.datasets only).
"""

import importlib.abc
import sys


class _DeclareTorchvisionOps(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torchvision._meta_registrations":
            sys.meta_path.remove(self)
            import torch

            if not hasattr(torch.ops.torchvision, "nms"):  # the compiled ops did not load
                global _library  # kept alive: a Library's definitions go when it is freed
                _library = torch.library.Library("torchvision", "DEF")
                for op in ("nms", "qnms"):
                    _library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        return None


sys.meta_path.insert(0, _DeclareTorchvisionOps())
