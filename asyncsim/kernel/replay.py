"""Differentiable replay of a recorded schedule, compiled: forward replay and event-based reverse
pass of one sample (the semantics and choices are documented in :mod:`asyncsim.gradient`).

The forward replay re-runs the recorded selection with the given weights and logs, in
chronological order, every firing event, every evaluation that did not fire but carries
gradient (outputs; hidden neurons with ``silent_hidden``) and every delivery. The reverse pass
walks these logs backwards keeping one adjoint per membrane: its time and memory follow the
number of delivered currents and events, not forward steps x neurons.

As in the simulation kernel, :func:`replay_sample` allocates and everything below it runs
without reference counting. Errors come back as status codes (:mod:`.codes`), never through the
loss.
"""

from __future__ import annotations

from collections import namedtuple

import numba as nb
import numpy as np

from .codes import NEEDS_ROOM, OK, TRACE_MISMATCH
from .conv import DELAY, TARGET_FIRST, add_conv_currents, conv_rows, conv_window
from .deliver import deliver_delayed
from .drive import add_input_gradient
from .passes import pass_start_drive

ReplayTrace = namedtuple("ReplayTrace", (
    "inputs",         # (S, T, N_in) uint8 spike counts
    "steps",          # (S, T) int64 forward steps of each recorded pass
    "selection",      # int64 recorded selection stream (see asyncsim.trace)
    "exemptions",     # (E, 3) int64 this sample's (timestep, step, neuron), in that order
    "survivors",      # (I, 3) int64 this sample's (timestep, feature, surviving count)
    "use_survivors",  # bool: input dropout was on (survivors replace the inputs)
    "drive",          # the inputs' summed currents (.drive.InputDrive), or none
    "input_adjoint",  # (S x T, run size) with a drive: dloss / d(the run's input current)
                      # in pass t of sample s (row s x T + t)
))

RecordedBatch = namedtuple("RecordedBatch", (
    "inputs", "steps", "selection", "selection_offsets",  # as in ReplayTrace and the trace
    "exemptions", "exemption_at",  # every sample's rows, sample s's from exemption_at[s]
    "survivors", "survivor_at",    # the same for input survivors
    "use_survivors",
))

LossSpec = namedtuple("LossSpec", (
    "labels",         # (S,) int64 class indices; < 0: start from ``upstream``
    "upstream",       # (S, outputs) float64 dloss/dcounts (or membranes) of any loss
    "alpha",          # float: steepness of the arctan surrogate
    "silent_hidden",  # bool: hidden neurons below threshold pass gradient too
    "n_samples",      # int: the cross-entropy is a mean over this many samples
    "detach_reset",   # bool: no gradient through the reset's dependence on the spike
    "membrane",       # bool: ``upstream`` is dloss / d(output membranes after the last pass)
))

EventLog = namedtuple("EventLog", (
    "ev_neuron", "ev_pass", "ev_step", "ev_upre",  # firing events
    "ev_next",        # next pending event of the same neuron (-1: none)
    "sl_neuron", "sl_pass", "sl_step", "sl_u",     # evaluations that did not fire
    "dl_event", "dl_pass", "dl_step",              # deliveries (of firing events)
    "frozen_from",    # (T, N) forward step from which a neuron is refractory in a pass
                      # (-1: held at zero for the whole pass)
    "input_at",       # (T + 1,) pass t's active input features are entries
                      # input_at[t]:input_at[t + 1] of ...
    "input_feature",  # ... the features (in increasing order) and ...
    "input_count",    # ... their counts, as delivered (after input dropout)
    "sizes",          # [events, silent evaluations, deliveries]
))

ReplayState = namedtuple("ReplayState", (
    "u", "x",
    "touched",        # == stamp: listed on its own for the next evaluation (or evaluated)
    "listed",
    "exempt_at",      # == stamp: exempt from refractoriness in this step
    "head", "tail",   # per neuron: its oldest and newest pending event
    "syn",            # synaptic current (current-based synapses)
    "held",           # held at zero through the next pass (zero_hold reset)
    "future",         # (max_delay + 1, N) delayed currents by arrival pass
    "run_stamp",      # == stamp: the run of targets starting at this neuron is listed ...
    "run_size",       # ... up to this size (a run sent again in one step is not listed again)
    "run_first",      # runs of targets listed for the next evaluation: first neurons ...
    "run_length",     # ... and lengths
    "candidate",      # (N,) uint8 scratch: a run's neurons that fire or log a silent evaluation
    "at",             # [stamp, listed count, selection position, exemption row, survivor row,
                      #  listed runs]
))
_STAMP, _N_LISTED, _SELECTION, _EXEMPTION, _SURVIVOR, _N_RUNS = range(6)
_EVENTS, _SILENT, _DELIVERIES = range(3)

Adjoints = namedtuple("Adjoints", (
    "lam",            # (N,) adjoint of each membrane
    "mu",             # (N,) adjoint of each synaptic current (constant within a pass)
    "ev_ds",          # dloss / d(spike value) of each firing event
    "sl_ds",          # the same for each silent evaluation
    "dcount",         # (outputs,) dloss / dcounts
    "position",       # reverse cursors: [delivery, event, silent evaluation], step stamp
    "arrival",        # (T, N) dloss / d(current arriving at the start of pass t)
    "dbias",          # (N,) dloss / dbias
    "at_start",       # (N,) scratch: dloss / d(a current integrated at step 0 of the pass)
    "at_next",        # (N,) scratch: the same at the step after the one being reversed ...
    "next_stamp",     # ... valid for the run from neuron n where next_stamp[n] == the step's
    "next_size",      #     stamp (position[3]), up to next_size[n] neurons
    "plain",          # scratch: the step's deliveries through one run only (their events)
))


