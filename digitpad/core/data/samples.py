"""The user's own labelled drawings: a folder in torchvision's ImageFolder layout.

    <app data>/samples/<digit>/<id>.png

Each file is the drawing as drawn (the canvas, not its preprocessed 28x28), a grayscale PNG,
written atomically (temp file in the same folder, fsync, ``os.replace``) so a crash never
leaves half a sample. Ids are time-based with a random tail, so sorting them sorts by age and
two app windows never collide.

The folder is the user's: they may drop files in, copy it elsewhere, or damage it. A file
that is not an image, or is an image that cannot be decoded, is skipped with a warning
(collected in :class:`Problems`, logged), never a crash. Imports read anything ``digitpad
predict`` reads (:func:`digitpad.core.data.preprocess.load_image`): any size, format, polarity.
"""

from __future__ import annotations

import datetime as _dt
import io
import logging
import lzma
import os
import re
import secrets
import struct
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..io.files import DigitpadError, not_regular_reason, write_atomically
from ..io.paths import app_data_dir
from .preprocess import (WORKING_SIDE, ImageError, ink_image, load_image, preprocess,
                         quiet_pil_warnings)

log = logging.getLogger(__name__)

DIGITS = tuple(range(10))
SAMPLES_DIR = "samples"
# What an imported folder or zip may hold: the suffixes `predict DIR` picks up.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
# Caps on imports. A hand-drawn digit is a few KB; these leave room for phone photos and scans
# while refusing zip bombs and decompression bombs before anything big is decoded.
MAX_FILE_BYTES = 20 * 1024 * 1024  # one image file (on disk or uncompressed in a zip)
MAX_PIXELS = 40_000_000  # one image's width x height
MAX_ZIP_BYTES = 500 * 1024 * 1024  # all members of a zip, uncompressed
MAX_ZIP_MEMBERS = 50_000
# The decoding work one zip may ask for, in pixels decoded: sizes alone do not bound it (one
# 52 KB PNG of 6300x6300 listed 10,000 times is 17 minutes). 2 gigapixels is 50 images at the
# one-image cap, or 25,000 samples at digitpad's own 280x280 export: seconds to a minute.
MAX_ZIP_PIXELS = 2_000_000_000
MAX_SIDE = 1024  # larger imports are shrunk to this longer side before they are stored

_ID_RE = re.compile(r"^\d{8}-\d{6}-\d{3}-[0-9a-f]{6}$")


@dataclass(frozen=True, order=True)
class Sample:
    """One stored drawing. Ordered by (digit, id), i.e. per digit, oldest first."""

    digit: int
    id: str
    path: Path = field(compare=False)


@dataclass
class Problems:
    """Files that were skipped, each with a sentence that says why."""

    items: list[tuple[str, str]] = field(default_factory=list)  # (path or name, reason)

    def add(self, where: str | os.PathLike, reason: str) -> None:
        self.items.append((str(where), reason))
        log.info("skipped %s: %s", where, reason)  # callers show them; no stray stderr line

    def extend(self, other: "Problems") -> None:
        self.items.extend(other.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)

    def lines(self) -> list[str]:
        out = []
        for where, reason in self.items:
            name = Path(where).name
            # load_image's messages start with the file name already
            out.append(reason if reason.startswith(name) else f"{name}: {reason}")
        return out


@dataclass
class Loaded:
    """Samples read and decoded: ``images[i]`` is ``samples[i]``'s drawing (uint8 array)."""

    samples: list[Sample]
    images: list[np.ndarray]
    problems: Problems

    @property
    def labels(self) -> list[int]:
        return [s.digit for s in self.samples]

    def counts(self) -> dict[int, int]:
        return _count(self.samples)


@dataclass
class ImportReport:
    added: list[Sample] = field(default_factory=list)
    duplicates: int = 0  # files whose sample id is already in the store
    problems: Problems = field(default_factory=Problems)


