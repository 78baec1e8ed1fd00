"""The ``digitpad`` command line: the desktop app (no arguments, or ``app``) and the commands
of :data:`COMMAND_FUNCS` (train, eval, predict, info, download, export, lesson, teach).

Heavy imports (torch, the core modules) happen inside each command so ``--version`` and
``--help`` answer at once, and Qt is imported only when the app is launched. Every expected
problem (a missing MNIST folder, a damaged model file, an unreadable image, a bad option)
ends as one line on stderr and a non-zero exit status; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator

from . import __version__

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

from .core.nets.spec import MODEL_NAMES  # torch-free: `digitpad --help` stays quick
# What `predict DIR` picks up; a file named explicitly is always tried, whatever its suffix.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
PREDICT_CHUNK = 256


class CliError(Exception):
    """A problem with what was asked for; the message is printed as it is."""


# --- parser -------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="digitpad",
        description="Draw a digit, watch a convolutional network see it, train it yourself. "
                    "Without a command, the desktop app starts.")
    p.add_argument("--version", action="version", version=f"digitpad {__version__}")
    p.add_argument("--debug", action="store_true",
                   help="show the full traceback when something fails (any position)")
    p.add_argument("--self-test", action="store_true",
                   help="start the app, check it works, and quit (used after packaging)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser("app", help="start the desktop app (the default)")
    a.add_argument("--self-test", action="store_true", default=argparse.SUPPRESS,
                   help="start, check the app works, and quit")

    t = sub.add_parser("train", help="train a model on MNIST and save the best epoch",
                       description="Train on MNIST. The best epoch so far is saved (atomically) "
                                   "each time it improves, so Ctrl+C never loses finished work.")
    t.add_argument("--model", choices=MODEL_NAMES, default=None,
                   help="architecture (default: digitnet, or the --resume file's)")
    t.add_argument("--recipe", choices=("fast", "lesson"), default=None,
                   help="fast: tuned defaults (default); lesson: the lesson's plain SGD, 100 epochs")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--lr", type=float, default=None, help="learning rate (peak rate for fast)")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    t.add_argument("--data", default=None, metavar="DIR",
                   help="folder holding MNIST/raw (default: $DIGITPAD_DATA, else the user data dir)")
    t.add_argument("--out", default=None, metavar="FILE",
                   help="model file to write (default: <app data>/models/<model>-<time>.safetensors)")
    t.add_argument("--resume", default=None, metavar="FILE",
                   help="continue training from this model file or shipped name (lenet, dense, digitnet)")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--permute", action="store_true",
                   help="reshuffled pixels: train on MNIST with every image's pixels in one fixed "
                        "order (the lesson's argument; no augmentation or synthesised digits)")
    t.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out even when the new model is not better on "
                        "validation than the one recorded in it")

    e = sub.add_parser("eval", help="accuracy, per-class accuracy and confusion matrix on MNIST's test set")
    e.add_argument("model", nargs="?", default=None, metavar="MODEL",
                   help="model file or shipped name lenet / dense / digitnet (default: digitnet)")
    e.add_argument("--data", default=None, metavar="DIR")
    e.add_argument("--device", default="cpu", help="device to evaluate on (default cpu)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--input", default=None, metavar="CONVENTION",
                   help="a foreign model's input: totensor, normalised, 0-255, -1..1, each also "
                        "-dark (default: the best-scoring one, chosen when it is opened)")
    e.add_argument("--report", default=None, metavar="DIR",
                   help="also write confusion.png, worst.png (the surest mistakes) and report.json")

    r = sub.add_parser("predict", help="predict the digit in image files",
                       description="Predict the digit in each image (PNG, JPEG, BMP, ...; any size, "
                                   "dark ink on light paper or the reverse), or with --number the "
                                   "whole number written in it. A folder is searched "
                                   "recursively for image files (hidden ones skipped), in sorted "
                                   "order. Exit status 1 when any file could not be predicted.")
    r.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders of them")
    r.add_argument("--model", default=None, metavar="FILE|NAME",
                   help="model file or shipped name (default: digitnet)")
    r.add_argument("--json", action="store_true", help="print one JSON object per line")
    r.add_argument("--input", default=None, metavar="CONVENTION",
                   help="a foreign model's input: totensor, normalised, 0-255, -1..1, each also "
                        "-dark (default: the best-scoring one, chosen when it is opened)")
    r.add_argument("--number", action="store_true",
                   help="read a whole number (several digits in a row) from each image")

    i = sub.add_parser("info", help="show a model file's metadata")
    i.add_argument("model", metavar="MODEL", help="model file or shipped name")
    i.add_argument("--json", action="store_true")
    i.add_argument("--input", default=None, metavar="CONVENTION",
                   help="a foreign model's input: totensor, normalised, 0-255, -1..1, each also "
                        "-dark (default: the best-scoring one, chosen when it is opened)")

    ls = sub.add_parser("lesson", help="the lesson's worked examples, computed (check your homework)")
    ls.add_argument("--json", action="store_true", help="print one JSON object")

    th = sub.add_parser("teach", help="fine-tune a model on your own handwriting",
                        description="Fine-tune a model on labelled drawings in SAMPLES_DIR/0/*.png "
                                    "... SAMPLES_DIR/9/* (any size, format and polarity predict "
                                    "reads), mixed with MNIST so it does not forget. A share of "
                                    "the samples is held out to measure before and after.")
    th.add_argument("samples", metavar="SAMPLES_DIR", help="folder with subfolders 0 to 9")
    th.add_argument("--model", default=None, metavar="FILE|NAME",
                    help="model to start from (default: the shipped digitnet)")
    th.add_argument("--out", required=True, metavar="FILE", help="taught model file (.safetensors)")
    th.add_argument("--data", default=None, metavar="DIR", help="folder holding MNIST/raw")
    th.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    th.add_argument("--steps", type=int, default=None,
                    help="training steps (default 200: about 20 s on two CPU cores)")
    th.add_argument("--json", action="store_true", help="print one JSON object")
    th.add_argument("--overwrite", action="store_true",
                    help="replace an existing --out even when the taught model is not better on "
                         "the same held-out samples than the one recorded in it")

    d = sub.add_parser("download", help="download MNIST (about 11 MB)")
    d.add_argument("--data", default=None, metavar="DIR", help="where to put it")

    x = sub.add_parser("export", help="write a model as ONNX, usable without digitpad",
                       description="Write MODEL as an ONNX file taking the preprocessed input "
                                   "(float32 N x 1 x 28 x 28 in [0, 1], ink bright) and giving "
                                   "logits and probs; the preprocessing spec, class names and "
                                   "accuracy are in its metadata.")
    x.add_argument("model", metavar="MODEL", help="model file or shipped name")
    x.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    return p


# --- entry --------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    # Qt's own options (-platform NAME, -platform=NAME, --platform NAME, -style ...) are taken
    # out first: argparse would read NAME as the command. Other options the app may
    # understand pass through to it; any command other than the app rejects them as usual.
    try:
        from .app.platform_check import split_qt_args
    except ModuleNotFoundError:  # a build without the app: nothing to hand Qt
        qt = []
    else:
        argv, qt = split_qt_args(argv)
    args, extra = parser.parse_known_args(argv)
    extra = qt + extra
    command = args.command or "app"
    if extra and command != "app":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if command == "app":
            return cmd_app(args, extra)
        return COMMAND_FUNCS[command](args)
    except KeyboardInterrupt:
        if debug:
            raise
        print("digitpad: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        if _is_allocation_failure(exc):
            print(f"digitpad: error: {_allocation_message(exc)}", file=sys.stderr)
        elif _is_expected(exc):
            print(f"digitpad: error: {_one_line(exc)}", file=sys.stderr)
        else:  # a bug: still one line, and how to get the details for a report
            print(f"digitpad: unexpected error: {type(exc).__name__}: {_one_line(exc)} "
                  "(run again with --debug for the traceback)", file=sys.stderr)
        return EXIT_ERROR


# OS errors that mean "this path you named cannot be used", not a bug.
_USER_PATH_ERRNOS = {"ENOENT", "EACCES", "EPERM", "EISDIR", "ENOTDIR", "ENOSPC", "EROFS",
                     "EDQUOT", "ENAMETOOLONG", "ELOOP", "EEXIST", "ETXTBSY", "EFBIG", "ENXIO"}


def _is_expected(exc: BaseException) -> bool:
    """Our typed errors and specific OS errors on a named path; anything else is a bug and
    is reported as unexpected (``--debug`` shows its traceback)."""
    import errno

    expected: tuple[type[BaseException], ...] = (CliError,)
    try:
        from .core.io.files import DigitpadError

        expected += (DigitpadError,)
    except ImportError:
        pass
    for module, name in ((".core.learning.config", "ConfigError"), (".core.nets.devices", "DeviceError")):
        try:
            expected += (getattr(importlib.import_module(module, __package__), name),)
        except (ImportError, AttributeError):
            pass
    if isinstance(exc, expected):
        return True
    if isinstance(exc, OSError) and exc.filename is not None and exc.errno is not None:
        return errno.errorcode.get(exc.errno) in _USER_PATH_ERRNOS
    return False


def _is_allocation_failure(exc: BaseException) -> bool:
    try:
        from .core.io.files import is_allocation_failure
    except ImportError:
        return isinstance(exc, MemoryError)
    return is_allocation_failure(exc)


def _allocation_message(exc: BaseException) -> str:
    from .core.io.files import allocation_message

    return allocation_message(exc)


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror and exc.filename and (
            str(exc.filename) not in msg or msg.startswith("[Errno")):
        msg = f"{exc.strerror}: {exc.filename}"
    return _printable(msg)


def _printable(value) -> str:
    """Text from files and paths with control characters escaped (no terminal escapes)."""
    from .core.io.files import printable

    return printable(value)


# --- app ----------------------------------------------------------------------------------

def cmd_app(args: argparse.Namespace, extra: list[str]) -> int:
    app_argv = [sys.argv[0] if sys.argv and sys.argv[0] else "digitpad"]
    if args.self_test:
        app_argv.append("--self-test")
    app_argv += extra
    try:
        app_main = importlib.import_module("digitpad.app.main")  # imports PySide6
    except ModuleNotFoundError as exc:
        if exc.name in ("digitpad.app.main", "digitpad.app"):
            print("digitpad: the desktop app is missing from this installation; the commands "
                  f"{', '.join(COMMAND_FUNCS)} work (see digitpad --help).", file=sys.stderr)
            return EXIT_ERROR
        if exc.name and exc.name.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph"):
            print(f"digitpad: the desktop app needs {exc.name.split('.')[0]}, which is not "
                  "installed (pip install 'PySide6-Essentials<6.12' pyqtgraph).", file=sys.stderr)
            return EXIT_ERROR
        raise
    return int(app_main.run_app(app_argv) or 0)


# --- shared helpers -----------------------------------------------------------------------

def resolve_model_path(spec: str | None) -> Path:
    """A model file, or a shipped name (lenet / dense / digitnet) -> the file's path."""
    from .core.nets.checkpoint import CheckpointError, shipped_model_path

    if spec is None:
        spec = "digitnet"
    path = Path(spec).expanduser()
    if spec in MODEL_NAMES and not path.exists():
        shipped = Path(shipped_model_path(spec))
        if not shipped.is_file():
            raise CheckpointError(f"The shipped {spec} model is missing ({shipped}); "
                                  "this installation is incomplete.", shipped, "missing")
        return shipped
    return path


