"""The frame of a forward pass: its start (decay, fresh pass state, input), its stop condition,
and its end (dropped spikes, per-core accounting)."""

from __future__ import annotations

import numba as nb
import numpy as np

from .carry import drop_selected_group, in_late_step
from .codes import (
    COMPAT_ASYNCTORCH,
    CRITICAL_HOPS,
    CRITICAL_NEURON_UPDATES,
    CRITICAL_SOPS,
    DELIVERED_THIS_PASS,
    DROPPED_INPUT_SPIKES,
    DROPPED_PENDING,
    EFFECTIVE_SOPS,
    FIRST_OUTPUT_STEP,
    GUARD_STOPS,
    INPUT_AT,
    INPUT_SOPS,
    MAX_ROUTE_HOPS,
    N_INPUT_PENDING,
    N_NEXT,
    N_PENDING,
    N_RANGES,
    NEXT_BASE,
    PASS,
    POLICY_MOMENTUM,
    POLICY_RANDOM,
    POLICY_USER,
    STAMP,
    STEP,
    STOP_ON_OUTPUT,
    TRACE_INPUT_LENGTH,
)
from .deliver import (
    deliver_delayed,
    deliver_source,
    forget_input_messages,
    list_neuron,
    list_range,
)
from .heap import heap_push
from .rng import uniform

_NO_PRIORITY = -np.inf  # key that puts prioritized input events before everything else


@nb.njit(cache=True, _nrt=False, inline="always")
def begin_pass(t, sample, net, settings, user_key, inputs, drive, state, front, queue, out, rec,
               at, rng):
    """Start pass ``t``: decay membranes (and synaptic currents), clear the pass state, add
    biases, carried synaptic currents and delayed currents, and bring in the input (currents
    at once, or queued events)."""
    at[STAMP] += 1
    at[PASS] = t
    u, decay = state.u, net.decay
    for n in range(u.shape[0]):
        u[n] *= decay[n]
        state.x[n] = 0.0
        state.in_refractory[n] = 0
        state.fired[n] = 0
        state.barrier_sent[n] = 0
        state.messages[n] = net.input_fanin[n]
        state.currents[n] = 0
        state.prespike[n] = 0.0
    at[N_NEXT] = 0
    at[N_RANGES] = 0
    if settings.compat != COMPAT_ASYNCTORCH:  # the paper's code carries its queue over
        at[N_PENDING] = 0
    at[N_INPUT_PENDING] = 0  # random pool with prioritized input: inputs sit at the front
    at[FIRST_OUTPUT_STEP] = -1
    at[DELIVERED_THIS_PASS] = 0
    at[MAX_ROUTE_HOPS] = 0
    at[STEP] = 0
    if net.pass_start:
        _pass_start_currents(net, state, front, at)
    if net.max_delay > 0:
        _delayed_arrivals(t, net, state, front, at)
    if drive.enabled:
        _bring_in_drive(t, sample, drive, state, front, out, at)
    else:
        _bring_in_input(t, sample, net, settings, user_key, inputs[sample, t], state, front,
                        queue, out, rec, at, rng)
    if settings.sync_in_use:
        # silent inputs count as barrier messages: first-layer neurons must get evaluated
        stamp, next_base, n_next = at[STAMP], at[NEXT_BASE], at[N_NEXT]
        for n in range(u.shape[0]):
            if net.input_fanin[n] > 0 and front.marked[n] != stamp:
                front.marked[n] = stamp
                front.listed[next_base + n_next] = n
                n_next += 1
        at[N_NEXT] = n_next


@nb.njit(cache=True, _nrt=False, inline="always")
def pass_start_drive(n, net, syn):
    """What enters neuron ``n``'s membrane at the start of a pass: its bias or, with a
    current-based synapse, its decayed synaptic current plus the bias (which ``syn`` keeps).
    Shared by the kernel and the replay."""
    if net.is_current[n]:
        syn[n] = net.syn_decay[n] * syn[n] + net.bias[n]
        return syn[n]
    return net.bias[n]


