"""The main window: opening bad and good model files, saving, settings, training hand-over,
closing mid-training, help text, themes."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QMessageBox

from digitpad.app import settings as keys
from digitpad.app.settings import make_settings
from digitpad.core.nets.checkpoint import FORMAT, Checkpoint, load_checkpoint, make_meta, save_checkpoint
from digitpad.core.nets.models import create_model

SEVEN = [(80, 60), (140, 60), (200, 60), (185, 95), (170, 130), (155, 170), (140, 210), (130, 235)]


def lenet_checkpoint(seed: int, acc: float = 0.5) -> Checkpoint:
    torch.manual_seed(seed)
    return Checkpoint("lenet", create_model("lenet").state_dict(), make_meta("lenet", test_acc=acc))


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "pickle", "shapes", "empty"])
def test_bad_model_file_shows_the_core_message_and_keeps_the_model(window, recorded_dialogs,
                                                                   tmp_path, kind):
    tab = window.draw_tab
    tab.select_model("lenet")
    before = tab.current_entry()
    count = tab.model_box.count()
    if kind == "corrupt":
        path = tmp_path / "noise.safetensors"
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif kind == "truncated":
        good = save_checkpoint(tmp_path / "good.safetensors", "lenet", lenet_checkpoint(1).state)
        path = tmp_path / "cut.safetensors"
        path.write_bytes(good.read_bytes()[:-1000])
    elif kind == "pickle":
        path = tmp_path / "model.safetensors"  # a pickle under a safetensors name: still refused
        path.write_bytes(pickle.dumps({"x": 1}, protocol=4))
    elif kind == "shapes":
        from safetensors.torch import save_file

        state = dict(lenet_checkpoint(1).state)
        state["fc1.weight"] = torch.zeros(7, 7)
        path = tmp_path / "shapes.safetensors"
        save_file(state, str(path), metadata={"format": FORMAT, "arch": "lenet",
                                               "meta": json.dumps({})})
    else:
        path = tmp_path / "empty.safetensors"
        path.write_bytes(b"")
    assert not window.open_model(str(path))
    assert len(recorded_dialogs) == 1
    kind_, title, text = recorded_dialogs[0]
    assert kind_ == "warning" and title == "Cannot open model"
    with pytest.raises(Exception) as exc:
        load_checkpoint(path)
    assert text == str(exc.value)  # the core's own sentence
    assert tab.current_entry() is before and tab.model_box.count() == count


def test_pickle_pt_file_is_refused_without_unpickling(window, recorded_dialogs, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path.write_bytes(pickle.dumps(Evil()))
    assert not window.open_model(str(path))
    assert not marker.exists()
    assert "pickle" in recorded_dialogs[0][2]


def test_open_and_save_model_files(window, recorded_dialogs, tmp_path, stroke, qtbot):
    src = save_checkpoint(tmp_path / "mine.safetensors", "lenet", lenet_checkpoint(3, 0.91).state,
                          make_meta("lenet", test_acc=0.91))
    assert window.open_model(str(src))
    tab = window.draw_tab
    entry = tab.current_entry()
    assert entry.key == str(src) and entry.source == "file"
    assert "91.00 %" in entry.label and window.acc_label.text() == "test accuracy: 91.00 %"
    assert not recorded_dialogs
    stroke(tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: not tab._timer.isActive())
    out = tmp_path / "copy.safetensors"
    job = window.save_model(str(out))
    assert job is not None and "Saving" in window.statusBar().currentMessage()
    assert job.wait().ok
    assert window.statusBar().currentMessage() == f"Saved {out}"
    saved = load_checkpoint(out)
    for k, v in load_checkpoint(src).state.items():
        assert torch.equal(saved.state[k], v)
    assert str(out) in window._recent()


def test_settings_persist_across_windows(make_window, tmp_path):
    src = save_checkpoint(tmp_path / "remember.safetensors", "lenet", lenet_checkpoint(4).state)
    w1 = make_window()
    w1.resize(700, 520)  # within the offscreen screen (800x600); the layout may widen it
    size = (w1.width(), w1.height())
    w1.draw_tab.select_model("dense")
    assert w1.open_model(str(src))
    w1.draw_tab.maps.set_shared_scale(True)
    w1._closing = True
    w1.close()
    s = make_settings()
    assert s.value(keys.LAST_MODEL) == str(src)
    w2 = make_window()
    assert w2.draw_tab.current_entry().key == str(src)
    assert (w2.width(), w2.height()) == size != (800, 560)  # not the default size
    assert w2.draw_tab.maps.shared_scale
    w2.draw_tab.select_model("dense")
    w2._closing = True
    w2.close()
    w3 = make_window()
    assert w3.draw_tab.current_entry().key == "dense"


def test_use_model_from_training_hot_swaps_into_draw_tab(window, qtbot):
    tab = window.draw_tab
    window.tabs.setCurrentIndex(1)
    ckpt = lenet_checkpoint(5, 0.42)
    window.training_tab.use_model.emit(ckpt)  # built and warmed up in a worker (issue 21)
    qtbot.waitUntil(lambda: tab.current_entry().source == "trained", timeout=20000)
    entry = tab.current_entry()
    assert entry.source == "trained" and entry.arch == "lenet"
    assert window.tabs.currentWidget() is tab
    assert tab.model_box.currentData() == entry.key
    for k, v in entry.predictor.kernels().items():
        assert np.allclose(np.asarray(v), ckpt.state[f"{k}.weight"].numpy())


def test_live_weights_update_the_live_entry(window, stroke, qtbot):
    tab = window.draw_tab
    stroke(tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: not tab._timer.isActive())
    before = tab.prediction.probs.copy()
    first = lenet_checkpoint(6, 0.3)
    first.meta["epochs"] = 1
    tab.set_live_weights(first)
    # the person ticked "Draw tab uses the live weights": the Draw tab switches to them, once
    # a worker has built the weights into a predictor
    qtbot.waitUntil(lambda: tab.current_entry().key == "live" and
                    not np.allclose(before, tab.prediction.probs))
    assert not np.allclose(before, tab.prediction.probs)
    assert window.model_label.text() == "model: lenet epoch 1"
    assert tab.model_box.currentText() == "lenet epoch 1 · being trained · 30.00 %"
    probs1 = tab.prediction.probs.copy()
    second = lenet_checkpoint(7, 0.6)
    second.meta["epochs"] = 2
    tab.set_live_weights(second)
    qtbot.waitUntil(lambda: not np.allclose(probs1, tab.prediction.probs))
    assert tab.current_entry().key == "live"
    assert tab.model_box.currentText() == "lenet epoch 2 · being trained · 60.00 %"
    tab.end_live()  # the run ended
    assert tab.model_box.currentText() == "lenet epoch 2 · trained here · 60.00 %"
    assert "being trained" not in " ".join(tab.model_box.itemText(i) for i in range(tab.model_box.count()))


def test_close_asks_about_unsaved_model_and_joins_training(make_window, tiny_mnist, recorded_dialogs,
                                                           qtbot):
    w = make_window()
    from digitpad.core.data.mnist import load_mnist
    from digitpad.core.learning.config import recipe_config

    t = w.training_tab
    assert w.close() and recorded_dialogs == []  # nothing trained: no question
    w.show()
    w._closing = False
    t.start_training(recipe_config("fast", "lenet", epochs=1, batch_size=32, device="cpu",
                                   augment=False), load_mnist(tiny_mnist))
    qtbot.waitUntil(lambda: not t.is_running(), timeout=30000)
    assert t.has_unsaved_model()  # a real finished run, not a patched flag
    recorded_dialogs.answers.append(QMessageBox.StandardButton.Cancel)
    assert not w.close()  # Cancel keeps the window (and the model)
    assert w.isVisible() and t.has_unsaved_model()
    recorded_dialogs.answers.append(QMessageBox.StandardButton.Discard)
    assert w.close()
    assert [(c[0], c[1]) for c in recorded_dialogs] == [("question", "Save the trained model?")] * 2
    assert not w.isVisible()


def test_help_text_numbers_come_from_the_core():
    from digitpad.app.widgets.help_text import about_html, how_this_works_html

    html = how_this_works_html()
    assert "44,426" in html and "669,706" in html and "401,920" in html
    assert "(28 − 5 + 2·0) / 1 + 1 = <b>24</b>" in html
    assert "cross-correlation" in html
    about = about_html("cpu")
    assert torch.__version__ in about and "0.1.0" in about


def test_theme_preference_recolours_plots(window):
    from digitpad.app.widgets.preferences import Preferences

    prefs = Preferences.load(window.settings)
    prefs.theme = "dark"
    window.apply_preferences(prefs)
    assert window.draw_tab.prediction.plot.backgroundBrush().color().name() == "#1e1f22"
    assert make_settings().value(keys.THEME) == "dark"
    prefs.theme = "light"
    window.apply_preferences(prefs)
    assert window.draw_tab.prediction.plot.backgroundBrush().color().name() == "#ffffff"


def test_menus_have_standard_shortcuts(window):
    from PySide6.QtGui import QKeySequence

    assert QKeySequence(QKeySequence.StandardKey.Undo) in window.undo_action.shortcuts()
    assert QKeySequence(QKeySequence.StandardKey.Open) in window.open_action.shortcuts()
    assert window.quit_action.shortcuts()
    assert not window.undo_action.isEnabled()
    window.draw_tab.canvas.draw_stroke(SEVEN)
    assert window.undo_action.isEnabled()
    window.undo_action.trigger()
    assert window.draw_tab.canvas.is_empty()
