"""Spotting a run that diverged, without torch: the step loop asks after every report and
every epoch, for training and teaching alike."""

from __future__ import annotations

import math

NUM_CLASSES = 10
CHANCE = 1.0 / NUM_CLASSES
# A window's mean loss above this many times an untrained network's loss (ln 10 = 2.30) is a
# blow-up: training that works never comes near it (measured: LeNet at lr 3 reports 670 in its
# first window, then sits at chance for good; lr up to 0.05 never reports above 2).
BLOWUP_FACTOR = 10.0
# An epoch at most this far above chance, after one that reached COLLAPSE_FROM, has collapsed.
CHANCE_MARGIN = 0.05
COLLAPSE_FROM = 0.5


class DivergenceWatch:
    """Spots a run that diverged, also when every number stayed finite.

    ``start_acc`` is the validation accuracy of the weights a run continues from (resume):
    falling from there to chance is a collapse too. The messages say what happened, not what
    was kept: only the caller knows whether an earlier model exists.
    """

    def __init__(self, start_acc: float | None = None, what: str = "Training") -> None:
        self.what = what  # the run's name in messages: Training, Teaching
        self.reference = math.log(NUM_CLASSES)
        self.best_acc = start_acc if start_acc is not None else 0.0

    def batch(self, epoch: int, loss: float) -> str | None:
        if not math.isfinite(loss):
            return (f"{self.what} diverged: the loss became {loss} in epoch {epoch}. Try a smaller "
                    "learning rate.")
        if loss > BLOWUP_FACTOR * self.reference:
            return (f"{self.what} diverged: the loss rose to {loss:.4g} in epoch {epoch} (an "
                    f"untrained network starts near {self.reference:.2f}). Try a smaller "
                    "learning rate.")
        return None

    def validation(self, epoch: int, val_loss: float | None) -> str | None:
        if val_loss is not None and not math.isfinite(val_loss):
            return (f"{self.what} diverged: the validation loss became {val_loss} in epoch "
                    f"{epoch}. Try a smaller learning rate.")
        return None

    def epoch(self, epoch: int, val_acc: float) -> str | None:
        if val_acc <= CHANCE + CHANCE_MARGIN and self.best_acc >= COLLAPSE_FROM:
            return (f"{self.what} diverged: validation accuracy collapsed to {val_acc * 100:.1f} % "
                    f"(chance is {CHANCE * 100:.0f} %) in epoch {epoch}, after "
                    f"{self.best_acc * 100:.1f} %. Try a smaller learning rate.")
        if val_acc == val_acc:  # NaN (nothing scored) raises no bar
            self.best_acc = max(self.best_acc, val_acc)
        return None