@dataclass
class ImportProgress:
    """One file of an import handled: ``done`` of ``total``; ``report`` is what it has so far
    (a cancelled import keeps what it added)."""
    done: int
    total: int
    report: ImportReport


class SampleError(DigitpadError, ValueError):
    """An import or export that cannot be done at all (not a folder or zip, over the caps),
    or one zip member that cannot be unpacked."""


# Everything zipfile and its decompressors raise for a damaged, odd or hostile archive: a bad
# version field (NotImplementedError), an encrypted member (RuntimeError), a cut-off stream
# (EOFError, zlib.error), a bad CRC or header (BadZipFile), an odd extra field (ValueError).
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
              EOFError, zlib.error, ValueError, OSError, struct.error, UnicodeDecodeError,
              lzma.LZMAError, OverflowError)


# --- ids ----------------------------------------------------------------------------------

_id_lock = threading.Lock()
_last_ms = 0


def new_id() -> str:
    """``YYYYMMDD-HHMMSS-mmm-rrrrrr`` in UTC: sorts by creation time; the random tail keeps
    ids from two processes apart. Within a process the millisecond part never repeats."""
    global _last_ms
    with _id_lock:
        ms = int(_dt.datetime.now(_dt.timezone.utc).timestamp() * 1000)
        ms = max(ms, _last_ms + 1)
        _last_ms = ms
    t = _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc)
    return f"{t:%Y%m%d-%H%M%S}-{ms % 1000:03d}-{secrets.token_hex(3)}"


def is_sample_id(text: str) -> bool:
    return bool(_ID_RE.match(text))


# --- images -------------------------------------------------------------------------------

