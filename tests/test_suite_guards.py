"""The suite's own guards are on by default: a per-test timeout and the modal-dialog guard."""

from __future__ import annotations


def test_every_test_has_a_timeout_that_reaches_qt_code(request, pytestconfig):
    assert pytestconfig.pluginmanager.hasplugin("timeout"), "pytest-timeout is not installed"
    assert float(pytestconfig.getini("timeout")) == 120
    # a signal would never reach a test stuck in Qt's C++ event loop
    assert pytestconfig.getini("timeout_method") == "thread"


def test_the_dialog_guard_runs_without_being_asked(request):
    assert "dialogs" in request.fixturenames
    assert request.getfixturevalue("dialogs").unexpected == []
