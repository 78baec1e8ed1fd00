"""The builder: a model file becomes the same ready model everywhere.

A model trained on reshuffled pixels (`train --permute`) reads drawings through its own pixel
order in eval, the Predictor, Mistakes, the ONNX export and teach; a model whose finite weights
give non-finite outputs is refused at load by every command, and no JSON carries NaN.
"""

import json
import types

import numpy as np
import pytest
import torch

from digitpad import cli
from digitpad.core.data.mnist import load_test_set, write_mnist_folder
from digitpad.core.insight import mistakes as mk
from digitpad.core.nets import builder
from digitpad.core.nets.checkpoint import (CheckpointError, load_checkpoint, make_meta,
                                           save_checkpoint, shipped_model_path)
from digitpad.core.nets.models import PixelOrder, create_model
from digitpad.core.nets.permutation import permute_pixels, pixel_permutation
from digitpad.core.reading import numpy_predict
from digitpad.core.reading.predict import Predictor
from digitpad.core.reading.scoring import scores
from synthetic_digits import render_digits


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity (which Python's json would accept)."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def permuted_model(tiny_mnist, tmp_path_factory):
    """`digitpad train --permute` for real on the tiny set (dense: it learns shuffled pixels
    in a few epochs, so reading them unshuffled would show)."""
    out = tmp_path_factory.mktemp("perm") / "perm.safetensors"
    assert cli.main(["train", "--model", "dense", "--permute", "--epochs", "4", "--batch-size", "32",
                     "--device", "cpu", "--data", str(tiny_mnist), "--out", str(out), "--seed", "3"]) == 0
    ckpt = load_checkpoint(out)
    assert ckpt.meta["config"]["permute"] is True
    return types.SimpleNamespace(path=out, ckpt=ckpt)


def test_eval_of_a_permuted_model_agrees_with_its_recorded_accuracy(permuted_model, tiny_mnist, capsys):
    recorded = permuted_model.ckpt.test_acc
    assert recorded >= 0.4  # it learned: agreeing with chance level would prove nothing
    capsys.readouterr()
    assert cli.main(["eval", str(permuted_model.path), "--data", str(tiny_mnist), "--json"]) == 0
    doc = strict_json(capsys.readouterr().out)
    assert abs(doc["accuracy"] - recorded) <= 0.01
    # the same weights without their pixel order read the drawings far worse
    plain = create_model("dense")
    plain.load_state_dict(permuted_model.ckpt.state)
    x, y = load_test_set(tiny_mnist)
    assert scores(plain, x, y).accuracy < recorded - 0.15


def test_every_reader_of_a_permuted_model_agrees(permuted_model, tiny_mnist):
    x, y = load_test_set(tiny_mnist)
    ready = scores(permuted_model.ckpt.build(), x, y)
    pred = Predictor.from_file(permuted_model.path)
    batch = pred.predict_batch([img[0] for img in x.numpy()])
    # predict_batch preprocesses again (re-centres), so compare on the already-centred images
    # through the model itself: the Predictor's model reads what the builder's reads
    from digitpad.core.data.preprocess import Preprocessed
    direct = pred.predict_batch([Preprocessed(img[0], False) for img in x.numpy()])
    np.testing.assert_allclose(np.stack([p.probs for p in direct]), ready.probs, atol=1e-5)
    assert len(batch) == len(y)
    m = mk.compute(permuted_model.ckpt.build(), x, y).mistakes
    assert m.accuracy == ready.accuracy
    assert numpy_predict.load_file(permuted_model.path) is None  # left to the torch path


def test_onnx_export_of_a_permuted_model_holds_the_pixel_order(permuted_model, tiny_mnist, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    out = tmp_path / "perm.onnx"
    assert cli.main(["export", str(permuted_model.path), "--onnx", str(out)]) == 0
    x, y = load_test_set(tiny_mnist)
    probs = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(
        ["probs"], {"image": x.numpy()})[0]
    ref = scores(permuted_model.ckpt.build(), x, y)
    assert np.abs(probs - ref.probs).max() < 1e-5
    onnx_acc = float((probs.argmax(1) == y.numpy()).mean())
    assert abs(onnx_acc - permuted_model.ckpt.test_acc) <= 0.015


def test_the_pixel_order_is_a_layer_of_the_model():
    torch.manual_seed(0)
    state = create_model("lenet").state_dict()
    meta = make_meta("lenet", config={"permute": True})
    model = builder.build("lenet", state, meta)
    assert isinstance(model.inputs, PixelOrder)
    assert set(model.state_dict()) == set(state)  # the files' keys are unchanged
    plain = builder.build("lenet", state)
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(permute_pixels(x, pixel_permutation(0))))
        _, feats = model.forward_features(x)
        _, want = plain.forward_features(permute_pixels(x, pixel_permutation(0)))
    torch.testing.assert_close(feats["conv1"], want["conv1"])


def test_built_models_fold_batch_norm_and_match_the_plain_module():
    ckpt = load_checkpoint(shipped_model_path("digitnet"))
    ready = ckpt.build()
    assert not ready.training and not any(isinstance(m, torch.nn.BatchNorm2d) for m in ready.modules())
    trainable = ckpt.build(inference=False)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in trainable.modules())
    assert all(p.requires_grad for p in trainable.parameters())
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(ready(x), trainable.eval()(x), atol=1e-4, rtol=1e-4)