def to_gray(image: np.ndarray) -> np.ndarray:
    """A drawing as one uint8 channel that keeps its ink and polarity.

    Gray uint8 stays as it is. Colour and transparency go through preprocess's own ink
    detection (the channel that departs most from the paper, alpha composited), so a yellow
    pen on white stays as strong as a black one instead of fading in a luma conversion.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2 and a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    ink, scale, polarity = ink_image(a, "auto")
    ink = np.clip(ink.astype(np.float32) * (255.0 / scale), 0, 255)
    if polarity == "dark-on-light":
        ink = 255.0 - ink
    return np.ascontiguousarray(ink.round().astype(np.uint8))


def _shrink(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    s = MAX_SIDE / max(h, w)
    if s >= 1:
        return gray
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX))


def _png_bytes(gray: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gray, mode="L").save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def _write_atomic(path: Path, blob: bytes) -> None:
    write_atomically(path, blob, 0o644)


def _check_digit(digit: int) -> int:
    if isinstance(digit, bool) or int(digit) != digit or not 0 <= int(digit) <= 9:
        raise SampleError(f"A sample's label must be a digit 0-9, not {digit!r}.")
    return int(digit)


def _count(samples: Iterable[Sample]) -> dict[int, int]:
    counts = dict.fromkeys(DIGITS, 0)
    for s in samples:
        counts[s.digit] += 1
    return counts


def read_checked(path: str | os.PathLike) -> np.ndarray:
    """Read an image for import, within the caps; ImageError says why it cannot be used."""
    p = Path(path)
    odd = not_regular_reason(p)
    if odd:  # a FIFO would block the header read below
        raise ImageError(f"{odd}, not an image file")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ImageError(f"cannot read it ({exc.strerror or exc})") from None
    if size > MAX_FILE_BYTES:
        raise ImageError(f"{size / 2**20:.0f} MB is over the {MAX_FILE_BYTES // 2**20} MB limit "
                         "for one image")
    try:
        quiet_pil_warnings()  # the cap below answers instead
        with Image.open(p) as im:  # reads the header only: the size before any decoding
            w, h = im.size
    except Exception:
        w = h = 0  # load_image below says what is wrong, in its own words
    if w * h > MAX_PIXELS:
        raise ImageError(f"{w}x{h} pixels is over the limit for one image")
    # only the working-size copy is kept: teach and imports hold many samples at once
    return load_image(p, max_side=WORKING_SIDE)


def prepare_for_store(image: np.ndarray) -> np.ndarray:
    """Gray, at most MAX_SIDE px, and holding ink; ImageError when there is nothing drawn."""
    gray = _shrink(to_gray(image))
    if preprocess(gray, keep_steps=False).empty:
        raise ImageError("no ink found: the image is blank")
    return gray


# --- the store ----------------------------------------------------------------------------

class SampleStore:
    """``root/<digit>/<id>.png``; ``root`` defaults to ``<app data>/samples``.

    Reading never raises for a bad file in the store: it is skipped and reported in the
    returned :class:`Problems`. Writing raises OSError (disk full, read-only folder).
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else app_data_dir() / SAMPLES_DIR

    # listing -------------------------------------------------------------------------

    def scan(self) -> tuple[list[Sample], Problems]:
        """Every sample file (not decoded), sorted by digit then id, and what was skipped."""
        problems = Problems()
        samples: list[Sample] = []
        if not self.root.is_dir():
            return samples, problems
        try:
            entries = sorted(self.root.iterdir())
        except OSError as exc:
            problems.add(self.root, f"cannot list the folder ({exc.strerror or exc})")
            return samples, problems
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files, and temp files a crash may have left: not samples
            if not (entry.is_dir() and entry.name in {str(d) for d in DIGITS}):
                problems.add(entry, "not a digit folder (0-9), ignored")
                continue
            samples += self._scan_digit(int(entry.name), entry, problems)
        samples.sort()
        return samples, problems

    def _scan_digit(self, digit: int, folder: Path, problems: Problems) -> list[Sample]:
        out = []
        try:
            entries = sorted(folder.iterdir())
        except OSError as exc:
            problems.add(folder, f"cannot list the folder ({exc.strerror or exc})")
            return out
        for f in entries:
            if f.name.startswith("."):
                continue
            if not f.is_file() or f.suffix.lower() not in IMAGE_SUFFIXES:
                problems.add(f, "not an image file, ignored")
                continue
            out.append(Sample(digit, f.stem, f))
        return out

    def list(self, digit: int | None = None) -> list[Sample]:
        samples, _ = self.scan()
        return samples if digit is None else [s for s in samples if s.digit == digit]

    def counts(self) -> dict[int, int]:
        """Samples per digit, from the file names (corrupt files are counted until read)."""
        return _count(self.list())

    # reading -------------------------------------------------------------------------

    def read(self, sample: Sample) -> np.ndarray:
        """The drawing as a uint8 array; ImageError when the file is damaged."""
        return load_image(sample.path)

    def load_all(self, digits: Iterable[int] | None = None) -> Loaded:
        """Every readable sample, decoded; corrupt and foreign files go to ``problems``."""
        samples, problems = self.scan()
        return read_samples(samples, problems, digits)

    # writing -------------------------------------------------------------------------

    def add(self, image: np.ndarray, digit: int, sample_id: str | None = None) -> Sample:
        """Store a drawing under ``digit``; returns the new sample.

        ``image`` is what was drawn, any polarity; it is stored as it is when it is gray
        uint8 of at most MAX_SIDE px (the canvas), otherwise converted (:func:`to_gray`).
        """
        sample = self.new_sample(digit, sample_id)
        self.write(sample, image)
        return sample

    def new_sample(self, digit: int, sample_id: str | None = None) -> Sample:
        """The sample a drawing will be stored as (nothing written yet): the app names it at
        once and :meth:`write` s it in a worker."""
        digit = _check_digit(digit)
        sid = sample_id or new_id()
        return Sample(digit, sid, self.root / str(digit) / f"{sid}.png")

    def write(self, sample: Sample, image: np.ndarray) -> Sample:
        """Write ``image`` as ``sample`` (PNG, atomically: temp file, fsync, rename)."""
        _write_atomic(sample.path, _png_bytes(_shrink(to_gray(image))))
        return sample

    def delete(self, sample: Sample) -> bool:
        """Remove a sample; False when it was already gone."""
        try:
            sample.path.unlink()
            return True
        except FileNotFoundError:
            return False

    def relabel(self, sample: Sample, digit: int) -> Sample:
        digit = _check_digit(digit)
        if digit == sample.digit:
            return sample
        target = self.root / str(digit) / sample.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(sample.path, target)
        return Sample(digit, sample.id, target)

    # import / export -------------------------------------------------------------------

    def import_from(self, source: str | os.PathLike) -> ImportReport:
        """Add the images of a folder or .zip laid out as ``<digit>/<file>`` (any depth above).

        A file keeps its name as id when it is a digitpad id (so export then import is a
        round trip, and importing the same export twice adds nothing); other files get new ids.
        """
        report = ImportReport()
        for step in self.import_steps(source):
            report = step.report
        return report

    def import_steps(self, source: str | os.PathLike) -> Iterator[ImportProgress]:
        """:meth:`import_from` one file at a time, for a worker with progress and Cancel:
        an :class:`ImportProgress` after each file (and one before the first). Closing the
        generator stops the import; what was added stays."""
        src = Path(source).expanduser()
        report = ImportReport()
        if src.is_dir():
            items = _folder_items(src, report.problems)
        elif src.is_file() and _is_zip(src):
            items = _zip_items(src, report.problems)
        elif src.is_file():
            raise SampleError(f"{src.name} is neither a folder nor a .zip file.")
        else:
            raise SampleError(f"Not found: {src}")
        try:
            yield from self._import_items(items, report)
        finally:  # also when the import is cancelled: the zip and its temp folder go now
            getattr(items, "close", lambda: None)()

    def _import_items(self, items, report: ImportReport) -> Iterator[ImportProgress]:
        existing = {(s.digit, s.id) for s in self.list()}
        yield ImportProgress(0, len(items), report)
        for done, (digit, name, reader) in enumerate(items, 1):
            stem = Path(name).stem
            keep = is_sample_id(stem)
            if keep and (digit, stem) in existing:
                report.duplicates += 1
                yield ImportProgress(done, len(items), report)
                continue
            try:
                gray = prepare_for_store(reader())
            except (ImageError, SampleError) as exc:
                report.problems.add(name, str(exc))
            except Exception as exc:  # a decoder's own complaint: still only this file
                report.problems.add(name, f"cannot be read ({type(exc).__name__}: {exc})")
            else:
                sample = self.add(gray, digit, stem if keep else None)
                existing.add((digit, sample.id))
                report.added.append(sample)
            yield ImportProgress(done, len(items), report)

    def export_to(self, dest: str | os.PathLike) -> tuple[int, Problems]:
        """Copy every sample to a folder, or to a .zip when ``dest`` ends in .zip.

        The layout is the store's own (``<digit>/<id>.png``), so importing it elsewhere (or
        pointing ``digitpad teach`` or torchvision's ImageFolder at it) just works. Only
        files that decode are exported; the others are reported.
        """
        dest = Path(dest).expanduser()
        loaded = self.load_all()
        if dest.suffix.lower() == ".zip":
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
                for s in loaded.samples:
                    # PNG is compressed already: storing is as small and much faster
                    zf.writestr(f"{s.digit}/{s.path.name}", s.path.read_bytes())
            _write_atomic(dest, buf.getvalue())
        else:
            if dest.exists() and not dest.is_dir():
                raise SampleError(f"{dest} exists and is not a folder.")
            for s in loaded.samples:
                _write_atomic(dest / str(s.digit) / s.path.name, s.path.read_bytes())
        return len(loaded.samples), loaded.problems


