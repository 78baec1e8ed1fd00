"""Fine-tuning a model on one person's handwriting without forgetting everyone else's.

``run(base, images, labels, config)`` supplies the step loop that training uses too
(:mod:`.loop`) with its own batches and schedule, so it yields the same events (``Started``,
``BatchDone``, one ``EpochDone`` per round, ``Notice``, then ``Stopped`` / ``Failed``) plus
``Measured`` (the before and after scores) and ends with ``Taught``, the ``Finished`` that
carries the whole ``TeachReport`` (all in :mod:`.events`).

How, and why:

- The person's drawings go through the real :func:`preprocess`, exactly as the app and
  ``digitpad predict`` will see them later.
- A stratified share of them (``holdout``, at least one per digit that has two or more) is
  never trained on: the before/after accuracy on it is the honest "does it read me now".
- A hundred drawings are far too few to train on alone: every batch mixes the person's
  samples (augmented: warps and pen changes, so the model learns the style, not the pixels)
  with MNIST replay and synthesised handwriting styles, so the model does not forget everyone
  else. MNIST's test set, before and after, shows whether it did.
- Two hundred small steps at a low learning rate (AdamW 1e-3, warm-up then cosine). Batch norm
  keeps learning its statistics: with the mixed batches it kept MNIST test 0.05 points higher
  than frozen statistics, at the same accuracy on the writer (``scripts/bench_teach.py``;
  ``freeze_bn`` keeps the other choice). About 20 s on two CPU cores for digitnet.
- The result is a new set of weights; nothing is written here. The caller saves it through the
  guarded output (the CLI to ``--out``, the app only when the person says so): never over a
  shipped model, and over an existing file only when better on the same held-out samples.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.augment import AugmentSpec, augment, elastic
from ..data.fingerprint import fingerprint
from ..data.mnist import DataError, MnistTensors, load_mnist
from ..data.overlap import mnist_test_copies
from ..data.preprocess import preprocess
from ..data.styles import synth_pool
from ..nets.checkpoint import Checkpoint, make_meta
from ..nets.builder import build_checkpoint, for_inference
from ..nets.devices import resolve_device
from ..reading import scoring
from .config import TeachConfig
from .control import TrainControl
from .divergence import DivergenceWatch
from .events import Failed, History, Measured, Notice, Scores, Started, Stopped, Taught, TeachReport
from .loop import FINISHED, STOPPED, Plan, StopRequested, cpu_state, describe, make_optimizer, \
    run_epochs, warmup_cosine

TAUGHT_SUFFIX = " + my handwriting"
STYLE_POOL = 2048  # synthesised digits drawn from during a run
# The schedule ends at this share of the peak rate (training's one-cycle: 0.001).
TEACH_FINAL = 0.01


# --- samples -> tensors ---------------------------------------------------------------------

@dataclass
class Prepared:
    x: torch.Tensor  # (N, 1, 28, 28) float in [0, 1]: preprocessed, as the model sees them
    y: torch.Tensor
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)


def prepare_samples(images: Sequence[np.ndarray], labels: Sequence[int],
                    names: Sequence[str] | None = None) -> Prepared:
    """Preprocess drawings the way the app does; blank or unusable ones are skipped."""
    xs, ys, skipped = [], [], []
    for i, (img, lab) in enumerate(zip(images, labels)):
        name = names[i] if names is not None else f"sample {i + 1}"
        try:
            pre = preprocess(img, keep_steps=False)
        except Exception as exc:  # an odd array: skip this one, teach on the rest
            skipped.append((name, str(exc)))
            continue
        if pre.empty:
            skipped.append((name, "no ink found: the image is blank"))
            continue
        xs.append(pre.image)
        ys.append(int(lab))
    if xs:
        x = torch.from_numpy(np.stack(xs)).unsqueeze(1).float()
    else:
        x = torch.zeros(0, 1, 28, 28)
    return Prepared(x, torch.tensor(ys, dtype=torch.long), skipped)


def split_holdout(y: torch.Tensor, share: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, held-out indices), stratified per digit.

    Each digit with two or more samples gives round(share x n) of them, at least one and
    never all; a digit with a single sample keeps it for training (a measurement on one
    drawing it never learnt from says little, a missing digit teaches nothing).
    """
    gen = torch.Generator().manual_seed(seed)
    train, held = [], []
    if share <= 0:
        return torch.arange(len(y)), torch.zeros(0, dtype=torch.long)
    for d in range(10):
        idx = torch.nonzero(y == d).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n = len(idx)
        k = 0 if n < 2 else min(n - 1, max(1, round(share * n)))
        held.append(idx[:k])
        train.append(idx[k:])
    return torch.cat(train).sort().values, torch.cat(held).sort().values


