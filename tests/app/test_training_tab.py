"""The Training tab driven through its widgets, on the tiny IDX fixture, with a real worker."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog

from qt_helpers import deliver_posted_events, watch_parking

from digitpad.app import settings as keys
from digitpad.app.training.tab import TrainingTab, find_mnist_root
from digitpad.core.nets.checkpoint import Checkpoint, load_checkpoint
from digitpad.core.nets.models import create_model
from digitpad.core.learning.config import recipe_config

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def tab(qtbot, settings):
    t = TrainingTab(settings)
    qtbot.addWidget(t)
    t.resize(1000, 700)
    t.show()
    yield t
    t.shutdown(1000)
    assert not t.is_running()


def _setup(tab: TrainingTab, data, arch="lenet", epochs=2, batch=32, lr="0.004") -> None:
    tab.arch_combo.setCurrentIndex(tab.arch_combo.findData(arch))
    tab.epochs_spin.setValue(epochs)
    tab.batch_spin.setValue(batch)
    tab.lr_edit.setText(lr)
    tab.device_combo.setCurrentIndex(tab.device_combo.findData("cpu"))
    tab.data_edit.setText(str(data))


def _wait_done(qtbot, tab, timeout=20_000) -> None:
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=timeout)


def test_training_through_the_gui_plots_and_enables_use_and_save(qtbot, tab, tiny_mnist):
    _setup(tab, tiny_mnist, epochs=2, batch=32)
    assert not tab.data_banner.isVisible()
    assert not tab.use_button.isEnabled() and not tab.save_button.isEnabled()
    running = []
    tab.running_changed.connect(running.append)
    qtbot.mouseClick(tab.start_button, LEFT)
    assert tab.is_running() and not tab.start_button.isEnabled()
    assert tab.stop_button.isEnabled() and tab.pause_button.isEnabled()
    _wait_done(qtbot, tab)
    assert running == [True, False]
    assert "Finished 2 epochs" in tab.result_label.text(), tab.result_label.text()

    # 300 images less 30 for validation / batch 32 = 9 batches per epoch, reported every 5
    # (and at the last)
    x, y = tab.plots.loss_raw.getData()
    assert len(x) == tab.batches_seen == 4
    assert list(x) == [5, 9, 14, 18]
    assert np.all(np.isfinite(y)) and np.all(y > 0)
    ex, ey = tab.plots.loss_ema.getData()
    assert len(ex) == 4 and ey[0] == y[0]
    ax, ay = tab.plots.val_acc.getData()
    assert list(ax) == [1, 2] and np.all((ay >= 0) & (ay <= 100))
    tx, ty = tab.plots.test_point.getData()  # the test set, scored once at the best epoch
    assert len(tx) == 1 and 0 <= ty[0] <= 100 and "test accuracy" in tab.result_label.text()
    assert len(tab.plots.train_acc.getData()[0]) == 2
    assert tab.start_button.isEnabled() and not tab.stop_button.isEnabled()
    assert tab.use_button.isEnabled() and tab.save_button.isEnabled()
    assert tab.has_unsaved_model()
    assert tab.settings.value(keys.DATA_DIR) == str(tiny_mnist)
    assert tab.settings.value(keys.TRAIN_DEVICE) == "cpu"


def test_use_this_model_emits_a_checkpoint_with_the_trained_weights(qtbot, tab, tiny_mnist):
    _setup(tab, tiny_mnist, arch="lenet", epochs=1, batch=50)
    qtbot.mouseClick(tab.start_button, LEFT)
    _wait_done(qtbot, tab)
    with qtbot.waitSignal(tab.use_model, timeout=1000) as sig:
        qtbot.mouseClick(tab.use_button, LEFT)
    ckpt = sig.args[0]
    assert isinstance(ckpt, Checkpoint) and ckpt.path is None
    assert ckpt.arch == "lenet"
    model = ckpt.build()  # loads strictly: every key and shape right
    torch.manual_seed(ckpt.meta["config"]["seed"])  # the run's starting point: same seed
    initial = create_model("lenet").state_dict()
    assert set(ckpt.state) == set(initial)
    for name, start in initial.items():  # every weight and bias moved from where it started
        if start.is_floating_point() and not name.endswith(("running_mean", "running_var")):
            assert not torch.allclose(ckpt.state[name], start), f"{name} did not train"
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert 0.0 <= ckpt.meta["test_acc"] <= 1.0 and ckpt.meta["epochs"] == 1
    assert ckpt.meta["config"]["model"] == "lenet"
    assert ckpt.meta["history"]["epochs"] == [1]


def test_save_as_writes_a_loadable_safetensors_file(qtbot, tab, tiny_mnist, tmp_path, monkeypatch):
    _setup(tab, tiny_mnist, arch="dense", epochs=1, batch=50, lr="0.002")
    qtbot.mouseClick(tab.start_button, LEFT)
    _wait_done(qtbot, tab)
    target = tmp_path / "out" / "mine"  # no suffix: the tab adds .safetensors
    asked = []

    def fake_dialog(parent, caption, start, filters):
        asked.append(start)
        return str(target), filters

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_dialog))
    assert tab.has_unsaved_model()
    qtbot.mouseClick(tab.save_button, LEFT)
    assert "Saving to" in tab.result_label.text()  # in a worker: the lock may be busy
    qtbot.waitUntil(lambda: not tab.has_unsaved_model(), timeout=20000)
    saved = target.with_name("mine.safetensors")
    assert saved.is_file() and f"Saved to {saved}" in tab.result_label.text()
    assert asked and asked[0].endswith(".safetensors")
    ckpt = load_checkpoint(saved)
    assert ckpt.arch == "dense" and ckpt.meta["name"] == "mine"
    trained = tab.trained_model()
    for k, v in trained.state.items():
        assert torch.equal(ckpt.state[k], v)
    assert not tab.has_unsaved_model()
    assert [p.name for p in saved.parent.iterdir()] == ["mine.safetensors"]  # no temp left


def test_pause_holds_resume_continues_stop_ends_cleanly(qtbot, tab, tiny_mnist):
    _setup(tab, tiny_mnist, arch="lenet", epochs=200, batch=10)
    qtbot.mouseClick(tab.start_button, LEFT)
    parked = watch_parking(tab._handle.control)
    qtbot.waitUntil(lambda: tab.batches_seen >= 3, timeout=20_000)
    qtbot.mouseClick(tab.pause_button, LEFT)
    assert tab.is_paused() and tab.pause_button.text() == "Resume"
    qtbot.waitUntil(parked.is_set, timeout=20_000)  # the batch in flight has ended; held
    deliver_posted_events()  # its events arrive
    held = tab.batches_seen
    deliver_posted_events()
    assert tab.batches_seen == held
    assert tab.is_running() and parked.is_set()
    qtbot.mouseClick(tab.pause_button, LEFT)
    assert not tab.is_paused() and tab.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: tab.batches_seen > held + 2, timeout=20_000)
    assert "samples/s" in tab.speed_label.text() and "ETA" in tab.speed_label.text()
    assert tab.progress.format().startswith("Epoch ") and "batch" in tab.progress.format()
    assert 0 < tab.progress.value() < tab.progress.maximum()
    qtbot.waitUntil(lambda: tab.epochs_seen >= 1, timeout=20_000)
    qtbot.mouseClick(tab.stop_button, LEFT)
    assert not tab.stop_button.isEnabled()
    _wait_done(qtbot, tab)
    assert "Stopped after" in tab.result_label.text(), tab.result_label.text()
    assert tab.use_button.isEnabled()  # the best completed epoch is kept
    assert tab.trained_model().meta["epochs"] >= 1
    assert tab.start_button.isEnabled()


def test_stop_while_paused_before_any_epoch_keeps_nothing(qtbot, tab, tiny_mnist):
    _setup(tab, tiny_mnist, arch="lenet", epochs=5, batch=1)  # 300 batches in epoch 1
    qtbot.mouseClick(tab.start_button, LEFT)
    parked = watch_parking(tab._handle.control)
    qtbot.waitUntil(lambda: tab.batches_seen >= 1, timeout=20_000)
    qtbot.mouseClick(tab.pause_button, LEFT)
    qtbot.waitUntil(parked.is_set, timeout=20_000)  # really held, not just asked to hold
    qtbot.mouseClick(tab.stop_button, LEFT)  # a paused run wakes on stop
    _wait_done(qtbot, tab, timeout=5000)
    assert tab.epochs_seen == 0
    assert "no new model" in tab.result_label.text()
    assert not tab.use_button.isEnabled() and not tab.has_unsaved_model()


def test_live_weights_are_emitted_each_epoch_when_checked(qtbot, tab, tiny_mnist):
    _setup(tab, tiny_mnist, arch="lenet", epochs=2, batch=50)
    tab.live_check.setChecked(True)
    got = []
    tab.live_weights.connect(got.append)
    qtbot.mouseClick(tab.start_button, LEFT)
    _wait_done(qtbot, tab)
    assert [c.meta["epochs"] for c in got] == [1, 2]
    assert all(isinstance(c, Checkpoint) and c.arch == "lenet" for c in got)
    got[-1].build()


def test_non_finite_loss_fails_with_the_reason_and_no_model(qtbot, tab, tiny_mnist):
    _setup(tab, tiny_mnist, arch="lenet", epochs=3, batch=10, lr="1e12")
    used, messages = [], []
    tab.use_model.connect(used.append)
    tab.status_message.connect(messages.append)
    qtbot.mouseClick(tab.start_button, LEFT)
    _wait_done(qtbot, tab)
    text = tab.result_label.text()
    assert "Training failed" in text and "diverged" in text, text
    assert any("diverged" in m for m in messages)
    assert not tab.use_button.isEnabled() and not tab.save_button.isEnabled()
    qtbot.mouseClick(tab.use_button, LEFT)
    assert used == [] and not tab.has_unsaved_model()
    assert tab.start_button.isEnabled()


def test_missing_data_folder_shows_banner_and_reason(qtbot, tab, tmp_path):
    empty = tmp_path / "nothing-here"
    _setup(tab, empty)
    assert tab.data_banner.isVisible()
    assert "MNIST is not in" in tab.data_banner_label.text()
    assert tab.download_button.isVisible() and tab.choose_button.isVisible()
    used = []
    tab.use_model.connect(used.append)
    qtbot.mouseClick(tab.start_button, LEFT)
    assert not tab.is_running()
    assert "Training failed" in tab.result_label.text()
    assert str(empty) in tab.result_label.text()
    assert used == []


def test_missing_data_in_a_programmatic_start_fails_in_the_worker(qtbot, tab, tmp_path):
    tab.data_edit.setText(str(tmp_path / "nowhere"))
    tab.start_training(recipe_config("fast", "lenet", epochs=1, batch_size=16, device="cpu"))
    _wait_done(qtbot, tab)
    assert "MNIST was not found" in tab.result_label.text()
    assert not tab.use_button.isEnabled()


def test_banner_follows_the_folder_and_choose_folder_accepts_subfolders(qtbot, tab, tiny_mnist,
                                                                       tmp_path, monkeypatch):
    tab.data_edit.setText(str(tmp_path))
    assert tab.data_banner.isVisible()
    tab.data_edit.setText(str(tiny_mnist))
    assert not tab.data_banner.isVisible()
    tab.data_edit.setText(str(tmp_path))
    raw = tiny_mnist / "MNIST" / "raw"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(raw)))
    qtbot.mouseClick(tab.choose_button, LEFT)
    assert tab.data_edit.text() == str(tiny_mnist)
    assert not tab.data_banner.isVisible()
    assert find_mnist_root(tmp_path) is None


def test_recipe_and_architecture_fill_defaults(qtbot, tab):
    tab.arch_combo.setCurrentIndex(tab.arch_combo.findData("lenet"))
    tab.recipe_combo.setCurrentIndex(tab.recipe_combo.findData("lesson"))
    assert (tab.epochs_spin.value(), tab.batch_spin.value(), float(tab.lr_edit.text())) == (100, 64, 1e-3)
    tab.recipe_combo.setCurrentIndex(tab.recipe_combo.findData("fast"))
    fast = recipe_config("fast", "lenet")
    assert (tab.epochs_spin.value(), tab.batch_spin.value()) == (fast.epochs, fast.batch_size)
    assert float(tab.lr_edit.text()) == fast.lr
    assert tab.device_combo.count() >= 1 and tab.device_combo.findData("cpu") >= 0
    tab.lr_edit.setText("fast please")
    qtbot.mouseClick(tab.start_button, LEFT)
    assert "not a number" in tab.result_label.text() and not tab.is_running()


def test_continue_only_when_the_current_model_matches(qtbot, tab, tiny_mnist):
    assert not tab.continue_radio.isEnabled()
    lenet = create_model("lenet")
    ckpt = Checkpoint("lenet", {k: v.clone() for k, v in lenet.state_dict().items()},
                      {"name": "my lenet", "test_acc": 0.5})
    tab.arch_combo.setCurrentIndex(tab.arch_combo.findData("digitnet"))
    tab.set_current_model(ckpt)
    assert not tab.continue_radio.isEnabled()
    assert "choose lenet" in tab.continue_note.text()
    tab.arch_combo.setCurrentIndex(tab.arch_combo.findData("lenet"))
    assert tab.continue_radio.isEnabled()
    tab.continue_radio.setChecked(True)
    assert "my lenet" in tab.continue_note.text()
    _setup(tab, tiny_mnist, arch="lenet", epochs=1, batch=50)
    qtbot.mouseClick(tab.start_button, LEFT)
    _wait_done(qtbot, tab)
    meta = tab.trained_model().meta
    assert meta["started_from"] == "my lenet"
    # switching architecture drops back to "from scratch"
    tab.arch_combo.setCurrentIndex(tab.arch_combo.findData("dense"))
    assert tab.scratch_radio.isChecked() and not tab.continue_radio.isEnabled()


def test_shutdown_during_training_joins_quickly(qtbot, settings, tiny_mnist):
    tab = TrainingTab(settings)
    qtbot.addWidget(tab)
    _setup(tab, tiny_mnist, arch="lenet", epochs=500, batch=10)
    qtbot.mouseClick(tab.start_button, LEFT)
    qtbot.waitUntil(lambda: tab.batches_seen >= 2, timeout=20_000)
    handle = tab._handle
    thread = handle.thread_object()
    used = []
    tab.use_model.connect(used.append)
    batches = tab.batches_seen
    assert tab.shutdown(1000) is True  # joined within the second
    assert not thread.isRunning() and handle.done
    assert not tab.is_running() and tab.start_button.isEnabled()
    assert tab.progress.format().startswith("Stopped")
    deliver_posted_events()  # events still queued at shutdown are dropped quietly
    assert tab.batches_seen == batches
    assert used == [] and not tab.has_unsaved_model()
    tab.close()


def test_plots_coalesce_fast_events_and_clear_keeps_items(qtbot):
    from digitpad.app.widgets.plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    raw_item, ema_item = plots.loss_raw, plots.loss_ema
    for step in range(1, 2001):
        plots.add_loss(step, 2.0 / step)
    plots.add_epoch(1, 0.5, 0.6)
    assert plots.redraws == 0  # nothing drawn synchronously per event
    qtbot.waitUntil(lambda: plots.redraws >= 1, timeout=2000)
    assert plots.redraws == 1  # 2,001 events, one redraw
    x, y = plots.loss_raw.getData()
    assert len(x) == 2000 and y[0] == 2.0 and y[-1] == pytest.approx(0.001)
    _, ema = plots.loss_ema.getData()
    assert ema[-1] > y[-1]  # smoothed lags a falling loss
    assert list(plots.val_acc.getData()[1]) == [60.0]
    plots.clear(epochs=5)
    assert plots.loss_raw is raw_item and plots.loss_ema is ema_item
    assert plots.loss_points == 0 and plots.epoch_points == 0
    assert plots.loss_raw.xData is None or len(plots.loss_raw.xData) == 0


def test_a_programmatic_start_shows_its_settings_in_the_form(qtbot, tab, tiny_mnist):
    tab.data_edit.setText(str(tiny_mnist))
    assert tab.arch_combo.currentData() == "digitnet"
    tab.start_training(recipe_config("lesson", "lenet", epochs=1, batch_size=50, lr=0.002, device="cpu"))
    assert tab.arch_combo.currentData() == "lenet" and tab.recipe_combo.currentData() == "lesson"
    assert (tab.epochs_spin.value(), tab.batch_spin.value(), tab.lr_edit.text()) == (1, 50, "0.002")
    _wait_done(qtbot, tab)
    assert "Finished 1 epoch" in tab.result_label.text(), tab.result_label.text()