@nb.njit(cache=True)
def replay_sample(s, net, trace, spec, selection_start, capacity, out_counts, dweights, dbias,
                  losses):
    """Forward replay and reverse pass of sample ``s``: adds its gradient to ``dweights``,
    writes its loss to ``losses[s]`` and its output counts to ``out_counts[s]``. Returns
    :data:`OK`, :data:`NEEDS_ROOM` (more than ``capacity`` events: call again with more) or
    :data:`TRACE_MISMATCH`. Bias gradients are added to ``dbias``."""
    n, n_inputs = net.layer_of.shape[0], trace.inputs.shape[2]
    n_steps_total = trace.steps.shape[1]
    log = EventLog(
        np.empty(capacity, np.int64), np.empty(capacity, np.int64),
        np.empty(capacity, np.int64), np.empty(capacity), np.full(capacity, -1, np.int64),
        np.empty(capacity, np.int64), np.empty(capacity, np.int64),
        np.empty(capacity, np.int64), np.empty(capacity),
        np.empty(capacity, np.int64), np.empty(capacity, np.int64),
        np.empty(capacity, np.int64),
        np.full((n_steps_total, n), 1 << 40, np.int64),
        np.zeros(n_steps_total + 1, np.int64), np.empty(n_steps_total * n_inputs, np.int64),
        np.empty(n_steps_total * n_inputs, np.int64), np.zeros(3, np.int64))
    # a step lists at most one run per source sent (every neuron and input feature)
    n_sources = net.fanout_start.shape[0] - 1
    st = ReplayState(np.zeros(n), np.zeros(n), np.zeros(n, np.int64), np.empty(n, np.int64),
                     np.zeros(n, np.int64), np.full(n, -1, np.int64),
                     np.full(n, -1, np.int64), np.zeros(n), np.zeros(n, np.uint8),
                     np.zeros((net.max_delay + 1, n if net.max_delay > 0 else 0)),
                     np.zeros(n, np.int64), np.zeros(n, np.int64),
                     np.empty(n_sources, np.int64), np.empty(n_sources, np.int64),
                     np.zeros(n, np.uint8), np.zeros(6, np.int64))
    st.at[_STAMP] = 1
    st.at[_SELECTION] = selection_start
    adj = Adjoints(np.zeros(n), np.zeros(n), np.zeros(capacity), np.zeros(capacity),
                   np.empty(out_counts.shape[1]), np.zeros(4, np.int64),
                   np.zeros((n_steps_total, n if net.max_delay > 0 else 0)), dbias,
                   np.zeros(n), np.zeros(n), np.zeros(n, np.int64), np.zeros(n, np.int64),
                   np.empty(capacity, np.int64))
    return _replay(s, net, trace, spec, log, st, adj, out_counts, dweights, losses)


@nb.njit(cache=True, parallel=True)
def replay_batch(net, batch, drive, input_adjoint, spec, extra_room, out_counts, dweights, dbias,
                 losses, status):
    """Replay every sample of ``batch`` (:data:`RecordedBatch`; ``drive`` and
    ``input_adjoint`` as in :data:`ReplayTrace`): block ``k`` of
    ``dweights.shape[0]`` contiguous blocks of samples is replayed in sample order and adds
    its gradients to ``dweights[k]`` and ``dbias[k]``, so that the sum over blocks in block
    order does not depend on which thread ran which block (one block: the sample order of a
    plain loop). ``status[s]`` is :data:`OK` or :data:`TRACE_MISMATCH`."""
    n_samples = batch.inputs.shape[0]
    n_blocks = dweights.shape[0]
    offsets = batch.selection_offsets
    for k in nb.prange(n_blocks):
        lo, hi = k * n_samples // n_blocks, (k + 1) * n_samples // n_blocks
        for s in range(lo, hi):
            recorded = _sample_trace(batch, drive, input_adjoint, s)
            capacity = offsets[s + 1] - offsets[s] + extra_room
            while True:
                out_counts[s, :] = 0
                # gradients are added only by the reverse pass, after a forward replay that
                # succeeded: a retry with more room has nothing to undo
                code = replay_sample(s, net, recorded, spec, offsets[s], capacity,
                                     out_counts, dweights[k], dbias[k], losses)
                if code != NEEDS_ROOM:
                    break
                capacity *= 2
            status[s] = code
        if drive.enabled:
            add_input_gradient(drive, input_adjoint, lo, hi,
                               net.fanout_start[net.layer_of.shape[0]:], dweights[k])


@nb.njit(cache=True)
def _sample_trace(batch, drive, input_adjoint, s):
    """Sample ``s``'s part of a recorded batch. (A named tuple holding another one may not be
    passed to the worker of Numba's parallel loop: ``drive`` stays apart.)"""
    return ReplayTrace(
        batch.inputs, batch.steps, batch.selection,
        batch.exemptions[batch.exemption_at[s]:batch.exemption_at[s + 1]],
        batch.survivors[batch.survivor_at[s]:batch.survivor_at[s + 1]],
        batch.use_survivors, drive, input_adjoint)


