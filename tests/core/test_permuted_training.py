"""The "reshuffled pixels" option: training on permuted MNIST and predicting with such a model."""

import numpy as np
import pytest
import torch

from digitpad.core.data.mnist import load_mnist
from digitpad.core.nets.permutation import permute_pixels, pixel_permutation
from digitpad.core.reading.predict import Predictor
from digitpad.core.learning.config import ConfigError, recipe_config, TrainConfig
from digitpad.core.learning.events import Finished
from digitpad.core.learning.training import permuted, run


def finish(config, data):
    events = list(run(config, data))
    assert isinstance(events[-1], Finished), events[-1]
    return events[-1]


def test_permute_is_training_on_the_shuffled_images(tiny_mnist):
    data = load_mnist(tiny_mnist)
    cfg = recipe_config("fast", "lenet", epochs=1, batch_size=50, device="cpu", permute=True,
                        val_size=20)
    assert cfg.permute and cfg.synth_share == 0 and not cfg.augment
    by_option = finish(cfg, data)
    shuffled = permuted(data)
    perm = pixel_permutation(0)
    assert torch.equal(shuffled.test_x, permute_pixels(data.test_x, perm))
    assert not torch.equal(shuffled.train_x, data.train_x)
    from dataclasses import replace

    by_hand = finish(replace(cfg, permute=False), shuffled)
    for k, v in by_option.best_state.items():
        assert torch.equal(v, by_hand.best_state[k]), k
    assert by_option.test_acc == by_hand.test_acc


def test_permute_refuses_unshuffled_extras():
    with pytest.raises(ConfigError, match="reshuffled"):
        TrainConfig(model="lenet", permute=True, synth_share=0.2).validate()
    with pytest.raises(ConfigError, match="reshuffled"):
        recipe_config("fast", "digitnet", permute=True, augment=True)


def test_predictor_shuffles_the_input_of_a_permuted_model():
    torch.manual_seed(0)
    from digitpad.core.nets.models import create_model

    state = create_model("lenet").state_dict()
    image = np.zeros((28, 28), np.float32)
    image[5:23, 12:16] = 1.0
    from digitpad.core.data.preprocess import Preprocessed

    plain = Predictor("lenet", state)
    shuffled_model = Predictor("lenet", state, meta={"config": {"permute": True}})
    shuffled_image = permute_pixels(image, pixel_permutation(0))
    a = shuffled_model.predict(Preprocessed(image, False))
    b = plain.predict(Preprocessed(shuffled_image, False))
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)
    assert not np.allclose(a.probs, plain.predict(Preprocessed(image, False)).probs)
    np.testing.assert_array_equal(a.image, image)  # what is shown stays the drawing
    batch = shuffled_model.predict_batch([Preprocessed(image, False)] * 20)
    np.testing.assert_allclose(batch[0].probs, a.probs, atol=1e-5)


def test_cli_train_permute(tiny_mnist, tmp_path, capsys):
    from digitpad import cli
    from digitpad.core.nets.checkpoint import load_checkpoint

    out = tmp_path / "perm.safetensors"
    assert cli.main(["train", "--model", "lenet", "--epochs", "1", "--batch-size", "50",
                     "--device", "cpu", "--data", str(tiny_mnist), "--out", str(out),
                     "--permute"]) == 0
    cfg = load_checkpoint(out).meta["config"]
    assert cfg["permute"] is True and cfg["synth_share"] == 0 and cfg["augment"] is False
    assert Predictor.from_file(out).predict(np.eye(28, dtype=np.uint8) * 255).digit is not None
