"""Per-sample working state of the kernel, allocated once per sample inside compiled code.

* :data:`NeuronState`: membranes and the per-pass flags and message counts of every neuron;
* :data:`Frontier`: the neurons to integrate at the next forward step, as a list of neurons plus
  a list of contiguous target ranges (a dense projection's targets), with stamps that empty
  both lists without a clearing pass;
* :data:`Queue`: pending spikes (a heap, or an unordered pool for random scheduling) and the
  scratch of selection;
* :data:`CoreWork`: work per core in the current step (only with a chip mapping);
* the cursor (:func:`new_cursor`): the scalars that pass from one step to the next, indexed by
  the names in :mod:`asyncsim.kernel.codes`.
"""

from __future__ import annotations

from collections import namedtuple

import numba as nb
import numpy as np

from .codes import EXEMPTION_AT, INPUT_AT, N_CURSOR, NEXT_BASE, SELECTION_AT, STAMP

NeuronState = namedtuple("NeuronState", (
    "u",             # membrane
    "x",             # current received since the neuron last integrated
    "in_refractory",
    "fired",         # fired in this pass
    "barrier_sent",  # sent its barrier message in this pass
    "messages",      # messages counted in this pass (sync thresholds)
    "new_messages",  # arrived, counted from the next step on
    "currents",      # currents integrated since the last spike (reactivity)
    "input_count",   # surviving spikes of each input feature in this pass
    "active_inputs",  # the features with spikes in this pass, ascending (scratch)
    "syn",           # synaptic current (current-based synapses), membrane units
    "held",          # fired with reset zero_hold: held at zero through the next pass
    "future",        # (max_delay + 1, N) currents of delayed synapses, by arrival pass
    "queued",        # spikes waiting in the neuron's queue entry (the paper code's queue)
    "prespike",      # membrane at the neuron's last spike in this pass (its momentum there)
))

Frontier = namedtuple("Frontier", (
    "marked",          # == stamp: the neuron is listed
    "updated",         # == stamp: counted as updated in this step
    "listed",          # two halves (this step's list and the next), swapped by offset
    "range_mark",      # == stamp: a range starting at this neuron is listed
    "range_slot",      # the listed range starting at this neuron
    "range_first",
    "range_size",
    "range_currents",  # currents each neuron of the range received
    "range_messages",  # messages each neuron of the range received
))

Queue = namedtuple("Queue", (
    "key", "tie", "src",                  # pending spikes (heap or pool)
    "selected",                           # this step's selection
    "cand_key", "cand_tie", "cand_src", "cand_priority",  # momentum candidates under noise
    "cand_order", "cand_buffer",          # their ranking (and its scratch)
    "stash_key", "stash_tie", "stash_src",  # entries set aside by per-core quotas
))

CoreWork = namedtuple("CoreWork", ("sops", "updates", "taken"))


@nb.njit(cache=True)
def new_neuron_state(n_neurons, n_inputs, max_delay):
    return NeuronState(
        np.zeros(n_neurons), np.zeros(n_neurons),
        np.zeros(n_neurons, dtype=np.uint8), np.zeros(n_neurons, dtype=np.uint8),
        np.zeros(n_neurons, dtype=np.uint8), np.zeros(n_neurons, dtype=np.int64),
        np.zeros(n_neurons, dtype=np.int64), np.zeros(n_neurons, dtype=np.int64),
        np.zeros(n_inputs, dtype=np.int64), np.empty(n_inputs, dtype=np.int64),
        np.zeros(n_neurons), np.zeros(n_neurons, dtype=np.uint8),
        np.zeros((max_delay + 1, n_neurons if max_delay > 0 else 0)),
        np.zeros(n_neurons, dtype=np.int64), np.zeros(n_neurons))


@nb.njit(cache=True)
def new_frontier(n_neurons, n_inputs, capacity):
    n_range_slots = n_neurons + n_inputs + capacity + 1
    return Frontier(
        np.zeros(n_neurons, dtype=np.int64), np.zeros(n_neurons, dtype=np.int64),
        np.empty(2 * n_neurons, dtype=np.int64),
        np.zeros(n_neurons, dtype=np.int64), np.zeros(n_neurons, dtype=np.int64),
        np.empty(n_range_slots, dtype=np.int64), np.zeros(n_range_slots, dtype=np.int64),
        np.empty(n_range_slots, dtype=np.int64), np.empty(n_range_slots, dtype=np.int64))


@nb.njit(cache=True)
def new_queue(capacity):
    return Queue(
        np.empty(capacity), np.empty(capacity, dtype=np.int64),
        np.empty(capacity, dtype=np.int64), np.empty(capacity, dtype=np.int64),
        np.empty(capacity), np.empty(capacity, dtype=np.int64),
        np.empty(capacity, dtype=np.int64), np.empty(capacity),
        np.empty(capacity, dtype=np.int64), np.empty(capacity, dtype=np.int64),
        np.empty(capacity), np.empty(capacity, dtype=np.int64),
        np.empty(capacity, dtype=np.int64))


@nb.njit(cache=True)
def new_core_work(n_cores):
    size = max(n_cores, 1)
    return CoreWork(np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64),
                    np.zeros(size, dtype=np.int64))


@nb.njit(cache=True)
def new_cursor(n_neurons, rec, sample):
    """The scalars of a running sample, with recording positions at this sample's offsets."""
    at = np.zeros(N_CURSOR, dtype=np.int64)
    at[STAMP] = 1
    at[NEXT_BASE] = n_neurons
    if rec.enabled:
        at[SELECTION_AT] = rec.offsets[sample, 0]
        at[EXEMPTION_AT] = rec.offsets[sample, 1]
        at[INPUT_AT] = rec.offsets[sample, 2]
    return at
