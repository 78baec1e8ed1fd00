"""Map torch's native libraries before ``import torch``, without holding the GIL.

``import torch`` dlopens hundreds of megabytes of libraries (seconds on a cold disk) inside
the import, which holds the GIL: the window could neither paint nor follow the pen meanwhile
(measured warm: the GUI thread stalled up to 0.3 s at a time). ctypes lets go of the GIL
around dlopen, so the loader thread maps the same libraries that way first, in the order
torch itself uses (its global-deps library RTLD_GLOBAL, then the extension's own library,
which pulls in the rest through its RPATH); ``import torch`` then finds them loaded and
spends its time in Python code, which hands the GIL back every few milliseconds.

Linux only; ``DIGITPAD_NO_PRELOAD=1`` turns it off (``scripts/bench_startup.py --no-preload``
measures the difference). Anything unexpected (another layout, a frozen build without the files, a
library that will not load) skips the rest: torch then loads them itself, as it always did.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("digitpad.app")

OFF_ENV = "DIGITPAD_NO_PRELOAD"
# (file in torch/lib, dlopen mode): torch's own _load_global_deps loads the first one RTLD_GLOBAL
_LIBRARIES = (("libtorch_global_deps.so", ctypes.RTLD_GLOBAL), ("libtorch_python.so", 0))


def preload_torch_libraries() -> list[str]:
    """The libraries mapped (file names), or [] where there was nothing to do."""
    if not sys.platform.startswith("linux") or "torch" in sys.modules or os.environ.get(OFF_ENV):
        return []
    try:
        spec = importlib.util.find_spec("torch")
        roots = list(spec.submodule_search_locations or []) if spec is not None else []
    except (ImportError, ValueError):
        return []
    lib = next((Path(r) / "lib" for r in roots if (Path(r) / "lib" / _LIBRARIES[-1][0]).is_file()), None)
    if lib is None:
        return []
    done = []
    for name, mode in _LIBRARIES:
        try:
            ctypes.CDLL(str(lib / name), mode=mode)
        except OSError as exc:  # torch's import knows how to handle this (e.g. preloading CUDA)
            log.debug("not preloading %s: %s", name, exc)
            break
        done.append(name)
    return done
