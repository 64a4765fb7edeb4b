"""The speed yardstick of issue "Speed and scale": a plain NumPy layer-synchronized pass of a
feed-forward LIF network over a whole batch, with no asynchrony at all.

At every timestep each layer, in order, decays its membranes, adds the matrix product of the
previous layer's spikes (or the input counts) with its weights, fires where ``u > U_thr`` and
resets those neurons to zero: exactly the kernel's rules under layer synchronization (hard
reset, refractory, one spike per neuron and pass), computed as dense products through BLAS.
"""

from __future__ import annotations

import numpy as np


def layered_pass(weights: list[np.ndarray], inputs: np.ndarray, threshold: float,
                 decay: float, dtype: type = np.float32) -> np.ndarray:
    """(S, outputs) output spike counts of the batch ``inputs`` (S, T, features).

    ``weights``: one (targets, sources) matrix per layer; ``decay``: membrane factor per
    timestep; ``dtype``: float32 (as a framework runs it) or float64 (as the kernel computes)."""
    n_samples, n_steps, _ = inputs.shape
    transposed = [np.ascontiguousarray(w.T, dtype=dtype) for w in weights]
    membranes = [np.zeros((n_samples, w.shape[1]), dtype=dtype) for w in transposed]
    counts = np.zeros((n_samples, transposed[-1].shape[1]), dtype=np.int64)
    drive = np.empty((n_samples, inputs.shape[2]), dtype=dtype)
    for t in range(n_steps):
        np.copyto(drive, inputs[:, t])
        x = drive
        for w, u in zip(transposed, membranes, strict=True):
            u *= dtype(decay)
            u += x @ w
            fired = u > threshold
            u[fired] = 0.0
            x = fired.astype(dtype)
        counts += fired
    return counts
