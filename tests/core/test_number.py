"""The number reader (core/reading/number.py) on crafted drawings, with the shipped digitnet:
strokes drawn with PIL as a mouse would leave them on a wide canvas (dark ink on white)."""

import json
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from digitpad.core.data.styles import render_canvas
from digitpad.core.reading.number import MAX_DIGITS, components, read_number
from digitpad.core.reading.numpy_predict import load_shipped

PEN = 14


@pytest.fixture(scope="module")
def classify():
    quick = load_shipped("digitnet")
    assert quick is not None
    return quick.probs_batch


def canvas(w=1120, h=280):
    im = Image.new("L", (w, h), 255)
    return im, ImageDraw.Draw(im)


def line(d, *pts, width=PEN):
    d.line(pts, fill=0, width=width, joint="curve")
    for x, y in (pts[0], pts[-1]):  # round caps, as the app's pen
        d.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=0)


def ring(d, box, width=PEN):
    d.ellipse(box, outline=0, width=width)


def pasted(digits: str, size=280, step=250, seed=3, w=1120):
    """Synthesised canvas digits (core.data.styles) side by side on one wide canvas."""
    out = np.full((280, w), 255, np.uint8)
    for i, k in enumerate(digits):
        g = render_canvas(k, 1, seed=seed + i)[0]
        if size != 280:
            g = np.asarray(Image.fromarray(g).resize((size, size)))
        y = (280 - size) // 2
        out[y:y + size, 40 + i * step:40 + i * step + size] = np.minimum(
            out[y:y + size, 40 + i * step:40 + i * step + size], g)
    return out


def reads(classify, image, **kw):
    r = read_number(np.asarray(image), classify, keep_steps=True, **kw)
    return r


def test_2026_reads_as_a_number_with_a_box_per_digit(classify):
    r = reads(classify, pasted("2026"))
    assert r.status == "number" and r.number == "2026"
    assert r.confidence == pytest.approx(np.prod([d.confidence for d in r.digits]))
    xs = [d.box[0] for d in r.digits]
    assert xs == sorted(xs) and all(d.pre.image.shape == (28, 28) for d in r.digits)
    assert [t for t, _ in r.steps][0] == "components" and r.steps[-1][0] == "digits"


def test_each_digit_is_preprocessed_as_if_drawn_alone(classify):
    from digitpad.core.data.preprocess import preprocess

    art = pasted("38")
    r = reads(classify, art)
    assert r.number == "38"
    for d in r.digits:  # the digit alone on the canvas gives the same 28x28 input
        alone = np.full_like(art, 255)
        x0, y0, x1, y1 = d.box
        alone[y0:y1, x0:x1] = art[y0:y1, x0:x1]
        np.testing.assert_allclose(preprocess(alone).image, d.pre.image, atol=0.02)


def test_five_with_a_separate_top_bar(classify):
    im, d = canvas()
    line(d, (100, 75), (98, 140))  # the stem, drawn first
    d.arc((70, 110, 190, 235), start=200, end=150, fill=0, width=PEN)  # the bowl
    line(d, (112, 55), (190, 52))  # the bar, drawn last, not touching
    r = reads(classify, im)
    assert r.number == "5", (r.number, r.reason)
    assert r.digits[0].parts >= 2


def test_four_in_two_strokes(classify):
    im, d = canvas()
    line(d, (160, 45), (105, 160), (215, 160))
    line(d, (190, 70), (190, 240))  # crosses the bar: ...
    r = reads(classify, im)
    assert r.number == "4"
    im, d = canvas()
    line(d, (160, 45), (105, 160), (180, 160))
    line(d, (198, 60), (198, 240))  # ... and stopping short of it
    r = reads(classify, im)
    assert r.number == "4", (r.number, [(x.digit, x.confidence) for x in r.digits])