@nb.njit(cache=True, _nrt=False)
def _replay(s, net, trace, spec, log, st, adj, out_counts, dweights, losses):
    status = _forward(s, net, trace, spec, log, st, out_counts)
    if status != OK:
        return status
    dcount = adj.dcount
    if spec.membrane:
        # the reverse walk starts after the last pass, where the loss reads the membranes
        for k in range(dcount.shape[0]):
            dcount[k] = 0.0
            adj.lam[net.output_offset + k] = spec.upstream[s, k]
        losses[s] = 0.0
    elif spec.labels[s] < 0:
        for k in range(dcount.shape[0]):
            dcount[k] = spec.upstream[s, k]
        losses[s] = 0.0
    else:
        losses[s] = _cross_entropy(out_counts[s], spec.labels[s], spec.n_samples, dcount)
    _reverse(s, net, trace, spec, log, adj, dweights)
    return OK


# --------------------------------------------------------------------------------------------
# Forward replay


@nb.njit(cache=True, _nrt=False)
def _forward(s, net, trace, spec, log, st, out_counts):
    for t in range(trace.steps.shape[1]):
        _start_pass(s, t, net, trace, log, st)
        n_steps = trace.steps[s, t]
        for i in range(n_steps):
            status = _evaluate(s, t, i, net, spec, log, st, trace.exemptions, out_counts)
            if status != OK:
                return status
            if i == n_steps - 1:
                break  # the last step of a pass only evaluates
            status = _deliver_recorded(t, i, net, trace.selection, log, st)
            if status != OK:
                return status
    return OK


@nb.njit(cache=True, _nrt=False, inline="always")
def _list(st, tgt, stamp):
    if st.touched[tgt] != stamp:
        st.touched[tgt] = stamp
        st.listed[st.at[_N_LISTED]] = tgt
        st.at[_N_LISTED] += 1


@nb.njit(cache=True, _nrt=False)
def _start_pass(s, t, net, trace, log, st):
    """Decay, fresh pass state, and the input currents of pass ``t`` (aggregated input)."""
    u, x, decay = st.u, st.x, net.decay
    for n in range(u.shape[0]):
        u[n] *= decay[n]
        x[n] = 0.0
        st.head[n] = -1
        st.tail[n] = -1
    st.at[_STAMP] += 1
    st.at[_N_LISTED] = 0
    st.at[_N_RUNS] = 0
    stamp = st.at[_STAMP]
    if net.pass_start:
        _pass_start_currents(t, net, log, st, stamp)
    if net.max_delay > 0:
        future = st.future[t % (net.max_delay + 1)]
        for n in range(u.shape[0]):
            if future[n] != 0.0:
                x[n] += future[n]
                future[n] = 0.0
                _list(st, n, stamp)
    if trace.drive.enabled:
        _add_drive(s, t, trace.drive, st, stamp)
        return
    first, end = _list_active_inputs(s, t, trace, log, st)
    n_neurons = u.shape[0]
    for k in range(first, end):
        src = n_neurons + log.input_feature[k]
        c = log.input_count[k]
        _send(src, float(c), net, st, stamp)
        if net.max_delay > 0:
            deliver_delayed(src, c, t, net, st)


@nb.njit(cache=True, _nrt=False, inline="always")
def _add_drive(s, t, drive, st, stamp):
    """Pass ``t``'s input as its summed current (:mod:`.drive`), its run listed."""
    if drive.sources[s, t] == 0:
        return
    x, current = st.x, drive.currents[s, t]
    first = np.uint64(drive.first)
    for i in range(np.uint64(current.shape[0])):
        x[first + i] += current[i]
    _list_run(drive.first, current.shape[0], st, stamp)


@nb.njit(cache=True, _nrt=False, inline="always")
def _list_active_inputs(s, t, trace, log, st):
    """Log pass ``t``'s active input features (those delivering at least one spike) in
    increasing order; returns where they are in the log."""
    features, counts = log.input_feature, log.input_count
    first = log.input_at[t]
    end = first
    if trace.use_survivors:
        sv = st.at[_SURVIVOR]
        while sv < trace.survivors.shape[0] and trace.survivors[sv, 0] == t:
            if trace.survivors[sv, 2] > 0:
                features[end] = trace.survivors[sv, 1]
                counts[end] = trace.survivors[sv, 2]
                end += 1
            sv += 1
        st.at[_SURVIVOR] = sv
    else:
        frame = trace.inputs[s, t]
        for f in range(frame.shape[0]):
            features[end] = f  # branch-free: a branch per feature mispredicts
            end += frame[f] != 0
        for k in range(first, end):
            counts[k] = frame[features[k]]
    log.input_at[t + 1] = end
    return first, end


