"""Synthesised handwriting: digits drawn from stroke skeletons in named styles.

MNIST was written by American census staff and students, so it barely has the continental 1
(a long up-stroke flag), the 9 with a curled tail, the open 4 written in one zig-zag stroke, the
crossed 7, digits stretched to fill a square box or very bold binary scans. Each style here is
a skeleton of strokes in a unit box (x right, y down, height 1) with its own random proportions;
a drawing adds a pen (width, pressure along the stroke), a smooth wobble, slant, rotation,
aspect and, as options, box-filling stretch and binary low-resolution scans. The same seed
always gives the same digits (one ``numpy.random.Generator`` drives everything).

Two renderings:

- :func:`render_style` / :func:`render_digits`: MNIST-like 28x28 uint8, ink bright. The strokes
  are rasterised straight into the 20 px box that ``preprocess.preprocess`` would scale the
  ink to (a distance field with a one-pixel anti-aliasing ramp, i.e. area coverage), then
  brightened to full and centred by centre of mass exactly as ``preprocess`` does: thousands
  per second on one core, and within a few grey levels of the slow path
  (``scripts/bench_styles.py`` measures both).
- :func:`render_canvas`: what a person leaves on the app's canvas (280x280, dark ink on light,
  round-capped anti-aliased pen), to feed through the real predict path.

:class:`Writer` fixes one person's habits (which style of each digit, slant, pen, aspect) so
benchmarks can synthesise "a writer it has never seen": ``make_writer(seed).render(7, 20, 0)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable, NamedTuple

import numpy as np

from .preprocess import place_by_mass

__all__ = ["STYLES", "Style", "Options", "DEFAULT", "render_style", "render_digits",
           "render_canvas", "Writer", "make_writer", "styles_for", "synth_pool"]

BOX = 20  # preprocess scales the ink's longer side to this
FIELD = 28
CENTRE = 14.0

Stroke = np.ndarray  # (k, 2) points, x right, y down, in digit heights


# --- skeleton building blocks ------------------------------------------------------------

def _arc(cx, cy, rx, ry, a0, a1, step=20.0) -> np.ndarray:
    """Points on an ellipse from angle a0 to a1 (degrees; 0 = right, 90 = down, so increasing
    angles turn clockwise on screen)."""
    k = max(2, int(abs(a1 - a0) / step) + 1)
    a = np.radians(np.linspace(a0, a1, k))
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], axis=1)


def _spline(points, per_span: int = 4) -> np.ndarray:
    """A Catmull-Rom curve through the points: hand-drawn curves without corners."""
    p = np.asarray(points, dtype=np.float64)
    ext = np.concatenate([2 * p[:1] - p[1:2], p, 2 * p[-1:] - p[-2:-1]])
    p0, p1, p2, p3 = ext[:-3, None], ext[1:-2, None], ext[2:-1, None], ext[3:, None]
    t = _T[per_span]
    curve = 0.5 * (2 * p1 + (p2 - p0) * t[0] + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t[1]
                   + (3 * p1 - p0 - 3 * p2 + p3) * t[2])
    return np.concatenate([curve.reshape(-1, 2), p[-1:]])


_T = {k: [np.linspace(0, 1, k, endpoint=False)[:, None] ** e for e in (1, 2, 3)] for k in (3, 4, 5)}
_LEG = np.linspace(0, 1, 4, endpoint=False)[:, None]


def _line(*points) -> np.ndarray:
    """A polyline with sharp corners (a pen changing direction), 4 points per leg."""
    p = np.asarray(points, dtype=np.float64)
    legs = p[:-1, None] + (p[1:] - p[:-1])[:, None] * _LEG
    return np.concatenate([legs.reshape(-1, 2), p[-1:]])


def _cat(*parts) -> np.ndarray:
    return np.concatenate(parts)


# --- the styles: each draws its own random proportions -------------------------------------

Skeleton = Callable[[np.random.Generator], list]


def _zero(r):
    rx = r.uniform(0.24, 0.34)
    start = r.uniform(-100, -60)
    return [_arc(0.34, 0.5, rx, 0.5, start, start - r.uniform(350, 385))]


def _one(r):
    lean = r.uniform(-0.06, 0.06)
    s = [_line((0.5 + lean, 0.0), (0.5 - lean, 1.0))]
    if r.random() < 0.3:  # a short tick at the top, as many American 1s have
        s = [_line((0.5 + lean - r.uniform(0.08, 0.14), r.uniform(0.08, 0.14)), (0.5 + lean, 0.0),
                   (0.5 - lean, 1.0))]
    return s


def _one_flag(r, foot=False):
    # as continental 1s are written: the flag runs from the top down a third to half the height
    # at 20-45 degrees, so it reaches far to the left (up to the box's width once box-filled);
    # a 7's bar is horizontal, a 1's flag slopes, and the data carries that difference
    drop = r.uniform(0.25, 0.5)
    th = math.radians(r.uniform(20, 45))
    reach = min(drop / math.tan(th), 0.95)
    lean = r.uniform(-0.12, 0.06)  # the stem is often slanted, its foot to the left
    top = (0.55, 0.0)
    s = [_line((top[0] - reach, reach * math.tan(th)), top, (top[0] + lean, 1.0))]
    if foot:
        b = r.uniform(0.15, 0.3)
        s.append(_line((0.55 + lean - b, 1.0), (0.55 + lean + b * r.uniform(0.8, 1.2), 1.0)))
    return s


def _two(r):
    w = r.uniform(0.55, 0.7)
    top = _arc(w / 2, 0.27, w / 2, 0.26, r.uniform(180, 215), r.uniform(370, 400))
    return [_cat(top, _line(top[-1], (0.02, 1.0))[1:], _line((0.02, 1.0), (w + r.uniform(0, 0.1), 0.98))[1:])]


def _two_loop(r):
    w = r.uniform(0.55, 0.7)
    top = _arc(w / 2, 0.27, w / 2, 0.26, r.uniform(180, 215), r.uniform(370, 400))
    lr = r.uniform(0.07, 0.12)  # loop radius
    loop = _spline([top[-1], (0.12 + lr, 0.88 - lr), (0.06 + lr, 1.0), (0.0, 1.0 - lr),
                    (0.08 + lr * 0.5, 1.0 - 2 * lr), (0.14 + lr * 2, 0.97), (w + r.uniform(0, 0.1), 0.96)])
    return [_cat(top, loop[1:])]


def _three(r):
    mid = r.uniform(0.42, 0.52)
    return [_spline([(0.04, 0.12), (0.3, 0.0), (0.56, 0.12), (0.5, mid - 0.14), (0.22, mid),
                     (0.56, mid + 0.12), (0.6, 0.8), (0.36, 1.0), (0.02, 0.88)])]


def _four(r):
    bar = r.uniform(0.55, 0.68)
    stem = r.uniform(0.5, 0.6)
    return [_line((0.12 + r.uniform(-0.06, 0.06), 0.0), (0.02, bar), (stem + r.uniform(0.12, 0.25), bar)),
            _line((stem, r.uniform(0.0, 0.1)), (stem + r.uniform(-0.03, 0.03), 1.0))]


def _four_closed(r):
    bar = r.uniform(0.6, 0.7)
    stem = r.uniform(0.5, 0.6)
    return [_line((stem, 0.0), (0.0, bar), (stem + r.uniform(0.12, 0.25), bar)),
            _line((stem, 0.0), (stem, 1.0))]


def _four_zigzag(r):
    # open top, one stroke: down the arm, across, up to the stem's top and down the stem
    bar = r.uniform(0.45, 0.66)
    stem = r.uniform(0.5, 0.62)
    gap = r.uniform(0.0, 0.05)
    arm = (0.2 + r.uniform(-0.1, 0.12), 0.0)
    top = (stem + gap, r.uniform(-0.04, 0.12))
    end = (stem - gap * 0.5, 1.0)
    if r.random() < 0.5:
        return [_line(arm, (0.02, bar), (stem, bar), top, end)]
    # the corner rounded into a U, the head open at the top: the form read as a 9
    low = bar + r.uniform(-0.02, 0.06)
    u = _spline([arm, (0.03, bar * 0.7), (0.2, low), (stem, bar - r.uniform(0.0, 0.08))], 4)
    return [_cat(u, _line(u[-1], top, end)[1:])]


def _four_cross(r):
    # one-stroke open 4 of box-filled scans: a diagonal down to the left, a bar to the right
    # well past the stem; the stem, a second stroke, crosses the bar; the top stays open
    bar = r.uniform(0.5, 0.68)
    stem = r.uniform(0.5, 0.68)
    arm = (r.uniform(0.3, 0.55), r.uniform(0.0, 0.08))
    right = min(stem + r.uniform(0.18, 0.35), 0.98)
    return [_line(arm, (r.uniform(0.0, 0.06), bar), (right, bar + r.uniform(-0.05, 0.03))),
            _line((stem + r.uniform(0.0, 0.08), r.uniform(0.0, 0.2)), (stem + r.uniform(-0.08, 0.02), 1.0))]


def _five(r):
    belly = r.uniform(0.38, 0.48)
    body = _spline([(0.12, 0.02), (0.09, belly), (0.35, belly - 0.06), (0.58, belly + 0.14),
                    (0.55, 0.84), (0.3, 1.0), (0.02, 0.9)])
    return [body, _line((0.12, 0.02), (r.uniform(0.52, 0.66), r.uniform(-0.03, 0.03)))]


def _six(r):
    loop = r.uniform(0.45, 0.6)  # top of the loop
    return [_spline([(0.55, 0.02), (0.28, 0.16), (0.07, 0.5), (0.1, 0.86), (0.33, 1.0),
                     (0.57, 0.82), (0.5, loop + 0.02), (0.26, loop), (0.09, 0.72)])]


def _seven(r):
    w = r.uniform(0.55, 0.7)
    foot = r.uniform(0.12, 0.3)
    bend = (foot + w) / 2 + r.uniform(-0.05, 0.05)
    return [_cat(_line((0.0, 0.02), (w, 0.0)), _spline([(w, 0.0), (bend, 0.5), (foot, 1.0)], 4)[1:])]


def _seven_crossed(r):
    s = _seven(r)
    mid = s[0][np.argmin(np.abs(s[0][:, 1] - 0.52))]
    half = r.uniform(0.15, 0.24)
    return s + [_line((mid[0] - half, 0.52), (mid[0] + half, 0.5))]


def _seven_hook(r):
    w = r.uniform(0.55, 0.7)
    foot = r.uniform(0.12, 0.3)
    h = r.uniform(0.12, 0.22)  # the hook hangs down at the left end of the bar
    return [_cat(_spline([(0.02, h), (0.0, 0.04), (0.1, 0.0)], 3),
                 _line((0.1, 0.0), (w, 0.02))[1:], _spline([(w, 0.02), ((w + foot) / 2, 0.5), (foot, 1.0)], 4)[1:])]


def _eight(r):
    waist = r.uniform(0.42, 0.52)
    return [_spline([(0.52, 0.1), (0.3, 0.0), (0.08, 0.14), (0.16, waist - 0.12), (0.44, waist + 0.08),
                     (0.58, 0.78), (0.32, 1.0), (0.04, 0.8), (0.16, waist + 0.06), (0.46, waist - 0.12),
                     (0.56, 0.18), (0.48, 0.07)])]


def _nine(r, head=(0.26, 0.24), stem_end=1.0):
    rx, ry = head
    cy = ry
    cx = 0.3
    start = r.uniform(-20, 20)
    h = _arc(cx, cy, rx, ry, start, start - 360)
    return [_cat(h, _line(h[-1], (cx + rx + r.uniform(-0.04, 0.02), stem_end))[1:])]


def _nine_plain(r):
    return _nine(r, (r.uniform(0.22, 0.3), r.uniform(0.2, 0.28)))


def _nine_curl(r):
    rx, ry = r.uniform(0.2, 0.28), r.uniform(0.18, 0.26)
    cx, start = 0.3, r.uniform(-20, 20)
    h = _arc(cx, ry, rx, ry, start, start - 360)
    x = cx + rx
    curl = r.uniform(0.2, 0.45)  # how far the tail comes back to the left
    tail = _spline([h[-1], (x, 0.55), (x - 0.03, 0.86), (x - curl * 0.5, 1.0), (x - curl, 0.92)])
    return [_cat(h, tail[1:])]


def _nine_tiny_head(r):
    return _nine(r, (r.uniform(0.13, 0.19), r.uniform(0.1, 0.15)))


def _nine_long_tail(r):
    # a small head high up and a long tail, straight (like a q) or curled back (like a g)
    rx, ry = r.uniform(0.12, 0.2), r.uniform(0.1, 0.16)
    cx, start = 0.3, r.uniform(-20, 20)
    h = _arc(cx, ry, rx, ry, start, start - 360)
    x = cx + rx
    lean = r.uniform(-0.12, 0.04)
    if r.random() < 0.5:
        tail = _line(h[-1], (x + lean, 1.0))
    else:
        curl = r.uniform(0.15, 0.4)
        tail = _spline([h[-1], (x + lean * 0.5, 0.6), (x + lean, 0.9), (x + lean - curl * 0.5, 1.0),
                        (x + lean - curl, 0.9 - r.uniform(0.0, 0.1))])
    return [_cat(h, tail[1:])]


def _nine_bowl_tail(r):
    # the tail bows right and sweeps far back left under the head: the lower half of a 3,
    # and, when it swings back up to the stem, the lower loop of an 8 (real 16 px scans read
    # such 9s as 3s and 8s)
    rx, ry = r.uniform(0.2, 0.28), r.uniform(0.17, 0.24)
    cx, start = 0.32, r.uniform(-20, 20)
    h = _arc(cx, ry, rx, ry, start, start - 360)
    x = cx + rx
    bow = r.uniform(0.04, 0.14)
    sweep = r.uniform(0.35, 0.6)
    pts = [h[-1], (x + bow, 0.5), (x + bow * 0.5, 0.82), (x - sweep * 0.5, 1.0), (x - sweep, 0.86)]
    if r.random() < 0.5:  # back up towards the stem: an 8's lower loop
        pts += [(x - sweep * 0.8, 0.66), (x - r.uniform(0.0, 0.12), 2 * ry + r.uniform(0.0, 0.08))]
    return [_cat(h, _spline(pts)[1:])]


def _nine_straight_slant(r):
    # a round head with a straight stem slanting down to the left, as fast writers make it
    rx, ry = r.uniform(0.2, 0.3), r.uniform(0.18, 0.26)
    cx, start = 0.4, r.uniform(-20, 20)
    h = _arc(cx, ry, rx, ry, start, start - 360)
    return [_cat(h, _line(h[-1], (cx + rx - r.uniform(0.25, 0.45), 1.0))[1:])]


def _one_long_flag(r):
    # continental 1 with a long flag (half to three quarters of the height) and no base
    drop = r.uniform(0.45, 0.75)
    th = math.radians(r.uniform(30, 60))
    reach = min(drop / math.tan(th), 0.8)
    lean = r.uniform(-0.1, 0.06)
    top = (0.55, 0.0)
    return [_line((top[0] - reach, reach * math.tan(th)), top, (top[0] + lean, 1.0))]


def _four_loop(r):
    # a closed top drawn as one rounded stroke down from the stem's top, round to the bar and
    # back through the stem: the top looks like a 6's loop
    bar = r.uniform(0.5, 0.68)
    stem = r.uniform(0.5, 0.62)
    top = (stem, r.uniform(0.0, 0.06))
    loop = _spline([top, (stem - 0.3, 0.18 + r.uniform(0, 0.1)), (0.02, bar - 0.12), (0.12, bar),
                    (stem, bar + r.uniform(-0.03, 0.03)), (stem + r.uniform(0.1, 0.25), bar - r.uniform(0, 0.05))])
    return [loop, _line(top, (stem + r.uniform(-0.05, 0.03), 1.0))]


class Style(NamedTuple):
    digit: int
    description: str


_SKELETONS: dict[str, tuple[int, str, Skeleton]] = {
    "0": (0, "oval, drawn from the top anticlockwise", _zero),
    "1": (1, "single down-stroke, sometimes a short tick", _one),
    "1-flag": (1, "continental 1: long up-stroke flag, a third to half the height", _one_flag),
    "1-flag-foot": (1, "continental 1 with a flag and a foot", lambda r: _one_flag(r, foot=True)),
    "2": (2, "arc, diagonal, flat base", _two),
    "2-loop": (2, "2 with a loop where the diagonal meets the base", _two_loop),
    "3": (3, "two bowls in one stroke", _three),
    "4": (4, "open top in two strokes: arm and bar, then the stem", _four),
    "4-closed": (4, "printed 4: diagonal from the stem's top", _four_closed),
    "4-zigzag": (4, "open 4 in one zig-zag stroke: arm, bar, up and down the stem", _four_zigzag),
    "4-cross": (4, "open 4 of box-filled scans: diagonal, long bar, the stem crossing it", _four_cross),
    "5": (5, "stem and belly, top bar as a second stroke", _five),
    "6": (6, "curved stem into a bottom loop", _six),
    "7": (7, "bar and diagonal", _seven),
    "7-crossed": (7, "7 with a bar across the stem", _seven_crossed),
    "7-hook": (7, "7 whose bar starts with a downward hook", _seven_hook),
    "8": (8, "figure eight in one stroke", _eight),
    "9": (9, "round head, straight stem", _nine_plain),
    "9-curl": (9, "9 with a tail curled or hooked to the left, like a g", _nine_curl),
    "9-tiny-head": (9, "9 with a small head on a long stem", _nine_tiny_head),
    "9-long-tail": (9, "9 with a small high head and a long tail, straight or curled (q or g)", _nine_long_tail),
    "9-bowl-tail": (9, "9 whose tail sweeps far back left, like a 3's lower half or an 8's loop", _nine_bowl_tail),
    "9-slant-stem": (9, "9 with a straight stem slanting down to the left", _nine_straight_slant),
    "1-long-flag": (1, "continental 1: a flag half to three quarters of the height, no base", _one_long_flag),
    "4-loop": (4, "4 whose closed top is one rounded stroke, like a 6's loop", _four_loop),
}

STYLES: dict[str, Style] = {name: Style(d, desc) for name, (d, desc, _) in _SKELETONS.items()}


def styles_for(digit: int) -> list[str]:
    """The names of every style of one digit."""
    return [name for name, s in STYLES.items() if s.digit == digit]


# --- how a digit is drawn ---------------------------------------------------------------------

@dataclass(frozen=True)
class Options:
    """Ranges the random drawing is taken from. Widths are in digit heights.

    A 280 px canvas with the app's 18 px brush and a 200 px digit gives 0.09; its thinnest
    brush 0.02. ``p_*`` are shares of the digits drawn that way.
    """

    pen: tuple[float, float] = (0.025, 0.15)  # log-uniform
    p_bold: float = 0.1  # very bold strokes, as binary scans of felt pens have
    bold: tuple[float, float] = (0.15, 0.28)
    p_pressure: float = 0.3  # width varies along the stroke (a tablet's pressure)
    jitter: float = 0.03  # amplitude of the smooth wobble
    slant: tuple[float, float] = (-0.35, 0.35)  # shear; > 0 leans the top to the right
    rotate: float = 8.0  # degrees, either way
    aspect: tuple[float, float] = (0.8, 1.25)  # width multiplier, log-uniform
    p_stretch: float = 0.12  # stretched to fill a square box (wide 1s, squat 0s and 9s)
    p_scan: float = 0.12  # a binary low-resolution scan of the digit
    scan: tuple[int, int] = (14, 32)  # the scan's side in pixels

    def with_(self, **changes) -> "Options":
        return replace(self, **changes)


DEFAULT = Options()


class _Drawing(NamedTuple):
    segments: np.ndarray  # (S, 2, 2): segment ends (x, y)
    radii: np.ndarray  # (S, 2): pen radius at each end
    scan: int  # 0, or the side of a binary scan in pixels


def _straight(stem: np.ndarray, bend: float = 0.12) -> bool:
    """Whether a stroke's (segments') points stay within ``bend`` of its length off the chord.

    Box-filling stretch multiplies the wobble of a thin digit up to three times: a 1 then
    zig-zags like a 2 or a z. Real 1s, stretched or not, stay a nearly straight stroke."""
    pts = np.concatenate([stem[:, 0], stem[-1:, 1]])
    chord = pts[-1] - pts[0]
    length = float(np.hypot(*chord))
    if length == 0:
        return False
    off = np.abs(chord[0] * (pts[:, 1] - pts[0, 1]) - chord[1] * (pts[:, 0] - pts[0, 0])) / length
    return float(off.max()) <= bend * length


def _one_reads_as_one(seg: np.ndarray) -> bool:
    """A plain 1 (with or without its tick, the first of its two legs) is a straight stem."""
    return _straight(seg[4:8] if len(seg) == 8 else seg[:4])


def _flag_reads_as_one(seg: np.ndarray) -> bool:
    """Whether a continental 1, as finally drawn, still has a flag and a straight stem.

    Slant, rotation and wobble can turn the flag to the right of the apex or bend the stem;
    then it is no longer a 1's shape. A flat flag is kept: the flag of real continental 1s
    slopes 20-45 degrees, a 7's bar not at all, and the data carries that difference.
    """
    apex = seg[3, 1]  # the skeleton's first stroke: 4 flag segments, then 4 stem segments
    flag, stem = seg[0, 0] - apex, seg[7, 1] - apex
    if flag[0] >= 0 or flag[1] <= 0:  # turned right of the apex, or up: no longer a flag
        return False
    return float(np.hypot(*flag)) <= 1.1 * float(np.hypot(*stem)) and _straight(seg[4:8])


# drawings a style redraws (same generator, so still deterministic) until they pass
_READS_RIGHT: dict[str, Callable[[np.ndarray], bool]] = {
    "1": _one_reads_as_one,
    "1-flag": _flag_reads_as_one,
    "1-flag-foot": _flag_reads_as_one,
    "1-long-flag": _flag_reads_as_one,
}


def _draw(name: str, rng: np.random.Generator, o: Options) -> _Drawing:
    check = _READS_RIGHT.get(name)
    for _ in range(50):
        d = _draw_once(name, rng, o)
        if check is None or check(d.segments):
            return d
    return d


def _draw_once(name: str, rng: np.random.Generator, o: Options) -> _Drawing:
    strokes = _SKELETONS[name][2](rng)
    aspect = math.exp(rng.uniform(math.log(o.aspect[0]), math.log(o.aspect[1])))
    slant = rng.uniform(*o.slant)
    rot = math.radians(rng.uniform(-o.rotate, o.rotate))
    # smooth wobble: two low-frequency waves per axis, the same for every stroke
    amp = rng.normal(0, o.jitter, 4)
    freq = rng.uniform(0.5, 1.6, 4) * 2 * math.pi
    phase = rng.uniform(0, 2 * math.pi, 4)
    bold = rng.random() < o.p_bold
    lo, hi = o.bold if bold else o.pen
    width = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    pressure = rng.random() < o.p_pressure
    stretch = rng.random() < o.p_stretch
    scan = int(rng.integers(o.scan[0], o.scan[1] + 1)) if rng.random() < o.p_scan else 0
    c, s = math.cos(rot), math.sin(rot)
    sizes = [len(st) for st in strokes]
    p = np.concatenate(strokes) + np.repeat(rng.normal(0, o.jitter * 0.4, (len(strokes), 2)), sizes, 0)
    x = (p[:, 0] - 0.3) * aspect  # strokes never meet exactly: each is nudged on its own
    y = p[:, 1] - 0.5
    x, y = c * x - s * y, s * x + c * y
    x = x - slant * y
    x, y = (x + amp[0] * np.sin(freq[0] * y + phase[0]) + amp[1] * np.sin(freq[1] * x + phase[1]),
            y + amp[2] * np.sin(freq[2] * x + phase[2]) + amp[3] * np.sin(freq[3] * y + phase[3]))
    r = np.full(len(x), width / 2)
    if pressure:  # the app's tablet pen: 0.25..1.2 of the brush, lighter where a stroke starts and ends
        t = np.concatenate([np.linspace(0, 1, k) for k in sizes])
        prof = 0.7 + 0.35 * np.sin(2 * math.pi * rng.uniform(0.5, 1.5) * t + rng.uniform(0, 6.3))
        r = r * np.clip(prof * np.minimum(1, 0.4 + 3 * t) * np.minimum(1, 0.4 + 3 * (1 - t)), 0.25, 1.2)
    pts = np.stack([x, y], axis=1)
    keep = np.ones(len(x) - 1, dtype=bool)
    keep[np.cumsum(sizes)[:-1] - 1] = False  # no segment joins the end of one stroke to the next
    seg = np.stack([pts[:-1], pts[1:]], axis=1)[keep]
    rad = np.stack([r[:-1], r[1:]], axis=1)[keep]
    if stretch:
        lo_, hi_ = _extent(seg, rad)
        w, h = hi_ - lo_
        k = min(h / max(w, 1e-6), 3.0)
        if k > 1:
            seg = seg * np.array([k, 1.0])
    return _Drawing(seg, rad, scan)


def _extent(seg: np.ndarray, rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ink's box corners (x, y): the skeleton grown by the pen (round caps)."""
    r = rad[..., None]
    return (seg - r).reshape(-1, 2).min(0), (seg + r).reshape(-1, 2).max(0)


