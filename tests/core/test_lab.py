"""The convolution lab against independent numpy loops (no torch in the reference)."""

import numpy as np
import pytest

from digitpad.core.insight import lab
from digitpad.core.nets.models import create_model
from digitpad.core.nets.spec import feature_shapes


def np_correlate(image, kernel, pad=0, stride=1):
    """Textbook cross-correlation, written out as loops."""
    img = np.pad(np.asarray(image, float), pad)
    kh, kw = kernel.shape
    oh = (img.shape[0] - kh) // stride + 1
    ow = (img.shape[1] - kw) // stride + 1
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            s = 0.0
            for a in range(kh):
                for b in range(kw):
                    s += img[i * stride + a, j * stride + b] * kernel[a, b]
            out[i, j] = s
    return out


def np_convolve(image, kernel, pad=0, stride=1):
    """The lesson's formula: out[i,j] = sum_ab image[i+a, j+b] * kernel[kh-1-a, kw-1-b]."""
    img = np.pad(np.asarray(image, float), pad)
    kh, kw = kernel.shape
    oh = (img.shape[0] - kh) // stride + 1
    ow = (img.shape[1] - kw) // stride + 1
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = sum(img[i * stride + a, j * stride + b] * kernel[kh - 1 - a, kw - 1 - b]
                            for a in range(kh) for b in range(kw))
    return out


def np_maxpool(image, k, stride, pad=0):
    img = np.pad(np.asarray(image, float), pad, constant_values=-np.inf)
    oh = (img.shape[0] - k) // stride + 1
    ow = (img.shape[1] - k) // stride + 1
    return np.array([[max(img[i * stride + a, j * stride + b] for a in range(k) for b in range(k))
                      for j in range(ow)] for i in range(oh)])


def test_worked_example_cross_correlation_is_computed():
    res = lab.correlate_steps(lab.WORKED_IMAGE, lab.WORKED_KERNEL)
    expected = np_correlate(np.arange(9).reshape(3, 3), np.array([[0, 1], [2, 3]]))
    np.testing.assert_array_equal(res.output, expected)
    assert res.kind == "cross-correlation" and len(res.steps) == 4
    first = res.steps[0]
    assert (first.top, first.left) == (0, 0)
    np.testing.assert_array_equal(first.patch, [[0, 1], [3, 4]])
    np.testing.assert_array_equal(first.products, [[0, 1], [6, 12]])
    assert first.products.sum() == first.value == expected[0, 0]
    assert first.formula == f"0·0 + 1·1 + 3·2 + 4·3 = {int(expected[0, 0])}"


def test_worked_example_true_convolution_flips_the_kernel():
    res = lab.correlate_steps(lab.WORKED_IMAGE, lab.WORKED_KERNEL, flip=True)
    expected = np_convolve(np.arange(9).reshape(3, 3), np.array([[0, 1], [2, 3]]))
    np.testing.assert_array_equal(res.output, expected)
    np.testing.assert_array_equal(res.kernel, [[3, 2], [1, 0]])
    plain = lab.correlate_steps(lab.WORKED_IMAGE, lab.WORKED_KERNEL)
    assert not np.array_equal(res.output, plain.output)


def test_worked_max_pool_two_by_two_stride_one():
    res = lab.pool_steps(lab.WORKED_IMAGE, 2, stride=1)
    np.testing.assert_array_equal(res.output, np_maxpool(np.arange(9).reshape(3, 3), 2, 1))
    assert [s.value for s in res.steps] == [s.patch.max() for s in res.steps]
    assert res.steps[0].formula == f"max(0, 1, 3, 4) = {int(res.output[0, 0])}"


@pytest.mark.parametrize("shape, k, pad, stride", [
    ((5, 5), (3, 3), 0, 1), ((5, 5), (3, 3), 1, 1), ((6, 7), (3, 3), 1, 2),
    ((7, 5), (2, 3), 2, 3), ((4, 4), (4, 4), 0, 1), ((8, 8), (5, 5), 2, 2)])
