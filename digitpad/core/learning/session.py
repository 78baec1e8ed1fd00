"""A training session: what the CLI and the app's Training tab both drive.

It folds training's events into the history, the best epoch, the time spent and an ETA; ends a
diverging run (DivergenceWatch); builds every checkpoint of a run; writes the best epoch and the
training state beside it; and plans a resume (plan_resume).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..io.files import DigitpadError
from .train_state import (check_train_state, load_train_state, save_train_state,  # noqa: F401
                          state_save_failed, train_state_path)

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

    ``events()`` runs :func:`digitpad.core.learning.training.run` (the plain event generator) and
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
                 control=None, clock=None, resume: dict | None = None,
                 run_id: str | None = None, owns_out: bool = False) -> None:
        import time
        import uuid

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
        # a resumed run keeps its id: the training state beside its file stays paired with it
        self.run_id = run_id or uuid.uuid4().hex
        self.resume = resume
        # out holds this run's model (a resumed run writing its own file): keep the training
        # state beside it current from the first epoch
        self.owns_out = owns_out
        self._clock = clock or time.perf_counter
        self.watch = DivergenceWatch(start_val_acc)
        self.notes: list[str] = []  # Notice events (e.g. torch.compile failed), kept in the meta
        self.history = History()
        if resume and resume.get("history"):
            self.history = History(**{k: list(v) for k, v in resume["history"].items()
                                      if k in History.__dataclass_fields__})
        self.started = None  # the Started event
        self.best_val_acc: float | None = None
        self.best_epoch = 0
        self.best_state: dict | None = None
        if resume and resume.get("best_state") is not None:
            self.best_val_acc = float(resume["best_val_acc"])
            self.best_epoch = int(resume["best_epoch"])
            self.best_state = resume["best_state"]
        self.test_acc: float | None = None
        self.result = None  # Finished | Stopped | Failed, once the run ended
        self.step = 0
        self.saved_acc: float | None = None  # what out holds from this run
        self.saved_epoch = 0
        self.last_saved_epoch = 0  # the epoch whose EpochDone just saved out (0: none)
        self.state_failure: str | None = None  # why this epoch's training state was not saved
        self.state_failure_said = False
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
        from .training import (BatchDone, EpochDone, Failed, Finished, Notice, Started, Stopped,
                               run)

        gen = run(self.config, self.data, self.control, initial_state=self.initial_state,
                  data_dir=self.data_dir, resume=self.resume)
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
                    self.state_failure = None
                    self._fold_epoch(ev)
                    if self.state_failure and not self.state_failure_said:
                        yield ev
                        self.state_failure_said = True  # once: later epochs fail alike
                        self.notes.append(self.state_failure)
                        yield Notice(self.state_failure)
                        continue
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
                elif isinstance(ev, Notice):
                    self.notes.append(ev.message)
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
                from ..nets.checkpoint import save_checkpoint

                # the test set is scored once, at the end: until then the file holds the
                # validation figure its epoch was chosen by
                meta = self.meta(epoch=ev.epoch, val_acc=ev.val_acc, name=self.name)
                save_checkpoint(self.out, self.config.model, ev.state, meta)
                self.saved_acc, self.saved_epoch, self.last_saved_epoch = ev.val_acc, ev.epoch, ev.epoch
                self.owns_out = True
        if self.out is not None and self.owns_out and ev.train_state is not None:
            # beside the model: the last epoch's weights, optimiser state and step, so that
            # --resume continues this run where it stopped (also after a kill)
            try:
                save_train_state(train_state_path(self.out), ev.state, ev.train_state, {
                    "run_id": self.run_id, "config": self.config.to_dict(),
                    "history": self.history.to_dict(), "best_val_acc": self.best_val_acc,
                    "best_epoch": self.best_epoch})
            except (OSError, DigitpadError) as exc:
                # the model file is what matters: the run goes on without a resume point
                self.state_failure = state_save_failed(exc, self.out, self.saved_epoch)

    def beats_bar(self, val_acc: float) -> bool:
        return self.bar_acc is None or val_acc > self.bar_acc

    def _save_final(self, ev) -> None:
        if self.out is None:
            return
        if not self.owns_out:
            # a run continued from a finished one (--resume ... --epochs more) whose new epochs
            # never beat its earlier best still has a best model, the resumed one: it goes to
            # out like any other, unless out holds a better one
            if ev.best_state is None or not self.beats_bar(ev.best_val_acc):
                return
            self.owns_out = True
        from ..nets.checkpoint import save_checkpoint

        meta = self.meta(epoch=ev.best_epoch, val_acc=ev.best_val_acc, test_acc=ev.test_acc,
                         name=self.name)
        save_checkpoint(self.out, self.config.model, ev.best_state, meta)

    # --- checkpoints: one metadata shape ---------------------------------------------------

    def meta(self, *, epoch: int, val_acc: float | None, test_acc: float | None = None,
             name: str | None = None, history=None, **extra) -> dict:
        """The metadata of a model file from this run: the weights of ``epoch``, chosen by
        ``val_acc``; ``test_acc`` only once the test set was scored."""
        from ..nets.checkpoint import make_meta

        history = self.history if history is None else history
        return make_meta(
            self.config.model, name=name,
            val_acc=None if val_acc is None else round(float(val_acc), 6),
            test_acc=None if test_acc is None else round(float(test_acc), 6),
            epochs=int(epoch), epochs_run=len(history.epochs), config=self.config.to_dict(),
            history=history.to_dict(), train_seconds=round(self.active_seconds(), 3),
            started_from=self.started_from, run_id=self.run_id, notes=list(self.notes) or None,
            **extra)

    def live_checkpoint(self, ev):
        """The weights after an epoch, for the app's live predictions (not a saved model)."""
        from ..nets.checkpoint import Checkpoint

        meta = self.meta(epoch=ev.epoch, val_acc=ev.val_acc,
                         name=f"{self.config.model} (training, epoch {ev.epoch})", live=True)
        return Checkpoint(self.config.model, ev.state, meta)

    def result_checkpoint(self, ev=None, name: str | None = None):
        """The run's model: the best epoch's weights (None when no epoch completed)."""
        from ..nets.checkpoint import Checkpoint
        from .training import Stopped

        ev = self.result if ev is None else ev
        if ev is None or getattr(ev, "best_state", None) is None:
            return None
        meta = self.meta(epoch=ev.best_epoch, val_acc=ev.best_val_acc, test_acc=ev.test_acc,
                         name=name or self.name, history=ev.history,
                         stopped_early=True if isinstance(ev, Stopped) else None)
        return Checkpoint(self.config.model, ev.best_state, meta)


