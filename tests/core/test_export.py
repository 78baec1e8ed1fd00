"""`digitpad export MODEL --onnx FILE` (issue 9): the ONNX graph gives torch's probabilities to
1e-5 in onnxruntime, and carries the preprocessing spec, class names and accuracy."""

import json

import numpy as np
import pytest
import torch

from digitpad import cli
from digitpad.core.nets.checkpoint import load_checkpoint, shipped_model_path
from digitpad.core.data.preprocess import preprocess

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.mark.parametrize("arch", ["lenet", "dense", "digitnet"])
def test_onnx_matches_torch(arch, tmp_path, capsys):
    out = tmp_path / f"{arch}.onnx"
    assert cli.main(["export", arch, "--onnx", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    ckpt = load_checkpoint(shipped_model_path(arch))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(37, 1, 28, 28, generator=gen)  # any batch size
    x[:5] = 0.0
    with torch.no_grad():
        ref = torch.softmax(ckpt.build()(x), dim=1).numpy()
    logits, probs = sess.run(["logits", "probs"], {"image": x.numpy()})
    assert probs.shape == (37, 10) and logits.shape == (37, 10)
    assert np.abs(probs - ref).max() < 1e-5
    meta = sess.get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == [str(d) for d in range(10)]
    spec = json.loads(meta["preprocessing"])
    assert spec["version"] == 1 and "28x28" in " ".join(spec["steps"])
    assert float(meta["test_acc"]) == pytest.approx(ckpt.test_acc, abs=1e-6)
    assert meta["arch"] == arch


def test_a_real_drawing_through_preprocess_reads_the_same(tmp_path):
    from PIL import Image, ImageDraw

    im = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(im).line([(60, 40), (140, 40), (90, 170)], fill=0, width=14)  # a 7
    x = preprocess(np.asarray(im)).image[None, None].astype(np.float32)
    out = tmp_path / "d.onnx"
    assert cli.main(["export", "digitnet", "--onnx", str(out)]) == 0
    probs = ort.InferenceSession(str(out)).run(["probs"], {"image": x})[0]
    with torch.no_grad():
        ref = torch.softmax(load_checkpoint(shipped_model_path("digitnet")).build()(torch.from_numpy(x)), 1)
    assert int(probs.argmax()) == int(ref.argmax()) == 7
    assert np.abs(probs - ref.numpy()).max() < 1e-5


def test_export_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["export", "lenet", "--onnx", str(tmp_path / "m.txt")]) == 1
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["export", "lenet", "--onnx", str(blocker / "m.onnx")]) == 1
    assert cli.main(["export", str(tmp_path / "none.safetensors"), "--onnx", str(tmp_path / "a.onnx")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(e.startswith("digitpad: error:") for e in err)
    assert ".onnx" in err[0] and "Cannot write" in err[1] and "not found" in err[2]


def test_export_into_the_shipped_folder_is_refused_and_a_link_writes_its_target(tmp_path, monkeypatch):
    from digitpad.core.io import outputs
    from digitpad.core.nets.export import ExportError, export_onnx

    shipped = tmp_path / "resources"
    shipped.mkdir()
    monkeypatch.setattr(outputs, "resource_path", lambda *a: str(shipped))
    ckpt = load_checkpoint(shipped_model_path("lenet"))
    with pytest.raises(ExportError, match="shipped"):
        export_onnx(ckpt, shipped / "lenet.onnx")
    assert list(shipped.iterdir()) == []
    target = tmp_path / "real.onnx"
    target.write_bytes(b"old")
    link = tmp_path / "link.onnx"
    link.symlink_to(target)
    export_onnx(ckpt, link)
    assert link.is_symlink() and target.stat().st_size > 1000
