"""Batch augmentation: keeps shape and range, is deterministic for a generator, changes images."""

import numpy as np
import torch

from digitpad.core.data.augment import AugmentSpec, augment


def batch(n=64, seed=0):
    from synthetic_digits import render_digits

    x, _ = render_digits(n, seed)
    return torch.from_numpy(x).unsqueeze(1).float() / 255


def test_shape_dtype_and_range_are_kept():
    x = batch()
    out = augment(x, AugmentSpec(), torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(x, batch())  # the input is not modified
    assert augment(x[:0]).shape == (0, 1, 28, 28)


def test_deterministic_for_a_generator_and_seeds_differ():
    x = batch()
    a = augment(x, AugmentSpec(), torch.Generator().manual_seed(5))
    b = augment(x, AugmentSpec(), torch.Generator().manual_seed(5))
    c = augment(x, AugmentSpec(), torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_it_actually_changes_images_but_keeps_the_ink():
    x = batch()
    out = augment(x, AugmentSpec(), torch.Generator().manual_seed(2))
    changed = (out - x).abs().flatten(1).mean(1) > 0.01
    assert changed.float().mean() > 0.9  # nearly every image differs (warp of every sample)
    ink_in, ink_out = x.flatten(1).sum(1), out.flatten(1).sum(1)
    assert ((ink_out > 0.3 * ink_in) & (ink_out < 3.0 * ink_in)).all()  # still a digit, not blank


def test_the_pen_options_do_what_they_say():
    x = batch(32)
    still = AugmentSpec(rotate_deg=0.0, scale=(1.0, 1.0), shear=0.0, shift_px=0.0,
                        p_thick=0.0, p_thin=0.0, p_binary=0.0, p_lowres=0.0, p_box=0.0)
    same = augment(x, still, torch.Generator().manual_seed(0))
    assert (same - x).abs().max() < 0.02  # identity warp (bilinear at pixel centres)
    thick = augment(x, AugmentSpec(**{**still.to_dict(), "p_thick": 1.0}), torch.Generator().manual_seed(0))
    thin = augment(x, AugmentSpec(**{**still.to_dict(), "p_thin": 1.0}), torch.Generator().manual_seed(0))
    binary = augment(x, AugmentSpec(**{**still.to_dict(), "p_binary": 1.0}), torch.Generator().manual_seed(0))
    assert thick.sum() > 1.3 * x.sum() and thin.sum() < 0.8 * x.sum()
    assert set(torch.unique(binary).tolist()) <= {0.0, 1.0}


def test_box_fill_stretches_the_ink_to_a_square_and_centres_it_by_mass():
    """A thin 1 and a wide 0 both fill the 20 px box both ways, as a scanner's box-normalising
    leaves them, and match what preprocess makes of the digit stretched on a canvas."""
    from PIL import Image

    from digitpad.core.data.augment import box_fill
    from digitpad.core.data.preprocess import preprocess

    x = torch.zeros(3, 1, 28, 28)
    x[0, 0, 4:24, 12:15] = 1.0  # a 1: 20 tall, 3 wide
    x[1, 0, 9:19, 4:24] = 1.0  # a flat bar: 10 tall, 20 wide
    out = box_fill(x)
    for im in out[:2, 0]:
        rows = torch.nonzero(im.amax(1) > 0.5).flatten()
        cols = torch.nonzero(im.amax(0) > 0.5).flatten()
        assert 19 <= int(rows[-1] - rows[0] + 1) <= 21 and 19 <= int(cols[-1] - cols[0] + 1) <= 21
        w = im / im.sum()
        assert abs(float((w.sum(1) * torch.arange(28)).sum()) - 14) <= 0.6
        assert abs(float((w.sum(0) * torch.arange(28)).sum()) - 14) <= 0.6
    assert torch.equal(out[2], x[2])  # nothing drawn stays nothing
    digit = batch(4)
    filled = box_fill(digit)
    for img, got in zip(digit[:, 0], filled[:, 0]):
        a = (img.numpy() * 255).astype(np.uint8)
        r, c = np.flatnonzero(a.max(1) > a.max() // 4), np.flatnonzero(a.max(0) > a.max() // 4)
        crop = Image.fromarray(a[r[0]:r[-1] + 1, c[0]:c[-1] + 1]).resize((200, 200), Image.Resampling.BILINEAR)
        canvas = np.zeros((280, 280), np.uint8)
        canvas[40:240, 40:240] = np.asarray(crop)
        slow = preprocess(canvas, keep_steps=False).image
        got = got / got.max()  # preprocess also brightens the ink to full (MNIST's nearly is)
        # preprocess centres to whole pixels, box_fill to a fraction of one
        assert min(np.abs(np.roll(slow, (dy, dx), (0, 1)) - got.numpy()).mean()
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)) < 0.09  # unstretched: 0.19-0.28


def test_box_share_of_one_box_fills_every_digit():
    x = torch.zeros(4, 1, 28, 28)
    x[:, 0, 4:24, 13:15] = 1.0
    still = AugmentSpec(rotate_deg=0.0, scale=(1.0, 1.0), shear=0.0, shift_px=0.0,
                        p_thick=0.0, p_thin=0.0, p_binary=0.0, p_lowres=0.0, p_box=1.0)
    out = augment(x, still, torch.Generator().manual_seed(0))
    assert ((out[:, 0] > 0.5).sum((1, 2)) > 300).all()  # a 2 px stroke became a filled block
