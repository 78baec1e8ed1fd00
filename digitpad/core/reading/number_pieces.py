"""The number reader's pieces: ink components, and pieces of a digit joined back together.

Torch-free, numpy only (part of ``core.reading.number``; see its docstring for the design).
A *piece* is one or more ink components read as a unit: the components of one digit drawn
in strokes that do not touch (a 5's bar, a 7's crossbar, a 4 in two strokes) are merged when
they overlap along the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Components", "components", "Piece", "union", "overlap", "merge_overlapping", "SHORT"]

SHORT = 0.7  # a piece shorter than this (of its neighbour's height) is a part of a digit
OVERLAP = 0.5  # ... when this share of the narrower one's width lies under the other
OVERLAP_ALONE = 0.85  # pieces overlapping this much are one digit whatever their heights
MERGE_WIDTH = 1.3  # a merge never makes a piece wider than this many line heights


@dataclass
class Components:
    """8-connected components of a mask: ``labels`` (H, W) int32 (0 background, k+1 for
    component k) and per component its box (x0, y0, x1, y1 exclusive) and pixel count."""

    labels: np.ndarray
    boxes: np.ndarray  # (n, 4) int64
    areas: np.ndarray  # (n,) int64

    def __len__(self) -> int:
        return len(self.areas)


def _roots(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each of n nodes' smallest connected node, for edges a-b: roots hook onto the smaller
    root across each edge (a sorted min per root, no ufunc.at), then pointers jump until
    every node points at its root. O(log n) rounds for any shape, a long snake included."""
    parent = np.arange(n)
    for _ in range(200):
        ra, rb = parent[a], parent[b]
        hi, lo = np.maximum(ra, rb), np.minimum(ra, rb)
        sel = hi != lo
        if not sel.any():
            break
        hi, lo = hi[sel], lo[sel]
        order = np.argsort(hi, kind="stable")
        hi, lo = hi[order], lo[order]
        starts = np.flatnonzero(np.r_[True, hi[1:] != hi[:-1]])
        keys = hi[starts]
        parent[keys] = np.minimum(parent[keys], np.minimum.reduceat(lo, starts))
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return parent


