"""The error every model reader raises: kept below the checkpoint and builder modules, which
both raise it (the builder never imports the checkpoint module, so the two stay one-way)."""

from __future__ import annotations

import os
from pathlib import Path

from ..io.files import DigitpadError


class CheckpointError(DigitpadError):
    """A model file cannot be used; ``str(err)`` is a sentence a person understands."""

    def __init__(self, message: str, path: str | os.PathLike | None = None, kind: str = "invalid"):
        super().__init__(message)
        self.path = None if path is None else Path(path)
        self.kind = kind  # missing | unreadable | pickle | corrupt | architecture | shapes | invalid | busy | shipped |
        # unusable (non-finite outputs at use: reading.prediction.refuse_non_finite)
