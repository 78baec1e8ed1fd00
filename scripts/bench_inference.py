#!/usr/bin/env python3
"""Latency of one drawing -> prediction: a 280x280 canvas -> preprocess -> probs + every map.

    .venv/bin/python scripts/bench_inference.py [--n 300] [--models lenet digitnet] [--canvas mnist]

Times digitpad's path (core.data.preprocess + Predictor.predict, CPU) against a naive one measured
side by side in the same run: PIL preprocessing (invert, getbbox, LANCZOS, paste) and the plain
model with forward hooks under torch.no_grad and torch's default threading. Goals: median
LeNet <= 1 ms, DigitNet <= 3 ms. Uses resources/<arch>.safetensors when present, else a
randomly initialised model (latency does not depend on the weights' values).

Measurements are interleaved in rounds so that other load on the machine hits all variants
alike; the machine line says what else was running (load average).
"""

from __future__ import annotations

import argparse
import sys
from collections import OrderedDict

import numpy as np

from _bench_common import DEFAULT_DATA, machine, shipped_files, time_calls

import torch  # noqa: E402  (after _bench_common put the repo on sys.path)
from PIL import Image, ImageDraw, ImageOps  # noqa: E402

from digitpad.core.nets.models import create_model  # noqa: E402
from digitpad.core.reading.predict import Predictor  # noqa: E402
from digitpad.core.data.preprocess import preprocess  # noqa: E402

GOALS_MS = {"lenet": 1.0, "digitnet": 3.0}
CANVAS = 280
BRUSH = 18  # the app's default brush on its 280 px canvas


def polyline_canvas() -> np.ndarray:
    """A '2' drawn like a mouse stroke on the app's canvas: white on black, anti-aliased."""
    s = 4
    pts = [(0.05, 0.25), (0.2, 0.05), (0.5, 0.0), (0.8, 0.05), (0.95, 0.25), (0.9, 0.45),
           (0.6, 0.7), (0.05, 1.0), (1.0, 1.0)]
    im = Image.new("L", (CANVAS * s, CANVAS * s), 0)
    xy = [((75 + x * 130) * s, (45 + y * 190) * s) for x, y in pts]
    ImageDraw.Draw(im).line(xy, fill=255, width=BRUSH * s, joint="curve")
    return np.asarray(im.resize((CANVAS, CANVAS), Image.Resampling.BOX))


def mnist_canvas(data) -> np.ndarray:
    from _bench_common import mnist_test

    x, _ = mnist_test(data, 1)
    return np.asarray(Image.fromarray(x[0]).resize((CANVAS, CANVAS), Image.Resampling.BILINEAR))


# --- the naive baseline ---------------------------------------------------------------------

def naive_preprocess(arr: np.ndarray) -> np.ndarray:
    im = Image.fromarray(arr)
    if np.median(np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])) > 127:
        im = ImageOps.invert(im)
    box = im.point(lambda v: 255 if v > 30 else 0).getbbox()
    if box is None:
        return np.zeros((28, 28), np.float32)
    crop = im.crop(box)
    w, h = crop.size
    s = 20 / max(w, h)
    crop = crop.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
    a = np.asarray(crop, dtype=np.float32) / 255.0
    a = a / a.max()
    ys, xs = np.indices(a.shape)
    cy, cx = (ys * a).sum() / a.sum(), (xs * a).sum() / a.sum()
    out = Image.new("F", (28, 28), 0.0)
    oy = int(np.clip(round(14 - cy), 0, 28 - a.shape[0]))
    ox = int(np.clip(round(14 - cx), 0, 28 - a.shape[1]))
    out.paste(Image.fromarray(a), (ox, oy))
    return np.asarray(out)


class NaivePredictor:
    """The textbook way: plain model, forward hooks on every layer, default threading."""

    def __init__(self, arch: str, state: dict) -> None:
        self.model = create_model(arch)
        self.model.load_state_dict(state)
        self.model.eval()
        self.maps: OrderedDict[str, np.ndarray] = OrderedDict()
        for name, module in self.model.named_modules():
            if name and not list(module.children()):
                module.register_forward_hook(self._hook(name))

    def _hook(self, name: str):
        def hook(module, inputs, output):
            self.maps[name] = output[0].detach().numpy().copy()
        return hook

    def predict(self, arr: np.ndarray):
        img = naive_preprocess(arr)
        self.maps = OrderedDict()
        with torch.no_grad():
            logits = self.model(torch.tensor(img).reshape(1, 1, 28, 28))
        return torch.softmax(logits, 1)[0].numpy(), self.maps


