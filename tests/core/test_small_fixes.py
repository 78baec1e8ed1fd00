"""The smaller items of issue 15 (section 12), each through the CLI as a person meets it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitpad import cli
from digitpad.core.data.mnist import DataError, load_mnist, raw_dir
from digitpad.core.data.preprocess import ImageError, load_image
from digitpad.core.nets.checkpoint import load_checkpoint, shipped_model_path

# trains or starts digitpad in child processes: minutes on a loaded 2-core machine
pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]


def float_tiff(path: Path, value=1.0) -> Path:
    a = np.zeros((100, 100), np.float32)
    a[20:80, 45:55] = value  # a bright stroke: a one
    Image.fromarray(a, "F").save(path)
    return path


def test_a_float_tiff_in_0_1_reads_as_intensities(tmp_path, capsys):
    path = float_tiff(tmp_path / "one.tif")
    assert load_image(path).max() == 255
    assert cli.main(["predict", "--model", "lenet", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: 1 ")


def test_a_float_tiff_with_nan_is_a_clean_error_without_numpy_warnings(tmp_path):
    bad = float_tiff(tmp_path / "nan.tif", value=np.nan)
    good = float_tiff(tmp_path / "one.tif")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "digitpad", "predict", "--model", "lenet",
                           str(bad), str(good)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert "nan.tif: error: The image holds NaN or infinite values." in proc.stdout
    assert "RuntimeWarning" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr


def test_a_fifo_named_like_an_image_says_an_image_file(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError) as err:
        load_image(fifo)
    assert "cannot be an image file" in str(err.value) and "a image" not in str(err.value)


def test_train_resume_accepts_a_shipped_name_and_never_writes_resources(tiny_mnist, tmp_path, capsys):
    shipped = Path(shipped_model_path("lenet"))
    before = (shipped.stat().st_mtime_ns, sorted(p.name for p in shipped.parent.iterdir()))
    out = tmp_path / "mine.safetensors"
    rc = cli.main(["train", "--resume", "lenet", "--epochs", "1", "--batch-size", "64",
                   "--device", "cpu", "--data", str(tiny_mnist), "--out", str(out)])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert f"resuming from {shipped}" in printed.out and "fresh schedule" in printed.out
    assert load_checkpoint(out).arch == "lenet"
    assert (shipped.stat().st_mtime_ns, sorted(p.name for p in shipped.parent.iterdir())) == before


def test_a_fifo_in_place_of_an_mnist_file_says_what_it_is(tiny_mnist, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(tiny_mnist, root)
    target = raw_dir(root) / "train-images-idx3-ubyte"
    target.unlink()
    os.mkfifo(target)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte .* is a named pipe \(FIFO\)"):
        load_mnist(root)
    rc = cli.main(["train", "--model", "lenet", "--epochs", "1", "--device", "cpu",
                   "--data", str(root), "--out", str(tmp_path / "m.safetensors")])
    err = capsys.readouterr().err
    assert rc == 1 and "named pipe (FIFO)" in err and "was not found" not in err


def test_eval_needs_only_the_test_files(tiny_mnist, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(tiny_mnist, root)
    train_images = raw_dir(root) / "train-images-idx3-ubyte"
    train_images.write_bytes(train_images.read_bytes()[:1000])  # damaged
    (raw_dir(root) / "train-labels-idx1-ubyte").unlink()  # and gone
    assert cli.main(["eval", "lenet", "--data", str(root)]) == 0
    assert "100 test images" in capsys.readouterr().out
    with pytest.raises(DataError, match="damaged|not found"):  # training still refuses
        load_mnist(root)


def test_a_run_that_learns_nothing_says_so(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "flat.safetensors"
    rc = cli.main(["train", "--model", "lenet", "--epochs", "1", "--lr", "1e-12", "--seed", "0",
                   "--device", "cpu", "--data", str(tiny_mnist), "--out", str(out)])
    printed = capsys.readouterr()
    assert rc == 0 and out.exists()
    warning = [ln for ln in printed.err.splitlines() if "did not learn" in ln]
    assert len(warning) == 1 and "near chance (10 %)" in warning[0] and "1e-12" in warning[0]


def test_a_run_that_learns_gives_no_such_warning(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "ok.safetensors"
    rc = cli.main(["train", "--model", "lenet", "--epochs", "3", "--batch-size", "32", "--lr",
                   "0.01", "--seed", "3", "--device", "cpu", "--data", str(tiny_mnist), "--out",
                   str(out)])
    assert rc == 0 and "did not learn" not in capsys.readouterr().err
