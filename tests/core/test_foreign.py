"""A user's own network: the lesson's NeuralNetwork saved as a state dict, opened everywhere."""

import json
import pickle

import pytest
import torch
from torch import nn

from digitpad import cli
from digitpad.core.nets.builder import build_checkpoint
from digitpad.core.nets.checkpoint import CheckpointError, load_checkpoint
from digitpad.core.data.mnist import load_split, to_float_images
from lesson_network import NeuralNetwork, train_lesson_model


@pytest.fixture(scope="module")
def lesson(tiny_mnist, tmp_path_factory):
    model = train_lesson_model(tiny_mnist)
    path = tmp_path_factory.mktemp("lesson") / "model.pth"
    torch.save(model.state_dict(), path)  # as the lesson saves it
    return model, path


def _test_images(root):
    x, y = load_split(root, train=False)
    return to_float_images(x), y


def test_lesson_state_dict_is_lenet_fed_totensor(lesson, tiny_mnist):
    model, path = lesson
    ckpt = load_checkpoint(path, data_dir=tiny_mnist)
    assert ckpt.arch == "lenet" and ckpt.meta["input"] == "totensor"
    assert set(ckpt.meta["input_scores"]) >= {"totensor", "normalised", "0-255", "totensor-dark"}
    x, _ = _test_images(tiny_mnist)
    with torch.no_grad():
        assert torch.allclose(build_checkpoint(ckpt).logits(x), model(x), atol=1e-4)


