"""Batch augmentation: keeps shape and range, is deterministic for a generator, changes images."""

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
