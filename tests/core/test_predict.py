"""Predictor: probabilities, feature maps, a private copy of the weights, batches, swaps."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from digitpad.core.reading import predict as predict_module
from digitpad.core.nets.checkpoint import CheckpointError, make_meta, save_checkpoint
from digitpad.core.data.mnist import load_mnist
from digitpad.core.nets.models import create_model
from digitpad.core.nets.spec import MODEL_NAMES, feature_shapes
from digitpad.core.reading.predict import Prediction, Predictor
from digitpad.core.data.preprocess import preprocess
from digitpad.core.learning.config import recipe_config
from digitpad.core.learning.events import Finished
from digitpad.core.learning.training import run


def canvas(seed: int = 0, size: int = 280) -> np.ndarray:
    """A random scribble of a few thick strokes: enough ink for every model to see something."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    im = Image.new("L", (size, size), 0)
    pts = [tuple(p) for p in rng.uniform(0.2 * size, 0.8 * size, (5, 2))]
    ImageDraw.Draw(im).line(pts, fill=255, width=size // 14, joint="curve")
    return np.asarray(im)


def random_state(arch: str, seed: int) -> dict[str, torch.Tensor]:
    """Seeded weights with non-trivial batch-norm statistics (so folding them is tested)."""
    torch.manual_seed(seed)
    model = create_model(arch)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    return model.state_dict()


def reference_forward(arch: str, state: dict, image: np.ndarray):
    """What the plain model (no folding, no channels-last) computes for one 28x28 image."""
    model = create_model(arch)
    model.load_state_dict(state)
    model.eval()
    with torch.inference_mode():
        logits, feats = model.forward_features(torch.from_numpy(image)[None, None])
    return torch.softmax(logits, 1)[0].numpy(), {k: v[0].numpy() for k, v in feats.items()}


@pytest.fixture(scope="module")
def trained_lenet(tiny_mnist) -> dict:
    """LeNet trained for a few epochs on the tiny rendered set (a few seconds)."""
    data = load_mnist(tiny_mnist)
    cfg = recipe_config("fast", "lenet", epochs=4, batch_size=32, device="cpu")
    events = list(run(cfg, data))
    assert isinstance(events[-1], Finished), events[-1]
    return events[-1].best_state


@pytest.mark.parametrize("arch", list(MODEL_NAMES))
def test_probabilities_and_maps_match_the_plain_model(arch):
    state = random_state(arch, seed=3)
    pred = Predictor(arch, state).predict(canvas())
    assert isinstance(pred, Prediction) and not pred.empty
    assert pred.probs.shape == (10,) and pred.probs.dtype == np.float32
    assert pred.probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert pred.digit == int(pred.probs.argmax()) and pred.confidence == pytest.approx(pred.probs.max())
    assert [n for n, _ in pred.steps] == ["input", "cropped", "scaled to 20 px", "centred 28x28"]
    assert pred.image.shape == (28, 28)

    shapes = feature_shapes(arch)
    assert list(pred.maps) == list(shapes)
    probs, feats = reference_forward(arch, state, pred.image)
    np.testing.assert_allclose(pred.probs, probs, atol=1e-5)
    for name, shape in shapes.items():
        m = pred.maps[name]
        assert m.shape == shape and m.dtype == np.float32 and m.flags.c_contiguous, name
        np.testing.assert_allclose(m, feats[name], atol=1e-4, err_msg=name)


def test_without_maps():
    pred = Predictor("digitnet", random_state("digitnet", 1)).predict(canvas(), with_maps=False)
    assert not pred.empty and len(pred.maps) == 0 and pred.probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_nothing_drawn_is_not_a_prediction():
    p = Predictor("lenet", random_state("lenet", 0))
    pred = p.predict(np.zeros((280, 280), np.uint8))
    assert pred.empty and pred.digit is None and pred.image is None
    assert pred.confidence == 0.0 and not pred.probs.any() and len(pred.maps) == 0
    assert [n for n, _ in pred.steps] == ["input"]


def test_weights_are_a_private_copy():
    torch.manual_seed(0)
    model = create_model("digitnet")
    state = model.state_dict()  # shares memory with the model
    p = Predictor("digitnet", state)
    before = p.predict(canvas()).probs
    with torch.no_grad():
        for v in state.values():
            if v.is_floating_point():
                v.mul_(-3.0).add_(0.5)  # what a training step does to the source model
    model.conv1[1].running_var.fill_(100.0)
    after = p.predict(canvas()).probs
    np.testing.assert_array_equal(before, after)
    # and what the predictor hands out is a copy too
    mine = p.state_dict()
    next(iter(mine.values())).add_(1.0)
    np.testing.assert_array_equal(p.predict(canvas()).probs, before)


def test_state_dict_returns_the_unfolded_weights():
    state = random_state("digitnet", 5)
    out = Predictor("digitnet", state).state_dict()
    assert set(out) == set(state)
    for k in state:
        assert torch.equal(out[k], state[k]), k


def test_predict_batch_agrees_with_predict():
    p = Predictor("lenet", random_state("lenet", 2))
    images = [canvas(i) for i in range(5)]
    images.insert(2, np.zeros((100, 100), np.uint8))  # an empty one in the middle keeps its place
    images.append(preprocess(255 - canvas(9)))  # already preprocessed, other polarity
    batch = p.predict_batch(images, batch_size=2)
    assert len(batch) == len(images)
    assert batch[2].empty and batch[2].digit is None
    for one, img in zip(batch, images):
        if one.empty:
            continue
        single = p.predict(img)
        np.testing.assert_allclose(one.probs, single.probs, atol=1e-5)
        assert one.digit == single.digit and len(one.maps) == 0
    assert p.predict_batch([]) == []


def test_set_state_swaps_weights_and_kernels():
    a, b = random_state("lenet", 10), random_state("lenet", 11)
    p = Predictor("lenet", a)
    img = canvas(4)
    pa = p.predict(img).probs
    p.set_state(b)
    pb = p.predict(img).probs
    assert not np.allclose(pa, pb)
    np.testing.assert_allclose(pb, Predictor("lenet", b).predict(img).probs, atol=1e-6)
    np.testing.assert_array_equal(p.kernels()["conv1"], b["conv1.weight"].numpy())
    p.set_state(a, meta={"name": "back", "test_acc": 0.5})
    np.testing.assert_allclose(p.predict(img).probs, pa, atol=1e-6)
    assert p.name == "back" and p.test_acc == 0.5


def test_set_state_while_predicting_from_another_thread():
    a, b = random_state("lenet", 20), random_state("lenet", 21)
    img = preprocess(canvas(1))
    expected = [Predictor("lenet", s).predict(img).probs for s in (a, b)]
    p = Predictor("lenet", a)
    errors, seen = [], []

    def predict_many():
        try:
            for _ in range(150):
                seen.append(p.predict(img).probs)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=predict_many)
    t.start()
    for i in range(30):
        p.set_state(b if i % 2 == 0 else a)
    t.join()
    assert not errors
    # every prediction used one whole set of weights, never a mix
    assert all(any(np.allclose(s, e, atol=1e-6) for e in expected) for s in seen)


