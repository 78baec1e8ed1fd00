"""conv1's kernels as small images, redrawn after every epoch of a run.

A learner sees edge and stroke detectors emerge from the random start. Each kernel is scaled
on its own symmetric range (blue negative, red positive, zero the background colour), as the
shape matters here, not the magnitude.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .. import theme
from ..widgets.focus import display_only

GAP = 1
NO_MAPS = "no kernels to show: a dense net has no 2-D layers"


def conv1_weight(state: dict) -> np.ndarray | None:
    """(out, kh, kw) of the first conv layer in a state dict, or None (dense)."""
    for key in ("conv1.weight", "conv1.0.weight"):
        w = state.get(key)
        if w is not None:
            w = w.detach().cpu().float().numpy() if hasattr(w, "detach") else np.asarray(w, np.float32)
            return w[:, 0]
    return None


def kernel_mosaic(w: np.ndarray, cols: int = 8) -> np.ndarray:
    """Kernels side by side, each scaled to [-1, 1] on its own; gaps are NaN (background)."""
    n, kh, kw = w.shape
    rows = -(-n // cols)
    cols = min(cols, n)
    out = np.full((rows * (kh + GAP) - GAP, cols * (kw + GAP) - GAP), np.nan, np.float32)
    for i, k in enumerate(w):
        r, c = divmod(i, cols)
        out[r * (kh + GAP):r * (kh + GAP) + kh, c * (kw + GAP):c * (kw + GAP) + kw] = \
            k / max(float(np.abs(k).max()), 1e-12)
    return out


class KernelStrip(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("conv1's kernels appear here after each epoch.")
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setFixedHeight(120)
        display_only(self.glw)
        self.view = self.glw.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.mosaic: np.ndarray | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addWidget(self.glw)
        self.apply_theme(theme.current())

    def clear(self, arch: str) -> None:
        self.mosaic = None
        self.image.clear()
        self.title.setText(NO_MAPS if arch == "dense" else
                           f"{arch}'s conv1 kernels: random now; watch them after each epoch.")

    def show_state(self, state: dict, epoch: int) -> None:
        w = conv1_weight(state)
        if w is None:
            self.title.setText(NO_MAPS)
            return
        self.mosaic = kernel_mosaic(w, cols=16 if len(w) > 8 else 8)
        self.image.setImage(np.nan_to_num(self.mosaic), levels=(-1, 1), lut=self._lut)
        self.view.autoRange(padding=0.02)
        self.title.setText(f"conv1's {len(w)} kernels ({w.shape[1]}x{w.shape[2]}) after epoch {epoch} "
                           "(blue negative, red positive)")

    def changeEvent(self, event) -> None:
        # a theme switch changes the palette; the window restyles plot backgrounds only
        if event.type() == QEvent.Type.PaletteChange:  # (theme.current() may not be set yet)
            dark = self.palette().window().color().lightness() < 128
            self.apply_theme(theme.DARK if dark else theme.LIGHT)
        super().changeEvent(event)

    def apply_theme(self, colors: theme.Colors) -> None:
        self.glw.setBackground(colors.plot_bg)
        self._lut = _diverging(colors.plot_bg)
        if self.mosaic is not None:
            self.image.setImage(np.nan_to_num(self.mosaic), levels=(-1, 1), lut=self._lut)


def _diverging(mid: str) -> np.ndarray:
    """Blue -> the background colour -> red: a zero weight vanishes into the plot."""
    m = np.array([int(mid[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    blue, red = np.array([40, 90, 220.0]), np.array([220, 50, 40.0])
    t = np.linspace(-1, 1, 256)[:, None]
    return np.where(t < 0, m + (blue - m) * -t, m + (red - m) * t).clip(0, 255).astype(np.uint8)
