"""Rendered digits 0-9 for tiny, learnable MNIST-like data sets (no download needed)."""

from __future__ import annotations

import numpy as np


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
