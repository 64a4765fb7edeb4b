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


def write_tiny_workspace(folder, spec_name: str, n_samples: int):
    """A tiny model, a dataset of ``n_samples`` and a sweep spec over F in {1, 2}, in
    ``folder`` (for command-line tests)."""
    import yaml

    from asyncsim import random_feedforward, save_model

    net = random_feedforward([12, 10, 4], seed=3, gain=2.0, tau_m_ms=20.0, dt_ms=1.0)
    save_model(net, folder / "tiny.yaml")
    np.savez(folder / "data.npz", inputs=random_inputs(n_samples, 3, 12, rate=0.4, seed=1),
             labels=np.arange(n_samples) % 4)
    (folder / spec_name).write_text(yaml.safe_dump({
        "models": ["tiny.yaml"], "dataset": {"name": "data.npz"},
        "grid": {"forward_group": [1, 2]}}))
    return folder
