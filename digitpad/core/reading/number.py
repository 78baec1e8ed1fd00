"""Reading a whole number: an image of one or more digits -> the number, each digit and its box.

The one reader every caller uses (the Draw tab's Number mode, Open image / drop, ``digitpad
predict --number``, scripts/bench_numbers.py). Torch-free: the classifier comes in as a
function of a batch of 28x28 images, so the numpy, torch and foreign predictors all fit.

How (the design, measured by scripts/bench_numbers.py): the ink mask as ``preprocess`` finds
ink, in either polarity; its 8-connected components (run-lengths joined row to row, numpy
only); specks dropped; pieces overlapping along the line merged into one digit when one of
them is short (a 5's bar, a 7's crossbar, a 4 in two strokes); then a small segmentation
graph over the line: every piece, every pair or triple of neighbouring pieces (a merge) and,
in a piece too wide or too unsure to be one digit, the parts between candidate cuts at the
ink's thin columns. Each candidate is preprocessed exactly as a lone digit is
(``preprocess_ink``) and read by the classifier in one batch; the best path maximises the
sum of log-confidences less geometric penalties (a cut through thick ink, a merge across a
gap, a digit far wider than tall). Work is capped (pieces, cuts, candidates), so any input
is answered in bounded time.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from ..data.preprocess import (NOISE_FLOOR, RELATIVE_THRESHOLD, ImageInput, Polarity,
                               Preprocessed, _pil_to_array, ink_image, load_image, preprocess_ink)

__all__ = ["Classify", "DigitRead", "NumberReading", "read_number", "unsure_read", "components",
           "MAX_DIGITS", "MAX_PIECES"]

# batch (N, 28, 28) float32 in [0, 1], ink bright -> probabilities (N, 10) float32
Classify = Callable[[np.ndarray], np.ndarray]

Status = Literal["empty", "number", "not a number"]

# --- limits: what any input may cost -------------------------------------------------------
MAX_PIXELS = 2_000_000  # a larger image is box-reduced first (a 20000x120 strip: 10000x60)
MAX_PIECES = 400  # more ink components than this: a page of text or noise, not a number
MAX_DIGITS = 80  # more digits than this is not "a number"
MAX_CUTS = 24  # cut candidates in one piece
MAX_CANDIDATES = 1500  # classifier inputs for one image (about 1.5 s with numpy at worst)

# --- geometry, in line heights (H); chosen on composed validation numbers --------------------
SPECK = 0.15  # a component smaller than this (both sides) is a speck: ignored
SHORT = 0.7  # a piece shorter than this is a part of a digit when it overlaps another
MIN_HEIGHT = 0.4  # a digit candidate shorter than this is not a digit
MERGE_SPAN = 1.15  # pieces merged into one digit span at most this
CUT_WIDTH = 1.25  # a part between two cuts is at most this wide
CUT_EDGE = 0.06  # no cut closer than this to a piece's edge
CUT_SPACING = 0.08  # cut candidates at least this far apart
CUT_PER = 0.3  # at most one cut candidate per this much of a piece's width (plus one)
CUT_IF_WIDER = 1.0  # a piece wider than this (of its height) is looked at for cuts ...
CUT_IF_BELOW = 0.9  # ... and so is one read less surely than this, when wider than
CUT_NARROW = 0.2  # ... this ("11" written touching)
NARROW_CUTS = 3  # cut candidates in a piece that is not wide
SLANTS = (-0.3, -0.15, 0.0, 0.15, 0.3)  # shears tried for a piece's cuts (x per y)
# --- the path's penalties (log-probability units) ------------------------------------------
DIGIT_BONUS = 0.0  # per digit on the path (against reading fewer, larger digits)
LOW = 3.0  # a candidate shorter than MIN_HEIGHT
WIDE = 2.0  # per unit of aspect (width / height) above WIDE_FROM
WIDE_FROM = 0.8
CUT_COST = 0.1  # per stroke width of ink a cut goes through
CUT_FIXED = 0.3  # per cut
MERGE_COST = 0.5  # per merge, plus GAP_COST per line height of gap bridged
GAP_COST = 12.0
# --- verdicts -----------------------------------------------------------------------------
UNSURE_TOP = 0.7  # a digit read below this is unsure
UNSURE_RATIO = 0.25  # ... or when the runner-up has at least this share of the top
NOT_DIGIT = 0.2  # a digit read below this: the marks are not digits
NOT_NUMBER_MEAN = 0.45  # geometric mean of the digits' confidences below this: not a number
SCRIBBLE_CROSSINGS = 5  # a column crossing the ink this many times is a scribble's
DOT_FILL = 0.7  # a lone blob this full of ink, about as wide as tall, is a dot


@dataclass
class DigitRead:
    """One digit of a number.

    ``box`` is (x0, y0, x1, y1) in the input image's pixels, exclusive ends (PIL's convention).
    ``pre`` is this digit preprocessed on its own (own crop, 20 px box, centred by mass), so
    ``predictor.predict(digit.pre)`` gives its maps. ``unsure`` is set when the top two
    classes are close; ``alternative`` is then the runner-up. ``parts`` is how many ink
    components were merged into it (1 usually; 0 when it was cut out of a touching pair).
    """

    box: tuple[int, int, int, int]
    pre: Preprocessed
    probs: np.ndarray
    digit: int
    confidence: float
    unsure: bool = False
    alternative: int | None = None
    parts: int = 1

    @property
    def label(self) -> str:
        """"7", or "0 or 1?" when unsure."""
        return f"{self.digit} or {self.alternative}?" if self.unsure else str(self.digit)


@dataclass
class NumberReading:
    """What the reader made of an image.

    ``status``: "empty" (no ink), "number" or "not a number" (``reason`` says why: a scribble,
    letters, too many pieces). ``number`` is the digits as text ("" unless status is
    "number"); ``confidence`` is the whole number's (the product of its digits'). ``steps``
    are (title, payload) pairs the app can show: components found, merges, cuts (see
    :func:`read_number`). ``digits`` holds the best reading even when it is "not a number",
    so a caller can show what the marks looked like to the network.
    """

    status: Status
    digits: list[DigitRead] = field(default_factory=list)
    number: str = ""
    confidence: float = 0.0
    reason: str = ""
    polarity: str = "light-on-dark"
    steps: list[tuple[str, object]] = field(default_factory=list)
    line_height: float = 0.0  # the line's digit height in input pixels (0 when empty)

    @property
    def unsure(self) -> bool:
        return any(d.unsure for d in self.digits)

    @property
    def several(self) -> bool:
        return len(self.digits) > 1

    def to_json(self) -> dict:
        """The CLI's --json shape (without the path)."""
        return {"status": self.status, "number": self.number if self.status == "number" else None,
                "confidence": round(self.confidence, 6),
                "reason": self.reason, "unsure": self.unsure,
                "digits": [{"box": list(d.box), "digit": d.digit, "confidence": round(d.confidence, 6),
                            "probs": [round(float(p), 6) for p in d.probs], "unsure": d.unsure,
                            "alternative": d.alternative} for d in self.digits]}


