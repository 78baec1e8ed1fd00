"""The Lab tab: its Qt-free state, then the widget driven with real clicks and keys."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from digitpad.app.lab.state import KernelState, SlideState, parse_grid, size_rows
from digitpad.core.insight import lab
from digitpad.core.nets.checkpoint import load_checkpoint, shipped_model_path
from digitpad.core.insight.explain import NO_MAPS


def numpy_correlate(image, kernel, pad=0, stride=1):
    img = np.pad(image.astype(float), pad)
    kh, kw = kernel.shape
    oh, ow = (img.shape[0] - kh) // stride + 1, (img.shape[1] - kw) // stride + 1
    return np.array([[(img[i * stride:i * stride + kh, j * stride:j * stride + kw] * kernel).sum()
                      for j in range(ow)] for i in range(oh)])


# --- state, no Qt -------------------------------------------------------------------------

def test_stepping_fills_the_output_one_window_at_a_time():
    s = SlideState()
    expected = numpy_correlate(np.arange(9.0).reshape(3, 3), np.array([[0.0, 1], [2, 3]]))
    assert s.current is None and np.isnan(s.filled_output()).all()
    seen = []
    while s.step():
        seen.append((s.current.row, s.current.col))
        out = s.filled_output()
        assert out[s.current.row, s.current.col] == expected[s.current.row, s.current.col]
        assert np.isnan(out).sum() == expected.size - len(seen)
    assert seen == [(0, 0), (0, 1), (1, 0), (1, 1)] and s.at_end
    np.testing.assert_array_equal(s.filled_output(), expected)
    assert s.caption() == f"output[1, 1] = 4·0 + 5·1 + 7·2 + 8·3 = {int(expected[1, 1])}"
    s.back()
    assert (s.current.row, s.current.col) == (1, 0)


def test_true_convolution_and_pool_modes():
    s = SlideState()
    s.set(mode="convolution")
    np.testing.assert_array_equal(s.result.output, numpy_correlate(s.image, s.kernel[::-1, ::-1]))
    np.testing.assert_array_equal(s.other.output, numpy_correlate(s.image, s.kernel))
    s.worked_example("pool")
    assert s.mode == "max-pool" and s.stride == 1 and s.other is None
    s.finish()
    np.testing.assert_array_equal(s.filled_output(), [[4, 5], [7, 8]])


def test_padding_stride_and_impossible_windows():
    s = SlideState()
    s.set(image=np.arange(25.0).reshape(5, 5), kernel=np.ones((3, 3)), padding=1, stride=2)
    np.testing.assert_array_equal(s.result.output, numpy_correlate(s.image, s.kernel, 1, 2))
    assert s.result.padded.shape == (7, 7) and s.n_steps == 9
    s.set(kernel=np.ones((9, 9)), padding=0)
    assert s.result is None and "does not fit" in s.caption() and not s.step()


def test_parse_grid():
    np.testing.assert_array_equal(parse_grid("0 1 2; 3,4,5\n6 7 8"), np.arange(9).reshape(3, 3))
    for bad in ("", "1 2; 3", "a b"):
        with pytest.raises(ValueError):
            parse_grid(bad)


def test_size_rows_stop_at_the_layer_that_does_not_fit():
    rows = size_rows(28, 28, lab.SIZE_PRESETS["LeNet"][2] + [lab.SizeLayer("conv", 5)])
    assert [(r.height, r.width) for r in rows[:5]] == [(28, 28), (24, 24), (12, 12), (8, 8), (4, 4)]
    assert rows[-1].height is None and "does not fit" in rows[-1].error


def test_kernel_state_model_kernels_and_dense():
    ks = KernelState()
    ks.set_model("dense", {})
    assert ks.model_note == NO_MAPS and ks.model_count == 0
    with pytest.raises(ValueError, match="dense net has no 2-D layers"):
        ks.use_model_kernel(0)
    w = load_checkpoint(shipped_model_path("lenet")).state["conv1.weight"].numpy()
    ks.set_model("lenet", {"conv1": w})
    ks.use_model_kernel(3)
    assert ks.size == 5 and np.array_equal(ks.kernel, w[3, 0])
    image = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    out = ks.apply(image)
    np.testing.assert_allclose(out[2:-2, 2:-2], numpy_correlate(image, w[3, 0]), atol=1e-5)
    ks.set_size(3)
    assert ks.kernel.shape == (3, 3)


# --- the widget ---------------------------------------------------------------------------

@pytest.fixture
def tab(qtbot):
    from digitpad.app.lab.tab import LabTab

    t = LabTab()
    qtbot.addWidget(t)
    t.resize(1200, 760)
    t.show()
    qtbot.waitExposed(t)
    yield t
    t.shutdown()


def test_step_button_walks_the_window(tab, qtbot):
    qtbot.mouseClick(tab.step_button, Qt.MouseButton.LeftButton)
    assert tab.caption.text() == "output[0, 0] = 0·0 + 1·1 + 3·2 + 4·3 = 19"
    assert tab.input_view.window == (0, 0, 2, 2)
    np.testing.assert_array_equal(tab.products_view.values, [[0, 1], [6, 12]])
    qtbot.mouseClick(tab.step_button, Qt.MouseButton.LeftButton)
    assert tab.input_view.window == (0, 1, 2, 2) and tab.output_view.values[0, 1] == 25
    assert np.isnan(tab.output_view.values[1]).all()
    assert tab.other_view.isVisible()  # true convolution beside it
    np.testing.assert_array_equal(tab.other_view.values, [[5, 11], [23, 29]])
    qtbot.mouseClick(tab.compare, Qt.MouseButton.LeftButton)
    assert not tab.other_view.isVisible()


def test_play_runs_to_the_end_and_stops(tab, qtbot):
    tab.speed.setValue(10)
    qtbot.mouseClick(tab.play_button, Qt.MouseButton.LeftButton)
    assert tab.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: tab.slide.at_end and not tab._timer.isActive(), timeout=3000)
    assert tab.play_button.text() == "Play" and not tab.play_button.isChecked()
    np.testing.assert_array_equal(tab.output_view.values, [[19, 25], [37, 43]])
    assert not tab.step_button.isEnabled()


def test_editing_image_kernel_padding_and_stride(tab, qtbot):
    tab.image_edit.clear()
    qtbot.keyClicks(tab.image_edit, "1 2 3 4; 5 6 7 8; 9 10 11 12; 13 14 15 16")
    qtbot.keyClick(tab.image_edit, Qt.Key.Key_Return)
    tab.kernel_edit.clear()
    qtbot.keyClicks(tab.kernel_edit, "1 0 -1; 1 0 -1; 1 0 -1")
    qtbot.keyClick(tab.kernel_edit, Qt.Key.Key_Return)
    tab.pad_spin.setValue(1)
    tab.stride_spin.setValue(2)
    image = np.arange(1.0, 17).reshape(4, 4)
    kernel = np.array([[1.0, 0, -1]] * 3)
    qtbot.mouseClick(tab.all_button, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(tab.output_view.values, numpy_correlate(image, kernel, 1, 2))
    assert tab.input_view.pad == 1 and tab.input_view.values.shape == (6, 6)
    tab.kernel_edit.setText("1 2; 3")
    qtbot.keyClick(tab.kernel_edit, Qt.Key.Key_Return)
    assert "Cannot read" in tab.caption.text()


def test_max_pool_example_button(tab, qtbot):
    qtbot.mouseClick(tab.pool_example, Qt.MouseButton.LeftButton)
    assert tab.mode_box.currentText() == "max-pool" and not tab.kernel_edit.isEnabled()
    qtbot.mouseClick(tab.step_button, Qt.MouseButton.LeftButton)
    assert tab.caption.text() == "output[0, 0] = max(0, 1, 3, 4) = 4"
    assert not tab.flip_note.isVisible()


def test_size_calculator_presets_and_edits(tab, qtbot):
    tab.preset_box.setCurrentText("3x3 conv then 2x2 pool on 28x28")
    tab.preset_box.textActivated.emit("3x3 conv then 2x2 pool on 28x28")
    assert tab.size_table.item(2, 4).text() == "13 x 13"
    tab.load_size_preset("7x7 kernel on a 640x480 photo")
    assert tab.size_table.item(1, 4).text() == "634 x 474"
    tab.size_table.item(1, 2).setText("3")  # padding 3 keeps the size
    assert tab.size_table.item(1, 4).text() == "640 x 480"
    tab.load_size_preset("LeNet")
    assert tab.size_table.item(4, 4).text() == "4 x 4"
    assert tab.params_label.text().endswith("total 44,426")


def test_kernel_editor_on_the_drawing_and_dense(tab, qtbot):
    image = np.zeros((28, 28), np.float32)
    image[4:24, 12:16] = 1.0
    tab.set_drawing(image)
    w = load_checkpoint(shipped_model_path("lenet")).state["conv1.weight"].numpy()
    tab.set_model("lenet", {"conv1": w})
    assert tab.model_k.maximum() == 5 and tab.model_k_button.isEnabled()
    qtbot.mouseClick(tab.model_k_button, Qt.MouseButton.LeftButton)
    np.testing.assert_allclose(tab.kernel_images[1].image, lab.filter_image(image, w[0, 0]), atol=1e-6)
    tab.model_k.setValue(2)
    np.testing.assert_allclose(tab.kernel_images[1].image, lab.filter_image(image, w[2, 0]), atol=1e-6)
    assert tab.kernel_table.rowCount() == 5
    tab.kernel_table.item(0, 0).setText("7")
    assert tab.kernel_state.kernel[0, 0] == 7 and tab.kernel_state.source == "edited"
    tab.set_model("dense", {})
    assert not tab.model_k_button.isEnabled() and tab.model_note.text() == NO_MAPS
    assert tab.kernel_state.source == "edited"  # a hand-made kernel stays
    tab.set_drawing(None)
    assert "Draw on the Draw tab" in tab.kernel_caption.text()


def test_window_feeds_the_lab_the_drawing_and_model(lenet_window, stroke, qtbot):
    w = lenet_window
    stroke(w.draw_tab.canvas, [(140, 40), (140, 120), (140, 240)])
    qtbot.waitUntil(lambda: w.lab_tab.drawing is not None)
    np.testing.assert_array_equal(w.lab_tab.drawing, w.draw_tab.last_prediction.image)
    assert w.lab_tab.kernel_state.model_count == 6
    w.tabs.setCurrentWidget(w.lab_tab)
    qtbot.mouseClick(w.lab_tab.model_k_button, Qt.MouseButton.LeftButton)
    assert w.lab_tab.kernel_images[1].image.shape == (28, 28)
