"""Teaching a model someone's handwriting: real torch, real preprocessing, tiny data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from digitpad.core.nets.checkpoint import Checkpoint, load_checkpoint, make_meta, save_checkpoint
from digitpad.core.nets.models import create_model
from digitpad.core.reading.predict import Predictor
from digitpad.core.learning.config import TeachConfig
from digitpad.core.learning.control import TrainControl
from digitpad.core.learning.events import (BatchDone, EpochDone, Failed, Measured, Notice, Started,
                                           Stopped, Taught)
from digitpad.core.learning.teach import prepare_samples, run, split_holdout, taught_checkpoint
from synthetic_digits import render_digits

# trains or runs subprocesses: minutes on a loaded 2-core machine (the suite's default is 120 s)
pytestmark = pytest.mark.timeout(300)


def canvases(n: int, seed: int, size: int = 140) -> tuple[list[np.ndarray], list[int]]:
    """Rendered digits enlarged to a canvas, dark ink on light paper (not MNIST's polarity)."""
    x, y = render_digits(n, seed)
    # a strip of paper on the right: these font digits repeat exactly across seeds, and a square
    # canvas of one would rightly be taken for the tiny test set's image it is
    imgs = [np.pad(255 - np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BILINEAR)),
                   ((0, 0), (0, 12)), constant_values=255) for a in x]
    return imgs, [int(v) for v in y]


def blank(arch: str, seed: int = 5) -> Checkpoint:
    """A model that has learnt nothing: reads anything at about chance."""
    torch.manual_seed(seed)
    return Checkpoint(arch, create_model(arch).state_dict(), make_meta(arch, name=f"blank {arch}"))


@pytest.fixture(scope="module")
def untrained() -> Checkpoint:
    return blank("digitnet")


def collect(gen):
    return list(gen)


def test_holdout_is_stratified_and_never_takes_a_whole_digit():
    y = torch.tensor([d for d in range(10) for _ in range(10)] + [3] * 2)
    y = torch.cat([y[y != 9], torch.tensor([9])])  # digit 9: a single sample
    train, held = split_holdout(y, 0.25, seed=1)
    assert set(train.tolist()).isdisjoint(held.tolist())
    assert sorted(train.tolist() + held.tolist()) == list(range(len(y)))
    per = torch.bincount(y[held], minlength=10).tolist()
    assert per[9] == 0  # its only sample is kept for learning
    for d in range(9):
        n = int((y == d).sum())
        assert per[d] == max(1, round(0.25 * n))
    assert split_holdout(torch.tensor([0, 0]), 0.25, 0)[1].tolist() != []  # two: one held out
    assert len(split_holdout(y, 0.0, 0)[1]) == 0


def test_samples_go_through_the_real_preprocessing_and_blank_ones_are_skipped():
    imgs, labels = canvases(3, seed=4)
    imgs.append(np.full((80, 80), 255, np.uint8))  # nothing drawn
    labels.append(1)
    p = prepare_samples(imgs, labels, names=["a", "b", "c", "empty.png"])
    assert p.x.shape == (3, 1, 28, 28) and p.y.tolist() == labels[:3]
    assert float(p.x.max()) == pytest.approx(1.0)  # ink bright, as preprocess makes it
    assert p.skipped == [("empty.png", "no ink found: the image is blank")]


