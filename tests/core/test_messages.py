"""Messages that named the wrong thing (issue 24.9): the reduced size of a long image, the
metadata's name of a file given by path, and "blank" for a clearly inked low-contrast image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from digitpad import cli
from digitpad.core.data.preprocess import ImageError, load_image, preprocess


def test_a_one_pixel_high_strip_is_too_small_in_its_own_size(tmp_path):
    path = tmp_path / "strip.png"
    Image.fromarray(np.zeros((1, 100_000), np.uint8)).save(path)
    for side in (None, 1024):
        with pytest.raises(ImageError, match=r"strip.png is too small \(100000x1 pixels\)"):
            load_image(path, max_side=side)


def test_an_edited_shipped_model_given_by_path_is_named_by_its_path(tmp_path, capsys):
    import torch

    from digitpad.core.nets.checkpoint import load_checkpoint, save_checkpoint, shipped_model_path

    ckpt = load_checkpoint(shipped_model_path("lenet"))
    state = {k: v.clone() for k, v in ckpt.state.items()}
    state["fc3.weight" if "fc3.weight" in state else sorted(state)[-2]].mul_(torch.inf).nan_to_num_(
        posinf=3e38, neginf=-3e38)
    bad = tmp_path / "edited.safetensors"
    save_checkpoint(bad, "lenet", state, ckpt.meta)  # its meta still says "lenet (shipped)"
    image = tmp_path / "one.png"
    a = np.full((100, 100), 255, np.uint8)
    a[20:80, 45:55] = 0
    Image.fromarray(a).save(image)
    assert cli.main(["predict", "--model", str(bad), str(image)]) == 1
    out, err = capsys.readouterr()
    said = out + err
    assert "unusable" in said and "edited.safetensors" in said and "(shipped)" not in said, said


@pytest.mark.parametrize("paper, ink, dtype", [(99, 0, np.uint8), (255, 0, np.uint16),
                                              (30, 200, np.uint8)])
def test_a_clearly_inked_low_contrast_image_is_not_blank(paper, ink, dtype):
    a = np.full((120, 120), paper, dtype)
    a[20:100, 55:65] = ink
    a[20:30, 35:65] = ink
    assert not preprocess(a).empty
