"""The training state beside a model file (``NAME.train-state.safetensors``): what ``--resume``
continues from, read as strictly as a model file.

It holds the last epoch's weights, the optimiser's tensors and a JSON document (run id, epoch,
step, history, best epoch, the optimiser's parameter groups). Anything in it may have been
damaged or edited, and the optimiser's fused kernels trust their tensors blindly (a reshaped
``exp_avg`` crashed the process), so before a run continues every part is checked against the
model and optimiser being resumed: tensor names, shapes and dtypes, step and epoch within the
run, finite values, the metadata's types. :class:`TrainStateError` says what is wrong in one
sentence; the caller then starts a fresh schedule from the model file's weights and says so.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

from ..io.files import TRAIN_STATE_FORMAT, load_json
from ..nets.checkpoint import CheckpointError

TRAIN_STATE_SUFFIX = ".train-state.safetensors"
# The History fields a state may carry (training.History); checked here without importing it.
HISTORY_KEYS = ("epochs", "train_loss", "train_acc", "val_loss", "val_acc")


class TrainStateError(CheckpointError):
    """A training state that must not be continued; ``str(err)`` says why."""


def train_state_path(model_path) -> Path:
    """``m.safetensors`` -> ``m.train-state.safetensors`` (same folder)."""
    p = Path(model_path)
    return p.with_name(p.stem + TRAIN_STATE_SUFFIX)


# --- writing ----------------------------------------------------------------------------------

def save_train_state(path, weights: dict, train_state: dict, info: dict) -> None:
    """Write the last epoch's weights, the optimiser state and ``info`` (JSON: run id, epoch,
    step, history, best epoch) atomically, under the file's lock, as safetensors."""
    import torch
    from safetensors.torch import save as st_save

    from ..io.outputs import output_lock, remove_stale_temps
    from ..nets.checkpoint import SAVE_LOCK_WAIT, write_atomically

    tensors = {f"model.{k}": v.detach().to("cpu").contiguous() for k, v in weights.items()}
    opt = train_state["optimizer"]
    plain = {}
    for idx, st in opt["state"].items():
        for name, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optimizer.{idx}.{name}"] = v.detach().to("cpu").contiguous()
            else:
                plain[f"{idx}.{name}"] = v
    doc = {**info, "step": int(train_state["step"]), "epoch": int(train_state["epoch"]),
           "param_groups": opt["param_groups"], "plain": plain}
    blob = st_save(tensors, metadata={"format": TRAIN_STATE_FORMAT, "json": json.dumps(doc)})
    with output_lock(path, wait=SAVE_LOCK_WAIT):
        remove_stale_temps(path)
        write_atomically(path, blob)


def state_save_failed(exc: BaseException, model_path, saved_epoch: int) -> str:
    """What to say when the training state could not be written (disk full, a folder in its
    place): the run goes on, and the person learns what the model file holds."""
    why = " ".join(str(exc).split()) or type(exc).__name__
    model = Path(model_path).name
    holds = (f"{model} holds epoch {saved_epoch}, the best so far" if saved_epoch
             else f"{model} was not written by this run yet")
    return (f"the training state beside {model} could not be saved ({why}); training goes "
            f"on and {holds}, but --resume will start a fresh schedule from it.")


# --- reading ----------------------------------------------------------------------------------

