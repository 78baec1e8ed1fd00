"""The training generator: it learns, reports in order, honours stop and pause, fails clearly."""

import threading

import pytest
import torch

from digitpad.core.learning import training
from digitpad.core.data.mnist import load_mnist
from digitpad.core.nets.devices import DeviceError, resolve_device
from digitpad.core.nets.models import create_model
from digitpad.core.learning.config import TrainConfig, recipe_config
from digitpad.core.learning.control import TrainControl
from digitpad.core.learning.events import BatchDone, EpochDone, Failed, Finished, Started, Stopped
from digitpad.core.learning.training import run


@pytest.fixture(scope="module")
def tiny_data(tiny_mnist):
    return load_mnist(tiny_mnist)


def small_config(**kw) -> TrainConfig:
    base = dict(epochs=2, batch_size=32, device="cpu", report_every=1, seed=0)
    base.update(kw)
    return recipe_config("fast", kw.pop("model", "lenet"), **{k: v for k, v in base.items() if k != "model"})


def test_a_few_steps_lower_the_loss(tiny_data):
    events = list(run(small_config(epochs=3, lr=5e-3), tiny_data))
    epochs = [e for e in events if isinstance(e, EpochDone)]
    assert len(epochs) == 3
    assert epochs[-1].train_loss < 0.8 * epochs[0].train_loss
    batches = [e.loss for e in events if isinstance(e, BatchDone)]
    assert sum(batches[-5:]) / 5 < sum(batches[:5]) / 5
    assert isinstance(events[-1], Finished)


def test_event_order(tiny_data):
    cfg = small_config(epochs=2)
    events = list(run(cfg, tiny_data))
    kinds = "".join({Started: "S", BatchDone: "b", EpochDone: "E", Finished: "F"}[type(e)]
                    for e in events)
    per_epoch = 9  # 300 images less 30 held out for validation / batch 32, every batch reported
    assert kinds == "S" + ("b" * per_epoch + "E") * 2 + "F"
    started, fin = events[0], events[-1]
    assert started.train_size == 270 and started.val_size == 30 and started.test_size == 100
    assert started.batches_per_epoch == per_epoch and started.parameters == 44_426
    steps = [e.step for e in events if isinstance(e, BatchDone)]
    assert steps == list(range(1, 2 * per_epoch + 1))
    epoch_events = [e for e in events if isinstance(e, EpochDone)]
    assert [e.epoch for e in epoch_events] == [1, 2]
    assert fin.history.epochs == [1, 2] and fin.best_state is not None
    assert fin.best_val_acc == max(e.val_acc for e in epoch_events)
    assert 0.0 <= fin.test_acc <= 1.0
    assert all(t.device.type == "cpu" for t in epoch_events[0].state.values())


def test_stop_after_the_first_batch(tiny_data):
    control = TrainControl()
    events = []
    for ev in run(small_config(epochs=5), tiny_data, control):
        events.append(ev)
        if isinstance(ev, BatchDone):
            control.stop()
    assert isinstance(events[-1], Stopped)
    assert sum(isinstance(e, BatchDone) for e in events) == 1
    assert not any(isinstance(e, (EpochDone, Finished)) for e in events)
    assert events[-1].best_state is None and events[-1].epoch == 0


def test_stop_after_an_epoch_keeps_the_best(tiny_data):
    control = TrainControl()
    events = []
    for ev in run(small_config(epochs=5), tiny_data, control):
        events.append(ev)
        if isinstance(ev, EpochDone):
            control.stop()
    stopped = events[-1]
    assert isinstance(stopped, Stopped) and stopped.epoch == 1 and stopped.best_epoch == 1
    assert stopped.best_state is not None


def test_pause_blocks_and_resume_continues(tiny_data):
    control = TrainControl()
    events: list = []
    first_batch = threading.Event()
    paused_ack = threading.Event()

    def consume():
        for ev in run(small_config(epochs=1), tiny_data, control):
            events.append(ev)
            if isinstance(ev, BatchDone) and not first_batch.is_set():
                first_batch.set()
                paused_ack.wait(30)

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    assert first_batch.wait(60)
    control.pause()
    assert control.paused
    paused_ack.set()
    worker.join(0.5)  # plenty of time for several batches, were it running
    assert worker.is_alive()
    assert sum(isinstance(e, BatchDone) for e in events) == 1
    control.resume()
    worker.join(60)
    assert not worker.is_alive()
    assert isinstance(events[-1], Finished)
    assert sum(isinstance(e, BatchDone) for e in events) == 9


def test_stop_wakes_a_paused_run(tiny_data):
    control = TrainControl()
    control.pause()
    events: list = []
    worker = threading.Thread(target=lambda: events.extend(run(small_config(), tiny_data, control)),
                              daemon=True)
    worker.start()
    worker.join(0.5)
    assert worker.is_alive() and not any(isinstance(e, BatchDone) for e in events)
    control.stop()
    worker.join(60)
    assert not worker.is_alive() and isinstance(events[-1], Stopped)


def test_huge_learning_rate_fails_clearly(tiny_data):
    events = list(run(small_config(lr=1e12), tiny_data))
    assert isinstance(events[-1], Failed)
    assert "diverged" in events[-1].message and "learning rate" in events[-1].message
    assert not any(isinstance(e, Finished) for e in events)