@nb.njit(cache=True, _nrt=False, inline="always")
def _send(src, amplitude, net, st, stamp):
    """``src``'s immediate currents, scaled by ``amplitude``, and its targets listed for the
    next evaluation: a contiguous run of targets (every dense projection) is added in one loop
    that the compiler vectorizes and listed as a run; other targets one by one, per-synapse
    rows merged with the convolutions (each targets a layer of its own)."""
    start, end = net.fanout_start[src], net.fanout_start[src + 1]
    first = net.target_first[src]
    x = st.x
    conv_first, conv_end = conv_rows(src, net)
    if first >= 0:
        ufirst, ustart = np.uint64(first), np.uint64(start)
        for k in range(np.uint64(end - start)):
            x[ufirst + k] += net.weights[ustart + k] * amplitude
        size = end - start
        for p in range(conv_first, conv_end):
            if net.conv[p, DELAY] == 0:
                size += _send_conv(p, src, amplitude, net, st, stamp, False)
        _list_run(first, size, st, stamp)
    else:
        j = start
        for p in range(conv_first, conv_end):
            if net.conv[p, DELAY] > 0:
                continue
            while j < end and net.targets[j] < net.conv[p, TARGET_FIRST]:
                x[net.targets[j]] += net.weights[j] * amplitude
                _list(st, net.targets[j], stamp)
                j += 1
            _send_conv(p, src, amplitude, net, st, stamp, True)
        for jj in range(j, end):
            tgt = net.targets[jj]
            x[tgt] += net.weights[jj] * amplitude
            _list(st, tgt, stamp)


@nb.njit(cache=True, _nrt=False, inline="always")
def _list_run(first, size, st, stamp):
    """List the run of ``size`` targets from ``first`` for the next evaluation, unless it is
    listed already (many sources share a run)."""
    if st.run_stamp[first] == stamp and st.run_size[first] >= size:
        return
    st.run_stamp[first] = stamp
    st.run_size[first] = size
    r = st.at[_N_RUNS]
    st.run_first[r] = first
    st.run_length[r] = size
    st.at[_N_RUNS] = r + 1


@nb.njit(cache=True, _nrt=False, inline="always")
def _send_conv(p, src, amplitude, net, st, stamp, listing):
    """``src``'s currents through convolution ``p`` (targets listed with ``listing``); returns
    how many targets they reach."""
    if not listing:
        return add_conv_currents(net, p, src, amplitude, st.x)
    t0, t_co, t_y, t_x, w0, w_co, w_y, w_x, n_co, ny, nx = conv_window(net, p, src)
    for k in range(n_co):
        for m in range(ny):
            tgt = t0 + k * t_co + m * t_y
            w = w0 + k * w_co - m * w_y
            for _ in range(nx):
                st.x[tgt] += net.conv_weights[w] * amplitude
                _list(st, tgt, stamp)
                tgt += t_x
                w -= w_x
    return n_co * ny * nx


@nb.njit(cache=True, _nrt=False)
def _pass_start_currents(t, net, log, st, stamp):
    """As the kernel: bias, or decayed synaptic current plus bias, enters each membrane; a
    neuron held after a zero_hold reset is frozen for the whole pass (step -1 on)."""
    u, syn, held = st.u, st.syn, st.held
    for n in range(u.shape[0]):
        add = pass_start_drive(n, net, syn)
        if held[n]:
            log.frozen_from[t, n] = -1
            held[n] = 0
        elif add != 0.0:
            u[n] += add
            _list(st, n, stamp)


@nb.njit(cache=True, _nrt=False)
def _evaluate(s, t, i, net, spec, log, st, exemptions, out_counts):
    """Forward step ``i`` of pass ``t``: integrate and evaluate the listed neurons (those
    listed on their own, then the listed runs), logging firing events and the silent
    evaluations that carry gradient. Within a step the order of evaluation changes no value:
    each neuron is evaluated once and its log entries concern it alone."""
    ex = st.at[_EXEMPTION]
    while ex < exemptions.shape[0] and exemptions[ex, 0] == t and exemptions[ex, 1] == i:
        st.exempt_at[exemptions[ex, 2]] = st.at[_STAMP]
        ex += 1
    st.at[_EXEMPTION] = ex
    n_now, n_runs = st.at[_N_LISTED], st.at[_N_RUNS]
    listing = st.at[_STAMP]
    st.at[_STAMP] += 1
    st.at[_N_LISTED] = 0
    st.at[_N_RUNS] = 0
    stamp = st.at[_STAMP]
    u, x, threshold = st.u, st.x, net.threshold
    frozen_from = log.frozen_from[t]
    for k in range(n_now):
        # unsigned index and locals: no negative-index fix-ups, no reloads after stores
        n = np.uint64(st.listed[k])
        xn = x[n]
        x[n] = 0.0
        if net.any_current:
            st.syn[n] += xn
        if frozen_from[n] < i:
            continue
        un = u[n] + xn
        u[n] = un
        if un > threshold[n] or net.is_output[n] or spec.silent_hidden:
            status = _settle(s, t, i, n, net, log, st, stamp, out_counts)
            if status != OK:
                return status
    for r in range(n_runs):
        status = _evaluate_run(s, t, i, st.run_first[r], st.run_length[r], listing, net, spec,
                               log, st, stamp, out_counts)
        if status != OK:
            return status
    return OK


