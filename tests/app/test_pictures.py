"""Pictures: feature maps, why-map, plots and the confusion matrix as PNG and SVG, from File ›
Export picture and from a right-click menu; copy to the clipboard; reset zoom."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QPoint
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication

from qt_helpers import SEVEN


def drawn(window, stroke, qtbot):
    stroke(window.draw_tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: window.draw_tab.last_prediction is not None
                    and not window.draw_tab.last_prediction.empty, timeout=10000)


def right_click(view) -> None:
    """What Qt sends the view's viewport on a right click."""
    pos = QPoint(view.width() // 2, view.height() // 2)
    QApplication.sendEvent(view.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                                              view.viewport().mapToGlobal(pos)))


def test_file_export_writes_png_and_svg_of_every_picture(lenet_window, stroke, qtbot, tmp_path):
    w = lenet_window
    drawn(w, stroke, qtbot)
    names = [n for n, _ in w.pictures()]
    assert {"feature maps", "why-map", "training plots", "confusion matrix",
            "probabilities"} <= set(names)
    w._fill_export_menu()
    assert [a.text() for a in w.export_menu.actions()] == [n.capitalize() + "…" for n in names]
    views = dict(w.pictures())
    png = w.export_picture("feature maps", views["feature maps"], str(tmp_path / "maps.png"))
    with Image.open(png) as im:
        assert im.size[0] >= views["feature maps"].width() and im.getextrema() != ((0, 0),) * 3
    svg = w.export_picture("training plots", views["training plots"], str(tmp_path / "plots.svg"))
    text = svg.read_text()
    assert "<svg" in text and "Training loss" in text  # text stays text in the SVG
    w.tabs.setCurrentWidget(w.mistakes_tab)
    cm = w.export_picture("confusion matrix", views["confusion matrix"], str(tmp_path / "cm.png"))
    assert cm.stat().st_size > 0


def test_right_click_offers_export_copy_and_reset_zoom(lenet_window, stroke, qtbot):
    w = lenet_window
    drawn(w, stroke, qtbot)
    w.tabs.setCurrentWidget(w.training_tab)
    view = w.training_tab.plots.view
    vb = w.training_tab.plots.loss_plot.getViewBox()
    w.training_tab.plots.loss_plot.plot([0, 1, 2, 3], [2.0, 1.0, 0.5, 0.3])
    vb.autoRange()
    before = vb.viewRange()
    vb.scaleBy((0.25, 0.25))  # zoomed in, as a wheel would
    assert vb.viewRange() != before
    right_click(view)
    menu = w.picture_menus["training plots"].menu
    assert menu is not None
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert set(actions) == {"Export training plots…", "Copy picture", "Reset zoom"}
    assert not vb.menuEnabled()  # one menu, not pyqtgraph's on top of ours
    actions["Reset zoom"].trigger()
    assert vb.viewRange() == before
    actions["Copy picture"].trigger()
    pix = QApplication.clipboard().pixmap()
    assert not pix.isNull() and pix.width() == view.grab().width()
    menu.close()


def test_export_to_a_folder_that_cannot_be_written_is_one_warning(lenet_window, tmp_path,
                                                                  recorded_dialogs):
    w = lenet_window
    (tmp_path / "file").write_text("x")
    views = dict(w.pictures())
    assert w.export_picture("feature maps", views["feature maps"],
                            str(tmp_path / "file" / "maps.png")) is None
    [(kind, _title, text)] = recorded_dialogs
    assert kind == "warning" and "maps.png" in text
