"""The ``digitpad`` command line: the desktop app (no arguments, or ``app``) and the commands
of :data:`COMMAND_FUNCS` (train, eval, predict, info, download, export, lesson, teach), one
module each; :mod:`.common` holds what they share and :mod:`.entry` the parser and ``main``.

Heavy imports (torch, the core modules) happen inside each command so ``--version`` and
``--help`` answer at once, and Qt is imported only when the app is launched. Every expected
problem (a missing MNIST folder, a damaged model file, an unreadable image, a bad option)
ends as one line on stderr and a non-zero exit status; ``--debug`` shows the traceback.
"""

from __future__ import annotations

from .common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CliError, resolve_model_path
from .entry import COMMAND_FUNCS, build_parser, main
from .eval import format_confusion, measure, write_eval_report
from .info import model_info
from .predict import IMAGE_SUFFIXES, iter_image_paths
from .train import default_out_path

__all__ = ["COMMAND_FUNCS", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "CliError",
           "IMAGE_SUFFIXES", "build_parser", "default_out_path", "format_confusion",
           "iter_image_paths", "main", "measure", "model_info", "resolve_model_path",
           "write_eval_report"]
