"""What a run says as it goes, without torch: the events of training and teaching alike.

The step loop (:mod:`.loop`) yields :class:`Started`, many :class:`BatchDone`, one
:class:`EpochDone` per epoch (teaching: per round), :class:`Notice` for anything the person
should know while the run goes on, and ends with exactly one of :class:`Finished` (teaching:
:class:`Taught`), :class:`Stopped` or :class:`Failed`. Teaching adds :class:`Measured` (its
before and after scores). The CLI, the app's worker and the tabs' state classes read these;
tensors appear only as opaque values (``state``: a dict of CPU weights).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Started:
    config: Any  # the run's TrainConfig or TeachConfig
    device: str
    train_size: int
    test_size: int  # training: MNIST test images; teaching: the held-out samples
    batches_per_epoch: int
    parameters: int
    val_size: int = 0
    epochs: int = 0  # EpochDone events to expect (teaching: rounds)
    # what val_acc is measured on (data.fingerprint: {"sha256", "count"}); every model file
    # records it, and only a model better on the same data replaces a file
    val_data: dict | None = None


@dataclass
class BatchDone:
    epoch: int  # 1-based
    batch: int  # 1-based within the epoch
    batches_per_epoch: int
    step: int  # global batch counter, 1-based
    loss: float  # mean training loss over the batches since the last BatchDone
    samples_per_s: float
    lr: float


@dataclass
class EpochDone:
    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float  # on the validation split (teaching: NaN, it scores accuracy only)
    val_acc: float  # teaching: on the held-out samples
    seconds: float  # wall time of this epoch, evaluation included
    is_best: bool
    state: dict  # CPU copy of the weights after this epoch
    # what a resume needs beside the weights: {"optimizer": state_dict (CPU copy), "step",
    # "epoch"}
    train_state: dict | None = None


@dataclass
class History:
    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)

    def add(self, ev: EpochDone) -> None:
        self.epochs.append(ev.epoch)
        self.train_loss.append(round(ev.train_loss, 5))
        self.train_acc.append(round(ev.train_acc, 5))
        self.val_loss.append(round(ev.val_loss, 5))
        self.val_acc.append(round(ev.val_acc, 5))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "History":
        return cls(**{k: list(v) for k, v in (d or {}).items() if k in cls.__dataclass_fields__})


@dataclass
class Finished:
    """``best_state`` is the epoch with the best validation accuracy; ``test_acc`` is that
    model's accuracy on the test set, measured once, after training."""

    best_val_acc: float
    best_epoch: int
    best_state: dict
    history: History
    seconds: float
    config: Any
    test_acc: float | None


@dataclass
class Stopped:
    """Stopped on request; ``best_state`` is None when no epoch completed (and always for
    teaching: a half-taught model is not measured, so it is not offered). ``test_acc`` is
    None: scoring the test set would hold up the stop."""

    epoch: int
    best_val_acc: float
    best_epoch: int
    best_state: dict | None
    history: History
    seconds: float
    config: Any
    test_acc: float | None = None


@dataclass
class Failed:
    """The run ended without a result; ``message`` says why, not what was kept: only the
    caller knows whether a previous model exists."""

    message: str
    epoch: int = 0


@dataclass
class Notice:
    """Something the person should know that does not stop the run (compiling failed, a
    skipped sample, no MNIST to replay)."""

    message: str


# --- teaching ------------------------------------------------------------------------------

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
    config: Any  # the TeachConfig

    def to_dict(self) -> dict:
        d = asdict(self)
        d["config"] = self.config.to_dict()
        return d


@dataclass
class Taught(Finished):
    """``Finished`` plus the report: ``best_state`` holds the taught weights."""

    report: TeachReport | None = None
    val_data: dict | None = None  # fingerprint of the held-out samples (None: none held out)


Event = Started | BatchDone | EpochDone | Finished | Stopped | Failed | Notice | Measured
