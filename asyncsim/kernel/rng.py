"""Random numbers in compiled code: splitmix64, one state per sample.

Each sample draws from its own stream seeded by ``(seed, global sample index)``, so results do
not depend on the number of threads or on how samples are batched.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, _nrt=False, inline="always")
def next_u64(state):
    z = state[0] + np.uint64(0x9E3779B97F4A7C15)
    state[0] = z
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@nb.njit(cache=True, _nrt=False, inline="always")
def uniform(state):
    """Uniform float in [0, 1)."""
    return float(next_u64(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@nb.njit(cache=True, _nrt=False, inline="always")
def randint(state, n):
    """Uniform integer in [0, n)."""
    return min(int(uniform(state) * n), n - 1)


@nb.njit(cache=True)
def seed_state(seed, sample_index):
    """The stream of sample ``sample_index`` under ``seed`` (a one-element uint64 array)."""
    state = np.empty(1, dtype=np.uint64)
    state[0] = np.uint64(seed) * np.uint64(0xD1342543DE82EF95) + np.uint64(sample_index)
    next_u64(state)
    state[0] = next_u64(state) ^ np.uint64(sample_index)
    next_u64(state)
    return state
