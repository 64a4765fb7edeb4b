"""Delivery: one source's messages to its targets, and a forward step's whole selection."""

from __future__ import annotations

import numba as nb
import numpy as np

from .codes import (
    COMPAT_ASYNCTORCH,
    DELIVERED_INPUT_EVENTS,
    DELIVERED_SPIKES,
    DELIVERED_THIS_PASS,
    DROPPED_BY_NETWORK_DROPOUT,
    EFFECTIVE_SOPS,
    HOPS,
    INPUT_SOPS,
    MAX_ROUTE_HOPS,
    N_NEXT,
    N_RANGES,
    NEXT_BASE,
    PASS,
    ROUTED_SPIKES,
    SELECTION_AT,
    SOPS,
    STAMP,
    TRACE_SELECTION_LENGTH,
)
from .conv import DELAY, TARGET_FIRST, add_conv_currents, conv_rows, conv_window
from .heap import sort_ints
from .rng import uniform


@nb.njit(cache=True, _nrt=False, inline="always")
def deliver_source(src, amplitude, with_current, count_messages, net, state, front, stamp,
                   next_base, n_next, n_ranges):
    """Send ``src``'s messages (currents scaled by ``amplitude`` when ``with_current``) and
    register its targets for the next integration. Returns the new ``(n_next, n_ranges)``.
    Message counts take effect when the next step begins, whatever the order of evaluation.

    Targets that form one contiguous run (every dense projection) take the fast path: one
    vectorized loop adds the currents, and the run becomes (or joins) an entry in the list of
    target ranges, which counts the currents and messages it carried; the counts reach the
    neurons when the range is expanded, once per step. Other sources update and list their
    targets one by one. Convolutions (:mod:`.conv`) derive their targets and weights here, from
    the source's position and the projection's descriptor.
    """
    start = net.fanout_start[src]
    end = net.fanout_start[src + 1]
    first = net.target_first[src]
    if first >= 0:
        size = end - start
        if with_current:
            x = state.x
            weights = net.weights
            # unsigned indices: Numba then skips its negative-index check and vectorizes
            ufirst = np.uint64(first)
            ustart = np.uint64(start)
            for i in range(np.uint64(size)):
                x[ufirst + i] += weights[ustart + i] * amplitude
        if net.has_conv:
            size += _conv_currents(src, amplitude, with_current, net, state.x)
        n_ranges = list_range(first, size, 1 if with_current else 0,
                              1 if count_messages else 0, front, stamp, n_ranges)
    else:
        n_next = _deliver_one_by_one(src, amplitude, with_current, count_messages, net, state,
                                     front, stamp, next_base, n_next)
    return n_next, n_ranges


@nb.njit(cache=True, _nrt=False, inline="always")
def list_range(first, size, n_currents, n_messages, front, stamp, n_ranges):
    """The run of ``size`` targets from ``first`` takes ``n_currents`` currents and
    ``n_messages`` messages: it joins the range listed for that run in this step, or becomes a
    new one. Returns the new number of ranges."""
    range_size = front.range_size
    r = front.range_slot[first]
    if not (front.range_mark[first] == stamp and range_size[r] == size):
        r = n_ranges
        n_ranges += 1
        front.range_mark[first] = stamp
        front.range_slot[first] = r
        front.range_first[r] = first
        range_size[r] = size
        front.range_currents[r] = 0
        front.range_messages[r] = 0
    front.range_currents[r] += n_currents
    front.range_messages[r] += n_messages
    return n_ranges


@nb.njit(cache=True, _nrt=False, inline="always")
def _reach(tgt, current, with_current, count_messages, state, front, stamp, next_base, n_next):
    """One message to ``tgt``: its current, its counts, and ``tgt`` listed once per step."""
    if with_current:
        state.x[tgt] += current
        state.currents[tgt] += 1
    if count_messages:
        state.new_messages[tgt] += 1
    return list_neuron(tgt, front, stamp, next_base, n_next)


@nb.njit(cache=True, _nrt=False, inline="always")
def list_neuron(n, front, stamp, next_base, n_next):
    """List neuron ``n`` for the next integration, once per step; returns the new count."""
    if front.marked[n] != stamp:
        front.marked[n] = stamp
        front.listed[next_base + n_next] = n
        n_next += 1
    return n_next


@nb.njit(cache=True, _nrt=False)
def _deliver_one_by_one(src, amplitude, with_current, count_messages, net, state, front, stamp,
                        next_base, n_next):
    """``src``'s immediate messages target by target, in increasing target order (the order
    in which they are listed decides the order of evaluation): per-synapse rows merged with
    the convolutions, each of which targets a layer of its own."""
    targets, weights = net.targets, net.weights
    j, end = net.fanout_start[src], net.fanout_start[src + 1]
    start_row, end_row = conv_rows(src, net)
    for p in range(start_row, end_row):
        if net.conv[p, DELAY] > 0:
            continue
        below = net.conv[p, TARGET_FIRST]
        while j < end and targets[j] < below:
            n_next = _reach(targets[j], weights[j] * amplitude, with_current, count_messages,
                            state, front, stamp, next_base, n_next)
            j += 1
        t0, t_co, t_y, t_x, w0, w_co, w_y, w_x, n_co, ny, nx = conv_window(net, p, src)
        for k in range(n_co):
            for m in range(ny):
                tgt = t0 + k * t_co + m * t_y
                w = w0 + k * w_co - m * w_y
                for _ in range(nx):
                    n_next = _reach(tgt, net.conv_weights[w] * amplitude, with_current,
                                    count_messages, state, front, stamp, next_base, n_next)
                    tgt += t_x
                    w -= w_x
    for jj in range(j, end):
        n_next = _reach(targets[jj], weights[jj] * amplitude, with_current, count_messages,
                        state, front, stamp, next_base, n_next)
    return n_next