@lru_cache(maxsize=64)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres of an h x w grid as (P, 1) columns."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    return xs.reshape(-1, 1), ys.reshape(-1, 1)


def _coverage(seg: np.ndarray, rad: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area each pixel of an h x w grid gets of round-capped strokes (coordinates in pixels).

    Distance to each segment with a one-pixel ramp at the edge; a pen thinner than a pixel
    covers its width's share, as an area-averaging downscale of a sharp drawing does.
    """
    px, py = _grid(h, w)
    seg = seg.astype(np.float32)
    ax, ay = seg[:, 0, 0], seg[:, 0, 1]
    dx, dy = seg[:, 1, 0] - ax, seg[:, 1, 1] - ay
    inv = 1.0 / np.maximum(dx * dx + dy * dy, 1e-12)
    qx, qy = px - ax, py - ay  # (P, S): every pixel against every segment
    t = qx * (dx * inv)
    t += qy * (dy * inv)
    np.clip(t, 0.0, 1.0, out=t)
    qx -= t * dx
    qy -= t * dy
    qx *= qx
    qy *= qy
    qx += qy
    np.sqrt(qx, out=qx)  # distance to the segment
    r0 = rad[:, 0].astype(np.float32)
    r = t * (rad[:, 1].astype(np.float32) - r0)
    r += r0
    cov = np.minimum(r + 0.5 - qx, 2 * r)
    return np.clip(cov.max(1), 0.0, 1.0).reshape(h, w)


def _scan_bitmap(dr: _Drawing, lo: np.ndarray, k: float, bh: int, bw: int) -> np.ndarray:
    """Ink / no ink at scan resolution; a scanner's threshold keeps even a thin pen's line
    (at least one pixel wide) unbroken."""
    return _coverage((dr.segments - lo) * k, np.maximum(dr.radii * k, 0.55), bh, bw) >= 0.5


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in): the share of each input pixel in each output pixel (a BOX resize)."""
    edges_in = np.arange(n_in + 1) / n_in
    edges_out = np.arange(n_out + 1) / n_out
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    return np.clip(hi - lo, 0, None) * n_out


def _to_box(dr: _Drawing) -> np.ndarray:
    """The digit as preprocess's scaled crop: longer side BOX px, ink 0..1, brightest = 1."""
    lo, hi = _extent(dr.segments, dr.radii)
    w, h = hi - lo
    if dr.scan:
        # a binary scan: the digit filling a scan x scan bitmap (one pixel margin) ...
        k = (dr.scan - 2) / max(w, h)
        bh, bw = max(1, round(h * k)), max(1, round(w * k))
        bitmap = _scan_bitmap(dr, lo, k, bh, bw)
        rows, cols = np.flatnonzero(bitmap.any(1)), np.flatnonzero(bitmap.any(0))
        bitmap = bitmap[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)
        # ... enlarged (nearest) and area-averaged into the box, as preprocess does with it
        bh, bw = bitmap.shape
        s = BOX / max(bh, bw)
        nh, nw = max(1, round(bh * s)), max(1, round(bw * s))
        img = _area_weights(bh, nh) @ bitmap @ _area_weights(bw, nw).T
    else:
        s = BOX / max(w, h)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        scale = np.array([nw / w, nh / h])
        img = _coverage((dr.segments - lo) * scale, dr.radii * s, nh, nw)
    top = img.max()
    return (img / top).astype(np.float32) if top > 0 else img.astype(np.float32)


def _mnist_like(dr: _Drawing) -> np.ndarray:
    return np.rint(place_by_mass(_to_box(dr)) * 255).astype(np.uint8)


def _canvas(dr: _Drawing, rng: np.random.Generator, size: int) -> np.ndarray:
    """The drawing on a size x size canvas, dark on light: random size and place."""
    lo, hi = _extent(dr.segments, dr.radii)
    w, h = hi - lo
    tall = rng.uniform(0.45, 0.85) * size  # the digit's taller side, in canvas pixels
    k = tall / max(w, h)
    x0 = rng.uniform(0.04 * size, max(0.04 * size, size * 0.96 - w * k))
    y0 = rng.uniform(0.04 * size, max(0.04 * size, size * 0.96 - h * k))
    if dr.scan:
        # a scan shown on screen: the binary bitmap enlarged with hard pixel edges
        kb = (dr.scan - 2) / max(w, h)
        bh, bw = max(1, round(h * kb)), max(1, round(w * kb))
        bitmap = _scan_bitmap(dr, lo, kb, bh, bw)
        ry = np.minimum((np.arange(round(h * k)) / (h * k) * bh).astype(int), bh - 1)
        rx = np.minimum((np.arange(round(w * k)) / (w * k) * bw).astype(int), bw - 1)
        ink = np.zeros((size, size), dtype=np.float32)
        big = bitmap[ry][:, rx].astype(np.float32)
        iy, ix = int(y0), int(x0)
        big = big[:size - iy, :size - ix]
        ink[iy:iy + big.shape[0], ix:ix + big.shape[1]] = big
    else:
        seg = (dr.segments - lo) * k + np.array([x0, y0])
        rad = dr.radii * k
        # only the ink's box is rasterised, in row bands to bound the memory
        bx0, by0 = int(x0) - 1, int(y0) - 1
        bw_, bh_ = min(size - bx0, int(w * k) + 4), min(size - by0, int(h * k) + 4)
        ink = np.zeros((size, size), dtype=np.float32)
        band = max(1, 8192 // max(1, bw_))
        for r0 in range(0, bh_, band):
            rows = min(band, bh_ - r0)
            ink[by0 + r0:by0 + r0 + rows, bx0:bx0 + bw_] = _coverage(
                seg - np.array([bx0, by0 + r0]), rad, rows, bw_)
    return np.rint(255 - ink * 230).astype(np.uint8)  # dark grey ink on white, as a pen leaves


# --- public API ----------------------------------------------------------------------------

def _options(opts: Options | None, overrides: dict) -> Options:
    o = opts or DEFAULT
    return replace(o, **overrides) if overrides else o


def render_style(name: str, n: int, seed: int, options: Options | None = None, **overrides) -> np.ndarray:
    """n digits of one style, MNIST-like: (n, 28, 28) uint8, ink bright on black.

    ``options`` (default :data:`DEFAULT`) and keyword overrides of its fields, e.g.
    ``render_style("1-flag", 100, seed=0, p_stretch=1.0)`` for only box-filling ones.
    """
    if name not in STYLES:
        raise KeyError(f"unknown style {name!r}; known: {', '.join(STYLES)}")
    o = _options(options, overrides)
    rng = np.random.default_rng(seed)
    out = np.empty((n, FIELD, FIELD), dtype=np.uint8)
    for i in range(n):
        out[i] = _mnist_like(_draw(name, rng, o))
    return out


def render_canvas(name: str, n: int, seed: int, size: int = 280, options: Options | None = None,
                  **overrides) -> np.ndarray:
    """n digits of one style as the app's canvas holds them: (n, size, size) uint8, dark ink on
    light, the digit at a random size and place. Feed them to ``preprocess`` / ``Predictor``."""
    if name not in STYLES:
        raise KeyError(f"unknown style {name!r}; known: {', '.join(STYLES)}")
    o = _options(options, overrides)
    rng = np.random.default_rng(seed)
    return np.stack([_canvas(_draw(name, rng, o), rng, size) for _ in range(n)]) if n else \
        np.zeros((0, size, size), np.uint8)


def render_digits(n: int, seed: int, styles: list[str] | None = None, options: Options | None = None,
                  **overrides) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """n MNIST-like digits, (images (n, 28, 28) uint8, labels (n,) int64, style names).

    Labels are balanced over the digits the chosen ``styles`` cover (default: every style);
    within a digit each of its styles is equally likely.
    """
    names = list(styles) if styles is not None else list(STYLES)
    for name in names:
        if name not in STYLES:
            raise KeyError(f"unknown style {name!r}; known: {', '.join(STYLES)}")
    by_digit: dict[int, list[str]] = {}
    for name in names:
        by_digit.setdefault(STYLES[name].digit, []).append(name)
    digits = sorted(by_digit)
    o = _options(options, overrides)
    rng = np.random.default_rng(seed)
    labels = np.array(digits, dtype=np.int64)[np.arange(n) % len(digits)] if digits else np.zeros(0, np.int64)
    rng.shuffle(labels)
    chosen = [by_digit[int(d)][int(rng.integers(len(by_digit[int(d)])))] for d in labels]
    images = np.empty((n, FIELD, FIELD), dtype=np.uint8)
    for i, name in enumerate(chosen):
        images[i] = _mnist_like(_draw(name, rng, o))
    return images, labels, chosen


def synth_pool(n: int, seed: int, device="cpu", styles: list[str] | None = None,
               options: Options | None = None):
    """A training pool: float images (n, 1, 28, 28) in [0, 1] and int64 labels, on ``device``."""
    import torch

    x, y, _ = render_digits(n, seed, styles, options)
    return (torch.from_numpy(x).unsqueeze(1).float().div_(255.0).to(device),
            torch.from_numpy(y).to(device))


@dataclass(frozen=True)
class Writer:
    """One person's hand: a style per digit and steady habits (slant, pen, proportions).

    Each digit they write varies a little around those habits; two writers with different
    seeds differ. ``render`` gives MNIST-like images, ``render_canvas`` canvases.
    """

    seed: int
    styles: dict  # digit -> style name
    options: Options

    def render(self, digit: int, n: int, seed: int) -> np.ndarray:
        return render_style(self.styles[digit], n, _mix(self.seed, digit, seed), self.options)

    def render_canvas(self, digit: int, n: int, seed: int, size: int = 280) -> np.ndarray:
        return render_canvas(self.styles[digit], n, _mix(self.seed, digit, seed), size, self.options)


def _mix(*parts: int) -> list[int]:
    return [int(p) & 0xFFFFFFFF for p in parts]


def make_writer(seed: int, styles: list[str] | None = None) -> Writer:
    """A random writer: for each digit one of its ``styles`` (default: all), and habits drawn
    around :data:`DEFAULT` (a slant, a pen width, an aspect, pressure or not, box-filling or not)."""
    rng = np.random.default_rng(_mix(0x5717E5, seed))
    pool = list(styles) if styles is not None else list(STYLES)
    chosen = {}
    for d in range(10):
        mine = [s for s in pool if STYLES[s].digit == d] or styles_for(d)
        chosen[d] = mine[int(rng.integers(len(mine)))]
    slant = rng.uniform(*DEFAULT.slant)
    pen = math.exp(rng.uniform(math.log(DEFAULT.pen[0]), math.log(DEFAULT.bold[1] * 0.8)))
    aspect = math.exp(rng.uniform(math.log(DEFAULT.aspect[0]), math.log(DEFAULT.aspect[1])))
    boxy = rng.random() < 0.25
    scans = rng.random() < 0.2
    opts = DEFAULT.with_(
        pen=(pen * 0.85, pen * 1.15), p_bold=0.0, p_pressure=float(rng.random() < 0.3),
        slant=(slant - 0.06, slant + 0.06), rotate=4.0, aspect=(aspect * 0.93, aspect * 1.07),
        jitter=rng.uniform(0.015, 0.04), p_stretch=0.8 if boxy else 0.0, p_scan=0.9 if scans else 0.0)
    return Writer(seed, chosen, opts)
