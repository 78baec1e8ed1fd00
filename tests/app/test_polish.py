"""Small things a person notices: remembered form and folders, Open recent after saving,
the training time in ``info``, one duration and an honest progress bar, the About box."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from PySide6.QtWidgets import QDialog, QFileDialog, QTextBrowser

from digitpad.app.training.state import format_duration
from digitpad.core.data.mnist import load_mnist
from digitpad.core.learning.config import recipe_config


def _train(window, tiny_mnist, qtbot, epochs=1, live=False):
    t = window.training_tab
    t.live_check.setChecked(live)
    t.start_training(recipe_config("fast", "lenet", epochs=epochs, batch_size=32, device="cpu",
                                   augment=False), load_mnist(tiny_mnist))
    qtbot.waitUntil(lambda: not t.is_running(), timeout=60000)
    return t


def test_training_form_is_remembered_across_launches(make_window, tiny_mnist, qtbot):
    w1 = make_window()
    t = w1.training_tab
    t.arch_combo.setCurrentIndex(t.arch_combo.findData("lenet"))
    t.recipe_combo.setCurrentIndex(t.recipe_combo.findData("lesson"))
    t.epochs_spin.setValue(3)
    t.batch_spin.setValue(48)
    t.lr_edit.setText("0.002")
    t.live_check.setChecked(True)
    t.device_combo.setCurrentIndex(t.device_combo.findData("cpu"))
    t.data_edit.setText(str(tiny_mnist))
    t.start_button.click()  # the settings are kept when a run starts
    qtbot.waitUntil(lambda: t.is_running(), timeout=5000)
    t.stop()
    qtbot.waitUntil(lambda: not t.is_running(), timeout=60000)
    w2 = make_window(settings=w1.settings)
    t2 = w2.training_tab
    assert t2.arch_combo.currentData() == "lenet" and t2.recipe_combo.currentData() == "lesson"
    assert (t2.epochs_spin.value(), t2.batch_spin.value(), t2.lr_edit.text()) == (3, 48, "0.002")
    assert t2.live_check.isChecked()


def test_saving_a_trained_model_adds_it_to_open_recent_and_info_shows_its_time(
        window, tiny_mnist, qtbot, tmp_path, monkeypatch, capsys):
    t = _train(window, tiny_mnist, qtbot)
    target = tmp_path / "folder" / "mine.safetensors"
    target.parent.mkdir()
    starts = []

    def fake_save(parent, title, start, filt):
        starts.append(start)
        return str(target), ""
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_save))
    job = t.save_trained_model(window)
    assert job is not None and "Saving to" in t.result_label.text()
    assert job.wait().ok
    assert f"Saved to {target}" in t.result_label.text()
    assert window._recent()[0] == str(target)
    # the next dialog starts in the folder used last
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda parent, title, start, filt: starts.append(start) or ("", "")))
    window.open_model_dialog()
    assert Path(starts[-1]) == target.parent
    from digitpad.cli import main

    assert main(["info", str(target)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("training time"))
    assert re.search(r"\d+(\.\d+)? s$", line), line


def test_one_duration_and_a_stopped_run_says_stopped(window, tiny_mnist, qtbot):
    t = _train(window, tiny_mnist, qtbot, epochs=2)
    ran = t.speed_label.text()
    result = t.result_label.text()
    assert t.progress.format() == "Finished · 2 of 2 epochs"
    assert t.progress.value() == t.progress.maximum()
    took = format_duration(t.state.active_seconds())
    assert ran.startswith(f"Ran {took} ") and f" in {took}." in result
    # a stopped run: the bar stays where it stopped and says so
    t.start_training(recipe_config("fast", "lenet", epochs=50, batch_size=16, device="cpu",
                                   augment=False), load_mnist(tiny_mnist))
    qtbot.waitUntil(lambda: t.epochs_seen >= 1, timeout=60000)
    t.stop()
    qtbot.waitUntil(lambda: not t.is_running(), timeout=60000)
    fmt = t.progress.format()
    assert fmt.startswith("Stopped at ") and "of 50 epochs completed" in fmt and "ended" not in fmt
    assert t.progress.value() < t.progress.maximum()


def test_live_weights_show_in_the_draw_tab_and_end_as_trained_here(window, tiny_mnist, qtbot):
    draw = window.draw_tab
    draw.canvas.draw_stroke([(80, 60), (200, 60), (140, 230)])
    _train(window, tiny_mnist, qtbot, epochs=2, live=True)
    assert draw.current_entry().key == "live"
    texts = [draw.model_box.itemText(i) for i in range(draw.model_box.count())]
    assert not any("being trained" in x for x in texts)
    assert draw.model_box.currentText().startswith("lenet epoch ") and "trained here" in draw.model_box.currentText()


def test_about_box_is_complete_and_links_to_the_lesson(window, qtbot, dialogs):
    import PySide6
    from PySide6.QtCore import QUrl, qVersion

    seen = {}

    def read_and_follow_the_link(dlg) -> None:
        assert isinstance(dlg, QDialog) and dlg.objectName() == "aboutDialog"
        seen["text"] = dlg.findChild(QTextBrowser).toPlainText()
        seen["html"] = dlg.findChild(QTextBrowser).toHtml()
        dlg.findChild(QTextBrowser).anchorClicked.emit(QUrl("digitpad:how-this-works"))

    dialogs.allow("exec")  # the About box
    dialogs.answers.append(read_and_follow_the_link)
    window.show_about()  # built in a worker: the box opens when its text is ready
    qtbot.waitUntil(lambda: "text" in seen, timeout=20000)
    text = seen["text"]
    for needle in ("digitpad 0.1.0", torch.__version__, qVersion(), PySide6.__version__,
                   "Drawing runs on", "MNIST data folder", "Log file", "MIT", "How this works"):
        assert needle in text, needle
    assert "digitpad:how-this-works" in seen["html"]
    qtbot.waitUntil(lambda: getattr(window, "_help", None) is not None and window._help.isVisible(),
                    timeout=20000)
    assert window._help.windowTitle() == "How this works"
    window._help.close()


def test_labels_nest_no_brackets_and_share_one_percent_format(window):
    t = window.training_tab
    draw = window.draw_tab
    texts = [draw.model_box.itemText(i) for i in range(draw.model_box.count())]
    texts += [window.acc_label.text(), window.model_label.text(), t.continue_note.text()]
    t.arch_combo.setCurrentIndex(t.arch_combo.findData("lenet"))  # digitnet is current
    texts.append(t.continue_note.text())
    assert "digitnet" in texts[-1]
    for text in texts:
        assert not re.search(r"\([^)]*\(", text), text  # no "(digitnet (shipped))"
        assert not re.search(r"\d%", text), text  # "99.73 %", never "99.73%"
    assert any(re.search(r"\d+\.\d\d %", x) for x in texts)