# --- outputs that stay valid ----------------------------------------------------------------

@pytest.fixture
def huge(tmp_path):
    """Finite weights whose outputs are not: LeNet's fc1 x 1e38 (passes the NaN check)."""
    ckpt = load_checkpoint(shipped_model_path("lenet"))
    state = dict(ckpt.state)
    state["fc1.weight"] = state["fc1.weight"] * 1e38
    assert torch.isfinite(state["fc1.weight"]).all()
    return save_checkpoint(tmp_path / "huge.safetensors", "lenet", state, dict(ckpt.meta))


def test_non_finite_outputs_are_refused_by_the_builder(huge):
    ckpt = load_checkpoint(huge)  # the file itself reads
    with pytest.raises(CheckpointError, match="NaN or infinite") as err:
        ckpt.build()
    assert err.value.kind == "corrupt" and err.value.path == huge and "huge.safetensors" in str(err.value)
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        Predictor.from_file(huge)
    assert numpy_predict.load_file(huge) is None


def _one_error_line(capsys) -> str:
    cap = capsys.readouterr()
    assert "NaN" not in cap.out and "Infinity" not in cap.out
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("digitpad: error:"), cap.err
    return lines[0]


def test_predict_eval_and_export_refuse_it_in_one_line(huge, tiny_mnist, tmp_path, capsys):
    img = tmp_path / "d.png"
    from PIL import Image
    Image.fromarray((render_digits(1, seed=5)[0][0]).astype(np.uint8)).save(img)
    capsys.readouterr()
    assert cli.main(["predict", "--model", str(huge), str(img), "--json"]) == 1
    assert "NaN or infinite" in _one_error_line(capsys)
    assert cli.main(["eval", str(huge), "--data", str(tiny_mnist), "--json"]) == 1
    assert "NaN or infinite" in _one_error_line(capsys)
    out = tmp_path / "huge.onnx"
    assert cli.main(["export", str(huge), "--onnx", str(out)]) == 1
    assert "NaN or infinite" in _one_error_line(capsys)
    assert not out.exists()


def test_eval_json_has_null_for_a_digit_absent_from_the_data(tmp_path, capsys):
    tx, ty = render_digits(60, seed=1)
    vx, vy = render_digits(60, seed=2)
    keep = vy != 9
    root = write_mnist_folder(tmp_path / "no9", tx, ty, vx[keep], vy[keep])
    capsys.readouterr()
    assert cli.main(["eval", "lenet", "--data", str(root), "--json"]) == 0
    doc = strict_json(capsys.readouterr().out)
    assert doc["per_class"][9] is None and doc["n"] == int(keep.sum())
    assert all(isinstance(v, float) for v in doc["per_class"][:9])
