"""The models shipped in resources/ hold their promised accuracy on the real MNIST test set,
measured by the same code as `digitpad eval`, and their files record that number honestly."""

import pytest

from digitpad.cli import measure
from digitpad.core.nets.checkpoint import load_checkpoint, shipped_model_path

pytestmark = pytest.mark.mnist

PROMISED = {"lenet": 0.993, "digitnet": 0.996}


def shipped_or_skip(arch: str):
    path = shipped_model_path(arch)
    if not path.is_file():
        pytest.skip(f"{path} does not exist yet (scripts/train_shipped.py writes it)")
    return path


@pytest.mark.timeout(300)  # scores the full test set: minutes on a loaded 2-core machine
@pytest.mark.parametrize("arch", sorted(PROMISED))
def test_shipped_model_accuracy(shared_mnist, arch):
    path = shipped_or_skip(arch)
    ckpt, report, _images = measure(arch, shared_mnist)  # the shipped name, as `digitpad eval lenet`
    assert ckpt.path == path and ckpt.arch == arch
    assert report.n == 10_000
    assert report.accuracy >= PROMISED[arch], f"{arch}: {report.accuracy:.4%}"
    assert ckpt.test_acc is not None, "the file does not record its test accuracy"
    assert abs(report.accuracy - ckpt.test_acc) <= 1e-4, (report.accuracy, ckpt.test_acc)


@pytest.mark.parametrize("arch", ["lenet", "dense", "digitnet"])
def test_shipped_file_metadata(arch):
    path = shipped_or_skip(arch)
    ckpt = load_checkpoint(path)
    assert ckpt.arch == arch
    for key in ("test_acc", "epochs", "config", "history", "digitpad_version", "created"):
        assert ckpt.meta.get(key) is not None, key
    config = ckpt.meta["config"]
    assert config["model"] == arch
    if "val_size" not in config:
        pytest.skip(f"{path.name} was trained before the validation split and the synthesised "
                    "styles: retrain it with scripts/train_shipped.py")
    # the epoch was chosen on a validation split, and the history is that split's
    assert config["val_size"] == 5000 and ckpt.meta.get("val_acc") is not None
    assert ckpt.meta["val_acc"] == pytest.approx(max(ckpt.meta["history"]["val_acc"]), abs=1e-5)
    synth = ckpt.meta.get("synth")
    if arch == "dense":  # the lesson's baseline learns from MNIST alone
        assert synth is None and config["synth_share"] == 0
    else:
        assert 0 < config["synth_share"] == synth["share"] < 1 and synth["styles"]
        assert ckpt.meta["style_val"]["per_style"].keys() == set(synth["styles"])
