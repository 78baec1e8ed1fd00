"""Issue 24, failure 3: a model finite on the load-time probes but not on real drawings.

The dense model is edited so one hidden unit overflows when a given pixel is inked and
another not (the two weights cancel on the blank, full and bar probe images). Every reader
must then give a clear per-image error, never a digit at "nan %".
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from digitpad import cli
from digitpad.core.nets.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, shipped_model_path


def drawings():
    """(bad, good): a Γ drawn on paper, and a 1."""
    bad = np.full((280, 280), 255, np.uint8)
    bad[40:70, 40:240] = 0
    bad[40:240, 40:70] = 0
    good = np.full((280, 280), 255, np.uint8)
    good[60:220, 130:150] = 0
    return bad, good


def pixels():
    """P: inked in the bad drawing's 28x28 only; Q: inked in neither (nor in the probes' bar)."""
    from digitpad.core.data.preprocess import preprocess

    bad, good = (preprocess(d).image.ravel() for d in drawings())
    bar = np.zeros((28, 28), bool)
    bar[4:24, 12:16] = True
    p = int(np.flatnonzero((bad > 0.95) & (good == 0) & ~bar.ravel())[0])
    q = int(np.flatnonzero((bad == 0) & (good == 0) & ~bar.ravel())[0])
    return p, q


def evader(tmp_path, p_q=None):
    ckpt = load_checkpoint(shipped_model_path("dense"))
    state = {k: v.clone() for k, v in ckpt.state.items()}
    p, q = p_q or pixels()
    w = state["fc1.weight"]
    w[0, p], w[0, q] = 1.2e38, -1.2e38  # cancel when both pixels are alike
    path = tmp_path / "evader.safetensors"
    save_checkpoint(path, "dense", state, {**ckpt.meta, "name": "evader"})
    return path


def inked_at_p(path):
    Image.fromarray(drawings()[0]).save(path)
    return path


def test_the_evader_passes_the_load_time_probe_but_not_a_drawing(tmp_path):
    from digitpad.core.reading.predict import Predictor

    pred = Predictor.from_file(evader(tmp_path))  # loads: the probes are finite
    with pytest.raises(CheckpointError, match="unusable on this image: its outputs are NaN"):
        pred.predict(np.asarray(Image.open(inked_at_p(tmp_path / "a.png"))))


def test_predict_gives_a_per_image_error_not_nan_percent(tmp_path, capsys):
    model = evader(tmp_path)
    bad = inked_at_p(tmp_path / "bad.png")
    Image.fromarray(drawings()[1]).save(tmp_path / "good.png")
    rc = cli.main(["predict", "--model", str(model), "--json", str(bad), str(tmp_path / "good.png")])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 1
    assert out[0]["digit"] is None and "NaN or infinite" in out[0]["error"], out[0]
    assert out[1]["digit"] is not None and out[1]["confidence"] is not None, out[1]
    rc = cli.main(["predict", "--model", str(model), str(bad)])
    text = capsys.readouterr().out
    assert rc == 1 and "nan" not in text.replace("NaN", "") and "error:" in text, text


def test_eval_names_the_images_the_model_is_unusable_on(tmp_path, tiny_mnist, capsys):
    from digitpad.core.data.mnist import write_mnist_folder

    blob = np.zeros((20, 28, 28), np.uint8)
    blob[:10, 4:9, 4:9] = 255  # inks P (6, 6), not Q
    blob[10:, 12:16, 4:24] = 255
    root = write_mnist_folder(tmp_path / "m", blob, np.arange(20) % 10, blob, np.arange(20) % 10)
    rc = cli.main(["eval", str(evader(tmp_path, (6 * 28 + 6, 26 * 28 + 26))), "--data", str(root)])
    err = capsys.readouterr().err
    assert rc == 1 and "unusable on 10 of 20 images (the first: #0)" in err, err


def test_export_refuses_the_evader(tmp_path):
    from digitpad.core.nets.export import export_onnx

    out = tmp_path / "e.onnx"
    with pytest.raises(CheckpointError, match="unusable"):
        export_onnx(load_checkpoint(evader(tmp_path)), out)
    assert not out.exists()


def test_the_numpy_reader_refuses_it_at_use_too(tmp_path):
    from digitpad.core.reading.numpy_predict import load_file

    quick = load_file(evader(tmp_path))
    assert quick is not None
    with pytest.raises(CheckpointError, match="unusable"):
        quick.predict(np.asarray(Image.open(inked_at_p(tmp_path / "a.png"))))
