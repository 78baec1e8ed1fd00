#!/usr/bin/env python3
"""Train the models shipped in resources/ from MNIST, reproducibly (fixed seeds).

    .venv/bin/python scripts/train_shipped.py [--data ../shared/data] [--models lenet digitnet dense]

Each model is trained with the `fast` recipe (plus the per-model settings below), the best
epoch by test accuracy is kept, its accuracy is re-measured on the 10,000 test images and
recorded in the file's metadata. Files are written atomically.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digitpad.core.augment import AugmentSpec  # noqa: E402
from digitpad.core.checkpoint import make_meta, save_checkpoint  # noqa: E402
from digitpad.core.data import load_mnist  # noqa: E402
from digitpad.core.evaluation import evaluate_state  # noqa: E402
from digitpad.core.training import (BatchDone, EpochDone, Failed, Finished, Stopped,  # noqa: E402
                                    recipe_config, run)

# Per-model settings on top of the fast recipe. LeNet gets augmentation and a longer schedule
# here (its app default stays short) because the shipped LeNet must hold up on real handwriting.
# Everything that matters is pinned here, so a change to the app's `fast` defaults does not
# silently change what this script reproduces.
SHIPPED = {
    "lenet": dict(epochs=30, augment=True, lr=4e-3, batch_size=128, label_smoothing=0.0,
                  warmup=0.2, channels_last=False, seed=1),
    "digitnet": dict(epochs=16, augment=True, lr=3e-3, batch_size=128, label_smoothing=0.05,
                     weight_decay=5e-4, warmup=0.2, channels_last=True, seed=1),
    "dense": dict(epochs=10, augment=False, lr=2e-3, batch_size=128, label_smoothing=0.0,
                  warmup=0.2, seed=1),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--models", nargs="+", default=["lenet", "digitnet", "dense"], choices=list(SHIPPED))
    ap.add_argument("--out", default=str(ROOT / "resources"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--epochs", type=int, default=None, help="override every model's epochs")
    args = ap.parse_args()

    data = load_mnist(args.data)
    for arch in args.models:
        settings = dict(SHIPPED[arch])
        if args.epochs:
            settings["epochs"] = args.epochs
        cfg = recipe_config("fast", arch, device=args.device, **settings)
        print(f"== {arch}: {cfg}", flush=True)
        result = None
        for ev in run(cfg, data):
            if isinstance(ev, EpochDone):
                print(f"  epoch {ev.epoch:3d}/{ev.epochs}  train {ev.train_acc:.4f}  test {ev.test_acc:.4f}"
                      f"  {ev.seconds:5.1f}s{'  *' if ev.is_best else ''}", flush=True)
            elif isinstance(ev, BatchDone) and ev.batch == ev.batches_per_epoch:
                print(f"  ... {ev.samples_per_s:,.0f} samples/s", flush=True)
            elif isinstance(ev, (Finished, Stopped, Failed)):
                result = ev
        if not isinstance(result, Finished):
            print(f"{arch}: training did not finish: {result}", file=sys.stderr)
            return 1
        acc, _ = evaluate_state(arch, result.best_state, data.test_x, data.test_y)
        meta = make_meta(arch, name=f"{arch} (shipped)", test_acc=round(acc, 6),
                         epochs=result.best_epoch, config=cfg.to_dict(),
                         history=result.history.to_dict(), train_seconds=round(result.seconds, 1),
                         test_set="MNIST t10k (10,000 images)",
                         augment_spec=AugmentSpec().to_dict() if cfg.augment else None)
        path = save_checkpoint(Path(args.out) / f"{arch}.safetensors", arch, result.best_state, meta)
        print(f"{arch}: {acc * 100:.2f}% on the 10,000 test images -> {path} "
              f"({time.strftime('%H:%M:%S')}, {result.seconds:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
