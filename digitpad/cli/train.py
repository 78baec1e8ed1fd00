"""The ``digitpad train`` command."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from .common import CliError, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, _claim, _install_sigint, _one_line, _pct, _printable, _progress_bar, _restore_handler, resolve_model_path


def default_out_path(model: str) -> Path:
    from ..core.io.paths import models_dir

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return models_dir() / f"{model}-{stamp}.safetensors"


def cmd_train(args: argparse.Namespace) -> int:
    from ..core.nets.checkpoint import load_checkpoint
    from ..core.nets.devices import resolve_device
    from ..core.learning.session import plan_resume
    from ..core.learning.config import recipe_config

    resumed = plan = None
    model = args.model
    overrides = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                     device=args.device, seed=args.seed, permute=args.permute or None)
    if args.resume:
        # a shipped name too; a user's own state dict has its input scored on --data's MNIST
        resumed = load_checkpoint(resolve_model_path(args.resume), data_dir=args.data)
        if model is not None and model != resumed.arch:
            raise CliError(f"--resume {args.resume} holds a {resumed.arch} model, not {model}; "
                           f"drop --model or use --model {resumed.arch}.")
        model = resumed.arch
        # the file's own settings, explicit options winning; its training state continues
        plan = plan_resume(resumed, recipe=args.recipe, **overrides)
        config = plan.config
    else:
        model = model or "digitnet"
        config = recipe_config(args.recipe or "fast", model, **overrides)
    recipe = config.recipe
    resolve_device(config.device)  # fails on a bad device before MNIST is read
    out = Path(args.out).expanduser() if args.out else default_out_path(model)
    if out.suffix.lower() != ".safetensors":
        raise CliError(f"--out must end in .safetensors (got {out.name}).")
    if out.is_dir():
        raise CliError(f"--out {out} is a folder; give a file name ending in .safetensors.")
    with _claim(out, args.overwrite) as claim:
        return _train_into(args, out, claim, config, model, recipe, resumed, plan)


def _train_into(args, out: Path, claim, config, model: str, recipe: str, resumed, plan) -> int:
    """Drive a :class:`~digitpad.core.learning.session.TrainingSession` with a progress bar;
    it writes only through ``claim`` (``out`` is the path as the person named it)."""
    from ..core.data.mnist import load_mnist
    from ..core.io.paths import resolve_data_dir
    from ..core.learning.events import (BatchDone, EpochDone, Failed, Finished, Notice, Started,
                                       Stopped)
    from ..core.learning.session import TrainingSession

    root = resolve_data_dir(args.data)
    data = load_mnist(root, device="cpu")
    print(f"MNIST from {root}: {data.train_x.shape[0]:,} training, {data.test_x.shape[0]:,} test images",
          flush=True)
    if plan is not None:
        from ..core.learning.train_state import fit_to_data

        plan = fit_to_data(plan, data.train_x.shape[0])

    same_file = resumed is not None and claim.path == Path(resumed.path).resolve()
    session = TrainingSession(
        config, data=data, initial_state=plan.initial_state if plan else None,
        started_from=str(resumed.path) if resumed is not None else None,
        start_val_acc=plan.start_val_acc if plan else None,
        output=claim, name=claim.path.stem,
        resume=plan.resume if plan else None, run_id=plan.run_id if plan else None,
        owns_out=bool(plan and plan.resume is not None and same_file),
        input_convention=resumed.meta.get("input") if resumed is not None else None)
    bar = None
    previous_handler = _install_sigint(session.control)
    try:
        for ev in session.events():
            if isinstance(ev, Started):
                print(f"training {model} ({ev.parameters:,} parameters), recipe {recipe}, "
                      f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}, batch {config.batch_size}, lr {config.lr:g}, "
                      f"on {ev.device}" + (f", resuming from {resumed.path}" if resumed else ""),
                      flush=True)
                if plan is not None:
                    print(f"resume: {plan.note}", flush=True)
            elif isinstance(ev, Notice):
                if bar is not None:
                    bar.clear()
                print(f"digitpad: note: {_printable(ev.message)}", file=sys.stderr, flush=True)
                print(f"best model -> {out}  (Ctrl+C stops and keeps it)", flush=True)
            elif isinstance(ev, BatchDone):
                if bar is None:
                    bar = _progress_bar(total=ev.batches_per_epoch, unit="batch", leave=False,
                                        desc=f"epoch {ev.epoch}/{config.epochs}")
                bar.update(ev.batch - bar.n)
                bar.set_postfix(loss=f"{ev.loss:.4f}", samples_s=f"{ev.samples_per_s:,.0f}",
                                refresh=False)
            elif isinstance(ev, EpochDone):
                if bar is not None:
                    bar.close()
                    bar = None
                if session.last_saved_epoch == ev.epoch:
                    note = "  saved"
                elif ev.is_best and not session.may_replace(ev.val_acc):
                    note = f"  (not saved: {out.name} holds a better model)"
                else:
                    note = ""
                print(f"epoch {ev.epoch:3d}/{ev.epochs}  train loss {ev.train_loss:.4f}  "
                      f"train acc {_pct(ev.train_acc)}  val acc {_pct(ev.val_acc)}  "
                      f"{ev.seconds:6.1f}s{note}", flush=True)
    finally:
        if bar is not None:
            bar.close()
        _restore_handler(signal.SIGINT, previous_handler)

    result = session.result
    saved_acc, saved_epoch = session.saved_acc, session.saved_epoch
    if session.refusal:
        print(f"digitpad: error: {_one_line(Exception(session.refusal))}: nothing was trained and "
              f"{out} was left unchanged (--overwrite replaces it anyway).", file=sys.stderr)
        return EXIT_ERROR
    if isinstance(result, Failed):
        kept = (f" The best model so far ({_pct(saved_acc)}, epoch {saved_epoch}) is in {out}."
                if saved_acc is not None else
                (f" {out} was left unchanged." if out.exists() else " Nothing was saved."))
        print(f"digitpad: error: {_one_line(Exception(result.message))}{kept}", file=sys.stderr)
        return EXIT_ERROR
    if not session.owns_out and session.best_val_acc is not None:  # the claim refused it
        why = claim.refusal(session.best_val_acc, session.val_data)
        print(f"digitpad: error: {_one_line(Exception(why or 'not saved'))}: {out} was left "
              "unchanged (--overwrite replaces it anyway).", file=sys.stderr)
        return EXIT_INTERRUPTED if isinstance(result, Stopped) else EXIT_ERROR
    if not session.owns_out:
        print("stopped before the first epoch finished: nothing was saved", file=sys.stderr)
        return EXIT_INTERRUPTED if isinstance(result, Stopped) else EXIT_ERROR
    if isinstance(result, Finished):
        print(f"best validation accuracy {_pct(result.best_val_acc)} (epoch {result.best_epoch}), "
              f"test accuracy {_pct(result.test_acc)} -> {out}", flush=True)
    else:
        print(f"best validation accuracy {_pct(session.best_val_acc)} (epoch {session.best_epoch}) "
              f"-> {out} (stopped: the test set was not scored; `digitpad eval` scores it; "
              f"--resume {out} continues the run)", flush=True)
    _warn_if_not_learned(session.best_val_acc, config.lr)
    return EXIT_INTERRUPTED if isinstance(result, Stopped) else EXIT_OK


def _warn_if_not_learned(best_val_acc: float | None, lr: float) -> None:
    """A model saved at chance level looks like any other file: say that it learned nothing."""
    from ..core.learning.divergence import CHANCE, CHANCE_MARGIN

    if best_val_acc is not None and best_val_acc <= CHANCE + CHANCE_MARGIN:
        print(f"digitpad: warning: the model did not learn: its best validation accuracy "
              f"{_pct(best_val_acc)} is near chance ({CHANCE * 100:.0f} %). It was saved, but it "
              f"guesses; try another learning rate (this run used {lr:g}) or more epochs.",
              file=sys.stderr, flush=True)
