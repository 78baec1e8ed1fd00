"""Quitting during a training run: a question that follows the run while it is up.

The box used to be written once: a run that finished behind it still read "being trained
(epoch 3 of 3, 2 completed)" and offered Stop and discard. Now its text, and whether "Save
what it has…" is offered, follow the Training tab's state; when the run ends the box closes
and the caller asks the finished-model question instead.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox, QStyle, QWidget

B = QMessageBox.StandardButton
FOLLOW_MS = 200  # how often the open box re-reads the run (a label's worth of work)


def running_text(tab) -> tuple[str, bool]:
    """The question's text for the run now, and whether it has a model worth saving."""
    s = tab.state
    done = s.epochs_done
    can_keep = done > 0 or tab.has_unsaved_model()  # this run's best epoch, else the last run's
    return (f"A model is being trained (epoch {max(1, s.epoch)} of {s.epochs}, "
            f"{done} completed). Quitting stops it."), can_keep


def ask_close_running(parent: QWidget, tab):
    """Discard = stop and discard, Cancel = keep training, Save = save what it has (the best
    completed epoch); None when the run ended while the box was up."""
    text, can_keep = running_text(tab)
    box = QMessageBox(QMessageBox.Icon.Question, "Training in progress", text,
                      B.Discard | B.Cancel, parent)
    box.setObjectName("closeWhileTraining")
    box.button(B.Discard).setText("Stop and discard")
    keep = box.button(B.Cancel)
    keep.setText("Keep training")
    # the safe choice: a "carry on" icon, not the red cancel cross some styles give Cancel
    keep.setIcon(box.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    ended = []

    def save_label() -> str:  # at 0 completed the only model to save is the last run's
        return "Save what it has…" if tab.state.epochs_done > 0 else "Save the last run's model…"

    def offer_save() -> None:
        box.addButton(B.Save).setText(save_label())

    def follow() -> None:
        if tab.close_question() != "running":
            ended.append(True)
            box.done(0)
            return
        now, keepable = running_text(tab)
        if now != box.text():
            box.setText(now)
        if keepable and box.button(B.Save) is None:
            offer_save()
        elif box.button(B.Save) is not None and box.button(B.Save).text() != save_label():
            box.button(B.Save).setText(save_label())

    if can_keep:
        offer_save()
    timer = QTimer(box)
    timer.timeout.connect(follow)
    timer.start(FOLLOW_MS)
    box.exec()
    timer.stop()
    clicked = box.clickedButton()
    answer = None if ended else box.standardButton(clicked) if clicked is not None else B.Cancel
    box.deleteLater()
    return answer
