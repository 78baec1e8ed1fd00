"""The one step loop: training and teaching both run their epochs (rounds) through it.

The caller supplies a :class:`Plan`: the model, optimiser and schedule, its batches for each
epoch (MNIST for training; the person's samples mixed with replay and styles for teaching)
and how an epoch is scored. :func:`run_epochs` does the rest the same way for both: stepping,
``BatchDone`` reports, stop and pause (:class:`~.control.TrainControl`, checked between
batches), the divergence watch, ``EpochDone`` with the weights (and the optimiser state a
resume needs), the best epoch, and one description of whatever went wrong (:func:`describe`).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .control import TrainControl
from .divergence import DivergenceWatch
from .events import BatchDone, EpochDone, Failed, History, Notice

log = logging.getLogger("digitpad.training")


class StopRequested(Exception):
    """Raised by a scorer when its ``should_stop`` says so between batches."""


# --- what went wrong, in words --------------------------------------------------------------

def is_out_of_memory(exc: BaseException) -> bool:
    from ..io.files import is_allocation_failure

    return (isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()
            or is_allocation_failure(exc))


def describe(exc: BaseException) -> str:
    """One sentence for a run's failure; running out of memory says what to try."""
    from ..io.files import allocation_message, is_allocation_failure

    msg = str(exc).strip() or type(exc).__name__
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in msg.lower():
        return "The device ran out of memory: try a smaller batch size or the CPU."
    if is_allocation_failure(exc):
        return allocation_message(exc)
    return msg


# --- the pieces both runs build ---------------------------------------------------------------

def cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def optimizer_state_cpu(opt: torch.optim.Optimizer) -> dict:
    """A CPU copy of the optimiser's state_dict (tensors cloned: the optimiser keeps going)."""
    import copy

    sd = opt.state_dict()
    return {"state": {k: {n: (v.detach().to("cpu", copy=True) if torch.is_tensor(v) else v)
                          for n, v in st.items()} for k, st in sd["state"].items()},
            "param_groups": copy.deepcopy(sd["param_groups"])}


