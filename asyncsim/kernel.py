"""Numba event kernel: forward passes of a compiled network over a batch of samples.

The kernel sees only flat arrays (see :mod:`asyncsim.compile`). Sources are indexed
``0 .. N-1`` for network neurons (layer by layer) and ``N .. N+N_in-1`` for input features; one
CSR table (``fanout_start``, ``targets``, ``weights``) gives every source's outgoing synapses.

One forward step (``docs/concepts.md`` has the full story):

1. every neuron that received a message since the last step integrates its summed current and,
   if it has met its synchronization threshold and is not refractory, evaluates ``u > U_thr``;
2. the stop condition is checked;
3. up to ``F`` pending spikes are selected by the scheduling policy;
4. their currents are delivered (one SOP per synapse) and summed per target.

Pending spikes live in one of two structures, chosen by the policy:

* random scheduling: an unordered pool; drawing ``F`` entries by swap-removal costs O(F);
* every other policy: a binary min-heap on ``(key, source index)``; selection costs O(F log P).
  Momentum noise is redrawn every step, but only entries whose static key lies within the noise
  amplitude of the F-th best can be promoted, so only those are popped and re-ranked.

Each sample runs with its own splitmix64 random stream seeded from ``(seed, sample index)``, so
results do not depend on the number of threads or on how samples are batched.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import types

POLICY_RANDOM = 0
POLICY_MOMENTUM = 1
POLICY_FIFO = 2
POLICY_LAYER = 3
POLICY_USER = 4

STOP_DRAIN = 0
STOP_ON_OUTPUT = 1

#: Signature of a user scheduling key: (source index, layer index (-1 for input features),
#: membrane value before the reset (spike count for input features), forward step at which the
#: spike was emitted (-1 for input)) -> priority; the smallest priority is selected first.
USER_KEY_SIGNATURE = types.float64(types.int64, types.int64, types.float64, types.int64)

_NO_PRIORITY = -np.inf  # key that puts prioritized input events before everything else


@nb.cfunc(USER_KEY_SIGNATURE, cache=True)
def _unused_user_key(source, layer, membrane, step):  # pragma: no cover - never called
    return 0.0


UNUSED_USER_KEY = _unused_user_key


# --------------------------------------------------------------------------------------------
# Random numbers: splitmix64, one state per sample.


@nb.njit(cache=True, inline="always")
def _next_u64(state):
    z = state[0] + np.uint64(0x9E3779B97F4A7C15)
    state[0] = z
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@nb.njit(cache=True, inline="always")
def _uniform(state):
    """Uniform float in [0, 1)."""
    return float(_next_u64(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@nb.njit(cache=True, inline="always")
def _randint(state, n):
    """Uniform integer in [0, n)."""
    return min(int(_uniform(state) * n), n - 1)


@nb.njit(cache=True)
def _seed_state(seed, sample_index):
    state = np.empty(1, dtype=np.uint64)
    state[0] = np.uint64(seed) * np.uint64(0xD1342543DE82EF95) + np.uint64(sample_index)
    _next_u64(state)
    state[0] = _next_u64(state) ^ np.uint64(sample_index)
    _next_u64(state)
    return state


# --------------------------------------------------------------------------------------------
# Binary min-heap on (key, tie) with a payload (the source index).


@nb.njit(cache=True, inline="always")
def _less(keys, ties, i, j):
    return keys[i] < keys[j] or (keys[i] == keys[j] and ties[i] < ties[j])


@nb.njit(cache=True, inline="always")
def _heap_push(keys, ties, srcs, size, key, tie, src):
    i = size
    keys[i] = key
    ties[i] = tie
    srcs[i] = src
    while i > 0:
        parent = (i - 1) >> 1
        if _less(keys, ties, i, parent):
            keys[i], keys[parent] = keys[parent], keys[i]
            ties[i], ties[parent] = ties[parent], ties[i]
            srcs[i], srcs[parent] = srcs[parent], srcs[i]
            i = parent
        else:
            break
    return size + 1


@nb.njit(cache=True, inline="always")
def _heap_pop(keys, ties, srcs, size):
    """Remove the smallest entry; it is left at index ``size - 1``. Returns the new size."""
    last = size - 1
    keys[0], keys[last] = keys[last], keys[0]
    ties[0], ties[last] = ties[last], ties[0]
    srcs[0], srcs[last] = srcs[last], srcs[0]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= last:
            break
        best = left
        right = left + 1
        if right < last and _less(keys, ties, right, left):
            best = right
        if _less(keys, ties, best, i):
            keys[i], keys[best] = keys[best], keys[i]
            ties[i], ties[best] = ties[best], ties[i]
            srcs[i], srcs[best] = srcs[best], srcs[i]
            i = best
        else:
            break
    return last


# --------------------------------------------------------------------------------------------
# Delivery of one source's messages.


@nb.njit(cache=True, inline="always")
def _deliver(src, amplitude, with_current, count_messages, fanout_start, targets, weights,
             target_first, x, currents, new_messages, marked, stamp, listed, next_base, n_next,
             range_first, range_size, range_currents, range_messages, range_mark, range_slot,
             n_ranges):
    """Send ``src``'s messages (currents scaled by ``amplitude`` when ``with_current``) and
    register its targets for the next integration. Returns the new ``(n_next, n_ranges)``.
    Message counts take effect when the next step begins, whatever the order of evaluation.

    Targets that form one contiguous run (every dense projection) take the fast path: one
    vectorized loop adds the currents, and the run becomes (or joins) an entry in the list of
    target ranges, which counts the currents and messages it carried; the counts reach the
    neurons when the range is expanded, once per step. Other sources update and list their
    targets one by one.
    """
    start = fanout_start[src]
    end = fanout_start[src + 1]
    first = target_first[src]
    if first >= 0:
        size = end - start
        if with_current:
            # unsigned indices: Numba then skips its negative-index check and vectorizes
            ufirst = np.uint64(first)
            ustart = np.uint64(start)
            for i in range(np.uint64(size)):
                x[ufirst + i] += weights[ustart + i] * amplitude
        r = range_slot[first]
        if not (range_mark[first] == stamp and range_size[r] == size):
            r = n_ranges
            n_ranges += 1
            range_mark[first] = stamp
            range_slot[first] = r
            range_first[r] = first
            range_size[r] = size
            range_currents[r] = 0
            range_messages[r] = 0
        if with_current:
            range_currents[r] += 1
        if count_messages:
            range_messages[r] += 1
    else:
        for j in range(start, end):
            tgt = targets[j]
            if with_current:
                x[tgt] += weights[j] * amplitude
                currents[tgt] += 1
            if count_messages:
                new_messages[tgt] += 1
            if marked[tgt] != stamp:
                marked[tgt] = stamp
                listed[next_base + n_next] = tgt
                n_next += 1
    return n_next, n_ranges


@nb.njit(cache=True)
def _close_step(core_sops, core_updates, counters, sample, n_cores):
    """Add the busiest core's work in this step to the critical-path counters; reset."""
    most_sops = 0
    most_updates = 0
    for c in range(n_cores):
        if core_sops[c] > most_sops:
            most_sops = core_sops[c]
        if core_updates[c] > most_updates:
            most_updates = core_updates[c]
        core_sops[c] = 0
        core_updates[c] = 0
    counters[sample, 13] += most_sops
    counters[sample, 14] += most_updates


