"""Stroke-width tools of core.data.augment: thinning, stretching to a box, redrawing a pen,
and the thin-pen 16 px binary scan."""

import numpy as np
import torch
from PIL import Image, ImageDraw

from digitpad.core.data.augment import repen, skeleton, stretch_to, thin_scan


def strokes(width: int, n: int = 4) -> torch.Tensor:
    """n copies of the same '7' (a bar and a diagonal) drawn with a pen ``width`` px wide."""
    im = Image.new("L", (28, 28), 0)
    d = ImageDraw.Draw(im)
    d.line([(6, 6), (21, 6), (11, 22)], fill=255, width=width)
    x = torch.from_numpy(np.asarray(im, np.float32) / 255).view(1, 1, 28, 28)
    return x.repeat(n, 1, 1, 1)


def test_skeleton_is_one_pixel_wide_and_inside_the_ink():
    bar = torch.zeros(2, 1, 20, 20, dtype=torch.bool)
    bar[0, 0, 8:13, 3:17] = True  # a 5 px thick bar
    skel = skeleton(bar)
    assert skel.shape == bar.shape and skel.dtype == torch.bool
    assert not (skel & ~bar).any()  # never outside the ink
    rows = skel[0, 0].any(1).nonzero().flatten()
    assert len(rows) == 1 and 8 <= int(rows[0]) <= 12  # one row, in the bar's middle
    assert int(skel[0, 0].sum()) >= 8  # it keeps the bar's length
    assert not skel[1].any()  # blank stays blank


def test_stretch_to_fills_the_square_both_ways():
    x = torch.zeros(2, 1, 28, 28)
    x[0, 0, 4:24, 12:15] = 1.0  # a thin vertical 1
    out = stretch_to(x, 32)
    assert out.shape == (2, 1, 32, 32)
    ink = out[0, 0] > 0.5
    assert ink.any(0).all() and ink.any(1).all()  # the ink spans every row and column
    assert not out[1].any()  # blank gives blank


def test_repen_makes_thin_and_thick_pens_the_same_line():
    thin, thick = strokes(1), strokes(5)
    a, b = repen(thin, 2.5), repen(thick, 2.5)
    assert a.shape == thin.shape and a.dtype == torch.float32
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    # before: the thick pen has several times the ink; after: about the same amount, in place
    assert float(thick.sum()) > 3 * float(thin.sum())
    assert abs(float(a.sum()) - float(b.sum())) < 0.25 * float(b.sum())
    assert float((a[0] - b[0]).abs().mean()) < 0.1
    assert torch.equal(repen(thin, 2.5), a)  # deterministic: no randomness in it
    assert float(repen(thin, 4.0).sum()) > 1.3 * float(a.sum())  # a wider pen, more ink


def test_thin_scan_is_binary_at_16_px_and_box_filled():
    x = strokes(3)
    pens = torch.tensor([1.0, 1.0, 2.0, 2.0])
    s = thin_scan(x, pens)
    assert s.shape == (4, 1, 16, 16) and s.dtype == x.dtype
    assert set(torch.unique(s).tolist()) <= {0.0, 1.0}
    assert torch.equal(s, thin_scan(x, pens))  # deterministic for the same input
    ink = s[0, 0] > 0
    rows, cols = ink.any(1).nonzero().flatten(), ink.any(0).nonzero().flatten()
    assert int(rows[-1] - rows[0]) >= 12 and int(cols[-1] - cols[0]) >= 12  # fills the box
    assert float(s[2].sum()) > float(s[0].sum())  # the 2 px pen inks more than the 1 px one
    # a 1-2 px line: far less ink than the box-filled MNIST-thick stroke would leave
    assert float(s[0].sum()) < 0.35 * 16 * 16


def test_elastic_bends_the_digit_keeps_its_ink_and_is_seeded():
    from digitpad.core.data.augment import elastic

    x = strokes(3, 8)
    a = elastic(x, gen=torch.Generator().manual_seed(3))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, elastic(x, gen=torch.Generator().manual_seed(3)))
    b = elastic(x, gen=torch.Generator().manual_seed(4))
    assert not torch.equal(a, b)
    moved = (a - x).abs().flatten(1).mean(1)
    assert (moved > 0.01).all()  # every copy bent
    ink = a.flatten(1).sum(1) / x.flatten(1).sum(1)
    assert ((ink > 0.6) & (ink < 1.4)).all()  # the same digit, not smeared away
    assert (a[0] - a[1]).abs().mean() > 0.01  # each image its own field
    # alpha 0 moves nothing (bilinear at pixel centres)
    assert (elastic(x, alpha=0.0) - x).abs().max() < 1e-5
    assert elastic(x[:0]).shape == (0, 1, 28, 28)
