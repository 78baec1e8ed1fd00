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


@pytest.mark.skipif(TRAIN_THREADS < 2, reason="one core: there is no core to leave")
def test_a_run_trains_with_one_thread_fewer_while_the_person_draws(tiny_mnist):
    """``control.make_room()`` (the app calls it on each stroke move): the batches run with
    one intra-op thread fewer while it lasts, then with every thread; nothing leaks."""
    from digitpad.core.learning.control import TrainControl

    class Drawing(TrainControl):  # the person draws during the first three batches
        def __init__(self):
            super().__init__()
            self.seen = []  # the thread count each batch found, asked before it ran

        @property
        def room_wanted(self):
            self.seen.append(torch.get_num_threads())
            return len(self.seen) <= 3

    data = load_mnist(tiny_mnist)
    control = Drawing()
    for _ev in run(recipe_config("fast", "lenet", epochs=1, batch_size=16, device="cpu"), data,
                   control):
        pass
    full, fewer = TRAIN_THREADS, TRAIN_THREADS - 1
    assert control.seen[:6] == [full, fewer, fewer, fewer, full, full], control.seen
    assert torch.get_num_threads() == TRAIN_THREADS


def test_make_room_lasts_the_time_asked():
    from digitpad.core.learning.control import TrainControl

    control = TrainControl()
    assert not control.room_wanted
    control.make_room(60.0)
    assert control.room_wanted
    control.make_room(0.0)
    assert not control.room_wanted
