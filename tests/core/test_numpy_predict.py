"""The numpy forward pass the app reads the first drawings with (before torch is loaded)
against the real torch Predictor: same probabilities and feature maps, every architecture."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from digitpad.core.reading import numpy_predict
from digitpad.core.nets.checkpoint import make_meta, save_checkpoint, shipped_model_path
from digitpad.core.io.files import MODEL_FORMAT
from digitpad.core.nets.models import create_model
from digitpad.core.nets.spec import MODEL_NAMES, feature_shapes
from digitpad.core.reading.predict import Predictor
from digitpad.core.data.styles import render_canvas


def _random_model(arch: str, seed: int) -> dict:
    torch.manual_seed(seed)
    model = create_model(arch)
    state = model.state_dict()
    for key, t in state.items():  # batch norm statistics far from the defaults, to test folding
        if key.endswith("running_var"):
            state[key] = torch.rand_like(t) * 2 + 0.2
        elif key.endswith("running_mean") or (".1." in key and t.is_floating_point()):
            state[key] = torch.randn_like(t) * 0.5
    return state


def _drawings(n: int = 6) -> list[np.ndarray]:
    names = ["7", "1-flag", "9-curl", "4-zigzag", "2-loop", "0"]
    return [render_canvas(names[i % len(names)], 1, seed=40 + i)[0] for i in range(n)]


@pytest.mark.parametrize("arch", list(MODEL_NAMES))
def test_matches_torch_on_a_random_model(tmp_path, arch):
    path = save_checkpoint(tmp_path / f"{arch}.safetensors", arch, _random_model(arch, 3), make_meta(arch))
    quick = numpy_predict.load_file(path)
    ref = Predictor.from_file(path)
    assert quick is not None and quick.arch == arch
    for image in _drawings():
        a, b = quick.predict(image), ref.predict(image)
        assert a.digit == b.digit
        np.testing.assert_allclose(a.probs, b.probs, atol=2e-5)
        assert list(a.maps) == list(b.maps)
        for name in b.maps:
            assert a.maps[name].shape == b.maps[name].shape, name
            scale = max(1.0, float(np.abs(b.maps[name]).max()))
            np.testing.assert_allclose(a.maps[name], b.maps[name], atol=1e-4 * scale, err_msg=name)
        np.testing.assert_array_equal(a.image, b.image)
        assert [s[0] for s in a.steps] == [s[0] for s in b.steps]
    assert dict(quick.feature_shapes()) == dict(feature_shapes(arch))
    kernels = ref.kernels()
    assert set(quick.kernels()) == set(kernels)
    for name, k in kernels.items():
        np.testing.assert_array_equal(quick.kernels()[name], k)


@pytest.mark.parametrize("arch", list(MODEL_NAMES))
def test_matches_the_shipped_models(arch):
    if not shipped_model_path(arch).exists():
        pytest.skip(f"no shipped {arch}")
    quick, ref = numpy_predict.load_shipped(arch), Predictor.shipped(arch)
    assert quick.test_acc == pytest.approx(ref.test_acc) and quick.name == ref.name
    for image in _drawings(10):
        np.testing.assert_allclose(quick.predict(image).probs, ref.predict(image).probs, atol=2e-5)


def test_empty_canvas_is_an_empty_prediction():
    quick = numpy_predict.load_shipped("digitnet")
    p = quick.predict(np.full((280, 280), 255, np.uint8))
    assert p.empty and p.digit is None and not p.maps and p.probs.sum() == 0


def test_unusable_files_give_none_never_raise(tmp_path):
    good = save_checkpoint(tmp_path / "good.safetensors", "lenet", _random_model("lenet", 1), make_meta("lenet"))
    blob = good.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "text.safetensors").write_text("not a model")
    from safetensors.numpy import save_file

    save_file({"conv1.weight": np.zeros((6, 1, 5, 5), np.float32)}, tmp_path / "foreign.safetensors")
    nan = {k: v.clone() for k, v in _random_model("lenet", 1).items()}
    nan["fc1.bias"][0] = float("nan")
    save_file({k: v.numpy() for k, v in nan.items()}, tmp_path / "nan.safetensors",
              metadata={"format": MODEL_FORMAT, "arch": "lenet", "meta": "{}"})
    permuted = dict(make_meta("lenet"), config={"permute": True})
    save_checkpoint(tmp_path / "permuted.safetensors", "lenet", _random_model("lenet", 1), permuted)
    for name in ("truncated", "text", "foreign", "nan", "permuted", "missing"):
        assert numpy_predict.load_file(tmp_path / f"{name}.safetensors") is None, name
    assert numpy_predict.load_file(good, arch="dense") is None  # not the architecture asked for
    assert numpy_predict.load_file(good) is not None
    assert json.loads(json.dumps(numpy_predict.load_file(good).meta))  # plain metadata


def test_reading_a_drawing_imports_no_torch():
    code = ("import sys, numpy as np\n"
            "from digitpad.core.reading.numpy_predict import load_shipped\n"
            "from digitpad.core.data.styles import render_canvas\n"
            "p = load_shipped('digitnet').predict(render_canvas('7', 1, seed=1)[0])\n"
            "assert p.digit == 7, p.digit\n"
            "assert 'torch' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("c,pad,stride", [(1, 1, 1), (1, 0, 2), (3, 1, 1), (4, 0, 1), (2, 2, 2)])
@pytest.mark.parametrize("cols_bytes", [None, 1])
def test_conv_equals_the_plain_sum_over_windows(c, pad, stride, cols_bytes, monkeypatch):
    """The im2col product (prefolded C-ordered kernels, pad into zeros, bias in place, the
    batch in pieces of COLS_BYTES) is the textbook cross-correlation: a window-by-window
    sum, one input channel included (its kernel matrix was once a strided view)."""
    if cols_bytes is not None:  # one image at a time
        monkeypatch.setattr(numpy_predict, "COLS_BYTES", cols_bytes)
    rng = np.random.default_rng(c * 10 + pad + stride)
    x = rng.standard_normal((3, 9, 8, c)).astype(np.float32)
    w = rng.standard_normal((5, c, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    xp = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh, ow = (xp.shape[1] - 3) // stride + 1, (xp.shape[2] - 3) // stride + 1
    want = np.zeros((3, oh, ow, 5))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, i * stride:i * stride + 3, j * stride:j * stride + 3]  # (n, 3, 3, c)
            want[:, i, j] = np.einsum("nyxc,ocyx->no", win, w.astype(np.float64)) + b
    got = numpy_predict._conv(x, w, b, pad, stride)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_predict_takes_the_last_batchs_maps_for_one_of_its_images(monkeypatch):
    """The number reader's batch computes every candidate's maps: predict() of one of them
    (the canvas's chosen digit) reuses them and gives what a pass of its own gives."""
    from digitpad.core.data.preprocess import preprocess

    quick = numpy_predict.load_shipped("digitnet")
    pres = [preprocess(render_canvas(str(k), 1, seed=k)[0]) for k in range(4)]
    alone = quick.predict(pres[2])
    quick.probs_batch(np.stack([p.image for p in pres]))
    with monkeypatch.context() as m:
        m.setattr(quick, "forward", lambda image: pytest.fail("a second pass"))
        kept = quick.predict(pres[2])
    np.testing.assert_allclose(kept.probs, alone.probs, atol=1e-5)
    assert list(kept.maps) == list(alone.maps)
    for k in alone.maps:
        assert kept.maps[k].shape == alone.maps[k].shape and kept.maps[k].flags.c_contiguous
        np.testing.assert_allclose(kept.maps[k], alone.maps[k], atol=1e-4)
    other = preprocess(render_canvas("7", 1, seed=99)[0])  # not in the batch: its own pass
    quick._recent = None
    want = quick.predict(other).probs
    quick.probs_batch(np.stack([p.image for p in pres]))
    np.testing.assert_array_equal(quick.predict(other).probs, want)
