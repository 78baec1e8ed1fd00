"""Never lose a better model (issue 9): a divergent or worse run leaves an existing --out alone,
two writers never both "save", killed saves leave nothing that stays, and a --out that cannot
be written is found before training starts."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

from digitpad import cli
from digitpad.core.nets import checkpoint as ckpt_mod
from digitpad.core.nets.checkpoint import (CheckpointError, claim_model_output, load_checkpoint,
                                          make_meta, save_checkpoint)
from digitpad.core.nets.models import create_model
from digitpad.core.io.outputs import (OutputBusy, OutputError, check_writable, lock_path, output_lock,
                                   remove_stale_temps)
from digitpad.core.data.fingerprint import fingerprint
from digitpad.core.data.mnist import load_mnist
from digitpad.core.learning.config import TrainConfig
from digitpad.core.learning.divergence import DivergenceWatch
from digitpad.core.learning.training import split_validation

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


@pytest.fixture
def tiny_val(tiny_mnist):
    """The fingerprint of the tiny set's validation split: what a run on it measures on."""
    data = load_mnist(tiny_mnist)
    _, val = split_validation(data.train_x.shape[0], TrainConfig().val_size)
    return fingerprint(data.train_x[val], data.train_y[val])


def good_model(path: Path, val_acc: float = 0.95, val_data: dict | None = None) -> bytes:
    """A lenet file that records a high validation accuracy on ``val_data`` (what a good
    earlier run left)."""
    torch.manual_seed(0)
    save_checkpoint(path, "lenet", create_model("lenet").state_dict(),
                    make_meta("lenet", name="good", val_acc=val_acc, test_acc=val_acc, epochs=9,
                              val_data=val_data))
    return path.read_bytes()


def train(out: Path, data: Path, *extra: str) -> int:
    return cli.main(["train", "--model", "lenet", "--epochs", "2", "--batch-size", "32",
                     "--device", "cpu", "--data", str(data), "--out", str(out), *extra])


# --- an existing --out is replaced only by a better model ----------------------------------