@nb.njit(cache=True, _nrt=False, inline="always")
def _evaluate_run(s, t, i, first, length, listing, net, spec, log, st, stamp, out_counts):
    """Neurons ``first .. first + length - 1`` not evaluated yet in this step (``touched``
    is ``listing`` for those that were): integrate them in one branch-free loop that the
    compiler vectorizes, marking those that fire or log a silent evaluation, then settle
    those. A branch per neuron on refractoriness mispredicted about every other time once
    half a layer had fired."""
    u, x, touched, candidate = st.u, st.x, st.touched, st.candidate
    threshold, frozen_from = net.threshold, log.frozen_from[t]
    silent_hidden = spec.silent_hidden
    ufirst = np.uint64(first)
    end = ufirst + np.uint64(length)
    n_candidates = 0
    for n in range(ufirst, end):
        fresh = touched[n] != listing
        touched[n] = listing
        xn = x[n]
        x[n] = 0.0  # already zero if evaluated before in this step
        if net.any_current:
            st.syn[n] = st.syn[n] + xn if fresh else st.syn[n]
        live = fresh & (frozen_from[n] >= i)
        un = u[n] + xn
        u[n] = un if live else u[n]
        c = live & ((un > threshold[n]) | (net.is_output[n] != 0) | silent_hidden)
        candidate[n] = c
        n_candidates += c
    found = 0
    for n in range(ufirst, end):
        if found == n_candidates:
            break
        if candidate[n]:
            candidate[n] = 0
            found += 1
            status = _settle(s, t, i, n, net, log, st, stamp, out_counts)
            if status != OK:
                return status
    return OK


@nb.njit(cache=True, _nrt=False, inline="always")
def _settle(s, t, i, n, net, log, st, stamp, out_counts):
    """Neuron ``n`` has integrated (to ``st.u[n]``) at step ``i`` of pass ``t``: it fires
    above threshold, else its evaluation is logged as silent (the caller asks only for
    outputs, or every neuron with ``silent_hidden``)."""
    un = st.u[n]
    capacity = log.ev_neuron.shape[0]
    if un > net.threshold[n]:
        e = log.sizes[_EVENTS]
        if e == capacity:
            return NEEDS_ROOM
        log.sizes[_EVENTS] = e + 1
        _log_event(s, t, i, np.int64(n), e, net, log, st, stamp, out_counts)
    elif un <= net.threshold[n]:  # a NaN membrane neither fires nor logs
        q = log.sizes[_SILENT]
        if q == capacity:
            return NEEDS_ROOM
        log.sl_neuron[q] = np.int64(n)
        log.sl_pass[q] = t
        log.sl_step[q] = i
        log.sl_u[q] = un
        log.sizes[_SILENT] = q + 1
    return OK


@nb.njit(cache=True, _nrt=False, inline="always")
def _log_event(s, t, i, n, e, net, log, st, stamp, out_counts):
    """Neuron ``n`` fires (event ``e``): log it, reset, freeze (unless exempt), and count it
    as output or add it to the neuron's pending events."""
    u = st.u
    log.ev_neuron[e] = n
    log.ev_pass[e] = t
    log.ev_step[e] = i
    log.ev_upre[e] = u[n]
    log.ev_next[e] = -1
    if net.soft_reset[n]:
        u[n] -= net.reset_amount[n]
    else:
        u[n] = 0.0
        if net.hold[n]:
            st.held[n] = 1
    exempt = st.exempt_at[n] == stamp - 1
    if net.refractory[n] and not exempt and log.frozen_from[t, n] > i:
        log.frozen_from[t, n] = i
    if net.is_output[n]:
        out_counts[s, n - net.output_offset] += 1
    elif st.tail[n] < 0:
        st.head[n] = e
        st.tail[n] = e
    else:
        log.ev_next[st.tail[n]] = e
        st.tail[n] = e


@nb.njit(cache=True, _nrt=False, inline="always")
def _deliver_recorded(t, i, net, selection, log, st):
    """Deliver the selection recorded for step ``i`` of pass ``t``: each entry takes its
    neuron's oldest pending event (a dropped entry only removes it)."""
    at = st.at[_SELECTION]
    k = selection[at]
    at += 1
    stamp = st.at[_STAMP]
    capacity = log.dl_event.shape[0]
    for _ in range(k):
        entry = selection[at]
        at += 1
        src = entry if entry >= 0 else -entry - 1
        e = st.head[src]
        if e < 0:
            return TRACE_MISMATCH  # the trace does not belong to these weights and inputs
        st.head[src] = log.ev_next[e]
        if st.head[src] < 0:
            st.tail[src] = -1
        if entry < 0:
            continue  # removed by network dropout
        d = log.sizes[_DELIVERIES]
        if d == capacity:
            return NEEDS_ROOM
        log.dl_event[d] = e
        log.dl_pass[d] = t
        log.dl_step[d] = i
        log.sizes[_DELIVERIES] = d + 1
        _send(src, 1.0, net, st, stamp)
        if net.max_delay > 0:
            deliver_delayed(src, 1.0, t, net, st)
    st.at[_SELECTION] = at
    return OK


# --------------------------------------------------------------------------------------------
# Loss and reverse pass


@nb.njit(cache=True, _nrt=False, inline="always")
def _surrogate(v, alpha):
    a = np.pi * alpha * v / 2.0
    return (alpha / 2.0) / (1.0 + a * a)


@nb.njit(cache=True, _nrt=False)
def _cross_entropy(counts, y, n_samples, dcount):
    """Cross-entropy of softmax(counts) for class ``y``; writes dloss/dcounts / n_samples."""
    n_out = counts.shape[0]
    top = counts[0]
    for k in range(n_out):
        top = max(top, counts[k])
    total = 0.0
    for k in range(n_out):
        total += np.exp(counts[k] - top)
    for k in range(n_out):
        dcount[k] = (np.exp(counts[k] - top) / total - (1.0 if k == y else 0.0)) / n_samples
    return -(counts[y] - top - np.log(total))


