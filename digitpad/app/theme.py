"""Light and dark themes: a Fusion palette for widgets and matching pyqtgraph colours.

"system" follows the OS colour scheme (QStyleHints.colorScheme) and changes with it; "light"
and "dark" override it. Fusion is used everywhere so both palettes look the same on every OS.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

THEMES = ("system", "light", "dark")


@dataclass(frozen=True)
class Colors:
    name: str  # "light" | "dark"
    plot_bg: str
    plot_fg: str
    accent: str  # the predicted digit's bar
    bar: str  # the other bars
    paper: int  # canvas background grey level (0-255)
    ink: int  # canvas ink grey level
    ok: str = "#256b29"  # good-news text on the window background (>= 4.5:1 contrast)
    error: str = "#c62828"  # bad-news text on the window background (>= 4.5:1 contrast)


LIGHT = Colors("light", plot_bg="#ffffff", plot_fg="#303030", accent="#1f77d0", bar="#a9b4c2",
               paper=255, ink=0)
DARK = Colors("dark", plot_bg="#1e1f22", plot_fg="#d8d8d8", accent="#4fa3ff", bar="#5a6270",
              paper=0, ink=255, ok="#7bd67f", error="#ff8a80")


def for_widget(widget: QWidget) -> Colors:
    """The colours matching the palette a widget has now (theme.current() may lag a switch)."""
    return DARK if widget.palette().window().color().lightness() < 128 else LIGHT

_current: Colors = LIGHT


def current() -> Colors:
    return _current


def system_is_dark(app: QApplication | None = None) -> bool:
    app = app or QApplication.instance()
    if app is None:
        return False
    try:
        return app.styleHints().colorScheme() == Qt.ColorScheme.Dark
    except AttributeError:  # Qt < 6.5: guess from the window colour
        return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def resolve(mode: str, app: QApplication | None = None) -> Colors:
    mode = mode if mode in THEMES else "system"
    if mode == "system":
        return DARK if system_is_dark(app) else LIGHT
    return DARK if mode == "dark" else LIGHT


def _dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor(43, 45, 48), QColor(30, 31, 34), QColor(223, 225, 229)
    disabled = QColor(120, 122, 126)
    for role, color in (
        (QPalette.ColorRole.Window, window),
        (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base),
        (QPalette.ColorRole.AlternateBase, QColor(38, 40, 43)),
        (QPalette.ColorRole.ToolTipBase, QColor(60, 63, 65)),
        (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.PlaceholderText, disabled),
        (QPalette.ColorRole.Text, text),
        (QPalette.ColorRole.Button, QColor(53, 55, 59)),
        (QPalette.ColorRole.ButtonText, text),
        (QPalette.ColorRole.BrightText, QColor(255, 90, 90)),
        (QPalette.ColorRole.Light, QColor(70, 72, 76)),
        (QPalette.ColorRole.Midlight, QColor(60, 62, 66)),
        (QPalette.ColorRole.Mid, QColor(45, 47, 50)),
        (QPalette.ColorRole.Dark, QColor(25, 26, 28)),
        (QPalette.ColorRole.Shadow, QColor(10, 10, 10)),
        (QPalette.ColorRole.Highlight, QColor(45, 112, 200)),
        (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)),
        (QPalette.ColorRole.Link, QColor(95, 165, 255)),
    ):
        p.setColor(role, color)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def apply_theme(app: QApplication, mode: str) -> Colors:
    """Set the widget palette and pyqtgraph defaults; returns the colours now in effect."""
    global _current
    colors = resolve(mode, app)
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    if colors.name == "dark":
        app.setPalette(_dark_palette())
    else:
        app.setPalette(app.style().standardPalette())
    pg.setConfigOptions(background=colors.plot_bg, foreground=colors.plot_fg, antialias=True)
    _current = colors
    return colors


def restyle_plots(root: QWidget, colors: Colors) -> None:
    """Recolour pyqtgraph views that already exist (new ones pick up the config options)."""
    for view in root.findChildren(pg.GraphicsView):
        view.setBackground(colors.plot_bg)
        scene = view.scene()
        if scene is None:
            continue
        for item in scene.items():
            if isinstance(item, pg.AxisItem):
                item.setPen(colors.plot_fg)
                item.setTextPen(colors.plot_fg)
            elif isinstance(item, pg.LabelItem):
                item.setAttr("color", colors.plot_fg)
                item.setText(item.text)