def test_seven_with_a_separate_crossbar(classify):
    im, d = canvas()
    line(d, (90, 50), (200, 50), (130, 240))
    line(d, (105, 145), (150, 145))  # ends before the stem
    r = reads(classify, im)
    assert r.number == "7", (r.number, r.reason)


def test_touching_zeros_are_split(classify):
    im, d = canvas()
    ring(d, (100, 50, 210, 240))
    ring(d, (200, 50, 310, 240))
    comps = components(np.asarray(im) < 128)
    assert len(comps) == 1  # one ink component ...
    r = reads(classify, im)
    assert r.number == "00", (r.number, [(x.digit, x.box) for x in r.digits])  # ... two digits
    assert [t for t, _ in r.steps].count("cuts tried") == 1


@pytest.mark.xfail(strict=True, reason="known gap: the joined pair reads as one '1' at 85 %; only a cut bent "
                                       "around the joined foot splits it, and bent cuts cost more than they gave on "
                                       "validation numbers (number_cuts.FOLLOW, issue 22)")
def test_touching_ones_are_split(classify):
    im, d = canvas()
    line(d, (100, 50), (106, 240))
    line(d, (140, 50), (116, 240))  # leans onto the first at the foot
    assert len(components(np.asarray(im) < 128)) == 1
    r = reads(classify, im)
    assert r.number == "11", (r.number, [(x.digit, x.box) for x in r.digits])


def test_spaced_ones(classify):
    im, d = canvas()
    line(d, (300, 50), (300, 240))
    line(d, (420, 50), (420, 240))
    r = reads(classify, im)
    assert r.number == "11" and all(x.parts == 1 for x in r.digits)


def test_digits_of_mixed_sizes(classify):
    art = np.full((280, 1120), 255, np.uint8)
    big, small = render_canvas("4", 1, seed=2)[0], render_canvas("7", 1, seed=5)[0]
    small = np.asarray(Image.fromarray(small).resize((150, 150)))
    art[:, 60:340] = big
    art[110:260, 330:480] = np.minimum(art[110:260, 330:480], small)
    r = reads(classify, art)
    assert r.number == "47", (r.number, r.reason)


def test_light_on_dark_and_rgb(classify):
    art = pasted("42")
    assert reads(classify, 255 - art).number == "42"
    assert reads(classify, np.stack([art] * 3, axis=2)).number == "42"


def test_empty_canvas(classify):
    r = reads(classify, np.full((280, 1120), 255, np.uint8))
    assert r.status == "empty" and r.number == "" and not r.digits


def test_a_lone_dot_is_not_a_number(classify):
    im, d = canvas()
    d.ellipse((500, 130, 516, 146), fill=0)
    r = reads(classify, im)
    assert r.status == "not a number" and "dot" in r.reason


def test_a_scribble_is_not_a_number(classify):
    im, d = canvas()
    rng = np.random.default_rng(0)
    pts = [tuple(p) for p in np.cumsum(rng.normal(0, 40, (120, 2)), axis=0) + (560, 140)]
    line(d, *[(min(max(x, 20), 1100), min(max(y, 20), 260)) for x, y in pts], width=6)
    t = time.perf_counter()
    r = reads(classify, im)
    assert r.status == "not a number" and r.reason and time.perf_counter() - t < 5


def test_a_page_of_text_is_not_a_number(classify):
    im = Image.new("L", (900, 600), 255)
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default()
    for k in range(20):
        d.text((20, 20 + 28 * k), "The quick brown fox jumps over the lazy dog, again and again.",
               fill=0, font=font)
    im = im.resize((1800, 1200))
    t = time.perf_counter()
    r = reads(classify, im)
    assert r.status == "not a number" and r.reason and time.perf_counter() - t < 5


def test_sixty_digits_are_bounded(classify):
    art = np.hstack([render_canvas(str(k % 10), 1, seed=k)[0][40:240, 40:240] for k in range(60)])
    t = time.perf_counter()
    r = reads(classify, art)
    assert time.perf_counter() - t < 10
    assert r.status in ("number", "not a number") and (r.status != "number" or len(r.number) <= MAX_DIGITS)
    if r.status == "number":
        assert len(r.number) >= 50


