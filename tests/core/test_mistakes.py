"""The mistakes explorer's numbers: confusion sums, sorted cells, the cache."""

import os

import numpy as np
import pytest
import torch

from digitpad.core.insight import mistakes as mk
from digitpad.core.nets.checkpoint import load_checkpoint, shipped_model_path
from digitpad.core.nets.models import create_model
from synthetic_digits import render_digits


@pytest.fixture(scope="module")
def data():
    x, y = render_digits(200, seed=21)
    return torch.from_numpy(x).float().div(255).unsqueeze(1), torch.from_numpy(y).long()


@pytest.fixture(scope="module")
def lenet():
    return load_checkpoint(shipped_model_path("lenet"))


def test_events_then_result(data, lenet):
    x, y = data
    events = list(mk.iter_mistakes(lenet.build(), x, y, batch_size=64))
    progress = [e for e in events if isinstance(e, mk.Progress)]
    assert [p.done for p in progress] == [0, 64, 128, 192, 200] and progress[-1].total == 200
    ready = events[-1]
    assert isinstance(ready, mk.MistakesReady) and not ready.cached and ready.cache_file is None
    assert ready.mistakes.probs.shape == (200, 10)


def test_confusion_sums_and_agreement_with_the_plain_model(data, lenet):
    x, y = data
    m = mk.compute(lenet.build(), x, y).mistakes
    conf = m.confusion
    assert conf.sum() == 200
    assert conf.sum(1).tolist() == np.bincount(y.numpy(), minlength=10).tolist()
    assert conf.sum(0).tolist() == np.bincount(m.preds, minlength=10).tolist()
    assert np.trace(conf) / 200 == pytest.approx(m.accuracy)
    # an independent reference: the plain module (batch norm not folded), torch's own counting
    plain = create_model("lenet")
    plain.load_state_dict(lenet.state)
    with torch.no_grad():
        pred = plain.eval().forward_features(x)[0].argmax(1)
    ref = torch.bincount(y * 10 + pred, minlength=100).reshape(10, 10)
    assert conf.tolist() == ref.tolist()
    assert m.accuracy == pytest.approx(float((pred == y).float().mean()))
    np.testing.assert_allclose(m.per_class, (ref.diag() / ref.sum(1)).numpy())
    assert 0 < m.accuracy < 1  # the synthetic glyphs give both rights and wrongs to look at


def test_cells_partition_the_set_and_are_sorted_by_confidence(data, lenet):
    x, y = data
    m = mk.compute(lenet.build(), x, y).mistakes
    seen = []
    for t in range(10):
        for p in range(10):
            idx = m.cell(t, p)
            assert len(idx) == m.confusion[t, p]
            assert (m.labels[idx] == t).all() and (m.preds[idx] == p).all()
            conf = m.probs[idx, p]
            assert (np.diff(conf) <= 0).all()
            seen += idx.tolist()
    assert sorted(seen) == list(range(200))
    worst = m.worst(5)
    assert (m.labels[worst] != m.preds[worst]).all()
    assert (np.diff(m.confidence[worst]) <= 0).all()
    wrong = m.labels != m.preds
    assert m.confidence[worst[0]] == m.confidence[wrong].max()


def test_cache_is_keyed_by_model_content(data, lenet, tmp_path):
    x, y = data
    key = mk.file_key(shipped_model_path("lenet"))
    first = mk.compute(lenet.build(), x, y, key)
    assert not first.cached and first.cache_file.is_file()
    assert first.cache_file.is_relative_to(mk.cache_dir())
    again = mk.compute(lenet.build(), x, y, key)
    assert again.cached and again.cache_file == first.cache_file
    np.testing.assert_array_equal(again.mistakes.probs, first.mistakes.probs)
    np.testing.assert_array_equal(again.mistakes.labels, first.mistakes.labels)
    # other data, other file; other weights, other key
    other = mk.compute(lenet.build(), x[:100], y[:100], key)
    assert not other.cached and other.cache_file != first.cache_file
    state = {k: v.clone() for k, v in lenet.state.items()}
    k1 = mk.state_key("lenet", state)
    assert k1 == mk.state_key("lenet", lenet.state)
    state["fc3.bias"][0] += 1
    assert mk.state_key("lenet", state) != k1


def test_a_failed_cache_write_leaves_nothing_and_still_answers(data, lenet, monkeypatch):
    x, y = data
    key = mk.file_key(shipped_model_path("lenet"))
    folder = mk.cache_dir()

    def full_disk(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)  # the disk fills up at the last step
    ready = mk.compute(lenet.build(), x, y, key)
    assert ready.cache_file is None and ready.mistakes.probs.shape == (200, 10)
    assert not folder.exists() or list(folder.iterdir()) == []  # no temp file left behind


def test_file_key_follows_the_bytes(tmp_path):
    a = tmp_path / "a.safetensors"
    a.write_bytes(b"one")
    k = mk.file_key(a)
    a.write_bytes(b"two")
    assert mk.file_key(a) != k


def test_damaged_cache_is_recomputed(data, lenet):
    x, y = data
    path = mk.cache_path("abc", x, y)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an npz")
    res = mk.compute(lenet.build(), x, y, "abc")
    assert not res.cached and mk.compute(lenet.build(), x, y, "abc").cached


def test_stop_ends_without_a_result(data, lenet):
    x, y = data
    calls = []
    events = list(mk.iter_mistakes(lenet.build(), x, y, batch_size=50,
                                   should_stop=lambda: calls.append(1) or len(calls) > 1))
    assert not any(isinstance(e, mk.MistakesReady) for e in events)
    assert events[-1] == mk.Progress(50, 200)
