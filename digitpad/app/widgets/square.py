"""A holder that keeps its one child square and centred in whatever room it is given.

The confusion matrix is ten by ten cells: a plot with a locked aspect fills the room a wider
splitter pane leaves with empty axis beside column 0 and 9; square from the start, no band.
"""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QSizePolicy, QWidget


class SquareHolder(QWidget):
    def __init__(self, child: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.child = child
        child.setParent(self)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        side = max(self.child.sizeHint().width(), self.child.sizeHint().height())
        return QSize(side, side)

    def minimumSizeHint(self) -> QSize:
        m = self.child.minimumSizeHint().expandedTo(self.child.minimumSize())
        side = max(m.width(), m.height(), 0)
        return QSize(side, side)

    def resizeEvent(self, event) -> None:
        side = min(self.width(), self.height())
        self.child.setGeometry((self.width() - side) // 2, (self.height() - side) // 2, side, side)
        super().resizeEvent(event)
