"""Issue 25 gap: the number reader with a foreign model (``predict --number --model X``), the
lesson's state dict, a batched NCHW ONNX and a Keras-style ONNX with no batch axis."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from digitpad import cli
from digitpad.core.data.mnist import load_split
from lesson_network import train_lesson_model
from test_foreign import _keras_style_onnx


@pytest.fixture(scope="module")
def models(tiny_mnist, tmp_path_factory):
    folder = tmp_path_factory.mktemp("foreign_number")
    lesson = train_lesson_model(tiny_mnist)
    torch.save(lesson.state_dict(), folder / "model.pth")
    _keras_style_onnx(lesson, folder / "keras.onnx")  # (28, 28, 1), no batch axis, 0-255
    torch.onnx.export(lesson, torch.zeros(1, 1, 28, 28),
                      str(folder / "nchw.onnx"), dynamo=False, input_names=["img"],
                      dynamic_axes={"img": {0: "n"}})
    return {name: folder / name for name in ("model.pth", "keras.onnx", "nchw.onnx")}


def _number_image(root, tmp_path, count=3):
    """Test digits side by side with gaps, dark ink on white paper as a scan gives them."""
    x, y = load_split(root, train=False)
    strip = np.zeros((40, 40 * count), np.uint8)
    for k in range(count):
        strip[6:34, 40 * k + 6:40 * k + 34] = x[k].numpy()
    path = tmp_path / "number.png"
    Image.fromarray(255 - strip).save(path)
    return path, "".join(str(int(v)) for v in y[:count])


@pytest.mark.parametrize("name", ["model.pth", "nchw.onnx", "keras.onnx"])
def test_predict_number_with_a_foreign_model(name, models, tiny_mnist, tmp_path, capsys, monkeypatch):
    from digitpad.core.reading.number import read_number
    from digitpad.core.reading.predict import open_predictor
    from digitpad.core.data.preprocess import load_image

    monkeypatch.setenv("DIGITPAD_DATA", str(tiny_mnist))
    image, _ = _number_image(tiny_mnist, tmp_path)
    code = cli.main(["predict", str(image), "--number", "--json", "--model", str(models[name]),
                     "--input", "totensor" if name != "keras.onnx" else "0-255"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out.splitlines()[0])
    assert doc["status"] == "number" and len(doc["digits"]) == 3, {k: doc[k] for k in ("reason", "digits")}
    # each digit's probabilities are the model's own reading of that digit alone
    p = open_predictor(models[name], "totensor" if name != "keras.onnx" else "0-255")
    reading = read_number(load_image(image), p.probs_batch)
    alone = p.probs_batch(np.stack([d.pre.image for d in reading.digits]))
    for d, row in zip(doc["digits"], alone):
        assert abs(np.asarray(d["probs"]) - row).max() < 1e-4
        assert d["digit"] == int(row.argmax())