def load_train_state(path) -> tuple[dict, dict, dict]:
    """(last weights, optimiser state_dict, info) from :func:`save_train_state`'s file.

    Checks what can be checked without the run (the file's structure, the JSON's types, the
    tensor names); :func:`check_train_state` checks the rest against the run. Raises
    CheckpointError (a :class:`TrainStateError` for a file that parses but is not sound).
    """
    from safetensors.torch import load as st_load

    from ..io.files import MAX_MODEL_BYTES, read_regular_file
    from ..nets.checkpoint import read_header

    path = Path(path)
    blob = read_regular_file(path, 4 * MAX_MODEL_BYTES,
                             lambda m: CheckpointError(m, path, "unreadable"), "training state file")
    header = read_header(blob, path)
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or meta.get("format") != TRAIN_STATE_FORMAT:
        raise CheckpointError(f"{path.name} is not a digitpad training state file.", path, "invalid")

    def bad(why: str) -> TrainStateError:
        return TrainStateError(f"{path.name} is damaged: {why}.", path, "corrupt")

    try:
        doc = load_json(meta.get("json", ""))
    except (TypeError, ValueError):
        raise bad("its metadata is not JSON") from None
    if not isinstance(doc, dict):
        raise bad("its metadata is not a JSON object")
    try:
        tensors = st_load(blob)
    except Exception as exc:  # safetensors' own complaint about a damaged body
        raise bad(f"its tensors cannot be read ({' '.join(str(exc).split())})") from None
    weights: dict = {}
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("model."):
            weights[key[len("model."):]] = value
            continue
        idx, name = _optimizer_key(key, "optimizer.")
        if idx is None:
            raise bad(f"it holds an unexpected tensor {key!r}")
        state.setdefault(idx, {})[name] = value
    plain = doc.pop("plain", {})
    if not isinstance(plain, dict):
        raise bad("its optimiser values are not an object")
    for key, value in plain.items():
        idx, name = _optimizer_key(key, "")
        if idx is None or not (value is None or _number(value) or isinstance(value, bool)):
            raise bad(f"its optimiser value {key!r} is not a plain number")
        if name in state.get(idx, {}):
            raise bad(f"optimiser value {key!r} is stored twice")
        state.setdefault(idx, {})[name] = value
    groups = doc.pop("param_groups", None)
    if not (isinstance(groups, list) and groups and all(isinstance(g, dict) for g in groups)):
        raise bad("its optimiser parameter groups are missing")
    _check_info(doc, bad)
    return weights, {"state": state, "param_groups": groups}, doc


def _optimizer_key(key: str, prefix: str) -> tuple[int | None, str]:
    """``optimizer.3.exp_avg`` -> (3, "exp_avg"); (None, "") when it is not such a key."""
    if not key.startswith(prefix):
        return None, ""
    idx, _, name = key[len(prefix):].partition(".")
    if not (idx.isdigit() and idx.isascii() and name):
        return None, ""
    return int(idx), name


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_info(doc: dict, bad) -> None:
    """The JSON document's types: what the rest of the code takes for granted."""
    for key in ("epoch", "step"):
        if not _whole(doc.get(key)):
            raise bad(f"its {key} is {_short(doc.get(key))}, not a whole number")
    epoch, step = doc["epoch"], doc["step"]
    if epoch < 1:
        raise bad(f"it says {epoch} epochs were trained")
    if step < epoch or step % epoch:
        # every epoch of a run takes the same number of optimiser steps
        raise bad(f"step {step:,} cannot end epoch {epoch}")
    if not isinstance(doc.get("run_id"), str):
        raise bad("its run id is missing")
    if not isinstance(doc.get("config"), dict):
        raise bad("its training settings are not an object")
    saved_epochs = doc["config"].get("epochs")
    if not _whole(saved_epochs) or not 1 <= epoch <= saved_epochs:
        raise bad(f"epoch {epoch} is outside its run of {_short(saved_epochs)} epochs")
    history = doc.get("history")
    if history is not None:
        if not isinstance(history, dict) or set(history) - set(HISTORY_KEYS):
            raise bad("its history is not the per-epoch record digitpad writes")
        for key, values in history.items():
            if not (isinstance(values, list) and len(values) == epoch
                    and all(_number(v) for v in values)):
                raise bad(f"its history's {key} is not {epoch} numbers")
    best = doc.get("best_val_acc")
    if best is not None and not (_number(best) and 0.0 <= best <= 1.0):
        raise bad(f"its best validation accuracy {_short(best)} is not between 0 and 1")
    best_epoch = doc.get("best_epoch")
    if best_epoch is not None and not (_whole(best_epoch) and 0 <= best_epoch <= epoch):
        raise bad(f"its best epoch {_short(best_epoch)} is not one of its {epoch} epochs")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- against the run being resumed -------------------------------------------------------------

