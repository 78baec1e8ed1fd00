"""Shared fixtures: a tiny MNIST folder written as real IDX files, and a quiet app home.

The tiny set is rendered glyphs of 0-9 with random shifts, sizes and stroke widths, so it is
learnable (a few training steps lower the loss) yet needs no download and no ../shared/data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def render_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n synthetic 28x28 uint8 digits (white on black, like MNIST) and their labels."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    fonts = {s: ImageFont.load_default(size=s) for s in (18, 20, 22, 24)}
    for i, label in enumerate(labels):
        im = Image.new("L", (28, 28))
        d = ImageDraw.Draw(im)
        size = int(rng.choice(list(fonts)))
        dx, dy = rng.integers(-2, 3, size=2)
        d.text((14 + int(dx), 14 + int(dy)), str(int(label)), fill=255, font=fonts[size],
               anchor="mm", stroke_width=int(rng.integers(0, 2)), stroke_fill=255)
        im = im.filter(ImageFilter.GaussianBlur(0.5))
        images[i] = np.asarray(im)
    return images, labels.astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory) -> Path:
    """A folder laid out like torchvision's MNIST (MNIST/raw/*-ubyte): 300 train, 100 test."""
    from digitpad.core.data import write_mnist_folder

    root = tmp_path_factory.mktemp("tiny_mnist")
    tx, ty = render_digits(300, seed=1)
    vx, vy = render_digits(100, seed=2)
    return write_mnist_folder(root, tx, ty, vx, vy)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own app data dir, so nothing touches the real user's files."""
    monkeypatch.setenv("DIGITPAD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DIGITPAD_DATA", raising=False)


@pytest.fixture
def shared_mnist() -> Path:
    from digitpad.core.data import has_mnist

    if not has_mnist(SHARED_DATA):
        pytest.skip(f"full MNIST not found at {SHARED_DATA}")
    return SHARED_DATA
