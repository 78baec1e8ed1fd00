"""Correcting the Draw tab in one gesture: press the right digit (0–9) or click its bar.

The drawing on the canvas is then kept as a labelled sample in the user's sample store
(``core.data.samples``, the folder the My handwriting tab shows and teaches from), and the Draw tab
says so under the bars. A second press on the same drawing does not store it twice: the same
digit again is "already kept", another digit moves the sample (a slip of the finger).

Samples are the person's own digits: a drawing that came from the MNIST test set (the Mistakes
tab's "Open in canvas") is never kept, strokes added or not, until the canvas is cleared; the
note says so. Teaching would otherwise learn test images and then score them as "MNIST test".

All of it lives here so the Draw tab only places the note; the store is imported on first
use (it reaches torch through preprocessing, and the Draw tab opens before torch loads).
Each write (a PNG's encoding and its fsyncs, a move) runs in a ``workers.Writes`` worker, in
the order asked for; the note and ``stored`` come when it is on disk.
"""

from __future__ import annotations

import logging

import numpy as np

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QWidget

from ..workers import Writes

log = logging.getLogger("digitpad.app")

HINT = "Wrong? Press the right digit (0–9) or click its bar to keep this drawing as a sample."
FROM_TEST = ("This drawing is an MNIST test image (opened from Mistakes): it is not kept as a "
             "sample, since samples are your own digits and the test set must stay unseen. "
             "Clear the canvas and draw your own.")
NAMES = ["zeros", "ones", "twos", "threes", "fours", "fives", "sixes", "sevens", "eights", "nines"]


