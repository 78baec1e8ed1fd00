"""A training thread started while a prediction holds torch at one intra-op thread still trains
on every core (issue 9: the predictor's per-call thread count leaked into such a thread)."""

import threading

import pytest
import torch

from digitpad.core.data.mnist import load_mnist
from digitpad.core.learning.config import recipe_config
from digitpad.core.learning.events import Started
from digitpad.core.learning.training import run, TRAIN_THREADS


@pytest.mark.skipif(TRAIN_THREADS < 2, reason="one core: nothing to leak")
def test_training_thread_started_during_a_prediction_uses_every_core(tiny_mnist):
    data = load_mnist(tiny_mnist)
    seen = []

    def worker():
        for ev in run(recipe_config("fast", "lenet", epochs=1, device="cpu"), data):
            if isinstance(ev, Started):
                seen.append(torch.get_num_threads())

    old = torch.get_num_threads()
    torch.set_num_threads(1)  # what Predictor.predict does for the length of a call
    try:
        t = threading.Thread(target=worker)
        t.start()  # the new thread inherits 1 here
    finally:
        torch.set_num_threads(old)
    t.join(120)
    assert seen == [TRAIN_THREADS]
