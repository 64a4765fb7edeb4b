"""Step 1 of a forward step: neurons that received messages integrate their summed current and
evaluate their threshold; those that fire reset and queue their spike, those that meet their
synchronization threshold without firing send their barrier message."""

from __future__ import annotations

import numba as nb
import numpy as np

from .carry import in_late_step, queue_spike
from .codes import (
    BARRIER_MESSAGES,
    COMPAT_ASYNCTORCH,
    DELIVERED_THIS_PASS,
    EXEMPTION_AT,
    FIRST_OUTPUT_STEP,
    N_NEXT,
    N_PENDING,
    N_RANGES,
    NEURON_UPDATES,
    NEXT_BASE,
    POLICY_FIFO,
    POLICY_LAYER,
    POLICY_MOMENTUM,
    POLICY_RANDOM,
    STAMP,
    STEP,
    THIS_BASE,
    TRACE_EXEMPTION_LENGTH,
)
from .conv import immediate_fanout
from .deliver import deliver_source
from .heap import heap_push
from .rng import uniform


@nb.njit(cache=True, _nrt=False, inline="always")
def integrate_and_evaluate(t, sample, net, chip, settings, user_key, state, front, queue,
                           work, out, rec, at, rng):
    """Integrate and evaluate every neuron listed for this step. Returns False if a spike found
    the pending queue full (possible only without refractoriness): the caller reruns the
    sample with more room."""
    _expand(sample, net, chip, settings, state, front, work, out, at)
    # this step's list becomes the one to evaluate; the next one starts empty
    n_this = at[N_NEXT]
    at[THIS_BASE], at[NEXT_BASE] = at[NEXT_BASE], at[THIS_BASE]
    at[N_NEXT] = 0
    at[N_RANGES] = 0
    at[STAMP] += 1
    return _evaluate(t, sample, n_this, net, chip, settings, user_key, state, front, queue,
                     out, rec, at, rng)


@nb.njit(cache=True, _nrt=False, inline="always")
def _expand(sample, net, chip, settings, state, front, work, out, at):
    """Count neuron updates (each neuron that integrates in this step counts once, listed on
    its own or in a target range), integrate target ranges in vectorized loops, and list the
    neurons of those ranges that may fire or must send a barrier."""
    counters = out.counters
    track_cores = chip.n_cores > 0
    stamp, next_base, n_next = at[STAMP], at[NEXT_BASE], at[N_NEXT]
    listed, marked, updated = front.listed, front.marked, front.updated
    u, x, in_refractory = state.u, state.x, state.in_refractory
    currents, messages = state.currents, state.messages
    u_low, u_high, threshold = chip.u_low, chip.u_high, net.threshold
    sync_in_use, sync_threshold = settings.sync_in_use, settings.sync_threshold
    emit_barriers, barrier_sent, fired = settings.emit_barriers, state.barrier_sent, state.fired
    syn, has_syn = state.syn, net.any_current
    for k in range(n_next):
        n = listed[next_base + k]
        updated[n] = stamp
        counters[sample, NEURON_UPDATES] += 1
        if track_cores:
            work.updates[chip.core_of[n]] += 1
    for r in range(at[N_RANGES]):
        first = np.uint64(front.range_first[r])
        end = first + np.uint64(front.range_size[r])
        if track_cores:
            for un in range(first, end):
                if updated[un] != stamp:
                    work.updates[chip.core_of[un]] += 1
        n_currents = front.range_currents[r]
        n_messages = front.range_messages[r]
        # one branch-free loop that the compiler vectorizes; listing the neurons that may fire
        # comes after it, and only if one may
        n_updated = 0
        n_may_fire = 0
        for un in range(first, end):
            n_updated += updated[un] != stamp
            updated[un] = stamp
            currents[un] += n_currents
            messages[un] += n_messages
            if has_syn:
                syn[un] += x[un]  # the synaptic current integrates even while refractory
            integrated = min(max(u[un] + x[un], u_low[un]), u_high[un])
            u[un] = integrated if in_refractory[un] == 0 else u[un]
            x[un] = 0.0
            n_may_fire += (in_refractory[un] == 0) & (u[un] > threshold[un])
        counters[sample, NEURON_UPDATES] += n_updated
        if not (emit_barriers or sync_in_use):
            # a branch on refractoriness per neuron mispredicts about every other time once
            # half the layer has fired: find the candidates branch-free, stop at the last
            found = 0
            for un in range(first, end):
                if found == n_may_fire:
                    break
                candidate = (in_refractory[un] == 0) & (u[un] > threshold[un])
                found += candidate
                if candidate and marked[un] != stamp:
                    marked[un] = stamp
                    listed[next_base + n_next] = un
                    n_next += 1
            continue
        for un in range(first, end):
            # a neuron held after a zero_hold reset cannot fire, but still owes its barrier
            if (in_refractory[un] == 0 or (emit_barriers and fired[un] == 0)) and (
                    not sync_in_use or messages[un] >= sync_threshold[un]) and (
                    (in_refractory[un] == 0 and u[un] > threshold[un]) or (
                        emit_barriers and barrier_sent[un] == 0 and fired[un] == 0)):
                if marked[un] != stamp:
                    marked[un] = stamp
                    listed[next_base + n_next] = un
                    n_next += 1
    if sync_in_use:
        for k in range(n_next):
            n = listed[next_base + k]
            messages[n] += state.new_messages[n]
            state.new_messages[n] = 0
    at[N_NEXT] = n_next


