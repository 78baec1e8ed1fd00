"""Entry point for ``python -m digitpad``, the ``digitpad`` console script and the frozen app."""

from __future__ import annotations

import multiprocessing
import os
import sys

from .app import startup as _startup  # noqa: F401  starts the clock the self-test reports from

# numpy's own BLAS (OpenBLAS) only ever multiplies small matrices here (the numpy copy of a
# model that reads the first drawings, a few mosaics); its worker threads then cost more
# than they save, up to 3x while torch loads or trains on the other cores. torch keeps its own
# thread pool. Set before numpy is first imported; a value the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _ensure_std_streams() -> None:
    # A windowed PyInstaller build (and pythonw) starts with sys.stdout/stderr set to None;
    # the first print, warning or tqdm bar would then raise. Send them to the null device.
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    # Must come first: in a frozen build a child process re-runs this entry point, and
    # freeze_support turns it into the worker instead of starting a second app.
    multiprocessing.freeze_support()
    _ensure_std_streams()
    from .cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
