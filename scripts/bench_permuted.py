#!/usr/bin/env python3
"""The lesson's argument, measured: every image's pixels shuffled by ONE fixed permutation.

    nice -n 5 .venv/bin/python scripts/bench_permuted.py [--models dense lenet] [--epochs 4]

Trains each model twice with the same recipe, seed and epochs — on MNIST and on permuted MNIST
(core.nets.permutation.pixel_permutation: the same shuffle for train and test) — and prints the test
accuracy of both and the per-epoch validation accuracy. A dense net has no notion of
neighbouring pixels, so it learns both equally well; a CNN's convolutions and pooling assume
neighbours matter, so on permuted pixels it loses its edge. Synthesised digits and augmentation
are off (they would add unpermuted images or geometric warps).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from _bench_common import DEFAULT_DATA, machine

import torch  # noqa: E402  (after _bench_common put the repo on sys.path)

from digitpad.core.data.mnist import load_mnist  # noqa: E402
from digitpad.core.nets.permutation import permute_pixels, pixel_permutation  # noqa: E402
from digitpad.core.learning.config import recipe_config  # noqa: E402
from digitpad.core.learning.events import EpochDone, Failed, Finished  # noqa: E402
from digitpad.core.learning.training import run  # noqa: E402


def train(model: str, data, epochs: int, seed: int) -> tuple[float, list[float], float]:
    config = recipe_config("fast", model, epochs=epochs, seed=seed, device="cpu",
                           synth_share=0.0, augment=False)
    vals, t0 = [], time.perf_counter()
    for ev in run(config, data):
        if isinstance(ev, EpochDone):
            vals.append(ev.val_acc)
        elif isinstance(ev, Failed):
            raise RuntimeError(ev.message)
        elif isinstance(ev, Finished):
            return ev.test_acc, vals, time.perf_counter() - t0
    raise RuntimeError("training ended without a result")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--models", nargs="+", default=["dense", "lenet"])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--perm-seed", type=int, default=0)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--json", default=None, help="also append the figures to this JSON-lines file")
    args = ap.parse_args()
    torch.set_num_threads(2)
    plain = load_mnist(args.data, device="cpu")
    perm = pixel_permutation(args.perm_seed)
    shuffled = replace(plain, train_x=permute_pixels(plain.train_x, perm),
                       test_x=permute_pixels(plain.test_x, perm))
    print(machine())
    print(f"{args.epochs} epochs per run, fast recipe, no synthesised digits, no augmentation")
    print(f"{'model':<10}{'plain':>9}{'permuted':>10}{'change':>9}   validation per epoch (plain | permuted)")
    for model in args.models:
        a_plain, v_plain, s_plain = train(model, plain, args.epochs, args.seed)
        a_perm, v_perm, s_perm = train(model, shuffled, args.epochs, args.seed)
        curve = lambda v: " ".join(f"{x * 100:.1f}" for x in v)  # noqa: E731
        print(f"{model:<10}{a_plain * 100:>8.2f}%{a_perm * 100:>9.2f}%{(a_perm - a_plain) * 100:>+8.2f}   "
              f"{curve(v_plain)} | {curve(v_perm)}   ({s_plain:.0f} s + {s_perm:.0f} s)", flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps({"model": model, "epochs": args.epochs, "plain": a_plain,
                                    "permuted": a_perm, "val_plain": v_plain, "val_permuted": v_perm}) + "\n")


if __name__ == "__main__":
    main()
