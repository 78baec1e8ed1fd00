"""Fine-tuning a model on one person's handwriting without forgetting everyone else's.

``run(base, images, labels, config)`` is a plain generator like :func:`training.run` and
yields the same events (``Started``, ``BatchDone``, ``EpochDone``, then ``Finished`` /
``Stopped`` / ``Failed``), so the app's worker thread and live plots take it as they are.
It adds three of its own: :class:`Notice` (a warning for the person: no MNIST, skipped
samples), :class:`Measured` (the before and after scores) and :class:`Taught`, the
``Finished`` that carries the whole :class:`TeachReport`.

How, and why:

- The person's drawings go through the real :func:`preprocess`, exactly as the app and
  ``digitpad predict`` will see them later.
- A stratified share of them (``holdout``, at least one per digit that has two or more) is
  never trained on: the before/after accuracy on it is the honest "does it read me now".
- A hundred drawings are far too few to train on alone: every batch mixes the person's
  samples (augmented: warps and pen changes, so the model learns the style, not the pixels)
  with MNIST replay (and synthesised handwriting styles when the synthesiser is present), so
  the model does not forget everyone else. MNIST's test set, before and after, shows whether
  it did.
- Two hundred small steps at a low learning rate (AdamW 1e-3, warm-up then cosine). Batch norm
  keeps learning its statistics: with the mixed batches it kept MNIST test 0.05 points higher
  than frozen statistics, at the same accuracy on the writer (``scripts/bench_teach.py``;
  ``freeze_bn`` keeps the other choice). About 20 s on two CPU cores for digitnet.
- The result is a new set of weights; nothing is written here. The caller saves it (the CLI
  to ``--out``, the app only when the person says so), never over the shipped model.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
import torch.nn.functional as F

from ..data.augment import AugmentSpec, augment
from ..nets.checkpoint import Checkpoint, make_meta
from ..data.mnist import DataError, MnistTensors, load_mnist
from ..data.overlap import mnist_test_copies
from ..nets.devices import resolve_device
from ..nets.builder import build_checkpoint, for_inference
from ..reading import scoring
from ..data.preprocess import preprocess
from .training import (BatchDone, ConfigError, EpochDone, Failed, Finished, History, Started,
                       Stopped, TrainControl, cpu_state)

TAUGHT_SUFFIX = " + my handwriting"
STYLE_POOL = 2048  # synthesised digits drawn from during a run


@dataclass
class TeachConfig:
    """Everything that defines a teaching run; saved in the taught model's metadata."""

    steps: int = 200
    rounds: int = 4  # EpochDone events: the held-out samples are scored after each round
    batch_size: int = 64
    user_share: float = 0.375  # of each batch: the person's samples, the rest replay
    style_share: float = 0.125  # of each batch: synthesised styles, when the synthesiser exists
    lr: float = 1e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    holdout: float = 0.25  # share of each digit's samples kept out of training, for measuring
    freeze_bn: bool = False  # True: batch norm keeps the base model's running statistics
    augment: bool = True
    mnist_eval_limit: int | None = None  # None: the whole MNIST test set before and after
    seed: int = 0
    device: str = "auto"
    report_every: int = 10
    model: str = ""  # the architecture, filled in from the base model

    @property
    def epochs(self) -> int:  # what the app's progress and plots call a round
        return self.rounds

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TeachConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def validate(self) -> None:
        if self.steps < 1 or self.rounds < 1:
            raise ConfigError("steps and rounds must be at least 1")
        if self.batch_size < 2:
            raise ConfigError("batch size must be at least 2")
        if not 0.0 < self.user_share <= 1.0:
            raise ConfigError("user_share must be in (0, 1]")
        if not 0.0 <= self.style_share < 1.0 or self.user_share + self.style_share > 1.0:
            raise ConfigError("style_share must be in [0, 1) and leave room for the user's share")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError("learning rate must be a positive number")
        if not 0.0 <= self.holdout < 1.0:
            raise ConfigError("holdout must be a share in [0, 1)")


# --- events and results -------------------------------------------------------------------