def make_optimizer(config, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The config's optimiser: SGD, or AdamW without weight decay on biases and norms."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    try:
        # One kernel for all parameters instead of a dozen small ops each: it matters for
        # small models, whose optimizer step is a visible share of a training step.
        return torch.optim.AdamW(groups, lr=config.lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # a device or build without the fused kernel
        return torch.optim.AdamW(groups, lr=config.lr)


def warmup_cosine(opt: torch.optim.Optimizer, total_steps: int, warmup: float,
                  final: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Warm up from a tenth of the rate to the rate over ``warmup`` of the steps (the
    optimiser's moments start at zero), then cosine down to ``final`` times the rate.

    A LambdaLR because torch's OneCycleLR divides by zero when a run has only a handful of
    steps (a tiny data set, one epoch), which the app and tests do.
    """
    total = max(1, total_steps)
    warm = max(1, round(warmup * total))
    start = 0.1

    def factor(step: int) -> float:
        if step < warm:
            return start + (1.0 - start) * step / warm
        progress = min(1.0, (step - warm) / max(1, total - warm))
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def continue_schedule(opt: torch.optim.Optimizer, sched, step: int) -> None:
    """Put ``sched`` (None: a constant rate) at ``step``, as if it had stepped there."""
    if sched is None:
        return
    sched.last_epoch = step
    for group, base, f in zip(opt.param_groups, sched.base_lrs, sched.lr_lambdas):
        group["lr"] = base * f(step)


class Forward:
    """The model's forward pass, compiled when asked and possible, eager otherwise."""

    def __init__(self, model: torch.nn.Module, compile: bool = False) -> None:
        self.model = model
        self.compiled = None
        self.notes: list[str] = []  # what went wrong with compiling, for a Notice event
        if compile:
            try:
                self.compiled = torch.compile(model)
            except Exception as exc:  # no compiler, frozen bundle, unsupported platform
                self.notes.append(compile_failed(exc))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.compiled is not None:
            try:
                return self.compiled(x)
            except Exception as exc:  # compiling happens on the first call, so it fails here
                if is_out_of_memory(exc):
                    raise  # not a compiling problem: the run fails with the readable message
                self.compiled = None
                self.notes.append(compile_failed(exc))
        return self.model(x)


# What says "this machine cannot compile" rather than "compiling this model went wrong".
_MISSING_TOOLCHAIN = ("compiler", "not found", "no such file", "triton", "not supported",
                      "frozen", "cl.exe", "gcc", "g++", "clang", "python.h", "cuda toolkit")


def compile_failed(exc: BaseException) -> str:
    """The message for a failed torch.compile: "unavailable" only when the toolchain is
    missing; any other failure says so, and its traceback goes to the log."""
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    if isinstance(exc, (ImportError, OSError)) or any(w in str(exc).lower() for w in _MISSING_TOOLCHAIN):
        msg = f"torch.compile is unavailable here ({text}); training continues uncompiled."
    else:
        msg = (f"torch.compile failed on this model ({text}); training continues uncompiled. "
               "The log has the traceback.")
    log.warning(msg, exc_info=exc)
    warnings.warn(msg, RuntimeWarning, stacklevel=3)
    return msg


# --- the loop -----------------------------------------------------------------------------------

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class Plan:
    """One run, as its caller sets it up; :func:`run_epochs` updates ``step``, ``history``
    and the best epoch as it goes."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler | None
    epochs: int  # the last epoch (teaching: round) to run
    batches_per_epoch: int
    # epoch -> its batches, ready for the forward pass (mixed, augmented, in memory format)
    batches: Callable[[int], Iterable[Batch]]
    # the weights after an epoch -> (validation loss or None, validation accuracy); checks
    # ``should_stop`` between batches and raises StopRequested
    score: Callable[[Callable[[], bool]], tuple[float | None, float]]
    # how many batches epoch e has (default batches_per_epoch: the last one reports)
    batches_in: Callable[[int], int] | None = None
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None
    train_mode: Callable[[], None] | None = None  # default model.train()
    label_smoothing: float = 0.0
    report_every: int = 20
    counted: int | None = None  # leading samples of a batch that count for train accuracy
    seed_epoch: Callable[[int], None] | None = None  # called before an epoch's first batch
    keep_train_state: bool = True  # EpochDone carries the optimiser state for a resume
    watch: DivergenceWatch = field(default_factory=DivergenceWatch)
    first_epoch: int = 1
    step: int = 0
    history: History = field(default_factory=History)
    best_acc: float = -1.0
    best_epoch: int = 0
    best_state: dict | None = None


STOPPED, FINISHED, FAILED = "stopped", "finished", "failed"


class _Cores:
    """This thread's torch intra-op threads: one fewer while the person draws in the app
    (``control.room_wanted``), all of them otherwise. With every core busy in a training
    step the window's thread waited for one: drawing while training LeNet stalled it up to
    ~230 ms (issue 21); see docs/architecture.md for the options measured."""

    def __init__(self) -> None:
        self.full = self.now = torch.get_num_threads()

    def follow(self, control: TrainControl) -> None:
        want = max(1, self.full - 1) if control.room_wanted else self.full
        if want != self.now:
            torch.set_num_threads(want)  # this thread's count only
            self.now = want

    def restore(self) -> None:
        if self.now != self.full:
            torch.set_num_threads(self.full)
            self.now = self.full


def run_epochs(plan: Plan, control: TrainControl) -> Iterator:
    """Train ``plan``'s epochs, yielding BatchDone, EpochDone, Notice and at most one Failed.

    Returns (as the generator's value) ``"finished"``, ``"stopped"`` or ``"failed"``.
    """
    cores = _Cores()
    try:
        return (yield from _run_epochs(plan, control, cores))
    finally:
        cores.restore()


def _run_epochs(plan: Plan, control: TrainControl, cores: "_Cores") -> Iterator:
    for epoch in range(plan.first_epoch, plan.epochs + 1):
        t_epoch = time.perf_counter()
        try:
            if plan.seed_epoch is not None:
                plan.seed_epoch(epoch)
            totals = yield from _one_epoch(plan, control, epoch, cores)
            if totals is None:
                return STOPPED
            if isinstance(totals, Failed):
                yield totals
                return FAILED
            val_loss, val_acc = plan.score(lambda: control.stop_requested)
        except StopRequested:
            return STOPPED
        except Exception as exc:
            log.debug("the run failed in epoch %d", epoch, exc_info=True)
            yield Failed(describe(exc), epoch)
            return FAILED
        problem = plan.watch.validation(epoch, val_loss) or plan.watch.epoch(epoch, val_acc)
        if problem:
            yield Failed(problem, epoch)
            return FAILED
        train_loss, train_acc = totals
        state = cpu_state(plan.model)
        is_best = val_acc > plan.best_acc
        if is_best:
            plan.best_acc, plan.best_epoch, plan.best_state = val_acc, epoch, state
        extra = ({"optimizer": optimizer_state_cpu(plan.optimizer), "step": plan.step,
                  "epoch": epoch} if plan.keep_train_state else None)
        ev = EpochDone(epoch, plan.epochs, train_loss, train_acc,
                       float("nan") if val_loss is None else val_loss, val_acc,
                       time.perf_counter() - t_epoch, is_best, state, extra)
        plan.history.add(ev)
        yield ev
        if control.stop_requested:
            return STOPPED
    return FINISHED


def _one_epoch(plan: Plan, control: TrainControl, epoch: int, cores: _Cores):
    """Yields BatchDone and Notice; returns (train loss, train accuracy), a Failed from the
    divergence watch, or None when stopped."""
    model, opt, sched = plan.model, plan.optimizer, plan.schedule
    forward = plan.forward or model
    (plan.train_mode or model.train)()
    batches = plan.batches_in(epoch) if plan.batches_in is not None else plan.batches_per_epoch
    device = next(model.parameters()).device
    # sums stay on the device: no sync per batch, only at reports
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    window_loss = torch.zeros((), device=device)
    window_n = samples_window = seen = counted = 0
    t_window = time.perf_counter()
    source = iter(plan.batches(epoch))
    for b in range(batches):
        if control.stop_requested:
            return None
        control.wait_while_paused()
        if control.stop_requested:
            return None
        cores.follow(control)
        xb, yb = next(source)
        logits = forward(xb)
        loss = F.cross_entropy(logits, yb, label_smoothing=plan.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        plan.step += 1
        m = yb.shape[0]
        k = m if plan.counted is None else min(plan.counted, m)
        seen += m
        counted += k
        d = loss.detach()
        loss_sum += d * m
        window_loss += d
        window_n += 1
        correct += (logits.detach()[:k].argmax(1) == yb[:k]).sum()
        samples_window += m
        forward_notes = getattr(forward, "notes", None)
        while forward_notes:  # compiling failed (at the first call): say so once
            yield Notice(forward_notes.pop(0))
        if window_n >= plan.report_every or b == batches - 1:
            mean = window_loss.item() / window_n
            problem = plan.watch.batch(epoch, mean)
            if problem:
                return Failed(problem, epoch)
            now = time.perf_counter()
            yield BatchDone(epoch, b + 1, plan.batches_per_epoch, plan.step, mean,
                            samples_window / max(now - t_window, 1e-9), opt.param_groups[0]["lr"])
            window_loss.zero_()
            window_n = samples_window = 0
            t_window = now
    return loss_sum.item() / max(1, seen), correct.item() / max(1, counted)
