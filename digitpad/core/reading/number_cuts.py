"""Where touching digits may be cut: candidate cut paths through a piece's ink.

Torch-free (part of ``core.reading.number``). Geometry only proposes; the classifier decides
which cuts a reading takes (the best path through the segmentation graph, in number.py).
A cut is a path, one x per row of the piece, and the ink left of it is the left part.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .number_pieces import Piece

__all__ = ["find_cuts", "between", "thin_places"]

# in line heights (H); chosen on composed validation numbers
MAX_CUTS = 24  # cut candidates in one piece
CUT_EDGE = 0.06  # no cut closer than this to a piece's edge
CUT_SPACING = 0.08  # cut candidates at least this far apart
CUT_PER = 0.3  # at most one cut candidate per this much of a piece's width (plus one)
NARROW_CUTS = 3  # cut candidates in a piece that is not wide
VALLEY_DIP = 0.15  # the outline dips this much from above and below where round digits touch
SLANTS = (-0.3, -0.15, 0.0, 0.15, 0.3)  # shears tried for a piece's cuts (x per y)
FOLLOW = 0.0  # a cut may bend up to this far from its straight line to cross less ink (off: on
# validation numbers bent cuts doubled the candidates and found convincing fragments in
# unsure single digits; 0.12 lifted MNIST touching by ~2 points but not the writers)
STEP = 0.3  # a bent cut's cost per sideways step (in ink pixels)


def find_cuts(p: Piece, m: np.ndarray, H: float, wide: bool) -> None:
    """Set ``p``'s cut candidates from its ink mask ``m``: the thin places of the ink's
    projection along the piece's own slant (the shear that makes the projection sharpest),
    and the valleys where the outline dips from above and below."""
    ys, xs = np.nonzero(m)
    yc = (m.shape[0] - 1) / 2
    best = None
    for slant in SLANTS:
        xp = np.round(xs - slant * (ys - yc)).astype(np.int64)
        lo = int(xp.min())
        prof = np.bincount(xp - lo).astype(float)
        sharp = float((prof ** 2).sum())
        if best is None or sharp > best[0]:
            best = (sharp, slant, lo, prof)
    _, slant, lo, prof = best
    xp = np.round(xs - slant * (ys - yc)).astype(np.int64) - lo
    top = np.full(len(prof), m.shape[0], np.int64)
    bottom = np.full(len(prof), -1, np.int64)
    np.minimum.at(top, xp, ys)
    np.maximum.at(bottom, xp, ys)
    runs = np.diff(m.astype(np.int8), axis=1, prepend=0)
    sw = max(1.0, float(m.sum()) / max(1, int((runs == 1).sum())))  # a stroke's thickness
    sm = np.convolve(prof, np.ones(3) / 3, mode="same")
    w = len(prof)
    edge = max(1, int(CUT_EDGE * H))
    r = max(1, int(CUT_SPACING * H))
    cand, valleys = thin_places(sm, top, bottom, edge, r, VALLEY_DIP * H)
    room = min(MAX_CUTS, int(math.ceil(w / (CUT_PER * H))) + 1) if wide else NARROW_CUTS
    chosen: list[int] = []
    for pool in (valleys[:room], cand):
        for v, x in pool:
            if len(chosen) >= room + len(valleys[:room]):
                break
            if all(abs(x - c) > r for c in chosen):
                chosen.append(x)
            if pool is cand and len(chosen) >= room + min(len(valleys), room):
                break
    chosen.sort()
    at_valley = {x for _, x in valleys[:room]}
    rows = np.arange(m.shape[0], dtype=np.float64)
    p.slant, p.wide = slant, wide
    p.span = (lo - 1.0, lo + p.width + 1.0)
    p.cut_at = [float(x + lo) for x in chosen]
    # the sheared column a as a path: x = a - 0.5 + slant * (y - yc) in the piece's pixels
    straight = [x + lo - 0.5 + slant * (rows - yc) for x in chosen]
    # a cut where two outlines meet crosses the two strokes that touch, however the
    # projection piles up there
    costs = [min(float(prof[x]) / sw, 2.0) if x in at_valley else float(prof[x]) / sw for x in chosen]
    cuts = list(zip(p.cut_at, straight, costs))
    if FOLLOW and straight:
        # digits that overlap along the line need a cut that bends around the ink
        bent, crossed = follow(m, straight, max(1, int(FOLLOW * H)))
        for a, q, s, c in zip(p.cut_at, bent, straight, crossed):
            if np.abs(q - (np.floor(s) + 1)).max() > 1:  # not the straight one again
                cuts.append((a + 1e-3, q, c / sw))
        cuts.sort(key=lambda t: t[0])
    p.cut_at = [a for a, _, _ in cuts]
    p.cuts = [q for _, q, _ in cuts]
    p.cut_cost = [c for _, _, c in cuts]


def thin_places(sm: np.ndarray, top: np.ndarray, bottom: np.ndarray, edge: int, r: int,
                min_dip: float) -> tuple[list, list]:
    """Cut candidates, each column x ``edge`` or more from either end: (sm[x], x) where the
    smoothed projection ``sm`` is lowest within r columns, and (-dip, x) where, within 2r,
    the top contour is lowest and the bottom highest and the outline dips more than
    ``min_dip`` (where two round digits touch, the ink is thick, but the outline dips from
    above and from below). Both sorted. Windows at once (sliding views), not a loop per column."""
    w = len(sm)
    xs = np.arange(edge, max(edge, w - edge))
    at = np.flatnonzero(sm[xs] <= _window(sm, r, np.min, np.inf)[xs] + 1e-9)
    cand = sorted(zip(sm[xs[at]].tolist(), xs[at].tolist()))
    big = np.iinfo(np.int64).max // 2
    t_lo, t_hi = _window(top, 2 * r, np.min, big)[xs], _window(top, 2 * r, np.max, -big)[xs]
    b_lo, b_hi = _window(bottom, 2 * r, np.min, big)[xs], _window(bottom, 2 * r, np.max, -big)[xs]
    t, b = top[xs], bottom[xs]
    dip = np.minimum(t - t_lo, b_hi - b)
    at = np.flatnonzero((t >= t_hi) & (b <= b_lo) & (dip > min_dip))
    return cand, sorted(zip((-dip[at]).tolist(), xs[at].tolist()))


def _window(a: np.ndarray, r: int, reduce, fill) -> np.ndarray:
    """``reduce`` of ``a[max(0, x - r):x + r + 1]`` at every x (the window cut at the ends)."""
    padded = np.concatenate([np.full(r, fill, a.dtype), a, np.full(r, fill, a.dtype)])
    return reduce(sliding_window_view(padded, 2 * r + 1), axis=1)


def follow(m: np.ndarray, centres: list[np.ndarray], reach: int) -> tuple[list[np.ndarray], list[float]]:
    """Each straight cut bent to cross as little ink as it can: the cheapest path from top to
    bottom (a step of one column at most per row) within ``reach`` columns of the straight
    line, where an ink pixel costs 1 and a sideways step STEP. All cuts in one pass over the
    rows. Returns the paths (x per row, the path's column goes to the right part) and the
    ink pixels each crosses."""
    h, w = m.shape
    k = len(centres)
    cols = np.arange(w)[None, :]
    ink = m.astype(np.float32)
    centre = np.stack(centres)  # (k, h)
    out_band = np.abs(cols[None, :, :] - centre[:, :, None]) > reach  # (k, h, w)
    big = np.float32(1e6)
    cost = np.where(out_band[:, 0], big, ink[0][None, :])
    moves = np.zeros((k, h, w), np.int8)
    step = np.float32(STEP)
    for y in range(1, h):
        left = np.full_like(cost, big)
        left[:, 1:] = cost[:, :-1] + step  # came from x - 1
        right = np.full_like(cost, big)
        right[:, :-1] = cost[:, 1:] + step  # came from x + 1
        stack = np.stack([cost, left, right])
        arg = stack.argmin(axis=0)
        cost = np.take_along_axis(stack, arg[None], 0)[0] + ink[y][None, :]
        cost[out_band[:, y]] = big
        moves[:, y] = arg
    x = cost.argmin(axis=1)
    paths = np.empty((k, h), np.float64)
    crossed = np.zeros(k)
    idx = np.arange(k)
    for y in range(h - 1, -1, -1):
        paths[:, y] = x
        crossed += ink[y, x]
        mv = moves[idx, y, x]
        x = x - (mv == 1) + (mv == 2)
    return list(paths), [float(c) for c in crossed]


def between(m: np.ndarray, left: np.ndarray | None, right: np.ndarray | None) -> np.ndarray:
    """The part of mask ``m`` right of path ``left`` and left of path ``right`` (None: the
    piece's edge)."""
    cols = np.arange(m.shape[1], dtype=np.float64)[None, :]
    keep = m
    if left is not None:
        keep = keep & (cols >= left[:, None])
    if right is not None:
        keep = keep & (cols < right[:, None])
    return keep
