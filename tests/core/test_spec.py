"""The architecture spec against the real torch modules: every count, shape and layer list that
is derived from the spec must be what the modules hold and compute."""

import pytest
import torch
from torch import nn

from digitpad.core.insight import explain, lab
from digitpad.core.nets import spec
from digitpad.core.nets.models import count_parameters, create_model

PROMISED = {"lenet": 44_426, "dense": 669_706, "digitnet": 140_458}


@pytest.mark.parametrize("arch", spec.MODEL_NAMES)
def test_parameter_counts_match_the_modules(arch):
    model = create_model(arch)
    assert spec.parameter_count(arch) == count_parameters(model) == PROMISED[arch]
    by_layer = {}
    for name, p in model.named_parameters():
        by_layer[name.split(".")[0]] = by_layer.get(name.split(".")[0], 0) + p.numel()
    assert {layer: n for layer, _, n in spec.parameter_rows(arch)} == by_layer
    assert f"{PROMISED[arch]:,} parameters" in spec.DESCRIPTIONS[arch]


@pytest.mark.parametrize("arch", spec.MODEL_NAMES)
def test_weight_keys_shapes_and_order_match_the_state_dict(arch):
    state = create_model(arch).state_dict()
    assert [(k, tuple(v.shape)) for k, v in state.items()] == list(spec.weight_shapes(arch).items())


@pytest.mark.parametrize("arch", spec.MODEL_NAMES)
def test_feature_shapes_match_a_real_forward_pass(arch):
    _, feats = create_model(arch).eval().forward_features(torch.zeros(2, 1, 28, 28))
    assert [(k, tuple(v.shape[1:])) for k, v in feats.items()] == list(spec.feature_shapes(arch).items())


def _windows_of(model: nn.Module, arch: str) -> list[tuple[str, int, int, int]]:
    """(name, kernel, stride, padding) read off the modules and the pools the forward pass runs."""
    out = []
    for layer in spec.spec(arch).layers:
        if layer.kind == "conv":
            m = getattr(model, layer.name)
            conv = m[0] if isinstance(m, nn.Sequential) else m
            out.append((layer.name, conv.kernel_size[0], conv.stride[0], conv.padding[0]))
        elif layer.kind == "pool":
            out.append((layer.name, layer.kernel, layer.stride, 0))
    return out


@pytest.mark.parametrize("arch", spec.MODEL_NAMES)
def test_explains_layer_list_is_the_modules(arch):
    assert explain.LAYERS[arch] == _windows_of(create_model(arch), arch)
    # and the walk down those layers lands where the real maps are: each map's side follows
    shapes = spec.feature_shapes(arch)
    side = 28
    for name, k, s, p in explain.LAYERS[arch]:
        side = (side + 2 * p - k) // s + 1
        assert shapes[name][1:] == (side, side)


@pytest.mark.parametrize("arch, preset", [("lenet", "LeNet"), ("digitnet", "digitnet")])
def test_lab_chains_and_lenet_table_follow_the_spec(arch, preset):
    h, w, layers = lab.SIZE_PRESETS[preset]
    maps = [s for s in spec.feature_shapes(arch).values() if len(s) == 3]
    assert [(hh, ww) for _, hh, ww in lab.chain_sizes(h, w, layers)[1:]] == [s[1:] for s in maps]
    assert [layer.channels for layer in layers if layer.kind == "conv"] == \
        [m.out_channels for m in create_model(arch).modules() if isinstance(m, nn.Conv2d)]
    rows = lab.lenet_parameters()
    assert [r[0] for r in rows] == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert sum(c for *_, c in rows) == 44_426 and rows[2][1] == "256·120 weights + 120 biases"


def test_an_unknown_name_is_refused_with_the_known_ones():
    with pytest.raises(spec.UnknownModelError, match="lenet, dense, digitnet"):
        spec.feature_shapes("resnet")
    with pytest.raises(spec.UnknownModelError):
        create_model("resnet")
