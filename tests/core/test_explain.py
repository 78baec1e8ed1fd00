"""Receptive fields, why-maps, permuted pixels and the shift test."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from digitpad.core.insight import explain
from digitpad.core.nets import permutation
from digitpad.core.nets.checkpoint import load_checkpoint, shipped_model_path
from digitpad.core.nets.models import create_model
from synthetic_digits import render_digits

LAYER_SPECS = {  # (kernel, stride, padding) written out again from the model definitions
    "lenet": {"conv1": (5, 1, 0), "pool1": (2, 2, 0), "conv2": (5, 1, 0), "pool2": (2, 2, 0)},
    "digitnet": {"conv1": (3, 1, 1), "conv2": (3, 1, 1), "pool1": (2, 2, 0), "conv3": (3, 1, 1),
                 "conv4": (3, 1, 1), "pool2": (2, 2, 0), "conv5": (3, 1, 0)},
}


@pytest.fixture(scope="module")
def shipped():
    return {arch: load_checkpoint(shipped_model_path(arch)) for arch in ("digitnet", "lenet", "dense")}


@pytest.fixture(scope="module")
def digits():
    x, y = render_digits(20, seed=11)
    return x.astype(np.float32) / 255.0, y.astype(int)


@pytest.mark.parametrize("arch", ["lenet", "digitnet"])
def test_receptive_field_extent_follows_the_layer_arithmetic(arch):
    rf, jump = 1, 1
    sizes = explain.receptive_field_sizes(arch)
    for name, (k, s, _) in LAYER_SPECS[arch].items():
        rf, jump = rf + (k - 1) * jump, jump * s
        assert sizes[name] == rf, name
    assert list(sizes.values()) == sorted(sizes.values())  # grows layer by layer
    if arch == "lenet":
        assert list(sizes.values()) == [5, 6, 14, 16]


@pytest.mark.parametrize("arch", ["lenet", "digitnet"])
def test_receptive_field_box_position(arch):
    shapes = {n: s for n, s in create_model(arch).forward_features(torch.zeros(1, 1, 28, 28))[1].items()}
    for name, (k, s, p) in LAYER_SPECS[arch].items():
        # the unit's window start, mapped down layer by layer with start = index * s - p
        side = shapes[name].shape[-1]
        for row in (0, side // 2, side - 1):
            top = row
            for lname in reversed(list(LAYER_SPECS[arch])[:list(LAYER_SPECS[arch]).index(name) + 1]):
                lk, ls, lp = LAYER_SPECS[arch][lname]
                top = top * ls - lp
            box = explain.receptive_field(arch, name, row, row)
            assert box.top == max(top, 0) and box.left == box.top
            assert box.bottom == min(top + box.extent, 28)
            assert 0 <= box.top < box.bottom <= 28


def test_lenet_conv1_unit_sees_exactly_its_five_by_five_window(shipped, digits):
    ex = explain.Explainer("lenet", shipped["lenet"].state)
    image = digits[0][0]
    with torch.no_grad():
        maps = ex.model.forward_features(torch.from_numpy(image)[None, None])[1]["conv1"][0]
    ch, r, c = np.unravel_index(int(maps.argmax()), maps.shape)
    field = ex.unit_field(image, "conv1", ch, r, c)
    assert field.activation > 0
    rows, cols = np.nonzero(field.weights)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == \
        (field.box.top, field.box.bottom, field.box.left, field.box.right) == (r, r + 5, c, c + 5)


@pytest.mark.parametrize("arch", ["lenet", "digitnet"])
def test_unit_gradient_stays_inside_its_receptive_field(arch, shipped, digits):
    ex = explain.Explainer(arch, shipped[arch].state)
    image = digits[0][1]
    with torch.no_grad():
        feats = ex.model.forward_features(torch.from_numpy(image)[None, None])[1]
    for name in LAYER_SPECS[arch]:
        fmap = feats[name][0]
        ch, r, c = np.unravel_index(int(fmap.argmax()), fmap.shape)
        field = ex.unit_field(image, name, ch, r, c)
        b = field.box
        outside = field.weights.copy()
        outside[b.top:b.bottom, b.left:b.right] = 0
        assert outside.max() == 0, name
        assert field.weights.max() == pytest.approx(1.0), name  # an active unit has a gradient


def test_dense_has_no_feature_maps():
    with pytest.raises(explain.NoFeatureMaps, match="no feature maps: a dense net has no 2-D layers"):
        explain.receptive_field("dense", "fc1", 0, 0)
    assert explain.receptive_field_sizes("dense") == {}


@pytest.mark.parametrize("arch", ["digitnet", "lenet", "dense"])
def test_why_maps_have_the_image_shape(arch, shipped, digits):
    ex = explain.Explainer(arch, shipped[arch].state)
    why = ex.why(digits[0][2])
    assert why.occlusion.shape == why.saliency.shape == (28, 28)
    assert 0 <= why.target <= 9 and 0 < why.prob <= 1
    assert why.saliency.max() == pytest.approx(1.0) and why.saliency.min() >= 0
    plain = ex.saliency(digits[0][2], why.target, times_input=False)
    assert plain.shape == (28, 28) and plain[digits[0][2] == 0].max() > 0
    assert np.isfinite(why.occlusion).all()


def test_batched_occlusion_equals_one_forward_per_patch(shipped, digits):
    ex = explain.Explainer("digitnet", shipped["digitnet"].state)
    image = digits[0][3]
    target, prob, heat = ex.occlusion(image)
    x = torch.from_numpy(image)[None, None]
    with torch.no_grad():
        base = torch.softmax(ex.model(x), 1)[0, target]
        total = torch.zeros(28, 28)
        for m in ex.masks:
            p = torch.softmax(ex.model(x * (1 - m)), 1)[0, target]
            total += (base - p) * m
    np.testing.assert_allclose(heat, (total / ex.masks.sum(0)).numpy(), atol=2e-4)
    assert prob == pytest.approx(float(base), abs=1e-4)


def _grow(mask, steps):
    for _ in range(steps):
        m = mask.copy()
        m[1:] |= mask[:-1]; m[:-1] |= mask[1:]; m[:, 1:] |= mask[:, :-1]; m[:, :-1] |= mask[:, 1:]
        mask = m
    return mask


@pytest.mark.parametrize("arch", ["digitnet", "lenet"])
def test_most_important_region_lies_on_the_ink(arch, shipped, digits):
    """What a why-map must show, whatever the weights: the drawing matters more than the paper.

    Every bound is a comparison with what a map that ignored the drawing would score (chance,
    the paper's own importance, no agreement), not a number fitted to one trained model.
    """
    ex = explain.Explainer(arch, shipped[arch].state)
    checked, agreement, on_ink = 0, [], []
    for image, label in zip(*digits):
        why = ex.why(image)  # explains what the model reads
        if why.target != int(label):
            continue  # a misread glyph: its map explains the wrong digit
        checked += 1
        ink = image > 0.3
        # the 40 most important pixels (5 %) on the stroke or within 2 px of it (the map is
        # smooth: 7 px patches light a loop's hole or a stroke's rim too), against the share
        # of the field that grown ink covers: what a map blind to the ink would score
        near = _grow(ink, 2)
        top = np.argsort(why.occlusion.ravel())[-40:]
        on_ink.append(near.ravel()[top].mean())
        assert on_ink[-1] > near.mean(), (int(label), on_ink[-1], near.mean())
        # covering ink costs the model more confidence than covering paper
        assert why.occlusion[ink].mean() > why.occlusion[~ink].mean(), int(label)
        # gradient x input is zero wherever nothing is drawn, and lights the drawing
        assert why.saliency[image == 0].max() == 0 and why.saliency[image > 0].max() > 0
        # smoothed to the occlusion's patch size it agrees with occlusion, a method that
        # shares nothing with it: positively correlated
        smooth = F.avg_pool2d(torch.from_numpy(why.saliency)[None, None], 7, 1, 3,
                              count_include_pad=False)[0, 0].numpy()
        agreement.append(np.corrcoef(smooth.ravel(), why.occlusion.ravel())[0, 1])
    assert checked > len(digits[1]) / 2  # the model reads most of these digits
    assert np.mean(np.array(agreement) > 0) > 0.5, agreement  # most maps agree
    assert np.median(on_ink) > 0.5, on_ink  # most top pixels of most maps lie on the drawing


def test_permutation_round_trip_numpy_and_torch(digits):
    perm = permutation.pixel_permutation(seed=3)
    assert sorted(perm.tolist()) == list(range(784))
    assert np.array_equal(perm, permutation.pixel_permutation(seed=3))
    assert not np.array_equal(perm, permutation.pixel_permutation(seed=4))
    images = digits[0][:5]
    shuffled = permutation.permute_pixels(images, perm)
    assert shuffled.shape == images.shape and not np.array_equal(shuffled, images)
    assert np.array_equal(np.sort(shuffled.ravel()), np.sort(images.ravel()))
    assert np.array_equal(permutation.unpermute_pixels(shuffled, perm), images)
    t = torch.from_numpy(images)[:, None]
    assert torch.equal(permutation.permute_pixels(t, perm)[:, 0], torch.from_numpy(shuffled))
    assert torch.equal(permutation.unpermute_pixels(permutation.permute_pixels(t, perm), perm), t)
    # pixel i of the permuted image comes from position perm[i]
    assert shuffled[0].ravel()[10] == images[0].ravel()[perm[10]]


def test_integer_shifts_are_exact(digits):
    image = digits[0][4]
    right = np.zeros_like(image)
    right[:, 3:] = image[:, :-3]
    np.testing.assert_allclose(explain.transform_image(image, dx=3), right, atol=1e-5)
    up = np.zeros_like(image)
    up[:-2] = image[2:]
    np.testing.assert_allclose(explain.transform_image(image, dy=-2), up, atol=1e-5)
    np.testing.assert_allclose(explain.transform_image(image, angle=0, scale=1), image, atol=1e-5)


def test_rotation_and_scale_move_ink_as_expected():
    image = np.zeros((28, 28), np.float32)
    image[4:10, 13:15] = 1.0  # a bar above the centre
    turned = explain.transform_image(image, angle=90)
    rows, cols = np.nonzero(turned > 0.5)
    # counter-clockwise: the top of the picture goes to the left
    assert cols.mean() < 12 and abs(rows.mean() - 13.5) < 1.5
    small = explain.transform_image(image, scale=0.5)
    assert (small > 0.1).sum() < (image > 0.1).sum()


def test_shift_test_reports_each_models_confidence(shipped, digits):
    models = {a: shipped[a].build() for a in ("dense", "lenet", "digitnet")}
    image, label = digits[0][5], int(digits[1][5])
    curves = explain.shift_test(models, image, label, "shift x")
    assert list(curves.confidence) == ["dense", "lenet", "digitnet"]
    assert curves.images.shape == (len(curves.values), 28, 28)
    zero = int(np.flatnonzero(curves.values == 0)[0])
    for name, conf in curves.confidence.items():
        assert conf.shape == curves.values.shape and ((conf >= 0) & (conf <= 1)).all()
        with torch.no_grad():
            p = torch.softmax(models[name](torch.from_numpy(image)[None, None]), 1)[0, label]
        assert conf[zero] == pytest.approx(float(p), abs=1e-4)
    # the lesson's argument: far shifted, dense collapses more than the conv nets
    far = np.abs(curves.values) >= 6
    assert curves.confidence["dense"][far].mean() < curves.confidence["digitnet"][far].mean()