@nb.njit(cache=True, _nrt=False)
def _reverse(s, net, trace, spec, log, adj, dweights):
    """Walk the logs backwards, pass by pass and step by step. The per-step functions are
    inlined: at F = 1 there are thousands of steps per sample, and passing the network, log
    and adjoint tuples to a compiled function costs hundreds of pushes per call."""
    for e in range(log.sizes[_EVENTS]):
        n = log.ev_neuron[e]
        if net.is_output[n]:
            adj.ev_ds[e] = adj.dcount[n - net.output_offset]
    pos = adj.position
    pos[0] = log.sizes[_DELIVERIES] - 1
    pos[1] = log.sizes[_EVENTS] - 1
    pos[2] = log.sizes[_SILENT] - 1
    n_passes = trace.steps.shape[1]
    for t in range(n_passes - 1, -1, -1):
        n_steps = trace.steps[s, t]
        for i in range(n_steps - 1, -1, -1):
            _reverse_silent_deliveries(t, i, i == n_steps - 1, net, log, adj)
            _reverse_deliveries(t, i, net, log, adj, dweights)
            _reverse_events(t, i, net, spec, log, adj)
            _reverse_silent(t, i, net, spec, log, adj)
        _reverse_inputs(s, t, net, trace, log, adj, dweights)
        _reverse_pass_start(t, net, log, adj)


@nb.njit(cache=True, _nrt=False, inline="always")
def _current_adjoint(t, step, tgt, net, log, adj):
    """dloss / d(a current that ``tgt`` integrates at forward step ``step`` of pass ``t``):
    through the membrane unless it is refractory by then, and through the synaptic current."""
    g = adj.lam[tgt] if step <= log.frozen_from[t, tgt] else 0.0
    if net.is_current[tgt]:
        g += adj.mu[tgt]
    return g


@nb.njit(cache=True, _nrt=False, inline="always")
def _delayed_adjoint(t, j, net, adj):
    """The same for delayed synapse ``j`` sent in pass ``t`` (its current arrives later)."""
    arrival = t + net.delays[j]
    return adj.arrival[arrival, net.targets[j]] if arrival < adj.arrival.shape[0] else 0.0


@nb.njit(cache=True, _nrt=False, inline="always")
def _conv_reverse(src, t, step, scale, accumulate, net, log, adj, dweights):
    """Through ``src``'s convolution synapses sent in pass ``t``: returns the sum of weight x
    adjoint of the current each carries (integrated at forward step ``step``, or arriving in a
    later pass); with ``accumulate``, adds ``scale`` x that adjoint to the gradient of its
    kernel weight (which follows the per-synapse rows in ``dweights``)."""
    total = 0.0
    base = net.weights.shape[0]
    conv_first, conv_end = conv_rows(src, net)
    for p in range(conv_first, conv_end):
        delay = net.conv[p, DELAY]
        arrival = t + delay
        if delay > 0 and arrival >= adj.arrival.shape[0]:
            continue  # arrives after the last pass: no gradient
        t0, t_co, t_y, t_x, w0, w_co, w_y, w_x, n_co, ny, nx = conv_window(net, p, src)
        for k in range(n_co):
            for m in range(ny):
                tgt = t0 + k * t_co + m * t_y
                w = w0 + k * w_co - m * w_y
                for _ in range(nx):
                    if delay == 0:
                        g = _current_adjoint(t, step, tgt, net, log, adj)
                    else:
                        g = adj.arrival[arrival, tgt]
                    total += net.conv_weights[w] * g
                    if accumulate:
                        dweights[base + w] += scale * g
                    tgt += t_x
                    w -= w_x
    return total


@nb.njit(cache=True, _nrt=False)
def _reverse_inputs(s, t, net, trace, log, adj, dweights):
    """Input currents integrated at step 0 (immediate) or arriving later (delayed). Every
    input synapse of a target shares its step-0 adjoint, computed once per pass; contiguous
    targets (dense projections) then take one vectorized loop per feature. With a drive
    (:mod:`.drive`) the adjoints are kept for :func:`.drive.add_input_gradient`."""
    if trace.drive.enabled:
        row, first = s * trace.steps.shape[1] + t, trace.drive.first
        for i in range(trace.input_adjoint.shape[1]):
            trace.input_adjoint[row, i] = _current_adjoint(t, 0, first + i, net, log, adj)
        return
    n_neurons = adj.lam.shape[0]
    at_start = adj.at_start
    for n in range(n_neurons):
        if net.input_fanin[n] > 0:
            at_start[n] = _current_adjoint(t, 0, n, net, log, adj)
    for a in range(log.input_at[t], log.input_at[t + 1]):
        c = log.input_count[a]
        src = n_neurons + log.input_feature[a]
        start, end = net.fanout_start[src], net.fanout_start[src + 1]
        first = net.target_first[src]
        if first >= 0:
            ufirst, ustart = np.uint64(first), np.uint64(start)
            for k in range(np.uint64(end - start)):
                dweights[ustart + k] += c * at_start[ufirst + k]
        else:
            for j in range(start, end):
                dweights[j] += c * at_start[net.targets[j]]
        for j in range(net.delay_start[src], net.delay_start[src + 1]):
            dweights[j] += c * _delayed_adjoint(t, j, net, adj)
        _conv_reverse(src, t, 0, float(c), True, net, log, adj, dweights)


