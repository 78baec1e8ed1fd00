"""Reading a whole number: an image of one or more digits -> the number, each digit and its box.

The one reader every caller uses (the Draw tab's Number mode, Open image / drop, ``digitpad
predict --number``, scripts/bench_numbers.py). Torch-free: the classifier comes in as a
function of a batch of 28x28 images, so the numpy, torch and foreign predictors all fit.

How (the design, measured by scripts/bench_numbers.py): the ink mask as ``preprocess`` finds
ink, in either polarity; its 8-connected components (``number_pieces``: run-lengths joined
row to row, numpy only); specks dropped; pieces overlapping along the line merged into one
digit when one of them is short (a 5's bar, a 7's crossbar, a 4 in two strokes); then a
small segmentation graph over the line: every piece, every pair or triple of neighbouring
pieces (a merge) and, in a piece too wide or too unsure to be one digit, the parts between
candidate cuts (``number_cuts``). Each candidate is preprocessed exactly as a lone digit is
(``preprocess_ink``) and read by the classifier in one batch (a second, small one only for
pieces the first found unsure); the best path maximises the sum of log-confidences less
geometric penalties (a cut through thick ink, a merge across a gap, a digit far wider than
tall). Work is capped (pieces, cuts, candidates), so any input is answered in bounded time.
A :class:`ReadCache` keeps the candidates' results between readings of a changing drawing
(the canvas after each stroke): only candidates whose ink changed are classified again.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Callable, Literal

import numpy as np

from ..data.preprocess import (NOISE_FLOOR, RELATIVE_THRESHOLD, ImageInput, Polarity,
                               Preprocessed, _pil_to_array, ink_image, load_image, preprocess_ink)
from .number_cuts import between, find_cuts
from .number_pieces import SHORT, Piece, components, merge_overlapping, overlap, piece_mask, union
from .verifier import Verifier, shipped_verifier

__all__ = ["Classify", "DigitRead", "NumberReading", "ReadCache", "read_number", "unsure_read",
           "components", "MAX_DIGITS", "MAX_PIECES"]

# batch (N, 28, 28) float32 in [0, 1], ink bright -> probabilities (N, 10) float32
Classify = Callable[[np.ndarray], np.ndarray]

Status = Literal["empty", "number", "not a number"]

# --- limits: what any input may cost -------------------------------------------------------
MAX_PIXELS = 2_000_000  # a larger image is box-reduced first (a 20000x120 strip: 10000x60)
MAX_PIECES = 400  # more ink components than this: a page of text or noise, not a number
MAX_DIGITS = 80  # more digits than this is not "a number"
MAX_CANDIDATES = 1500  # classifier inputs for one image (about 1.5 s with numpy at worst)

# --- geometry, in line heights (H); chosen on composed validation numbers --------------------
SPECK = 0.15  # a component smaller than this (both sides) is a speck: ignored
MIN_HEIGHT = 0.5  # a digit candidate shorter than this is not a digit
MERGE_SPAN = 1.15  # pieces merged into one digit span at most this
CUT_WIDTH = 1.25  # a part between two cuts is at most this wide
CUT_IF_WIDER = 1.0  # a piece wider than this (of its height) is looked at for cuts ...
CUT_IF_BELOW = 0.9  # ... and so is one read less surely than this, when wider than
CUT_NARROW = 0.2  # ... this ("11" written touching)
# --- the path's penalties (log-probability units) ------------------------------------------
DIGIT_BONUS = 0.0  # per digit on the path (against reading fewer, larger digits)
LOW = 3.0  # a candidate shorter than MIN_HEIGHT
WIDE = 1.0  # per unit of aspect (width / height) above the digit's WIDE_FROM
# a digit read wider than this (width / height) is likelier two digits touching: 0.8 x the
# 90th percentile of each class's aspect in MNIST's training digits, less 0.1 (a 1 is narrow)
WIDE_FROM = (0.79, 0.46, 0.84, 0.7, 0.7, 0.9, 0.66, 0.7, 0.7, 0.62)
CUT_COST = 0.1  # per stroke width of ink a cut goes through
CUT_FIXED = 0.0  # per cut (none: where a piece is cut, the ink it crosses is the price)
MERGE_COST = 0.5  # per merge, plus GAP_COST per line height of gap bridged
MERGE_OVERLAP = 0.5  # per merge of pieces that overlap along the line (no gap to bridge)
GAP_COST = 12.0
SPECK_SKIP = 2.0  # leaving out a speck (both sides under SPECK_SIDE of the line height) no merge takes
SPECK_SIDE = 0.3
CUT_SHORT = 1.0  # a part cut from a piece and shorter than CUT_SHORT_FROM of the line: a fragment
CUT_SHORT_FROM = 0.75
# the whole-digit verifier's log P(one whole digit) is added times this to each candidate's
# score (``verifier.py``; chosen on validation numbers by scripts/train_verifier.py)
VERIFY_WEIGHT = 0.5
SKIP = math.inf  # leaving out a short piece no merge takes (off: at 1-3 it dropped real
# digits of validation writers; MNIST numbers gained half a point)
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
    note: str = ""  # e.g. why the whole-digit verifier was not used

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


# --- the reader -----------------------------------------------------------------------------


class ReadCache:
    """The classifier's results for recent candidate crops, for re-reading a drawing that
    changed a little (the canvas after each stroke): a candidate whose ink, place and
    classifier are unchanged is not preprocessed or classified again.

    One per view. It forgets everything when given another classifier; when a classifier's
    weights change in place (``Predictor.set_state``), call :meth:`clear`.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._owner: object = None
        self._func: object = None
        self._verifier: object = None
        self._store: OrderedDict = OrderedDict()

    def clear(self) -> None:
        self._store.clear()

    def _use(self, classify: Classify, verifier: object = None) -> None:
        owner, func = getattr(classify, "__self__", classify), getattr(classify, "__func__", classify)
        if owner is not self._owner or func is not self._func or verifier is not self._verifier:
            self.clear()  # the verifier's convolution outputs are cached too
            # held: an id is never reused while cached
            self._owner, self._func, self._verifier = owner, func, verifier

    def get(self, key):
        hit = self._store.get(key)
        if hit is not None:
            self._store.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
        return hit

    def put(self, key, value) -> None:
        self._store[key] = value
        while len(self._store) > self.size:
            self._store.popitem(last=False)


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
                 keep_steps: bool, cache: ReadCache | None, verifier: Verifier | None = None,
                 note: str = "") -> None:
        self.ink, self.scale, self.polarity = ink, scale, polarity
        self.classify = classify
        self.verifier, self.note = verifier, note
        self.graph: tuple | None = None  # (candidates, H, pieces): the last segmentation graph
        if cache is not None:
            cache._use(classify, verifier)
        self.keep = keep_steps
        self.cache = cache
        self.steps: list[tuple[str, object]] = []

    def result(self, status, reason="", digits=(), H=0.0) -> NumberReading:
        digits = list(digits)
        number = "".join(str(d.digit) for d in digits) if status == "number" else ""
        conf = float(np.prod([d.confidence for d in digits])) if status == "number" and digits else 0.0
        return NumberReading(status, digits, number, conf, reason, self.polarity, self.steps, float(H),
                             self.note)

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
        pieces, merges = merge_overlapping(boxes, keep)
        if self.keep and merges:
            self.steps.append(("merged (overlap along the line)", merges))
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
        return self.verdict(digits, H)

    def verdict(self, digits: list[DigitRead], H: float) -> NumberReading:
        """The reading of a path's digits: a number, or not one (too many, read too unsurely)."""
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

    def _piece_mask(self, p: Piece) -> np.ndarray:
        return piece_mask(self.comps.labels, p)

    def _is_dot(self, p: Piece) -> bool:
        w, h = p.width, p.height
        fill = float(self.comps.areas[p.comps].sum()) / max(w * h, 1)
        return fill >= DOT_FILL and 0.5 <= w / max(h, 1) <= 2.0

    def _lines(self, pieces: list[Piece], H: float) -> str:
        """A reason when the tall pieces lie on more than one line."""
        tall = [p for p in pieces if p.height >= 0.6 * H]
        for i, a in enumerate(tall):
            for b in tall[i + 1:]:
                if b.box[0] >= a.box[2]:
                    continue
                if overlap(a.box, b.box) >= 0.5 * min(a.width, b.width):
                    gap = max(b.box[1] - a.box[3], a.box[1] - b.box[3])
                    if gap > 0.2 * H:
                        return "the writing runs over more than one line: a number is one line"
        return ""

    def _scribble(self, pieces: list[Piece]) -> str:
        for p in pieces:
            m = self._piece_mask(p)
            d = np.diff(m.astype(np.int8), axis=0, prepend=0)
            crossings = (d == 1).sum(axis=0)
            if np.count_nonzero(crossings >= SCRIBBLE_CROSSINGS) > 0.25 * p.width:
                return "a scribble: its lines cross too often for digits"
        return ""

    # --- candidates -------------------------------------------------------------------------

    def _candidate(self, pieces: list[Piece]):
        """The ink of ``pieces`` together, as a lone digit's ink."""
        if len(pieces) == 1:
            p = pieces[0]
            x0, y0, x1, y1 = p.box
            return self.ink[y0:y1, x0:x1] * self._piece_mask(p), (x0, y0)
        box = pieces[0].box
        for p in pieces[1:]:
            box = union(box, p.box)
        x0, y0, x1, y1 = box
        m = np.zeros((y1 - y0, x1 - x0), bool)
        for p in pieces:
            bx0, by0, bx1, by1 = p.box
            m[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0] |= self._piece_mask(p)
        return self.ink[y0:y1, x0:x1] * m, (x0, y0)

    def _parts(self, c: int, p: Piece, H: float) -> list["_Cand"] | None:
        """The candidates between piece ``p``'s cuts (and its edges); None past the cap."""
        nodes = [("b", c)] + [("c", c, i) for i in range(len(p.cuts))] + [("b", c + 1)]
        paths = [None] + p.cuts + [None]
        pos = [p.span[0]] + p.cut_at + [p.span[1]]
        costs = [0.0] + p.cut_cost + [0.0]
        m = self._piece_mask(p)
        x0, y0, x1, y1 = p.box
        ink = self.ink[y0:y1, x0:x1]
        out = []
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
                if len(out) > MAX_CANDIDATES:
                    return None
                out.append(_Cand(nodes[i], nodes[j], ink * between(m, paths[i], paths[j]), (x0, y0),
                                 cut=costs[j], parts=0))
        return out

    def _segment(self, pieces: list[Piece], H: float) -> list[DigitRead] | None:
        n = len(pieces)
        # nodes: ("b", c) before piece c (c = n is the end), ("c", c, i) cut i inside piece c
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
                    box = union(box, q.box)
                if box[2] - box[0] > MERGE_SPAN * H:
                    break
                gaps = [max(0, group[i + 1].box[0] - group[i].box[2]) for i in range(k - 1)]
                if not any(q.height < SHORT * H for q in group) and max(gaps) > 0.1 * H:
                    continue
                ink, off = self._candidate(group)
                ov = min(group[i].box[2] - group[i + 1].box[0] for i in range(k - 1))
                cands.append(_Cand(("b", c), ("b", c + k), ink, off, merges=k - 1, gap=sum(gaps) / H,
                                   parts=sum(len(q.comps) for q in group), overlaps=ov > 0))
        singles = [i for i, cand in enumerate(cands) if cand.v[1] == cand.u[1] + 1]
        # pieces too wide for one digit are cut before anything is classified: one batch ...
        cut = []
        for c, p in enumerate(pieces):
            if p.width > CUT_IF_WIDER * max(p.height, 0.6 * H):
                find_cuts(p, self._piece_mask(p), H, True)
                cut.append(c)
        for rnd in (0, 1):
            for c in cut:
                parts = self._parts(c, pieces[c], H)
                if parts is None or len(cands) + len(parts) > MAX_CANDIDATES:
                    return None
                cands += parts
            self._classify(cands)
            if rnd:
                break
            # ... and a second, small one for pieces the first read unsurely ("11" touching)
            cut = []
            for c, i in enumerate(singles):
                p = pieces[c]
                conf = float(cands[i].probs.max())
                if not p.cuts and p.width > CUT_NARROW * H and conf < CUT_IF_BELOW:
                    find_cuts(p, self._piece_mask(p), H, False)
                    cut.append(c)
            if not cut:
                break
        for c, p in enumerate(pieces):  # a short mark no merge takes may be left out
            if p.height < MIN_HEIGHT * H:
                speck = max(p.width, p.height) < SPECK_SIDE * H
                cands.append(_Cand(("b", c), ("b", c + 1), None, p.box[:2], skip=True,
                                   skip_cost=SPECK_SKIP if speck else SKIP))
        if self.keep:
            tried = {}
            for p in pieces:
                if p.cuts:
                    x0, y0 = p.box[:2]
                    mid = (p.height - 1) / 2
                    tried[p.box] = {"slant": p.slant, "at": [x0 + float(np.interp(mid, np.arange(p.height), q))
                                                             for q in p.cuts],
                                    "paths": [[(x0 + float(x), y0 + y) for y, x in enumerate(q)] for q in p.cuts]}
            if tried:
                self.steps.append(("cuts tried", tried))
        self.graph = (cands, H, n)
        return self._best_path(cands, H, n)

    def _classify(self, cands: list["_Cand"]) -> None:
        """Give every candidate without one its 28x28 input and probabilities: from the cache,
        else preprocessed and classified in one batch."""
        todo = []
        for c in cands:
            if c.probs is not None:
                continue
            key = None
            if self.cache is not None:
                ink = np.ascontiguousarray(c.ink)
                key = (c.off, ink.shape, ink.dtype.str, hashlib.blake2b(ink, digest_size=16).digest())
                hit = self.cache.get(key)
                if hit is not None:
                    c.pre, c.probs, c.feat = hit
                    continue
            c.pre = preprocess_ink(c.ink, self.scale, self.polarity, keep_steps=True, offset=c.off)
            if c.pre.image is None:
                c.probs = np.zeros(10, np.float32)
                continue
            todo.append((c, key))
        if todo:
            images = np.stack([c.pre.image for c, _ in todo])
            probs = np.asarray(self.classify(images), np.float32)
            if probs.shape != (len(todo), 10):
                raise ValueError(f"classify gave shape {probs.shape} for {len(todo)} images; want ({len(todo)}, 10)")
            feats = self.verifier.features(images) if self.verifier is not None else [None] * len(todo)
            for (c, key), row, feat in zip(todo, probs, feats):
                c.probs, c.feat = row, feat
                if key is not None:
                    self.cache.put(key, (c.pre, row, feat))
        if self.verifier is not None:
            self._verify(cands)

    def _verify(self, cands: list["_Cand"]) -> None:
        """Each candidate's log P(one whole digit), in one batch. Only the convolutions' part
        (``feat``, from the 28x28 input alone) is cached: the rest depends on the line's
        height, which a new stroke may change."""
        todo = [c for c in cands if c.whole is None and c.pre is not None and c.pre.image is not None
                and c.pre.bbox is not None]
        if not todo:
            return
        missing = [c for c in todo if c.feat is None]  # cached by a reading without the verifier
        if missing:
            for c, feat in zip(missing, self.verifier.features(np.stack([c.pre.image for c in missing]))):
                c.feat = feat
        H = max(float(self.H), 1.0)
        geo = np.array([[(c.pre.bbox[3] - c.pre.bbox[1]) / H, (c.pre.bbox[2] - c.pre.bbox[0]) / H]
                        for c in todo], np.float32)
        whole = self.verifier.log_sigmoid(self.verifier.head(np.stack([c.feat for c in todo]), geo))
        for c, w in zip(todo, whole):
            c.whole = float(w)

    def _best_path(self, cands: list["_Cand"], H: float, n: int) -> list[DigitRead]:
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
                if c.skip:
                    if score[ui] - c.skip_cost > score[order[c.v]]:
                        score[order[c.v]], back[order[c.v]] = score[ui] - c.skip_cost, i
                    continue
                if c.pre.image is None or c.pre.bbox is None:
                    continue
                bx0, by0, bx1, by1 = c.pre.bbox
                h, w = by1 - by0, bx1 - bx0
                s = math.log(max(float(c.probs.max()), 1e-6)) + DIGIT_BONUS
                s -= CUT_COST * c.cut + (MERGE_OVERLAP if c.overlaps else MERGE_COST) * c.merges + GAP_COST * c.gap
                if c.v[0] == "c":
                    s -= CUT_FIXED
                s -= WIDE * max(0.0, w / max(h, 1) - WIDE_FROM[int(c.probs.argmax())])
                if c.whole is not None:
                    s += VERIFY_WEIGHT * c.whole
                if h < MIN_HEIGHT * H:
                    s -= LOW
                elif (c.u[0] == "c" or c.v[0] == "c") and h < CUT_SHORT_FROM * H:
                    s -= CUT_SHORT
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
            if c.skip:
                continue
            # the lone digit's steps begin with its own ink, as preprocess's begin with the image's
            pre = replace(c.pre, steps=[("input", c.ink.astype(np.float32) * np.float32(1.0 / self.scale))]
                          + list(c.pre.steps))
            p = c.probs
            d, conf = int(p.argmax()), float(p.max())
            unsure, alt = unsure_read(p)
            digits.append(DigitRead(pre.bbox, pre, p.copy(), d, conf, unsure, alt if unsure else None, c.parts))
        return digits


