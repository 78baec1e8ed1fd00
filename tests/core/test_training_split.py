"""Honest numbers: the best epoch is chosen on a validation split held out of the training set,
the test set is scored once at the end; synthesised digits are mixed into batches as asked;
digitnet really trains."""

import pytest
import torch

from digitpad.core.learning import training
from digitpad.core.data.mnist import MnistTensors, load_mnist
from digitpad.core.nets.models import create_model
from digitpad.core.learning.config import recipe_config
from digitpad.core.learning.events import EpochDone, Finished, Started
from digitpad.core.learning.training import _mix_synth, run, split_validation, synth_needed


@pytest.fixture(scope="module")
def tiny_data(tiny_mnist):
    return load_mnist(tiny_mnist)


def marked(data: MnistTensors) -> MnistTensors:
    """A copy whose training image i carries i in its corner pixel, so any tensor of images
    says which training images it holds."""
    x = data.train_x.clone()
    x[:, 0, 0, 0] = torch.arange(x.shape[0], dtype=x.dtype) / 1000.0
    return MnistTensors(x, data.train_y, data.test_x, data.test_y, data.root)


def ids(x: torch.Tensor) -> set[int]:
    return set(torch.round(x[:, 0, 0, 0] * 1000).long().tolist())


def test_split_is_disjoint_complete_sized_and_deterministic():
    tr, va = split_validation(60000, 5000)
    assert len(va) == 5000 and len(tr) == 55000
    assert set(tr.tolist()).isdisjoint(va.tolist())
    assert set(tr.tolist()) | set(va.tolist()) == set(range(60000))
    tr2, va2 = split_validation(60000, 5000)
    assert torch.equal(tr, tr2) and torch.equal(va, va2)
    assert not torch.equal(va, torch.arange(5000))  # random, not simply the first images
    # small sets give a tenth at most, at least one image, never all of them
    assert [len(split_validation(n, 5000)[1]) for n in (300, 25, 9, 2)] == [30, 2, 1, 1]
    assert len(split_validation(300, 10)[1]) == 10
    with pytest.raises(ValueError):
        split_validation(1, 5000)


def test_validation_images_are_never_trained_on_and_the_test_set_is_scored_once(tiny_data, monkeypatch):
    data = marked(tiny_data)
    trained_on, scored = set(), []
    real_epoch, real_eval = training.epoch_batches, training.evaluate

    def spy_epoch(x, y, *args, **kwargs):
        trained_on.update(ids(x))
        yield from real_epoch(x, y, *args, **kwargs)

    def spy_eval(model, x, y, *args, **kwargs):
        scored.append("test" if x is data.test_x else ids(x))
        return real_eval(model, x, y, *args, **kwargs)

    monkeypatch.setattr(training, "epoch_batches", spy_epoch)
    monkeypatch.setattr(training, "evaluate", spy_eval)
    cfg = recipe_config("fast", "lenet", epochs=3, batch_size=32, device="cpu")
    events = list(run(cfg, data))
    started, fin = events[0], events[-1]
    assert isinstance(started, Started) and isinstance(fin, Finished)
    _, val_idx = split_validation(300, cfg.val_size)
    val = set(val_idx.tolist())
    assert started.val_size == len(val) == 30 and started.train_size == 270
    assert trained_on == set(range(300)) - val  # every training image, no validation image
    assert scored[:3] == [val, val, val]  # each epoch is scored on the validation split
    assert scored[3:] == ["test"]  # and the test set once, after the last epoch
    assert 0.0 <= fin.test_acc <= 1.0


