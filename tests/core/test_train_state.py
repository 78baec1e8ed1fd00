"""A training state read as strictly as a model file (issue 15, failure 4): every tampered
state ends in a stated fresh start (or a refusal), never a crash and never silent use, and the
model file beside it still loads."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from digitpad import cli
from digitpad.core.learning.session import plan_resume
from digitpad.core.learning.train_state import (TrainStateError, check_train_state,
                                                load_train_state, train_state_path)
from digitpad.core.learning.config import recipe_config
from digitpad.core.nets.checkpoint import load_checkpoint

# trains or starts digitpad in child processes: minutes on a loaded 2-core machine
pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--model", "lenet", "--batch-size", "32", "--lr", "0.01", "--seed", "3", "--device", "cpu"]


@pytest.fixture(scope="module")
def trained(tiny_mnist, tmp_path_factory):
    """A LeNet run of 2 epochs with its training state: --epochs 3 continues it."""
    out = tmp_path_factory.mktemp("run") / "m.safetensors"
    assert cli.main(["train", *ARGS, "--epochs", "2", "--data", str(tiny_mnist), "--out",
                     str(out)]) == 0
    return out


def copy_run(trained: Path, folder: Path) -> Path:
    out = folder / trained.name
    shutil.copy(trained, out)
    shutil.copy(train_state_path(trained), train_state_path(out))
    return out


def tamper(model: Path, change) -> None:
    """Rewrite the training state beside ``model``: ``change(tensors, doc)`` edits it."""
    side = train_state_path(model)
    tensors = load_file(side)
    with open(side, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n))["__metadata__"]
    doc = json.loads(meta["json"])
    change(tensors, doc)
    save_file(tensors, side, metadata={"format": meta["format"], "json": json.dumps(doc)})


def set_doc(key, value):
    def change(tensors, doc):
        doc[key] = value
    return change


def reshape_exp_avg(tensors, doc):
    t = tensors["optimizer.0.exp_avg"]
    tensors["optimizer.0.exp_avg"] = t.reshape(-1)[: t.numel() // 2].contiguous()


def drop_optimizer_tensors(tensors, doc):
    for key in [k for k in tensors if k.startswith("optimizer.3.")]:
        del tensors[key]


def inf_exp_avg_sq(tensors, doc):
    tensors["optimizer.2.exp_avg_sq"][0] = float("inf")


def half_weights(tensors, doc):
    for key in [k for k in tensors if k.startswith("model.")]:
        tensors[key] = tensors[key].half()


def int64_step(tensors, doc):
    for key in [k for k in tensors if k.endswith(".step")]:
        tensors[key] = tensors[key].long()


def nan_weights(tensors, doc):
    tensors["model.conv1.weight"][0, 0, 0, 0] = float("nan")


def consistent_wrong_step(tensors, doc):
    """Step and every optimiser counter agree, but an epoch of this data is not that long."""
    doc["step"] = doc["epoch"] * 1000
    for key in [k for k in tensors if k.endswith(".step")]:
        tensors[key] = torch.full_like(tensors[key], doc["step"])


def negative_exp_avg_sq(tensors, doc):
    tensors["optimizer.1.exp_avg_sq"][0] = -1.0


def eps_negative(tensors, doc):
    doc["param_groups"][0]["eps"] = -1.0


def fused_flag_string(tensors, doc):
    doc["param_groups"][1]["fused"] = "yes"


def extra_tensor(tensors, doc):
    tensors["optimizer.x.exp_avg"] = torch.zeros(3)


CASES = {
    "reshaped optimiser tensor": (reshape_exp_avg, "has shape"),
    "step 1e9": (set_doc("step", 10 ** 9), "1,000,000,000"),
    "step -5": (set_doc("step", -5), "step -5"),
    "step as float": (set_doc("step", 14.5), "not a whole number"),
    "epoch -1": (set_doc("epoch", -1), "-1 epochs"),
    "epoch beyond the run": (set_doc("epoch", 9), "outside its run"),
    "missing optimiser tensors": (drop_optimizer_tensors, "lacks"),
    "inf in exp_avg_sq": (inf_exp_avg_sq, "NaN or infinite"),
    "negative exp_avg_sq": (negative_exp_avg_sq, "negative"),
    "fp16 weights": (half_weights, "torch.float16"),
    "int64 step": (int64_step, "torch.int64"),
    "nan weights": (nan_weights, "NaN or infinite"),
    "history as a list": (set_doc("history", [1, 2]), "history"),
    "history too short": (set_doc("history", {"epochs": [1]}), "history"),
    "config as a string": (set_doc("config", "fast"), "settings"),
    "best_val_acc 7": (set_doc("best_val_acc", 7), "between 0 and 1"),
    "param groups missing": (set_doc("param_groups", None), "parameter groups"),
    "eps negative": (eps_negative, "eps"),
    "fused flag a string": (fused_flag_string, "fused"),
    "unexpected tensor": (extra_tensor, "unexpected tensor"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_tampered_state_is_never_continued(case, trained, tmp_path):
    change, words = CASES[case]
    model = copy_run(trained, tmp_path)
    tamper(model, change)
    plan = plan_resume(load_checkpoint(model), epochs=3)
    assert plan.resume is None, case
    assert "fresh schedule" in plan.note and words in plan.note, plan.note
    assert "learning rate" not in plan.note
    load_checkpoint(model)  # the model file still loads


def test_the_untouched_state_continues(trained, tmp_path):
    model = copy_run(trained, tmp_path)
    tamper(model, lambda tensors, doc: None)  # rewritten, not changed
    plan = plan_resume(load_checkpoint(model), epochs=3)
    assert plan.resume is not None and "continuing the run at epoch 3 of 3" in plan.note


def test_check_train_state_names_the_tensor(trained, tmp_path):
    model = copy_run(trained, tmp_path)
    tamper(model, reshape_exp_avg)
    weights, optimizer, info = load_train_state(train_state_path(model))
    config = recipe_config("fast", "lenet", batch_size=32, lr=0.01, seed=3, epochs=3)
    with pytest.raises(TrainStateError, match=r"optimizer\.0\.exp_avg has shape"):
        check_train_state(train_state_path(model), weights, optimizer, info, config, "lenet")


RESUME = ["train", "--resume", "{model}", "--out", "{model}", "--epochs", "3", "--device", "cpu",
          "--data", "{data}"]


def run_cli(model: Path, data: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """In a child process: a crash (a segfault in a fused kernel) must show as one."""
    argv = [a.format(model=model, data=data) for a in RESUME]
    env = dict(os.environ, PYTHONPATH=str(ROOT), DIGITPAD_HOME=str(tmp_path / "home"))
    return subprocess.run([sys.executable, "-m", "digitpad", *argv], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("case", ["reshaped optimiser tensor", "step 1e9", "nan weights"])
def test_train_resume_with_a_tampered_state_starts_fresh_and_says_so(case, trained, tiny_mnist,
                                                                     tmp_path):
    model = copy_run(trained, tmp_path)
    tamper(model, CASES[case][0])
    proc = run_cli(model, tiny_mnist, tmp_path)
    assert proc.returncode in (0, 1), proc.stderr  # 1: the fresh run was not better
    assert "Traceback" not in proc.stderr and "unexpected error" not in proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("resume:")]
    assert len(line) == 1 and "fresh schedule" in line[0] and CASES[case][1] in line[0], proc.stdout
    load_checkpoint(model)


def test_a_step_that_does_not_fit_the_data_starts_fresh(trained, tiny_mnist, tmp_path, capsys):
    model = copy_run(trained, tmp_path)
    tamper(model, consistent_wrong_step)
    assert plan_resume(load_checkpoint(model), epochs=3).resume is not None  # looks sound alone
    rc = cli.main([a.format(model=model, data=tiny_mnist) for a in RESUME])
    out = capsys.readouterr().out
    assert rc in (0, 1)
    assert "resume: continuing from its weights with a fresh schedule (its training state says " \
           "step 2,000 after 2 epochs, but an epoch of this data is 9 steps)" in out, out
