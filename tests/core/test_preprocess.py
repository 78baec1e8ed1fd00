"""Preprocessing: a drawing of any size, place and polarity becomes the same MNIST-like 28x28."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitpad.core.nets import checkpoint
from digitpad.core.data.preprocess import (NOISE_FLOOR, PREPROCESS_VERSION, ImageError, Preprocessed,
                                      load_image, preprocess)

# A "2" as a polyline in a unit box (x right, y down): top arc, diagonal, base.
TWO = [(0.05, 0.25), (0.2, 0.05), (0.5, 0.0), (0.8, 0.05), (0.95, 0.25), (0.9, 0.45),
       (0.6, 0.7), (0.05, 1.0), (1.0, 1.0)]


def draw(size=(280, 280), box=(70, 40, 210, 240), width=18.0, ink=255, paper=0, shape=TWO,
         supersample=4) -> np.ndarray:
    """An anti-aliased polyline drawing (uint8 gray), like a canvas stroke.

    ``box`` is (x0, y0, x1, y1) in output pixels and may be fractional.
    """
    s = supersample
    w, h = size
    im = Image.new("L", (w * s, h * s), 0)
    x0, y0, x1, y1 = box
    pts = [((x0 + px * (x1 - x0)) * s, (y0 + py * (y1 - y0)) * s) for px, py in shape]
    d = ImageDraw.Draw(im)
    d.line(pts, fill=255, width=max(1, round(width * s)), joint="curve")
    r = width * s / 2
    for x, y in (pts[0], pts[-1]):  # round caps
        d.ellipse((x - r, y - r, x + r, y + r), fill=255)
    a = np.asarray(im.resize((w, h), Image.Resampling.BOX), dtype=np.float32) / 255
    return np.round(paper + (ink - paper) * a).astype(np.uint8)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def ink_box(img: np.ndarray, thr: float = 0.1) -> tuple[int, int]:
    rows = np.flatnonzero((img > thr).any(axis=1))
    cols = np.flatnonzero((img > thr).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def com(img: np.ndarray) -> tuple[float, float]:
    t = img.sum()
    return float(img.sum(1) @ np.arange(28) / t), float(img.sum(0) @ np.arange(28) / t)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return preprocess(draw()).image


def test_version_is_the_checkpoint_spec():
    assert PREPROCESS_VERSION == checkpoint.PREPROCESS_VERSION


def test_output_looks_like_mnist(reference):
    img = reference
    assert img.shape == (28, 28) and img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() == pytest.approx(1.0)
    h, w = ink_box(img)
    assert max(h, w) in (20, 21)  # the anti-aliased edge may add a faint pixel
    cy, cx = com(img)
    assert abs(cy - 14) <= 0.6 and abs(cx - 14) <= 0.6
    # the frame MNIST leaves empty stays empty
    assert img[:2].max() == 0 and img[-2:].max() == 0 and img[:, :2].max() == 0 and img[:, -2:].max() == 0


def test_steps_in_order_and_bbox():
    canvas = draw()
    pre = preprocess(canvas)
    names = [n for n, _ in pre.steps]
    assert names == ["input", "cropped", "scaled to 20 px", "centred 28x28"]
    assert pre.steps[0][1].shape == canvas.shape
    x0, y0, x1, y1 = pre.bbox
    # the polyline spans x 77..210, y 40..240; the 18 px pen reaches 9 px beyond it
    assert 66 <= x0 <= 70 and 217 <= x1 <= 221 and 29 <= y0 <= 33 and 247 <= y1 <= 251
    assert pre.steps[1][1].shape == (y1 - y0, x1 - x0)
    assert max(pre.steps[2][1].shape) == 20
    assert pre.steps[3][1] is pre.image
    assert all(a.dtype == np.float32 for _, a in pre.steps)


@pytest.mark.parametrize("box", [(12, 12, 152, 212), (128, 68, 268, 268), (71.25, 43.5, 211.25, 243.5)])
def test_shifted_drawing_gives_the_same_image(reference, box):
    img = preprocess(draw(box=box)).image
    assert corr(img, reference) > 0.98
    assert np.abs(img - reference).max() < 0.35


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_scaled_drawing_gives_nearly_the_same_image(reference, factor):
    size = round(280 * factor)
    box = tuple(v * factor for v in (70, 40, 210, 240))
    img = preprocess(draw(size=(size, size), box=box, width=18 * factor)).image
    assert corr(img, reference) > 0.95
    h, w = ink_box(img)
    assert max(h, w) in (20, 21)


def test_tiny_drawing_on_a_big_canvas(reference):
    img = preprocess(draw(size=(400, 400), box=(300, 20, 317, 45), width=3)).image
    assert img is not None and corr(img, reference) > 0.85
    assert img.max() == pytest.approx(1.0)


def test_inverted_polarity_is_detected(reference):
    dark_on_light = draw(ink=0, paper=255)
    pre = preprocess(dark_on_light)
    assert pre.polarity == "dark-on-light"
    assert preprocess(draw()).polarity == "light-on-dark"
    np.testing.assert_allclose(pre.image, reference, atol=1e-6)


def test_polarity_override_is_respected(reference):
    # a white digit on black in a thick white frame: the frame says "paper is white", wrongly
    canvas = draw()
    canvas[:12] = canvas[-12:] = 255
    canvas[:, :12] = canvas[:, -12:] = 255
    assert preprocess(canvas).polarity == "dark-on-light"
    told = preprocess(canvas, polarity="light-on-dark")
    assert told.polarity == "light-on-dark"
    cropped = preprocess(canvas[12:-12, 12:-12], polarity="light-on-dark")
    np.testing.assert_allclose(cropped.image, reference, atol=1e-6)
    with pytest.raises(ValueError):
        preprocess(canvas, polarity="sideways")


def test_gray_paper_and_faint_pencil():
    # pencil on grey paper: low contrast and an offset background still give full-range ink
    canvas = draw(ink=70, paper=170)
    pre = preprocess(canvas)
    assert pre.polarity == "dark-on-light"
    assert pre.image.max() == pytest.approx(1.0)
    assert corr(pre.image, preprocess(draw()).image) > 0.99


def test_rgb_rgba_float_bool_uint16_inputs(reference):
    gray = draw()
    rgb_dark = np.stack([255 - gray] * 3, axis=-1)  # black ink on white
    blue = np.full((280, 280, 3), 255, np.uint8)  # blue pen on white paper
    blue[..., 0] = blue[..., 1] = 255 - gray
    rgba_transparent = np.zeros((280, 280, 4), np.uint8)  # black strokes on transparent
    rgba_transparent[..., 3] = gray
    rgba_white_ink = np.full((280, 280, 4), 255, np.uint8)  # white strokes on transparent
    rgba_white_ink[..., 3] = gray
    rgba_opaque = np.concatenate([rgb_dark, np.full((280, 280, 1), 255, np.uint8)], axis=-1)
    cases = {
        "rgb": rgb_dark, "blue pen": blue, "rgba transparent": rgba_transparent,
        "rgba white ink": rgba_white_ink, "rgba opaque": rgba_opaque,
        "float": gray.astype(np.float64) / 255, "float 0-255": gray.astype(np.float32),
        "uint16": gray.astype(np.uint16) * 257, "gray HxWx1": gray[..., None],
    }
    for name, arr in cases.items():
        pre = preprocess(arr)
        assert not pre.empty, name
        assert np.abs(pre.image - reference).max() < 0.02, name
    binary = preprocess(gray > 127).image
    assert corr(binary, reference) > 0.97


def test_fully_transparent_rgba_is_empty():
    assert preprocess(np.zeros((100, 100, 4), np.uint8)).empty


def test_empty_canvas_and_stray_pixels_are_nothing_drawn():
    blank = np.zeros((280, 280), np.uint8)
    pre = preprocess(blank)
    assert pre.empty and pre.image is None and pre.bbox is None
    assert [n for n, _ in pre.steps] == ["input"]
    assert preprocess(np.full((280, 280), 255, np.uint8)).empty
    one = blank.copy()
    one[100, 37] = 255
    assert preprocess(one).empty
    specks = blank.copy()
    rng = np.random.default_rng(0)
    specks[rng.integers(0, 280, 40), rng.integers(0, 280, 40)] = 255
    assert preprocess(specks).empty
    noise = (rng.random((280, 280)) * 15).astype(np.uint8)  # sensor noise, ~6 % of full scale
    assert preprocess(noise).empty
    assert preprocess(255 - noise).empty
    small_blob = blank.copy()
    small_blob[10:12, 10:12] = 255  # 4 px: below the "almost nothing" share of the canvas
    assert preprocess(small_blob).empty


def test_specks_and_noise_around_a_drawing_are_ignored(reference):
    canvas = draw()
    canvas[5, 5] = canvas[270, 12] = canvas[140, 276] = 255
    canvas[3, 200:202] = 255
    rng = np.random.default_rng(1)
    noisy = np.clip(canvas.astype(int) + rng.integers(0, 15, canvas.shape), 0, 255).astype(np.uint8)
    clean = preprocess(draw())
    for arr in (canvas, noisy):
        pre = preprocess(arr)
        assert pre.bbox == clean.bbox
        assert np.abs(pre.image - reference).max() < 0.05


def test_thin_pen_reaches_full_brightness():
    thin = preprocess(draw(width=1.5, supersample=1))
    assert not thin.empty
    assert thin.image.max() == pytest.approx(1.0)
    assert (thin.image > 0.5).sum() >= 20  # a continuous stroke, not a few dots


def test_already_mnist_sized_input_is_kept(reference):
    again = preprocess(reference)
    # only the faintest edge pixels (below the noise floor) may go
    np.testing.assert_allclose(again.image, reference, atol=NOISE_FLOOR)
    assert again.polarity == "light-on-dark"


def test_wide_and_tall_digits_keep_their_aspect_ratio():
    one = preprocess(draw(shape=[(0.5, 0.0), (0.5, 1.0)], box=(100, 20, 140, 260), width=14)).image
    h, w = ink_box(one)
    assert h in (20, 21) and w <= 5
    dash = preprocess(draw(shape=[(0.0, 0.5), (1.0, 0.5)], box=(20, 120, 260, 160), width=14)).image
    h, w = ink_box(dash)
    assert w in (20, 21) and h <= 5


def test_image_files_in_every_common_format(tmp_path, reference):
    gray = draw()
    Image.fromarray(gray).save(tmp_path / "g.png")
    Image.fromarray(np.stack([255 - gray] * 3, -1)).save(tmp_path / "rgb.jpg", quality=95)
    Image.fromarray(255 - gray).save(tmp_path / "d.bmp")
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = gray
    Image.fromarray(rgba).save(tmp_path / "t.png")
    Image.fromarray(gray).convert("P").save(tmp_path / "p.gif")
    assert load_image(tmp_path / "g.png").shape == (280, 280)
    assert load_image(tmp_path / "rgb.jpg").shape == (280, 280, 3)
    assert load_image(tmp_path / "t.png").shape == (280, 280, 4)
    for name in ("g.png", "rgb.jpg", "d.bmp", "t.png", "p.gif"):
        pre = preprocess(tmp_path / name)
        assert not pre.empty, name
        assert corr(pre.image, reference) > 0.99, name
    assert isinstance(preprocess(str(tmp_path / "g.png")), Preprocessed)


def test_unreadable_files_raise_image_error(tmp_path):
    Image.fromarray(draw()).save(tmp_path / "ok.png")
    blob = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "noise.png").write_bytes(np.random.default_rng(0).bytes(2000))
    (tmp_path / "notes.txt").write_text("this is not a picture of a digit\n")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "folder.png").mkdir()
    for name in ("truncated.png", "noise.png", "notes.txt", "empty.png", "folder.png", "missing.png"):
        with pytest.raises(ImageError) as err:
            load_image(tmp_path / name)
        assert name in str(err.value), name
        with pytest.raises(ValueError):  # ImageError is a ValueError
            preprocess(tmp_path / name)


@pytest.mark.parametrize("bad", [np.zeros((5, 5, 2)), np.zeros((4, 4, 4, 4)), np.zeros(10),
                                 np.full((20, 20), np.nan), np.full((20, 20), -1.0), np.zeros((1, 50))])
def test_odd_arrays_raise_image_error(bad):
    with pytest.raises(ImageError):
        preprocess(bad)
