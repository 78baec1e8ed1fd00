"""The scan-like augmentation (core.data.augment.scan_like, AugmentSpec.p_scan): MNIST-like
digits as box-filled thin-pen 16 px binary scans read back to 28x28, as the proxy's generic
pipeline makes them, with none of its writers' shape edits."""

import numpy as np
import torch
from PIL import Image, ImageDraw

from digitpad.core.data.augment import AugmentSpec, augment, fit_box, scan_like, thin_scan
from digitpad.core.reading import number_pieces


def digits(width: int = 3) -> torch.Tensor:
    """A '7' (bar and diagonal), a thin upright '1' and a blank image, 28x28 in [0, 1]."""
    out = []
    for line in ([(6, 6), (21, 6), (11, 22)], [(14, 4), (14, 23)], None):
        im = Image.new("L", (28, 28), 0)
        if line:
            ImageDraw.Draw(im).line(line, fill=255, width=width)
        out.append(np.asarray(im, np.float32) / 255)
    return torch.from_numpy(np.stack(out)).unsqueeze(1)


def components(mask: np.ndarray) -> int:
    """8-connected pieces of a boolean image: the number reader's own labelling, which
    test_number holds to a flood fill."""
    return len(number_pieces.components(mask))


def test_scan_like_is_a_28_px_input_in_range_and_seeded():
    x = digits()
    a = scan_like(x, torch.Generator().manual_seed(5))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, scan_like(x, torch.Generator().manual_seed(5)))
    assert not a[2].any()  # blank stays blank
    # preprocess's box: the ink spans about 20 px, centred by mass near (14, 14)
    ink = a[0, 0] > 0.25
    rows, cols = ink.any(1).nonzero().flatten(), ink.any(0).nonzero().flatten()
    assert 18 <= int(rows[-1] - rows[0]) + 1 <= 22 and 18 <= int(cols[-1] - cols[0]) + 1 <= 22
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    m = a[0, 0] / a[0, 0].sum()
    assert abs(float((m * yy).sum()) - 14) < 1 and abs(float((m * xx).sum()) - 14) < 1


def test_a_thin_stroke_stays_one_connected_line():
    x = digits(width=1)  # 1 px strokes: thinning and stretching must not break them
    scans = thin_scan(x, torch.tensor([1.0, 1.0, 1.0]))
    for i in (0, 1):
        s = scans[i, 0].numpy() > 0
        assert components(s) == 1
    # the upright 1 stays a line, never stretched into a filled square
    one = scans[1, 0].numpy() > 0
    assert one.any(1).all() and one.sum() < 0.3 * one.size
    back = scan_like(x, torch.Generator().manual_seed(0))
    for i in (0, 1):
        assert components(back[i, 0].numpy() > 0.25) == 1


def test_fit_box_keeps_the_shape_and_blank_stays_blank():
    scan = torch.zeros(2, 1, 16, 16)
    scan[0, 0, 2:14, 6:10] = 1.0  # tall: 12 x 4
    out = fit_box(scan)
    assert out.shape == (2, 1, 28, 28)
    ink = out[0, 0] > 0.5
    h = int(ink.any(1).sum())
    w = int(ink.any(0).sum())
    assert 19 <= h <= 21 and 5 <= w <= 8  # the long side to 20 px, the other in proportion
    assert not out[1].any()


def test_the_scan_share_scans_that_share_only_and_is_seeded():
    x = digits().repeat(40, 1, 1, 1)
    none = augment(x, AugmentSpec(p_scan=0.0), torch.Generator().manual_seed(1))
    some = augment(x, AugmentSpec(p_scan=0.5), torch.Generator().manual_seed(1))
    again = augment(x, AugmentSpec(p_scan=0.5), torch.Generator().manual_seed(1))
    assert torch.equal(some, again)
    assert some.shape == x.shape and float(some.min()) >= 0 and float(some.max()) <= 1
    changed = (some - none).abs().flatten(1).amax(1) > 1e-6
    assert 20 < int(changed.sum()) < 100  # about half of the 120 digits
    # a scanned digit is a thin line: less ink than the same digit augmented without a scan
    drawn = x.flatten(1).amax(1) > 0
    pick = changed & drawn
    assert float(some[pick].sum()) < float(none[pick].sum())