# --- resume: the training state beside a model file (train_state reads and checks it) -----

@dataclass
class ResumePlan:
    """How ``--resume FILE`` continues: the config (the file's, with explicit overrides), the
    weights to start from, and the run state to continue (None: weights only, a fresh
    schedule), with a note saying which and why."""

    config: object
    initial_state: dict
    resume: dict | None
    note: str
    run_id: str | None
    start_val_acc: float | None


def plan_resume(ckpt, recipe: str | None = None, **overrides) -> ResumePlan:
    """The config saved in ``ckpt`` is authoritative; ``overrides`` that are not None win
    (``epochs`` extends a run). With the training state saved beside the file by the same run,
    the run continues where it stopped: its last epoch's weights, optimiser state and place
    in the one-cycle schedule. Raises ConfigError for settings that cannot work."""
    from dataclasses import replace

    from ..nets.checkpoint import CheckpointError
    from .training import ConfigError, TrainConfig, recipe_config

    explicit = {k: v for k, v in overrides.items() if v is not None}
    saved = ckpt.meta.get("config")
    name = ckpt.path.name if ckpt.path is not None else ckpt.name
    same_recipe = isinstance(saved, dict) and (recipe is None or recipe == saved.get("recipe"))
    if same_recipe:
        try:
            config = replace(TrainConfig.from_dict({**saved, "model": ckpt.arch}), **explicit)
            config.validate()
        except ConfigError as exc:
            raise ConfigError(f"{name}'s saved training settings with these options cannot "
                              f"work: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name}'s saved training settings are damaged ({exc}); start "
                              "from it with an explicit --recipe.") from exc
    else:
        config = recipe_config(recipe or "fast", ckpt.arch, **explicit)
    val = ckpt.val_acc

    def fresh(why: str) -> ResumePlan:
        return ResumePlan(config, ckpt.state, None,
                          f"continuing from its weights with a fresh schedule ({why})", None, val)

    if not same_recipe:
        return fresh("another recipe than the one it was trained with" if isinstance(saved, dict)
                     else "it records no training settings")
    if ckpt.path is None:
        return fresh("no file")
    side = train_state_path(ckpt.path)
    if not side.exists():
        return fresh(f"no training state was saved beside it ({side.name})")
    try:
        weights, optimizer, info = load_train_state(side)
    except CheckpointError as exc:
        return fresh(f"its training state cannot be read: {exc}")
    try:
        check_train_state(side, weights, optimizer, info, config, ckpt.arch)
    except CheckpointError as exc:
        return fresh(f"its training state cannot be continued: {exc}")
    if info.get("run_id") is None or info.get("run_id") != ckpt.meta.get("run_id"):
        return fresh(f"{side.name} belongs to another run")
    old = info.get("config") or {}
    for key in ("batch_size", "optimizer", "val_size"):
        if old.get(key) != getattr(config, key):
            return fresh(f"{key.replace('_', ' ')} changed")
    done = int(info["epoch"])
    if done >= config.epochs:
        raise ConfigError(f"{name} has already trained {done} of its {config.epochs} epochs; "
                          f"pass --epochs N with N above {done} to train on.")
    resume = {"epoch": done, "step": int(info["step"]), "optimizer": optimizer,
              "history": info.get("history"), "best_state": ckpt.state,
              # the training state's own figure first: the file's is rounded, and a later epoch
              # that only ties the best would then "beat" it
              "best_val_acc": (info["best_val_acc"] if info.get("best_val_acc") is not None
                               else val if val is not None else -1.0),
              "best_epoch": int(ckpt.meta.get("epochs") or info.get("best_epoch") or done)}
    return ResumePlan(config, weights, resume,
                      f"continuing the run at epoch {done + 1} of {config.epochs}, step "
                      f"{resume['step']:,}", info["run_id"], val)