@nb.njit(cache=True, _nrt=False)
def _pass_start_currents(net, state, front, at):
    """What enters every membrane at the start of a pass: the bias, or, with a current-based
    synapse, the decayed synaptic current plus the bias. A neuron held after a ``zero_hold``
    reset keeps its membrane at zero for this pass (its synaptic current still counts on).
    Neurons that receive something are listed for the first step."""
    u, syn, held = state.u, state.syn, state.held
    stamp, next_base, n_next = at[STAMP], at[NEXT_BASE], at[N_NEXT]
    for n in range(u.shape[0]):
        add = pass_start_drive(n, net, syn)
        if held[n]:
            state.in_refractory[n] = 1
            held[n] = 0
        elif add != 0.0:
            u[n] += add
            n_next = list_neuron(n, front, stamp, next_base, n_next)
    at[N_NEXT] = n_next


@nb.njit(cache=True, _nrt=False)
def _delayed_arrivals(t, net, state, front, at):
    """Currents of delayed synapses that arrive in pass ``t`` join this pass's first step."""
    future = state.future[t % (net.max_delay + 1)]
    stamp, next_base, n_next = at[STAMP], at[NEXT_BASE], at[N_NEXT]
    for n in range(future.shape[0]):
        if future[n] != 0.0:
            state.x[n] += future[n]
            state.currents[n] += 1
            future[n] = 0.0
            n_next = list_neuron(n, front, stamp, next_base, n_next)
    at[N_NEXT] = n_next


@nb.njit(cache=True, _nrt=False, inline="always")
def _bring_in_drive(t, sample, drive, state, front, out, at):
    """Aggregated input summed before the run (:mod:`.drive`): the run's summed current, its
    range and the input counters, as delivering the features one by one would give."""
    n_sources = drive.sources[sample, t]
    if n_sources == 0:
        return
    out.counters[sample, INPUT_SOPS] += drive.sops[sample, t]
    out.counters[sample, EFFECTIVE_SOPS] += drive.effective[sample, t]
    x, current = state.x, drive.currents[sample, t]
    first = np.uint64(drive.first)
    for i in range(np.uint64(current.shape[0])):
        x[first + i] += current[i]
    at[N_RANGES] = list_range(drive.first, current.shape[0], n_sources, 0, front, at[STAMP],
                              at[N_RANGES])


@nb.njit(cache=True, _nrt=False, inline="always")
def _bring_in_input(t, sample, net, settings, user_key, frame, state, front, queue, out, rec,
                    at, rng):
    """The surviving input spikes of this pass: delivered at once (aggregated input), or
    queued as events."""
    counters = out.counters
    n_neurons = state.u.shape[0]
    use_heap = settings.policy != POLICY_RANDOM
    stamp, next_base = at[STAMP], at[NEXT_BASE]
    n_next, n_ranges = at[N_NEXT], at[N_RANGES]
    n_pending, n_input_pending = at[N_PENDING], at[N_INPUT_PENDING]
    if settings.queued_input:
        # a queued input event reads its count when delivered: silent features must read 0
        for ui in range(state.input_count.shape[0]):
            state.input_count[ui] = 0
    active = state.active_inputs
    n_active = 0
    for ui in range(frame.shape[0]):
        # branch-free: a data-dependent branch per feature mispredicts at every active one
        active[n_active] = ui
        n_active += frame[ui] != 0
    for k in range(n_active):
        ui = np.uint64(active[k])
        c = np.int64(frame[ui])
        if settings.input_dropout > 0.0:
            kept = 0
            for _ in range(c):
                if uniform(rng) >= settings.input_dropout:
                    kept += 1
            counters[sample, DROPPED_INPUT_SPIKES] += c - kept
            c = kept
            counters[sample, TRACE_INPUT_LENGTH] += 3
            if rec.enabled:
                in_at = at[INPUT_AT]
                if in_at + 3 <= rec.limits[sample, 2]:  # else: run again with more room
                    rec.inputs[in_at] = t
                    rec.inputs[in_at + 1] = np.int64(ui)
                    rec.inputs[in_at + 2] = c
                at[INPUT_AT] = in_at + 3
        if settings.queued_input:
            state.input_count[ui] = c
        if c == 0:
            continue
        src = n_neurons + np.int64(ui)
        if settings.queued_input:
            forget_input_messages(src, net, state)  # counted again when the event is delivered
            if use_heap:
                if settings.prioritize_input:
                    key = _NO_PRIORITY
                elif settings.policy == POLICY_MOMENTUM:
                    key = 0.0
                elif settings.policy == POLICY_USER:
                    key = user_key(src, -1, float(c), -1)
                else:  # FIFO and layer order: inputs come first
                    key = -1.0
                n_pending = heap_push(queue.key, queue.tie, queue.src, n_pending, key, src, src)
            else:
                pool = queue.src
                pool[n_pending] = src
                if settings.prioritize_input:
                    # keep input events in front of the pool
                    pool[n_pending] = pool[n_input_pending]
                    pool[n_input_pending] = src
                    n_input_pending += 1
                n_pending += 1
        else:
            counters[sample, INPUT_SOPS] += c * net.fanout[src]
            counters[sample, EFFECTIVE_SOPS] += c * net.nonzero_fanout[src]
            n_next, n_ranges = deliver_source(src, float(c), True, False, net, state, front,
                                              stamp, next_base, n_next, n_ranges)
            if net.max_delay > 0:
                deliver_delayed(src, float(c), t, net, state)
    at[N_NEXT], at[N_RANGES] = n_next, n_ranges
    at[N_PENDING], at[N_INPUT_PENDING] = n_pending, n_input_pending


