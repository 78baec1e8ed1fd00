"""conv1's kernels in the Training tab, redrawn after each epoch of a real run."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from digitpad.app.training.kernels_view import NO_MAPS, conv1_weight, kernel_mosaic
from digitpad.app.training.tab import TrainingTab
from digitpad.core.nets.models import create_model


def test_conv1_weight_of_each_architecture():
    assert conv1_weight(create_model("lenet").state_dict()).shape == (6, 5, 5)
    assert conv1_weight(create_model("digitnet").state_dict()).shape == (32, 3, 3)
    assert conv1_weight(create_model("dense").state_dict()) is None


def test_mosaic_scales_each_kernel_and_leaves_gaps():
    w = np.stack([np.full((3, 3), 2.0), -np.eye(3) * 0.5, np.zeros((3, 3))]).astype(np.float32)
    m = kernel_mosaic(w, cols=2)
    assert m.shape == (7, 7)
    np.testing.assert_array_equal(m[:3, :3], np.ones((3, 3)))
    np.testing.assert_array_equal(m[:3, 4:7], -np.eye(3))
    assert np.isnan(m[3]).all() and np.isnan(m[:, 3]).all()
    np.testing.assert_array_equal(m[4:, :3], np.zeros((3, 3)))


@pytest.fixture
def tab(qtbot, tmp_path):
    t = TrainingTab(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(t)
    t.resize(1000, 760)
    t.show()
    yield t
    t.shutdown(1000)


def test_kernels_follow_each_epoch(qtbot, tab, tiny_mnist):
    tab.arch_combo.setCurrentIndex(tab.arch_combo.findData("lenet"))
    tab.epochs_spin.setValue(2)
    tab.batch_spin.setValue(50)
    tab.device_combo.setCurrentIndex(tab.device_combo.findData("cpu"))
    tab.data_edit.setText(str(tiny_mnist))
    tab.live_check.setChecked(True)
    epochs = []
    tab.live_weights.connect(epochs.append)
    shown = []
    tab.live_weights.connect(lambda _c: shown.append(tab.kernels.mosaic.copy()))
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=30_000)
    assert len(shown) == 2 and not np.allclose(np.nan_to_num(shown[0]), np.nan_to_num(shown[1]))
    last = epochs[-1].state["conv1.weight"][:, 0].numpy()
    np.testing.assert_allclose(tab.kernels.mosaic, kernel_mosaic(last, cols=8), equal_nan=True)
    assert "after epoch 2" in tab.kernels.title.text()
    tab.kernels.clear("dense")
    assert tab.kernels.title.text() == NO_MAPS and tab.kernels.mosaic is None


def test_theme_switch_recolours_zero_weights(qtbot, tab):
    from PySide6.QtWidgets import QApplication

    from digitpad.app import theme

    app = QApplication.instance()
    tab.kernels.show_state(create_model("lenet").state_dict(), 1)
    try:
        theme.apply_theme(app, "dark")
        qtbot.waitUntil(lambda: tuple(tab.kernels._lut[128]) == (0x1e, 0x1f, 0x22) or
                        tuple(tab.kernels._lut[127]) == (0x1e, 0x1f, 0x22), timeout=2000)
    finally:
        theme.apply_theme(app, "light")
    qtbot.waitUntil(lambda: tuple(tab.kernels._lut[127]) in ((255, 255, 255), (254, 254, 254)) or
                    tuple(tab.kernels._lut[128]) in ((255, 255, 255), (254, 254, 254)), timeout=2000)


def test_reshuffled_pixels_option_and_the_previous_run_on_the_chart(qtbot, tab, tiny_mnist,
                                                                    monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    # the second start asks about the first run's unsaved model: yes, start anyway
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    tab.arch_combo.setCurrentIndex(tab.arch_combo.findData("lenet"))
    tab.epochs_spin.setValue(1)
    tab.batch_spin.setValue(50)
    tab.device_combo.setCurrentIndex(tab.device_combo.findData("cpu"))
    tab.data_edit.setText(str(tiny_mnist))
    assert not tab.build_config().permute
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=30_000)
    first_val = list(tab.plots._val)
    qtbot.mouseClick(tab.permute_check, Qt.MouseButton.LeftButton, pos=tab.permute_check.rect().center())
    cfg = tab.build_config()
    assert cfg.permute and cfg.synth_share == 0 and not cfg.augment
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=30_000)
    x, y = tab.plots.previous.getData()
    np.testing.assert_allclose(y, first_val)
    assert tab.plots.previous_name == "lenet (validation)"
    assert tab.trained_model().meta["config"]["permute"] is True
