"""A seeded, small fuzz harness (issue 15): mutated model files, training states, images, zips
and settings files each get a clean error (a DigitpadError, or the CLI's one line with rc 1-2)
or a clean result; never another exception, a crash, a hang or a stray warning.

The wide version (more seeds, every CLI command in subprocesses) is scripts/fuzz_wide.py.
A failure names its seed: ``mutate_*(random.Random(seed))`` reproduces the input.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from fuzz_mutations import (FORMATS, step_from_state, mutate_bytes, mutate_image, mutate_safetensors,
                            mutate_settings, mutate_zip, poison_tensor)

from digitpad import cli
from digitpad.core.io.files import DigitpadError

MODEL_SEEDS = range(60)
STATE_SEEDS = range(60)
IMAGE_SEEDS = range(12)
ZIP_SEEDS = [*range(40), 127, 171]  # 127, 171: a version field zipfile refuses
SETTINGS_SEEDS = range(20)
CLI_SEEDS = range(12)
SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif",
          "WEBP": ".webp", "TIFF-F": ".tiff", "PNG-16": ".png", "PNG-P": ".png"}


def clean(fn, *args, **kwargs):
    """fn's result, or the DigitpadError it raised; anything else (or a warning) fails."""
    # the process's own filters stay (digitpad silences what it turns into messages)
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        try:
            result = fn(*args, **kwargs)
        except DigitpadError as exc:
            result = exc
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]
    return result


def mutated_model(seed: int) -> bytes:
    from digitpad.core.nets.checkpoint import shipped_model_path

    rng = random.Random(seed)
    blob = Path(shipped_model_path("lenet")).read_bytes()
    kind = seed % 3
    if kind == 0:
        return mutate_safetensors(blob, rng, inner=("meta",))
    if kind == 1:
        return poison_tensor(blob, rng)
    return mutate_bytes(blob, rng)


def test_model_files(tmp_path):
    from digitpad.core.nets.checkpoint import Checkpoint, load_checkpoint
    from digitpad.core.reading.predict import Predictor

    drawing = np.zeros((60, 60), np.uint8)
    drawing[10:50, 28:33] = 255
    outcomes = {"error": 0, "loaded": 0}
    for seed in MODEL_SEEDS:
        path = tmp_path / f"m{seed}.safetensors"
        path.write_bytes(mutated_model(seed))
        ckpt = clean(load_checkpoint, path)
        if isinstance(ckpt, Checkpoint):
            outcomes["loaded"] += 1
            pred = clean(lambda: Predictor.from_checkpoint(ckpt).predict(drawing))
            assert pred is not None, seed
        else:
            outcomes["error"] += 1
            assert str(ckpt) and "\n" not in str(ckpt).strip(), seed
    assert outcomes["error"] > 20 and outcomes["loaded"] > 5, outcomes  # both paths exercised


@pytest.fixture(scope="module")
def train_state_blob(tmp_path_factory):
    """A real training state: LeNet after one step of this config's optimiser."""
    from digitpad.core.learning.train_state import save_train_state
    from digitpad.core.learning.config import recipe_config
    from digitpad.core.learning.loop import cpu_state, make_optimizer, optimizer_state_cpu
    from digitpad.core.nets.models import create_model

    config = recipe_config("fast", "lenet", epochs=3, device="cpu")
    model = create_model("lenet")
    opt = make_optimizer(config, model)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    opt.step()
    path = tmp_path_factory.mktemp("state") / "m.train-state.safetensors"
    save_train_state(path, cpu_state(model), {"optimizer": optimizer_state_cpu(opt), "step": 1,
                                              "epoch": 1},
                     {"run_id": "r", "config": config.to_dict(), "best_val_acc": 0.5,
                      "best_epoch": 1, "history": {"epochs": [1], "val_acc": [0.5]}})
    return path.read_bytes(), config


