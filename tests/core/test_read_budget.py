"""A memory budget for reading (issue 15, failure 5): predict and teach decode one image at a
time and keep only a working-size copy, so what they hold does not grow with the files'
resolution; an image over the pixel cap gets digitpad's own message, not PIL's warning."""

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitpad import cli
from digitpad.core.data.preprocess import (MAX_IMAGE_PIXELS, WORKING_SIDE, ImageError,
                                           load_image)
from digitpad.core.data.samples import read_folder

# trains or starts digitpad in child processes: minutes on a loaded 2-core machine
pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
SIDE = 3000  # decoded as RGB: 27 MB of numpy each, if anything kept it whole
FULL_BYTES = SIDE * SIDE * 3


def write_big(path, k: int) -> None:
    im = Image.new("RGB", (SIDE, SIDE), "white")
    ImageDraw.Draw(im).ellipse((900 + 40 * k, 500, 2100, 2500), outline="black", width=150)
    im.save(path, compress_level=1)


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big")
    for k in range(3):
        (folder / "0").mkdir(exist_ok=True)
        write_big(folder / "0" / f"zero{k}.png", k)
    return folder


def traced_peak(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_predict_holds_less_than_one_full_image(big_folder, capsys):
    cli.main(["predict", "--model", "lenet", str(big_folder)])  # torch and the model loaded once
    capsys.readouterr()
    rc, peak = traced_peak(lambda: cli.main(["predict", "--model", "lenet", str(big_folder)]))
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0 and len(lines) == 3 and all(ln.endswith("%)") for ln in lines), lines
    # all three kept whole would be 3 x 27 MB; reduced one at a time, less than one
    assert peak < FULL_BYTES, f"peak {peak / 2**20:.1f} MiB"


def test_teach_keeps_only_working_size_copies(big_folder):
    loaded, peak = traced_peak(lambda: read_folder(big_folder))
    assert len(loaded.samples) == 3 and not loaded.problems
    assert all(max(a.shape[:2]) <= WORKING_SIDE for a in loaded.images)
    assert peak < FULL_BYTES, f"peak {peak / 2**20:.1f} MiB"


def test_reduced_images_read_the_same_digit(big_folder, capsys):
    """The working-size copy predicts what the full image predicts."""
    from digitpad.core.reading.predict import Predictor

    pred = Predictor.from_file(cli.resolve_model_path("lenet"))
    for path in sorted((big_folder / "0").iterdir()):
        full, small = load_image(path), load_image(path, max_side=WORKING_SIDE)
        assert max(small.shape[:2]) <= WORKING_SIDE < max(full.shape[:2])
        a, b = pred.predict(full, with_maps=False), pred.predict(small, with_maps=False)
        assert a.digit == b.digit == 0
        assert np.abs(a.probs - b.probs).max() < 0.05


def test_an_image_over_the_pixel_cap_gets_our_message(tmp_path, capsys):
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 100  # just over the cap: PIL would only warn
    path = tmp_path / "huge.png"
    Image.new("1", (side, side), 1).save(path)  # 1-bit: small to write, huge to decode
    with pytest.raises(ImageError, match=r"huge\.png is too large to read: .* megapixels"):
        load_image(path)
    # a child process: its stderr is what a person sees, warnings included
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "digitpad", "predict", "--model", "lenet",
                           str(path)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "too large to read" in proc.stdout
    assert proc.stderr.strip() == "digitpad: 1 of 1 file(s) could not be predicted", proc.stderr


def test_an_image_past_pils_own_refusal_gets_our_message(tmp_path):
    side = int((2 * MAX_IMAGE_PIXELS) ** 0.5) + 100  # PIL raises DecompressionBombError here
    path = tmp_path / "bomb.png"
    Image.new("1", (side, side), 1).save(path)
    with pytest.raises(ImageError, match=r"bomb\.png is too large to read"):
        load_image(path)
