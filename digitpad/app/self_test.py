"""``digitpad --self-test``: open the real window, draw, predict, train one tiny step, report.

It checks the installation end to end (Qt platform plugin, torch, pyqtgraph, the models) and
prints one line per check. Settings go to a throw-away file, so the person's window size and
last model are untouched.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

TRAIN_TIMEOUT_S = 120.0


class SelfTestFailure(Exception):
    pass


def _wait(app, done, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > end:
            return False
        app.processEvents()
        time.sleep(0.005)
    return True


def synthetic_mnist(n_train: int = 64, n_test: int = 32, seed: int = 0):
    """Small in-memory MnistTensors: blurred bars whose position says the label."""
    import torch

    from digitpad.core.data.mnist import MnistTensors

    g = torch.Generator().manual_seed(seed)

    def make(n: int):
        y = torch.arange(n) % 10
        x = torch.zeros(n, 1, 28, 28)
        for i, label in enumerate(y.tolist()):
            col = 4 + 2 * label
            top = int(torch.randint(3, 8, (1,), generator=g))
            x[i, 0, top:top + 16, col:col + 3] = 1.0
        return x, y

    tx, ty = make(n_train)
    vx, vy = make(n_test)
    return MnistTensors(tx, ty, vx, vy, Path("<in memory>"))


def run_self_test(app, out=print) -> int:
    from PySide6.QtCore import QSettings

    from .main_window import MainWindow
    from .startup import seconds_since_start
    from .widgets.canvas import synthetic_digit_strokes

    lines: list[str] = []

    def ok(msg: str) -> None:
        lines.append(f"  ok    {msg}")
        out(lines[-1])

    out(f"digitpad self-test (Qt platform: {app.platformName()})")
    window = None
    tmp = tempfile.TemporaryDirectory(prefix="digitpad-selftest-")
    try:
        settings = QSettings(str(Path(tmp.name) / "settings.ini"), QSettings.Format.IniFormat)
        # as at launch: the window shows first, torch and the models load behind it
        window = MainWindow(settings=settings, defer_load=True)
        window.show()
        app.processEvents()
        window_s = seconds_since_start()
        draw = window.draw_tab
        # until torch's models arrive, the numpy copy of the first one reads drawings
        # (core.reading.numpy_predict); without it the tab says it is loading
        if not window.loaded and draw.prediction.confidence_label.text() not in ("loading model…",
                                                                                  "Draw a digit"):
            raise SelfTestFailure("while the models load the Draw tab says neither 'loading model…' "
                                  "nor 'Draw a digit'")
        # a person draws at once: the stroke is read at once, or as soon as a model is ready
        for stroke in synthetic_digit_strokes(7, draw.canvas.canvas_size):
            draw.canvas.draw_stroke(stroke)
        if not _wait(app, lambda: draw.last_prediction is not None and not draw.last_prediction.empty, 120):
            raise SelfTestFailure("the drawing was not read within 120 s")
        first_s = seconds_since_start()
        early = draw.last_prediction if not window.loaded else None  # read by the numpy copy
        if not _wait(app, lambda: window.loaded, 120):
            raise SelfTestFailure("the models did not load within 120 s")
        loaded_s = seconds_since_start()
        out(f"startup: window {window_s:.2f} s, first prediction {first_s:.2f} s, all models {loaded_s:.2f} s")
        if early is not None:
            if not _wait(app, lambda: draw.last_prediction is not early, 10):
                raise SelfTestFailure("the drawing was not read again once the models loaded")
            if draw.last_prediction.digit != early.digit:
                raise SelfTestFailure(f"read as {early.digit} before torch loaded, "
                                      f"{draw.last_prediction.digit} after")
        entry = draw.current_entry()
        if entry is None:
            raise SelfTestFailure("no model is loaded in the Draw tab")
        ok(f"window opened; drawing with {entry.label}")
        pred = draw.last_prediction
        probs = np.asarray(pred.probs, dtype=np.float64)
        if probs.shape != (10,) or not np.isfinite(probs).all() or abs(probs.sum() - 1) > 1e-3:
            raise SelfTestFailure(f"the probabilities are not a finite distribution: {probs}")
        ok(f"prediction: {pred.digit} with {pred.confidence * 100:.1f} % "
           f"({draw.last_predict_ms:.1f} ms)")
        if entry.source == "shipped":  # the copy that reads drawings before torch loads
            from digitpad.core.reading.numpy_predict import load_shipped

            quick = load_shipped(entry.arch)
            if quick is None:
                raise SelfTestFailure(f"the shipped {entry.arch} cannot be read without torch "
                                      "(core.reading.numpy_predict)")
            qp = quick.predict(draw.canvas.to_array())
            gap = float(np.abs(qp.probs - pred.probs).max())
            if qp.digit != pred.digit or gap > 1e-3:
                raise SelfTestFailure(f"numpy and torch disagree: {qp.digit} vs {pred.digit} "
                                      f"(probabilities up to {gap:.1e} apart)")
            when = "before torch had loaded, " if early is not None else ""
            ok(f"numpy copy of {entry.arch}: read {qp.digit} {when}probabilities within {gap:.0e} of torch's")

        from digitpad.core.nets.spec import feature_shapes

        shapes = feature_shapes(entry.arch)
        spatial = [n for n, s in shapes.items() if len(s) == 3]
        n_maps = 0
        for name in shapes:
            if name not in pred.maps:
                raise SelfTestFailure(f"no feature maps for layer {name}")
            m = np.asarray(pred.maps[name])
            if not np.isfinite(m).all():
                raise SelfTestFailure(f"layer {name} has non-finite values")
            lv = draw.maps.layers.get(name)
            if lv is None or lv.mosaic is None:
                raise SelfTestFailure(f"layer {name} is not shown")
            n_maps += m.shape[0] if m.ndim == 3 else 0
        ok(f"feature maps: {len(spatial)} conv/pool layers, {n_maps} maps, all finite")
        draw.canvas.clear()
        _wait(app, lambda: not draw._timer.isActive(), 5)
        if draw.prediction.confidence_label.text() != "Draw a digit":
            raise SelfTestFailure("an empty canvas does not say 'Draw a digit'")
        draw.canvas.undo()
        _wait(app, lambda: not draw._timer.isActive(), 5)

        from digitpad.core.learning.config import recipe_config

        tab = window.training_tab
        # "auto": on a machine with a GPU the self-test checks the GPU path too
        cfg = recipe_config("fast", "lenet", epochs=1, batch_size=32, device="auto",
                            augment=False, report_every=1, eval_batch_size=64)
        t0 = time.perf_counter()
        tab.start_training(cfg, synthetic_mnist())
        if not _wait(app, lambda: not tab.is_running(), TRAIN_TIMEOUT_S):
            raise SelfTestFailure(f"one tiny training epoch did not end within {TRAIN_TIMEOUT_S:.0f} s")
        trained = tab.trained_model()
        if trained is None:
            raise SelfTestFailure("training ended without a model: "
                                  + tab.result_label.text().replace("\n", " "))
        bad = [k for k, v in trained.state.items() if v.is_floating_point() and
               not bool(v.isfinite().all())]
        if bad:
            raise SelfTestFailure(f"trained weights are not finite: {bad[:3]}")
        from digitpad.core.nets.devices import resolve_device

        ok(f"training: 1 epoch of lenet on 64 synthetic images on {resolve_device('auto')} "
           f"in {time.perf_counter() - t0:.1f} s "
           f"(test accuracy {trained.test_acc * 100:.0f}%)")

        window._closing = True  # skip the "save the trained model?" question
        window.close()
        app.processEvents()
        if window.isVisible():
            raise SelfTestFailure("the window did not close")
        ok("window closed, worker threads joined")
        out("self-test passed")
        return 0
    except SelfTestFailure as exc:
        out(f"  FAIL  {exc}")
        out("self-test FAILED")
        return 1
    except Exception as exc:
        out(f"  FAIL  unexpected error: {exc}")
        out(traceback.format_exc())
        out("self-test FAILED")
        return 1
    finally:
        if window is not None:
            if window.training_tab is not None:
                window.training_tab.shutdown(1000)
            window._closing = True
            window.close()
            window.deleteLater()
            app.processEvents()
        tmp.cleanup()
