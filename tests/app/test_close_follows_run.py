"""The quit question follows the run: its text moves on, and a run that ends behind it closes
it and asks the finished-model question instead. Keep training carries no cancel cross."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QStyle

from digitpad.core.data.mnist import load_mnist
from digitpad.core.learning.training import recipe_config


def close_box():
    box = QApplication.activeModalWidget()
    if isinstance(box, QMessageBox) and box.objectName() == "closeWhileTraining":
        return box
    return None


def test_a_run_that_ends_behind_the_question_closes_it(window, tiny_mnist, qtbot,
                                                       recorded_dialogs):
    from digitpad.app.close_question import B

    t = window.training_tab
    t.start_training(recipe_config("fast", "lenet", epochs=2, batch_size=16, device="cpu",
                                   augment=False), load_mnist(tiny_mnist))
    t.pause()  # before its first epoch ends
    seen: dict = {}
    recorded_dialogs.answers.append(QMessageBox.StandardButton.Discard)  # "save it?" -> no

    def watch() -> None:
        box = close_box()
        if box is not None:
            seen.setdefault("first", box.text())
            seen["buttons"] = sorted(b.text() for b in box.buttons())
            seen["last"] = box.text()
            if not seen.get("resumed"):
                seen["resumed"] = True
                t.resume()  # the run finishes its two epochs while the question is up
        QTimer.singleShot(20, watch)

    QTimer.singleShot(0, watch)
    assert window.close()
    assert "0 completed" in seen["first"]
    assert seen["last"] != seen["first"]  # the text moved on with the run
    assert "Save what it has…" in seen["buttons"]  # offered once an epoch was complete
    # the box closed itself when the run ended; then came the finished model's question
    assert [d[1] for d in recorded_dialogs] == ["Save the trained model?"]


def test_keep_training_has_a_carry_on_icon_not_a_cancel_cross(window, tiny_mnist, qtbot):
    t = window.training_tab
    t.start_training(recipe_config("fast", "lenet", epochs=200, batch_size=16, device="cpu",
                                   augment=False), load_mnist(tiny_mnist))
    qtbot.waitUntil(lambda: t.batches_seen > 0, timeout=30000)
    t.pause()
    icons = {}

    def look() -> None:
        box = close_box()
        if box is None:
            QTimer.singleShot(10, look)
            return
        keep = box.button(QMessageBox.StandardButton.Cancel)
        style = box.style()
        icons["keep"] = keep.icon().pixmap(16, 16).toImage()
        icons["cancel"] = style.standardIcon(QStyle.StandardPixmap.SP_DialogCancelButton).pixmap(16, 16).toImage()
        icons["play"] = style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay).pixmap(16, 16).toImage()
        keep.click()

    QTimer.singleShot(0, look)
    assert not window.close()
    assert icons["keep"] == icons["play"]
    assert icons["keep"] != icons["cancel"]
