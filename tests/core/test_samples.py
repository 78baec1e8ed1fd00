"""The sample store: real PNG files on disk, real zips, every odd file a person may leave."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from digitpad.core.data import samples as samples_mod
from digitpad.core.io.paths import app_data_dir
from digitpad.core.data.samples import (SampleError, SampleStore, is_sample_id, new_id, read_folder)


def drawing(digit: int, size: int = 280, ink: int = 255, paper: int = 0) -> np.ndarray:
    """A digit as the canvas holds it: gray uint8, by default light ink on black."""
    im = Image.new("L", (size, size), paper)
    font = ImageFont.load_default(size=int(size * 0.7))
    ImageDraw.Draw(im).text((size // 2, size // 2), str(digit), fill=ink, font=font, anchor="mm",
                            stroke_width=max(1, size // 40), stroke_fill=ink)
    return np.asarray(im)


@pytest.fixture
def store(tmp_path) -> SampleStore:
    return SampleStore(tmp_path / "samples")


def test_default_root_is_in_the_app_data_dir():
    assert SampleStore().root == app_data_dir() / "samples"


def test_add_writes_the_drawing_as_drawn_in_imagefolder_layout(store):
    a = drawing(7)
    s = store.add(a, 7)
    assert s.path == store.root / "7" / f"{s.id}.png"
    with Image.open(s.path) as im:
        assert im.mode == "L" and im.size == (280, 280)
        assert np.array_equal(np.asarray(im), a)  # not preprocessed, not inverted
    assert [p.name for p in s.path.parent.iterdir()] == [s.path.name]  # no temp file left
    assert store.counts() == {**dict.fromkeys(range(10), 0), 7: 1}


def test_colour_and_float_drawings_are_stored_gray_keeping_their_ink(store):
    rgb = np.stack([drawing(3, ink=0, paper=255)] * 3, axis=2).copy()
    rgb[..., 2] = 255  # blue-ish paper tint does not matter; the ink stays dark
    s = store.add(rgb, 3)
    got = store.read(s)
    assert got.ndim == 2 and got.dtype == np.uint8
    assert got[0, 0] > 200 and got.min() < 60  # dark ink on light paper, as given


def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temp(store, monkeypatch):
    first = store.add(drawing(1), 1)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(samples_mod.os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.add(drawing(1), 1)
    assert [p.name for p in (store.root / "1").iterdir()] == [first.path.name]


def test_ids_are_unique_and_sort_by_creation():
    ids = [new_id() for _ in range(200)]
    assert len(set(ids)) == 200
    assert sorted(ids) == ids
    assert all(is_sample_id(i) for i in ids)
    assert not is_sample_id("my-seven")


def test_listing_sorts_by_digit_then_age_and_delete_removes(store):
    made = [store.add(drawing(d), d) for d in (5, 2, 5)]
    listed = store.list()
    assert [s.digit for s in listed] == [2, 5, 5]
    assert listed[1].id < listed[2].id
    assert store.delete(made[0]) is True
    assert store.delete(made[0]) is False  # already gone: not an error
    assert store.counts()[5] == 1


def test_corrupt_and_foreign_files_are_skipped_with_a_warning(store):
    good = store.add(drawing(3), 3)
    (store.root / "3" / "truncated.png").write_bytes(good.path.read_bytes()[:60])
    (store.root / "3" / "garbage.png").write_bytes(b"this is not a png at all")
    (store.root / "3" / "notes.txt").write_text("mine")
    (store.root / "3" / "sub").mkdir()
    (store.root / "letters").mkdir()
    (store.root / "readme.md").write_text("hi")
    (store.root / "3" / ".20261126-000000-000-abcdef.png.x1.tmp").write_bytes(b"half")  # a crash's
    loaded = store.load_all()
    assert [s.id for s in loaded.samples] == [good.id]
    assert len(loaded.images) == 1 and np.array_equal(loaded.images[0], drawing(3))
    reasons = dict((Path(w).name, r) for w, r in loaded.problems)
    assert set(reasons) == {"truncated.png", "garbage.png", "notes.txt", "sub", "letters",
                            "readme.md"}
    assert "not an image" in reasons["notes.txt"]
    assert "digit folder" in reasons["letters"]
    assert "damaged" in reasons["truncated.png"] or "truncated" in reasons["truncated.png"]
    assert loaded.counts()[3] == 1


def test_a_missing_store_is_empty(tmp_path):
    st = SampleStore(tmp_path / "nothing-here")
    assert st.list() == [] and st.counts() == dict.fromkeys(range(10), 0)
    assert not st.load_all().problems


def write_mixed_folder(root: Path) -> None:
    """A folder a person might import: several formats, sizes and polarities, and junk."""
    (root / "0").mkdir(parents=True)
    (root / "1").mkdir()
    (root / "2" / "deeper").mkdir(parents=True)
    (root / "misc").mkdir()
    Image.fromarray(drawing(0, 64)).save(root / "0" / "light-on-dark.png")
    Image.fromarray(drawing(0, 600, ink=0, paper=255)).convert("RGB").save(root / "0" / "scan.jpg",
                                                                           quality=90)
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[..., 3] = drawing(1, 100)  # ink only in the alpha channel: transparent paper
    Image.fromarray(rgba, "RGBA").save(root / "1" / "transparent.png")
    Image.fromarray(drawing(1, 40)).save(root / "1" / "small.bmp")
    Image.fromarray(drawing(2, 2000)).save(root / "2" / "deeper" / "no-label.png")  # parent not 0-9
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(root / "1" / "blank.png")
    (root / "1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (root / "1" / "list.txt").write_text("1 1 1")
    Image.fromarray(drawing(5)).save(root / "misc" / "5.png")
    (root / ".hidden").mkdir()
    Image.fromarray(drawing(3)).save(root / ".hidden" / "3.png")


def test_import_a_folder_of_mixed_images(store, tmp_path):
    src = tmp_path / "mine"
    write_mixed_folder(src)
    big = src / "2" / "big.png"
    Image.fromarray(drawing(2, 2000)).save(big)
    report = store.import_from(src)
    assert sorted((s.digit, Path(s.path).parent.name) for s in report.added) == [
        (0, "0"), (0, "0"), (1, "1"), (1, "1"), (2, "2")]
    skipped = {Path(w).name: r for w, r in report.problems}
    assert set(skipped) == {"no-label.png", "blank.png", "broken.png", "list.txt", "5.png"}
    assert "blank" in skipped["blank.png"] and "0-9" in skipped["no-label.png"]
    # everything stored is gray; the 2000 px scan is shrunk to the store's cap
    for s in report.added:
        a = store.read(s)
        assert a.ndim == 2 and max(a.shape) <= samples_mod.MAX_SIDE
    # the dark-on-light JPEG keeps its polarity and still reads as ink
    from digitpad.core.data.preprocess import preprocess

    for s in report.added:
        assert not preprocess(store.read(s)).empty


def test_import_refuses_files_over_the_caps(store, tmp_path, monkeypatch):
    src = tmp_path / "caps"
    (src / "4").mkdir(parents=True)
    Image.fromarray(drawing(4, 300)).save(src / "4" / "big-file.png")
    Image.fromarray(drawing(4, 50)).save(src / "4" / "ok.png")
    monkeypatch.setattr(samples_mod, "MAX_FILE_BYTES", 800)
    report = store.import_from(src)
    assert [Path(w).name for w, _ in report.problems] == ["big-file.png"]
    assert "limit" in report.problems.items[0][1]
    assert len(report.added) == 1


def test_import_refuses_too_many_pixels(store, tmp_path, monkeypatch):
    src = tmp_path / "px"
    (src / "6").mkdir(parents=True)
    Image.fromarray(drawing(6, 400)).save(src / "6" / "wide.png")
    monkeypatch.setattr(samples_mod, "MAX_PIXELS", 100_000)
    report = store.import_from(src)
    assert not report.added and "pixels" in report.problems.items[0][1]


def test_export_then_import_a_folder_round_trips(store, tmp_path):
    made = [store.add(drawing(d, 120 + 10 * d), d) for d in range(10) for _ in range(2)]
    n, problems = store.export_to(tmp_path / "out")
    assert n == 20 and not problems
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")) == \
        sorted(f"{s.digit}/{s.id}.png" for s in made)
    other = SampleStore(tmp_path / "other")
    report = other.import_from(tmp_path / "out")
    assert len(report.added) == 20 and not report.problems
    assert [(s.digit, s.id) for s in other.list()] == [(s.digit, s.id) for s in store.list()]
    for a, b in zip(store.list(), other.list()):
        assert np.array_equal(store.read(a), other.read(b))
    # the same export again adds nothing: its ids are already there
    again = other.import_from(tmp_path / "out")
    assert not again.added and again.duplicates == 20


def test_export_then_import_a_zip_round_trips(store, tmp_path):
    for d in (0, 4, 9):
        store.add(drawing(d), d)
    (store.root / "4" / "garbage.png").write_bytes(b"nope")
    n, problems = store.export_to(tmp_path / "mine.zip")
    assert n == 3 and [Path(w).name for w, _ in problems] == ["garbage.png"]
    with zipfile.ZipFile(tmp_path / "mine.zip") as zf:
        assert sorted(i.filename.split("/")[0] for i in zf.infolist()) == ["0", "4", "9"]
    other = SampleStore(tmp_path / "other")
    report = other.import_from(tmp_path / "mine.zip")
    assert len(report.added) == 3 and not report.problems
    for a, b in zip(store.list(), other.list()):
        if a.path.name != "garbage.png":
            assert (a.digit, a.id) == (b.digit, b.id)
            assert np.array_equal(store.read(a), other.read(b))
    assert not list(tmp_path.glob("digitpad-import-*"))


def test_import_a_zip_with_junk_nesting_and_hostile_names(store, tmp_path):
    buf = io.BytesIO()
    png = io.BytesIO()
    Image.fromarray(drawing(8, 90)).save(png, format="PNG")
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("export/8/a.png", png.getvalue())  # nested one level: still digit 8
        zf.writestr("../../escape/8/b.png", png.getvalue())  # refused, and nothing is extracted
        zf.writestr("__MACOSX/8/._a.png", b"resource fork")
        zf.writestr("8/bad.png", b"not an image")
        zf.writestr("readme.txt", b"hello")
    (tmp_path / "in.zip").write_bytes(buf.getvalue())
    report = store.import_from(tmp_path / "in.zip")
    assert [s.digit for s in report.added] == [8]
    assert sorted(Path(w).name for w, _ in report.problems) == ["b.png", "bad.png", "readme.txt"]
    assert not (tmp_path.parent / "escape").exists()


def test_a_zip_bomb_is_refused_before_reading(store, tmp_path, monkeypatch):
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("1/zeros.png", b"\0" * 200_000)
    monkeypatch.setattr(samples_mod, "MAX_ZIP_BYTES", 100_000)
    with pytest.raises(SampleError, match="limit"):
        store.import_from(tmp_path / "bomb.zip")


def test_importing_something_that_is_neither_folder_nor_zip_is_a_clear_error(store, tmp_path):
    (tmp_path / "x.png").write_bytes(b"123")
    with pytest.raises(SampleError, match="neither a folder nor a .zip"):
        store.import_from(tmp_path / "x.png")
    with pytest.raises(SampleError, match="Not found"):
        store.import_from(tmp_path / "missing")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_the_store_is_skipped_without_blocking(store):
    store.add(drawing(2), 2)
    os.mkfifo(store.root / "2" / "pipe.png")
    loaded = store.load_all()
    assert len(loaded.samples) == 1
    assert [Path(w).name for w, _ in loaded.problems] == ["pipe.png"]


def test_read_folder_reads_any_names_in_digit_folders(tmp_path):
    src = tmp_path / "teach"
    write_mixed_folder(src)
    loaded = read_folder(src)
    assert sorted(loaded.labels) == [0, 0, 1, 1, 1]  # the blank one is readable; teach skips it
    assert len(loaded.images) == 5
    with pytest.raises(SampleError):
        read_folder(tmp_path / "nope")


def test_bad_labels_are_refused(store):
    for bad in (10, -1, 2.5, True):
        with pytest.raises(SampleError):
            store.add(drawing(1), bad)
