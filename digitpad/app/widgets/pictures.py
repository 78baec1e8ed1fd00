"""Pictures of what the app shows: PNG (what is on screen, pixel for pixel), SVG (lines and
text stay sharp; images are embedded), the clipboard, and a context menu on every map, bar
chart and plot that offers them with Reset zoom.

SVG is Qt's own QSvgGenerator rendering the view, at the view's logical DPI. Not pyqtgraph's
SVGExporter: with Qt 6's path strings it fails on some curves ("not enough values to unpack")
and otherwise puts axes and data on different scales. The generator's default 72 dpi against
the screen's 96 drew every font-sized item (ticks, labels, legends) at 75 % of the data's
scale, so the 95.9 % bar read as about 75 %. Cosmetic pens are written with
vector-effect="non-scaling-stroke"; renderers without it (ImageMagick's own) draw them thick.

The main window lists the same views under File › Export picture, so one place (this module)
says how a picture is made.
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QGraphicsView, QMenu, QMessageBox, QWidget


PICTURE_FILTER = "PNG image (*.png);;SVG drawing (*.svg)"


def _view_boxes(view) -> list[pg.ViewBox]:
    scene = view.scene() if hasattr(view, "scene") else None
    return [i for i in scene.items() if isinstance(i, pg.ViewBox)] if scene is not None else []


def save_picture(view: QWidget, path: str | Path) -> Path:
    """Write ``view`` to ``path``: SVG when it ends in .svg (a pyqtgraph view), else PNG.
    OSError when the file cannot be written."""
    path = Path(path)
    if path.suffix.lower() == ".svg":
        _save_svg(view, path)
        if not path.is_file():
            raise OSError(f"{path} could not be written (is the folder writable?).")
        return path
    if path.suffix.lower() != ".png":
        path = path.with_suffix(path.suffix + ".png") if path.suffix else path.with_suffix(".png")
    if not view.grab().save(str(path), "PNG"):
        raise OSError(f"{path} could not be written (is the folder writable?).")
    return path


def _save_svg(view: QWidget, path: Path) -> None:
    if not path.parent.is_dir():
        raise OSError(f"{path} could not be written: {path.parent} is not a folder.")
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    gen = QSvgGenerator()
    gen.setFileName(str(path))
    gen.setSize(view.size())
    gen.setViewBox(view.rect())
    gen.setResolution(view.logicalDpiX())  # the DPI the view lays its text out at
    gen.setTitle(path.stem)
    painter = QPainter(gen)
    try:
        if isinstance(view, QGraphicsView):
            # the scene where the viewport shows it: QGraphicsView.render's default target is
            # the whole device, which stretched the viewport over the frame (labels off by 2 px)
            view.render(painter, QRectF(view.viewport().geometry()), view.viewport().rect())
        else:
            view.render(painter)
    finally:
        painter.end()


def copy_picture(view: QWidget) -> None:
    QApplication.clipboard().setPixmap(view.grab())


def reset_zoom(view: QWidget) -> None:
    """Every view box of the picture back to showing all it holds."""
    for vb in _view_boxes(view):
        vb.enableAutoRange()
        vb.autoRange()


def ask_and_save(parent: QWidget, view: QWidget, name: str) -> Path | None:
    path, chosen = QFileDialog.getSaveFileName(parent, f"Export {name}",
                                               str(Path.home() / f"{name.replace(' ', '-')}.png"),
                                               PICTURE_FILTER)
    if not path:
        return None
    if not Path(path).suffix:
        path += ".svg" if "svg" in chosen.lower() else ".png"
    try:
        saved = save_picture(view, path)
    except OSError as exc:
        QMessageBox.warning(parent, "Cannot export the picture", str(exc))
        return None
    return saved


class PictureMenu(QObject):
    """Right-click on ``view``: Export picture…, Copy picture, Reset zoom. pyqtgraph's own
    view-box menu is turned off there, so one menu shows."""

    def __init__(self, view: QWidget, name: str) -> None:
        super().__init__(view)
        self.view, self.name = view, name
        self.menu: QMenu | None = None  # the last one shown (tests trigger its actions)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self.show_menu)

    def build(self) -> QMenu:
        for vb in _view_boxes(self.view):
            vb.setMenuEnabled(False)
        menu = QMenu(self.view)
        menu.addAction(f"Export {self.name}…", lambda: ask_and_save(self.view.window(), self.view,
                                                                   self.name))
        menu.addAction("Copy picture", lambda: copy_picture(self.view))
        menu.addSeparator()
        menu.addAction("Reset zoom", lambda: reset_zoom(self.view))
        return menu

    def show_menu(self, pos) -> None:
        if self.menu is not None:
            self.menu.deleteLater()
        self.menu = self.build()
        self.menu.popup(self.view.mapToGlobal(pos))
