"""A training session: what the CLI's ``train`` and the app's Training tab both drive.

:class:`TrainingSession` runs :func:`.training.run` and folds its events into the history, the
best epoch and the run's metadata; time and ETA come from the run's one clock
(``control.clock``). With a claimed output (:func:`digitpad.core.nets.checkpoint.claim_model_output`)
it also writes the model file, only ever through that claim. Below it: the training state a
resume continues from.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..io.files import DigitpadError
from .train_state import (check_train_state, load_train_state, save_train_state,  # noqa: F401
                          state_save_failed, train_state_path)


class TrainingSession:
    """One training run as the CLI and the app's Training tab both drive it.

    ``events()`` runs :func:`digitpad.core.learning.training.run` (the plain event generator)
    and yields each of its events after folding it in: the history, the best epoch by
    validation accuracy. The time spent (pauses excluded) and the ETA are read from the run's
    :class:`~.control.RunClock`. Every checkpoint of the run is built here (:meth:`meta`,
    :meth:`live_checkpoint`, :meth:`result_checkpoint`), so a model file has one metadata
    shape whoever trained it.

    With ``output`` (a :class:`~digitpad.core.io.outputs.Claim`, held by the caller for the
    whole run) the session also writes: the best epoch so far each time it improves, when the
    claim allows it (a new file, ``--overwrite``, or better than the file's model on the same
    validation data), and the final model with its test accuracy. A run whose validation data
    can never be compared with the file's model ends before training (``refusal`` says why).
    """

    def __init__(self, config, *, data=None, data_dir=None, initial_state: dict | None = None,
                 started_from: str | None = None, start_val_acc: float | None = None,
                 output=None, name: str | None = None, control=None,
                 resume: dict | None = None, run_id: str | None = None,
                 owns_out: bool = False, input_convention: str | None = None) -> None:
        import uuid

        from .control import TrainControl
        from .events import History

        self.config = config
        self.data = data
        self.data_dir = data_dir
        self.initial_state = initial_state
        # a user's own state dict continued: its input convention stays in front (and in the file)
        self.input_convention = input_convention if initial_state is not None else None
        self.started_from = started_from
        self.start_val_acc = start_val_acc
        self.output = output
        self.out = output.path if output is not None else None
        self.name = name
        self.control = control or TrainControl()
        # a resumed run keeps its id: the training state beside its file stays paired with it
        self.run_id = run_id or uuid.uuid4().hex
        self.resume = resume
        # out holds this run's model (a resumed run writing its own file): keep the training
        # state beside it current from the first epoch
        self.owns_out = owns_out
        self.notes: list[str] = []  # Notice events (e.g. torch.compile failed), kept in the meta
        self.history = History.from_dict(resume.get("history") if resume else None)
        self.started = None  # the Started event
        self.val_data: dict | None = None  # what validation accuracy is measured on
        self.refusal: str | None = None  # why the claimed output could never take this run's model
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

    # --- time: the run's one clock ---------------------------------------------------------

    def active_seconds(self) -> float:
        """Training time from Started, pauses excluded."""
        return self.control.clock.active_seconds()

    @property
    def total_steps(self) -> int:
        if self.started is None:
            return 0
        return self.started.batches_per_epoch * self.config.epochs

    def eta_seconds(self) -> float | None:
        """Seconds left at the pace so far (None before the first batch report)."""
        return self.control.clock.eta_seconds(self.step, self.total_steps)

    # --- the run -------------------------------------------------------------------------

    def events(self):
        from .events import BatchDone, EpochDone, Failed, Finished, Notice, Started, Stopped
        from .training import run

        gen = run(self.config, self.data, self.control, initial_state=self.initial_state,
                  data_dir=self.data_dir, resume=self.resume, start_val_acc=self.start_val_acc,
                  input_convention=self.input_convention)
        try:
            for ev in gen:
                if isinstance(ev, Started):
                    self.started = ev
                    self.val_data = ev.val_data
                    if self.output is not None:
                        self.refusal = self.output.comparable(ev.val_data)
                        if self.refusal:  # nothing this run makes could be kept: do not train
                            yield self._end(Failed(self.refusal))
                            return
                elif isinstance(ev, BatchDone):
                    self.step = ev.step
                elif isinstance(ev, EpochDone):
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
        self.control.clock.end()
        return ev

    def may_replace(self, val_acc: float | None) -> bool:
        """Whether a model with ``val_acc`` on this run's validation data may go to the output."""
        return self.output is not None and self.output.allows(val_acc, self.val_data)

    def _fold_epoch(self, ev) -> None:
        self.history.add(ev)
        self.last_saved_epoch = 0
        if self.best_val_acc is None or ev.val_acc > self.best_val_acc:
            self.best_val_acc, self.best_epoch, self.best_state = ev.val_acc, ev.epoch, ev.state
            if self.may_replace(ev.val_acc):
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

    def _save_final(self, ev) -> None:
        if self.out is None:
            return
        if not self.owns_out:
            # a run continued from a finished one (--resume ... --epochs more) whose new epochs
            # never beat its earlier best still has a best model, the resumed one: it goes to
            # out like any other, unless out holds a better one
            if ev.best_state is None or not self.may_replace(ev.best_val_acc):
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
        ``val_acc`` (measured on ``val_data``); ``test_acc`` only once the test set was scored."""
        from ..nets.checkpoint import make_meta

        history = self.history if history is None else history
        return make_meta(
            self.config.model, name=name,
            val_acc=None if val_acc is None else round(float(val_acc), 6),
            test_acc=None if test_acc is None else round(float(test_acc), 6),
            val_data=self.val_data,
            epochs=int(epoch), epochs_run=len(history.epochs), config=self.config.to_dict(),
            history=history.to_dict(), train_seconds=round(self.active_seconds(), 3),
            started_from=self.started_from, run_id=self.run_id, notes=list(self.notes) or None,
            input=self.input_convention, **extra)

    def live_checkpoint(self, ev):
        """The weights after an epoch, for the app's live predictions (not a saved model)."""
        from ..nets.checkpoint import Checkpoint

        meta = self.meta(epoch=ev.epoch, val_acc=ev.val_acc,
                         name=f"{self.config.model} (training, epoch {ev.epoch})", live=True)
        return Checkpoint(self.config.model, ev.state, meta)

    def result_checkpoint(self, ev=None, name: str | None = None):
        """The run's model: the best epoch's weights (None when no epoch completed)."""
        from ..nets.checkpoint import Checkpoint
        from .events import Stopped

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
    from .config import ConfigError, TrainConfig, recipe_config

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
