"""The drawing canvas: a square grayscale image drawn with the mouse or a tablet pen.

The image is stored MNIST-style (ink bright on black) whatever the theme; the widget shows it
as ink on paper in the theme's colours. Strokes are smoothed with quadratic curves through
the midpoints of successive samples, anti-aliased with round caps and joins; a pen's pressure
scales the width when the tablet reports it. Undo and redo work per stroke, using snapshots of
the image taken when a stroke starts (a 280x280 byte image is 77 KB, so 64 levels are cheap).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPen,
                           QPointingDevice, QTabletEvent)
from PySide6.QtWidgets import QSizePolicy, QWidget

CANVAS_SIZE = 280
DEFAULT_BRUSH = 18
MIN_BRUSH, MAX_BRUSH = 4, 48
UNDO_LEVELS = 64


def keep_every_stroke_point() -> None:
    """Ask Qt to deliver every pointer move, called before the QApplication is created.

    By default Qt (xcb, and tablets everywhere) merges the moves queued while the GUI thread
    is busy into the last one, so a stroke drawn during a stall (torch's import, a training
    step holding the interpreter lock) loses its corners: a 7 became a ")". A late point is
    harmless, a lost one changes the digit; the canvas draws each move cheaply, so catching up
    on a queue of them after a stall takes a few milliseconds.
    """
    from PySide6.QtCore import QCoreApplication

    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_CompressHighFrequencyEvents, False)
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_CompressTabletEvents, False)


class DrawingCanvas(QWidget):
    changed = Signal()  # the image changed (also mid-stroke, for live prediction)
    history_changed = Signal()  # can_undo / can_redo may have changed

    def __init__(self, parent: QWidget | None = None, size: int = CANVAS_SIZE,
                 height: int | None = None) -> None:
        super().__init__(parent)
        # square unless a height is given (Number mode's wide strip): _size is the width
        self._size = size
        self._height = size if height is None else int(height)
        self._image = QImage(size, self._height, QImage.Format.Format_Grayscale8)
        self._image.fill(0)
        self._undo: list[QImage] = []
        self._redo: list[QImage] = []
        self._brush = float(DEFAULT_BRUSH)
        self._points: list[tuple[QPointF, float]] = []  # the current stroke: (image pos, width)
        self._drawing = False
        self._empty = True
        self._paper = QColor(255, 255, 255)
        self._ink = QColor(0, 0, 0)
        self._display: QImage | None = None  # themed copy of the image, rebuilt when dirty
        self.last_stroke_at: tuple[float, float] | None = None
        self.setMinimumSize(112, 112)  # 160 left no room at 830x568 for a test image's note
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setToolTip("Draw a digit here with the mouse or a pen")
        self.setAccessibleName("Drawing canvas")

    # --- public API ------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        return QSize(self._size + 20, self._height + 20)

    @property
    def canvas_size(self) -> int:
        return self._size

    @property
    def canvas_height(self) -> int:
        return self._height

    def brush_size(self) -> float:
        return self._brush

    def set_brush_size(self, size: float) -> None:
        self._brush = float(min(MAX_BRUSH, max(MIN_BRUSH, size)))

    def set_colors(self, paper: int, ink: int) -> None:
        """Grey levels for showing the drawing; the stored image is unaffected."""
        self._paper, self._ink = QColor(paper, paper, paper), QColor(ink, ink, ink)
        self._display = None
        self.update()

    def image(self) -> QImage:
        return self._image.copy()

    def to_array(self) -> np.ndarray:
        """The drawing as a (H, W) uint8 array, ink bright on black (MNIST polarity)."""
        img = self._image
        ptr = img.constBits()
        arr = np.frombuffer(ptr, dtype=np.uint8, count=img.sizeInBytes())
        arr = arr.reshape(img.height(), img.bytesPerLine())[:, : img.width()]
        return arr.copy()

    def is_empty(self) -> bool:
        return self._empty

    def is_drawing(self) -> bool:
        """A stroke is under way (the button or pen is down)."""
        return self._drawing

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def clear(self) -> None:
        if self._empty and not self._drawing:
            return
        self._finish_stroke()
        self._push_undo()
        self._image.fill(0)
        self._empty = True
        self._changed()
        self.history_changed.emit()

    def undo(self) -> None:
        self._finish_stroke()
        if not self._undo:
            return
        self._redo.append(self._image.copy())
        self._set_image(self._undo.pop())

    def redo(self) -> None:
        self._finish_stroke()
        if not self._redo:
            return
        self._undo.append(self._image.copy())
        self._set_image(self._redo.pop())

    def draw_stroke(self, points: Iterable[tuple[float, float]], width: float | None = None) -> None:
        """Draw one stroke through image coordinates, as a person would (one undo step)."""
        pts = [QPointF(float(x), float(y)) for x, y in points]
        if not pts:
            return
        w = self._brush if width is None else float(width)
        self._begin_stroke(pts[0], w)
        for p in pts[1:]:
            self._extend_stroke(p, w)
        self._finish_stroke()

    def set_array(self, array: np.ndarray) -> None:
        """Replace the drawing with an (H, W) uint8 array (ink bright); one undo step."""
        arr = np.ascontiguousarray(np.asarray(array, dtype=np.uint8))
        if arr.shape != (self._height, self._size):
            raise ValueError(f"expected a {self._size}x{self._height} array, got {arr.shape}")
        self._finish_stroke()
        self._push_undo()
        img = QImage(arr.data, self._size, self._height, self._size, QImage.Format.Format_Grayscale8)
        self._set_image(img.copy())

    # --- coordinates -----------------------------------------------------------------------

    def _target_rect(self) -> QRectF:
        k = min(self.width() / self._size, self.height() / self._height)
        w, h = self._size * k, self._height * k
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def _to_image(self, pos: QPointF) -> QPointF:
        r = self._target_rect()
        scale = self._size / max(r.width(), 1.0)
        return QPointF((pos.x() - r.x()) * scale, (pos.y() - r.y()) * scale)

    # --- events ----------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin_stroke(self._to_image(event.position()), self._brush)
            event.accept()
        elif event.button() == Qt.MouseButton.RightButton and self._drawing:
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        # buttons() (held), not button() (the one that caused the event: NoButton on moves)
        if self._drawing and event.buttons() & Qt.MouseButton.LeftButton:
            self._extend_stroke(self._to_image(event.position()), self._brush)
            event.accept()
        else:
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._drawing:
            self._extend_stroke(self._to_image(event.position()), self._brush)
            self._finish_stroke()
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def tabletEvent(self, event: QTabletEvent) -> None:
        width = self._brush
        dev = event.pointingDevice()
        has_pressure = dev is not None and bool(
            dev.capabilities() & QPointingDevice.Capability.Pressure)
        if has_pressure:
            width = self._brush * (0.25 + 0.95 * max(0.0, min(1.0, event.pressure())))
        pos = self._to_image(event.position())
        t = event.type()
        if t == QTabletEvent.Type.TabletPress:
            self._begin_stroke(pos, width)
        elif t == QTabletEvent.Type.TabletMove and self._drawing:
            self._extend_stroke(pos, width)
        elif t == QTabletEvent.Type.TabletRelease and self._drawing:
            self._finish_stroke()
        event.accept()  # no synthesised mouse events: they would draw the stroke twice

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        bg = self.palette().color(self.backgroundRole())
        p.fillRect(self.rect(), bg)
        r = self._target_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.drawImage(r, self._themed_image())
        if self.hasFocus():  # a Tab stop where it takes keys (Enter keeps a drawing): seen
            p.setPen(QPen(self.palette().color(self.palette().ColorRole.Highlight), 2))
            p.drawRect(r.adjusted(1, 1, -1, -1))
        else:
            p.setPen(QPen(self.palette().color(self.palette().ColorRole.Mid), 1))
            p.drawRect(r.adjusted(0, 0, -1, -1))
        self.paint_overlay(p, r)
        p.end()

    def paint_overlay(self, painter: QPainter, target: QRectF) -> None:
        """Drawn over the image (``target``: where it lies); Number mode's boxes."""

    def to_widget(self, x: float, y: float) -> QPointF:
        """An image position in widget coordinates."""
        r = self._target_rect()
        k = r.width() / self._size
        return QPointF(r.x() + x * k, r.y() + y * k)

    def image_pos(self, pos: QPointF) -> QPointF:
        """A widget position in image coordinates."""
        return self._to_image(pos)

    # --- drawing ---------------------------------------------------------------------------

    def _themed_image(self) -> QImage:
        if self._display is None:
            arr = self.to_array().astype(np.float32) / 255.0
            paper, ink = self._paper.red(), self._ink.red()
            shown = np.ascontiguousarray((paper + (ink - paper) * arr).round().astype(np.uint8))
            # RGB32: drawing a smoothly scaled Grayscale8 image is ~40x slower in Qt's raster engine
            self._display = QImage(shown.data, self._size, self._height, self._size,
                                   QImage.Format.Format_Grayscale8).convertToFormat(
                                       QImage.Format.Format_RGB32)
        return self._display

    def _pen(self, width: float) -> QPen:
        pen = QPen(QColor(255, 255, 255), width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        return pen

    def _painter(self) -> QPainter:
        p = QPainter(self._image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        # Lighten: overlapping anti-aliased edges never darken ink that is already there
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Lighten)
        return p

    def _begin_stroke(self, pos: QPointF, width: float) -> None:
        self._finish_stroke()
        self._push_undo()
        self._drawing = True
        self.last_stroke_at = (pos.x(), pos.y())  # where the newest stroke began (image px)
        self._points = [(pos, width)]
        p = self._painter()
        p.setPen(self._pen(width))
        p.drawPoint(pos)  # a click leaves a dot
        p.end()
        self._empty = False
        self._changed()

    def _extend_stroke(self, pos: QPointF, width: float) -> None:
        if not self._drawing:
            return
        last = self._points[-1][0]
        if (pos - last).manhattanLength() < 0.5:
            return
        self._points.append((pos, width))
        pts = self._points
        p = self._painter()
        if len(pts) == 2:
            p.setPen(self._pen(width))
            p.drawLine(pts[0][0], _mid(pts[0][0], pos))
        else:
            # quadratic from the previous midpoint, through the previous sample, to the new midpoint
            (p0, _), (p1, w1), (p2, _) = pts[-3], pts[-2], pts[-1]
            path = QPainterPath(_mid(p0, p1))
            path.quadTo(p1, _mid(p1, p2))
            p.setPen(self._pen((w1 + width) / 2))
            p.drawPath(path)
        p.end()
        self._changed()

    def _finish_stroke(self) -> None:
        if not self._drawing:
            return
        self._drawing = False
        if len(self._points) >= 2:
            (a, _), (b, w) = self._points[-2], self._points[-1]
            p = self._painter()
            p.setPen(self._pen(w))
            p.drawLine(_mid(a, b), b)
            p.end()
        self._points = []
        self._changed()
        self.history_changed.emit()

    def _push_undo(self) -> None:
        self._undo.append(self._image.copy())
        del self._undo[:-UNDO_LEVELS]
        self._redo.clear()

    def _set_image(self, image: QImage) -> None:
        self._image = image
        self._empty = not bool(self.to_array().any())
        self._changed()
        self.history_changed.emit()

    def _changed(self) -> None:
        self._display = None
        self.update()
        self.changed.emit()


def _mid(a: QPointF, b: QPointF) -> QPointF:
    return QPointF((a.x() + b.x()) / 2, (a.y() + b.y()) / 2)


def synthetic_digit_strokes(digit: int = 7, size: int = CANVAS_SIZE) -> list[Sequence[tuple[float, float]]]:
    """Strokes (image coordinates) that draw a recognisable digit; for the self-test and bench."""
    s = size / 280.0
    shapes = {
        7: [[(80, 60), (200, 60), (170, 120), (140, 180), (120, 230)]],
        1: [[(150, 50), (145, 120), (142, 180), (140, 235)]],
        0: [[(140, 50), (95, 80), (85, 140), (95, 200), (140, 230), (185, 200), (195, 140),
             (185, 80), (140, 50)]],
    }
    strokes = shapes.get(digit, shapes[7])
    dense = []
    for stroke in strokes:
        pts: list[tuple[float, float]] = []
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            for t in np.linspace(0, 1, 8, endpoint=False):
                pts.append(((x0 + (x1 - x0) * t) * s, (y0 + (y1 - y0) * t) * s))
        pts.append((stroke[-1][0] * s, stroke[-1][1] * s))
        dense.append(pts)
    return dense