def components(mask: np.ndarray, max_count: int | None = None) -> Components | None:
    """Label ``mask``'s 8-connected components (numpy only: runs per row, joined to the runs
    they touch in the next row). None when there are more than ``max_count`` components
    (before their boxes are measured)."""
    H_, W_ = mask.shape
    rows_any = np.flatnonzero(mask.any(axis=1))
    if len(rows_any) == 0:
        return Components(np.zeros((H_, W_), np.int32), np.zeros((0, 4), np.int64), np.zeros(0, np.int64))
    ry0, ry1 = int(rows_any[0]), int(rows_any[-1]) + 1
    cols_any = np.flatnonzero(mask[ry0:ry1].any(axis=0))
    cx0, cx1 = int(cols_any[0]), int(cols_any[-1]) + 1
    mask = mask[ry0:ry1, cx0:cx1]  # the ink's box only: a canvas is mostly paper
    h, w = mask.shape
    p = np.zeros((h, w + 2), np.int8)
    p[:, 1:-1] = mask
    d = np.diff(p, axis=1)
    # flat indices, then row and column: half the time of a 2-D nonzero on a canvas's strip
    at = np.flatnonzero(d)
    rr, cc = np.divmod(at, d.shape[1])
    up = d.ravel()[at] == 1
    rows, starts, ends = rr[up], cc[up], cc[~up]
    n = len(rows)
    stride = w + 2
    sk = rows * stride + starts
    ek = rows * stride + ends
    # a run touches the next row's runs that start before its end + 1 and end after its start - 1
    lo = np.searchsorted(ek, (rows + 1) * stride + starts, "left")
    hi = np.searchsorted(sk, (rows + 1) * stride + ends, "right")
    cnt = np.maximum(hi - lo, 0)
    total = int(cnt.sum())
    a = np.repeat(np.arange(n), cnt)
    b = np.repeat(lo, cnt) + (np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    roots, comp = np.unique(_roots(n, a, b), return_inverse=True)
    k = len(roots)
    if max_count is not None and k > max_count:
        return None
    boxes = np.empty((k, 4), np.int64)
    first = np.r_[0, np.flatnonzero(np.diff(np.sort(comp))) + 1]
    by = np.argsort(comp, kind="stable")
    boxes[:, 0] = np.minimum.reduceat(starts[by], first)
    boxes[:, 1] = np.minimum.reduceat(rows[by], first)
    boxes[:, 2] = np.maximum.reduceat(ends[by], first)
    boxes[:, 3] = np.maximum.reduceat(rows[by], first) + 1
    areas = np.bincount(comp, weights=ends - starts, minlength=k).astype(np.int64)
    flat = np.zeros(h * w + 1, np.int32)
    # starts are distinct, and so are ends (a run's end may be the next row's first start:
    # two plain scatters, each over distinct places, add what np.add.at did, 5x sooner)
    flat[rows * w + starts] += comp + 1
    flat[rows * w + ends] -= comp + 1
    labels = np.zeros((H_, W_), np.int32)
    labels[ry0:ry1, cx0:cx1] = np.cumsum(flat[:-1], dtype=np.int32).reshape(h, w)
    boxes += np.array([cx0, ry0, cx0, ry0])
    return Components(labels, boxes, areas)


@dataclass
class Piece:
    """One or more components read as a unit. ``cuts`` are where it may be cut, each a path
    (x per row of the piece, in the piece's own pixels; the ink left of it is the left part)
    with ``cut_cost`` the stroke widths of ink it goes through."""

    comps: list[int]
    box: tuple[int, int, int, int]  # x0, y0, x1, y1
    cuts: list[np.ndarray] = field(default_factory=list)
    cut_at: list[float] = field(default_factory=list)  # each cut's place along the line (sheared x)
    cut_cost: list[float] = field(default_factory=list)
    span: tuple[float, float] = (0.0, 0.0)  # the piece's ends in the same coordinates
    slant: float = 0.0  # the slant the straight cuts follow (x per y), shown in the steps
    wide: bool = False  # wide enough for several digits (else at most one cut on a path)
    mask: np.ndarray | None = None  # its ink within its box (dilated one pixel), once asked

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


def union(a, b):
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def overlap(a, b) -> int:
    return min(a[2], b[2]) - max(a[0], b[0])


def dilate(m: np.ndarray) -> np.ndarray:
    """3x3 dilation of a boolean mask (faint anti-aliased edges belong to their stroke)."""
    out = m.copy()
    out[1:] |= m[:-1]
    out[:-1] |= m[1:]
    o2 = out.copy()
    o2[:, 1:] |= out[:, :-1]
    o2[:, :-1] |= out[:, 1:]
    return o2


def piece_mask(labels: np.ndarray, p: Piece) -> np.ndarray:
    """The piece's ink within its box: its components, grown by a pixel into the paper
    (never into another component's ink). Kept on the piece: every candidate reuses it."""
    if p.mask is None:
        x0, y0, x1, y1 = p.box
        lab = labels[y0:y1, x0:x1]
        own = lab == p.comps[0] + 1 if len(p.comps) == 1 else np.isin(lab, np.asarray(p.comps) + 1)
        p.mask = dilate(own) & ((lab == 0) | own)
    return p.mask


def merge_overlapping(boxes: np.ndarray, keep: np.ndarray,
                      line_height: float | None = None) -> tuple[list[Piece], list]:
    """Components -> pieces: neighbours overlapping along the line are one digit when one of
    them is short against the other (a 5's bar, a 7's crossbar) or when they overlap almost
    wholly (a 4 in two strokes), and the merged piece stays about one digit wide. Returns the
    pieces in reading order and the merges made ((box, box) pairs)."""
    order = sorted(keep.tolist(), key=lambda i: (boxes[i, 0] + boxes[i, 2]) / 2)
    pieces = [Piece([i], tuple(int(v) for v in boxes[i])) for i in order]
    merges = []
    changed = True
    while changed:  # few pieces: a plain fixed point
        changed = False
        for i in range(len(pieces)):
            for j in range(i + 1, min(len(pieces), i + 4)):
                a, b = pieces[i], pieces[j]
                ov = overlap(a.box, b.box)
                narrow = min(a.width, b.width)
                short = min(a.height, b.height) < SHORT * max(a.height, b.height)
                box = union(a.box, b.box)
                if (ov >= OVERLAP * narrow and (short or ov >= OVERLAP_ALONE * narrow)
                        and (line_height is None
                             or box[2] - box[0] <= MERGE_WIDTH * max(line_height, box[3] - box[1]))):
                    merges.append((a.box, b.box))
                    pieces[i] = Piece(a.comps + b.comps, box)
                    del pieces[j]
                    changed = True
                    break
            if changed:
                break
    pieces.sort(key=lambda p: p.box[0] + p.box[2])
    return pieces, merges
