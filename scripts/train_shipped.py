#!/usr/bin/env python3
"""Train the models shipped in resources/ from MNIST, reproducibly (fixed seeds).

    .venv/bin/python scripts/train_shipped.py [--data ../shared/data] [--models lenet digitnet dense]
        [--device cuda] [--epochs N] [--synth-share S] [--limit-train N] [--out DIR | --no-save]
        [--sweep 0.1 0.2 0.3 --sweep-epochs 8]

Each model is trained with the `fast` recipe plus the per-model settings pinned below. The
best epoch is chosen on a validation split held out of the training set (5,000 images); the
10,000 test images are scored once, at the end, on that epoch's weights. digitnet and lenet
also learn from synthesised handwriting (core.data.styles: continental 1s, curled 9s, ...), mixed
into every batch. After training, each model is also scored on a validation set of
synthesised styles (a seed no training pool uses), per style. The file's metadata records
test_acc, val_acc, the style validation figures and the synthesis spec. Files are written
atomically. --limit-train / --epochs / --synth-share / --no-save are for quick experiments.
--scan-share S (or a trial's p_scan=S) gives that share of each batch as a scan-like input
(core.data.augment.scan_like: the 16 px scan's generic pipeline, never the proxy's writers'
shapes); the proxy itself is scored with scripts/bench_proxy.py --model FILE.

Every model is also scored on the proxy's validation versions (scripts/_proxy.py): the MNIST
validation digits box-normalised (stretched to fill a square, then preprocess) and as 16x16
binary scans of that. --try A B ... trains one short run per candidate ("synth_share=0.3,
p_box=0.15": training settings or AugmentSpec fields), with --leave-style-out also the
leave-style-out runs per candidate, and prints every figure side by side; the choice is made
on those validation figures, never on the test set.

--sweep tries each synthesised share with a short schedule first and trains the shipped model
with the one that scores best on validation: the style validation set's worst style up to the
97 % goal first, then MNIST validation accuracy (never the test set).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _proxy  # noqa: E402
from digitpad.core.data.augment import AugmentSpec  # noqa: E402
from digitpad.core.nets.checkpoint import make_meta, save_checkpoint  # noqa: E402
from digitpad.core.data.mnist import load_mnist  # noqa: E402
from digitpad.core.nets.devices import resolve_device  # noqa: E402
from digitpad.core.data.styles import DEFAULT, STYLES, render_digits  # noqa: E402
from digitpad.core.learning.config import recipe_config  # noqa: E402
from digitpad.core.learning.events import (BatchDone, EpochDone, Failed, Finished,  # noqa: E402
                                           Stopped)
from digitpad.core.learning.training import run  # noqa: E402

# Per-model settings on top of the fast recipe. LeNet gets augmentation and a longer schedule
# here (its app default stays short) because the shipped LeNet must hold up on real handwriting.
# Everything that matters is pinned here, so a change to the app's `fast` defaults does not
# silently change what this script reproduces. synth_share was chosen on validation accuracy
# (MNIST validation split + synthesised-style validation set), never on the test set, by
# `--sweep 0.2 0.3 0.45 --sweep-epochs 4 --sweep-once` on digitnet (LeNet takes its choice):
# every share read every style at >= 97.7 % (style mean 99.71 / 99.76 / 99.84 %), and MNIST
# validation fell as the share grew (99.38 / 99.36 / 99.24 %), so 0.2. Earlier, on LeNet alone
# (before the synthesiser stopped drawing 7-like continental 1s), more synthesised digits read
# the continental 1 better (75 / 89 / 91 % at 0 / 0.15 / 0.3).
# Issue 16 round: the share was kept; box-normalised augmentation (AugmentSpec.p_box) was chosen
# on the proxy's validation figures (`--try p_box=0.0 p_box=0.15` on LeNet, 12,000 training
# images, 3 epochs): MNIST validation 97.33 / 97.33 %, box-normalised validation digits 90.58 /
# 94.67 %, their 16 px scans 88.92 / 91.17 %, so 0.15. digitnet went from 16 to 12 epochs so
# that its retraining fits a shared 2-core CPU (the last one took 1,000 s on an idle one).
# Even that did not fit the day's shared CPU (a LeNet epoch took 793 s), so the shipped files of
# that round were fine-tuned from the previous ones, one thread each (OMP_NUM_THREADS=1):
#   --models digitnet --init-from OLD/digitnet.safetensors --epochs 2 --lr 1e-3
#   --models lenet --init-from OLD/lenet.safetensors --epochs 3 --lr 1e-3
# (each file's metadata says so: fine_tuned_from). From scratch, the settings below apply.
SHIPPED = {
    "lenet": dict(epochs=30, augment=True, lr=4e-3, batch_size=128, label_smoothing=0.0,
                  warmup=0.2, channels_last=False, seed=1, val_size=5000,
                  synth_share=0.2, synth_pool=20000),
    "digitnet": dict(epochs=12, augment=True, lr=3e-3, batch_size=128, label_smoothing=0.05,
                     weight_decay=5e-4, warmup=0.2, channels_last=True, seed=1, val_size=5000,
                     synth_share=0.2, synth_pool=20000),
    "dense": dict(epochs=10, augment=False, lr=2e-3, batch_size=128, label_smoothing=0.0,
                  warmup=0.2, seed=1, val_size=5000, synth_share=0.0),
}
STYLE_VAL_SEED = 900_001  # no training pool uses it (pools use the run's seed)
STYLE_VAL_N = 4000
STYLE_GOAL = 0.97


def style_validation(arch: str, state: dict, device: str) -> dict:
    """Accuracy per synthesised style on the style validation set (the fast 28x28 path)."""
    import torch

    from digitpad.core.nets.builder import build
    from digitpad.core.reading.scoring import score

    x, y, names = render_digits(STYLE_VAL_N, STYLE_VAL_SEED)
    model = build(arch, state, device=device)
    xt = torch.from_numpy(x).unsqueeze(1).float().div(255)
    pred = score(model, xt).argmax(1)
    hit = pred == y
    names = np.array(names)
    per = {s: round(float(hit[names == s].mean()), 5) for s in STYLES if (names == s).any()}
    return {"mean": round(float(np.mean(list(per.values()))), 5), "worst": min(per, key=per.get),
            "worst_acc": min(per.values()), "all": round(float(hit.mean()), 5), "per_style": per,
            "n": STYLE_VAL_N, "seed": STYLE_VAL_SEED}


def _with_augment(spec: dict):
    """Make training use AugmentSpec(**spec) (a trial's augmentation) until the next call."""
    from digitpad.core.learning import training

    training.AugmentSpec = (lambda: AugmentSpec(**spec)) if spec else AugmentSpec


def train_one(arch: str, settings: dict, data, args, save: bool, tag: str = "") -> dict | None:
    """Train one model with ``settings``; print and return its figures (None if it failed)."""
    aug = {k: settings.pop(k) for k in list(settings) if k in AugmentSpec.__dataclass_fields__}
    _with_augment(aug)
    cfg = recipe_config("fast", arch, device=args.device, **settings)
    print(f"== {arch}{' (' + tag + ')' if tag else ''}: {cfg}", flush=True)
    result = None
    init = None
    if getattr(args, "init_from", None):
        from digitpad.core.nets.checkpoint import load_checkpoint

        init = load_checkpoint(args.init_from).state
        print(f"  starting from the weights of {args.init_from}", flush=True)
    for ev in run(cfg, data, initial_state=init):
        if isinstance(ev, EpochDone):
            print(f"  epoch {ev.epoch:3d}/{ev.epochs}  train {ev.train_acc:.4f}  val {ev.val_acc:.4f}"
                  f"  {ev.seconds:5.1f}s{'  *' if ev.is_best else ''}", flush=True)
        elif isinstance(ev, BatchDone) and ev.batch == ev.batches_per_epoch and ev.epoch == 1:
            print(f"  ... {ev.samples_per_s:,.0f} samples/s", flush=True)
        elif isinstance(ev, (Finished, Stopped, Failed)):
            result = ev
    if not isinstance(result, Finished):
        print(f"{arch}: training did not finish: {result}", file=sys.stderr)
        return None
    styles = style_validation(arch, result.best_state, str(resolve_device(cfg.device)))
    try:
        proxy = _proxy_validation(arch, result.best_state, data, cfg, args)
    except Exception as exc:  # a figure that failed must not cost the trained model
        print(f"  proxy validation failed: {exc!r}", file=sys.stderr, flush=True)
        proxy = dict.fromkeys(_proxy.PROXY_VARIANTS, float("nan"))
    synth = ({"share": cfg.synth_share, "pool": cfg.synth_pool, "seed": cfg.seed,
              "styles": list(STYLES), "options": asdict(DEFAULT)} if cfg.synth_share > 0 else None)
    figures = {"arch": arch, "tag": tag, "test_acc": None if tag else round(result.test_acc, 6),
               "val_acc": round(result.best_val_acc, 6), "best_epoch": result.best_epoch,
               "style_val_mean": styles["mean"], "style_val_worst": styles["worst_acc"],
               "style_val_worst_style": styles["worst"], "synth_share": cfg.synth_share,
               "box_val": proxy["box-normalised"], "scan_val": proxy["box-normalised 16px scan"],
               "augment": aug or None,
               "epochs": cfg.epochs, "limit_train": args.limit_train,
               "seconds": round(result.seconds, 1)}
    # a sweep's test figure is not printed: choices are made on validation alone
    test = f", test (once) {result.test_acc * 100:.2f}%" if save or not tag else ""
    print(f"{arch}: validation {result.best_val_acc * 100:.2f}% (epoch {result.best_epoch}), "
          f"styles (validation) mean {styles['mean'] * 100:.2f}% worst {styles['worst']} "
          f"{styles['worst_acc'] * 100:.2f}%{test}  ({result.seconds:.0f}s)", flush=True)
    print("  proxy (validation): " + "  ".join(f"{k} {v * 100:.2f}%" for k, v in proxy.items()), flush=True)
    print("  per style: " + "  ".join(f"{k} {v * 100:.1f}" for k, v in styles["per_style"].items()),
          flush=True)
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps(figures) + "\n")
    if not save:
        return figures
    meta = make_meta(arch, name=f"{arch} (shipped)", test_acc=round(result.test_acc, 6),
                     val_acc=round(result.best_val_acc, 6), epochs=result.best_epoch,
                     config=cfg.to_dict(), history=result.history.to_dict(),
                     train_seconds=round(result.seconds, 1),
                     test_set="MNIST t10k (10,000 images), scored once after training",
                     val_set=f"{cfg.val_size} images held out of MNIST train (training.split_validation)",
                     style_val=styles, synth=synth, proxy_val=proxy,
                     fine_tuned_from=(f"{Path(args.init_from).name}: its weights, then these settings"
                                      if getattr(args, "init_from", None) else None),
                     augment_spec=AugmentSpec(**aug).to_dict() if cfg.augment else None)
    path = save_checkpoint(Path(args.out) / f"{arch}.safetensors", arch, result.best_state, meta,
                           shipped=True)
    print(f"{arch}: -> {path} ({time.strftime('%H:%M:%S')})", flush=True)
    return figures