def check_train_state(path, weights: dict, optimizer: dict, info: dict, config, arch: str) -> None:
    """Raise :class:`TrainStateError` unless the state fits the run ``config`` of ``arch``: the
    weights are the architecture's (names, shapes, dtypes, finite), and the optimiser state
    matches what this config's optimiser keeps for these parameters (groups, names, shapes,
    dtypes, finite values, its step counters equal to the saved step)."""
    import torch

    from ..nets.checkpoint import check_state
    from ..nets.models import create_model
    from .loop import make_optimizer

    path = Path(path)
    name = path.name

    def bad(why: str) -> TrainStateError:
        return TrainStateError(f"{name} does not fit this run: {why}.", path, "shapes")

    try:
        check_state(arch, weights, path)
    except CheckpointError as exc:
        raise TrainStateError(str(exc), path, exc.kind) from None
    # The optimiser this run builds, stepped once on zero gradients: the state it keeps for
    # each parameter is exactly what a saved state must hold (names, shapes, dtypes).
    model = create_model(arch)
    ref = make_optimizer(config, model)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    ref.step()
    ref_sd = ref.state_dict()
    groups = optimizer["param_groups"]
    if len(groups) != len(ref_sd["param_groups"]):
        raise bad(f"{len(groups)} optimiser parameter groups, this optimiser has "
                  f"{len(ref_sd['param_groups'])}")
    ids = []
    for g, rg in zip(groups, ref_sd["param_groups"]):
        params = g.get("params")
        if not (isinstance(params, list) and all(_whole(i) for i in params)):
            raise bad("an optimiser parameter group without its parameter list")
        if len(params) != len(rg["params"]):
            raise bad(f"an optimiser group of {len(params)} parameters where this model has "
                      f"{len(rg['params'])}")
        _check_hyper(g, rg, bad)
        ids += params
    if len(set(ids)) != len(ids):
        raise bad("a parameter listed twice in the optimiser groups")
    # torch pairs saved parameters with the live ones in group order
    expected = dict(zip(ids, (i for rg in ref_sd["param_groups"] for i in rg["params"])))
    state = optimizer["state"]
    unknown = sorted(set(state) - set(expected))
    if unknown:
        raise bad(f"optimiser state for parameter {unknown[0]}, which the groups do not list")
    step = info["step"]
    for saved_id, ref_id in expected.items():
        want = ref_sd["state"].get(ref_id, {})
        have = state.get(saved_id, {})
        if set(have) != set(want):
            missing = sorted(set(want) - set(have))
            raise bad(f"parameter {saved_id}'s optimiser state lacks {', '.join(missing)}"
                      if missing else f"parameter {saved_id}'s optimiser state has unexpected "
                      f"{', '.join(sorted(set(have) - set(want)))}")
        for key, ref_v in want.items():
            v = have[key]
            label = f"optimizer.{saved_id}.{key}"
            if torch.is_tensor(ref_v) != torch.is_tensor(v):
                raise bad(f"{label} is {'not ' if torch.is_tensor(ref_v) else ''}a tensor")
            if not torch.is_tensor(v):
                if (v is None) != (ref_v is None):
                    raise bad(f"{label} is {_short(v)}")
                continue
            if tuple(v.shape) != tuple(ref_v.shape):
                raise bad(f"tensor {label} has shape {tuple(v.shape)}, but the parameter it "
                          f"belongs to needs {tuple(ref_v.shape)}")
            if v.dtype != ref_v.dtype:
                raise bad(f"tensor {label} has type {v.dtype}, but this optimiser keeps {ref_v.dtype}")
            if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                raise bad(f"tensor {label} holds NaN or infinite values")
            if key == "step" and float(v) != float(step):
                raise bad(f"{label} counts {float(v):g} steps, the state says {step:,}")
            if key == "exp_avg_sq" and bool((v < 0).any()):
                raise bad(f"tensor {label} holds negative values (it is a mean of squares)")
            limit = MAX_SQUARED if key == "exp_avg_sq" else MAX_MAGNITUDE
            if v.is_floating_point() and v.numel() and float(v.abs().max()) > limit:
                raise bad(f"tensor {label} holds {float(v.abs().max()):.3g}, beyond what a real "
                          f"run reaches ({limit:g})")
    _check_weights_plausible(weights, bad)


