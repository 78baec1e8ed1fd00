"""Issue 25 in the app: the lesson's model.pth dropped on the window, an ONNX model opened;
both opened in a worker (issue 21), drawn with, their maps shown, their input convention said."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from lesson_network import train_lesson_model
from qt_helpers import open_inside_page

SEVEN = [(80, 60), (140, 60), (200, 60), (185, 95), (170, 130), (155, 170), (140, 210), (130, 235)]


@pytest.fixture
def opened_in(monkeypatch):
    """The threads core.reading.predict.open_model_file ran in."""
    from digitpad.core.reading import predict

    threads = []
    real = predict.open_model_file

    def spy(*a, **k):
        threads.append(threading.current_thread())
        return real(*a, **k)

    monkeypatch.setattr(predict, "open_model_file", spy)
    return threads


def test_lesson_model_dropped_on_the_window(window, tiny_mnist, tmp_path, stroke, qtbot, opened_in,
                                            monkeypatch):
    monkeypatch.setenv("DIGITPAD_DATA", str(tiny_mnist))  # the app's MNIST: its input scored there
    path = tmp_path / "model.pth"
    torch.save(train_lesson_model(tiny_mnist).state_dict(), path)  # as the lesson saves it
    tab = window.draw_tab
    assert window.open_dropped(str(path))  # a dropped .pth opens as a model, not an image
    qtbot.waitUntil(lambda: tab.current_entry() is not None and tab.current_entry().key == str(path),
                    timeout=60000)
    assert opened_in and all(t is not threading.main_thread() for t in opened_in)
    entry = tab.current_entry()
    assert entry.arch == "lenet" and entry.predictor.meta["foreign"] == "pytorch state dict"
    assert "ToTensor" in window.input_label.text() and not window.input_label.isHidden()
    assert not tab.input_box.isHidden() and tab.input_box.currentData() == entry.predictor.meta["input"]
    assert "conv1" in tab.maps.layers and "conv1" in tab.maps.kernels
    stroke(tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab.last_prediction.empty)
    assert tab.last_prediction.probs.shape == (10,) and "conv1" in tab.last_prediction.maps
    assert entry.to_checkpoint().arch == "lenet"  # a state dict: Save as / teach / train take it
    # the Input box: another convention, opened again in a worker and remembered for the file
    tab.input_box.setCurrentIndex(tab.input_box.findData("0-255-dark"))
    qtbot.waitUntil(lambda: tab.current_entry().predictor.meta.get("input") == "0-255-dark",
                    timeout=60000)
    assert "by you" in window.input_label.text()
    assert tab.open_model_file(str(path)).wait()  # reopened: the choice stayed with the file
    assert tab.current_entry().predictor.meta["input"] == "0-255-dark"


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2),
                                  nn.Conv2d(4, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(8, 10))

    def forward(self, x):
        return self.body(x)


def test_onnx_model_opened_drawn_and_explained(window, tmp_path, stroke, qtbot, recorded_dialogs):
    torch.manual_seed(0)
    model = SmallCNN().eval()
    path = tmp_path / "other.onnx"
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), str(path), dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})
    tab = window.draw_tab
    job = window.open_model(str(path))
    assert job.wait() and job.ms is not None, job.error
    entry = tab.current_entry()
    assert entry.arch == "onnx" and not entry.torch_weights
    names = list(tab.maps.layers)
    assert len(names) == 4 and any("Conv" in n for n in names) and any("Pool" in n for n in names)
    assert set(tab.maps.kernels) <= set(names) and len(tab.maps.kernels) == 2
    stroke(tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab.last_prediction.empty)
    assert list(tab.last_prediction.maps) == names
    # the why-map by occlusion: forward passes only
    with qtbot.waitSignal(tab.inside.computed, timeout=30000):
        tab.inside.toggle.setChecked(True)
    assert tab.inside.last_why is not None and tab.inside.last_why.occlusion.shape == (28, 28)
    assert "ONNX" in tab.inside.why_caption.text()
    # nothing digitpad can save: said in the status bar, no file, no crash
    assert window.save_model(str(tmp_path / "x.safetensors")) is None
    assert "ONNX" in window.statusBar().currentMessage() and not (tmp_path / "x.safetensors").exists()
    assert not recorded_dialogs


def test_bad_onnx_shows_the_core_message(window, tmp_path, recorded_dialogs):
    path = tmp_path / "cut.onnx"
    path.write_bytes(b"\x08\x07\x12\x04junk")
    before = window.draw_tab.current_entry()
    assert not window.open_model(str(path))
    assert recorded_dialogs and recorded_dialogs[0][1] == "Cannot open model"
    assert window.draw_tab.current_entry() is before


def test_model_option_reaches_the_window(monkeypatch, tmp_path):
    from digitpad import cli
    from digitpad.app import main

    assert main._parse_all(["digitpad", "--model", "m.pth", "-platform", "offscreen"])[2] == "m.pth"
    seen = []
    monkeypatch.setattr(main, "run_app", lambda argv: seen.append(argv) or 0)
    assert cli.main(["--model", str(tmp_path / "m.onnx")]) == 0
    assert seen and seen[0][-2:] == ["--model", str(tmp_path / "m.onnx")]


def test_number_mode_reads_with_an_onnx_model_without_a_batch_axis(window, tmp_path, qtbot):
    """Number mode with a foreign model: the reader's one batch goes through the ONNX model
    (here a fixed batch of one, so image by image) and the chosen digit's maps are its nodes'."""
    import numpy as np
    from PySide6.QtCore import Qt

    from test_number_mode import FOUR, SEVEN, TWO, draw, read

    torch.manual_seed(0)
    path = tmp_path / "fixed.onnx"
    torch.onnx.export(SmallCNN().eval(), torch.zeros(1, 1, 28, 28), str(path), dynamo=False)
    tab = window.draw_tab
    job = window.open_model(str(path))
    assert job.wait(), job.error
    entry = tab.current_entry()
    assert entry.arch == "onnx" and not entry.predictor.batched
    qtbot.mouseClick(tab.mode_button, Qt.MouseButton.LeftButton)
    assert tab.number.state.active
    draw(qtbot, tab.number.canvas, FOUR + TWO + SEVEN)
    r = read(qtbot, tab)
    assert len(r.digits) == 3  # three pieces, whatever an untrained model makes of them
    alone = entry.predictor.probs_batch(np.stack([d.pre.image for d in r.digits]))
    np.testing.assert_allclose(np.stack([d.probs for d in r.digits]), alone, atol=1e-5)
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab.last_prediction.empty)
    np.testing.assert_allclose(tab.prediction.probs, r.digits[-1].probs, atol=1e-4)
    assert list(tab.last_prediction.maps) == list(tab.maps.layers) and len(tab.maps.layers) == 4


def test_compare_and_mistakes_with_an_onnx_model(window, tmp_path, stroke, qtbot, tiny_mnist):
    """Compare lists the ONNX model beside the shipped ones; Mistakes scores it on the test
    set through its own forward pass (it used to keep showing the previous model)."""
    import numpy as np

    from digitpad.app.settings import DATA_DIR
    from digitpad.core.data.mnist import load_test_set

    torch.manual_seed(0)
    path = tmp_path / "other.onnx"
    torch.onnx.export(SmallCNN().eval(), torch.zeros(1, 1, 28, 28), str(path), dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})
    window.mistakes_tab.settings.setValue(DATA_DIR, str(tiny_mnist))
    tab = window.draw_tab
    assert window.open_model(str(path)).wait()
    pred = tab.current_entry().predictor
    stroke(tab.canvas, SEVEN)
    qtbot.waitUntil(lambda: tab.last_prediction is not None and not tab.last_prediction.empty)
    panel = open_inside_page(qtbot, tab, "compare", 1, timeout=30000)
    names = [panel.compare_table.item(r, 0).text() for r in range(panel.compare_table.rowCount())]
    assert names[-1] == "other.onnx" and len(names) >= 2, names
    row = len(names) - 1
    assert panel.compare_table.item(row, 1).text() == str(tab.last_prediction.digit)
    assert panel.compare_table.item(row, 3).text() == f"{pred.parameters:,}"
    mt = window.mistakes_tab
    assert mt.state.model is not None and mt.state.model.arch == "onnx"
    with qtbot.waitSignal(mt.scored, timeout=60000):
        assert mt.start()
    x, y = load_test_set(tiny_mnist)
    own = pred.probs_batch(x[:, 0].numpy()).argmax(1)
    assert mt.state.mistakes.n == 100
    np.testing.assert_array_equal(mt.state.mistakes.preds, own)


def test_mistakes_of_a_state_dict_follow_its_input(qtbot, tiny_mnist, tmp_path):
    """A user's state dict scored in Mistakes with its input convention; another convention
    for the same file is scored again, not taken from the first one's cache."""
    from digitpad.app.mistakes.tab import MistakesTab
    from digitpad.app.settings import DATA_DIR, make_settings
    from digitpad.core.data.mnist import load_test_set
    from digitpad.core.reading.predict import open_model_file

    path = tmp_path / "model.pth"
    model = train_lesson_model(tiny_mnist)
    torch.save(model.state_dict(), path)
    settings = make_settings()
    settings.setValue(DATA_DIR, str(tiny_mnist))
    mt = MistakesTab(settings)
    qtbot.addWidget(mt)
    x, y = load_test_set(tiny_mnist)
    with torch.no_grad():
        true_preds = model(x).argmax(1).numpy()
    try:
        results = {}
        for convention in ("totensor", "totensor-dark"):
            pred, ckpt = open_model_file(path, convention, tiny_mnist)
            with qtbot.waitSignal(mt.scored, timeout=60000):
                mt.set_model("model.pth", ckpt.arch, pred.state_dict(), str(path), pred.meta)
                assert mt.start()
            results[convention] = (mt.state.mistakes.preds.copy(), mt.state.cached)
    finally:
        mt.shutdown()
    assert (results["totensor"][0] == true_preds).all()
    assert not results["totensor-dark"][1] and (results["totensor-dark"][0] != true_preds).any()
