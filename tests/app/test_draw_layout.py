"""The Draw tab's layout: stable under the first stroke, nothing clipped or overlapping, at the
default size and at the window's minimum size; the feature-map page for every model."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QWidget

from qt_helpers import SEVEN, deliver_posted_events

SIZES = ("default", "minimum")


def _rect_in(widget: QWidget, ancestor: QWidget) -> QRect:
    return QRect(widget.mapTo(ancestor, widget.rect().topLeft()), widget.size())


def _size(window, qtbot, which: str) -> None:
    if which == "minimum":
        window.resize(window.minimumSizeHint())
        window.resize(1, 1)  # Qt clamps to the minimum
    deliver_posted_events()  # the layout at that size


def _text_fits(label) -> bool:
    fm = label.fontMetrics()
    if label.wordWrap():
        return label.heightForWidth(label.width()) <= label.height()
    return all(fm.horizontalAdvance(line) <= label.width() for line in label.text().split("\n"))


@pytest.mark.parametrize("which", SIZES)
def test_the_first_stroke_does_not_move_the_canvas(lenet_window, qtbot, stroke, which):
    w = lenet_window
    _size(w, qtbot, which)
    tab = w.draw_tab
    before = _rect_in(tab.canvas, w)
    title = _rect_in(tab.prediction.steps_title, w)
    assert tab.prediction.steps_title.isVisible()
    assert title.bottom() < _rect_in(tab, w).bottom()  # "What the network sees" not cut off
    stroke(tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab.last_prediction.empty)
    deliver_posted_events()  # the layout pass the shown prediction asked for
    assert tab.last_prediction is not None and not tab.last_prediction.empty
    assert _rect_in(tab.canvas, w) == before
    assert _rect_in(tab.prediction.steps_title, w) == title


@pytest.mark.parametrize("which", SIZES)
def test_empty_text_and_previews_are_whole_and_apart(lenet_window, qtbot, stroke, which):
    w = lenet_window
    _size(w, qtbot, which)
    view = w.draw_tab.prediction
    assert view.steps_note.isVisible() and _text_fits(view.steps_note)
    assert view.steps_note.text().startswith("Nothing drawn yet")
    assert _text_fits(view.confidence_label)
    stroke(w.draw_tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: w.draw_tab.last_prediction is not None
                    and not w.draw_tab.last_prediction.empty)
    deliver_posted_events()  # the layout pass the shown prediction asked for
    assert not view.steps_note.isVisible()
    plot = _rect_in(view.plot, w)
    title = _rect_in(view.steps_title, w)
    boxes = []
    for img, cap in zip(view._step_images, view._step_titles):
        assert img.pixmap() is not None and not img.pixmap().isNull()
        assert _text_fits(cap), cap.text()
        boxes += [_rect_in(img, w), _rect_in(cap, w)]
    for i, a in enumerate(boxes):
        assert not a.intersects(plot) and not a.intersects(title)
        assert _rect_in(w.draw_tab, w).contains(a)
        assert _rect_in(w.draw_tab.splitter.widget(0), w).contains(a)  # not cut by the pane
        for b in boxes[i + 1:]:
            assert not a.intersects(b)


def test_the_dense_page_says_it_has_no_feature_maps(window, qtbot, stroke):
    tab = window.draw_tab
    assert tab.select_model("dense")
    maps = tab.maps
    assert "No feature maps" in maps.title.text() and "no 2-D layers" in maps.title.text()
    assert "kernel that made it" not in maps.detail_text.text()
    assert not maps.shared_box.isVisible() and not maps.detail_glw.isVisible()
    stroke(tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: not tab._timer.isActive())
    maps._hover("fc1", 0)
    assert "unit 1 of 512" in maps.detail_text.text()
    assert tab.select_model("lenet")
    assert maps.title.text() == "<b>Feature maps</b>" and maps.shared_box.isVisible()


def test_lenet_fc2_strip_shows_both_rows(lenet_window, qtbot, stroke):
    tab = lenet_window.draw_tab
    stroke(tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: not tab._timer.isActive())
    for name, units in (("fc1", 120), ("fc2", 84)):
        lv = tab.maps.layers[name]
        assert lv.mosaic.shape == (2, 64)
        (x0, x1), (y0, y1) = lv.viewbox.viewRange()
        assert y0 <= 0.0 and y1 >= 2.0, (name, lv.viewbox.viewRange())  # both rows in view
        assert lv.viewbox.height() >= 2 * 10  # and each row gets pixels
        lv.image  # noqa: B018
        tab.maps._hover(name, units - 1)  # the last unit, on the second row
        assert f"unit {units} of {units}" in tab.maps.detail_text.text()
