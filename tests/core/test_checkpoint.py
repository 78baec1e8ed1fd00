"""Model files: round trip, every kind of damage refused with the right kind, atomic saves."""

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from digitpad.core.nets.checkpoint import (FORMAT, CheckpointError, load_checkpoint, make_meta,
                                      save_checkpoint)
from digitpad.core.nets.models import create_model

ROOT = Path(__file__).resolve().parents[2]


def lenet_state(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return create_model("lenet").state_dict()


def write_raw(path: Path, state: dict, arch: str | None = "lenet", fmt: str | None = FORMAT) -> Path:
    """A safetensors file written directly, bypassing save_checkpoint's checks."""
    meta = {}
    if fmt is not None:
        meta["format"] = fmt
    if arch is not None:
        meta["arch"] = arch
        meta["meta"] = json.dumps({"arch": arch})
    save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata=meta or None)
    return path


def expect_kind(path, kind: str) -> CheckpointError:
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert err.value.kind == kind, f"{err.value.kind}: {err.value}"
    assert str(err.value) and "\n" not in str(err.value)
    return err.value


@pytest.mark.parametrize("arch", ["lenet", "dense", "digitnet"])
def test_round_trip_keeps_weights_and_metadata(tmp_path, arch):
    torch.manual_seed(3)
    model = create_model(arch)
    state = model.state_dict()
    meta = make_meta(arch, name="mine", test_acc=0.987654, epochs=3, config={"lr": 0.01},
                     history={"test_acc": [0.9, 0.98]})
    path = save_checkpoint(tmp_path / "m.safetensors", arch, state, meta)
    ckpt = load_checkpoint(path)
    assert ckpt.arch == arch and ckpt.name == "mine" and ckpt.test_acc == pytest.approx(0.987654)
    assert ckpt.meta["config"] == {"lr": 0.01} and ckpt.meta["history"]["test_acc"] == [0.9, 0.98]
    assert ckpt.meta["digitpad_version"] and ckpt.meta["created"]
    assert set(ckpt.state) == set(state)
    assert all(torch.equal(ckpt.state[k], state[k]) for k in state)
    x = torch.rand(2, 1, 28, 28)
    assert torch.allclose(ckpt.build()(x), model.eval()(x))


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, "lenet", lenet_state(0))
    save_checkpoint(path, "lenet", lenet_state(1))
    assert torch.equal(load_checkpoint(path).state["conv1.weight"], lenet_state(1)["conv1.weight"])
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp left behind


def test_missing_file(tmp_path):
    expect_kind(tmp_path / "nope.safetensors", "missing")


def test_folder_instead_of_file(tmp_path):
    expect_kind(tmp_path, "unreadable")


def test_truncated_file(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", "lenet", lenet_state())
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) - 1000])
    expect_kind(path, "corrupt")
    path.write_bytes(blob[:20])  # cut inside the header
    expect_kind(path, "corrupt")


