"""The Mistakes tab: its Qt-free state, then the widget scoring the tiny MNIST in a worker."""

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt

from digitpad.app.mistakes.state import COMPUTING, IDLE, READY, MistakesState
from digitpad.core.insight.mistakes import MistakesReady, Progress
from digitpad.core.nets.checkpoint import load_checkpoint, shipped_model_path
from digitpad.core.reading.scoring import Scores


def fake_mistakes():
    labels = np.array([0, 0, 1, 1, 1, 2])
    probs = np.full((6, 10), 0.01, np.float32)
    for i, (p, c) in enumerate([(0, .9), (1, .6), (1, .8), (0, .7), (0, .95), (2, .5)]):
        probs[i, p] = c
    return Scores(labels, probs)


# --- state, no Qt -------------------------------------------------------------------------

def test_state_follows_the_worker_and_drops_stale_results():
    s = MistakesState()
    assert s.status() == "No model loaded."
    s.set_model("lenet (shipped)", "lenet", {}, None)
    assert s.stale and s.phase == IDLE
    old = s.begin()
    assert s.phase == COMPUTING and not s.stale
    assert s.on_event(Progress(500, 1000), old) and "500 of 1,000" in s.status()
    s.set_model("dense (shipped)", "dense", {}, None)  # the person switched models meanwhile
    assert not s.on_event(MistakesReady(fake_mistakes(), False, None), old)
    assert s.mistakes is None and s.phase == IDLE
    new = s.begin()
    s.on_event(MistakesReady(fake_mistakes(), True, None), new)
    assert s.phase == READY and "accuracy 50.00%" in s.status() and "cache" in s.status()
    assert s.selected == (1, 0)  # the commonest confusion: two 1s read as 0


def test_heat_gallery_and_selection():
    s = MistakesState()
    s.set_model("m", "lenet", {}, None)
    s.on_event(MistakesReady(fake_mistakes(), False, None), s.begin())
    heat = s.heat()
    assert heat.shape == (10, 10) and heat.min() >= 0 and heat.max() <= 1
    assert heat[0, 0] == pytest.approx(np.log10(1 + 999 * 0.5) / 3)  # one of two 0s
    assert heat[1, 0] > heat[0, 0] > heat[1, 1] > 0  # two of three 1s read as 0, one right
    assert heat[3, 3] == 0
    items = s.gallery()
    assert [i.index for i in items] == [4, 3]  # surest first
    assert items[0].caption() == "#4\n95%" and items[0].tooltip().startswith("0: 95.0%")
    assert s.gallery_title() == "True 1, read as 0: 2 test images, surest first"
    assert s.select(0, 0) and [i.index for i in s.gallery()] == [0]
    assert not s.select(10, 0)
    assert "0: 50.0%" in s.per_class_text() and "1: 33.3%" in s.per_class_text()


def test_failure_is_said_in_words():
    s = MistakesState()
    s.set_model("m", "lenet", {}, None)
    s.on_error("MNIST is not in /nowhere", s.begin())
    assert s.status() == "Could not score m: MNIST is not in /nowhere" and s.stale


# --- the widget ---------------------------------------------------------------------------

@pytest.fixture
def tab(qtbot, tiny_mnist):
    from digitpad.app.mistakes.tab import MistakesTab
    from digitpad.app.settings import DATA_DIR, make_settings

    settings = make_settings()
    settings.setValue(DATA_DIR, str(tiny_mnist))
    t = MistakesTab(settings)
    qtbot.addWidget(t)
    t.resize(1100, 700)
    t.show()
    qtbot.waitExposed(t)
    yield t
    t.shutdown()
    assert not t.is_running()


@pytest.fixture(scope="module")
def lenet_ckpt():
    return load_checkpoint(shipped_model_path("lenet"))


