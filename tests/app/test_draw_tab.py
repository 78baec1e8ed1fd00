"""The Draw tab in a real window: live prediction, feature maps, model switching, coalescing."""

from __future__ import annotations

import numpy as np
from qt_helpers import deliver_posted_events

from digitpad.core.nets.spec import feature_shapes

SEVEN = [(80, 60), (140, 60), (200, 60), (185, 95), (170, 130), (155, 170), (140, 210), (130, 235)]
ZERO = [(140, 50), (95, 80), (85, 140), (95, 200), (140, 230), (185, 200), (195, 140), (185, 80),
        (140, 52)]


def spatial_layers(arch):
    return {n: s for n, s in feature_shapes(arch).items() if len(s) == 3}


def snapshot(tab):
    return ({n: lv.mosaic.copy() for n, lv in tab.maps.layers.items()},
            tab.prediction.probs.copy())


def test_empty_canvas_says_draw_a_digit(lenet_window):
    tab = lenet_window.draw_tab
    assert tab.prediction.confidence_label.text() == "Draw a digit"
    assert not tab.prediction.probs.any()
    assert all(lv.data is not None and not lv.data.any() for lv in tab.maps.layers.values())


def test_prediction_updates_while_the_button_is_still_held(lenet_window, to_widget, qtbot):
    from PySide6.QtCore import Qt

    tab = lenet_window.draw_tab
    c = tab.canvas
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=to_widget(c, *SEVEN[0]))
    for p in SEVEN[1:4]:
        qtbot.mouseMove(c, to_widget(c, *p))
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab.last_prediction.empty)
    mid = tab.prediction.probs.copy()
    for p in SEVEN[4:]:
        qtbot.mouseMove(c, to_widget(c, *p))
    qtbot.waitUntil(lambda: not np.array_equal(tab.prediction.probs, mid))
    assert c._drawing  # still mid-stroke
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=to_widget(c, *SEVEN[-1]))
    assert not c._drawing


def test_drawing_changes_prediction_and_maps(lenet_window, stroke, qtbot):
    tab = lenet_window.draw_tab
    stroke(tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: not tab._timer.isActive())
    maps1, probs1 = snapshot(tab)
    assert probs1.shape == (10,) and np.isclose(probs1.sum(), 1, atol=1e-4)
    assert tab.prediction.digit_label.text() == str(int(np.argmax(probs1)))
    assert "sure" in tab.prediction.confidence_label.text()
    assert all(np.isfinite(m[~np.isnan(m)]).all() and np.nanmax(m) > 0 for m in maps1.values())
    # the preview of what the network sees: crop, 20 px, centred 28x28
    assert [t for t, _ in tab.prediction._steps][-1].startswith("centred")

    tab.canvas.clear()
    stroke(tab.canvas, ZERO)
    qtbot.waitUntil(lambda: not tab._timer.isActive())
    maps2, probs2 = snapshot(tab)
    assert not np.allclose(probs1, probs2)
    for name in maps1:
        assert not np.array_equal(np.nan_to_num(maps1[name]), np.nan_to_num(maps2[name])), name


def test_one_tile_per_channel_of_every_conv_and_pool_layer(lenet_window, stroke, qtbot):
    tab = lenet_window.draw_tab
    stroke(tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: not tab._timer.isActive())
    layers = tab.maps.layers
    expected = spatial_layers("lenet")
    assert set(expected) == {"conv1", "pool1", "conv2", "pool2"}
    for name, (c, h, w) in expected.items():
        lv = layers[name]
        assert lv.kind == "maps" and lv.channels == c
        tiles = {lv.channel_at(lv.tile_rect(ch).center().x(), lv.tile_rect(ch).center().y())
                 for ch in range(c)}
        assert tiles == set(range(c))
        assert int((~np.isnan(lv.mosaic)).sum()) == c * h * w  # every pixel of every map, no more
        for ch in range(c):  # each tile shows its own channel
            r = lv.tile_rect(ch)
            tile = lv.mosaic[int(r.y()):int(r.y()) + h, int(r.x()):int(r.x()) + w]
            m = lv.data[ch]
            assert np.allclose(tile, m / m.max() if m.max() > 0 else m)
    # dense layers as strips
    assert layers["fc1"].kind == "units" and layers["fc1"].channels == 120


def test_switching_model_rebuilds_the_layer_view(lenet_window, stroke, qtbot):
    tab = lenet_window.draw_tab
    stroke(tab.canvas, SEVEN)
    token = tab.maps.model_token
    items = {n: lv.image for n, lv in tab.maps.layers.items()}
    tab.update_count = 0
    assert tab.select_model("digitnet")
    assert tab.maps.model_token == token + 1
    assert list(tab.maps.layers) == list(feature_shapes("digitnet"))
    assert tab.maps.layers["conv3"].channels == 64
    assert tab.last_prediction is not None and not tab.last_prediction.empty  # redrawn at once
    assert lenet_window.model_label.text() == "model: digitnet"
    # the same model again keeps its items: created once, only updated
    before = {n: lv.image for n, lv in tab.maps.layers.items()}
    stroke(tab.canvas, ZERO)
    qtbot.waitUntil(lambda: not tab._timer.isActive())
    assert all(tab.maps.layers[n].image is before[n] for n in before)
    assert items["conv1"] is not before["conv1"]
    tab.model_box.setCurrentIndex(tab.model_box.findData("dense"))
    assert set(tab.maps.layers) == {"fc1", "fc2"}


