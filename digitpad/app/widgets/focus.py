"""Keyboard focus that can be seen, and no Tab stop that cannot.

Qt draws focus for buttons, fields and item views; a graphics view or a scroll area it lets
take focus silently, so a keyboard user pressing Tab lands on nothing visible. Views that only
show (plots, maps) leave the Tab chain; the few that take keys get a ring in the highlight
colour (a border kept transparent when unfocused, so focus never shifts the content).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractScrollArea, QWidget


def display_only(*views: QWidget) -> None:
    """Shown, not typed into: out of the Tab chain (mouse hover and clicks still work)."""
    for v in views:
        if isinstance(v, QAbstractScrollArea):  # (its viewport hands focus to the view)
            v.viewport().setFocusPolicy(Qt.FocusPolicy.NoFocus)
        v.setFocusPolicy(Qt.FocusPolicy.NoFocus)


def focus_ring(area: QAbstractScrollArea, name: str) -> None:
    """A Tab stop that shows when it has the focus (its keys: arrows, page keys)."""
    area.setObjectName(name)
    area.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    sel = f"{type(area).__name__}#{name}"
    area.setStyleSheet(f"{sel} {{ border: 2px solid transparent; }}"
                       f"{sel}:focus {{ border: 2px solid palette(highlight); }}")