@dataclass
class Notice:
    """Something the person should know; the run goes on."""

    message: str


@dataclass
class Scores:
    """One model measured: on the held-out samples (per digit too) and on MNIST's test set."""

    held_out_acc: float | None  # None when nothing was held out
    held_out_n: int
    held_out_per_digit: list[float | None]  # None for a digit with no held-out sample
    mnist_acc: float | None  # None when MNIST is not available
    mnist_n: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Measured:
    when: str  # "before" | "after"
    scores: Scores


@dataclass
class TeachReport:
    arch: str
    base_name: str
    before: Scores
    after: Scores
    train_counts: list[int]  # samples trained on, per digit
    held_out_counts: list[int]
    skipped: list[tuple[str, str]]  # (name, reason) for every sample that could not be used
    notices: list[str]
    replay: str  # what the samples were mixed with, in words
    seconds: float
    steps: int
    config: TeachConfig

    def to_dict(self) -> dict:
        d = asdict(self)
        d["config"] = self.config.to_dict()
        return d


@dataclass
class Taught(Finished):
    """``Finished`` plus the report: ``best_state`` holds the taught weights."""

    report: TeachReport | None = None


def _event(cls, **values):
    """Build a training event by field name, whatever order or extra fields it has now.

    ``best_acc`` is given under both names it has had; fields not named here keep their
    defaults, so teaching does not break when the training loop's events grow a field.
    """
    if "best_acc" in values:
        values["best_val_acc"] = values["best_acc"]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


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
            raise _Stop()
        m_acc, m_n = scoring.Scores(scoring.as_labels(y), probs).correct / max(1, len(y)), len(y)
    return Scores(acc, len(held_y), per, m_acc, m_n)


class _Stop(Exception):
    pass


