"""Step 3 of a forward step: select up to ``F`` pending spikes by the scheduling policy.

Pending spikes live in one of two structures, chosen by the policy:

* random scheduling: an unordered pool; drawing ``F`` entries by swap-removal costs O(F);
* every other policy: a binary min-heap on ``(key, source index)``; selection costs O(F log P).
  Momentum noise is redrawn every step, but only entries whose static key lies within the noise
  amplitude of the F-th best can be promoted, so only those are popped and re-ranked.
"""

from __future__ import annotations

import numba as nb

from .carry import select_queued
from .codes import (
    COMPAT_ASYNCTORCH,
    N_INPUT_PENDING,
    N_PENDING,
    POLICY_MOMENTUM,
    POLICY_RANDOM,
)
from .heap import heap_pop, heap_push, stable_argsort
from .rng import randint, uniform


@nb.njit(cache=True, _nrt=False, inline="always")
def select_spikes(chip, settings, state, queue, work, at, rng):
    """Move up to ``F`` pending spikes to ``queue.selected`` (at most ``core_quota`` per core
    when the chip sets one); returns how many."""
    if settings.compat == COMPAT_ASYNCTORCH:
        return select_queued(settings, state, queue, at, rng)
    group = settings.forward_group
    n_pending = at[N_PENDING]
    use_heap = settings.policy != POLICY_RANDOM
    if chip.core_quota > 0:
        n_selected, n_pending = _select_with_quota(use_heap, group, chip, queue, work,
                                                   n_pending, rng)
        at[N_INPUT_PENDING] = 0
    elif n_pending <= group:
        for k in range(n_pending):
            queue.selected[k] = queue.src[k]
        n_selected = n_pending
        n_pending = 0
        at[N_INPUT_PENDING] = 0
    elif not use_heap:
        n_selected, n_pending = _select_random(group, queue, n_pending, at, rng)
    elif settings.policy == POLICY_MOMENTUM and settings.momentum_noise > 0.0:
        n_selected, n_pending = _select_momentum_with_noise(group, settings.momentum_noise,
                                                            queue, n_pending, rng)
    else:
        n_selected = 0
        while n_selected < group:
            n_pending = heap_pop(queue.key, queue.tie, queue.src, n_pending)
            queue.selected[n_selected] = queue.src[n_pending]
            n_selected += 1
    at[N_PENDING] = n_pending
    return n_selected


@nb.njit(cache=True, _nrt=False, inline="always")
def _select_random(group, queue, n_pending, at, rng):
    """``group`` uniform draws without replacement from the pool; prioritized input events
    (kept at the front of the pool) are drawn first."""
    pool, selected = queue.src, queue.selected
    n_input_pending = at[N_INPUT_PENDING]
    n_selected = 0
    while n_selected < group:
        if n_input_pending > 0:
            j = randint(rng, n_input_pending)
            selected[n_selected] = pool[j]
            n_input_pending -= 1
            pool[j] = pool[n_input_pending]
            pool[n_input_pending] = pool[n_pending - 1]
        else:
            j = randint(rng, n_pending)
            selected[n_selected] = pool[j]
            pool[j] = pool[n_pending - 1]
        n_pending -= 1
        n_selected += 1
    at[N_INPUT_PENDING] = n_input_pending
    return n_selected, n_pending


@nb.njit(cache=True, _nrt=False, inline="always")
def _select_momentum_with_noise(group, noise, queue, n_pending, rng):
    """Pop the ``group`` best (keys are -membrane), then every entry that the noise could still
    lift above the group-th best (key < key_F + noise); rank the candidates with fresh noise,
    select the best ``group`` and push the rest back."""
    keys, ties, srcs, selected = queue.key, queue.tie, queue.src, queue.selected
    top = n_pending
    for _ in range(group):
        n_pending = heap_pop(keys, ties, srcs, n_pending)
    key_f = keys[n_pending]
    while n_pending > 0 and keys[0] < key_f + noise:
        n_pending = heap_pop(keys, ties, srcs, n_pending)
    n_cand = top - n_pending
    n_selected = 0
    if n_cand == group:
        # nothing else is within reach of the noise: all F are selected
        for k in range(n_cand):
            selected[k] = srcs[n_pending + k]
        return n_cand, n_pending
    cand_key, cand_tie, cand_src = queue.cand_key, queue.cand_tie, queue.cand_src
    cand_priority = queue.cand_priority
    for k in range(n_cand):
        cand_key[k] = keys[n_pending + k]
        cand_tie[k] = ties[n_pending + k]
        cand_src[k] = srcs[n_pending + k]
        cand_priority[k] = cand_key[k] - noise * uniform(rng)
    order = queue.cand_order
    if group == 1:
        best = 0
        for k in range(1, n_cand):
            if cand_priority[k] < cand_priority[best]:
                best = k
        for k in range(n_cand):
            order[k] = k
        order[0], order[best] = best, 0
    else:
        stable_argsort(cand_priority, n_cand, order, queue.cand_buffer)
    for r in range(n_cand):
        k = order[r]
        if r < group:
            selected[n_selected] = cand_src[k]
            n_selected += 1
        else:
            n_pending = heap_push(keys, ties, srcs, n_pending, cand_key[k], cand_tie[k],
                                  cand_src[k])
    return n_selected, n_pending


@nb.njit(cache=True, _nrt=False)
def _select_with_quota(use_heap, group, chip, queue, work, n_pending, rng):
    """Select up to ``group`` pending spikes, at most ``chip.core_quota`` from each core
    (input events belong to no core). Returns ``(n_selected, n_pending)``."""
    keys, ties, srcs, selected = queue.key, queue.tie, queue.src, queue.selected
    core_of, quota, taken = chip.core_of, chip.core_quota, work.taken
    n_neurons = core_of.shape[0]
    n_selected = 0
    if use_heap:
        n_stash = 0
        while n_selected < group and n_pending > 0:
            n_pending = heap_pop(keys, ties, srcs, n_pending)
            src = srcs[n_pending]
            c = core_of[src] if src < n_neurons else -1
            if c >= 0 and taken[c] >= quota:
                queue.stash_key[n_stash] = keys[n_pending]
                queue.stash_tie[n_stash] = ties[n_pending]
                queue.stash_src[n_stash] = src
                n_stash += 1
                continue
            if c >= 0:
                taken[c] += 1
            selected[n_selected] = src
            n_selected += 1
        for k in range(n_stash):
            n_pending = heap_push(keys, ties, srcs, n_pending, queue.stash_key[k],
                                  queue.stash_tie[k], queue.stash_src[k])
    else:
        n_open = n_pending  # entries [n_open, n_pending) belong to cores already full
        while n_selected < group and n_open > 0:
            j = randint(rng, n_open)
            src = srcs[j]
            c = core_of[src] if src < n_neurons else -1
            if c >= 0 and taken[c] >= quota:
                srcs[j] = srcs[n_open - 1]
                srcs[n_open - 1] = src
                n_open -= 1
                continue
            if c >= 0:
                taken[c] += 1
            selected[n_selected] = src
            n_selected += 1
            srcs[j] = srcs[n_open - 1]
            srcs[n_open - 1] = srcs[n_pending - 1]
            n_open -= 1
            n_pending -= 1
    for k in range(n_selected):
        if selected[k] < n_neurons:
            taken[core_of[selected[k]]] = 0
    return n_selected, n_pending
