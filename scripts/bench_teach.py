#!/usr/bin/env python3
""""Teach it my handwriting", measured on writers digitpad has never seen.

    .venv/bin/python scripts/bench_teach.py [--data ../shared/data] [--writers 5] [--per-digit 10]
        [--test-per-digit 50] [--model FILE] [--device cpu] [--steps N] [--json out.json]

Each writer is one synthesised hand (``digitpad.core.data.styles.make_writer``: one style per digit
and steady habits — slant, pen, proportions, box-filling, scans) with seeds that nothing trains
on. From ``--per-digit`` canvases per digit the model is taught exactly as the app and
``digitpad teach`` do (``core.learning.teach.run``: its own held-out share, MNIST replay, synthesised
styles); then the rest of that writer's handwriting (``--test-per-digit`` more canvases per
digit, never shown to the teaching) is read through the real predict path (``preprocess``,
then ``Predictor.predict_batch``) before and after, and MNIST's test set too.

Writers: the first ``--writers`` seeds from 90001 that the base model reads below ``--below``
(95 %) on a probe of their own (10 per digit, another seed): the people the feature is for.
Most synthesised writers it already reads at 97-100 %, mostly failing on the continental 1.

--box-normalised: every digit of each writer (the samples taught, the probe, the rest read) is
stretched to fill a square both ways, as scanning pipelines leave digits (scripts/_proxy.py):
the writers the base model reads worst include those.

Promise: the taught digitnet reads the writer at >= 97 % (from ~91 %), MNIST test stays
>= 99.4 %, in <= 30 s on 2 CPU cores (teaching seconds: preprocessing, both measurements
and the training steps, MNIST already in memory as the app has it). "cpu s" is the process's
CPU time: on a shared, busy machine half of it estimates an idle 2-core machine's wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import _proxy
from _bench_common import DEFAULT_DATA, machine

GOAL_WRITER = 0.97
GOAL_MNIST = 0.994
GOAL_SECONDS = 30.0
FIRST_WRITER = 90_001  # writer seeds far from anything a training script uses


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--writers", type=int, default=5)
    ap.add_argument("--first-writer", type=int, default=FIRST_WRITER)
    ap.add_argument("--below", type=float, default=0.95,
                    help="only writers the base model reads below this on a probe (1: all)")
    ap.add_argument("--per-digit", type=int, default=10, help="samples per digit to teach from")
    ap.add_argument("--test-per-digit", type=int, default=50, help="more of the writer's digits to read")
    ap.add_argument("--model", default=None, help="model file (default: shipped digitnet)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--user-share", type=float, default=None)
    ap.add_argument("--style-share", type=float, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--holdout", type=float, default=None)
    ap.add_argument("--train-bn", action="store_true", help="let batch norm statistics move")
    ap.add_argument("--json", default=None, metavar="FILE")
    ap.add_argument("--box-normalised", action="store_true",
                    help="each writer's digits stretched to fill a square, as scans are")
    args = ap.parse_args(argv)
    global LOOK
    LOOK = box_normalised if args.box_normalised else (lambda img: img)

    from digitpad.core.nets.checkpoint import load_checkpoint, shipped_model_path
    from digitpad.core.data.mnist import load_mnist
    from digitpad.core.reading.predict import Predictor
    from digitpad.core.data.styles import make_writer
    from digitpad.core.learning.config import TeachConfig
    from digitpad.core.learning.events import Failed, Taught
    from digitpad.core.learning.teach import run

    base = load_checkpoint(args.model or shipped_model_path("digitnet"))
    t = time.perf_counter()
    data = load_mnist(args.data, device="cpu")
    print(f"{machine()}\nMNIST loaded in {time.perf_counter() - t:.1f} s; base model "
          f"{base.name} ({base.arch}); {args.per_digit} samples per digit taught, "
          f"{args.test_per_digit} per digit read\n", flush=True)
    overrides = {k: v for k, v in dict(steps=args.steps, lr=args.lr, user_share=args.user_share,
                                        style_share=args.style_share, batch_size=args.batch_size,
                                        holdout=args.holdout).items() if v is not None}
    if args.train_bn:
        overrides["freeze_bn"] = False
    config_args = dict(device=args.device, **overrides)

    base_pred = Predictor.from_checkpoint(base)
    writers = find_writers(base_pred, args.writers, args.first_writer, args.below)
    if not writers:
        print(f"The base model reads every writer tried ({args.first_writer}..{args.first_writer + 399}) "
              f"at >= {args.below:.0%} on the probe: nothing for teaching to fix. Measure all writers "
              "with --below 1, or start from another model with --model.")
        return 0
    rows = []
    head = (f"{'writer':>7}  {'styles (1 4 7 9)':<32} {'writer before':>13} {'after':>7}  "
            f"{'held-out b/a':>13}  {'MNIST before':>12} {'after':>7}  {'seconds':>7} {'cpu s':>6}")
    print(head)
    print("-" * len(head))
    for seed in writers:
        writer = make_writer(seed)
        teach_imgs, teach_lab, test_imgs, test_lab = writer_digits(writer, args.per_digit,
                                                                   args.test_per_digit)
        before = read_accuracy(base_pred, test_imgs, test_lab)
        result = None
        t0, c0 = time.perf_counter(), time.process_time()
        for ev in run(base, teach_imgs, teach_lab, TeachConfig(**config_args), data=data):
            if isinstance(ev, (Taught, Failed)):
                result = ev
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0  # all threads: on a busy machine, cpu/2 ~ an idle 2-core's wall
        if isinstance(result, Failed) or result is None:
            print(f"writer {seed}: teaching failed: {getattr(result, 'message', '?')}")
            return 1
        rep = result.report
        after = read_accuracy(Predictor(base.arch, result.best_state), test_imgs, test_lab)
        styles = " ".join(writer.styles[d] for d in (1, 4, 7, 9))
        row = dict(writer=seed, styles={str(d): s for d, s in writer.styles.items()},
                   writer_before=before, writer_after=after,
                   held_out_before=rep.before.held_out_acc, held_out_after=rep.after.held_out_acc,
                   mnist_before=rep.before.mnist_acc, mnist_after=rep.after.mnist_acc,
                   seconds=seconds, cpu_seconds=cpu, steps=rep.steps, replay=rep.replay)
        rows.append(row)
        print(f"{seed:>7}  {styles:<32} {_p(before):>13} {_p(after, GOAL_WRITER):>7}  "
              f"{_p(rep.before.held_out_acc):>6}/{_p(rep.after.held_out_acc):>6}  "
              f"{_p(rep.before.mnist_acc):>12} {_p(rep.after.mnist_acc, GOAL_MNIST):>7}  "
              f"{seconds:7.1f}{'*' if seconds > GOAL_SECONDS else ' '}{cpu:6.1f}", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in
            ("writer_before", "writer_after", "held_out_before", "held_out_after",
             "mnist_before", "mnist_after", "seconds", "cpu_seconds")}
    print("-" * len(head))
    print(f"{'mean':>7}  {'':<32} {_p(mean['writer_before']):>13} "
          f"{_p(mean['writer_after'], GOAL_WRITER):>7}  {_p(mean['held_out_before']):>6}/"
          f"{_p(mean['held_out_after']):>6}  {_p(mean['mnist_before']):>12} "
          f"{_p(mean['mnist_after'], GOAL_MNIST):>7}  {mean['seconds']:7.1f}"
          f"{'*' if mean['seconds'] > GOAL_SECONDS else ' '}{mean['cpu_seconds']:6.1f}")
    print(f"\ngoals: writer >= {GOAL_WRITER:.0%}, MNIST test >= {GOAL_MNIST:.1%}, "
          f"<= {GOAL_SECONDS:.0f} s ('*' marks a miss). Replay: {rows[0]['replay']}; "
          f"{rows[0]['steps']} steps.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "rows": rows, "mean": mean,
                       "config": TeachConfig(**config_args).to_dict()}, f, indent=1)
    return 0


LOOK = None  # what a writer's canvas goes through before it is read: as drawn, or box-normalised


def box_normalised(canvas: np.ndarray) -> np.ndarray:
    """A writer's canvas (dark ink on light) with the digit stretched to fill a square."""
    return _proxy.box_normalised(255 - canvas)


