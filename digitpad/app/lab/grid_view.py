"""A small grid of numbers drawn with QPainter: the lab's image, kernel and output.

Padding cells are shaded, the sliding window is outlined, cells not computed yet (NaN) stay
empty. Colours come from the widget's palette, so both themes work without extra code.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

CELL = 60


class GridView(QWidget):
    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.values = np.zeros((0, 0), dtype=np.float32)
        self.pad = 0
        self.window: tuple[int, int, int, int] | None = None  # top, left, rows, cols
        self.marked: tuple[int, int] | None = None  # the cell being written
        # (rows, cols) an empty grid keeps room for, so a grid appearing on the first Step
        # does not widen the panel and push the columns beside it
        self.reserved: tuple[int, int] = (1, 1)
        self.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Minimum)

    def set_grid(self, values: np.ndarray, pad: int = 0, window=None, marked=None) -> None:
        self.values = np.asarray(values, dtype=np.float32)
        self.pad = pad
        self.window = window
        self.marked = marked
        self.updateGeometry()
        self.update()

    def _cell(self) -> float:
        rows, cols = self.values.shape if self.values.size else (1, 1)
        # the title may make the widget wider than its grid: fit the grid by height as well
        fit = min((self.width() - 4) / max(cols, 1), (self.height() - 26) / max(rows, 1))
        return max(14.0, min(CELL, fit))

    def sizeHint(self) -> QSize:
        rows, cols = self.values.shape if self.values.size else self.reserved
        title = self.fontMetrics().horizontalAdvance(self.title) + 8
        return QSize(max(int(cols * CELL + 4), title), int(rows * CELL + 26))

    def minimumSizeHint(self) -> QSize:
        rows, cols = self.values.shape if self.values.size else self.reserved
        return QSize(int(cols * 18 + 4), int(rows * 18 + 26))

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        fg = pal.windowText().color()
        base = pal.base().color()
        shade = pal.alternateBase().color().darker(112) if base.lightness() > 128 else base.lighter(160)
        accent = pal.highlight().color()
        p.setPen(fg)
        p.drawText(QRectF(0, 0, self.width(), 22), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   self.title)
        if not self.values.size:
            return
        c = self._cell()
        rows, cols = self.values.shape
        font = QFont(self.font())
        font.setPixelSize(max(9, int(c * 0.32)))
        p.setFont(font)
        y0 = 24.0
        for r in range(rows):
            for col in range(cols):
                rect = QRectF(2 + col * c, y0 + r * c, c, c)
                padded = (r < self.pad or col < self.pad or r >= rows - self.pad or col >= cols - self.pad)
                p.fillRect(rect, shade if padded else base)
                if self.marked == (r, col):
                    fill = QColor(accent)
                    fill.setAlpha(70)
                    p.fillRect(rect, fill)
                p.setPen(QPen(fg.darker(150) if base.lightness() > 128 else fg.darker(250), 1))
                p.drawRect(rect)
                v = float(self.values[r, col])
                if not math.isnan(v):
                    p.setPen(fg)
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, _text(v))
        if self.window is not None:
            top, left, h, w = self.window
            p.setPen(QPen(accent, 3))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(2 + left * c, y0 + top * c, w * c, h * c))
        p.end()


def _text(v: float) -> str:
    if math.isinf(v):
        return "-∞" if v < 0 else "∞"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"
