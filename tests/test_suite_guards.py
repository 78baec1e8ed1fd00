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


def test_no_test_imports_a_conftest_by_name():
    """``import conftest`` gets whichever conftest.py pytest loaded last (tests/core has one
    too), so a test passing alone fails in the full run: shared helpers live in named modules."""
    import re
    from pathlib import Path

    here = Path(__file__).parent
    offenders = [str(f.relative_to(here)) for f in here.rglob("*.py")
                 if re.search(r"^\s*(from\s+conftest\s+import|import\s+conftest\b)",
                              f.read_text(encoding="utf-8"), re.M)]
    assert offenders == []
