"""The queue of the paper's public code (asynctorch), for ``compat="asynctorch"``.

Algorithm 1 of the paper empties the queue at the start of every forward pass and stops as soon
as the stop condition holds. The paper's code differs in four ways (``docs/concepts.md``,
"Compatibility with the paper's code"), which this module and a few branches in the pass frame
reproduce:

1. the queue holds one entry per neuron with a spike count, and it is never emptied between
   passes: a neuron that fires while its entry waits adds to the count, and the entry is sent
   as one event carrying ``count x`` its weights;
2. entries carried into a new pass have momentum 0 until their neuron fires again (the
   momentum is the membrane at the neuron's last spike in the current pass);
3. the on-output stop takes effect one forward step late: in that step the selected group is
   still integrated (neurons fire, reset and turn refractory) but its spikes are thrown away,
   and the group then taken off the queue is dropped; the rest carries over;
4. output spikes are queued like any other and take places in the forward group.

Selection scans every neuron (O(N) per step): this mode is for comparing with the paper's
numbers, not for speed.
"""

from __future__ import annotations

import numba as nb

from .codes import (
    COMPAT_ASYNCTORCH,
    DROPPED_PENDING,
    FIRST_OUTPUT_STEP,
    N_PENDING,
    POLICY_RANDOM,
    STEP,
    STOP_ON_OUTPUT,
)
from .heap import stable_argsort
from .rng import randint, uniform


@nb.njit(cache=True, _nrt=False, inline="always")
def in_late_step(settings, at):
    """True in the forward step after the last one the on-output stop allows: its spikes
    are thrown away (rule 3)."""
    first_output = at[FIRST_OUTPUT_STEP]
    return (settings.compat == COMPAT_ASYNCTORCH and settings.stop == STOP_ON_OUTPUT
            and first_output >= 0 and at[STEP] > first_output + settings.steps_after_output)


@nb.njit(cache=True, _nrt=False, inline="always")
def queue_spike(n, momentum, state, at):
    """Neuron ``n`` fired with membrane ``momentum``: add the spike to its entry."""
    state.prespike[n] = momentum
    if state.queued[n] == 0:
        at[N_PENDING] += 1
    state.queued[n] += 1


@nb.njit(cache=True, _nrt=False)
def select_queued(settings, state, queue, at, rng):
    """Move up to ``F`` queued neurons to ``queue.selected`` (their counts stay in
    ``state.queued`` until delivered or dropped); returns how many. Momentum: the highest
    membrane at the last spike in this pass first (plus the noise), ties to the lowest index;
    random: a uniform choice."""
    queued, candidates, selected = state.queued, queue.cand_src, queue.selected
    n_cand = 0
    for n in range(queued.shape[0]):
        if queued[n] > 0:
            candidates[n_cand] = n
            n_cand += 1
    group = settings.forward_group
    if n_cand <= group:
        for k in range(n_cand):
            selected[k] = candidates[k]
        n_selected = n_cand
    elif settings.policy == POLICY_RANDOM:
        for k in range(group):
            j = k + randint(rng, n_cand - k)
            candidates[k], candidates[j] = candidates[j], candidates[k]
            selected[k] = candidates[k]
        n_selected = group
    else:
        priority = queue.cand_priority
        for k in range(n_cand):
            priority[k] = -state.prespike[candidates[k]]
            if settings.momentum_noise > 0.0:
                priority[k] -= settings.momentum_noise * uniform(rng)
        order = queue.cand_order
        stable_argsort(priority, n_cand, order, queue.cand_buffer)
        for k in range(group):
            selected[k] = candidates[order[k]]
        n_selected = group
    at[N_PENDING] = n_cand - n_selected
    return n_selected


@nb.njit(cache=True, _nrt=False)
def drop_selected_group(sample, settings, state, queue, out, at, rng):
    """The late step ends by taking a group off the queue without delivering it."""
    n_selected = select_queued(settings, state, queue, at, rng)
    for k in range(n_selected):
        n = queue.selected[k]
        out.counters[sample, DROPPED_PENDING] += state.queued[n]
        state.queued[n] = 0


@nb.njit(cache=True, _nrt=False)
def drop_still_queued(sample, state, out):
    """Spikes still queued after the last pass are never delivered."""
    for n in range(state.queued.shape[0]):
        out.counters[sample, DROPPED_PENDING] += state.queued[n]
