"""Issue 24, failure 3 in the app: a model whose outputs overflow on this drawing (finite on
the load-time probes) shows "unusable", never a digit at "nan %"."""

from __future__ import annotations

import numpy as np

from digitpad.core.data.preprocess import preprocess
from digitpad.core.nets.checkpoint import load_checkpoint, save_checkpoint, shipped_model_path
from digitpad.core.reading.predict import Predictor

GAMMA = [(220, 60), (140, 60), (60, 60), (60, 140), (60, 220)]


def test_an_overflowing_drawing_is_marked_unusable(lenet_window, stroke, qtbot, tmp_path):
    tab = lenet_window.draw_tab
    stroke(tab.canvas, GAMMA)
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab._timer.isActive())
    inked = preprocess(tab.canvas.to_array()).image.ravel()
    bar = np.zeros((28, 28), bool)
    bar[4:24, 12:16] = True  # the probe images' bar
    p = int(np.flatnonzero((inked > 0.95) & ~bar.ravel())[0])  # (1 + 0.42) x 1.2e38 overflows
    q = int(np.flatnonzero((inked == 0) & ~bar.ravel())[0])
    ckpt = load_checkpoint(shipped_model_path("dense"))
    state = {k: v.clone() for k, v in ckpt.state.items()}
    state["fc1.weight"][0, p], state["fc1.weight"][0, q] = 1.2e38, -1.2e38
    save_checkpoint(tmp_path / "evader.safetensors", "dense", state, ckpt.meta)
    tab._current.predictor = Predictor.from_file(tmp_path / "evader.safetensors")  # loads fine
    messages = []
    tab.status_message.connect(messages.append)
    tab.request_prediction()
    qtbot.waitUntil(lambda: tab.prediction.confidence_label.text() == "unusable")
    assert tab.prediction.digit_label.text() == "" and not tab.prediction.probs.any()
    assert tab.last_prediction is None
    assert messages and "NaN or infinite" in messages[-1], messages
