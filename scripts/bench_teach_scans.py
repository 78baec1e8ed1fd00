#!/usr/bin/env python3
"""Teaching the shipped digitnet 16 px scans: 10 per digit of a proxy writer, then the rest of it.

    .venv/bin/python scripts/bench_teach_scans.py [--data ../shared/data] [--writers 0 1 2]
        [--per-digit 10] [--steps N] [--lr X] [--user-share X] [--style-share X] [--elastic X]

The real benchmark (issue 23): 10 samples per digit of the 16x16 binary scans taught through
`digitpad teach`, then the rest read through `digitpad predict`. Here a *proxy writer* is a
group of 1,000 of the 5,000 MNIST validation digits the shipped models held out of training
(writer k: validation digits k*1000 ... k*1000+999), each made a 16x16 thin-pen binary scan
with the writers' shapes (scripts/_scan16.py, its own seed per writer). The first
--per-digit of each digit are taught exactly as the app does (``core.learning.teach.run``:
preprocess, its own held-out quarter, MNIST replay, synthesised styles, augmentation); the
other ~900 are read through the real predict path before and after.

Nothing here touches MNIST's test set: the teach run is handed MNIST with its training part
reduced to the 55,000 digits the shipped models trained on (so replay never shows it a
validation digit) and its "test" part replaced by the 4,000 validation digits outside the
writer, so the report's MNIST figure is MNIST *validation*. Writers 0-2 choose the recipe;
writers 3 and 4 are kept for the figure of the recipe chosen. Seconds are wall time of the
teach run (preprocessing, both measurements, the steps) at nice 19 on a shared machine;
"cpu s" the process's CPU time (over 2 cores, about twice an idle machine's wall time).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import _scan16
from _bench_common import DEFAULT_DATA, machine
from bench_proxy import inputs

GROUP = 1000
WRITER_SEED = 2300  # + writer: the scan's pens and shapes


def writer_split(k: int, per_digit: int, x: np.ndarray, y: np.ndarray):
    """(teach scans, labels, read scans, labels) of proxy writer k from validation digits x, y."""
    gx, gy = x[k * GROUP:(k + 1) * GROUP], y[k * GROUP:(k + 1) * GROUP]
    scans, _ = _scan16.thin_pen_scans(gx, gy, _scan16.ScanSpec(), seed=WRITER_SEED + k)
    teach = np.zeros(len(gy), bool)
    for d in range(10):
        teach[np.flatnonzero(gy == d)[:per_digit]] = True
    return list(scans[teach]), gy[teach].tolist(), list(scans[~teach]), gy[~teach]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--writers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--per-digit", type=int, default=10)
    ap.add_argument("--model", default=None, help="model file (default: shipped digitnet)")
    for name in ("steps", "lr", "user-share", "style-share", "elastic", "batch-size"):
        ap.add_argument(f"--{name}", type=int if name in ("steps", "batch-size") else float, default=None)
    args = ap.parse_args()

    import torch

    from digitpad.core.data.mnist import MnistTensors, load_mnist
    from digitpad.core.learning.config import TeachConfig
    from digitpad.core.learning.events import Failed, Taught
    from digitpad.core.learning.teach import run
    from digitpad.core.learning.training import split_validation
    from digitpad.core.nets.checkpoint import load_checkpoint, shipped_model_path
    from digitpad.core.reading.predict import Predictor

    base = load_checkpoint(args.model or shipped_model_path("digitnet"))
    full = load_mnist(args.data, device="cpu")
    tr, val = split_validation(full.train_x.shape[0], 5000)
    vx = (full.train_x[val, 0] * 255).round().to(torch.uint8).numpy()
    vy = full.train_y[val].numpy()
    overrides = {k: v for k, v in dict(steps=args.steps, lr=args.lr, user_share=args.user_share,
                                        style_share=args.style_share, elastic=args.elastic,
                                        batch_size=args.batch_size).items() if v is not None}
    config = TeachConfig(device="cpu", **overrides)
    print(f"{machine()}\nbase {base.name}; {args.per_digit} scans per digit taught; "
          f"settings {overrides or 'the defaults'}\n")
    head = (f"{'writer':>6} {'read':>5} {'before':>7} {'after':>7} {'held-out b/a':>14} "
            f"{'MNIST val b/a':>15} {'s':>6} {'cpu s':>6}")
    print(head)
    rows = []
    base_pred = Predictor.from_checkpoint(base)
    for k in args.writers:
        t_imgs, t_lab, r_imgs, r_lab = writer_split(k, args.per_digit, vx, vy)
        outside = torch.cat([val[:k * GROUP], val[(k + 1) * GROUP:]])
        data = MnistTensors(full.train_x[tr], full.train_y[tr], full.train_x[outside],
                            full.train_y[outside], full.root)
        r_in = inputs(r_imgs)
        before = float((base_pred.probs_batch(r_in).argmax(1) == r_lab).mean())
        t0, c0 = time.perf_counter(), time.process_time()
        result = None
        for ev in run(base, t_imgs, t_lab, config, data=data):
            if isinstance(ev, (Taught, Failed)):
                result = ev
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        if not isinstance(result, Taught):
            print(f"writer {k}: teaching failed: {getattr(result, 'message', '?')}")
            return 1
        rep = result.report
        after = float((Predictor(base.arch, result.best_state).probs_batch(r_in).argmax(1) == r_lab).mean())
        rows.append((before, after, rep.after.mnist_acc, secs, cpu))
        print(f"{k:>6} {len(r_lab):>5} {before * 100:7.2f} {after * 100:7.2f} "
              f"{rep.before.held_out_acc * 100:6.1f}/{rep.after.held_out_acc * 100:6.1f} "
              f"{rep.before.mnist_acc * 100:7.2f}/{rep.after.mnist_acc * 100:6.2f} {secs:6.1f} {cpu:6.1f}",
              flush=True)
    m = np.mean(rows, axis=0)
    print(f"{'mean':>6} {'':>5} {m[0] * 100:7.2f} {m[1] * 100:7.2f} {'':>14} {'':>7}/{m[2] * 100:6.2f} "
          f"{m[3]:6.1f} {m[4]:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
