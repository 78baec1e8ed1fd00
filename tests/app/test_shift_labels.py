"""The shift test says whose digit it plots, and plots the model the Draw tab reads with."""

from __future__ import annotations

from qt_helpers import open_inside_page

TWO = [(90, 70), (140, 50), (190, 70), (190, 110), (150, 160), (100, 210), (200, 210)]


def shift_page(window, stroke, qtbot):
    tab = window.draw_tab
    stroke(tab.canvas, TWO)
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab.last_prediction.empty)
    return tab, open_inside_page(qtbot, tab, "shift", 2)


def test_the_predicted_digit_is_not_called_the_true_one(lenet_window, stroke, qtbot):
    tab, panel = shift_page(lenet_window, stroke, qtbot)
    predicted = tab.last_prediction.digit
    caption = panel.shift_caption.text()
    assert "True digit" not in caption  # it said "True digit 1" for a 7 read as 1
    assert caption.startswith(f"Digit {predicted}, the prediction")
    meant = (predicted + 3) % 10
    with qtbot.waitSignal(panel.computed, timeout=10000, check_params_cb=lambda k: k == "shift"):
        panel.true_box.setCurrentIndex(meant + 1)
    assert panel.shift_caption.text().startswith(f"True digit {meant}.")


def test_the_model_in_use_is_plotted_beside_the_shipped_ones(lenet_window, stroke, qtbot):
    w = lenet_window
    own = w.draw_tab.current_entry().to_checkpoint()
    w.draw_tab.add_checkpoint(own, source="trained", select=True)  # "lenet #1 · trained here"
    tab, panel = shift_page(w, stroke, qtbot)
    names = list(panel.last_shift.confidence)
    assert names[:3] == ["digitnet", "lenet", "dense"]
    assert names[3:] == ["lenet #1 (in use)"]
    assert "lenet #1 (in use)" in panel.curves
    assert tab.select_model("lenet")  # back to a shipped model: its extra curve goes
    with qtbot.waitSignal(panel.computed, timeout=10000, check_params_cb=lambda k: k == "shift"):
        panel.refresh()
    assert list(panel.curves) == ["digitnet", "lenet", "dense"]


def test_the_legend_sits_above_every_curve(lenet_window, stroke, qtbot):
    tab, panel = shift_page(lenet_window, stroke, qtbot)
    panel.shift_plot.resize(520, 260)
    legend = panel.shift_plot.getPlotItem().legend
    vb = panel.shift_plot.getPlotItem().getViewBox()
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()
    bottom = vb.mapSceneToView(legend.mapToScene(legend.boundingRect().bottomLeft())).y()
    assert bottom > 1.0  # the curves never go above P = 1
