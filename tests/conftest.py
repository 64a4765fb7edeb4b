import numpy as np
import pytest

from asyncsim import random_feedforward


def random_inputs(n_samples, n_timesteps, n_features, rate=0.3, seed=0, max_count=1):
    rng = np.random.default_rng(seed)
    active = rng.random((n_samples, n_timesteps, n_features)) < rate
    counts = rng.integers(1, max_count + 1, size=active.shape)
    return (active * counts).astype(np.uint8)


@pytest.fixture
def small_net():
    return random_feedforward([12, 10, 8, 4], seed=3, gain=2.0, tau_m_ms=20.0, dt_ms=1.0)
