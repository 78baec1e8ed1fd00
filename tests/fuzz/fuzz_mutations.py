"""Seeded mutations of the files digitpad reads, and the seeds they start from.

Shared by the fast harness (tests/fuzz/test_fuzz.py: a few hundred mutations, seconds) and the
wide one (scripts/fuzz_wide.py: thousands, through the CLI in subprocesses). Every mutation is
a function of ``random.Random(seed)``, so a failure is reproduced by its seed alone.
"""

from __future__ import annotations

import io
import json
import math
import random
import struct
import zipfile

import numpy as np

# Values that break assumptions: types, signs, sizes, non-finite numbers.
ODD_VALUES = [None, True, False, 0, -1, -5, 1, 2 ** 31, 2 ** 63, 10 ** 30, -1e308, 1e308, 0.5,
              1e-300, "", "x", "NaN", "Infinity", [], [1, 2], {}, {"a": 1}, [[]], "\x1b[31m",
              float("nan"), float("inf"), -float("inf")]
INTERESTING_BYTES = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x20, 0x0A]


# --- bytes ------------------------------------------------------------------------------

def mutate_bytes(blob: bytes, rng: random.Random, ops: int | None = None) -> bytes:
    """1-4 blind edits: bit flips, odd bytes, truncation, insertion, deletion, duplication."""
    data = bytearray(blob)
    for _ in range(ops or rng.randint(1, 4)):
        if not data:
            data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            continue
        op = rng.randrange(7)
        i = rng.randrange(len(data))
        if op == 0:
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[i] = rng.choice(INTERESTING_BYTES)
        elif op == 2:
            del data[rng.randrange(len(data)):]
        elif op == 3:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        elif op == 4:
            del data[i:i + rng.randint(1, 64)]
        elif op == 5:
            j = rng.randrange(len(data))
            data[i:i] = data[j:j + rng.randint(1, 256)]
        else:  # a 4-byte little-endian integer somewhere set to an odd size
            data[i:i + 4] = struct.pack("<I", rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 28]))
    return bytes(data)


# --- safetensors with JSON metadata ------------------------------------------------------

