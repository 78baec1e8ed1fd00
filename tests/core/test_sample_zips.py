"""Zip imports: every zipfile exception is the store's own error, naming the member; an
import can be stopped between files and keeps what it added."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitpad.core.data.samples import ImportProgress, SampleError, SampleStore


def png(value: int = 255) -> bytes:
    a = np.zeros((40, 40), np.uint8)
    a[8:32, 18:22] = value
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytearray:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return bytearray(buf.getvalue())


def headers(blob: bytearray, name: str) -> tuple[int, int]:
    """Offsets of the local header and the central directory entry of member ``name``."""
    enc = name.encode()
    local = blob.index(b"PK\x03\x04" + blob[4:4])  # first local header
    while blob[local + 30: local + 30 + len(enc)] != enc:
        local = blob.index(b"PK\x03\x04", local + 4)
    central = blob.index(b"PK\x01\x02")
    while blob[central + 46: central + 46 + len(enc)] != enc:
        central = blob.index(b"PK\x01\x02", central + 4)
    return local, central


def damaged(kind: str) -> bytearray:
    blob = make_zip({"3/good.png": png(), "3/bad.png": png(200)})
    local, central = headers(blob, "3/bad.png")
    if kind == "compression":  # a method zipfile does not know: NotImplementedError on open
        struct.pack_into("<H", blob, local + 8, 99)
        struct.pack_into("<H", blob, central + 10, 99)
    elif kind == "encrypted":  # flag bit 0: RuntimeError, password required
        for off in (local + 6, central + 8):
            struct.pack_into("<H", blob, off, struct.unpack_from("<H", blob, off)[0] | 1)
    elif kind == "crc":  # BadZipFile: Bad CRC-32
        struct.pack_into("<I", blob, central + 16, 0xDEADBEEF)
        struct.pack_into("<I", blob, local + 14, 0xDEADBEEF)
    elif kind == "deflate":  # the compressed stream garbled: zlib.error
        start = local + 30 + len("3/bad.png")
        for i in range(start, start + 12):
            blob[i] ^= 0xFF
    elif kind == "short":  # the compressed size says 5 bytes: the stream ends early, EOFError
        struct.pack_into("<I", blob, central + 20, 5)
        struct.pack_into("<I", blob, local + 18, 5)
    return blob


@pytest.mark.parametrize("kind", ["compression", "encrypted", "crc", "deflate", "short"])
def test_a_damaged_member_is_skipped_and_named(kind, tmp_path):
    (tmp_path / "in.zip").write_bytes(damaged(kind))
    store = SampleStore(tmp_path / "samples")
    report = store.import_from(tmp_path / "in.zip")
    assert [s.digit for s in report.added] == [3]  # the good member still comes in
    [(where, why)] = list(report.problems)
    assert Path(where).name == "bad.png"
    assert "member" not in why.split("(")[0]  # not the private temp file's name
    assert why


def test_a_bad_version_field_is_the_stores_error(tmp_path):
    blob = make_zip({"3/a.png": png()})
    _local, central = headers(blob, "3/a.png")
    struct.pack_into("<H", blob, central + 6, 99)  # "needs version 9.9": NotImplementedError
    (tmp_path / "v.zip").write_bytes(blob)
    with pytest.raises(SampleError, match=r"v\.zip .*NotImplementedError"):
        SampleStore(tmp_path / "samples").import_from(tmp_path / "v.zip")


def test_a_cut_off_archive_is_the_stores_error(tmp_path):
    blob = make_zip({f"3/{i}.png": png() for i in range(5)})
    (tmp_path / "cut.zip").write_bytes(blob[: len(blob) - 30])
    with pytest.raises(SampleError, match="cut.zip"):
        SampleStore(tmp_path / "samples").import_from(tmp_path / "cut.zip")


def test_an_undecodable_member_is_named_not_the_temp_file(tmp_path):
    (tmp_path / "in.zip").write_bytes(make_zip({"4/scan.png": b"\x89PNG\r\n\x1a\n garbage"}))
    report = SampleStore(tmp_path / "samples").import_from(tmp_path / "in.zip")
    [(where, why)] = list(report.problems)
    assert where == "4/scan.png"
    assert "scan.png" in why and "member" not in why


def test_import_steps_report_progress_and_stop_between_files(tmp_path):
    (tmp_path / "in.zip").write_bytes(make_zip({f"{i % 10}/{i}.png": png() for i in range(30)}))
    store = SampleStore(tmp_path / "samples")
    steps = store.import_steps(tmp_path / "in.zip")
    first = next(steps)
    assert isinstance(first, ImportProgress) and (first.done, first.total) == (0, 30)
    for step in steps:
        if step.done == 10:
            break
    steps.close()  # what a Cancel does: the rest is not read, what was added stays
    assert len(step.report.added) == 10 and len(store.list()) == 10
    assert not list(Path(store.root).glob("*/.*.tmp"))
