"""At the window's minimum size (830x568) and at 900x600 nothing is cut off at the right edge,
and the buttons a run needs are on screen without scrolling."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QScrollArea

from qt_helpers import deliver_posted_events

SMALL = [(830, 568), (900, 600)]


def show_tab(window, qtbot, tab, size):
    window.resize(*size)
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=2000)
    deliver_posted_events()


def unclipped(w) -> tuple[bool, bool]:
    """(whole across, whole down): no parent up to the window (a scroll area's viewport among
    them) cuts it. (QWidget.visibleRegion cannot say: it also subtracts opaque children, and a
    plot is covered by its own graphics view.)"""
    r, across, down = w.rect(), True, True
    while w.parentWidget() is not None:
        r = r.translated(w.pos())
        w = w.parentWidget()
        across &= r.left() >= 0 and r.right() <= w.rect().right()
        down &= r.top() >= 0 and r.bottom() <= w.rect().bottom()
    return across, down


def fully_shown(w) -> bool:
    return unclipped(w) == (True, True)


def scrolled_to(area, w) -> bool:
    """Scrolled to its top, ``w`` shows whole (or, taller than the view, whole across).
    (Not ensureWidgetVisible: it aims at a graphics view's input-method rectangle.)"""
    area.verticalScrollBar().setValue(w.mapTo(area.widget(), QPoint(0, 0)).y())
    deliver_posted_events()
    across, down = unclipped(w)
    return across and (down or w.height() > area.viewport().height())


def nothing_cut_sideways(tab) -> list[str]:
    return [type(a.widget()).__name__ for a in tab.findChildren(QScrollArea)
            if a.isVisible() and a.horizontalScrollBar().maximum() > 0]


def test_the_minimum_size_is_the_smallest_one_checked_here(window):
    assert (window.minimumWidth(), window.minimumHeight()) <= SMALL[0]


@pytest.mark.parametrize("size", SMALL)
def test_training_keeps_run_and_result_buttons_in_view(window, qtbot, size):
    tab = window.training_tab
    show_tab(window, qtbot, tab, size)
    for b in (tab.start_button, tab.pause_button, tab.stop_button, tab.use_button, tab.save_button):
        assert fully_shown(b), (b.text(), size)
    assert tab.progress.isVisible() and fully_shown(tab.progress)
    assert nothing_cut_sideways(tab) == []


@pytest.mark.parametrize("size", SMALL)
def test_lab_calculators_go_below_instead_of_off_the_edge(window, qtbot, size):
    tab = window.lab_tab
    show_tab(window, qtbot, tab, size)
    assert nothing_cut_sideways(tab) == []
    for w in (tab.size_table, tab.kernel_plot):
        assert scrolled_to(tab.scroll, w), type(w).__name__


@pytest.mark.parametrize("size", SMALL)
def test_my_handwriting_teach_column_is_whole_below_the_others(window, qtbot, size):
    tab = window.handwriting_tab
    show_tab(window, qtbot, tab, size)
    assert nothing_cut_sideways(tab) == []
    for w in (tab.teach_button, tab.stop_button, tab.progress, tab.plots, tab.save_button):
        assert scrolled_to(tab.columns, w), type(w).__name__


def test_a_wide_window_puts_every_column_back_side_by_side(window, qtbot):
    hand, lab = window.handwriting_tab, window.lab_tab
    reflows = {hand: (hand.columns, 2, 3), lab: (lab.scroll, 1, 2)}  # narrow, wide
    for tab, (reflow, narrow, _wide) in reflows.items():
        show_tab(window, qtbot, tab, (830, 568))
        assert reflow.side_by_side == narrow
    for tab, (reflow, _narrow, wide) in reflows.items():
        show_tab(window, qtbot, tab, (1280, 820))
        assert reflow.side_by_side == wide
        # side by side again: the columns share one row, in their order
        xs = [c.mapTo(window, c.rect().topLeft()).x() for c in reflow.columns]
        assert xs == sorted(xs) and len(set(xs)) == len(xs)
        assert nothing_cut_sideways(tab) == []


@pytest.mark.parametrize("size", [(830, 568), (1280, 820)])
def test_accuracy_legends_sit_below_the_curves_not_on_them(window, qtbot, size):
    """Teach's accuracy can be anywhere from 10 to 100 %: its legend (and Training's) has a row
    of its own under the plot, whole, with every name in it."""
    for tab in (window.training_tab, window.handwriting_tab):
        show_tab(window, qtbot, tab, size)
        plots = tab.plots
        legend = plots.acc_plot.legend
        data = plots.acc_plot.getViewBox().sceneBoundingRect()
        box = legend.sceneBoundingRect()
        assert box.top() >= data.bottom(), (type(tab).__name__, box, data)
        assert plots.view.sceneRect().contains(box)
        names = [label.text for _sample, label in legend.items]
        assert len(names) >= 2 and all(names)
