"""Menus and shortcuts: every key does one thing, Ctrl+Q quits, Ctrl+Y redoes, View > Theme."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut

from qt_helpers import SEVEN


def _all_shortcuts(window) -> Counter:
    keys: Counter = Counter()
    for act in window.findChildren(QAction):
        for seq in act.shortcuts():
            keys[seq.toString()] += 1
    for sc in window.findChildren(QShortcut):
        keys[sc.key().toString()] += 1
    keys.pop("", None)
    return keys


def test_no_key_is_bound_twice_across_all_actions(window):
    keys = _all_shortcuts(window)
    assert keys, "the window has no shortcuts at all"
    assert [k for k, n in keys.items() if n > 1] == []
    for act in window.findChildren(QAction):
        seqs = [s.toString() for s in act.shortcuts()]
        assert len(seqs) == len(set(seqs)), act.text()


def test_ctrl_q_quits(window, qtbot):
    assert QKeySequence("Ctrl+Q") in window.quit_action.shortcuts()
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)


def test_ctrl_y_and_ctrl_shift_z_redo(window, qtbot):
    canvas = window.draw_tab.canvas
    canvas.draw_stroke(SEVEN)
    window.activateWindow()
    for mods, key in ((Qt.KeyboardModifier.ControlModifier, Qt.Key.Key_Y),
                      (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
                       Qt.Key.Key_Z)):
        qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert canvas.is_empty()
        qtbot.keyClick(window, key, mods)
        assert not canvas.is_empty(), QKeySequence(key | mods).toString()


def test_view_menu_switches_the_theme_and_remembers_it(window):
    from digitpad.app import settings as keys

    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert "View" in menus
    window.theme_actions["dark"].trigger()
    assert window.draw_tab.prediction.plot.backgroundBrush().color().name() == "#1e1f22"
    assert window.settings.value(keys.THEME) == "dark"
    assert window.theme_actions["dark"].isChecked()
    window.theme_actions["light"].trigger()
    assert window.draw_tab.prediction.plot.backgroundBrush().color().name() == "#ffffff"
    assert not window.theme_actions["dark"].isChecked()