_PROXY_SETS: dict = {}


def _proxy_validation(arch: str, state: dict, data, cfg, args) -> dict:
    """The proxy's figures on this run's validation digits (box-normalised, 16 px scans)."""
    from digitpad.core.nets.models import create_model

    key = (data.train_x.shape[0], cfg.val_size)
    if key not in _PROXY_SETS:
        _PROXY_SETS[key] = _proxy.ProxySets.build(*_proxy.validation_digits(data.train_x.cpu(),
                                                                            data.train_y.cpu(), cfg.val_size))
    model = create_model(arch)
    model.load_state_dict(state)
    return _PROXY_SETS[key].score(model, str(resolve_device(cfg.device)))


def parse_trial(text: str) -> dict:
    """"synth_share=0.3,p_box=0.15" -> {"synth_share": 0.3, "p_box": 0.15}."""
    out = {}
    for part in filter(None, text.split(",")):
        k, _, v = part.partition("=")
        out[k.strip()] = json.loads(v) if v.strip()[:1] in "[{" else float(v) if "." in v or "e" in v else int(v)
    return out


def _memo_pool() -> None:
    """Sweep runs of one model share a seed and so a pool: render it once per process."""
    from digitpad.core.data import styles

    render, cache = styles.synth_pool, {}

    def pool(n, seed, device="cpu", styles_=None, options=None):
        key = (n, seed, str(device))
        if styles_ is not None or options is not None:
            return render(n, seed, device, styles_, options)
        if key not in cache:
            cache[key] = render(n, seed, device)
        return cache[key]

    styles.synth_pool = pool


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--models", nargs="+", default=["lenet", "digitnet", "dense"], choices=list(SHIPPED))
    ap.add_argument("--out", default=str(ROOT / "resources"))
    ap.add_argument("--no-save", action="store_true", help="train and report, write nothing")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--epochs", type=int, default=None, help="override every model's epochs")
    ap.add_argument("--synth-share", type=float, default=None, help="override the synthesised share")
    ap.add_argument("--scan-share", type=float, default=None,
                    help="share of each batch as a scan-like 16 px input (AugmentSpec.p_scan; "
                         "models with augmentation only)")
    ap.add_argument("--limit-train", type=int, default=None, help="first N training images only")
    ap.add_argument("--json", metavar="PATH", help="append one JSON line per model with the figures")
    ap.add_argument("--sweep", nargs="+", type=float, metavar="SHARE",
                    help="choose the synthesised share among these on validation first")
    ap.add_argument("--sweep-epochs", type=int, default=None, help="epochs of each sweep run")
    ap.add_argument("--sweep-once", action="store_true",
                    help="sweep on the first model with a share only; the others take its choice")
    ap.add_argument("--init-from", metavar="FILE",
                    help="start from this model's weights (fine-tune) instead of random ones")
    ap.add_argument("--lr", type=float, default=None, help="override the peak learning rate")
    ap.add_argument("--try", dest="trials", nargs="+", metavar="K=V,...",
                    help="short runs of these candidate settings side by side (nothing saved)")
    ap.add_argument("--leave-style-out", action="store_true",
                    help="with --try: also the leave-style-out runs of each candidate")
    args = ap.parse_args()

    data = load_mnist(args.data, limit_train=args.limit_train)
    if args.trials:
        return run_trials(args, data)
    _memo_pool()
    for arch in args.models:
        settings = dict(SHIPPED[arch])
        if args.epochs:
            settings["epochs"] = args.epochs
        if args.lr:
            settings["lr"] = args.lr
        if args.scan_share is not None and settings.get("augment"):  # dense trains unaugmented
            settings["p_scan"] = args.scan_share
        if args.synth_share is not None and settings.get("synth_share", 0) > 0:  # dense stays MNIST-only
            settings["synth_share"] = args.synth_share
        if args.sweep and settings.get("synth_share", 0) > 0:
            tried = []
            for share in args.sweep:
                trial = dict(settings, synth_share=share, epochs=args.sweep_epochs or settings["epochs"])
                done = train_one(arch, trial, data, args, save=False, tag=f"sweep share {share}")
                if done is None:
                    return 1
                fig = done
                score = min(fig["style_val_worst"], STYLE_GOAL) + fig["val_acc"]
                tried.append((score, share))
                print(f"  sweep {arch} share {share}: validation {fig['val_acc'] * 100:.2f}%, style worst "
                      f"{fig['style_val_worst'] * 100:.2f}%, style mean {fig['style_val_mean'] * 100:.2f}% "
                      f"-> score {score:.5f}", flush=True)
            settings["synth_share"] = max(tried)[1]
            print(f"  sweep {arch}: chose share {settings['synth_share']}", flush=True)
            if args.sweep_once:  # the later models take the first one's choice
                args.sweep, args.synth_share = None, settings["synth_share"]
        if train_one(arch, settings, data, args, save=not args.no_save) is None:
            return 1
    return 0


