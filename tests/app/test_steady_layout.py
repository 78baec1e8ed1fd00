"""Buttons stay where they are when texts change: the Training tab's hint and result, the Lab's
sliding-window panel on its first Step."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from digitpad.app.widgets.steady_label import SteadyLabel

LONG = ("The current model is lenet #3 · trained here, a lenet: choose lenet above to continue "
        "training it. It was trained on reshuffled pixels, so it reads drawings only through "
        "the same shuffle, and the note runs on and on and on past any width.")


def y_of(widget, top) -> int:
    return widget.mapTo(top, QPoint(0, 0)).y()


def test_training_buttons_do_not_move_when_the_texts_change(window, qtbot):
    t = window.training_tab
    window.tabs.setCurrentWidget(t)
    window.resize(830, 568)  # the minimum size, where the column is narrowest
    qtbot.waitUntil(lambda: t.start_button.isVisible())

    def positions():
        QApplication.processEvents()
        return y_of(t.start_button, t), y_of(t.stop_button, t), y_of(t.use_button, t)

    t.continue_note.setText("Starts from lenet.")
    before = positions()
    t.continue_note.setText(LONG)
    assert positions() == before  # moved ~28 px between one and three lines
    t.result_label.setText("Finished 2 epochs: test accuracy 98.12 %. Not saved yet.")
    before = positions()
    t.result_label.setText("Finished 2 epochs: test accuracy 98.12 %.\nSaved to "
                           "/home/someone/models/lenet-98.12.safetensors")
    assert positions() == before


def test_a_steady_label_cuts_long_text_with_a_tooltip(qtbot):
    label = SteadyLabel(2)
    qtbot.addWidget(label)
    label.resize(200, label.height())
    label.show()
    height = label.height()
    label.setText(LONG)
    assert label.height() == height
    assert label.text() == LONG and label.toolTip() == LONG
    shown = label.shown_text()
    assert shown.endswith("…") and shown.count("\n") == 1
    assert all(label.fontMetrics().horizontalAdvance(line) <= label.contentsRect().width()
               for line in shown.split("\n"))
    label.setText("short")
    assert label.shown_text() == "short" and label.toolTip() == ""


def test_the_lab_panel_keeps_its_width_on_the_first_step(window, qtbot):
    lab = window.lab_tab
    window.tabs.setCurrentWidget(lab)
    window.resize(1280, 820)
    qtbot.waitUntil(lambda: lab.step_button.isVisible())
    box = lab.step_button.parentWidget()

    def settle() -> None:  # nested layouts take a few passes of posted LayoutRequests
        for _ in range(5):
            QApplication.processEvents()

    qtbot.mouseClick(lab.conv_example, Qt.MouseButton.LeftButton)
    settle()
    width, right = box.width(), lab.params_label.mapTo(lab, QPoint(0, 0)).x()
    qtbot.mouseClick(lab.step_button, Qt.MouseButton.LeftButton)
    settle()
    assert box.width() == width  # was 746 -> 764 px: the sum's header widened the grid row
    assert lab.params_label.mapTo(lab, QPoint(0, 0)).x() == right
