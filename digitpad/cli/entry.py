"""The parser, ``main`` (what every expected error becomes: one line and an exit status) and the app launcher."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from .. import __version__
from ..core.nets.spec import MODEL_NAMES  # torch-free: `digitpad --help` stays quick
from .common import EXIT_ERROR, EXIT_INTERRUPTED, _allocation_message, _is_allocation_failure, _is_expected, _one_line
from .download import cmd_download
from .eval import cmd_eval
from .export import cmd_export
from .info import cmd_info
from .lesson import cmd_lesson
from .predict import cmd_predict
from .teach import cmd_teach
from .train import cmd_train


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
    p.add_argument("--model", dest="app_model", default=None, metavar="FILE",
                   help="open this model in the app: a digitpad .safetensors file, a PyTorch "
                        "state dict (.pth/.pt) or an ONNX model")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser("app", help="start the desktop app (the default)")
    a.add_argument("--self-test", action="store_true", default=argparse.SUPPRESS,
                   help="start, check the app works, and quit")
    a.add_argument("--model", dest="app_model", default=argparse.SUPPRESS, metavar="FILE",
                   help="open this model (.safetensors, .pth/.pt state dict, .onnx)")

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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    # Qt's own options (-platform NAME, -platform=NAME, --platform NAME, -style ...) are taken
    # out first: argparse would read NAME as the command. Other options the app may
    # understand pass through to it; any command other than the app rejects them as usual.
    try:
        from ..app.platform_check import split_qt_args
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


def cmd_app(args: argparse.Namespace, extra: list[str]) -> int:
    app_argv = [sys.argv[0] if sys.argv and sys.argv[0] else "digitpad"]
    if args.self_test:
        app_argv.append("--self-test")
    if getattr(args, "app_model", None):
        app_argv += ["--model", str(Path(args.app_model).expanduser())]
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