@nb.njit(cache=True)
def _select_with_quota(use_heap, forward_group, core_quota, core_of, n_neurons, core_taken,
                       rng, pend_key, pend_tie, pend_src, n_pending, stash_key, stash_tie,
                       stash_src, selected):
    """Select up to ``forward_group`` pending spikes, at most ``core_quota`` from each core
    (input events belong to no core). Returns ``(n_selected, n_pending)``."""
    n_selected = 0
    if use_heap:
        n_stash = 0
        while n_selected < forward_group and n_pending > 0:
            n_pending = _heap_pop(pend_key, pend_tie, pend_src, n_pending)
            src = pend_src[n_pending]
            c = core_of[src] if src < n_neurons else -1
            if c >= 0 and core_taken[c] >= core_quota:
                stash_key[n_stash] = pend_key[n_pending]
                stash_tie[n_stash] = pend_tie[n_pending]
                stash_src[n_stash] = src
                n_stash += 1
                continue
            if c >= 0:
                core_taken[c] += 1
            selected[n_selected] = src
            n_selected += 1
        for k in range(n_stash):
            n_pending = _heap_push(pend_key, pend_tie, pend_src, n_pending, stash_key[k],
                                   stash_tie[k], stash_src[k])
    else:
        n_open = n_pending  # entries [n_open, n_pending) belong to cores already full
        while n_selected < forward_group and n_open > 0:
            j = _randint(rng, n_open)
            src = pend_src[j]
            c = core_of[src] if src < n_neurons else -1
            if c >= 0 and core_taken[c] >= core_quota:
                pend_src[j] = pend_src[n_open - 1]
                pend_src[n_open - 1] = src
                n_open -= 1
                continue
            if c >= 0:
                core_taken[c] += 1
            selected[n_selected] = src
            n_selected += 1
            pend_src[j] = pend_src[n_open - 1]
            pend_src[n_open - 1] = pend_src[n_pending - 1]
            n_open -= 1
            n_pending -= 1
    for k in range(n_selected):
        if selected[k] < n_neurons:
            core_taken[core_of[selected[k]]] = 0
    return n_selected, n_pending


