"""Training on MNIST as a plain generator of events.

``run(config, data, control)`` yields :class:`~.events.Started`, many ``BatchDone``, one
``EpochDone`` per epoch, and ends with exactly one of ``Finished``, ``Stopped`` or ``Failed``.
It supplies the step loop (:mod:`.loop`, which teaching shares) with MNIST's batches, the
one-cycle schedule and the validation split that chooses the best epoch, then scores the test
set once. It knows nothing of Qt or terminals: the CLI turns the events into a progress bar,
the app's worker thread turns them into signals.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace

import torch
import torch.nn.functional as F

from ..data.augment import AugmentSpec, augment
from ..data.fingerprint import fingerprint
from ..data.mnist import MnistTensors, load_mnist
from ..nets.devices import resolve_device
from ..nets.builder import build
from ..nets.models import create_model
from .config import TrainConfig
from .control import TrainControl
from .divergence import DivergenceWatch
from .events import Event, Failed, Finished, History, Started, Stopped
from .loop import (FINISHED, STOPPED, Forward, Plan, StopRequested, continue_schedule,
                   describe, make_optimizer, run_epochs, warmup_cosine)

# torch's intra-op thread count as the process started. A thread inherits the count of the
# thread that starts it, and the predictor lowers it to 1 for the length of a call: a training
# thread started during a prediction would otherwise train on one core for its whole run.
TRAIN_THREADS = torch.get_num_threads()
# The validation images are the same for every run, whatever its seed: a model continued from
# another (resume, teach) must never have trained on the images that select its best epoch.
SPLIT_SEED = 20_260_607
# The one-cycle schedule ends at this share of the peak rate.
ONECYCLE_FINAL = 0.001


def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
             batch_size: int = 1000, should_stop=None) -> tuple[float, float, torch.Tensor]:
    """Mean loss, accuracy and predictions over (x, y); the model is left in eval mode.

    ``should_stop`` is checked between batches: scoring 10,000 images with digitnet on a busy
    CPU takes seconds, and a closing window must not wait for it.
    """
    model.eval()
    with torch.inference_mode():
        total_loss = torch.zeros((), device=x.device)
        preds = []
        for i in range(0, x.shape[0], batch_size):
            if should_stop is not None and should_stop():
                raise StopRequested()
            logits = model(x[i:i + batch_size])
            total_loss += F.cross_entropy(logits, y[i:i + batch_size], reduction="sum")
            preds.append(logits.argmax(1))
        pred = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long, device=x.device)
        n = max(1, x.shape[0])
        correct = (pred == y).sum()
        # one transfer for both numbers (a GPU syncs once per evaluation, not per batch)
        loss_sum, correct = torch.stack([total_loss, correct.to(total_loss.dtype)]).tolist()
    # a normal tensor, so callers may still modify it outside inference mode
    return loss_sum / n, correct / n, pred.clone()


def schedule_for(cfg: TrainConfig, opt: torch.optim.Optimizer, total_steps: int):
    """One-cycle (warm up from lr/10 to lr, then cosine down to lr/1000), or None for the
    lesson's constant rate."""
    if cfg.schedule != "onecycle":
        return None
    return warmup_cosine(opt, total_steps, cfg.warmup, ONECYCLE_FINAL)


def epoch_batches(x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, gen: torch.Generator,
                  aug_spec: AugmentSpec | None, synth: tuple | None) -> Iterator[tuple]:
    """One epoch of (x, y) in the order ``gen`` draws, ready for the forward pass.

    ``synth`` = (images, labels) on x's device: ``cfg.synth_share`` of every batch is drawn
    from it instead of from x.
    """
    n = x.shape[0]
    bs = min(cfg.batch_size, n)
    perm = torch.randperm(n, generator=gen, device="cpu").to(x.device)
    mem = torch.channels_last if cfg.channels_last else torch.contiguous_format
    for b in range(math.ceil(n / bs)):
        idx = perm[b * bs:(b + 1) * bs]
        xb, yb = x[idx], y[idx]
        if synth is not None:
            xb, yb = _mix_synth(xb, yb, synth, cfg.synth_share, gen)
        if aug_spec is not None:
            xb = augment(xb, aug_spec, gen if x.device.type == "cpu" else None)
        yield xb.contiguous(memory_format=mem), yb