def test_training_states(tmp_path, train_state_blob):
    from digitpad.core.learning.train_state import check_train_state, load_train_state

    blob, config = train_state_blob
    outcomes = {"refused": 0, "accepted": 0}
    for seed in STATE_SEEDS:
        rng = random.Random(seed)
        kind = seed % 3
        data = (mutate_safetensors(blob, rng, inner=("json",)) if kind == 0 else
                poison_tensor(blob, rng) if kind == 1 else mutate_bytes(blob, rng))
        path = tmp_path / f"s{seed}.train-state.safetensors"
        path.write_bytes(data)
        loaded = clean(load_train_state, path)
        if isinstance(loaded, DigitpadError):
            outcomes["refused"] += 1
            continue
        weights, optimizer, info = loaded
        verdict = clean(check_train_state, path, weights, optimizer, info, config, "lenet")
        if isinstance(verdict, DigitpadError):
            outcomes["refused"] += 1
            continue
        # accepted: it must then continue like a sound state (this is where a reshaped
        # tensor crashed the fused kernel)
        outcomes["accepted"] += 1
        assert step_from_state(config, weights, optimizer), seed
    assert outcomes["refused"] > 20 and outcomes["accepted"] >= 1, outcomes


@pytest.mark.parametrize("fmt", FORMATS)
def test_images(fmt, tmp_path):
    from digitpad.core.data.preprocess import Preprocessed, load_image, preprocess

    for seed in IMAGE_SEEDS:
        path = tmp_path / f"i{seed}{SUFFIX[fmt]}"
        path.write_bytes(mutate_image(fmt, random.Random(seed * 31 + len(fmt))))
        for side in (None, 32):
            arr = clean(load_image, path, max_side=side)
            if isinstance(arr, DigitpadError):
                assert str(arr).strip() and "\n" not in str(arr).strip(), (fmt, seed)
                continue
            assert arr.dtype == np.uint8 and arr.ndim in (2, 3), (fmt, seed)
            if side is not None:
                assert max(arr.shape[:2]) <= side, (fmt, seed, arr.shape)
            pre = clean(preprocess, arr, keep_steps=False)
            assert isinstance(pre, (Preprocessed, DigitpadError)), (fmt, seed)


def test_zip_imports(tmp_path):
    from digitpad.core.data.samples import ImportReport, SampleStore

    store = SampleStore(tmp_path / "store")
    outcomes = {"refused": 0, "imported": 0}
    for seed in ZIP_SEEDS:
        path = tmp_path / f"z{seed}.zip"
        path.write_bytes(mutate_zip(random.Random(seed)))
        report = clean(store.import_from, path)
        if isinstance(report, ImportReport):
            outcomes["imported"] += 1
            for where, reason in report.problems:
                assert reason.strip() and "\n" not in reason, (seed, where, reason)
        else:
            outcomes["refused"] += 1
    assert outcomes["refused"] and outcomes["imported"], outcomes


def test_settings_files(tmp_path, monkeypatch, qapp):
    """The settings INI as the app opens it (make_settings), every key read."""
    from digitpad.app import settings as app_settings

    for seed in SETTINGS_SEEDS:
        home = tmp_path / f"h{seed}"
        home.mkdir()
        monkeypatch.setenv("DIGITPAD_HOME", str(home))
        (home / "settings.ini").write_bytes(mutate_settings(random.Random(seed)))
        s = clean(app_settings.make_settings)
        for key in s.allKeys():
            s.value(key)
        for key in (app_settings.LAST_MODEL, app_settings.RECENT_MODELS, app_settings.THEME,
                    app_settings.SHARED_SCALE, app_settings.TRAIN_DEVICE, app_settings.DATA_DIR):
            s.value(key)


