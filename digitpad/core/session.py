"""A training session: what the CLI and the app's Training tab both drive.

(Grows in the next steps; for now the divergence watch.)
"""

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
    """Spots a run that diverged although every number stayed finite.

    ``start_acc`` is the validation accuracy of the weights a run continues from (resume):
    falling from there to chance is a collapse too.
    """

    def __init__(self, start_acc: float | None = None) -> None:
        self.reference = math.log(NUM_CLASSES)
        self.best_acc = start_acc if start_acc is not None else 0.0

    def batch(self, epoch: int, loss: float) -> str | None:
        if not math.isfinite(loss):
            return (f"Training diverged: the loss became {loss} in epoch {epoch}. Try a smaller "
                    "learning rate.")
        if loss > BLOWUP_FACTOR * self.reference:
            return (f"Training diverged: the loss rose to {loss:.4g} in epoch {epoch} (an "
                    f"untrained network starts near {self.reference:.2f}). Try a smaller "
                    "learning rate.")
        return None

    def epoch(self, epoch: int, val_acc: float) -> str | None:
        if val_acc <= CHANCE + CHANCE_MARGIN and self.best_acc >= COLLAPSE_FROM:
            return (f"Training diverged: validation accuracy collapsed to {val_acc * 100:.1f} % "
                    f"(chance is {CHANCE * 100:.0f} %) in epoch {epoch}, after "
                    f"{self.best_acc * 100:.1f} %. Try a smaller learning rate.")
        self.best_acc = max(self.best_acc, val_acc)
        return None


# --- the session ----------------------------------------------------------------------------

