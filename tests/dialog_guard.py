"""No test may open a modal dialog it did not declare: one such dialog once hung the suite.

Every blocking way the app can ask the user something (QDialog.exec, which QMessageBox and the
app's own dialogs inherit; the QMessageBox, QFileDialog, QInputDialog, QColorDialog and
QFontDialog statics) is replaced for every test by a stand-in that never shows a window and
returns at once: the answer the test queued, or else what a user's Cancel gives. For a dialog
the app builds and execs itself, the queued answer may be a function: it gets the dialog and
plays the user on it (clicks a button, reads its text), then exec returns the dialog's result.
A dialog the test did not declare (``dialogs.allow(kind, ...)``) fails the test at teardown
with its title and text. A test that patches a dialog itself (monkeypatch) has declared it, too.

Imported by tests/conftest.py (a uniquely named module, like synthetic_digits, so that a test
can load it into a pytest run of its own).
"""

from __future__ import annotations

import pytest

MESSAGE_KINDS = ("warning", "critical", "information", "question", "about")
FILE_KINDS = ("getOpenFileName", "getOpenFileNames", "getSaveFileName", "getExistingDirectory",
              "getOpenFileUrl", "getOpenFileUrls", "getSaveFileUrl", "getExistingDirectoryUrl")
INPUT_KINDS = ("getText", "getMultiLineText", "getInt", "getDouble", "getItem")


class Dialogs(list):
    """(kind, title, text) of every dialog the test opened, in order.

    ``allow(*kinds)`` declares the kinds the test expects ("question", "getSaveFileName",
    "exec", ...); ``answers`` queues what the declared ones return, first in first out.
    """

    def __init__(self) -> None:
        super().__init__()
        self.allowed: set[str] = set()
        self.answers: list = []
        self.unexpected: list[tuple[str, str, str]] = []

    def allow(self, *kinds: str) -> "Dialogs":
        self.allowed.update(kinds)
        return self

    def opened(self, kind: str, title: str, text: str, declared_default, cancel):
        self.append((kind, title, text))
        if kind not in self.allowed:
            self.unexpected.append((kind, title, text))
            return cancel
        return self.answers.pop(0) if self.answers else declared_default


def _words(value) -> str:
    return value if isinstance(value, str) else ""


def install(monkeypatch) -> Dialogs:
    """Replace every blocking dialog entry point for the rest of the test."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QColor, QFont
    from PySide6.QtWidgets import (QColorDialog, QDialog, QFileDialog, QFontDialog, QInputDialog,
                                   QMessageBox)

    dialogs = Dialogs()
    ok, cancel = QMessageBox.StandardButton.Ok, QMessageBox.StandardButton.Cancel

    def message(kind):
        # QMessageBox.warning(parent, title, text, ...): the old recorded_dialogs answered Ok
        def f(parent=None, title="", text="", *args, **kwargs):
            refused = cancel if kind == "question" else ok
            return dialogs.opened(kind, _words(title), _words(text), ok, refused)
        return staticmethod(f)

    file_cancel = {"getOpenFileName": ("", ""), "getOpenFileNames": ([], ""),
                   "getSaveFileName": ("", ""), "getExistingDirectory": "",
                   "getOpenFileUrl": (QUrl(), ""), "getOpenFileUrls": ([], ""),
                   "getSaveFileUrl": (QUrl(), ""), "getExistingDirectoryUrl": QUrl()}

    def file_dialog(kind):
        def f(parent=None, caption="", *args, **kwargs):
            answer = file_cancel[kind]
            return dialogs.opened(kind, _words(caption), "", answer, answer)
        return staticmethod(f)

    input_cancel = {"getText": ("", False), "getMultiLineText": ("", False), "getInt": (0, False),
                    "getDouble": (0.0, False), "getItem": ("", False)}

    def input_dialog(kind):
        def f(parent=None, title="", label="", *args, **kwargs):
            answer = input_cancel[kind]
            return dialogs.opened(kind, _words(title), _words(label), answer, answer)
        return staticmethod(f)

    def exec_(self, *args, **kwargs):
        # QDialog.exec runs a nested event loop until the user answers: a test would hang in it
        text = self.text() if isinstance(self, QMessageBox) else type(self).__name__
        rejected = QDialog.DialogCode.Rejected.value
        answer = dialogs.opened("exec", self.windowTitle(), text, rejected, rejected)
        if callable(answer):  # the test plays the user on this very dialog, without showing it
            answer(self)
            return self.result()
        return answer

    for kind in MESSAGE_KINDS:
        monkeypatch.setattr(QMessageBox, kind, message(kind))
    monkeypatch.setattr(QMessageBox, "aboutQt", message("aboutQt"))
    for kind in FILE_KINDS:
        monkeypatch.setattr(QFileDialog, kind, file_dialog(kind))
    for kind in INPUT_KINDS:
        monkeypatch.setattr(QInputDialog, kind, input_dialog(kind))
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(
        lambda *a, **k: dialogs.opened("getColor", "", "", QColor(), QColor())))
    monkeypatch.setattr(QFontDialog, "getFont", staticmethod(
        lambda *a, **k: dialogs.opened("getFont", "", "", (False, QFont()), (False, QFont()))))
    for name in ("exec", "exec_"):
        monkeypatch.setattr(QDialog, name, exec_)
    return dialogs


@pytest.fixture(autouse=True)
def dialogs(monkeypatch):
    """Every test runs with the guard; request this fixture to declare and answer dialogs."""
    guard = install(monkeypatch)
    yield guard
    if guard.unexpected:
        shown = "; ".join(f"{kind} {title!r}: {text[:120]!r}" for kind, title, text in guard.unexpected)
        pytest.fail(f"the test opened {len(guard.unexpected)} modal dialog(s) it did not declare "
                    f"(dialogs.allow(kind)): {shown}", pytrace=False)
