"""The lesson's worked examples, recomputed with torch rather than copied from the text."""

import pytest
import torch
import torch.nn.functional as F

from digitpad.core.insight.lab import KERNELS, apply_kernel, lesson_report, output_size
from digitpad.core.nets.models import create_model
from digitpad.core.nets.spec import feature_shapes

IMAGE = torch.arange(9, dtype=torch.float32).reshape(3, 3)  # [[0,1,2],[3,4,5],[6,7,8]]


def test_convolution_worked_example():
    kernel = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    out = F.conv2d(IMAGE[None, None], kernel[None, None])[0, 0]
    assert out.tolist() == [[19.0, 25.0], [37.0, 43.0]]
    assert torch.equal(apply_kernel(IMAGE, kernel), out)


def test_max_pool_stride_one_worked_example():
    out = F.max_pool2d(IMAGE[None, None], kernel_size=2, stride=1)[0, 0]
    assert out.tolist() == [[4.0, 5.0], [7.0, 8.0]]


@pytest.mark.parametrize("in_, k, pad, stride", [
    (640, 7, 0, 1), (480, 7, 0, 1), (28, 3, 0, 1), (26, 2, 0, 2), (28, 5, 2, 1), (28, 3, 1, 2)])
def test_output_size_formula_matches_torch(in_, k, pad, stride):
    x = torch.zeros(1, 1, in_, 8)
    got = F.conv2d(x, torch.zeros(1, 1, k, 1), padding=(pad, 0), stride=(stride, 1)).shape[2]
    assert output_size(in_, k, pad, stride) == got


def test_seven_by_seven_kernel_on_640x480():
    assert (output_size(640, 7), output_size(480, 7)) == (634, 474)
    out = F.conv2d(torch.zeros(1, 1, 480, 640), torch.zeros(1, 1, 7, 7))
    assert tuple(out.shape[2:]) == (474, 634)


def test_conv_then_pool_on_28x28():
    x = torch.rand(1, 1, 28, 28)
    conv = F.conv2d(x, torch.rand(4, 1, 3, 3))
    assert tuple(conv.shape) == (1, 4, 26, 26) and output_size(28, 3) == 26
    pooled = F.max_pool2d(conv, 2)
    assert tuple(pooled.shape) == (1, 4, 13, 13) and output_size(26, 2, stride=2) == 13


def test_output_size_rejects_impossible_windows():
    with pytest.raises(ValueError):
        output_size(2, 3)
    with pytest.raises(ValueError):
        output_size(28, 3, stride=0)


def test_lenet_shapes_follow_the_formula():
    shapes = feature_shapes("lenet")
    s1 = output_size(28, 5)
    p1 = output_size(s1, 2, stride=2)
    s2 = output_size(p1, 5)
    p2 = output_size(s2, 2, stride=2)
    assert (s1, p1, s2, p2) == (24, 12, 8, 4)
    assert shapes["conv1"] == (6, s1, s1) and shapes["pool1"] == (6, p1, p1)
    assert shapes["conv2"] == (16, s2, s2) and shapes["pool2"] == (16, p2, p2)
    assert create_model("lenet").fc1.in_features == 16 * p2 * p2


def test_dense_layer_784_to_512_parameter_count():
    fc1 = create_model("dense").fc1
    assert (fc1.in_features, fc1.out_features) == (28 * 28, 512)
    assert fc1.weight.numel() + fc1.bias.numel() == 401_920 == 28 * 28 * 512 + 512


def test_classic_kernels_do_what_their_names_say():
    step = torch.zeros(5, 5)
    step[:, 3:] = 1.0  # a vertical edge
    assert apply_kernel(step, KERNELS["sobel x"]).abs().sum() > 0
    assert apply_kernel(step, KERNELS["sobel y"]).abs().sum() == 0
    flat = torch.full((4, 4), 0.5)
    assert torch.allclose(apply_kernel(flat, KERNELS["box blur"]), torch.full((2, 2), 0.5))
    assert torch.allclose(apply_kernel(flat, KERNELS["sharpen"]), torch.full((2, 2), 0.5))


def test_worked_examples_for_the_help_page_are_computed_right():
    doc = lesson_report()
    # 0*0 + 1*1 + 3*2 + 4*3 = 19 in the top-left window
    assert doc["cross_correlation"]["output"] == [[19, 25], [37, 43]]
    assert doc["cross_correlation"]["steps"][0] == "0·0 + 1·1 + 3·2 + 4·3 = 19"
    assert doc["max_pool"]["output"] == [[4, 5], [7, 8]]
    photo = doc["output_sizes"]["7x7 kernel on a 640x480 photo"]
    assert (photo[-1]["width"], photo[-1]["height"]) == (634, 474)
    assert [r["width"] for r in doc["output_sizes"]["3x3 conv then 2x2 pool on 28x28"]] == [28, 26, 13]