def load_model(spec: str | None, input: str | None = None, data_dir=None):
    """The Checkpoint of a model file or shipped name; a foreign state dict with its input
    convention (``--input`` beats the scored choice)."""
    from .core.nets.checkpoint import load_checkpoint
    from .core.nets.foreign import set_input

    ckpt = load_checkpoint(resolve_model_path(spec), data_dir=data_dir)
    if input:
        ckpt.meta = set_input(ckpt.meta, input)
    return ckpt


def input_lines(meta: dict) -> list[str]:
    """What info and eval say about a foreign model's input convention."""
    from .core.nets.foreign import describe

    if not meta.get("input"):
        return []
    how = meta.get("input_chosen") or f"best on {meta.get('input_scored_on', 'sample images')}"
    lines = [f"input     {meta['input']} ({describe(meta['input'])}; {how})"]
    scores = meta.get("input_scores") or {}
    if scores:
        lines.append("scores    " + ", ".join(f"{k} {v * 100:.0f}%" for k, v in
                                             sorted(scores.items(), key=lambda kv: -kv[1])))
    return lines


def _progress_bar(**kw):
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal (logs, pipes, tests stay clean)
    return tqdm(file=sys.stderr, disable=None, dynamic_ncols=True, **kw)


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * 100:.2f}%"


