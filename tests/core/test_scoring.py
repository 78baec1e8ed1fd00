"""The one scorer: probabilities batch by batch on the model's device and layout, and every
figure derived from them agreeing with torch's own."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from digitpad.core.nets.checkpoint import load_checkpoint, shipped_model_path
from digitpad.core.reading import scoring
from synthetic_digits import render_digits


@pytest.fixture(scope="module")
def data():
    x, y = render_digits(150, seed=8)
    return torch.from_numpy(x).float().div(255).unsqueeze(1), torch.from_numpy(y).long()


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_scores_agree_with_torch(data, layout):
    x, y = data
    ckpt = load_checkpoint(shipped_model_path("digitnet"))
    model = ckpt.build().to(memory_format=layout)
    s = scoring.scores(model, x, y, batch_size=64)
    plain = ckpt.build(inference=False).eval()
    with torch.no_grad():
        logits = plain(x)
    np.testing.assert_allclose(s.probs, torch.softmax(logits, 1).numpy(), atol=1e-5)
    assert s.loss == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-4, abs=1e-5)
    assert s.accuracy == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    assert s.confusion.sum() == 150 and s.n - s.correct == s.summary()["errors"]
    assert not model.training  # scoring leaves the mode as it found it


def test_batches_stop_when_asked_and_restore_training_mode(data):
    x, _ = data
    model = load_checkpoint(shipped_model_path("lenet")).build(inference=False)
    assert model.training
    seen = []
    for start, probs in scoring.score_batches(model, x, 50, should_stop=lambda: len(seen) >= 2):
        seen.append((start, probs.shape))
    assert seen == [(0, (50, 10)), (50, (50, 10))]
    assert model.training