@nb.njit(cache=True, _nrt=False, inline="always")
def _evaluate(t, sample, n_this, net, chip, settings, user_key, state, front, queue, out, rec,
              at, rng):
    """Integrate the listed neurons and evaluate their thresholds (clipped to the chip's
    state bounds); fire, or send a barrier message."""
    listed, this_base = front.listed, at[THIS_BASE]
    u, x, in_refractory, messages = state.u, state.x, state.in_refractory, state.messages
    u_low, u_high, threshold = chip.u_low, chip.u_high, net.threshold
    sync_in_use, sync_threshold = settings.sync_in_use, settings.sync_threshold
    syn, has_syn = state.syn, net.any_current
    for k in range(n_this):
        n = listed[this_base + k]
        if has_syn:
            syn[n] += x[n]  # the synaptic current integrates even while refractory
        if in_refractory[n]:
            x[n] = 0.0
            if state.fired[n] or not settings.emit_barriers:
                continue
            # held after a zero_hold reset: cannot fire, but still owes its barrier
        else:
            u[n] = min(max(u[n] + x[n], u_low[n]), u_high[n])
            x[n] = 0.0
        if sync_in_use and messages[n] < sync_threshold[n]:
            continue
        if in_refractory[n] == 0 and u[n] > threshold[n]:
            if not _fire(n, t, sample, net, settings, user_key, state, queue, out, rec, at,
                         rng):
                return False
        elif settings.emit_barriers and state.barrier_sent[n] == 0 and state.fired[n] == 0:
            state.barrier_sent[n] = 1
            out.counters[sample, BARRIER_MESSAGES] += immediate_fanout(n, net)
            at[N_NEXT], at[N_RANGES] = deliver_source(
                n, 0.0, False, True, net, state, front, at[STAMP], at[NEXT_BASE], at[N_NEXT],
                at[N_RANGES])
    return True


@nb.njit(cache=True, _nrt=False, inline="always")
def _fire(n, t, sample, net, settings, user_key, state, queue, out, rec, at, rng):
    """Neuron ``n`` fires: reset it, make it refractory (unless refractory dropout spares it),
    count an output spike or queue the spike. Returns False if the queue is full."""
    momentum = state.u[n]
    late = in_late_step(settings, at)  # the spike will be thrown away (compat="asynctorch")
    if not late:
        hist = out.reactivity
        bins = hist.shape[1]
        c = state.currents[n]
        hist[sample, c if c < bins else bins - 1] += 1
        out.spikes_per_layer[sample, net.layer_of[n]] += 1
    state.currents[n] = 0
    state.fired[n] = 1
    if net.soft_reset[n]:
        state.u[n] -= net.reset_amount[n]
    else:
        state.u[n] = 0.0
        if net.hold[n]:
            state.held[n] = 1
    step = at[STEP]
    if net.refractory[n]:
        if settings.refractory_dropout <= 0.0 or uniform(rng) >= settings.refractory_dropout:
            state.in_refractory[n] = 1
        else:
            out.counters[sample, TRACE_EXEMPTION_LENGTH] += 3
            if rec.enabled:
                ex_at = at[EXEMPTION_AT]
                if ex_at + 3 <= rec.limits[sample, 1]:  # else: run again with more room
                    rec.exemptions[ex_at] = t
                    rec.exemptions[ex_at + 1] = step
                    rec.exemptions[ex_at + 2] = n
                at[EXEMPTION_AT] = ex_at + 3
    if settings.compat == COMPAT_ASYNCTORCH:
        if late:
            state.prespike[n] = momentum
            return True
        if net.is_output[n]:
            _count_output(n, t, step, sample, net, out, at)
        queue_spike(n, momentum, state, at)  # output spikes too take places in the group
        return True
    if net.is_output[n]:
        _count_output(n, t, step, sample, net, out, at)
        return True
    n_pending = at[N_PENDING]
    if n_pending == queue.src.shape[0]:
        return False
    policy = settings.policy
    if policy != POLICY_RANDOM:
        if policy == POLICY_MOMENTUM:
            key = -momentum
        elif policy == POLICY_FIFO:
            key = float(step)
        elif policy == POLICY_LAYER:
            key = float(net.layer_of[n])
        else:
            key = user_key(n, net.layer_of[n], momentum, step)
        at[N_PENDING] = heap_push(queue.key, queue.tie, queue.src, n_pending, key, n, n)
    else:
        queue.src[n_pending] = n
        at[N_PENDING] = n_pending + 1
    return True


@nb.njit(cache=True, _nrt=False, inline="always")
def _count_output(n, t, step, sample, net, out, at):
    out.output_counts[sample, n - net.output_offset] += 1
    if at[FIRST_OUTPUT_STEP] < 0:
        at[FIRST_OUTPUT_STEP] = step
        out.spikes_to_output[sample, t] = at[DELIVERED_THIS_PASS]
