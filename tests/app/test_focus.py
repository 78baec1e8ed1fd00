"""Every Tab stop shows that it has the focus; views that only show are not Tab stops; the
confusion matrix, a Tab stop, is driven by the arrow keys and Enter."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QAbstractSpinBox, QComboBox,
                               QLineEdit, QSlider, QTabBar, QTabWidget, QTextEdit,
                               QWidget)

from qt_helpers import deliver_posted_events

# Qt's style draws focus for these itself
DRAWN_BY_QT = (QAbstractButton, QAbstractItemView, QAbstractSpinBox, QComboBox, QLineEdit, QSlider,
               QTabBar, QTabWidget, QTextEdit)


def tab_stops(page: QWidget) -> list[QWidget]:
    return [w for w in page.findChildren(QWidget)
            if w.isVisible() and w.isEnabled() and w.focusPolicy() & Qt.FocusPolicy.TabFocus
            and w.focusProxy() is None]  # a proxied widget hands its focus on (a view's viewport)


def shows_focus(w: QWidget, qtbot) -> bool:
    w.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(w.hasFocus, timeout=2000)
    focused = w.grab().toImage()
    w.clearFocus()
    qtbot.waitUntil(lambda: not w.hasFocus(), timeout=2000)
    return focused != w.grab().toImage()


def test_every_tab_stop_on_every_tab_shows_its_focus(window, qtbot):
    window.resize(1280, 820)
    window.activateWindow()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=5000)
    window.draw_tab.inside.toggle.setChecked(True)  # its pages have plots too
    silent = []
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        deliver_posted_events()
        for w in tab_stops(window.tabs.currentWidget()):
            if not isinstance(w, DRAWN_BY_QT) and not shows_focus(w, qtbot):
                silent.append(f"{window.tabs.tabText(i)}: {type(w).__name__} in "
                              f"{type(w.parentWidget()).__name__}")
    assert silent == []


def test_own_tab_stops_are_the_few_that_take_keys(window, qtbot):
    """Plots and maps take the mouse only: Tab skips them (it used to land on four of them
    with nothing to see)."""
    window.resize(1280, 820)
    window.draw_tab.inside.toggle.setChecked(True)
    own = set()
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        deliver_posted_events()
        own |= {w.objectName() or type(w).__name__ for w in tab_stops(window.tabs.currentWidget())
                if not isinstance(w, DRAWN_BY_QT)}
    assert own == {"featureMaps", "confusionMatrix", "DrawingCanvas"}


def test_the_matrix_follows_the_arrow_keys_and_enter_opens_the_image(make_window, qtbot, tiny_mnist):
    from digitpad.app.settings import DATA_DIR

    window = make_window()
    window.settings.setValue(DATA_DIR, str(tiny_mnist))
    assert window.draw_tab.select_model("lenet")
    tab = window.mistakes_tab
    with qtbot.waitSignal(tab.scored, timeout=60_000):
        window.tabs.setCurrentWidget(tab)
    tab.select_cell(5, 5)
    view = tab.plot_widget
    view.setFocus()
    for key, cell in ((Qt.Key.Key_Right, (5, 6)), (Qt.Key.Key_Down, (6, 6)), (Qt.Key.Key_Left, (6, 5)),
                      (Qt.Key.Key_Up, (5, 5))):
        qtbot.keyClick(view, key)
        assert tab.state.selected == cell
        assert tab.marker.rect().topLeft().toTuple() == (cell[1], cell[0])  # drawn where it is
    tab.select_cell(9, 9)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert tab.state.selected == (9, 9)  # the edge holds
    tab.select_cell(3, 3)  # images of 3 read as 3: the tiny test set has some
    assert tab.gallery.count() > 0
    with qtbot.waitSignal(tab.open_in_canvas, timeout=2000):
        qtbot.keyClick(view, Qt.Key.Key_Return)
    assert window.tabs.currentWidget() is window.draw_tab


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_collection_canvas_shows_its_focus(window, qtbot, theme):
    window.set_theme(theme)
    window.activateWindow()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=5000)
    window.tabs.setCurrentWidget(window.handwriting_tab)
    deliver_posted_events()
    assert shows_focus(window.handwriting_tab.canvas, qtbot)


def test_the_readme_names_the_tab_stops_the_window_has():
    """Issue 21 §2.8: Tab stopped on the feature maps while the README said maps are skipped."""
    from pathlib import Path

    text = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert "plots and maps take the mouse only" not in text
    assert ("Three views are Tab stops, each with a ring when it has the focus: the canvas, "
            "the feature maps") in text