def test_teaching_raises_accuracy_on_the_samples(tiny_mnist):
    base = blank("lenet")  # the smallest model keeps this quick; digitnet runs below
    imgs, labels = canvases(60, seed=11)
    before = Predictor("lenet", base.state)
    acc0 = np.mean([p.digit == y for p, y in zip(before.predict_batch(imgs), labels)])
    cfg = TeachConfig(steps=80, rounds=2, lr=3e-3, device="cpu", holdout=0.2, seed=1)
    events = collect(run(base, imgs, labels, cfg, data_dir=tiny_mnist))
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "Started" and kinds[-1] == "Taught"
    assert kinds.count("EpochDone") == 2 and "BatchDone" in kinds
    assert [e.when for e in events if isinstance(e, Measured)] == ["before", "after"]
    done = events[-1]
    after = Predictor("lenet", done.best_state)
    acc1 = np.mean([p.digit == y for p, y in zip(after.predict_batch(imgs), labels)])
    assert acc0 < 0.35 and acc1 > acc0 + 0.4, (acc0, acc1)
    rep = done.report
    assert sum(rep.train_counts) + sum(rep.held_out_counts) == 60
    assert sum(rep.held_out_counts) == rep.before.held_out_n == 10  # one of each digit's six
    assert rep.before.mnist_n == 100 and rep.after.mnist_acc is not None  # tiny MNIST test set
    assert rep.after.held_out_acc > rep.before.held_out_acc
    assert "MNIST" in rep.replay
    # the base checkpoint was not touched
    fresh = blank("lenet").state
    assert all(torch.equal(base.state[k], fresh[k]) for k in fresh)


def test_the_live_plot_events_are_the_training_loops(untrained, tiny_mnist):
    imgs, labels = canvases(20, seed=3)
    events = collect(run(untrained, imgs, labels,
                         TeachConfig(steps=6, rounds=3, report_every=2, device="cpu"),
                         data_dir=tiny_mnist))
    started = next(e for e in events if isinstance(e, Started))
    assert started.epochs == 3 and started.batches_per_epoch == 2
    epochs = [e for e in events if isinstance(e, EpochDone)]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert all(0.0 <= e.val_acc <= 1.0 and e.epochs == 3 for e in epochs)
    steps = [e.step for e in events if isinstance(e, BatchDone)]
    assert steps == sorted(steps) and steps[-1] == 6


def test_without_mnist_it_learns_from_the_samples_alone_and_says_so(untrained, tmp_path):
    imgs, labels = canvases(20, seed=6)
    events = collect(run(untrained, imgs, labels, TeachConfig(steps=4, rounds=1, device="cpu"),
                         data_dir=tmp_path / "no-mnist-here"))
    notes = [e.message for e in events if isinstance(e, Notice)]
    assert any("forgetting is not measured" in n for n in notes)
    done = events[-1]
    assert isinstance(done, Taught)
    assert done.report.before.mnist_acc is None and done.report.after.mnist_n == 0
    ck = taught_checkpoint(untrained, done)
    assert "test_acc" not in ck.meta and ck.meta["dataset"] == "user samples"


def test_missing_digits_are_named(untrained, tmp_path):
    imgs, labels = canvases(30, seed=8)
    keep = [i for i, y in enumerate(labels) if y not in (3, 7)]
    events = collect(run(untrained, [imgs[i] for i in keep], [labels[i] for i in keep],
                         TeachConfig(steps=2, rounds=1, device="cpu"), use_mnist=False))
    assert any("No samples of 3, 7" in e.message for e in events if isinstance(e, Notice))


def test_no_usable_samples_fails_clearly(untrained):
    blank = [np.zeros((50, 50), np.uint8)] * 3
    events = collect(run(untrained, blank, [1, 2, 3], TeachConfig(device="cpu"), use_mnist=False))
    assert isinstance(events[-1], Failed) and "no usable samples" in events[-1].message


def test_a_bad_setting_fails_as_an_event(untrained):
    imgs, labels = canvases(5, seed=1)
    events = collect(run(untrained, imgs, labels, TeachConfig(steps=0), use_mnist=False))
    assert len(events) == 1 and isinstance(events[0], Failed) and "steps" in events[0].message


def test_running_out_of_memory_while_teaching_says_what_to_try(untrained, tiny_mnist, monkeypatch):
    """Teaching steps through training's loop: a failure mid-run is one Failed event with the
    same advice as training's (the old second loop let it escape, or dropped the advice)."""
    from digitpad.core.learning import teach

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(teach, "augment", out_of_memory)  # the batches are augmented mid-run
    imgs, labels = canvases(20, seed=2)
    events = collect(run(untrained, imgs, labels, TeachConfig(steps=4, device="cpu"),
                         data_dir=tiny_mnist))
    assert isinstance(events[-1], Failed)
    assert "ran out of memory" in events[-1].message and "batch size" in events[-1].message
    assert any(isinstance(e, Measured) for e in events)  # it failed in the steps, not before