@dataclass
class _Cand:
    """One candidate digit: the path from node u to node v through the segmentation graph."""

    u: tuple
    v: tuple
    ink: np.ndarray | None
    off: tuple[int, int]
    cut: float = 0.0  # stroke widths of ink the cut at v goes through
    merges: int = 0  # pieces joined
    gap: float = 0.0  # gaps bridged, in line heights
    parts: int = 1
    overlaps: bool = False  # a merge of pieces that overlap along the line
    skip: bool = False  # not a digit: the path leaves this piece out
    skip_cost: float = math.inf
    pre: Preprocessed | None = None
    probs: np.ndarray | None = None
    whole: float | None = None  # the verifier's log P(one whole digit), when one is used
    feat: np.ndarray | None = None  # the verifier's convolution outputs for this candidate


def unsure_read(probs: np.ndarray) -> tuple[bool, int | None]:
    """(unsure, runner-up) for one digit's probabilities: unsure when the top one is low or
    the runner-up close to it. The one rule for digits read alone and within a number."""
    p = np.asarray(probs, np.float64)
    top2 = np.argsort(p)[::-1][:2]
    unsure = float(p[top2[0]]) < UNSURE_TOP or float(p[top2[1]]) >= UNSURE_RATIO * float(p[top2[0]])
    return unsure, (int(top2[1]) if unsure else None)