def read_samples(samples: list[Sample], problems: Problems | None = None,
                 digits: Iterable[int] | None = None) -> Loaded:
    problems = problems if problems is not None else Problems()
    wanted = None if digits is None else set(digits)
    kept, images = [], []
    for s in samples:
        if wanted is not None and s.digit not in wanted:
            continue
        try:
            images.append(read_checked(s.path))
        except ImageError as exc:
            problems.add(s.path, str(exc))
            continue
        except Exception as exc:
            problems.add(s.path, f"cannot be read ({type(exc).__name__}: {exc})")
            continue
        kept.append(s)
    return Loaded(kept, images, problems)


def read_folder(folder: str | os.PathLike) -> Loaded:
    """A folder in the ImageFolder layout (``FOLDER/<digit>/*``), as `digitpad teach` reads it.

    Like the store, but nothing has to be a digitpad id, and images in other layouts are
    reported rather than guessed at.
    """
    src = Path(folder).expanduser()
    if not src.is_dir():
        raise SampleError(f"Not a folder: {src}")
    problems = Problems()
    samples = []
    for digit, name, _ in _folder_items(src, problems):
        samples.append(Sample(digit, Path(name).stem, Path(name)))
    samples.sort()
    return read_samples(samples, problems)


# --- import sources -----------------------------------------------------------------------