def test_cli_on_mutated_files(tmp_path, capsys):
    """info and predict as a person runs them: rc 0-2, at most one error line, never
    'unexpected error'."""
    for seed in CLI_SEEDS:
        model = tmp_path / f"m{seed}.safetensors"
        model.write_bytes(mutated_model(seed))
        image = tmp_path / f"i{seed}.png"
        image.write_bytes(mutate_image("PNG", random.Random(seed)))
        for argv in (["info", str(model)], ["predict", "--json", "--model", "lenet", str(image)],
                     ["predict", "--model", str(model), str(image)]):
            rc = cli.main(argv)
            out, err = capsys.readouterr()
            assert rc in (0, 1, 2), (seed, argv, rc)
            assert "unexpected error" not in err and "Traceback" not in err, (seed, argv, err)
            errors = [ln for ln in err.splitlines() if ln.startswith("digitpad: error")]
            assert len(errors) <= 1, (seed, argv, err)


# What scripts/fuzz_wide.py found, kept as cases: (format, seed of random.Random).
WIDE_FINDINGS = [("TIFF", 31),  # PIL's "Tag data larger than file" UserWarning on stderr
                 ("TIFF-F", 213)]  # numpy's "overflow encountered in multiply" (-3e38 x 255)


@pytest.mark.parametrize("fmt, seed", WIDE_FINDINGS)
def test_images_the_wide_run_found(fmt, seed, tmp_path):
    from digitpad.core.data.preprocess import load_image, preprocess

    path = tmp_path / f"found{SUFFIX[fmt]}"
    path.write_bytes(mutate_image(fmt, random.Random(seed)))
    arr = clean(load_image, path, max_side=64)
    if not isinstance(arr, DigitpadError):
        clean(preprocess, arr, keep_steps=False)


# --- a user's own network (issue 25): hostile .pth and .onnx files ---------------------------

FOREIGN_SEEDS = range(30)


@pytest.fixture(scope="module")
def foreign_blobs(tmp_path_factory):
    import os

    from torch import nn

    from lesson_network import NeuralNetwork

    folder = tmp_path_factory.mktemp("foreign")
    torch.manual_seed(0)
    net = NeuralNetwork().eval()
    torch.save(net.state_dict(), folder / "m.pth")
    small = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 13 * 13, 10)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(small, torch.zeros(1, 1, 28, 28), str(folder / "m.onnx"), dynamo=False)
    return (folder / "m.pth").read_bytes(), (folder / "m.onnx").read_bytes()


def test_foreign_model_files(tmp_path, foreign_blobs, monkeypatch):
    from digitpad.core.reading.predict import open_predictor

    monkeypatch.setenv("DIGITPAD_DATA", str(tmp_path / "no-mnist"))  # synthesised digits
    drawing = np.zeros((60, 60), np.uint8)
    drawing[10:50, 28:33] = 255
    outcomes = {"error": 0, "opened": 0}
    for suffix, blob in zip((".pth", ".onnx"), foreign_blobs):
        for seed in FOREIGN_SEEDS:
            path = tmp_path / f"f{seed}{suffix}"
            path.write_bytes(mutate_bytes(blob, random.Random(seed)))
            pred = clean(open_predictor, path, "totensor")
            if isinstance(pred, DigitpadError):
                outcomes["error"] += 1
                assert str(pred) and "\n" not in str(pred).strip(), (suffix, seed)
            else:
                outcomes["opened"] += 1
                assert clean(pred.predict, drawing) is not None, (suffix, seed)
    assert outcomes["error"] > 10, outcomes