# --- measuring --------------------------------------------------------------------------------

def measure(model: torch.nn.Module, held_x: torch.Tensor, held_y: torch.Tensor,
            mnist: tuple[torch.Tensor, torch.Tensor] | None, mem=torch.contiguous_format,
            should_stop=None) -> Scores:
    # Scored by the builder's inference copy (batch norm folded into the convolutions, as
    # the Predictor does: the same outputs to ~1e-6, a fifth less time for MNIST's 10,000
    # images on a CPU), through the one scorer eval and Mistakes use.
    model.eval()
    ready = for_inference(model).to(memory_format=mem)
    per: list[float | None] = [None] * 10
    acc = None
    if len(held_y):
        held = scoring.scores(ready, held_x, held_y)
        acc = held.accuracy
        per = [None if math.isnan(v) else v for v in held.per_class]
    m_acc, m_n = None, 0
    if mnist is not None:
        x, y = mnist
        probs = np.zeros((len(y), 10), dtype=np.float32)
        done = 0
        for start, chunk in scoring.score_batches(ready, x, 1000, should_stop):
            probs[start:start + len(chunk)] = chunk
            done = start + len(chunk)
        if done < len(y):
            raise StopRequested()
        m_acc, m_n = scoring.Scores(scoring.as_labels(y), probs).correct / max(1, len(y)), len(y)
    return Scores(acc, len(held_y), per, m_acc, m_n)


