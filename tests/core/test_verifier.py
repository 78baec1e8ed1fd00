"""The number reader's whole-digit verifier (core/reading/verifier.py): the shipped file loads,
its numpy pass is torch's, the reader adds its log-probability to the path, crafted touching
digits still read, and a damaged file is a clear error or a reading without it, never a crash."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitpad.core.reading import number, verifier as verifiers
from digitpad.core.reading.number import components, read_number
from digitpad.core.reading.numpy_predict import load_shipped
from digitpad.core.reading.verifier import SHAPES, Verifier, VerifierError, load_verifier

PEN = 14


@pytest.fixture(scope="module")
def classify():
    return load_shipped("digitnet").probs_batch


def canvas():
    im = Image.new("L", (1120, 280), 255)
    return im, ImageDraw.Draw(im)


def line(d, *pts, width=PEN):
    d.line(pts, fill=0, width=width, joint="curve")
    for x, y in (pts[0], pts[-1]):
        d.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=0)


def touching_zeros():
    im, d = canvas()
    d.ellipse((100, 50, 210, 240), outline=0, width=PEN)
    d.ellipse((200, 50, 310, 240), outline=0, width=PEN)
    return np.asarray(im)


def touching_ones():
    im, d = canvas()
    line(d, (100, 50), (110, 240))
    line(d, (150, 50), (124, 240))  # joined to the first near the foot
    line(d, (110, 238), (124, 238))
    return np.asarray(im)


class Spy(Verifier):
    """The shipped verifier, counting its batches (or answering ``rule`` of the geometry)."""

    def __init__(self, base: Verifier, rule=None):
        super().__init__(base.w, base.meta)
        self.calls, self.heads, self.rule = [], [], rule

    def features(self, images):
        self.calls.append(len(images))
        return super().features(images)

    def head(self, features, geometry):
        self.heads.append(len(features))
        if self.rule is not None:
            return self.rule(np.asarray(geometry)).astype(np.float32)
        return super().head(features, geometry)


@pytest.fixture(scope="module")
def shipped():
    v, note = verifiers.shipped_verifier()
    assert v is not None, note
    return v


def test_the_shipped_verifier_loads_with_its_metadata(shipped):
    meta = shipped.meta
    for key in ("trained_on", "candidates", "held_out_acc", "weight", "val_whole_numbers_right", "created"):
        assert meta.get(key) is not None, key
    assert "MNIST training" in meta["trained_on"]
    assert meta["weight"] == number.VERIFY_WEIGHT  # the weight chosen on validation is the one used
    assert sum(int(np.prod(s)) for s in SHAPES.values()) < 44_426  # smaller than LeNet


def test_numpy_pass_matches_torch(shipped):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    x = rng.random((5, 28, 28), dtype=np.float32)
    g = rng.random((5, 2), dtype=np.float32) * 1.5
    w = {k: torch.from_numpy(v) for k, v in shipped.w.items()}
    from digitpad.core.nets.spec import MNIST_MEAN, MNIST_STD

    z = (torch.from_numpy(x)[:, None] - MNIST_MEAN) / MNIST_STD
    z = F.max_pool2d(F.relu(F.conv2d(z, w["conv1.weight"], w["conv1.bias"])), 2)
    z = F.max_pool2d(F.relu(F.conv2d(z, w["conv2.weight"], w["conv2.bias"])), 2)
    z = torch.cat([z.flatten(1), torch.from_numpy(g)], 1)
    z = F.linear(F.relu(F.linear(z, w["fc1.weight"], w["fc1.bias"])), w["fc2.weight"], w["fc2.bias"])[:, 0]
    np.testing.assert_allclose(shipped.logits(x, g), z.numpy(), atol=1e-4)
    assert (shipped.log_whole(x, g) <= 0).all()


def test_the_reader_uses_the_shipped_verifier_in_one_batch_per_round(classify, shipped):
    spy = Spy(shipped)
    art = touching_zeros()
    r = read_number(art, classify, verifier=spy)
    assert r.number == read_number(art, classify).number == "00" and r.note == ""
    assert 1 <= len(spy.calls) <= 2 and sum(spy.calls) >= 3  # every candidate, batched
    assert len(spy.heads) == len(spy.calls)


def test_a_cache_keeps_the_convolutions_not_the_line_dependent_part(classify, shipped):
    from digitpad.core.reading.number import ReadCache

    spy, cache = Spy(shipped), ReadCache()
    art = touching_zeros()
    first = read_number(art, classify, verifier=spy, cache=cache)
    spy.calls.clear(), spy.heads.clear()
    again = read_number(art, classify, verifier=spy, cache=cache)
    assert again.number == first.number == "00"
    assert spy.calls == [] and spy.heads  # nothing convolved again; the head runs (the line may change)
    other = Spy(shipped)  # another verifier: the cache forgets
    read_number(art, classify, verifier=other, cache=cache)
    assert other.calls


def test_the_verifier_score_moves_the_path(classify, shipped):
    art = touching_zeros()
    assert len(components(art < 128)) == 1
    # a verifier that calls every candidate narrower than a line height a non-digit forbids the split
    wide_only = Spy(shipped, rule=lambda g: np.where(g[:, 1] < 0.9, -40.0, 0.0))
    r = read_number(art, classify, verifier=wide_only)
    assert len(r.digits) == 1, r.number


@pytest.mark.parametrize("art, want", [(touching_zeros, "00"), (touching_ones, "11")])
def test_crafted_touching_digits_still_read(classify, art, want):
    image = art()
    assert len(components(image < 128)) == 1  # one ink component: the split is the reader's
    r = read_number(image, classify)
    assert r.note == "" and r.number == want, (r.number, [(d.digit, d.box) for d in r.digits])


@pytest.mark.parametrize("blob", [b"", b"not a safetensors file at all", b"\x08\x00\x00\x00\x00\x00\x00\x00{}"])
def test_a_damaged_file_is_a_clear_error(tmp_path, blob):
    bad = tmp_path / "verifier.safetensors"
    bad.write_bytes(blob)
    with pytest.raises(VerifierError, match="verifier"):
        load_verifier(bad)
    with pytest.raises(VerifierError, match="no verifier file"):
        load_verifier(tmp_path / "missing.safetensors")


def test_a_digit_model_is_not_taken_for_a_verifier():
    from digitpad.core.io.paths import resource_path

    with pytest.raises(VerifierError, match="not a digitpad verifier file"):
        load_verifier(resource_path("lenet.safetensors"))


def test_wrong_shapes_or_nan_weights_are_refused(shipped):
    state = dict(shipped.w)
    state["fc2.weight"] = np.zeros((2, 32), np.float32)
    with pytest.raises(VerifierError, match="fc2.weight"):
        Verifier(state)
    state = dict(shipped.w)
    state["conv1.bias"] = np.full(8, np.nan, np.float32)
    with pytest.raises(VerifierError, match="NaN"):
        Verifier(state)


def test_a_corrupt_shipped_file_reads_without_it_and_says_so(classify, tmp_path, monkeypatch):
    (tmp_path / "verifier.safetensors").write_bytes(b"\x00" * 40)
    import digitpad.core.io.paths as paths

    monkeypatch.setattr(paths, "resource_path", lambda *parts: tmp_path.joinpath(*parts))
    verifiers._shipped.cache_clear()
    try:
        r = read_number(touching_zeros(), classify)
        assert r.status == "number" and r.number == "00"
        assert "without the whole-digit verifier" in r.note and "verifier.safetensors" in r.note
    finally:
        verifiers._shipped.cache_clear()


def test_predict_number_says_once_that_the_verifier_is_not_used(tmp_path, monkeypatch, capsys):
    from digitpad import cli
    import digitpad.core.io.paths as paths

    Image.fromarray(touching_zeros()).save(tmp_path / "a.png")
    Image.fromarray(touching_zeros()).save(tmp_path / "b.png")
    bad = tmp_path / "res"
    bad.mkdir()
    (bad / "verifier.safetensors").write_bytes(b"garbage")
    real = paths.resource_path
    monkeypatch.setattr(paths, "resource_path",
                        lambda *parts: bad.joinpath(*parts) if parts == ("verifier.safetensors",) else real(*parts))
    verifiers._shipped.cache_clear()
    try:
        code = cli.main(["predict", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--number"])
    finally:
        verifiers._shipped.cache_clear()
    out, err = capsys.readouterr()
    assert code == 0 and out.count(": 00") == 2, out
    assert err.count("without the whole-digit verifier") == 1, err
