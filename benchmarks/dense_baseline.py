"""Dense vectorized NumPy implementation of Algorithm 1 (network asynchrony forward pass).

This is the speed *baseline* that asyncsim's compiled event kernel is compared against. It is
written the way the paper's own PyTorch code is: the state of every neuron of every layer lives in
one dense vector of length N (all layers concatenated), and every forward step

1. integrates the full current vector into the full membrane vector and evaluates every neuron,
2. draws a key for every neuron and fully sorts all N keys (``argsort``) to pick up to F pending
   spikes, and
3. recomputes the currents of every layer with a dense matrix product of the selected spikes.

It is honest NumPy: no Python loop over neurons or synapses, in-place updates into preallocated
buffers, float64 throughout. Only the samples of a batch (``batch_size``) share the vectors; with
``batch_size=1`` it is Algorithm 1 for one sample, with a larger batch all samples advance
together while any of them has work, as the paper's code runs a batch.

Rules (the same as asyncsim's kernel, so that results compare):

* LIF neurons, membrane ``u`` (dimensionless, in threshold units of the weights), decay
  ``u *= decay`` once at the start of each timestep only (``decay = exp(-dt / tau_m)``);
* a neuron fires when ``u > thr`` (strict) after receiving current in this forward step; hard
  reset to 0; refractory: it cannot fire again within the same timestep and its membrane stays 0
  until the timestep ends;
* aggregated input: all of a timestep's input currents arrive at the first forward step;
* output-layer spikes are counted and not queued; hidden spikes are queued as pending;
* drain stop: a timestep ends when nothing is pending and no current is in flight.
"""

from __future__ import annotations

import numpy as np

POLICIES = ("random", "momentum")


def dense_run(
    Ws: list[np.ndarray],
    inputs: np.ndarray,
    thr: float,
    decay: float,
    forward_group: int,
    policy: str = "random",
    momentum_noise: float = 1e-6,
    seed: int = 0,
    batch_size: int | None = 1,
) -> dict[str, np.ndarray]:
    """Run Algorithm 1 densely on a feedforward chain of dense layers.

    Args:
        Ws: weights ``[W1 (N1, N_in), W2 (N2, N1), ..., WL (NL, N_{L-1})]``, dimensionless
            (threshold units), ``current = W @ spikes``.
        inputs: input spike counts, shape (samples, timesteps, N_in), any numeric dtype.
        thr: firing threshold, same units as the weights (fire when ``u > thr``).
        decay: membrane factor applied once per timestep, ``exp(-dt / tau_m)``, in [0, 1].
        forward_group: F, the most pending spikes delivered per forward step (>= 1).
        policy: ``"random"`` (a fresh uniform key per neuron every step) or ``"momentum"``
            (highest membrane value at spike first, plus ``momentum_noise * U(0, 1)``).
        momentum_noise: scale of the uniform tie-breaking noise of the momentum policy
            (threshold units).
        seed: seed of the NumPy generator (batch ``k`` uses ``seed + k``).
        batch_size: samples whose vectors advance together; 1 (default) is Algorithm 1 for one
            sample at a time, ``None`` means all samples in one batch. Per-sample results do not
            depend on it, except through the random draws of the ``"random"`` policy.

    Returns:
        A dict of NumPy arrays:

        * ``output_counts`` (S, NL) int64: output spikes summed over timesteps;
        * ``sops`` (S,) int64: delivered synaptic operations of network spikes, the sum over
          selected spikes of their fan-out (size of the next layer); input currents excluded;
        * ``steps`` (S,) int64: forward steps summed over timesteps;
        * ``spikes_per_layer`` (S, L) int64: spikes of each layer summed over timesteps.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if forward_group < 1:
        raise ValueError(f"forward_group must be >= 1, got {forward_group}")
    if inputs.ndim != 3 or inputs.shape[2] != Ws[0].shape[1]:
        raise ValueError(f"inputs must be (samples, timesteps, {Ws[0].shape[1]}), "
                         f"got {inputs.shape}")
    for k in range(1, len(Ws)):
        if Ws[k].shape[1] != Ws[k - 1].shape[0]:
            raise ValueError(f"W{k + 1} has {Ws[k].shape[1]} inputs, layer {k} has "
                             f"{Ws[k - 1].shape[0]} neurons")
    n_samples = inputs.shape[0]
    batch = n_samples if batch_size is None else max(1, int(batch_size))
    # transposed float64 weights, contiguous, so that (B, n_in) @ WT is one BLAS call
    wts = [np.ascontiguousarray(np.asarray(w, dtype=np.float64).T) for w in Ws]
    parts = [_run_batch(wts, inputs[i:i + batch], float(thr), float(decay), int(forward_group),
                        policy, float(momentum_noise), np.random.default_rng(seed + k))
             for k, i in enumerate(range(0, n_samples, batch))]
    if not parts:
        n_layers, n_out = len(Ws), Ws[-1].shape[0]
        return {"output_counts": np.zeros((0, n_out), np.int64), "sops": np.zeros(0, np.int64),
                "steps": np.zeros(0, np.int64),
                "spikes_per_layer": np.zeros((0, n_layers), np.int64)}
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _run_batch(
    wts: list[np.ndarray],
    inputs: np.ndarray,
    thr: float,
    decay: float,
    group: int,
    policy: str,
    noise: float,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """One batch of samples advancing together; ``wts`` are the transposed weights (in, out)."""
    sizes = [w.shape[1] for w in wts]
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n = int(bounds[-1])
    n_hidden = int(bounds[-2])
    n_layers = len(sizes)
    b, n_steps_t, _ = inputs.shape
    # fan-out of each neuron (size of the next layer; output layer 0), for the SOP count
    fanout = np.zeros(n)
    for layer in range(n_layers - 1):
        fanout[bounds[layer]:bounds[layer + 1]] = sizes[layer + 1]
    is_hidden = np.zeros(n, dtype=bool)
    is_hidden[:n_hidden] = True

    u = np.zeros((b, n))                       # membranes (threshold units)
    x = np.zeros((b, n))                       # currents in flight this forward step
    pending = np.zeros((b, n))                 # pending spike counts
    selected = np.zeros((b, n))                # spikes delivered this forward step
    momentum = np.zeros((b, n))                # membrane at the last spike (momentum key)
    not_refractory = np.ones((b, n), dtype=bool)
    received = np.zeros((b, n), dtype=bool)
    spikes = np.zeros((b, n), dtype=bool)
    queued = np.zeros((b, n), dtype=bool)
    no_pending = np.zeros((b, n), dtype=bool)
    counts = np.zeros((b, n), dtype=np.int64)
    sops = np.zeros(b)
    steps = np.zeros(b, dtype=np.int64)
    row_offset = (np.arange(b) * n)[:, None]    # flat index of each sample's first neuron
    selected_flat = selected.reshape(-1)
    pending_flat = pending.reshape(-1)
    ones = np.ones(n)
    in_flight = np.empty(b, dtype=bool)

    for t in range(n_steps_t):
        u *= decay
        not_refractory.fill(True)
        pending.fill(0.0)
        x.fill(0.0)
        # aggregated input: every input current of the timestep arrives at the first step
        x[:, :sizes[0]] = inputs[:, t, :].astype(np.float64) @ wts[0]
        np.not_equal(x, 0.0, out=received)
        while True:
            np.logical_or.reduce(received, axis=1, out=in_flight)
            in_flight |= (pending @ ones) > 0.0
            if not in_flight.any():
                break  # drain stop
            steps += in_flight
            # (a) integrate and evaluate every neuron (refractory membranes stay at 0)
            u += x
            np.greater(u, thr, out=spikes)
            spikes &= received
            spikes &= not_refractory
            np.copyto(momentum, u, where=spikes)   # momentum key: membrane before the reset
            np.logical_not(spikes, out=queued)
            not_refractory &= queued
            u *= not_refractory                    # hard reset, and refractory stay at 0
            counts += spikes
            np.logical_and(spikes, is_hidden, out=queued)
            pending += queued                      # output spikes are counted, not queued
            # (b) select up to F pending spikes: a key per neuron, full sort of all N keys
            keys = rng.random((b, n))
            if policy == "momentum":
                keys *= noise
                keys += momentum
                np.negative(keys, out=keys)        # highest momentum first
            np.less_equal(pending, 0.0, out=no_pending)
            np.copyto(keys, np.inf, where=no_pending)
            order = np.argsort(keys, axis=1)[:, :group]
            flat = (order + row_offset).reshape(-1)
            selected.fill(0.0)
            selected_flat[flat] = pending_flat[flat] > 0.0
            pending -= selected
            sops += selected @ fanout
            # (c) dense recompute of every layer's currents from the selected spikes
            x[:, :sizes[0]] = 0.0
            for layer in range(1, n_layers):
                src = selected[:, bounds[layer - 1]:bounds[layer]]
                x[:, bounds[layer]:bounds[layer + 1]] = src @ wts[layer]
            np.not_equal(x, 0.0, out=received)

    spikes_per_layer = np.stack(
        [counts[:, bounds[k]:bounds[k + 1]].sum(axis=1) for k in range(n_layers)], axis=1)
    return {"output_counts": counts[:, n_hidden:].copy(), "sops": np.rint(sops).astype(np.int64),
            "steps": steps, "spikes_per_layer": spikes_per_layer}
