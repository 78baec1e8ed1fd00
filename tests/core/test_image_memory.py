"""predict's memory across pixel formats (issue 24.2): a mode that must widen before it can be
averaged (palette -> RGBA, 16-bit -> 32-bit, 1-bit -> gray) is widened a band at a time,
never the whole image at once, and the result is the same as converting it whole."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from digitpad.core.data import preprocess
from digitpad.core.data.preprocess import load_image


def images(tmp_path):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 4, (1203, 1701), np.uint8)
    pal = Image.fromarray(idx, "P")
    pal.putpalette([255, 255, 255, 0, 0, 0, 200, 30, 30, 10, 10, 200] + [0] * 756)
    pal.save(tmp_path / "pal.png", transparency=3)
    Image.fromarray(rng.integers(0, 65535, (1203, 1701), np.uint16)).save(tmp_path / "i16.png")
    Image.fromarray(idx > 1).save(tmp_path / "bits.png")
    return [tmp_path / n for n in ("pal.png", "i16.png", "bits.png")]


def test_wide_modes_are_converted_in_bands_with_the_same_result(tmp_path, monkeypatch):
    monkeypatch.setattr(preprocess, "BAND_PIXELS", 100_000)
    widened = []
    real = Image.Image.convert

    def convert(self, mode=None, *a, **k):
        if self.mode in ("P", "PA", "1", "I;16", "I;16B", "I;16L") and mode in ("RGB", "RGBA", "I", "L"):
            widened.append(self.size[0] * self.size[1])
        return real(self, mode, *a, **k)

    for path in images(tmp_path):
        with Image.open(path) as im:
            im.load()
            mode = {"P": "RGBA", "1": "L"}.get(im.mode, "I")
            factor = 7
            whole = real(im, mode).reduce(factor)
            banded = preprocess._convert_reduced(im, mode, factor)
            assert banded.size == whole.size and banded.mode == whole.mode
            assert np.array_equal(np.asarray(banded), np.asarray(whole)), path.name
        widened.clear()
        monkeypatch.setattr(Image.Image, "convert", convert)
        arr = load_image(path, max_side=256)
        monkeypatch.setattr(Image.Image, "convert", real)
        assert max(arr.shape[:2]) <= 256
        assert widened and max(widened) <= 100_000 + 1701 * 7, (path.name, max(widened))


def test_a_webp_past_its_own_cap_is_refused_from_its_header(tmp_path, monkeypatch):
    # WebP decodes whole (no draft, no bands): past MAX_WEBP_PIXELS it is refused by its
    # header's size before anything is decoded; a PNG of the same size still reads
    im = Image.new("RGB", (300, 200), "white")
    im.paste((0, 0, 0), (100, 40, 140, 160))
    im.save(tmp_path / "big.webp")
    im.save(tmp_path / "big.png")
    monkeypatch.setattr(preprocess, "MAX_WEBP_PIXELS", 50_000)
    decoded = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.format) or real_load(self))
    with pytest.raises(preprocess.ImageError, match=r"big\.webp is too large to read as WebP: "
                                                     r"300x200 pixels.*PNG or JPEG"):
        load_image(tmp_path / "big.webp", max_side=256)
    assert "WEBP" not in decoded
    assert load_image(tmp_path / "big.png", max_side=256).shape[:2] == (100, 150)  # reduced by 2
    monkeypatch.setattr(preprocess, "MAX_WEBP_PIXELS", 60_000)
    assert load_image(tmp_path / "big.webp").shape[:2] == (200, 300)
