#!/usr/bin/env python3
"""Why-map latency: occlusion sensitivity + gradient saliency for one 28x28 digit.

    nice -n 5 .venv/bin/python scripts/bench_explain.py [--n 40] [--models digitnet lenet]

digitpad's path (core.insight.explain.Explainer.why: batch norm folded, all occlusion patches as ONE
batch, channels-last, one intra-op thread) against a naive one measured side by side in the
same run: the plain model, one forward pass per occluded patch, torch's default threading.
Also the same batched path with 2 intra-op threads. Goal: median <= 100 ms for digitnet on
2 CPU cores. Rounds are interleaved so other load on the machine hits every variant alike.
"""

from __future__ import annotations

import argparse

import numpy as np

from _bench_common import DEFAULT_DATA, machine, shipped_files, time_calls

import torch  # noqa: E402  (after _bench_common put the repo on sys.path)

from digitpad.core.nets.checkpoint import load_checkpoint  # noqa: E402
from digitpad.core.insight.explain import Explainer  # noqa: E402
from digitpad.core.nets.models import create_model  # noqa: E402

GOAL_MS = {"digitnet": 100.0}


def sample_digit() -> np.ndarray:
    try:
        from _bench_common import mnist_test

        x, _ = mnist_test(DEFAULT_DATA, 1)
        return x[0].astype(np.float32) / 255.0
    except Exception:  # no MNIST here: a drawn ring is as good for timing
        yy, xx = np.mgrid[:28, :28]
        r = np.hypot(yy - 14, xx - 14)
        return ((r > 5) & (r < 8)).astype(np.float32)


def naive_why(model, masks: torch.Tensor, image: np.ndarray) -> None:
    x = torch.from_numpy(image)[None, None]
    with torch.no_grad():
        base = torch.softmax(model(x), 1)[0]
        target = int(base.argmax())
        heat = torch.zeros(28, 28)
        for m in masks:
            p = torch.softmax(model(x * (1 - m)), 1)[0, target]
            heat += (base[target] - p) * m
    x = x.clone().requires_grad_(True)
    model(x)[0, target].backward()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--n", type=int, default=40, help="timed calls per variant and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=["digitnet", "lenet"])
    args = ap.parse_args()
    torch.set_num_threads(2)
    files = shipped_files()
    image = sample_digit()
    print(machine())
    print(f"{'model':<10}{'variant':<42}{'median ms':>10}{'p90 ms':>9}")
    for arch in args.models:
        state = load_checkpoint(files[arch]).state if arch in files else create_model(arch).state_dict()
        fast1 = Explainer(arch, state, threads=1)
        fast2 = Explainer(arch, state, threads=2)
        plain = create_model(arch)
        plain.load_state_dict(state)
        plain.eval()
        variants = {
            f"batched, 1 thread ({len(fast1.masks)} patches, default)": lambda: fast1.why(image),
            "batched, 2 threads": lambda: fast2.why(image),
            "naive: one forward per patch, 2 threads": lambda: naive_why(plain, fast1.masks, image),
        }
        times: dict[str, list[np.ndarray]] = {k: [] for k in variants}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                n = args.n if "naive" not in name else max(5, args.n // 4)
                times[name].append(time_calls(fn, n, warmup=3))
        for name, parts in times.items():
            t = np.concatenate(parts)
            goal = GOAL_MS.get(arch)
            note = f"  (goal <= {goal:.0f} ms)" if goal and "default" in name else ""
            print(f"{arch:<10}{name:<42}{np.median(t):>10.1f}{np.percentile(t, 90):>9.1f}{note}")


if __name__ == "__main__":
    main()
