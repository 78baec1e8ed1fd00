"""The GUI thread only paints: torch work and saving run in worker threads, the newest request
wins, the Training tab gets snapshots, and closing the window joins every thread."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from digitpad.app import workers
from digitpad.app.draw.tab import WARMUP_DRAWING
from digitpad.core.data.mnist import load_mnist
from digitpad.core.data.preprocess import Preprocessed
from digitpad.core.io.outputs import output_lock
from digitpad.core.learning.config import recipe_config
from digitpad.core.nets.checkpoint import Checkpoint, load_checkpoint, make_meta, save_checkpoint
from digitpad.core.reading.predict import Predictor

from qt_helpers import SEVEN

GUI = threading.get_ident()  # pytest runs the tests (and the Qt event loop) in this thread


def lenet_checkpoint(seed: int, acc: float = 0.5) -> Checkpoint:
    import torch

    from digitpad.core.nets.models import create_model

    torch.manual_seed(seed)
    return Checkpoint("lenet", create_model("lenet").state_dict(), make_meta("lenet", test_acc=acc))


def drawn(window, stroke, qtbot):
    tab = window.draw_tab
    stroke(tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab.last_prediction.empty)
    return tab


@pytest.fixture
def threads_of(monkeypatch):
    """threads_of(owner, name, keep=None): record the thread of every call to owner.name
    (whose arguments pass ``keep``) in the list it returns; the call itself runs as before."""
    def watch(owner, name, keep=None):
        seen: list[int] = []
        real = getattr(owner, name)

        def wrapper(*args, **kwargs):
            if keep is None or keep(*args, **kwargs):
                seen.append(threading.get_ident())
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)
        return seen
    return watch


def test_shift_test_compare_and_shuffle_run_in_a_worker(lenet_window, stroke, qtbot, threads_of):
    import digitpad.core.insight.explain as explain

    shifts = threads_of(explain, "shift_test")
    # the Inside panel hands each model the 28x28 input itself; the Draw tab hands it the canvas
    inside_predictions = threads_of(Predictor, "predict",
                                    lambda self, image, *a, **k: isinstance(image, Preprocessed))
    tab = drawn(lenet_window, stroke, qtbot)
    panel = tab.inside
    panel.toggle.setChecked(True)
    for page, kind in ((1, "compare"), (2, "shift"), (3, "shuffle")):
        with qtbot.waitSignal(panel.computed, timeout=20000, check_params_cb=lambda k, kind=kind: k == kind):
            panel.pages.setCurrentIndex(page)
    assert shifts and GUI not in shifts
    assert len(inside_predictions) >= 6 and GUI not in inside_predictions  # 3 models x 2 pages
    assert panel.compare_table.rowCount() == 3 and panel.last_shuffled is not None


def test_a_unit_click_computes_its_field_in_a_worker(lenet_window, stroke, qtbot, threads_of):
    from digitpad.core.insight.explain import Explainer

    fields = threads_of(Explainer, "unit_field")
    built = threads_of(Explainer, "__init__")
    tab = drawn(lenet_window, stroke, qtbot)
    lv = tab.maps.layers["conv1"]
    tile = lv.tile_rect(0)
    view = lv.image.scene().views()[0]
    scene = lv.image.mapToScene(QPointF(tile.left() + 3.5, tile.top() + 4.5))
    with qtbot.waitSignal(tab.inside.computed, timeout=20000, check_params_cb=lambda k: k == "field"):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(scene))
    assert fields and GUI not in fields and built and GUI not in built
    assert tab.inside.last_field[:4] == ("conv1", 0, 4, 3)


def test_a_new_entry_is_warmed_up_in_a_worker_and_then_reads_the_drawing(
        lenet_window, stroke, qtbot, threads_of):
    warmups = threads_of(Predictor, "predict", lambda self, image, *a, **k: image is WARMUP_DRAWING)
    tab = drawn(lenet_window, stroke, qtbot)
    before = tab.last_prediction
    entry = tab.add_checkpoint(lenet_checkpoint(11, 0.5))
    assert tab.current_entry() is entry
    qtbot.waitUntil(lambda: tab.last_prediction is not before, timeout=20000)
    assert entry.extra.get("warm") and warmups and GUI not in warmups
    assert not tab.state.warming and not tab.state.pending
    # the new weights read the same drawing: the probabilities are its own
    np.testing.assert_allclose(tab.last_prediction.probs,
                               entry.predictor.predict(tab.canvas.to_array()).probs, atol=1e-6)


def test_drawing_while_a_model_warms_up_is_read_once_it_is_warm(lenet_window, stroke, qtbot):
    tab = lenet_window.draw_tab
    gate = threading.Event()
    entry = tab.add_checkpoint(lenet_checkpoint(12, 0.5), select=False)
    real = entry.predictor.predict

    def slow_first(image, *args, **kwargs):
        if image is WARMUP_DRAWING:
            assert gate.wait(30)
        return real(image, *args, **kwargs)

    entry.predictor.predict = slow_first
    tab.select_model(entry.key)
    assert tab.state.warming
    before = tab.last_prediction
    stroke(tab.canvas, SEVEN)  # drawn while the worker is still warming the model up
    QApplication.processEvents()  # anything the stroke scheduled has had its turn
    assert tab.last_prediction is before  # nothing read yet: the drawing waits for the model
    gate.set()
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab.last_prediction.empty,
                    timeout=20000)
    assert not tab.state.warming and not tab.state.pending


def test_the_newest_request_wins(qtbot):
    """One request runs; of those submitted meanwhile only the last one runs after it."""
    runner = workers.Latest()
    gate = threading.Event()
    ran, shown = [], []

    def request(name, wait=False):
        def work(control):
            if wait:
                assert gate.wait(30)
            ran.append(name)
            yield name
        return work

    runner.submit(request("first", wait=True), shown.append)
    for name in ("second", "third", "fourth"):
        runner.submit(request(name), shown.append)
    assert runner.busy and runner.waiting
    with qtbot.waitSignal(runner.idle, timeout=10000):
        gate.set()
    assert ran == shown == ["first", "fourth"]
    runner.shutdown()


def test_latest_shutdown_drops_the_waiting_request_and_joins(qtbot):
    runner = workers.Latest()
    started, gate = threading.Event(), threading.Event()
    shown = []

    def blocking(control):
        started.set()
        assert gate.wait(30)
        yield "late"

    runner.submit(blocking, shown.append)
    runner.submit(lambda control: iter(["never"]), shown.append)
    assert started.wait(10)
    gate.set()
    runner.shutdown(5000)
    assert not runner.busy and not runner.waiting and shown == []


def test_saving_waits_for_the_lock_in_a_worker_not_in_the_gui(window, tmp_path, qtbot):
    out = tmp_path / "busy.safetensors"
    with output_lock(out):  # another writer holds the file (here: the GUI thread itself)
        job = window.save_model(str(out))
        # save_model came back while the lock is held: the wait is in the worker
        assert job is not None and not job.finished and not out.exists()
        assert window.statusBar().currentMessage() == f"Saving {out}…"
    saved = job.wait()
    assert saved.ok and saved.path == out
    assert load_checkpoint(out).arch == window.draw_tab.current_entry().arch
    assert window.statusBar().currentMessage() == f"Saved {out}"


def test_a_failed_save_says_why(window, tmp_path, recorded_dialogs):
    (tmp_path / "a-file").write_text("not a folder")
    job = window.save_model(str(tmp_path / "a-file" / "m.safetensors"))
    saved = job.wait()
    assert not saved.ok and saved.error
    assert recorded_dialogs[0][:2] == ("warning", "Cannot save model")
    assert recorded_dialogs[0][2] == saved.error


def test_training_hands_the_gui_snapshots_built_in_the_worker(window, tiny_mnist, qtbot, threads_of,
                                                              tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from digitpad.core.learning.session import TrainingSession

    live = threads_of(TrainingSession, "live_checkpoint")
    result = threads_of(TrainingSession, "result_checkpoint")
    t = window.training_tab
    t.live_check.setChecked(True)
    got = []
    t.live_weights.connect(got.append)
    t.start_training(recipe_config("fast", "lenet", epochs=2, batch_size=32, device="cpu",
                                   augment=False), load_mnist(tiny_mnist))
    qtbot.waitUntil(lambda: not t.is_running(), timeout=60000)
    assert len(live) == 2 and GUI not in live and len(result) == 1 and GUI not in result
    assert [c.meta["epochs"] for c in got] == [1, 2]
    assert t.trained_model() is not None and t.trained_model().meta["epochs_run"] == 2
    # the live entry of the Draw tab follows, built in a worker too
    qtbot.waitUntil(lambda: window.draw_tab.current_entry().key == "live", timeout=20000)
    target = tmp_path / "run.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "")))
    import digitpad.core.nets.checkpoint as checkpoint_module

    # the guarded write (widgets.model_files.write_model_file) looks save_checkpoint up here
    saves = threads_of(checkpoint_module, "save_checkpoint")
    job = t.save_trained_model(window)
    assert not t.save_button.isEnabled()  # no second save while one runs
    assert job.wait().ok and saves and GUI not in saves
    assert t.save_button.isEnabled() and load_checkpoint(target).meta["epochs_run"] == 2


def test_closing_joins_every_thread(make_window, stroke, qtbot, monkeypatch, tmp_path):
    import digitpad.core.insight.explain as explain

    handles: list[workers.WorkerHandle] = []
    real_init, real_shutdown = workers.WorkerHandle.__init__, workers.WorkerHandle.shutdown
    real_shift = explain.shift_test
    closing = threading.Event()

    def recording(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        handles.append(self)

    def shutdown(self, *args, **kwargs):
        closing.set()
        return real_shutdown(self, *args, **kwargs)

    def shift_until_closing(*args, **kwargs):  # still busy when the window closes
        assert closing.wait(30)
        return real_shift(*args, **kwargs)

    monkeypatch.setattr(workers.WorkerHandle, "__init__", recording)
    monkeypatch.setattr(workers.WorkerHandle, "shutdown", shutdown)
    monkeypatch.setattr(explain, "shift_test", shift_until_closing)
    w = make_window()
    tab = drawn(w, stroke, qtbot)
    tab.inside.toggle.setChecked(True)
    tab.inside.pages.setCurrentIndex(2)  # the shift test starts in a worker
    tab.add_checkpoint(lenet_checkpoint(13, 0.5))  # a warm-up starts in another
    tab.set_live_weights(lenet_checkpoint(14, 0.5))  # and the live weights in a third
    out = tmp_path / "m.safetensors"
    assert w.save_model(str(out)) is not None  # and a save in a fourth
    assert [h for h in handles if h.is_running()]
    w._closing = True
    w.close()
    assert not [h for h in handles if h.is_running()]
    assert load_checkpoint(out).arch == "lenet"  # the save was finished, not cut off


def test_closing_while_the_models_load_joins_the_loader(make_window, qtbot, monkeypatch):
    import digitpad.app.main_window as mw

    gate = threading.Event()
    real = mw.load_everything
    ran = []

    entered = threading.Event()

    def held_back(first, on_first=None, stopped=None):
        entered.set()
        assert gate.wait(60)

        def after_first(loaded):
            on_first(loaded)
            ran.append("first")
        out = real(first, after_first, stopped)
        ran.append(len(out))
        return out

    monkeypatch.setattr(mw, "load_everything", held_back)
    w = make_window(defer_load=True)
    qtbot.waitUntil(lambda: w._loader is not None and w._loader.is_running(), timeout=10000)
    loader = w._loader
    assert entered.wait(30)
    gate.set()
    w._closing = True
    t0 = time.monotonic()
    w.close()  # stops the loader after the step in progress; joins it within the close bound
    assert time.monotonic() - t0 < 5.0 and w._loader is None
    # the step in progress (torch's import and the first model: often past the 300 ms bound)
    # ends by itself, the rest is skipped, and the thread is joined then
    qtbot.waitUntil(lambda: not loader.is_running(), timeout=60000)
    qtbot.waitUntil(lambda: len(ran) == 2, timeout=5000)
    assert ran == ["first", 1]  # the first model was loaded, the other two were skipped


def test_saving_a_checkpoint_still_goes_through_save_checkpoint(window, tmp_path):
    """The save in the worker writes what the model holds (same bytes as a direct save)."""
    entry = window.draw_tab.current_entry()
    direct = save_checkpoint(tmp_path / "direct.safetensors", entry.arch,
                             entry.to_checkpoint().state, {"name": "direct"})
    job = window.save_model(str(tmp_path / "via-gui.safetensors"), entry)
    assert job.wait().ok
    a, b = load_checkpoint(direct), load_checkpoint(tmp_path / "via-gui.safetensors")
    assert a.state.keys() == b.state.keys()
    assert all(np.array_equal(a.state[k].numpy(), b.state[k].numpy()) for k in a.state)


def test_help_and_about_are_built_in_a_worker(window, qtbot, monkeypatch, dialogs):
    """Help's lesson runs torch and About reads torch and the devices: while torch is still
    loading either waited for its import on the GUI thread."""
    from digitpad.app import main_window as mw

    built = {}

    def spy(name):
        real = getattr(mw, name)

        def wrapped(*args, **kwargs):
            built[name] = threading.get_ident()
            return real(*args, **kwargs)

        monkeypatch.setattr(mw, name, wrapped)

    spy("how_this_works_html")
    spy("about_html")
    window.show_help()
    qtbot.waitUntil(lambda: getattr(window, "_help", None) is not None
                    and window._help.isVisible(), timeout=20000)
    assert "convolution" in window._help.findChild(mw.QTextBrowser).toPlainText().lower()
    window._help.close()
    dialogs.allow("exec")
    dialogs.answers.append(lambda dlg: dlg.reject())
    window.show_about()
    qtbot.waitUntil(lambda: "about_html" in built and not window._pages.busy, timeout=20000)
    assert built["how_this_works_html"] != GUI and built["about_html"] != GUI


def test_drawing_asks_a_run_to_leave_a_core(window, stroke, qtbot, monkeypatch):
    asked = []
    monkeypatch.setattr(window.training_tab, "make_room", lambda: asked.append("training"))
    monkeypatch.setattr(window.handwriting_tab, "make_room", lambda: asked.append("teach"))
    stroke(window.draw_tab.canvas, SEVEN)
    assert "training" in asked and "teach" in asked
    asked.clear()
    stroke(window.handwriting_tab.canvas, SEVEN)  # the Collect canvas too
    assert "training" in asked
