#!/usr/bin/env python3
"""A committee of the shipped models (mean of their probabilities) on the 16 px scan proxy and MNIST.

    .venv/bin/python scripts/bench_committee.py [--data ../shared/data] [--n 2000] [--model FILE ...]

Cireșan et al. 2012 averaged many small nets; digitpad ships three (digitnet, lenet, dense).
Every member and every committee of two or more (the plain mean of their probabilities) is
scored on the proxy's validation digits (scripts/_scan16.py: the first --n of the 5,000 MNIST
digits the shipped models held out of training, as 16x16 thin-pen binary scans, through the
real predict path) and on all 5,000 MNIST validation digits as they are. No test digits are
read: a committee is chosen, or not, on these. The last columns are the milliseconds one
drawing costs (the median of 200 single-image ``probs_batch`` calls, summed over members: a
committee runs every member on each drawing).
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np

import _scan16
from _bench_common import DEFAULT_DATA, load_predictors, machine, time_calls
from bench_proxy import inputs, sources


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float((probs.argmax(1) == y).mean()) * 100


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--n", type=int, default=2000, help="proxy source digits (default 2000)")
    ap.add_argument("--model", nargs="+", metavar="FILE", help="member files (default: the shipped models)")
    ap.add_argument("--seed", type=int, default=23)
    args = ap.parse_args()

    members = load_predictors(args.model)
    x, y = sources(args.data, args.n, test=False)
    scans, _ = _scan16.thin_pen_scans(x, y, _scan16.ScanSpec(), seed=args.seed)
    proxy = inputs(list(scans))
    mx, my = sources(args.data, 5000, test=False)
    mnist = mx.astype(np.float32) / 255
    print(f"machine: {machine()}")
    print(f"proxy: {len(proxy)} MNIST validation digits as 16x16 scans; MNIST: {len(mnist)} validation digits\n")

    probs = {lb: (p.probs_batch(proxy), p.probs_batch(mnist)) for lb, p in members}
    one = mnist[:1]
    ms = {lb: float(np.median(time_calls(lambda p=p: p.probs_batch(one), 200))) for lb, p in members}
    print(f"{'members':28s}{'proxy':>8}{'1':>6}{'4':>6}{'9':>6}{'MNIST val':>11}{'ms':>7}")
    for k in range(1, len(members) + 1):
        for combo in itertools.combinations([lb for lb, _ in members], k):
            pp = np.mean([probs[lb][0] for lb in combo], axis=0)
            pm = np.mean([probs[lb][1] for lb in combo], axis=0)
            per = [float((pp.argmax(1)[y == d] == d).mean()) * 100 for d in (1, 4, 9)]
            print(f"{' + '.join(combo):28s}{accuracy(pp, y):8.2f}" + "".join(f"{v:6.1f}" for v in per)
                  + f"{accuracy(pm, my):11.2f}{sum(ms[lb] for lb in combo):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
