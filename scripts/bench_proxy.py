#!/usr/bin/env python3
"""The 16 px scan proxy (scripts/_scan16.py), per digit, beside the older proxy and the real figures.

    .venv/bin/python scripts/bench_proxy.py [--data ../shared/data] [--n 2000] [--test]
        [--model FILE ...] [--tta] [--repen] [--plain]

Sources are MNIST digits only: the first --n of the 5,000 validation digits the shipped
models held out of training (default), or with --test the first --n test digits (score those
once, after every choice was made on validation). Each source becomes a 16x16 binary scan
and goes through the real predict path (preprocess, then the predictor), as `digitpad predict`
reads a 16x16 PNG. Rows: the older proxy ("box 16px scan": the MNIST stroke downsampled
with the box), the thin-pen scan without the writers' shapes (--plain) and the proxy (thin
pen + the shapes at ScanSpec's shares). --tta also scores test-time augmentation (the mean
probability over the input and its 1-px shifts and +-8 degree turns); --repen also scores
stroke-width normalisation of the 28x28 input (core.data.augment.repen: skeleton redrawn at
MNIST's 2.5 px pen). Both need no training. The last line is the real 16x16 set's figures
(issue 23, through `digitpad predict` with the shipped digitnet) for comparison.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import _proxy
import _scan16
from _bench_common import DEFAULT_DATA, load_predictors, machine

REAL = {"overall": 93.03, 0: 93.0, 1: 88.0, 4: 89.0, 9: 74.0}  # issue 23, 159 digits each


def sources(data: str, n: int, test: bool) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from digitpad.core.data.mnist import load_split
    from digitpad.core.learning.training import split_validation

    if test:
        x, y = load_split(data, train=False)
        return x[:n].numpy(), y[:n].numpy()
    x, y = load_split(data, train=True)
    _, val = split_validation(x.shape[0], 5000)  # the shipped models' validation digits
    val = val[:n] if isinstance(val, torch.Tensor) else np.asarray(val)[:n]
    return x[val].numpy(), y[val].numpy()


def inputs(scans: list[np.ndarray]) -> np.ndarray:
    """(N, 28, 28) float32 model inputs through the app's preprocess."""
    from digitpad.core.data.preprocess import preprocess

    out = []
    for s in scans:
        p = preprocess(s, keep_steps=False)
        out.append(np.zeros((28, 28), np.float32) if p.empty else p.image)
    return np.stack(out)


def tta_probs(predictor, x: np.ndarray) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(x).unsqueeze(1)
    views = [t]
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        views.append(torch.roll(t, (dy, dx), (2, 3)))
    for deg in (-8.0, 8.0):
        a = np.radians(deg)
        theta = torch.tensor([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0]],
                             dtype=torch.float32).expand(len(t), 2, 3)
        grid = F.affine_grid(theta, list(t.shape), align_corners=False)
        views.append(F.grid_sample(t, grid, align_corners=False))
    return np.mean([predictor.probs_batch(v[:, 0].numpy()) for v in views], axis=0)


def repen_inputs(x: np.ndarray, width: float = 2.5) -> np.ndarray:
    import torch

    from digitpad.core.data.augment import repen

    return repen(torch.from_numpy(x).unsqueeze(1), width)[:, 0].numpy()


def row(name: str, pred: np.ndarray, y: np.ndarray) -> str:
    per = [float((pred[y == d] == d).mean()) * 100 for d in range(10)]
    return f"{name:40s}{float((pred == y).mean()) * 100:8.2f}" + "".join(f"{v:6.1f}" for v in per)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--n", type=int, default=2000, help="source digits (default 2000)")
    ap.add_argument("--test", action="store_true", help="MNIST test digits as sources (score once)")
    ap.add_argument("--model", nargs="+", metavar="FILE", help="model files (default: shipped digitnet)")
    ap.add_argument("--tta", action="store_true", help="also score test-time augmentation")
    ap.add_argument("--repen", action="store_true", help="also score stroke-width normalisation")
    ap.add_argument("--plain", action="store_true", help="also the thin-pen scan without writers' shapes")
    ap.add_argument("--seed", type=int, default=23)
    args = ap.parse_args()

    import torch

    models = load_predictors(args.model) if args.model else [
        (lb, p) for lb, p in load_predictors(None) if lb == "digitnet"]
    x, y = sources(args.data, args.n, args.test)
    print(f"machine: {machine()}")
    print(f"{len(x)} MNIST {'test' if args.test else 'validation'} digits as 16x16 binary scans")
    t0 = time.perf_counter()
    sets = {"box 16px scan (older proxy)": inputs([_proxy.box_scan(im) for im in x])}
    if args.plain:
        sets["thin pen, no writers' shapes"] = inputs(list(_scan16.thin_pen_scans(
            x, y, _scan16.ScanSpec.plain(), seed=args.seed)[0]))
    spec = _scan16.ScanSpec()
    scans, edited = _scan16.thin_pen_scans(x, y, spec, seed=args.seed)
    sets["proxy: thin pen + writers' shapes"] = inputs(list(scans))
    print(f"rendered in {time.perf_counter() - t0:.0f} s; shapes drawn in: "
          + ", ".join(f"{d}s {edited[y == d].mean() * 100:.0f} %" for d in (1, 4, 9)))
    if args.repen:
        sets["proxy, stroke width normalised"] = repen_inputs(sets["proxy: thin pen + writers' shapes"])
        plain = x.astype(np.float32) / 255
        sets["MNIST as is"] = plain
        sets["MNIST, stroke width normalised"] = repen_inputs(plain)
    elif args.tta:
        sets["MNIST as is"] = x.astype(np.float32) / 255

    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"\naccuracy (%){'':28s} overall" + "".join(f"{d:6d}" for d in range(10)))
    for label, predictor in models:
        print(f"-- {label}")
        for name, inp in sets.items():
            print(row(name, predictor.probs_batch(inp).argmax(1), y))
            if args.tta and not name.startswith("box"):
                print(row(name + " + TTA", tta_probs(predictor, inp).argmax(1), y))
    real = "".join(f"{REAL[d]:6.1f}" if d in REAL else "   96+" for d in range(10))
    print(f"{'real 16x16 scans (issue 23)':40s}{REAL['overall']:8.2f}{real}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
