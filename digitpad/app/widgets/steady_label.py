"""A word-wrapped label that keeps one height whatever its text, so what sits below it never
moves (a hint switching between one and three lines moved the Training tab's Start, Pause and
Stop by ~28 px, and clicks landed on empty space).

Text longer than the lines reserved is cut at the last whole line with "…", and the whole text
goes to the tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics, QTextLayout
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class SteadyLabel(QLabel):
    def __init__(self, lines: int, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lines = lines
        self._full = ""
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._fix_height()
        self.setText(text)

    def _fix_height(self) -> None:
        m = self.contentsMargins()
        self.setFixedHeight(QFontMetrics(self.font()).lineSpacing() * self.lines + m.top() + m.bottom() + 2)

    def text(self) -> str:  # the whole text, as callers set it; shown_text() is what shows
        return self._full

    def shown_text(self) -> str:
        return super().text()

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._full = text
        self._fit()

    def _fit(self) -> None:
        shown = _first_lines(self._full, self.font(), max(1, self.contentsRect().width()), self.lines)
        super().setText(shown)
        self.setToolTip(self._full if shown != self._full else "")

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == event.Type.FontChange:
            self._fix_height()
            self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()


def _first_lines(text: str, font, width: int, lines: int) -> str:
    """``text`` as it wraps at ``width``: whole, or its first ``lines`` lines ending in "…"."""
    out: list[str] = []
    fm = QFontMetrics(font)
    paragraphs = text.split("\n")
    for k, para in enumerate(paragraphs):
        layout = QTextLayout(para, font)
        layout.beginLayout()
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            out.append(para[line.textStart(): line.textStart() + line.textLength()].rstrip())
        layout.endLayout()
        if not para:
            out.append("")
        if len(out) > lines:
            break
    if len(out) <= lines:
        return text
    kept = out[:lines]
    kept[-1] = fm.elidedText(kept[-1] + " …", Qt.TextElideMode.ElideRight, width)
    if not kept[-1].endswith("…"):
        kept[-1] = kept[-1].rstrip() + "…"
    return "\n".join(kept)
