"""A sample that is an MNIST test image opened on the canvas is found; a person's drawing is not."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from digitpad.core.data.overlap import mnist_test_copies
from digitpad.core.data.styles import render_digits


def on_canvas(img: np.ndarray, side: int = 280, dark_on_light: bool = True) -> np.ndarray:
    """What the Draw tab holds after Mistakes' "Open in canvas": the image scaled up, bilinear."""
    big = np.asarray(Image.fromarray(img).resize((side, side), Image.Resampling.BILINEAR)).astype(np.float32)
    return np.rint(250 - 220 * big / 255).astype(np.uint8) if dark_on_light else big.astype(np.uint8)


def test_opened_test_images_are_found_and_other_digits_are_not():
    test_x, _, _ = render_digits(200, seed=21)
    others, _, _ = render_digits(40, seed=22)
    test = torch.from_numpy(test_x).unsqueeze(1).float() / 255
    copies = [on_canvas(test_x[i], side) for i, side in ((0, 280), (7, 392), (150, 200))]
    copies.append(on_canvas(test_x[3], dark_on_light=False))  # either polarity
    assert mnist_test_copies(copies, test) == [True] * 4
    drawn = [on_canvas(o) for o in others]  # digits of the same kind, not in the test set
    assert not any(mnist_test_copies(drawn, test))
    shifted = np.roll(on_canvas(test_x[0]), 30, axis=1)  # moved by three MNIST pixels
    assert mnist_test_copies([shifted], test) == [False]
    wide = np.full((280, 400), 255, np.uint8)
    wide[:, :280] = on_canvas(test_x[0])  # not a square canvas: not an opened test image
    assert mnist_test_copies([wide, np.full((280, 280), 255, np.uint8)], test) == [False, False]
    assert mnist_test_copies([], test) == []


def test_an_opened_image_is_still_seen_under_strokes_drawn_over_it():
    from digitpad.core.data.overlap import shows_image

    x, _, _ = render_digits(3, seed=23)
    canvas = on_canvas(x[0])
    assert shows_image(canvas, x[0])
    over = canvas.copy()
    over[130:150, 20:260] = 30  # a dark bar across, as a stroke on light paper
    assert shows_image(over, x[0])
    assert not shows_image(on_canvas(x[1]), x[0]) and not shows_image(on_canvas(x[2]), x[0])
    assert not shows_image(np.full((280, 280), 250, np.uint8), x[0])