def test_best_epoch_is_chosen_on_validation_not_on_test(tiny_data, monkeypatch):
    """Validation says epoch 2 is best, the test set would say epoch 3: epoch 2 must win, and
    the test figure reported is the one measured on epoch 2's weights."""
    real = training.evaluate
    calls = {"n": 0}
    val_scores = iter([0.5, 0.9, 0.7])

    def scripted(model, x, y, *args, **kwargs):
        loss, _, pred = real(model, x, y, *args, **kwargs)
        calls["n"] += 1
        if x is tiny_data.test_x:
            return loss, 0.123, pred
        return loss, next(val_scores), pred

    monkeypatch.setattr(training, "evaluate", scripted)
    events = list(run(recipe_config("fast", "lenet", epochs=3, batch_size=64, device="cpu"), tiny_data))
    epochs = [e for e in events if isinstance(e, EpochDone)]
    fin = events[-1]
    assert [e.val_acc for e in epochs] == [0.5, 0.9, 0.7]
    assert [e.is_best for e in epochs] == [True, True, False]
    assert fin.best_epoch == 2 and fin.best_val_acc == 0.9 and fin.test_acc == 0.123
    assert all(torch.equal(fin.best_state[k], epochs[1].state[k]) for k in fin.best_state)
    assert calls["n"] == 4
    assert fin.history.val_acc == [0.5, 0.9, 0.7]


def test_mix_replaces_the_asked_share_with_pool_digits():
    xb = torch.zeros(32, 1, 28, 28)
    yb = torch.full((32,), 3)
    pool = (torch.ones(10, 1, 28, 28), torch.full((10,), 7))
    gen = torch.Generator().manual_seed(0)
    x, y = _mix_synth(xb, yb, pool, 0.25, gen)
    assert x.shape == xb.shape and y.shape == yb.shape
    from_pool = x.flatten(1).amax(1) == 1.0
    assert int(from_pool.sum()) == 8 and (y[from_pool] == 7).all() and (y[~from_pool] == 3).all()
    assert _mix_synth(xb, yb, pool, 0.0, gen)[0] is xb
    assert int((_mix_synth(xb[:3], yb[:3], pool, 0.25, gen)[1] == 7).sum()) == 1  # round(0.75)


def test_pool_size_follows_what_the_run_draws():
    cfg = recipe_config("fast", "lenet", epochs=2, batch_size=32, synth_share=0.25)
    # 270 images in batches of 32: 8 full batches (8 each) and one of 14 (round(3.5) = 4)
    assert synth_needed(cfg, 270) == (8 * 8 + 4) * 2
    assert synth_needed(recipe_config("fast", "lenet", epochs=50, synth_share=0.3, synth_pool=5000),
                        55000) == 5000
    assert synth_needed(recipe_config("fast", "lenet", synth_share=0.0), 55000) == 0


def test_synth_share_must_be_a_share():
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="synth_share"):
            recipe_config("fast", "lenet", synth_share=bad)
    with pytest.raises(ValueError, match="validation"):
        recipe_config("fast", "lenet", val_size=0)
    assert recipe_config("lesson", "lenet").synth_share == 0.0  # the lesson stays the lesson


def test_digitnet_trains_on_mixed_batches(tiny_data, monkeypatch):
    """One real digitnet run on tiny data with synthesised digits mixed in: the pool is asked
    for as much as the run draws, from the run's seed, and the weights move off the seed's init."""
    from digitpad.core.data import styles

    asked = []
    real_pool = styles.synth_pool

    def spy_pool(n, seed, device="cpu", *args, **kwargs):
        asked.append((n, seed))
        return real_pool(n, seed, device, *args, **kwargs)

    monkeypatch.setattr(styles, "synth_pool", spy_pool)
    cfg = recipe_config("fast", "digitnet", epochs=2, batch_size=32, device="cpu", seed=4,
                        synth_share=0.3, report_every=1)
    events = list(run(cfg, tiny_data))
    assert isinstance(events[-1], Finished), events[-1]
    assert asked == [(synth_needed(cfg, 270), 4)]
    epochs = [e for e in events if isinstance(e, EpochDone)]
    assert epochs[1].train_loss < epochs[0].train_loss
    torch.manual_seed(4)
    init = create_model("digitnet").state_dict()
    moved = [k for k, v in epochs[-1].state.items() if v.is_floating_point() and not torch.allclose(v, init[k])]
    assert "conv1.0.weight" in moved and len(moved) > len(init) // 2
