"""The ``digitpad eval`` command."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from .common import EXIT_OK, _json_line, _pct, _printable, input_lines, load_model, resolve_model_path


def measure(model_spec: str | None, data_dir: str | os.PathLike | None = None,
            device: str = "cpu", input: str | None = None):
    """(checkpoint, Scores, test images) on MNIST's test set: what `digitpad eval` reports,
    scored once (``--report`` draws from the same scores)."""
    from ..core.data.mnist import load_test_set
    from ..core.nets.builder import build_checkpoint
    from ..core.nets.devices import resolve_device
    from ..core.reading.scoring import scores

    dev = resolve_device(device)
    path = resolve_model_path(model_spec)
    if path.suffix.lower() == ".onnx":
        from ..core.nets.checkpoint import Checkpoint
        from ..core.reading.onnx_predict import open_onnx

        onnx_model = open_onnx(path, input, data_dir)
        ckpt = Checkpoint("onnx", {}, onnx_model.meta, path)
        model = onnx_model.as_module()
    else:
        ckpt = load_model(model_spec, input, data_dir)
        model = build_checkpoint(ckpt, device=dev)
    x, y = load_test_set(data_dir)
    return ckpt, scores(model, x, y), x


def cmd_eval(args: argparse.Namespace) -> int:
    from ..core.io.paths import resolve_data_dir

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


def write_eval_report(folder: str, ckpt, scores, images) -> dict:
    """Every test prediction (``eval``'s own scores) -> PNGs and JSON in ``folder``."""
    from ..core.insight.report import write_report

    return write_report(Path(folder).expanduser(), scores, images[:, 0].numpy(),
                        {"model": str(ckpt.path), "arch": ckpt.arch, "name": ckpt.name})
