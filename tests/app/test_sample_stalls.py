"""My handwriting never decodes the stored samples on the GUI thread (issue 21: a keep, a
delete, an undo or a Draw-tab correction re-read every PNG there, ~1 ms a sample: 0.6-0.7 s
of GUI time with 500 samples). Only what changed reaches the grid; a full read runs in a
worker."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt

from qt_helpers import BAR, SEVEN, reread, written
from digitpad.core.data import samples as samples_module
from digitpad.core.data.samples import SampleStore


@pytest.fixture
def decodes(monkeypatch):
    """Every sample file decoded: (on the GUI thread?, path)."""
    seen: list[tuple[bool, str]] = []

    def spy(name):
        real = getattr(samples_module, name)

        def wrapped(path, *args, **kwargs):
            seen.append((threading.current_thread() is threading.main_thread(), str(path)))
            return real(path, *args, **kwargs)

        monkeypatch.setattr(samples_module, name, wrapped)

    spy("read_checked")  # the store read whole
    spy("load_image")  # one sample read
    return seen


def on_gui(seen) -> list[str]:
    return [path for gui, path in seen if gui]


def test_keep_delete_undo_and_a_correction_decode_nothing_else_on_the_gui_thread(
        lenet_window, qtbot, stroke, decodes):
    w = lenet_window
    h = w.handwriting_tab
    store = SampleStore()
    a = np.zeros((280, 280), np.uint8)
    for i in range(20):
        b = a.copy()
        b[60:220, 100 + i:140 + i] = 255
        store.add(b, i % 10)
    reread(qtbot, h)
    assert h.grid.count() == 20
    assert decodes and not on_gui(decodes)  # the whole read: in the worker
    decodes.clear()

    w.tabs.setCurrentWidget(h)
    h.start_collection(1)
    asked = h.collection.digit
    stroke(h.canvas, SEVEN)
    h.keep_drawing()
    assert h.grid.count() == 21 and h.view.counts()[asked] == 3
    assert h.filter_buttons[asked].text() == f"{asked} · 3"

    h.set_filter(None)
    h.grid.clearSelection()
    h.grid.item(0).setSelected(True)
    gone = h.selected_samples()[0]
    assert h.delete_selected() == 1
    assert h.grid.count() == 20 and not gone.path.exists()
    qtbot.mouseClick(h.undo_delete_button, Qt.MouseButton.LeftButton)
    assert h.grid.count() == 21
    written(qtbot, h.writes)
    assert gone.path.exists()
    assert gone in [it.data(Qt.ItemDataRole.UserRole) for it in
                    (h.grid.item(i) for i in range(h.grid.count()))]
    assert on_gui(decodes) == []  # keep, delete, undo: the drawings were in memory

    draw = w.draw_tab
    w.tabs.setCurrentWidget(draw)
    stroke(draw.canvas, BAR)
    qtbot.waitUntil(lambda: draw.last_prediction is not None and not draw.last_prediction.empty)
    decodes.clear()
    with qtbot.waitSignal(draw.corrections.stored) as got:
        assert draw.corrections.keep_as(1)
    kept = got.args[0]
    assert h.grid.count() == 22
    assert on_gui(decodes) == [str(kept.path)]  # the one sample just kept, nothing else
    before = h.view.counts()
    assert draw.corrections.keep_as(4)  # a slip: the same drawing moves, nothing is read
    written(qtbot, draw.corrections.writes)
    after = h.view.counts()
    assert h.grid.count() == 22 and after[1] == before[1] - 1 and after[4] == before[4] + 1
    assert on_gui(decodes) == [str(kept.path)]
    # what the grid shows is what a full read finds
    shown = sorted((s.digit, s.id) for s in h.view.loaded.samples)
    reread(qtbot, h)
    assert sorted((s.digit, s.id) for s in h.view.loaded.samples) == shown
    assert on_gui(decodes) == [str(kept.path)]


def test_quitting_right_after_a_correction_loses_no_sample(make_window, qtbot, stroke):
    w = make_window()
    draw = w.draw_tab
    assert draw.select_model("lenet")
    stroke(draw.canvas, SEVEN)
    assert draw.corrections.keep_as(7)
    h = w.handwriting_tab
    w.tabs.setCurrentWidget(h)
    h.start_collection(1)
    stroke(h.canvas, SEVEN)
    h.keep_drawing()
    w._closing = True  # no question: close at once, the writes possibly still queued
    w.close()
    assert sorted(s.digit for s in SampleStore().list()) == sorted([7, h.collection.order[0]])
