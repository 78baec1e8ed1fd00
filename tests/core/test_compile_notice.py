"""torch.compile failures (issue 9): a missing toolchain says "unavailable", any other failure
says it failed (not "unavailable"), both as a Notice the CLI and the app show, and the run
goes on uncompiled; an out-of-memory error is not mistaken for either."""

import pytest
import torch

from digitpad import cli
from digitpad.core.learning import config as recipes, training
from digitpad.core.data.mnist import load_mnist
from digitpad.core.learning.session import TrainingSession
from digitpad.core.learning.config import recipe_config
from digitpad.core.learning.events import Failed, Finished, Notice


def failing_compile(exc):
    def compile(model, *a, **k):
        def call(x):
            raise exc
        return call
    return compile


@pytest.mark.parametrize("exc, words", [
    (RuntimeError("InductorError: LoweringException: shape mismatch in aten.mm"), "failed on this model"),
    (RuntimeError("Compiler: cc is not found."), "unavailable here"),
    (ImportError("No module named 'triton'"), "unavailable here"),
])
def test_compile_failure_is_a_notice_and_training_goes_on(tiny_mnist, monkeypatch, exc, words):
    monkeypatch.setattr(torch, "compile", failing_compile(exc))
    s = TrainingSession(recipe_config("fast", "lenet", epochs=1, device="cpu", compile=True),
                        data=load_mnist(tiny_mnist))
    with pytest.warns(RuntimeWarning):
        events = list(s.events())
    notes = [e.message for e in events if isinstance(e, Notice)]
    assert len(notes) == 1 and words in notes[0]
    assert isinstance(events[-1], Finished)
    assert s.result_checkpoint().meta["notes"] == notes


def test_out_of_memory_while_compiled_fails_the_run(tiny_mnist, monkeypatch):
    def oom(*a, **k):
        torch.empty(2 ** 62, dtype=torch.uint8)

    monkeypatch.setattr(torch, "compile", lambda model, *a, **k: oom)
    events = list(training.run(recipe_config("fast", "lenet", epochs=1, device="cpu", compile=True),
                               load_mnist(tiny_mnist)))
    assert isinstance(events[-1], Failed) and "Not enough memory" in events[-1].message
    assert not any(isinstance(e, Notice) for e in events)


def test_the_cli_prints_the_notice(tiny_mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch, "compile", failing_compile(RuntimeError("guard failure")))
    monkeypatch.setattr(recipes, "_FAST", {**recipes._FAST,
                                            "lenet": {**recipes._FAST["lenet"], "compile": True}})
    with pytest.warns(RuntimeWarning):
        rc = cli.main(["train", "--model", "lenet", "--epochs", "1", "--device", "cpu",
                       "--data", str(tiny_mnist), "--out", str(tmp_path / "m.safetensors")])
    assert rc == 0
    assert "digitpad: note: torch.compile failed on this model" in capsys.readouterr().err
