"""The Lab's labels follow what is shown: the products header, the count of window
positions, the parameters of the layers in the size table."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from digitpad.app.lab.state import SlideState, size_parameters
from digitpad.core.insight import lab


@pytest.fixture
def tab(qtbot):
    from digitpad.app.lab.tab import LabTab

    t = LabTab()
    qtbot.addWidget(t)
    t.show()
    return t


def test_a_new_kernel_clears_the_old_windows_sum(tab, qtbot):
    qtbot.mouseClick(tab.step_button, Qt.MouseButton.LeftButton)
    assert tab.products_view.title.startswith("window × kernel, sum")
    tab.kernel_edit.setText("1 0; 0 1")
    tab.kernel_edit.editingFinished.emit()
    assert tab.products_view.title == "window × kernel"  # not "…, sum 5" over an empty grid


def test_one_window_position_is_singular():
    s = SlideState()
    s.set(image=s.kernel.copy())  # the image the size of the kernel: one position
    assert s.n_steps == 1
    assert s.caption() == "1 window position. Press Step or Play."


def test_the_parameter_total_counts_the_layers_shown(tab):
    tab.load_size_preset("LeNet")
    assert tab.params_label.text().endswith("total 44,426")  # LeNet: its dense layers too
    tab.load_size_preset("digitnet")
    digitnet_convs = (1 * 9 * 32 + 32) + (32 * 9 * 32 + 32) + (32 * 9 * 64 + 64) \
        + (64 * 9 * 64 + 64) + (64 * 9 * 128 + 128)
    assert f"total {digitnet_convs:,} (convs only" in tab.params_label.text()
    tab.remove_size_layer()  # the last conv goes: the total follows
    assert f"total {digitnet_convs - (64 * 9 * 128 + 128):,} (convs only" in tab.params_label.text()
    tab.load_size_preset("7x7 kernel on a 640x480 photo")
    assert tab.params_label.text().endswith("total 50")  # one 7x7 filter and its bias
    tab.remove_size_layer()
    assert "no parameters" in tab.params_label.text()


def test_size_parameters_of_a_pool_only_chain():
    line, tip = size_parameters(28, 28, [lab.SizeLayer("pool", 2, 0, 2)])
    assert "no parameters" in line and tip == ""
