"""The Draw tab's Number mode: a wide strip canvas read as a whole number, live.

Every change of the strip is read by ``core.reading.number.read_number`` (the one reader the
CLI and bench_numbers use) with the tab's current predictor's ``probs_batch``; the reading is
coalesced like the tab's prediction (a 0 ms single-shot timer) and runs in a ``Latest``
worker: one reading at a time, only the newest strip waiting, so a stroke never waits for the
reader (a 6-digit strip took 31-120 ms on a loaded 2-core machine; figures in
docs/architecture.md); a ``ReadCache`` re-classifies only candidates whose ink changed. The
strip is copied on the GUI thread (one array copy) and the reading applied there when it
arrives. Each digit gets a box with its reading and confidence; the chosen one (``NumberState``)
is handed to the tab (``digit_chosen``), which shows its maps through
``predictor.predict(digit.pre)``. Opening or dropping an image decodes in a worker.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QMenu, QVBoxLayout, QWidget

from ..widgets.canvas import DrawingCanvas
from ..workers import Latest
from .number_state import NumberState
from .open_image import ImageDrop

log = logging.getLogger("digitpad.app")

STRIP_W, STRIP_H = 1120, 280  # 4:1, digits drawn about as large as on the square canvas
TAG_H = 18  # a box's caption tag, in widget px: clicking it chooses the digit


class NumberCanvas(DrawingCanvas):
    """The strip, with each digit's box, caption and (optionally) the reader's steps on top."""

    tag_clicked = Signal(int)
    box_menu = Signal(int, object)  # digit index, global position

    def __init__(self, state: NumberState, parent: QWidget | None = None) -> None:
        super().__init__(parent, STRIP_W, STRIP_H)
        self.state = state
        self.show_steps = False
        self.setMinimumSize(240, 60)
        self.setToolTip("Write a number here; click a digit's label (or press ←/→) to see it "
                        "in the maps, right-click its box to correct it")
        self.setAccessibleName("Number canvas")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def heightForWidth(self, w: int) -> int:
        return max(60, w * STRIP_H // STRIP_W)

    def _rect(self, box) -> QRectF:
        a = self.to_widget(box[0], box[1])
        b = self.to_widget(box[2], box[3])
        return QRectF(a, b)

    def tag_rect(self, index: int) -> QRectF:
        r = self._rect(self.state.digits[index].box)
        top = max(0.0, r.top() - TAG_H)
        return QRectF(r.left(), top, max(r.width(), 64.0), TAG_H)

    def tag_at(self, pos: QPointF) -> int | None:
        for i in range(len(self.state.digits)):
            if self.tag_rect(i).contains(pos):
                return i
        return None

    def mousePressEvent(self, event) -> None:
        pos = event.position()
        if event.button() == Qt.MouseButton.LeftButton and not self.is_drawing():
            i = self.tag_at(pos)
            if i is not None:
                self.tag_clicked.emit(i)
                event.accept()
                return
        if event.button() == Qt.MouseButton.RightButton and not self.is_drawing():
            p = self.image_pos(pos)
            i = self.state.hit(p.x(), p.y())
            if i is None:
                i = self.tag_at(pos)
            if i is not None:
                self.box_menu.emit(i, event.globalPosition().toPoint())
                event.accept()
                return
        super().mousePressEvent(event)

    def paint_overlay(self, p: QPainter, target: QRectF) -> None:
        reading = self.state.reading
        if reading is None or not reading.digits:
            return
        pal = self.palette()
        accent = pal.color(pal.ColorRole.Highlight)
        grey = QColor(140, 140, 140)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self.show_steps:
            self._paint_steps(p, reading)
        font = QFont(self.font())
        font.setPointSizeF(max(8.0, font.pointSizeF()))
        p.setFont(font)
        number = reading.status == "number"
        for i, d in enumerate(reading.digits):
            chosen = i == self.state.selected
            colour = grey if d.unsure or not number else accent
            r = self._rect(d.box)
            p.setPen(QPen(colour, 2.5 if chosen else 1.2,
                          Qt.PenStyle.SolidLine if chosen else Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(r)
            tag = self.tag_rect(i)
            p.fillRect(tag, colour)
            p.setPen(QColor(255, 255, 255))
            p.drawText(tag.adjusted(3, 0, -2, 0), Qt.AlignmentFlag.AlignVCenter,
                       self.state.caption(d))

    def _paint_steps(self, p: QPainter, reading) -> None:
        steps = dict(reading.steps)
        pen = QPen(QColor(230, 140, 30), 1, Qt.PenStyle.DotLine)
        p.setPen(pen)
        for box in steps.get("components", []):
            p.drawRect(self._rect(box))
        p.setPen(QPen(QColor(40, 170, 90), 2))
        for a, b in steps.get("merged (overlap along the line)", []):
            ra, rb = self._rect(a), self._rect(b)
            p.drawLine(ra.center(), rb.center())
        p.setPen(QPen(QColor(200, 50, 50), 1, Qt.PenStyle.DashLine))
        for box, cut in (steps.get("cuts tried") or {}).items():
            slant = float(cut.get("slant", 0.0)) if isinstance(cut, dict) else 0.0
            ats = cut.get("at", []) if isinstance(cut, dict) else cut
            x0, y0, x1, y1 = box
            cy = (y0 + y1) / 2
            for x in ats:
                # a cut along the piece's slant: x moves by slant per pixel away from the middle
                top = self.to_widget(x + slant * (y0 - cy), y0)
                bottom = self.to_widget(x + slant * (y1 - cy), y1)
                p.drawLine(top, bottom)

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            if self.state.step(-1 if key == Qt.Key.Key_Left else 1):
                self.tag_clicked.emit(self.state.selected)
            event.accept()
            return
        super().keyPressEvent(event)


class NumberView(QWidget):
    digit_chosen = Signal(object)  # the DigitRead the maps should show, or None
    read_done = Signal()  # a reading was shown (tests, bench)
    correct = Signal(object, int)  # (DigitRead, the right digit): keep it as a sample
    status_message = Signal(str)

    def __init__(self, predictor_of, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._predictor_of = predictor_of  # () -> the tab's predictor (or None while loading)
        self.state = NumberState()
        self.canvas = NumberCanvas(self.state)
        self.number = QLabel()
        self.number.setObjectName("numberReading")
        self.number.setAccessibleName("Number read")
        big = QFont(self.font())
        big.setPointSizeF(max(18.0, big.pointSizeF() * 2.2))
        big.setBold(True)
        self.number.setFont(big)
        self.number.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.confidence = QLabel()
        self.confidence.setWordWrap(True)
        self.steps_box = QCheckBox("Show steps")
        self.steps_box.setToolTip("Draw how the reader split the ink: components (dotted), "
                                  "merges (green), cuts tried (red)")
        self.steps_box.toggled.connect(self._steps_toggled)
        self.last_read_ms = 0.0

        row = QHBoxLayout()
        row.addWidget(self.number, 1)
        row.addWidget(self.confidence, 1)
        row.addWidget(self.steps_box)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas, 1)
        lay.addLayout(row)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.read_now)
        self.canvas.changed.connect(self._changed)
        self.canvas.tag_clicked.connect(self.choose)
        self.canvas.box_menu.connect(self._menu)
        self._decodes = Latest(self, name="digitpad-number-open")
        self._reads = Latest(self, name="digitpad-number-read")
        # only the candidates whose ink changed are classified again after a stroke (6 digits:
        # 15 ms re-read against ~47 ms cold, bench_numbers)
        self._cache = None
        self.drop = ImageDrop(self.canvas)
        self.drop.dropped.connect(self.open_image)
        self._show_texts()

    # --- reading ---------------------------------------------------------------------------

    def _changed(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def read_now(self) -> None:
        """Read the strip as it is now, in the reader's worker (the newest request wins)."""
        self._timer.stop()
        predictor = self._predictor_of()
        if predictor is None:
            return
        from digitpad.core.reading.number import ReadCache, read_number

        image = self.canvas.to_array()
        stroke_at = self.canvas.last_stroke_at  # the strokes this copy holds, not later ones
        classify = predictor.probs_batch
        if self._cache is None:
            self._cache = ReadCache()
        cache = self._cache  # a running read keeps its own: forget() swaps in a new one

        def work(control):
            t0 = time.perf_counter()
            reading = read_number(image, classify, "light-on-dark", keep_steps=True, cache=cache)
            yield reading, stroke_at, (time.perf_counter() - t0) * 1000

        self._reads.submit(work, self._apply, self._failed)

    def forget(self) -> None:
        """The model or its weights changed (a live epoch swaps weights in place): candidates
        read before are not reused."""
        self._cache = None

    def _failed(self, exc) -> None:
        log.error("number reading failed: %r", exc)
        self.status_message.emit("Reading the number failed; details are in the log file.")

    def _apply(self, item) -> None:
        reading, stroke_at, ms = item
        if not self.state.active:
            return  # the mode was left while it read
        self.last_read_ms = ms
        before = self.state.selected_digit()
        self.state.set_reading(reading, stroke_at)
        self._show_texts()
        self.canvas.update()
        chosen = self.state.selected_digit()
        if chosen is not before:
            self.digit_chosen.emit(chosen)
        self.read_done.emit()

    @property
    def reading(self) -> bool:
        """A reading is pending, running or waiting (tests and the bench wait for it)."""
        return self._timer.isActive() or self._reads.busy

    def choose(self, index: int) -> None:
        if self.state.select(index):
            self.canvas.update()
            self.digit_chosen.emit(self.state.selected_digit())

    def _steps_toggled(self, on: bool) -> None:
        self.canvas.show_steps = bool(on)
        self.canvas.update()

    def _show_texts(self) -> None:
        r = self.state.reading
        self.number.setText(self.state.number_text())
        unsure = r is not None and (r.status != "number" or r.unsure)
        self.number.setEnabled(not unsure)  # greyed: the palette's disabled text colour
        self.confidence.setText(self.state.confidence_text())

    # --- corrections -----------------------------------------------------------------------

    def _menu(self, index: int, where) -> None:
        self.choose(index)
        menu = QMenu(self)
        d = self.state.digits[index]
        for k in range(10):
            act = menu.addAction(f"It is a {k}" + ("  (read)" if k == d.digit else ""))
            act.triggered.connect(lambda _=False, k=k: self.correct_selected(k))
        menu.popup(where)
        self._open_menu = menu  # tests close it

    def correct_selected(self, digit: int) -> bool:
        d = self.state.selected_digit()
        if d is None:
            return False
        self.correct.emit(d, int(digit))
        return True

    def selected_crop(self) -> np.ndarray | None:
        """The chosen digit's ink cut out of the strip (uint8, ink bright), as a sample keeps it."""
        d = self.state.selected_digit()
        if d is None:
            return None
        x0, y0, x1, y1 = d.box
        return self.canvas.to_array()[max(0, y0):y1, max(0, x0):x1].copy()

    # --- open image / drop ----------------------------------------------------------------

    def open_image(self, path: str) -> None:
        """Read a photo or scan of a number: decoded and fitted into the strip in a worker."""
        from .open_image import image_for_canvas

        w, h = self.canvas.canvas_size, self.canvas.canvas_height

        def work(control):
            yield image_for_canvas(path, w, h)

        def done(item) -> None:
            array, read = item
            self.canvas.set_array(array)  # one undo step
            self.status_message.emit(f"Reading {read.name} as a number")

        def failed(exc) -> None:
            self.status_message.emit(f"Cannot open {Path(path).name}: {exc}")

        self._decodes.submit(work, done, failed)

    @property
    def busy(self) -> bool:
        return self._decodes.busy or self._reads.busy

    def shutdown(self, timeout_ms: int = 2000) -> None:
        self._timer.stop()
        self._reads.shutdown(timeout_ms)
        self._decodes.shutdown(timeout_ms)
