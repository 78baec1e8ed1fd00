"""The training session both the CLI and the Training tab drive (issue 9): history, best epoch by
validation, time without pauses, ETA, divergence, and one metadata shape for every checkpoint."""

import threading
import time
from pathlib import Path

import pytest

from digitpad.core.nets.checkpoint import claim_model_output, load_checkpoint, save_checkpoint
from digitpad.core.data.mnist import load_mnist
from digitpad.core.learning.session import TrainingSession
from digitpad.core.learning.config import recipe_config
from digitpad.core.learning.events import BatchDone, EpochDone, Failed, Finished, Started, Stopped

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_data(tiny_mnist):
    return load_mnist(tiny_mnist)


def lenet(**kw):
    kw = {"epochs": 3, "batch_size": 32, "device": "cpu", "seed": 1, **kw}
    return recipe_config("fast", "lenet", **kw)


def test_the_session_folds_the_events(tiny_data):
    s = TrainingSession(lenet(), data=tiny_data, name="tiny")
    seen, etas = [], []
    for ev in s.events():
        seen.append(type(ev))
        if isinstance(ev, BatchDone):
            etas.append(s.eta_seconds())
    assert seen[0] is Started and seen[-1] is Finished
    assert isinstance(s.result, Finished) and s.history.epochs == [1, 2, 3]
    best = max(range(3), key=lambda i: (s.history.val_acc[i], -i))
    assert s.best_epoch == best + 1 and s.best_val_acc == pytest.approx(s.history.val_acc[best], abs=1e-5)
    assert s.test_acc is not None and 0 <= s.test_acc <= 1
    assert etas and all(e is not None and e >= 0 for e in etas) and etas[-1] == 0
    ckpt = s.result_checkpoint()
    assert ckpt.arch == "lenet" and ckpt.meta["name"] == "tiny"
    assert ckpt.meta["epochs"] == s.best_epoch and ckpt.meta["epochs_run"] == 3
    assert ckpt.meta["test_acc"] == round(s.test_acc, 6) and ckpt.meta["history"]["epochs"] == [1, 2, 3]
    assert ckpt.meta["config"]["seed"] == 1 and ckpt.meta["train_seconds"] > 0


def test_pauses_do_not_count_as_training_time(tiny_data):
    s = TrainingSession(lenet(epochs=2), data=tiny_data)
    events = s.events()
    assert isinstance(next(events), Started)
    s.control.pause()
    t0 = time.perf_counter()
    threading.Timer(1.0, s.control.resume).start()
    for _ in events:
        pass
    wall = time.perf_counter() - t0
    assert s.control.paused_seconds() >= 0.9
    assert s.active_seconds() <= wall - 0.8


def test_a_stopped_session_keeps_the_best_and_is_marked(tiny_data):
    s = TrainingSession(lenet(epochs=5), data=tiny_data)
    for ev in s.events():
        if isinstance(ev, EpochDone) and ev.epoch == 2:
            s.control.stop()
    assert isinstance(s.result, Stopped) and s.history.epochs == [1, 2]
    ckpt = s.result_checkpoint()
    assert ckpt.meta["stopped_early"] is True and "test_acc" not in ckpt.meta
    assert ckpt.meta["epochs_run"] == 2


def test_finite_divergence_ends_the_session_with_failed(tiny_data, tmp_path):
    out = tmp_path / "m.safetensors"
    with claim_model_output(out) as claim:
        s = TrainingSession(lenet(lr=3.0), data=tiny_data, output=claim)
        events = list(s.events())
    assert isinstance(events[-1], Failed) and "diverged" in events[-1].message
    assert not any(isinstance(e, EpochDone) for e in events) and not out.exists()


@pytest.mark.timeout(300)  # trains several runs: minutes on a loaded 2-core machine
def test_the_session_writes_out_only_when_its_claim_allows(tiny_data, tmp_path):
    out = tmp_path / "m.safetensors"
    with claim_model_output(out) as claim:  # a new file: the first epoch goes there
        s = TrainingSession(lenet(), data=tiny_data, output=claim, name="m")
        list(s.events())
    ckpt = load_checkpoint(out)
    assert ckpt.meta == {**ckpt.meta, "epochs": s.best_epoch, "name": "m"}
    assert ckpt.test_acc == round(s.test_acc, 6) and ckpt.val_acc == round(s.best_val_acc, 6)
    assert ckpt.meta["val_data"] == s.val_data and s.val_data["count"] == 30
    # a file that records 100 % on the same validation data: a new run trains, never saves
    save_checkpoint(out, "lenet", ckpt.state, {**ckpt.meta, "val_acc": 1.0})
    before = out.read_bytes()
    with claim_model_output(out) as claim:
        s = TrainingSession(lenet(), data=tiny_data, output=claim, name="m")
        events = list(s.events())
    assert isinstance(events[-1], Finished) and s.refusal is None
    assert out.read_bytes() == before and s.saved_acc is None and not s.owns_out
    # measured on other data: the run ends at Started, before any training
    save_checkpoint(out, "lenet", ckpt.state, {**ckpt.meta, "val_data": {"sha256": "0" * 64,
                                                                          "count": 30}})
    before = out.read_bytes()
    with claim_model_output(out) as claim:
        s = TrainingSession(lenet(), data=tiny_data, output=claim, name="m")
        events = list(s.events())
    assert [type(e) for e in events] == [Failed] and "other validation data" in s.refusal
    assert out.read_bytes() == before


def test_live_checkpoints_have_the_same_shape(tiny_data):
    s = TrainingSession(lenet(epochs=1), data=tiny_data)
    live = [s.live_checkpoint(ev) for ev in s.events() if isinstance(ev, EpochDone)]
    assert len(live) == 1 and live[0].meta["live"] is True and live[0].meta["epochs"] == 1
    assert set(s.result_checkpoint().meta) - set(live[0].meta) <= {"test_acc"}


@pytest.mark.parametrize("path", ["digitpad/cli/train.py", "digitpad/app/training/tab.py"])
def test_cli_and_training_tab_build_no_metadata_of_their_own(path):
    """One copy of the logic: the CLI and the Training tab go through the session."""
    source = (ROOT / path).read_text()
    assert "TrainingSession" in source
    assert "make_meta(" not in source and "History(" not in source
    assert "training.run(" not in source and "run(config" not in source
