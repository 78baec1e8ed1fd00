"""Live training plots: loss per reported batch (raw + EMA) and accuracy per epoch.

Accuracy per epoch is on the training batches and on the validation split (which chooses the
best epoch); the test set is scored once, after the run, and shown as one point.

Plot items are created once and only ever updated with ``setData``. Points are appended to
Python lists as events arrive; a timer redraws at most ``MAX_FPS`` times a second, so a fast
GPU that reports hundreds of batches a second costs a handful of redraws.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from .focus import display_only

MAX_FPS = 20
EMA_ALPHA = 0.5  # weight of the newest point in the smoothed loss (points are already means of
# report_every batches, so light smoothing suffices; heavier lagged far behind the early drop)

_LOSS = (31, 119, 180)
_TRAIN = (255, 127, 14)
_TEST = (44, 160, 44)
_FINAL = (214, 39, 40)


def _legend_marker(curve, color, size: int) -> None:
    """The legend draws a curve's marker from its scatter's defaults, not from the per-point
    brush a plot() call sets: left alone, every marker there was pyqtgraph's grey-blue (the
    test star all but vanished on the dark theme)."""
    curve.scatter.setBrush(pg.mkBrush(color))
    curve.scatter.setPen(pg.mkPen(color))
    curve.scatter.setSize(size)


class TrainingPlots(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setMinimumSize(320, 320)
        display_only(self.view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)

        self.loss_plot = self.view.addPlot(row=0, col=0, title="Training loss")
        self.loss_plot.setLabel("bottom", "batch")
        self.loss_plot.setLabel("left", "loss")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.2)
        self.loss_plot.addLegend(offset=(-10, 10))  # a falling loss leaves the top right free
        self.loss_raw = self.loss_plot.plot([], [], name="per batch",
                                            pen=pg.mkPen((*_LOSS, 140), width=1))
        self.loss_ema = self.loss_plot.plot([], [], name=f"smoothed (EMA {EMA_ALPHA:g})",
                                            pen=pg.mkPen(_LOSS, width=2))

        self.acc_plot = self.view.addPlot(row=1, col=0, title="Accuracy")
        self.acc_plot.setLabel("bottom", "epoch")
        self.acc_plot.setLabel("left", "accuracy (%)")  # no units=: pyqtgraph would SI-scale
        self.acc_plot.showGrid(x=True, y=True, alpha=0.2)
        self.acc_plot.legend = self._legend_below(row=2, columns=3)
        self.train_acc = self.acc_plot.plot([], [], name="train", pen=pg.mkPen(_TRAIN, width=2),
                                            symbol="o", symbolSize=6, symbolBrush=_TRAIN)
        self.val_acc = self.acc_plot.plot([], [], name="validation", pen=pg.mkPen(_TEST, width=2),
                                          symbol="s", symbolSize=6, symbolBrush=_TEST)
        # a pen on the star too: without one the legend drew its sample as a tiny grey dot
        self.test_point = self.acc_plot.plot([], [], name="test (once, best epoch)", pen=None,
                                             symbol="star", symbolSize=14, symbolBrush=_FINAL,
                                             symbolPen=pg.mkPen(_FINAL, width=1))
        for curve, color, size in ((self.train_acc, _TRAIN, 8), (self.val_acc, _TEST, 8),
                                   (self.test_point, _FINAL, 14)):
            _legend_marker(curve, color, size)
        # the run before, for comparing two runs on one chart (plain vs reshuffled pixels)
        self.previous = self.acc_plot.plot([], [], pen=pg.mkPen((*_TEST, 150), width=2,
                                                                style=Qt.PenStyle.DashLine))
        self.previous_name: str | None = None

        # sensible empty axes until the first run says how long it is
        self.loss_plot.setRange(xRange=(0, 100), yRange=(0, 2.5), padding=0.02)
        self.loss_plot.enableAutoRange()
        self.acc_plot.setRange(xRange=(0.5, 10.5), yRange=(0, 100), padding=0.02)
        self.acc_plot.enableAutoRange(y=True)

        self._steps: list[float] = []
        self._losses: list[float] = []
        self._ema: list[float] = []
        self._epochs: list[float] = []
        self._train: list[float] = []
        self._val: list[float] = []
        self._test: list[float] = []  # [epoch, accuracy] once the run has been scored
        self._dirty = False
        self.redraws = 0  # how many times the curves were actually redrawn
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(1000 // MAX_FPS)
        self._timer.timeout.connect(self.flush)

    def _legend_below(self, row: int, columns: int) -> pg.LegendItem:
        """A one-line legend in a row of its own under a plot: accuracy curves can sit anywhere
        from 10 to 100 % (a taught model on new handwriting), so a legend over the data area hid
        them wherever it was. The plot adds its named curves to it as to its own legend."""
        legend = pg.LegendItem(colCount=columns, horSpacing=18, verSpacing=-6)
        legend.layout.setContentsMargins(0, 0, 0, 0)
        self.view.addItem(legend, row=row, col=0)
        self.view.ci.layout.setRowStretchFactor(row, 0)
        self.view.ci.layout.setAlignment(legend, Qt.AlignmentFlag.AlignHCenter)
        return legend

    # --- feeding -----------------------------------------------------------------------

    def apply_theme(self, colors) -> None:
        """Curves and legends readable on the theme's background: the per-batch loss line
        (40 % of a mid blue) nearly vanished on the dark plot, and the legends' text kept the
        colour of the theme the plots were made in."""
        dark = colors.name == "dark"
        loss = (110, 175, 255) if dark else _LOSS
        self.loss_raw.setPen(pg.mkPen((*loss, 190 if dark else 140), width=1.5 if dark else 1))
        self.loss_ema.setPen(pg.mkPen(loss, width=2))
        for plot in (self.loss_plot, self.acc_plot):
            legend = plot.legend
            if legend is None:
                continue
            legend.setLabelTextColor(colors.plot_fg)
            legend.setBrush(pg.mkBrush(colors.plot_bg + "c8"))  # over a curve, still readable
            for _sample, label in legend.items:
                label.setText(label.text, color=colors.plot_fg)

    def add_loss(self, step: int, loss: float) -> None:
        self._steps.append(float(step))
        self._losses.append(float(loss))
        prev = self._ema[-1] if self._ema else float(loss)
        self._ema.append(prev + EMA_ALPHA * (float(loss) - prev))
        self._schedule()

    def add_epoch(self, epoch: int, train_acc: float, val_acc: float) -> None:
        self._epochs.append(float(epoch))
        self._train.append(100.0 * float(train_acc))
        self._val.append(100.0 * float(val_acc))
        self._schedule()

    def set_test(self, epoch: int, test_acc: float) -> None:
        """The run's one test-set figure, at the epoch whose weights were scored."""
        self._test[:] = [float(epoch), 100.0 * float(test_acc)]
        self._schedule()

    def clear(self, epochs: int | None = None, previous: str | None = None) -> None:
        """Forget the previous run; the plot items stay, emptied.

        ``epochs`` fixes the accuracy plot's x axis to the run's length, so points fill it
        left to right instead of the axis rescaling at every epoch. ``previous`` names the run
        being cleared: its validation curve stays, dashed, under that name.
        """
        if previous and self._val:
            self.previous.setData(np.asarray(self._epochs, dtype=float), np.asarray(self._val, dtype=float))
            legend = self.acc_plot.legend
            if self.previous_name is not None:
                legend.removeItem(self.previous)
            self.previous_name = f"{previous} (validation)"
            legend.addItem(self.previous, self.previous_name)
        for points in (self._steps, self._losses, self._ema, self._epochs, self._train, self._val,
                       self._test):
            points.clear()
        if epochs:
            self.acc_plot.setXRange(0.5, max(epochs, 2) + 0.5, padding=0)
            # whole epochs only: "epoch 2.5" means nothing; about ten labels at most
            step = max(1, -(-epochs // 10))
            self.acc_plot.getAxis("bottom").setTickSpacing(step, step)
            self.acc_plot.setYRange(0, 100, padding=0.02)
            self.acc_plot.enableAutoRange(y=True)
        self._dirty = True
        self.flush()

    def _schedule(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Redraw now if anything changed (the timer calls this; so does a run's end)."""
        self._timer.stop()
        if not self._dirty:
            return
        self._dirty = False
        self.redraws += 1
        steps = np.asarray(self._steps, dtype=float)
        self.loss_raw.setData(steps, np.asarray(self._losses, dtype=float))
        self.loss_ema.setData(steps, np.asarray(self._ema, dtype=float))
        epochs = np.asarray(self._epochs, dtype=float)
        self.train_acc.setData(epochs, np.asarray(self._train, dtype=float))
        self.val_acc.setData(epochs, np.asarray(self._val, dtype=float))
        self.test_point.setData(self._test[:1], self._test[1:])

    # --- reading (tests, summaries) ---------------------------------------------------

    @property
    def loss_points(self) -> int:
        return len(self._steps)

    @property
    def epoch_points(self) -> int:
        return len(self._epochs)