def test_non_finite_loss_fails(tiny_data, monkeypatch):
    real = training.F.cross_entropy

    def nan_loss(*args, **kwargs):
        return real(*args, **kwargs) * float("nan")

    monkeypatch.setattr(training.F, "cross_entropy", nan_loss)
    events = list(run(small_config(), tiny_data))
    assert isinstance(events[-1], Failed) and "nan" in events[-1].message
    assert not any(isinstance(e, (Finished, EpochDone)) for e in events)


def test_resume_starts_from_the_given_weights(tiny_data):
    torch.manual_seed(123)
    start = create_model("lenet").state_dict()
    cfg = recipe_config("lesson", "lenet", epochs=1, lr=1e-9, device="cpu", report_every=1)
    events = list(run(cfg, tiny_data, initial_state=start))
    after = [e for e in events if isinstance(e, EpochDone)][0].state
    assert all(torch.allclose(after[k], start[k], atol=1e-6) for k in start)
    fresh = [e for e in run(cfg, tiny_data) if isinstance(e, EpochDone)][0].state
    assert not torch.allclose(fresh["conv1.weight"], start["conv1.weight"])


def test_lesson_recipe_is_the_lessons():
    cfg = recipe_config("lesson", "lenet")
    assert (cfg.optimizer, cfg.lr, cfg.batch_size, cfg.epochs, cfg.schedule) == ("sgd", 1e-3, 64, 100, "constant")
    assert cfg.momentum == 0.0 and cfg.weight_decay == 0.0 and not cfg.augment
    assert recipe_config("lesson", "lenet", epochs=5).epochs == 5


def test_config_survives_json():
    cfg = recipe_config("fast", "digitnet", epochs=3)
    assert TrainConfig.from_dict(cfg.to_dict() | {"unknown_future_key": 1}) == cfg


@pytest.mark.parametrize("kwargs, words", [
    (dict(recipe="fast", model="resnet"), "resnet"),
    (dict(recipe="slow", model="lenet"), "slow"),
    (dict(recipe="fast", model="lenet", epochs=0), "epochs"),
    (dict(recipe="fast", model="lenet", batch_size=0), "batch size"),
    (dict(recipe="fast", model="lenet", lr=-1.0), "learning rate"),
    (dict(recipe="fast", model="lenet", lr=float("nan")), "learning rate"),
    (dict(recipe="fast", model="lenet", optimizer="adam9"), "optimizer"),
])
def test_invalid_config_is_a_clear_value_error(kwargs, words):
    recipe, model = kwargs.pop("recipe"), kwargs.pop("model")
    with pytest.raises(ValueError, match=words):
        recipe_config(recipe, model, **kwargs)


def test_invalid_config_given_to_run_fails(tiny_data):
    events = list(run(TrainConfig(model="lenet", epochs=0, device="cpu"), tiny_data))
    assert len(events) == 1 and isinstance(events[0], Failed) and "epochs" in events[0].message


@pytest.mark.parametrize("device", ["cuda:99", "banana", "tpu"])
def test_bad_device(tiny_data, device):
    with pytest.raises(DeviceError) as err:
        resolve_device(device)
    message = str(err.value)
    # the message names what was asked for: the device, or CUDA for a GPU that is not there
    named = f"'{device}'" in message if not device.startswith("cuda") else "CUDA" in message
    assert named, message
    events = list(run(small_config(device=device), tiny_data))
    assert len(events) == 1 and isinstance(events[0], Failed)
    assert message in events[0].message  # the run fails with the same readable reason


def test_one_cycle_schedule_survives_runs_of_a_few_steps():
    """torch's OneCycleLR divides by zero for tiny step counts; ours must not, and must cycle."""
    from digitpad.core.learning.training import schedule_for

    for total in (1, 2, 3, 10, 1000):
        cfg = recipe_config("fast", "lenet", lr=0.01)
        model = torch.nn.Linear(2, 2)
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
        sched = schedule_for(cfg, opt, total)
        lrs = [opt.param_groups[0]["lr"]]
        for _ in range(total):
            opt.step()
            sched.step()
            lrs.append(opt.param_groups[0]["lr"])
        assert lrs[0] == pytest.approx(0.001)  # starts at lr / 10
        assert max(lrs) == pytest.approx(0.01)  # peaks at lr
        if total >= 3:
            assert lrs[-1] < 0.001  # ends far below the start


def test_stop_during_evaluation_ends_the_run_without_waiting_for_the_scores(tiny_mnist):
    """A window closed while the epoch's validation set is being scored must not wait for it."""
    data = load_mnist(tiny_mnist)
    control = TrainControl()
    cfg = recipe_config("fast", "lenet", epochs=3, batch_size=64, eval_batch_size=10, device="cpu")
    calls = {"n": 0}
    real = training.evaluate

    def evaluate_then_stop(*args, **kwargs):
        stop = kwargs["should_stop"]

        def stop_after_two_batches():
            calls["n"] += 1
            if calls["n"] == 2:
                control.stop()
            return stop()

        kwargs["should_stop"] = stop_after_two_batches
        return real(*args, **kwargs)

    import unittest.mock as mock

    with mock.patch.object(training, "evaluate", evaluate_then_stop):
        events = list(training.run(cfg, data, control))
    assert not any(isinstance(e, EpochDone) for e in events)
    assert isinstance(events[-1], Stopped) and events[-1].best_state is None
    assert calls["n"] == 2  # the remaining batches of the validation set were never scored
