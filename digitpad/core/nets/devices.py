"""Choosing where tensors live: CUDA when present, then Apple's MPS, else the CPU."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch


# torch's intra-op thread count as configured (OMP_NUM_THREADS, cores), read once at import:
# torch_threads lowers it for a block and the count is per thread, so reading it later said
# "CPU (1 threads)" on one launch and "CPU (2 threads)" on the next.
CPU_THREADS = torch.get_num_threads()


class DeviceError(ValueError):
    pass


@dataclass(frozen=True)
class DeviceChoice:
    key: str  # what to pass back to resolve_device: "cpu", "cuda:0", "mps"
    label: str  # what a person reads in a menu


def list_devices() -> list[DeviceChoice]:
    """Every device training can use, best first (so index 0 is the sensible default).

    Probed once per process: CUDA's first probe initialises the driver (hundreds of ms), so
    the app probes in its loader thread and the Training tab and Help read the answer.
    """
    return list(_probe_devices())


@functools.cache
def _probe_devices() -> tuple[DeviceChoice, ...]:
    found: list[DeviceChoice] = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            found.append(DeviceChoice(f"cuda:{i}", f"GPU {i}: {torch.cuda.get_device_name(i)}"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append(DeviceChoice("mps", "Apple GPU (MPS)"))
    found.append(DeviceChoice("cpu", f"CPU ({CPU_THREADS} thread{'s' if CPU_THREADS != 1 else ''})"))
    return tuple(found)


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device(list_devices()[0].key)
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"Unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but no CUDA GPU is available here (try --device cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"There is no {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError("MPS was requested but is not available here (try --device cpu)")
    elif dev.type != "cpu":
        raise DeviceError(f"Unsupported device {name!r}: use auto, cpu, cuda, cuda:N or mps")
    return dev
