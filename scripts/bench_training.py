#!/usr/bin/env python3
"""Training speed: digitpad's loop against the lesson's, and the time to 99 % for LeNet.

    .venv/bin/python scripts/bench_training.py [--data ../shared/data] [--final]

1. Throughput (samples/s, LeNet, same machine, same run, warm-up excluded), measured in turns:
   - lesson-style loop: torchvision MNIST + ToTensor DataLoader, batch 64, SGD lr 1e-3, the
     lesson's LeNet module, ``loss.item()`` every batch; a fixed subset, a few epochs;
   - digitpad's loop: ``core.learning.training.run`` with the `fast` LeNet recipe on the CPU, timed
     from its own BatchDone windows (training only; the first window is the warm-up).
   Goal: digitpad >= 5x the lesson loop.
2. Time to 99.0 %: ``run`` with the `fast` recipe from scratch (reading MNIST included,
   evaluation after every epoch included), stopped at the first epoch at >= 99.0 % test
   accuracy. Goal: <= 10 s.
3. With --final: the `fast` LeNet recipe for all its default epochs (final and best accuracy).

Timings depend on what else runs: the load average is printed; compare numbers from one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from digitpad.core.data.mnist import DataError, has_mnist, load_mnist  # noqa: E402
from digitpad.core.nets.models import count_parameters  # noqa: E402
from digitpad.core.learning.config import recipe_config  # noqa: E402
from digitpad.core.learning.control import TrainControl  # noqa: E402
from digitpad.core.learning.events import (BatchDone, EpochDone, Failed, Finished,  # noqa: E402
                                           Started, Stopped)
from digitpad.core.learning.training import run  # noqa: E402

RATIO_GOAL = 5.0
TIME_GOAL_S = 10.0


class LessonLeNet(nn.Module):
    """The lesson's LeNet as the lesson writes it (conv -> ReLU -> pool, twice; three fc)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def lesson_samples_per_s(root: Path, images: int, epochs: int, warmup_batches: int = 20) -> float:
    """The lesson's loop over the first ``images`` training images; warm-up batches untimed."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    train = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    loader = DataLoader(Subset(train, range(images)), batch_size=64, shuffle=True)
    torch.manual_seed(0)
    model = LessonLeNet()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()

    def step(x, y) -> float:
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()  # the lesson prints a running loss

    for i, (x, y) in enumerate(loader):
        if i == warmup_batches:
            break
        step(x, y)
    seen, running = 0, 0.0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            running += step(x, y)
            seen += y.shape[0]
    return seen / (time.perf_counter() - t0)


def digitpad_samples_per_s(data, epochs: int, batch_size: int, device: str = "cpu") -> float:
    """The `fast` LeNet recipe through ``run`` at ``batch_size``; BatchDone windows after the first."""
    cfg = recipe_config("fast", "lenet", epochs=epochs, batch_size=batch_size, device=device)
    n = data.train_x.shape[0]
    bs = min(cfg.batch_size, n)
    samples, seconds, prev_batch, first = 0, 0.0, 0, True
    for ev in run(cfg, data):
        if isinstance(ev, Started):
            prev_batch = 0
        elif isinstance(ev, BatchDone):
            m = min(ev.batch * bs, n) - min(prev_batch * bs, n)
            prev_batch = 0 if ev.batch == ev.batches_per_epoch else ev.batch
            if first:  # warm-up: first allocations, oneDNN kernel selection
                first = False
                continue
            samples += m
            seconds += m / ev.samples_per_s
        elif isinstance(ev, Failed):
            raise SystemExit(f"digitpad training failed: {ev.message}")
    return samples / seconds


def time_to_accuracy(root: Path, target: float, device: str, epochs: int) -> tuple[float | None, int, float]:
    """(seconds to the first epoch at >= target or None, that epoch, its accuracy).

    The fast recipe with an ``epochs`` budget: one-cycle anneals within the budget it is given,
    so a short budget is how a person gets to 99 % soonest.
    """
    cfg = recipe_config("fast", "lenet", device=device, epochs=epochs)
    control = TrainControl()
    t0 = time.perf_counter()
    reached, epoch, acc = None, 0, 0.0
    for ev in run(cfg, control=control, data_dir=str(root)):
        if isinstance(ev, EpochDone):
            epoch, acc = ev.epoch, ev.val_acc
            print(f"    epoch {ev.epoch:2d}/{ev.epochs}  validation {ev.val_acc * 100:.2f} %  "
                  f"at {time.perf_counter() - t0:5.1f} s", flush=True)
            if ev.val_acc >= target:
                reached = time.perf_counter() - t0
                control.stop()
        elif isinstance(ev, Failed):
            raise SystemExit(f"digitpad training failed: {ev.message}")
    return reached, epoch, acc


def final_accuracy(data, device: str) -> Finished:
    cfg = recipe_config("fast", "lenet", device=device)
    for ev in run(cfg, data):
        if isinstance(ev, EpochDone):
            print(f"    epoch {ev.epoch:2d}/{ev.epochs}  validation {ev.val_acc * 100:.2f} %  "
                  f"{ev.seconds:4.1f} s", flush=True)
        elif isinstance(ev, (Failed, Stopped)):
            raise SystemExit(f"digitpad training did not finish: {ev}")
        elif isinstance(ev, Finished):
            return ev
    raise SystemExit("digitpad training ended without a result")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"),
                    help="folder holding MNIST/raw (default ../shared/data)")
    ap.add_argument("--lesson-images", type=int, default=10_000,
                    help="training images in the lesson loop's subset")
    ap.add_argument("--lesson-epochs", type=int, default=2, help="timed epochs over that subset")
    ap.add_argument("--epochs", type=int, default=1, help="digitpad epochs per throughput turn")
    ap.add_argument("--repeats", type=int, default=2, help="turns of each loop (best counts)")
    ap.add_argument("--batch", type=int, default=512,
                    help="digitpad loop's batch size for the throughput turns (batch size is the "
                         "loop's main lever on a CPU; the fast recipe itself uses 256)")
    ap.add_argument("--target", type=float, default=0.99, help="accuracy for the time-to-target run")
    ap.add_argument("--target-epochs", type=int, default=3,
                    help="epoch budget of the fast recipe in the time-to-target run")
    ap.add_argument("--skip-target", action="store_true", help="skip the time-to-target run")
    ap.add_argument("--device", default="cpu",
                    help="device of digitpad's loop (the lesson loop stays on the CPU, as in the lesson)")
    ap.add_argument("--final", action="store_true",
                    help="also train the fast recipe for all its epochs and report its accuracy")
    args = ap.parse_args()

    root = Path(args.data)
    if not has_mnist(root):
        print(f"MNIST not found in {root} (expected MNIST/raw/*-ubyte); pass --data DIR.",
              file=sys.stderr)
        return 2
    assert count_parameters(LessonLeNet()) == 44_426  # the same network in both loops
    cfg = recipe_config("fast", "lenet")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"fast LeNet recipe: {cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.optimizer} "
          f"lr {cfg.lr:g}, {cfg.schedule} (warm-up {cfg.warmup:.0%})")
    try:
        data = load_mnist(root)
    except DataError as exc:
        print(exc, file=sys.stderr)
        return 2

    print("\nthroughput (LeNet training, samples/s; turns alternate, best counts):", flush=True)
    lesson, ours = [], []
    for turn in range(1, args.repeats + 1):
        lesson.append(lesson_samples_per_s(root, args.lesson_images, args.lesson_epochs))
        print(f"  turn {turn}: lesson loop {lesson[-1]:9,.0f}", flush=True)
        ours.append(digitpad_samples_per_s(data, args.epochs, args.batch, args.device))
        print(f"  turn {turn}: digitpad    {ours[-1]:9,.0f}", flush=True)
    best_lesson, best_ours = max(lesson), max(ours)
    ratio = best_ours / best_lesson

    reached = None
    if not args.skip_target:
        print(f"\ntime to {args.target * 100:.1f} % (fast recipe, {args.target_epochs}-epoch budget, "
              "from scratch, MNIST loading and evaluation included):", flush=True)
        reached, epoch, acc = time_to_accuracy(root, args.target, args.device, args.target_epochs)

    fin = None
    if args.final:
        print(f"\nfast recipe, all {cfg.epochs} epochs:", flush=True)
        fin = final_accuracy(data, args.device)

    w = 46
    print("\n" + "-" * 78)
    print(f"{'lesson loop (ToTensor DataLoader, bs 64, SGD)':{w}} {best_lesson:12,.0f} samples/s")
    print(f"{f'digitpad loop (fast recipe, bs {args.batch}, {args.device})':{w}} {best_ours:12,.0f} samples/s")
    print(f"{'ratio':{w}} {ratio:12.2f} x   goal >= {RATIO_GOAL:g} x   "
          f"{verdict(ratio >= RATIO_GOAL)}")
    if not args.skip_target:
        if reached is None:
            print(f"{f'time to {args.target * 100:.1f} %':{w}} {'not reached':>12}   "
                  f"best {acc * 100:.2f} % after {epoch} epochs   {verdict(False)}")
        else:
            print(f"{f'time to {args.target * 100:.1f} %':{w}} {reached:12.1f} s   "
                  f"goal <= {TIME_GOAL_S:g} s   epoch {epoch}, {acc * 100:.2f} %   "
                  f"{verdict(reached <= TIME_GOAL_S)}")
    if fin is not None:
        print(f"{f'fast recipe, {cfg.epochs} epochs':{w}} {fin.test_acc * 100:11.2f} % "
              f"  test, once (best validation {fin.best_val_acc * 100:.2f} % at epoch {fin.best_epoch}), "
              f"{fin.seconds:.1f} s")
    print("-" * 78)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
