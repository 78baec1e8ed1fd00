#!/usr/bin/env python3
"""The style synthesiser: digits per second on one core, fast path against the canvas path.

    .venv/bin/python scripts/bench_styles.py [--n 4000] [--check 200]

The fast path rasterises the strokes straight into preprocess's 20 px box; the slow path
draws the same strokes on a 280x280 canvas and runs the app's real preprocess. Printed side
by side: speed of each, and how close the fast images are to the slow ones (mean absolute
difference in grey levels, after the best shift of at most one pixel, since centring rounds
to whole pixels; and the share of images where that shift was needed). Goal: >= 2,000 digits/s
for training pools.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the goal says

import numpy as np  # noqa: E402

from _bench_common import machine  # noqa: E402

from digitpad.core.data import styles  # noqa: E402
from digitpad.core.data.preprocess import preprocess  # noqa: E402

GOAL = 2000.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000, help="digits for the speed run")
    ap.add_argument("--check", type=int, default=200, help="drawings compared with the canvas path")
    args = ap.parse_args()
    print(f"machine: {machine()}")

    styles.render_digits(200, seed=1)  # warm caches
    t0 = time.perf_counter()
    styles.render_digits(args.n, seed=0)
    fast_rate = args.n / (time.perf_counter() - t0)

    rng, place = np.random.default_rng(0), np.random.default_rng(1)
    names = list(styles.STYLES)
    diffs, shifted, t_fast, t_slow = [], 0, 0.0, 0.0
    for i in range(args.check):
        dr = styles._draw(names[i % len(names)], rng, styles.DEFAULT)
        t = time.perf_counter()
        fast = styles._mnist_like(dr).astype(np.float32) / 255
        t_fast += time.perf_counter() - t
        t = time.perf_counter()
        slow = preprocess(styles._canvas(dr, place, 280), keep_steps=False).image
        t_slow += time.perf_counter() - t
        best = {(dy, dx): float(np.abs(np.roll(fast, (dy, dx), (0, 1)) - slow).mean())
                for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
        at = min(best, key=best.get)
        shifted += at != (0, 0)
        diffs.append(best[at] * 255)
    print(f"\n{'':34s}{'fast 28x28':>14s}{'canvas+preprocess':>20s}")
    print(f"{'digits/s, one core':34s}{fast_rate:14,.0f}{args.check / t_slow:20,.0f}"
          f"   ratio {fast_rate / (args.check / t_slow):.0f}x")
    print(f"{'mean |difference| (grey levels)':34s}{np.mean(diffs):14.2f}   worst image {max(diffs):.2f}, "
          f"1-px centring shift in {shifted / args.check:.0%} of images")
    print(f"\ngoal >= {GOAL:,.0f} digits/s: {'PASS' if fast_rate >= GOAL else 'FAIL'} ({fast_rate:,.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
