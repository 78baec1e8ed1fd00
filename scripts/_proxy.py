"""The robustness proxy that can fail: what bench_robustness reports and train_shipped chooses on.

Two parts, both kept apart from what a model learns from:

- **real hands, box-normalised**: MNIST digits stretched to fill a square in both directions
  (as many scanning and OCR pipelines do), put on a canvas and through the app's
  ``preprocess``; and the same as 16x16 binary scans. bench_robustness scores the test set
  once per model; settings are chosen on the *validation* digits (the part of the training
  set that ``training.split_validation`` holds out), never on the test figures.
- **leave-style-out**: each group of synthesised styles is scored by a short run trained with
  every style except that group's (LeNet, a subset of MNIST, the same seed), so the figure
  measures whether the model generalises to a hand it has not seen, not whether it remembers
  a generator. A group scored by a model that trained on it (``seen``) is shown beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

GROUPS: dict[str, tuple[str, ...]] = {
    "continental 1": ("1-flag", "1-flag-foot", "1-long-flag"),
    "open 4": ("4-zigzag", "4-cross"),
    "looped 4": ("4-loop",),
    "long-tail 9": ("9-curl", "9-tiny-head", "9-long-tail", "9-bowl-tail", "9-slant-stem"),
    "7 variants": ("7-crossed", "7-hook"),
    "looped 2": ("2-loop",),
}
SCAN = 16  # side of the binary scan, pixels
CANVAS = 280
STYLE_SEED = 77_000  # + group index: no training pool uses it (pools use the run's seed)


def _ink_crop(img: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(img.max(axis=1) > 0.25 * img.max())
    cols = np.flatnonzero(img.max(axis=0) > 0.25 * img.max())
    return img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def box_normalised(img: np.ndarray, side: int = 200) -> np.ndarray:
    """A 28x28 uint8 digit (ink bright) stretched to fill side x side, on a CANVAS canvas."""
    crop = Image.fromarray(_ink_crop(img)).resize((side, side), Image.Resampling.BILINEAR)
    out = np.zeros((CANVAS, CANVAS), np.uint8)
    at = (CANVAS - side) // 2
    out[at:at + side, at:at + side] = np.asarray(crop)
    return out


def box_scan(img: np.ndarray, pixels: int = SCAN, out: int = 256) -> np.ndarray:
    """The box-normalised digit as a pixels x pixels binary scan (ink where at least half a
    scan pixel is inked), nearest-upscaled to out x out, as a scanner's bitmap is shown."""
    crop = Image.fromarray(_ink_crop(img)).resize((pixels, pixels), Image.Resampling.BOX)
    bitmap = (np.asarray(crop) >= 128).astype(np.uint8) * 255
    return np.asarray(Image.fromarray(bitmap).resize((out, out), Image.Resampling.NEAREST))


PROXY_VARIANTS = {
    "box-normalised": ("stretched to fill a square both ways (as scans are), 280 canvas", box_normalised),
    "box-normalised 16px scan": ("the box-normalised digit as a 16x16 binary scan, nearest to 256", box_scan),
}


def proxy_images(name: str, images: np.ndarray) -> list[np.ndarray]:
    """Every image of one proxy variant, as the canvas the real predict path reads."""
    return [PROXY_VARIANTS[name][1](im) for im in images]


def preprocessed_tensor(canvases: list[np.ndarray]):
    """Canvases -> (N, 1, 28, 28) float tensor through the app's preprocess."""
    import torch

    from digitpad.core.data.preprocess import preprocess

    out = []
    for c in canvases:
        p = preprocess(c, keep_steps=False)
        out.append(np.zeros((28, 28), np.float32) if p.empty else p.image)  # "nothing drawn" reads wrong
    return torch.from_numpy(np.stack(out)).unsqueeze(1)


def validation_digits(train_x, train_y, val_size: int):
    """The MNIST validation digits a run holds out (uint8 (N, 28, 28), labels): the same split
    ``training.run`` chooses its best epoch on."""
    import torch

    from digitpad.core.learning.training import split_validation

    _, val = split_validation(train_x.shape[0], val_size)
    x = (train_x[val, 0] * 255).round().to(torch.uint8).numpy()
    return x, train_y[val].numpy()


@dataclass
class ProxySets:
    """Preprocessed validation images of each proxy variant, made once and scored per model."""
    x: dict
    y: np.ndarray

    @classmethod
    def build(cls, images: np.ndarray, labels: np.ndarray) -> "ProxySets":
        return cls({name: preprocessed_tensor(proxy_images(name, images)) for name in PROXY_VARIANTS}, labels)

    def score(self, model, device="cpu") -> dict[str, float]:
        from digitpad.core.reading.scoring import score

        model.to(device).eval()
        out = {}
        for name, x in self.x.items():
            pred = score(model, x.to(device)).argmax(1)
            out[name] = round(float((pred == self.y).mean()), 5)
        return out


def group_digits(group: str, n: int, k: int):
    """n MNIST-like digits (28x28 float tensor, labels) of one group's styles, each at random
    pens, slant and proportions, a fifth box-filled and a tenth as binary scans."""
    import torch

    from digitpad.core.data.styles import render_digits

    x, y, _ = render_digits(n, STYLE_SEED + k, list(GROUPS[group]))
    return torch.from_numpy(x).unsqueeze(1).float().div(255), y


def styles_except(names: tuple[str, ...]) -> list[str]:
    from digitpad.core.data.styles import STYLES

    return [s for s in STYLES if s not in names]


def leave_style_out(data, arch: str = "lenet", settings: dict | None = None, n: int = 600,
                    device: str = "cpu", log=print) -> dict[str, dict[str, float]]:
    """group -> {"unseen": accuracy of a run trained without the group's styles, "seen": of a
    run trained with every style} on n fresh digits of the group. ``settings`` go to the
    ``fast`` recipe (default: a short augmented run with a fifth synthesised digits)."""
    from digitpad.core.data import styles
    from digitpad.core.learning.config import recipe_config
    from digitpad.core.learning.events import Finished
    from digitpad.core.learning.training import run
    from digitpad.core.nets.devices import resolve_device
    from digitpad.core.nets.models import create_model
    from digitpad.core.reading.scoring import score

    device = str(resolve_device(device))
    settings = dict(dict(epochs=3, augment=True, synth_share=0.2, synth_pool=6000, seed=1, val_size=2000),
                    **(settings or {}))
    render = styles.synth_pool

    def train(names: list[str]):
        styles.synth_pool = lambda n_, seed, device_="cpu", styles_=None, options=None: render(
            n_, seed, device_, names, options)
        try:
            cfg = recipe_config("fast", arch, device=device, **settings)
            done = [ev for ev in run(cfg, data) if isinstance(ev, Finished)]
        finally:
            styles.synth_pool = render
        if not done:
            raise RuntimeError("a leave-style-out run did not finish")
        model = create_model(arch)
        model.load_state_dict(done[0].best_state)
        return model.to(device).eval()

    def acc(model, x, y) -> float:
        return round(float((score(model, x.to(device)).argmax(1) == np.asarray(y)).mean()), 5)

    sets = {g: group_digits(g, n, k) for k, g in enumerate(GROUPS)}
    everything = train(list(styles.STYLES))
    out = {}
    for g, (x, y) in sets.items():
        model = train(styles_except(GROUPS[g]))
        out[g] = {"unseen": acc(model, x, y), "seen": acc(everything, x, y)}
        log(f"  leave-style-out {g:14s} unseen {out[g]['unseen'] * 100:6.2f}%   seen {out[g]['seen'] * 100:6.2f}%")
    return out
