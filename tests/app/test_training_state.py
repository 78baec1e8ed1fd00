"""The Training tab's state machine, driven without Qt (no QApplication, a fake clock)."""

from __future__ import annotations

import sys

import pytest

from digitpad.app.training.state import (IDLE, LOADING, PAUSED, RUNNING, STOPPING, TrainingState,
                                         format_duration)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock()


def _run(state: TrainingState, clock: Clock, epochs=2, per_epoch=10) -> None:
    state.begin(epochs)
    clock.t += 5  # loading MNIST: not training time
    state.started(epochs, per_epoch)


def test_the_state_module_does_not_need_qt():
    import subprocess

    code = ("import sys; import digitpad.app.training.state, digitpad.app.draw.state; "
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'torch', 'pyqtgraph'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_finished_run_shows_full_progress_and_one_duration(clock):
    s = TrainingState(clock)
    assert s.progress().text == "Not started" and s.controls().start and not s.controls().keep
    _run(s, clock)
    assert s.phase == RUNNING and not s.controls().start and not s.controls().form
    for step in range(1, 21):
        clock.t += 1
        s.batch_done(1 + (step - 1) // 10, (step - 1) % 10 + 1, step)
        if step % 10 == 0:
            s.epoch_done(step // 10)
    assert s.progress().text == "Epoch 2/2 · batch 10/10 · 100 %"
    clock.t += 3
    s.ended("finished", 2, has_model=True)
    clock.t += 50  # the worker is joined later: the duration is frozen at the end
    s.worker_finished()
    p = s.progress()
    assert (p.value, p.maximum) == (20, 20) and p.text == "Finished · 2 of 2 epochs"
    assert s.active_seconds() == pytest.approx(23.0)  # loading and the join excluded
    assert s.summary() == "Ran 23 s (20 batches)"
    assert s.phase == IDLE and s.controls().keep and s.unsaved
    assert s.close_question() == "unsaved"
    s.saved()
    assert s.close_question() is None


def test_a_stopped_run_says_stopped_not_ended_and_counts_completed_epochs(clock):
    s = TrainingState(clock)
    _run(s, clock, epochs=3, per_epoch=10)
    for step in range(1, 21):
        s.batch_done(1 + (step - 1) // 10, (step - 1) % 10 + 1, step)
    s.epoch_done(1)
    assert s.close_question() == "running"
    assert s.stop() and s.phase == STOPPING and not s.controls().stop
    assert s.close_question() is None  # already ending: closing just joins it
    s.ended("stopped", 1, has_model=True)
    s.worker_finished()
    p = s.progress()
    assert p.value == 20 and p.maximum == 30
    assert p.text == "Stopped at 67 % · 1 of 3 epochs completed"
    assert "ended" not in p.text and "Epoch 2/3" not in p.text


def test_pause_time_is_not_training_time(clock):
    s = TrainingState(clock)
    _run(s, clock)
    clock.t += 4
    s.batch_done(1, 4, 4)
    assert s.pause() and s.phase == PAUSED and s.controls().pause_text == "Resume"
    assert not s.pause()
    assert s.progress().text.endswith("· paused")
    clock.t += 100
    assert s.active_seconds() == pytest.approx(4.0)
    assert s.resume() and s.phase == RUNNING and s.controls().pause_text == "Pause"
    clock.t += 4
    s.batch_done(1, 8, 8)
    assert s.active_seconds() == pytest.approx(8.0)
    assert s.eta_seconds() == pytest.approx(8.0 / 8 * 12)


def test_pause_while_loading_starts_counting_at_started(clock):
    s = TrainingState(clock)
    s.begin(2)
    assert s.phase == LOADING and s.progress().maximum == 0
    assert s.pause()
    clock.t += 30
    s.started(2, 10)
    assert s.phase == PAUSED
    clock.t += 7
    assert s.resume() and s.phase == RUNNING
    clock.t += 2
    assert s.active_seconds() == pytest.approx(2.0)


def test_failure_while_loading_and_a_second_start(clock):
    s = TrainingState(clock)
    s.begin(2)
    s.ended("failed")
    s.worker_finished()
    assert s.phase == IDLE and s.progress().text == "Failed before training started"
    assert not s.controls().keep and s.close_question() is None
    with pytest.raises(RuntimeError):
        s.begin(2)
        s.begin(2)


def test_an_earlier_result_stays_available_during_a_new_run(clock):
    s = TrainingState(clock)
    _run(s, clock)
    s.ended("finished", 2, has_model=True)
    s.worker_finished()
    _run(s, clock)
    assert not s.controls().keep  # not while running
    assert s.close_question() == "running"
    s.stop()
    s.ended("stopped", 0, has_model=False)
    s.worker_finished()
    assert s.controls().keep and s.close_question() == "unsaved"


def test_format_duration():
    assert [format_duration(x) for x in (0.4, 14, 61, 3725)] == ["0 s", "14 s", "1 min 01 s",
                                                                  "1 h 02 min"]


def test_draw_state_loads_coalesces_and_labels():
    from digitpad.app.draw.state import (LOADING_TEXT, DrawState, entry_label, live_label,
                                         percent)

    s = DrawState()
    assert s.status_text(True) == LOADING_TEXT
    assert s.request() is False and not s.take()  # loading: nothing scheduled, nothing run
    assert s.model_ready() is True  # the stroke drawn while loading still wants its prediction
    assert s.status_text(True) == "Draw a digit" and s.status_text(False) is None
    assert s.take() and not s.pending
    assert s.request() is True and s.request() is False  # one pending at most
    assert s.take() and s.request() is True
    assert percent(0.9973) == "99.73 %" and percent(None) == "n/a"
    assert entry_label("digitnet", "shipped", 0.9973) == "digitnet · shipped · 99.73 %"
    assert entry_label("digitnet (shipped)", "file") == "digitnet · file"
    assert live_label("lenet", 2, 0.5, running=True) == "lenet epoch 2 · being trained · 50.00 %"
    assert live_label("lenet", 2, 0.5, running=False) == "lenet epoch 2 · trained here · 50.00 %"
