"""The insight tools' words and choices, without torch: the window names them while it is built,
before torch is imported (core.explain computes with them)."""

from __future__ import annotations

NO_MAPS = "no feature maps: a dense net has no 2-D layers"
# the shift test's transformations, in the order the Inside panel lists them
SHIFT_NAMES = ("shift x", "shift y", "rotate", "scale")