@nb.njit(cache=True, _nrt=False, inline="always")
def pass_is_over(sample, settings, out, at):
    """Count the forward step just evaluated and check the stop conditions: the output
    condition, nothing pending and nothing in flight, or the max-steps guard."""
    at[STEP] += 1
    step = at[STEP]
    first_output = at[FIRST_OUTPUT_STEP]
    if settings.stop == STOP_ON_OUTPUT and first_output >= 0:
        late = int(settings.compat == COMPAT_ASYNCTORCH)  # the paper's code stops a step late
        if step > first_output + settings.steps_after_output + late:
            return True
    if at[N_PENDING] == 0 and at[N_NEXT] == 0 and at[N_RANGES] == 0:
        return True
    if step >= settings.max_steps:
        out.counters[sample, GUARD_STOPS] += 1
        return True
    return False


@nb.njit(cache=True, _nrt=False, inline="always")
def close_step(sample, work, out, at):
    """Add the busiest core's work and the longest route of this step to the critical-path
    counters, and start the next step's accounting."""
    most_sops = 0
    most_updates = 0
    for c in range(work.sops.shape[0]):
        if work.sops[c] > most_sops:
            most_sops = work.sops[c]
        if work.updates[c] > most_updates:
            most_updates = work.updates[c]
        work.sops[c] = 0
        work.updates[c] = 0
    out.counters[sample, CRITICAL_SOPS] += most_sops
    out.counters[sample, CRITICAL_NEURON_UPDATES] += most_updates
    out.counters[sample, CRITICAL_HOPS] += at[MAX_ROUTE_HOPS]
    at[MAX_ROUTE_HOPS] = 0


@nb.njit(cache=True, _nrt=False, inline="always")
def end_pass(t, sample, chip, settings, state, queue, work, out, at, rng):
    """Close pass ``t``: its forward steps, and the spikes still pending (dropped; with
    ``compat="asynctorch"`` only the group taken in a late step, the rest carries over)."""
    if chip.n_cores > 0:  # the last step evaluated neurons but delivered nothing
        close_step(sample, work, out, at)
    out.steps[sample, t] = at[STEP]
    if settings.compat != COMPAT_ASYNCTORCH:
        out.counters[sample, DROPPED_PENDING] += at[N_PENDING]
    elif in_late_step(settings, at):
        drop_selected_group(sample, settings, state, queue, out, at, rng)