def test_stop_ends_the_run_and_offers_no_model(untrained, tiny_mnist):
    imgs, labels = canvases(20, seed=2)
    control = TrainControl()
    events = []
    for ev in run(untrained, imgs, labels, TeachConfig(steps=50, report_every=1, device="cpu"),
                  data_dir=tiny_mnist, control=control):
        events.append(ev)
        if isinstance(ev, BatchDone):
            control.stop()
    assert isinstance(events[-1], Stopped) and events[-1].best_state is None
    assert sum(isinstance(e, BatchDone) for e in events) == 1


def test_the_taught_checkpoint_is_a_new_model_with_its_story(untrained, tiny_mnist, tmp_path):
    imgs, labels = canvases(20, seed=9)
    done = collect(run(untrained, imgs, labels, TeachConfig(steps=4, rounds=1, device="cpu"),
                       data_dir=tiny_mnist))[-1]
    ck = taught_checkpoint(untrained, done)
    assert ck.name == "blank digitnet + my handwriting"
    assert taught_checkpoint(ck, done).name == ck.name  # taught again: no second suffix
    assert ck.meta["taught"]["base"] == "blank digitnet"
    assert ck.meta["taught"]["samples"] + ck.meta["taught"]["held_out"] == 20
    assert math.isclose(ck.meta["test_acc"], done.report.after.mnist_acc, abs_tol=1e-6)
    path = save_checkpoint(tmp_path / "mine.safetensors", ck.arch, ck.state, ck.meta)
    back = load_checkpoint(path)
    assert back.name == ck.name and back.meta["taught"]["after"]["mnist_n"] == 100


def test_samples_that_are_mnist_test_images_are_left_out_and_said_so(untrained, tiny_mnist):
    """Teaching on a test image would score it again as "MNIST test": it is left out."""
    from digitpad.core.data.mnist import load_test_set

    imgs, labels = canvases(20, seed=12)
    test_x, test_y = load_test_set(tiny_mnist)
    for k in (0, 5, 9):  # three opened from the Mistakes tab and kept
        big = Image.fromarray((test_x[k, 0] * 255).round().to(torch.uint8).numpy()).resize(
            (280, 280), Image.Resampling.BILINEAR)
        imgs.append(np.asarray(big))
        labels.append(int(test_y[k]))
    events = collect(run(untrained, imgs, labels, TeachConfig(steps=4, rounds=1, device="cpu"),
                         data_dir=tiny_mnist))
    notes = [e.message for e in events if isinstance(e, Notice)]
    assert any("Left out 3 samples that are MNIST test images" in n for n in notes), notes
    rep = events[-1].report
    assert sum(rep.train_counts) + sum(rep.held_out_counts) == 20


def test_elastic_bends_that_share_of_the_samples_and_a_bad_share_is_refused(tiny_mnist, monkeypatch):
    import digitpad.core.learning.teach as teach

    bent = []
    real = teach.elastic

    def counting(x, *a, **kw):
        bent.append(len(x))
        return real(x, *a, **kw)

    monkeypatch.setattr(teach, "elastic", counting)
    imgs, labels = canvases(10, seed=2)
    base = blank("lenet")
    cfg = TeachConfig(steps=4, rounds=1, batch_size=32, device="cpu", elastic=1.0)
    assert isinstance(collect(run(base, imgs, labels, cfg, data_dir=tiny_mnist))[-1], Taught)
    k_user = round(cfg.user_share * cfg.batch_size)
    assert bent == [k_user] * 4  # every sample of every batch, none of the replay
    bent.clear()
    collect(run(base, imgs, labels, TeachConfig(steps=4, rounds=1, device="cpu"), data_dir=tiny_mnist))
    assert bent == []  # off by default
    events = collect(run(base, imgs, labels, TeachConfig(elastic=1.5), use_mnist=False))
    assert isinstance(events[0], Failed) and "elastic" in events[0].message
