"""The modal-dialog guard: an undeclared dialog returns at once and fails its test loudly."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

TESTS = Path(__file__).resolve().parents[1]


def test_an_undeclared_dialog_returns_at_once_and_is_recorded(dialogs, qtbot):
    box = QMessageBox(QMessageBox.Icon.Warning, "Really?", "Lose everything?")
    qtbot.addWidget(box)
    assert box.exec() == QDialog.DialogCode.Rejected.value and not box.isVisible()
    assert QMessageBox.question(None, "Save?", "Save the model?") == QMessageBox.StandardButton.Cancel
    assert QFileDialog.getSaveFileName(None, "Save as", "/tmp") == ("", "")
    assert dialogs.unexpected == [("exec", "Really?", "Lose everything?"),
                                  ("question", "Save?", "Save the model?"),
                                  ("getSaveFileName", "Save as", "")]
    dialogs.unexpected.clear()  # this test opened them on purpose: it must not fail itself


def test_a_declared_dialog_gets_the_queued_answer(dialogs):
    dialogs.allow("question", "getOpenFileName")
    dialogs.answers += [QMessageBox.StandardButton.Discard, ("/tmp/m.safetensors", "Models")]
    assert QMessageBox.question(None, "Save?", "Save the model?") == QMessageBox.StandardButton.Discard
    assert QFileDialog.getOpenFileName(None, "Open") == ("/tmp/m.safetensors", "Models")
    assert QMessageBox.question(None, "Again?", "") == QMessageBox.StandardButton.Ok  # queue empty
    assert dialogs.unexpected == [] and [d[0] for d in dialogs] == ["question", "getOpenFileName",
                                                                   "question"]


def test_a_declared_dialog_can_be_played_by_the_test(dialogs, qtbot):
    """A queued function gets the app's own dialog, unshown, and clicks for the user."""
    B = QMessageBox.StandardButton
    box = QMessageBox(QMessageBox.Icon.Question, "Quit?", "Save first?", B.Save | B.Discard)
    qtbot.addWidget(box)
    dialogs.allow("exec")
    dialogs.answers.append(lambda dlg: dlg.button(B.Save).click())
    box.exec()
    assert box.standardButton(box.clickedButton()) == B.Save and not box.isVisible()
    assert dialogs == [("exec", "Quit?", "Save first?")] and dialogs.unexpected == []


def test_a_run_with_an_undeclared_dialog_fails_and_names_it(tmp_path):
    (tmp_path / "conftest.py").write_text("from dialog_guard import dialogs  # noqa: F401\n")
    (tmp_path / "test_opens.py").write_text(textwrap.dedent("""
        from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox

        app = QApplication.instance() or QApplication([])

        def test_undeclared_box():
            QMessageBox.warning(None, "Cannot save model", "disk full")

        def test_undeclared_exec():
            dlg = QDialog()
            dlg.setWindowTitle("Preferences")
            assert dlg.exec() == 0

        def test_declared(dialogs):
            dialogs.allow("getOpenFileName")
            assert QFileDialog.getOpenFileName(None, "Open") == ("", "")
    """))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=os.pathsep.join([str(TESTS.parent), str(TESTS)]))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:timeout", str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "3 passed, 2 errors" in out, out
    assert "warning 'Cannot save model': 'disk full'" in out
    assert "exec 'Preferences': 'QDialog'" in out
