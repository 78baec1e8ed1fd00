import pytest
import torch

from digitpad.core.nets.models import count_parameters, create_model
from digitpad.core.nets.spec import MODEL_NAMES, UnknownModelError, feature_shapes


def test_lenet_has_exactly_the_lessons_parameter_count():
    assert count_parameters(create_model("lenet")) == 44_426


def test_dense_baseline_parameter_count():
    assert count_parameters(create_model("dense")) == 669_706


def test_digitnet_fits_in_two_megabytes():
    m = create_model("digitnet")
    nbytes = sum(t.numel() * t.element_size() for t in m.state_dict().values())
    assert nbytes <= 2 * 1024 * 1024


def test_lenet_intermediates_in_order():
    assert list(feature_shapes("lenet").items()) == [
        ("conv1", (6, 24, 24)), ("pool1", (6, 12, 12)), ("conv2", (16, 8, 8)),
        ("pool2", (16, 4, 4)), ("fc1", (120,)), ("fc2", (84,)),
    ]


def test_dense_intermediates():
    assert dict(feature_shapes("dense")) == {"fc1": (512,), "fc2": (512,)}


def test_digitnet_exposes_every_conv_and_pool():
    shapes = feature_shapes("digitnet")
    names = list(shapes)
    assert [n for n in names if n.startswith(("conv", "pool"))] == [
        "conv1", "conv2", "pool1", "conv3", "conv4", "pool2", "conv5"]
    assert shapes["pool1"][1:] == (14, 14) and shapes["pool2"][1:] == (7, 7)


@pytest.mark.parametrize("name", list(MODEL_NAMES))
def test_forward_matches_forward_features(name):
    torch.manual_seed(0)
    m = create_model(name).eval()
    x = torch.rand(3, 1, 28, 28)
    logits, feats = m.forward_features(x)
    assert logits.shape == (3, 10)
    assert torch.allclose(m(x), logits, atol=1e-5)
    assert all(v.shape[0] == 3 for v in feats.values())


def test_conv_maps_are_after_relu():
    m = create_model("lenet").eval()
    _, feats = m.forward_features(torch.rand(2, 1, 28, 28))
    assert all((v >= 0).all() for v in feats.values())


def test_lenet_kernels_match_conv_maps():
    """The kernels the app shows are the ones that made the maps: sliding them by hand over
    the layer's input (plus bias, then ReLU) gives the maps forward_features returns."""
    import torch.nn.functional as F

    from digitpad.core.nets.models import _normalise

    torch.manual_seed(3)
    m = create_model("lenet").eval()
    k = m.conv_kernels()
    assert tuple(k["conv1"].shape) == (6, 1, 5, 5) and tuple(k["conv2"].shape) == (16, 6, 5, 5)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        _, feats = m.forward_features(x)
        conv1 = F.relu(F.conv2d(_normalise(x), k["conv1"], m.conv1.bias))
        conv2 = F.relu(F.conv2d(feats["pool1"], k["conv2"], m.conv2.bias))
    assert torch.allclose(conv1, feats["conv1"], atol=1e-5)
    assert torch.allclose(conv2, feats["conv2"], atol=1e-5)
    # one map by hand: map 4 at (7, 9) is the dot product of kernel 4 with the 5x5 patch
    patch = _normalise(x)[0, 0, 7:12, 9:14]
    by_hand = torch.relu((patch * k["conv1"][4, 0]).sum() + m.conv1.bias[4])
    assert torch.isclose(by_hand, feats["conv1"][0, 4, 7, 9], atol=1e-5)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(UnknownModelError, match="lenet"):
        create_model("resnet")


def test_lenet_cpu_batch_fast_path_matches_the_plain_layers_in_value_and_gradient():
    """Training batches (>= 16 on the CPU) take LeNet's fused conv1+pool path; it must give the
    same logits and the same gradients as the plain layers, on MNIST-like images whose flat
    background makes every 2x2 pool window a tie."""
    from synthetic_digits import render_digits

    torch.manual_seed(0)
    images, labels = render_digits(64, seed=5)
    x = torch.from_numpy(images).float().div(255).unsqueeze(1)
    y = torch.from_numpy(labels).long()
    m = create_model("lenet")

    def grads(fn):
        m.zero_grad()
        out = fn(x)
        torch.nn.functional.cross_entropy(out, y).backward()
        return out.detach(), {k: p.grad.clone() for k, p in m.named_parameters()}

    ref_out, ref = grads(lambda t: m.forward_features(t)[0])
    fast_out, fast = grads(m)
    assert torch.allclose(fast_out, ref_out, atol=1e-5)
    for name in ref:
        scale = ref[name].abs().max().clamp_min(1e-12)
        assert float((fast[name] - ref[name]).abs().max() / scale) < 1e-4, name
