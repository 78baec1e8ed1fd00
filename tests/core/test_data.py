"""MNIST on disk: reading real IDX files through torchvision, finding the folder, failing clearly."""

import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from digitpad.core.data import mnist as data_mod
from digitpad.core.data.mnist import (DataError, has_mnist, load_mnist, load_split, load_test_set,
                                raw_dir)
from digitpad.core.io.paths import resolve_data_dir
from offline import patch_urlopen


def test_load_mnist_reads_the_idx_files(tiny_mnist):
    d = load_mnist(tiny_mnist)
    assert d.train_x.shape == (300, 1, 28, 28) and d.test_x.shape == (100, 1, 28, 28)
    assert d.train_x.dtype == torch.float32 and d.train_y.dtype == torch.int64
    assert 0.0 <= float(d.train_x.min()) and float(d.train_x.max()) <= 1.0
    assert float(d.train_x.max()) > 0.9  # ink is bright, as in MNIST
    assert sorted(d.train_y.unique().tolist()) == list(range(10))
    assert d.root == Path(tiny_mnist)


def test_labels_survive_the_round_trip(tiny_mnist, tmp_path):
    from synthetic_digits import render_digits

    images, labels = render_digits(100, seed=2)  # how the fixture made its test split
    x, y = load_split(tiny_mnist, train=False)
    assert x.dtype == torch.uint8 and torch.equal(x, torch.from_numpy(images))
    assert y.tolist() == labels.tolist()
    tx, ty = load_test_set(tiny_mnist)
    assert tx.shape == (100, 1, 28, 28) and torch.equal(ty, y)


def test_has_mnist(tiny_mnist, tmp_path):
    assert has_mnist(tiny_mnist)
    assert not has_mnist(tmp_path)
    partial = tmp_path / "partial"
    shutil.copytree(tiny_mnist, partial)
    (raw_dir(partial) / "t10k-labels-idx1-ubyte").unlink()
    assert not has_mnist(partial)


def test_missing_folder_is_a_helpful_error(tmp_path):
    with pytest.raises(DataError) as err:
        load_mnist(tmp_path / "nowhere")
    msg = str(err.value)
    assert "nowhere" in msg and "digitpad download" in msg and "--data" in msg and "DIGITPAD_DATA" in msg


@pytest.mark.parametrize("damage", ["truncated", "bad magic", "wrong count"])
def test_damaged_idx_file_is_a_data_error(tiny_mnist, tmp_path, damage):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_mnist, broken)
    images = raw_dir(broken) / "t10k-images-idx3-ubyte"
    blob = images.read_bytes()
    if damage == "truncated":
        images.write_bytes(blob[: len(blob) // 2])
    elif damage == "bad magic":
        images.write_bytes(b"\x12\x34\x56\x78" + blob[4:])
    else:  # 99 labels for 100 images
        labels = raw_dir(broken) / "t10k-labels-idx1-ubyte"
        lb = labels.read_bytes()
        labels.write_bytes(lb[:4] + (99).to_bytes(4, "big") + lb[8:-1])
    with pytest.raises(DataError):
        load_test_set(broken)


def test_resolve_data_dir_precedence(tmp_path, monkeypatch):
    home = tmp_path / "home"  # the autouse fixture points DIGITPAD_HOME here
    assert resolve_data_dir() == home / "data"
    monkeypatch.setenv("DIGITPAD_DATA", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_data_dir(str(tmp_path / "explicit")) == tmp_path / "explicit"


def test_load_mnist_uses_the_environment_variable(tiny_mnist, monkeypatch):
    monkeypatch.setenv("DIGITPAD_DATA", str(tiny_mnist))
    assert load_mnist().test_x.shape[0] == 100


def test_download_offline_fails_fast_without_network(tmp_path, monkeypatch):
    calls = []

    def offline(req, *args, **kwargs):
        calls.append(getattr(req, "full_url", req))
        raise urllib.error.URLError("Temporary failure in name resolution")

    patch_urlopen(monkeypatch, offline)
    target = tmp_path / "dl"
    with pytest.raises(DataError) as err:
        data_mod.download_mnist(target, timeout=1.0)
    assert calls, "the mirrors were not even tried"
    assert all(str(u).startswith(("http://", "https://")) for u in calls)
    assert "could not be downloaded" in str(err.value)
    assert not has_mnist(target)


def test_download_is_a_no_op_when_present(tiny_mnist, monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("no network access expected")

    patch_urlopen(monkeypatch, forbidden)
    assert data_mod.download_mnist(tiny_mnist) == Path(tiny_mnist)