# --- train --------------------------------------------------------------------------------

def default_out_path(model: str) -> Path:
    from .core.io.paths import models_dir

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return models_dir() / f"{model}-{stamp}.safetensors"


def cmd_train(args: argparse.Namespace) -> int:
    from .core.nets.checkpoint import load_checkpoint
    from .core.nets.devices import resolve_device
    from .core.learning.session import plan_resume
    from .core.learning.config import recipe_config

    resumed = plan = None
    model = args.model
    overrides = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                     device=args.device, seed=args.seed, permute=args.permute or None)
    if args.resume:
        resumed = load_checkpoint(resolve_model_path(args.resume))  # a shipped name too
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


@contextlib.contextmanager
def _claim(out: Path, overwrite: bool):
    """Claim ``out`` before any work (see ``core.io.outputs.claim_output``): the lock is held
    until the block ends; says what an existing file holds and what replaces it."""
    from .core.nets.checkpoint import claim_model_output

    with claim_model_output(out, overwrite=overwrite) as claim:
        for p in claim.removed:
            print(f"removed {_printable(p.name)}, left by an interrupted save", flush=True)
        ex = claim.existing
        if ex is not None:
            held = (f"{_pct(ex.val_acc)} on validation" if ex.val_acc is not None else
                    f"{_pct(ex.test_acc)} on test" if ex.test_acc is not None else "no accuracy")
            print(f"{_printable(out)} exists ({held}): it is replaced only by a model better on "
                  "the same validation data (--overwrite replaces it anyway)", flush=True)
        _check_train_state_writable(claim.path)
        yield claim


def _check_train_state_writable(out: Path) -> None:
    """The training state is written beside the model after every epoch: a folder or other
    non-file in its place would end the run after its first epoch, so it is refused now."""
    from .core.io.outputs import OutputError, check_writable
    from .core.learning.train_state import train_state_path

    side = train_state_path(out)
    try:
        check_writable(side)
    except OutputError as exc:
        raise CliError(f"the training state is saved beside {_printable(out.name)} as "
                       f"{_printable(side)}, which cannot be written: {_one_line(exc)}") from exc


