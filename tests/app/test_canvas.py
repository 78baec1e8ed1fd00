"""The canvas with real mouse events: strokes, live changes, undo/redo/clear, brush, pen."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication

from digitpad.app.widgets.canvas import DrawingCanvas

SEVEN = [(80, 60), (140, 60), (200, 60), (185, 95), (170, 130), (155, 170), (140, 210), (130, 235)]
BAR = [(60, 140), (110, 140), (160, 140), (220, 140)]


def canvas_point(canvas, x, y):
    from PySide6.QtCore import QPoint

    side = min(canvas.width(), canvas.height())
    s = side / canvas.canvas_size
    return QPoint(round((canvas.width() - side) / 2 + x * s), round((canvas.height() - side) / 2 + y * s))


@pytest.fixture
def canvas(qtbot):
    c = DrawingCanvas()
    qtbot.addWidget(c)
    c.resize(420, 360)  # wider than tall: the image is centred, so mapping is tested too
    c.show()
    qtbot.waitExposed(c)
    return c


def test_mouse_stroke_draws_ink_along_the_path(canvas, stroke, qtbot):
    changes = []
    canvas.changed.connect(lambda: changes.append(canvas.to_array().sum()))
    assert canvas.is_empty()
    stroke(canvas, SEVEN)
    a = canvas.to_array()
    assert not canvas.is_empty()
    assert a.dtype == np.uint8 and a.shape == (280, 280)
    # ink where the stroke went (the top bar of the 7), none far from it
    assert a[55:66, 90:190].max() == 255
    assert a[250:, :].max() == 0 and a[:, :40].max() == 0
    # live: the image changed during the stroke, not only at the end
    assert len(changes) >= len(SEVEN) - 1
    assert changes[0] < changes[-1]


def test_moving_without_a_button_draws_nothing(canvas, qtbot):
    for x, y in SEVEN:
        qtbot.mouseMove(canvas, canvas_point(canvas, x, y))
    assert canvas.is_empty() and canvas.to_array().max() == 0


def test_strokes_are_anti_aliased_and_smooth(canvas, stroke):
    stroke(canvas, SEVEN)
    values = np.unique(canvas.to_array())
    assert len(values) > 20  # soft edges, not a 0/255 bitmap


def test_undo_redo_clear_per_stroke(canvas, stroke):
    stroke(canvas, SEVEN)
    one = canvas.to_array()
    stroke(canvas, BAR)
    two = canvas.to_array()
    assert (two != one).any()
    canvas.undo()
    assert np.array_equal(canvas.to_array(), one)
    canvas.undo()
    assert canvas.is_empty() and not canvas.can_undo()
    canvas.redo()
    canvas.redo()
    assert np.array_equal(canvas.to_array(), two) and not canvas.can_redo()
    canvas.clear()
    assert canvas.is_empty()
    canvas.undo()  # clearing is undoable too
    assert np.array_equal(canvas.to_array(), two)
    stroke(canvas, BAR)  # a new stroke drops the redo history
    assert not canvas.can_redo()


def test_brush_size_changes_stroke_width(canvas, stroke):
    canvas.set_brush_size(6)
    stroke(canvas, BAR)
    thin = int((canvas.to_array() > 127).sum())
    canvas.clear()
    canvas.set_brush_size(30)
    stroke(canvas, BAR)
    thick = int((canvas.to_array() > 127).sum())
    assert thick > 3 * thin


def test_theme_colours_change_the_view_not_the_image(canvas, stroke):
    stroke(canvas, SEVEN)
    before = canvas.to_array()
    canvas.set_colors(paper=255, ink=0)
    light = canvas.grab().toImage()
    canvas.set_colors(paper=0, ink=255)
    dark = canvas.grab().toImage()
    assert np.array_equal(canvas.to_array(), before)
    corner = canvas_point(canvas, 5, 270)
    assert light.pixelColor(corner).lightness() > 200
    assert dark.pixelColor(corner).lightness() < 50
    ink = canvas_point(canvas, 140, 60)  # on the 7's top bar: the ink swaps too
    assert light.pixelColor(ink).lightness() < 50
    assert dark.pixelColor(ink).lightness() > 200


def _tablet(canvas, kind, x, y, pressure):
    dev = QPointingDevice("pen", 1, QPointingDevice.DeviceType.Stylus,
                          QPointingDevice.PointerType.Pen,
                          QPointingDevice.Capability.Position | QPointingDevice.Capability.Pressure,
                          1, 3)
    pos = QPointF(canvas_point(canvas, x, y))
    buttons = Qt.MouseButton.NoButton if kind == QTabletEvent.Type.TabletRelease else Qt.MouseButton.LeftButton
    ev = QTabletEvent(kind, dev, pos, canvas.mapToGlobal(pos), pressure, 0.0, 0.0, 0.0, 0.0, 0.0,
                      Qt.KeyboardModifier.NoModifier, Qt.MouseButton.LeftButton, buttons)
    QApplication.sendEvent(canvas, ev)


def _pen_stroke(canvas, pressure):
    _tablet(canvas, QTabletEvent.Type.TabletPress, 60, 140, pressure)
    for x in range(70, 230, 10):
        _tablet(canvas, QTabletEvent.Type.TabletMove, x, 140, pressure)
    _tablet(canvas, QTabletEvent.Type.TabletRelease, 230, 140, pressure)


def test_tablet_pressure_changes_the_width(canvas):
    _pen_stroke(canvas, 0.1)
    light = int((canvas.to_array() > 127).sum())
    assert light > 0 and canvas.can_undo()
    canvas.clear()
    _pen_stroke(canvas, 1.0)
    heavy = int((canvas.to_array() > 127).sum())
    assert heavy > 2 * light
