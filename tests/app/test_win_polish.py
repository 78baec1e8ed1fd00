"""Issue 21 §2: what a careful user tripped on, each driven through real widgets."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from qt_helpers import watch_parking

from digitpad.app.close_question import running_text
from digitpad.app.training.tab import TrainingTab

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def training(qtbot, settings):
    t = TrainingTab(settings)
    qtbot.addWidget(t)
    t.resize(1000, 700)
    t.show()
    yield t
    t.shutdown(1000)


def _setup(tab, data, epochs, batch):
    tab.arch_combo.setCurrentIndex(tab.arch_combo.findData("lenet"))
    tab.epochs_spin.setValue(epochs)
    tab.batch_spin.setValue(batch)
    tab.lr_edit.setText("0.004")
    tab.device_combo.setCurrentIndex(tab.device_combo.findData("cpu"))
    tab.data_edit.setText(str(data))


def _first_run_then_stopped_second(qtbot, tab, data, monkeypatch, between=None):
    _setup(tab, data, epochs=1, batch=50)
    qtbot.mouseClick(tab.start_button, LEFT)
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=20_000)
    assert tab.use_button.isEnabled()  # the first run's model
    if between is not None:
        between()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    _setup(tab, data, epochs=5, batch=1)  # 300 batches in epoch 1
    qtbot.mouseClick(tab.start_button, LEFT)
    parked = watch_parking(tab._handle.control)
    qtbot.waitUntil(lambda: tab.batches_seen >= 1, timeout=20_000)
    qtbot.mouseClick(tab.pause_button, LEFT)
    qtbot.waitUntil(parked.is_set, timeout=20_000)
    quit_text = running_text(tab)  # what the quit box would say now
    qtbot.mouseClick(tab.stop_button, LEFT)
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=5000)
    return quit_text


def test_stop_before_epoch_1_says_use_and_save_act_on_the_last_run(qtbot, training, tiny_mnist,
                                                                   monkeypatch):
    _first_run_then_stopped_second(qtbot, training, tiny_mnist, monkeypatch)
    text = training.result_label.text()
    assert "no new model" in text
    # the start question promised the last run's model stays; the Result must say what the
    # still-enabled buttons act on
    assert training.use_button.isEnabled()
    assert "last run's model" in text and training.trained_model().name in text


def test_quit_box_at_0_completed_offers_no_save_when_the_last_model_is_saved(
        qtbot, training, tiny_mnist, monkeypatch):
    (text, can_keep) = _first_run_then_stopped_second(
        qtbot, training, tiny_mnist, monkeypatch, between=training.state.saved)
    assert "0 completed" in text
    assert not can_keep  # nothing unsaved: "Save what it has…" would save nothing new