@pytest.mark.parametrize("flip", [False, True])
def test_sliding_matches_numpy_with_padding_and_stride(shape, k, pad, stride, flip):
    rng = np.random.default_rng(sum(shape) + pad * 7 + stride)
    image = rng.normal(size=shape).astype(np.float32)
    kernel = rng.normal(size=k).astype(np.float32)
    res = lab.correlate_steps(image, kernel, padding=pad, stride=stride, flip=flip)
    ref = (np_convolve if flip else np_correlate)(image, kernel, pad, stride)
    np.testing.assert_allclose(res.output, ref, rtol=1e-5, atol=1e-5)
    assert len(res.steps) == ref.size
    assert res.padded.shape == (shape[0] + 2 * pad, shape[1] + 2 * pad)
    for step in res.steps:
        assert (step.top, step.left) == (step.row * stride, step.col * stride)
        np.testing.assert_allclose(step.products.sum(), ref[step.row, step.col], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("k, stride, pad", [(2, 2, 0), (3, 1, 1), (3, 2, 1), (2, 1, 1)])
def test_pool_matches_numpy(k, stride, pad):
    image = np.random.default_rng(k * 10 + stride).normal(size=(7, 6)).astype(np.float32)
    res = lab.pool_steps(image, k, stride, pad)
    np.testing.assert_array_equal(res.output, np_maxpool(image, k, stride, pad).astype(np.float32))


def test_bad_windows_are_refused_in_words():
    with pytest.raises(ValueError, match="does not fit"):
        lab.correlate_steps(np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="half"):
        lab.pool_steps(np.zeros((4, 4)), 2, padding=2)
    with pytest.raises(ValueError):
        lab.correlate_steps(np.zeros((3, 3)), np.zeros(3))


def size_formula(n, k, p, s):
    return (n + 2 * p - k) // s + 1


def test_size_presets_are_the_lessons_numbers():
    h, w, layers = lab.SIZE_PRESETS["7x7 kernel on a 640x480 photo"]
    assert lab.chain_sizes(h, w, layers)[-1][1:] == (474, 634)
    h, w, layers = lab.SIZE_PRESETS["3x3 conv then 2x2 pool on 28x28"]
    assert [r[1] for r in lab.chain_sizes(h, w, layers)] == [28, 26, 13]


@pytest.mark.parametrize("arch, preset", [("lenet", "LeNet"), ("digitnet", "digitnet")])
def test_size_presets_match_the_models_own_maps(arch, preset):
    h, w, layers = lab.SIZE_PRESETS[preset]
    rows = lab.chain_sizes(h, w, layers)[1:]
    maps = [shape for name, shape in feature_shapes(arch).items() if len(shape) == 3]
    assert [(r[1], r[2]) for r in rows] == [s[1:] for s in maps]
    n = 28
    for layer, row in zip(layers, rows):
        n = size_formula(n, layer.k, layer.pad, layer.stride)
        assert row[1] == n


def test_chain_names_the_layer_that_does_not_fit():
    with pytest.raises(ValueError, match="conv 5x5"):
        lab.chain_sizes(6, 6, [lab.SizeLayer("pool", 2, 0, 2), lab.SizeLayer("conv", 5)])


def test_lenet_parameter_count_per_layer_and_total():
    rows = lab.lenet_parameters()
    model = create_model("lenet")
    for name, _, count in rows:
        layer = getattr(model, name)
        assert count == sum(p.numel() for p in layer.parameters()), name
    assert sum(r[2] for r in rows) == 44_426 == sum(p.numel() for p in model.parameters())


def test_kernel_presets_and_filter_image():
    for size in (3, 5):
        presets = lab.kernel_presets(size)
        assert set(presets) == {"box blur", "sharpen", "sobel x", "sobel y"}
        assert all(k.shape == (size, size) for k in presets.values())
        np.testing.assert_allclose(presets["box blur"].sum(), 1.0, rtol=1e-6)
    image = np.zeros((9, 9), np.float32)
    image[:, 5:] = 1.0  # a vertical edge
    k = lab.kernel_presets(3)["sobel x"]
    out = lab.filter_image(image, k)
    assert out.shape == image.shape
    np.testing.assert_allclose(out[1:-1, 1:-1], np_correlate(image, k)[:, :], atol=1e-6)
    assert np.abs(out[1:-1, 4:6]).min() > 0 and np.abs(out[1:-1, :3]).max() == 0


def test_filter_image_is_torch_conv2d_with_same_padding():
    """The Lab's live filter runs in numpy (on the GUI thread): it must be conv2d's answer."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(3)
    for kh, kw, h, w in ((3, 3, 28, 28), (5, 5, 28, 28), (3, 5, 11, 17), (1, 1, 4, 6)):
        image = rng.random((h, w), dtype=np.float32)
        kernel = rng.normal(size=(kh, kw)).astype(np.float32)
        want = F.conv2d(torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None],
                        padding=(kh // 2, kw // 2))[0, 0].numpy()
        got = lab.filter_image(image, kernel)
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-5)
        np.testing.assert_allclose(lab.filter_image(image, kernel, same=False),
                                   F.conv2d(torch.from_numpy(image)[None, None],
                                            torch.from_numpy(kernel)[None, None])[0, 0].numpy(),
                                   atol=1e-5)
