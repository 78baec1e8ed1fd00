"""The Draw tab's "Inside the network" panel: why-map in a worker, a clicked unit's receptive
field, the drawing through every shipped model, the shift test."""

import numpy as np
from PySide6.QtCore import QPointF, Qt
from qt_helpers import deliver_posted_events

from digitpad.core.insight.explain import NO_MAPS, receptive_field

TWO = [(90, 70), (140, 50), (190, 70), (190, 110), (150, 160), (100, 210), (200, 210)]


def drawn(window, stroke, qtbot):
    tab = window.draw_tab
    stroke(tab.canvas, TWO)
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab.last_prediction.empty)
    return tab


def test_folded_panel_computes_nothing(lenet_window, stroke, qtbot):
    tab = drawn(lenet_window, stroke, qtbot)
    assert not tab.inside.pages.isVisible() and tab.inside.last_why is None


def test_why_map_comes_from_a_worker(lenet_window, stroke, qtbot):
    tab = drawn(lenet_window, stroke, qtbot)
    panel = tab.inside
    with qtbot.waitSignal(panel.computed, timeout=20000) as sig:
        qtbot.mouseClick(panel.toggle, Qt.MouseButton.LeftButton, pos=panel.toggle.rect().center())
    assert sig.args == ["why"]
    why = panel.last_why
    assert why.target == tab.last_prediction.digit
    assert why.occlusion.shape == (28, 28)
    np.testing.assert_array_equal(panel.base_image.image, tab.last_prediction.image)
    np.testing.assert_allclose(panel.heat_image.image, np.clip(why.occlusion, 0, None))
    assert "off the GUI thread" in panel.why_caption.text()
    with qtbot.waitSignal(panel.computed, timeout=20000):
        panel.method_box.setCurrentIndex(1)  # gradient x input
    np.testing.assert_allclose(panel.heat_image.image, panel.last_why.saliency)
    with qtbot.waitSignal(panel.computed, timeout=20000):
        panel.class_box.setCurrentIndex(1 + 7)  # explain "7", whatever was read
    assert panel.last_why.target == 7


def test_clicking_a_unit_shows_its_receptive_field(lenet_window, stroke, qtbot):
    tab = drawn(lenet_window, stroke, qtbot)
    lv = tab.maps.layers["conv2"]
    ch, row, col = 3, 4, 5
    tile = lv.tile_rect(ch)
    view = lv.image.scene().views()[0]
    tab.maps.scroll.ensureVisible(0, int(view.mapFromScene(lv.image.mapToScene(tile.center())).y()))
    deliver_posted_events()  # the scroll
    scene = lv.image.mapToScene(QPointF(tile.left() + col + 0.5, tile.top() + row + 0.5))
    with qtbot.waitSignal(tab.inside.computed, timeout=10000):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(scene))
    layer, got_ch, got_row, got_col, field = tab.inside.last_field
    assert (layer, got_ch, got_row, got_col) == ("conv2", ch, row, col)
    assert field.box == receptive_field("lenet", "conv2", row, col) and field.box.extent == 14
    assert tab.inside.toggle.isChecked() and tab.inside.field_box.isVisible()
    r = tab.inside.field_box.rect()
    assert (r.left(), r.top(), r.width(), r.height()) == (field.box.left, field.box.top, 14, 14)
    assert "sees 14x14 input pixels" in tab.inside.why_caption.text()


def test_compare_and_shift_pages(lenet_window, stroke, qtbot):
    tab = drawn(lenet_window, stroke, qtbot)
    panel = tab.inside
    panel.toggle.setChecked(True)
    with qtbot.waitSignal(panel.computed, timeout=10000, check_params_cb=lambda k: k == "compare"):
        panel.pages.setCurrentIndex(1)
    names = [panel.compare_table.item(r, 0).text() for r in range(panel.compare_table.rowCount())]
    assert names == ["digitnet", "lenet", "dense"]
    lenet_row = names.index("lenet")
    assert panel.compare_table.item(lenet_row, 1).text() == str(tab.last_prediction.digit)
    assert panel.compare_table.item(lenet_row, 3).text() == "44,426"
    with qtbot.waitSignal(panel.computed, timeout=10000, check_params_cb=lambda k: k == "shift"):
        panel.pages.setCurrentIndex(2)
    curves = panel.last_shift
    assert list(curves.confidence) == ["digitnet", "lenet", "dense"]
    x, y = panel.curves["dense"].getData()
    np.testing.assert_array_equal(x, curves.values)
    np.testing.assert_allclose(y, curves.confidence["dense"])
    assert "Lowest confidence" in panel.shift_caption.text()


def test_dense_says_it_has_no_maps(lenet_window, stroke, qtbot):
    tab = drawn(lenet_window, stroke, qtbot)
    assert tab.select_model("dense")
    tab.inside.show_unit("conv1", 0, 0, 0)
    assert tab.inside.why_caption.text() == NO_MAPS


def test_reshuffled_pixels_page(lenet_window, stroke, qtbot):
    from digitpad.core.nets.permutation import pixel_permutation, unpermute_pixels

    tab = drawn(lenet_window, stroke, qtbot)
    panel = tab.inside
    panel.toggle.setChecked(True)
    with qtbot.waitSignal(panel.computed, timeout=10000, check_params_cb=lambda k: k == "shuffle"):
        panel.pages.setCurrentIndex(3)
    image = tab.last_prediction.image
    shuffled = panel.shuffle_images[1].image
    assert not np.array_equal(shuffled, image)
    np.testing.assert_array_equal(unpermute_pixels(shuffled, pixel_permutation(0)), image)
    text = panel.shuffle_caption.text()
    assert all(name in text for name in ("digitnet", "lenet", "dense")) and "98.52" in text
