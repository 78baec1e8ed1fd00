"""Issue 25 gap: teach a user's own state dict (the lesson's NeuralNetwork) into a new digitpad
file, never writing the user's file; an ONNX model is refused in one line."""

import os

import pytest
import torch

from digitpad import cli
from digitpad.core.data.mnist import load_split, to_float_images
from digitpad.core.nets.builder import build_checkpoint
from digitpad.core.nets.checkpoint import load_checkpoint
from lesson_network import NeuralNetwork, train_lesson_model
from test_cli_teach import digit_png


@pytest.fixture
def samples(tmp_path):
    root = tmp_path / "mine"
    for d in range(10):
        for k in range(3):
            digit_png(root / str(d) / f"{k}.png", d, 60 + 20 * k, dark_on_light=k % 2 == 0)
    return root


def test_teach_a_lesson_state_dict_into_a_new_file(samples, tiny_mnist, tmp_path, capsys):
    path = tmp_path / "model.pth"
    torch.save(train_lesson_model(tiny_mnist).state_dict(), path)
    os.utime(path, (1_000_000_000, 1_000_000_000))  # an old mtime: any write would move it
    before = path.read_bytes(), path.stat().st_mtime_ns
    out = tmp_path / "taught.safetensors"
    assert cli.main(["teach", str(samples), "--model", str(path), "--out", str(out),
                     "--steps", "4", "--data", str(tiny_mnist)]) == 0
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before  # the user's file untouched
    taught = load_checkpoint(out)
    assert taught.arch == "lenet" and taught.meta["input"] == "totensor"
    # the new file reads as the lesson's network does: ToTensor input, its own weights
    net = NeuralNetwork()
    net.load_state_dict(taught.state)
    x = to_float_images(load_split(tiny_mnist, train=False)[0])
    with torch.no_grad():
        assert torch.allclose(build_checkpoint(taught).logits(x), net.eval()(x), atol=1e-4)
    # --out onto the user's own file is refused before any work
    assert cli.main(["teach", str(samples), "--model", str(path), "--out", str(path)]) != 0
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert "--out must end in .safetensors" in capsys.readouterr().err


def test_teach_and_train_an_onnx_model_say_why_not_in_one_line(samples, tmp_path, capsys):
    path = tmp_path / "m.onnx"
    torch.onnx.export(NeuralNetwork().eval(), torch.zeros(1, 1, 28, 28), str(path), dynamo=False)
    for argv in (["teach", str(samples), "--model", str(path), "--out", str(tmp_path / "t.safetensors")],
                 ["train", "--resume", str(path), "--out", str(tmp_path / "r.safetensors")]):
        assert cli.main(argv) != 0
        err = capsys.readouterr().err.strip()
        assert "ONNX" in err and "not trained or taught" in err and "\n" not in err, err
    assert not (tmp_path / "t.safetensors").exists() and not (tmp_path / "r.safetensors").exists()


def test_continue_training_a_lesson_state_dict_keeps_its_input(tiny_mnist, tmp_path):
    """train --resume model.pth: the lesson's weights go on reading ToTensor input (the step
    loop trains them behind their input layer) and the new file records it; model.pth untouched."""
    lesson = train_lesson_model(tiny_mnist)
    path = tmp_path / "model.pth"
    torch.save(lesson.state_dict(), path)
    before = path.read_bytes(), path.stat().st_mtime_ns
    out = tmp_path / "more.safetensors"
    assert cli.main(["train", "--resume", str(path), "--epochs", "1", "--batch-size", "64",
                     "--lr", "1e-7", "--device", "cpu", "--data", str(tiny_mnist),
                     "--out", str(out)]) == 0
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    more = load_checkpoint(out)
    assert more.arch == "lenet" and more.meta["input"] == "totensor"
    x = to_float_images(load_split(tiny_mnist, train=False)[0])
    with torch.no_grad():  # a tiny learning rate: it still reads as the lesson's network
        assert torch.allclose(build_checkpoint(more).logits(x), lesson(x), atol=1e-2)