def run_trials(args, data) -> int:
    """Each candidate once on every model asked for; figures on validation only."""
    rows = []
    for arch in args.models:
        for text in args.trials:
            trial = parse_trial(text)
            settings = dict(SHIPPED[arch], **trial)
            if args.epochs:
                settings["epochs"] = args.epochs
            fig = train_one(arch, dict(settings), data, args, save=False, tag=f"try {text}")
            if fig is None:
                return 1
            if args.leave_style_out:
                aug = {k: v for k, v in trial.items() if k in AugmentSpec.__dataclass_fields__}
                _with_augment(aug)
                lso = _proxy.leave_style_out(data, arch, {k: v for k, v in settings.items()
                                                          if k not in AugmentSpec.__dataclass_fields__},
                                             device=args.device)
                _with_augment({})
                fig["leave_style_out"] = lso
                if args.json:
                    with open(args.json, "a") as fh:
                        fh.write(json.dumps(fig) + "\n")
            rows.append((arch, text, fig))
    print("\nvalidation figures (%):")
    for arch, text, fig in rows:
        lso = fig.get("leave_style_out")
        unseen = (" unseen styles mean {:.2f} worst {:.2f}".format(
            100 * np.mean([v["unseen"] for v in lso.values()]), 100 * min(v["unseen"] for v in lso.values()))
            if lso else "")
        print(f"  {arch:8s} {text:36s} MNIST {fig['val_acc'] * 100:.2f}  box {fig['box_val'] * 100:.2f}  "
              f"scan {fig['scan_val'] * 100:.2f}  styles {fig['style_val_mean'] * 100:.2f}{unseen}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
