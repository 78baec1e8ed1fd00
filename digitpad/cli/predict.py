"""The ``digitpad predict`` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator
from .common import CliError, EXIT_ERROR, EXIT_OK, _json_line, _one_line, _printable, resolve_model_path


# What `predict DIR` picks up; a file named explicitly is always tried, whatever its suffix.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


PREDICT_CHUNK = 256


def iter_image_paths(paths: Iterable[str]) -> Iterator[Path]:
    """Files as given; folders searched recursively for image files, sorted, hidden ones skipped."""
    from ..core.io.files import not_regular_reason

    for raw in paths:
        if not str(raw).strip():
            # Path("") is ".": an empty argument (an unset shell variable) must not scan cwd
            raise CliError("an empty path was given; name image files or folders.")
        p = Path(raw).expanduser()
        if p.is_dir():
            found = []
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for f in filenames:
                    if f.startswith(".") or Path(f).suffix.lower() not in IMAGE_SUFFIXES:
                        continue
                    reason = not_regular_reason(Path(dirpath) / f)
                    if reason:  # a FIFO named like an image would hang the reader: skip it
                        print(f"digitpad: skipping {_printable(Path(dirpath) / f)}: {reason}, "
                              "not an image file", file=sys.stderr)
                        continue
                    found.append(Path(dirpath) / f)
            yield from sorted(found)
        else:
            yield p  # a missing or unreadable file becomes an error line, not an abort


def _chunks(items: Iterator[Path], n: int) -> Iterator[list[Path]]:
    chunk: list[Path] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _predict_each(predictor, arrays: list) -> list:
    """Predictions in order; if the batch fails (one odd image), each image alone, so the
    failure lands on that image only."""
    if not arrays:
        return []
    try:
        return list(predictor.predict_batch(arrays))
    except Exception:
        out: list = []
        for a in arrays:
            try:
                out.append(predictor.predict(a))
            except Exception as exc:
                out.append(exc)
        return out


def cmd_predict(args: argparse.Namespace) -> int:
    from ..core.reading.predict import Predictor
    from ..core.reading.number import read_number, unsure_read
    from ..core.data.preprocess import WORKING_SIDE, load_image, preprocess

    from ..core.reading.predict import open_predictor
    from ..core.nets.errors import CheckpointError

    predictor = open_predictor(resolve_model_path(args.model), getattr(args, "input", None))
    if args.number:
        return _predict_numbers(args, predictor)
    failed = 0
    total = 0
    for chunk in _chunks(iter_image_paths(args.paths), PREDICT_CHUNK):
        # Images are read here, one by one, so a damaged file costs one error line and the
        # rest of the chunk still goes through the batched predictor. Each is reduced to its
        # 28x28 as it is read: a chunk holds 256 small arrays whatever the files' sizes, and
        # memory peaks at one decoded image (8000x8000 scans: one at a time).
        results: list[dict | None] = [None] * len(chunk)
        arrays, where = [], []
        several: list[str | None] = [None] * len(chunk)
        for k, path in enumerate(chunk):
            try:
                image = load_image(path, max_side=WORKING_SIDE)
                # the same image read as a number: a file clearly holding several digits says so
                try:
                    reading = read_number(image, predictor.probs_batch)
                except CheckpointError:  # a model unusable on a part: the whole image says
                    reading = None
                if reading is not None and reading.status == "number" and reading.several \
                        and not reading.unsure:
                    several[k] = reading.number
                arrays.append(preprocess(image, keep_steps=False))
                del image
                where.append(k)
            except Exception as exc:  # ImageError, OSError, a decoder's own complaint
                results[k] = {"path": str(path), "digit": None, "error": _one_line(exc)}
        for k, pred in zip(where, _predict_each(predictor, arrays)):
            path = chunk[k]
            if isinstance(pred, Exception):
                results[k] = {"path": str(path), "digit": None, "error": _one_line(pred)}
                continue
            if pred.empty or pred.digit is None:
                results[k] = {"path": str(path), "digit": None,
                              "error": "no ink found: the image is blank"}
            else:
                results[k] = {"path": str(path), "digit": int(pred.digit),
                              "confidence": round(float(pred.confidence), 6),
                              "probs": [round(float(v), 6) for v in pred.probs]}
                unsure, alt = unsure_read(pred.probs)
                if unsure:
                    results[k].update(unsure=True, alternative=alt)
                if several[k] is not None:
                    results[k].update(several=True, number=several[k])
        for res in results:
            total += 1
            if "error" in res:
                failed += 1
            if args.json:
                print(_json_line(res))  # JSON escapes control characters itself
            elif "error" in res:
                print(f"{_printable(res['path'])}: error: {_printable(res['error'])}")
            else:
                notes = ""
                if res.get("unsure"):
                    notes += f"  unsure: {res['digit']} or {res['alternative']}?"
                if res.get("several"):
                    notes += f"  note: several digits ({res['number']}); only one was read, try --number"
                print(f"{_printable(res['path'])}: {res['digit']}  ({res['confidence'] * 100:.1f}%){notes}")
        sys.stdout.flush()
    if total == 0:
        raise CliError("no image files found in " + ", ".join(map(_printable, args.paths)))
    if failed:
        print(f"digitpad: {failed} of {total} file(s) could not be predicted", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


# A number's image keeps more pixels than a lone digit's: a long strip stays legible
# (read_number box-reduces past 2 megapixels itself).
NUMBER_SIDE = 4096


def _predict_numbers(args: argparse.Namespace, predictor) -> int:
    """predict --number: each image read as a whole number, one line (or JSON object) each."""
    from ..core.reading.number import read_number
    from ..core.data.preprocess import load_image

    failed = total = 0
    noted = False
    for path in iter_image_paths(args.paths):
        total += 1
        try:
            reading = read_number(load_image(path, max_side=NUMBER_SIDE), predictor.probs_batch)
            if reading.note and not noted:  # a damaged verifier file: said once, on stderr
                print(f"digitpad: note: {_printable(reading.note)}", file=sys.stderr)
                noted = True
            res = {"path": str(path), **reading.to_json()}
            if reading.status == "empty":
                res["error"] = "no ink found: the image is blank"
        except Exception as exc:  # ImageError, OSError, a decoder's own complaint
            res = {"path": str(path), "status": "error", "number": None, "digits": [],
                   "error": _one_line(exc)}
        if "error" in res:
            failed += 1
        if args.json:
            print(_json_line(res))
        elif "error" in res:
            print(f"{_printable(res['path'])}: error: {_printable(res['error'])}")
        elif res["status"] != "number":
            print(f"{_printable(res['path'])}: not a number ({res['reason']})")
        else:
            labels = " ".join(f"{d['digit']} or {d['alternative']}?" if d["unsure"] else str(d["digit"])
                              for d in res["digits"])
            note = f"  unsure: {labels}" if res["unsure"] else ""
            print(f"{_printable(res['path'])}: {res['number']}  ({res['confidence'] * 100:.1f}%, "
                  f"{len(res['digits'])} digit{'s' if len(res['digits']) != 1 else ''}){note}")
        sys.stdout.flush()
    if total == 0:
        raise CliError("no image files found in " + ", ".join(map(_printable, args.paths)))
    if failed:
        print(f"digitpad: {failed} of {total} file(s) could not be read", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
