"""Every tab fits a small screen: no tab may push the window's minimum size past 900x600."""

from __future__ import annotations

from qt_helpers import deliver_posted_events


def test_the_window_fits_900_by_600_with_every_tab(window, qtbot):
    hint = window.minimumSizeHint()
    assert hint.width() <= 900 and hint.height() <= 600, (hint.width(), hint.height())
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        deliver_posted_events()  # the tab's layout
        window.resize(900, 600)
        qtbot.waitUntil(lambda: window.width() == 900 and window.height() == 600, timeout=2000)
        assert window.tabs.currentWidget().width() <= 900, window.tabs.tabText(i)
