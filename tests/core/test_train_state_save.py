"""A failing training-state save does not abort the run (issue 15, failure 7): the run goes on
and says what the model file holds; a folder in the state's place is refused before training."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from digitpad import cli
from digitpad.core.learning.train_state import train_state_path
from digitpad.core.nets.checkpoint import load_checkpoint

# trains or starts digitpad in child processes: minutes on a loaded 2-core machine
pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--model", "lenet", "--batch-size", "32", "--lr", "0.01", "--seed", "3", "--device", "cpu"]

# A LeNet model file is about 180 KB and its training state about 540 KB: with files capped
# at 300 KB (the way a full disk refuses the larger write) the model saves, the state cannot.
_FILE_CAP = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
    from digitpad import cli
    sys.exit(cli.main(sys.argv[1:]))
""")


def test_the_run_goes_on_when_the_state_cannot_be_saved(tiny_mnist, tmp_path):
    out = tmp_path / "m.safetensors"
    env = dict(os.environ, PYTHONPATH=str(ROOT), DIGITPAD_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-c", _FILE_CAP, "train", *ARGS, "--epochs", "2",
                           "--data", str(tiny_mnist), "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "epoch   2/2" in proc.stdout and "test accuracy" in proc.stdout
    notes = [ln for ln in proc.stderr.splitlines() if "training state" in ln]
    assert len(notes) == 1, proc.stderr  # said once, not every epoch
    assert "could not be saved" in notes[0] and "m.safetensors holds epoch 1" in notes[0]
    assert "fresh schedule" in notes[0]
    assert load_checkpoint(out).test_acc is not None
    assert not train_state_path(out).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_folder_in_the_states_place_is_refused_before_training(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    train_state_path(out).mkdir()
    rc = cli.main(["train", *ARGS, "--epochs", "1", "--data", str(tiny_mnist), "--out", str(out)])
    err = capsys.readouterr()
    assert rc == 1 and "MNIST from" not in err.out  # before reading data or training
    assert "m.train-state.safetensors" in err.err and "is a folder" in err.err
    assert len(err.err.strip().splitlines()) == 1 and not out.exists()
