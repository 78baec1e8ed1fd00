"""A drawing of any size and either polarity -> the 28x28 image an MNIST-trained model expects.

MNIST digits were made like this: the ink's bounding box scaled (keeping the aspect ratio, with
anti-aliasing) so its longer side is 20 px, then placed in a 28x28 field with the centre of mass
at pixel (14, 14), ink bright on black. :func:`preprocess` repeats exactly that for a canvas, a
photo or a scan, and keeps every intermediate so the app can show what the model really gets.

Everything is whole-array numpy plus one PIL resize of the small crop: a 280x280 canvas takes
well under a millisecond.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Literal, Union

import numpy as np
from PIL import Image

from ..io.files import MAX_IMAGE_BYTES, DigitpadError, read_regular_file

# Bumped when preprocessing changes what a model sees; checkpoints record it. Defined here,
# not in checkpoint.py, so reading and preprocessing images never imports torch.
PREPROCESS_VERSION = 1

__all__ = ["PREPROCESS_VERSION", "ImageError", "Preprocessed", "load_image", "preprocess", "preprocess_ink",
           "BOX", "FIELD", "CENTRE"]

# One image's pixel cap: PIL's own decompression-bomb threshold (89.5 megapixels, a quarter
# gigabyte of RGB). Above it PIL only warns (and refuses at twice that); digitpad refuses with
# its own message, so PIL's warning says nothing new and is silenced for the whole process.
MAX_IMAGE_PIXELS = 89_478_485
# WebP has no reduced decode in Pillow (no draft, no tiles): it is decoded whole, at about
# 16 bytes a pixel at the peak (libwebp's RGBA frame, Pillow's copy of it, the image), measured
# 918 MiB for `predict` on a 25-megapixel WebP and 1,513 MiB at 64. This cap keeps predict
# inside its 1 GiB memory budget with torch loaded; a PNG or JPEG of the same image reads.
MAX_WEBP_PIXELS = 24_000_000


def quiet_pil_warnings() -> None:
    """Silence PIL's DecompressionBombWarning, and the UserWarnings its decoders raise about
    damaged metadata ("Tag data larger than file. Skipping tag 278"): the image is then read
    or refused with a message, and a raw warning line on stderr says nothing more.
    Idempotent; called again on each read, in case a warnings context was entered since."""
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")


quiet_pil_warnings()
# What predict and teach keep of a large image: its longer side reduced (box average, right
# after decoding) to at most this, so a folder of 8000x8000 scans never holds more than one
# full-resolution image at a time. A digit of a few hundred pixels still spans dozens here.
WORKING_SIDE = 1024

BOX = 20  # longer side of the digit, as in MNIST
FIELD = 28  # output size
CENTRE = 14.0  # where MNIST puts the centre of mass (row, column), in pixel indices

# Ink detection. Values are in [0, 1] after the background is subtracted.
NOISE_FLOOR = 0.08  # below this a pixel is paper texture / compression noise, never ink
RELATIVE_THRESHOLD = 0.25  # the ink mask keeps pixels above this share of the brightest ink
MIN_NEIGHBOURS = 3  # an ink pixel needs this many ink pixels in its 3x3 patch (itself included)
MIN_INK_SHARE = 2e-4  # less ink than this share of the image (or 3 px) is "nothing drawn"

Polarity = Literal["auto", "light-on-dark", "dark-on-light"]
ImageInput = Union[np.ndarray, str, os.PathLike]

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class ImageError(DigitpadError, ValueError):
    """An image that cannot be used: unreadable, corrupt, not an image, or an odd array."""


@dataclass
class Preprocessed:
    """The result of :func:`preprocess`.

    ``image`` is 28x28 float32 in [0, 1], ink bright (None when ``empty``). ``steps`` are
    ``(title, array)`` pairs in order, each a float32 image with ink bright. ``bbox`` is the
    ink's box in input pixels as ``(x0, y0, x1, y1)`` with exclusive ends (PIL's convention).
    ``polarity`` says what the input was (detected or as told).
    """

    image: np.ndarray | None
    empty: bool
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)
    bbox: tuple[int, int, int, int] | None = None
    polarity: str = "light-on-dark"


# --- reading ------------------------------------------------------------------------------

def load_image(path: str | os.PathLike, max_side: int | None = None) -> np.ndarray:
    """Read an image file into a uint8 array: HxW (gray), HxWx3 (RGB) or HxWx4 (RGBA).

    ``max_side`` (e.g. :data:`WORKING_SIDE`): a larger image comes back reduced so its longer
    side is at most that, and its full-resolution copy is dropped before this returns.
    Any problem raises :class:`ImageError` with a sentence a person understands.
    """
    from PIL import UnidentifiedImageError

    import io

    name = os.fspath(path)
    if not name:
        raise ImageError("An empty path is not an image file.")
    base = os.path.basename(name)
    # a regular file of bounded size, checked before reading: a FIFO or a device never hangs
    blob = read_regular_file(name, MAX_IMAGE_BYTES, ImageError, "image file")
    quiet_pil_warnings()
    try:
        with Image.open(io.BytesIO(blob)) as im:
            w, h = im.size  # from the header: refused before anything is decoded
            if w * h > MAX_IMAGE_PIXELS:
                raise ImageError(_too_many_pixels(base, f"{w}x{h} pixels ({w * h / 1e6:,.0f} "
                                                        "megapixels)"))
            if im.format == "WEBP" and w * h > MAX_WEBP_PIXELS:
                raise ImageError(f"{base} is too large to read as WebP: {w}x{h} pixels "
                                 f"({w * h / 1e6:,.0f} megapixels); WebP images are decoded "
                                 f"whole, so digitpad reads them up to "
                                 f"{MAX_WEBP_PIXELS / 1e6:.0f} megapixels. Save it as PNG or "
                                 "JPEG, or scale it down first.")
            if min(w, h) < 2:  # said here, in the file's own size: reduced, 1x100000 is 1x1021
                raise ImageError(f"{base} is too small ({w}x{h} pixels); a digit needs at "
                                 "least 2x2.")
            if max_side is not None and max(w, h) > max_side:
                return _pil_to_array(_reduced(im, max_side))
            im.load()  # decode now: a truncated file fails here, not later
            return _pil_to_array(im)
    except UnidentifiedImageError:
        raise ImageError(f"{base} is not an image file digitpad can read "
                         "(PNG, JPEG, BMP, GIF, TIFF and WebP work).") from None
    except Image.DecompressionBombError:  # PIL's own refusal, past twice our cap
        raise ImageError(_too_many_pixels(base, "more than twice that many pixels")) from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"{base} is damaged or truncated and cannot be read "
                         f"({' '.join(str(exc).split())}).") from exc


def _too_many_pixels(name: str, what: str) -> str:
    return (f"{name} is too large to read: {what}; digitpad reads images of up to "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels. Scale it down first.")


def _reduced(im: Image.Image, max_side: int) -> Image.Image:
    """``im`` decoded and box-averaged down to a longer side of at most ``max_side``."""
    w, h = im.size
    if im.format == "JPEG":  # JPEG decodes at 1/2, 1/4 or 1/8 scale at once: less to hold
        im.draft(im.mode, (max(1, w * max_side // max(w, h)), max(1, h * max_side // max(w, h))))
    im.load()
    # modes whose values cannot be averaged (palette indices, 1-bit, 16-bit) are converted first
    mode = None
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        mode = "I"
    elif im.mode == "1":
        mode = "L"
    elif im.mode in ("P", "PA"):
        mode = "RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB"
    factor = math.ceil(max(im.size) / max_side)
    if mode is None:
        return im.reduce(factor) if factor > 1 else im
    if factor <= 1:
        return im.convert(mode)
    return _convert_reduced(im, mode, factor)


# Rows converted at a time when a mode must widen before it can be averaged.
BAND_PIXELS = 4_000_000


def _convert_reduced(im: Image.Image, mode: str, factor: int) -> Image.Image:
    """``im.convert(mode).reduce(factor)`` a band of rows at a time: the same pixels, but the
    wide mode (a palette's RGBA is 4x its indices: 256 MB for 8000x8000) is held for one
    band only (issue 24.2). Bands are whole multiples of ``factor`` rows, so every
    ``factor`` x ``factor`` block lies in one band and averages exactly as at once."""
    w, h = im.size
    step = factor * max(1, BAND_PIXELS // (w * factor))
    out = Image.new(mode, (-(-w // factor), -(-h // factor)))
    for y in range(0, h, step):
        band = im.crop((0, y, w, min(h, y + step))).convert(mode).reduce(factor)
        out.paste(band, (0, y // factor))
    return out


def _pil_to_array(im: Image.Image) -> np.ndarray:
    if im.mode in ("L", "RGB", "RGBA"):
        return np.asarray(im)
    if im.mode in ("1",):
        return np.asarray(im.convert("L"))
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float32)
        if not bool(np.isfinite(a).all()):
            raise ImageError("The image holds NaN or infinite values.")
        top = float(a.max()) if a.size else 0.0
        if im.mode == "F" and top <= 1.0:
            scale = 1.0  # a float image in [0, 1] holds intensities, as float arrays do
        else:
            scale = 65535.0 if top > 255 else 255.0
        # clipped before scaling: a float image may hold -3e38, whose x255 overflows
        return (np.clip(a, 0.0, scale) * np.float32(255.0 / scale) + 0.5).astype(np.uint8)
    # palettes (maybe with a transparent index), LA, CMYK, YCbCr, ...
    has_alpha = "A" in im.mode or im.mode == "PA" or "transparency" in im.info
    return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))


# --- arrays -> ink-bright gray -----------------------------------------------------------

def _as_float(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1 / 255)
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if a.dtype == np.uint16:
        # a 16-bit file that holds 8-bit values (paper 255, ink 0) is read on the 8-bit scale:
        # on 65535 its ink would sit under the noise floor and read as blank
        top = int(a.max()) if a.size else 0
        return a.astype(np.float32) * np.float32(1 / (255 if top <= 255 else 65535))
    if np.issubdtype(a.dtype, np.integer):
        top = int(a.max()) if a.size else 0
        if int(a.min()) < 0:
            raise ImageError("An integer image cannot hold negative values.")
        return a.astype(np.float32) * np.float32(1 / (255 if top <= 255 else 65535))
    if np.issubdtype(a.dtype, np.floating):
        f = a.astype(np.float32, copy=False)
        lo, hi = float(f.min()), float(f.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ImageError("The image holds NaN or infinite values.")
        if lo < 0:
            raise ImageError(f"A float image must hold values in [0, 1] (or 0-255); found {lo:g}.")
        # floats are [0, 1]; a float array holding 0-255 values is accepted too
        return f * np.float32(1 / 255) if hi > 1.0 + 1e-3 else f
    raise ImageError(f"Cannot use an image of type {a.dtype}.")


def _border(a: np.ndarray) -> np.ndarray:
    """The outermost pixels of a 2-D or 3-D array, as (N,) or (N, C)."""
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])


def _median(v: np.ndarray) -> np.ndarray:
    """Median along axis 0 (np.partition: np.median costs ten times more here)."""
    k = v.shape[0] // 2
    return np.partition(v, k, axis=0)[k]


def _minus_background(x: np.ndarray, bg, light_ink: bool) -> np.ndarray:
    """How far each value lies beyond the background towards the ink, never below 0.

    Works in x's own dtype (uint8 stays uint8: no wrap-around, and far fewer bytes to touch).
    """
    bg = np.asarray(bg, dtype=x.dtype)
    if light_ink:
        return np.maximum(x, bg) - bg
    return bg - np.minimum(x, bg)


def ink_image(arr: np.ndarray, polarity: Polarity) -> tuple[np.ndarray, float, str]:
    """(ink, scale, polarity): ink is 0 on the background and grows towards ``scale``.

    uint8 input stays uint8 (scale 255); everything else becomes float32 (scale 1).
    """
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageError(f"An image must be HxW gray, HxWx3 RGB or HxWx4 RGBA; got shape {arr.shape}.")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ImageError(f"The image is too small ({arr.shape[1]}x{arr.shape[0]} pixels).")
    if polarity not in ("auto", "light-on-dark", "dark-on-light"):
        raise ValueError(f"polarity must be 'auto', 'light-on-dark' or 'dark-on-light', not {polarity!r}")

    if arr.ndim == 3 and arr.shape[2] == 4:
        if arr.dtype == np.uint8 and int(arr[:, :, 3].min()) == 255:
            arr = arr[:, :, :3]
        else:
            f = _as_float(arr)
            arr = _composite(f[:, :, :3], f[:, :, 3])
    if arr.dtype != np.uint8:
        arr = _as_float(arr)
    scale = 255.0 if arr.dtype == np.uint8 else 1.0

    bg = _median(_border(arr))  # the frame is background in any sensible drawing
    bg_luma = float(bg @ _LUMA) if arr.ndim == 3 else float(bg)
    if polarity == "auto":
        # a digit may touch the frame, but it does not cover most of it. The ink is on the
        # side of the paper it departs further to: grey paper (99) with black ink (0) is dark
        # on light though the paper is below half (issue 24.9); a close call goes by the paper.
        flat = arr.reshape(-1, arr.shape[2]) if arr.ndim == 3 else arr.reshape(-1, 1)
        bg_c = np.asarray(bg, np.float32).reshape(-1)  # per channel: no full-size temporary
        above = float((flat.max(axis=0).astype(np.float32) - bg_c).max())
        below = float((bg_c - flat.min(axis=0).astype(np.float32)).max())
        if above > 2 * below:
            polarity = "light-on-dark"
        elif below > 2 * above:
            polarity = "dark-on-light"
        else:
            polarity = "dark-on-light" if bg_luma > 0.5 * scale else "light-on-dark"
    light = polarity == "light-on-dark"
    if arr.ndim == 2:
        return _minus_background(arr, bg, light), scale, polarity
    # Colour: the channel that departs most from the paper colour, so coloured ink (a red
    # or yellow pen on white) is as strong as black ink.
    ink = _minus_background(arr[:, :, 0], bg[0], light)
    for c in (1, 2):
        np.maximum(ink, _minus_background(arr[:, :, c], bg[c], light), out=ink)
    return ink, scale, polarity


def _composite(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Flatten RGBA: transparent pixels are background, whatever colour they store."""
    if float(alpha.min()) >= 0.99:
        return rgb
    weight = float(alpha.sum())
    if weight <= 1e-6:  # fully transparent: all background
        return np.ones_like(rgb)
    ink_luma = float((rgb @ _LUMA * alpha).sum()) / weight
    # put the strokes on the paper colour that contrasts with them
    paper = np.float32(1.0 if ink_luma < 0.5 else 0.0)
    a = alpha[:, :, None]
    return rgb * a + paper * (1 - a)


# --- finding the ink -----------------------------------------------------------------------

_ONES3 = np.ones(3, dtype=np.uint8)


def _supported(mask: np.ndarray, i: int, axis: int) -> bool:
    """Does row i (axis 0) or column i (axis 1) hold an ink pixel that is not a speck?

    A speck has fewer than MIN_NEIGHBOURS ink pixels in its 3x3 patch (itself included):
    dust, a stray click. Any real stroke, even 1 px wide, passes. Only the stretch of the
    line that holds ink is looked at, so this costs next to nothing.
    """
    if axis == 1:
        mask = mask.T
    at = np.flatnonzero(mask[i])
    if at.size == 0:
        return False
    a, b = max(int(at[0]) - 1, 0), int(at[-1]) + 2
    counts = np.convolve(mask[max(i - 1, 0):i + 2, a:b].sum(axis=0, dtype=np.uint8), _ONES3)[1:-1]
    return bool((mask[i, a:b] & (counts >= MIN_NEIGHBOURS)).any())


def _trim(mask: np.ndarray, axis: int) -> tuple[int, int] | None:
    """First and last+1 row (axis 0) or column (axis 1) whose ink is not only specks."""
    lines = np.flatnonzero(mask.any(axis=1 - axis))
    i, j = 0, len(lines) - 1
    while i <= j and not _supported(mask, int(lines[i]), axis):
        i += 1
    while j > i and not _supported(mask, int(lines[j]), axis):
        j -= 1
    if i > j:
        return None
    return int(lines[i]), int(lines[j]) + 1


def _ink_box(ink: np.ndarray, scale: float) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of the ink, ignoring faint noise and specks; None when nothing is drawn."""
    top = float(ink.max())
    if top < NOISE_FLOOR * scale:
        return None
    mask = ink > max(NOISE_FLOOR * scale, RELATIVE_THRESHOLD * top)
    rows = _trim(mask, 0)
    if rows is None:
        return None
    y0, y1 = rows
    cols = _trim(mask[y0:y1], 1)
    if cols is None:
        return None
    x0, x1 = cols
    if np.count_nonzero(mask[y0:y1, x0:x1]) < max(3, MIN_INK_SHARE * ink.size):
        return None
    return y0, y1, x0, x1


def _scale_to_box(crop: np.ndarray) -> np.ndarray:
    h, w = crop.shape
    s = BOX / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    if (nh, nw) == (h, w):
        return crop.copy()
    # BOX averages exactly the covered area (true anti-aliasing) when shrinking; when
    # enlarging it would give blocks, so a triangle filter is used instead.
    resample = Image.Resampling.BOX if s < 1 else Image.Resampling.BILINEAR
    im = Image.frombuffer("F", (w, h), np.ascontiguousarray(crop), "raw", "F", 0, 1)
    return np.array(im.resize((nw, nh), resample), dtype=np.float32)


def place_by_mass(scaled: np.ndarray) -> np.ndarray:
    """Put the scaled digit in 28x28 with its centre of mass at (14, 14), clamped to fit."""
    h, w = scaled.shape
    total = float(scaled.sum()) or 1.0
    cy = float(scaled.sum(axis=1) @ np.arange(h, dtype=np.float32)) / total
    cx = float(scaled.sum(axis=0) @ np.arange(w, dtype=np.float32)) / total
    oy = min(max(int(round(CENTRE - cy)), 0), FIELD - h)
    ox = min(max(int(round(CENTRE - cx)), 0), FIELD - w)
    out = np.zeros((FIELD, FIELD), dtype=np.float32)
    out[oy:oy + h, ox:ox + w] = scaled
    return out


def preprocess(image: ImageInput, polarity: Polarity = "auto", keep_steps: bool = True) -> Preprocessed:
    """Turn a drawing (array or image file) into an MNIST-like 28x28 image, keeping each step.

    ``image``: HxW gray (uint8, uint16, bool or float in [0, 1]), HxWx3 RGB, HxWx4 RGBA
    (transparent = background) or a path to an image file. ``polarity`` is detected from the
    image's frame unless given. ``keep_steps=False`` skips the intermediate copies (batches).
    """
    if isinstance(image, (str, os.PathLike)):
        image = load_image(image)
    elif isinstance(image, Image.Image):
        image = _pil_to_array(image)
    elif not isinstance(image, np.ndarray):
        image = np.asarray(image)
    ink, scale, polarity = ink_image(image, polarity)
    inv = np.float32(1.0 / scale)
    steps: list[tuple[str, np.ndarray]] = []
    if keep_steps:
        steps.append(("input", ink.astype(np.float32) * inv if scale != 1.0 else ink))

    return preprocess_ink(ink, scale, polarity, keep_steps, steps)


def preprocess_ink(ink: np.ndarray, scale: float, polarity: str, keep_steps: bool = False,
                   steps: list[tuple[str, np.ndarray]] | None = None,
                   offset: tuple[int, int] = (0, 0)) -> Preprocessed:
    """An ink image (as :func:`ink_image` gives it) -> the 28x28 input: crop, 20 px box, mass.

    The one digit preprocessing: :func:`preprocess` ends here, and the number reader calls it
    for each digit's own ink. ``offset`` (x, y) is where ``ink`` lies in the image, so
    ``bbox`` is in the image's pixels.
    """
    steps = steps if steps is not None else []
    inv = np.float32(1.0 / scale)
    box = _ink_box(ink, scale)
    if box is None:
        return Preprocessed(None, True, steps, None, polarity)
    y0, y1, x0, x1 = box
    crop = ink[y0:y1, x0:x1].astype(np.float32)
    if scale != 1.0:
        crop *= inv
    crop[crop < NOISE_FLOOR] = 0.0  # paper texture inside the box is not ink

    scaled = _scale_to_box(crop)
    np.maximum(scaled, 0, out=scaled)
    top = float(scaled.max())
    if top <= 0:
        return Preprocessed(None, True, steps, None, polarity)
    # a thin pen shrunk 10x is faint; MNIST strokes reach full brightness
    scaled *= np.float32(1.0 / top)
    out = place_by_mass(scaled)
    if keep_steps:
        steps += [("cropped", crop), (f"scaled to {BOX} px", scaled), (f"centred {FIELD}x{FIELD}", out)]
    ox, oy = offset
    return Preprocessed(out, False, steps, (x0 + ox, y0 + oy, x1 + ox, y1 + oy), polarity)
