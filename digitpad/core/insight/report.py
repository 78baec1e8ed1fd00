"""`digitpad eval --report DIR`: a model's mistakes as files a person can open anywhere.

confusion.png (the matrix as a heatmap with counts), worst.png (the wrong answers the model
was surest of, with what it said) and report.json. Drawn with PIL alone: no plotting library.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..reading.scoring import Scores

CELL = 52
MARGIN = 70


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _heat(v: float) -> tuple[int, int, int]:
    """White -> deep blue, for a value in [0, 1]."""
    return tuple(int(round(w + (b - w) * v)) for w, b in zip((255, 255, 255), (8, 48, 107)))


def confusion_png(m: Scores) -> Image.Image:
    """The confusion matrix; colour is per-row share on a log scale so rare mistakes show."""
    conf = m.confusion
    side = MARGIN + 10 * CELL + 90
    im = Image.new("RGB", (side, MARGIN + 10 * CELL + 40), "white")
    d = ImageDraw.Draw(im)
    small, big = _font(14), _font(18)
    totals = np.maximum(conf.sum(1, keepdims=True), 1)
    share = conf / totals
    for t in range(10):
        for p in range(10):
            x0, y0 = MARGIN + p * CELL, MARGIN + t * CELL
            v = 0.0 if conf[t, p] == 0 else (math.log10(1 + 999 * share[t, p]) / 3)
            fill = _heat(v)
            d.rectangle([x0, y0, x0 + CELL - 1, y0 + CELL - 1], fill=fill,
                        outline=(200, 60, 60) if t != p and conf[t, p] else (220, 220, 220))
            if conf[t, p]:
                ink = "white" if v > 0.55 else "black"
                d.text((x0 + CELL / 2, y0 + CELL / 2), str(conf[t, p]), fill=ink, font=small, anchor="mm")
        d.text((MARGIN - 12, MARGIN + t * CELL + CELL / 2), str(t), fill="black", font=big, anchor="rm")
        d.text((MARGIN + t * CELL + CELL / 2, MARGIN - 10), str(t), fill="black", font=big, anchor="mb")
        acc = m.per_class[t]
        d.text((MARGIN + 10 * CELL + 8, MARGIN + t * CELL + CELL / 2),
               "n/a" if math.isnan(acc) else f"{acc * 100:.1f}%", fill="black", font=small, anchor="lm")
    d.text((MARGIN + 5 * CELL, 18), "predicted", fill="black", font=big, anchor="mm")
    d.text((8, MARGIN - 30), "true", fill="black", font=big)
    d.text((MARGIN + 5 * CELL, MARGIN + 10 * CELL + 20),
           f"accuracy {m.accuracy * 100:.2f}% of {m.n:,}", fill="black", font=big, anchor="mm")
    return im


def worst_png(m: Scores, images: np.ndarray, n: int = 36, cols: int = 6, scale: int = 4) -> Image.Image:
    """The ``n`` most confident wrong answers: each test image with "4 read as 9 (97%)"."""
    idx = m.worst(n)
    tile = 28 * scale
    rows = max(1, math.ceil(len(idx) / cols))
    im = Image.new("RGB", (cols * (tile + 12) + 12, rows * (tile + 34) + 12), "white")
    d = ImageDraw.Draw(im)
    font = _font(14)
    if len(idx) == 0:
        d.text((12, 12), "no mistakes", fill="black", font=font)
    for k, i in enumerate(idx):
        r, c = divmod(k, cols)
        x0, y0 = 12 + c * (tile + 12), 12 + r * (tile + 34)
        pix = (255 - np.clip(images[i].reshape(28, 28) * 255, 0, 255)).astype(np.uint8)  # ink dark
        im.paste(Image.fromarray(pix).resize((tile, tile), Image.NEAREST), (x0, y0))
        d.text((x0, y0 + tile + 4), f"{m.labels[i]} read as {m.preds[i]} ({m.confidence[i] * 100:.0f}%)",
               fill=(160, 20, 20), font=font)
    return im


def write_report(folder: str | Path, m: Scores, images: np.ndarray, meta: dict) -> dict[str, Path]:
    """confusion.png, worst.png and report.json in ``folder`` (created); returns their paths.

    Refused (OutputError) inside the shipped resources/, as model writes are. Each file is
    encoded in memory and written atomically: a full disk leaves the old file or none, never a
    0-byte confusion.png, and the error names the file."""
    from ..io.files import write_atomically
    from ..io.outputs import OutputError, is_shipped

    folder = Path(folder)
    if is_shipped(folder):
        raise OutputError(f"{folder} is where digitpad's shipped models live; nothing is "
                          "written there. Choose another folder for the report.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot write the report into {folder}: {exc.strerror or exc}.") from exc
    paths = {"confusion": folder / "confusion.png", "worst": folder / "worst.png",
             "json": folder / "report.json"}
    worst = [{"index": int(i), "true": int(m.labels[i]), "predicted": int(m.preds[i]),
              "confidence": float(m.confidence[i]), "probs": [round(float(p), 6) for p in m.probs[i]]}
             for i in m.worst(100)]
    doc = {**meta, **m.summary(), "worst": worst,
           "files": {k: str(v.name) for k, v in paths.items() if k != "json"}}
    doc["per_class"] = [None if math.isnan(v) else v for v in doc["per_class"]]
    blobs = {"confusion": _png(confusion_png(m)), "worst": _png(worst_png(m, images)),
             "json": json.dumps(doc, indent=1).encode()}
    for key, blob in blobs.items():
        try:
            write_atomically(paths[key], blob, 0o644)
        except OSError as exc:
            raise OutputError(f"Cannot write {paths[key]}: {exc.strerror or exc}.") from exc
    return paths


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
