"""Generated benchmark tasks from the literature (no download): Yin-Yang, sequence detection
and random manifolds (Randman), each seeded, framed into timesteps of ``dt_ms``.

Definitions: L. Kriener, J. Goeltz, M. A. Petrovici, The Yin-Yang dataset, NICE 2022
(Yin-Yang); the sequence-detection task of the delay-learning EventProp work (two inputs
10 ms apart, in either order); F. Zenke and T. P. Vogels, The remarkable robustness of surrogate
gradient learning for instilling complex function in spiking neural networks, Neural
Computation 33(4), 2021 (Randman).
"""

from __future__ import annotations

import math

import numpy as np

from .frames import TASK_SEED, FrameDataset, _check_range

R_BIG, R_SMALL = 0.5, 0.1


def yin_yang_class(x: float, y: float) -> int:
    """Class of a point of the Yin-Yang disc: 0 yang, 1 yin, 2 dots."""
    d_right = math.hypot(x - 0.75, y - 0.5)
    d_left = math.hypot(x - 0.25, y - 0.5)
    if d_right < R_SMALL or d_left < R_SMALL:
        return 2
    yin = (d_right <= R_SMALL or R_SMALL < d_left <= 0.5 * R_BIG
           or (y > R_BIG and d_right > 0.5 * R_BIG))
    return int(yin)


def yin_yang(n_samples: int = 1000, seed: int = 0, dt_ms: float = 1.0,
             t_max_ms: float = 30.0) -> FrameDataset:
    """The Yin-Yang task as spike times: 5 inputs (x, y, 1 - x, 1 - y and a bias), each firing
    once at ``0.02 + value x 29.96`` ms (the bias at 0), binned into ``ceil(t_max_ms / dt_ms)``
    timesteps. Classes are balanced in expectation (goal class first, then rejection)."""
    _check_range("n_samples", n_samples, 0)
    _check_range("dt_ms", dt_ms, 1e-6)
    rng = np.random.default_rng(seed)
    n_steps = math.ceil(t_max_ms / dt_ms)
    inputs = np.zeros((n_samples, n_steps, 5), dtype=np.uint8)
    labels = rng.integers(0, 3, n_samples)
    for s in range(n_samples):
        while True:
            x, y = rng.random(2)
            if math.hypot(x - 0.5, y - 0.5) <= R_BIG and yin_yang_class(x, y) == labels[s]:
                break
        times = [0.02 + v * 29.96 for v in (x, y, 1 - x, 1 - y)] + [0.0]
        for f, t in enumerate(times):
            inputs[s, min(n_steps - 1, int(t // dt_ms)), f] += 1
    return FrameDataset(inputs, labels.astype(np.int64), 3, "yin-yang", dt_ms)


def sequence_detection(n_samples: int = 256, seed: int = 0, dt_ms: float = 1.0,
                       gap_ms: float = 10.0) -> FrameDataset:
    """Two inputs, two classes: class 0 fires input 0 at 0 ms and input 1 at ``gap_ms``, class
    1 the reverse. Solving it needs memory or delays (summed counts are identical)."""
    _check_range("n_samples", n_samples, 0)
    _check_range("dt_ms", dt_ms, 1e-6)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n_samples).astype(np.int64)
    late = int(round(gap_ms / dt_ms))
    inputs = np.zeros((n_samples, late + 1, 2), dtype=np.uint8)
    for s, label in enumerate(labels):
        inputs[s, 0, label] = 1
        inputs[s, late, 1 - label] = 1
    return FrameDataset(inputs, labels, 2, "sequence", dt_ms)


def randman(n_samples: int = 512, seed: int = 0, n_classes: int = 4, n_units: int = 100,
            n_timesteps: int = 50, manifold_dim: int = 1, smoothness: float = 2.0,
            n_harmonics: int = 4, dt_ms: float = 1.0) -> FrameDataset:
    """Random manifolds: each class is a random smooth map from a ``manifold_dim``-dimensional
    latent cube to one spike time per unit; a sample draws a latent point and fires every unit
    once at its mapped time.

    Each unit's map is a sum of ``n_harmonics`` sinusoids of random frequency vectors and
    phases with amplitudes falling as ``k^-smoothness``, scaled into ``[0, n_timesteps)``. The
    manifolds depend on the task parameters only (drawn from :data:`TASK_SEED`); ``seed`` draws
    the samples.
    """
    for name, value, low in (("n_samples", n_samples, 0), ("n_classes", n_classes, 1),
                             ("n_units", n_units, 1), ("n_timesteps", n_timesteps, 1),
                             ("manifold_dim", manifold_dim, 1), ("n_harmonics", n_harmonics, 1)):
        _check_range(name, value, low)
    task = np.random.default_rng([TASK_SEED, n_classes, n_units, manifold_dim, n_harmonics])
    freq = task.normal(size=(n_classes, n_units, n_harmonics, manifold_dim))
    phase = task.random((n_classes, n_units, n_harmonics))
    amplitude = np.arange(1, n_harmonics + 1) ** -float(smoothness)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_samples).astype(np.int64)
    latent = rng.random((n_samples, manifold_dim))
    inputs = np.zeros((n_samples, n_timesteps, n_units), dtype=np.uint8)
    for s in range(n_samples):
        c = labels[s]
        value = (amplitude * np.sin(2 * np.pi * (freq[c] @ latent[s] + phase[c]))).sum(-1)
        unit_time = (value / amplitude.sum() + 1) / 2  # in [0, 1]
        steps = np.minimum((unit_time * n_timesteps).astype(np.int64), n_timesteps - 1)
        inputs[s, steps, np.arange(n_units)] = 1
    return FrameDataset(inputs, labels, n_classes, "randman", dt_ms)