# What a real run's state can hold, with a wide margin: trained weights and Adam's running
# means stay well under 100, its running mean of squares far under 1e8.
# In range for float32 yet far past these (1e38, a negative variance), a state diverges on its
# first step: such a state starts a fresh schedule instead (issue 24.6).
MAX_MAGNITUDE = 1e4
MAX_SQUARED = 1e8
# an optimiser's learning rate, and its other numbers (weight decay, eps, momentum)
MAX_LR = 10.0
MAX_SETTING = 1.0


def _check_weights_plausible(weights: dict, bad) -> None:
    for key, v in weights.items():
        if not v.is_floating_point() or not v.numel():
            continue
        top = float(v.abs().max())
        if top > MAX_MAGNITUDE:
            raise bad(f"weight {key} holds {top:.3g}, beyond what a real run reaches "
                      f"({MAX_MAGNITUDE:g})")
        if key.endswith("running_var") and float(v.min()) < 0:
            raise bad(f"weight {key} holds a negative variance")


def _check_hyper(group: dict, ref: dict, bad) -> None:
    """A saved group's settings: the same names as this optimiser's, finite non-negative
    numbers where it has numbers, the same flags (fused, foreach, ...) where it has flags."""
    # initial_lr is the schedule's (LambdaLR adds it), not the optimiser's
    keys, ref_keys = set(group) - {"params", "initial_lr"}, set(ref) - {"params", "initial_lr"}
    if "initial_lr" in group and not (_number(group["initial_lr"]) and group["initial_lr"] > 0):
        raise bad(f"optimiser setting initial_lr is {_short(group['initial_lr'])}")
    if keys != ref_keys:
        diff = sorted(keys ^ ref_keys)
        raise bad(f"optimiser settings {', '.join(diff)} differ from this optimiser's")
    for key in sorted(keys):
        v, rv = group[key], ref[key]
        if isinstance(rv, bool) or rv is None or isinstance(rv, str):
            if v != rv:
                raise bad(f"optimiser setting {key} is {_short(v)}, this optimiser uses {_short(rv)}")
        elif isinstance(rv, numbers.Real):
            if not (_number(v) and v >= 0):
                raise bad(f"optimiser setting {key} is {_short(v)}, not a number of at least 0")
            # a real run's settings (weight decay, eps, momentum, lr: the config's, the
            # schedule's or an override's) stay far under these; 1e30 is no state a run wrote
            top = MAX_LR if key == "lr" else MAX_SETTING
            if v > top:
                raise bad(f"optimiser setting {key} is {_short(v)}, beyond what a real run "
                          f"uses ({top:g})")
        elif isinstance(rv, (tuple, list)):
            if not (isinstance(v, (tuple, list)) and len(v) == len(rv)
                    and all(_number(x) and 0 <= x < 1 for x in v)):
                raise bad(f"optimiser setting {key} is {_short(v)}")


def fit_to_data(plan, train_images: int):
    """``plan`` (session.ResumePlan) once the training set is known: a saved step that is not
    a whole number of this data's epochs cannot place the schedule, so the run starts a fresh
    schedule from the model file's weights instead, and its note says why."""
    from dataclasses import replace

    from .training import split_validation

    if plan.resume is None:
        return plan
    config = plan.config
    n = len(split_validation(train_images, config.val_size)[0])
    per_epoch = math.ceil(n / min(config.batch_size, n))
    done, step = plan.resume["epoch"], plan.resume["step"]
    if step == done * per_epoch:
        return plan
    return replace(plan, initial_state=plan.resume["best_state"], resume=None, run_id=None,
                   note=(f"continuing from its weights with a fresh schedule (its training state "
                         f"says step {step:,} after {done} epochs, but an epoch of this data is "
                         f"{per_epoch:,} steps)"))
