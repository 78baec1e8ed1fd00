"""Quitting during a training run asks: stop and discard / keep training / save what it has."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox

from digitpad.core.nets.checkpoint import load_checkpoint
from digitpad.core.data.mnist import load_mnist
from digitpad.core.learning.config import recipe_config


def _answer_close_box(dialogs, button_text: str, seen: list) -> None:
    """When the close question is asked, record its buttons and text and click ``button_text``."""
    def answer(box) -> None:
        assert isinstance(box, QMessageBox) and box.objectName() == "closeWhileTraining"
        seen.append(sorted(b.text() for b in box.buttons()))
        seen.append(box.text())
        for b in box.buttons():
            if b.text() == button_text:
                b.click()
                return
        box.reject()
    dialogs.allow("exec")
    dialogs.answers.append(answer)


def _start_long_run(window, tiny_mnist, qtbot, epochs_done=0):
    t = window.training_tab
    t.start_training(recipe_config("fast", "lenet", epochs=200, batch_size=16, device="cpu",
                                   augment=False), load_mnist(tiny_mnist))
    qtbot.waitUntil(lambda: t.batches_seen > 0 and t.epochs_seen >= epochs_done, timeout=30000)
    return t


def test_keep_training_keeps_the_window_and_the_run(window, tiny_mnist, qtbot, dialogs):
    t = _start_long_run(window, tiny_mnist, qtbot)
    seen: list = []
    _answer_close_box(dialogs, "Keep training", seen)
    assert not window.close()
    assert window.isVisible() and t.is_running()
    buttons, text = seen
    assert "Stop and discard" in buttons and "Keep training" in buttons
    assert "being trained" in text and "of 200" in text
    seen.clear()
    _answer_close_box(dialogs, "Stop and discard", seen)
    assert window.close()
    assert not t.is_running()  # stopped and joined in closeEvent


def test_stop_and_discard_writes_nothing(window, tiny_mnist, qtbot, dialogs, tmp_path,
                                        monkeypatch):
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: asked.append(a) or ("", "")))
    t = _start_long_run(window, tiny_mnist, qtbot, epochs_done=1)
    seen: list = []
    _answer_close_box(dialogs, "Stop and discard", seen)
    assert window.close()
    assert not t.is_running() and asked == []


def test_save_what_it_has_stops_and_saves_the_best_completed_epoch(window, tiny_mnist, qtbot,
                                                                   dialogs, tmp_path, monkeypatch):
    target = tmp_path / "kept.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "")))
    t = _start_long_run(window, tiny_mnist, qtbot, epochs_done=1)
    seen: list = []
    _answer_close_box(dialogs, "Save what it has…", seen)
    assert window.close()
    assert "Save what it has…" in seen[0]
    assert not t.is_running()
    ckpt = load_checkpoint(target)
    assert ckpt.arch == "lenet" and ckpt.meta.get("stopped_early") is True
    assert 1 <= ckpt.meta["epochs"] < 200
    assert ckpt.meta["train_seconds"] > 0


def test_no_save_choice_before_the_first_epoch_ends(window, tiny_mnist, qtbot, dialogs):
    t = window.training_tab
    t.start_training(recipe_config("fast", "lenet", epochs=200, batch_size=16, device="cpu",
                                   augment=False), load_mnist(tiny_mnist))
    t.pause()  # no epoch can finish while the question is up
    seen: list = []
    _answer_close_box(dialogs, "Keep training", seen)
    assert not window.close()
    assert "Save what it has…" not in seen[0] and t.is_running()
