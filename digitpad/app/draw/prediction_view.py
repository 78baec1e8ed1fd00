"""The answer: the top digit, its confidence, the ten probabilities, and what the network sees.

The bar chart is one BarGraphItem created once and updated with ``setOpts``; the
preprocessing previews are labels whose pixmaps are replaced in place.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .. import theme
from ..widgets.focus import display_only

EMPTY_TEXT = "Draw a digit"
N_STEPS = 3  # crop, scale, centre: the core's steps after the input
STEP_PX = 64  # a preview's side
CAPTION_H = 32  # two lines of caption
CAPTION_W = 108  # "scaled to 20 px" whole


def array_to_pixmap(a: np.ndarray, size: int, paper: int, ink: int) -> QPixmap:
    """A float image in [0, 1] (ink bright) as a pixmap of ``size`` px, pixels kept sharp."""
    a = np.asarray(a, dtype=np.float32)
    top = float(a.max()) if a.size else 0.0
    if top > 1.0:
        a = a / top
    g = np.ascontiguousarray((paper + (ink - paper) * np.clip(a, 0, 1)).round().astype(np.uint8))
    h, w = g.shape
    img = QImage(g.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(img.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                        Qt.TransformationMode.FastTransformation))


class PredictionView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._colors = theme.current()
        self.digit_label = QLabel("")
        f = QFont(self.font())
        f.setPointSize(54)
        f.setBold(True)
        self.digit_label.setFont(f)
        self.digit_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # fixed sizes: a changing text must not relayout (and repaint) the whole window
        self.digit_label.setFixedSize(110, 86)
        self.digit_label.setAccessibleName("Predicted digit")
        self.confidence_label = QLabel(EMPTY_TEXT)
        self.confidence_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.confidence_label.setFixedWidth(110)
        self.confidence_label.setWordWrap(True)  # "loading model…" and "Draw a digit" fit whole

        self.plot = pg.PlotWidget()
        display_only(self.plot)  # a bar takes a click; the keys 0-9 do the same from anywhere
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.setYRange(0, 1.08, padding=0)
        self.plot.setXRange(-0.6, 9.6, padding=0)
        self.plot.getAxis("bottom").setTicks([[(i, str(i)) for i in range(10)]])
        self.plot.getAxis("left").setTicks([[(0, "0"), (0.5, "50 %"), (1, "100 %")]])
        self.plot.setMinimumHeight(120)
        self.plot.setMaximumHeight(190)
        self.plot.setToolTip("Probability the network gives each digit")
        self.bars = pg.BarGraphItem(x=np.arange(10), height=np.zeros(10), width=0.7,
                                    brush=self._colors.bar, pen=None)
        self.plot.addItem(self.bars)
        self.probs = np.zeros(10, dtype=np.float32)

        top = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(self.digit_label)
        left.addWidget(self.confidence_label)
        left.addStretch(1)
        top.addLayout(left)
        top.addWidget(self.plot, 1)

        self.steps_title = QLabel("<b>What the network sees</b>")
        # The previews, their captions and the empty note are created now, in a block of
        # fixed height: the first stroke must not grow this view (and shrink the canvas).
        self.steps_area = QWidget()
        self.steps_box = QGridLayout(self.steps_area)
        self.steps_box.setContentsMargins(0, 0, 0, 0)
        self.steps_box.setHorizontalSpacing(4)
        self.steps_box.setVerticalSpacing(2)
        self._step_images: list[QLabel] = []
        self._step_titles: list[QLabel] = []
        self._steps: list[tuple[str, np.ndarray]] = []
        for col in range(N_STEPS):
            img, title = QLabel(), QLabel()
            img.setFixedSize(STEP_PX + 8, STEP_PX)
            img.setAlignment(Qt.AlignmentFlag.AlignCenter)
            title.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            title.setFixedSize(CAPTION_W, CAPTION_H)
            self.steps_box.addWidget(img, 0, col, Qt.AlignmentFlag.AlignHCenter)
            self.steps_box.addWidget(title, 1, col, Qt.AlignmentFlag.AlignHCenter)
            self._step_images.append(img)
            self._step_titles.append(title)
        self.steps_note = QLabel("Nothing drawn yet: the steps from your drawing to the "
                                 "network's 28×28 input appear here.")
        self.steps_note.setWordWrap(True)
        self.steps_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.steps_box.addWidget(self.steps_note, 0, 0, 2, N_STEPS)
        self.steps_box.setColumnStretch(N_STEPS, 1)
        self.steps_area.setFixedHeight(STEP_PX + 2 + CAPTION_H)
        # wide enough for every caption side by side, so a narrow window cannot overlap them
        self.steps_area.setMinimumWidth(N_STEPS * max(CAPTION_W, STEP_PX + 8) + (N_STEPS - 1) * 4)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.steps_title)
        layout.addWidget(self.steps_area)
        self.show_empty()

    # --- updates ---------------------------------------------------------------------------

    def show_status(self, text: str | None) -> None:
        """No answer to show: "loading model…" or "Draw a digit"."""
        self.show_empty(text or EMPTY_TEXT)

    def show_empty(self, text: str = EMPTY_TEXT) -> None:
        self.digit_label.setText("")  # a 54 pt dash read as a black bar
        self.confidence_label.setText(text)
        self.probs = np.zeros(10, dtype=np.float32)
        self.bars.setOpts(height=self.probs, brushes=[self._colors.bar] * 10)
        self.set_steps([])

    def show_prediction(self, digit: int, confidence: float, probs: np.ndarray) -> None:
        self.digit_label.setText(str(int(digit)))
        self.confidence_label.setText(f"{confidence * 100:.1f} % sure")
        self.probs = np.asarray(probs, dtype=np.float32).copy()
        brushes = [self._colors.accent if i == digit else self._colors.bar for i in range(10)]
        self.bars.setOpts(height=self.probs, brushes=brushes)

    def set_steps(self, steps: list[tuple[str, np.ndarray]]) -> None:
        """Show the preprocessing steps (skipping the full-size input: the canvas shows it)."""
        steps = [(t, a) for t, a in steps if t != "input"][:N_STEPS]
        self._steps = steps
        self.steps_note.setVisible(not steps)
        for i, (img, title) in enumerate(zip(self._step_images, self._step_titles)):
            if i < len(steps):
                name, arr = steps[i]
                img.setPixmap(array_to_pixmap(arr, STEP_PX, self._colors.paper, self._colors.ink))
                h, w = np.shape(arr)[:2]
                title.setText(f"{name}\n{w}×{h}")
                img.setToolTip(f"{name}: {w}×{h} pixels")
            else:
                img.clear()
                title.setText("")
                img.setToolTip("")

    def apply_theme(self, colors: theme.Colors) -> None:
        self._colors = colors
        self.plot.setBackground(colors.plot_bg)
        digit = int(np.argmax(self.probs)) if self.probs.any() else -1
        self.bars.setOpts(brushes=[colors.accent if i == digit else colors.bar for i in range(10)])
        self.set_steps(list(self._steps))
