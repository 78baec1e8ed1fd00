"""On-device batch augmentation that makes MNIST look like other people's handwriting.

Real digits that reach digitpad differ from MNIST in ways preprocessing cannot undo: pen
thickness, hard binary edges, blocky low-resolution scans, slant, imperfect centring. Each
batch gets a random affine warp (rotation, scale, shear, shift) and, for a random share of
samples, one of: a thicker pen (dilation), a thinner pen (erosion), binarisation, or a
low-resolution round trip. Independently, a share is box-normalised: stretched to fill a square
in both directions, as many scanning and OCR pipelines do before the digit reaches us (a 1's
flag then spans the whole width, a 4 or 9 turns squat), then centred by mass as preprocess
does. Everything is a batched tensor op, so it costs little beside the training step and runs
on the GPU when training does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentSpec:
    rotate_deg: float = 12.0
    scale: tuple[float, float] = (0.85, 1.12)
    shear: float = 0.25
    shift_px: float = 2.5
    p_thick: float = 0.15
    p_thin: float = 0.20
    p_binary: float = 0.12
    p_lowres: float = 0.12
    # box-normalised share: chosen on box-normalised MNIST validation digits and the held-out
    # styles (scripts/bench_robustness.py --proxy), never on the test set
    p_box: float = 0.15
    # scan-like share: the digit as a box-filled thin-pen binary 16 px scan read back to 28x28
    # (scan_like: the scanner's generic pipeline, never the proxy's writers' shapes); 0: none
    p_scan: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _affine(x: torch.Tensor, spec: AugmentSpec, gen: torch.Generator | None) -> torch.Tensor:
    n = x.shape[0]
    dev = x.device

    def uni(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen, device=dev) * (hi - lo) + lo

    ang = uni(-spec.rotate_deg, spec.rotate_deg) * (math.pi / 180.0)
    scale = uni(*spec.scale)
    shear = uni(-spec.shear, spec.shear)
    # shift in normalised coords: 2/28 per pixel
    tx = uni(-spec.shift_px, spec.shift_px) * (2.0 / 28.0)
    ty = uni(-spec.shift_px, spec.shift_px) * (2.0 / 28.0)
    cos, sin = torch.cos(ang), torch.sin(ang)
    # affine_grid maps output -> input coords, so invert the scale (bigger digit = shrink grid)
    inv = 1.0 / scale
    theta = torch.empty(n, 2, 3, device=dev)
    theta[:, 0, 0] = cos * inv
    theta[:, 0, 1] = (-sin + shear * cos) * inv
    theta[:, 1, 0] = sin * inv
    theta[:, 1, 1] = (cos + shear * sin) * inv
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _dilate(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=1, padding=1)


def _erode2(x: torch.Tensor) -> torch.Tensor:
    # a 2x2 minimum thins MNIST's 2-3 px strokes without erasing them; pad keeps 28x28
    return -F.max_pool2d(F.pad(-x, (0, 1, 0, 1), value=-1.0), 2, stride=1)


def _lowres(x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    size = int(torch.randint(13, 21, (1,), generator=gen, device="cpu" if gen is None else gen.device).item())
    small = F.interpolate(x, size=(size, size), mode="area")
    return F.interpolate(small, size=(28, 28), mode="bilinear", align_corners=False)


def box_fill(x: torch.Tensor, box: int = 20, field: int = 28, centre: float = 14.0) -> torch.Tensor:
    """Each image's ink stretched to fill a box x box square, its centre of mass at ``centre``.

    The ink's extent is taken where it passes a quarter of the image's brightest ink (as
    preprocess's mask does); a blank image stays as it is.
    """
    n = x.shape[0]
    dev = x.device
    img = x[:, 0]
    peak = img.flatten(1).amax(1).clamp_min(1e-6)
    ink = img > 0.25 * peak.view(n, 1, 1)
    idx = torch.arange(field, device=dev)

    def extent(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lo = torch.where(mask, idx, field).amin(1).float()
        hi = (torch.where(mask, idx, -1).amax(1) + 1).float()
        return lo, hi

    x0, x1 = extent(ink.any(1))
    y0, y1 = extent(ink.any(2))
    blank = x1 <= x0
    w = (x1 - x0).clamp_min(1.0)
    h = (y1 - y0).clamp_min(1.0)
    # centre of mass (pixel edges as coordinates) of the ink, and where the stretch puts it
    mass = img.sum((1, 2)).clamp_min(1e-6)
    pos = idx.float() + 0.5
    cx = (img.sum(1) * pos).sum(1) / mass
    cy = (img.sum(2) * pos).sum(1) / mass
    lo_box = (field - box) / 2.0
    dx = centre + 0.5 - (lo_box + (cx - x0) * box / w)
    dy = centre + 0.5 - (lo_box + (cy - y0) * box / h)
    half = field / 2.0
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0] = w / box
    theta[:, 1, 1] = h / box
    theta[:, 0, 2] = (x0 + (half - lo_box - dx) * w / box) / half - 1.0
    theta[:, 1, 2] = (y0 + (half - lo_box - dy) * h / box) / half - 1.0
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return torch.where(blank.view(n, 1, 1, 1), x, out)


def _ink_extent(img: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(x0, x1, y0, y1) of each image's ink (N, H, W), where it passes a quarter of its peak."""
    n, h, w = img.shape
    peak = img.flatten(1).amax(1).clamp_min(1e-6)
    ink = img > 0.25 * peak.view(n, 1, 1)

    def extent(mask: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.arange(size, device=img.device)
        lo = torch.where(mask, idx, size).amin(1).float()
        hi = (torch.where(mask, idx, -1).amax(1) + 1).float()
        return lo, hi

    x0, x1 = extent(ink.any(1), w)
    y0, y1 = extent(ink.any(2), h)
    return x0, x1, y0, y1


def stretch_to(x: torch.Tensor, side: int) -> torch.Tensor:
    """Each image's ink box stretched to fill side x side both ways (bilinear), as scanning
    pipelines leave digits; a blank image gives a blank square."""
    n, _, h, w = x.shape
    x0, x1, y0, y1 = _ink_extent(x[:, 0])
    blank = x1 <= x0
    x1, y1 = torch.where(blank, x0 + 1, x1), torch.where(blank, y0 + 1, y1)
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = (x1 - x0) / w
    theta[:, 1, 1] = (y1 - y0) / h
    theta[:, 0, 2] = (x0 + x1) / w - 1.0
    theta[:, 1, 2] = (y0 + y1) / h - 1.0
    grid = F.affine_grid(theta, [n, 1, side, side], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return torch.where(blank.view(n, 1, 1, 1), torch.zeros_like(out), out)


def skeleton(mask: torch.Tensor, max_rounds: int = 64) -> torch.Tensor:
    """1-px centre lines of a batch of binary images (N, 1, H, W) (Zhang-Suen thinning)."""
    img = F.pad(mask[:, 0].bool(), (1, 1, 1, 1))
    for _ in range(max_rounds):
        changed = False
        for step in (0, 1):
            c = img[:, 1:-1, 1:-1]
            p2, p3, p4 = img[:, :-2, 1:-1], img[:, :-2, 2:], img[:, 1:-1, 2:]
            p5, p6, p7 = img[:, 2:, 2:], img[:, 2:, 1:-1], img[:, 2:, :-2]
            p8, p9 = img[:, 1:-1, :-2], img[:, :-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            b = sum(p.to(torch.uint8) for p in ring[:8])
            a = sum((~ring[k] & ring[k + 1]).to(torch.uint8) for k in range(8))
            if step == 0:
                cond = ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
            else:
                cond = ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
            kill = c & (b >= 2) & (b <= 6) & (a == 1) & cond
            if bool(kill.any()):
                changed = True
                img = img.clone()
                img[:, 1:-1, 1:-1] = c & ~kill
        if not changed:
            break
    return img[:, 1:-1, 1:-1].unsqueeze(1)


def _disc_dilate(mask: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Each binary image (N, 1, H, W) grown by a disc of its own radius (pixels, (N,))."""
    r_max = max(0, int(math.ceil(float(radius.max())))) if radius.numel() else 0
    k = torch.arange(-r_max, r_max + 1, device=mask.device, dtype=torch.float32)
    d2 = k.view(-1, 1) ** 2 + k.view(1, -1) ** 2
    out = torch.zeros(mask.shape, dtype=torch.bool, device=mask.device)
    m = mask.float()
    # one pass per distinct radius class: the batch shares the unfold of the largest disc
    for r in torch.unique(radius):
        pick = radius == r
        disc = (d2 <= float(r) ** 2 + 1e-6).float().view(1, 1, *d2.shape)
        grown = F.conv2d(m[pick], disc, padding=r_max) > 0.5
        out[pick] = grown
    return out


def repen(x: torch.Tensor, width: torch.Tensor, scale: int = 4, threshold: float = 0.35) -> torch.Tensor:
    """Stroke-width normalisation: each image thinned to its skeleton and redrawn with a pen of
    ``width`` pixels (of x's grid; (N,) or a number), anti-aliased: a 1-px binary scan and a thick
    mouse stroke become the same kind of line. Ink is where x passes ``threshold`` of its peak,
    thinned at ``scale`` times x's resolution."""
    n, _, h, w = x.shape
    width = torch.as_tensor(width, dtype=torch.float32, device=x.device).expand(n)
    big = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    peak = big.flatten(1).amax(1).clamp_min(1e-6).view(n, 1, 1, 1)
    line = skeleton(big > threshold * peak)
    radius = (width * scale / 2).round() / 1.0
    pen = _disc_dilate(line, radius).float()
    return F.avg_pool2d(pen, scale)


SCAN_K = 4  # a scan's line is drawn at this many times the scan's resolution


def pen_scan(line: torch.Tensor, pen: torch.Tensor, k: int = SCAN_K) -> torch.Tensor:
    """A 1-px line mask (N, 1, k*S, k*S) drawn with a round pen ``pen`` scan pixels wide ((N,)
    or a number) and binarised at S px: ink where at least half a scan pixel is covered, as a
    scanner's threshold leaves it. (N, 1, S, S) float of 0 / 1. The one pen of the 16 px scans:
    ``thin_scan`` (training) and scripts/_scan16.py (the proxy) both draw with it."""
    n = line.shape[0]
    radius = torch.as_tensor(pen, dtype=torch.float32, device=line.device).expand(n) * k / 2
    cover = F.avg_pool2d(_disc_dilate(line.bool(), radius.round()).float(), k)
    return (cover >= 0.5).float()


# each 8-neighbour pair of skeleton pixels once: (dy, dx)
_NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (1, -1))


def skeleton_segments(x: torch.Tensor, scale: int = 2, threshold: float = 0.35
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each digit's skeleton (thinned at ``scale`` times x's resolution) as line segments:
    ``segs`` (M, 2, 2) of (x, y) end points in x's pixel coordinates (pixel edges, so a pixel's
    centre is i + 0.5) and ``owner`` (M,), the image each belongs to; an isolated skeleton
    pixel (a dot) is a segment of length 0. Per image, segments come neighbour direction by
    direction in reading order, then the dots, so a caller editing one digit's segments
    (scripts/_scan16.py's writers' shapes) sees them in a fixed order."""
    n = x.shape[0]
    big = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    peak = big.flatten(1).amax(1).clamp_min(1e-6).view(n, 1, 1, 1)
    skel = skeleton(big > threshold * peak)[:, 0]
    h, w = skel.shape[1:]
    pad = F.pad(skel, (1, 1, 0, 1))  # so every neighbour of a pixel can be looked up
    segs, owner = [], []
    for dy, dx in _NEIGHBOURS:
        pair = skel & pad[:, dy:dy + h, 1 + dx:1 + dx + w]
        i, ys, xs = pair.nonzero(as_tuple=True)
        a = torch.stack([xs, ys], 1)
        segs.append(torch.stack([a, a + torch.tensor([dx, dy], device=x.device)], 1))
        owner.append(i)
    i, ys, xs = skel.nonzero(as_tuple=True)
    a = torch.stack([xs, ys], 1)
    segs.append(torch.stack([a, a], 1))
    owner.append(i)
    segs_t, owner_t = torch.cat(segs), torch.cat(owner)
    order = torch.sort(owner_t, stable=True).indices  # grouped by image, each group's order kept
    return (segs_t[order].float() + 0.5) / scale, owner_t[order]


def raster_lines(segs: torch.Tensor, owner: torch.Tensor, boxes: torch.Tensor, n: int,
                 size: int) -> torch.Tensor:
    """Segments (M, 2, 2) of image ``owner`` mapped from its box ((n, 4): x0, y0, x1, y1) onto a
    size x size grid and drawn as 1-px lines: (n, 1, size, size) bool. Each image's segments are
    sampled at its own step (twice per grid pixel of its longest segment), so stretching a digit
    into the box never breaks its line."""
    out = torch.zeros(n, size, size, dtype=torch.bool, device=segs.device)
    if not segs.shape[0]:
        return out.unsqueeze(1)
    # double precision, the samples' fractions in single: where a sample lands on a pixel's
    # edge, the pixel it falls in stays the one the proxy's figures were measured with
    box = boxes.double()[owner]
    lo = box[:, :2]
    sc = size / (box[:, 2:] - lo).clamp_min(1e-3)
    a = (segs[:, 0].double() - lo) * sc
    b = (segs[:, 1].double() - lo) * sc
    longest = torch.zeros(n, dtype=torch.float64, device=segs.device).scatter_reduce(
        0, owner, (b - a).abs().amax(1), "amax", include_self=True)
    steps = (torch.ceil(longest * 2) + 1).long()  # samples per segment, per image
    k = int(steps.max())
    per = steps[owner].view(-1, 1)
    i = torch.arange(k, device=segs.device).view(1, -1).minimum(per - 1)
    t = (i * (1.0 / (per - 1).clamp_min(1).double())).float()
    t = torch.where(i == per - 1, 1.0, t).double().unsqueeze(-1)
    pts = (a.unsqueeze(1) + (b - a).unsqueeze(1) * t).reshape(-1, 2)
    ij = torch.floor(pts).long().clamp_(0, size - 1)
    img = owner.repeat_interleave(k)
    out[img, ij[:, 1], ij[:, 0]] = True
    return out.unsqueeze(1)


def ink_boxes(x: torch.Tensor) -> torch.Tensor:
    """(N, 4) x0, y0, x1, y1 of each image's ink (a quarter of its peak), pixel edges."""
    x0, x1, y0, y1 = _ink_extent(x[:, 0])
    return torch.stack([x0, y0, x1, y1], 1)


def thin_scan(x: torch.Tensor, pen: torch.Tensor, pixels: int = 16) -> torch.Tensor:
    """Each digit as a box-filled thin-pen binary scan: thinned to its skeleton (at 2x), the
    skeleton mapped into a pixels x pixels square by the ink's box (so it fills the square both
    ways, its line still 1 px), redrawn with a pen ``pen`` scan pixels wide ((N,), 1-2 as real
    16 px scans of thin pens are) and binarised there. (N, 1, pixels, pixels) of 0 / 1; a blank
    image gives a blank scan. Thinning before stretching keeps a 1 a line (stretched first, its
    stroke would fill the square)."""
    n = x.shape[0]
    segs, owner = skeleton_segments(x)
    boxes = ink_boxes(x)
    line = raster_lines(segs, owner, boxes, n, pixels * SCAN_K)
    return pen_scan(line, pen).to(x.dtype)


def fit_box(x: torch.Tensor, box: int = 20, field: int = 28, centre: float = 14.0) -> torch.Tensor:
    """preprocess's last steps, batched: each image's ink box (a quarter of its peak) scaled to
    fit a box x box square keeping its shape (bilinear), put in a field x field image with its
    centre of mass at ``centre``. Any input size (a 16 px scan); a blank image gives a blank one."""
    n, _, h, w = x.shape
    x0, x1, y0, y1 = _ink_extent(x[:, 0])
    blank = x1 <= x0
    x1, y1 = torch.where(blank, x0 + 1, x1), torch.where(blank, y0 + 1, y1)
    s = box / torch.maximum(x1 - x0, y1 - y0)  # output pixels per input pixel
    img = x[:, 0]
    mass = img.sum((1, 2)).clamp_min(1e-6)
    cx = (img.sum(1) * (torch.arange(w, device=x.device) + 0.5)).sum(1) / mass
    cy = (img.sum(2) * (torch.arange(h, device=x.device) + 0.5)).sum(1) / mass
    # output pixel u (edge coordinates) reads input (u - c_out) / s + c: the mass lands on c_out,
    # pixel index ``centre`` as preprocess.place_by_mass puts it
    half, c_out = field / 2.0, centre + 0.5
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = field / (s * w)
    theta[:, 1, 1] = field / (s * h)
    theta[:, 0, 2] = ((half - c_out) / s + cx) * 2 / w - 1
    theta[:, 1, 2] = ((half - c_out) / s + cy) * 2 / h - 1
    grid = F.affine_grid(theta, [n, 1, field, field], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return torch.where(blank.view(n, 1, 1, 1), torch.zeros_like(out), out)


def scan_like(x: torch.Tensor, gen: torch.Generator | None = None,
              pen: tuple[float, float] = (1.0, 2.0), pixels: int = 16) -> torch.Tensor:
    """Each digit as a box-filled thin-pen binary scan read back to 28x28, as a 16 px scan
    reaches the model: ``thin_scan`` with a pen drawn from ``pen`` (scan pixels), then
    ``fit_box`` (preprocess's 20 px box and centre of mass). Only the scanner's generic
    pipeline: no writer's shape is changed (those edits stay in scripts/_scan16.py, the proxy)."""
    n = x.shape[0]
    if n == 0:
        return x
    width = torch.rand(n, generator=gen, device=x.device) * (pen[1] - pen[0]) + pen[0]
    return fit_box(thin_scan(x, width, pixels)).clamp_(0.0, 1.0).to(x.dtype)


def elastic(x: torch.Tensor, alpha: float = 34.0, sigma: float = 4.0,
            gen: torch.Generator | None = None) -> torch.Tensor:
    """Elastic distortion (Simard et al. 2003): every pixel moved by a random field, uniform in
    [-1, 1] per pixel, smoothed by a Gaussian of ``sigma`` pixels and scaled by ``alpha``
    pixels; the digit bends as a hand's strokes do, which an affine warp cannot. Not yet part
    of ``augment``'s recipe: it waits for a measured run."""
    n, _, h, w = x.shape
    if n == 0:
        return x
    field = torch.rand(n, 2, h, w, generator=gen, device=x.device) * 2 - 1
    r = max(1, int(math.ceil(3 * sigma)))
    k = torch.arange(-r, r + 1, device=x.device, dtype=torch.float32)
    g = torch.exp(-(k ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    flat = field.reshape(n * 2, 1, h, w)
    flat = F.conv2d(F.pad(flat, (r, r, 0, 0), mode="reflect" if r < w else "replicate"), g.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, r, r), mode="reflect" if r < h else "replicate"), g.view(1, 1, -1, 1))
    shift = flat.view(n, 2, h, w) * alpha
    ys, xs = torch.meshgrid(torch.arange(h, device=x.device, dtype=torch.float32),
                            torch.arange(w, device=x.device, dtype=torch.float32), indexing="ij")
    # grid_sample's coordinates: pixel centres at (2i + 1) / size - 1
    gx = (2 * (xs + shift[:, 0]) + 1) / w - 1
    gy = (2 * (ys + shift[:, 1]) + 1) / h - 1
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment(x: torch.Tensor, spec: AugmentSpec = AugmentSpec(),
            gen: torch.Generator | None = None) -> torch.Tensor:
    """A randomly changed copy of a batch (N, 1, 28, 28) of [0, 1] images."""
    if x.shape[0] == 0:
        return x
    n = x.shape[0]
    dev = x.device
    x = _affine(x, spec, gen)
    warped = x
    if spec.p_box > 0:
        boxed = (torch.rand(n, generator=gen, device=dev) < spec.p_box).view(n, 1, 1, 1)
        x = torch.where(boxed, box_fill(x), x)
    pick = torch.rand(n, generator=gen, device=dev)
    edges = torch.tensor([spec.p_thick, spec.p_thin, spec.p_binary, spec.p_lowres], device=dev).cumsum(0)
    thick = (pick < edges[0]).view(n, 1, 1, 1)
    thin = ((pick >= edges[0]) & (pick < edges[1])).view(n, 1, 1, 1)
    binary = ((pick >= edges[1]) & (pick < edges[2])).view(n, 1, 1, 1)
    lowres = ((pick >= edges[2]) & (pick < edges[3])).view(n, 1, 1, 1)
    x = torch.where(thick, _dilate(x), x)
    x = torch.where(thin, _erode2(x), x)
    x = torch.where(binary, (x > 0.45).to(x.dtype), x)
    x = torch.where(lowres, _lowres(x, gen if gen is None or gen.device.type == "cpu" else None), x)
    if spec.p_scan > 0:
        # in place of the box and pen changes (a scan has its own box, pen and binarising), from
        # the warped digit; only the picked digits are thinned (the skeleton is the costly part)
        scanned = (torch.rand(n, generator=gen, device=dev) < spec.p_scan).nonzero().flatten()
        if scanned.numel():
            x = x.clone()
            x[scanned] = scan_like(warped[scanned].clamp(0.0, 1.0), gen)
    return x.clamp_(0.0, 1.0)
