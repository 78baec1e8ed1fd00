"""An installation without the app's package says so in one line and names every command."""

from __future__ import annotations

import importlib

from digitpad import cli


def test_missing_app_names_every_command(monkeypatch, capsys):
    real = importlib.import_module

    def without_app(name, *args, **kwargs):
        if name == "digitpad.app.main":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", without_app)
    assert cli.main(["app"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing from this installation" in err[0]
    assert "not part of this build" not in err[0]
    for command in ("train", "eval", "predict", "info", "download", "export", "lesson", "teach"):
        assert command in err[0]