def test_predictions_are_coalesced(lenet_window, qtbot):
    tab = lenet_window.draw_tab
    count = []
    tab.prediction_shown.connect(lambda: count.append(1))
    tab.canvas.draw_stroke(SEVEN)  # emits many changes without returning to the event loop
    for _ in range(50):
        tab.request_prediction()
    qtbot.waitUntil(lambda: bool(count))
    deliver_posted_events()  # a second prediction, had one been queued, would show now
    assert len(count) == 1 and not tab._timer.isActive()  # one prediction, of the newest canvas
    assert not tab.last_prediction.empty


def test_hover_shows_map_with_its_kernel(lenet_window, stroke, qtbot):
    tab = lenet_window.draw_tab
    stroke(tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: not tab._timer.isActive())
    maps = tab.maps
    maps._hover("conv2", 3)
    text = maps.detail_text.text()
    assert "conv2" in text and "map 4 of 16" in text and "6 kernels" in text and "values" in text
    assert "kernel 4" in text  # counted from 1, as a person counts
    assert maps.detail_kernel.image is not None and maps.detail_kernel.image.shape == (5, 6 * 6 - 1)  # 6 kernels side by side
    maps._hover("pool1", 2)  # pool: the conv kernel before it
    assert "max-pool of conv1 map 3" in maps.detail_text.text()
    assert maps.detail_kernel.image.shape == (5, 5)
    maps._hover("pool1", None)
    assert "Hover" in maps.detail_text.text()
    maps.pin("conv1", 1)
    assert "conv1" in maps.detail_text.text() and maps.layers["conv1"].marker.isVisible()


def _tile(lv, c):
    r = lv.tile_rect(c)
    y, x = int(r.y()), int(r.x())
    return lv.mosaic[y:y + lv.tile_h, x:x + lv.tile_w]


def test_shared_colour_scale_option(lenet_window, stroke, qtbot):
    tab = lenet_window.draw_tab
    stroke(tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: not tab._timer.isActive())
    lv = tab.maps.layers["conv1"]
    tops = [float(lv.data[c].max()) for c in range(lv.channels)]
    assert len({round(t, 4) for t in tops}) > 1  # the maps differ in strength: the scales differ
    tab.maps.set_shared_scale(False)
    for c in range(lv.channels):  # each map stretched to its own range
        expect = lv.data[c] / tops[c] if tops[c] > 0 else lv.data[c] * 0
        assert np.allclose(_tile(lv, c), expect, atol=1e-6)
    tab.maps.set_shared_scale(True)
    assert tab.maps.shared_box.isChecked()
    layer_top = max(tops)
    for c in range(lv.channels):  # one range for the layer: weak maps stay dark
        assert np.allclose(_tile(lv, c), lv.data[c] / layer_top, atol=1e-6)
    weakest = int(np.argmin([t if t > 0 else np.inf for t in tops]))
    assert np.nanmax(_tile(lv, weakest)) < 1.0


def test_torch_model_takes_over_from_the_numpy_copy_keeping_the_map_rows(qtbot):
    """At start-up the numpy copy reads drawings; when torch's digitnet arrives the picker
    holds it alone (no duplicate item) and the feature-map rows are kept, not rebuilt."""
    from qt_helpers import SEVEN
    from digitpad.app.draw.tab import DrawTab, load_shipped_predictors
    from digitpad.core.reading.numpy_predict import load_shipped

    tab = DrawTab()
    qtbot.addWidget(tab)
    tab.use_quick(load_shipped("digitnet"))
    tab.canvas.draw_stroke(SEVEN)
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab.last_prediction.empty)
    early, rows, token = tab.last_prediction, dict(tab.maps.layers), tab.maps.model_token
    tab.add_loaded_models(load_shipped_predictors(("digitnet",)))
    tab.select_model("digitnet")
    assert [tab.model_box.itemData(i) for i in range(tab.model_box.count())] == ["digitnet"]
    assert tab.last_prediction is not early and tab.last_prediction.digit == early.digit == 7
    assert tab.maps.layers == rows and tab.maps.model_token == token + 1


def test_live_weights_that_overflow_are_not_drawn_with(lenet_window, qtbot):
    """An epoch's weights whose outputs are NaN (finite but huge) leave the drawn model as it
    was and say so in the status bar, instead of showing 'NaN %' bars."""
    from digitpad.core.nets.checkpoint import Checkpoint, make_meta

    tab = lenet_window.draw_tab
    state = tab.current_entry().predictor.state_dict()
    good = Checkpoint("lenet", state, make_meta("lenet", epochs=1))
    tab.set_live_weights(good)
    qtbot.waitUntil(lambda: tab.current_entry().source == "live")  # built in a worker
    live = tab.current_entry()
    huge = dict(state, **{"fc1.weight": state["fc1.weight"] * 1e38})
    with qtbot.waitSignal(tab.status_message) as said:
        tab.set_live_weights(Checkpoint("lenet", huge, make_meta("lenet", epochs=2)))
    assert "NaN or infinite" in said.args[0]
    assert tab.current_entry() is live and live.checkpoint is good
    assert np.isfinite(live.predictor.predict(np.eye(28, dtype=np.float32)).probs).all()
