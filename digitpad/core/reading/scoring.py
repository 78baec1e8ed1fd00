"""Scoring a finished model on labelled images: the one place a model file's figures come from.

:func:`score` gives every image's probabilities; :class:`Scores` derives the rest from them
(accuracy, per-class accuracy, the confusion matrix, the loss, the cells and worst mistakes
the Mistakes tab and ``eval --report`` show). ``eval``, Mistakes and teach's before/after all
read a model through here, so they cannot disagree about what a model scores.

The training loop's per-epoch validation (``learning.training.evaluate``) is the other pass
over a data set, kept apart on purpose: it runs on the training device on tensors already
there, needs only loss and accuracy (one device sync per evaluation, no probabilities copied
back), and checks the run's stop flag between batches. A model file's test figure is
``evaluate``'s only at the end of a run, on the same images and the same argmax.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .prediction import refuse_non_finite

CLASSES = 10
BATCH = 1000


@dataclass
class Scores:
    """Every prediction of a model on labelled images."""

    labels: np.ndarray  # (N,) true digits
    probs: np.ndarray  # (N, 10) float32 softmax outputs

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def preds(self) -> np.ndarray:
        return self.probs.argmax(1)

    @property
    def confidence(self) -> np.ndarray:
        """Probability of the predicted class."""
        return self.probs.max(1)

    @property
    def correct(self) -> int:
        return int((self.preds == self.labels).sum())

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    @property
    def loss(self) -> float:
        """Mean cross-entropy; a probability that underflowed to 0 counts as float32's smallest."""
        if not self.n:
            return float("nan")
        p = self.probs[np.arange(self.n), self.labels].astype(np.float64)
        return float(-np.log(np.maximum(p, np.finfo(np.float32).tiny)).mean())

    @property
    def confusion(self) -> np.ndarray:
        """(10, 10) counts, [true, predicted]."""
        conf = np.zeros((CLASSES, CLASSES), dtype=np.int64)
        np.add.at(conf, (self.labels, self.preds), 1)
        return conf

    @property
    def per_class(self) -> list[float]:
        """Accuracy per true digit 0..9 (nan for a digit absent from the labels)."""
        conf = self.confusion
        totals = conf.sum(1)
        return [float(conf[i, i] / totals[i]) if totals[i] else float("nan") for i in range(CLASSES)]

    def cell(self, true: int, pred: int) -> np.ndarray:
        """Indices of images of digit ``true`` read as ``pred``, most confident first."""
        idx = np.flatnonzero((self.labels == true) & (self.preds == pred))
        return idx[np.argsort(-self.probs[idx, pred], kind="stable")]

    def worst(self, n: int = 36) -> np.ndarray:
        """The ``n`` wrong predictions the model was surest of."""
        idx = np.flatnonzero(self.labels != self.preds)
        return idx[np.argsort(-self.confidence[idx], kind="stable")][:n]

    def summary(self) -> dict:
        """What ``eval --json`` and the report print (nan per-class figures stay nan here)."""
        return {"n": self.n, "accuracy": self.accuracy, "per_class": self.per_class,
                "confusion": self.confusion.tolist(), "errors": self.n - self.correct,
                "loss": self.loss}


def _device_and_format(model: nn.Module) -> tuple[torch.device, torch.memory_format]:
    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")
    # a model whose convolutions are channels-last gets its batches so (no conversion inside
    # every conv); a 1-channel kernel is both layouts at once, so any conv may say it
    last = any(p.dim() == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
               for p in params)
    return device, torch.channels_last if last else torch.contiguous_format


def score_batches(model: nn.Module, images: torch.Tensor, batch_size: int = BATCH,
                  should_stop: Callable[[], bool] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(start index, probabilities of that batch) for each batch of ``images`` (N, 1, 28, 28)
    in [0, 1], in inference mode on the model's device. Ends early (with the batches so far)
    when ``should_stop()`` says so."""
    device, fmt = _device_and_format(model)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, int(images.shape[0]), max(1, int(batch_size))):
            if should_stop is not None and should_stop():
                return
            with torch.inference_mode():
                x = images[start:start + batch_size].to(device).contiguous(memory_format=fmt)
                logits = model.logits(x) if hasattr(model, "logits") else model(x)
                probs = torch.softmax(logits.float(), 1).cpu().numpy()
            yield start, refuse_non_finite(probs, None, first=start)
    finally:
        model.train(was_training)


def score(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | np.ndarray | None = None,
          batch_size: int = BATCH) -> np.ndarray:
    """Probabilities (N, 10) float32 of every image (``labels`` are not needed to score;
    :func:`scores` pairs them)."""
    out = np.zeros((int(images.shape[0]), CLASSES), dtype=np.float32)
    for start, probs in score_batches(model, images, batch_size):
        out[start:start + len(probs)] = probs
    return out


def scores(model: nn.Module, images: torch.Tensor, labels, batch_size: int = BATCH) -> Scores:
    """:func:`score` with the labels: everything ``eval`` reports."""
    return Scores(as_labels(labels), score(model, images, batch_size=batch_size))


def as_labels(labels) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    return np.asarray(labels).astype(np.int64)

