"""The Draw tab's Number mode in a real window, driven by real mouse strokes on the strip."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt

from qt_helpers import deliver_posted_events

FOUR = [[(130, 50), (110, 110), (90, 170), (140, 170), (190, 170)], [(165, 60), (165, 150), (165, 240)]]
TWO = [[(300, 90), (320, 60), (350, 50), (390, 60), (410, 100), (390, 150), (340, 200), (300, 240),
        (360, 240), (420, 240)]]
SEVEN = [[(560, 60), (620, 60), (680, 60), (665, 95), (650, 130), (635, 170), (620, 210), (610, 235)]]


def at(canvas, x, y) -> QPoint:
    p = canvas.to_widget(x, y)
    return QPoint(round(p.x()), round(p.y()))


def draw(qtbot, canvas, strokes) -> None:
    for pts in strokes:
        qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=at(canvas, *pts[0]))
        for x0y0, x1y1 in zip(pts, pts[1:]):
            for t in np.linspace(0, 1, 5)[1:]:
                x = x0y0[0] + (x1y1[0] - x0y0[0]) * t
                y = x0y0[1] + (x1y1[1] - x0y0[1]) * t
                qtbot.mouseMove(canvas, at(canvas, x, y))
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=at(canvas, *pts[-1]))


def number_window(window, qtbot):
    tab = window.draw_tab
    qtbot.waitUntil(lambda: tab.current_entry() is not None or tab._quick is not None, timeout=20000)
    qtbot.mouseClick(tab.mode_button, Qt.MouseButton.LeftButton)
    assert tab.number.state.active and tab.number.isVisible() and not tab.canvas.isVisible()
    return tab


def read(qtbot, tab):
    qtbot.waitUntil(lambda: not tab.number.reading, timeout=20000)
    deliver_posted_events()
    return tab.number.state.reading


def test_spaced_42_reads_with_boxes_and_the_last_digit_chosen(window, qtbot):
    tab = number_window(window, qtbot)
    assert tab.number.number.text() == "Write a number"
    draw(qtbot, tab.number.canvas, FOUR + TWO)
    r = read(qtbot, tab)
    assert r.status == "number" and len(r.digits) == 2
    assert r.number == "42", [d.probs.round(2) for d in r.digits]
    assert tab.number.number.text() == "42"
    assert "sure" in tab.number.confidence.text()
    # boxes lie in the strip's pixels, left to right, around what was drawn
    (a, b) = (d.box for d in r.digits)
    assert a[0] < 100 < a[2] <= b[0] < 320 < b[2]
    # the 2 was drawn last: it drives the maps
    assert tab.number.state.selected == 1
    assert tab.prediction.digit_label.text() == "2"
    np.testing.assert_allclose(tab.prediction.probs, r.digits[1].probs, atol=1e-4)


def test_clicking_a_box_label_and_arrows_switch_the_maps(window, qtbot):
    tab = number_window(window, qtbot)
    c = tab.number.canvas
    draw(qtbot, c, FOUR + TWO)
    r = read(qtbot, tab)
    maps_2 = {n: lv.mosaic.copy() for n, lv in tab.maps.layers.items()}
    tag = c.tag_rect(0).center()
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=QPoint(round(tag.x()), round(tag.y())))
    assert tab.number.state.selected == 0
    assert tab.prediction.digit_label.text() == str(r.digits[0].digit)
    maps_4 = {n: lv.mosaic.copy() for n, lv in tab.maps.layers.items()}
    assert any(not np.array_equal(maps_2[n], maps_4[n]) for n in maps_2)
    assert c.to_array().sum() > 0 and len(tab.number.state.digits) == 2  # the click drew nothing
    np.testing.assert_array_equal(tab.last_prediction.image, r.digits[0].pre.image)
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_Right)
    assert tab.number.state.selected == 1 and tab.prediction.digit_label.text() == "2"
    qtbot.keyClick(c, Qt.Key.Key_Right)  # stops at the end
    assert tab.number.state.selected == 1
    qtbot.keyClick(c, Qt.Key.Key_Left)
    assert tab.number.state.selected == 0
    # a stroke that adds a digit selects the new digit (the one drawn last)
    draw(qtbot, c, SEVEN)
    r = read(qtbot, tab)
    assert len(r.digits) == 3 and tab.number.state.selected == 2


def test_undo_redo_clear_act_on_the_strip(window, qtbot):
    tab = number_window(window, qtbot)
    draw(qtbot, tab.number.canvas, FOUR + TWO)
    assert len(read(qtbot, tab).digits) == 2
    assert tab.undo_button.isEnabled()
    qtbot.mouseClick(tab.undo_button, Qt.MouseButton.LeftButton)
    r = read(qtbot, tab)
    assert len(r.digits) == 1 and tab.number.state.selected == 0
    qtbot.mouseClick(tab.redo_button, Qt.MouseButton.LeftButton)
    assert read(qtbot, tab).number == "42"
    qtbot.mouseClick(tab.clear_button, Qt.MouseButton.LeftButton)
    r = read(qtbot, tab)
    assert r.status == "empty" and tab.number.number.text() == "Write a number"
    assert tab.number.state.selected is None and not tab.prediction.probs.any()
    assert tab.canvas.is_empty()  # the single-digit canvas was never touched


def test_correcting_a_digit_keeps_it_as_a_sample(window, qtbot):
    from digitpad.core.data.samples import SampleStore

    tab = number_window(window, qtbot)
    draw(qtbot, tab.number.canvas, FOUR + TWO)
    read(qtbot, tab)
    tab.number.choose(0)
    tab.number.correct_selected(9)  # what the box's context menu does
    qtbot.waitUntil(lambda: tab.corrections.writes.pending == 0)  # written in a worker
    store = SampleStore()
    assert store.counts()[9] == 1
    files = list((store.root / "9").glob("*.png"))
    assert len(files) == 1
    from PIL import Image

    kept = np.asarray(Image.open(files[0]))
    x0, y0, x1, y1 = tab.number.state.digits[0].box
    assert kept.shape == (y1 - y0, x1 - x0) and kept.max() > 0
    tab.corrections.keep_as(4)  # the 0-9 keys correct the chosen digit: the sample moves
    qtbot.waitUntil(lambda: tab.corrections.writes.pending == 0)
    assert store.counts()[9] == 0 and store.counts()[4] == 1


def test_context_menu_on_a_box_offers_the_ten_digits(window, qtbot):
    tab = number_window(window, qtbot)
    c = tab.number.canvas
    draw(qtbot, c, FOUR + TWO)
    r = read(qtbot, tab)
    x0, y0, x1, y1 = r.digits[0].box
    qtbot.mouseClick(c, Qt.MouseButton.RightButton, pos=at(c, (x0 + x1) / 2, (y0 + y1) / 2))
    menu = tab.number._open_menu
    assert len(menu.actions()) == 10 and tab.number.state.selected == 0
    menu.close()


def test_steps_overlay_and_single_digit_mode_unchanged(window, qtbot):
    from qt_helpers import SEVEN as SQUARE_SEVEN, mouse_stroke

    tab = number_window(window, qtbot)
    draw(qtbot, tab.number.canvas, FOUR + TWO)
    r = read(qtbot, tab)
    names = [t for t, _ in r.steps]
    assert "components" in names and "digits" in names
    plain = tab.number.canvas.grab().toImage()
    tab.number.steps_box.setChecked(True)
    assert tab.number.canvas.grab().toImage() != plain  # the steps are drawn over the strip
    qtbot.mouseClick(tab.mode_button, Qt.MouseButton.LeftButton)
    assert not tab.number.state.active and tab.canvas.isVisible() and not tab.number.isVisible()
    assert tab.prediction.confidence_label.text() == "Draw a digit"
    mouse_stroke(qtbot, tab.canvas, SQUARE_SEVEN)
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab.last_prediction.empty)
    assert tab.number.state.reading.number == "42"  # the strip is kept for later
    assert tab.undo_button.isEnabled()


def test_not_a_number_is_said_and_greyed(window, qtbot):
    tab = number_window(window, qtbot)
    zig = [[(100 if i % 2 else 900, 25 + 38 * i) for i in range(7)]]  # back and forth across
    draw(qtbot, tab.number.canvas, zig)
    r = read(qtbot, tab)
    assert r.status == "not a number"
    assert tab.number.number.text().startswith("Not a number")
    assert not tab.number.number.isEnabled()


def test_open_image_in_number_mode_reads_the_number(window, qtbot, tmp_path):
    from PIL import Image, ImageDraw

    tab = number_window(window, qtbot)
    img = Image.new("L", (400, 120), 255)
    d = ImageDraw.Draw(img)
    d.line([(40, 20), (40, 100)], fill=0, width=9)
    d.line([(150, 20), (150, 100)], fill=0, width=9)
    path = tmp_path / "eleven.png"
    img.save(path)
    assert window.open_image(str(path))
    qtbot.waitUntil(lambda: not tab.number.busy and not tab.number.canvas.is_empty(), timeout=10000)
    r = read(qtbot, tab)
    assert r.status == "number" and r.number == "11"
    assert tab.canvas.is_empty()


def test_the_reader_runs_off_the_gui_thread_and_strokes_go_on(window, qtbot, monkeypatch):
    import threading
    import time

    from digitpad.core.reading import number as number_module

    real = number_module.read_number
    threads = []

    def slow(*args, **kwargs):
        threads.append(threading.current_thread())
        time.sleep(1.5)  # a reader far slower than any real one
        return real(*args, **kwargs)

    monkeypatch.setattr(number_module, "read_number", slow)
    tab = number_window(window, qtbot)
    c = tab.number.canvas
    draw(qtbot, c, FOUR)
    qtbot.waitUntil(lambda: tab.number._reads.busy)  # the 4 is being read now
    t0 = time.perf_counter()
    draw(qtbot, c, TWO)
    qtbot.wait(20)
    assert time.perf_counter() - t0 < 1.0  # the stroke did not wait for the 1.5 s read
    assert tab.number._reads.busy
    r = read(qtbot, tab)
    assert r.number == "42"  # the newest strip was read last
    assert threads and all(t is not threading.main_thread() for t in threads)


def test_the_strip_spans_the_tab_at_the_smallest_window(window, qtbot):
    tab = number_window(window, qtbot)
    window.resize(window.minimumSizeHint().expandedTo(window.minimumSize()))
    qtbot.waitUntil(lambda: window.width() <= 900)
    deliver_posted_events()
    c = tab.number.canvas
    assert c.width() >= 0.9 * tab.width(), (c.width(), tab.width())
    # was ~80 px inside the left pane; now no lower than the square canvas's own minimum, so
    # a number's digits are drawn about as large as one digit at the smallest window
    assert c.height() >= 112, c.height()
    assert tab.prediction.isVisible() and tab.maps.isVisible()


def test_a_redraw_reuses_candidates_and_a_new_model_reads_afresh(window, qtbot):
    tab = number_window(window, qtbot)
    c = tab.number.canvas
    draw(qtbot, c, FOUR + TWO)
    read(qtbot, tab)
    cache = tab.number._cache
    misses = cache.misses
    draw(qtbot, c, SEVEN)  # the 4 and the 2 are unchanged: their crops are not classified again
    r = read(qtbot, tab)
    assert len(r.digits) == 3 and cache.hits > 0 and cache.misses - misses < 3
    assert tab.select_model("lenet")
    r = read(qtbot, tab)
    assert tab.number._cache is not cache  # lenet's probabilities, not digitnet's remembered ones
    np.testing.assert_allclose(r.digits[0].probs, tab.current_entry().predictor.probs_batch(
        np.stack([r.digits[0].pre.image]))[0], atol=1e-4)
