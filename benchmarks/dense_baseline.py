"""Dense vectorized NumPy implementation of Algorithm 1: the speed baseline.

It works the way the paper's own PyTorch code does: the whole batch advances together while any
sample has work; pending spikes are a dense (batch, N) count buffer; every forward step updates
full-length vectors, sorts all N neurons' keys per sample to select F spikes, and recomputes
every layer's dense matrix product. It is honest NumPy (no Python loop over neurons or synapses),
and its results follow the same rules as asyncsim's kernel (hard reset, refractory neurons,
aggregated input, drain stop, output spikes not queued), which the tests check for F >= N.
"""

from __future__ import annotations

import numpy as np


def dense_run(
    weights: list[np.ndarray],
    inputs: np.ndarray,
    threshold: float,
    decay: float,
    forward_group: int,
    policy: str = "random",
    momentum_noise: float = 1e-6,
    seed: int = 0,
    batch_size: int | None = None,
) -> dict[str, np.ndarray]:
    """Simulate ``inputs`` (samples, timesteps, N_in) on a dense feedforward chain.

    Args:
        weights: ``[W1 (N1, N_in), ..., WL (NL, N_{L-1})]``, ``current = W @ spikes``.
        threshold: firing threshold (fire when ``u > threshold``).
        decay: membrane factor between timesteps, ``exp(-dt / tau_m)``.
        forward_group: F, spikes selected per forward step.
        policy: ``"random"`` or ``"momentum"``.
        batch_size: samples that advance together (None: all). 1 is Algorithm 1 literally
            (vectors of length N per sample); larger batches amortize NumPy's per-call cost
            over samples, as the paper's code does, but every sample then runs as many forward
            steps as the slowest one in its batch.

    Returns:
        ``output_counts`` (S, N_L), ``sops`` (S,), ``steps`` (S,), ``spikes_per_layer`` (S, L).
    """
    if batch_size is not None and batch_size < len(inputs):
        parts = [dense_run(weights, inputs[i:i + batch_size], threshold, decay, forward_group,
                           policy, momentum_noise, seed + i)
                 for i in range(0, len(inputs), batch_size)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    rng = np.random.default_rng(seed)
    sizes = [w.shape[0] for w in weights]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    n, n_out = int(bounds[-1]), sizes[-1]
    hidden = slice(0, int(bounds[-2]))
    out = slice(int(bounds[-2]), n)
    fanout = np.zeros(n)
    for layer in range(len(sizes) - 1):
        fanout[bounds[layer]:bounds[layer + 1]] = sizes[layer + 1]

    S, T, _ = inputs.shape
    u = np.zeros((S, n))
    counts = np.zeros((S, n), dtype=np.int64)
    sops = np.zeros(S)
    steps = np.zeros(S, dtype=np.int64)
    rows = np.arange(S)[:, None]
    for t in range(T):
        u *= decay
        refractory = np.zeros((S, n), dtype=bool)
        pending = np.zeros((S, n))
        momentum = np.zeros((S, n))
        x = np.zeros((S, n))
        x[:, : sizes[0]] = inputs[:, t, :].astype(np.float64) @ weights[0].T
        received = x != 0
        while True:
            active = received.any(axis=1) | (pending > 0).any(axis=1)
            if not active.any():
                break
            steps += active
            # integrate and evaluate (refractory neurons stay at 0)
            u = np.where(refractory, 0.0, u + x)
            spikes = (u > threshold) & received & ~refractory
            momentum = np.where(spikes, u, momentum)
            u[spikes] = 0.0
            refractory |= spikes
            counts += spikes
            pending[:, hidden] += spikes[:, hidden]
            # select F pending spikes: one full sort of all N keys per sample
            if policy == "random":
                keys = rng.random((S, n))
            else:
                keys = -(momentum + momentum_noise * rng.random((S, n)))
            keys[pending <= 0] = np.inf
            order = np.argsort(keys, axis=1)[:, :forward_group]
            selected = np.zeros((S, n))
            chosen = np.take_along_axis(pending, order, axis=1) > 0
            selected[rows, order] = chosen
            pending -= selected
            sops += selected @ fanout
            # every layer's dense product, every step
            x = np.zeros((S, n))
            for layer in range(1, len(sizes)):
                src = selected[:, bounds[layer - 1]:bounds[layer]]
                x[:, bounds[layer]:bounds[layer + 1]] = src @ weights[layer].T
            received = x != 0
    spikes_per_layer = np.stack([counts[:, bounds[i]:bounds[i + 1]].sum(axis=1)
                                 for i in range(len(sizes))], axis=1)
    return {"output_counts": counts[:, out][:, :n_out], "sops": sops.astype(np.int64),
            "steps": steps, "spikes_per_layer": spikes_per_layer}