def click_cell(qtbot, tab, true, pred):
    """A real mouse click on the centre of heatmap cell (true, pred)."""
    scene = tab.cells.mapToScene(QPointF(pred + 0.5, true + 0.5))
    pos = tab.plot_widget.mapFromScene(scene)
    qtbot.mouseClick(tab.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_scores_in_the_background_and_opens_cells(tab, qtbot, lenet_ckpt, tiny_mnist):
    with qtbot.waitSignal(tab.scored, timeout=30000):
        tab.set_model("lenet (shipped)", "lenet", lenet_ckpt.state, str(lenet_ckpt.path))
    m = tab.state.mistakes
    assert m.n == 100 and m.confusion.sum() == 100
    assert "accuracy" in tab.status.text() and not tab.progress.isVisible()
    shown = [t.toPlainText() for t in tab.counts]
    assert shown[0] == (str(m.confusion[0, 0]) if m.confusion[0, 0] else "")
    np.testing.assert_allclose(tab.cells.image, tab.state.heat())
    cells = [(int(a), int(b)) for a, b in zip(m.labels, m.preds)]
    t, p = next(c for c in cells if c != tab.state.selected)  # not the cell it opened on
    click_cell(qtbot, tab, t, p)
    assert tab.state.selected == (t, p)
    assert tab.gallery.count() == min(60, m.confusion[t, p])
    assert tab.marker.rect().topLeft() == QPointF(p, t)
    first = tab.selected_item()
    assert first.true == t and first.predicted == p
    with qtbot.waitSignal(tab.open_in_canvas) as sig:
        qtbot.mouseClick(tab.open_button, Qt.MouseButton.LeftButton)
    image = sig.args[0]
    assert image.shape == (28, 28) and image.dtype == np.uint8
    from digitpad.core.data.mnist import load_test_set

    x, _ = load_test_set(tiny_mnist)
    np.testing.assert_array_equal(image, (x[first.index, 0] * 255).round().to(torch.uint8).numpy())


def test_second_visit_comes_from_the_cache(tab, qtbot, lenet_ckpt):
    for cached in (False, True):
        with qtbot.waitSignal(tab.scored, timeout=30000):
            tab.set_model("lenet", "lenet", lenet_ckpt.state, str(lenet_ckpt.path))
        assert tab.state.cached is cached


def test_in_memory_weights_and_missing_data(tab, qtbot, lenet_ckpt, tmp_path):
    with qtbot.waitSignal(tab.scored, timeout=30000):
        tab.set_model("lenet #1 (trained here)", "lenet", lenet_ckpt.state, None)
    assert tab.state.mistakes.n == 100
    from digitpad.app.settings import DATA_DIR

    tab.settings.setValue(DATA_DIR, str(tmp_path / "empty"))
    tab.set_model("lenet", "lenet", lenet_ckpt.state, None)
    assert tab.state.phase == "failed" and "MNIST is not in" in tab.status.text()


def test_open_in_canvas_from_the_window(make_window, qtbot, tiny_mnist, monkeypatch):
    monkeypatch.setenv("DIGITPAD_DATA", str(tiny_mnist))
    w = make_window()
    assert w.draw_tab.select_model("lenet")
    with qtbot.waitSignal(w.mistakes_tab.scored, timeout=30000):
        w.tabs.setCurrentWidget(w.mistakes_tab)
    assert "lenet" in w.mistakes_tab.status.text()
    qtbot.mouseClick(w.mistakes_tab.open_button, Qt.MouseButton.LeftButton)
    assert w.tabs.currentWidget() is w.draw_tab
    assert not w.draw_tab.canvas.is_empty()
    qtbot.waitUntil(lambda: w.draw_tab.last_prediction is not None and not w.draw_tab.last_prediction.empty)


def test_an_opened_test_image_is_never_kept_as_a_sample(make_window, qtbot, tiny_mnist, monkeypatch,
                                                         stroke):
    """Mistakes -> Open in canvas -> a digit key: the test image is not "my handwriting", strokes
    added or not, and undo cannot bring it back as one; a drawing of one's own still is."""
    from qt_helpers import BAR

    from digitpad.app.draw.corrections import FROM_TEST
    from digitpad.core.data.samples import SampleStore

    monkeypatch.setenv("DIGITPAD_DATA", str(tiny_mnist))
    w = make_window()
    assert w.draw_tab.select_model("lenet")
    with qtbot.waitSignal(w.mistakes_tab.scored, timeout=30000):
        w.tabs.setCurrentWidget(w.mistakes_tab)
    qtbot.mouseClick(w.mistakes_tab.open_button, Qt.MouseButton.LeftButton)
    draw = w.draw_tab
    assert w.tabs.currentWidget() is draw and draw.corrections.note.text() == FROM_TEST
    qtbot.keyClick(draw.canvas, Qt.Key.Key_7)
    assert SampleStore().list() == [] and "not kept as a sample" in draw.corrections.note.text()
    stroke(draw.canvas, BAR)  # drawn over: still the test image underneath
    qtbot.keyClick(draw.canvas, Qt.Key.Key_7)
    assert SampleStore().list() == []
    qtbot.mouseClick(draw.clear_button, Qt.MouseButton.LeftButton)
    assert "not kept" not in draw.corrections.note.text()
    draw.canvas.undo()  # the test image again
    qtbot.keyClick(draw.canvas, Qt.Key.Key_7)
    assert SampleStore().list() == []
    qtbot.mouseClick(draw.clear_button, Qt.MouseButton.LeftButton)
    stroke(draw.canvas, BAR)  # one's own drawing
    qtbot.keyClick(draw.canvas, Qt.Key.Key_1)
    qtbot.waitUntil(lambda: draw.corrections.writes.pending == 0)  # written in a worker
    assert [s.digit for s in SampleStore().list()] == [1]


@pytest.mark.parametrize("size", [(830, 568), (1280, 820), (1600, 700)])
def test_the_matrix_has_no_empty_band_beside_its_columns(window, qtbot, size):
    """The axes span exactly the ten columns and rows, and the cells stay near square, in a
    wide or a tall pane alike."""
    from qt_helpers import deliver_posted_events

    tab = window.mistakes_tab
    window.tabs.setCurrentWidget(tab)
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=2000)
    deliver_posted_events()
    (x0, x1), (y0, y1) = tab.plot.viewRange()
    assert (x0, x1) == pytest.approx((0, 10), abs=0.05) and (y0, y1) == pytest.approx((0, 10), abs=0.05)
    box = tab.plot.getViewBox().sceneBoundingRect()
    assert 0.8 < box.width() / box.height() < 1.25, (box.width(), box.height())


def test_mistakes_and_about_look_for_mnist_where_the_training_tab_was_told(make_window, qtbot,
                                                                          tiny_mnist):
    """The data folder typed in the Training tab is the one Mistakes scores from and About names
    (Mistakes used to look in the default folder only and say MNIST was missing)."""
    from digitpad.app.widgets.help_text import about_html

    window = make_window()
    assert window.draw_tab.select_model("lenet")
    window.training_tab.data_edit.setText(str(tiny_mnist))
    window.training_tab.data_edit.editingFinished.emit()
    tab = window.mistakes_tab
    window.tabs.setCurrentWidget(tab)
    with qtbot.waitSignal(tab.scored, timeout=60_000):
        tab.start()
    assert "not in" not in tab.status.text()
    assert str(tiny_mnist) in about_html("cpu", window.training_tab.data_dir())
