"""Columns side by side while they fit, the trailing ones wrapped below when they do not.

A tab made of columns (the Lab's sliding window and its calculators, My handwriting's Collect,
samples and Teach) needs ~1,000 px side by side. Scrolling sideways at 830x568 hides whole
columns; wrapping the last ones under the first keeps every control reachable with the one
scroll direction people use (a wheel), and each column keeps its full width.

The choice is made from the scroll area's own width (the vertical scrollbar's room always
counted out), never from the content's: wrapping changes the content's size, and a choice
that read it back would flip at the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QSplitter, QVBoxLayout, QWidget

from .focus import display_only


def min_width(w: QWidget) -> int:
    return max(w.minimumWidth(), w.minimumSizeHint().width())


class ReflowColumns(QScrollArea):
    """``columns[:keep]`` always sit side by side in a splitter on the first row; each later
    column joins that row while the whole row fits, and otherwise goes below it, full width,
    in order."""

    MARGIN = 6

    def __init__(self, columns: Sequence[QWidget], stretches: Sequence[int] | None = None,
                 keep: int = 1, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.stretches = list(stretches or [1] * len(self.columns))
        self.keep = max(1, keep)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        content = QWidget()
        self._rows = QVBoxLayout(content)
        self._rows.setContentsMargins(self.MARGIN, self.MARGIN, self.MARGIN, self.MARGIN)
        self._rows.addWidget(self.splitter, 1)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidget(content)
        display_only(self)  # its controls are the Tab stops; Qt scrolls to the focused one
        self.side_by_side = -1  # how many columns the first row holds; -1 before the first pass
        self._arrange(len(self.columns))

    def _available(self) -> int:
        # the scrollbar's room is counted out whether it shows or not (see the module's note)
        return self.width() - 2 * self.frameWidth() - self.verticalScrollBar().sizeHint().width()

    def needed(self, n: int) -> int:
        """Width the first row takes with ``n`` columns in it."""
        cols = self.columns[:n]
        return (sum(min_width(c) for c in cols) + self.splitter.handleWidth() * (len(cols) - 1)
                + 2 * self.MARGIN)

    def fitting(self) -> int:
        n = len(self.columns)
        while n > self.keep and self.needed(n) > self._available():
            n -= 1
        return n

    def _arrange(self, n: int) -> None:
        if n == self.side_by_side:
            return
        self.side_by_side = n
        for i, col in enumerate(self.columns[:n]):
            if self.splitter.indexOf(col) != i:
                self.splitter.insertWidget(i, col)
            self.splitter.setStretchFactor(i, self.stretches[i])
        for col in self.columns[n:]:
            self._rows.removeWidget(col)  # a no-op unless it is below already: re-added in order
            self._rows.addWidget(col)  # takes it out of the splitter; the rows keep their order
        for col in self.columns:
            col.show()  # a moved widget is hidden until a queued show: a click may come first
        self.splitter.setSizes([self.stretches[i] * 1000 for i in range(n)])
        # the first row keeps its natural height when others are below it; alone it fills the tab
        self._rows.setStretch(0, 1 if n == len(self.columns) else 0)

    def resizeEvent(self, event) -> None:
        self._arrange(self.fitting())
        super().resizeEvent(event)

    def showEvent(self, event) -> None:
        # A tab shown for the first time gets its resize while still hidden, and Qt lays hidden
        # widgets out only later (a posted pass): till then a column moved below is 0 px high,
        # and a click or shortcut at once would miss. Shown now: lay out and size the content.
        super().showEvent(event)
        self._rows.activate()
        content, view = self.widget(), self.viewport().size()
        least = content.minimumSizeHint()
        width = max(view.width(), least.width())
        height = content.heightForWidth(width) if content.hasHeightForWidth() else least.height()
        content.resize(width, max(view.height(), height, least.height()))

    def wrapped(self) -> list[QWidget]:
        return self.columns[self.side_by_side:]
