"""Issue 17's smaller items: texts that fit, tooltips that wrap, the common key for a new
drawing."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from qt_helpers import SEVEN
from digitpad.app.mistakes.state import GalleryItem


def test_mistake_captions_show_their_confidence_in_the_cell(window):
    m = window.mistakes_tab
    caption = GalleryItem(1901, 8, 3, 0.87, np.full(10, 0.1)).caption()
    assert caption == "#1901\n87%"
    room = m.gallery.gridSize().width() - 4
    assert all(m.gallery.fontMetrics().horizontalAdvance(line) <= room
               for line in caption.split("\n"))
    lines = m.gallery.gridSize().height() - m.gallery.iconSize().height()
    assert lines >= 2 * m.gallery.fontMetrics().lineSpacing()


def test_the_size_table_header_fits_and_errors_have_tooltips(window, qtbot):
    lab = window.lab_tab
    window.tabs.setCurrentWidget(lab)
    window.resize(830, 568)
    for _ in range(3):
        QApplication.processEvents()
    header = lab.size_table.horizontalHeader()
    text = lab.size_table.horizontalHeaderItem(4).text()
    assert header.sectionSize(4) >= header.fontMetrics().horizontalAdvance(text)
    assert header.sectionViewportPosition(4) + header.sectionSize(4) <= header.viewport().width()
    lab.load_size_preset("7x7 kernel on a 640x480 photo")
    lab.size_table.item(1, 1).setText("999")  # a kernel larger than the photo
    item = lab.size_table.item(1, 4)
    assert item.text() and item.toolTip() == item.text()


def test_long_tooltips_wrap_and_recipe_explains_itself(window):
    t = window.training_tab
    assert t.permute_check.toolTip().startswith("<p>")  # rich text: Qt wraps it
    assert "one-cycle" in t.recipe_combo.toolTip() and "SGD" in t.recipe_combo.toolTip()


def test_ctrl_n_clears_the_drawing(window, qtbot, stroke):
    canvas = window.draw_tab.canvas
    stroke(canvas, SEVEN)
    assert not canvas.is_empty()
    window.activateWindow()
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert canvas.is_empty()


def test_dark_theme_plots_keep_their_loss_line_and_legends_readable(window):
    from PySide6.QtGui import QColor

    window.set_theme("dark")
    plots = window.training_tab.plots
    bg = QColor(window.prefs and "#1e1f22")
    raw = plots.loss_raw.opts["pen"].color()
    assert raw.alpha() >= 180 and raw.lightness() - bg.lightness() > 100
    for _sample, label in plots.loss_plot.legend.items + plots.acc_plot.legend.items:
        assert QColor(label.opts["color"]).lightness() > 150  # light text on the dark plot
    star = plots.test_point.opts
    assert star["symbolPen"] is not None and star["symbolSize"] >= 12
    window.set_theme("light")
    for _sample, label in plots.loss_plot.legend.items:
        assert QColor(label.opts["color"]).lightness() < 100


def test_the_labs_kernel_result_is_bright_enough_on_black(window):
    from digitpad.app import theme

    window.set_theme("dark")
    lut = window.lab_tab._diverging.astype(float)
    bg = np.array([int(theme.DARK.plot_bg[i:i + 2], 16) for i in (1, 3, 5)], float)
    luma = np.array([0.299, 0.587, 0.114])
    half_blue, half_red = lut[64], lut[192]  # a response half the strongest, either sign
    assert (half_blue - bg) @ luma > 55 and (half_red - bg) @ luma > 40
    assert np.abs(lut[127:129] - bg).max() < 12  # zero still all but vanishes into the background


def test_legend_markers_wear_their_curves_colours(window):
    """A legend's marker is drawn from the curve's scatter defaults: those are the curve's own
    colour (they were pyqtgraph's grey-blue, and the test star vanished on the dark theme)."""
    from digitpad.app.widgets import plots as P

    tp = window.training_tab.plots
    for curve, color in ((tp.train_acc, P._TRAIN), (tp.val_acc, P._TEST), (tp.test_point, P._FINAL)):
        opts = curve.scatter.opts
        assert opts["brush"].color().getRgb()[:3] == color
        assert opts["size"] >= 8
    samples = {label.text: sample for sample, label in tp.acc_plot.legend.items}
    star = samples["test (once, best epoch)"]
    from PySide6.QtGui import QImage, QPainter

    img = QImage(24, 24, QImage.Format.Format_RGB32)
    img.fill(0x202124)  # the dark theme's plot background
    painter = QPainter(img)
    star.paint(painter)
    painter.end()
    reds = sum(1 for x in range(24) for y in range(24)
               if QImage.pixelColor(img, x, y).red() > 150 and QImage.pixelColor(img, x, y).green() < 90)
    assert reds >= 20  # a red star of some size, not a dot