def test_divergent_finite_lr_leaves_a_good_model_alone(tiny_mnist, tiny_val, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    before = good_model(out, val_data=tiny_val)
    rc = train(out, tiny_mnist, "--lr", "3", "--overwrite")  # even --overwrite: it diverged
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "diverged" in err[0] and "unchanged" in err[0]
    assert out.read_bytes() == before


def test_divergent_resume_into_the_same_file_leaves_it_alone(tiny_mnist, tiny_val, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    before = good_model(out, val_data=tiny_val)
    rc = cli.main(["train", "--resume", str(out), "--out", str(out), "--lr", "3", "--epochs", "2",
                   "--device", "cpu", "--data", str(tiny_mnist)])
    assert rc == 1 and "diverged" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_a_worse_new_run_does_not_replace_the_file(tiny_mnist, tiny_val, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    before = good_model(out, val_acc=0.99, val_data=tiny_val)
    rc = train(out, tiny_mnist)
    captured = capsys.readouterr()
    assert rc == 1 and out.read_bytes() == before
    assert "not better" in captured.err and "unchanged" in captured.err
    assert "not saved" in captured.out


def test_overwrite_replaces_it(tiny_mnist, tiny_val, tmp_path):
    out = tmp_path / "m.safetensors"
    good_model(out, val_acc=0.99)
    assert train(out, tiny_mnist, "--overwrite") == 0
    assert load_checkpoint(out).meta["epochs"] in (1, 2)  # the new run's, not the 9 recorded


def test_a_better_run_replaces_it(tiny_mnist, tiny_val, tmp_path):
    out = tmp_path / "m.safetensors"
    good_model(out, val_acc=0.0, val_data=tiny_val)
    assert train(out, tiny_mnist) == 0
    assert load_checkpoint(out).meta.get("name") == "m"


def test_an_unreadable_existing_out_is_never_replaced(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"my thesis, not a model")
    assert train(out, tiny_mnist) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"my thesis, not a model"


def test_divergence_watch_catches_blow_up_and_collapse():
    w = DivergenceWatch()
    assert w.batch(1, 2.3) is None and w.batch(1, 1.9) is None
    assert "diverged" in w.batch(1, 670.0)
    w = DivergenceWatch()
    assert w.epoch(1, 0.12) is None  # an untrained network starts at chance: no collapse
    assert w.epoch(2, 0.93) is None
    assert "collapsed" in w.epoch(3, 0.11)
    assert "collapsed" in DivergenceWatch(start_acc=0.98).epoch(1, 0.10)  # a resumed run


# --- --out checked before training ---------------------------------------------------------

def test_unwritable_out_is_found_before_training(tiny_mnist, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    rc = train(blocker / "m.safetensors", tiny_mnist)
    out, err = capsys.readouterr()
    assert rc == 1 and "MNIST from" not in out and "epoch" not in out
    assert err.startswith("digitpad: error: Cannot write")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_folder_is_found_before_training(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="Cannot write"):
            check_writable(folder / "m.safetensors")
    finally:
        folder.chmod(0o755)


# --- one writer at a time ------------------------------------------------------------------

_HOLD = textwrap.dedent("""
    import sys
    from digitpad.core.io.outputs import output_lock
    with output_lock(sys.argv[1]):
        print("held", flush=True)
        sys.stdin.readline()  # until the test lets go (closes stdin) or the test run dies
""")


def hold_lock(path: Path) -> subprocess.Popen:
    """Another process holding the output lock on ``path`` until ``release`` or kill."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], env=ENV,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def release(holder: subprocess.Popen) -> None:
    holder.stdin.close()
    assert holder.wait(60) == 0


def test_a_second_training_run_into_the_same_out_fails_clearly(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    holder = hold_lock(out)  # another process, e.g. a digitpad train in another terminal
    try:
        rc = train(out, tiny_mnist)
        out_text, err = capsys.readouterr()
        assert rc == 1 and "being written by another digitpad run" in err
        assert f"pid {holder.pid}" in err and "epoch" not in out_text and not out.exists()
    finally:
        holder.kill()
        holder.wait()
    assert train(out, tiny_mnist) == 0  # the lock died with its holder
    assert not lock_path(out).exists()


def test_a_save_waits_for_the_other_writer(tmp_path, monkeypatch):
    import fcntl

    out = tmp_path / "m.safetensors"
    holder = hold_lock(out)
    refused = threading.Event()  # the save met the holder's lock
    real_flock = fcntl.flock

    def flock(fd, op):
        try:
            return real_flock(fd, op)
        except BlockingIOError:
            refused.set()
            raise

    monkeypatch.setattr(fcntl, "flock", flock)
    errors = []

    def save():
        try:
            save_checkpoint(out, "lenet", create_model("lenet").state_dict())
        except BaseException as exc:
            errors.append(exc)

    saver = threading.Thread(target=save)
    saver.start()
    try:
        assert refused.wait(60)
        assert saver.is_alive() and not out.exists()  # it waits rather than writing beside it
    finally:
        release(holder)
    saver.join(60)
    assert not saver.is_alive() and errors == []
    assert load_checkpoint(out).arch == "lenet"  # written once the holder let go


def test_a_save_fails_clearly_when_the_other_writer_does_not_finish(tmp_path, monkeypatch):
    out = tmp_path / "m.safetensors"
    monkeypatch.setattr(ckpt_mod, "SAVE_LOCK_WAIT", 0.2)
    holder = hold_lock(out)
    try:
        with pytest.raises(CheckpointError) as err:
            save_checkpoint(out, "lenet", create_model("lenet").state_dict())
        assert err.value.kind == "busy" and "another digitpad run" in str(err.value)
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()


def test_threads_of_one_process_also_take_turns(tmp_path):
    out = tmp_path / "m.safetensors"
    inside, overlaps = [], []

    def writer():
        for _ in range(5):
            with output_lock(out, wait=30):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(1)
                time.sleep(0.01)  # hold it a while: without the lock, the others would overlap
                inside.pop()

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not overlaps
    with output_lock(out):  # re-entrant in one thread
        with output_lock(out):
            pass
    with pytest.raises(OutputBusy):
        box = []
        t = threading.Thread(target=lambda: box.append(_try_lock(out)))
        with output_lock(out):
            t.start()
            t.join()
        raise box[0]


def _try_lock(path):
    try:
        with output_lock(path):
            return None
    except OutputBusy as exc:
        return exc


# --- leftovers of killed saves ---------------------------------------------------------------

_KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    from digitpad.core.nets import checkpoint
    from digitpad.core.nets.models import create_model
    checkpoint.os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
    checkpoint.save_checkpoint(sys.argv[1], "lenet", create_model("lenet").state_dict())
""")


@pytest.mark.timeout(300)  # trains several runs: minutes on a loaded 2-core machine
def test_temp_files_of_killed_saves_are_removed(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    proc = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(out)], env=ENV, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    stale = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(stale) == 1 and stale[0].name.startswith(".m.safetensors.")
    old = time.time() - 3600
    os.utime(stale[0], (old, old))
    fresh = tmp_path / ".m.safetensors.abc123.tmp"  # maybe a save in progress right now: kept
    fresh.write_bytes(b"x")
    other = tmp_path / ".other.safetensors.abc123.tmp"  # another file's: not ours to judge
    other.write_bytes(b"x")
    os.utime(other, (old, old))
    assert train(out, tiny_mnist) == 0
    assert "interrupted save" in capsys.readouterr().out
    assert not stale[0].exists() and fresh.exists() and other.exists()
    assert load_checkpoint(out).arch == "lenet"


def test_stale_temps_are_removed_by_any_save(tmp_path):
    out = tmp_path / "m.safetensors"
    stale = tmp_path / ".m.safetensors.zzz.tmp"
    stale.write_bytes(b"half a model")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    save_checkpoint(out, "lenet", create_model("lenet").state_dict())
    assert not stale.exists()
    assert remove_stale_temps(out) == []


# --- the one guarded output (issue 15: 1, 2, 3 and the path items of 12) -----------------------

@pytest.fixture
def ones_only(tiny_mnist, tmp_path):
    """A data folder holding only 1s: any model reads its validation split at 100 %."""
    from digitpad.core.data.mnist import write_mnist_folder

    data = load_mnist(tiny_mnist)
    keep, test = data.train_y == 1, data.test_y == 1
    as_bytes = lambda x: (x.squeeze(1) * 255).round().to(torch.uint8).numpy()  # noqa: E731
    return write_mnist_folder(tmp_path / "ones", as_bytes(data.train_x[keep]),
                              data.train_y[keep].numpy(), as_bytes(data.test_x[test]),
                              data.test_y[test].numpy())


def test_a_run_on_other_data_does_not_replace_a_better_out(tiny_mnist, ones_only, tmp_path, capsys):
    out = tmp_path / "good.safetensors"
    assert train(out, tiny_mnist) == 0
    before = out.read_bytes()
    capsys.readouterr()
    rc = train(out, ones_only)
    captured = capsys.readouterr()
    assert rc == 1 and out.read_bytes() == before
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "other validation data" in err[0] and "--overwrite" in err[0]
    assert "epoch" not in captured.out  # refused before training, not after
    assert train(out, ones_only, "--overwrite") == 0  # on purpose: replaced
    assert out.read_bytes() != before


def test_shipped_models_are_never_written_even_with_overwrite(tiny_mnist, tmp_path, capsys):
    from digitpad.core.io.paths import resource_path

    shipped = resource_path("lenet.safetensors")
    before = shipped.read_bytes()
    link = tmp_path / "link.safetensors"
    link.symlink_to(shipped)  # a symlink is resolved: its target is what would be written
    for target in (shipped, link):
        rc = train(target, tiny_mnist, "--overwrite")
        captured = capsys.readouterr()
        assert rc == 1 and "shipped" in captured.err and "MNIST from" not in captured.out
    assert shipped.read_bytes() == before
    assert not list(resource_path().glob("*train-state*")) and not list(resource_path().glob(".*"))


def test_a_symlinked_out_writes_its_target_and_keeps_the_link(tiny_mnist, tmp_path):
    target = tmp_path / "models" / "real.safetensors"
    target.parent.mkdir()
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    assert train(link, tiny_mnist) == 0
    assert link.is_symlink() and load_checkpoint(target).arch == "lenet"
    # the lock is the target's: a writer of the target blocks one that names the link
    holder = hold_lock(target)
    try:
        with pytest.raises(OutputBusy):
            with claim_model_output(link):
                pass
    finally:
        release(holder)


def test_a_parent_that_is_a_file_says_so(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="a-file is a file, not a folder"):
        check_writable(blocker / "sub" / "m.safetensors")


def test_nan_divergence_into_a_new_file_does_not_claim_a_previous_model(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "new.safetensors"
    rc = train(out, tiny_mnist, "--lr", "1e12")
    err = capsys.readouterr().err
    assert rc == 1 and "diverged" in err and "Nothing was saved" in err
    assert "previous model" not in err and "kept" not in err and not out.exists()


def test_save_checkpoint_itself_refuses_the_shipped_folder(tmp_path, monkeypatch):
    # a writer that skipped the claim (a script, a future caller) still cannot replace a
    # shipped model: save_checkpoint has the guard of its own
    from digitpad.core.io import outputs as outputs_mod

    shipped_dir = tmp_path / "resources"
    shipped_dir.mkdir()
    target = shipped_dir / "lenet.safetensors"
    target.write_bytes(b"the shipped bytes")
    monkeypatch.setattr(outputs_mod, "shipped_folders", lambda: [shipped_dir.resolve()])
    link = tmp_path / "innocent.safetensors"
    link.symlink_to(target)
    state = create_model("lenet").state_dict()
    for path in (target, link):
        with pytest.raises(CheckpointError, match="shipped") as err:
            save_checkpoint(path, "lenet", state)
        assert err.value.kind == "shipped"
    assert target.read_bytes() == b"the shipped bytes"
    assert sorted(p.name for p in shipped_dir.iterdir()) == ["lenet.safetensors"]
    # train_shipped.py is the one writer allowed there
    save_checkpoint(target, "lenet", state, shipped=True)
    assert load_checkpoint(target).arch == "lenet"
