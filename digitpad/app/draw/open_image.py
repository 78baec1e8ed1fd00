"""An image file onto the Draw tab's canvas: File > Open image… and drag-and-drop.

The file is read the way ``digitpad predict`` reads one (``load_image``: any format, size,
bit depth; ``ink_image``: either polarity, colour ink, transparency), turned ink-bright like
the canvas, and fitted into the canvas square. From there it is a drawing like any other: read
by the network, shown in "what the network sees", kept as a sample with 0–9.

A folder stands for its first image (by name), as ``predict DIR`` would read it first.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QObject, Signal

from digitpad.core.data.preprocess import ImageError, ink_image, load_image, preprocess
from digitpad.core.data.samples import IMAGE_SUFFIXES

IMAGE_FILTER = ("Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)")


def first_image(folder: Path) -> Path:
    """The first image file in ``folder`` by name; ImageError when it holds none."""
    try:
        names = sorted(p for p in folder.iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    except OSError as exc:
        raise ImageError(f"{folder.name} cannot be listed ({exc.strerror or exc}).") from None
    files = [p for p in names if p.is_file()]
    if not files:
        raise ImageError(f"{folder.name} holds no image file (PNG, JPEG, BMP, GIF, TIFF, WebP).")
    return files[0]


def image_for_canvas(path: str | os.PathLike, side: int,
                     height: int | None = None) -> tuple[np.ndarray, Path]:
    """(height x side uint8 ink-bright array, the file read; square unless a height is given:
    Number mode's strip). ImageError says what is wrong."""
    height = side if height is None else int(height)
    p = Path(path)
    if p.is_dir():
        p = first_image(p)
    ink, scale, _polarity = ink_image(load_image(p), "auto")
    gray = np.clip(ink.astype(np.float32) * (255.0 / scale), 0, 255).round().astype(np.uint8)
    h, w = gray.shape
    # paper around it in the target's shape: the drawing keeps its own
    k = max(h / height, w / side)
    ph, pw = max(h, round(height * k)), max(w, round(side * k))
    square = np.zeros((ph, pw), np.uint8)
    top, left = (ph - h) // 2, (pw - w) // 2
    square[top:top + h, left:left + w] = gray
    fitted = Image.fromarray(square).resize((side, height), Image.Resampling.LANCZOS
                                           if pw > side else Image.Resampling.BILINEAR)
    out = np.asarray(fitted, dtype=np.uint8)
    if preprocess(out, polarity="light-on-dark", keep_steps=False).empty:  # the canvas's "no ink"
        raise ImageError(f"{p.name} holds no ink: the image is blank (all one shade), so there "
                         "is no digit to read. The drawing is unchanged.")
    return out, p


def local_path(mime) -> str | None:
    """The first local file or folder a drag carries, else None."""
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and url.toLocalFile():
            return url.toLocalFile()
    return None


class ImageDrop(QObject):
    """Lets ``widget`` take a dropped image file or folder: ``dropped(path)``."""

    dropped = Signal(str)

    def __init__(self, widget) -> None:
        super().__init__(widget)
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            if local_path(event.mimeData()) is not None:
                event.acceptProposedAction()
                return True
        elif kind == QEvent.Type.Drop:
            path = local_path(event.mimeData())
            if path is not None:
                event.acceptProposedAction()
                self.dropped.emit(path)
                return True
        return super().eventFilter(obj, event)
