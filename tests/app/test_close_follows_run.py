"""The quit question follows the run: its text moves on, and a run that ends behind it closes
it and asks the finished-model question instead. Keep training carries no cancel cross."""

from __future__ import annotations

import pytest

from PySide6.QtWidgets import QMessageBox, QStyle

from digitpad.core.data.mnist import load_mnist
from digitpad.core.learning.config import recipe_config


@pytest.mark.timeout(400)  # above its waits (up to 3 x 120 s on a loaded machine)
def test_a_run_that_ends_behind_the_question_closes_it(window, tiny_mnist, qtbot, dialogs):
    t = window.training_tab
    t.start_training(recipe_config("fast", "lenet", epochs=3, batch_size=16, device="cpu",
                                   augment=False), load_mnist(tiny_mnist))
    t.pause()  # before its first epoch ends
    seen: dict = {}

    def play(box) -> None:
        """The person reads the question and waits; the run goes on behind it and ends."""
        assert box.objectName() == "closeWhileTraining"
        seen["first"] = box.text()
        seen["first buttons"] = sorted(b.text() for b in box.buttons())
        closed = []
        box.finished.connect(closed.append)
        t.resume()
        # held again once an epoch is complete, so the box's 200 ms follow-up has a moment to
        # show it: on tiny data the whole run could otherwise end between two of its looks
        qtbot.waitUntil(lambda: t.state.epochs_done >= 1, timeout=120000)
        t.pause()

        def look() -> bool:  # what the box says while the run goes on
            seen["last"] = box.text()
            seen["buttons"] = sorted(b.text() for b in box.buttons())
            return bool(closed)

        qtbot.waitUntil(lambda: look() or box.text() != seen["first"], timeout=120000)
        t.resume()
        qtbot.waitUntil(look, timeout=120000)

    dialogs.allow("exec", "question")
    dialogs.answers += [play, QMessageBox.StandardButton.Discard]  # then "save it?" -> no
    assert window.close()
    assert "0 completed" in seen["first"]
    assert "Save what it has…" not in seen["first buttons"]
    assert seen["last"] != seen["first"]  # the text moved on with the run
    assert "Save what it has…" in seen["buttons"]  # offered once an epoch was complete
    # the box closed itself when the run ended; then came the finished model's question
    assert [d[1] for d in dialogs] == ["Training in progress", "Save the trained model?"]


def test_keep_training_has_a_carry_on_icon_not_a_cancel_cross(window, tiny_mnist, qtbot, dialogs):
    t = window.training_tab
    t.start_training(recipe_config("fast", "lenet", epochs=200, batch_size=16, device="cpu",
                                   augment=False), load_mnist(tiny_mnist))
    qtbot.waitUntil(lambda: t.batches_seen > 0, timeout=30000)
    t.pause()
    icons = {}

    def look(box) -> None:
        keep = box.button(QMessageBox.StandardButton.Cancel)
        style = box.style()
        icons["keep"] = keep.icon().pixmap(16, 16).toImage()
        icons["cancel"] = style.standardIcon(QStyle.StandardPixmap.SP_DialogCancelButton).pixmap(16, 16).toImage()
        icons["play"] = style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay).pixmap(16, 16).toImage()
        keep.click()

    dialogs.allow("exec")
    dialogs.answers.append(look)
    assert not window.close()
    assert icons["keep"] == icons["play"]
    assert icons["keep"] != icons["cancel"]
    t.shutdown(2000)
