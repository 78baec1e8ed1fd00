"""Every conv and pool layer's feature maps, live, plus a close-up of one map and its kernel.

Speed: digitnet has ~450 maps. Each layer's channels are composed into ONE mosaic image
(tiles separated by transparent NaN gaps), so a repaint is one ``setImage`` per layer rather
than hundreds. The ImageItems are created once per model (:meth:`FeatureMapView.set_model`)
and only updated afterwards. Hovering maps the mouse to a channel; clicking pins it.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QGraphicsRectItem, QGraphicsView, QHBoxLayout, QLabel, QScrollArea,
                               QVBoxLayout, QWidget)

from .. import theme
from ..widgets.focus import display_only, focus_ring

GAP = 1  # pixels of transparent gap between tiles
STRIP_COLS = 64  # dense layers wrap into rows of this many units
MAX_TILE_PX = 56  # a tile is never drawn larger than this on screen
MIN_ROW_PX = 24
UNIT_ROW_PX = 12  # height of one row of a dense layer's strip

MAP_CMAP = pg.colormap.get("viridis")
TITLE_MAPS = "<b>Feature maps</b>"
TITLE_DENSE = "<b>No feature maps</b>: a dense net has no 2-D layers. Its hidden units:"
HINT_MAPS = "Hover over a map to see it enlarged with the kernel that made it; click to keep it."
HINT_DENSE = ("A dense net flattens the image into 784 numbers, so no kernel slides over it and "
              "no layer keeps a 2-D map. Hover over a unit to see its value; click to keep it.")
KERNEL_CMAP = pg.ColorMap([0.0, 0.5, 1.0], [(33, 102, 172), (247, 247, 247), (178, 24, 43)])


def mosaic_columns(channels: int) -> int:
    if channels <= 8:
        return channels
    if channels <= 64:
        return 16
    return 32


def compose_mosaic(maps: np.ndarray, cols: int, gap: int = GAP) -> np.ndarray:
    """(C, H, W) -> one (rows*(H+gap)-gap, cols*(W+gap)-gap) image; gaps and spare tiles NaN."""
    c, h, w = maps.shape
    rows = math.ceil(c / cols)
    tiles = np.full((rows * cols, h + gap, w + gap), np.nan, dtype=np.float32)
    tiles[:c, :h, :w] = maps
    out = tiles.reshape(rows, cols, h + gap, w + gap).transpose(0, 2, 1, 3)
    out = out.reshape(rows * (h + gap), cols * (w + gap))
    return out[: out.shape[0] - gap, : out.shape[1] - gap] if gap else out


def kernel_mosaic(kernel: np.ndarray) -> np.ndarray:
    """(in, kh, kw) -> one image: a single kernel as is, several as a small grid."""
    k = np.asarray(kernel, dtype=np.float32)
    if k.shape[0] == 1:
        return k[0]
    return compose_mosaic(k, min(k.shape[0], 8))


@dataclass
class LayerView:
    name: str
    shape: tuple[int, ...]  # per-sample shape: (C, H, W) or (N,)
    kind: str  # "maps" | "units"
    cols: int
    tile_h: int
    tile_w: int
    image: "MosaicImage"
    viewbox: pg.ViewBox
    label: pg.LabelItem
    marker: QGraphicsRectItem  # outlines the selected tile
    source_conv: str | None = None  # the conv whose kernels made these maps (pool: the one before)
    data: np.ndarray | None = None  # last raw maps (C, H, W) or (N,)
    mosaic: np.ndarray | None = None  # last image given to setImage
    extent: tuple[int, int] = (0, 0)  # mosaic (height, width)
    extra: dict = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return self.shape[0]

    def channel_at(self, x: float, y: float) -> int | None:
        """The channel under image coordinates (x right, y down), or None in a gap."""
        if x < 0 or y < 0:
            return None
        gap = GAP if self.kind == "maps" else 0
        col, cx = divmod(int(x), self.tile_w + gap)
        row, cy = divmod(int(y), self.tile_h + gap)
        if cx >= self.tile_w or cy >= self.tile_h or col >= self.cols:
            return None
        ch = row * self.cols + col
        return ch if ch < self.channels else None

    def tile_rect(self, ch: int) -> QRectF:
        gap = GAP if self.kind == "maps" else 0
        row, col = divmod(ch, self.cols)
        return QRectF(col * (self.tile_w + gap), row * (self.tile_h + gap), self.tile_w, self.tile_h)


class MosaicImage(pg.ImageItem):
    """A layer's mosaic; tells the view which channel is under the mouse."""

    def __init__(self, owner: "FeatureMapView", layer: str) -> None:
        super().__init__(axisOrder="row-major")
        self._owner = owner
        self._layer = layer
        self.setAcceptHoverEvents(True)

    def hoverEvent(self, ev) -> None:
        if ev.isExit():
            self._owner._hover(self._layer, None)
            return
        p = ev.pos()
        self._owner._hover(self._layer, self._owner.layers[self._layer].channel_at(p.x(), p.y()))

    def mouseClickEvent(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        p = ev.pos()
        lv = self._owner.layers[self._layer]
        ch = lv.channel_at(p.x(), p.y())
        self._owner.pin(self._layer, ch)
        if ch is not None and lv.kind == "maps":  # the unit under the mouse: its receptive field
            gap = GAP
            self._owner.unit_clicked.emit(self._layer, ch, int(p.y()) % (lv.tile_h + gap),
                                          int(p.x()) % (lv.tile_w + gap))
        ev.accept()


class FeatureMapView(QWidget):
    selection_changed = Signal(str, int)  # layer, channel (-1: none)
    unit_clicked = Signal(str, int, int, int)  # layer, channel, row, column of a clicked unit

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._colors = theme.current()
        self.layers: OrderedDict[str, LayerView] = OrderedDict()
        self.kernels: dict[str, np.ndarray] = {}
        self.shared_scale = False
        self._hovered: tuple[str, int] | None = None
        self._pinned: tuple[str, int] | None = None
        self.model_token = 0  # bumps on every rebuild (tests check it)
        self._detail_blank = False

        self.title = QLabel("<b>Feature maps</b>")
        self.shared_box = QCheckBox("One colour scale per layer")
        self.shared_box.setToolTip("On: every map in a layer uses the layer's range, so strong and "
                                   "weak maps compare.\nOff: each map is stretched to its own range.")
        self.shared_box.toggled.connect(self.set_shared_scale)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.shared_box)

        self.glw = pg.GraphicsLayoutWidget()
        self.glw.ci.setContentsMargins(4, 4, 4, 4)
        self.glw.ci.setSpacing(2)
        # maps are shown as crisp pixels: no smoothing, which is also far cheaper to paint
        self.glw.setAntialiasing(False)
        self.glw.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
        self.glw.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.glw.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.glw)
        self.scroll.setMinimumWidth(320)
        focus_ring(self.scroll, "featureMaps")  # Tab here, then the arrow and page keys scroll

        # close-up: the map enlarged, the kernel that produced it, and the numbers
        self.detail_glw = pg.GraphicsLayoutWidget()
        self.detail_glw.setFixedHeight(150)
        display_only(self.glw, self.detail_glw)
        self.detail_glw.setAntialiasing(False)
        self.detail_glw.ci.setContentsMargins(2, 2, 2, 2)
        self.detail_map_vb = self._make_viewbox(self.detail_glw, 0, 0)
        self.detail_map = pg.ImageItem(axisOrder="row-major")
        self.detail_map.setColorMap(MAP_CMAP)
        self.detail_map_vb.addItem(self.detail_map)
        self.detail_kernel_vb = self._make_viewbox(self.detail_glw, 0, 1)
        self.detail_kernel = pg.ImageItem(axisOrder="row-major")
        self.detail_kernel.setColorMap(KERNEL_CMAP)
        self.detail_kernel_vb.addItem(self.detail_kernel)
        self.detail_text = QLabel(HINT_MAPS)
        self.detail_text.setWordWrap(True)
        self.detail_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail_text.setMinimumWidth(160)
        self.detail_text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        detail = QHBoxLayout()
        self.detail_glw.setFixedWidth(300)
        detail.addWidget(self.detail_glw)
        detail.addWidget(self.detail_text, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(detail)

    @staticmethod
    def _make_viewbox(glw: pg.GraphicsLayoutWidget, row: int, col: int) -> pg.ViewBox:
        # no context menu made at all: pyqtgraph builds each ViewBox's menu (two forms per
        # axis) up front, ~10 ms a view, a third of a model switch on the GUI thread
        vb = glw.addViewBox(row=row, col=col, enableMenu=False)
        vb.setAspectLocked(True)
        vb.setMouseEnabled(False, False)
        vb.invertY(True)
        vb.setDefaultPadding(0.02)
        return vb

    # --- model ---------------------------------------------------------------------------

    def set_model(self, shapes: "OrderedDict[str, tuple[int, ...]]",
                  kernels: dict[str, np.ndarray] | None = None) -> None:
        """Rebuild the rows for a model: one mosaic per conv/pool layer, a strip per dense layer.

        Another model of the same layers (the torch copy taking over from the numpy one at
        start-up, a trained file of the same architecture) keeps the rows and only swaps the
        kernels: no flicker, and the map the user pinned stays pinned."""
        self.kernels = {k: np.asarray(v, dtype=np.float32) for k, v in (kernels or {}).items()}
        same = [(n, lv.shape) for n, lv in self.layers.items()] == \
            [(n, tuple(int(d) for d in s)) for n, s in shapes.items()]
        if same and self.layers:
            self.model_token += 1
            self._update_detail()
            return
        self.glw.clear()
        self.layers.clear()
        self._hovered = self._pinned = None
        self._detail_blank = False
        self.model_token += 1
        self.has_maps = any(len(tuple(s)) == 3 for s in shapes.values())
        self.title.setText(TITLE_MAPS if self.has_maps else TITLE_DENSE)
        self.shared_box.setVisible(self.has_maps)
        self.detail_glw.setVisible(self.has_maps)
        last_conv: str | None = None
        row = 0
        for name, shape in shapes.items():
            shape = tuple(int(s) for s in shape)
            if len(shape) == 3:
                c, h, w = shape
                kind, cols, th, tw = "maps", mosaic_columns(c), h, w
                if name in self.kernels:
                    last_conv = name
                source = last_conv
                text = f"<b>{name}</b>  {c} maps of {h}×{w}"
            else:
                n = int(np.prod(shape))
                kind, cols, th, tw = "units", min(n, STRIP_COLS), 1, 1
                source = None
                text = f"<b>{name}</b>  {n} units (dense)"
            label = self.glw.addLabel(text, row=row, col=0, justify="left", color=self._colors.plot_fg)
            vb = self._make_viewbox(self.glw, row + 1, 0)
            vb.setDefaultPadding(0)
            if kind == "units":
                # a strip fills its row: with the aspect locked, 2 rows of 64 units got a few
                # pixels each and LeNet's fc2 seemed to lose its second row
                vb.setAspectLocked(False)
            img = MosaicImage(self, name)
            img.setColorMap(MAP_CMAP)
            vb.addItem(img)
            marker = QGraphicsRectItem()
            marker.setPen(pg.mkPen(self._colors.accent, width=2, cosmetic=True))
            marker.setZValue(10)
            marker.hide()
            vb.addItem(marker, ignoreBounds=True)
            lv = LayerView(name, shape, kind, cols, th, tw, img, vb, label, marker, source)
            zeros = np.zeros(shape if kind == "maps" else (int(np.prod(shape)),), dtype=np.float32)
            lv.mosaic = self._compose(lv, zeros)
            lv.extent = lv.mosaic.shape
            img.setImage(lv.mosaic, levels=(0.0, 1.0), autoLevels=False)
            vb.setRange(QRectF(0, 0, lv.extent[1], lv.extent[0]), padding=0)
            vb.disableAutoRange()
            self.layers[name] = lv
            row += 2
        self._update_detail()
        self._fit_rows()

    # --- data ----------------------------------------------------------------------------

    def _compose(self, lv: LayerView, data: np.ndarray) -> np.ndarray:
        data = np.nan_to_num(np.asarray(data, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        lv.data = data
        if lv.kind == "units":
            flat = data.reshape(-1)
            top = float(np.abs(flat).max()) if flat.size else 0.0
            scaled = np.abs(flat) / top if top > 0 else flat * 0
            return compose_mosaic(scaled.reshape(-1, 1, 1), lv.cols, gap=0)
        if self.shared_scale:
            top = float(data.max()) if data.size else 0.0
            scaled = data / top if top > 0 else data * 0
        else:
            tops = data.reshape(data.shape[0], -1).max(axis=1)
            tops[tops <= 0] = 1.0
            scaled = data / tops[:, None, None]
        return compose_mosaic(scaled, lv.cols)

    def update_maps(self, maps: "OrderedDict[str, np.ndarray] | dict[str, np.ndarray]") -> None:
        for name, lv in self.layers.items():
            if name not in maps:
                continue
            lv.mosaic = self._compose(lv, maps[name])
            lv.image.setImage(lv.mosaic, levels=(0.0, 1.0), autoLevels=False)
        self._update_detail()

    def clear_maps(self) -> None:
        self.update_maps({n: np.zeros(lv.shape, dtype=np.float32) for n, lv in self.layers.items()})

    def set_kernels(self, kernels: dict[str, np.ndarray]) -> None:
        self.kernels = {k: np.asarray(v, dtype=np.float32) for k, v in kernels.items()}
        self._update_detail()

    def set_shared_scale(self, on: bool) -> None:
        on = bool(on)
        if self.shared_box.isChecked() != on:
            self.shared_box.setChecked(on)  # re-enters through toggled
            return
        self.shared_scale = on
        self.update_maps({n: lv.data for n, lv in self.layers.items() if lv.data is not None})

    # --- selection -----------------------------------------------------------------------

    def _hover(self, layer: str, channel: int | None) -> None:
        new = None if channel is None else (layer, channel)
        if new != self._hovered:
            self._hovered = new
            self._update_detail()

    def pin(self, layer: str, channel: int | None) -> None:
        self._pinned = None if channel is None or self._pinned == (layer, channel) else (layer, channel)
        self._update_detail()

    def selected(self) -> tuple[str, int] | None:
        return self._hovered or self._pinned

    def _update_detail(self) -> None:
        sel = self.selected()
        if sel is None and self._detail_blank:
            return  # nothing shown and nothing to show: leave the close-up alone (no repaint)
        self._detail_blank = sel is None
        # an empty close-up takes the window's colour: a blank plot-coloured box looked broken
        self.detail_glw.setBackground(None if sel is None else self._colors.plot_bg)
        for lv in self.layers.values():
            if sel is not None and sel[0] == lv.name:
                lv.marker.setRect(lv.tile_rect(sel[1]))
                lv.marker.show()
            else:
                lv.marker.hide()
        if sel is None or sel[0] not in self.layers or self.layers[sel[0]].data is None:
            self.detail_map.clear()
            self.detail_kernel.clear()
            self.detail_text.setText(HINT_MAPS if getattr(self, "has_maps", True) else HINT_DENSE)
            return
        name, ch = sel
        lv = self.layers[name]
        if lv.kind == "units":
            flat = lv.data.reshape(-1)
            v = float(flat[ch])
            self.detail_map.clear()
            self.detail_kernel.clear()
            self.detail_text.setText(f"<b>{name}</b> unit {ch + 1} of {flat.size}<br>value {v:.3f}"
                                     f"<br>layer range {flat.min():.3f} – {flat.max():.3f}")
            self.selection_changed.emit(name, ch)
            return
        m = lv.data[ch]
        lo, hi = float(m.min()), float(m.max())
        top = float(lv.data.max()) if self.shared_scale else hi
        self.detail_map.setImage(m, levels=(0.0, top if top > 0 else 1.0), autoLevels=False)
        self.detail_map_vb.setRange(QRectF(0, 0, m.shape[1], m.shape[0]), padding=0.02)
        lines = [f"<b>{name}</b> map {ch + 1} of {lv.channels} ({m.shape[1]}×{m.shape[0]})",
                 f"values {lo:.3f} – {hi:.3f}"]
        conv = lv.source_conv
        k = self.kernels.get(conv) if conv else None
        if k is not None and ch < k.shape[0]:
            kern = k[ch]
            img = kernel_mosaic(kern)
            m_abs = float(np.nanmax(np.abs(img))) or 1.0
            self.detail_kernel.setImage(img, levels=(-m_abs, m_abs), autoLevels=False)
            self.detail_kernel_vb.setRange(QRectF(0, 0, img.shape[1], img.shape[0]), padding=0.02)
            cin, kh, kw = kern.shape
            via = "" if conv == name else f"max-pool of {conv} map {ch + 1}; "
            what = ("one kernel" if cin == 1 else
                    f"{cin} kernels, one per input channel, summed after sliding")
            lines.append(f"{via}{conv}'s kernel {ch + 1}: {kh}×{kw}, {what}")
            lines.append(f"weights {float(kern.min()):.3f} – {float(kern.max()):.3f} "
                         "(blue −, red +)")
        else:
            self.detail_kernel.clear()
        self.detail_text.setText("<br>".join(lines))
        self.selection_changed.emit(name, ch)

    # --- sizing and theme ----------------------------------------------------------------

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_rows()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._fit_rows()

    def _fit_rows(self) -> None:
        """Give each layer's row the height its mosaic needs at the available width."""
        width = max(200, self.scroll.viewport().width() - 12)
        total = 8
        for lv in self.layers.values():
            h, w = lv.extent
            scale = width / max(w, 1)
            if lv.kind == "maps":
                scale = min(scale, MAX_TILE_PX / max(lv.tile_w, 1))
                px = max(MIN_ROW_PX, int(math.ceil(h * scale)))
            else:
                px = UNIT_ROW_PX * h  # h = the strip's rows
            self.glw.ci.layout.setRowFixedHeight(self._row_of(lv) + 1, px)
            self.glw.ci.layout.setRowFixedHeight(self._row_of(lv), 18)
            total += px + 18 + 2 * self.glw.ci.layout.verticalSpacing() + 2
        self.glw.setFixedHeight(total)

    def _row_of(self, lv: LayerView) -> int:
        return list(self.layers).index(lv.name) * 2

    def apply_theme(self, colors: theme.Colors) -> None:
        self._colors = colors
        self.glw.setBackground(colors.plot_bg)
        # below the last layer (LeNet's fc2 at the default size) the viewport shows: the
        # focus ring's style sheet left it the style's light grey in the dark theme too
        self.scroll.viewport().setObjectName("featureMapsViewport")
        self.scroll.viewport().setStyleSheet(
            f"QWidget#featureMapsViewport {{ background: {colors.plot_bg}; }}")
        self.detail_glw.setBackground(None if self.selected() is None else colors.plot_bg)
        for lv in self.layers.values():
            lv.label.setText(lv.label.text, color=colors.plot_fg)
            lv.marker.setPen(pg.mkPen(colors.accent, width=2, cosmetic=True))