class Corrections(QObject):
    stored = Signal(object)  # the Sample just kept (or moved)

    def __init__(self, tab: QWidget, store=None) -> None:
        super().__init__(tab)
        self.tab = tab
        self._store = store
        self._version = 0  # bumped by every canvas change: which drawing a sample came from
        self._kept = None  # (Sample, version) of the last drawing kept
        self._kept_digit = None  # (DigitRead, Sample): Number mode's last digit kept
        self._from_test = False  # the canvas holds (or was drawn over) an MNIST test image
        self._opened = None  # the last test image opened, (28, 28) uint8: undo can bring it back
        self.writes = Writes(self, name="digitpad-corrections")  # joined by the tab's shutdown
        self.note = QLabel(HINT)
        self.note.setWordWrap(True)
        self.note.setObjectName("sampleNote")
        self.note.setAccessibleName("Sample note")
        tab.canvas.changed.connect(self._canvas_changed)
        plot = tab.prediction.plot
        plot.scene().sigMouseClicked.connect(self._plot_clicked)
        plot.setToolTip("Probability the network gives each digit. Wrong? Click the right "
                        "digit's bar to keep your drawing as a sample of it.")
        for d in range(10):
            for seq in (QKeySequence(Qt.Key(Qt.Key.Key_0 + d)),
                        QKeySequence(Qt.KeyboardModifier.KeypadModifier | Qt.Key(Qt.Key.Key_0 + d))):
                # Window-wide, but only while the Draw tab is visible (a hidden widget's
                # shortcuts are off), so the canvas need not have the keyboard focus
                sc = QShortcut(seq, tab)
                sc.setContext(Qt.ShortcutContext.WindowShortcut)
                sc.activated.connect(lambda d=d: self.keep_as(d))

    @property
    def store(self):
        if self._store is None:
            from digitpad.core.data.samples import SampleStore

            self._store = SampleStore()
        return self._store

    def opened_test_image(self, image) -> None:
        """The canvas now shows ``image``, an MNIST test image (28x28, ink bright)."""
        self._from_test = True
        self._opened = image
        self._kept = None
        self.note.setText(FROM_TEST)

    def _holds_test_image(self) -> bool:
        if self._from_test:
            return True
        if self._opened is None:
            return False
        from digitpad.core.data.overlap import shows_image

        return shows_image(self.tab.canvas.to_array(), self._opened)

    def _canvas_changed(self) -> None:
        self._version += 1
        if self.tab.canvas.is_empty() and self._from_test:
            self._from_test = False
            self.note.setText(HINT)
        if self._kept is not None:
            self._kept = None
            self.note.setText(HINT)

    def _plot_clicked(self, event) -> None:
        plot = self.tab.prediction.plot
        vb = plot.getPlotItem().getViewBox()
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.scenePos()
        if not vb.sceneBoundingRect().contains(pos):
            return
        x = vb.mapSceneToView(pos).x()
        d = int(round(x))
        if 0 <= d <= 9 and abs(x - d) <= 0.45:  # on a bar's column, not between two
            self.keep_as(d)

    def keep_image(self, image, digit: int, read=None) -> bool:
        """Number mode: keep one digit cut out of the strip (``read``, its DigitRead) as a
        single-digit sample; the same digit corrected again moves its sample."""
        if image is None or not np.asarray(image).any():
            self._say("Write a number first: then correct a digit from its box.")
            return False
        kept = self._kept_digit
        if kept is not None and kept[0] is read and read is not None:
            if kept[1].digit == digit:
                self._say(f"Already kept as a {digit}.")
                return True
            sample = self._move(kept[1], digit)
        else:
            sample = self._add(np.asarray(image, np.uint8), digit, "the digit")
        self._kept_digit = (read, sample)
        return True

    def keep_as(self, digit: int) -> bool:
        """Keep the drawing on the canvas as a sample of ``digit``; the note says what happened
        (once it is written, in the worker). In Number mode the digit chosen on the strip is
        the one corrected."""
        number = getattr(self.tab, "number", None)
        if number is not None and number.state.active:
            return self.keep_image(number.selected_crop(), digit, number.state.selected_digit())
        canvas = self.tab.canvas
        if canvas.is_empty():
            self._say("Draw a digit first: then press the right digit to keep it as a sample.")
            return False
        if self._holds_test_image():
            self._from_test = True
            self._say(FROM_TEST)
            return False
        if self._kept is not None and self._kept[1] == self._version:
            sample = self._kept[0]
            if sample.digit == digit:
                self._say(f"Already kept as a {digit}.")
                return True
            sample = self._move(sample, digit)
        else:
            sample = self._add(canvas.to_array(), digit, "the drawing")
        self._kept = (sample, self._version)
        return True

    def _add(self, image: np.ndarray, digit: int, what: str):
        store = self.store
        sample = store.new_sample(digit)  # named now, so a move asked for next can follow it

        def write():
            store.write(sample, image)
            return store.counts()[digit]  # the folder listed in the worker too

        self.writes.submit(write, lambda n: self._written(sample, "Kept as", n),
                           lambda exc: self._failed(sample, what, exc))
        return sample

    def _move(self, sample, digit: int):
        store = self.store
        moved = type(sample)(digit, sample.id, store.root / str(digit) / sample.path.name)

        def write():
            store.relabel(sample, digit)
            return store.counts()[digit]

        self.writes.submit(write, lambda n: self._written(moved, "Moved to", n),
                           lambda exc: self._failed(moved, "the drawing", exc))
        return moved

    def _written(self, sample, verb: str, n: int) -> None:
        d = sample.digit
        self._say(f"{verb} a {d} in My handwriting ({n} {NAMES[d] if n != 1 else 'so far'}).")
        self.stored.emit(sample)

    def _failed(self, sample, what: str, exc) -> None:
        log.warning("could not keep %s as a sample: %s", what, exc)
        for attr in ("_kept", "_kept_digit"):  # not on disk: a next press stores it anew
            kept = getattr(self, attr)
            if kept is not None and sample in (kept[0], kept[1]):
                setattr(self, attr, None)
        self._say(f"Could not keep {what}: {getattr(exc, 'strerror', None) or exc}")

    def _say(self, text: str) -> None:
        self.note.setText(text)
        self.tab.status_message.emit(text)