class TrainingSession:
    """One training run as the CLI and the app's Training tab both drive it.

    ``events()`` runs :func:`digitpad.core.training.run` (the plain event generator) and
    yields each of its events after folding it in: the history, the best epoch by validation
    accuracy, the time spent (pauses excluded, from the run's :class:`TrainControl`) and an
    ETA. Divergence that stays finite (:class:`DivergenceWatch`) ends the run with a
    ``Failed`` event. Every checkpoint of the run is built here (:meth:`meta`,
    :meth:`live_checkpoint`, :meth:`result_checkpoint`), so a model file has one metadata
    shape whoever trained it.

    With ``out``, the session also writes: the best epoch so far each time it improves, but
    only above ``bar_acc`` (the validation accuracy recorded in the file it would replace), and
    the final model with its test accuracy. The caller holds the output's lock.
    """

    def __init__(self, config, *, data=None, data_dir=None, initial_state: dict | None = None,
                 started_from: str | None = None, start_val_acc: float | None = None,
                 out=None, bar_acc: float | None = None, name: str | None = None,
                 control=None, clock=None) -> None:
        import time

        from .training import History, TrainControl

        self.config = config
        self.data = data
        self.data_dir = data_dir
        self.initial_state = initial_state
        self.started_from = started_from
        self.out = out
        self.bar_acc = bar_acc
        self.name = name
        self.control = control or TrainControl()
        self._clock = clock or time.perf_counter
        self.watch = DivergenceWatch(start_val_acc)
        self.history = History()
        self.started = None  # the Started event
        self.best_val_acc: float | None = None
        self.best_epoch = 0
        self.best_state: dict | None = None
        self.test_acc: float | None = None
        self.result = None  # Finished | Stopped | Failed, once the run ended
        self.step = 0
        self.saved_acc: float | None = None  # what out holds from this run
        self.saved_epoch = 0
        self.last_saved_epoch = 0  # the epoch whose EpochDone just saved out (0: none)
        self._t0: float | None = None
        self._t_end: float | None = None
        self._paused_at_start = 0.0

    # --- time ------------------------------------------------------------------------------

    def active_seconds(self) -> float:
        """Training time from Started, pauses excluded."""
        if self._t0 is None:
            return 0.0
        end = self._t_end if self._t_end is not None else self._clock()
        paused = self.control.paused_seconds() - self._paused_at_start
        return max(0.0, end - self._t0 - paused)

    @property
    def total_steps(self) -> int:
        if self.started is None:
            return 0
        return self.started.batches_per_epoch * self.config.epochs

    def eta_seconds(self) -> float | None:
        """Seconds left at the pace so far (None before the first batch report)."""
        if self.step <= 0 or self._t0 is None:
            return None
        left = max(0, self.total_steps - self.step)
        return self.active_seconds() / self.step * left

    # --- the run -------------------------------------------------------------------------

    def events(self):
        from .training import BatchDone, EpochDone, Failed, Finished, Started, Stopped, run

        gen = run(self.config, self.data, self.control, initial_state=self.initial_state,
                  data_dir=self.data_dir)
        try:
            for ev in gen:
                if isinstance(ev, Started):
                    self.started = ev
                    self._t0 = self._clock()
                    self._paused_at_start = self.control.paused_seconds()
                elif isinstance(ev, BatchDone):
                    self.step = ev.step
                    problem = self.watch.batch(ev.epoch, ev.loss)
                    if problem:
                        yield self._end(Failed(problem, ev.epoch))
                        return
                elif isinstance(ev, EpochDone):
                    problem = self.watch.epoch(ev.epoch, ev.val_acc)
                    if problem:
                        yield self._end(Failed(problem, ev.epoch))
                        return
                    self._fold_epoch(ev)
                elif isinstance(ev, (Finished, Stopped)):
                    self.test_acc = ev.test_acc
                    if ev.best_state is not None:
                        self.best_val_acc, self.best_epoch = ev.best_val_acc, ev.best_epoch
                        self.best_state = ev.best_state
                    self._end(ev)
                    if isinstance(ev, Finished):
                        self._save_final(ev)
                elif isinstance(ev, Failed):
                    self._end(ev)
                yield ev
        finally:
            gen.close()

    def _end(self, ev):
        self.result = ev
        if self._t_end is None:
            self._t_end = self._clock()
        return ev

    def _fold_epoch(self, ev) -> None:
        self.history.add(ev)
        self.last_saved_epoch = 0
        if self.best_val_acc is None or ev.val_acc > self.best_val_acc:
            self.best_val_acc, self.best_epoch, self.best_state = ev.val_acc, ev.epoch, ev.state
            if self.out is not None and self.beats_bar(ev.val_acc):
                from .checkpoint import save_checkpoint

                # the test set is scored once, at the end: until then the file holds the
                # validation figure its epoch was chosen by
                meta = self.meta(epoch=ev.epoch, val_acc=ev.val_acc, name=self.name)
                save_checkpoint(self.out, self.config.model, ev.state, meta)
                self.saved_acc, self.saved_epoch, self.last_saved_epoch = ev.val_acc, ev.epoch, ev.epoch

    def beats_bar(self, val_acc: float) -> bool:
        return self.bar_acc is None or val_acc > self.bar_acc

    def _save_final(self, ev) -> None:
        if self.out is None or self.saved_acc is None:
            return
        from .checkpoint import save_checkpoint

        meta = self.meta(epoch=ev.best_epoch, val_acc=ev.best_val_acc, test_acc=ev.test_acc,
                         name=self.name)
        save_checkpoint(self.out, self.config.model, ev.best_state, meta)

    # --- checkpoints: one metadata shape ---------------------------------------------------

    def meta(self, *, epoch: int, val_acc: float | None, test_acc: float | None = None,
             name: str | None = None, history=None, **extra) -> dict:
        """The metadata of a model file from this run: the weights of ``epoch``, chosen by
        ``val_acc``; ``test_acc`` only once the test set was scored."""
        from .checkpoint import make_meta

        history = self.history if history is None else history
        return make_meta(
            self.config.model, name=name,
            val_acc=None if val_acc is None else round(float(val_acc), 6),
            test_acc=None if test_acc is None else round(float(test_acc), 6),
            epochs=int(epoch), epochs_run=len(history.epochs), config=self.config.to_dict(),
            history=history.to_dict(), train_seconds=round(self.active_seconds(), 3),
            started_from=self.started_from, **extra)

    def live_checkpoint(self, ev):
        """The weights after an epoch, for the app's live predictions (not a saved model)."""
        from .checkpoint import Checkpoint

        meta = self.meta(epoch=ev.epoch, val_acc=ev.val_acc,
                         name=f"{self.config.model} (training, epoch {ev.epoch})", live=True)
        return Checkpoint(self.config.model, ev.state, meta)

    def result_checkpoint(self, ev=None, name: str | None = None):
        """The run's model: the best epoch's weights (None when no epoch completed)."""
        from .checkpoint import Checkpoint
        from .training import Stopped

        ev = self.result if ev is None else ev
        if ev is None or getattr(ev, "best_state", None) is None:
            return None
        meta = self.meta(epoch=ev.best_epoch, val_acc=ev.best_val_acc, test_acc=ev.test_acc,
                         name=name or self.name, history=ev.history,
                         stopped_early=True if isinstance(ev, Stopped) else None)
        return Checkpoint(self.config.model, ev.best_state, meta)