@nb.njit(cache=True, _nrt=False)
def _reverse_pass_start(t, net, log, adj):
    """Back through the start of pass ``t``: delayed arrivals (recorded for their senders),
    the bias and carried synaptic current added to the membrane, and the decay."""
    lam, mu = adj.lam, adj.mu
    for n in range(lam.shape[0]):
        held = log.frozen_from[t, n] < 0
        if net.max_delay > 0:
            adj.arrival[t, n] = _current_adjoint(t, 0, n, net, log, adj)
        if net.is_current[n]:
            mu_start = mu[n] + (0.0 if held else lam[n])
            adj.dbias[n] += mu_start
            mu[n] = net.syn_decay[n] * mu_start
        elif not held:
            adj.dbias[n] += lam[n]
        lam[n] *= net.decay[n]


@nb.njit(cache=True, _nrt=False, inline="always")
def _reverse_silent_deliveries(t, i, last_step, net, log, adj):
    """dloss/ds of the silent evaluations of step ``i``: an output's zero spike adds to its
    count; a hidden one (``silent_hidden``) is integrated by its targets at the next step."""
    r = adj.position[2]
    while r >= 0 and log.sl_pass[r] == t and log.sl_step[r] == i:
        n = log.sl_neuron[r]
        if net.is_output[n]:
            adj.sl_ds[r] = adj.dcount[n - net.output_offset]
        elif not last_step:
            for j in range(net.fanout_start[n], net.fanout_start[n + 1]):
                adj.sl_ds[r] += net.weights[j] * _current_adjoint(t, i + 1, net.targets[j],
                                                                 net, log, adj)
            for j in range(net.delay_start[n], net.delay_start[n + 1]):
                adj.sl_ds[r] += net.weights[j] * _delayed_adjoint(t, j, net, adj)
            adj.sl_ds[r] += _conv_reverse(n, t, i + 1, 0.0, False, net, log, adj, adj.sl_ds)
        r -= 1


@nb.njit(cache=True, _nrt=False, inline="always")
def _reverse_deliveries(t, i, net, log, adj, dweights):
    """Deliveries of step ``i``: weight gradients and dloss/ds of the delivered events.

    Where a step has several deliveries through one run of targets only (dense projections,
    no delays or convolutions), they read the same adjoints of the next step's currents:
    these are computed once per run, in one vectorized loop, and the dot products of up to
    four deliveries of the same size share one loop (each still sums in target order, so the
    values are those of one delivery at a time). A lone delivery keeps its one fused loop,
    which is faster on its own."""
    d = adj.position[0]
    end, n_plain = d, 0
    while end >= 0 and log.dl_pass[end] == t and log.dl_step[end] == i:
        n_plain += _is_plain(log.ev_neuron[log.dl_event[end]], net)
        end -= 1
    adj.position[0] = end
    if n_plain < 2:
        for dd in range(d, end, -1):
            e = log.dl_event[dd]
            adj.ev_ds[e] += _reverse_delivery(log.ev_neuron[e], t, i, net, log, adj, dweights)
        return
    adj.position[3] += 1
    stamp = adj.position[3]
    n_plain = 0
    for dd in range(d, end, -1):
        e = log.dl_event[dd]
        src = log.ev_neuron[e]
        if _is_plain(src, net):
            first = net.target_first[src]
            size = net.fanout_start[src + 1] - net.fanout_start[src]
            _next_adjoints(t, i + 1, first, size, stamp, net, log, adj)
            ufirst, ustart = np.uint64(first), np.uint64(net.fanout_start[src])
            for k in range(np.uint64(size)):
                dweights[ustart + k] += adj.at_next[ufirst + k]
            adj.plain[n_plain] = e
            n_plain += 1
        else:
            adj.ev_ds[e] += _reverse_delivery(src, t, i, net, log, adj, dweights)
    _plain_dots(n_plain, net, log, adj)


@nb.njit(cache=True, _nrt=False, inline="always")
def _is_plain(src, net):
    """``src`` reaches one run of targets and nothing else (no delays, no convolutions)."""
    conv_first, conv_end = conv_rows(src, net)
    return net.target_first[src] >= 0 and conv_first == conv_end \
        and net.delay_start[src] == net.delay_start[src + 1]


@nb.njit(cache=True, _nrt=False, inline="always")
def _next_adjoints(t, step, first, size, stamp, net, log, adj):
    """``adj.at_next[first:first + size]``: :func:`_current_adjoint` at ``step``, unless
    already there for this step."""
    if adj.next_stamp[first] == stamp and adj.next_size[first] >= size:
        return
    adj.next_stamp[first] = stamp
    adj.next_size[first] = size
    ufirst = np.uint64(first)
    for n in range(ufirst, ufirst + np.uint64(size)):
        adj.at_next[n] = _current_adjoint(t, step, n, net, log, adj)