def test_cli_info_eval_predict(lesson, tiny_mnist, tmp_path, capsys):
    model, path = lesson
    assert cli.main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["arch"] == "lenet" and info["foreign"] == "pytorch state dict"
    assert info["input"] in info["input_scores"]
    assert cli.main(["eval", str(path), "--data", str(tiny_mnist), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    x, y = _test_images(tiny_mnist)
    with torch.no_grad():
        true_acc = float((model(x).argmax(1) == y).float().mean())
    assert abs(doc["accuracy"] - true_acc) <= 0.005 and doc["input"] == "totensor"
    # --input overrides the scored choice: ink dark reads these images badly
    assert cli.main(["eval", str(path), "--data", str(tiny_mnist), "--json",
                     "--input", "totensor-dark"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] < true_acc - 0.2
    from PIL import Image
    img = tmp_path / "d.png"
    Image.fromarray(load_split(tiny_mnist, train=False)[0][0].numpy()).save(img)
    assert cli.main(["predict", str(img), "--model", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["digit"] in range(10)


def test_variants_sequential_prefix_wrapper(lesson, tmp_path, tiny_mnist):
    model, _ = lesson
    seq = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 120), nn.ReLU(),
                        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    for dst, src in zip([m for m in seq if hasattr(m, "weight")],
                        [model.conv1, model.conv2, model.fc1, model.fc2, model.fc3]):
        dst.load_state_dict(src.state_dict())
    x, _ = _test_images(tiny_mnist)
    cases = {"seq.pt": seq.state_dict(),
             "dp.pth": {f"module.{k}": v for k, v in model.state_dict().items()},
             "ck.pth": {"epoch": 3, "model_state_dict": {f"model.{k}": v
                                                         for k, v in model.state_dict().items()}}}
    for name, obj in cases.items():
        torch.save(obj, tmp_path / name)
        ckpt = load_checkpoint(tmp_path / name, data_dir=tiny_mnist)
        with torch.no_grad():
            assert torch.allclose(build_checkpoint(ckpt).logits(x), model(x), atol=1e-4), name


class _Booby:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_refusals(tmp_path, lesson):
    marker = tmp_path / "PWNED"
    torch.save({"w": torch.zeros(2), "evil": _Booby(str(marker))}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="state_dict") as err:
        load_checkpoint(tmp_path / "evil.pth")
    assert err.value.kind == "pickle" and not marker.exists()
    torch.save(NeuralNetwork(), tmp_path / "whole.pth")  # torch.save(model)
    with pytest.raises(CheckpointError, match="torch.save\\(model.state_dict"):
        load_checkpoint(tmp_path / "whole.pth")
    torch.save({"enc.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"enc.weight\[3, 3\].*matches none.*lenet") as err:
        load_checkpoint(tmp_path / "other.pth")
    assert "\n" not in str(err.value)
    state = dict(lesson[0].state_dict())
    state["fc1.weight"] = state["fc1.weight"].clone()
    state["fc1.weight"][0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pth")
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(tmp_path / "nan.pth")
    state = dict(lesson[0].state_dict(), **{"fc1.weight": torch.zeros(120, 255)})
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match="matches none"):
        load_checkpoint(tmp_path / "shape.pth")
    (tmp_path / "trunc.pth").write_bytes((tmp_path / "shape.pth").read_bytes()[:500])
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(tmp_path / "trunc.pth")
    (tmp_path / "p.pth").write_bytes(pickle.dumps(_Booby(str(marker))))
    with pytest.raises(CheckpointError, match="torch.save\\(model.state_dict"):
        load_checkpoint(tmp_path / "p.pth")
    (tmp_path / "p.safetensors").write_bytes(pickle.dumps(_Booby(str(marker))))
    with pytest.raises(CheckpointError, match="never as code"):
        load_checkpoint(tmp_path / "p.safetensors")
    assert not marker.exists()
    torch.jit.save(torch.jit.script(NeuralNetwork()), str(tmp_path / "script.pt"))
    with pytest.raises(CheckpointError, match="TorchScript.*torch.save\\(model.state_dict") as err:
        load_checkpoint(tmp_path / "script.pt")
    assert err.value.kind == "pickle"
    (tmp_path / "k.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(CheckpointError, match="Keras.*ONNX"):
        load_checkpoint(tmp_path / "k.h5")


# --- ONNX -------------------------------------------------------------------------------------

class OtherCNN(nn.Module):
    """A different CNN: batch norm, average pooling, other layer names; it normalises its
    ToTensor input itself, as many notebooks' models do."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.AvgPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.features((x - 0.1307) / 0.3081), 1))


@pytest.fixture(scope="module")
def onnx_file(tiny_mnist, tmp_path_factory):
    import torch.nn.functional as F

    torch.manual_seed(0)
    x, y = load_split(tiny_mnist, train=True)
    x = to_float_images(x)
    model = OtherCNN()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(80):
        i = torch.randint(0, len(x), (64,))
        loss = F.cross_entropy(model(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    path = tmp_path_factory.mktemp("onnx") / "other.onnx"
    # eval() first: export restores the wrapper's mode onto every submodule
    wrapped = nn.Sequential(model).eval()
    torch.onnx.export(wrapped, torch.zeros(1, 1, 28, 28), str(path), dynamo=False,
                      input_names=["img"], dynamic_axes={"img": {0: "n"}})
    return model, path


def test_onnx_info_eval_predict_and_maps(onnx_file, tiny_mnist, tmp_path, capsys):
    from digitpad.core.reading.predict import open_predictor

    model, path = onnx_file
    x, y = _test_images(tiny_mnist)
    p = open_predictor(path, data_dir=tiny_mnist)
    # the model normalises itself, so it reads ToTensor input (0-255 or -1..1 would be worse)
    assert p.meta["input"] == "totensor", p.meta["input_scores"]
    with torch.no_grad():
        ref = torch.softmax(model(x), 1).numpy()
    assert abs(p.probs_batch(x[:, 0].numpy()) - ref).max() < 1e-4
    pred = p.predict(load_split(tiny_mnist, train=False)[0][0].numpy())
    assert [m.ndim for m in pred.maps.values()] == [3, 3, 3, 3]
    assert any("AveragePool" in k for k in pred.maps) and len(p.kernels()) == 2
    assert cli.main(["eval", str(path), "--data", str(tiny_mnist), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    true_acc = float((ref.argmax(1) == y.numpy()).mean())
    assert abs(doc["accuracy"] - true_acc) <= 0.005
    assert cli.main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["arch"] == "onnx" and info["parameters"] > 1000 and info["layout"] == "nchw"


def test_onnx_refusals(onnx_file, tmp_path):
    import onnx
    from onnx import helper

    from digitpad.core.reading.onnx_predict import open_onnx

    _, path = onnx_file
    good = onnx.load(str(path))
    (tmp_path / "trunc.onnx").write_bytes(path.read_bytes()[:300])
    (tmp_path / "junk.onnx").write_bytes(b"\x0a\xff\xff\xff\xff\x0f" + b"\x00" * 100)
    custom = onnx.load(str(path))
    custom.graph.node[0].domain = "com.evil"
    custom.opset_import.append(helper.make_opsetid("com.evil", 1))
    onnx.save(custom, str(tmp_path / "custom.onnx"))
    external = onnx.load(str(path))
    init = external.graph.initializer[0]
    init.data_location = onnx.TensorProto.EXTERNAL
    init.external_data.add(key="location", value="../../etc/passwd")
    init.ClearField("raw_data")
    onnx.save(external, str(tmp_path / "external.onnx"))
    huge = onnx.load(str(path))
    big = huge.graph.initializer[0]
    del big.dims[:]
    big.dims.extend([1024, 1024, 1024])  # declares a 4 GB tensor, holds a few bytes
    onnx.save(huge, str(tmp_path / "huge.onnx"))
    many = helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["x" if i == 0 else f"t{i-1}"], [f"t{i}"]) for i in range(100_000)],
        "many", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("t99999", onnx.TensorProto.FLOAT, [1, 1, 28, 28])]))
    onnx.save(many, str(tmp_path / "many.onnx"))
    expected = {"trunc": "damaged", "junk": "damaged|empty", "custom": "custom operators",
                "external": "external files", "huge": "declares", "many": "nodes"}
    for name, words in expected.items():
        with pytest.raises(CheckpointError, match=words) as err:
            open_onnx(tmp_path / f"{name}.onnx", input="totensor")
        assert "\n" not in str(err.value)
    assert good.graph.node  # the original is untouched


def _keras_style_onnx(model, path):
    """The lesson's weights in a graph as a Keras export writes it: one image (28, 28, 1) with
    no batch axis, 0-255 pixels, softmax probabilities out; built node by node."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(t.detach().numpy().astype("float32"), name)
             for name, t in model.state_dict().items()]
    inits += [numpy_helper.from_array(torch.tensor(1 / 255.0).numpy(), "scale"),
              numpy_helper.from_array(torch.tensor([0]).numpy(), "axis0"),
              numpy_helper.from_array(torch.tensor([10]).numpy(), "ten")]
    nodes = [
        helper.make_node("Mul", ["pixels", "scale"], ["x01"], name="rescaling"),
        helper.make_node("Transpose", ["x01"], ["chw"], perm=[2, 0, 1], name="to_chw"),
        helper.make_node("Unsqueeze", ["chw", "axis0"], ["nchw"], name="batch"),
        helper.make_node("Conv", ["nchw", "conv1.weight", "conv1.bias"], ["c1"], name="k_conv_a"),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="k_pool_a"),
        helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], name="k_conv_b"),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2], name="k_pool_b"),
        helper.make_node("Flatten", ["p2"], ["f"]),
        helper.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["h1"], transB=1),
        helper.make_node("Relu", ["h1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "fc2.weight", "fc2.bias"], ["h2"], transB=1),
        helper.make_node("Relu", ["h2"], ["a2"]),
        helper.make_node("Gemm", ["a2", "fc3.weight", "fc3.bias"], ["h3"], transB=1),
        helper.make_node("Softmax", ["h3"], ["sm"], axis=-1),
        helper.make_node("Reshape", ["sm", "ten"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes, "keras_like", [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [28, 28, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [10])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_onnx_nhwc_no_batch_axis_0_255_softmax(lesson, tiny_mnist, tmp_path, capsys):
    from digitpad.core.reading.predict import open_predictor

    model, _ = lesson
    path = tmp_path / "keras.onnx"
    _keras_style_onnx(model, path)
    p = open_predictor(path, data_dir=tiny_mnist)
    assert p.layout == "hwc" and p.meta["input"] == "0-255", p.meta["input_scores"]
    x, y = _test_images(tiny_mnist)
    with torch.no_grad():
        ref = torch.softmax(model(x), 1).numpy()
    assert abs(p.probs_batch(x[:, 0].numpy()) - ref).max() < 1e-4
    pred = p.predict(load_split(tiny_mnist, train=False)[0][0].numpy())
    # every Conv and pool, by its node's name, shaped (C, H, W)
    assert {k: v.shape for k, v in pred.maps.items()} == {
        "k_conv_a": (6, 24, 24), "k_pool_a": (6, 12, 12), "k_conv_b": (16, 8, 8), "k_pool_b": (16, 4, 4)}
    assert list(p.kernels()) == ["k_conv_a", "k_conv_b"]
    assert cli.main(["eval", str(path), "--data", str(tiny_mnist), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert abs(doc["accuracy"] - float((ref.argmax(1) == y.numpy()).mean())) <= 0.005
    assert doc["input"] == "0-255"


def test_input_choice_remembered_by_content(lesson, tiny_mnist, tmp_path, monkeypatch):
    from digitpad.core.nets import foreign
    from digitpad.core.nets.input_memory import RECORD
    from digitpad.core.io.paths import app_data_dir

    _, path = lesson
    first = load_checkpoint(path, data_dir=tiny_mnist)
    assert (app_data_dir() / RECORD).is_file()
    copy = tmp_path / "renamed.pt"
    copy.write_bytes(path.read_bytes())

    def no_scoring(*a, **k):
        raise AssertionError("scored again")

    monkeypatch.setattr(foreign, "detect_input", no_scoring)
    again = load_checkpoint(copy, data_dir=tiny_mnist)  # same content, other name: not scored
    assert again.meta["input"] == first.meta["input"] == "totensor"
    assert again.meta["input_scores"] == first.meta["input_scores"]
    foreign.choose_input(again.meta, "0-255")  # the app's Input box
    third = load_checkpoint(path, data_dir=tiny_mnist)
    assert third.meta["input"] == "0-255" and third.meta["input_chosen"] == "by you"
    assert "0-255" in foreign.input_summary(third.meta) and "by you" in foreign.input_summary(third.meta)
    (app_data_dir() / RECORD).write_text("{not json")  # a damaged record: scored again, no error
    monkeypatch.undo()
    assert load_checkpoint(path, data_dir=tiny_mnist).meta["input"] == "totensor"


def test_ten_gigabyte_declared_tensor_is_refused(lesson, tmp_path):
    import resource

    state = dict(lesson[0].state_dict())
    # 2.5e9 float32 values declared (10 GB), 4 bytes stored: a stride-0 view
    state["fc1.weight"] = torch.zeros(1).expand(50_000, 50_000)
    torch.save(state, tmp_path / "huge.pth")
    assert (tmp_path / "huge.pth").stat().st_size < 1_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="more than any digit model needs"):
        load_checkpoint(tmp_path / "huge.pth")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # kB: no 10 GB
