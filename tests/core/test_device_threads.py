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


def test_devices_are_probed_once_so_the_gui_thread_reads_a_cached_answer(monkeypatch):
    from digitpad.core.nets import devices

    calls = []
    real = torch.cuda.is_available
    monkeypatch.setattr(torch.cuda, "is_available", lambda: calls.append(1) or real())
    devices._probe_devices.cache_clear()
    try:
        first = list_devices()
        first.append("changed by a caller")
        assert list_devices() == first[:-1]
        assert len(calls) == 1
    finally:
        devices._probe_devices.cache_clear()