def read_number(image: ImageInput, classify: Classify, polarity: Polarity = "auto",
                keep_steps: bool = False, cache: ReadCache | None = None,
                verifier: Verifier | None | Literal["shipped"] = "shipped",
                graph: list | None = None) -> NumberReading:
    """Read the number written in ``image`` (gray/RGB/RGBA array or path, either polarity).

    ``classify`` is a predictor's ``probs_batch``. With ``keep_steps`` the reading's
    ``steps`` hold, in order: ("components", [box, ...]) the ink components kept (specks
    dropped); ("merged (overlap along the line)", [(box, box), ...]) when pieces were joined;
    ("cuts tried", {piece box: {"slant": s, "at": [x, ...], "paths": [[(x, y), ...], ...]}})
    the cuts examined in pieces too wide or too unsure for one digit ("at": where each
    crosses the piece's middle row; "paths": each cut as points in image pixels);
    ("digits", [box, ...]) the path chosen. Boxes are (x0, y0, x1, y1). ``cache`` (a
    :class:`ReadCache` kept between calls) spares re-reading unchanged candidates. An
    unreadable image raises ImageError, like ``preprocess``. ``verifier``: the whole-digit
    verifier whose log-probability joins each candidate's score (``verifier.py``); "shipped"
    takes resources/verifier.safetensors, and when that cannot be read the number is read
    without one and the reading's ``note`` says why; None reads without one. ``graph`` (a
    list, for scripts/train_verifier.py) gets the reader, whose ``graph`` holds the
    segmentation graph's candidates, the line height and the piece count.
    """
    if isinstance(image, (str, os.PathLike)):
        image = load_image(image)
    elif not isinstance(image, np.ndarray):
        from PIL import Image

        image = _pil_to_array(image) if isinstance(image, Image.Image) else np.asarray(image)
    note = ""
    if isinstance(verifier, str):
        if verifier != "shipped":
            raise ValueError(f"verifier must be a Verifier, None or 'shipped', not {verifier!r}")
        verifier, note = shipped_verifier()
    ink, scale, pol = ink_image(_bounded(image), polarity)
    reader = _Reader(ink, scale, pol, classify, keep_steps, cache, verifier, note)
    if graph is not None:
        graph.append(reader)
    return reader.read()