def _mix_synth(xb: torch.Tensor, yb: torch.Tensor, synth: tuple, share: float,
               gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch with its first round(share * len) samples replaced by random pool digits."""
    k = round(share * xb.shape[0])
    if k == 0:
        return xb, yb
    sx, sy = synth
    pick = torch.randint(sx.shape[0], (k,), generator=gen, device="cpu").to(sx.device)
    return torch.cat([sx[pick], xb[k:]]), torch.cat([sy[pick], yb[k:]])


def split_validation(n: int, val_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices) of a training set of n images.

    The validation split has ``val_size`` images, but at most a tenth of a small set (at
    least 1, and never all of it); the same n and val_size always give the same split.
    """
    if n < 2:
        raise ValueError("training needs at least 2 images (one is held out for validation)")
    k = max(1, min(val_size, n // 10))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return perm[k:].sort().values, perm[:k].sort().values


def synth_needed(config: TrainConfig, train_size: int) -> int:
    """How many synthesised digits a run draws (so small runs render a small pool)."""
    if config.synth_share <= 0:
        return 0
    bs = min(config.batch_size, train_size)
    per_epoch = sum(round(config.synth_share * min(bs, train_size - i)) for i in range(0, train_size, bs))
    return min(config.synth_pool, per_epoch * config.epochs)


def permuted(data: MnistTensors) -> MnistTensors:
    """Both splits with every image's pixels in the one fixed shuffled order."""
    from ..nets.permutation import permute_pixels, pixel_permutation

    perm = pixel_permutation(0)
    return replace(data, train_x=permute_pixels(data.train_x, perm),
                   test_x=permute_pixels(data.test_x, perm))


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's data order, augmentation and dropout: a run resumed at epoch k
    draws exactly what an uninterrupted run with the same seed draws from epoch k on."""
    return (int(seed) * 1_000_003 + int(epoch) * 7_919) % (2 ** 63 - 1)


def run(config: TrainConfig, data: MnistTensors | None = None,
        control: TrainControl | None = None, initial_state: dict | None = None,
        data_dir: str | None = None, resume: dict | None = None,
        start_val_acc: float | None = None,
        input_convention: str | None = None) -> Iterator[Event]:
    """Train ``config.model`` and yield events; see the module docstring.

    ``initial_state`` continues from existing weights (a loaded checkpoint); otherwise the
    model starts from the seed's random initialisation. ``data`` may be preloaded (on any
    device); otherwise MNIST is read from ``data_dir``. The best epoch is chosen on a
    validation split of the training set (:func:`split_validation`); the test set is scored
    once, after the last epoch, with the best epoch's weights. ``start_val_acc`` is the
    validation accuracy of the weights a run continues from: collapsing from there is
    divergence too.

    ``resume`` continues an interrupted run where it stopped (``initial_state`` then holds the
    weights of its last epoch): ``{"epoch": epochs done, "step": optimiser steps done,
    "optimizer": its state_dict, "best_val_acc", "best_epoch", "best_state", "history":
    History.to_dict()}``. The one-cycle schedule continues at ``step``; the data order of each
    epoch depends only on (seed, epoch), so the rest of the run is the one an uninterrupted
    run would have trained.
    """
    control = control or TrainControl()
    clock = control.clock
    try:
        config.validate()
        device = resolve_device(config.device)
        if torch.get_num_threads() != TRAIN_THREADS:  # only this thread's count changes
            torch.set_num_threads(TRAIN_THREADS)
        if data is None:
            data = load_mnist(data_dir, device=device)
        else:
            data = data.to(device)
        if config.permute:
            data = permuted(data)
        torch.manual_seed(config.seed)
        if initial_state is not None:
            # the one builder, trainable: a user's own state dict keeps its input layer
            # (``input_convention``, the ToTensor / 0-255 ... its weights were trained on)
            model = build(config.model, initial_state,
                          {"input": input_convention} if input_convention else None,
                          inference=False)
        else:
            model = create_model(config.model)
        model.to(device)
        if config.channels_last:
            model.to(memory_format=torch.channels_last)
        if device.type == "cuda":
            # fixed batch shapes: let cuDNN pick the fastest convolution once
            torch.backends.cudnn.benchmark = True
        train_idx, val_idx = split_validation(data.train_x.shape[0], config.val_size)
        dev_train, dev_val = train_idx.to(device), val_idx.to(device)
        train_x, train_y = data.train_x[dev_train], data.train_y[dev_train]
        val_x, val_y = data.train_x[dev_val], data.train_y[dev_val]
        val_data = fingerprint(val_x, val_y)
        synth = None
        if config.synth_share > 0:
            from ..data.styles import synth_pool
            synth = synth_pool(synth_needed(config, train_x.shape[0]), config.seed, device)
    except Exception as exc:  # every setup problem ends as one readable Failed event
        yield Failed(describe(exc))
        return

    n = train_x.shape[0]
    batches = math.ceil(n / min(config.batch_size, n))
    opt = make_optimizer(config, model)
    sched = schedule_for(config, opt, batches * config.epochs)
    aug_spec = AugmentSpec() if config.augment else None
    gens: dict[int, torch.Generator] = {}

    def seed_epoch(epoch: int) -> None:
        gens[epoch] = torch.Generator(device="cpu").manual_seed(epoch_seed(config.seed, epoch))
        torch.manual_seed(epoch_seed(config.seed, epoch))  # dropout, and augmentation on a GPU

    def score(should_stop) -> tuple[float, float]:
        val_loss, val_acc, _ = evaluate(model, val_x, val_y, config.eval_batch_size,
                                        should_stop=should_stop)
        return val_loss, val_acc

    plan = Plan(model, opt, sched, config.epochs, batches,
                batches=lambda epoch: epoch_batches(train_x, train_y, config, gens.pop(epoch),
                                                    aug_spec, synth),
                score=score, forward=Forward(model, config.compile),
                label_smoothing=config.label_smoothing, report_every=config.report_every,
                seed_epoch=seed_epoch, watch=DivergenceWatch(start_val_acc))
    if resume is not None:
        try:
            opt.load_state_dict(resume["optimizer"])
            plan.step = int(resume["step"])
            plan.first_epoch = int(resume["epoch"]) + 1
            continue_schedule(opt, sched, plan.step)  # the schedule of this config, at the step reached
            plan.history = History.from_dict(resume.get("history"))
            if resume.get("best_state") is not None:
                plan.best_acc = float(resume["best_val_acc"])
                plan.best_epoch = int(resume["best_epoch"])
                plan.best_state = resume["best_state"]
        except Exception as exc:
            yield Failed(f"The saved training state cannot be continued: {describe(exc)}")
            return
    clock.start()  # training time counts from here, not while MNIST loads
    yield Started(config, str(device), n, data.test_x.shape[0], batches,
                  sum(p.numel() for p in model.parameters()), val_x.shape[0], config.epochs,
                  val_data)

    outcome = yield from run_epochs(plan, control)
    if outcome == STOPPED:
        clock.end()
        yield Stopped(len(plan.history.epochs), max(plan.best_acc, 0.0), plan.best_epoch,
                      plan.best_state, plan.history, clock.active_seconds(), config)
        return
    if outcome != FINISHED:
        clock.end()
        return
    try:  # the test set, once, on the chosen weights
        model.load_state_dict(plan.best_state)
        _, test_acc, _ = evaluate(model, data.test_x, data.test_y, config.eval_batch_size)
    except Exception as exc:
        clock.end()
        yield Failed(describe(exc), len(plan.history.epochs))
        return
    clock.end()
    yield Finished(plan.best_acc, plan.best_epoch, plan.best_state, plan.history,
                   clock.active_seconds(), config, test_acc)
