"""Resume resumes (issue 9): a run stopped or killed at epoch k and resumed ends with the weights
of an uninterrupted run with the same seed; the saved config is authoritative, explicit options
win; the model file stays loadable on its own."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from digitpad import cli
from digitpad.core.nets.checkpoint import CheckpointError, claim_model_output, load_checkpoint
from digitpad.core.data.mnist import load_mnist
from digitpad.core.learning.session import (TrainingSession, load_train_state, plan_resume,
                                   train_state_path)
from digitpad.core.learning.config import ConfigError, recipe_config
from digitpad.core.learning.events import EpochDone

# trains or runs subprocesses: minutes on a loaded 2-core machine (the suite's default is 120 s)
pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 5
ARGS = ["--model", "lenet", "--batch-size", "32", "--lr", "0.01", "--seed", "5", "--device", "cpu"]


def train(out: Path, data: Path, *extra: str) -> int:
    return cli.main(["train", *ARGS, "--epochs", str(EPOCHS), "--data", str(data), "--out",
                     str(out), *extra])


@pytest.fixture(scope="module")
def uninterrupted(tiny_mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "a.safetensors"
    assert train(out, tiny_mnist) == 0
    return out


def assert_same_run(a: Path, b: Path) -> None:
    ca, cb = load_checkpoint(a), load_checkpoint(b)
    assert ca.meta["history"] == cb.meta["history"]
    assert ca.meta["epochs"] == cb.meta["epochs"] and ca.test_acc == cb.test_acc
    for k in ca.state:
        assert torch.allclose(ca.state[k], cb.state[k], atol=1e-6), k
    wa, _, ia = load_train_state(train_state_path(a))
    wb, _, ib = load_train_state(train_state_path(b))
    assert ia["epoch"] == ib["epoch"] == EPOCHS and ia["step"] == ib["step"]
    for k in wa:  # the last epoch's weights too, not only the best one's
        assert torch.allclose(wa[k], wb[k], atol=1e-6), k


def test_resume_after_a_stop_equals_the_uninterrupted_run(uninterrupted, tiny_mnist, tmp_path, capsys):
    out = tmp_path / "b.safetensors"
    config = recipe_config("fast", "lenet", epochs=EPOCHS, batch_size=32, lr=0.01, seed=5,
                           device="cpu")
    with claim_model_output(out) as claim:
        s = TrainingSession(config, data=load_mnist(tiny_mnist), output=claim, name="b")
        for ev in s.events():
            if isinstance(ev, EpochDone) and ev.epoch == 2:
                s.control.stop()
    assert load_train_state(train_state_path(out))[2]["epoch"] == 2
    capsys.readouterr()
    # no options: the file's config (epochs, batch size, lr, seed) is authoritative
    assert cli.main(["train", "--resume", str(out), "--out", str(out), "--device", "cpu",
                     "--data", str(tiny_mnist)]) == 0
    printed = capsys.readouterr().out
    assert "continuing the run at epoch 3 of 5" in printed and "epoch   3/5" in printed
    assert "epoch   1/5" not in printed
    assert_same_run(uninterrupted, out)


_KILLED_AT_EPOCH_2 = textwrap.dedent("""
    import os, signal, sys
    from digitpad import cli
    from digitpad.core.learning import session
    real = session.save_train_state

    def save_then_die(path, weights, train_state, info):
        real(path, weights, train_state, info)
        if train_state["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # the power goes out after epoch 2

    session.save_train_state = save_then_die
    sys.exit(cli.main(sys.argv[1:]))
""")


def test_resume_after_a_kill_equals_the_uninterrupted_run(uninterrupted, tiny_mnist, tmp_path):
    out = tmp_path / "c.safetensors"
    env = dict(os.environ, PYTHONPATH=str(ROOT), DIGITPAD_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-c", _KILLED_AT_EPOCH_2, "train", *ARGS, "--epochs",
                           str(EPOCHS), "--data", str(tiny_mnist), "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "epoch   1/5" in proc.stdout and "epoch   3/5" not in proc.stdout
    assert cli.main(["train", "--resume", str(out), "--out", str(out), "--device", "cpu",
                     "--data", str(tiny_mnist)]) == 0
    assert_same_run(uninterrupted, out)


def test_epochs_extends_a_finished_run(uninterrupted, tiny_mnist, tmp_path, capsys):
    with pytest.raises(ConfigError, match="already trained 5 of its 5 epochs"):
        plan_resume(load_checkpoint(uninterrupted))
    out = tmp_path / "longer.safetensors"
    rc = cli.main(["train", "--resume", str(uninterrupted), "--epochs", "7", "--out", str(out),
                   "--device", "cpu", "--data", str(tiny_mnist)])
    assert rc == 0 and "continuing the run at epoch 6 of 7" in capsys.readouterr().out
    meta = load_checkpoint(out).meta
    assert meta["history"]["epochs"] == [1, 2, 3, 4, 5, 6, 7] and meta["epochs_run"] == 7
    assert meta["config"]["epochs"] == 7 and meta["config"]["lr"] == 0.01  # saved lr kept
    assert meta["started_from"] == str(uninterrupted)


def test_extending_into_a_new_file_keeps_the_best_even_when_no_new_epoch_beats_it(
        uninterrupted, tiny_mnist, tmp_path, capsys):
    """With a learning rate too small to change anything, epochs 6-7 cannot beat epochs 1-5:
    the new file still gets the run's best model (it once said "not better than the one in
    longer.safetensors (n/a)", a file that did not exist, and saved nothing)."""
    before = load_checkpoint(uninterrupted)
    out = tmp_path / "longer.safetensors"
    rc = cli.main(["train", "--resume", str(uninterrupted), "--epochs", "7", "--lr", "1e-12",
                   "--out", str(out), "--device", "cpu", "--data", str(tiny_mnist)])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    after = load_checkpoint(out)
    assert after.meta["history"]["epochs"] == [1, 2, 3, 4, 5, 6, 7]
    assert after.meta["epochs"] == before.meta["epochs"] <= 5  # the earlier best epoch
    assert after.val_acc == before.val_acc and after.test_acc is not None
    for key, t in before.state.items():
        assert torch.equal(after.state[key], t), key


def test_the_saved_config_is_authoritative_and_explicit_options_win(uninterrupted):
    ckpt = load_checkpoint(uninterrupted)
    plan = plan_resume(ckpt, epochs=8, lr=0.02)
    assert plan.config.batch_size == 32 and plan.config.seed == 5  # from the file
    assert plan.config.lr == 0.02 and plan.config.epochs == 8  # explicit
    assert plan.resume is not None and plan.resume["epoch"] == EPOCHS
    fresh = plan_resume(ckpt, epochs=8, batch_size=64)  # another batch size: a new schedule
    assert fresh.resume is None and "batch size changed" in fresh.note
    other = plan_resume(ckpt, recipe="lesson", epochs=1)
    assert other.resume is None and other.config.optimizer == "sgd"


def test_model_file_stays_loadable_on_its_own(uninterrupted, tmp_path, capsys):
    import shutil

    alone = tmp_path / "alone.safetensors"
    shutil.copy(uninterrupted, alone)  # without its training state
    ckpt = load_checkpoint(alone)
    assert ckpt.arch == "lenet" and set(ckpt.state) == set(load_checkpoint(uninterrupted).state)
    plan = plan_resume(ckpt, epochs=8)
    assert plan.resume is None and "no training state" in plan.note
    assert cli.main(["info", str(uninterrupted)]) == 0
    with pytest.raises(CheckpointError, match="training state saved beside a model"):
        load_checkpoint(train_state_path(uninterrupted))