# --- replay sources ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def _style_pool(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Synthesised handwriting for replay (None if rendering failed: it is extra).

    Cached: rendering a pool costs about a second, and a person may teach several times.
    """
    try:
        return synth_pool(n, seed)
    except Exception:  # the synthesiser is extra; teaching goes on without it
        return None


# --- the run ----------------------------------------------------------------------------------

def _train_mode(model: torch.nn.Module, freeze_bn: bool) -> None:
    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()


def run(base: Checkpoint, images: Sequence[np.ndarray], labels: Sequence[int],
        config: TeachConfig | None = None, data: MnistTensors | None = None,
        data_dir=None, control: TrainControl | None = None,
        names: Sequence[str] | None = None, use_mnist: bool = True) -> Iterator:
    """Teach ``base`` the drawings ``images`` (as drawn, any size/polarity) labelled ``labels``.

    ``data`` may be preloaded MNIST; otherwise it is read from ``data_dir`` (the usual
    --data > $DIGITPAD_DATA > user data dir). Without MNIST (or with ``use_mnist=False``)
    the samples are taught alone and a :class:`Notice` says forgetting is not measured.
    """
    control = control or TrainControl()
    clock = control.clock
    config = config or TeachConfig()
    notices: list[str] = []

    def notice(msg: str) -> Notice:
        notices.append(msg)
        return Notice(msg)

    try:
        config.validate()
        config.model = base.arch
        config.rounds = min(config.rounds, config.steps)
        device = resolve_device(config.device)
        prepared = prepare_samples(images, labels, names)
    except Exception as exc:
        yield Failed(describe(exc))
        return
    for name, reason in prepared.skipped:
        yield notice(f"Skipped {name}: {reason}")
    if len(prepared.y) == 0:
        yield Failed("There are no usable samples to learn from: draw or import some first.")
        return
    counts = torch.bincount(prepared.y, minlength=10).tolist()
    missing = [str(d) for d in range(10) if counts[d] == 0]
    if missing:
        yield notice(f"No samples of {', '.join(missing)}: the model learns nothing new about "
                     f"{'that digit' if len(missing) == 1 else 'those digits'}.")

    if data is None and use_mnist:
        try:
            data = load_mnist(data_dir, device="cpu")
        except DataError:
            data = None
    if not use_mnist:
        data = None
    if data is None:
        yield notice("MNIST was not found, so the model learns from your samples alone and "
                     "forgetting is not measured (get MNIST with `digitpad download` or the "
                     "Training tab).")
    elif len(images):
        # a test image opened from the Mistakes tab and kept would be learnt, then scored again
        # as "MNIST test": such samples are left out, so the MNIST figure stays clean
        copy = mnist_test_copies(images, data.test_x)
        if any(copy):
            keep = [i for i, c in enumerate(copy) if not c]
            prepared = prepare_samples([images[i] for i in keep], [labels[i] for i in keep],
                                       [names[i] for i in keep] if names is not None else None)
            n = len(copy) - len(keep)
            yield notice(f"Left out {n} sample{'s' if n != 1 else ''} that {'are' if n != 1 else 'is'} "
                         "MNIST test images (opened from the Mistakes tab), so the MNIST test "
                         "figure stays a clean measure.")
            if len(prepared.y) == 0:
                yield Failed("There are no usable samples to learn from: every sample is an "
                             "MNIST test image.")
                return

    try:
        torch.manual_seed(config.seed)
        gen = torch.Generator().manual_seed(config.seed)
        tr_idx, ho_idx = split_holdout(prepared.y, config.holdout, config.seed)
        user_x, user_y = prepared.x[tr_idx].to(device), prepared.y[tr_idx].to(device)
        held_x, held_y = prepared.x[ho_idx].to(device), prepared.y[ho_idx].to(device)
        mnist_test = None
        replay_x = replay_y = None
        if data is not None:
            lim = config.mnist_eval_limit
            mnist_test = (data.test_x[:lim].to(device), data.test_y[:lim].to(device))
            replay_x, replay_y = data.train_x, data.train_y  # indexed on its device, then moved
        styles = None
        if config.style_share > 0:
            styles = _style_pool(STYLE_POOL, config.seed + 1)
        parts = ["MNIST replay" if data is not None else None,
                 "synthesised styles" if styles is not None else None]
        replay = " and ".join(p for p in parts if p) or "nothing (your samples alone)"

        # the base as the builder makes it (a --permute model's pixel order inside), trainable
        model = build_checkpoint(base, inference=False, device=device)
        mem = torch.contiguous_format
        if device.type != "mps" and base.arch != "lenet" and base.arch != "dense":
            # ~2x faster convolutions for the training step and the scoring alike
            mem = torch.channels_last
            model.to(memory_format=mem)
    except Exception as exc:
        yield Failed(describe(exc))
        return

    n_user = len(user_y)
    bs = config.batch_size
    k_user = max(1, round(config.user_share * bs))
    k_style = round(config.style_share * bs) if styles is not None else 0
    k_replay = bs - k_user - k_style if replay_x is not None else 0
    if replay_x is None and styles is None:
        k_user = min(bs, max(k_user, 2 * n_user))  # samples alone: a full batch of them
    per_round = math.ceil(config.steps / config.rounds)
    rounds = math.ceil(config.steps / per_round)
    val_data = fingerprint(held_x, held_y) if len(held_y) else None

    clock.start()
    yield Started(config, str(device), n_user, len(held_y), per_round,
                  sum(p.numel() for p in model.parameters()), epochs=rounds,
                  val_data=val_data)

    try:
        before = measure(model, held_x, held_y, mnist_test, mem, lambda: control.stop_requested)
    except StopRequested:
        yield _stopped(0, config, clock)
        return
    yield Measured("before", before)

    opt = make_optimizer(config, model)
    spec = AugmentSpec() if config.augment else None
    # Replay looks like what the base model was trained on: warped MNIST for a model trained
    # with augmentation (digitnet), plain MNIST otherwise (lenet's recipe: warping its replay
    # cost it a point on MNIST test in 20 steps). The person's samples are always warped.
    base_cfg = base.meta.get("config") if isinstance(base.meta.get("config"), dict) else {}
    warp_replay = bool(base_cfg.get("augment", True))
    aug_gen = gen if device.type == "cpu" else None

    def batches(rnd: int):
        """The round's batches: the person's samples first (they alone count for the train
        accuracy), then MNIST replay, then synthesised styles."""
        while True:
            ui = torch.randint(n_user, (k_user,), generator=gen).to(device)
            ux = user_x[ui]
            if config.elastic > 0:
                bend = (torch.rand(k_user, generator=gen) < config.elastic).to(device)
                if bool(bend.any()):
                    ux = ux.clone()
                    ux[bend] = elastic(ux[bend], gen=aug_gen)
            xs, ys = [ux], [user_y[ui]]
            if k_replay:
                ri = torch.randint(len(replay_y), (k_replay,), generator=gen)
                xs.append(replay_x[ri].to(device))
                ys.append(replay_y[ri].to(device))
            if k_style:
                si = torch.randint(len(styles[1]), (k_style,), generator=gen)
                xs.append(styles[0][si].to(device))
                ys.append(styles[1][si].to(device))
            xb, yb = torch.cat(xs), torch.cat(ys)
            if spec is not None:
                if warp_replay:
                    xb = augment(xb, spec, aug_gen)
                else:
                    xb = torch.cat([augment(xb[:k_user], spec, aug_gen), xb[k_user:]])
            yield xb.contiguous(memory_format=mem), yb

    def score(should_stop) -> tuple[None, float]:
        # "validation" in the plots is the held-out samples: the figure this run is about
        ho = measure(model, held_x, held_y, None, mem, should_stop)
        return None, ho.held_out_acc if ho.held_out_acc is not None else float("nan")

    plan = Plan(model, opt, warmup_cosine(opt, config.steps, config.warmup, TEACH_FINAL), rounds,
                per_round, batches=batches, score=score,
                batches_in=lambda rnd: min(per_round, config.steps - (rnd - 1) * per_round),
                train_mode=lambda: _train_mode(model, config.freeze_bn),
                label_smoothing=config.label_smoothing, report_every=config.report_every,
                counted=k_user, keep_train_state=False, watch=DivergenceWatch(what="Teaching"))
    outcome = yield from run_epochs(plan, control)
    if outcome == STOPPED:
        yield _stopped(len(plan.history.epochs), config, clock, plan.history)
        return
    if outcome != FINISHED:
        clock.end()
        return

    try:
        after = measure(model, held_x, held_y, mnist_test, mem, lambda: control.stop_requested)
    except StopRequested:
        yield _stopped(rounds, config, clock, plan.history)
        return
    yield Measured("after", after)
    state = cpu_state(model.to(memory_format=torch.contiguous_format))
    clock.end()
    seconds = clock.active_seconds()
    report = TeachReport(
        arch=base.arch, base_name=base.name, before=before, after=after,
        train_counts=torch.bincount(user_y.cpu(), minlength=10).tolist(),
        held_out_counts=torch.bincount(held_y.cpu(), minlength=10).tolist(),
        skipped=list(prepared.skipped), notices=notices, replay=replay,
        seconds=seconds, steps=plan.step, config=config)
    best = after.held_out_acc if after.held_out_acc is not None else float("nan")
    yield Taught(best_val_acc=best, best_epoch=rounds, best_state=state, history=plan.history,
                 seconds=seconds, config=config, test_acc=after.mnist_acc, report=report,
                 val_data=val_data)


def _stopped(rounds: int, config: TeachConfig, clock, history: History | None = None) -> Stopped:
    # a half-taught model is not measured, so it is not offered either
    clock.end()
    return Stopped(epoch=rounds, best_val_acc=0.0, best_epoch=0, best_state=None,
                   history=history or History(), seconds=clock.active_seconds(), config=config)


# --- the new model --------------------------------------------------------------------------

def taught_name(base_name: str) -> str:
    """"digitnet (shipped)" -> "digitnet + my handwriting": the taught one is not shipped."""
    if base_name.endswith(TAUGHT_SUFFIX):
        return base_name
    if base_name.endswith(" (shipped)"):
        base_name = base_name[: -len(" (shipped)")]
    return base_name + TAUGHT_SUFFIX


def taught_checkpoint(base: Checkpoint, result: Taught) -> Checkpoint:
    """The taught weights with metadata that says what they are and how they were made.

    ``config`` stays the base model's training config (so `digitpad train --resume` keeps
    its recipe); the teaching run goes under ``taught``. ``test_acc`` is MNIST's after.
    """
    rep = result.report
    # the held-out samples are this model's validation data: a file is replaced only by a
    # model better on the same samples
    meta = make_meta(
        base.arch, name=taught_name(base.name), test_acc=_round(rep.after.mnist_acc),
        val_acc=_round(rep.after.held_out_acc), val_data=result.val_data,
        epochs=base.meta.get("epochs"), config=base.meta.get("config"),
        # a user's own state dict keeps the input it was trained on (ToTensor, 0-255, ...):
        # the builder puts that layer in front again, as it did while teaching
        input=base.meta.get("input"),
        taught={
            "base": base.name, "base_path": str(base.path) if base.path else None,
            "base_test_acc": base.test_acc, "samples": sum(rep.train_counts),
            "held_out": sum(rep.held_out_counts), "replay": rep.replay,
            "before": rep.before.to_dict(), "after": rep.after.to_dict(),
            "seconds": round(rep.seconds, 3), "steps": rep.steps,
            "config": rep.config.to_dict(),
        })
    if rep.after.mnist_acc is None:
        meta.pop("test_acc", None)
        meta["dataset"] = "user samples"
    else:
        meta["dataset"] = "MNIST + user samples"
    return Checkpoint(base.arch, result.best_state, meta)


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 6)