def _train_into(args, out: Path, claim, config, model: str, recipe: str, resumed, plan) -> int:
    """Drive a :class:`~digitpad.core.learning.session.TrainingSession` with a progress bar;
    it writes only through ``claim`` (``out`` is the path as the person named it)."""
    from .core.data.mnist import load_mnist
    from .core.io.paths import resolve_data_dir
    from .core.learning.events import (BatchDone, EpochDone, Failed, Finished, Notice, Started,
                                       Stopped)
    from .core.learning.session import TrainingSession

    root = resolve_data_dir(args.data)
    data = load_mnist(root, device="cpu")
    print(f"MNIST from {root}: {data.train_x.shape[0]:,} training, {data.test_x.shape[0]:,} test images",
          flush=True)
    if plan is not None:
        from .core.learning.train_state import fit_to_data

        plan = fit_to_data(plan, data.train_x.shape[0])

    same_file = resumed is not None and claim.path == Path(resumed.path).resolve()
    session = TrainingSession(
        config, data=data, initial_state=plan.initial_state if plan else None,
        started_from=str(resumed.path) if resumed is not None else None,
        start_val_acc=plan.start_val_acc if plan else None,
        output=claim, name=claim.path.stem,
        resume=plan.resume if plan else None, run_id=plan.run_id if plan else None,
        owns_out=bool(plan and plan.resume is not None and same_file))
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
    from .core.learning.divergence import CHANCE, CHANCE_MARGIN

    if best_val_acc is not None and best_val_acc <= CHANCE + CHANCE_MARGIN:
        print(f"digitpad: warning: the model did not learn: its best validation accuracy "
              f"{_pct(best_val_acc)} is near chance ({CHANCE * 100:.0f} %). It was saved, but it "
              f"guesses; try another learning rate (this run used {lr:g}) or more epochs.",
              file=sys.stderr, flush=True)


def _install_sigint(control):
    """First Ctrl+C asks training to stop after the current batch; a second one aborts."""

    def handler(signum, frame):
        if control.stop_requested:
            raise KeyboardInterrupt
        control.stop()
        print("\nstopping after this batch (Ctrl+C again to abort)...", file=sys.stderr, flush=True)

    return _set_handler(signal.SIGINT, handler)


