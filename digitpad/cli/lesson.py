"""The ``digitpad lesson`` command."""

from __future__ import annotations

import argparse
import json
from .common import EXIT_OK


def cmd_lesson(args: argparse.Namespace) -> int:
    from ..core.insight.lab import lesson_report, lesson_text

    doc = lesson_report()
    print(json.dumps(doc) if args.json else lesson_text(doc))
    return EXIT_OK