# --- connected components --------------------------------------------------------------------

@dataclass
class Components:
    """8-connected components of a mask: ``labels`` (H, W) int32 (0 background, k+1 for
    component k) and per component its box (x0, y0, x1, y1 exclusive) and pixel count."""

    labels: np.ndarray
    boxes: np.ndarray  # (n, 4) int64
    areas: np.ndarray  # (n,) int64

    def __len__(self) -> int:
        return len(self.areas)


def components(mask: np.ndarray, max_count: int | None = None) -> Components | None:
    """Label ``mask``'s 8-connected components (numpy only: runs per row, joined to the runs
    they touch in the next row, labels settled by min-propagation with pointer jumping).
    None when there are more than ``max_count`` components (before their boxes are measured)."""
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
    rr, cc = np.nonzero(d)
    up = d[rr, cc] == 1
    rows, starts, ends = rr[up], cc[up], cc[~up]
    n = len(rows)
    stride = w + 2
    sk = rows * stride + starts
    ek = rows * stride + ends
    lo = np.searchsorted(ek, (rows + 1) * stride + starts, "left")
    hi = np.searchsorted(sk, (rows + 1) * stride + ends, "right")
    cnt = np.maximum(hi - lo, 0)
    total = int(cnt.sum())
    a = np.repeat(np.arange(n), cnt)
    b = np.repeat(lo, cnt) + (np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    lab = np.arange(n)
    for _ in range(10_000):  # converges in a few dozen rounds even for a long snake
        m = np.minimum(lab[a], lab[b])
        new = lab.copy()
        np.minimum.at(new, a, m)
        np.minimum.at(new, b, m)
        new = new[new]
        new = new[new]
        if np.array_equal(new, lab):
            break
        lab = new
    roots, comp = np.unique(lab, return_inverse=True)
    k = len(roots)
    if max_count is not None and k > max_count:
        return None
    boxes = np.empty((k, 4), np.int64)
    boxes[:, 0] = np.iinfo(np.int64).max
    boxes[:, 1] = np.iinfo(np.int64).max
    boxes[:, 2] = -1
    boxes[:, 3] = -1
    np.minimum.at(boxes[:, 0], comp, starts)
    np.minimum.at(boxes[:, 1], comp, rows)
    np.maximum.at(boxes[:, 2], comp, ends)
    np.maximum.at(boxes[:, 3], comp, rows + 1)
    areas = np.bincount(comp, weights=ends - starts, minlength=k).astype(np.int64)
    flat = np.zeros(h * w + 1, np.int32)
    np.add.at(flat, rows * w + starts, comp + 1)
    np.add.at(flat, rows * w + ends, -(comp + 1))
    labels = np.zeros((H_, W_), np.int32)
    labels[ry0:ry1, cx0:cx1] = np.cumsum(flat[:-1], dtype=np.int32).reshape(h, w)
    boxes += np.array([cx0, ry0, cx0, ry0])
    return Components(labels, boxes, areas)


# --- the reader -----------------------------------------------------------------------------

@dataclass
class _Piece:
    """One or more components read as a unit (merged when they overlap along the line)."""

    comps: list[int]
    box: tuple[int, int, int, int]  # x0, y0, x1, y1
    cuts: list[int] = field(default_factory=list)  # candidate cuts, sheared columns of the piece
    cut_cost: dict = field(default_factory=dict)  # cut -> stroke widths of ink it goes through
    slant: float = 0.0  # cuts run along x = cut + slant * (y - yc), in the piece's pixels
    xp0: int = 0
    wide: bool = False  # wide enough for several digits (else at most one cut on a path)
    yc: float = 0.0

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


def _union(a, b):
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _overlap(a, b) -> int:
    return min(a[2], b[2]) - max(a[0], b[0])


def _dilate(m: np.ndarray) -> np.ndarray:
    """3x3 dilation of a boolean mask (faint anti-aliased edges belong to their stroke)."""
    out = m.copy()
    out[1:] |= m[:-1]
    out[:-1] |= m[1:]
    o2 = out.copy()
    o2[:, 1:] |= out[:, :-1]
    o2[:, :-1] |= out[:, 1:]
    return o2


def _bounded(arr: np.ndarray) -> np.ndarray:
    """A very large image box-reduced to at most MAX_PIXELS (whole-number factor)."""
    h, w = arr.shape[:2]
    if h * w <= MAX_PIXELS:
        return arr
    f = math.ceil(math.sqrt(h * w / MAX_PIXELS))
    h2, w2 = h // f, w // f
    if h2 < 2 or w2 < 2:
        return arr[:h2 * f:f, :w2 * f:f] if h2 and w2 else arr
    a = arr[:h2 * f, :w2 * f].astype(np.float32)
    a = a.reshape(h2, f, w2, f, *arr.shape[2:]).mean(axis=(1, 3))
    return a.astype(arr.dtype) if np.issubdtype(arr.dtype, np.integer) else a


class _Reader:
    def __init__(self, ink: np.ndarray, scale: float, polarity: str, classify: Classify,
                 keep_steps: bool) -> None:
        self.ink, self.scale, self.polarity = ink, scale, polarity
        self.classify = classify
        self.keep = keep_steps
        self.steps: list[tuple[str, object]] = []

    def result(self, status, reason="", digits=(), H=0.0) -> NumberReading:
        digits = list(digits)
        number = "".join(str(d.digit) for d in digits) if status == "number" else ""
        conf = float(np.prod([d.confidence for d in digits])) if status == "number" and digits else 0.0
        return NumberReading(status, digits, number, conf, reason, self.polarity, self.steps, float(H))

    def read(self) -> NumberReading:
        ink, scale = self.ink, self.scale
        top = float(ink.max())
        if top < NOISE_FLOOR * scale:
            return self.result("empty", "nothing is drawn")
        mask = ink > max(NOISE_FLOOR * scale, RELATIVE_THRESHOLD * top)
        comps = components(mask, MAX_PIECES * 4)
        if comps is None:
            return self.result("not a number", "too many separate marks for a number (a page of text?)")
        self.comps = comps
        boxes, areas = comps.boxes, comps.areas
        sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        H0 = float(sides.max())
        keep = np.flatnonzero((sides >= SPECK * H0) & (areas >= 3))
        if len(keep) == 0:
            return self.result("empty", "nothing is drawn")
        if len(keep) > MAX_PIECES:
            return self.result("not a number", f"{len(keep)} separate marks: too many for a number "
                                                "(a page of text?)")
        if self.keep:
            self.steps.append(("components", [tuple(int(v) for v in boxes[i]) for i in keep]))
        pieces = self._merge_overlapping(keep)
        heights = np.array([p.height for p in pieces], float)
        H = float(np.median(heights[heights >= 0.5 * heights.max()]))
        self.H = H
        if len(pieces) == 1 and self._is_dot(pieces[0]):
            return self.result("not a number", "a dot, not a digit", H=H)
        lines = self._lines(pieces, H)
        if lines:
            return self.result("not a number", lines, H=H)
        if len(pieces) > MAX_DIGITS:
            return self.result("not a number", f"{len(pieces)} marks in a row: more than a number's "
                                                f"{MAX_DIGITS} digits", H=H)
        scribble = self._scribble(pieces)
        if scribble:
            return self.result("not a number", scribble, H=H)
        digits = self._segment(pieces, H)
        if digits is None:
            return self.result("not a number", "too much ink to examine for a number", H=H)
        if len(digits) > MAX_DIGITS:
            return self.result("not a number", f"{len(digits)} digits: more than a number's {MAX_DIGITS}",
                               digits, H)
        if self.keep:
            self.steps.append(("digits", [d.box for d in digits]))
        conf = np.array([d.confidence for d in digits])
        if float(conf.min()) < NOT_DIGIT or float(np.exp(np.log(conf).mean())) < NOT_NUMBER_MEAN:
            return self.result("not a number", "the marks do not read as digits", digits, H)
        return self.result("number", "", digits, H)

    # --- pieces -----------------------------------------------------------------------------

    def _merge_overlapping(self, keep: np.ndarray) -> list[_Piece]:
        boxes = self.comps.boxes
        order = sorted(keep.tolist(), key=lambda i: (boxes[i, 0] + boxes[i, 2]) / 2)
        pieces = [_Piece([i], tuple(int(v) for v in boxes[i])) for i in order]
        merges = []
        changed = True
        while changed:  # few pieces: a plain fixed point
            changed = False
            for i in range(len(pieces)):
                for j in range(i + 1, min(len(pieces), i + 4)):
                    a, b = pieces[i], pieces[j]
                    ov = _overlap(a.box, b.box)
                    narrow = min(a.width, b.width)
                    short = min(a.height, b.height) < SHORT * max(a.height, b.height)
                    if ov >= 0.5 * narrow and (short or ov >= 0.85 * narrow):
                        merges.append((a.box, b.box))
                        pieces[i] = _Piece(a.comps + b.comps, _union(a.box, b.box))
                        del pieces[j]
                        changed = True
                        break
                if changed:
                    break
        pieces.sort(key=lambda p: p.box[0] + p.box[2])
        if self.keep and merges:
            self.steps.append(("merged (overlap along the line)", merges))
        return pieces

    def _piece_mask(self, p: _Piece, box=None) -> np.ndarray:
        x0, y0, x1, y1 = box or p.box
        lab = self.comps.labels[y0:y1, x0:x1]
        own = np.isin(lab, np.asarray(p.comps) + 1)
        return _dilate(own) & ((lab == 0) | own)

    def _is_dot(self, p: _Piece) -> bool:
        w, h = p.width, p.height
        fill = float(self.comps.areas[p.comps].sum()) / max(w * h, 1)
        return fill >= DOT_FILL and 0.5 <= w / max(h, 1) <= 2.0

    def _lines(self, pieces: list[_Piece], H: float) -> str:
        """A reason when the tall pieces lie on more than one line."""
        tall = [p for p in pieces if p.height >= 0.6 * H]
        for i, a in enumerate(tall):
            for b in tall[i + 1:]:
                if b.box[0] >= a.box[2]:
                    continue
                if _overlap(a.box, b.box) >= 0.5 * min(a.width, b.width):
                    gap = max(b.box[1] - a.box[3], a.box[1] - b.box[3])
                    if gap > 0.2 * H:
                        return "the writing runs over more than one line: a number is one line"
        return ""

    def _scribble(self, pieces: list[_Piece]) -> str:
        for p in pieces:
            m = self._piece_mask(p)
            d = np.diff(m.astype(np.int8), axis=0, prepend=0)
            crossings = (d == 1).sum(axis=0)
            if np.count_nonzero(crossings >= SCRIBBLE_CROSSINGS) > 0.25 * p.width:
                return "a scribble: its lines cross too often for digits"
        return ""

    # --- candidates -------------------------------------------------------------------------

    def _candidate(self, pieces: list[_Piece], lo: int | None = None, hi: int | None = None):
        """The ink of ``pieces`` (between columns lo and hi), preprocessed as a lone digit."""
        box = pieces[0].box
        for p in pieces[1:]:
            box = _union(box, p.box)
        x0, y0, x1, y1 = box
        if lo is not None:
            x0 = max(x0, lo)
        if hi is not None:
            x1 = min(x1, hi)
        m = np.zeros((y1 - y0, x1 - x0), bool)
        for p in pieces:
            bx0, by0, bx1, by1 = p.box
            cx0, cx1 = max(bx0, x0), min(bx1, x1)
            if cx1 <= cx0:
                continue
            m[by0 - y0:by1 - y0, cx0 - x0:cx1 - x0] |= self._piece_mask(p, (cx0, by0, cx1, by1))
        ink = self.ink[y0:y1, x0:x1] * m
        return ink, (x0, y0)

    def _cut_candidates(self, p: _Piece, H: float, wide: bool) -> None:
        """Where piece ``p`` may be cut: the thin places of its ink's projection along the
        piece's own slant (the shear that makes the projection sharpest)."""
        m = self._piece_mask(p)
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
        cand = [(sm[x], x) for x in range(edge, w - edge)
                if sm[x] <= sm[max(0, x - r):x + r + 1].min() + 1e-9]
        cand.sort()
        # where two round digits touch, the ink is thick, but the outline dips from above
        # and from below: valleys of the top and bottom contours are cut candidates too
        valleys = []
        for x in range(edge, w - edge):
            win = slice(max(0, x - 2 * r), x + 2 * r + 1)
            dip = min(top[x] - top[win].min(), bottom[win].max() - bottom[x])
            if top[x] >= top[win].max() and bottom[x] <= bottom[win].min() and dip > 0.15 * H:
                valleys.append((-dip, x))
        valleys.sort()
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
        p.slant, p.xp0, p.yc, p.wide = slant, lo, yc, wide
        p.cuts = [x + lo for x in chosen]  # in sheared piece coordinates
        # a cut where two outlines meet crosses the two strokes that touch, however the
        # projection piles up there
        at_valley = {x for _, x in valleys[:room]}
        p.cut_cost = {x + lo: min(float(prof[x]) / sw, 2.0) if x in at_valley else float(prof[x]) / sw
                      for x in chosen}

    def _cut_ink(self, p: _Piece, a: float | None, b: float | None):
        """The ink of piece ``p`` between sheared columns a and b (None: the piece's edge)."""
        x0, y0, x1, y1 = p.box
        m = self._piece_mask(p)
        if a is not None or b is not None:
            ys = np.arange(m.shape[0])[:, None]
            xp = np.arange(m.shape[1])[None, :] - p.slant * (ys - p.yc)
            if a is not None:
                m = m & (xp >= a - 0.5)
            if b is not None:
                m = m & (xp < b - 0.5)
        return self.ink[y0:y1, x0:x1] * m, (x0, y0)

    def _segment(self, pieces: list[_Piece], H: float) -> list[DigitRead] | None:
        n = len(pieces)
        # nodes: ("b", c) before piece c (c = n is the end), ("c", c, x) a cut inside piece c
        cands: list[_Cand] = []

        for c, p in enumerate(pieces):
            ink, off = self._candidate([p])
            cands.append(_Cand(("b", c), ("b", c + 1), ink, off, parts=len(p.comps)))
            for k in (2, 3):
                if c + k > n:
                    break
                group = pieces[c:c + k]
                box = group[0].box
                for q in group[1:]:
                    box = _union(box, q.box)
                if box[2] - box[0] > MERGE_SPAN * H:
                    break
                gaps = [max(0, group[i + 1].box[0] - group[i].box[2]) for i in range(k - 1)]
                if not any(q.height < SHORT * H for q in group) and max(gaps) > 0.1 * H:
                    continue
                ink, off = self._candidate(group)
                cands.append(_Cand(("b", c), ("b", c + k), ink, off, merges=k - 1, gap=sum(gaps) / H,
                                   parts=sum(len(q.comps) for q in group)))
        probs = self._classify(cands)
        if probs is None:
            return None
        # pieces too wide or too unsure for one digit get cut candidates
        more = []
        for i, cand in enumerate(cands):
            u, v = cand.u, cand.v
            if v[1] != u[1] + 1:
                continue
            p = pieces[u[1]]
            wide = p.width > CUT_IF_WIDER * max(p.height, 0.6 * H)
            if wide or (float(probs[i].max()) < CUT_IF_BELOW and p.width > CUT_NARROW * H):
                self._cut_candidates(p, H, wide)
                more.append(u[1])
        first_new = len(cands)
        for c in more:
            p = pieces[c]
            nodes = [("b", c)] + [("c", c, x) for x in p.cuts] + [("b", c + 1)]
            xs = [None] + p.cuts + [None]
            pos = [p.xp0 - 1] + p.cuts + [p.xp0 + p.width + 1]
            for i in range(len(nodes)):
                for j in range(i + 1, len(nodes)):
                    if (i, j) == (0, len(nodes) - 1):
                        continue
                    if not p.wide and 0 < i and j < len(nodes) - 1:
                        continue  # a piece no wider than a digit holds at most two
                    if pos[j] - pos[i] > CUT_WIDTH * H:
                        break
                    if pos[j] - pos[i] < 0.05 * H:
                        continue
                    if len(cands) > MAX_CANDIDATES:
                        return None
                    ink, off = self._cut_ink(p, xs[i], xs[j])
                    cands.append(_Cand(nodes[i], nodes[j], ink, off,
                                       cut=p.cut_cost.get(xs[j], 0.0) if xs[j] is not None else 0.0, parts=0))
        if len(cands) > first_new:
            extra = self._classify(cands[first_new:])
            if extra is None:
                return None
            probs = np.concatenate([probs, extra])
        if self.keep:
            self.steps.append(("cuts tried", {pieces[c].box: {"slant": pieces[c].slant, "at": list(pieces[c].cuts)}
                                              for c in more}))
        self._stash = (cands, probs, H, n)  # the graph, for tuning the path's settings offline
        return self._best_path(cands, probs, H, n)

    def _classify(self, cands: list["_Cand"]):
        for c in cands:
            c.pre = preprocess_ink(c.ink, self.scale, self.polarity, offset=c.off)
        images = np.zeros((len(cands), 28, 28), np.float32)
        for i, c in enumerate(cands):
            if c.pre.image is not None:
                images[i] = c.pre.image
        probs = np.asarray(self.classify(images), np.float32) if len(cands) else np.zeros((0, 10), np.float32)
        if probs.shape != (len(cands), 10):
            raise ValueError(f"classify gave shape {probs.shape} for {len(cands)} images; want ({len(cands)}, 10)")
        return probs

    def _best_path(self, cands: list["_Cand"], probs, H: float, n: int) -> list[DigitRead]:
        def key(node):
            return (node[1], 0, 0) if node[0] == "b" else (node[1], 1, node[2])

        ordered = sorted({c.u for c in cands} | {c.v for c in cands}, key=key)
        order = {node: i for i, node in enumerate(ordered)}
        score = [-math.inf] * len(ordered)
        back: list = [None] * len(ordered)
        start, end = order[("b", 0)], order.get(("b", n))
        score[start] = 0.0
        out_of: dict[int, list[int]] = {}
        for i, c in enumerate(cands):
            out_of.setdefault(order[c.u], []).append(i)
        for ui in range(len(ordered)):
            if score[ui] == -math.inf:
                continue
            for i in out_of.get(ui, []):
                c = cands[i]
                if c.pre.image is None or c.pre.bbox is None:
                    continue
                bx0, by0, bx1, by1 = c.pre.bbox
                h, w = by1 - by0, bx1 - bx0
                s = math.log(max(float(probs[i].max()), 1e-6)) + DIGIT_BONUS
                s -= CUT_COST * c.cut + MERGE_COST * c.merges + GAP_COST * c.gap
                if c.v[0] == "c":
                    s -= CUT_FIXED
                s -= WIDE * max(0.0, w / max(h, 1) - WIDE_FROM)
                if h < MIN_HEIGHT * H:
                    s -= LOW
                vi = order[c.v]
                if score[ui] + s > score[vi]:
                    score[vi], back[vi] = score[ui] + s, i
        if end is None or score[end] == -math.inf:
            return []
        path = []
        vi = end
        while vi != start:
            i = back[vi]
            path.append(i)
            vi = order[cands[i].u]
        path.reverse()
        digits = []
        for i in path:
            c = cands[i]
            steps = [("input", c.ink.astype(np.float32) * np.float32(1.0 / self.scale))]
            pre = preprocess_ink(c.ink, self.scale, self.polarity, keep_steps=True, steps=steps, offset=c.off)
            p = probs[i]
            d, conf = int(p.argmax()), float(p.max())
            unsure, alt = unsure_read(p)
            digits.append(DigitRead(pre.bbox, pre, p.copy(), d, conf, unsure, alt if unsure else None, c.parts))
        return digits


@dataclass
class _Cand:
    """One candidate digit: the path from node u to node v through the segmentation graph."""

    u: tuple
    v: tuple
    ink: np.ndarray
    off: tuple[int, int]
    cut: float = 0.0  # stroke widths of ink the cut at v goes through
    merges: int = 0  # pieces joined
    gap: float = 0.0  # gaps bridged, in line heights
    parts: int = 1
    pre: Preprocessed | None = None


def unsure_read(probs: np.ndarray) -> tuple[bool, int | None]:
    """(unsure, runner-up) for one digit's probabilities: unsure when the top one is low or
    the runner-up close to it. The one rule for digits read alone and within a number."""
    p = np.asarray(probs, np.float64)
    top2 = np.argsort(p)[::-1][:2]
    unsure = float(p[top2[0]]) < UNSURE_TOP or float(p[top2[1]]) >= UNSURE_RATIO * float(p[top2[0]])
    return unsure, (int(top2[1]) if unsure else None)


def read_number(image: ImageInput, classify: Classify, polarity: Polarity = "auto",
                keep_steps: bool = False) -> NumberReading:
    """Read the number written in ``image`` (gray/RGB/RGBA array or path, either polarity).

    ``classify`` is a predictor's ``probs_batch``. With ``keep_steps`` the reading's
    ``steps`` hold, in order: ("components", [box, ...]) the ink components kept (specks
    dropped); ("merged (overlap along the line)", [(box, box), ...]) when pieces were joined;
    ("cuts tried", {piece box: [x, ...]}) the cut columns examined in pieces too wide or too
    unsure for one digit; ("digits", [box, ...]) the path chosen. Boxes are (x0, y0, x1, y1).
    An unreadable image raises ImageError, like ``preprocess``.
    """
    if isinstance(image, (str, os.PathLike)):
        image = load_image(image)
    elif not isinstance(image, np.ndarray):
        from PIL import Image

        image = _pil_to_array(image) if isinstance(image, Image.Image) else np.asarray(image)
    ink, scale, pol = ink_image(_bounded(image), polarity)
    return _Reader(ink, scale, pol, classify, keep_steps).read()