def test_kernels_are_the_conv_weights():
    state = random_state("digitnet", 7)
    k = Predictor("digitnet", state).kernels()
    assert list(k) == [f"conv{i}" for i in range(1, 6)]
    for i in range(1, 6):
        np.testing.assert_array_equal(k[f"conv{i}"], state[f"conv{i}.0.weight"].numpy())
    assert Predictor("dense", random_state("dense", 0)).kernels() == {}


def test_thread_setting_is_restored():
    old = torch.get_num_threads()
    p = Predictor("lenet", random_state("lenet", 0))
    try:
        torch.set_num_threads(2)
        p.predict(canvas())
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)


def test_properties_and_meta_are_settable():
    p = Predictor("lenet", random_state("lenet", 0), meta={"name": "mine", "test_acc": 0.987})
    assert p.arch == "lenet" and p.name == "mine" and p.test_acc == pytest.approx(0.987)
    p.meta = {"test_acc": 0.5}
    assert p.test_acc == 0.5 and p.name == "lenet"
    assert Predictor("dense", random_state("dense", 0), name="given").name == "given"
    assert Predictor("dense", random_state("dense", 0)).test_acc is None
    with pytest.raises(CheckpointError):
        Predictor("resnet", {})


def test_from_file_and_its_errors(tmp_path):
    state = random_state("digitnet", 4)
    path = save_checkpoint(tmp_path / "m.safetensors", "digitnet", state,
                           make_meta("digitnet", name="saved one", test_acc=0.9))
    p = Predictor.from_file(path)
    assert p.arch == "digitnet" and p.name == "saved one" and p.test_acc == pytest.approx(0.9)
    np.testing.assert_allclose(p.predict(canvas()).probs, Predictor("digitnet", state).predict(canvas()).probs,
                               atol=1e-6)
    with pytest.raises(CheckpointError) as err:
        Predictor.from_file(tmp_path / "nope.safetensors")
    assert err.value.kind == "missing"
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError) as err:
        Predictor.from_file(tmp_path / "bad.safetensors")
    assert err.value.kind == "corrupt"


def test_shipped_model_missing_and_present(tmp_path, monkeypatch):
    where = {}
    monkeypatch.setattr(predict_module, "shipped_model_path", lambda arch: where.get(arch, tmp_path / f"{arch}.x"))
    with pytest.raises(CheckpointError) as err:
        Predictor.shipped("lenet")
    assert err.value.kind == "missing" and "lenet" in str(err.value)
    where["lenet"] = save_checkpoint(tmp_path / "lenet.safetensors", "lenet", random_state("lenet", 1),
                                     make_meta("lenet", name="lenet (shipped)", test_acc=0.99))
    p = Predictor.shipped("lenet")
    assert p.name == "lenet (shipped)" and p.test_acc == pytest.approx(0.99)
    with pytest.raises(CheckpointError):
        Predictor.shipped("nonsense")


def test_a_trained_model_reads_drawings_through_preprocessing(tiny_mnist, trained_lenet):
    """Digits drawn big, dark on light, on a 280x280 canvas are read about as well as the
    28x28 originals the model was tested on: preprocessing gives back what it learned from."""
    from digitpad.core.data.mnist import load_split

    x, y = load_split(tiny_mnist, train=False)
    p = Predictor("lenet", trained_lenet)
    with torch.inference_mode():
        model = create_model("lenet")
        model.load_state_dict(trained_lenet)
        direct = (model.eval()(x.float()[:, None] / 255).argmax(1) == y).float().mean().item()
    drawn = [255 - np.asarray(Image.fromarray(im).resize((280, 280), Image.Resampling.BILINEAR))
             for im in x.numpy()]
    preds = p.predict_batch(drawn)
    via = float(np.mean([q.digit == int(t) for q, t in zip(preds, y)]))
    assert direct > 0.3  # it learned something (chance is 0.1)
    assert via > 0.3 and via >= direct - 0.15
