"""The Device box's thread count is torch's configured one, whatever a block has set since."""

from __future__ import annotations

import torch

from digitpad.core.nets.devices import CPU_THREADS, list_devices
from digitpad.core.nets.fold import torch_threads


def test_the_cpu_label_says_the_configured_thread_count_inside_any_block():
    label = list_devices()[-1].label
    assert label.startswith(f"CPU ({CPU_THREADS} thread")
    other = CPU_THREADS + 1
    with torch_threads(other):
        assert torch.get_num_threads() == other
        assert list_devices()[-1].label == label  # was "CPU (3 threads)" here