def _digit_of(parts: tuple[str, ...]) -> int | None:
    """The label of a file from its folder: the nearest parent folder named 0-9."""
    if len(parts) >= 2 and parts[-2] in {str(d) for d in DIGITS}:
        return int(parts[-2])
    return None


def _skip_name(parts: tuple[str, ...]) -> bool:
    # hidden files, macOS resource forks and its zip side folder
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _folder_items(src: Path, problems: Problems):
    out = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        for fname in sorted(filenames):
            path = Path(dirpath) / fname
            parts = path.relative_to(src).parts
            if _skip_name(parts):
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                problems.add(path, "not an image file, ignored")
                continue
            digit = _digit_of(parts)
            if digit is None:
                problems.add(path, "not inside a folder named 0-9, so its digit is unknown")
                continue
            out.append((digit, str(path), lambda p=path: read_checked(p)))
    return out


def _zip_items(src: Path, problems: Problems):
    out = []
    try:
        zf = zipfile.ZipFile(src)
        infos = zf.infolist()
    except ZIP_ERRORS as exc:
        raise SampleError(f"{src.name} is not a readable zip file "
                          f"({type(exc).__name__}: {exc}).") from None
    if len(infos) > MAX_ZIP_MEMBERS:
        zf.close()
        raise SampleError(f"{src.name} holds {len(infos):,} files; the limit is {MAX_ZIP_MEMBERS:,}.")
    total = sum(i.file_size for i in infos if not i.is_dir())
    if total > MAX_ZIP_BYTES:
        zf.close()
        raise SampleError(f"{src.name} unpacks to {total / 2**20:,.0f} MB; the limit is "
                         f"{MAX_ZIP_BYTES // 2**20} MB.")
    tmpdir = tempfile.TemporaryDirectory(prefix="digitpad-import-")
    decoded = [0]  # pixels decoded so far, against MAX_ZIP_PIXELS

    def charge(blob: bytes) -> None:
        try:
            with Image.open(io.BytesIO(blob)) as im:  # the header only
                w, h = im.size
        except Exception:
            return  # read_checked says what is wrong with it
        if decoded[0] + w * h > MAX_ZIP_PIXELS:
            raise ImageError(f"over the decoding budget of one zip ({MAX_ZIP_PIXELS / 1e9:g} "
                             "gigapixels of images in all); split the zip to import the rest")
        decoded[0] += w * h

    def reader(info: zipfile.ZipInfo):
        def read() -> np.ndarray:
            if info.file_size > MAX_FILE_BYTES:
                raise ImageError(f"{info.file_size / 2**20:.0f} MB is over the "
                                 f"{MAX_FILE_BYTES // 2**20} MB limit for one image")
            # the declared size can lie: read at most the cap, and refuse anything longer
            try:
                with zf.open(info) as f:
                    blob = f.read(MAX_FILE_BYTES + 1)
            except ZIP_ERRORS as exc:
                raise SampleError(f"cannot be unpacked: {_zip_reason(exc)}") from None
            if len(blob) > MAX_FILE_BYTES:
                raise ImageError("larger than it claims, and over the limit for one image")
            charge(blob)
            # load_image reads files, so the member goes through a private temp file: the
            # same decoder and the same messages as `digitpad predict`
            tmp = Path(tmpdir.name) / f"member{Path(info.filename).suffix.lower()}"
            tmp.write_bytes(blob)
            try:
                return read_checked(tmp)
            except ImageError as exc:  # said of the member, not of the private temp file
                raise ImageError(str(exc).replace(tmp.name, Path(info.filename).name)) from None
            finally:
                tmp.unlink(missing_ok=True)
        return read

    # An honest zip stores each member's data once; entries that start at the same place, or
    # inside another's data, are one member listed again (work without new data): skipped
    starts = sorted({i.header_offset: i for i in infos if not i.is_dir()}.values(),
                    key=lambda i: i.header_offset)
    ends = {}
    for a, b in zip(starts, starts[1:]):
        ends[a.header_offset] = b.header_offset
    first_at: dict[int, str] = {}
    for info in infos:
        if info.is_dir():
            continue
        at = info.header_offset
        if at in first_at:
            problems.add(info.filename, f"shares the same data as {first_at[at]} (an overlapping "
                         "zip entry), ignored")
            continue
        first_at[at] = info.filename
        nxt = ends.get(at)
        if nxt is not None and nxt < at + 30 + info.compress_size:
            problems.add(info.filename, "its data runs into the next entry's (an overlapping zip "
                         "entry), ignored")
            continue
        parts = tuple(p for p in info.filename.replace("\\", "/").split("/") if p)
        if ".." in parts:  # nothing is extracted, but such a name is not an honest export
            problems.add(info.filename, "a path that climbs out of the archive, ignored")
            continue
        if not parts or _skip_name(parts):
            continue
        if Path(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
            problems.add(info.filename, "not an image file, ignored")
            continue
        digit = _digit_of(parts)
        if digit is None:
            problems.add(info.filename, "not inside a folder named 0-9, so its digit is unknown")
            continue
        out.append((digit, info.filename, reader(info)))
    return _Closing(out, zf, tmpdir)


def _zip_reason(exc: BaseException) -> str:
    """What zipfile's exception means, in words (its own text can hold a ZipInfo repr)."""
    if isinstance(exc, RuntimeError) and "encrypted" in str(exc):
        return "it is encrypted (a password is needed)"
    if isinstance(exc, NotImplementedError):
        return f"it is stored in a way digitpad cannot unpack ({exc})"
    if isinstance(exc, (zlib.error, lzma.LZMAError)):
        return "its compressed data is damaged"
    if isinstance(exc, EOFError):
        return "its compressed data is cut short"
    return f"{type(exc).__name__}: {exc}"


def _is_zip(src: Path) -> bool:
    try:
        return zipfile.is_zipfile(src)
    except ZIP_ERRORS:
        return True  # a zip, only a damaged one: opening it says what is wrong


class _Closing(list):
    """The zip's items; iterating to the end closes the archive and the temp folder."""

    def __init__(self, items, zf: zipfile.ZipFile, tmpdir) -> None:
        super().__init__(items)
        self._zf, self._tmp = zf, tmpdir

    def __iter__(self):
        try:
            yield from super().__iter__()
        finally:
            self.close()

    def close(self) -> None:
        self._zf.close()
        self._tmp.cleanup()
