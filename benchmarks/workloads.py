"""The fixed benchmark workloads, generated deterministically (no file needed).

* N-MNIST-shaped fully connected case: 2312-[64x3]-10, Xavier-uniform float32 weights
  (``current = W @ spikes``, no bias), LIF with tau_m 1 ms and dt 10 ms (decay exp(-10) per
  timestep), U_thr 0.3, hard reset, refractory; inputs of 10 timesteps with exactly 150 active
  features per timestep, random labels (the workload measures speed, not accuracy). The same
  shape and statistics as the case the paper's code was measured on; figures from the two
  differ only by the random draws.
* SHD-shaped: 350-[128x3]-20 with Xavier-uniform weights (seed 0), tau_m 100 ms, dt 10 ms, and
  100 timesteps of the ``shd-like`` generator as it was until 2026-12-07 (band probability
  0.12, about 19 active inputs per timestep), kept so that figures stay comparable.

``--workload FILE.npz`` in the benchmarks reads a file of the first layout instead (keys
``W1``..``W4``, ``inputs``, ``tau_m`` and ``dt`` in microseconds, ``threshold``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from asyncsim import feedforward, random_feedforward

NMNIST_SIZES = (2312, 64, 64, 64, 10)
ACTIVE_PER_TIMESTEP = 150


def nmnist_case(n_samples: int = 256, seed: int = 0, path: Path | None = None):
    """(network, inputs, labels) of the N-MNIST-shaped case (see the module documentation)."""
    if path is not None:
        z = np.load(path)
        net = feedforward([z[f"W{i}"] for i in range(1, 5)], tau_m_ms=float(z["tau_m"]) / 1e3,
                          dt_ms=float(z["dt"]) / 1e3, threshold=float(z["threshold"]),
                          name="nmnist-fc-case")
        return net, z["inputs"][:n_samples], z["labels"][:n_samples]
    rng = np.random.default_rng(seed)
    weights = []
    for n_in, n_out in zip(NMNIST_SIZES[:-1], NMNIST_SIZES[1:], strict=True):
        bound = np.sqrt(6.0 / (n_in + n_out))
        weights.append(rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32))
    inputs = np.zeros((n_samples, 10, NMNIST_SIZES[0]), dtype=np.uint8)
    for s in range(n_samples):
        for t in range(10):
            inputs[s, t, rng.choice(NMNIST_SIZES[0], ACTIVE_PER_TIMESTEP, replace=False)] = 1
    labels = rng.integers(0, 10, n_samples)
    net = feedforward(weights, tau_m_ms=1.0, dt_ms=10.0, threshold=0.3, name="nmnist-fc-case")
    return net, inputs, labels


#: the shd-like band probability of the SHD-shaped workload (the generator's default until
#: 2026-12-07; the task's default is now denser)
SHD_WORKLOAD_BAND_PROBABILITY = 0.12


def shd_case(n_samples: int = 64):
    """(network, inputs, labels) of the SHD-shaped case."""
    from asyncsim.datasets import shd_like

    data = shd_like(n_samples=n_samples, seed=0, band_probability=SHD_WORKLOAD_BAND_PROBABILITY)
    net = random_feedforward([350, 128, 128, 128, 20], seed=0, tau_m_ms=100.0, dt_ms=10.0,
                             name="shd-shaped")
    return net, data.inputs, data.labels
