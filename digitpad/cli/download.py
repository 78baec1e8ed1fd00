"""The ``digitpad download`` command."""

from __future__ import annotations

import argparse
import signal
import sys
from .common import EXIT_OK, Terminated, _progress_bar, _raise_on_sigterm, _restore_handler


def cmd_download(args: argparse.Namespace) -> int:
    from ..core.data.mnist import download_mnist, has_mnist, mnist_problem
    from ..core.io.paths import resolve_data_dir

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