def split_safetensors(blob: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def join_safetensors(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header, allow_nan=True).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def _paths(obj, prefix=()):
    """Every (path, value) in a JSON document, containers included."""
    yield prefix, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def mutate_json(doc, rng: random.Random):
    """The document with one value replaced, removed or given an odd type."""
    doc = json.loads(json.dumps(doc, allow_nan=True))
    paths = [p for p, _ in _paths(doc) if p]
    if not paths:
        return rng.choice(ODD_VALUES)
    path = rng.choice(paths)
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    op = rng.randrange(4)
    if op == 0 and isinstance(parent, dict):
        del parent[key]
    elif op == 1 and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
        v = parent[key]
        parent[key] = rng.choice([-v, v * 1e9, v + 1, v - 1, math.nan, math.inf, int(v) if
                                  isinstance(v, float) and math.isfinite(v) else v / 3 + 0.5])
    else:
        parent[key] = rng.choice(ODD_VALUES)
    return doc


def mutate_safetensors(blob: bytes, rng: random.Random, inner: tuple[str, ...] = ()) -> bytes:
    """A header-aware edit: the tensor table, the metadata, or a JSON document stored as a
    metadata string (``inner``: e.g. "meta" for a model file, "json" for a training state)."""
    header, body = split_safetensors(blob)
    meta = header.get("__metadata__") or {}
    choice = rng.randrange(4)
    if choice == 0 and inner and any(k in meta for k in inner):
        key = rng.choice([k for k in inner if k in meta])
        meta[key] = json.dumps(mutate_json(json.loads(meta[key]), rng), allow_nan=True)
        header["__metadata__"] = meta
    elif choice == 1:
        tensors = [k for k in header if k != "__metadata__"]
        name = rng.choice(tensors)
        field = rng.choice(["dtype", "shape", "data_offsets", None])
        if field is None:
            header[rng.choice([name + "x", "model." + name, "optimizer.0.extra"])] = header.pop(name)
        elif field == "dtype":
            header[name]["dtype"] = rng.choice(["F16", "BF16", "F64", "I64", "I32", "U8", "BOOL", "XX"])
        elif field == "shape":
            shape = list(header[name]["shape"])
            header[name]["shape"] = rng.choice([shape[::-1], shape + [1], shape[:-1], [0], [-1]])
        else:
            a, b = header[name]["data_offsets"]
            header[name]["data_offsets"] = rng.choice([[b, a], [a, b + 4], [a, a], [0, b - a]])
    elif choice == 2 and meta:
        key = rng.choice(sorted(meta))
        meta[key] = rng.choice(["", "x", "{", "[]", "null", "digitpad-model-1",
                                "digitpad-train-state-1", "lenet", "dense"])
        header["__metadata__"] = meta
    else:
        return mutate_bytes(blob, rng)
    return join_safetensors(header, body)


def poison_tensor(blob: bytes, rng: random.Random) -> bytes:
    """One float32 tensor element set to NaN, Inf, or a huge or tiny value (valid file)."""
    header, body = split_safetensors(blob)
    floats = [k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32"
              and v["data_offsets"][1] > v["data_offsets"][0]]
    if not floats:
        return blob
    a, b = header[rng.choice(floats)]["data_offsets"]
    i = a + 4 * rng.randrange((b - a) // 4)
    value = rng.choice([math.nan, math.inf, -math.inf, 3e38, -3e38, 1e-45])
    body = body[:i] + struct.pack("<f", value) + body[i + 4:]
    return join_safetensors(header, body)


# --- images ----------------------------------------------------------------------------

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "TIFF-F", "PNG-16", "PNG-P")


def digit_image(fmt: str, rng: random.Random) -> bytes:
    """A small drawn digit in one format (a seed for image mutations)."""
    from PIL import Image, ImageDraw

    w, h = rng.randint(20, 90), rng.randint(20, 90)
    im = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(im)
    d.line((w * 0.3, h * 0.2, w * 0.6, h * 0.8), fill=0, width=max(1, w // 10))
    d.ellipse((w * 0.2, h * 0.1, w * 0.8, h * 0.5), outline=0, width=max(1, w // 12))
    buf = io.BytesIO()
    if fmt == "TIFF-F":
        Image.fromarray(1.0 - np.asarray(im, np.float32) / 255.0, "F").save(buf, "TIFF")
    elif fmt == "PNG-16":
        Image.fromarray(np.asarray(im, np.uint16) * 257).save(buf, "PNG")
    elif fmt == "PNG-P":
        im.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(
            buf, "PNG", transparency=0)
    else:
        (im.convert("RGB") if fmt == "JPEG" else im).save(buf, fmt)
    return buf.getvalue()


def mutate_image(fmt: str, rng: random.Random) -> bytes:
    blob = digit_image(fmt, rng)
    if rng.random() < 0.15:  # a header claiming a huge size: the pixel cap must answer
        return huge_header(fmt, rng) or mutate_bytes(blob, rng)
    return mutate_bytes(blob, rng, ops=rng.choice([1, 1, 2, 3]))


def huge_header(fmt: str, rng: random.Random) -> bytes | None:
    """A PNG or BMP whose header claims tens of thousands of pixels a side."""
    side = rng.choice([12_000, 40_000, 70_000])
    if fmt.startswith("PNG"):
        import zlib

        def chunk(kind, data):
            return (struct.pack(">I", len(data)) + kind + data
                    + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
        ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    if fmt == "BMP":
        pixels = 64
        return (b"BM" + struct.pack("<IHHI", 54 + pixels, 0, 0, 54)
                + struct.pack("<IiiHHIIiiII", 40, side, side, 1, 8, 0, pixels, 0, 0, 0, 0)
                + b"\x00" * pixels)
    return None


# --- zips -------------------------------------------------------------------------------

def sample_zip(rng: random.Random) -> bytes:
    """A small export: a few drawn digits under <digit>/<name>.png."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=rng.choice([zipfile.ZIP_STORED,
                                                           zipfile.ZIP_DEFLATED])) as zf:
        for k in range(rng.randint(1, 4)):
            zf.writestr(f"{rng.randrange(10)}/s{k}.png", digit_image("PNG", rng))
    return buf.getvalue()


def mutate_zip(rng: random.Random) -> bytes:
    """Blind edits, or edits inside a local or central header (version, flags, method,
    sizes, name length): where zipfile's own exceptions come from."""
    blob = bytearray(sample_zip(rng))
    if rng.random() < 0.5:
        return mutate_bytes(bytes(blob), rng)
    sigs = [i for sig in (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06")
            for i in range(len(blob)) if blob.startswith(sig, i)]
    for _ in range(rng.randint(1, 3)):
        at = rng.choice(sigs) + rng.randrange(4, 30)
        if at + 2 <= len(blob):
            blob[at:at + 2] = struct.pack("<H", rng.choice([0, 1, 0x14, 0x3F, 0x63, 0xFFFF, 99, 12, 14]))
    return bytes(blob)


# --- settings ---------------------------------------------------------------------------

SETTINGS_INI = """[General]
theme=dark

[model]
last=digitnet
recent=/tmp/a.safetensors, /tmp/b.safetensors

[window]
geometry=@ByteArray(\\x1\\xd9\\xd0\\xcb\\0\\x3\\0\\0)

[maps]
shared_scale=true

[train]
device=cpu
"""


def mutate_settings(rng: random.Random) -> bytes:
    text = SETTINGS_INI.encode()
    if rng.random() < 0.3:
        lines = text.split(b"\n")
        i = rng.randrange(len(lines))
        lines[i] = rng.choice([b"[", b"=", b"key", b"@ByteArray(", b"@Variant(\\0\\0\\0\\x7f",
                               b"\xff\xfe", b"last=\x00\x01", b"recent=" + b",".join([b"x"] * 500),
                               b"[model]" * 50, b"\\" * 100])
        text = b"\n".join(lines)
    return mutate_bytes(text, rng)


def step_from_state(config, weights: dict, optimizer_state: dict) -> bool:
    """Continue an accepted training state as a resume would: LeNet with its weights, the
    config's optimiser with its state, one step. True when every weight stays finite (a reshaped
    tensor once crashed the fused kernel here)."""
    import torch

    from digitpad.core.learning.loop import make_optimizer
    from digitpad.core.nets.models import create_model

    model = create_model("lenet")
    model.load_state_dict(weights)
    opt = make_optimizer(config, model)
    opt.load_state_dict(optimizer_state)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    opt.step()
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


# --- deep nesting (issue 24.4) ---------------------------------------------------------------

def nested(depth: int) -> str:
    """JSON text nested ``depth`` levels: what makes json.loads raise RecursionError."""
    return "[" * depth + "]" * depth


def nest_header(blob: bytes, depth: int, where: str) -> bytes:
    """blob with a ``depth``-deep value in its safetensors header (``"header"``) or inside its
    metadata's JSON string (``"meta"`` for a model, ``"json"`` for a training state)."""
    (n,) = struct.unpack("<Q", blob[:8])
    body = blob[8 + n:]
    text = blob[8:8 + n].decode().rstrip()
    if where == "header":
        raw = '{"deep": ' + nested(depth) + ", " + text[1:]
    else:
        header = json.loads(text)
        inner = json.loads(header["__metadata__"][where])
        inner_text = json.dumps(inner)
        header["__metadata__"][where] = '{"deep": ' + nested(depth) + ", " + inner_text[1:]
        raw = json.dumps(header)
    data = raw.encode()
    data += b" " * (-len(data) % 8)
    return struct.pack("<Q", len(data)) + data + body


# --- overlapping zip entries (issue 24.7) ----------------------------------------------------

def overlapping_zip(member: bytes, copies: int, name: str = "0/a00000.png") -> bytes:
    """A zip whose central directory lists one stored member ``copies`` times under different
    names, every entry pointing at the same data: tiny on disk, ``copies`` decodes of work."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(name, member)
    raw = buf.getvalue()
    eocd = raw.rindex(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack("<II", raw[eocd + 12:eocd + 20])
    record = raw[cd_offset:cd_offset + cd_size]
    stem = name[:-len("00000.png")]
    entries = b"".join(record.replace(name.encode(), f"{stem}{i:05d}.png".encode())
                       for i in range(copies))
    end = (b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, copies, copies, len(entries),
                                       cd_offset, 0))
    return raw[:cd_offset] + entries + end
