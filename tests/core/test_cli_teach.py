"""`digitpad teach SAMPLES_DIR --out FILE` end to end, on PNGs (and junk) written here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from digitpad import cli
from digitpad.core.nets.checkpoint import load_checkpoint, shipped_model_path

ROOT = Path(__file__).resolve().parents[2]


def digit_png(path: Path, digit: int, size: int, dark_on_light: bool) -> None:
    ink, paper = (0, 255) if dark_on_light else (255, 0)
    im = Image.new("L", (size, size), paper)
    font = ImageFont.load_default(size=int(size * 0.75))
    ImageDraw.Draw(im).text((size // 2, size // 2), str(digit), fill=ink, font=font, anchor="mm",
                            stroke_width=max(1, size // 30), stroke_fill=ink)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        im.convert("RGB").save(path, quality=92)
    else:
        im.save(path)


@pytest.fixture
def samples_dir(tmp_path) -> Path:
    """Four drawings per digit in mixed sizes, formats and polarities, plus files that fail."""
    root = tmp_path / "my digits"
    for d in range(10):
        for k in range(4):
            suffix = ".jpg" if k == 3 else ".png"
            digit_png(root / str(d) / f"{d}-{k}{suffix}", d, 60 + 40 * k, dark_on_light=k % 2 == 0)
    (root / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (root / "4" / "notes.txt").write_text("fours are hard")
    Image.new("L", (80, 80), 255).save(root / "5" / "blank.png")  # readable, nothing drawn
    digit_png(root / "unsorted" / "x.png", 6, 80, True)  # not in a digit folder
    return root


def test_teach_json_reports_before_after_and_saves_a_new_model(samples_dir, tiny_mnist, tmp_path,
                                                               capsys):
    out = tmp_path / "models" / "mine.safetensors"
    rc = cli.main(["teach", str(samples_dir), "--model", "lenet", "--out", str(out),
                   "--data", str(tiny_mnist), "--device", "cpu", "--steps", "12", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    doc = json.loads(captured.out)  # stdout holds exactly one JSON object
    assert doc["out"] == str(out) and doc["readable"] == 41
    assert doc["skipped_count"] == 4
    assert sorted(Path(s["file"]).name for s in doc["skipped"]) == \
        ["blank.png", "broken.png", "notes.txt", "x.png"]
    assert all(s["reason"] for s in doc["skipped"])
    assert sum(doc["train_counts"]) + sum(doc["held_out_counts"]) == 40
    assert doc["held_out_counts"] == [1] * 10
    for when in ("before", "after"):
        assert 0 <= doc[when]["held_out_acc"] <= 1 and doc[when]["mnist_n"] == 100
        assert len(doc[when]["held_out_per_digit"]) == 10
    ck = load_checkpoint(out)
    assert ck.arch == "lenet" and ck.name == "lenet + my handwriting"
    assert ck.meta["taught"]["after"]["mnist_acc"] == pytest.approx(doc["after"]["mnist_acc"])
    assert "skipped" in captured.err  # the bad files are named on stderr, not in stdout
    assert [p.name for p in out.parent.iterdir()] == ["mine.safetensors"]  # no temp, no lock left


def test_teach_as_a_person_runs_it(samples_dir, tiny_mnist, tmp_path):
    out = tmp_path / "taught.safetensors"
    env = dict(os.environ, DIGITPAD_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "digitpad", "teach", str(samples_dir),
                           "--model", "lenet", "--out", str(out), "--data", str(tiny_mnist),
                           "--device", "cpu", "--steps", "8"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "41 readable" in proc.stdout and "3 skipped" in proc.stdout  # the blank one: below
    assert "held-out samples (10)" in proc.stdout and "MNIST test (100)" in proc.stdout
    assert "blank.png: no ink found" in proc.stderr
    assert out.is_file() and "Traceback" not in proc.stderr


def test_without_mnist_it_warns_that_forgetting_is_not_measured(samples_dir, tmp_path, capsys):
    out = tmp_path / "alone.safetensors"
    rc = cli.main(["teach", str(samples_dir), "--model", "lenet", "--out", str(out),
                   "--data", str(tmp_path / "empty"), "--device", "cpu", "--steps", "3"])
    captured = capsys.readouterr()
    assert rc == 0
    assert "forgetting is not measured" in captured.err
    assert "MNIST not found" in captured.out
    assert "test_acc" not in load_checkpoint(out).meta


@pytest.mark.parametrize("case", ["missing", "empty", "shipped-out", "bad-suffix", "bad-model"])
def test_failures_are_one_clear_line(case, samples_dir, tmp_path, capsys):
    out = tmp_path / "o.safetensors"
    args = ["teach", str(samples_dir), "--model", "lenet", "--out", str(out), "--device", "cpu",
            "--steps", "2"]
    if case == "missing":
        args[1] = str(tmp_path / "nope")
    elif case == "empty":
        (tmp_path / "empty" / "1").mkdir(parents=True)
        args[1] = str(tmp_path / "empty")
    elif case == "shipped-out":
        args[5] = str(shipped_model_path("digitnet"))
    elif case == "bad-suffix":
        args[5] = str(tmp_path / "o.pt")
    elif case == "bad-model":
        (tmp_path / "m.safetensors").write_bytes(b"not a model")
        args[3] = str(tmp_path / "m.safetensors")
    shipped_before = Path(shipped_model_path("digitnet")).read_bytes()
    rc = cli.main(args)
    err = capsys.readouterr().err
    assert rc == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("digitpad: error:"), err
    assert not out.exists()
    assert Path(shipped_model_path("digitnet")).read_bytes() == shipped_before


# --- teach --out goes through the one guarded output (issue 15, item 3) ------------------------

def teach(samples_dir, out, tiny_mnist, *extra):
    return cli.main(["teach", str(samples_dir), "--model", "lenet", "--out", str(out),
                     "--data", str(tiny_mnist), "--device", "cpu", "--steps", "3", *extra])


def test_teach_into_a_better_file_leaves_it_as_it_was(samples_dir, tiny_mnist, tmp_path, capsys):
    from digitpad.core.nets.checkpoint import save_checkpoint

    out = tmp_path / "mine.safetensors"
    assert teach(samples_dir, out, tiny_mnist) == 0
    taught = load_checkpoint(out)
    assert taught.meta["val_data"]["count"] == 10 and taught.val_acc is not None
    # the same held-out samples, a file that records 100 % on them: a new teach is not better
    save_checkpoint(out, "lenet", taught.state, {**taught.meta, "val_acc": 1.0})
    before = out.read_bytes()
    capsys.readouterr()
    assert teach(samples_dir, out, tiny_mnist) == 1
    err = capsys.readouterr().err
    assert "not better" in err and "left unchanged" in err and out.read_bytes() == before
    assert teach(samples_dir, out, tiny_mnist, "--overwrite") == 0 and out.read_bytes() != before


def test_teach_into_a_model_measured_on_other_data_does_not_teach(samples_dir, tiny_mnist, tmp_path,
                                                                    capsys):
    out = tmp_path / "trained.safetensors"
    assert cli.main(["train", "--model", "lenet", "--epochs", "1", "--device", "cpu",
                     "--data", str(tiny_mnist), "--out", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert teach(samples_dir, out, tiny_mnist) == 1
    captured = capsys.readouterr()
    assert "other validation data" in captured.err and "teaching" not in captured.out
    assert out.read_bytes() == before


def test_teach_takes_the_lock_before_any_work(samples_dir, tiny_mnist, tmp_path, capsys):
    out = tmp_path / "busy.safetensors"
    code = ("import sys\nfrom digitpad.core.io.outputs import output_lock\n"
            "with output_lock(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert holder.stdout.readline().strip() == "held"
        assert teach(samples_dir, out, tiny_mnist) == 1
        captured = capsys.readouterr()
        assert "being written by another digitpad run" in captured.err
        assert "samples in" not in captured.out  # found before reading a single sample
    finally:
        holder.stdin.close()  # the holder lets go when its input ends
        holder.wait(60)
    assert not out.exists()