def test_a_20000_pixel_strip_is_bounded(classify):
    rng = np.random.default_rng(1)
    strip = np.full((120, 20000), 255, np.uint8)
    for k in range(0, 19900, 90):  # 221 digit-sized marks
        strip[20:100, k + 30:k + 40] = 0
    t = time.perf_counter()
    r = reads(classify, strip)
    assert time.perf_counter() - t < 10
    assert r.status == "not a number" and r.reason


def test_bad_classifier_output_is_an_error(classify):
    with pytest.raises(ValueError):
        read_number(pasted("1"), lambda x: np.zeros((len(x), 3), np.float32))


def test_torch_and_numpy_predictors_give_the_same_reading():
    from digitpad.core.reading.predict import Predictor

    art = pasted("905")
    a = read_number(art, load_shipped("digitnet").probs_batch)
    b = read_number(art, Predictor.shipped("digitnet").probs_batch)
    assert a.number == b.number == "905"
    np.testing.assert_allclose([d.confidence for d in a.digits], [d.confidence for d in b.digits], atol=1e-4)


def test_cli_predict_number_json(tmp_path, capsys):
    from digitpad import cli

    Image.fromarray(pasted("2026")).save(tmp_path / "n.png")
    Image.fromarray(np.full((50, 50), 255, np.uint8)).save(tmp_path / "blank.png")
    assert cli.main(["predict", str(tmp_path), "--number", "--json"]) == 1  # the blank one
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    blank, n = rows
    assert blank["status"] == "empty" and blank["number"] is None and "error" in blank
    assert n["path"].endswith("n.png") and n["status"] == "number" and n["number"] == "2026"
    assert 0 < n["confidence"] <= 1 and len(n["digits"]) == 4
    for d in n["digits"]:
        assert set(d) >= {"box", "digit", "confidence", "probs"}
        assert len(d["box"]) == 4 and len(d["probs"]) == 10 and d["digit"] == int(np.argmax(d["probs"]))
    assert cli.main(["predict", str(tmp_path / "n.png"), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["several"] is True and row["number"] == "2026"
    assert cli.main(["predict", str(tmp_path / "n.png")]) == 0
    assert "several digits (2026)" in capsys.readouterr().out
    assert cli.main(["predict", str(tmp_path / "n.png"), "--number"]) == 0
    assert capsys.readouterr().out.split(": ", 1)[1].startswith("2026  (")


def _flood_count(mask):
    seen = np.zeros_like(mask)
    count = 0
    for y, x in zip(*np.nonzero(mask)):
        if seen[y, x]:
            continue
        count += 1
        todo = [(y, x)]
        seen[y, x] = True
        while todo:
            cy, cx = todo.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = cy + dy, cx + dx
                    if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        todo.append((ny, nx))
    return count


@pytest.mark.parametrize("seed", range(4))
def test_components_match_a_flood_fill(seed):
    mask = np.random.default_rng(seed).random((40, 60)) < 0.35
    comps = components(mask)
    assert len(comps) == _flood_count(mask)
    assert comps.areas.sum() == mask.sum()
    assert set(np.unique(comps.labels[mask])) == set(range(1, len(comps) + 1))
    assert not comps.labels[~mask].any()
    for k, (x0, y0, x1, y1) in enumerate(comps.boxes):
        ys, xs = np.nonzero(comps.labels == k + 1)
        assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_probs_batch_matches_predict_on_both_predictors():
    from digitpad.core.data.preprocess import preprocess
    from digitpad.core.reading.predict import Predictor

    pres = [preprocess(render_canvas(str(k), 1, seed=k)[0]) for k in range(5)]
    images = np.stack([p.image for p in pres])
    for pred in (load_shipped("digitnet"), Predictor.shipped("digitnet")):
        batch = pred.probs_batch(images)
        assert batch.shape == (5, 10) and batch.dtype == np.float32
        for row, pre in zip(batch, pres):
            np.testing.assert_allclose(row, pred.predict(pre).probs, atol=2e-5)
    assert load_shipped("digitnet").probs_batch(np.zeros((0, 28, 28), np.float32)).shape == (0, 10)


def test_a_cache_rereads_only_what_changed(classify):
    from digitpad.core.reading.number import ReadCache

    seen = []

    def counting(x):
        seen.append(len(x))
        return classify(x)

    cache = ReadCache()
    art = pasted("42")
    first = read_number(art, counting, cache=cache)
    cold = sum(seen)
    assert first.number == "42" and cold >= 2
    more = pasted("427")  # a third digit drawn: the first two are not classified again
    seen.clear()
    again = read_number(more, counting, cache=cache)
    assert again.number == "427" and 1 <= sum(seen) < cold + 1 and cache.hits >= 2
    plain = read_number(more, classify)
    assert [d.box for d in plain.digits] == [d.box for d in again.digits]
    np.testing.assert_allclose([d.probs for d in plain.digits], [d.probs for d in again.digits], atol=1e-5)
    seen.clear()
    read_number(more, lambda x: counting(x), cache=cache)  # another classifier: nothing reused
    assert sum(seen) >= 3


def long_wave():
    im, d = canvas()
    xs = np.linspace(30, 1090, 400)
    line(d, *[(float(x), float(140 + 90 * np.sin(x / 23.0) * np.cos(x / 97.0))) for x in xs], width=10)
    return im


def test_one_long_scribble_across_the_canvas_is_answered_in_bounded_time(classify):
    t = time.perf_counter()
    r = reads(classify, long_wave())
    assert time.perf_counter() - t < 5
    assert r.status in ("number", "not a number") and len(r.digits) <= MAX_DIGITS


@pytest.mark.xfail(strict=True, reason="known gap: one wavy line across the canvas reads as one digit "
                                       "('2', 48 %, with the verifier; '5116111415', 96 %, before); issue 22")
def test_one_long_scribble_across_the_canvas_is_not_a_number(classify):
    assert reads(classify, long_wave()).status == "not a number"


@pytest.mark.xfail(strict=True, reason="known gap: letters drawn in strokes read as digits ('HWX' -> 46175, "
                                       "15 %; the verifier gives its digits P(whole) 0-0.18, but real 1s "
                                       "get 0.02-0.19 too, so it cannot say 'not a digit'); issue 22")
def test_letters_are_not_a_number(classify):
    im, d = canvas()
    line(d, (80, 50), (80, 240))
    line(d, (180, 50), (180, 240))
    line(d, (80, 145), (180, 145))  # H
    line(d, (260, 50), (300, 240), (340, 120), (380, 240), (420, 50))  # W
    line(d, (500, 50), (640, 240))
    line(d, (640, 50), (500, 240))  # X
    assert reads(classify, im).status == "not a number"


def test_an_empty_image_of_any_size_is_empty(classify):
    for shape in ((2, 2), (120, 20000), (280, 1120)):
        r = read_number(np.full(shape, 255, np.uint8), classify)
        assert r.status == "empty" and r.number == "" and r.reason


def test_a_speck_between_digits_is_left_out(classify, monkeypatch):
    art = pasted("54", step=330)
    im = Image.fromarray(art)
    d = ImageDraw.Draw(im)
    line(d, (334, 140), (340, 178), width=10)  # a stray mark in the gap, no digit's part
    r = reads(classify, im)
    assert r.number == "54", (r.number, r.reason)
    import digitpad.core.reading.number as number
    monkeypatch.setattr(number, "SPECK_SKIP", float("inf"))  # without the skip it reads as a digit
    assert reads(classify, im).number != "54"
