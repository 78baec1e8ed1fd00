"""The ``digitpad export`` command."""

from __future__ import annotations

import argparse
from pathlib import Path
from .common import CliError, EXIT_OK, _pct, _printable, resolve_model_path


def cmd_export(args: argparse.Namespace) -> int:
    from ..core.nets.checkpoint import load_checkpoint
    from ..core.nets.export import export_onnx

    out = Path(args.onnx).expanduser()
    if out.suffix.lower() != ".onnx":
        raise CliError(f"--onnx must end in .onnx (got {_printable(out.name)}).")
    ckpt = load_checkpoint(resolve_model_path(args.model))
    export_onnx(ckpt, out)
    acc = f", test accuracy {_pct(ckpt.test_acc)}" if ckpt.test_acc is not None else ""
    print(f"{_printable(ckpt.name)} ({ckpt.arch}{acc}) -> {_printable(out)} "
          f"({out.stat().st_size:,} bytes)")
    return EXIT_OK