@nb.njit(cache=True, _nrt=False, inline="always")
def _plain_dots(n_plain, net, log, adj):
    """dloss/ds of the listed plain deliveries: weights . adjoints, four at a time where
    they have the same size."""
    weights, at_next = net.weights, adj.at_next
    j = 0
    while j < n_plain:
        e0 = adj.plain[j]
        src0 = log.ev_neuron[e0]
        size = net.fanout_start[src0 + 1] - net.fanout_start[src0]
        if j + 3 < n_plain and _same_size(adj.plain, j, 4, size, net, log):
            srcs = (src0, log.ev_neuron[adj.plain[j + 1]], log.ev_neuron[adj.plain[j + 2]],
                    log.ev_neuron[adj.plain[j + 3]])
            w0, w1 = np.uint64(net.fanout_start[srcs[0]]), np.uint64(net.fanout_start[srcs[1]])
            w2, w3 = np.uint64(net.fanout_start[srcs[2]]), np.uint64(net.fanout_start[srcs[3]])
            g0, g1 = np.uint64(net.target_first[srcs[0]]), np.uint64(net.target_first[srcs[1]])
            g2, g3 = np.uint64(net.target_first[srcs[2]]), np.uint64(net.target_first[srcs[3]])
            s0 = s1 = s2 = s3 = 0.0
            for k in range(np.uint64(size)):
                s0 += weights[w0 + k] * at_next[g0 + k]
                s1 += weights[w1 + k] * at_next[g1 + k]
                s2 += weights[w2 + k] * at_next[g2 + k]
                s3 += weights[w3 + k] * at_next[g3 + k]
            adj.ev_ds[e0] += s0
            adj.ev_ds[adj.plain[j + 1]] += s1
            adj.ev_ds[adj.plain[j + 2]] += s2
            adj.ev_ds[adj.plain[j + 3]] += s3
            j += 4
            continue
        w0, g0 = np.uint64(net.fanout_start[src0]), np.uint64(net.target_first[src0])
        s0 = 0.0
        for k in range(np.uint64(size)):
            s0 += weights[w0 + k] * at_next[g0 + k]
        adj.ev_ds[e0] += s0
        j += 1


@nb.njit(cache=True, _nrt=False, inline="always")
def _same_size(plain, j, count, size, net, log):
    for m in range(j + 1, j + count):
        src = log.ev_neuron[plain[m]]
        if net.fanout_start[src + 1] - net.fanout_start[src] != size:
            return False
    return True


@nb.njit(cache=True, _nrt=False, inline="always")
def _reverse_delivery(src, t, i, net, log, adj, dweights):
    """One delivery target by target: adds its weight gradients, returns its dloss/ds."""
    grad_s = 0.0
    start, end = net.fanout_start[src], net.fanout_start[src + 1]
    first = net.target_first[src]
    if first >= 0:
        # a run of targets (dense projections): unsigned indices, no target lookups
        ufirst, ustart = np.uint64(first), np.uint64(start)
        for k in range(np.uint64(end - start)):
            g = _current_adjoint(t, i + 1, ufirst + k, net, log, adj)
            grad_s += net.weights[ustart + k] * g
            dweights[ustart + k] += g
    else:
        for j in range(start, end):
            g = _current_adjoint(t, i + 1, net.targets[j], net, log, adj)
            grad_s += net.weights[j] * g
            dweights[j] += g
    for j in range(net.delay_start[src], net.delay_start[src + 1]):
        g = _delayed_adjoint(t, j, net, adj)
        grad_s += net.weights[j] * g
        dweights[j] += g
    grad_s += _conv_reverse(src, t, i + 1, 1.0, True, net, log, adj, dweights)
    return grad_s


@nb.njit(cache=True, _nrt=False, inline="always")
def _reverse_events(t, i, net, spec, log, adj):
    """Firing events of step ``i``: through the spike's surrogate and the reset (unless the
    reset is detached: then the membrane after a hard reset does not depend on the one before,
    and after a soft reset it does with slope 1)."""
    f = adj.position[1]
    lam = adj.lam
    while f >= 0 and log.ev_pass[f] == t and log.ev_step[f] == i:
        n = log.ev_neuron[f]
        v = log.ev_upre[f] - net.threshold[n]
        if net.soft_reset[n]:
            through_reset = 0.0 if spec.detach_reset else lam[n] * net.reset_amount[n]
            lam[n] = lam[n] + (adj.ev_ds[f] - through_reset) * _surrogate(v, spec.alpha)
        else:
            through_reset = 0.0 if spec.detach_reset else lam[n] * log.ev_upre[f]
            lam[n] = (adj.ev_ds[f] - through_reset) * _surrogate(v, spec.alpha)
        f -= 1
    adj.position[1] = f


@nb.njit(cache=True, _nrt=False, inline="always")
def _reverse_silent(t, i, net, spec, log, adj):
    """Silent evaluations of step ``i``: s = H(u - U_thr) = 0 adds to the count or is
    delivered; the reset u (1 - s) or u - s U_thr (soft) still depends on u through s, unless
    the reset is detached."""
    q = adj.position[2]
    lam = adj.lam
    while q >= 0 and log.sl_pass[q] == t and log.sl_step[q] == i:
        n = log.sl_neuron[q]
        grad = _surrogate(log.sl_u[q] - net.threshold[n], spec.alpha)
        through_reset = net.reset_amount[n] if net.soft_reset[n] else log.sl_u[q]
        if spec.detach_reset:
            through_reset = 0.0
        lam[n] = lam[n] * (1.0 - through_reset * grad) + adj.sl_ds[q] * grad
        q -= 1
    adj.position[2] = q