# --------------------------------------------------------------------------------------------
# One sample.


@nb.njit(cache=True)
def _run_sample(
    sample,
    global_index,
    fanout_start,
    targets,
    weights,
    target_first,
    nonzero_fanout,
    layer_of,
    threshold,
    decay,
    soft_reset,
    refractory,
    is_output,
    sync_threshold,
    input_fanin,
    u_low,
    u_high,
    n_neurons,
    output_offset,
    inputs,
    seed,
    policy,
    forward_group,
    stop,
    steps_after_output,
    momentum_noise,
    queued_input,
    prioritize_input,
    refractory_dropout,
    input_dropout,
    network_dropout,
    emit_barriers,
    max_steps,
    user_key,
    core_of,
    route_start,
    route_core,
    route_synapses,
    route_hops,
    n_cores,
    core_quota,
    capacity,
    out_counts,
    out_membrane,
    spikes_per_layer,
    counters,
    steps_per_pass,
    spikes_to_output,
    hist,
    record,
    rec_offsets,
    sel_stream,
    ex_stream,
    in_stream,
):
    """Simulate one sample; returns False if more than ``capacity`` spikes were pending at once
    (possible only without refractoriness), leaving partial results behind."""
    n_timesteps = inputs.shape[1]
    n_inputs = inputs.shape[2]
    hist_bins = hist.shape[1]
    rng = _seed_state(seed, global_index)
    sync_in_use = False
    for n in range(n_neurons):
        if sync_threshold[n] > 0:
            sync_in_use = True
            break

    u = np.zeros(n_neurons)
    x = np.zeros(n_neurons)
    in_refractory = np.zeros(n_neurons, dtype=np.uint8)
    fired = np.zeros(n_neurons, dtype=np.uint8)
    barrier_sent = np.zeros(n_neurons, dtype=np.uint8)
    messages = np.zeros(n_neurons, dtype=np.int64)
    new_messages = np.zeros(n_neurons, dtype=np.int64)  # arrived, counted from the next step
    currents = np.zeros(n_neurons, dtype=np.int64)
    input_count = np.zeros(n_inputs, dtype=np.int64)
    # Neurons to integrate at the next step: a list of neurons plus a list of target ranges.
    # marked[n] == stamp <=> n is listed; range_mark[first] == stamp <=> a range starting at
    # `first` is listed. Bumping the stamp empties both lists without a clearing pass.
    stamp = 1
    marked = np.zeros(n_neurons, dtype=np.int64)
    updated = np.zeros(n_neurons, dtype=np.int64)  # == stamp: counted as updated this step
    range_mark = np.zeros(n_neurons, dtype=np.int64)
    range_slot = np.zeros(n_neurons, dtype=np.int64)
    n_range_slots = n_neurons + n_inputs + capacity + 1
    range_first = np.empty(n_range_slots, dtype=np.int64)
    range_size = np.zeros(n_range_slots, dtype=np.int64)
    range_currents = np.empty(n_range_slots, dtype=np.int64)
    range_messages = np.empty(n_range_slots, dtype=np.int64)
    # the neuron lists of this step and the next: two halves of one buffer, swapped by offset
    # (swapping array references would cost reference counting in the hottest loop)
    listed = np.empty(2 * n_neurons, dtype=np.int64)
    this_base = 0
    next_base = n_neurons

    pend_key = np.empty(capacity)
    pend_tie = np.empty(capacity, dtype=np.int64)
    pend_src = np.empty(capacity, dtype=np.int64)
    selected = np.empty(capacity, dtype=np.int64)
    cand_key = np.empty(capacity)
    cand_tie = np.empty(capacity, dtype=np.int64)
    cand_src = np.empty(capacity, dtype=np.int64)
    cand_priority = np.empty(capacity)

    # Core accounting (only with a hardware profile): work per core in the current step.
    track_cores = n_cores > 0
    core_sops = np.zeros(max(n_cores, 1), dtype=np.int64)
    core_updates = np.zeros(max(n_cores, 1), dtype=np.int64)
    core_taken = np.zeros(max(n_cores, 1), dtype=np.int64)
    stash_key = np.empty(capacity)
    stash_tie = np.empty(capacity, dtype=np.int64)
    stash_src = np.empty(capacity, dtype=np.int64)

    # Recording (see asyncsim.trace): write positions in this sample's part of each stream.
    sel_at = rec_offsets[sample, 0]
    ex_at = rec_offsets[sample, 1]
    in_at = rec_offsets[sample, 2]

    use_heap = policy != POLICY_RANDOM
    # counters: 0 network SOPs, 1 input SOPs, 2 effective SOPs (non-zero weights, input
    # included), 3 network spikes delivered, 4 input events delivered, 5 spikes dropped by
    # network dropout, 6 spikes pending at the end of a pass, 7 input spikes dropped,
    # 8 barrier messages, 9 passes stopped by the max-steps guard, 10 neuron updates,
    # 11 spikes routed to a core, 12 hops travelled, 13 critical-path SOPs (per step, the
    # busiest core's), 14 critical-path neuron updates, 15 critical-path hops (per step, the
    # longest route), 16-18 lengths of the recorded selection, exemption and input streams
    for t in range(n_timesteps):
        for n in range(n_neurons):
            u[n] *= decay[n]
            x[n] = 0.0
            in_refractory[n] = 0
            fired[n] = 0
            barrier_sent[n] = 0
            messages[n] = input_fanin[n]
            currents[n] = 0
        stamp += 1
        n_next = 0
        n_ranges = 0
        n_pending = 0
        n_input_pending = 0  # random pool with prioritized input: inputs sit at the front
        first_output_step = -1
        delivered_this_pass = 0
        max_route_hops = 0

        # Input: surviving spikes of this timestep.
        frame = inputs[sample, t]
        for ui in range(np.uint64(n_inputs)):
            c = np.int64(frame[ui])
            if c == 0:
                input_count[ui] = 0
                continue
            if input_dropout > 0.0:
                kept = 0
                for _ in range(c):
                    if _uniform(rng) >= input_dropout:
                        kept += 1
                counters[sample, 7] += c - kept
                c = kept
                counters[sample, 18] += 3
                if record:
                    in_stream[in_at] = t
                    in_stream[in_at + 1] = np.int64(ui)
                    in_stream[in_at + 2] = c
                    in_at += 3
            input_count[ui] = c
            if c == 0:
                continue
            src = n_neurons + np.int64(ui)
            if queued_input:
                for j in range(fanout_start[src], fanout_start[src + 1]):
                    messages[targets[j]] -= 1  # counted again when the event is delivered
                if use_heap:
                    if prioritize_input:
                        key = _NO_PRIORITY
                    elif policy == POLICY_MOMENTUM:
                        key = 0.0
                    elif policy == POLICY_USER:
                        key = user_key(src, -1, float(c), -1)
                    else:  # FIFO and layer order: inputs come first
                        key = -1.0
                    n_pending = _heap_push(pend_key, pend_tie, pend_src, n_pending, key, src, src)
                else:
                    pend_src[n_pending] = src
                    if prioritize_input:
                        # keep input events in front of the pool
                        pend_src[n_pending] = pend_src[n_input_pending]
                        pend_src[n_input_pending] = src
                        n_input_pending += 1
                    n_pending += 1
            else:
                counters[sample, 1] += c * (fanout_start[src + 1] - fanout_start[src])
                counters[sample, 2] += c * nonzero_fanout[src]
                n_next, n_ranges = _deliver(
                    src, float(c), True, False, fanout_start, targets, weights, target_first,
                    x, currents, new_messages, marked, stamp, listed, next_base, n_next,
                    range_first, range_size, range_currents, range_messages, range_mark,
                    range_slot, n_ranges)
        if sync_in_use:
            # silent inputs count as barrier messages: first-layer neurons must get evaluated
            for n in range(n_neurons):
                if input_fanin[n] > 0 and marked[n] != stamp:
                    marked[n] = stamp
                    listed[next_base + n_next] = n
                    n_next += 1

        step = 0
        while True:
            # 1. integrate and evaluate the neurons that received messages
            # Neuron updates: each neuron that integrates in this step counts once, whether it
            # was listed on its own or belongs to a target range.
            for k in range(n_next):
                n = listed[next_base + k]
                updated[n] = stamp
                counters[sample, 10] += 1
                if track_cores:
                    core_updates[core_of[n]] += 1
            # Target ranges integrate here in vectorized loops; only neurons that may fire or
            # must send a barrier are listed for evaluation (the others have nothing to do).
            for r in range(n_ranges):
                first = np.uint64(range_first[r])
                end = first + np.uint64(range_size[r])
                for un in range(first, end):
                    if updated[un] != stamp:
                        updated[un] = stamp
                        counters[sample, 10] += 1
                        if track_cores:
                            core_updates[core_of[un]] += 1
                n_currents = range_currents[r]
                n_messages = range_messages[r]
                for un in range(first, end):
                    currents[un] += n_currents
                    messages[un] += n_messages
                for un in range(first, end):
                    if in_refractory[un] == 0:
                        u[un] = min(max(u[un] + x[un], u_low[un]), u_high[un])
                    x[un] = 0.0
                for un in range(first, end):
                    if in_refractory[un] == 0 and (
                            not sync_in_use or messages[un] >= sync_threshold[un]) and (
                            u[un] > threshold[un] or (
                                emit_barriers and barrier_sent[un] == 0 and fired[un] == 0)):
                        if marked[un] != stamp:
                            marked[un] = stamp
                            listed[next_base + n_next] = un
                            n_next += 1
            if sync_in_use:
                for k in range(n_next):
                    n = listed[next_base + k]
                    messages[n] += new_messages[n]
                    new_messages[n] = 0
            this_base, next_base = next_base, this_base
            n_this = n_next
            n_next = 0
            n_ranges = 0
            stamp += 1
            for k in range(n_this):
                n = listed[this_base + k]
                if in_refractory[n]:
                    x[n] = 0.0
                    continue
                u[n] = min(max(u[n] + x[n], u_low[n]), u_high[n])
                x[n] = 0.0
                if sync_in_use and messages[n] < sync_threshold[n]:
                    continue
                if u[n] > threshold[n]:
                    momentum = u[n]
                    c = currents[n]
                    hist[sample, c if c < hist_bins else hist_bins - 1] += 1
                    currents[n] = 0
                    spikes_per_layer[sample, layer_of[n]] += 1
                    fired[n] = 1
                    if soft_reset[n]:
                        u[n] -= threshold[n]
                    else:
                        u[n] = 0.0
                    if refractory[n]:
                        if refractory_dropout <= 0.0 or _uniform(rng) >= refractory_dropout:
                            in_refractory[n] = 1
                        else:
                            counters[sample, 17] += 3
                            if record:
                                ex_stream[ex_at] = t
                                ex_stream[ex_at + 1] = step
                                ex_stream[ex_at + 2] = n
                                ex_at += 3
                    if is_output[n]:
                        out_counts[sample, n - output_offset] += 1
                        if first_output_step < 0:
                            first_output_step = step
                            spikes_to_output[sample, t] = delivered_this_pass
                        continue
                    if n_pending == capacity:
                        return False  # the caller reruns the sample with more room
                    if use_heap:
                        if policy == POLICY_MOMENTUM:
                            key = -momentum
                        elif policy == POLICY_FIFO:
                            key = float(step)
                        elif policy == POLICY_LAYER:
                            key = float(layer_of[n])
                        else:
                            key = user_key(n, layer_of[n], momentum, step)
                        n_pending = _heap_push(pend_key, pend_tie, pend_src, n_pending, key, n, n)
                    else:
                        pend_src[n_pending] = n
                        n_pending += 1
                elif emit_barriers and barrier_sent[n] == 0 and fired[n] == 0:
                    barrier_sent[n] = 1
                    counters[sample, 8] += fanout_start[n + 1] - fanout_start[n]
                    n_next, n_ranges = _deliver(
                        n, 0.0, False, True, fanout_start, targets, weights, target_first,
                        x, currents, new_messages, marked, stamp, listed, next_base, n_next,
                        range_first, range_size, range_currents, range_messages, range_mark,
                    range_slot, n_ranges)

            # 2. stop conditions
            step += 1
            if stop == STOP_ON_OUTPUT and first_output_step >= 0:
                if step > first_output_step + steps_after_output:
                    break
            if n_pending == 0 and n_next == 0 and n_ranges == 0:
                break
            if step >= max_steps:
                counters[sample, 9] += 1
                break

            # 3. select up to F pending spikes (with core_quota, at most that many per core)
            n_selected = 0
            if core_quota > 0:
                n_selected, n_pending = _select_with_quota(
                    use_heap, forward_group, core_quota, core_of, n_neurons, core_taken, rng,
                    pend_key, pend_tie, pend_src, n_pending, stash_key, stash_tie, stash_src,
                    selected)
                n_input_pending = 0
            elif n_pending <= forward_group:
                for k in range(n_pending):
                    selected[k] = pend_src[k]
                n_selected = n_pending
                n_pending = 0
                n_input_pending = 0
            elif not use_heap:
                while n_selected < forward_group:
                    if n_input_pending > 0:
                        j = _randint(rng, n_input_pending)
                        selected[n_selected] = pend_src[j]
                        n_input_pending -= 1
                        pend_src[j] = pend_src[n_input_pending]
                        pend_src[n_input_pending] = pend_src[n_pending - 1]
                    else:
                        j = _randint(rng, n_pending)
                        selected[n_selected] = pend_src[j]
                        pend_src[j] = pend_src[n_pending - 1]
                    n_pending -= 1
                    n_selected += 1
            elif policy == POLICY_MOMENTUM and momentum_noise > 0.0:
                # Pop the F best (keys are -membrane), then every entry that the noise could
                # still lift above the F-th best: key < key_F + noise amplitude.
                top = n_pending
                for _ in range(forward_group):
                    n_pending = _heap_pop(pend_key, pend_tie, pend_src, n_pending)
                key_f = pend_key[n_pending]
                while n_pending > 0 and pend_key[0] < key_f + momentum_noise:
                    n_pending = _heap_pop(pend_key, pend_tie, pend_src, n_pending)
                n_cand = top - n_pending
                if n_cand == forward_group:
                    # nothing else is within reach of the noise: all F are selected
                    for k in range(n_cand):
                        selected[k] = pend_src[n_pending + k]
                    n_selected = n_cand
                else:
                    for k in range(n_cand):
                        cand_key[k] = pend_key[n_pending + k]
                        cand_tie[k] = pend_tie[n_pending + k]
                        cand_src[k] = pend_src[n_pending + k]
                        cand_priority[k] = cand_key[k] - momentum_noise * _uniform(rng)
                    if forward_group == 1:
                        best = 0
                        for k in range(1, n_cand):
                            if cand_priority[k] < cand_priority[best]:
                                best = k
                        order = np.arange(n_cand)
                        order[0], order[best] = best, 0
                    else:
                        order = np.argsort(cand_priority[:n_cand], kind="mergesort")
                    for r in range(n_cand):
                        k = order[r]
                        if r < forward_group:
                            selected[n_selected] = cand_src[k]
                            n_selected += 1
                        else:
                            n_pending = _heap_push(
                                pend_key, pend_tie, pend_src, n_pending,
                                cand_key[k], cand_tie[k], cand_src[k],
                            )
            else:
                while n_selected < forward_group:
                    n_pending = _heap_pop(pend_key, pend_tie, pend_src, n_pending)
                    selected[n_selected] = pend_src[n_pending]
                    n_selected += 1

            # 4. deliver the selected spikes' currents, in source order so that the sums do
            # not depend on how the pool happens to be arranged
            if n_selected > 1:
                selected[:n_selected].sort()
            counters[sample, 16] += 1 + n_selected
            if record:
                sel_stream[sel_at] = n_selected
                sel_at += 1
            for k in range(n_selected):
                src = selected[k]
                if network_dropout > 0.0 and src < n_neurons:
                    if _uniform(rng) < network_dropout:
                        counters[sample, 5] += 1
                        if record:
                            sel_stream[sel_at] = -(src + 1)
                            sel_at += 1
                        continue
                if record:
                    sel_stream[sel_at] = src
                    sel_at += 1
                start = fanout_start[src]
                end = fanout_start[src + 1]
                amplitude = 1.0
                if src < n_neurons:
                    counters[sample, 0] += end - start
                    counters[sample, 2] += nonzero_fanout[src]
                    counters[sample, 3] += 1
                else:
                    c = input_count[src - n_neurons]
                    amplitude = float(c)
                    counters[sample, 1] += c * (end - start)
                    counters[sample, 2] += c * nonzero_fanout[src]
                    counters[sample, 4] += 1
                delivered_this_pass += 1
                if track_cores:
                    for e in range(route_start[src], route_start[src + 1]):
                        core_sops[route_core[e]] += route_synapses[e]
                        counters[sample, 11] += 1
                        counters[sample, 12] += route_hops[e]
                        if route_hops[e] > max_route_hops:
                            max_route_hops = route_hops[e]
                n_next, n_ranges = _deliver(
                    src, amplitude, True, sync_in_use, fanout_start, targets, weights,
                    target_first, x, currents, new_messages, marked, stamp, listed, next_base,
                    n_next, range_first, range_size, range_currents, range_messages, range_mark,
                    range_slot, n_ranges)

            if track_cores:
                _close_step(core_sops, core_updates, counters, sample, n_cores)
                counters[sample, 15] += max_route_hops
                max_route_hops = 0

        if track_cores:  # the last step evaluated neurons but delivered nothing
            _close_step(core_sops, core_updates, counters, sample, n_cores)
        steps_per_pass[sample, t] = step
        counters[sample, 6] += n_pending
    for k in range(out_counts.shape[1]):
        out_membrane[sample, k] = u[output_offset + k]
    return True