# --- measuring ------------------------------------------------------------------------------

def interleaved(fns: dict, n: int, rounds: int = 5) -> dict[str, np.ndarray]:
    """Time every function in turns (n calls each in all), so load changes hit all alike."""
    per = max(1, n // rounds)
    out: dict[str, list] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            out[k].append(time_calls(fn, per, warmup=5))
    return {k: np.concatenate(v) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="calls per measurement (default 300)")
    ap.add_argument("--models", nargs="+", default=["lenet", "digitnet"], choices=["lenet", "digitnet", "dense"])
    ap.add_argument("--canvas", choices=["stroke", "mnist"], default="stroke",
                    help="stroke: a '2' drawn with the app's brush (default); mnist: test digit 0 scaled up")
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--no-naive", action="store_true", help="skip the naive baseline (it is slow under load)")
    args = ap.parse_args()

    canvas = mnist_canvas(args.data) if args.canvas == "mnist" else polyline_canvas()
    print(f"machine: {machine()}")
    print(f"input: {canvas.shape[1]}x{canvas.shape[0]} uint8 canvas ({args.canvas}), {args.n} calls each, "
          "median and 90th percentile in ms\n")

    shipped = shipped_files()
    rows = []
    fns = {"preprocess (digitpad)": lambda: preprocess(canvas)}
    if not args.no_naive:
        fns["preprocess (naive PIL)"] = lambda: naive_preprocess(canvas)
    res = interleaved(fns, args.n)
    for k, v in res.items():
        rows.append((k, v, None))
    pre_ratio = (np.median(res["preprocess (naive PIL)"]) / np.median(res["preprocess (digitpad)"])
                 if not args.no_naive else None)

    verdicts = []
    ratios = {}
    for arch in args.models:
        if arch in shipped:
            pred = Predictor.from_file(shipped[arch])
            src = f"shipped weights ({shipped[arch].name})"
        else:
            torch.manual_seed(0)
            pred = Predictor(arch, create_model(arch).state_dict(), name=f"{arch} (random)")
            src = "random init: resources/%s.safetensors does not exist yet" % arch
        print(f"{arch}: {src}")
        naive = NaivePredictor(arch, pred.state_dict())
        default_threads = Predictor(arch, pred.state_dict(), threads=None)
        fns = {
            f"{arch}: predict + all maps": lambda p=pred: p.predict(canvas),
            f"{arch}: predict, no maps": lambda p=pred: p.predict(canvas, with_maps=False),
            f"{arch}: same, torch's default threads": lambda p=default_threads: p.predict(canvas),
        }
        if not args.no_naive:
            fns[f"{arch}: naive (PIL + hooks)"] = lambda p=naive: p.predict(canvas)
        res = interleaved(fns, args.n)
        main_key = f"{arch}: predict + all maps"
        for k, v in res.items():
            rows.append((k, v, GOALS_MS.get(arch) if k == main_key else None))
        med = float(np.median(res[main_key]))
        if arch in GOALS_MS:
            verdicts.append((arch, med, GOALS_MS[arch]))
        if not args.no_naive:
            ratios[arch] = float(np.median(res[f"{arch}: naive (PIL + hooks)"])) / med

    print()
    w = max(len(r[0]) for r in rows) + 2
    print(f"{'':{w}s}{'median':>9s}{'p90':>9s}   goal")
    for name, v, goal in rows:
        g = ""
        if goal is not None:
            g = f"<= {goal:g} ms  {'PASS' if np.median(v) <= goal else 'FAIL'}"
        print(f"{name:{w}s}{np.median(v):9.3f}{np.percentile(v, 90):9.3f}   {g}")
    print()
    if pre_ratio is not None:
        print(f"speedup vs naive, preprocessing alone: {pre_ratio:.1f}x")
    for arch, r in ratios.items():
        print(f"speedup vs naive, {arch} canvas -> probs + maps: {r:.1f}x (median vs median)")
    ok = all(med <= goal for _, med, goal in verdicts)
    for arch, med, goal in verdicts:
        print(f"goal {arch} <= {goal:g} ms: {med:.3f} ms  {'PASS' if med <= goal else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