def test_random_bytes(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(os.urandom(4096))
    expect_kind(path, "corrupt")


def test_empty_file(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"")
    expect_kind(path, "corrupt")


class _Booby:
    """Unpickling this creates a marker file: proof that a loader ran the pickle."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["model.pt", "model.safetensors", "model.pth"])
def test_pickles_are_refused_without_being_unpickled(tmp_path, name):
    marker = tmp_path / "PWNED"
    original = tmp_path / "original.pt"
    torch.save({"state": lenet_state(), "evil": _Booby(str(marker))}, original)
    # The file really is dangerous: an unpickling loader would create the marker.
    torch.load(original, weights_only=False)["evil"].close()
    assert marker.exists()
    marker.unlink()
    path = tmp_path / name
    path.write_bytes(original.read_bytes())

    err = expect_kind(path, "pickle")
    assert "safetensors" in str(err) and "arbitrary code" in str(err)
    assert not marker.exists()


def test_plain_pickle_renamed_to_safetensors(tmp_path):
    marker = tmp_path / "PWNED"
    for protocol in (2, 4, 5):
        path = tmp_path / f"p{protocol}.safetensors"
        path.write_bytes(pickle.dumps(_Booby(str(marker)), protocol=protocol))
        expect_kind(path, "pickle")
    assert not marker.exists()


def test_lenet_weights_claimed_as_digitnet(tmp_path):
    path = write_raw(tmp_path / "m.safetensors", lenet_state(), arch="digitnet")
    err = expect_kind(path, "architecture")
    assert "digitnet" in str(err)


def test_unknown_architecture(tmp_path):
    path = write_raw(tmp_path / "m.safetensors", lenet_state(), arch="resnet50")
    expect_kind(path, "architecture")


def test_safetensors_that_is_not_a_digitpad_model(tmp_path):
    path = write_raw(tmp_path / "m.safetensors", lenet_state(), arch=None, fmt=None)
    err = expect_kind(path, "invalid")
    assert "not a digitpad model" in str(err)


def test_wrong_shapes(tmp_path):
    state = lenet_state()
    state["conv1.weight"] = torch.zeros(6, 1, 3, 3)
    path = write_raw(tmp_path / "m.safetensors", state)
    err = expect_kind(path, "shapes")
    assert "conv1.weight" in str(err)
    with pytest.raises(CheckpointError) as save_err:
        save_checkpoint(tmp_path / "other.safetensors", "lenet", state)
    assert save_err.value.kind == "shapes" and not (tmp_path / "other.safetensors").exists()


def test_wrong_dtype(tmp_path):
    state = {k: v.double() for k, v in lenet_state().items()}
    path = write_raw(tmp_path / "m.safetensors", state)
    err = expect_kind(path, "shapes")
    assert "float64" in str(err)


def test_nan_weights(tmp_path):
    state = lenet_state()
    state["fc3.bias"][0] = float("nan")
    expect_kind(write_raw(tmp_path / "m.safetensors", state), "corrupt")


def test_damaged_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file(lenet_state(), str(path), metadata={"format": FORMAT, "arch": "lenet", "meta": "{oops"})
    expect_kind(path, "corrupt")



@pytest.mark.parametrize("metadata", [[1, 2], "a string", 7, {"format": 1, "arch": "lenet"},
                                      {"format": FORMAT, "arch": ["lenet"]}])
def test_metadata_that_is_not_a_map_of_strings(tmp_path, metadata):
    # safetensors' own writer cannot make these: the header is edited by hand
    path = tmp_path / "m.safetensors"
    save_file(lenet_state(), str(path), metadata={"format": FORMAT, "arch": "lenet", "meta": "{}"})
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + blob[8 + n:])
    expect_kind(path, "corrupt")


# A process killed in the middle of saving must leave the previous file intact.
_KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import torch
    from digitpad.core.nets import checkpoint
    from digitpad.core.nets.models import create_model

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(checkpoint.os, sys.argv[2], die)  # os.fsync: written, not synced; os.replace: synced
    torch.manual_seed(99)
    checkpoint.save_checkpoint(sys.argv[1], "dense", create_model("dense").state_dict())
    print("save returned")
""")


@pytest.mark.parametrize("kill_at", ["fsync", "replace"])
def test_killed_mid_save_leaves_the_old_file(tmp_path, kill_at):
    torch.manual_seed(1)
    old_state = create_model("dense").state_dict()  # 2.7 MB of weights
    path = save_checkpoint(tmp_path / "model.safetensors", "dense", old_state,
                           make_meta("dense", name="old"))
    before = path.read_bytes()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, str(path), kill_at],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "save returned" not in proc.stdout
    assert path.read_bytes() == before
    ckpt = load_checkpoint(path)
    assert ckpt.name == "old" and all(torch.equal(ckpt.state[k], old_state[k]) for k in old_state)
    leftovers = [p.name for p in tmp_path.iterdir() if p != path]
    assert leftovers, "the kill hook never ran"  # the temp file was written before the kill
    # whatever the kill left behind is hidden and cannot be mistaken for a model (the temp
    # file, and the advisory lock file, which the next save reuses and removes)
    assert all(n.startswith(".") and n.endswith((".tmp", ".lock")) for n in leftovers), leftovers


def test_saved_model_gets_ordinary_file_permissions(tmp_path):
    """mkstemp creates 0600 files; a saved model must get what any document gets (umask)."""
    import os
    import stat

    from digitpad.core.nets.checkpoint import save_checkpoint
    from digitpad.core.nets.models import create_model

    mask = os.umask(0o022)
    os.umask(mask)
    path = save_checkpoint(tmp_path / "m.safetensors", "lenet", create_model("lenet").state_dict())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask
