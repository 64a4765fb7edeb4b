"""Aggregated input currents of a whole batch, summed before the event loop starts.

With aggregated input every active feature delivers ``count x weight`` to its targets at the
start of a pass. When every input feature targets the same contiguous run of neurons (one
dense input projection, the usual first layer) and nothing delays them, the pass's input is one
vector per (sample, pass): its *drive*. :func:`input_drive` sums it for a block of samples
feature by feature, so that each weight row is read once per block instead of once per
(sample, pass) that uses it; within each (sample, pass) the features are still added in
increasing order, starting from zero, so every drive equals, bit for bit, the current the
per-feature loop of :func:`asyncsim.kernel.deliver.deliver_source` would have summed. The
kernel and the replay add the drive instead of the rows; the replay's reverse walk leaves the
input rows' gradients to :func:`add_input_gradient`, which adds them in the order the walk
would have (samples in order, passes backwards), row by row.
"""

from __future__ import annotations

from collections import namedtuple

import numba as nb
import numpy as np

from ..errors import InputError

InputDrive = namedtuple("InputDrive", (
    "enabled",     # bool: the kernel adds ``currents`` instead of the input rows
    "first",       # int: first neuron of the run every input feature targets
    "currents",    # (S, T, size) float64: the run's summed input current in each pass
    "sources",     # (S, T) int64: features delivering in the pass (count > 0)
    "sops",        # (S, T) int64: input synaptic operations (count x fanout)
    "effective",   # (S, T) int64: the same over non-zero weights only
    "feature_at",  # (F + 1,) occurrences of feature f are entries feature_at[f]:feature_at[f+1]
    "sample",      # ... of these: sample (ascending), ...
    "step",        # ... pass (descending within a sample, the reverse walk's order) ...
    "count",       # ... and spike count
))

#: samples whose drives are summed together (each weight row read once per block)
BLOCK = 32


def no_drive() -> InputDrive:
    """The kernel integrates input rows itself (queued input, input dropout, delays,
    convolutions or several input runs)."""
    i1, i2 = np.zeros(0, np.int64), np.zeros((0, 0), np.int64)
    return InputDrive(False, 0, np.zeros((0, 0, 0)), i2, i2, i2, np.zeros(1, np.int64),
                      i1, i1, i1)


def input_run(compiled) -> tuple[int, int] | None:
    """``(first, size)`` of the run of neurons every input feature targets, or None if the
    inputs do not all reach one contiguous run at once (sparse or convolutional input
    projections, several target layers, delays anywhere)."""
    c = compiled
    n, n_in = c.n_neurons, c.fanout_start.shape[0] - 1 - c.n_neurons
    if n_in == 0 or c.max_delay > 0:
        return None
    first = c.target_first[n:]
    size = np.diff(c.fanout_start[n:])
    if first[0] < 0 or size[0] == 0 or np.any(first != first[0]) or np.any(size != size[0]):
        return None
    if c.conv.shape[0] and np.any(np.diff(c.conv_start[n:]) > 0):
        return None
    return int(first[0]), int(size[0])


def check_drive(drive: InputDrive, shape: tuple[int, ...], run: tuple[int, int]) -> None:
    """Refuse a ``drive`` given for inputs of ``shape`` (S, T, ...) into ``run`` that is not
    one of such inputs into that run."""
    if not (drive.enabled and drive.currents.shape == (shape[0], shape[1], run[1])
            and drive.first == run[0]):
        raise InputError(f"field 'input_drive': expected the summed input currents of "
                         f"{shape[0]} samples x {shape[1]} timesteps into neurons "
                         f"{run[0]}..{run[0] + run[1] - 1} (Simulator.input_drive of the same "
                         f"inputs), got another")


def batch_drive(compiled, frames: np.ndarray, run: tuple[int, int]) -> InputDrive:
    """The drive of every (sample, pass) of ``frames`` (S, T, F uint8) into ``run``."""
    first, size = run
    c = compiled
    n = c.n_neurons
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    S, T = frames.shape[0], frames.shape[1]
    counts = np.zeros((3, S, T), np.int64)  # sources, SOPs, effective SOPs
    occurrences = input_occurrences(frames, c.fanout[n:], c.nonzero_fanout[n:], counts)
    drive = InputDrive(True, first, np.zeros((S, T, size)), *counts, *occurrences)
    input_drive(drive, drive.currents.reshape(S * T, size), c.weights, c.fanout_start[n:])
    return drive


@nb.njit(cache=True)
def input_occurrences(frames, fanout, nonzero_fanout, counts):
    """Every (sample, pass, feature) with spikes, feature-major, then sample ascending, then
    pass descending: ``(feature_at, sample, step, count)`` as in :data:`InputDrive`.
    ``frames``: (S, T, F) uint8, C-contiguous. Adds to ``counts`` (3, S, T) each pass's
    delivering features, input SOPs (count x ``fanout``) and effective input SOPs (count x
    ``nonzero_fanout``), as the per-feature loop counts them."""
    S, T, F = frames.shape
    rows = frames.reshape(S * T, F)
    total = 0
    for r in range(S * T):
        for f in range(F):
            total += rows[r, f] != 0
    # each row's active features, branch-free (a branch per feature mispredicts at every
    # active one); the slot after the last active feature is written over, hence one more
    row_at = np.empty(S * T + 1, np.int64)
    active = np.empty(total + 1, np.int64)
    n = np.uint64(0)  # unsigned: no negative-index fix-up per feature
    for r in range(S * T):
        row_at[r] = n
        for f in range(F):
            active[n] = f
            n += np.uint64(rows[r, f] != 0)
    row_at[S * T] = n
    feature_at = np.zeros(F + 1, np.int64)
    for k in range(total):
        feature_at[active[k] + 1] += 1
    for f in range(F):
        feature_at[f + 1] += feature_at[f]
    fill = feature_at[:F].copy()
    sample = np.empty(total, np.int64)
    step = np.empty(total, np.int64)
    count = np.empty(total, np.int64)
    for s in range(S):
        for t in range(T - 1, -1, -1):
            r = s * T + t
            sops, effective = 0, 0
            for k in range(row_at[r], row_at[r + 1]):
                f = active[k]
                c = np.int64(rows[r, f])
                at = fill[f]
                fill[f] = at + 1
                sample[at] = s
                step[at] = t
                count[at] = c
                sops += c * fanout[f]
                effective += c * nonzero_fanout[f]
            counts[0, s, t] += row_at[r + 1] - row_at[r]
            counts[1, s, t] += sops
            counts[2, s, t] += effective
    return feature_at, sample, step, count


@nb.njit(cache=True, parallel=True)
def input_drive(drive, currents, weights, row_start):
    """Sum every (sample, pass)'s input current into ``currents`` (``drive.currents`` as
    (S x T, size), zeros on entry), feature by feature in increasing order, blocks of
    :data:`BLOCK` samples in parallel."""
    n_samples = drive.sources.shape[0]
    for b in nb.prange((n_samples + BLOCK - 1) // BLOCK):
        _drive_block(b * BLOCK, min(n_samples, (b + 1) * BLOCK), drive, currents, weights,
                     row_start)


@nb.njit(cache=True, _nrt=False)
def _drive_block(lo, hi, drive, currents, weights, row_start):
    """Samples ``lo .. hi - 1`` of :func:`input_drive`."""
    n_steps, size = drive.sources.shape[1], currents.shape[1]
    for f in range(drive.feature_at.shape[0] - 1):
        start = np.uint64(row_start[f])
        first, end = _entries_of(drive, f, lo, hi)
        for k in range(first, end):
            row = np.uint64(drive.sample[k] * n_steps + drive.step[k])
            amplitude = float(drive.count[k])
            for i in range(np.uint64(size)):
                currents[row, i] += weights[start + i] * amplitude


@nb.njit(cache=True, _nrt=False, inline="always")
def _entries_of(drive, f, lo, hi):
    """The occurrences of feature ``f`` in samples ``lo .. hi - 1``: entries ``first .. end -
    1`` (the samples of a feature's entries ascend)."""
    start, stop = drive.feature_at[f], drive.feature_at[f + 1]
    return (_first_at_or_after(drive.sample, start, stop, lo),
            _first_at_or_after(drive.sample, start, stop, hi))


@nb.njit(cache=True, _nrt=False, inline="always")
def _first_at_or_after(sample, lo, hi, s):
    """First entry of the sorted ``sample[lo:hi]`` that is at least ``s``."""
    while lo < hi:
        mid = (lo + hi) // 2
        if sample[mid] < s:
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True, _nrt=False)
def add_input_gradient(drive, adjoint, lo, hi, row_start, dweights):
    """Add samples ``lo .. hi - 1``'s input-weight gradients to ``dweights``: for every
    occurrence (feature f, sample s, pass t, count c), ``c x adjoint[s x T + t]`` onto f's
    row, in the order the reverse walk meets them (samples in order, passes backwards).
    ``adjoint[s x T + t]`` is dloss / d(a current the run integrates at the start of pass
    t)."""
    n_steps, size = drive.sources.shape[1], adjoint.shape[1]
    for f in range(drive.feature_at.shape[0] - 1):
        start = np.uint64(row_start[f])
        first, end = _entries_of(drive, f, lo, hi)
        for k in range(first, end):
            row = np.uint64(drive.sample[k] * n_steps + drive.step[k])
            amplitude = float(drive.count[k])
            for i in range(np.uint64(size)):
                dweights[start + i] += amplitude * adjoint[row, i]
