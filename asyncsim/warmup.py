"""Compiling the kernels ahead of use.

The simulation kernel and the training replay are compiled by Numba on first use, which takes
about a minute, and cached on disk (beside the package, or in ``NUMBA_CACHE_DIR``): later runs,
in any process, load them in a fraction of a second. :func:`kernels_compiled` tells whether a
valid cache is there (so the command line can say what the first run is waiting for), and
:func:`warmup` compiles everything now, e.g. right after installing or in a container build.
"""

from __future__ import annotations

import time

import numpy as np


def _entry_points(training: bool) -> list:
    from .kernel.driver import run_batch

    if not training:
        return [run_batch]
    from .kernel.drive import input_drive, input_occurrences
    from .kernel.replay import replay_batch, replay_sample

    return [run_batch, replay_sample, replay_batch, input_occurrences, input_drive]


def kernels_compiled(training: bool = True) -> bool | None:
    """True when every kernel entry point (of simulation only, with ``training=False``) has a
    cache that matches its source; False when one will be compiled on first use; None when
    this cannot be told (Numba's cache layout is not a public interface)."""
    try:
        return all(bool(d.signatures) or bool(d._cache._cache_file._load_index())
                   for d in _entry_points(training))
    except Exception:  # any change in Numba's internals: we cannot tell
        return None


def warmup() -> float:
    """Compile (or load from the cache) the simulation kernel and the training replay by
    running a tiny network once; returns the seconds it took."""
    from .datasets import from_arrays
    from .network import random_feedforward
    from .simulator import Simulator
    from .training import TrainConfig, train

    start = time.perf_counter()
    net = random_feedforward([4, 3, 2], seed=0, gain=3.0)
    inputs = (np.arange(2 * 2 * 4).reshape(2, 2, 4) % 3 == 0).astype(np.uint8)
    labels = np.array([0, 1])
    Simulator(net).run(inputs, labels)
    train(net, from_arrays(inputs, labels, 2),
          TrainConfig(mode="unlayered-rs", epochs=1, batch_size=2))
    return time.perf_counter() - start
