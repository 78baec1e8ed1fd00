"""Which input convention a user's own model takes, remembered per file by its content hash.

Scoring the conventions costs a few hundred forward passes (and reading MNIST test); a file
opened again, under any name, gets its recorded choice at once, and a choice made in the app's
Input box stays with the file. The record is ``<app data>/foreign-inputs.json``
(``$DIGITPAD_HOME`` in tests), written atomically; an unreadable or damaged record is ignored
(the model is scored again), never an error. Torch-free.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Callable

from ..io.files import load_json, write_atomically
from ..io.paths import app_data_dir

RECORD = "foreign-inputs.json"
MAX_ENTRIES = 500  # oldest dropped: a file of a few tens of kB at most
KEYS = ("input", "input_scores", "input_scored_on", "input_chosen")
_lock = threading.Lock()


def content_key(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _path():
    return app_data_dir() / RECORD


def _read() -> dict:
    try:
        doc = load_json(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def recall(key: str, known: Callable[[str], bool]) -> dict | None:
    """The recorded entry for ``key`` whose convention ``known`` accepts, else None."""
    entry = _read().get(key)
    if not isinstance(entry, dict) or not isinstance(entry.get("input"), str) or not known(entry["input"]):
        return None
    scores = entry.get("input_scores")
    if scores is not None and not (isinstance(scores, dict) and all(
            isinstance(k, str) and isinstance(v, (int, float)) for k, v in scores.items())):
        entry.pop("input_scores")
    return {k: entry[k] for k in KEYS if k in entry}


def remember(key: str, meta: dict) -> bool:
    """Record ``meta``'s input entries for ``key``; False when the record cannot be written."""
    entry = {k: meta[k] for k in KEYS if meta.get(k) is not None}
    with _lock:
        doc = _read()
        doc.pop(key, None)
        doc[key] = entry
        while len(doc) > MAX_ENTRIES:
            doc.pop(next(iter(doc)))
        try:
            write_atomically(_path(), json.dumps(doc, indent=1).encode(), 0o644)
        except OSError:
            return False
    return True


def chosen_input(key: str, known: Callable[[str], bool], score: Callable[[], dict],
                 mnist_there: bool = False) -> dict:
    """The input entries for a file: recorded ones, else ``score()``'s, then recorded. A choice
    scored on synthesised digits is scored again once MNIST test is there (a weak model's
    conventions can be close on either set; MNIST is what eval measures)."""
    entry = recall(key, known)
    if entry is not None and (entry.get("input_chosen") or not mnist_there
                              or "MNIST" in str(entry.get("input_scored_on", ""))):
        return entry
    entry = score()
    remember(key, entry)
    return entry