def _set_handler(sig, handler):
    """Install ``handler`` for ``sig``; the previous one, or None where Python cannot (a
    thread other than the main one, an embedding that forbids it)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.signal(sig, handler)
    except (ValueError, OSError):
        return None


def _restore_handler(sig, previous) -> None:
    if previous is not None:
        try:
            signal.signal(sig, previous)
        except (ValueError, OSError):
            pass


# --- eval ---------------------------------------------------------------------------------

def measure(model_spec: str | None, data_dir: str | os.PathLike | None = None,
            device: str = "cpu", input: str | None = None):
    """(checkpoint, Scores, test images) on MNIST's test set: what `digitpad eval` reports,
    scored once (``--report`` draws from the same scores)."""
    from .core.data.mnist import load_test_set
    from .core.nets.builder import build_checkpoint
    from .core.nets.checkpoint import load_checkpoint
    from .core.nets.devices import resolve_device
    from .core.reading.scoring import scores

    dev = resolve_device(device)
    path = resolve_model_path(model_spec)
    if path.suffix.lower() == ".onnx":
        from .core.nets.checkpoint import Checkpoint
        from .core.reading.onnx_predict import open_onnx

        onnx_model = open_onnx(path, input, data_dir)
        ckpt = Checkpoint("onnx", {}, onnx_model.meta, path)
        model = onnx_model.as_module()
    else:
        ckpt = load_model(model_spec, input, data_dir)
        model = build_checkpoint(ckpt, device=dev)
    x, y = load_test_set(data_dir)
    return ckpt, scores(model, x, y), x


def cmd_eval(args: argparse.Namespace) -> int:
    from .core.io.paths import resolve_data_dir

    ckpt, report, images = measure(args.model, args.data, args.device, getattr(args, "input", None))
    written = write_eval_report(args.report, ckpt, report, images) if getattr(args, "report", None) else {}
    if args.json:
        doc = {"model": str(ckpt.path), "arch": ckpt.arch, "name": ckpt.name,
               "data": str(resolve_data_dir(args.data)), "input": ckpt.meta.get("input"),
               **report.summary()}
        print(_json_line(doc))
        return EXIT_OK
    print(f"model     {_printable(ckpt.name)} ({ckpt.arch})  {_printable(ckpt.path)}")
    for note in ckpt.notes:
        print(f"note      {_printable(note)}")
    for line in input_lines(ckpt.meta):
        print(_printable(line))
    print(f"data      {resolve_data_dir(args.data)}  ({report.n:,} test images)")
    print(f"accuracy  {_pct(report.accuracy)}   ({round(report.accuracy * report.n):,} of "
          f"{report.n:,} right, loss {report.loss:.4f})")
    if ckpt.test_acc is not None:
        print(f"recorded  {_pct(ckpt.test_acc)} (in the file's metadata)")
    print()
    print(format_confusion(report.confusion, report.per_class))
    if written:
        print("\nreport    " + ", ".join(str(p) for p in written.values()))
    return EXIT_OK


def format_confusion(confusion: list[list[int]], per_class: list[float]) -> str:
    """The confusion matrix as an aligned table, rows = true digit, with per-class accuracy."""
    width = max(4, max((len(str(v)) for row in confusion for v in row), default=1) + 1)
    lines = ["true\\pred" + "".join(f"{d:>{width}}" for d in range(10)) + "   accuracy"]
    for t, row in enumerate(confusion):
        acc = per_class[t]
        lines.append(f"{t:>9}" + "".join(f"{v:>{width}}" for v in row)
                     + f"   {'n/a' if math.isnan(acc) else f'{acc * 100:6.2f}%':>8}")
    return "\n".join(lines)


def _json_line(doc) -> str:
    """One JSON document; NaN and Infinity are not JSON, so a figure that is not a number
    (a class absent from the data) is null and nothing else can slip through."""
    return json.dumps(_json_safe(doc), allow_nan=False)


def _json_safe(obj):
    """NaN is not JSON: a class absent from the data gets null."""
    if isinstance(obj, float):
        return None if not math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


# --- predict ------------------------------------------------------------------------------

def iter_image_paths(paths: Iterable[str]) -> Iterator[Path]:
    """Files as given; folders searched recursively for image files, sorted, hidden ones skipped."""
    from .core.io.files import not_regular_reason

    for raw in paths:
        if not str(raw).strip():
            # Path("") is ".": an empty argument (an unset shell variable) must not scan cwd
            raise CliError("an empty path was given; name image files or folders.")
        p = Path(raw).expanduser()
        if p.is_dir():
            found = []
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for f in filenames:
                    if f.startswith(".") or Path(f).suffix.lower() not in IMAGE_SUFFIXES:
                        continue
                    reason = not_regular_reason(Path(dirpath) / f)
                    if reason:  # a FIFO named like an image would hang the reader: skip it
                        print(f"digitpad: skipping {_printable(Path(dirpath) / f)}: {reason}, "
                              "not an image file", file=sys.stderr)
                        continue
                    found.append(Path(dirpath) / f)
            yield from sorted(found)
        else:
            yield p  # a missing or unreadable file becomes an error line, not an abort


def _chunks(items: Iterator[Path], n: int) -> Iterator[list[Path]]:
    chunk: list[Path] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _predict_each(predictor, arrays: list) -> list:
    """Predictions in order; if the batch fails (one odd image), each image alone, so the
    failure lands on that image only."""
    if not arrays:
        return []
    try:
        return list(predictor.predict_batch(arrays))
    except Exception:
        out: list = []
        for a in arrays:
            try:
                out.append(predictor.predict(a))
            except Exception as exc:
                out.append(exc)
        return out


def cmd_predict(args: argparse.Namespace) -> int:
    from .core.reading.predict import Predictor
    from .core.reading.number import read_number, unsure_read
    from .core.data.preprocess import WORKING_SIDE, load_image, preprocess

    from .core.reading.predict import open_predictor

    predictor = open_predictor(resolve_model_path(args.model), getattr(args, "input", None))
    if args.number:
        return _predict_numbers(args, predictor)
    failed = 0
    total = 0
    for chunk in _chunks(iter_image_paths(args.paths), PREDICT_CHUNK):
        # Images are read here, one by one, so a damaged file costs one error line and the
        # rest of the chunk still goes through the batched predictor. Each is reduced to its
        # 28x28 as it is read: a chunk holds 256 small arrays whatever the files' sizes, and
        # memory peaks at one decoded image (8000x8000 scans: one at a time).
        results: list[dict | None] = [None] * len(chunk)
        arrays, where = [], []
        several: list[str | None] = [None] * len(chunk)
        for k, path in enumerate(chunk):
            try:
                image = load_image(path, max_side=WORKING_SIDE)
                # the same image read as a number: a file clearly holding several digits says so
                reading = read_number(image, predictor.probs_batch)
                if reading.status == "number" and reading.several and not reading.unsure:
                    several[k] = reading.number
                arrays.append(preprocess(image, keep_steps=False))
                del image
                where.append(k)
            except Exception as exc:  # ImageError, OSError, a decoder's own complaint
                results[k] = {"path": str(path), "digit": None, "error": _one_line(exc)}
        for k, pred in zip(where, _predict_each(predictor, arrays)):
            path = chunk[k]
            if isinstance(pred, Exception):
                results[k] = {"path": str(path), "digit": None, "error": _one_line(pred)}
                continue
            if pred.empty or pred.digit is None:
                results[k] = {"path": str(path), "digit": None,
                              "error": "no ink found: the image is blank"}
            else:
                results[k] = {"path": str(path), "digit": int(pred.digit),
                              "confidence": round(float(pred.confidence), 6),
                              "probs": [round(float(v), 6) for v in pred.probs]}
                unsure, alt = unsure_read(pred.probs)
                if unsure:
                    results[k].update(unsure=True, alternative=alt)
                if several[k] is not None:
                    results[k].update(several=True, number=several[k])
        for res in results:
            total += 1
            if "error" in res:
                failed += 1
            if args.json:
                print(_json_line(res))  # JSON escapes control characters itself
            elif "error" in res:
                print(f"{_printable(res['path'])}: error: {_printable(res['error'])}")
            else:
                notes = ""
                if res.get("unsure"):
                    notes += f"  unsure: {res['digit']} or {res['alternative']}?"
                if res.get("several"):
                    notes += f"  note: several digits ({res['number']}); only one was read, try --number"
                print(f"{_printable(res['path'])}: {res['digit']}  ({res['confidence'] * 100:.1f}%){notes}")
        sys.stdout.flush()
    if total == 0:
        raise CliError("no image files found in " + ", ".join(map(_printable, args.paths)))
    if failed:
        print(f"digitpad: {failed} of {total} file(s) could not be predicted", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


# A number's image keeps more pixels than a lone digit's: a long strip stays legible
# (read_number box-reduces past 2 megapixels itself).
NUMBER_SIDE = 4096


def _predict_numbers(args: argparse.Namespace, predictor) -> int:
    """predict --number: each image read as a whole number, one line (or JSON object) each."""
    from .core.reading.number import read_number
    from .core.data.preprocess import load_image

    failed = total = 0
    for path in iter_image_paths(args.paths):
        total += 1
        try:
            reading = read_number(load_image(path, max_side=NUMBER_SIDE), predictor.probs_batch)
            res = {"path": str(path), **reading.to_json()}
            if reading.status == "empty":
                res["error"] = "no ink found: the image is blank"
        except Exception as exc:  # ImageError, OSError, a decoder's own complaint
            res = {"path": str(path), "status": "error", "number": None, "digits": [],
                   "error": _one_line(exc)}
        if "error" in res:
            failed += 1
        if args.json:
            print(_json_line(res))
        elif "error" in res:
            print(f"{_printable(res['path'])}: error: {_printable(res['error'])}")
        elif res["status"] != "number":
            print(f"{_printable(res['path'])}: not a number ({res['reason']})")
        else:
            labels = " ".join(f"{d['digit']} or {d['alternative']}?" if d["unsure"] else str(d["digit"])
                              for d in res["digits"])
            note = f"  unsure: {labels}" if res["unsure"] else ""
            print(f"{_printable(res['path'])}: {res['number']}  ({res['confidence'] * 100:.1f}%, "
                  f"{len(res['digits'])} digit{'s' if len(res['digits']) != 1 else ''}){note}")
        sys.stdout.flush()
    if total == 0:
        raise CliError("no image files found in " + ", ".join(map(_printable, args.paths)))
    if failed:
        print(f"digitpad: {failed} of {total} file(s) could not be read", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


# --- info ---------------------------------------------------------------------------------

def model_info(spec: str, input: str | None = None) -> dict:
    from .core.nets.spec import parameter_count

    path = resolve_model_path(spec)
    if path.suffix.lower() == ".onnx":
        from .core.reading.onnx_predict import open_onnx

        p = open_onnx(path, input)
        return {"path": str(path), "arch": "onnx", "name": p.name, "test_acc": None,
                "epochs": None, "created": None, "digitpad_version": None, "dataset": None,
                "train_seconds": None, "parameters": p.parameters,
                "file_size": path.stat().st_size, "config": None, "notes": [],
                "foreign": "onnx", "input": p.meta.get("input"),
                "input_scores": p.meta.get("input_scores"), "layers": list(p.map_names.values()),
                "layout": p.layout, "meta": p.meta}
    ckpt = load_model(spec, input)
    meta = ckpt.meta
    return {
        "path": str(path),
        "arch": ckpt.arch,
        "name": ckpt.name,
        "test_acc": ckpt.test_acc,
        "epochs": meta.get("epochs"),
        "created": meta.get("created"),
        "digitpad_version": meta.get("digitpad_version"),
        "dataset": meta.get("dataset"),
        "train_seconds": meta.get("train_seconds"),
        "parameters": parameter_count(ckpt.arch),
        "file_size": path.stat().st_size,
        "config": meta.get("config"),
        "notes": list(ckpt.notes),
        "foreign": meta.get("foreign"),
        "input": meta.get("input"),
        "input_scores": meta.get("input_scores"),
        "meta": meta,
    }


def cmd_info(args: argparse.Namespace) -> int:
    info = model_info(args.model, getattr(args, "input", None))
    if args.json:
        print(_json_line(info))
        return EXIT_OK
    rows = [("file", info["path"]), ("name", info["name"]), ("architecture", info["arch"]),
            ("test accuracy", _pct(info["test_acc"])),
            ("epochs", info["epochs"]), ("created", info["created"]),
            ("digitpad version", info["digitpad_version"]),
            ("parameters", f"{info['parameters']:,}"),
            ("file size", f"{info['file_size']:,} bytes"),
            ("training time", None if info["train_seconds"] is None else f"{info['train_seconds']} s")]
    for key, value in rows:
        print(f"{key:<17} {'-' if value is None else _printable(value)}")
    if info["foreign"]:
        print(f"{'format':<17} {info['foreign']} (not a digitpad file; matched by its tensors)")
        for line in input_lines(info["meta"]):
            key, _, rest = line.partition(" ")
            print(f"{key:<17} {_printable(rest.strip())}")
    if info["config"]:
        cfg = info["config"]
        print("config           " + _printable(", ".join(f"{k}={v}" for k, v in cfg.items())))
    for note in info["notes"]:
        print(f"note             {_printable(note)}")
    return EXIT_OK


# --- export -------------------------------------------------------------------------------

def cmd_export(args: argparse.Namespace) -> int:
    from .core.nets.checkpoint import load_checkpoint
    from .core.nets.export import export_onnx

    out = Path(args.onnx).expanduser()
    if out.suffix.lower() != ".onnx":
        raise CliError(f"--onnx must end in .onnx (got {_printable(out.name)}).")
    ckpt = load_checkpoint(resolve_model_path(args.model))
    export_onnx(ckpt, out)
    acc = f", test accuracy {_pct(ckpt.test_acc)}" if ckpt.test_acc is not None else ""
    print(f"{_printable(ckpt.name)} ({ckpt.arch}{acc}) -> {_printable(out)} "
          f"({out.stat().st_size:,} bytes)")
    return EXIT_OK


# --- download -----------------------------------------------------------------------------

def cmd_download(args: argparse.Namespace) -> int:
    from .core.data.mnist import download_mnist, has_mnist, mnist_problem
    from .core.io.paths import resolve_data_dir

    root = resolve_data_dir(args.data)
    problem = mnist_problem(root) if has_mnist(root) else None
    if has_mnist(root) and problem is None:
        print(f"MNIST is already in {root}")
        return EXIT_OK
    if problem:
        print(f"MNIST in {root} is damaged ({problem}): downloading it again", flush=True)
    bars: dict = {}

    def progress(name: str, done: int, total: int) -> None:
        bar = bars.get(name)
        if bar is None:
            for old in bars.values():
                old.close()
            bar = bars[name] = _progress_bar(total=total or None, desc=name, unit="B",
                                             unit_scale=True, unit_divisor=1024)
        bar.update(done - bar.n)

    print(f"downloading MNIST into {root} ...", flush=True)
    previous = _raise_on_sigterm()
    try:
        download_mnist(root, progress=progress)
    except Terminated:
        print("digitpad: terminated: the partial download was removed", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        _restore_handler(signal.SIGTERM, previous)
        for bar in bars.values():
            bar.close()
    print(f"MNIST is ready in {root}")
    return EXIT_OK


class Terminated(BaseException):
    """SIGTERM as an exception, so cleanup (the download's .part file) runs on the way out."""


def _raise_on_sigterm():
    def handler(signum, frame):
        raise Terminated()

    return _set_handler(signal.SIGTERM, handler)


# --- lesson and eval --report -------------------------------------------------------------

def cmd_lesson(args: argparse.Namespace) -> int:
    from .core.insight.lab import lesson_report, lesson_text

    doc = lesson_report()
    print(json.dumps(doc) if args.json else lesson_text(doc))
    return EXIT_OK


def write_eval_report(folder: str, ckpt, scores, images) -> dict:
    """Every test prediction (``eval``'s own scores) -> PNGs and JSON in ``folder``."""
    from .core.insight.report import write_report

    return write_report(Path(folder).expanduser(), scores, images[:, 0].numpy(),
                        {"model": str(ckpt.path), "arch": ckpt.arch, "name": ckpt.name})


# --- teach ---------------------------------------------------------------------------------

def cmd_teach(args: argparse.Namespace) -> int:
    from .core.learning.config import TeachConfig
    from .core.nets.checkpoint import load_checkpoint

    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".safetensors":
        raise CliError(f"--out must end in .safetensors (got {_printable(out.name)}).")
    config = TeachConfig(device=args.device)
    if args.steps is not None:
        config.steps = args.steps
        config.validate()
    base = load_checkpoint(resolve_model_path(args.model))
    with _claim(out, args.overwrite) as claim:  # before any work: a busy file is found now
        return _teach_into(args, out, claim, base, config)


def _teach_into(args, out: Path, claim, base, config) -> int:
    from .core.data.samples import read_folder
    from .core.learning.control import TrainControl
    from .core.learning.events import BatchDone, Failed, Measured, Notice, Started, Stopped, Taught
    from .core.learning.teach import run, taught_checkpoint
    from .core.nets.checkpoint import save_checkpoint

    loaded = read_folder(args.samples)
    names = [str(s.path) for s in loaded.samples]
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else \
        (lambda *a: print(*a, flush=True))
    counts = loaded.counts()
    say(f"samples in {_printable(args.samples)}: {len(loaded.samples)} readable ("
        + ", ".join(f"{d}: {counts[d]}" for d in range(10)) + f"), {len(loaded.problems)} skipped")
    for line in loaded.problems.lines():
        say(f"  skipped: {_printable(line)}")
    if not loaded.samples:
        raise CliError(f"no readable samples in {args.samples}: put images in subfolders named "
                       "0 to 9 (SAMPLES_DIR/7/*.png for sevens).")

    result = None
    bar = None
    notices: list[str] = []
    control = TrainControl()
    gen = run(base, loaded.images, loaded.labels, config, data_dir=args.data, names=names,
              control=control)
    previous_handler = _install_sigint(control)
    refusal = None
    try:
        for ev in gen:
            if isinstance(ev, Notice):
                notices.append(ev.message)
                print(f"digitpad: warning: {_printable(ev.message)}", file=sys.stderr, flush=True)
            elif isinstance(ev, Started):
                refusal = claim.comparable(ev.val_data)
                if refusal:  # nothing this run makes could replace the file: do not teach
                    break
                say(f"teaching {_printable(base.name)} on {ev.device}: {ev.train_size} samples, "
                    f"{ev.test_size} held out to measure, {ev.config.steps} steps")
            elif isinstance(ev, Measured) and ev.when == "before":
                bar = _progress_bar(total=config.steps, unit="step", leave=False, desc="teaching")
            elif isinstance(ev, BatchDone):
                if bar is not None:
                    bar.update(ev.step - bar.n)
                    bar.set_postfix(loss=f"{ev.loss:.4f}", refresh=False)
            elif isinstance(ev, (Taught, Stopped, Failed)):
                result = ev
    finally:
        gen.close()
        if bar is not None:
            bar.close()
        _restore_handler(signal.SIGINT, previous_handler)
    if refusal:
        print(f"digitpad: error: {_one_line(Exception(refusal))}: nothing was taught and "
              f"{_printable(out)} was left unchanged (--overwrite replaces it anyway).",
              file=sys.stderr)
        return EXIT_ERROR
    if isinstance(result, Failed):
        print(f"digitpad: error: {_one_line(Exception(result.message))} Nothing was saved.",
              file=sys.stderr)
        return EXIT_ERROR
    if not isinstance(result, Taught):
        print("digitpad: stopped: nothing was saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    ckpt = taught_checkpoint(base, result)
    refusal = claim.refusal(ckpt.val_acc, result.val_data)
    if refusal:
        print(f"digitpad: error: {_one_line(Exception(refusal))}: {_printable(out)} was left "
              "unchanged (--overwrite replaces it anyway).", file=sys.stderr)
        return EXIT_ERROR
    save_checkpoint(claim.path, ckpt.arch, ckpt.state, ckpt.meta)
    rep = result.report
    if args.json:
        doc = {"samples_dir": str(args.samples), "out": str(out), "model": str(base.path),
               "name": ckpt.name, "readable": len(loaded.samples),
               "notices": notices, **rep.to_dict()}
        # files that could not be read, then readable ones with nothing drawn
        doc["skipped"] = [{"file": str(f), "reason": r} for f, r in [*loaded.problems, *rep.skipped]]
        doc["skipped_count"] = len(doc["skipped"])
        print(_json_line(doc))
        return EXIT_OK
    b, a = rep.before, rep.after
    print(f"{'':<22}{'before':>9}{'after':>9}")
    held = f"held-out samples ({b.held_out_n})"
    print(f"{held:<22}{_pct(b.held_out_acc):>9}{_pct(a.held_out_acc):>9}"
          + ("" if b.held_out_n else "   (too few samples to hold any out)"))
    for d in range(10):
        if rep.held_out_counts[d]:
            print(f"{'  digit ' + str(d) + ' (' + str(rep.held_out_counts[d]) + ')':<22}"
                  f"{_pct(b.held_out_per_digit[d]):>9}{_pct(a.held_out_per_digit[d]):>9}")
    mn = f"MNIST test ({b.mnist_n:,})" if b.mnist_n else "MNIST test"
    print(f"{mn:<22}{_pct(b.mnist_acc):>9}{_pct(a.mnist_acc):>9}"
          + ("" if b.mnist_n else "   (MNIST not found: forgetting not measured)"))
    print(f"saved \"{_printable(ckpt.name)}\" -> {_printable(out)}  ({rep.seconds:.1f} s, "
          f"{rep.steps} steps, {sum(rep.train_counts)} samples with {rep.replay})", flush=True)
    return EXIT_OK


COMMAND_FUNCS = {
    "train": cmd_train,
    "eval": cmd_eval,
    "predict": cmd_predict,
    "info": cmd_info,
    "download": cmd_download,
    "export": cmd_export,
    "lesson": cmd_lesson,
    "teach": cmd_teach,
}
