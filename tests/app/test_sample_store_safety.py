"""My handwriting: Delete can be undone; the collection canvas takes no ink once the rounds
are over; the finished heading fits its column."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from qt_helpers import SEVEN, reread, written
from digitpad.core.data.samples import SampleStore


def test_delete_can_be_undone_with_the_same_files(window, qtbot):
    h = window.handwriting_tab
    store = SampleStore()
    a = np.zeros((280, 280), np.uint8)
    a[60:220, 120:160] = 255
    kept = [store.add(a, d) for d in (1, 1, 4)]
    blobs = {s.path: s.path.read_bytes() for s in kept}
    reread(qtbot, h)
    window.tabs.setCurrentWidget(h)
    h.grid.selectAll()
    assert not h.undo_delete_button.isEnabled()
    qtbot.mouseClick(h.delete_button, Qt.MouseButton.LeftButton)
    assert h.grid.count() == 0 and not store.list()
    assert h.undo_delete_button.isEnabled() and "(3)" in h.undo_delete_button.text()
    qtbot.mouseClick(h.undo_delete_button, Qt.MouseButton.LeftButton)
    assert h.grid.count() == 3  # at once; the files are written in the worker
    written(qtbot, h.writes)
    assert {s.path: s.path.read_bytes() for s in store.list()} == blobs
    assert not h.undo_delete_button.isEnabled()


def test_the_collection_canvas_takes_no_ink_after_the_rounds(window, qtbot, stroke):
    h = window.handwriting_tab
    window.tabs.setCurrentWidget(h)
    h.start_collection(1)
    while not h.collection.done:
        h.skip_drawing()
    assert not h.keep_button.isEnabled()
    stroke(h.canvas, SEVEN)
    assert h.canvas.is_empty()  # ink went nowhere: no drawing that cannot be kept
    h.start_collection(1)
    stroke(h.canvas, SEVEN)
    assert not h.canvas.is_empty() and h.keep_button.isEnabled()


def test_the_finished_heading_fits_its_column(window, qtbot):
    h = window.handwriting_tab
    window.tabs.setCurrentWidget(h)
    window.resize(830, 568)
    h.start_collection(30)
    h.collection.kept.extend([None] * 60)  # as after 60 kept drawings
    while not h.collection.done:
        h.collection.skip()
    h._show_collection()
    QApplication.processEvents()
    p = h.prompt
    lines = p.text().split()
    assert p.text() == "Done: 60 drawings kept"
    widest = max(p.fontMetrics().horizontalAdvance(w) for w in lines)
    assert p.wordWrap() and widest <= p.contentsRect().width()
    needed = p.heightForWidth(p.contentsRect().width())
    assert needed <= p.height()  # every wrapped line is shown, nothing cut