def test_onnx_external_data_is_refused(tmp_path, foreign_blobs):
    import os

    import onnx

    from digitpad.core.nets.checkpoint import CheckpointError
    from digitpad.core.reading.onnx_predict import open_onnx

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for i, where in enumerate(["../../etc/passwd", "/dev/zero", str(fifo), "weights.bin"]):
        model = onnx.load_model_from_string(foreign_blobs[1])
        init = model.graph.initializer[0]
        init.data_location = onnx.TensorProto.EXTERNAL
        init.external_data.add(key="location", value=where)
        init.ClearField("raw_data")
        path = tmp_path / f"ext{i}.onnx"
        path.write_bytes(model.SerializeToString())
        with pytest.raises(CheckpointError, match="external files"):
            open_onnx(path, "totensor")
    model = onnx.load_model_from_string(foreign_blobs[1])
    model.graph.node[0].domain = "com.example.custom"
    (tmp_path / "custom.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(CheckpointError, match="custom operators"):
        open_onnx(tmp_path / "custom.onnx", "totensor")
    big = tmp_path / "big.onnx"
    big.write_bytes(foreign_blobs[1] + bytes(65 * 1024 * 1024))  # over the size limit
    with pytest.raises(CheckpointError):
        open_onnx(big, "totensor")


# --- deeply nested JSON (issue 24.4) ---------------------------------------------------------

@pytest.mark.parametrize("where", ["header", "meta"])
@pytest.mark.parametrize("depth", [100, 100_000])
def test_nested_model_json_is_one_clear_line(where, depth, tmp_path, capsys):
    from fuzz_mutations import nest_header

    from digitpad.core.nets.checkpoint import CheckpointError, load_checkpoint, shipped_model_path
    from digitpad.core.reading.numpy_predict import load_file

    blob = Path(shipped_model_path("lenet")).read_bytes()
    model = tmp_path / "deep.safetensors"
    model.write_bytes(nest_header(blob, depth, where))
    with pytest.raises(CheckpointError, match="deep|damaged|not a valid"):
        load_checkpoint(model)
    assert load_file(model) is None  # the numpy reader leaves it to the torch path's sentence
    image = tmp_path / "i.png"
    image.write_bytes(mutate_image("PNG", random.Random(0)))
    for argv in (["info", str(model)], ["predict", "--model", str(model), str(image)]):
        rc = cli.main(argv)
        err = capsys.readouterr().err
        assert rc in (1, 2) and "Recursion" not in err and "unexpected" not in err, (argv, err)
        assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("depth", [100, 100_000])
def test_nested_train_state_starts_fresh(depth, tmp_path, train_state_blob):
    from fuzz_mutations import nest_header

    from digitpad.core.learning.train_state import TrainStateError, load_train_state

    path = tmp_path / "m.train-state.safetensors"
    path.write_bytes(nest_header(train_state_blob[0], depth, "json"))
    with pytest.raises(TrainStateError, match="not JSON"):
        load_train_state(path)


# --- hostile but in-range training states (issue 24.6) ----------------------------------------

def _first(optimizer, key):
    return next(s[key] for s in optimizer["state"].values() if key in s)


HOSTILE_STATES = {
    "exp_avg 1e38": lambda w, o: _first(o, "exp_avg").fill_(1e38),
    "exp_avg_sq 1e38": lambda w, o: _first(o, "exp_avg_sq").fill_(1e38),
    "weight_decay 1e30": lambda w, o: o["param_groups"][0].__setitem__("weight_decay", 1e30),
    "lr 1e30": lambda w, o: o["param_groups"][0].__setitem__("lr", 1e30),
    "weights 1e38": lambda w, o: w["conv1.weight"].fill_(1e38),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_STATES))
def test_hostile_in_range_train_state_values_are_refused(case, tmp_path, train_state_blob):
    from digitpad.core.learning.train_state import (TrainStateError, check_train_state,
                                                    load_train_state)

    blob, config = train_state_blob
    path = tmp_path / "m.train-state.safetensors"
    path.write_bytes(blob)
    weights, optimizer, info = load_train_state(path)
    check_train_state(path, weights, optimizer, info, config, "lenet")  # the real one passes
    HOSTILE_STATES[case](weights, optimizer)
    with pytest.raises(TrainStateError, match="beyond what a real run"):
        check_train_state(path, weights, optimizer, info, config, "lenet")


def test_a_negative_running_variance_is_refused(tmp_path):
    from digitpad.core.learning.train_state import TrainStateError, _check_weights_plausible

    def bad(why):
        return TrainStateError(why, tmp_path, "shapes")

    _check_weights_plausible({"bn1.running_var": torch.ones(4)}, bad)
    with pytest.raises(TrainStateError, match="negative variance"):
        _check_weights_plausible({"bn1.running_var": -torch.ones(4)}, bad)