def writer_digits(writer, per_digit: int, test_per_digit: int):
    """(teach images, labels, test images, labels): canvases of one writer, two seeds apart."""
    teach_imgs, teach_lab, test_imgs, test_lab = [], [], [], []
    for d in range(10):
        teach_imgs += [LOOK(c) for c in writer.render_canvas(d, per_digit, seed=0)]
        teach_lab += [d] * per_digit
        test_imgs += [LOOK(c) for c in writer.render_canvas(d, test_per_digit, seed=1)]
        test_lab += [d] * test_per_digit
    return teach_imgs, teach_lab, test_imgs, np.array(test_lab)


def find_writers(predictor, n: int, first: int, below: float, probe_per_digit: int = 10,
                 tries: int = 400) -> list[int]:
    """The first n writer seeds from ``first`` that ``predictor`` reads below ``below``.

    The feature is for the people digitpad reads badly; most synthesised writers it already
    reads at 97-100 %, where there is little to measure. The probe uses its own seed (2),
    never the digits taught or measured later. ``below`` >= 1 takes every writer.
    """
    from digitpad.core.data.styles import make_writer

    found = []
    for seed in range(first, first + tries):
        if len(found) == n:
            break
        if below < 1.0:
            w = make_writer(seed)
            imgs, labels = [], []
            for d in range(10):
                imgs += [LOOK(c) for c in w.render_canvas(d, probe_per_digit, seed=2)]
                labels += [d] * probe_per_digit
            if read_accuracy(predictor, imgs, np.array(labels)) >= below:
                continue
        found.append(seed)
    return found


def read_accuracy(predictor, images, labels) -> float:
    preds = predictor.predict_batch(images)
    got = np.array([-1 if p.digit is None else p.digit for p in preds])
    return float((got == labels).mean())


def _p(v, goal: float | None = None) -> str:
    if v is None:
        return "n/a"
    return f"{v * 100:.2f}" + ("*" if goal is not None and v < goal else "")


if __name__ == "__main__":
    sys.exit(main())
