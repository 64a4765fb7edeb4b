"""Training with the schedule in the loop: the loss falls, and resuming changes nothing."""

import numpy as np
import pytest

from asyncsim import InputError, random_feedforward
from asyncsim.datasets import from_arrays
from asyncsim.training import TrainConfig, train


def _task(n=48, seed=0):
    # two classes: inputs 0-4 active for class 0, inputs 5-9 for class 1
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    inputs = (rng.random((n, 3, 10)) < 0.15).astype(np.uint8)
    for i, y in enumerate(labels):
        inputs[i, :, 5 * y:5 * y + 5] |= (rng.random((3, 5)) < 0.6).astype(np.uint8)
    return from_arrays(inputs, labels, 2)


@pytest.mark.parametrize("mode", ["layered", "unlayered-rs", "unlayered-ms"])
def test_training_lowers_the_loss(mode):
    net = random_feedforward([10, 12, 2], seed=1, gain=1.5, tau_m_ms=3.0, dt_ms=1.0)
    config = TrainConfig(mode=mode, forward_group=2, epochs=6, batch_size=16,
                         learning_rate=0.02, seed=3)
    trained, history = train(net, _task(), config)
    assert history[-1]["loss"] < history[0]["loss"]
    assert trained.metadata["trained"] is True
    assert trained.metadata["training"]["mode"] == mode


def test_resume_continues_where_it_stopped(tmp_path):
    net = random_feedforward([10, 12, 2], seed=1, gain=1.5, tau_m_ms=3.0, dt_ms=1.0)
    data = _task()
    config = TrainConfig(mode="unlayered-rs", forward_group=2, epochs=3, batch_size=16,
                         learning_rate=0.02, refractory_dropout=0.5, input_dropout=0.1)
    straight, h1 = train(net, data, config)
    ckpt = tmp_path / "ckpt.npz"
    train(net, data, TrainConfig(**{**config.__dict__, "epochs": 2}), checkpoint=ckpt)
    resumed, h2 = train(net, data, config, checkpoint=ckpt, resume=True)
    assert [h["epoch"] for h in h2] == [1, 2, 3]
    for a, b in zip(straight.projections, resumed.projections, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
    assert h1 == h2


def test_bad_training_settings():
    with pytest.raises(InputError, match="mode"):
        TrainConfig(mode="sideways")
    with pytest.raises(InputError, match="batch_size"):
        TrainConfig(batch_size=0)