@nb.njit(cache=True, _nrt=False)
def _conv_currents(src, amplitude, with_current, net, x):
    """Add ``src``'s immediate convolution currents to ``x`` (with ``with_current``); returns
    how many targets they reach (a source whose targets form one run)."""
    total = 0
    start_row, end_row = conv_rows(src, net)
    for p in range(start_row, end_row):
        if net.conv[p, DELAY] > 0:
            continue
        if with_current:
            total += add_conv_currents(net, p, src, amplitude, x)
        else:
            window = conv_window(net, p, src)
            total += window[8] * window[9] * window[10]
    return total


@nb.njit(cache=True, _nrt=False)
def deliver_delayed(src, amplitude, t, net, state):
    """Write ``src``'s delayed currents into the slots of the passes they arrive in."""
    slots = net.max_delay + 1
    future, targets, weights, delays = state.future, net.targets, net.weights, net.delays
    for j in range(net.delay_start[src], net.delay_start[src + 1]):
        future[(t + delays[j]) % slots, targets[j]] += weights[j] * amplitude
    start_row, end_row = conv_rows(src, net)
    for p in range(start_row, end_row):
        delay = net.conv[p, DELAY]
        if delay == 0:
            continue
        add_conv_currents(net, p, src, amplitude, future[(t + delay) % slots])


@nb.njit(cache=True, _nrt=False)
def forget_input_messages(src, net, state):
    """A queued input event: its immediate targets' message counts drop by one (they count
    again when the event is delivered)."""
    for j in range(net.fanout_start[src], net.fanout_start[src + 1]):
        state.messages[net.targets[j]] -= 1
    start_row, end_row = conv_rows(src, net)
    for p in range(start_row, end_row):
        if net.conv[p, DELAY] > 0:
            continue
        t0, t_co, t_y, t_x, w0, w_co, w_y, w_x, n_co, ny, nx = conv_window(net, p, src)
        for k in range(n_co):
            for m in range(ny):
                tgt = t0 + k * t_co + m * t_y
                for _ in range(nx):
                    state.messages[tgt] -= 1
                    tgt += t_x


@nb.njit(cache=True, _nrt=False, inline="always")
def deliver_selected(n_selected, sample, net, chip, settings, state, front, queue, work, out,
                     rec, at, rng):
    """Deliver the ``n_selected`` spikes in ``queue.selected`` (in source order, so that the
    summed currents do not depend on how the pending pool happens to be arranged), applying
    network dropout, and count SOPs, routes and hops."""
    selected = queue.selected
    counters = out.counters
    n_neurons = state.u.shape[0]
    if n_selected > 1:
        sort_ints(selected, n_selected)
    counters[sample, TRACE_SELECTION_LENGTH] += 1 + n_selected
    sel_at = at[SELECTION_AT]
    # a sample that outgrows its part of the stream stops writing (its positions still advance
    # and the counters still count): the caller runs it again with the room it needed
    write = rec.enabled and sel_at + 1 + n_selected <= rec.limits[sample, 0]
    if rec.enabled:
        if write:
            rec.selection[sel_at] = n_selected
        sel_at += 1
    stamp, next_base = at[STAMP], at[NEXT_BASE]
    n_next, n_ranges = at[N_NEXT], at[N_RANGES]
    track_cores = chip.n_cores > 0
    for k in range(n_selected):
        src = selected[k]
        # the paper code's queue entries carry a spike count (compat="asynctorch")
        count = 1
        if settings.compat == COMPAT_ASYNCTORCH and src < n_neurons:
            count = state.queued[src]
            state.queued[src] = 0
        if settings.network_dropout > 0.0 and src < n_neurons:
            if uniform(rng) < settings.network_dropout:
                counters[sample, DROPPED_BY_NETWORK_DROPOUT] += 1
                if rec.enabled:
                    if write:
                        rec.selection[sel_at] = -(src + 1)
                    sel_at += 1
                continue
        if rec.enabled:
            if write:
                rec.selection[sel_at] = src
            sel_at += 1
        fanout = net.fanout[src]
        amplitude = 1.0
        if src < n_neurons:
            amplitude = float(count)
            counters[sample, SOPS] += fanout
            counters[sample, EFFECTIVE_SOPS] += net.nonzero_fanout[src]
            counters[sample, DELIVERED_SPIKES] += count
        else:
            c = state.input_count[src - n_neurons]
            amplitude = float(c)
            counters[sample, INPUT_SOPS] += c * fanout
            counters[sample, EFFECTIVE_SOPS] += c * net.nonzero_fanout[src]
            counters[sample, DELIVERED_INPUT_EVENTS] += 1
        at[DELIVERED_THIS_PASS] += 1
        if track_cores:
            for e in range(chip.route_start[src], chip.route_start[src + 1]):
                work.sops[chip.route_core[e]] += chip.route_synapses[e]
                counters[sample, ROUTED_SPIKES] += 1
                counters[sample, HOPS] += chip.route_hops[e]
                if chip.route_hops[e] > at[MAX_ROUTE_HOPS]:
                    at[MAX_ROUTE_HOPS] = chip.route_hops[e]
        n_next, n_ranges = deliver_source(
            src, amplitude, True, settings.sync_in_use, net, state, front, stamp, next_base,
            n_next, n_ranges)
        if net.max_delay > 0:
            deliver_delayed(src, amplitude, at[PASS], net, state)
    at[SELECTION_AT] = sel_at
    at[N_NEXT] = n_next
    at[N_RANGES] = n_ranges