# --- replay sources ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def _style_pool(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Synthesised handwriting for replay, when the style synthesiser is part of this build.

    Cached: rendering a pool costs about a second, and a person may teach several times.
    """
    try:
        from ..data.styles import synth_pool
    except ImportError:
        return None
    try:
        return synth_pool(n, seed)
    except Exception:  # the synthesiser is extra; teaching goes on without it
        return None


# --- the loop ---------------------------------------------------------------------------------

def _schedule(opt: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A short linear warm-up (the optimiser's moments start at zero), then cosine to ~0."""
    warm = max(1, round(0.1 * total))

    def factor(step: int) -> float:
        if step < warm:
            return 0.1 + 0.9 * step / warm
        p = min(1.0, (step - warm) / max(1, total - warm))
        return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * p))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


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
    config = config or TeachConfig()
    t0 = time.perf_counter()
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
        yield Failed(_describe(exc))
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
        yield Failed(_describe(exc))
        return

    n_user = len(user_y)
    bs = config.batch_size
    k_user = max(1, round(config.user_share * bs))
    k_style = round(config.style_share * bs) if styles is not None else 0
    k_replay = bs - k_user - k_style if replay_x is not None else 0
    if replay_x is None and styles is None:
        k_user = min(bs, max(k_user, 2 * n_user))  # samples alone: a full batch of them
    batch = k_user + k_style + k_replay

    yield Started(config, str(device), n_user, len(held_y), math.ceil(config.steps / config.rounds),
                  sum(p.numel() for p in model.parameters()))

    try:
        before = measure(model, held_x, held_y, mnist_test, mem, lambda: control.stop_requested)
    except _Stop:
        yield _stopped(0, config, t0)
        return
    yield Measured("before", before)

    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    sched = _schedule(opt, config.steps)
    spec = AugmentSpec() if config.augment else None
    # Replay looks like what the base model was trained on: warped MNIST for a model trained
    # with augmentation (digitnet), plain MNIST otherwise (lenet's recipe: warping its replay
    # cost it a point on MNIST test in 20 steps). The person's samples are always warped.
    base_cfg = base.meta.get("config") if isinstance(base.meta.get("config"), dict) else {}
    warp_replay = bool(base_cfg.get("augment", True))
    aug_gen = gen if device.type == "cpu" else None
    history = History()
    per_round = math.ceil(config.steps / config.rounds)
    step = 0
    rnd = 0
    while step < config.steps:
        rnd += 1
        t_round = time.perf_counter()
        loss_sum = 0.0
        hits = 0
        seen = 0
        window = []
        t_window = time.perf_counter()
        n_window = 0
        last = min(config.steps, step + per_round)
        b = 0
        _train_mode(model, config.freeze_bn)
        while step < last:
            if control.stop_requested:
                yield _stopped(rnd - 1, config, t0, history)
                return
            control.wait_while_paused()
            if control.stop_requested:
                yield _stopped(rnd - 1, config, t0, history)
                return
            ui = torch.randint(n_user, (k_user,), generator=gen).to(device)
            xs, ys = [user_x[ui]], [user_y[ui]]
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
            xb = xb.contiguous(memory_format=mem)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=config.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            b += 1
            d = loss.detach()
            window.append(d)
            n_window += batch
            hits_b = (logits.detach()[:k_user].argmax(1) == yb[:k_user]).sum()
            hits += int(hits_b)  # the person's samples only: how well it fits them
            seen += k_user
            if len(window) >= config.report_every or step == last:
                mean = torch.stack(window).mean().item()
                loss_sum += mean * len(window)
                if not math.isfinite(mean):
                    yield Failed(f"Teaching diverged: the loss became {mean}. Try a smaller "
                                 "learning rate. The model is unchanged.", rnd)
                    return
                now = time.perf_counter()
                yield BatchDone(rnd, b, per_round, step, mean, n_window / max(now - t_window, 1e-9),
                                opt.param_groups[0]["lr"])
                window = []
                n_window = 0
                t_window = now
        try:
            ho = measure(model, held_x, held_y, None, mem, lambda: control.stop_requested)
        except _Stop:
            yield _stopped(rnd - 1, config, t0, history)
            return
        train_loss = loss_sum / max(1, b)
        train_acc = hits / max(1, seen)
        # "test" in the plots is the held-out samples: the figure this run is about
        test_acc = ho.held_out_acc if ho.held_out_acc is not None else float("nan")
        ev = EpochDone(rnd, config.rounds, train_loss, train_acc, float("nan"), test_acc,
                       time.perf_counter() - t_round, False, {})
        history.add(ev)
        yield ev

    try:
        after = measure(model, held_x, held_y, mnist_test, mem, lambda: control.stop_requested)
    except _Stop:
        yield _stopped(rnd, config, t0, history)
        return
    yield Measured("after", after)
    state = cpu_state(model.to(memory_format=torch.contiguous_format))
    seconds = time.perf_counter() - t0
    report = TeachReport(
        arch=base.arch, base_name=base.name, before=before, after=after,
        train_counts=torch.bincount(user_y.cpu(), minlength=10).tolist(),
        held_out_counts=torch.bincount(held_y.cpu(), minlength=10).tolist(),
        skipped=list(prepared.skipped), notices=notices, replay=replay,
        seconds=seconds, steps=step, config=config)
    best = after.held_out_acc if after.held_out_acc is not None else float("nan")
    yield _event(Taught, best_acc=best, best_epoch=rnd, best_state=state, history=history,
                 seconds=seconds, config=config, test_acc=after.mnist_acc, report=report)


def _stopped(rounds: int, config: TeachConfig, t0: float, history: History | None = None) -> Stopped:
    # a half-taught model is not measured, so it is not offered either
    return _event(Stopped, epoch=rounds, best_acc=0.0, best_epoch=0, best_state=None,
                  history=history or History(), seconds=time.perf_counter() - t0, config=config,
                  test_acc=None)


def _describe(exc: BaseException) -> str:
    msg = str(exc).strip() or type(exc).__name__
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in msg.lower():
        return "The device ran out of memory: try the CPU."
    return msg


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
    meta = make_meta(
        base.arch, name=taught_name(base.name), test_acc=_round(rep.after.mnist_acc),
        epochs=base.meta.get("epochs"), config=base.meta.get("config"),
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