@nb.njit(cache=True, parallel=True)
def run_batch(
    sample_offset,
    fanout_start,
    targets,
    weights,
    target_first,
    nonzero_fanout,
    layer_of,
    threshold,
    decay,
    soft_reset,
    refractory,
    is_output,
    sync_threshold,
    input_fanin,
    u_low,
    u_high,
    output_offset,
    inputs,
    seed,
    policy,
    forward_group,
    stop,
    steps_after_output,
    momentum_noise,
    queued_input,
    prioritize_input,
    refractory_dropout,
    input_dropout,
    network_dropout,
    emit_barriers,
    max_steps,
    user_key,
    core_of,
    route_start,
    route_core,
    route_synapses,
    route_hops,
    n_cores,
    core_quota,
    out_counts,
    out_membrane,
    spikes_per_layer,
    counters,
    steps_per_pass,
    spikes_to_output,
    hist,
    record,
    rec_offsets,
    sel_stream,
    ex_stream,
    in_stream,
):
    """Run every sample of ``inputs`` (samples, timesteps, features); results go to the output
    arrays (first axis: sample). ``sample_offset`` is the global index of ``inputs[0]``: it seeds
    each sample's random stream."""
    n_neurons = layer_of.shape[0]
    for s in nb.prange(inputs.shape[0]):
        # With refractory neurons at most every source is pending once; otherwise the sample
        # is rerun with more room (same random stream, so the same result).
        capacity = n_neurons + inputs.shape[2] + 1
        while True:
            done = _run_sample(
                s, sample_offset + s, fanout_start, targets, weights, target_first,
                nonzero_fanout, layer_of,
                threshold, decay, soft_reset, refractory, is_output, sync_threshold, input_fanin,
                u_low, u_high, n_neurons, output_offset, inputs, seed, policy, forward_group, stop,
                steps_after_output, momentum_noise, queued_input, prioritize_input,
                refractory_dropout, input_dropout, network_dropout, emit_barriers, max_steps,
                user_key, core_of, route_start, route_core, route_synapses, route_hops, n_cores,
                core_quota, capacity, out_counts, out_membrane, spikes_per_layer, counters,
                steps_per_pass, spikes_to_output, hist, record, rec_offsets, sel_stream,
                ex_stream, in_stream,
            )
            if done:
                break
            capacity *= 2
            out_counts[s] = 0
            out_membrane[s] = 0.0
            spikes_per_layer[s] = 0
            counters[s] = 0
            steps_per_pass[s] = 0
            spikes_to_output[s] = -1
            hist[s] = 0
