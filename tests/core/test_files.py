"""Odd files given as models or images: FIFOs, devices, huge files, empty paths, metadata of the
wrong type, escape sequences; and which errors count as the user's (issue 9, "Files")."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from digitpad import cli
from digitpad.core.nets.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from digitpad.core.nets.models import create_model
from digitpad.core.data.preprocess import ImageError, load_image

ROOT = Path(__file__).resolve().parents[2]


def call_with_fifo_guard(fifo: Path, fn, *args, limit: float = 20.0):
    """fn(*args) in a thread; if it is still blocked on the FIFO after ``limit`` seconds, a
    writer opens the FIFO to release it and the test fails (the old code hung here)."""
    box = {}

    def target():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(limit)
    if t.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        t.join(10)
        pytest.fail(f"{fn.__name__} blocked on the FIFO {fifo}")
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "model.safetensors"
    os.mkfifo(path)
    return path


def lenet_file(path: Path, **meta) -> Path:
    state = create_model("lenet").state_dict()
    save_checkpoint(path, "lenet", state, {"arch": "lenet", **meta})
    return path


def digit_png(path: Path) -> Path:
    im = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(im).line([(32, 10), (32, 54)], fill=0, width=6)
    im.save(path)
    return path


# --- models -------------------------------------------------------------------------------

def test_fifo_as_model_is_refused_without_hanging(fifo):
    with pytest.raises(CheckpointError) as err:
        call_with_fifo_guard(fifo, load_checkpoint, fifo)
    assert "named pipe" in str(err.value)


def test_fifo_as_model_in_info_is_one_line(fifo, capsys):
    rc = call_with_fifo_guard(fifo, cli.main, ["info", str(fifo)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and err[0].startswith("digitpad: error:") and "pipe" in err[0]


def test_device_file_as_model_is_refused_before_reading(tmp_path):
    # In a child with its address space capped: the old code read /dev/zero until memory ran out.
    code = (
        "import resource, sys\n"
        "from digitpad.core.nets.checkpoint import load_checkpoint, CheckpointError\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_AS)\n"
        "vm = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (vm + 512 * 2**20, hard))\n"
        "try:\n"
        "    load_checkpoint('/dev/zero')\n"
        "except CheckpointError as exc:\n"
        "    print('REFUSED', exc)\n"
        "except MemoryError:\n"
        "    print('MEMORY')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert "REFUSED" in proc.stdout and "device" in proc.stdout, proc.stdout + proc.stderr


def test_huge_model_file_is_refused_by_its_size(tmp_path):
    big = tmp_path / "huge.safetensors"
    with open(big, "wb") as f:  # sparse: 100 MiB that take no disk space
        f.truncate(100 * 2**20)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(big)
    assert "too large" in str(err.value)


def test_folder_and_missing_model_still_clear(tmp_path):
    with pytest.raises(CheckpointError, match="folder"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.safetensors")


# --- images -------------------------------------------------------------------------------

def test_fifo_as_image_is_an_error_not_a_hang(tmp_path):
    fifo = tmp_path / "a.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError) as err:
        call_with_fifo_guard(fifo, load_image, fifo)
    assert "named pipe" in str(err.value)


def test_device_as_image_is_refused():
    with pytest.raises(ImageError, match="device"):
        load_image("/dev/zero")


def test_huge_image_file_is_refused_by_its_size(tmp_path):
    big = tmp_path / "huge.png"
    with open(big, "wb") as f:
        f.truncate(100 * 2**20)
    with pytest.raises(ImageError, match="too large"):
        load_image(big)


def test_fifo_inside_a_folder_is_skipped_with_a_message(tmp_path, capsys):
    folder = tmp_path / "scans"
    folder.mkdir()
    digit_png(folder / "one.png")
    os.mkfifo(folder / "pipe.png")
    rc = call_with_fifo_guard(folder / "pipe.png", cli.main,
                              ["predict", str(folder), "--model", "lenet", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert len(out.strip().splitlines()) == 1 and "one.png" in out
    assert "skipping" in err and "pipe.png" in err


def test_fifo_named_on_the_command_line_is_an_error_line(tmp_path, capsys):
    fifo = tmp_path / "p.png"
    os.mkfifo(fifo)
    rc = call_with_fifo_guard(fifo, cli.main, ["predict", str(fifo), "--model", "lenet"])
    out = capsys.readouterr().out
    assert rc == 1 and "pipe" in out


def test_empty_path_for_predict_is_an_error_not_a_scan_of_cwd(tmp_path, monkeypatch, capsys):
    digit_png(tmp_path / "here.png")
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["predict", "", "--model", "lenet"])
    out, err = capsys.readouterr()
    assert rc == 1 and "here.png" not in out
    assert "empty path" in err


# --- metadata -----------------------------------------------------------------------------

def test_wrong_metadata_types_are_ignored_with_a_note(tmp_path, capsys):
    path = lenet_file(tmp_path / "odd.safetensors", test_acc="lots", epochs="many", name=["x"],
                      config="fast", train_seconds=-3)
    ckpt = load_checkpoint(path)
    assert ckpt.test_acc is None and "test_acc" not in ckpt.meta and "epochs" not in ckpt.meta
    assert ckpt.name == "odd"
    assert any("test_acc" in n for n in ckpt.notes) and len(ckpt.notes) == 5
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "note" in out and "test_acc" in out and '"lots"' in out


def test_accuracy_out_of_range_is_ignored(tmp_path):
    ckpt = load_checkpoint(lenet_file(tmp_path / "m.safetensors", test_acc=7.5, val_acc=True))
    assert ckpt.test_acc is None and ckpt.val_acc is None and len(ckpt.notes) == 2


def test_escape_sequences_in_metadata_are_not_printed_raw(tmp_path, capsys):
    path = lenet_file(tmp_path / "esc.safetensors", name="\x1b[2J\x1b]0;pwned\x07evil",
                      created="\x1b[31mred", config={"note": "\x1b[5mblink"}, test_acc=0.5)
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J" in out and "evil" in out


def test_escape_sequences_in_file_names_are_not_printed_raw(tmp_path, capsys):
    path = digit_png(tmp_path / "a\x1b[31m.png")
    assert cli.main(["predict", str(path), "--model", "lenet"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[31m.png" in out


# --- which errors are the user's ----------------------------------------------------------

def test_a_bug_is_reported_as_unexpected(monkeypatch, capsys):
    def buggy(spec, input=None):
        raise ValueError("internal invariant broken")

    monkeypatch.setattr(cli.info, "model_info", buggy)
    assert cli.main(["info", "lenet"]) == 1
    err = capsys.readouterr().err
    assert "unexpected error: ValueError" in err and "--debug" in err
    with pytest.raises(ValueError):
        cli.main(["info", "lenet", "--debug"])


def test_an_os_error_without_a_user_path_is_unexpected(monkeypatch, capsys):
    def buggy(spec, input=None):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(cli.info, "model_info", buggy)
    assert cli.main(["info", "lenet"]) == 1
    assert "unexpected error: OSError" in capsys.readouterr().err


def test_permission_denied_on_a_named_path_is_a_user_error(monkeypatch, capsys):
    def denied(spec, input=None):
        raise PermissionError(13, "Permission denied", "/x/model.safetensors")

    monkeypatch.setattr(cli.info, "model_info", denied)
    assert cli.main(["info", "lenet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("digitpad: error: Permission denied") and "unexpected" not in err


def test_allocation_failure_is_a_readable_message(monkeypatch, capsys):
    def greedy(*args, **kwargs):
        torch.empty(2 ** 62, dtype=torch.uint8)  # the allocator's real failure

    monkeypatch.setattr(cli.eval, "measure", greedy)
    assert cli.main(["eval", "lenet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("digitpad: error: Not enough memory")
    assert "enforce fail" not in err and "alloc_cpu" not in err