# --- one zip member listed many times (issue 24.7) --------------------------------------------

def test_a_member_listed_many_times_is_decoded_once(tmp_path, monkeypatch):
    import io as _io

    from PIL import Image

    from fuzz_mutations import overlapping_zip

    from digitpad.core.data import samples
    from digitpad.core.data.samples import SampleStore

    png = _io.BytesIO()
    a = np.full((300, 300), 255, np.uint8)
    a[50:250, 140:160] = 0
    Image.fromarray(a).save(png, format="PNG")
    path = tmp_path / "overlap.zip"
    path.write_bytes(overlapping_zip(png.getvalue(), 500))
    decodes = []
    real = samples.read_checked
    monkeypatch.setattr(samples, "read_checked", lambda p: decodes.append(p) or real(p))
    report = clean(SampleStore(tmp_path / "store").import_from, path)
    assert not isinstance(report, DigitpadError), report
    assert len(decodes) <= 1, len(decodes)
    assert any("same data" in why for _, why in report.problems), report.problems[:3]


def test_a_zip_is_refused_past_its_decoding_budget(tmp_path, monkeypatch):
    import io as _io

    from PIL import Image

    from digitpad.core.data import samples
    from digitpad.core.data.samples import SampleStore

    png = _io.BytesIO()
    Image.new("L", (400, 400), 255).save(png, format="PNG")
    path = tmp_path / "many.zip"
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        for i in range(20):
            zf.writestr(f"1/p{i}.png", png.getvalue())
    monkeypatch.setattr(samples, "MAX_ZIP_PIXELS", 5 * 400 * 400)
    decodes = []
    real = samples.read_checked
    monkeypatch.setattr(samples, "read_checked", lambda p: decodes.append(p) or real(p))
    report = clean(SampleStore(tmp_path / "store").import_from, path)
    assert len(decodes) <= 5, len(decodes)
    assert any("budget" in why for _, why in getattr(report, "problems", [])) or \
        "budget" in str(report), report


def _hostile_onnx(good: bytes) -> dict:
    """Cases of issue 25's list not covered above, each built from a good export."""
    import onnx

    def edited(change):
        model = onnx.load_model_from_string(good)
        change(max(model.graph.initializer, key=lambda t: len(t.raw_data)), model)
        return model.SerializeToString()

    def short(init, _):
        init.raw_data = init.raw_data[:100]  # truncated raw_data: fewer bytes than its dims

    def two_gb(init, _):
        del init.dims[:]
        init.dims.extend([512, 1024, 1024])  # 2 GiB of float32 declared, 27 kB held

    def wrong_type(_, model):
        model.graph.initializer[0].data_type = onnx.TensorProto.STRING  # a conv weight as text

    rng = np.random.default_rng(0)
    return {"short raw_data": (edited(short), "cannot be run"),
            "2 GB declared": (edited(two_gb), "declares 536,870,912 values"),
            "wrong data type": (edited(wrong_type), "does not match its type"),
            "wrong wire type": (b"\x08\x07\x38\x96\x01" + good[2:50], "damaged"),
            "truncated": (good[: len(good) // 2], "damaged"),
            "garbage": (bytes(rng.integers(0, 256, 4096, dtype=np.uint8)), "damaged"),
            "huge length": (b"\x3a\xff\xff\xff\xff\x07" + bytes(64), "damaged")}


def test_hostile_onnx_files_are_one_line_each_without_memory(tmp_path, foreign_blobs):
    import resource

    from digitpad.core.nets.errors import CheckpointError
    from digitpad.core.reading.onnx_predict import open_onnx

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, (blob, words) in _hostile_onnx(foreign_blobs[1]).items():
        path = tmp_path / "case.onnx"
        path.write_bytes(blob)
        with pytest.raises(CheckpointError, match=words) as err:
            open_onnx(path, "totensor")
        assert "\n" not in str(err.value), name
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 300_000  # kB: no 2 GB
